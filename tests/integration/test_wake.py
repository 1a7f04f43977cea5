"""Wake-ups (daemon/vpush-wake.c): a resume from suspend, heard from logind, and the
network coming back, heard from NetworkManager (both python-dbusmock on a private system
bus), make vpushd reconnect its push streams and poll every factor at once. Polling is set
to 10 minutes and the emulator's keepalives to their default, so that nothing else would
reconnect or poll within these tests."""

import re
import time

import pytest
from gi.repository import GLib

import vpushtest as vt
from vpushtest_push import (SLOW_POLL, ScriptedPushServer, device_requests, lists, new_topic,
                            push_url, settle, topic_stats, wait_exported, wait_push_state)
from vpushtest_system import LOGIND_MANAGER, LOGIND_PATH, NetworkManager

RESUMED = "resumed from suspend: reconnecting the push streams and polling every factor"
NETWORK = "the network changed: reconnecting the push streams and polling every factor"


@pytest.fixture
def started(session, emulator, system_bus):
    """start(topic, env, url) → a vpushd on the private system bus, with a push stream
    (server-sent events) on the emulator's topic, or at url; stopped afterwards."""
    daemons = []

    def start(topic, env=None, url=None):
        url = url or push_url(emulator, topic)
        d = vt.Daemon(session, emulator, config={"Poll": dict(SLOW_POLL), "Push": {"Url": url}},
                      env=env)
        daemons.append(d)
        return d.start()
    yield start
    for d in daemons:
        d.stop()


def listening(daemon, logind=True):
    """vpushd has set up its watches (on a worker thread): what is sent before is lost."""
    line = "logind on the system bus as" if logind else "listening for resumes"
    vt.wait_until(lambda: line in daemon.log_text(), 10, what="“%s” in the log" % line)


def connected_and_quiet(client, emulator, topic):
    wait_push_state(client, "connected")
    vt.wait_until(lambda: topic_stats(emulator, topic)["subscribers"] == 1, 10,
                  what="vpushd's stream")
    settle(emulator)
    return topic_stats(emulator, topic)["connections"]


def expect_woken(daemon, client, emulator, topic, connections, f, ch, line):
    """The stream is replaced and the factor polled (a challenge created with no hint, as
    if its hint was lost while asleep, is on the bus), well before a keepalive timeout or
    a poll would do either."""
    vt.wait_until(lambda: topic_stats(emulator, topic)["connections"] > connections, 10,
                  what="a new connection of the push stream")
    wait_exported(client, ch["sid"])
    assert lists(device_requests(emulator)), "no poll"
    assert line in daemon.log_text()
    wait_push_state(client, "connected")
    vt.wait_until(lambda: topic_stats(emulator, topic)["subscribers"] == 1, 10,
                  what="the old connection closed")


def test_resume_reconnects_and_polls(started, client, emulator, logind):
    topic = new_topic()
    daemon = started(topic)
    f = vt.enroll(client, emulator)
    connections = connected_and_quiet(client, emulator, topic)
    listening(daemon)
    ch = emulator.create_challenge(f.identity, f.sid)

    logind.emit_prepare_for_sleep(True)
    logind.emit_prepare_for_sleep(False)
    expect_woken(daemon, client, emulator, topic, connections, f, ch, RESUMED)
    assert daemon.log_text().count(RESUMED) == 1


def unique_name_of(bus, pid):
    names = bus.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "ListNames", None,
                     bus_name="org.freedesktop.DBus")[0]
    for name in names:
        if name.startswith(":") and bus.name_owner_pid(name) == pid:
            return name
    raise vt.HarnessError("pid %d has no connection to the bus" % pid)


def test_resume_heard_from_logind_only(started, client, emulator, logind, system_bus):
    """The same signal from a process that is not logind is not heard, neither broadcast
    nor sent to vpushd directly (which the bus lets any process of the system do). vpushd's
    match names no sender, so that its own check of logind's unique name is what drops
    them here, and not GLib's (which only a GLib with the fix for CVE-2024-34397 has for a
    signal sent directly)."""
    topic = new_topic()
    daemon = started(topic)
    f = vt.enroll(client, emulator)
    connected_and_quiet(client, emulator, topic)
    listening(daemon)
    vpushd = unique_name_of(system_bus.client, daemon.proc.pid)
    for destination in (None, vpushd):
        system_bus.client.conn.emit_signal(destination, LOGIND_PATH, LOGIND_MANAGER,
                                           "PrepareForSleep", GLib.Variant("(b)", (False,)))
    system_bus.client.conn.flush_sync(None)
    # logind's comes after the impostor's: once it is heard, the impostor's would have been
    ch = emulator.create_challenge(f.identity, f.sid)
    logind.emit_prepare_for_sleep(False)
    vt.wait_until(lambda: RESUMED in daemon.log_text(), 10, what="the resume in the log")
    wait_exported(client, ch["sid"])
    assert daemon.log_text().count(RESUMED) == 1


def reconnect_delays(log):
    """The waits vpushd logged before its push stream's next attempts, in seconds."""
    return [float(m) for m in re.findall(r"; reconnecting in ([0-9.]+) s", log)]


def test_resume_ends_a_backoff(started, logind):
    """A stream waiting to reconnect after failed attempts (the fourth waits 4 to 8 s)
    reconnects at once on a resume: the network it failed on may be back. If that attempt
    fails too, the backoff starts again from its first step (0.5 to 1 s)."""
    server = ScriptedPushServer([(503, b"")] * 6 + [(200, b"")])
    try:
        daemon = started(None, url=server.url)
        listening(daemon)
        vt.wait_until(lambda: len(reconnect_delays(daemon.log_text())) >= 4, 30,
                      what="four refused connections")
        assert reconnect_delays(daemon.log_text())[3] >= 4
        logind.emit_prepare_for_sleep(False)
        vt.wait_until(lambda: len(reconnect_delays(daemon.log_text())) >= 5, 30,
                      what="the fifth connection, refused")
    finally:
        server.close()
    log = daemon.log_text()
    waits = [m.start() for m in re.finditer(r"; reconnecting in ", log)]
    # the fifth attempt was the resume's, not the backoff's: the fourth wait was cut short
    assert waits[3] < log.index("reconnecting at once") < waits[4], log
    assert reconnect_delays(log)[4] <= 1.0, log


def test_resume_keeps_a_retry_after(started, logind):
    """A push server that refused the last connection and said when to come back
    (Retry-After) is not asked sooner because of a resume."""
    server = ScriptedPushServer([(503, b"", {"Retry-After": "6"}), (200, b"")])
    try:
        daemon = started(None, url=server.url)
        listening(daemon)
        vt.wait_until(lambda: len(server.times) >= 1, 30, what="a refused connection")
        logind.emit_prepare_for_sleep(False)
        vt.wait_until(lambda: RESUMED in daemon.log_text(), 10, what="the resume in the log")
        vt.wait_until(lambda: len(server.times) >= 2, 30, what="a second connection")
    finally:
        server.close()
    assert server.times[1] - server.times[0] >= 6


def test_resume_polls_once_a_retry_after_is_over(session, client, emulator, logind):
    """The API's Retry-After for a poll runs in real time. A resume while it is not over
    polls only once it is; one after it ended in the suspend polls at once, though the
    monotonic clock of vpushd's timers stood still meanwhile (tests/suspend-clock-shim.c
    moves the boot-time clock alone). No push stream: the resume's own poll is tested."""
    # boot time ahead of the monotonic clock from the start, as after earlier suspends:
    # a wait taken on one clock and compared on the other is then far off
    suspended = vt.ShiftedClock(session, "VPUSH_TEST_SUSPENDED", 1000)
    daemon = vt.Daemon(session, emulator, config={"Poll": dict(SLOW_POLL)}, env=suspended.env)
    daemon.start()
    try:
        f = vt.enroll(client, emulator)
        listening(daemon)
        settle(emulator)
        emulator.fault(r"/Entities/%s/Challenges\Z" % f.identity, status=429, retry_after=60,
                       method="GET", count=1)
        with pytest.raises(vt.DBusCallError) as refused:
            client.refresh()
        assert "HTTP 429" in refused.value.message, refused.value
        ch = emulator.create_challenge(f.identity, f.sid)

        logind.emit_prepare_for_sleep(False)
        vt.wait_until(lambda: RESUMED in daemon.log_text(), 10, what="the resume in the log")
        time.sleep(2)
        assert vt.challenge_path(ch["sid"]) not in client.challenge_paths()
        assert len(lists(device_requests(emulator))) == 1, "polled before the Retry-After"

        suspended.set(1000 + 120)
        logind.emit_prepare_for_sleep(False)
        wait_exported(client, ch["sid"])
        assert daemon.log_text().count(RESUMED) == 2
    finally:
        emulator.clear_faults()
        daemon.stop()


def test_network_back_reconnects_and_polls(started, client, emulator, network_manager):
    """NetworkManager's state goes to disconnected and back: once it is back (and has
    settled for a second), the streams reconnect and every factor is polled; so again at
    its next return. A change while the network stays up (connectivity lost and regained,
    routes) waits for 30 s from the last wake-up: routes change for many reasons, and
    each wake-up replaces every push connection."""
    topic = new_topic()
    daemon = started(topic, env={"GIO_USE_NETWORK_MONITOR": "networkmanager"})
    f = vt.enroll(client, emulator)
    connections = connected_and_quiet(client, emulator, topic)
    listening(daemon, logind=False)
    assert "GNetworkMonitorNM" in daemon.log_text()

    def heard(line, n):
        vt.wait_until(lambda: daemon.log_text().count(line) == n, 10,
                      what="%d times “%s” in the log" % (n, line))

    for n in (1, 2):
        ch = emulator.create_challenge(f.identity, f.sid)
        network_manager.set_state(NetworkManager.DISCONNECTED)
        network_manager.set_state(NetworkManager.CONNECTED_GLOBAL)
        heard("network available", n)
        expect_woken(daemon, client, emulator, topic, connections, f, ch, NETWORK)
        heard(NETWORK, n)
        connections = topic_stats(emulator, topic)["connections"]

    changed = daemon.log_text().count("network connectivity changed")
    network_manager.set_state(NetworkManager.CONNECTED_SITE)
    network_manager.set_state(NetworkManager.CONNECTED_GLOBAL)
    heard("network connectivity changed", changed + 2)
    # the first change is put off until 30 s after the last wake-up (a few seconds ago),
    # the second joins it
    delays = [float(d) for d in re.findall(r"network changed: acted on in ([0-9.]+) s",
                                           daemon.log_text())]
    assert len(delays) == 3 and delays[:2] == [1.0, 1.0] and delays[2] >= 20, delays
    assert daemon.log_text().count(NETWORK) == 2


def test_resume_waits_for_the_network(started, client, emulator, logind, network_manager):
    """A resume while NetworkManager has the network down (as it takes it down for a
    suspend) reconnects nothing yet: that would only fail and lengthen the backoff. The
    network's return does it."""
    topic = new_topic()
    daemon = started(topic, env={"GIO_USE_NETWORK_MONITOR": "networkmanager"})
    f = vt.enroll(client, emulator)
    connections = connected_and_quiet(client, emulator, topic)
    listening(daemon)
    listening(daemon, logind=False)
    ch = emulator.create_challenge(f.identity, f.sid)

    network_manager.set_state(NetworkManager.DISCONNECTED)
    vt.wait_until(lambda: "network not available" in daemon.log_text(), 10,
                  what="the network gone, in the log")
    logind.emit_prepare_for_sleep(False)
    vt.wait_until(lambda: "resumed from suspend: waiting for the network" in daemon.log_text(),
                  10, what="the resume in the log")
    assert topic_stats(emulator, topic)["connections"] == connections
    assert RESUMED not in daemon.log_text()
    network_manager.set_state(NetworkManager.CONNECTED_GLOBAL)
    expect_woken(daemon, client, emulator, topic, connections, f, ch, NETWORK)
