#!/usr/bin/env python3
"""Measures exec → /ready 200 of `switchboard run` on the routes in --dir, against the same
binary's `version` and `validate` in the same run; prints medians and ratios (see run.sh)."""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import time

HOST = "127.0.0.1"
TARGET_MS = 100


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def ready(port):
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=1)
        connection.request("GET", "/ready")
        status = connection.getresponse().status
        connection.close()
        return status == 200
    except OSError:
        return False


def time_to_ready(binary, directory, env):
    admin, http_port = free_port(), free_port()
    env = dict(env, QUICKSTART_PORT=str(http_port))
    began = time.perf_counter()
    process = subprocess.Popen([binary, "run", "routes.yaml", "--admin", f"{HOST}:{admin}", "--log-level", "warn"],
                               cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = began + 10
        while not ready(admin):
            if process.poll() is not None:
                raise SystemExit(f"switchboard exited with {process.returncode} before it was ready")
            if time.perf_counter() > deadline:
                raise SystemExit("switchboard was not ready within 10 s")
            time.sleep(0.001)
        return time.perf_counter() - began
    finally:
        process.terminate()
        process.wait(timeout=30)


def time_to_exit(command, directory, env):
    began = time.perf_counter()
    subprocess.run(command, cwd=directory, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--starts", type=int, default=20)
    args = parser.parse_args()
    env = dict(os.environ)
    # One warm-up of each, so the page cache holds the binary and its libraries for all.
    time_to_exit([args.bin, "version"], args.dir, env)
    time_to_ready(args.bin, args.dir, env)
    version, validate, run = [], [], []
    for _ in range(args.starts):  # interleaved, so machine noise hits all three alike
        version.append(time_to_exit([args.bin, "version"], args.dir, env))
        validate.append(time_to_exit([args.bin, "validate", "routes.yaml"], args.dir, env))
        run.append(time_to_ready(args.bin, args.dir, env))
    ms = {name: statistics.median(values) * 1000 for name, values in
          (("version", version), ("validate", validate), ("ready", run))}
    print(f"{'measurement':<40}{'median':>10}{'min':>10}{'max':>10}")
    for name, values, label in (("version", version, "switchboard version (exec, link, exit)"),
                                ("validate", validate, "switchboard validate (load, check)"),
                                ("ready", run, "switchboard run -> /ready 200")):
        print(f"{label:<40}{ms[name]:>8.1f}ms{min(values) * 1000:>8.1f}ms{max(values) * 1000:>8.1f}ms")
    print(f"ratios: ready/version {ms['ready'] / ms['version']:.2f} · ready/validate {ms['ready'] / ms['validate']:.2f}")
    verdict = "pass" if ms["ready"] <= TARGET_MS else "FAIL"
    print(f"BENCH startup_to_ready_ms={ms['ready']:.1f} target<={TARGET_MS} {verdict}")


if __name__ == "__main__":
    main()
