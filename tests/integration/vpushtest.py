"""Shared harness for vpush's integration tests and demo.

A `Session` is a throwaway desktop session: a temporary HOME and XDG directories, a private
`dbus-daemon --session` and a real gnome-keyring-daemon (Secret Service) on it. An
`Emulator` is tests/emulator/vpush-emulator on loopback. A `Daemon` is the built vpushd
with a config pointing at the emulator. A `Client` speaks to vpushd over D-Bus with Gio,
the way an app would (docs: dbus-api.md).

Every wait is bounded; every process started here is stopped by `close()`/`stop()`.
Nothing here touches the user's own bus, keyring or home directory.

Three parts are modules of their own: vpushtest_processes.py (the processes started here,
their logs, the bounded waits), vpushtest_emulator.py (the `Emulator`) and vpushtest_dbus.py
(vpushd's D-Bus names, the `Client` and calls sent without waiting). Their names are
re-exported here: the tests use them all as vpushtest.NAME.
"""

import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid

from gi.repository import GLib

from vpushtest_dbus import (
    BUS_NAME, CHALLENGE_IFACE, CHALLENGES_PATH, ERR_ALREADY_RESPONDED, ERR_AMBIGUOUS,
    ERR_EXPIRED, ERR_INVALID_ARGS, ERR_KEYRING_LOCKED, ERR_LIMITS_EXCEEDED, ERR_NOT_FOUND,
    ERR_PREFIX, FACTOR_IFACE, FACTORS_PATH, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, PROPS_IFACE,
    AsyncCalls, Client, DBusCallError, PendingCall, _connect, _split_gerror, asv,
    assert_healthy, challenge_path, factor_path, one_over_the_cap, over_the_cap, to_variant)
from vpushtest_emulator import EMULATOR, Emulator, HttpResult, parse_rfc3339, rfc3339
from vpushtest_processes import (
    LOGS, PROCS, PYTHON, HarnessError, _spawn, _stop_process, install_reaper, kill_all, log_tail,
    wait_until)

# Every name of the harness, its parts' included: the tests, the demo and bench/ use
# them as vpushtest.NAME, a few private ones too.
__all__ = [
    # this module
    "HERE", "SOURCE_DIR", "BUILD_DIR", "UNIT_IN", "VALGRIND", "SANITIZED", "WRAPPER",
    "VALGRIND_ERROR_RC", "SLOWDOWN", "SECRETS_NAME", "SECRETS_PATH", "SECRET_SCHEMA",
    "APPROVE_TIMEOUT_MS",
    "KEYRING_PASSWORD", "RFC3339_RE", "SID_RE", "unique_identity", "new_transaction_id", "Session",
    "DEFAULT_CONFIG", "POLICY_DIR",
    "vpushd_path", "vpushd_supports", "tool_wrapper", "VALGRIND_REPORT_RE", "SANITIZER_REPORT_RE",
    "tool_reports", "unit_environment", "Daemon", "Enrolled", "enroll", "rename_held",
    "call_from_root",
    # vpushtest_emulator
    "EMULATOR", "HttpResult", "rfc3339", "parse_rfc3339", "Emulator",
    # vpushtest_processes
    "PYTHON", "LOGS", "PROCS", "_spawn", "kill_all", "install_reaper", "HarnessError", "wait_until",
    "log_tail", "_stop_process",
    # vpushtest_dbus
    "BUS_NAME", "MANAGER_PATH", "FACTORS_PATH", "CHALLENGES_PATH", "MANAGER_IFACE", "FACTOR_IFACE",
    "CHALLENGE_IFACE", "OM_IFACE", "PROPS_IFACE", "ERR_PREFIX", "ERR_INVALID_ARGS", "ERR_NOT_FOUND",
    "ERR_AMBIGUOUS", "ERR_EXPIRED", "ERR_ALREADY_RESPONDED", "ERR_KEYRING_LOCKED",
    "ERR_LIMITS_EXCEEDED", "DBusCallError", "one_over_the_cap", "over_the_cap",
    "_split_gerror", "to_variant", "asv", "Client", "PendingCall", "challenge_path", "factor_path",
    "_connect", "AsyncCalls", "assert_healthy", "SUSPEND_CLOCK", "ShiftedClock",
]

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("VPUSH_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("VPUSH_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
UNIT_IN = os.path.join(SOURCE_DIR, "systemd", "vpushd.service.in")
# LD_PRELOAD shim: CLOCK_BOOTTIME ahead by the seconds in the file $VPUSH_TEST_SUSPENDED
# names, the monotonic clock not, as after a suspend; the wall clock ahead by those in
# $VPUSH_TEST_CLOCK_STEP's, as after NTP stepped it (tests/suspend-clock-shim.c)
SUSPEND_CLOCK = os.path.join(BUILD_DIR, "tests", "integration", "suspend-clock.so")


class ShiftedClock:
    """One clock of tests/suspend-clock-shim.c, moved by `variable`'s file
    ("VPUSH_TEST_SUSPENDED": the boot clock, "VPUSH_TEST_CLOCK_STEP": the wall clock):
    env is vpushd's environment for it, set(seconds) moves it (the file is written whole,
    then renamed, so that vpushd never reads half a number)."""
    made = 0

    def __init__(self, session, variable, seconds=0):
        ShiftedClock.made += 1
        self.path = session.path("clock-%d-%d" % (os.getpid(), ShiftedClock.made))
        self.env = {"LD_PRELOAD": SUSPEND_CLOCK, variable: self.path}
        self.set(seconds)

    def set(self, seconds):
        with open(self.path + ".new", "w") as out:
            out.write("%d\n" % seconds)
        os.rename(self.path + ".new", self.path)

# Memory checking of vpushd (tests/run-valgrind, tests/run-sanitizers). VPUSH_VALGRIND=1 runs
# every vpushd under valgrind's memcheck (see tool_wrapper; tests/valgrind.supp), writing
# <vpushd log>.valgrind per run (VPUSH_VALGRIND_ARGS: more valgrind options, e.g.
# --track-origins=yes); VPUSH_WRAPPER="cmd arg…" puts any other command in front of
# vpushd. Daemon.stop() raises HarnessError when the run's valgrind log or vpushd's own log
# shows an error report (a sanitizer's, when it writes to stderr).
VALGRIND = os.environ.get("VPUSH_VALGRIND", "") not in ("", "0")
# vpushd built with ASan and UBSan (tests/run-sanitizers sets their options for the run)
SANITIZED = "ASAN_OPTIONS" in os.environ
WRAPPER = shlex.split(os.environ.get("VPUSH_WRAPPER", ""))
VALGRIND_ERROR_RC = 99
# vpushd starts and stops about ten times slower under valgrind
SLOWDOWN = 8.0 if VALGRIND else 1.0
# timeout-ms of an approval a test expects to succeed (it returns as soon as it does): the
# daemon's default of 3000 ms is too short under valgrind when the keyring comes back and
# vpushd has other keyring work queued before it (crash recovery of earlier tests' keys)
APPROVE_TIMEOUT_MS = int(min(20000, 3000 * SLOWDOWN))

SECRETS_NAME = "org.freedesktop.secrets"
SECRETS_PATH = "/org/freedesktop/secrets"
SECRET_SCHEMA = "io.github.vpush.FactorKey"
KEYRING_PASSWORD = "vpush-test-password"

RFC3339_RE = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
SID_RE = {p: re.compile(r"\A%s[0-9a-f]{32}\Z" % p) for p in ("AC", "VA", "YF", "YC", "YE")}


def unique_identity(prefix="user"):
    # Verify identities: 8-64 characters of [A-Za-z0-9-].
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])


def new_transaction_id(prefix="order"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


# ---------------------------------------------------------------------------------------
# Session: temp HOME + private bus + gnome-keyring


class Session:
    """A private session: temp HOME/XDG dirs, dbus-daemon, gnome-keyring-daemon."""

    def __init__(self, name="vpush", keyring=True, password=KEYRING_PASSWORD):
        self.password = password
        self.tmp = tempfile.mkdtemp(prefix="vpush-%s." % name)
        d = lambda *p: os.path.join(self.tmp, *p)  # noqa: E731
        self.home, self.data, self.config = d("home"), d("data"), d("config")
        self.state, self.cache, self.runtime = d("state"), d("cache"), d("runtime")
        for p in (self.home, self.data, self.config, self.state, self.cache):
            os.makedirs(p)
        os.makedirs(self.runtime, mode=0o700)
        env = dict(os.environ)
        for k in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "GNOME_KEYRING_CONTROL",
                  "SSH_AUTH_SOCK", "STATE_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_PID",
                  "WATCHDOG_USEC", "DBUS_STARTER_ADDRESS", "DBUS_STARTER_BUS_TYPE"):
            env.pop(k, None)
        env.update(HOME=self.home, XDG_DATA_HOME=self.data, XDG_CONFIG_HOME=self.config,
                   XDG_STATE_HOME=self.state, XDG_CACHE_HOME=self.cache,
                   XDG_RUNTIME_DIR=self.runtime, NO_AT_BRIDGE="1", GSETTINGS_BACKEND="memory")
        # the machine's own route changes would wake vpushd (reconnect its push streams) in
        # the middle of a test: GLib's monitor that hears none, but where a test sets one
        env.setdefault("GIO_USE_NETWORK_MONITOR", "base")
        self.env = env
        self.bus = None
        self.keyring = None
        self.address = None
        self.client = None
        try:
            self._start_bus()
            if keyring:
                self.start_keyring(unlock=True)
        except BaseException:
            self.close()
            raise

    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def _start_bus(self, timeout=10.0):
        log = self.path("dbus-daemon.log")
        LOGS.append(("dbus-daemon", log))
        sock = self.path("bus")
        self.bus = _spawn(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1",
             "--address=unix:path=" + sock],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(log, "ab"),
            env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.bus.poll() is not None:
                raise HarnessError("dbus-daemon did not start:\n" + log_tail(log))
            r, _, _ = select.select([self.bus.stdout], [], [], left)
            if r:
                chunk = os.read(self.bus.stdout.fileno(), 4096)
                if not chunk:
                    raise HarnessError("dbus-daemon closed stdout:\n" + log_tail(log))
                line += chunk
        self.address = line.decode().strip()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        self.client = Client(self.address)

    # -- keyring
    def start_keyring(self, unlock=True, timeout=10.0):
        if self.keyring is not None and self.keyring.poll() is None:
            raise HarnessError("keyring already running")
        log = self.path("gnome-keyring.log")
        LOGS.append(("gnome-keyring", log))
        args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if unlock:
            args.append("--unlock")
        self.keyring = _spawn(args, stdin=subprocess.PIPE, stdout=open(log, "ab"),
                                        stderr=subprocess.STDOUT, env=self.env,
                                        start_new_session=True)
        try:
            if unlock:
                self.keyring.stdin.write(self.password.encode())
            self.keyring.stdin.close()
        except BrokenPipeError:
            pass

        def up():
            if self.keyring.poll() is not None:
                raise HarnessError("gnome-keyring-daemon exited %s:\n%s"
                                   % (self.keyring.returncode, log_tail(log)))
            return self.client.name_has_owner(SECRETS_NAME) and \
                self.client.name_owner_pid(SECRETS_NAME) == self.keyring.pid
        wait_until(up, timeout, what="gnome-keyring-daemon on the bus", pump=False)
        if unlock:
            wait_until(lambda: self.default_collection() and not self.keyring_locked(), timeout,
                       what="an unlocked login collection", pump=False)

    def stop_keyring(self, timeout=10.0):
        rc = _stop_process(self.keyring, timeout)
        self.keyring = None
        wait_until(lambda: not self.client.name_has_owner(SECRETS_NAME), timeout,
                   what="org.freedesktop.secrets to leave the bus", pump=False)
        return rc

    def restart_keyring(self, unlock=True):
        self.stop_keyring()
        self.start_keyring(unlock=unlock)

    def _secrets_call(self, path, iface, method, args=None):
        return self.client.call(path, iface, method, args, bus_name=SECRETS_NAME)

    def default_collection(self):
        path = self._secrets_call(SECRETS_PATH, "org.freedesktop.Secret.Service", "ReadAlias",
                                  GLib.Variant("(s)", ("default",)))[0]
        return None if path == "/" else path

    def keyring_locked(self):
        coll = self.default_collection()
        if coll is None:
            raise HarnessError("the keyring has no default collection")
        return self.client.get_property(coll, "org.freedesktop.Secret.Collection", "Locked",
                                        bus_name=SECRETS_NAME)

    def lock_keyring(self):
        """Locks the default (login) collection through the Secret Service, as a screen
        locker or `Lock` in Seahorse does."""
        coll = self.default_collection()
        self._secrets_call(SECRETS_PATH, "org.freedesktop.Secret.Service", "Lock",
                           GLib.Variant("(ao)", ([coll],)))
        wait_until(self.keyring_locked, 5, what="the collection to be locked", pump=False)

    def unlock_keyring(self):
        """Unlocks the login collection with its password through gnome-keyring's internal
        interface (no prompt needed); falls back to restarting the daemon with --unlock."""
        coll = self.default_collection()
        try:
            _, session = self._secrets_call(
                SECRETS_PATH, "org.freedesktop.Secret.Service", "OpenSession",
                GLib.Variant("(sv)", ("plain", GLib.Variant("s", ""))))
            self._secrets_call(
                SECRETS_PATH, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
                "UnlockWithMasterPassword",
                GLib.Variant("(o(oayays))", (coll, (session, b"", self.password.encode(),
                                                    "text/plain"))))
            self._secrets_call(session, "org.freedesktop.Secret.Session", "Close")
        except DBusCallError:
            self.restart_keyring(unlock=True)
        wait_until(lambda: not self.keyring_locked(), 5, what="the collection to be unlocked",
                   pump=False)

    def keyring_items(self, attributes):
        """Items whose attributes match: list of {path, locked, label, attributes}. Works
        while locked too (labels may then be empty)."""
        unlocked, locked = self._secrets_call(
            SECRETS_PATH, "org.freedesktop.Secret.Service", "SearchItems",
            GLib.Variant("(a{ss})", (attributes,)))
        items = []
        for path, is_locked in [(p, False) for p in unlocked] + [(p, True) for p in locked]:
            try:
                props = self.client.get_all(path, "org.freedesktop.Secret.Item",
                                            bus_name=SECRETS_NAME)
            except DBusCallError as e:
                # deleted since the search (by vpushd, which may be doing so right now)
                if e.name in ("org.freedesktop.DBus.Error.UnknownMethod",
                              "org.freedesktop.DBus.Error.UnknownObject"):
                    continue
                raise
            items.append({"path": path, "locked": is_locked, "label": props.get("Label"),
                          "attributes": dict(props.get("Attributes", {}))})
        return items

    def secret_tool_search(self, *attrs, show_secret=False):
        """`secret-tool search --all ATTR VALUE…` output, without the `secret = ` lines
        unless show_secret."""
        # the secret is binary PKCS#8: never decode it strictly
        r = subprocess.run(["secret-tool", "search", "--all"] + list(attrs), env=self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        out = (r.stdout + r.stderr).decode("utf-8", errors="replace")
        if not show_secret:
            # a binary secret spans lines: drop everything up to the next field
            kept, in_secret = [], False
            for line in out.splitlines():
                if line.startswith("secret = "):
                    in_secret = True
                elif in_secret and re.match(r"^(created|modified|schema|label|attribute\.\S+) = ",
                                            line):
                    in_secret = False
                if not in_secret:
                    kept.append(line)
            out = "\n".join(kept)
        return out.strip()

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None
        _stop_process(self.keyring)
        self.keyring = None
        _stop_process(self.bus)
        if self.bus is not None and self.bus.stdout:
            self.bus.stdout.close()
        self.bus = None
        if not os.environ.get("VPUSH_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# vpushd


DEFAULT_CONFIG = {
    "Verify": {"TimeoutMs": "5000"},
    "Poll": {"IntervalSeconds": "2", "IntervalWithPushSeconds": "2"},
    "Approval": {"TransactionIdKey": "transaction_id", "DefaultTimeoutMs": "3000"},
    # under valgrind four slowed vpushds load the machine, and the keyring answers later
    "Keyring": {"TimeoutMs": "15000" if VALGRIND else "5000"},
}


POLICY_DIR = os.path.join(HERE, "policy-allow-all")


def vpushd_path():
    return os.path.join(BUILD_DIR, "daemon", "vpushd")


_help_cache = {}


def vpushd_supports(option):
    """Whether `vpushd --help` lists option (e.g. --policy-dir)."""
    exe = vpushd_path()
    if exe not in _help_cache:
        try:
            r = subprocess.run([exe, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=10)
            _help_cache[exe] = r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired):
            _help_cache[exe] = ""
    return option in _help_cache[exe]


def _glib_valgrind_supp():
    for d in GLib.get_system_data_dirs():
        path = os.path.join(d, "glib-2.0", "valgrind", "glib.supp")
        if os.path.exists(path):
            return path
    return None


def tool_wrapper(log, env):
    """(command words put before vpushd, the tool's log file or None); sets env for it."""
    if not VALGRIND:
        return list(WRAPPER), None
    env["G_SLICE"] = "always-malloc"
    env["G_DEBUG"] = env.get("G_DEBUG", "") + ",gc-friendly"
    # valgrind 3.19 lacks the pidfd syscalls: tests/valgrind-pidfd-shim.c (built by run-valgrind)
    if os.environ.get("VPUSH_VALGRIND_PRELOAD"):
        env["LD_PRELOAD"] = os.environ["VPUSH_VALGRIND_PRELOAD"]
    tool_log = log + ".valgrind"
    args = ["valgrind", "--error-exitcode=%d" % VALGRIND_ERROR_RC, "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--num-callers=40", "--log-file=" + tool_log,
            "--suppressions=" + os.path.join(SOURCE_DIR, "tests", "valgrind.supp")]
    glib_supp = _glib_valgrind_supp()
    if glib_supp:
        args.append("--suppressions=" + glib_supp)
    args += shlex.split(os.environ.get("VPUSH_VALGRIND_ARGS", ""))
    return args + WRAPPER, tool_log


# An error report of valgrind's memcheck (also when killed before its summary) or of a sanitizer
VALGRIND_REPORT_RE = re.compile(
    r"^==\d+== (ERROR SUMMARY: [1-9]|Invalid |Conditional jump|Use of uninitialised|"
    r"Syscall param|Mismatched free|Source and destination overlap|Argument .* of function)",
    re.M)
SANITIZER_REPORT_RE = re.compile(r"^(==\d+==ERROR: \w+Sanitizer|.*: runtime error: )", re.M)


def tool_reports(pid, rc, log, tool_log):
    """The error reports valgrind or a sanitizer wrote about one vpushd run, or ''."""
    found = []
    for path, pattern in ((log, SANITIZER_REPORT_RE), (tool_log, VALGRIND_REPORT_RE)):
        if not path or not os.path.exists(path):
            continue
        with open(path, errors="replace") as f:
            text = f.read()
        hit = pattern.search(text)
        if hit or (path == tool_log and rc == VALGRIND_ERROR_RC):
            # valgrind's log is all report; in vpushd's own log the report starts at the hit
            start = hit.start() if hit and path != tool_log else 0
            found.append("--- %s ---\n%s" % (os.path.basename(path), text[start:start + 30000]))
    return "\n".join(found)


def unit_environment():
    """The Environment= settings of the systemd unit: vpushd runs here as it is deployed."""
    env = {}
    with open(UNIT_IN) as f:
        for line in f:
            if line.startswith("Environment="):
                for word in shlex.split(line[len("Environment="):]):
                    key, _, value = word.partition("=")
                    env[key] = value
    return env


class Daemon:
    """The built vpushd on a Session's bus, configured for an Emulator."""

    counter = 0

    def __init__(self, session, emulator, state_dir=None, config=None, extra_args=(), env=None):
        """env: more environment for vpushd; an LD_PRELOAD is put before the harness's."""
        Daemon.counter += 1
        self.session = session
        self.emulator = emulator
        self.n = Daemon.counter
        self.state_dir = state_dir or session.path("vpushd-state-%d" % self.n)
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        self.config_path = session.path("vpushd-%d.conf" % self.n)
        cfg = {g: dict(v) for g, v in DEFAULT_CONFIG.items()}
        cfg.setdefault("Verify", {})["BaseUrl"] = emulator.base_url
        for group, keys in (config or {}).items():
            cfg.setdefault(group, {}).update(keys)
        with open(self.config_path, "w") as f:
            for group, keys in cfg.items():
                f.write("[%s]\n" % group)
                for k, v in keys.items():
                    f.write("%s=%s\n" % (k, v))
                f.write("\n")
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.proc = None
        self.log = None
        self.tool_log = None
        self.starts = 0

    def start(self, wait_states=("ready",), timeout=15.0):
        """Starts vpushd, waits (bounded) for io.github.vpush and for Manager.State to be
        one of wait_states (None: don't wait for a state)."""
        exe = vpushd_path()
        if not os.access(exe, os.X_OK):
            raise HarnessError("vpushd is not built: %s" % exe)
        self.starts += 1
        self.log = self.session.path("vpushd-%d.%d.log" % (self.n, self.starts))
        LOGS.append(("vpushd", self.log))
        env = dict(self.session.env, **unit_environment())
        env.setdefault("G_DEBUG", "fatal-criticals")
        env["G_MESSAGES_DEBUG"] = "all"
        wrapper, self.tool_log = tool_wrapper(self.log, env)
        for key, value in self.extra_env.items():
            if key == "LD_PRELOAD":
                value = ":".join(v for v in (value, env.get(key)) if v)
                # ASan wants its runtime first; a test's shim needs nothing of it
                if env.get("ASAN_OPTIONS"):
                    env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
            env[key] = value
        timeout *= SLOWDOWN
        args = wrapper + [exe, "--config", self.config_path, "--state-dir", self.state_dir,
                          "--verbose"]
        # The test policy allows every action to every caller; passed when vpushd has the
        # (test-only) option and the test gives no policy directory of its own.
        if (os.path.isdir(POLICY_DIR) and "--policy-dir" not in self.extra_args
                and vpushd_supports("--policy-dir")):
            args += ["--policy-dir", POLICY_DIR]
        self.proc = _spawn(
            args + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            env=env, start_new_session=True)
        client = self.session.client

        def check_running(what):
            if self.proc.poll() is not None:
                raise HarnessError("vpushd exited with %s %s:\n%s"
                                   % (self.proc.returncode, what, log_tail(self.log)))

        def owned():
            check_running("before owning " + BUS_NAME)
            return client.name_has_owner(BUS_NAME)

        def in_state():
            # a vpushd that cannot start owns the name for a moment, to answer its callers
            check_running("after owning " + BUS_NAME)
            try:
                seen[:] = [client.manager_property("State")]
            except DBusCallError:
                return False
            return seen[0] in wait_states
        seen = []
        try:
            wait_until(owned, timeout, what="vpushd to own " + BUS_NAME)
            if isinstance(wait_states, str):
                wait_states = (wait_states,)
            if wait_states:
                try:
                    wait_until(in_state, timeout, what="Manager.State in %s" % (wait_states,))
                except HarnessError as e:
                    raise HarnessError("%s (last seen: %s)" % (e, seen)) from None
        except HarnessError as e:
            raise HarnessError("%s\n--- vpushd log ---\n%s" % (e, log_tail(self.log))) from None
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit code (and waits for the bus name to go)."""
        if self.proc is None:
            return None
        pid = self.proc.pid
        rc = _stop_process(self.proc, timeout * SLOWDOWN)
        self.proc = None
        try:
            wait_until(lambda: not self.session.client.name_has_owner(BUS_NAME), 5 * SLOWDOWN,
                       what=BUS_NAME + " to leave the bus")
        except (HarnessError, DBusCallError):
            pass
        report = tool_reports(pid, rc, self.log, self.tool_log)
        if report:
            raise HarnessError("vpushd (pid %d, exit %s) has memory error reports:\n%s"
                               % (pid, rc, report))
        return rc

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def log_text(self):
        return log_tail(self.log, 100000) if self.log else ""


def daemon_failing_syncs(session, emulator, path_part, count=1, state_dir=None):
    """A started vpushd whose first count syncs of paths ending with path_part fail with EIO
    (after the sync itself, as a disk that lost the write: tests/fsync-gate-shim.c)."""
    shim = os.path.join(BUILD_DIR, "tests", "integration", "fsync-gate.so")
    daemon = Daemon(session, emulator, state_dir=state_dir, env={
        "LD_PRELOAD": shim, "VPUSH_TEST_FSYNC_FAIL": path_part,
        "VPUSH_TEST_FSYNC_FAIL_COUNT": str(count)})
    return daemon.start()


# A caller in a mount namespace of its own, chrooted to a root the test made (one holding a
# .flatpak-info, say), makes one call and prints the D-Bus error name it gets, or "ok". It
# connects before it changes its root.
_CALL_FROM_ROOT = r"""
import ctypes, os, sys
from gi.repository import Gio, GLib
address, root, path, iface, method, args, timeout_ms = sys.argv[1:8]
conn = Gio.DBusConnection.new_for_address_sync(
    address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
    | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
if ctypes.CDLL(None, use_errno=True).unshare(0x00020000) != 0:  # CLONE_NEWNS
    sys.exit("unshare: " + os.strerror(ctypes.get_errno()))
os.chroot(root)
try:
    conn.call_sync("io.github.vpush", path, iface, method,
                   GLib.Variant.parse(None, args, None, None) if args else None,
                   None, Gio.DBusCallFlags.NONE, int(timeout_ms), None)
    print("ok")
except GLib.Error as e:
    print(Gio.DBusError.get_remote_error(e) or e.message)
"""


def call_from_root(session, root, path, iface, method, args="", timeout_ms=20000):
    """"ok", or the D-Bus error name, of a call made from a mount namespace of its own
    chrooted to root (args: GVariant text). Needs root; skips the test where no mount
    namespace can be made (no CAP_SYS_ADMIN, as in a container)."""
    import pytest

    out = subprocess.run([PYTHON, "-c", _CALL_FROM_ROOT, session.address, root, path, iface,
                          method, args, str(timeout_ms)], capture_output=True, text=True,
                         timeout=timeout_ms / 1000 + 30, env=session.env)
    if out.returncode != 0 and out.stderr.startswith("unshare: "):
        pytest.skip("no mount namespace for the caller: " + out.stderr.strip())
    if out.returncode != 0:
        raise HarnessError("the call from %s failed: %s" % (root, out.stderr))
    return out.stdout.strip()


# ---------------------------------------------------------------------------------------
# Flows used by many tests


class Enrolled:
    def __init__(self, path, sid, identity, friendly_name):
        self.path, self.sid, self.identity, self.friendly_name = path, sid, identity, \
            friendly_name


def enroll(client, emulator, identity=None, friendly_name=None, **extra):
    """Backend token + EnrollFactor; returns an Enrolled."""
    identity = identity or unique_identity()
    friendly_name = friendly_name or "Test desktop %s" % identity[-6:]
    token = emulator.access_token(identity)["token"]
    req = {"service-sid": emulator.service_sid, "identity": identity, "access-token": token,
           "friendly-name": friendly_name}
    req.update(extra)
    path = client.enroll(req)
    sid = client.get_property(path, FACTOR_IFACE, "Sid")
    return Enrolled(path, sid, identity, friendly_name)


def rename_held(client, emulator, factor, name):
    """A Factor.Update renaming factor to name that the API takes and whose reply the
    emulator holds until emulator.clear_faults(): the PendingCall, once held."""
    emulator.fault(r"/Factors/%s\Z" % factor.sid, action="delay", seconds=600, method="POST",
                   when="after")
    call = PendingCall(client, "Update", asv({"friendly-name": name}), factor.path,
                       FACTOR_IFACE)
    wait_until(lambda: emulator.faults_held() >= 1, 10 * SLOWDOWN, what="the rename held")
    return call
