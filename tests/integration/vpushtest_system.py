"""The harness's private system bus, and python-dbusmock services on it (logind,
NetworkManager): what vpushd asks or hears there."""

import os
import select
import subprocess
import time

from gi.repository import GLib

import vpushtest as vt

LOGIND = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_MANAGER = LOGIND + ".Manager"
SESSION_PATH = LOGIND_PATH + "/session/c1"
USER_PATH = "%s/user/%d" % (LOGIND_PATH, os.getuid())
MOCK_IFACE = "org.freedesktop.DBus.Mock"
NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"


SYSTEM_BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class SystemBus:
    def __init__(self, session, timeout=10.0):
        conf = session.path("system-bus.conf")
        with open(conf, "w") as f:
            f.write(SYSTEM_BUS_CONF % session.path("system_bus"))
        log = session.path("system-dbus-daemon.log")
        vt.LOGS.append(("system-dbus-daemon", log))
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile",
             "--print-address=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(log, "ab"),
            env=session.env, start_new_session=True)
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.close()
                raise vt.HarnessError("the system dbus-daemon did not start:\n"
                                      + vt.log_tail(log))
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    self.close()
                    raise vt.HarnessError("the system dbus-daemon closed stdout")
                line += chunk
        self.address = line.decode().strip()
        self.client = vt.Client(self.address)

    def close(self):
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        vt._stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


class DbusMock:
    """A python-dbusmock template on the private system bus, owning name."""

    def __init__(self, session, system_bus, template, name, timeout=10.0):
        self.bus = system_bus.client
        self.name = name
        env = dict(session.env, DBUS_SYSTEM_BUS_ADDRESS=system_bus.address)
        log = self.log = session.path("%s-mock.log" % template)
        vt.LOGS.append(("%s-mock" % template, log))
        self.proc = subprocess.Popen([vt.PYTHON, "-m", "dbusmock", "--template", template],
                                     stdin=subprocess.DEVNULL, stdout=open(log, "ab"),
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise vt.HarnessError("the %s mock exited:\n%s" % (template, vt.log_tail(log)))
            return self.bus.name_has_owner(name)
        vt.wait_until(up, timeout, what="the %s mock" % template, pump=False)

    def mock(self, path, method, signature, args):
        self.bus.call(path, MOCK_IFACE, method, GLib.Variant(signature, args),
                      bus_name=self.name)

    def log_text(self):
        """What the mock wrote: among it, each method call as it comes."""
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        vt._stop_process(self.proc)


class Logind(DbusMock):
    """python-dbusmock's logind template, with session c1 of this user on seat0."""

    def __init__(self, session, system_bus, timeout=10.0):
        super().__init__(session, system_bus, "logind", LOGIND, timeout)

    def emit_prepare_for_sleep(self, going):
        self.mock(LOGIND_PATH, "EmitSignal", "(sssav)",
                  (LOGIND_MANAGER, "PrepareForSleep", "b", [GLib.Variant("b", going)]))

    def add_session(self, active=True, locked=False, by_pid=True):
        self.mock(LOGIND_PATH, "AddSession", "(ssusb)",
                  ("c1", "seat0", os.getuid(), "tester", active))
        if locked:
            self.set_session(LockedHint=GLib.Variant("b", True))
        if by_pid:
            code = 'ret = "%s"' % SESSION_PATH
        else:
            # as for an app the user manager started: in no session scope
            code = ('raise dbus.exceptions.DBusException("no session", '
                    'name="org.freedesktop.login1.NoSessionForPID")')
            # the template's GetUser adds a number to a string (dbusmock 0.28)
            self.mock(LOGIND_PATH, "AddMethod", "(sssss)",
                      (LOGIND_MANAGER, "GetUser", "u", "o",
                       'ret = "%s/user/%%d" %% args[0]' % LOGIND_PATH))
        self.mock(LOGIND_PATH, "AddMethod", "(sssss)",
                  (LOGIND_MANAGER, "GetSessionByPID", "u", "o", code))

    def set_session(self, **props):
        self.mock(SESSION_PATH, "UpdateProperties", "(sa{sv})",
                  (LOGIND + ".Session", props))

    def set_session_seat(self, seat_id, path):
        # UpdateProperties can't take a struct (dbusmock 0.28)
        self.set_session_property("Seat", GLib.Variant("(so)", (seat_id, path)))

    def set_session_property(self, name, value):
        """Any property of the session, of any type (UpdateProperties keeps the old type)."""
        self.bus.call(SESSION_PATH, vt.PROPS_IFACE, "Set",
                      GLib.Variant("(ssv)", (LOGIND + ".Session", name, value)), bus_name=LOGIND)

    def answer_session_by_pid_after(self, seconds):
        """GetSessionByPID answers the session after a while: a slow logind."""
        self.mock(LOGIND_PATH, "AddMethod", "(sssss)",
                  (LOGIND_MANAGER, "GetSessionByPID", "u", "o",
                   'import time; time.sleep(%g); ret = "%s"' % (seconds, SESSION_PATH)))

    def set_user_display(self, session_id, path):
        # UpdateProperties can't take a struct (dbusmock 0.28)
        self.bus.call(USER_PATH, vt.PROPS_IFACE, "Set",
                      GLib.Variant("(ssv)", (LOGIND + ".User", "Display",
                                             GLib.Variant("(so)", (session_id, path)))),
                      bus_name=LOGIND)


class NetworkManager(DbusMock):
    """python-dbusmock's NetworkManager template: connected (NM_STATE_CONNECTED_GLOBAL)."""

    CONNECTED_GLOBAL = 70
    CONNECTED_SITE = 60   # up, but no connectivity beyond the site
    DISCONNECTED = 20

    def __init__(self, session, system_bus, timeout=10.0):
        super().__init__(session, system_bus, "networkmanager", NM, timeout)

    def set_state(self, state):
        self.mock(NM_PATH, "SetGlobalConnectionState", "(u)", (state,))

