"""A hostile push server: whoever can publish to a push topic (an ntfy topic is a name
anyone may guess) or stands in for the push server says what vpushd reads. What it can
make vpushd do must stay bounded: Verify API requests, memory, the stream's own state.
The counts are of requests at the emulator, never timings, but for a stream that ends no
line, which is replaced as a silent one is: after three keepalive periods (5 s here)."""

import http.server
import json
import queue
import re
import threading
import time
import uuid

import pytest

import vpushtest as vt
from vpushtest_push import SLOW_POLL, device_requests, push_state

# Content-Type, greeting and keepalive of each kind of stream
FORMATS = {"sse": ("text/event-stream", b": hello\n\n", b": keepalive\n\n"),
           "json": ("application/x-ndjson", b'{"event":"open"}\n', b'{"event":"keepalive"}\n')}


class HostilePushServer:
    """A push server (SSE, or fmt "json": ntfy JSON lines) whose connections write what
    the test puts in send(): each connection answers 200, then writes the queued bytes as
    they come, or runs a queued function with the response's file (for as long as it
    likes), and a keepalive every second while nothing is queued."""

    def __init__(self, fmt="sse"):
        self.fmt = fmt
        content_type, greeting, keepalive = FORMATS[fmt]
        self.connections = 0
        self.queues = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                q = queue.SimpleQueue()
                server.queues.append(q)
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    self.wfile.write(greeting)
                    self.wfile.flush()
                    while True:
                        try:
                            chunk = q.get(timeout=1.0)
                        except queue.Empty:
                            chunk = keepalive
                        if chunk is None:
                            return
                        if callable(chunk):
                            chunk(self.wfile)
                            continue
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except OSError:
                    return

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/stream" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def send(self, data):
        """Writes data to the newest connection."""
        self.queues[-1].put(data)

    def close(self):
        for q in self.queues:
            q.put(None)
        self.httpd.shutdown()
        self.httpd.server_close()


def sse_hint(challenge_sid, factor_sid=None, fmt="sse"):
    """A hint as an SSE event, or (fmt "json") as an ntfy line."""
    hint = {"type": "verify_push_challenge", "challenge_sid": challenge_sid}
    if factor_sid is not None:
        hint["factor_sid"] = factor_sid
    if fmt == "json":
        return (json.dumps(hint) + "\n").encode()
    return ("data: %s\n\n" % json.dumps(hint)).encode()


@pytest.fixture
def hostile(session, emulator, request):
    """(server, daemon): vpushd with [Push] Url on a HostilePushServer, polling slowly;
    parametrized indirectly with "json" for an ntfy JSON stream."""
    server = HostilePushServer(getattr(request, "param", "sse"))
    d = vt.Daemon(session, emulator, config={"Poll": dict(SLOW_POLL),
                                             "Push": {"Url": server.url}})
    d.start()
    yield server, d
    d.stop()
    server.close()


def settle(emulator, quiet=3.0, timeout=60.0):
    """Waits until vpushd has made no API call for `quiet` seconds (longer than the gap
    between two polls the push channel asks for); returns vpushd's requests so far and
    empties the request log."""
    emulator.wait_quiet(quiet, timeout * vt.SLOWDOWN)
    requests = device_requests(emulator)
    emulator.clear_requests()
    return requests


def answer_elsewhere(emulator, sid, status):
    res = emulator.request("POST", "/_emulator/answer", {"sid": sid, "status": status},
                           backend=False)
    assert res.status == 200, res.body


def connected(client, emulator):
    vt.wait_until(lambda: push_state(client) == "connected", 15 * vt.SLOWDOWN,
                  what="PushState connected")
    settle(emulator)


class Flood(threading.Thread):
    """Writes each event of events to the push server on its own, a few ms apart, so
    that vpushd reads them one by one rather than as one batch."""

    def __init__(self, server, events):
        super().__init__(daemon=True)
        self.server, self.events = server, events

    def run(self):
        for event in self.events:
            self.server.send(event)
            time.sleep(0.002)


FLOOD = 2000


# Under valgrind the forged flood alone: the three take minutes there, and the others
# reach no code the forged one does not (the ASan run has them all).
@pytest.mark.parametrize("kind", ["forged", pytest.param("same", marks=pytest.mark.skipif(
    vt.VALGRIND, reason="one flood under valgrind")), pytest.param("garbage", marks=(
        pytest.mark.skipif(vt.VALGRIND, reason="one flood under valgrind")))])
def test_flood_of_hints_costs_few_requests(hostile, client, emulator, kind):
    """Each hint, read on its own, was a fetch, and each fetch of a challenge the API does
    not have a poll: a topic flooded with hints made vpushd send the Verify API about two
    requests a hint (each fetch, and a poll after each other one), which Twilio answers
    with 429 for the whole account. Now fetches start at most one a second past the first
    8, and the polls a hint asks for are merged. Whatever the hints, a real challenge
    published among them is still approved."""
    server, daemon = hostile
    f = vt.enroll(client, emulator)
    connected(client, emulator)
    # answered before vpushd's poll could see it pending: not in the pending set
    old = emulator.create_challenge(f.identity, f.sid)
    answer_elsewhere(emulator, old["sid"], "denied")

    if kind == "forged":
        events = [sse_hint("YC" + uuid.uuid4().hex, f.sid) for _ in range(FLOOD)]
    elif kind == "same":
        events = [sse_hint(old["sid"], f.sid)] * FLOOD
    else:
        events = [b'data: {"challenge_sid": 42}\n\n'] * FLOOD
    flood = Flood(server, events)
    flood.start()
    vt.wait_until(lambda: device_requests(emulator), 30 * vt.SLOWDOWN,
                  what="the flood to reach vpushd")
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    server.send(sse_hint(ch["sid"], f.sid))
    assert client.approve({"transaction-id": txid, "timeout-ms": 20000},
                          timeout_ms=60000) == ch["sid"]
    flood.join()
    requests = settle(emulator)
    assert len(requests) < FLOOD / 20, "%d requests to the API for %d hints" % (
        len(requests), FLOOD)

    # once the flood is over, a hint is fetched at once again
    ch = emulator.create_challenge(f.identity, f.sid)
    server.send(sse_hint(ch["sid"], f.sid))
    vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(),
                  10 * vt.SLOWDOWN, what="the challenge on the bus")
    assert [r["path"].rsplit("/", 1)[1] for r in device_requests(emulator)] == [ch["sid"]]


def test_burst_of_real_challenges_is_fetched_one_by_one(hostile, client, emulator):
    """Only hints that name nothing new use up the fetches' budget: a fetch that finds a
    new pending challenge gives its share back, so a burst of real challenges (which only
    the backend can make) is fetched hint by hint, none left to a poll. The hints go one
    after the other, each once the one before is on the bus: fetches running at once are
    bounded on their own (8), and that bound is not what this is about."""
    server, daemon = hostile
    f = vt.enroll(client, emulator)
    connected(client, emulator)
    sids = [emulator.create_challenge(f.identity, f.sid)["sid"] for _ in range(30)]
    for sid in sids:
        server.send(sse_hint(sid, f.sid))
        vt.wait_until(lambda: vt.challenge_path(sid) in client.challenge_paths(),
                      10 * vt.SLOWDOWN, what="challenge %s on the bus" % sid)
    requests = settle(emulator)
    assert sorted(r["path"].rsplit("/", 1)[1] for r in requests) == sorted(sids), [
        r["path"] for r in requests]


@pytest.mark.parametrize("status", [400, pytest.param(404, marks=pytest.mark.skipif(
    vt.VALGRIND, reason="the same path as 400 under valgrind"))])
def test_hint_whose_fetch_fails_is_followed_by_a_poll(hostile, client, emulator, status):
    """A hint for a challenge that can't be fetched (a 400, or a 404 a replica not yet in
    step may give) makes vpushd poll the factor: the challenge comes by its list, not at
    the next scheduled poll (10 minutes here)."""
    server, daemon = hostile
    f = vt.enroll(client, emulator)
    connected(client, emulator)
    ch = emulator.create_challenge(f.identity, f.sid)
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], status=status, method="GET", count=1)
    server.send(sse_hint(ch["sid"], f.sid))
    vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(),
                  10 * vt.SLOWDOWN, what="the challenge on the bus")
    paths = [r["path"] for r in settle(emulator)]
    fetch = "/Challenges/" + ch["sid"]
    listing = "/Entities/%s/Challenges" % f.identity
    assert [p.endswith(fetch) or p.endswith(listing) for p in paths] == [True] * len(paths)
    assert paths[0].endswith(fetch) and any(p.endswith(listing) for p in paths[1:]), paths


# the start of a line that could hold a hint, in each kind of stream
LINE_START = {"sse": b"data: ", "json": b'{"event":"message","message":"'}


class EndlessLine:
    """Queued with send(): writes the start of a line, then bytes that never end it, a
    chunk of `size` bytes every `pause` seconds, until stop() (which ends the line)."""

    def __init__(self, fmt, size, pause):
        self.start, self.size, self.pause = LINE_START[fmt], size, pause
        self.stopped = threading.Event()

    def __call__(self, wfile):
        wfile.write(self.start)
        while not self.stopped.wait(self.pause):
            wfile.write(b"x" * self.size)
            wfile.flush()
        wfile.write(b"\n\n")
        wfile.flush()

    def stop(self):
        self.stopped.set()


@pytest.mark.parametrize("hostile", ["sse", "json"], indirect=True)
def test_endless_line_polls_at_once(hostile, client, emulator):
    """A push event over 64 KiB is dropped and vpushd polls instead, but it did so only
    once the line ended: a line streamed without end kept PushState=connected with no
    poll, a challenge waiting for IntervalWithPushSeconds (10 minutes here). Now vpushd
    polls as the line passes 64 KiB, once for that line, and the stream goes on."""
    server, daemon = hostile
    f = vt.enroll(client, emulator)
    connected(client, emulator)
    ch = emulator.create_challenge(f.identity, f.sid)
    line = EndlessLine(server.fmt, 16384, 0)
    server.send(line)
    try:
        vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(),
                      10 * vt.SLOWDOWN, what="the challenge on the bus")
    finally:
        line.stop()
    ch = emulator.create_challenge(f.identity, f.sid)
    server.send(sse_hint(ch["sid"], f.sid, server.fmt))
    vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(),
                  10 * vt.SLOWDOWN, what="the hint after the line on the bus")
    assert daemon.log_text().count("an unreadable event was dropped: polling") == 1, (
        daemon.log_text())


@pytest.mark.parametrize("hostile", ["sse", "json"], indirect=True)
def test_line_without_end_is_no_sign_of_life(hostile, client, emulator):
    """A stream silent for three of its keepalive periods (here 1 s, raised to 5 s) is
    replaced, but any byte counted as a sign of life: a server that wrote a byte a second,
    never ending a line, kept PushState=connected for ever, and no hint came through.
    Only a line ended counts now: that stream is replaced as a silent one is, and the new
    connection's poll brings what was pending."""
    server, daemon = hostile
    f = vt.enroll(client, emulator)
    connected(client, emulator)
    vt.wait_until(lambda: ": keepalives every " in daemon.log_text(), 10 * vt.SLOWDOWN,
                  what="vpushd to learn the keepalive period")
    ch = emulator.create_challenge(f.identity, f.sid)
    connections = server.connections
    line = EndlessLine(server.fmt, 1, 1.0)
    server.send(line)
    try:
        vt.wait_until(lambda: server.connections > connections, 15 * vt.SLOWDOWN,
                      what="vpushd to replace the stream")
    finally:
        line.stop()
    assert re.search(r"no line received for [0-9]+ s", daemon.log_text()), daemon.log_text()
    vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(),
                  10 * vt.SLOWDOWN, what="the challenge on the bus")
