"""Several bus instances working as one (examples/scale-out): three instances serve one REST
route behind nginx, and one killed with SIGKILL mid-run costs no request, since nginx retries
an idempotent GET on another instance; the other two carry the load. The same instances drain
one shared inbox directory as competing consumers: every file exactly once."""
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from harness import HOST, SOURCE_DIR, Bus, free_port, visible_files, wait_for

EXAMPLE = SOURCE_DIR / "examples" / "scale-out"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@unittest.skipUnless(Path(NGINX).exists(), "needs nginx (Debian package nginx-light)")
class ScaleOutTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sb-scale-")
        self.dir = Path(self.tmp.name)
        shutil.copy(EXAMPLE / "routes.yaml", self.dir)
        self.buses = {}
        self.nginx = None

    def tearDown(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        for bus in self.buses.values():
            bus.__exit__()
        self.tmp.cleanup()

    def start_nginx(self, ports):
        """The example's nginx.conf with free ports: 8100 for nginx, 8101-8103 for the instances."""
        text = (EXAMPLE / "nginx.conf").read_text()
        listen = free_port()
        text = text.replace("127.0.0.1:8100", f"{HOST}:{listen}")
        for number, port in zip((8101, 8102, 8103), ports):
            text = text.replace(f"127.0.0.1:{number}", f"{HOST}:{port}")
        self.assertNotRegex(text, r"127\.0\.0\.1:810[0-3]")
        (self.dir / "nginx.conf").write_text(text)
        (self.dir / "nginx-tmp").mkdir()
        self.nginx = subprocess.Popen([NGINX, "-p", f"{self.dir}/", "-c", "nginx.conf", "-e", "nginx-error.log"],
                                      cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.get(f"http://{HOST}:{listen}/orders/0")[0] == 200, 10, what="nginx relaying")
        return listen

    def get(self, url):
        try:
            with DIRECT.open(url, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError as error:
            return 0, str(error).encode()

    def test_three_instances_behind_nginx_and_one_shared_inbox(self):
        ports = [free_port() for _ in range(3)]
        for name, port in zip("abc", ports):
            bus = Bus(self.dir / "routes.yaml", self.dir, env={"INSTANCE": name, "PORT": str(port)})
            self.buses[name] = bus
            bus.start()
        listen = self.start_nginx(ports)

        statuses, served, served_after_kill = Counter(), Counter(), Counter()
        killed = threading.Event()
        stop = threading.Event()
        lock = threading.Lock()

        def client(worker):
            n = 0
            while not stop.is_set():
                # A request sent before the kill may still be answered by the killed instance:
                # it counts by when it was sent.
                sent_after_kill = killed.is_set()
                status, body = self.get(f"http://{HOST}:{listen}/orders/{worker}-{n}")
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        answer = json.loads(body)
                        self.assertEqual(answer["id"], f"{worker}-{n}")
                        (served_after_kill if sent_after_kill else served)[answer["instance"]] += 1
                n += 1

        clients = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(2)
        self.buses["b"].kill9()
        killed.set()
        time.sleep(3)
        stop.set()
        for thread in clients:
            thread.join(timeout=30)

        print(f"\nscale-out: answers {dict(statuses)}; before the kill {dict(served)}, "
              f"after {dict(served_after_kill)}", flush=True)
        self.assertEqual(set(statuses), {200}, f"a request failed: {dict(statuses)}")
        self.assertEqual(set(served), {"a", "b", "c"}, "every instance served before the kill")
        self.assertEqual(set(served_after_kill), {"a", "c"}, "the two left carried the load")
        self.assertGreater(sum(served_after_kill.values()), 50)

        # Competing consumers on one directory: each file claimed by exactly one instance.
        inbox, outbox = self.dir / "shared" / "inbox", self.dir / "shared" / "outbox"
        total = 300
        for i in range(total):
            # Written under a hidden name and renamed into place, as writers into a polled
            # directory should: a poller never sees a half-written file.
            (inbox / f".order-{i}.tmp").write_text(f"order {i}")
            (inbox / f".order-{i}.tmp").rename(inbox / f"order-{i}.txt")
            if i % 20 == 19:
                time.sleep(0.05)  # a stream of files, not one burst
        wait_for(lambda: len([f for f in visible_files(outbox) if not str(f).endswith(".meta.json")]) == total, 30,
                 what="every shared file delivered")
        time.sleep(0.5)  # nothing more may come
        bodies = sorted(p.read_text() for p in outbox.iterdir() if not p.name.endswith(".meta.json"))
        self.assertEqual(bodies, sorted(f"order {i}" for i in range(total)))
        claimed = Counter(re.search(r'"X-Instance":\s*"(\w)"', p.read_text()).group(1)
                          for p in outbox.iterdir() if p.name.endswith(".meta.json"))
        print(f"scale-out: shared inbox files per instance {dict(claimed)}", flush=True)
        self.assertEqual(sum(claimed.values()), total)
        self.assertEqual(set(claimed), {"a", "c"}, "both instances left took files")
        for name in "ac":
            self.assertEqual(self.buses[name].stop()[0], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
