"""The push channel (design.md "Push channel"): hints over SSE and ntfy JSON streams from
the emulator, reconnects and resume, PushState, a push server that is down, a silent
stream. Polling is set to 10 minutes wherever a test needs to show that push did the work.
A push server of the test's own, answering from a script: test_push_server.py.
"""

import http.server
import threading
import time
import uuid

import pytest

import vpushtest as vt
from vpushtest_push import (control, device_requests, lists, new_topic, publish,
                            publish_hint, push_daemons, push_state, push_url, settle,
                            topic_stats, wait_exported, wait_push_state)
from gi.repository import Gio, GLib

KEEPALIVE = 1.0   # the emulator's keepalive in this module, seconds


# ---- helpers (push calls the harness does not have) -----------------------------------


def push_states_signalled(client):
    """PushState values in PropertiesChanged signals of the Manager, oldest first."""
    return [args[1]["PushState"] for member, path, args in client.signals
            if member == "PropertiesChanged" and path == vt.MANAGER_PATH
            and args[0] == vt.MANAGER_IFACE and "PushState" in args[1]]


def wait_period_learnt(daemon):
    """Waits until vpushd has seen two of the emulator's keepalives a period apart: from
    then on a silence of a few periods ends its stream."""
    vt.wait_until(lambda: ": keepalives every " in daemon.log_text(),
                  10 * vt.SLOWDOWN, what="vpushd to learn the keepalive period")


class AsyncApprove:
    """ApproveChallenge sent without waiting for the reply (answered while pumping)."""

    def __init__(self, client, match, timeout_ms):
        self.done = False
        self.result = None
        self.error = None
        client.conn.call(vt.BUS_NAME, vt.MANAGER_PATH, vt.MANAGER_IFACE, "ApproveChallenge",
                         GLib.Variant.new_tuple(vt.asv(dict(match, **{"timeout-ms": timeout_ms}))),
                         GLib.VariantType.new("(s)"), Gio.DBusCallFlags.NO_AUTO_START,
                         timeout_ms + 10000, None, self._done)

    def _done(self, conn, res):
        try:
            self.result = conn.call_finish(res).unpack()[0]
        except GLib.Error as e:
            self.error = e.message
        self.done = True

    def wait(self, timeout):
        vt.wait_until(lambda: self.done, timeout, what="ApproveChallenge to return")
        assert self.error is None, self.error
        return self.result


@pytest.fixture(scope="module", autouse=True)
def fast_keepalive(emulator):
    """Keepalives every second, so a silent stream is found in seconds, not minutes."""
    control(emulator, "keepalive", {"seconds": str(KEEPALIVE)})
    yield
    control(emulator, "silence", {"on": "0"})
    control(emulator, "refuse", {"on": "0"})


@pytest.fixture
def started(session, emulator):
    """start(push_url, poll=SLOW_POLL) → a running vpushd; stopped afterwards."""
    yield from push_daemons(session, emulator)


# ---- tests -------------------------------------------------------------------------------

def test_no_push_url_is_disabled(started, client):
    started(url=None)
    assert push_state(client) == "disabled"


def test_configured_url_connects_without_factors(started, client, emulator):
    """dbus-api.md: PushState is "disabled" only when no push URL is configured."""
    topic = new_topic()
    started(push_url(emulator, topic))
    wait_push_state(client, "connected")
    assert topic_stats(emulator, topic)["subscribers"] == 1
    # a hint for no factor of this vpushd is harmless: nothing is fetched
    emulator.clear_requests()
    publish_hint(emulator, topic, {"sid": "YC" + "0" * 32, "factor_sid": "YF" + "0" * 32})
    time.sleep(0.5)
    assert not [r for r in emulator.requests() if r["path"].startswith("/v2/")]
    assert push_state(client) == "connected"
    f = vt.enroll(client, emulator)
    assert topic_stats(emulator, topic)["subscribers"] == 1
    ch = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, topic, ch)
    wait_exported(client, ch["sid"])
    assert push_state(client) == "connected"


def test_unused_configured_url_does_not_mask_the_factors(started, client, emulator):
    """PushState is the worst of the streams factors use: a [Push] Url no factor uses (each
    has its own) that can't be reached does not make it "retrying"."""
    started("http://127.0.0.1:9/push/nobody/sse")
    wait_push_state(client, "retrying")
    topic = new_topic()
    vt.enroll(client, emulator, **{"push-url": push_url(emulator, topic)})
    wait_push_state(client, "connected")
    time.sleep(1.0)
    assert push_state(client) == "connected"


@pytest.mark.parametrize("fmt", ["sse", "json"])
def test_hint_exports_challenge(started, client, emulator, fmt):
    """Polling every 10 minutes: the challenge arrives by the hint, fetched with one GET."""
    topic = new_topic()
    started(push_url(emulator, topic, fmt))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    assert topic_stats(emulator, topic)["subscribers"] == 1
    settle(emulator)

    ch = emulator.create_challenge(f.identity, f.sid, message="Pay 10 EUR?",
                                   hidden={"transaction_id": vt.new_transaction_id()},
                                   fields=[("Amount", "10 EUR")])
    publish_hint(emulator, topic, ch)
    wait_exported(client, ch["sid"])

    props = client.get_all(vt.challenge_path(ch["sid"]), vt.CHALLENGE_IFACE)
    assert props["Message"] == "Pay 10 EUR?"
    assert props["Factor"] == f.path
    reqs = device_requests(emulator)
    assert not lists(reqs), reqs
    assert [r["path"] for r in reqs] == [emulator.entity_path(f.identity)
                                         + "/Challenges/" + ch["sid"]]


def test_hint_of_a_finished_challenge_drops_its_listed_copy(started, client, emulator):
    """A poll listed a challenge whose GET failed: its list copy counts as a match. It was
    answered elsewhere since, and a push hint's GET shows it so: it counts no more, and
    the next challenge of its transaction id is answered, not refused as Ambiguous."""
    topic = new_topic()
    daemon = started(push_url(emulator, topic))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)
    txid = vt.new_transaction_id()
    x = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    emulator.fault(r"/Challenges/%s\Z" % x["sid"], status=400, method="GET")
    with pytest.raises(vt.DBusCallError) as e:
        client.refresh()
    assert "HTTP 400" in e.value.message, e.value
    emulator.request("POST", "/_emulator/answer", {"sid": x["sid"], "status": "denied"},
                     backend=False)
    publish_hint(emulator, topic, x)
    vt.wait_until(lambda: "challenge %s named by a push hint is denied" % x["sid"]
                  in daemon.log_text(), 10 * vt.SLOWDOWN,
                  what="the hint's GET of the answered challenge")
    y = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    publish_hint(emulator, topic, y)
    wait_exported(client, y["sid"])
    assert client.approve({"transaction-id": txid, "timeout-ms": 3000}) == y["sid"]


@pytest.mark.parametrize("fmt", ["sse", "json"])
def test_base64_hint_exports_challenge(started, client, emulator, fmt):
    """A hint ntfy sent base64-encoded ("encoding": "base64", its way with a body that is
    not UTF-8 text; on /sse inside the ntfy message object) is decoded and followed: one
    GET, no poll."""
    topic = new_topic()
    started(push_url(emulator, topic, fmt))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)

    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    sent = publish(emulator, topic, {"type": "verify_push_challenge", "challenge_sid": ch["sid"],
                                     "factor_sid": f.sid}, encoding="base64")
    assert sent["encoding"] == "base64"
    wait_exported(client, ch["sid"])
    reqs = device_requests(emulator)
    assert not lists(reqs), reqs
    assert [r["path"] for r in reqs] == [emulator.entity_path(f.identity)
                                         + "/Challenges/" + ch["sid"]]


@pytest.mark.parametrize("fmt", ["sse", "json"])
def test_waiting_approve_succeeds_on_hint(started, client, emulator, fmt):
    """ApproveChallenge is called before the challenge exists; the hint completes it."""
    topic = new_topic()
    started(push_url(emulator, topic, fmt))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)

    txid = vt.new_transaction_id()
    call = AsyncApprove(client, {"transaction-id": txid}, timeout_ms=15000)
    # its own poll finds nothing yet
    vt.wait_until(lambda: lists(device_requests(emulator)), 10,
                  what="the poll of ApproveChallenge")
    settle(emulator, quiet=0.5)
    assert not call.done

    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    publish_hint(emulator, topic, ch, with_factor=(fmt == "sse"))
    assert call.wait(14) == ch["sid"]
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "approved"
    assert not lists(device_requests(emulator))


@pytest.mark.parametrize("fmt", ["sse", "json"])
def test_drop_reconnects_and_misses_nothing(started, client, emulator, fmt):
    topic = new_topic()
    started(push_url(emulator, topic, fmt))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    first = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, topic, first)
    wait_exported(client, first["sid"])
    connections = topic_stats(emulator, topic)["connections"]
    n_signals = len(push_states_signalled(client))

    # dropped, and hints sent at once, while vpushd waits to reconnect
    assert control(emulator, topic + "/drop", {})["dropped"] == 1
    missed = [emulator.create_challenge(f.identity, f.sid) for _ in range(3)]
    for ch in missed:
        publish_hint(emulator, topic, ch)
    for ch in missed:
        wait_exported(client, ch["sid"], timeout=20)
    wait_push_state(client, "connected")
    assert topic_stats(emulator, topic)["connections"] == connections + 1
    assert "retrying" in push_states_signalled(client)[n_signals:]

    # the new stream carries hints
    after = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, topic, after)
    wait_exported(client, after["sid"])


def test_outage_caught_by_resume_or_poll(started, client, emulator):
    """The push server is down for a while; what was created meanwhile is all there once
    it is back, although polling is every 10 minutes."""
    topic = new_topic()
    started(push_url(emulator, topic))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    control(emulator, "refuse", {"on": "1"})
    try:
        wait_push_state(client, "retrying")
        created = [emulator.create_challenge(f.identity, f.sid) for _ in range(2)]
    finally:
        control(emulator, "refuse", {"on": "0"})
    for ch in created:
        wait_exported(client, ch["sid"], timeout=30)
    wait_push_state(client, "connected", timeout=30)


def test_push_server_down_at_start(started, client, emulator):
    topic = new_topic()
    control(emulator, "refuse", {"on": "1"})
    try:
        started(push_url(emulator, topic), poll={"IntervalSeconds": "1",
                                                 "IntervalWithPushSeconds": "600"})
        f = vt.enroll(client, emulator)
        wait_push_state(client, "retrying")
        # polling still works meanwhile
        polled = emulator.create_challenge(f.identity, f.sid)
        wait_exported(client, polled["sid"])
        assert push_state(client) == "retrying"
        assert topic_stats(emulator, topic)["connections"] == 0
    finally:
        control(emulator, "refuse", {"on": "0"})
    wait_push_state(client, "connected", timeout=40)
    assert topic_stats(emulator, topic)["subscribers"] == 1
    settle(emulator)

    ch = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, topic, ch)
    wait_exported(client, ch["sid"])
    assert not lists(device_requests(emulator))


def test_silent_stream_is_replaced(started, client, emulator):
    topic = new_topic()
    d = started(push_url(emulator, topic, "json"))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    wait_period_learnt(d)
    connections = topic_stats(emulator, topic)["connections"]
    n_signals = len(push_states_signalled(client))

    control(emulator, "silence", {"on": "1"})
    try:
        vt.wait_until(lambda: topic_stats(emulator, topic)["connections"] > connections, 30,
                      what="vpushd to give up the silent stream and connect again")
        assert "retrying" in push_states_signalled(client)[n_signals:]
    finally:
        control(emulator, "silence", {"on": "0"})
    wait_push_state(client, "connected", timeout=30)
    vt.wait_until(lambda: topic_stats(emulator, topic)["subscribers"] == 1, 10,
                  what="one stream left")

    ch = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, topic, ch)
    wait_exported(client, ch["sid"])


@pytest.mark.skipif(vt.VALGRIND, reason="keepalive timing alone, 50 s under valgrind; "
                    "test_silent_stream_is_replaced runs the replacement there")
def test_hint_before_a_keepalive_is_no_period(started, client, emulator):
    """The keepalive period is the time between two keepalives, not the silence before
    one: hints just before the first keepalive do not make vpushd take a quiet stream for
    dead (it did: 3 × that silence, raised to 5 s, against keepalives every 7 s)."""
    period = 7.0
    control(emulator, "keepalive", {"seconds": str(period)})
    try:
        topic = new_topic()
        started(None)
        # the factor's own stream opens as it is enrolled: its keepalives count from then
        f = vt.enroll(client, emulator, **{"push-url": push_url(emulator, topic)})
        wait_push_state(client, "connected")
        connected = time.monotonic()
        n_signals = len(push_states_signalled(client))
        ch = emulator.create_challenge(f.identity, f.sid)
        # hints every quarter second until just past the first keepalive (connect + period,
        # a little before `connected`, however slow this machine is)
        while time.monotonic() < connected + period + 0.5:
            publish_hint(emulator, topic, ch)
            time.sleep(0.25)
        # then only keepalives, until after the second one
        time.sleep(max(0.0, connected + 2 * period + 1 - time.monotonic()))
        assert topic_stats(emulator, topic)["connections"] == 1
        assert "retrying" not in push_states_signalled(client)[n_signals:]
    finally:
        control(emulator, "keepalive", {"seconds": str(KEEPALIVE)})


class GreetingPushServer:
    """An SSE push server that greets each connection with two comments 0.3 s apart
    (":ok", then ":"), then sends a keepalive comment every `period` seconds; it counts
    its connections."""

    def __init__(self, period):
        self.connections = 0
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    self.wfile.write(b":ok\n\n")
                    self.wfile.flush()
                    time.sleep(0.3)
                    self.wfile.write(b":\n\n")
                    self.wfile.flush()
                    while not server.stop.wait(period):
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()
                except OSError:
                    return

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/stream" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.skipif(vt.VALGRIND, reason="keepalive timing alone, blurred under valgrind; "
                    "test_silent_stream_is_replaced runs the replacement there")
def test_greeting_is_no_period(started, client):
    """A server that greets a connection with two comments 0.3 s apart, then keeps it
    alive every 6 s: the greeting says nothing of the period. Taken for one, it had the
    stream replaced 5 s in (3 × 0.3 s, raised to 5 s), before each first keepalive, for
    ever."""
    server = GreetingPushServer(6.0)
    try:
        d = started(server.url)
        wait_push_state(client, "connected")
        vt.wait_until(lambda: ": keepalives every " in d.log_text(), 20,
                      what="vpushd to learn the keepalive period")
        assert ": keepalives every 6." in d.log_text(), d.log_text()
        time.sleep(2)
        assert server.connections == 1
    finally:
        server.close()


@pytest.mark.skipif(vt.VALGRIND, reason="keepalive timing alone, 50 s under valgrind; "
                    "test_silent_stream_is_replaced runs the replacement there")
def test_sparser_keepalives_are_learnt_anew(started, client, emulator):
    """A stream replaced for its silence forgets the keepalive period it had learnt: the
    server's may be what changed. Kept, it had each new connection replaced before its
    first keepalive (3 × 1 s, raised to 5 s, against keepalives every 7 s), for ever, every
    reconnect a poll."""
    period = 7.0
    topic = new_topic()
    d = started(push_url(emulator, topic, "json"))
    vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    wait_period_learnt(d)
    seen = {"connections": -1, "since": time.monotonic()}

    def one_stream_for(seconds):
        stats = topic_stats(emulator, topic)
        if stats["connections"] != seen["connections"] or stats["subscribers"] != 1:
            seen["connections"], seen["since"] = stats["connections"], time.monotonic()
        return time.monotonic() - seen["since"] >= seconds

    control(emulator, "keepalive", {"seconds": str(period)})
    try:
        # one connection that stays through two of the sparser keepalives
        vt.wait_until(lambda: one_stream_for(2 * period + 1), 60 * vt.SLOWDOWN, interval=0.2,
                      what="a stream kept through keepalives every %g s" % period)
    finally:
        control(emulator, "keepalive", {"seconds": str(KEEPALIVE)})


@pytest.mark.skipif(vt.VALGRIND, reason="poll timing alone; the refusal tests run "
                    "Retry-After under valgrind")
def test_poll_interval_follows_push(started, client, emulator):
    """IntervalWithPushSeconds while the stream is up, IntervalSeconds as soon as it is
    down, without waiting for the long interval to run out."""
    topic = new_topic()
    started(push_url(emulator, topic), poll={"IntervalSeconds": "1",
                                             "IntervalWithPushSeconds": "600"})
    vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)
    time.sleep(3)
    assert not lists(device_requests(emulator))

    control(emulator, "refuse", {"on": "1"})
    try:
        wait_push_state(client, "retrying")
        emulator.clear_requests()
        vt.wait_until(lambda: len(lists(device_requests(emulator))) >= 2, 15,
                      what="polls every second while the push server is down")
    finally:
        control(emulator, "refuse", {"on": "0"})
    wait_push_state(client, "connected", timeout=40)


def test_unreadable_hint_polls(started, client, emulator):
    topic = new_topic()
    started(push_url(emulator, topic))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)

    ch = emulator.create_challenge(f.identity, f.sid)
    publish(emulator, topic, {"something": "else"})
    wait_exported(client, ch["sid"])
    assert lists(device_requests(emulator))
    assert push_state(client) == "connected"


def test_hints_fetch_a_bounded_number_at_once(started, session, client, emulator):
    """Whoever can publish to the topic names challenges; vpushd fetches a few at once,
    and polls for the rest, however many hints come."""
    topic = new_topic()
    # the held fetches must not time out while the test publishes
    daemon = started(push_url(emulator, topic), verify={"TimeoutMs": "120000"})
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)
    fetches_max = 8
    emulator.fault(r"/Challenges/YC[0-9a-f]{32}$", "delay", method="GET", seconds=600,
                   count=1000)
    try:
        for _ in range(fetches_max):
            publish(emulator, topic, {"type": "verify_push_challenge",
                                      "challenge_sid": "YC" + uuid.uuid4().hex,
                                      "factor_sid": f.sid})
        vt.wait_until(lambda: emulator.faults_held() == fetches_max, 20 * vt.SLOWDOWN,
                      what="%d fetches held" % fetches_max)
        # one at a time, so that each is read on its own: each is polled for, not fetched
        for _ in range(3):
            sid = "YC" + uuid.uuid4().hex
            publish(emulator, topic, {"type": "verify_push_challenge", "challenge_sid": sid,
                                      "factor_sid": f.sid})
            vt.wait_until(lambda: "challenge %s: %d fetches are running already" % (
                sid, fetches_max) in daemon.log_text(), 20 * vt.SLOWDOWN, what="the hint")
        assert emulator.faults_held() == fetches_max
    finally:
        emulator.clear_faults()
    # the held fetches end (404: no such challenge); a hint is followed as before
    ch = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, topic, ch)
    wait_exported(client, ch["sid"])


def test_factor_push_url_moves_between_streams(started, client, emulator):
    a, b = new_topic(), new_topic()
    started(url=None)
    f = vt.enroll(client, emulator, **{"push-url": push_url(emulator, a)})
    wait_push_state(client, "connected")
    assert client.factor_props(f.path)["PushUrl"] == push_url(emulator, a)
    assert topic_stats(emulator, a)["subscribers"] == 1

    client.factor_update(f.path, {"push-url": push_url(emulator, b, "json")})
    vt.wait_until(lambda: topic_stats(emulator, b)["subscribers"] == 1
                  and topic_stats(emulator, a)["subscribers"] == 0, 10,
                  what="the factor to move to the other stream")
    wait_push_state(client, "connected")
    ch = emulator.create_challenge(f.identity, f.sid)
    publish_hint(emulator, b, ch, with_factor=False)
    wait_exported(client, ch["sid"])

    client.factor_update(f.path, {"push-url": ""})
    wait_push_state(client, "disabled")
    vt.wait_until(lambda: topic_stats(emulator, b)["subscribers"] == 0, 10,
                  what="the stream to close")


def test_two_factors_share_one_stream(started, client, emulator):
    topic = new_topic()
    started(push_url(emulator, topic))
    f1 = vt.enroll(client, emulator)
    f2 = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    assert topic_stats(emulator, topic)["subscribers"] == 1
    ch1 = emulator.create_challenge(f1.identity, f1.sid)
    ch2 = emulator.create_challenge(f2.identity, f2.sid)
    publish_hint(emulator, topic, ch1)
    publish_hint(emulator, topic, ch2)
    wait_exported(client, ch1["sid"])
    wait_exported(client, ch2["sid"])

    client.factor_delete(f1.path)
    assert topic_stats(emulator, topic)["subscribers"] == 1
    client.factor_delete(f2.path)
    # the stream of [Push] Url stays: a push URL is configured, so not "disabled"
    time.sleep(0.5)
    assert push_state(client) == "connected"
    assert topic_stats(emulator, topic)["subscribers"] == 1


def test_hint_without_factor_on_a_shared_stream(started, client, emulator):
    """A hint without factor_sid on a stream two factors share could be for either: the
    challenge is found for whichever it is, long before the next poll (600 s)."""
    topic = new_topic()
    started(push_url(emulator, topic))
    factors = [vt.enroll(client, emulator), vt.enroll(client, emulator)]
    wait_push_state(client, "connected")
    settle(emulator)
    for f in factors:
        ch = emulator.create_challenge(f.identity, f.sid)
        publish_hint(emulator, topic, ch, with_factor=False)
        wait_exported(client, ch["sid"])


@pytest.mark.skipif(vt.VALGRIND, reason="poll timing alone; the refusal tests run "
                    "Retry-After under valgrind")
def test_push_poll_waits_for_the_retry_after_of_a_poll(started, client, emulator):
    """A poll the API refused with a Retry-After is not followed by one the push channel
    asks for (a hint vpushd can't read) before then; that one comes once it is over."""
    topic = new_topic()
    started(push_url(emulator, topic), verify={"RetryTimeoutMs": "0"})
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    settle(emulator)
    emulator.fault(r"/Entities/%s/Challenges\Z" % f.identity, status=429, retry_after=5,
                   method="GET")
    with pytest.raises(vt.DBusCallError):
        client.refresh()
    ch = emulator.create_challenge(f.identity, f.sid)
    publish(emulator, topic, {"something": "else"})
    wait_exported(client, ch["sid"], timeout=30 * vt.SLOWDOWN)
    got = lists(device_requests(emulator))
    assert got[0]["status"] == 429 and got[1]["status"] == 200, got[:2]
    # at once, it would come right after the hint
    assert got[1]["time"] - got[0]["time"] >= 5, got[:2]
