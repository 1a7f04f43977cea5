"""vpushd's D-Bus names and a Gio client of its API that calls it as an app would (dbus-api.md);
calls sent without waiting from connections of their own, as many callers at once would make
them; and the check that vpushd is still up and answering."""

import re
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from vpushtest_processes import HarnessError, log_tail, wait_until  # noqa: E402

BUS_NAME = "io.github.vpush"
MANAGER_PATH = "/io/github/vpush"
FACTORS_PATH = "/io/github/vpush/factors"
CHALLENGES_PATH = "/io/github/vpush/challenges"
MANAGER_IFACE = "io.github.vpush1.Manager"
FACTOR_IFACE = "io.github.vpush1.Factor"
CHALLENGE_IFACE = "io.github.vpush1.Challenge"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
PROPS_IFACE = "org.freedesktop.DBus.Properties"

ERR_PREFIX = "io.github.vpush1.Error."
ERR_INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
ERR_LIMITS_EXCEEDED = "org.freedesktop.DBus.Error.LimitsExceeded"
ERR_NOT_FOUND = ERR_PREFIX + "NotFound"
ERR_AMBIGUOUS = ERR_PREFIX + "Ambiguous"
ERR_EXPIRED = ERR_PREFIX + "Expired"
ERR_ALREADY_RESPONDED = ERR_PREFIX + "AlreadyResponded"
ERR_KEYRING_LOCKED = ERR_PREFIX + "KeyringLocked"


class DBusCallError(Exception):
    """A D-Bus error reply: .name is the D-Bus error name, .message its text."""

    def __init__(self, name, message):
        super().__init__("%s: %s" % (name, message))
        self.name = name
        self.message = message


def _split_gerror(e):
    text = e.message or ""
    name = Gio.DBusError.get_remote_error(e) if Gio.DBusError.is_remote_error(e) else None
    m = re.match(r"\AGDBus\.Error:([^:\s]+): ?(.*)\Z", text, re.S)
    if m:
        name = name or m.group(1)
        text = m.group(2)
    if name is None:
        name = "(local) %s.%d" % (GLib.quark_to_string(e.domain) if isinstance(e.domain, int)
                                  else e.domain, e.code)
    return name, text


def to_variant(value):
    """Python → GLib.Variant for a{sv} values: GLib.Variant as is, bool → b, int → u,
    str → s, dict of str → a{ss}, list of (str, str) → a(ss)."""
    if isinstance(value, GLib.Variant):
        return value
    if isinstance(value, bool):
        return GLib.Variant("b", value)
    if isinstance(value, int):
        return GLib.Variant("u", value)
    if isinstance(value, str):
        return GLib.Variant("s", value)
    if isinstance(value, dict):
        return GLib.Variant("a{ss}", value)
    if isinstance(value, (list, tuple)):
        return GLib.Variant("a(ss)", list(value))
    raise TypeError("no D-Bus type for %r" % (value,))


def asv(d):
    return GLib.Variant("a{sv}", {k: to_variant(v) for k, v in d.items()})


class Client:
    """A D-Bus client of vpushd on a given bus address (Gio, synchronous calls)."""

    def __init__(self, address):
        self.address = address
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.signals = []          # (member, path, args) of ObjectManager/PropertiesChanged
        self._subs = [
            self.conn.signal_subscribe(None, OM_IFACE, None, None, None,
                                       Gio.DBusSignalFlags.NONE, self._on_signal),
            self.conn.signal_subscribe(None, PROPS_IFACE, "PropertiesChanged", None, None,
                                       Gio.DBusSignalFlags.NONE, self._on_signal),
        ]

    def _on_signal(self, conn, sender, path, iface, member, params):
        self.signals.append((member, path, params.unpack()))

    def pump(self):
        ctx = GLib.MainContext.default()
        while ctx.pending():
            ctx.iteration(False)

    def close(self):
        for s in self._subs:
            self.conn.signal_unsubscribe(s)
        self._subs = []
        try:
            self.conn.close_sync(None)
        except GLib.Error:
            pass

    # -- raw calls
    def call(self, path, iface, method, args=None, bus_name=BUS_NAME, timeout_ms=30000,
             reply_type=None):
        """Calls a method; returns the unpacked reply tuple or raises DBusCallError."""
        try:
            res = self.conn.call_sync(bus_name, path, iface, method, args,
                                      GLib.VariantType.new(reply_type) if reply_type else None,
                                      Gio.DBusCallFlags.NO_AUTO_START, timeout_ms, None)
        except GLib.Error as e:
            raise DBusCallError(*_split_gerror(e)) from None
        finally:
            self.pump()
        return res.unpack() if res is not None else ()

    def name_has_owner(self, name):
        return self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                         GLib.Variant("(s)", (name,)), bus_name="org.freedesktop.DBus")[0]

    def name_owner_pid(self, name):
        return self.call("/org/freedesktop/DBus", "org.freedesktop.DBus",
                         "GetConnectionUnixProcessID", GLib.Variant("(s)", (name,)),
                         bus_name="org.freedesktop.DBus")[0]

    def get_property(self, path, iface, name, bus_name=BUS_NAME):
        return self.call(path, PROPS_IFACE, "Get", GLib.Variant("(ss)", (iface, name)),
                         bus_name=bus_name)[0]

    def get_all(self, path, iface, bus_name=BUS_NAME):
        return self.call(path, PROPS_IFACE, "GetAll", GLib.Variant("(s)", (iface,)),
                         bus_name=bus_name)[0]

    def introspect(self, path, bus_name=BUS_NAME):
        return self.call(path, "org.freedesktop.DBus.Introspectable", "Introspect",
                         bus_name=bus_name)[0]

    def managed_objects(self):
        return self.call(MANAGER_PATH, OM_IFACE, "GetManagedObjects")[0]

    # -- Manager
    def manager_property(self, name):
        return self.get_property(MANAGER_PATH, MANAGER_IFACE, name)

    def enroll(self, request, timeout_ms=30000):
        """EnrollFactor(a{sv}) → object path. request: dict (see asv) or GLib.Variant."""
        arg = request if isinstance(request, GLib.Variant) else asv(request)
        return self.call(MANAGER_PATH, MANAGER_IFACE, "EnrollFactor",
                         GLib.Variant.new_tuple(arg), timeout_ms=timeout_ms)[0]

    def approve(self, match, timeout_ms=30000):
        arg = match if isinstance(match, GLib.Variant) else asv(match)
        return self.call(MANAGER_PATH, MANAGER_IFACE, "ApproveChallenge",
                         GLib.Variant.new_tuple(arg), timeout_ms=timeout_ms)[0]

    def deny(self, match, timeout_ms=30000):
        arg = match if isinstance(match, GLib.Variant) else asv(match)
        return self.call(MANAGER_PATH, MANAGER_IFACE, "DenyChallenge",
                         GLib.Variant.new_tuple(arg), timeout_ms=timeout_ms)[0]

    def refresh(self):
        self.call(MANAGER_PATH, MANAGER_IFACE, "Refresh")

    # -- Factor
    def factor_props(self, path):
        return self.get_all(path, FACTOR_IFACE)

    def factor_verify(self, path):
        self.call(path, FACTOR_IFACE, "Verify")

    def factor_update(self, path, changes):
        arg = changes if isinstance(changes, GLib.Variant) else asv(changes)
        self.call(path, FACTOR_IFACE, "Update", GLib.Variant.new_tuple(arg))

    def factor_delete(self, path):
        self.call(path, FACTOR_IFACE, "Delete")

    def list_challenges(self, path, options=None):
        arg = options if isinstance(options, GLib.Variant) else asv(options or {})
        return self.call(path, FACTOR_IFACE, "ListChallenges", GLib.Variant.new_tuple(arg))

    # -- objects
    def objects_with(self, iface):
        return {p: ifaces[iface] for p, ifaces in self.managed_objects().items()
                if iface in ifaces}

    def factor_paths(self):
        return sorted(self.objects_with(FACTOR_IFACE))

    def challenge_paths(self):
        return sorted(self.objects_with(CHALLENGE_IFACE))

    def wait_state(self, states, timeout=15.0):
        if isinstance(states, str):
            states = (states,)
        seen = []

        def ok():
            try:
                s = self.manager_property("State")
            except DBusCallError:
                return False
            seen[:] = [s]
            return s in states
        try:
            return wait_until(ok, timeout, what="Manager.State in %s" % (states,))
        except HarnessError as e:
            raise HarnessError("%s (last seen: %s)" % (e, seen)) from None


class PendingCall:
    """A method called without waiting for its reply, which arrives while the default main
    context is pumped (every Client call and wait_until does): then done is set, with
    value (the unpacked reply) or error (a DBusCallError), and took (seconds). arg: the
    one argument, or None for a method without any."""

    def __init__(self, client, method, arg, path=MANAGER_PATH, iface=MANAGER_IFACE,
                 timeout_ms=60000):
        self.done = False
        self.value = None
        self.error = None
        self.took = None
        self.started = time.monotonic()
        args = GLib.Variant.new_tuple(arg) if arg is not None else GLib.Variant("()", ())
        client.conn.call(BUS_NAME, path, iface, method, args, None,
                         Gio.DBusCallFlags.NO_AUTO_START, timeout_ms, None, self._finish)

    def _finish(self, conn, result):
        try:
            self.value = conn.call_finish(result).unpack()
        except GLib.Error as e:
            self.error = DBusCallError(*_split_gerror(e))
        self.took = time.monotonic() - self.started
        self.done = True

    def wait(self, timeout=30):
        wait_until(lambda: self.done, timeout, what="the call to finish")
        return self


def one_over_the_cap(client, calls, words, timeout):
    """Of calls sent at once, one more than a cap on calls under way allows: asserts that
    exactly one ends, at once and with LimitsExceeded saying words, while the others go
    on (checked again a moment later)."""
    wait_until(lambda: client.pump() or any(c.done for c in calls), timeout,
               what="the call over the cap to end")
    time.sleep(0.3)
    client.pump()
    refused = [c for c in calls if c.done]
    assert len(refused) == 1, [c.error for c in refused]
    assert refused[0].error.name == ERR_LIMITS_EXCEEDED, refused[0].error
    assert words in refused[0].error.message, refused[0].error.message


def over_the_cap(calls, extra, timeout):
    """Of calls sent at once, extra more than a cap on calls under way allows: waits until
    that many have ended and asserts that each ended with LimitsExceeded."""
    wait_until(lambda: sum(c.done for c in calls) >= extra, timeout,
               what="the calls over the cap to end")
    refused = [c.error for c in calls if c.done]
    assert all(e is not None and e.name == ERR_LIMITS_EXCEEDED for e in refused), refused


def _connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


class AsyncCalls:
    """Method calls sent without waiting, their replies collected from the main context."""

    def __init__(self):
        self.results = {}  # key → ("ok", value) or ("error", name, message)
        self.sent = 0

    def call(self, conn, key, method, match, timeout_ms=30000):
        def done(conn, res, _data):
            try:
                self.results[key] = ("ok", conn.call_finish(res).unpack()[0])
            except GLib.Error as e:
                self.results[key] = ("error",) + _split_gerror(e)
        self.sent += 1
        conn.call(BUS_NAME, MANAGER_PATH, MANAGER_IFACE, method,
                  GLib.Variant.new_tuple(asv(match)), GLib.VariantType.new("(s)"),
                  Gio.DBusCallFlags.NO_AUTO_START, timeout_ms, None, done, None)

    def wait(self, timeout):
        wait_until(lambda: len(self.results) >= self.sent, timeout, interval=0.01,
                   what="%d replies" % self.sent)


def assert_healthy(daemon, client):
    assert daemon.running(), "vpushd exited:\n" + log_tail(daemon.log)
    assert client.manager_property("State") == "ready"
    client.refresh()
    client.managed_objects()


def challenge_path(sid):
    return "%s/%s" % (CHALLENGES_PATH, sid)


def factor_path(sid):
    return "%s/%s" % (FACTORS_PATH, sid)
