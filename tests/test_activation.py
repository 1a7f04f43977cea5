"""D-Bus activation on a private bus: a dbus-daemon whose only service directory holds the
built activation file (Exec= pointed at the built vpushd) starts vpushd on the first call.
Activated services inherit the bus's environment, so HOME and XDG_* are set before it
starts, and vpushd finds its configuration and state in the default places."""

import collections
import configparser
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import gi
import pytest

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import vpushtest as vt  # noqa: E402

VPUSHCTL = os.path.join(vt.BUILD_DIR, "cli", "vpushctl")
ACTIVATION_FILE = os.path.join(vt.BUILD_DIR, "dbus", vt.BUS_NAME + ".service")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={dir}/bus</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{dir}/services</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

vt.install_reaper()


def build_dir_option(name):
    """An absolute directory option of the build (prefix joined), from meson introspect."""
    r = subprocess.run(["meson", "introspect", "--buildoptions", vt.BUILD_DIR],
                       capture_output=True, text=True, check=True, timeout=60)
    options = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    return os.path.join(options["prefix"], options[name])


def read_activation_file(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


class Bus:
    """dbus-daemon with our config, and a temp HOME/XDG for what it activates."""

    def __init__(self, exec_line):
        self.tmp = tempfile.mkdtemp(prefix="vpush-activation.")
        d = lambda *p: os.path.join(self.tmp, *p)  # noqa: E731
        for sub in ("home", "config/vpush", "data", "state", "cache", "services"):
            os.makedirs(d(sub))
        os.makedirs(d("runtime"), mode=0o700)
        # no factors, so nothing is polled; loopback only, should it ever be
        with open(d("config", "vpush", "vpushd.conf"), "w") as f:
            f.write("[Verify]\nBaseUrl=http://127.0.0.1:9/v2/\n")
        if exec_line:
            built = read_activation_file(ACTIVATION_FILE)
            built["D-BUS Service"]["Exec"] = exec_line
            with open(d("services", vt.BUS_NAME + ".service"), "w") as f:
                built.write(f, space_around_delimiters=False)
        with open(d("bus.conf"), "w") as f:
            f.write(BUS_CONFIG.format(dir=self.tmp))

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DBUS_", "XDG_", "NOTIFY_", "WATCHDOG_", "STATE_DIRECTORY"))
               and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.update(HOME=d("home"), XDG_CONFIG_HOME=d("config"), XDG_DATA_HOME=d("data"),
                   XDG_STATE_HOME=d("state"), XDG_CACHE_HOME=d("cache"),
                   XDG_RUNTIME_DIR=d("runtime"), G_DEBUG="fatal-criticals")
        self.address = "unix:path=" + d("bus")
        self.log = d("dbus-daemon.log")
        self.proc = vt._spawn(["dbus-daemon", "--config-file=" + d("bus.conf"), "--nofork",
                               "--nopidfile"], env=env, stdin=subprocess.DEVNULL,
                              stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        self.env = dict(env, DBUS_SESSION_BUS_ADDRESS=self.address)
        self.conn = None

        def connected():
            # the socket is there a moment before dbus-daemon listens on it
            try:
                self.conn = Gio.DBusConnection.new_for_address_sync(
                    self.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                    | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
            except GLib.Error:
                return False
            return True
        vt.wait_until(connected, 10, what="the bus", pump=False)
        # a desktop session has a Secret Service; this one is not activatable here
        self.keyring = vt._spawn(["gnome-keyring-daemon", "--foreground", "--unlock",
                                  "--components=secrets"], env=self.env, stdin=subprocess.PIPE,
                                 stdout=open(d("keyring.log"), "ab"), stderr=subprocess.STDOUT)
        self.keyring.stdin.write(vt.KEYRING_PASSWORD.encode())
        self.keyring.stdin.close()
        vt.wait_until(lambda: self.has_owner(vt.SECRETS_NAME), 10,
                      what="gnome-keyring-daemon on the bus", pump=False)

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def bus_call(self, method, *args, sig=None):
        res = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus", method,
                                  GLib.Variant(sig, args) if sig else None, None,
                                  Gio.DBusCallFlags.NONE, 10000, None)
        return res.unpack()[0]

    def has_owner(self, name=vt.BUS_NAME):
        return self.bus_call("NameHasOwner", name, sig="(s)")

    def owner_pid(self):
        return self.bus_call("GetConnectionUnixProcessID", vt.BUS_NAME, sig="(s)")

    def close(self):
        # the activated vpushd is not our child (dbus-daemon double-forks it): by pid
        try:
            pid = self.owner_pid() if self.has_owner() else None
        except GLib.Error:
            pid = None
        if pid:
            os.kill(pid, signal.SIGTERM)
            vt.wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10,
                          what="the activated vpushd to exit", pump=False)
        self.conn.close_sync(None)
        vt._stop_process(self.keyring)
        vt._stop_process(self.proc)
        if not os.environ.get("VPUSH_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def bus():
    b = Bus(vt.vpushd_path())
    yield b
    b.close()


def test_activation_file():
    """What meson configured: the name, the installed binary, the systemd unit."""
    section = read_activation_file(ACTIVATION_FILE)["D-BUS Service"]
    assert dict(section) == {
        "Name": vt.BUS_NAME,
        "Exec": os.path.join(build_dir_option("libexecdir"), "vpushd"),
        "SystemdService": "vpushd.service",
    }


def test_first_call_starts_vpushd(bus):
    assert not bus.has_owner()
    assert vt.BUS_NAME in bus.bus_call("ListActivatableNames")

    # an ordinary method call, with auto-start (the default)
    version = bus.conn.call_sync(vt.BUS_NAME, vt.MANAGER_PATH, vt.PROPS_IFACE, "Get",
                                 GLib.Variant("(ss)", (vt.MANAGER_IFACE, "Version")), None,
                                 Gio.DBusCallFlags.NONE, 60000, None).unpack()[0]
    assert version == "0.1.0"
    assert bus.has_owner()
    pid = bus.owner_pid()
    assert os.path.realpath("/proc/%d/exe" % pid) == os.path.realpath(vt.vpushd_path())
    # the bus's environment: configuration and state in the default places
    with open("/proc/%d/environ" % pid, "rb") as f:
        environ = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    assert environ[b"XDG_STATE_HOME"].decode() == bus.path("state")
    assert os.path.isdir(bus.path("state", "vpush"))
    def state():
        return bus.conn.call_sync(vt.BUS_NAME, vt.MANAGER_PATH, vt.PROPS_IFACE, "Get",
                                  GLib.Variant("(ss)", (vt.MANAGER_IFACE, "State")), None,
                                  Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
    # the name comes before the Secret Service has answered ("starting")
    assert state() in ("starting", "ready")
    vt.wait_until(lambda: state() == "ready", 10, what="State ready", pump=False)

    # one instance: a second call goes to the same process
    r = subprocess.run([VPUSHCTL, "--json", "status"], env=bus.env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r
    assert bus.owner_pid() == pid


def test_vpushctl_starts_vpushd(bus):
    r = subprocess.run([VPUSHCTL, "status"], env=bus.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    assert r.stdout.startswith("vpushd 0.1.0\n")
    assert bus.has_owner()


def test_not_activatable():
    b = Bus(None)
    try:
        r = subprocess.run([VPUSHCTL, "status"], env=b.env, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 3, r
        assert "vpushd is not running and can't be started" in r.stderr
    finally:
        b.close()


def test_activation_fails():
    b = Bus(os.path.join(tempfile.gettempdir(), "vpush-no-such-dir", "vpushd"))
    try:
        r = subprocess.run([VPUSHCTL, "status"], env=b.env, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 3, r
        assert "vpushd could not be started" in r.stderr, r
        assert "vpushd's reason is in its log: journalctl --user -u vpushd" in r.stderr, r
    finally:
        b.close()


def test_calls_to_a_vpushd_that_cannot_start_all_get_its_answer(bus):
    """Calls that keep coming while vpushds that cannot start come and go: each is answered
    StartFailed, by the vpushd it reached or by the next one it starts, none left to the
    bus's NoReply of a vpushd that exits holding the name."""
    with open(bus.path("config", "vpush", "vpushd.conf"), "w") as f:
        f.write("[Verify]\nBaseUrl=ftp://x\n")
    seen = collections.Counter()
    end = time.monotonic() + 3

    def caller():
        conn = Gio.DBusConnection.new_for_address_sync(
            bus.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        while time.monotonic() < end:
            try:
                conn.call_sync(vt.BUS_NAME, vt.MANAGER_PATH, vt.PROPS_IFACE, "GetAll",
                               GLib.Variant("(s)", (vt.MANAGER_IFACE,)), None,
                               Gio.DBusCallFlags.NONE, 60000, None)
                seen["answered"] += 1
            except GLib.Error as e:
                seen[Gio.DBusError.get_remote_error(e) or e.message] += 1
        conn.close_sync(None)
    callers = [threading.Thread(target=caller) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert list(seen) == ["io.github.vpush1.Error.StartFailed"], seen


def complete_factor(bus, path):
    """What `vpushctl delete <Tab>` offers, with the installed completion and PATH."""
    script = os.path.join(vt.SOURCE_DIR, "cli", "vpushctl.bash-completion")
    code = ('source "$0"; COMP_WORDS=(vpushctl delete ""); COMP_CWORD=2; _vpushctl; '
            'printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run([shutil.which("bash"), "--norc", "-c", code, script],
                       env=dict(bus.env, PATH=path), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and r.stderr == "", r
    return r.stdout.split()


def test_completion_does_not_start_vpushd(bus, tmp_path):
    """The factor sids a Tab offers come from a running vpushd; a Tab does not start one."""
    system = "/usr/bin:/bin"
    assert complete_factor(bus, os.path.dirname(VPUSHCTL) + ":" + system) == []
    assert not bus.has_owner()

    # once it runs, the completion asks vpushctl (here one that names a factor)
    r = subprocess.run([VPUSHCTL, "status"], env=bus.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r
    stub = tmp_path / "vpushctl"
    sid = "YF" + "0" * 32
    stub.write_text("#!/bin/sh\ncat <<'EOF'\n[\n  {\n    \"sid\" : \"%s\"\n  }\n]\nEOF\n" % sid)
    stub.chmod(0o755)
    assert complete_factor(bus, str(tmp_path) + ":" + system) == [sid]


def test_vpushd_that_cannot_start_answers_its_callers(bus):
    """A vpushd stopped at start by its configuration answers the call that started it
    with StartFailed, at once, rather than leave it to a timeout; it does not stay on the
    bus, and once the configuration is put right the next call starts it."""
    conf = bus.path("config", "vpush", "vpushd.conf")
    with open(conf, "w") as f:
        f.write("[Verify]\nBaseUrl=ftp://x\n")

    def get_all():
        return bus.conn.call_sync(vt.BUS_NAME, vt.MANAGER_PATH, vt.PROPS_IFACE, "GetAll",
                                  GLib.Variant("(s)", (vt.MANAGER_IFACE,)), None,
                                  Gio.DBusCallFlags.NONE, 60000, None).unpack()[0]
    start = time.monotonic()
    with pytest.raises(GLib.Error) as exc:
        get_all()
    took = time.monotonic() - start
    assert Gio.DBusError.get_remote_error(exc.value) == "io.github.vpush1.Error.StartFailed"
    # not the call's timeout: an answer, however slow the machine
    assert took < 30, took
    message = exc.value.message
    assert "configuration or policy is wrong (exit status 78)" in message, message
    assert "journalctl --user -u vpushd" in message, message
    # the details stay in the log
    assert "ftp://" not in message, message
    vt.wait_until(lambda: not bus.has_owner(), 10, what="the name to be free", pump=False)

    r = subprocess.run([VPUSHCTL, "status"], env=bus.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 3, r
    assert "vpushd could not be started" in r.stderr, r
    assert r.stderr.count("journalctl --user -u vpushd") == 1, r
    vt.wait_until(lambda: not bus.has_owner(), 10, what="the name to be free", pump=False)

    with open(conf, "w") as f:
        f.write("[Verify]\nBaseUrl=http://127.0.0.1:9/v2/\n")
    assert get_all()["Version"] == "0.1.0"
    assert bus.has_owner()
