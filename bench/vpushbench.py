"""Shared code of the benchmarks (bench/run, bench/push-latency): statistics, a bare
keep-alive HTTP client, a push factor enrolled from Python, the fixed-response server, the
emulator and vpushd started the way the benchmarks need them.

Everything runs on loopback in a throwaway session of tests/integration/vpushtest.py
(private session bus, fresh gnome-keyring). Call setup() before anything else.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"

vt = Gio = GLib = None


def setup(build_dir):
    """Points the harness at build_dir and imports it (vpushtest, Gio, GLib)."""
    global vt, Gio, GLib
    os.environ["VPUSH_BUILD_DIR"] = os.path.abspath(build_dir)
    os.environ.setdefault("VPUSH_SOURCE_DIR", SOURCE_DIR)
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
    import vpushtest
    from gi.repository import Gio as _Gio, GLib as _GLib
    vt, Gio, GLib = vpushtest, _Gio, _GLib
    vt.install_reaper()
    return vt


# ---------------------------------------------------------------------------------------
# the C helpers in bench/


BENCH_PROGRAMS = ["bench-client", "name-owner", "ecdsa-sign", "push-work", "lib-floor"]


def build_tools(build_dir):
    """Builds vpushd and the C programs of bench/ (bench/meson.build) with the valgrind
    shim (tests/meson.build) in the meson build directory BUILD_DIR; returns the
    directory of the programs, BUILD_DIR/bench."""
    targets = ["daemon/vpushd", "tests/valgrind-pidfd-shim.so"] \
        + ["bench/" + name for name in BENCH_PROGRAMS]
    r = subprocess.run(["ninja", "-C", build_dir] + targets, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("could not build the benchmarks' programs:\n" + r.stdout)
    return os.path.join(build_dir, "bench")


def valgrind_shim(build_dir):
    """The LD_PRELOAD that stands in for the pidfd system calls valgrind 3.19 lacks."""
    return os.path.join(build_dir, "tests", "valgrind-pidfd-shim.so")


class Client:
    """bench/bench-client as a coprocess: it times D-Bus calls and bare HTTP requests in C.
    Each method returns (milliseconds, result)."""

    def __init__(self, tools_dir, bus_address, server_url):
        host, port = urllib.parse.urlsplit(server_url).netloc.rsplit(":", 1)
        self.host = "%s:%s" % (host, port)
        self.proc = vt._spawn([os.path.join(tools_dir, "bench-client"), bus_address, host, port],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              start_new_session=True)
        if self._line() != "ready":
            raise RuntimeError("bench-client did not start")

    def _line(self):
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError("bench-client exited (%s)" % self.proc.poll())
        return line

    def _run(self, command, *payloads):
        self.proc.stdin.write(command.encode() + b"\n" + b"".join(payloads))
        self.proc.stdin.flush()
        line = self._line()
        if line.startswith("error"):
            raise RuntimeError("bench-client %s: %s" % (command.split()[0], line))
        us, _, result = line.partition(" ")
        return int(us) / 1000.0, result

    def approve(self, transaction_id):
        return self._run("approve " + transaction_id)

    def ping(self, name):
        return self._run("ping " + name)

    def nop(self, name):
        return self._run("nop " + name)

    def http(self, request):
        return self._run("http %d" % len(request), request)

    def flow(self, *requests):
        return self._run("flow " + " ".join(str(len(r)) for r in requests), *requests)

    def push(self, path, request):
        return self._run("push %s %d" % (path, len(request)), request)

    def subscribe(self, request):
        return self._run("subscribe %d" % len(request), request)

    def hint(self, mark, request):
        return self._run("hint %s %d" % (mark, len(request)), request)

    def close(self):
        if self.proc.stdin:
            self.proc.stdin.close()
        vt._stop_process(self.proc)


def request_bytes(host, method, path, body=b"", headers=()):
    """An HTTP/1.1 request as a bare client sends it."""
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + host]
    lines += ["%s: %s" % h for h in headers]
    if body or method in ("POST", "PUT"):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


# ---------------------------------------------------------------------------------------
# statistics


def percentile(values, q):
    """Nearest-rank percentile, q in 0..100."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class Stats:
    """p50/p99 of a list of milliseconds."""

    def __init__(self, values):
        if not values:
            raise ValueError("no samples")
        self.values = list(values)
        self.n = len(values)
        self.p50 = percentile(values, 50)
        self.p99 = percentile(values, 99)

    def __str__(self):
        return "p50 %s, p99 %s" % (ms(self.p50), ms(self.p99))


def ms(value):
    if value >= 100:
        return "%.0f ms" % value
    if value >= 10:
        return "%.1f ms" % value
    return "%.3f ms" % value


def now_ms():
    return time.perf_counter() * 1000.0


# ---------------------------------------------------------------------------------------
# HTTP


class Http:
    """One keep-alive HTTP/1.1 connection with nothing on top: requests are bytes, the
    response is read by Content-Length. What a bare client pays for a round trip."""

    def __init__(self, url, timeout=15.0):
        host, port = urllib.parse.urlsplit(url).netloc.rsplit(":", 1)
        self.host = "%s:%s" % (host, port)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def build(self, method, path, body=b"", headers=()):
        if isinstance(body, str):
            body = body.encode()
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + self.host]
        lines += ["%s: %s" % h for h in headers]
        if body or method in ("POST", "PUT"):
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

    def send(self, request):
        """Sends prebuilt request bytes; returns (status, headers, body)."""
        self.sock.sendall(request)
        while True:
            status, headers, body = self._read_response()
            if status != 100:
                return status, headers, body

    def _read_response(self):
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(buf) < end + 4 + length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            buf += chunk
        body = bytes(buf[end + 4:end + 4 + length])
        del buf[:end + 4 + length]
        return status, headers, body

    def request(self, method, path, body=b"", headers=(), ok=True):
        status, hdrs, data = self.send(self.build(method, path, body, headers))
        if ok and status >= 300:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, status, data[:300]))
        return status, hdrs, data

    def close(self):
        self.sock.close()


FORM = ("Content-Type", "application/x-www-form-urlencoded")


def form_body(pairs):
    return "&".join("%s=%s" % (urllib.parse.quote(k, safe=""), urllib.parse.quote(v, safe=""))
                    for k, v in pairs)


def basic(user, password):
    return ("Authorization",
            "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode())


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Backend:
    """The app's backend at the emulator: one keep-alive connection, account credentials."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.http = Http(emulator.url)
        self.auth = basic(emulator.account_sid, emulator.auth_token)

    def create_challenge(self, identity, factor_sid, transaction_id=None, message="bench"):
        pairs = [("FactorSid", factor_sid), ("Details.Message", message)]
        if transaction_id is not None:
            pairs.append(("HiddenDetails", json.dumps({"transaction_id": transaction_id})))
        _, _, body = self.http.request("POST", self.emulator.entity_path(identity) + "/Challenges",
                                       form_body(pairs), (self.auth, FORM))
        return json.loads(body)

    def fetch_raw(self, identity, sid):
        """(body text, signature fields) of a challenge, as a device's GET gets them."""
        _, headers, body = self.http.request(
            "GET", self.emulator.entity_path(identity) + "/Challenges/" + sid, b"", (self.auth,))
        return body.decode(), headers.get("twilio-verify-signature-fields", "")

    def close(self):
        self.http.close()


def answered_body(get_body, status="approved"):
    """The challenge as the API answers the POST of an answer: the recorded GET with the
    new status (what the emulator renders)."""
    body = json.loads(get_body)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body.update(status=status, date_updated=stamp, date_responded=stamp)
    return json.dumps(body, separators=(",", ":"))


class PyDevice:
    """A push factor enrolled from Python (python3-cryptography): the bare client of the
    baselines. It signs with the same key type and JWT layout as vpushd."""

    def __init__(self, emulator, backend):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        self._sign = lambda data: decode_dss_signature(
            self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.identity = vt.unique_identity("bench")
        self.account_sid = emulator.account_sid
        self.entity = emulator.entity_path(self.identity)
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = emulator.access_token(self.identity)["token"]
        http = backend.http
        _, _, data = http.request("POST", self.entity + "/Factors", form_body([
            ("FriendlyName", "bench"), ("FactorType", "push"), ("Binding.Alg", "ES256"),
            ("Binding.PublicKey", base64.b64encode(spki).decode()),
            ("Config.SdkVersion", "bench"), ("Config.AppId", "io.github.vpush.bench"),
            ("Config.NotificationPlatform", "none")]), (basic("token", token), FORM))
        factor = json.loads(data)
        self.sid = factor["sid"]
        self.kid = factor["config"]["credential_sid"]
        sig = self.key.sign(self.sid.encode(), ec.ECDSA(hashes.SHA256()))
        http.request("POST", self.entity + "/Factors/" + self.sid,
                     form_body([("AuthPayload", base64.b64encode(sig).decode())]),
                     (self.auth(), FORM))

    def _jws(self, header, payload):
        signing_input = "%s.%s" % (b64url(json.dumps(header, separators=(",", ":")).encode()),
                                   b64url(json.dumps(payload, separators=(",", ":")).encode()))
        r, s = self._sign(signing_input.encode())
        return "%s.%s" % (signing_input, b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")))

    def auth(self):
        """The Authorization header of one device call: a device JWT (§5A) minted for it,
        as the SDKs and vpushd do (the emulator refuses one it has seen before)."""
        now = int(time.time())
        jwt = self._jws({"cty": "twilio-pba;v=1", "kid": self.kid, "typ": "JWT",
                         "alg": "ES256"},
                        {"sub": self.account_sid, "nbf": now, "exp": now + 600})
        return basic("token", jwt)

    def answer(self, get_body, fields, status="approved"):
        """The AuthPayload of an answer (§5C) to the challenge as fetched."""
        body = json.loads(get_body)
        payload = {name: body[name] for name in fields.split(",") if name}
        payload["status"] = status
        return self._jws({"typ": "JWT", "alg": "ES256"}, payload)


# ---------------------------------------------------------------------------------------
# servers


def _wait_ready_file(proc, path, log, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise vt.HarnessError("%s exited %s:\n%s" % (what, proc.returncode, vt.log_tail(log)))
        if time.monotonic() > deadline:
            raise vt.HarnessError("%s did not start:\n%s" % (what, vt.log_tail(log)))
        time.sleep(0.02)
    with open(path) as f:
        return json.load(f)


class Pki:
    """A test CA and its certificate for 127.0.0.1, for the emulator's HTTPS listener, and
    the CA bundle vpushd gets as [Verify] CaFile: the system's CAs, the file libcurl reads
    when no CaFile is set, with the test CA added, so that vpushd holds what it holds when
    deployed."""

    SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"

    def __init__(self, directory):
        sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "emulator"))
        from vpush_emulator import testca
        os.makedirs(directory)
        made = testca.write(directory, dns=(), ips=("127.0.0.1",))
        self.cert, self.key = made["cert"], made["key"]
        self.bundle = os.path.join(directory, "ca-bundle.pem")
        system = b""
        if os.path.exists(self.SYSTEM_CAS):
            with open(self.SYSTEM_CAS, "rb") as f:
                system = f.read()
        with open(made["ca"], "rb") as f:
            test_ca = f.read()
        with open(self.bundle, "wb") as f:
            f.write(system.rstrip(b"\n") + b"\n" + test_ca if system else test_ca)
        self.system_cas = system.count(b"-----BEGIN CERTIFICATE-----")


def start_emulator(session, keepalive=None, tls=None):
    """tests/emulator/vpush-emulator as vpushtest.Emulator starts it, but without
    --verbose (a log line per request is the emulator's time, not the daemon's).
    tls: (certificate, key) for its HTTPS listener too."""
    emulator = vt.Emulator.__new__(vt.Emulator)
    emulator.workdir = session.tmp
    ready = session.path("emulator-ready.json")
    emulator.log = session.path("emulator.log")
    args = [PYTHON, vt.EMULATOR, "--listen", "127.0.0.1", "--port", "0", "--ready-file", ready]
    if keepalive is not None:
        args += ["--keepalive", str(keepalive)]
    if tls is not None:
        args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    emulator.proc = vt._spawn(args, stdin=subprocess.DEVNULL, stdout=open(emulator.log, "ab"),
                              stderr=subprocess.STDOUT, env=session.env,
                              start_new_session=True)
    try:
        emulator.info = _wait_ready_file(emulator.proc, ready, emulator.log, "the emulator")
    except BaseException:
        emulator.stop()
        raise
    emulator.base_url = emulator.info["base_url"]
    emulator.url = emulator.info["url"].rstrip("/")
    emulator.https_base_url = emulator.info.get("https_base_url")
    emulator.https_url = emulator.info.get("https_url")
    emulator.account_sid = emulator.info["account_sid"]
    emulator.auth_token = emulator.info["auth_token"]
    emulator.service_sid = emulator.info["service_sid"]
    import urllib.request
    emulator._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return emulator


class FixedServer:
    """bench/fixed-server: answers armed challenges and push streams from memory."""

    def __init__(self, session, keepalive=25.0, rtt_ms=0.0, name="fixed-server"):
        ready = session.path(name + "-ready.json")
        self.log = session.path(name + ".log")
        self.proc = vt._spawn([PYTHON, os.path.join(HERE, "fixed-server"), "--ready-file", ready,
                               "--keepalive", str(keepalive), "--rtt-ms", str(rtt_ms)],
                              stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"),
                              stderr=subprocess.STDOUT, start_new_session=True)
        try:
            info = _wait_ready_file(self.proc, ready, self.log, "bench/fixed-server")
        except BaseException:
            self.stop()
            raise
        self.url = info["url"]
        self.base_url = info["base_url"]
        self.control = Http(self.url)

    def arm(self, items):
        """items: [{sid, get_body, fields, post_body}]"""
        self.control.request("POST", "/_fixed/arm", json.dumps(items))

    def stats(self):
        return json.loads(self.control.request("GET", "/_fixed/stats")[2])

    def clear_stats(self):
        self.control.request("POST", "/_fixed/stats/clear")

    def stop(self):
        return vt._stop_process(self.proc)


def record(backend, identity, sid):
    """What the fixed server answers for a challenge: recorded from the emulator."""
    get_body, fields = backend.fetch_raw(identity, sid)
    return {"sid": sid, "get_body": get_body, "fields": fields,
            "post_body": answered_body(get_body)}


# ---------------------------------------------------------------------------------------
# vpushd


def bench_daemon_class():
    """vpushtest.Daemon started as in production: no --verbose, no debug messages."""

    class BenchDaemon(vt.Daemon):
        def start(self, wait_states=("ready",), timeout=15.0, wrapper=(), env=None,
                  slowdown=1.0):
            exe = vt.vpushd_path()
            if not os.access(exe, os.X_OK):
                raise vt.HarnessError("vpushd is not built: %s" % exe)
            self.starts += 1
            self.log = self.session.path("vpushd-%d.%d.log" % (self.n, self.starts))
            self.tool_log = None
            full_env = dict(self.session.env, **vt.unit_environment())
            full_env.pop("G_MESSAGES_DEBUG", None)
            full_env.update(env or {})
            self.proc = vt._spawn(
                list(wrapper) + [exe] + self.args(),
                stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"),
                stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
            client = self.session.client
            timeout *= slowdown

            def owned():
                if self.proc.poll() is not None:
                    raise vt.HarnessError("vpushd exited with %s:\n%s"
                                          % (self.proc.returncode, vt.log_tail(self.log)))
                return client.name_has_owner(vt.BUS_NAME)
            vt.wait_until(owned, timeout, what="vpushd to own " + vt.BUS_NAME)
            if wait_states:
                client.wait_state(wait_states, timeout)
            return self

        def args(self):
            # VPUSH_BENCH_VERBOSE=1: debug output in the logs (kept with VPUSH_KEEP_TMP=1)
            verbose = ["--verbose"] if os.environ.get("VPUSH_BENCH_VERBOSE") else []
            return ["--config", self.config_path, "--state-dir", self.state_dir,
                    "--policy-dir", vt.POLICY_DIR] + verbose + self.extra_args

    return BenchDaemon


class ExportWatcher:
    """Timestamps InterfacesAdded of Challenge objects, on its own bus connection and
    thread, so that the main thread blocking in HTTP or D-Bus calls does not delay it."""

    def __init__(self, address):
        self.address = address
        self.seen = {}
        self.cond = threading.Condition()
        self.ready = threading.Event()
        self.loop = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("the signal watcher did not start")

    def _run(self):
        ctx = GLib.MainContext.new()
        ctx.push_thread_default()
        conn = Gio.DBusConnection.new_for_address_sync(
            self.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        conn.signal_subscribe(vt.BUS_NAME, vt.OM_IFACE, "InterfacesAdded", vt.MANAGER_PATH,
                              None, Gio.DBusSignalFlags.NONE, self._on_added)
        # a round trip to the bus: the match rule is in place once it returns
        conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "GetId", None, None, Gio.DBusCallFlags.NONE, 5000, None)
        self.loop = GLib.MainLoop.new(ctx, False)
        self.ready.set()
        self.loop.run()
        conn.close_sync(None)

    def _on_added(self, conn, sender, path, iface, member, params):
        now = now_ms()
        obj_path, ifaces = params.unpack()
        if vt.CHALLENGE_IFACE in ifaces:
            with self.cond:
                self.seen[obj_path] = now
                self.cond.notify_all()

    def wait(self, path, timeout=10.0):
        with self.cond:
            if not self.cond.wait_for(lambda: path in self.seen, timeout):
                raise RuntimeError("%s did not appear within %.0f s" % (path, timeout))
            return self.seen[path]

    def wait_all(self, paths, timeout=20.0):
        for path in paths:
            self.wait(path, timeout)

    def stop(self):
        if self.loop is not None:
            self.loop.quit()
        self.thread.join(5)


def bare_connection(address):
    """A bus connection with no match rules: it receives replies and nothing else."""
    return Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def hint(challenge_sid, factor_sid):
    return json.dumps({"type": "verify_push_challenge", "challenge_sid": challenge_sid,
                       "factor_sid": factor_sid})


# ---------------------------------------------------------------------------------------
# push-to-export latency (bench/push-latency, bench/run)


def measure_hint(client, samples, warmup=5):
    """How long a bare push client takes to hear a hint: the client subscribes to a topic
    of its own (SSE, as vpushd does), publishes hints naming made-up challenges and times
    each until the hint's challenge sid arrives on its stream. Part of the floor of the
    push-to-export figure. Returns a list of ms."""
    topic = "floor" + uuid.uuid4().hex[:12]
    _, status = client.subscribe(request_bytes(client.host, "GET", "/push/%s/sse" % topic, b"",
                                               (("Accept", "text/event-stream"),)))
    if status != "200":
        raise RuntimeError("subscribe: HTTP %s" % status)
    out = []
    for i in range(warmup + samples):
        sid = "YC" + uuid.uuid4().hex
        publish = request_bytes(client.host, "POST", "/push/" + topic,
                                hint(sid, "YF" + "0" * 32),
                                (("Content-Type", "application/json"),))
        t, status = client.hint(sid, publish)
        if status != "200":
            raise RuntimeError("publish: HTTP %s" % status)
        if i >= warmup:
            out.append(t)
    return out


def measure_push(server, backend, factor, topic, client, samples, warmup=5, device=None):
    """Push-to-export latency against its baseline, the bare single GET, timed by the C
    client (Client) on its own connections to the server.

    server: the emulator or a FixedServer (then every challenge is armed there first).
    Each sample: a challenge is created at the emulator (and armed); the client publishes
    its hint to the push topic on the server and waits for the Challenge object's
    InterfacesAdded on the bus: that is the push latency. Then one bare GET of a challenge
    from the same server on a kept-alive connection is the baseline.
    device: a PyDevice (for the emulator): the baseline GET is then the one a device makes,
    with its own device JWT (§5A) minted before the clock starts, which the emulator
    verifies in full as it does vpushd's; without one (bench/fixed-server, which checks no
    credentials) a GET of the same challenge with backend credentials. Returns lists of ms,
    and the sids (still pending)."""
    fixed = isinstance(server, FixedServer)
    entity = backend.emulator.entity_path(factor.identity)
    out = {"push": [], "get": [], "sids": []}
    device_ch = None
    if device is not None:
        device_ch = backend.create_challenge(device.identity, device.sid)
    for i in range(warmup + samples):
        ch = backend.create_challenge(factor.identity, factor.sid)
        if fixed:
            server.arm([record(backend, factor.identity, ch["sid"])])
        publish = request_bytes(client.host, "POST", "/push/" + topic,
                                hint(ch["sid"], factor.sid),
                                (("Content-Type", "application/json"),))
        t_push, status = client.push(vt.challenge_path(ch["sid"]), publish)
        if status != "200":
            raise RuntimeError("publish: HTTP %s" % status)
        if device is not None:
            get = request_bytes(client.host, "GET", device.entity + "/Challenges/"
                                + device_ch["sid"], b"", (device.auth(),))
        else:
            get = request_bytes(client.host, "GET", entity + "/Challenges/" + ch["sid"], b"",
                                (backend.auth,))
        t_get, status = client.http(get)
        if status != "200":
            raise RuntimeError("baseline GET: HTTP %s" % status)
        out["sids"].append(ch["sid"])
        if i >= warmup:
            out["push"].append(t_push)
            out["get"].append(t_get)
    return out
