"""The emulator's push streams (SSE, ntfy JSON), keepalives, drops, and SIGTERM."""

import base64
import json
import secrets
import socket
import time

import pytest

from emulator_client import Emulator


# --- push streams ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pushemu():
    e = Emulator("--keepalive", "0.3")
    yield e
    e.stop()


class Stream:
    """A raw streaming GET; lines are read with our own buffer so a read timeout does
    not spoil the connection."""

    def __init__(self, emu, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
        hdrs = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode())
        self.buf = b""
        self.status = self.line()
        self.headers = {}
        while True:
            line = self.line().rstrip("\r\n")
            if not line:
                break
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def line(self, timeout=3):
        """Next line including its LF; "" when the server closed. Raises
        socket.timeout when nothing complete arrives in time."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest.decode()
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode() + "\n"

    def sse_event(self, timeout=3):
        """Next SSE block (list of lines) that is not only comments."""
        while True:
            block = []
            while True:
                line = self.line(timeout)
                if line == "":
                    return None          # closed
                line = line.rstrip("\n")
                if line == "":
                    break
                block.append(line)
            if any(not b.startswith(":") for b in block):
                return block

    def json_event(self, timeout=3, skip_keepalive=True):
        while True:
            ev = json.loads(self.line(timeout))
            if not (skip_keepalive and ev["event"] == "keepalive"):
                return ev

    def close(self):
        self.sock.close()


def publish(emu, topic, data):
    r = emu.request("POST", f"/push/{topic}", body=data, validate=False)
    assert r.status == 200, r
    return r.json


def test_sse_stream_and_resume(pushemu):
    topic = "t" + secrets.token_hex(6)
    m1 = publish(pushemu, topic, '{"challenge_sid":"YC1"}')
    s = Stream(pushemu, f"/push/{topic}/sse", {"Last-Event-ID": m1["id"]})
    assert s.status.startswith("HTTP/1.1 200")
    assert s.headers["content-type"].startswith("text/event-stream")
    m2 = publish(pushemu, topic, '{"challenge_sid":"YC2","factor_sid":"YF2"}')
    ev = s.sse_event()
    assert ev == [f"id: {m2['id']}", 'data: {"challenge_sid":"YC2","factor_sid":"YF2"}']
    s.close()
    # resume: everything after m1
    s = Stream(pushemu, f"/push/{topic}/sse", {"Last-Event-ID": m1["id"]})
    assert s.sse_event() == [f"id: {m2['id']}", 'data: {"challenge_sid":"YC2","factor_sid":"YF2"}']
    s.close()
    # multi-line data
    s = Stream(pushemu, f"/push/{topic}/sse", {"Last-Event-ID": m2["id"]})
    m3 = publish(pushemu, topic, "line1\nline2")
    assert s.sse_event() == [f"id: {m3['id']}", "data: line1", "data: line2"]
    s.close()


def test_sse_splits_only_on_sse_line_ends(pushemu):
    """A hint is cut into data lines at CRLF, LF and CR only, the line ends of SSE: U+2028
    and the other separators str.splitlines knows stay inside the line."""
    topic = "u" + secrets.token_hex(6)
    s = Stream(pushemu, f"/push/{topic}/sse")
    hint = {"challenge_sid": "YC1", "message": "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x1dh\x1ei"}
    m = publish(pushemu, topic, json.dumps(hint, ensure_ascii=False))
    ev = s.sse_event()
    assert ev[0] == f"id: {m['id']}" and len(ev) == 2, ev
    assert ev[1].startswith("data: ")
    assert json.loads(ev[1][len("data: "):]) == hint
    raw = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"
    m = publish(pushemu, topic, raw)
    assert s.sse_event() == [f"id: {m['id']}", f"data: {raw}"]
    m = publish(pushemu, topic, "one\r\ntwo\rthree\nfour\n")
    assert s.sse_event() == [f"id: {m['id']}", "data: one", "data: two", "data: three",
                             "data: four", "data: "]
    s.close()


def test_sse_keepalive_silence_drop(pushemu):
    topic = "k" + secrets.token_hex(6)
    s = Stream(pushemu, f"/push/{topic}/sse")
    assert s.line(2) == ": keepalive\n"
    assert s.line(2) == "\n"
    assert pushemu.control("POST", "/_emulator/push/silence", {"on": "1"}).json["silenced"]
    try:
        s.line(0.35)   # a keepalive may already have been in flight
        s.line(0.35)
    except socket.timeout:
        pass
    with pytest.raises(socket.timeout):
        s.line(1.0)
    m = publish(pushemu, topic, "still delivered")
    assert s.sse_event() == [f"id: {m['id']}", "data: still delivered"]
    pushemu.control("POST", "/_emulator/push/silence", {"on": "0"})
    assert s.line(2) == ": keepalive\n"
    s.close()
    s = Stream(pushemu, f"/push/{topic}/sse")
    r = pushemu.control("POST", f"/_emulator/push/{topic}/drop")
    assert r.json["dropped"] == 1
    while True:
        line = s.line(2)
        if line == "":
            break
        assert line in (": keepalive\n", "\n")
    s.close()


def test_ntfy_stream_and_resume(pushemu):
    topic = "n" + secrets.token_hex(6)
    m1 = publish(pushemu, topic, "first")
    s = Stream(pushemu, f"/push/{topic}/json?since={m1['id']}")
    assert s.headers["content-type"].startswith("application/x-ndjson")
    opened = json.loads(s.line())
    assert opened["event"] == "open" and opened["topic"] == topic
    assert set(opened) >= {"id", "time", "event", "topic"}
    m2 = publish(pushemu, topic, '{"challenge_sid":"YC9"}')
    msg = s.json_event()
    assert msg["event"] == "message" and msg["id"] == m2["id"] and msg["topic"] == topic
    assert msg["message"] == '{"challenge_sid":"YC9"}' and isinstance(msg["time"], int)
    ka = json.loads(s.line(2))
    assert ka["event"] == "keepalive" and ka["topic"] == topic
    s.close()
    s = Stream(pushemu, f"/push/{topic}/json?since=all")
    events = [s.json_event() for _ in range(3)]
    assert [e["event"] for e in events] == ["open", "message", "message"]
    assert [e["id"] for e in events[1:]] == [m1["id"], m2["id"]]
    s.close()
    r = pushemu.request("GET", f"/push/{topic}/json?poll=1&since={m1['id']}", validate=False)
    lines = r.raw.decode().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [m2["id"]]
    s = Stream(pushemu, f"/push/{topic}/json")
    assert json.loads(s.line())["event"] == "open"
    assert pushemu.control("POST", f"/_emulator/push/{topic}/drop").json["dropped"] == 1
    rest = []
    while True:
        line = s.line(2)
        if not line:
            break
        rest.append(json.loads(line)["event"])
    assert set(rest) <= {"keepalive"}
    s.close()


def test_base64_message(pushemu):
    """encoding=base64: the body goes out base64-encoded with "encoding": "base64", as ntfy
    sends a body that is not UTF-8 text (then any bytes will do); on /sse as the ntfy
    message object. Another encoding is refused."""
    topic = "b" + secrets.token_hex(6)
    sse = Stream(pushemu, f"/push/{topic}/sse")
    ntfy = Stream(pushemu, f"/push/{topic}/json")
    assert json.loads(ntfy.line())["event"] == "open"
    m = publish(pushemu, topic + "?encoding=base64", b'{"challenge_sid":"YC1"}\xff')
    assert m["encoding"] == "base64"
    assert base64.b64decode(m["message"], validate=True) == b'{"challenge_sid":"YC1"}\xff'
    msg = ntfy.json_event()
    assert msg["id"] == m["id"] and msg["message"] == m["message"]
    assert msg["encoding"] == "base64"
    ev = sse.sse_event()
    assert ev[0] == f"id: {m['id']}" and len(ev) == 2
    assert json.loads(ev[1][len("data: "):]) == dict(msg, expires=m["expires"])
    plain = publish(pushemu, topic, "text")
    assert "encoding" not in plain and "encoding" not in ntfy.json_event()
    r = pushemu.request("POST", f"/push/{topic}?encoding=gzip", body="x", validate=False)
    assert r.status == 400
    sse.close()
    ntfy.close()


def test_ntfy_since_formats(pushemu):
    """`since=` as ntfy's parseSince reads it: `latest` is the newest message (not
    nothing), `none` nothing, a duration counts back from now, 12 letters or digits are
    a message id before they are a unix time (an unknown id replays all), anything else
    is refused with 400."""
    topic = "s" + secrets.token_hex(6)
    m1 = publish(pushemu, topic, "one")
    m2 = publish(pushemu, topic, "two")

    def polled(since):
        s = Stream(pushemu, f"/push/{topic}/json?poll=1&since={since}")
        assert " 200 " in s.status, (since, s.status)
        ids, left = [], int(s.headers["content-length"])
        while left > 0:
            line = s.line()
            left -= len(line.encode())
            ids.append(json.loads(line)["id"])
        s.close()
        return ids

    assert polled("latest") == [m2["id"]]
    assert polled("none") == []
    assert polled("all") == [m1["id"], m2["id"]]
    assert polled("1h") == [m1["id"], m2["id"]]
    assert polled("1h30m0.5s") == [m1["id"], m2["id"]]
    assert polled("123456789012") == [m1["id"], m2["id"]]   # an id, not the year 5882
    assert polled("0") == [m1["id"], m2["id"]]
    for bad in ("bogus!", "10x", "abc"):
        s = Stream(pushemu, f"/push/{topic}/json?since={bad}")
        assert " 400 " in s.status, (bad, s.status)
        s.close()
    s = Stream(pushemu, f"/push/{topic}/json?since=latest")
    assert json.loads(s.line())["event"] == "open"
    assert s.json_event()["id"] == m2["id"]
    s.close()
    s = Stream(pushemu, f"/push/{topic}/sse?since=latest")
    assert s.sse_event()[0] == f"id: {m2['id']}"
    s.close()


def test_sigterm_stops(pushemu):
    e = Emulator()
    assert e.backend("GET", e.svc_path()).status == 200
    e.stop()
    assert e.proc.returncode == 0
