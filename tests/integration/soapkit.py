"""SOAP for the integration tests: the node-soap server and client of soap_peer/ (npm `soap`,
installed on first use into a cache directory outside the repository), envelopes to send, and
readers for the envelopes and faults that come back."""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import wait_for

PEER_DIR = Path(__file__).resolve().parent / "soap_peer"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "switchboard-tests" / "node-soap"

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
ORDERS_NS = "urn:switchboard:example:orders"
ERROR_NS = "urn:switchboard:error"
CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}
ENVELOPE_NS = {"1.1": SOAP11, "1.2": SOAP12}


# Set once npm could not reach its registry in this process: the later tests skip at once.
_registry_unreachable = None

# npm's errors for a registry it cannot reach or whose certificate chain it does not trust.
UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH",
               "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
               "CERT_HAS_EXPIRED")


def node_env():
    """The environment for node with the npm `soap` package on NODE_PATH, installing it into
    CACHE_DIR when it is missing or soap_peer/package.json changed. Skips the test when node or
    npm is not installed or the npm registry cannot be reached; any other failing install is an
    error."""
    global _registry_unreachable
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise unittest.SkipTest(f"{' and '.join(missing)} not installed (scripts/install-deps.sh installs them)")
    if _registry_unreachable:
        raise unittest.SkipTest(_registry_unreachable)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    wanted = (PEER_DIR / "package.json").read_bytes()
    # Test processes run in parallel under CTest: one installs, the others wait for it.
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = CACHE_DIR / "package.json"
        if not (CACHE_DIR / "node_modules" / "soap" / "package.json").exists() or \
                not manifest.exists() or manifest.read_bytes() != wanted:
            manifest.write_bytes(wanted)
            command = ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"]
            # The system's certificate store, so a TLS-inspecting proxy trusted by the machine is too.
            if Path("/etc/ssl/certs/ca-certificates.crt").exists():
                command.append("--cafile=/etc/ssl/certs/ca-certificates.crt")
            done = subprocess.run(command, cwd=CACHE_DIR, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                manifest.unlink()
                if any(code in done.stderr for code in UNREACHABLE):
                    reason = (done.stderr.strip().splitlines() or ["no output"])[0]
                    _registry_unreachable = f"the npm registry cannot be reached, so node-soap cannot be installed: {reason}"
                    raise unittest.SkipTest(_registry_unreachable)
                raise AssertionError(f"npm install in {CACHE_DIR} failed:\n{done.stdout}\n{done.stderr}")
    return dict(os.environ, NODE_PATH=str(CACHE_DIR / "node_modules"),
                no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")


class NodeSoapServer:
    """soap_peer/server.js on a free 127.0.0.1 port: the orders service of orders.wsdl.
    `url` is its endpoint, `url + "?wsdl"` its WSDL; `calls()` lists the calls it handled."""

    def __init__(self, workdir, env):
        self.env = env
        self.out = Path(tempfile.mkstemp(prefix="node-soap-", suffix=".out", dir=workdir)[1])
        self.process = None
        self.url = None

    def start(self):
        with open(self.out, "wb") as out:
            self.process = subprocess.Popen(["node", str(PEER_DIR / "server.js"), "--port", "0"], stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        line = wait_for(lambda: self._listening() or self.process.poll() is not None, 20, what="node-soap server")
        if self.process.poll() is not None:
            raise AssertionError(f"node-soap server exited with {self.process.returncode}:\n{self.out.read_text()}")
        self.url = line.split()[1]
        return self

    def _listening(self):
        return next((line for line in self.out.read_text().splitlines() if line.startswith("listening ")), None)

    def calls(self):
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.startswith("{")]

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def soap_client(env, wsdl_url, operation, args, port=None, endpoint=None, timeout=30):
    """Calls `operation` with node-soap's client; returns (exit code, printed JSON or None, stderr).
    Exit 0: {"result", "content_type", "request", "response"}; 2: {"fault", "status", ...}."""
    command = ["node", str(PEER_DIR / "client.js"), wsdl_url, operation, json.dumps(args)]
    if port:
        command += ["--port", port]
    if endpoint:
        command += ["--endpoint", endpoint]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    printed = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, printed, done.stderr


def envelope(payload, version="1.1", header="", declarations=""):
    """A SOAP envelope around `payload` (text); `declarations` go on the Envelope element."""
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{ENVELOPE_NS[version]}"'
            f'{" " + declarations if declarations else ""}>{head}<soap:Body>{payload}</soap:Body></soap:Envelope>')


def _local(tag):
    return tag.rpartition("}")[2]


def parse_envelope(data):
    """(version, Body element) of a SOAP envelope; fails the test when it is not one."""
    root = ET.fromstring(data)
    version = {f"{{{SOAP11}}}Envelope": "1.1", f"{{{SOAP12}}}Envelope": "1.2"}.get(root.tag)
    if version is None:
        raise AssertionError(f"not a SOAP envelope: {data[:300]!r}")
    body = root.find(f"{{{ENVELOPE_NS[version]}}}Body")
    if body is None:
        raise AssertionError(f"an envelope without a Body: {data[:300]!r}")
    return version, body


def payload_element(data):
    """The first child of soap:Body, as an ElementTree element (namespaces resolved)."""
    _, body = parse_envelope(data)
    children = list(body)
    if not children:
        raise AssertionError(f"an empty soap:Body: {data[:300]!r}")
    return children[0]


def fault(data):
    """The Fault of an envelope as {version, code, string, detail_error}: code is the local part
    (Client, Server, Sender, Receiver), detail_error the text of sb:error in the detail."""
    version, body = parse_envelope(data)
    env = ENVELOPE_NS[version]
    element = body.find(f"{{{env}}}Fault")
    if element is None:
        raise AssertionError(f"no Fault in {data[:500]!r}")
    if version == "1.1":
        code = element.findtext("faultcode")
        string = element.findtext("faultstring")
        detail = element.find("detail")
    else:
        code = element.findtext(f"{{{env}}}Code/{{{env}}}Value")
        string = element.findtext(f"{{{env}}}Reason/{{{env}}}Text")
        detail = element.find(f"{{{env}}}Detail")
    error = detail.find(f".//{{{ERROR_NS}}}error") if detail is not None else None
    return {"version": version, "code": (code or "").strip().rpartition(":")[2], "string": string,
            "detail_error": error.text if error is not None else None}


class _Subtree:
    """A parser target that hands one element (the first child of the first element named
    `parent`) to a C14N writer, as a standalone document: the namespace declarations in scope
    where it stands are declared on it, and the writer keeps only those it uses."""

    def __init__(self, parent, writer):
        self.parent = parent
        self.writer = writer
        self.scopes = []       # per open element: its own declarations
        self.pending = []      # declarations for the next start tag
        self.depth = 0         # element depth
        self.inside = 0        # depth inside the selected element, 0 when outside
        self.parent_depth = None
        self.done = False

    def start_ns(self, prefix, uri):
        self.pending.append((prefix, uri))

    def start(self, tag, attrs):
        declared, self.pending = self.pending, []
        self.scopes.append(declared)
        self.depth += 1
        if self.inside:
            self.inside += 1
            for prefix, uri in declared:
                self.writer.start_ns(prefix, uri)
            self.writer.start(tag, attrs)
        elif not self.done and self.parent_depth is not None and self.depth == self.parent_depth + 1:
            self.inside = 1
            in_scope = {}
            for scope in self.scopes:
                in_scope.update(scope)
            for prefix, uri in in_scope.items():
                self.writer.start_ns(prefix, uri)
            self.writer.start(tag, attrs)
        elif self.parent_depth is None and tag == self.parent:
            self.parent_depth = self.depth

    def end(self, tag):
        if self.inside:
            self.writer.end(tag)
            self.inside -= 1
            if not self.inside:
                self.done = True
        self.scopes.pop()
        self.depth -= 1

    def data(self, text):
        if self.inside:
            self.writer.data(text)

    def comment(self, text):
        pass

    def pi(self, target, text):
        pass

    def close(self):
        return self.done


def c14n(xml_text):
    """C14N 2.0 of a standalone XML document."""
    return ET.canonicalize(xml_data=xml_text)


def payload_c14n(data):
    """C14N 2.0 of the first child of soap:Body, standalone, with the namespaces it inherits.
    Compares payloads whatever the envelope declares around them."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    root = ET.fromstring(data)
    out = []
    target = _Subtree(f"{{{root.tag[1:].partition('}')[0]}}}Body", ET.C14NWriterTarget(out.append))
    parser = ET.XMLParser(target=target)
    parser.feed(data)
    if not parser.close():
        raise AssertionError(f"no payload in {data[:300]!r}")
    return "".join(out)
