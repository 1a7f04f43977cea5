"""Wake-ups (daemon/vpush-wake.c): a resume from suspend, heard from logind, and the
network coming back, heard from NetworkManager (both python-dbusmock on a private system
bus), make vpushd reconnect its push streams and poll every factor at once. Polling is set
to 10 minutes and the emulator's keepalives to their default, so that nothing else would
reconnect or poll within these tests."""

import time

import pytest
from gi.repository import GLib

import vpushtest as vt
from test_push import (SLOW_POLL, device_requests, lists, new_topic, push_url, settle,
                       topic_stats, wait_exported, wait_push_state)
from vpushtest_system import (LOGIND_MANAGER, LOGIND_PATH, Logind, NetworkManager,
                              SystemBus)

RESUMED = "resumed from suspend: reconnecting the push streams and polling every factor"
NETWORK = "the network changed: reconnecting the push streams and polling every factor"


@pytest.fixture(scope="module")
def system_bus(session):
    bus = SystemBus(session)
    yield bus
    bus.close()


@pytest.fixture
def logind(session, system_bus):
    mock = Logind(session, system_bus)
    yield mock
    mock.stop()


@pytest.fixture
def network_manager(session, system_bus):
    mock = NetworkManager(session, system_bus)
    yield mock
    mock.stop()


@pytest.fixture
def started(session, emulator, system_bus):
    """start(topic, env) → a vpushd on the private system bus, with a push stream
    (server-sent events) on topic; stopped afterwards."""
    daemons = []

    def start(topic, env=None):
        d = vt.Daemon(session, emulator,
                      config={"Poll": dict(SLOW_POLL), "Push": {"Url": push_url(emulator, topic)}},
                      env=dict(env or {}, DBUS_SYSTEM_BUS_ADDRESS=system_bus.address))
        daemons.append(d)
        return d.start()
    yield start
    for d in daemons:
        d.stop()


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
    ch = emulator.create_challenge(f.identity, f.sid)

    logind.emit_prepare_for_sleep(True)
    logind.emit_prepare_for_sleep(False)
    expect_woken(daemon, client, emulator, topic, connections, f, ch, RESUMED)
    assert daemon.log_text().count(RESUMED) == 1


def test_resume_heard_from_logind_only(started, client, emulator, logind, system_bus):
    """The same signal from a process that is not logind is not heard: the bus delivers
    logind's alone (any process on the system bus could send one)."""
    topic = new_topic()
    daemon = started(topic)
    f = vt.enroll(client, emulator)
    connected_and_quiet(client, emulator, topic)
    system_bus.client.conn.emit_signal(None, LOGIND_PATH, LOGIND_MANAGER, "PrepareForSleep",
                                       GLib.Variant("(b)", (False,)))
    system_bus.client.conn.flush_sync(None)
    # logind's comes after the impostor's: once it is heard, the impostor's would have been
    ch = emulator.create_challenge(f.identity, f.sid)
    logind.emit_prepare_for_sleep(False)
    vt.wait_until(lambda: RESUMED in daemon.log_text(), 10, what="the resume in the log")
    wait_exported(client, ch["sid"])
    assert daemon.log_text().count(RESUMED) == 1


def test_network_back_reconnects_and_polls(started, client, emulator, network_manager):
    """NetworkManager's state goes to disconnected and back: once it is back (and has
    settled for a second), the streams reconnect and every factor is polled. A second
    return soon after waits for 30 s from the first wake-up: routes change for many
    reasons, and each wake-up replaces every push connection."""
    topic = new_topic()
    daemon = started(topic, env={"GIO_USE_NETWORK_MONITOR": "networkmanager"})
    f = vt.enroll(client, emulator)
    connections = connected_and_quiet(client, emulator, topic)
    ch = emulator.create_challenge(f.identity, f.sid)

    network_manager.set_state(NetworkManager.DISCONNECTED)
    network_manager.set_state(NetworkManager.CONNECTED_GLOBAL)
    expect_woken(daemon, client, emulator, topic, connections, f, ch, NETWORK)

    network_manager.set_state(NetworkManager.DISCONNECTED)
    network_manager.set_state(NetworkManager.CONNECTED_GLOBAL)
    time.sleep(3)
    assert daemon.log_text().count(NETWORK) == 1
