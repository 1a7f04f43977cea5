"""The emulator's HTTPS listener (docs/emulator.md "HTTPS") with a test CA made here by
vpush_emulator.testca: the same emulator as the plain listener, behind verified TLS."""

import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time

import pytest
from cryptography import x509

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from emulator_client import EMULATOR, Emulator, basic  # noqa: E402
from vpush_emulator import testca  # noqa: E402


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="vpush-emu-tls-")
    paths = testca.write(d, dns=("localhost",), ips=("127.0.0.1",))
    paths["dir"] = d
    paths["rogue_ca"] = testca.write(d, prefix="rogue-")["ca"]
    yield paths
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def emu(pki):
    e = Emulator("--tls-cert", pki["cert"], "--tls-key", pki["key"], "--keepalive", "0.3")
    yield e
    e.stop()
    assert e.proc.returncode == 0


def https(emu, cafile, host="127.0.0.1"):
    ctx = ssl.create_default_context(cafile=cafile)
    return http.client.HTTPSConnection(host, emu.ready["https_port"], context=ctx, timeout=10)


def get_json(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


def test_testca_files(pki):
    assert stat.S_IMODE(os.stat(pki["key"]).st_mode) == 0o600
    with open(pki["cert"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_ready_record(emu):
    r = emu.ready
    port = r["https_port"]
    assert port != r["port"]
    assert r["https_url"] == f"https://127.0.0.1:{port}"
    assert r["https_base_url"] == f"https://127.0.0.1:{port}/v2/"
    # resource URLs keep naming the plain listener
    assert r["base_url"] == f"http://127.0.0.1:{r['port']}/v2/"


def test_plain_emulator_has_no_https():
    e = Emulator()
    try:
        assert "https_url" not in e.ready and "https_base_url" not in e.ready
    finally:
        e.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_https_shares_the_emulator(emu, pki, host):
    conn = https(emu, pki["ca"], host)
    auth = {"Authorization": basic(emu.account_sid, emu.auth_token),
            "Content-Type": "application/x-www-form-urlencoded"}
    status, svc = get_json(conn, "POST", "/v2/Services", "FriendlyName=over+tls", auth)
    assert status == 201, svc
    # the plain listener sees what came over TLS, and the other way round
    assert emu.backend("GET", emu.svc_path(svc["sid"])).json["friendly_name"] == "over tls"
    status, body = get_json(conn, "GET", "/_emulator/state")
    assert status == 200 and svc["sid"] in json.dumps(body)
    conn.close()


def test_unknown_ca_refused(emu, pki):
    for cafile in (pki["rogue_ca"], None):
        ctx = ssl.create_default_context(cafile=cafile)
        conn = http.client.HTTPSConnection("127.0.0.1", emu.ready["https_port"], context=ctx,
                                           timeout=10)
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.request("GET", "/_emulator/clock")
        conn.close()


def test_wrong_host_name_refused(emu, pki):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    with socket.create_connection(("127.0.0.1", emu.ready["https_port"]), timeout=10) as sock:
        with pytest.raises(ssl.SSLCertVerificationError, match="other.example"):
            ctx.wrap_socket(sock, server_hostname="other.example")


def test_bad_handshakes_do_not_stop_it(emu, pki):
    port = emu.ready["https_port"]
    # plain HTTP on the TLS port, a client that says nothing, one that hangs up at once
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            assert not s.recv(100).startswith(b"HTTP/")
        except ConnectionResetError:
            pass
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    try:
        conn = https(emu, pki["ca"])
        status, body = get_json(conn, "GET", "/_emulator/clock")
        assert status == 200 and "now" in body
        conn.close()
    finally:
        silent.close()
    assert emu.backend("GET", emu.svc_path()).status == 200


def _topic_stats(emu, topic):
    return emu.control("GET", f"/_emulator/push/{topic}").json


def test_push_stream_over_https(emu, pki):
    topic = "t" + secrets.token_hex(6)
    ctx = ssl.create_default_context(cafile=pki["ca"])
    raw = socket.create_connection(("127.0.0.1", emu.ready["https_port"]), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(f"GET /push/{topic}/sse HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    f = sock.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 200")
    while f.readline() not in (b"\r\n", b""):
        pass
    deadline = time.monotonic() + 5
    while _topic_stats(emu, topic)["subscribers"] != 1:
        assert time.monotonic() < deadline, "the TLS stream never subscribed"
        time.sleep(0.05)
    r = emu.request("POST", f"/push/{topic}", body='{"challenge_sid":"YC1"}', validate=False)
    assert r.status == 200, r
    lines = []
    while "data: " not in "".join(lines):
        line = f.readline().decode()
        assert line, "stream closed"
        lines.append(line)
    assert f"id: {r.json['id']}\n" in lines
    assert 'data: {"challenge_sid":"YC1"}\n' in lines

    # a client that goes away is noticed (TLS sockets can't be peeked)
    f.close()
    sock.close()
    deadline = time.monotonic() + 5
    while _topic_stats(emu, topic)["subscribers"] != 0:
        assert time.monotonic() < deadline, "the closed TLS stream is still subscribed"
        time.sleep(0.05)


def test_delays_apply_to_https(emu, pki):
    """Control calls on the plain listener govern the HTTPS one too."""
    r = emu.control("POST", "/_emulator/delay",
                    {"path": "^/v2/Services/VA[0-9a-f]+$", "seconds": "0.6", "method": "GET"})
    assert r.status == 200, r
    conn = https(emu, pki["ca"])
    start = time.monotonic()
    status, _ = get_json(conn, "GET", emu.svc_path(),
                         headers={"Authorization": basic(emu.account_sid, emu.auth_token)})
    assert status == 200
    assert time.monotonic() - start >= 0.5
    conn.close()
    emu.control("POST", "/_emulator/delay/clear")


@pytest.mark.parametrize("args,message", [
    (["--tls-cert", "CERT"], "--tls-cert and --tls-key go together"),
    (["--tls-key", "KEY"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "CA", "--tls-key", "KEY"], "--tls-cert/--tls-key"),
    (["--tls-cert", "CERT", "--tls-key", "MISSING"], "--tls-cert/--tls-key"),
])
def test_bad_tls_options(pki, args, message):
    subst = {"CERT": pki["cert"], "KEY": pki["key"], "CA": pki["ca"],
             "MISSING": os.path.join(pki["dir"], "missing.key")}
    r = subprocess.run([sys.executable, EMULATOR, "--port", "0"] + [subst.get(a, a) for a in args],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r
    assert message in r.stderr, r.stderr
