"""Caps on what callers may have vpushd hold for them, and on what it keeps for itself.

- a caller may have 64 approvals waiting for their challenge at once, all callers 512 →
  the next is LimitsExceeded at once, other callers still wait, and so does the caller
  once its calls have ended;
- at most 16 ListChallenges calls at the Verify API, 16 Refresh calls waiting for their
  poll, 32 Update and Verify calls under way or waiting → one more is LimitsExceeded at
  once, approvals still go through, and the method works again afterwards;
- the lists of recent challenges that calls by an unknown transaction id ask for: shared
  by the calls asking about one factor, at most 4 at the API at once;
- vpushd raises its soft limit on open files towards the hard one, up to 16384;
- an approval that has replied keeps no pidfd of its caller;
- a burst of requests to the Verify API → at most 8 of their connections stay open;
- at most 2048 challenges pending, of all factors → one more is not taken, and an
  approval that finds it says so;
- a connection may have 1024 calls unanswered (their replies not taken) → its next calls
  are dropped, and vpushd does not grow with them, whether they want a reply or not;
  a call that wants none is answered all the same, so it never stays counted.
"""

import os
import re
import resource
import socket
import time
import urllib.parse

import pytest
from gi.repository import Gio, GLib

import vpushtest as vt
from vpushtest import AsyncCalls, _connect, assert_healthy


def test_waiting_calls_per_caller_are_capped(daemon, client, emulator, session, factor):
    """A caller may have 64 approvals waiting for their challenge at once (each costs
    memory until its timeout, and the bus lets a connection have tens of thousands of
    calls out): the next is LimitsExceeded at once; other callers still wait, and so does
    the caller again once its calls have ended."""
    cap = 64
    txid = vt.new_transaction_id("capped")
    conn, other = _connect(session.address), _connect(session.address)
    ac = AsyncCalls()
    for i in range(cap + 1):
        ac.call(conn, i, "ApproveChallenge", {"transaction-id": txid, "timeout-ms": 20000})
    vt.wait_until(lambda: client.pump() or ac.results, 10 * vt.SLOWDOWN,
                  what="the call over the cap to end")
    over = list(ac.results.items())
    assert len(over) == 1, over
    assert over[0][1][:2] == ("error", "org.freedesktop.DBus.Error.LimitsExceeded"), over
    assert "%s has %d calls waiting" % (conn.get_unique_name(), cap) in over[0][1][2], over
    ac.call(other, "other", "ApproveChallenge", {"transaction-id": txid, "timeout-ms": 20000})

    # the challenge ends them all: one answers it, the others hear it was answered
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    client.refresh()
    ac.wait(60 * vt.SLOWDOWN)
    outcomes = sorted(r[:2] for r in ac.results.values())
    assert outcomes.count(("ok", ch["sid"])) == 1, outcomes
    assert outcomes.count(("error", vt.ERR_PREFIX + "AlreadyResponded")) == cap, outcomes
    assert emulator.answer_posts(ch["sid"]) == 1

    # the caller's calls have ended: it may wait again
    txid = vt.new_transaction_id("capped")
    ac.call(conn, "again", "ApproveChallenge", {"transaction-id": txid, "timeout-ms": 20000})
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    client.refresh()
    ac.wait(30 * vt.SLOWDOWN)
    assert ac.results["again"] == ("ok", ch["sid"]), ac.results["again"]
    for c in (conn, other):
        c.close_sync(None)
    assert_healthy(daemon, client)


@pytest.mark.skipif(vt.VALGRIND, reason="512 waiting calls: minutes under valgrind; the cap "
                    "per caller runs there")
def test_waiting_calls_of_all_callers_are_capped(daemon, client, emulator, session, factor):
    """At most 512 approvals wait for their challenge at once, of all callers: each holds its
    caller's pidfd, and a process may open as many connections as it likes, so 64 a caller
    alone would let 16 connections take every descriptor vpushd may have (1024 under
    systemd). One more is LimitsExceeded at once, whoever asks; once calls end, others wait
    again."""
    per_caller, cap = 64, 512
    txid = vt.new_transaction_id("all")
    conns = [_connect(session.address) for _ in range(cap // per_caller + 1)]
    ac = AsyncCalls()
    try:
        # one call over each caller's cap: once each is refused, the 512 others wait
        for i in range(cap + len(conns) - 1):
            ac.call(conns[i % (len(conns) - 1)], i, "ApproveChallenge",
                    {"transaction-id": txid, "timeout-ms": 20000})
        vt.wait_until(lambda: client.pump() or len(ac.results) >= len(conns) - 1,
                      20 * vt.SLOWDOWN, what="the calls over the callers' cap to end")
        refused = list(ac.results.values())
        assert all(r[:2] == ("error", "org.freedesktop.DBus.Error.LimitsExceeded")
                   and "has %d calls waiting" % per_caller in r[2] for r in refused), refused
        ac.call(conns[-1], "over", "ApproveChallenge", {"transaction-id": txid,
                                                       "timeout-ms": 20000})
        vt.wait_until(lambda: client.pump() or "over" in ac.results, 10 * vt.SLOWDOWN,
                      what="the call over the cap to end")
        assert ac.results["over"][:2] == ("error", "org.freedesktop.DBus.Error.LimitsExceeded")
        assert "%d calls of all callers are waiting for a challenge already; this one of %s " \
            "is not waited for" % (cap, conns[-1].get_unique_name()) in ac.results["over"][2]
        assert len(ac.results) == len(conns), len(ac.results)
    finally:
        # callers that leave end their calls
        for c in conns[:-1]:
            c.close_sync(None)
    vt.wait_until(lambda: client.pump() or len(ac.results) == ac.sent, 30 * vt.SLOWDOWN,
                  what="the calls of the callers that left to end")
    ac.call(conns[-1], "again", "ApproveChallenge", {"transaction-id": txid,
                                                    "timeout-ms": 20000})
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    client.refresh()
    ac.wait(30 * vt.SLOWDOWN)
    assert ac.results["again"] == ("ok", ch["sid"]), ac.results["again"]
    conns[-1].close_sync(None)
    assert_healthy(daemon, client)


def test_list_challenges_at_the_api_are_capped(daemon, client, emulator, factor):
    """At most 16 ListChallenges calls are at the Verify API at once, of all callers: each
    holds a socket until the API answers, and a caller in a loop would otherwise take
    every file descriptor vpushd may have (then no caller can be identified and every
    approval fails). One more is LimitsExceeded at once; approvals still go through, and
    listing works again once the API has answered."""
    cap, extra = 16, 24
    flooded = vt.enroll(client, emulator)
    emulator.fault(r"/Entities/%s/Challenges\Z" % flooded.identity, action="delay",
                   seconds=600, method="GET", count=100000)
    try:
        calls = [vt.PendingCall(client, "ListChallenges", vt.asv({}), flooded.path,
                                vt.FACTOR_IFACE)
                 for _ in range(cap + extra)]
        vt.over_the_cap(calls, extra, 10 * vt.SLOWDOWN)
        # the factor's own poll may be held too
        assert emulator.faults_held() <= cap + 1
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": txid})
        assert client.approve({"transaction-id": txid}) == ch["sid"]
    finally:
        emulator.clear_faults()
    for c in calls:
        c.wait(30 * vt.SLOWDOWN)
    assert sum(c.error is None for c in calls) == cap
    assert client.list_challenges(flooded.path) == ([], "")
    assert_healthy(daemon, client)


def test_lists_of_recent_challenges_are_shared_and_capped(session, client, emulator):
    """A call by a transaction id that matches nothing vpushd has seen asks the API for the
    recent challenges of every factor it may use, once its poll found nothing. The calls
    asking about one factor share its list, and at most 4 lists are at the API at once:
    512 waiting calls each listing every factor would otherwise hold a request and a
    parsed page per call and factor (230 MB with 40 factors). Every call still ends with
    NotFound, and a factor is listed at most twice (one list at the API when a call asks,
    the next one after it)."""
    cap, calls_n = 4, 8
    # held past [Verify] TimeoutMs, a list would be sent again and counted twice
    d = vt.Daemon(session, emulator, config={"Verify": {"TimeoutMs": "120000"}})
    d.start()
    try:
        factors = [vt.enroll(client, emulator) for _ in range(6)]
        since = len(emulator.requests())
        # the lists of recent challenges only: a poll's lists ask for Status=pending
        emulator.fault(r"/Entities/[^/]+/Challenges\Z", action="delay", seconds=600,
                       method="GET", count=100000, query=r"\A(?!.*Status=).*\bOrder=desc\b")
        timeout_ms = min(20000, int(6000 * vt.SLOWDOWN))
        try:
            calls = [vt.PendingCall(client, "ApproveChallenge",
                                    vt.asv({"transaction-id": vt.new_transaction_id(),
                                            "timeout-ms": timeout_ms}))
                     for _ in range(calls_n)]
            vt.wait_until(lambda: client.pump() or d.log_text().count(
                "it asks the API for the recent challenges of %d factors" % len(factors))
                >= calls_n, 10 * vt.SLOWDOWN, what="every call to ask for the lists")
            vt.wait_until(lambda: emulator.faults_held() >= cap, 10 * vt.SLOWDOWN,
                          what="the first lists to be held")
            # any list beyond the cap would have reached the emulator by now
            time.sleep(0.5 * vt.SLOWDOWN)
            client.pump()
            assert emulator.faults_held() == cap
            assert not any(c.done for c in calls)
        finally:
            emulator.clear_faults()
        for c in calls:
            c.wait(30 * vt.SLOWDOWN)
            assert c.error is not None and c.error.name == vt.ERR_NOT_FOUND, c.error
        history = {}
        for r in emulator.requests()[since:]:
            if r["method"] == "GET" and r["path"].endswith("/Challenges") \
                    and "Status=" not in r["query"]:
                history[r["path"]] = history.get(r["path"], 0) + 1
        assert len(history) == len(factors), history
        assert all(n <= 2 for n in history.values()), history
        assert_healthy(d, client)
    finally:
        d.stop()


def test_refresh_calls_waiting_are_capped(daemon, client, emulator, factor):
    """At most 16 Refresh calls wait for their poll at once, of all callers: each holds its
    caller's pidfd, and Refresh is open to every process of the user. One more is
    LimitsExceeded at once; approvals still go through, and Refresh works again once the
    poll has ended."""
    cap, extra = 16, 8
    emulator.fault(r"/Entities/%s/Challenges\Z" % factor.identity, action="delay",
                   seconds=600, method="GET", count=100000)
    try:
        calls = [vt.PendingCall(client, "Refresh", None) for _ in range(cap + extra)]
        vt.over_the_cap(calls, extra, 10 * vt.SLOWDOWN)
        other = vt.enroll(client, emulator)
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(other.identity, other.sid,
                                       hidden={"transaction_id": txid})
        assert client.approve({"transaction-id": txid, "factor-sid": other.sid}) == ch["sid"]
    finally:
        emulator.clear_faults()
        emulator.release_held()
    for c in calls:
        c.wait(30 * vt.SLOWDOWN)
    assert sum(c.error is None for c in calls) == cap
    client.refresh()
    assert_healthy(daemon, client)


# polls only when asked, and fetches of thousands of challenges are not timed out
CAP_CONFIG = {"Poll": {"IntervalSeconds": "600", "IntervalWithPushSeconds": "600"},
              "Verify": {"TimeoutMs": "60000"}}


def pending_on_five_factors(client, emulator, n):
    """n challenges pending on the bus, of five new factors (a poll lists 500 challenges
    of a factor at most); the factors."""
    factors = [vt.enroll(client, emulator) for _ in range(5)]
    for i, f in enumerate(factors):
        for _ in range(n // 5 + (i < n % 5)):
            emulator.create_challenge(f.identity, f.sid)
    client.call(vt.MANAGER_PATH, vt.MANAGER_IFACE, "Refresh", timeout_ms=120000)
    assert len(client.challenge_paths()) == n
    return factors


@pytest.mark.skipif(vt.VALGRIND or vt.SANITIZED, reason="2048 challenges fetched one by one: "
                    "a minute under ASan, more under valgrind; test-pending runs the cap there")
def test_full_pending_set_keeps_a_twin_left_out(session, client, emulator):
    """With one place left in the pending set, a poll lists two challenges of a
    transaction id: one is taken, the other left out. The one left out still counts as a
    match, listed: an approval ends Ambiguous rather than answer the one taken."""
    cap = 2048
    d = vt.Daemon(session, emulator, config=CAP_CONFIG)
    d.start()
    try:
        factors = pending_on_five_factors(client, emulator, cap - 1)
        f = factors[4]
        txid = vt.new_transaction_id("full")
        a = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        b = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        client.call(vt.MANAGER_PATH, vt.MANAGER_IFACE, "Refresh", timeout_ms=120000)
        paths = client.challenge_paths()
        assert len([c for c in (a, b) if vt.challenge_path(c["sid"]) in paths]) == 1
        with pytest.raises(vt.DBusCallError) as e:
            client.approve({"transaction-id": txid, "timeout-ms": 2000})
        assert e.value.name == vt.ERR_AMBIGUOUS, e.value
        assert "(listed, not fetched)" in e.value.message, e.value.message
        assert emulator.answer_posts(a["sid"]) == 0 and emulator.answer_posts(b["sid"]) == 0
    finally:
        d.stop()


@pytest.mark.skipif(vt.VALGRIND or vt.SANITIZED, reason="2048 challenges fetched one by one: "
                    "a minute under ASan, more under valgrind; test-pending runs the cap there")
def test_full_pending_set(session, client, emulator):
    """At most 2048 challenges are pending, of all factors. One more is not on the bus: an
    approval by its sid, whose own fetch finds it, fails at once with Error.Failed saying
    why; one by its transaction id, which waits for a poll to bring it, ends NotFound at
    its timeout. One warning when the set fills. Answering one makes room again."""
    cap = 2048
    d = vt.Daemon(session, emulator, config=CAP_CONFIG)
    d.start()
    try:
        factors = pending_on_five_factors(client, emulator, cap)
        warning = "%d challenges are pending, the most vpushd keeps: challenge " % cap
        assert warning not in d.log_text()

        f = factors[0]
        txid = vt.new_transaction_id("full")
        ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        with pytest.raises(vt.DBusCallError) as e:
            client.approve({"challenge-sid": ch["sid"], "factor-sid": f.sid})
        assert e.value.name == vt.ERR_PREFIX + "Failed", e.value
        assert ("challenge %s can't be taken: %d challenges are pending, the most vpushd "
                "keeps" % (ch["sid"], cap)) == e.value.message, e.value
        with pytest.raises(vt.DBusCallError) as e:
            client.approve({"transaction-id": txid, "timeout-ms": 1000})
        assert e.value.name == vt.ERR_NOT_FOUND, e.value
        assert vt.challenge_path(ch["sid"]) not in client.challenge_paths()
        assert emulator.answer_posts(ch["sid"]) == 0
        assert d.log_text().count(warning) == 1

        # one answered makes room: the next poll brings the challenge, and it is approved
        other = client.get_property(client.challenge_paths()[0], vt.CHALLENGE_IFACE, "Sid")
        assert client.approve({"challenge-sid": other}) == other
        assert client.approve({"transaction-id": txid}) == ch["sid"]
        assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "approved"
        assert_healthy(d, client)
    finally:
        d.stop()


@pytest.mark.skipif(vt.VALGRIND, reason="40 renames one after another: most of a minute "
                    "under valgrind; test_enroll.py's Update and Verify calls count there")
def test_update_calls_waiting_are_capped(daemon, client, emulator, factor):
    """At most 32 Update and Verify calls are under way or waiting in their factors' lines
    at once, of all callers: each holds its caller's pidfd, and the shipped policy lets
    every process of the user rename a factor. One more is LimitsExceeded at once; the
    line goes on, and renaming works again once it has ended."""
    cap, extra = 32, 8
    emulator.fault(r"/Factors/%s\Z" % factor.sid, action="delay", seconds=600,
                   method="POST", when="before", count=100000)
    try:
        calls = [vt.PendingCall(client, "Update", vt.asv({"friendly-name": "name %d" % i}),
                                factor.path, vt.FACTOR_IFACE)
                 for i in range(cap + extra)]
        vt.over_the_cap(calls, extra, 10 * vt.SLOWDOWN)
        assert emulator.faults_held() == 1, "the renames are sent one at a time"
    finally:
        emulator.clear_faults()
        emulator.release_held()
    for c in calls:
        c.wait(60 * vt.SLOWDOWN)
    assert sum(c.error is None for c in calls) == cap
    client.factor_update(factor.path, {"friendly-name": "last"})
    assert client.get_property(factor.path, vt.FACTOR_IFACE, "FriendlyName") == "last"
    assert_healthy(daemon, client)


@pytest.mark.skipif(vt.VALGRIND, reason="valgrind keeps file descriptors of its own at the top "
                    "of the limit")
def test_open_file_limit_raised(session, emulator):
    """vpushd raises its soft limit on open files towards the hard one, up to 16384 (vpushd(8),
    SYSTEMD): every waiting call holds a pidfd and every request a socket, and the caps on
    calls under way come close to a user service's default of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip("the hard limit on open files is %d here" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        d = vt.Daemon(session, emulator)
        d.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        with open("/proc/%d/limits" % d.proc.pid) as f:
            line = next(ln for ln in f if ln.startswith("Max open files"))
        got = line.split()[3]
        want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
        assert int(got) == want, line
    finally:
        d.stop()


def _pidfds(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:[pidfd]"
        except OSError:
            pass
    return n


def test_ended_approvals_keep_no_pidfd(daemon, client, emulator, session, factor):
    """An approval that has replied keeps no pidfd of its caller, even while the poll it
    started is still at the API (up to RetryTimeoutMs): else callers that time out in a
    loop, as fast as the per-caller cap frees, hold a descriptor each for that long."""
    emulator.fault(r"/Entities/%s/Challenges\Z" % factor.identity, action="delay", seconds=600,
                   method="GET", count=100000)
    conns = [_connect(session.address) for _ in range(4)]
    ac = AsyncCalls()
    try:
        for i in range(40):
            ac.call(conns[i % 4], i, "ApproveChallenge",
                    {"transaction-id": vt.new_transaction_id("gone"), "timeout-ms": 300})
        vt.wait_until(lambda: client.pump() or len(ac.results) == 40, 20 * vt.SLOWDOWN,
                      what="the approvals to end")
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the poll held")
        # the bus credentials cache keeps one per connection, up to 16
        assert _pidfds(daemon.proc.pid) <= 16, _pidfds(daemon.proc.pid)
    finally:
        emulator.clear_faults()
        emulator.release_held()
        for c in conns:
            c.close_sync(None)
    assert_healthy(daemon, client)


def _connections_to(pid, port):
    """vpushd's TCP sockets to that port of 127.0.0.1, in any state."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    n = 0
    for table in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, table)) as f:
            next(f)
            for line in f:
                fields = line.split()
                n += int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes
    return n


def test_idle_connections_are_capped(daemon, client, emulator, factor):
    """Once a burst of requests to the Verify API has ended, vpushd keeps at most 8 of their
    connections open for the next ones: libcurl's own cap, 4 for each transfer running as
    one ends, left most of them open, each a socket and its TLS state, until a later
    request found them too old."""
    cap, calls_at_once = 8, 16  # the cap on ListChallenges calls at the API
    port = urllib.parse.urlsplit(emulator.base_url).port
    emulator.fault(r"/Entities/%s/Challenges\Z" % factor.identity, action="delay",
                   seconds=600, method="GET", count=100000)
    try:
        calls = [vt.PendingCall(client, "ListChallenges", vt.asv({}), factor.path,
                                vt.FACTOR_IFACE)
                 for _ in range(calls_at_once)]
        vt.wait_until(lambda: emulator.faults_held() >= calls_at_once, 10 * vt.SLOWDOWN,
                      what="the listings held")
        assert _connections_to(daemon.proc.pid, port) >= calls_at_once
    finally:
        emulator.clear_faults()
        emulator.release_held()
    for c in calls:
        c.wait(30 * vt.SLOWDOWN)
    assert all(c.error is None for c in calls), [c.error for c in calls]
    # the connections over the cap are closed as the transfers end, before they reply
    assert _connections_to(daemon.proc.pid, port) <= cap
    assert client.list_challenges(factor.path) == ([], "")
    assert_healthy(daemon, client)


def _raw_caller(address):
    """A connection to the bus that calls and never reads its socket (so never takes a
    reply): authenticated and said Hello to, by hand."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(address.split("path=", 1)[1].split(",")[0])
    s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    reply = b""
    while b"\r\n" not in reply:
        reply += s.recv(4096)
    assert reply.startswith(b"OK"), reply
    s.sendall(b"BEGIN\r\n")
    hello = Gio.DBusMessage.new_method_call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "Hello")
    hello.set_serial(1)
    s.sendall(hello.to_blob(Gio.DBusCapabilityFlags.NONE))
    return s


def _bus_queue(client, name):
    """Messages the bus holds for name, not yet written to its socket (the bus's
    org.freedesktop.DBus.Debug.Stats)."""
    stats = client.call("/org/freedesktop/DBus", "org.freedesktop.DBus.Debug.Stats",
                        "GetConnectionStats", GLib.Variant("(s)", (name,)),
                        bus_name="org.freedesktop.DBus")[0]
    return stats["OutgoingMessages"]


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


@pytest.mark.skipif(vt.VALGRIND or vt.SANITIZED,
                    reason="tens of thousands of calls: a vpushd this slow handles them slower "
                    "than the bus takes its replies, so none is dropped, and another caller's "
                    "call waits behind them all")
@pytest.mark.parametrize("call", ["GetManagedObjects", "Introspect wanting no reply"])
def test_calls_whose_replies_are_not_taken_are_capped(call, daemon, client, emulator, session,
                                                      factor):
    """A connection that sends calls and never reads its replies makes the bus stop taking
    vpushd's: its replies, a few KiB each, would pile up in vpushd, and every other
    caller's reply would wait behind them. Past 1024 calls unanswered its calls are dropped
    (the log says so once); vpushd stays small, and an approval of another caller goes
    through. A call that wants no reply counts too: GDBus answers Introspect anyway."""
    calls = 20000 if call == "GetManagedObjects" else 60000
    before = _rss_kib(daemon.proc.pid)
    s = _raw_caller(session.address)
    try:
        s.settimeout(30 * vt.SLOWDOWN)
        for serial in range(2, calls + 2):
            if call == "GetManagedObjects":
                m = Gio.DBusMessage.new_method_call(vt.BUS_NAME, vt.MANAGER_PATH, vt.OM_IFACE,
                                                    "GetManagedObjects")
            else:
                m = Gio.DBusMessage.new_method_call(vt.BUS_NAME, vt.MANAGER_PATH,
                                                    "org.freedesktop.DBus.Introspectable",
                                                    "Introspect")
                m.set_flags(Gio.DBusMessageFlags.NO_REPLY_EXPECTED)
            m.set_serial(serial)
            s.sendall(m.to_blob(Gio.DBusCapabilityFlags.NONE))
        # every call handed to vpushd: nothing left in the bus's queue for it (and what is
        # in its socket is read at once)
        owner = client.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
                            GLib.Variant("(s)", (vt.BUS_NAME,)),
                            bus_name="org.freedesktop.DBus")[0]
        vt.wait_until(lambda: _bus_queue(client, owner) == 0, 60 * vt.SLOWDOWN,
                      what="the bus to hand vpushd every call")
        time.sleep(0.5)
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": txid})
        assert client.approve({"transaction-id": txid, "timeout-ms": 10000}) == ch["sid"]
        # answered, they would take some 50 to 100 MiB (3 to 5 KiB each)
        grown = _rss_kib(daemon.proc.pid) - before
        assert grown < 16 * 1024, grown
    finally:
        s.close()
    assert_healthy(daemon, client)


def test_calls_wanting_no_reply_are_counted_off(daemon, client, session):
    """README: "A call sent with "no reply expected" counts too, and is answered (the bus
    drops that reply)". vpushd's own methods send no reply to such a call (GDBus leaves it
    out), so each is made to want one: else it would stay counted for ever, and a caller
    that sent 1024 of them over its life, however slowly, would have every later call
    dropped. Here 1280 are sent in batches, each followed by a call that waits for its
    reply (handled in order, so at most 257 are ever out at once): every one is
    answered."""
    batch, batches = 256, 5
    conn = _connect(session.address)
    try:
        for i in range(batches):
            for _ in range(batch):
                m = Gio.DBusMessage.new_method_call(vt.BUS_NAME, vt.MANAGER_PATH,
                                                    vt.MANAGER_IFACE, "ApproveChallenge")
                m.set_body(GLib.Variant("(a{sv})", ({},)))
                m.set_flags(Gio.DBusMessageFlags.NO_REPLY_EXPECTED)
                conn.send_message(m, Gio.DBusSendMessageFlags.NONE)
            # refused for its arguments at once, as each of the batch before it was
            try:
                conn.call_sync(vt.BUS_NAME, vt.MANAGER_PATH, vt.MANAGER_IFACE,
                               "ApproveChallenge", GLib.Variant("(a{sv})", ({},)), None,
                               Gio.DBusCallFlags.NO_AUTO_START, int(20000 * vt.SLOWDOWN), None)
                error = None
            except GLib.Error as e:
                error = vt._split_gerror(e)[0]
            assert error == vt.ERR_INVALID_ARGS, \
                "the call after %d wanting no reply: %s" % ((i + 1) * batch, error)
    finally:
        conn.close_sync(None)
    assert "calls unanswered" not in daemon.log_text()
    assert_healthy(daemon, client)
