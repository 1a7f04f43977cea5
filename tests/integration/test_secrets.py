"""Secrets stay secret: after an enroll + approve + deny + list + delete run, nothing vpushd
wrote holds key material or the access token.

Scanned: vpushd's log (stderr with --verbose and G_MESSAGES_DEBUG=all), every file under its
state directory and the XDG directories of the session (gnome-keyring's own encrypted
keyrings/ excepted), and every D-Bus message on the test's private bus while it ran, captured
with `dbus-monitor --pcap`.

Looked for, raw and as hex, base64 and base64url (and in the text with whitespace taken out,
so that wrapped forms such as PEM count): the factor's PKCS#8 private key and its raw
private scalar (read from the keyring through the Secret Service: the test session owns the
keyring), the access token (also as HTTP Basic credentials), and the signatures of every
device JWT and AuthPayload vpushd sent (recorded by an HTTP proxy between vpushd and the
emulator). The public key (SPKI) may appear anywhere.

Not scanned: the EnrollFactor call itself (the caller's message, which carries the access
token by design; the test checks that it does, so the capture is known to work) and the
messages of the test's own Secret Service connection that reads the key.
"""

import base64
import http.server
import os
import re
import resource
import struct
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from gi.repository import Gio, GLib

import vpushtest as vt

FIELD_INTERFACE, FIELD_MEMBER, FIELD_DESTINATION, FIELD_SENDER = 2, 3, 6, 7
METHOD_CALL = 1


# ---------------------------------------------------------------------------------------
# What vpushd sends to the Verify API: a recording proxy in front of the emulator


class RecordingProxy:
    """Forwards every request to the emulator and keeps (method, path, headers, body)."""

    def __init__(self, target):
        self.requests = []
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.requests.append((self.command, self.path, dict(self.headers.items()), body))
                skip = ("host", "connection", "content-length", "expect", "keep-alive",
                        "transfer-encoding")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                req = urllib.request.Request(
                    target + self.path, headers=headers, method=self.command,
                    data=body if self.command in ("POST", "PUT", "PATCH") else None)
                try:
                    with opener.open(req, timeout=30) as r:
                        status, rheaders, data = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, rheaders, data = e.code, e.headers, e.read()
                self.send_response_only(status)
                for k, v in rheaders.items():
                    if k.lower() not in ("connection", "content-length", "transfer-encoding",
                                         "keep-alive"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = "http://127.0.0.1:%d/v2/" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def basic_passwords(self):
        out = []
        for _, _, headers, _ in self.requests:
            auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                out.append(password)
        return out

    def form_values(self, name):
        out = []
        for _, _, _, body in self.requests:
            out += urllib.parse.parse_qs(body.decode(errors="replace")).get(name, [])
        return out


# ---------------------------------------------------------------------------------------
# D-Bus traffic: dbus-monitor --pcap


class BusMonitor:
    def __init__(self, session):
        self.session = session
        self.path = session.path("bus-%s.pcap" % uuid.uuid4().hex[:8])
        self.err = session.path("dbus-monitor.log")
        self.proc = vt._spawn(["dbus-monitor", "--address", session.address, "--pcap"],
                              stdin=subprocess.DEVNULL, stdout=open(self.path, "wb"),
                              stderr=open(self.err, "ab"), env=session.env,
                              start_new_session=True)
        self.mark()

    def mark(self):
        """Sends a marker message and waits until the capture holds it: everything sent
        before is captured too."""
        marker = "vpush.secrets.mark%s" % uuid.uuid4().hex
        client = self.session.client

        def seen():
            if self.proc.poll() is not None:
                raise vt.HarnessError("dbus-monitor exited %s: %s"
                                      % (self.proc.returncode, vt.log_tail(self.err)))
            client.name_has_owner(marker)
            with open(self.path, "rb") as f:
                return marker.encode() in f.read()
        vt.wait_until(seen, 10 * vt.SLOWDOWN, interval=0.1, what="dbus-monitor to capture")

    def stop(self):
        self.mark()
        vt._stop_process(self.proc)
        with open(self.path, "rb") as f:
            return f.read()


def pcap_messages(data):
    """The packets of a pcap file: here, one marshalled D-Bus message each."""
    (magic,) = struct.unpack("<I", data[:4])
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        off += 16
        yield data[off:off + incl]
        off += incl


def dbus_header(msg):
    """(message type, {header field code: value}) of a marshalled D-Bus message."""
    e = "<" if msg[:1] == b"l" else ">"
    (fields_len,) = struct.unpack(e + "I", msg[12:16])
    pos, end, fields = 16, 16 + fields_len, {}
    while True:
        pos = (pos + 7) & ~7
        if pos >= end:
            break
        code, siglen = msg[pos], msg[pos + 1]
        sig = msg[pos + 2:pos + 2 + siglen]
        pos += 3 + siglen
        if sig in (b"s", b"o"):
            pos = (pos + 3) & ~3
            (n,) = struct.unpack(e + "I", msg[pos:pos + 4])
            fields[code] = msg[pos + 4:pos + 4 + n].decode()
            pos += 5 + n
        elif sig == b"g":
            n = msg[pos]
            fields[code] = msg[pos + 1:pos + 1 + n].decode()
            pos += 2 + n
        elif sig == b"u":
            pos = (pos + 3) & ~3
            (fields[code],) = struct.unpack(e + "I", msg[pos:pos + 4])
            pos += 4
        else:
            raise AssertionError("unexpected D-Bus header field signature %r" % sig)
    return msg[1], fields


# ---------------------------------------------------------------------------------------
# The key, read from the keyring as any process of the session could


def read_factor_key(address, factor_sid):
    """(the secret vpushd stored for factor_sid, the unique name of the connection used)."""
    conn = Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def call(path, iface, method, args=None):
        return conn.call_sync(vt.SECRETS_NAME, path, iface, method, args, None,
                              Gio.DBusCallFlags.NONE, 20000, None).unpack()
    try:
        service = "org.freedesktop.Secret.Service"
        _, session_path = call(vt.SECRETS_PATH, service, "OpenSession",
                               GLib.Variant("(sv)", ("plain", GLib.Variant("s", ""))))
        unlocked, locked = call(vt.SECRETS_PATH, service, "SearchItems",
                                GLib.Variant("(a{ss})", ({"factor-sid": factor_sid},)))
        assert len(unlocked) == 1 and not locked, (unlocked, locked)
        (secrets,) = call(vt.SECRETS_PATH, service, "GetSecrets",
                          GLib.Variant("(aoo)", (unlocked, session_path)))
        value = bytes(secrets[unlocked[0]][2])
        call(session_path, "org.freedesktop.Secret.Session", "Close")
        return value, conn.get_unique_name()
    finally:
        conn.close_sync(None)


def load_private_key(secret):
    """vpushd stores PKCS#8 DER; PEM or base64 text would do as well."""
    try:
        return serialization.load_der_private_key(secret, None)
    except ValueError:
        pass
    if secret.lstrip().startswith(b"-----BEGIN"):
        return serialization.load_pem_private_key(secret, None)
    return serialization.load_der_private_key(base64.b64decode(secret), None)


# ---------------------------------------------------------------------------------------
# Needles and haystacks


def spellings(label, data):
    """{description: bytes} for the ways data could be written down."""
    if isinstance(data, str):
        data = data.encode()
    return {
        label: data,
        label + " as hex": data.hex().encode(),
        label + " as HEX": data.hex().upper().encode(),
        label + " as base64": base64.b64encode(data).rstrip(b"="),
        label + " as base64url": base64.urlsafe_b64encode(data).rstrip(b"="),
    }


def jwt_signature(jwt):
    sig = jwt.split(".")[2]
    return sig, base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))


def find(needles, haystack):
    """Descriptions of the needles in haystack (also with whitespace and \\n escapes out)."""
    squeezed = re.sub(rb"\s+|\\n", b"", haystack)
    return sorted({label for label, n in needles.items() if n in haystack or n in squeezed})


def snapshot(session, state_dir, into):
    """Adds {path relative to the session: contents} of every file vpushd may have written:
    its state directory and the session's XDG directories (not gnome-keyring's keyrings/)."""
    keyrings = os.path.join(session.data, "keyrings")
    for top in (state_dir, session.state, session.cache, session.config, session.runtime,
                session.data):
        for path in files_under(top, skip=(keyrings,)):
            try:
                with open(path, "rb") as f:
                    into.setdefault(os.path.relpath(path, session.tmp), set()).add(f.read())
            except OSError:
                pass  # gone meanwhile


def files_under(top, skip=()):
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
        for name in names:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path


# ---------------------------------------------------------------------------------------


def test_no_key_material_or_token_in_logs_state_or_bus(session, emulator):
    client = session.client
    proxy = RecordingProxy(emulator.url)
    monitor = None
    daemon = vt.Daemon(session, emulator, config={"Verify": {"BaseUrl": proxy.base_url,
                                                             "RetryTimeoutMs": "3000"}})
    reader = None
    files = {}  # what vpushd's files held at each step: a factor's record goes with it
    try:
        monitor = BusMonitor(session)
        daemon.start()

        identity = vt.unique_identity("secrets")
        token = emulator.access_token(identity)["token"]
        path = client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                              "access-token": token, "friendly-name": "Secrets check"})
        sid = client.get_property(path, vt.FACTOR_IFACE, "Sid")
        secret, reader = read_factor_key(session.address, sid)
        snapshot(session, daemon.state_dir, files)

        # the paths that log more: a retried answer, a refused list (401 and the clock
        # corrected from its Date), a list given up on
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(identity, sid, hidden={"transaction_id": txid})
        emulator.fault(r"/Challenges/%s\Z" % ch["sid"], status=503, method="POST", count=1)
        assert client.approve({"transaction-id": txid}) == ch["sid"]
        ch = emulator.create_challenge(identity, sid, message="Deny this")
        client.deny({"challenge-sid": ch["sid"]})
        emulator.set_clock(-300)
        client.list_challenges(path)
        emulator.set_clock(0)
        emulator.fault(r"/Entities/%s/Challenges\Z" % identity, status=500, method="GET",
                       count=1000)
        try:
            client.list_challenges(path)
            raise AssertionError("ListChallenges went through a 500")
        except vt.DBusCallError as e:
            assert e.name == vt.ERR_PREFIX + "Api", e
        emulator.clear_faults()
        client.list_challenges(path)
        snapshot(session, daemon.state_dir, files)
        client.factor_delete(path)
        assert client.factor_paths() == []
    finally:
        try:
            daemon.stop()
        finally:
            capture = monitor.stop() if monitor else b""
            proxy.stop()
    snapshot(session, daemon.state_dir, files)

    # -- the secrets, and checks that they are the real ones
    key = load_private_key(secret)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    spki = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    assert proxy.form_values("Binding.PublicKey") == [spki], \
        "the key in the keyring is not the one the factor was created with"

    passwords = proxy.basic_passwords()
    assert token in passwords, "create-factor did not go through the proxy"
    device_jwts = [p for p in passwords if p != token and p.count(".") == 2]
    payloads = proxy.form_values("AuthPayload")
    assert device_jwts, "no device JWT recorded"
    assert len(payloads) >= 3, "expected the factor verification, an approval and a denial"

    needles = {}
    needles.update(spellings("the PKCS#8 private key", pkcs8))
    if secret != pkcs8:
        needles.update(spellings("the stored key secret", secret))
    needles.update(spellings("the private scalar", scalar))
    needles.update(spellings("the access token", token))
    needles["the access token as Basic credentials"] = \
        base64.b64encode(("token:" + token).encode()).rstrip(b"=")
    needles.update(spellings("the access token's signature", jwt_signature(token)[0]))
    for n, jwt in enumerate(sorted(set(device_jwts + payloads))):
        if jwt.count(".") != 2:
            # the factor verification's AuthPayload: a bare base64 DER signature
            needles.update(spellings("signature %d" % n, jwt))
            needles.update(spellings("signature %d (DER)" % n, base64.b64decode(jwt)))
            continue
        sig_text, sig_raw = jwt_signature(jwt)
        needles.update(spellings("JWT %d's signature" % n, sig_text))
        needles.update(spellings("JWT %d's raw signature" % n, sig_raw))
        needles["JWT %d as Basic credentials" % n] = \
            base64.b64encode(("token:" + jwt).encode()).rstrip(b"=")
    # sanity: the public key is no needle's match
    assert not find(needles, spki.encode())

    hits = []

    # -- vpushd's log
    with open(daemon.log, "rb") as f:
        log = f.read()
    assert b"enrolled factor " + sid.encode() in log, "the log is not vpushd's --verbose log"
    for line in (rb"POST [^\n]*: [^\n]*503[^\n]*; retry 1 in", rb"clock", rb"giving up after"):
        assert re.search(line, log), "the log shows no %r: the scan misses a path" % line
    hits += [("vpushd log", what) for what in find(needles, log)]

    # -- its state directory and the session's XDG directories, as they were at each step
    state_prefix = os.path.relpath(daemon.state_dir, session.tmp) + os.sep
    assert any(f.startswith(state_prefix) for f in files), \
        "vpushd wrote nothing into its state directory"
    for file in sorted(files):
        for what in sorted(set().union(*(find(needles, data) for data in files[file]))):
            hits.append((file, what))

    # -- the bus
    enroll_calls = []
    seen = 0
    for msg in pcap_messages(capture):
        mtype, fields = dbus_header(msg)
        if reader in (fields.get(FIELD_SENDER), fields.get(FIELD_DESTINATION)):
            continue  # this test reading the key
        if mtype == METHOD_CALL and fields.get(FIELD_MEMBER) == "EnrollFactor" \
                and fields.get(FIELD_INTERFACE) == vt.MANAGER_IFACE:
            enroll_calls.append(msg)
            continue  # the caller's message: it carries the token by design
        seen += 1
        for what in find(needles, msg):
            hits.append(("D-Bus %s %s.%s from %s to %s" % (
                {1: "call", 2: "reply", 3: "error", 4: "signal"}.get(mtype, mtype),
                fields.get(FIELD_INTERFACE), fields.get(FIELD_MEMBER),
                fields.get(FIELD_SENDER), fields.get(FIELD_DESTINATION)), what))
    assert len(enroll_calls) == 1, "expected one EnrollFactor call, saw %d" % len(enroll_calls)
    assert "the access token" in find(needles, enroll_calls[0]), \
        "the capture does not show the EnrollFactor call's token: is the scan blind?"
    assert seen > 20, "only %d D-Bus messages captured" % seen

    assert hits == [], "secrets found where vpushd wrote:\n" + "\n".join(
        "  %s: %s" % h for h in hits)


def core_limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                return line.split()[4:6]
    raise AssertionError("no core file size in /proc/%d/limits" % pid)


def test_no_core_dump_however_started(session, emulator):
    """A core dump would hold the keys vpushd keeps while the keyring is unlocked: none is
    written even when vpushd is started with core dumps allowed (not by its unit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    daemon = vt.Daemon(session, emulator)
    try:
        daemon.start()
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    try:
        assert core_limits(session.client.name_owner_pid(vt.BUS_NAME)) == ["0", "0"]
    finally:
        daemon.stop()


def mappings(pid):
    """(start, end, readable, left out of core dumps, name) of each mapping of pid."""
    out = []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)", line)
            if m:
                out.append([int(m.group(1), 16), int(m.group(2), 16), "r" in m.group(3), False,
                            m.group(4) or "anonymous"])
            elif line.startswith("VmFlags:"):
                out[-1][3] = "dd" in line.split()[1:]
    return out


def places_of(pid, needle):
    """(mappings left out of core dumps, other mappings) whose memory holds needle."""
    left_out, dumped = [], []
    try:
        mem = open("/proc/%d/mem" % pid, "rb", buffering=0)
    except PermissionError as e:
        pytest.skip("vpushd's memory can't be read here: %s" % e)
    with mem:
        for start, end, readable, dont_dump, name in mappings(pid):
            if not readable:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue  # [vvar] and the like
            if needle in data:
                (left_out if dont_dump else dumped).append("%x-%x %s" % (start, end, name))
    return left_out, dumped


@pytest.mark.skipif(vt.VALGRIND or vt.SANITIZED,
                    reason="valgrind keeps the registers of the program it runs in its own "
                    "memory, which core dumps hold; ASan's shadow memory is terabytes")
def test_private_key_left_out_of_core_dumps(session, emulator):
    """Where a core dump is written however the core limit is set (a core_pattern piping
    it to a program), the keys vpushd keeps while the keyring is unlocked must not be in
    it: their private scalars live only in memory left out of core dumps (OpenSSL's secure
    heap), after a key is made and used, and after one is read back from the keyring."""
    client = session.client
    daemon = vt.Daemon(session, emulator)
    daemon.start()
    try:
        f = vt.enroll(client, emulator)
        secret, _ = read_factor_key(session.address, f.sid)
        scalar = load_private_key(secret).private_numbers().private_value.to_bytes(32, "big")
        for started in ("made", "read back"):
            if started == "read back":
                daemon.restart()
            txid = vt.new_transaction_id()
            emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
            assert client.approve({"transaction-id": txid}), started
            pid = client.name_owner_pid(vt.BUS_NAME)
            # OpenSSL keeps it as little-endian words; big-endian is how it is written
            for order, needle in (("little-endian", scalar[::-1]), ("big-endian", scalar)):
                left_out, dumped = places_of(pid, needle)
                assert dumped == [], "key %s: its scalar (%s) in %s" % (started, order, dumped)
                if order == "little-endian":
                    assert left_out, "key %s: its scalar not found: is the scan blind?" % started
    finally:
        daemon.stop()
