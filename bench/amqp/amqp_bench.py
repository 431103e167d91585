#!/usr/bin/env python3
"""bench/amqp: messages/s of an AMQP -> transform -> AMQP relay with publisher confirms, Switchboard
beside a plain librabbitmq loop (amqp_raw relay) on the same RabbitMQ, in the same run.

Each round fills the input queue with --messages JSON messages, starts a consumer draining the
output queue (amqp_raw drain: it times the first to the last message) and then the relay; the
rate is messages / drain time. The CPU time of the relay process per message is printed too.
usage: amqp_bench.py --raw PATH --bin PATH [--messages N] [--rounds N] [--concurrency N]"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests" / "integration"))
from brokerkit import RabbitServer  # noqa: E402
from harness import HOST  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(raw, *args, timeout=600):
    subprocess.run([raw, *args], check=True, timeout=timeout, stdout=subprocess.DEVNULL)


def drain(raw, port, queue, count):
    return subprocess.Popen([raw, "drain", HOST, str(port), queue, str(count)], stdout=subprocess.PIPE, text=True)


def drained_seconds(drainer, timeout):
    out, _ = drainer.communicate(timeout=timeout)
    if drainer.returncode != 0:
        raise RuntimeError("amqp_raw drain failed")
    return float(out.strip())


def raw_round(raw, port, count):
    run(raw, "fill", HOST, str(port), "bench-in-raw", str(count))
    drainer = drain(raw, port, "bench-out-raw", count)
    before = children_cpu()
    run(raw, "relay", HOST, str(port), "bench-in-raw", "bench-out-raw", str(count))
    cpu = children_cpu() - before
    return count / drained_seconds(drainer, 600), cpu / count * 1e6


def switchboard_round(raw, binary, rabbit, count, concurrency, work):
    run(raw, "fill", HOST, str(rabbit.port), "bench-in-sb", str(count))
    routes = (HERE / "routes.yaml.in").read_text().replace("@URL@", rabbit.url).replace(
        "@CONCURRENCY@", str(concurrency))
    (work / "routes.yaml").write_text(routes)
    drainer = drain(raw, rabbit.port, "bench-out-sb", count)
    with open(work / "bus.log", "ab") as log:
        bus = subprocess.Popen([binary, "run", str(work / "routes.yaml"), "--admin", "off", "--log-level", "warn"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        seconds = drained_seconds(drainer, 600)
        cpu = cpu_seconds(bus.pid)
    finally:
        bus.terminate()
        bus.wait(timeout=60)
    return count / seconds, cpu / count * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sb-bench-amqp-"))
    rabbit = RabbitServer().start()
    print(f"RabbitMQ ready in {rabbit.started_in:.1f} s; {args.messages} messages per round, "
          f"{args.rounds} rounds, route concurrency {args.concurrency}", file=sys.stderr)
    results = {"raw": [], "sb": []}
    try:
        # Warm-up: the broker's queues and the page cache, not measured.
        raw_round(args.raw, rabbit.port, min(2000, args.messages))
        for round_number in range(args.rounds):
            results["raw"].append(raw_round(args.raw, rabbit.port, args.messages))
            results["sb"].append(switchboard_round(args.raw, args.bin, rabbit, args.messages, args.concurrency, work))
            print(f"round {round_number + 1}: raw {results['raw'][-1][0]:.0f} msg/s, "
                  f"switchboard {results['sb'][-1][0]:.0f} msg/s", file=sys.stderr)
    finally:
        rabbit.close()
    raw_rate = statistics.median(r[0] for r in results["raw"])
    sb_rate = statistics.median(r[0] for r in results["sb"])
    raw_cpu = statistics.median(r[1] for r in results["raw"])
    sb_cpu = statistics.median(r[1] for r in results["sb"])
    print()
    print(f"{'relay (AMQP -> transform -> AMQP, confirms)':<48} {'msg/s':>9} {'CPU µs/msg':>11}")
    print(f"{'R  plain librabbitmq loop (amqp_raw relay)':<48} {raw_rate:>9.0f} {raw_cpu:>11.1f}")
    print(f"{'S  Switchboard route':<48} {sb_rate:>9.0f} {sb_cpu:>11.1f}")
    print(f"ratio S/R throughput {sb_rate / raw_rate:.2f} (target ≥ 0.5) · S/R CPU per message {sb_cpu / raw_cpu:.2f}")


if __name__ == "__main__":
    main()
