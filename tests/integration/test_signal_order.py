"""What a call changes is announced before its reply (README, "Beyond the letter of
dbus-api.md"), so a client's proxies and object-manager cache are current when the reply
arrives; the one exception, an answered challenge's InterfacesRemoved, comes right after
the reply."""

import threading

import pytest
from gi.repository import Gio, GLib

import vpushtest as vt

REPLY = ("reply",)


class Arrivals:
    """The messages vpushd sends to the client's connection, in the order they arrive (a
    filter sees them as they are read, before any main loop dispatches them):
    ("signal", member, path of the object it is about) or ("reply",)."""

    def __init__(self, client):
        self.client = client
        self.sender = client.call("/org/freedesktop/DBus", "org.freedesktop.DBus",
                                  "GetNameOwner", GLib.Variant("(s)", (vt.BUS_NAME,)),
                                  bus_name="org.freedesktop.DBus")[0]
        self.seen = []
        self.changes = {}  # index in seen of a PropertiesChanged → its changed properties
        self.lock = threading.Lock()
        self.filter_id = client.conn.add_filter(self._filter)

    def _filter(self, conn, message, incoming):
        if incoming and message.get_sender() == self.sender:
            kind = message.get_message_type()
            if kind == Gio.DBusMessageType.SIGNAL:
                path = message.get_path()
                if message.get_member() in ("InterfacesAdded", "InterfacesRemoved"):
                    path = message.get_body().get_child_value(0).get_string()
                with self.lock:
                    if message.get_member() == "PropertiesChanged":
                        changed = message.get_body().get_child_value(1).unpack()
                        self.changes[len(self.seen)] = changed
                    self.seen.append(("signal", message.get_member(), path))
            elif kind in (Gio.DBusMessageType.METHOD_RETURN, Gio.DBusMessageType.ERROR):
                with self.lock:
                    self.seen.append(REPLY)
        return message

    def after(self, call, signal):
        """Makes the call; returns its value and what arrived, once the reply and the signal
        have. signal: the one awaited, or a function of the call's value giving it."""
        try:
            value = call()
            if callable(signal):
                signal = signal(value)
            vt.wait_until(lambda: signal in self.snapshot(), 10 * vt.SLOWDOWN,
                          what=" ".join(signal[1:]))
            seen = self.snapshot()
        finally:
            self.client.conn.remove_filter(self.filter_id)
        assert REPLY in seen, seen
        return value, seen

    def change(self, path, name, value):
        """Where in what arrived name became value on path, or None."""
        with self.lock:
            found = [i for i, props in self.changes.items()
                     if self.seen[i][2] == path and props.get(name) == value]
        return min(found) if found else None

    def after_change(self, call, path, name, value):
        """Makes the call; returns where the reply and the change arrived, once both have."""
        try:
            call()
            vt.wait_until(lambda: self.change(path, name, value) is not None, 10 * vt.SLOWDOWN,
                          what="%s=%s on %s" % (name, value, path))
            seen = self.snapshot()
        finally:
            self.client.conn.remove_filter(self.filter_id)
        assert REPLY in seen, seen
        return seen.index(REPLY), self.change(path, name, value)

    def snapshot(self):
        with self.lock:
            return list(self.seen)


@pytest.mark.parametrize("method", ["Verify", "Update-friendly-name", "Update-push-url"])
def test_factor_changes_before_the_reply(method, daemon, client, emulator):
    """Before, the skeleton sent these PropertiesChanged from an idle, after the reply: a
    proxy still showed the old value when the call returned."""
    f = vt.enroll(client, emulator, verify=(method != "Verify"))
    if method == "Verify":
        call = lambda: client.factor_verify(f.path)  # noqa: E731
    elif method == "Update-friendly-name":
        call = lambda: client.factor_update(f.path, {"friendly-name": "Renamed"})  # noqa: E731
    else:
        call = lambda: client.factor_update(  # noqa: E731
            f.path, {"push-url": emulator.url + "/push/order/sse"})
    changed = ("signal", "PropertiesChanged", f.path)
    _, seen = Arrivals(client).after(call, changed)
    assert seen.index(changed) < seen.index(REPLY), seen


def test_enroll_and_delete_before_the_reply(daemon, client, emulator):
    identity = vt.unique_identity("order")
    token = emulator.access_token(identity)["token"]
    path, seen = Arrivals(client).after(
        lambda: client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                               "access-token": token, "friendly-name": "Order"}),
        lambda path: ("signal", "InterfacesAdded", path))
    added = [s for s in seen if s[:2] == ("signal", "InterfacesAdded")]
    assert [s[2] for s in added] == [path], seen
    assert seen.index(added[0]) < seen.index(REPLY), seen

    removed = ("signal", "InterfacesRemoved", path)
    _, seen = Arrivals(client).after(lambda: client.factor_delete(path), removed)
    assert seen.index(removed) < seen.index(REPLY), seen


def test_refresh_and_answer_order(daemon, client, emulator, factor):
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    path = vt.challenge_path(ch["sid"])
    added = ("signal", "InterfacesAdded", path)
    _, seen = Arrivals(client).after(client.refresh, added)
    assert seen.index(added) < seen.index(REPLY), seen

    # the documented exception: the answer's reply first, then the object goes
    removed = ("signal", "InterfacesRemoved", path)
    sid, seen = Arrivals(client).after(lambda: client.approve({"transaction-id": txid}), removed)
    assert sid == ch["sid"]
    assert seen.index(REPLY) < seen.index(removed), seen
    assert path not in client.challenge_paths()


@pytest.fixture
def quiet_daemon(session, emulator):
    """A vpushd that polls only when asked."""
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config={"Poll": {"IntervalSeconds": "3600",
                                                      "IntervalWithPushSeconds": "3600"}})
    d.start()
    yield d
    d.stop()


def test_state_back_to_ready_before_the_refresh_reply(quiet_daemon, client, emulator):
    """A Refresh whose poll meets a dropped connection (State=offline) and then gets
    through: State=ready arrives before the reply. Before, the skeleton sent it from an
    idle after the reply, and a proxy still said offline when Refresh returned."""
    f = vt.enroll(client, emulator)
    client.refresh()
    # two: libcurl itself sends a request again once when a reused connection drops
    emulator.fault(r"/Entities/%s/Challenges\Z" % f.identity, action="drop", count=2)
    arrivals = Arrivals(client)
    reply, ready = arrivals.after_change(client.refresh, vt.MANAGER_PATH, "State", "ready")
    offline = arrivals.change(vt.MANAGER_PATH, "State", "offline")
    assert offline is not None and offline < ready < reply, arrivals.snapshot()


def test_push_state_before_the_update_reply(daemon, client, emulator):
    """An Update that gives a factor the first push stream (no [Push] Url here): PushState
    leaves disabled before the reply."""
    f = vt.enroll(client, emulator)
    assert client.manager_property("PushState") == "disabled"
    reply, connecting = Arrivals(client).after_change(
        lambda: client.factor_update(f.path, {"push-url": emulator.url + "/push/order/sse"}),
        vt.MANAGER_PATH, "PushState", "connecting")
    assert connecting < reply
