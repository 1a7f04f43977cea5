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
            vt.wait_until(lambda: signal in self.snapshot(), 10, what=" ".join(signal[1:]))
            seen = self.snapshot()
        finally:
            self.client.conn.remove_filter(self.filter_id)
        assert REPLY in seen, seen
        return value, seen

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
