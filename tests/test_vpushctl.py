"""vpushctl against the real vpushd (tests/integration/vpushtest.py: private bus, real
gnome-keyring, the Verify emulator): every command, its text and --json output, and its
error paths with the exit codes vpushctl(1) documents."""

import json
import os
import select
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
from gi.repository import Gio, GLib

import vpushtest as vt

VPUSHCTL = os.path.join(vt.BUILD_DIR, "cli", "vpushctl")

OK, FAILED, USAGE, UNREACHABLE, NOT_FOUND, AMBIGUOUS, EXPIRED, ALREADY, DENIED, LOCKED, \
    NETWORK, BUSY, OUTPUT = range(13)


vt.install_reaper()


@pytest.fixture(scope="module")
def session():
    s = vt.Session(name="ctl")
    yield s
    s.close()


@pytest.fixture(scope="module")
def emulator(session):
    e = vt.Emulator(session.tmp, env=session.env)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def module_daemon(session, emulator):
    """One vpushd for the module; tests use their own identities, so they don't meet."""
    d = vt.Daemon(session, emulator).start()
    yield d
    d.stop()


@pytest.fixture
def daemon(module_daemon):
    """The module's vpushd, started again should a test have left it stopped."""
    if not module_daemon.running():
        module_daemon.start()
    return module_daemon


@pytest.fixture
def client(session, daemon):
    return session.client


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "<rc %d\nstdout: %s\nstderr: %s>" % (self.rc, self.out, self.err)


def ctl(session, *args, stdin=None, env=None, timeout=60):
    r = subprocess.run([VPUSHCTL] + list(args), env=env or session.env, input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    return Result(r)


def ok(r):
    assert r.rc == OK, r
    return r


def fails(r, code, words=None):
    assert r.rc == code, r
    assert r.err.startswith("vpushctl"), r
    if words:
        assert words in r.err, r
    return r


def json_error(r, code, name):
    err = r.json()["error"]
    assert err["exit_code"] == code and err["name"] == name, r
    assert err["message"], r
    return err


def enroll(session, emulator, name=None, *extra):
    identity = vt.unique_identity("ctl")
    token = emulator.access_token(identity)["token"]
    r = ok(ctl(session, "--json", "enroll", "--service-sid", emulator.service_sid,
               "--identity", identity, "--token", "-", "--name", name or identity, *extra,
               stdin=token + "\n"))
    factor = r.json()
    assert factor["identity"] == identity
    return factor


def challenge(emulator, factor, txid=None, **kw):
    hidden = {"transaction_id": txid} if txid else None
    return emulator.create_challenge(factor["identity"], factor["sid"], hidden=hidden, **kw)


# --- usage -------------------------------------------------------------------------------

def test_usage_errors(session):
    assert ctl(session).rc == USAGE
    fails(ctl(session, "frobnicate"), USAGE, "unknown command")
    fails(ctl(session, "--frobnicate"), USAGE)
    fails(ctl(session, "status", "extra"), USAGE, "unexpected argument 1 after “status”")
    # an argument's own backslash is not taken for an escape (vpushctl(1))
    fails(ctl(session, "ex\\x1btra"), USAGE, "unknown command “ex\\\\x1btra”")
    fails(ctl(session, "--frob\\x1b"), USAGE, "--frob\\\\x1b")
    # nor can an argument quoted in an error forge a line of its own (vpushctl(1))
    for args, words in ((["status", "--ex\ntra"], "unknown option --ex\\x0atra"),
                        (["bo\ngus"], "unknown command “bo\\x0agus”")):
        r = fails(ctl(session, *args), USAGE, words)
        assert len(r.err.splitlines()) == 2, r
    fails(ctl(session, "approve"), USAGE, "exactly one of --transaction-id and --challenge-sid")
    fails(ctl(session, "approve", "-t", "x", "-c", "YC" + "0" * 32), USAGE)
    fails(ctl(session, "approve", "-t", "x", "--timeout", "soon"), USAGE)
    for ms in ("-1", "-2"):
        fails(ctl(session, "approve", "-t", "x", "--timeout", ms), USAGE,
              "--timeout can't be negative")
    fails(ctl(session, "enroll", "--name", "x"), USAGE,
          "missing --service-sid, --identity, --token")
    fails(ctl(session, "enroll", "https://example.com/enroll?token=x"), USAGE,
          "not an enrollment URI")
    # the access token of a URI it can't take is not repeated (nor a token given as the URI)
    for uri in ("vpush://enrol?token=SeCrEtToKeN&serviceSid=s&identity=i&name=n",
                "vpush://enroll?token=SeCrEtToKeN&serviceSid=%zz",
                "vpush://enroll:99999999/?token=SeCrEtToKeN",
                "SeCrEtToKeN"):
        r = fails(ctl(session, "enroll", uri), USAGE, "not an enrollment URI")
        assert "SeCrEtToKeN" not in r.err + r.out, r
    fails(ctl(session, "enroll", "--metadata", "novalue", "vpush://enroll?token=t&serviceSid=s"
              "&identity=i&name=n"), USAGE, "KEY=VALUE")
    # which value was meant can't be known
    fails(ctl(session, "enroll", "-m", "a=1", "-m", "b=2", "-m", "a=3",
              "vpush://enroll?token=t&serviceSid=s&identity=i&name=n"), USAGE,
          "--metadata gives the key “a” twice")
    # given, whatever the value (--limit's default too)
    for args in (["--limit", "5"], ["--limit", "50"], ["--limit=50"], ["--page-size", "0"],
                 ["--page-size", "-1"]):
        fails(ctl(session, "challenges", *args), USAGE, "need --history")
    fails(ctl(session, "approve", "-t", "x", "--timeout", "-2147483648"), USAGE,
          "--timeout can't be negative")
    for size in ("0", "1001", "-3"):
        fails(ctl(session, "challenges", "--history", "--page-size", size), USAGE,
              "--page-size must be 1 to 1000, not %s" % size)
    fails(ctl(session, "challenges", "--history", "--limit", "-1"), USAGE,
          "--limit can't be negative")
    fails(ctl(session, "delete"), USAGE, "which factor")
    fails(ctl(session, "update", "x"), USAGE, "nothing to change")
    r = fails(ctl(session, "--json", "approve"), USAGE)
    assert r.json()["error"] == {"name": None, "exit_code": USAGE,
                                 "message": "give exactly one of --transaction-id and "
                                            "--challenge-sid"}
    # errors before any command runs are JSON too with --json (vpushctl(1))
    for args, message in ((["-j", "bogus"], "unknown command “bogus”"),
                          (["--json"], "which command?"),
                          (["-j", "--frob", "x"], "unknown option --frob (argument 2)")):
        r = fails(ctl(session, *args), USAGE)
        assert r.json()["error"] == {"name": None, "exit_code": USAGE, "message": message}, r
    # -j may follow the command: its options failing to parse is JSON too
    for args, message in ((["approve", "--json", "--frob"],
                           "unknown option --frob (argument 2 after “approve”)"),
                          (["approve", "-t", "x", "--timeout", "soon", "-j"],
                           "--timeout takes a whole number (argument 3 after “approve”)"),
                          (["challenges", "--history", "--limit", "many", "--json"],
                           "--limit takes a whole number (argument 2 after “challenges”)"),
                          (["bogus", "--json"], "unknown command “bogus”")):
        r = fails(ctl(session, *args), USAGE)
        assert r.json()["error"] == {"name": None, "exit_code": USAGE, "message": message}, r
    # after "--" it is an argument, not the option
    r = fails(ctl(session, "approve", "--frob", "--", "--json"), USAGE, "--frob")
    assert r.out == "", r
    # monitor's error is one line, as its events are
    r = fails(ctl(session, "-j", "monitor", "extra"), USAGE)
    assert len(r.out.splitlines()) == 1 and r.json()["error"]["exit_code"] == USAGE, r


def test_version_and_help(session):
    r = ok(ctl(session, "--version"))
    assert r.out.strip() == "vpushctl 0.1.0"
    r = ok(ctl(session, "help"))
    for command in ("status", "enroll", "factors", "list", "challenges", "approve", "deny",
                    "verify", "update", "delete", "refresh", "monitor", "help"):
        assert "  %s " % command in r.out
    assert ok(ctl(session, "--help")).out == r.out
    r = ok(ctl(session, "approve", "--help"))
    assert "vpushctl approve [OPTION" in r.out and "--transaction-id" in r.out
    # an omitted --timeout is vpushd's [Approval] DefaultTimeoutMs, not a fixed number
    assert "DefaultTimeoutMs" in r.out and "default 10000" not in r.out
    # "help COMMAND" is "COMMAND --help" (vpushctl(1))
    for command in ("approve", "enroll", "challenges", "monitor"):
        assert ok(ctl(session, "help", command)).out == ok(ctl(session, command, "--help")).out
    assert ok(ctl(session, "help", "help")).out == ok(ctl(session, "--help")).out
    # -h and --help work after every command, help included (vpushctl(1))
    for flag in ("--help", "-h"):
        assert ok(ctl(session, "help", flag)).out == ok(ctl(session, "--help")).out
    fails(ctl(session, "help", "frobnicate"), USAGE, "unknown command “frobnicate”")
    fails(ctl(session, "help", "approve", "extra"), USAGE, "unexpected argument 2 after “help”")
    # help takes -j, --json, -h and --help as every command does (vpushctl(1))
    top = ok(ctl(session, "--help")).out
    for args in (["help", "-j"], ["help", "--json"], ["-j", "help"], ["help", "help", "-j"]):
        assert ok(ctl(session, *args)).out == top, args
    approve = ok(ctl(session, "approve", "--help")).out
    for args in (["help", "approve", "--help"], ["help", "approve", "-j"],
                 ["help", "-h", "approve"]):
        assert ok(ctl(session, *args)).out == approve, args
    for args, message in ((["help", "bogus", "-j"], "unknown command “bogus”"),
                          (["help", "--frob", "--json"],
                           "unknown option --frob (argument 1 after “help”)")):
        r = fails(ctl(session, *args), USAGE, message)
        assert r.json()["error"] == {"name": None, "exit_code": USAGE, "message": message}, r


# an access token as an integrator's script could misplace it
SECRET = "eyJSeCrEtToKeN"
SECRET_URI = "vpush://enroll?token=%s&serviceSid=VA1" % SECRET


def hides_secret(r, code):
    assert r.rc == code, r
    assert SECRET not in r.out + r.err, r
    return r


def test_usage_errors_do_not_repeat_a_token(session):
    """An error names an option by its name and place and an unexpected argument by its
    place, never the text that may hold an access token (vpushctl(1)); in words and in
    JSON alike."""
    uri = "vpush://enroll?token=t&serviceSid=s&identity=i&name=n"
    for args, message in (
            (["enroll", "--access-token=" + SECRET, "-s", "VA1", "-i", "alice", "-n", "x"],
             "unknown option --access-token (argument 1 after “enroll”)"),
            (["--tokn=" + SECRET, "status"], "unknown option --tokn (argument 1)"),
            (["enroll", "-X" + SECRET], "unknown option -X (argument 1 after “enroll”)"),
            (["enroll", "-t" + SECRET],
             "-t takes a value: give it on its own, as -t VALUE (argument 1 after “enroll”)"),
            (["enroll", "--no-verify=" + SECRET],
             "--no-verify takes no value (argument 1 after “enroll”)"),
            (["approve", "--timeout", SECRET],
             "--timeout takes a whole number (argument 1 after “approve”)"),
            (["enroll", "vpush://enroll?token=A&serviceSid=x", SECRET_URI],
             "unexpected argument 2 after “enroll”"),
            (["status", SECRET_URI], "unexpected argument 1 after “status”"),
            (["approve", "-t", "x", SECRET], "unexpected argument 3 after “approve”"),
            (["monitor", SECRET], "unexpected argument 1 after “monitor”"),
            (["delete", "YF1", SECRET], "unexpected argument 2 after “delete”"),
            (["challenges", "YF1", SECRET], "unexpected argument 2 after “challenges”"),
            (["help", "approve", SECRET], "unexpected argument 2 after “help”"),
            ([SECRET_URI], "unknown command (argument 1): an enrollment URI goes after “enroll”"),
            ([SECRET], "unknown command (argument 1)"),
            (["help", SECRET], "unknown command (argument 1 after “help”)"),
            (["enroll", "-m", SECRET, uri], "--metadata number 1 is not KEY=VALUE")):
        r = hides_secret(ctl(session, *args), USAGE)
        assert message in r.err, (args, r)
        r = hides_secret(ctl(session, *args, "-j"), USAGE)
        assert r.json()["error"]["message"] == message, (args, r)


@pytest.mark.skipif(vt.SANITIZED, reason="the shim's free() would stand in front of "
                    "AddressSanitizer's, which must come first")
def test_token_wiped_before_it_is_freed(session):
    """vpushctl wipes its copies of the access token before their memory is given back
    (tests/wipe-check-shim.c reports a freed block that still holds it); a usage error
    after the token is read frees them."""
    env = dict(session.env, LD_PRELOAD=os.path.join(vt.BUILD_DIR, "tests", "integration",
                                                    "wipe-check.so"),
               VPUSH_TEST_SECRET=SECRET)
    for args, stdin in ((["--token", "-"], SECRET + "\n"), (["--token", SECRET], None),
                        (["--token=" + SECRET], None)):
        r = ctl(session, "enroll", "-s", "VA" + "0" * 32, "-i", "alice-1234", *args,
                stdin=stdin, env=env)
        assert r.rc == USAGE and "missing --name" in r.err, r
        assert "wipe-check: loaded" in r.err and "freed unwiped" not in r.err, r


# --- not reachable -----------------------------------------------------------------------

def test_no_session_bus(session):
    env = dict(session.env, DBUS_SESSION_BUS_ADDRESS="unix:path=" + session.path("no-bus"))
    fails(ctl(session, "status", env=env), UNREACHABLE, "vpushd is not reachable: no session bus")
    r = fails(ctl(session, "--json", "factors", env=env), UNREACHABLE)
    assert r.json()["error"]["exit_code"] == UNREACHABLE
    # no address at all: where one was looked for
    runtime = session.path("runtime-without-bus")
    os.makedirs(runtime, exist_ok=True)
    # nor an X11 autolaunch
    env = {k: v for k, v in session.env.items()
           if k not in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY")}
    env["XDG_RUNTIME_DIR"] = runtime
    for command in ("status", "monitor"):
        fails(ctl(session, command, env=env), UNREACHABLE,
              "(DBUS_SESSION_BUS_ADDRESS is not set, and there is no bus at "
              "$XDG_RUNTIME_DIR/bus)")


def test_daemon_not_running(session, emulator):
    # nothing on the bus and no activation file in this session's service directories
    assert not session.client.name_has_owner(vt.BUS_NAME)
    fails(ctl(session, "status"), UNREACHABLE, "vpushd is not running and can't be started")
    fails(ctl(session, "approve", "-t", "x"), UNREACHABLE)


# --- status, enroll, factors --------------------------------------------------------------

def test_status(session, daemon):
    r = ok(ctl(session, "status"))
    assert r.out.startswith("vpushd 0.1.0\n")
    assert "State:              ready" in r.out and "Push:               disabled" in r.out
    status = ok(ctl(session, "status", "--json")).json()
    assert status["version"] == "0.1.0" and status["state"] == "ready"
    assert status["push_state"] == "disabled"
    assert isinstance(status["factors"], int) and isinstance(status["pending_challenges"], int)


def test_bus_from_xdg_runtime_dir(session, daemon, tmp_path):
    # without DBUS_SESSION_BUS_ADDRESS, the bus at $XDG_RUNTIME_DIR/bus (vpushctl(1))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    (runtime / "bus").symlink_to(session.path("bus"))
    env = {k: v for k, v in session.env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    assert ok(ctl(session, "--json", "status", env=env)).json()["state"] == "ready"


def test_enroll_from_options(session, emulator, daemon, client):
    identity = vt.unique_identity("ctl")
    token = emulator.access_token(identity)["token"]
    r = ok(ctl(session, "enroll", "-s", emulator.service_sid, "-i", identity, "-t", token,
               "-n", "Office PC", "-m", "os=linux", "--metadata", "seat=seat0"))
    assert r.out.startswith("Enrolled factor YF") and "“Office PC”, verified" in r.out
    sid = r.out.split()[2]
    props = client.factor_props(vt.factor_path(sid))
    assert props["Identity"] == identity and props["Status"] == "verified"
    remote = emulator.fetch_factor(identity, sid).json()
    assert remote["metadata"] == {"os": "linux", "seat": "seat0"}


def test_enroll_from_uri(session, emulator, daemon):
    identity = vt.unique_identity("ctl")
    token = emulator.access_token(identity)["token"]
    query = urllib.parse.urlencode({"token": token, "serviceSid": emulator.service_sid,
                                    "identity": identity, "name": "Kiosk Ü 1 & 2",
                                    "future": "x", "\\x1b[2J": "y"})
    r = ok(ctl(session, "--json", "enroll", "vpush://enroll?" + query))
    factor = r.json()
    assert factor["friendly_name"] == "Kiosk Ü 1 & 2" and factor["status"] == "verified"
    assert factor["identity"] == identity and factor["service_sid"] == emulator.service_sid
    assert vt.SID_RE["YF"].match(factor["sid"])
    assert factor["object_path"] == vt.factor_path(factor["sid"])
    assert "ignoring the unknown URI parameter “future”" in r.err
    # the service's backslash is not taken for an escape (vpushctl(1))
    assert "ignoring the unknown URI parameter “\\\\x1b[2J”" in r.err, r.err

    # options override the URI; --no-verify, then verify
    identity = vt.unique_identity("ctl")
    token = emulator.access_token(identity)["token"]
    uri = "vpush://enroll?token=%s&serviceSid=%s&identity=%s&name=From%%20URI" % (
        token, emulator.service_sid, identity)
    factor = ok(ctl(session, "--json", "enroll", uri, "--name", "From option",
                    "--no-verify")).json()
    assert factor["friendly_name"] == "From option" and factor["status"] == "unverified"
    r = ok(ctl(session, "verify", factor["sid"]))
    assert r.out == "Factor %s “From option” is verified\n" % factor["sid"]


def test_enroll_errors(session, emulator, daemon):
    identity = vt.unique_identity("ctl")
    # the daemon checks the sid: InvalidArgs is a usage error
    fails(ctl(session, "enroll", "-s", "VA123", "-i", identity, "-t", "x", "-n", "x"), USAGE,
          "invalid argument")
    # what vpushd's error quotes stays on its line, as an enrollment URI may bring it
    r = fails(ctl(session, "enroll", "vpush://enroll?token=x&identity=%s&serviceSid=VA12%%0A3"
                  "&name=x" % identity), USAGE, "“VA12\\x0a3”")
    assert len(r.err.splitlines()) == 1, r
    # the Verify API refuses the token
    r = fails(ctl(session, "--json", "enroll", "-s", emulator.service_sid, "-i", identity, "-t",
                  "not-a-token", "-n", "x"), FAILED, "the Verify API refused the request")
    json_error(r, FAILED, "io.github.vpush1.Error.Api")
    fails(ctl(session, "enroll", "-s", emulator.service_sid, "-i", identity, "-t", "-",
              "-n", "x", stdin=""), USAGE, "nothing to read")


def test_factors(session, emulator, daemon):
    a = enroll(session, emulator, "Laptop Ä")
    r = ok(ctl(session, "factors"))
    lines = r.out.splitlines()
    assert lines[0].split() == ["SID", "STATUS", "IDENTITY", "NAME"]
    row = [line for line in lines if line.startswith(a["sid"])]
    assert row and row[0].split()[1:] == ["verified", a["identity"], "Laptop", "Ä"]
    listed = {f["sid"]: f for f in ok(ctl(session, "factors", "--json")).json()}
    assert listed[a["sid"]] == a
    # design.md names the command "list"
    assert ok(ctl(session, "list")).out == r.out
    assert set(a) == {"sid", "friendly_name", "service_sid", "identity", "account_sid", "status",
                      "created_at", "key_storage", "push_url", "object_path"}


def test_names_whole_in_a_c_locale(session, emulator, daemon):
    """In a C locale (LANG unset, as on minimal kiosk images) a name goes in and comes out
    whole: arguments are taken as UTF-8, and --json writes UTF-8, as JSON is in any
    locale, so a script gets back the name it gave. An argument that is not UTF-8 is
    refused, named, and --json says so in valid JSON."""
    env = {k: v for k, v in session.env.items() if not k.startswith("LC_") and k != "LANG"}
    env["LC_ALL"] = "C"
    a = enroll(session, emulator)
    name = "Küche €5 “x”"
    ok(ctl(session, "update", a["sid"], "--name", name, env=env))
    listed = {f["sid"]: f for f in ok(ctl(session, "--json", "factors", env=env)).json()}
    assert listed[a["sid"]]["friendly_name"] == name
    assert ok(ctl(session, "--json", "challenges", name, env=env)).json() == []

    r = subprocess.run([VPUSHCTL, "--json", "challenges", b"\xffab"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == USAGE, r
    err = json.loads(r.stdout)["error"]
    assert err["message"] == "argument 1 after “challenges” is not UTF-8 text", err
    r = subprocess.run([VPUSHCTL, "update", a["sid"], "--name", b"K\xfcche"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == USAGE, r
    # text in the locale's charset: ASCII, the quotes as "?"
    assert b"argument 3 after ?update? is not UTF-8 text" in r.stderr, r
    # named by its place only: an enrollment URI holds its token
    uri = b"vpush://enroll?token=SeCrEtToKeN&serviceSid=VA00&identity=i&name=K\xfcche"
    r = subprocess.run([VPUSHCTL, "--json", "enroll", uri], env=env, capture_output=True,
                       timeout=60)
    assert r.returncode == USAGE and b"SeCrEtToKeN" not in r.stdout + r.stderr, r
    # nor where it is taken for a command
    for args in ([uri], [b"--json", uri], [b"help", uri], [b"help", b"enroll", uri]):
        r = subprocess.run([VPUSHCTL] + args, env=env, capture_output=True, timeout=60)
        assert r.returncode == USAGE and b"SeCrEtToKeN" not in r.stdout + r.stderr, (args, r)
    r = subprocess.run([VPUSHCTL, b"\xffab"], env=env, capture_output=True, timeout=60)
    assert b"unknown command (argument 1)" in r.stderr, r
    # an option is named by its name, never by what follows "="
    r = subprocess.run([VPUSHCTL, "-j", b"--token=eyJ\xffSeCrEtToKeN"], env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == USAGE and b"SeCrEtToKeN" not in r.stdout + r.stderr, r
    assert json.loads(r.stdout)["error"]["message"] == "unknown option --token (argument 2)", r
    r = subprocess.run([VPUSHCTL, "enroll", "--token", "-", "-s", "VA" + "0" * 32, "-i", "i",
                        "-n", "n"], env=env, input=b"SeCrEtToKeN\xff\n", capture_output=True,
                       timeout=60)
    assert r.returncode == USAGE and b"SeCrEtToKeN" not in r.stdout + r.stderr, r
    assert b"--token -: what standard input holds is not UTF-8 text" in r.stderr, r


def test_not_found_does_not_repeat_a_token(session, daemon):
    """A FACTOR that may hold a token is named by its place (vpushctl(1))."""
    for args, message in (
            (["delete", SECRET_URI], "no factor (argument 1 after “delete”)"),
            (["verify", SECRET_URI], "no factor (argument 1 after “verify”)"),
            (["update", "--name", "x", SECRET_URI], "no factor (argument 3 after “update”)"),
            (["challenges", SECRET], "no factor (argument 1 after “challenges”)"),
            (["approve", "-t", "x", "-f", SECRET_URI], "no factor (argument 4 after “approve”)"),
            (["approve", "-t", "x", "--factor=" + SECRET_URI],
             "no factor (argument 3 after “approve”)")):
        r = hides_secret(ctl(session, *args), NOT_FOUND)
        assert message in r.err, (args, r)
        r = hides_secret(ctl(session, *args, "-j"), NOT_FOUND)
        assert json_error(r, NOT_FOUND, "io.github.vpush1.Error.NotFound")["message"].startswith(message), (args, r)


def test_an_option_given_twice_is_refused(session, daemon):
    """Which of two values was meant can't be known: an option with a value, or an
    enrollment URI's parameter, given twice is a usage error, named, its values not
    repeated (vpushctl(1))."""
    for args, option, place in (
            (["approve", "-t", "x", "-t", "y"], "--transaction-id", 3),
            (["approve", "--transaction-id=x", "-t", "y"], "--transaction-id", 2),
            (["deny", "-c", "YC1", "--challenge-sid", "YC2"], "--challenge-sid", 3),
            (["approve", "-t", "x", "-f", "a", "--factor=b"], "--factor", 5),
            (["approve", "-t", "x", "--timeout", "1", "--timeout", "2"], "--timeout", 5),
            (["enroll", "--token", SECRET, "--token=" + SECRET], "--token", 3),
            (["enroll", "-t", "-", "-t", SECRET], "--token", 3),
            (["enroll", "-n", "a", "-n", "b"], "--name", 3),
            (["enroll", "--push-url", "a", "--push-url", "b"], "--push-url", 3),
            (["update", "F", "-n", "a", "--name", "b"], "--name", 4),
            (["challenges", "--history", "--limit", "1", "--limit", "2"], "--limit", 4)):
        r = hides_secret(ctl(session, *args, stdin=""), USAGE)
        assert "%s is given twice (argument %d after “%s”)" % (option, place, args[0]) in r.err, r
    for query, param in (("token=%s&serviceSid=s&identity=i&name=n&token=%s" % (SECRET, SECRET),
                          "token"),
                         ("token=%s&name=a&serviceSid=s&identity=i&name=b" % SECRET, "name")):
        r = hides_secret(ctl(session, "enroll", "vpush://enroll?" + query), USAGE)
        assert "the enrollment URI gives “%s” twice" % param in r.err, r
    # what follows "--", or is an option's value, is not that option again
    fails(ctl(session, "update", "F", "--name", "a", "--", "--name"), USAGE,
          "unexpected argument 5 after “update”")
    fails(ctl(session, "approve", "-t", "--timeout", "--timeout", "1"), NOT_FOUND)
    # options without a value may be repeated: they can't disagree
    assert ok(ctl(session, "-j", "status", "-j", "--json")).json()["state"] == "ready"
    # -j among other short options asks for JSON too, also for the errors of the reading
    r = hides_secret(ctl(session, "approve", "-jt", "x", "-t", "y"), USAGE)
    assert r.json()["error"]["message"] == \
        "--transaction-id is given twice (argument 3 after “approve”)", r


# --- challenges, approve, deny --------------------------------------------------------------

def test_challenges_pending(session, emulator, daemon):
    a = enroll(session, emulator)
    b = enroll(session, emulator)
    ch = challenge(emulator, a, vt.new_transaction_id(), message="Pay 12 EUR?",
                   fields=[("Amount", "12 EUR"), ("Shop", "Corner")])
    ok(ctl(session, "refresh"))
    assert ok(ctl(session, "--json", "refresh")).json() == {}
    r = ok(ctl(session, "challenges", a["sid"]))
    assert r.out.startswith("%s  pending  expires " % ch["sid"])
    assert "  Pay 12 EUR?\n    Amount: 12 EUR\n    Shop: Corner\n" in r.out
    items = ok(ctl(session, "--json", "challenges", a["friendly_name"])).json()
    assert [c["sid"] for c in items] == [ch["sid"]]
    item = items[0]
    assert item["factor_sid"] == a["sid"] and item["factor"] == a["object_path"]
    assert item["fields"] == [{"label": "Amount", "value": "12 EUR"},
                              {"label": "Shop", "value": "Corner"}]
    assert item["status"] == "pending" and vt.RFC3339_RE.match(item["expires_at"])
    assert "hidden_details" not in item
    assert ok(ctl(session, "--json", "challenges", b["sid"])).json() == []
    assert ok(ctl(session, "challenges", b["sid"])).out == "No pending challenges.\n"
    assert ch["sid"] in [c["sid"] for c in ok(ctl(session, "--json", "challenges")).json()]
    fails(ctl(session, "challenges", "no such factor"), NOT_FOUND, "no factor")


# what a challenge's creator, or a factor's enroller, could put in front of a terminal
# (and its own backslashes, which could pass for an escaped control)
# U+001F: json-glib 1.6 wrote it unescaped, which is no JSON
HOSTILE = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202epay\x7f\x1f\\x1b"
HOSTILE_SHOWN = "\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202epay\\x7f\\x1f\\\\x1b"
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\x7f", "\x1f")


def shows_no_controls(text):
    return not any(c in text for c in TERMINAL_CONTROLS)


def test_untrusted_text_is_escaped(session, emulator, daemon):
    f = enroll(session, emulator, "n" + HOSTILE)
    ch = challenge(emulator, f, vt.new_transaction_id(), message="m" + HOSTILE + "\nYCforged",
                   fields=[("l" + HOSTILE, "v" + HOSTILE + "\r\n")])
    ok(ctl(session, "refresh"))
    r = ok(ctl(session, "challenges", f["sid"]))
    assert shows_no_controls(r.out), r
    # one line each: a message can't forge a line of the listing
    assert ("  m%s\\x0aYCforged\n    l%s: v%s\\x0d\\x0a\n" % ((HOSTILE_SHOWN,) * 3)) in r.out, r
    r = ok(ctl(session, "challenges", "--history", f["sid"]))
    assert shows_no_controls(r.out) and "  m%s\\x0aYCforged\n" % HOSTILE_SHOWN in r.out, r
    r = ok(ctl(session, "factors"))
    assert shows_no_controls(r.out) and "n" + HOSTILE_SHOWN in r.out, r
    r = ok(ctl(session, "update", f["sid"], "--name", "r" + HOSTILE))
    assert shows_no_controls(r.out) and "r" + HOSTILE_SHOWN in r.out, r
    # what enroll, verify and update print of a name is one line too
    r = ok(ctl(session, "update", f["sid"], "--name", "r\nYFforged"))
    assert r.out == "Factor %s “r\\x0aYFforged” updated (verified)\n" % f["sid"], r
    identity = vt.unique_identity("ctl")
    r = ok(ctl(session, "enroll", "--service-sid", emulator.service_sid, "--identity", identity,
               "--token", "-", "--name", "e" + HOSTILE + "\nYFforged", "--no-verify",
               stdin=emulator.access_token(identity)["token"] + "\n"))
    assert r.out.count("\n") == 1 and "“e%s\\x0aYFforged”" % HOSTILE_SHOWN in r.out, r
    sid = r.out.split()[2]
    r = ok(ctl(session, "verify", sid))
    assert r.out == "Factor %s “e%s\\x0aYFforged” is verified\n" % (sid, HOSTILE_SHOWN), r
    # JSON keeps the text whole, with every control as a JSON escape
    for args in (("--json", "challenges", f["sid"]), ("challenges", "--json", f["sid"])):
        r = ok(ctl(session, *args))
        assert shows_no_controls(r.out), r
        item = r.json()[0]
        assert item["sid"] == ch["sid"] and item["message"] == "m" + HOSTILE + "\nYCforged"
        assert item["fields"] == [{"label": "l" + HOSTILE, "value": "v" + HOSTILE + "\r\n"}]
    # what vpushd says back about the caller's own text
    r = ctl(session, "challenges", "x" + HOSTILE)
    assert r.rc == NOT_FOUND and shows_no_controls(r.err) and "x" + HOSTILE_SHOWN in r.err, r


def test_approve_and_deny(session, emulator, daemon):
    f = enroll(session, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, f, txid)
    r = ok(ctl(session, "approve", "--transaction-id", txid))
    assert r.out == "Challenge %s approved\n" % ch["sid"]
    assert emulator.fetch_challenge(f["identity"], ch["sid"])["status"] == "approved"

    ch = challenge(emulator, f, vt.new_transaction_id())
    r = ok(ctl(session, "--json", "deny", "--challenge-sid", ch["sid"], "--factor",
               f["friendly_name"], "--timeout", "5000"))
    assert r.json() == {"challenge_sid": ch["sid"], "status": "denied"}
    assert emulator.fetch_challenge(f["identity"], ch["sid"])["status"] == "denied"
    # answered already
    r = fails(ctl(session, "--json", "approve", "-c", ch["sid"]), ALREADY,
              "the challenge was already answered")
    json_error(r, ALREADY, "io.github.vpush1.Error.AlreadyResponded")


def test_approve_ends_when_vpushd_stops(session, emulator, daemon):
    """vpushctl sets no bound of its own on a call vpushd bounds: a vpushd that goes away
    ends the call at once, exit status 3."""
    enroll(session, emulator)
    allowed = daemon.log_text().count("approve allowed for ")
    proc = subprocess.Popen([VPUSHCTL, "approve", "-t", vt.new_transaction_id(), "--timeout",
                             "20000"], env=session.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        vt.wait_until(lambda: daemon.log_text().count("approve allowed for ") > allowed, 15,
                      what="the approval to wait in vpushd", pump=False)
        daemon.proc.kill()
        daemon.proc.wait()
        # less than the call's 20 s: ended when vpushd went, not at its timeout
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, (out, err)
    assert err.startswith("vpushctl") and "vpushd did not answer" in err, err
    daemon.proc = None


def test_calls_end_when_vpushd_is_told_to_stop(session, emulator, daemon):
    """SIGTERM, as systemctl stop sends it (vpushctl(1)): an approval that waits ends with
    vpushd's own Failed, exit status 1; a Refresh under way gets no answer, exit status 3."""
    f = enroll(session, emulator)
    allowed = daemon.log_text().count("approve allowed for ")
    emulator.fault(r"/Entities/%s/Challenges\Z" % f["identity"], action="delay", seconds=600,
                   method="GET", count=1000)
    procs = []
    try:
        # the Refresh's poll is held at the emulator; the approval then waits for it too
        for args, what, started in (
                (["refresh"], "the poll held", lambda: emulator.faults_held() >= 1),
                (["approve", "-t", vt.new_transaction_id(), "--timeout", "20000"],
                 "the approval to wait in vpushd",
                 lambda: daemon.log_text().count("approve allowed for ") > allowed)):
            procs.append(subprocess.Popen([VPUSHCTL] + args, env=session.env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
            vt.wait_until(started, 15 * vt.SLOWDOWN, what=what, pump=False)
        daemon.stop()
        (_, refresh_err), (_, approve_err) = [p.communicate(timeout=15) for p in procs]
    finally:
        emulator.clear_faults()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert procs[1].returncode == FAILED, approve_err
    assert "vpushd is stopping" in approve_err, approve_err
    assert procs[0].returncode == UNREACHABLE, refresh_err
    assert "vpushd did not answer" in refresh_err, refresh_err


def test_approve_errors(session, emulator, daemon):
    f = enroll(session, emulator)
    other = enroll(session, emulator)
    r = fails(ctl(session, "--json", "approve", "-t", vt.new_transaction_id(), "--timeout",
                  "300"), NOT_FOUND, "not found")
    json_error(r, NOT_FOUND, "io.github.vpush1.Error.NotFound")
    # the factor is looked up by vpushctl
    fails(ctl(session, "approve", "-t", "x", "--factor", "YF" + "0" * 32), NOT_FOUND,
          "no factor")
    # only the other factor's challenges
    txid = vt.new_transaction_id()
    ch = challenge(emulator, f, txid)
    fails(ctl(session, "approve", "-t", txid, "-f", other["sid"], "--timeout", "300"), NOT_FOUND)
    # InvalidArgs from the daemon
    fails(ctl(session, "approve", "-t", txid, "--timeout", "50000"), USAGE,
          "invalid argument: ")
    # two challenges with the same transaction id
    challenge(emulator, f, txid)
    r = fails(ctl(session, "--json", "deny", "-t", txid), AMBIGUOUS, "ambiguous")
    json_error(r, AMBIGUOUS, "io.github.vpush1.Error.Ambiguous")
    assert emulator.answer_posts(ch["sid"]) == 0
    # expired
    ch = challenge(emulator, f, vt.new_transaction_id(), expiration=1)
    ok(ctl(session, "refresh"))
    time.sleep(1.5)
    r = fails(ctl(session, "--json", "approve", "-c", ch["sid"]), EXPIRED, "expired")
    json_error(r, EXPIRED, "io.github.vpush1.Error.Expired")


def test_history_paging(session, emulator, daemon):
    f = enroll(session, emulator)
    sids = [challenge(emulator, f, vt.new_transaction_id(), message="m%d" % i)["sid"]
            for i in range(3)]
    ok(ctl(session, "approve", "-c", sids[0]))
    emulator.clear_requests()
    items = ok(ctl(session, "--json", "challenges", f["sid"], "--history", "--page-size", "1",
                   "--limit", "0", "--order", "asc")).json()
    assert [c["sid"] for c in items] == sids
    assert all(c["factor_sid"] == f["sid"] for c in items)
    assert set(items[0]) >= {"sid", "status", "message", "fields", "created_at", "expires_at",
                             "responded_reason"}
    lists = [r for r in emulator.requests()
             if r["method"] == "GET" and r["path"].endswith("/Challenges")]
    assert len(lists) >= 3, lists
    two = ok(ctl(session, "--json", "challenges", f["sid"], "--history", "--limit", "2")).json()
    assert len(two) == 2
    approved = ok(ctl(session, "--json", "challenges", f["sid"], "--history", "--status",
                      "approved")).json()
    assert [c["sid"] for c in approved] == [sids[0]]
    r = ok(ctl(session, "challenges", f["sid"], "--history", "--status", "approved"))
    assert r.out.startswith("%s  approved  " % sids[0]) and "  m0\n" in r.out


# --- update, delete -----------------------------------------------------------------------

def test_update_and_delete(session, emulator, daemon, client):
    f = enroll(session, emulator, "Old name")
    r = ok(ctl(session, "--json", "update", "Old name", "--name", "New name"))
    assert r.json()["friendly_name"] == "New name"
    assert client.factor_props(f["object_path"])["FriendlyName"] == "New name"
    fails(ctl(session, "update", "Old name", "--name", "x"), NOT_FOUND)

    same = enroll(session, emulator, "New name")
    fails(ctl(session, "delete", "New name"), AMBIGUOUS, "2 factors are named “New name”")
    r = ok(ctl(session, "delete", same["sid"]))
    assert r.out == "Deleted factor %s\n" % same["sid"]
    r = ok(ctl(session, "--json", "delete", "New name"))
    assert r.json() == {"deleted": f["sid"]}
    assert emulator.fetch_factor(f["identity"], f["sid"]).status == 404
    assert f["object_path"] not in client.factor_paths()
    r = fails(ctl(session, "--json", "delete", f["sid"]), NOT_FOUND)
    json_error(r, NOT_FOUND, "io.github.vpush1.Error.NotFound")


FAKE_VPUSHD_XML = """<node>
  <interface name="org.freedesktop.DBus.ObjectManager">
    <method name="GetManagedObjects"><arg type="a{oa{sa{sv}}}" direction="out"/></method>
  </interface>
  <interface name="io.github.vpush1.Factor"><method name="Delete"/></interface>
</node>"""


@pytest.mark.parametrize("error", ["UnknownObject", "UnknownInterface"])
def test_factor_gone_since_it_was_looked_up(session, error):
    """vpushctl(1): exit status 4 is "not found: no such factor". A factor listed when
    vpushctl looks it up, and gone by the time it is called (its object, or the object's
    interface, no longer on the bus), is not found, not "vpushd is not reachable" (3). The
    owner of vpushd's name here is this test, on a bus of its own: it lists the factor and
    answers its Delete with that error, which vpushd can't be made to do at a chosen
    moment."""
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1",
                            "--address=unix:path=" + session.path("gone-bus-" + error)],
                           stdout=subprocess.PIPE, text=True)
    try:
        address = bus.stdout.readline().strip()
        conn = vt._connect(address)
        sid = "YF" + "0123456789abcdef" * 2
        path = vt.factor_path(sid)
        props = {"Sid": GLib.Variant("s", sid), "FriendlyName": GLib.Variant("s", "Gone"),
                 "CreatedAt": GLib.Variant("s", "2024-01-02T03:04:05Z")}
        node = Gio.DBusNodeInfo.new_for_xml(FAKE_VPUSHD_XML)
        calls = []

        def method_call(conn, sender, object_path, iface, method, params, invocation):
            calls.append((object_path, method))
            if method == "GetManagedObjects":
                invocation.return_value(GLib.Variant("(a{oa{sa{sv}}})",
                                                     ({path: {vt.FACTOR_IFACE: props}},)))
            else:
                invocation.return_dbus_error("org.freedesktop.DBus.Error." + error,
                                             "no object at %s" % object_path)

        registered = [conn.register_object(vt.MANAGER_PATH, node.interfaces[0], method_call),
                      conn.register_object(path, node.interfaces[1], method_call)]
        owned = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "RequestName",
                               GLib.Variant("(su)", (vt.BUS_NAME, 4)), None,
                               Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        assert owned == 1, owned
        # the calls are answered from this thread's main context, pumped while it waits
        proc = subprocess.Popen([VPUSHCTL, "--json", "delete", sid],
                                env=dict(session.env, DBUS_SESSION_BUS_ADDRESS=address),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            vt.wait_until(lambda: proc.poll() is not None, 30 * vt.SLOWDOWN,
                          what="vpushctl to end")
        finally:
            proc.kill()     # when it did not end by itself
            out, err = proc.communicate()
        for ident in registered:
            conn.unregister_object(ident)
        conn.close_sync(None)
    finally:
        bus.kill()
        bus.wait(10)
    assert calls == [(vt.MANAGER_PATH, "GetManagedObjects"), (path, "Delete")], calls
    r = Result(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert r.rc == NOT_FOUND, r
    assert "no such object" in r.err, r
    json_error(r, NOT_FOUND, "org.freedesktop.DBus.Error." + error)


# --- monitor ------------------------------------------------------------------------------

class Monitor:
    def __init__(self, session, *args):
        self.proc = subprocess.Popen([VPUSHCTL] + list(args) + ["monitor"], env=session.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buffer = b""

    def line(self, timeout=10):
        """The next line; our own buffer, so that select() sees what is not read yet."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            r, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            assert r, "no event within %s s" % timeout
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            assert chunk, "monitor exited: %s" % self.proc.stderr.read()
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def event(self, event, kind, sid=None, timeout=10):
        """The next JSON event of this kind (and sid), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            e = json.loads(self.line(max(0.1, deadline - time.monotonic())))
            if e["event"] == event and e["kind"] == kind and sid in (None, e.get("sid")):
                return e

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


def test_monitor_first_line_before_any_signal(session):
    """The first line says whether vpushd runs (vpushctl(1)), also when its signals come
    before the monitor has learnt that: they wait for it. The owner of vpushd's name here
    is this test, on a bus of its own, sending PropertiesChanged without a pause, so that
    signals come in the window between the monitor's subscription and its name watch's
    answer every time, which vpushd itself does only now and then."""
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1",
                            "--address=unix:path=" + session.path("other-bus")],
                           stdout=subprocess.PIPE, text=True)
    stop = threading.Event()
    try:
        address = bus.stdout.readline().strip()
        env = dict(session.env, DBUS_SESSION_BUS_ADDRESS=address)
        conn = vt._connect(address)
        owned = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "RequestName",
                               GLib.Variant("(su)", (vt.BUS_NAME, 4)), None,
                               Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
        assert owned == 1, owned

        def flood():
            n = 0
            while not stop.is_set():
                n += 1
                changed = {"PushState": GLib.Variant("s", "retrying %d" % n)}
                conn.emit_signal(None, vt.MANAGER_PATH, vt.PROPS_IFACE, "PropertiesChanged",
                                 GLib.Variant("(sa{sv}as)", (vt.MANAGER_IFACE, changed, [])))
                if n % 100 == 0:
                    conn.flush_sync(None)

        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            for _ in range(30):
                proc = subprocess.Popen([VPUSHCTL, "--json", "monitor"], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    first = json.loads(proc.stdout.readline())
                    assert first["event"] == "appeared" and first["kind"] == "daemon", first
                finally:
                    proc.send_signal(signal.SIGINT)
                    proc.communicate(timeout=30)
        finally:
            stop.set()
            flooder.join(30)
        conn.close_sync(None)
    finally:
        bus.kill()
        bus.wait(10)


def test_monitor_json(session, emulator, daemon):
    m = Monitor(session, "--json")
    try:
        first = json.loads(m.line())
        assert first["event"] == "appeared" and first["kind"] == "daemon"
        f = enroll(session, emulator, "Monitored")
        e = m.event("added", "factor", f["sid"])
        assert e["object_path"] == f["object_path"]
        assert e["properties"]["friendly_name"] == "Monitored"
        assert vt.RFC3339_RE.match(e["time"]), e

        txid = vt.new_transaction_id()
        ch = challenge(emulator, f, txid, message="Watch me")
        ok(ctl(session, "refresh"))
        e = m.event("added", "challenge", ch["sid"])
        assert e["properties"]["message"] == "Watch me"
        assert e["properties"]["factor"] == f["object_path"]
        ok(ctl(session, "approve", "-t", txid))
        m.event("removed", "challenge", ch["sid"])

        r = ok(ctl(session, "update", f["sid"], "--name", "Renamed"))
        assert r.out == "Factor %s “Renamed” updated (verified)\n" % f["sid"], r.out
        e = m.event("changed", "factor", f["sid"])
        assert e["properties"] == {"friendly_name": "Renamed"}
        # the manager's own changes carry no sid
        ok(ctl(session, "update", f["sid"], "--push-url",
               "%s/push/%s/sse" % (emulator.url, f["sid"])))
        e = m.event("changed", "manager")
        assert "push_state" in e["properties"] and "sid" not in e, e
        assert e["object_path"] == "/io/github/vpush", e

        ok(ctl(session, "delete", f["sid"]))
        m.event("removed", "factor", f["sid"])
    finally:
        assert m.stop() == OK


def test_monitor_text_and_daemon_restart(session, emulator, daemon):
    m = Monitor(session)
    try:
        assert m.line().split()[1:3] == ["daemon", "appeared"]
        f = enroll(session, emulator, "Text line")
        line = m.line()
        while " factor added %s " % f["sid"] not in line:
            line = m.line()
        assert line.split()[3:] == [f["sid"], "“Text", "line”", "verified"]
        ch = challenge(emulator, f, vt.new_transaction_id(), message="Across restarts")
        ok(ctl(session, "refresh"))
        line = m.line()
        while " challenge added %s " % ch["sid"] not in line:
            line = m.line()

        # what the lines say adds up across a restart: everything goes with vpushd, its
        # challenges before their factors, and comes back with it
        daemon.stop()
        removed = []
        words = m.line().split()
        while words[1:3] != ["daemon", "vanished"]:
            assert words[2] == "removed", words
            removed.append((words[1], words[3]))
            words = m.line().split()
        assert ("challenge", ch["sid"]) in removed and ("factor", f["sid"]) in removed
        kinds = [kind for kind, _ in removed]
        assert kinds == sorted(kinds), kinds  # "challenge" < "factor"
        daemon.start()
        assert m.line().split()[1:3] == ["daemon", "appeared"]
        added = set()
        while not {("factor", f["sid"]), ("challenge", ch["sid"])} <= added:
            words = m.line().split()
            if words[1:3] == ["manager", "changed"]:  # State, PushState
                continue
            assert words[2] == "added", words
            assert (words[1], words[3]) not in added, words
            added.add((words[1], words[3]))
        assert {sid for kind, sid in removed if kind == "factor"} <= {
            sid for kind, sid in added if kind == "factor"}
    finally:
        assert m.stop() == OK


def test_monitor_lists_what_is_there(session, emulator, daemon):
    """A monitor started while vpushd runs begins with its objects, each once."""
    f = enroll(session, emulator, "Already there")
    m = Monitor(session, "--json")
    try:
        assert json.loads(m.line())["event"] == "appeared"
        e = m.event("added", "factor", f["sid"])
        assert e["properties"]["friendly_name"] == "Already there"
        ok(ctl(session, "delete", f["sid"]))
        m.event("removed", "factor", f["sid"])
    finally:
        assert m.stop() == OK



def test_output_that_cannot_be_written(session, emulator, daemon):
    """What vpushctl says on standard output arrives, or its exit status says it did not:
    a full disk or a closed descriptor is exit status 12, told on standard error."""
    enroll(session, emulator)
    for args in (["factors"], ["--json", "factors"], ["status"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([VPUSHCTL] + args, env=session.env, stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        assert r.returncode == OUTPUT, (args, r.stderr)
        assert "cannot write to standard output: No space left on device" in r.stderr, r.stderr
    r = subprocess.run([VPUSHCTL, "status"], env=session.env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=60,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == OUTPUT, r.stderr


def test_monitor_ends_when_its_reader_goes(session, emulator, daemon):
    """`vpushctl monitor | head -1` ends once head has: by SIGPIPE, as other tools do (GIO
    ignores SIGPIPE, so it wrote into the closed pipe for ever)."""
    proc = subprocess.Popen([VPUSHCTL, "--json", "monitor"], env=session.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        proc.stdout.close()
        # the next thing it says meets the closed pipe
        f = enroll(session, emulator)
        challenge(emulator, f)
        ok(ctl(session, "refresh"))
        proc.wait(10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGPIPE, proc.stderr.read()


def test_factor_named_with_a_dash(session, emulator, daemon):
    """A friendly name may start with "-": after "--" it names the factor (GOption leaves
    the "--" in when what follows starts with "-")."""
    f = enroll(session, emulator, "-kiosk")
    r = ok(ctl(session, "--json", "verify", "--", "-kiosk"))
    assert r.json()["sid"] == f["sid"]
    ok(ctl(session, "challenges", "--", "-kiosk"))
    r = ok(ctl(session, "delete", "--", "-kiosk"))
    assert r.out == "Deleted factor %s\n" % f["sid"]


def test_monitor_ends_with_its_bus(session):
    """A bus that goes away once vpushd is gone ends the monitor (exit 3), saying so; it
    waited for ever on the closed connection."""
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1",
                            "--address=unix:path=" + session.path("other-bus")],
                           stdout=subprocess.PIPE, text=True)
    try:
        env = dict(session.env, DBUS_SESSION_BUS_ADDRESS=bus.stdout.readline().strip())
        proc = subprocess.Popen([VPUSHCTL, "--json", "monitor"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert json.loads(proc.stdout.readline())["event"] == "vanished"
    finally:
        bus.kill()
        bus.wait(10)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()     # when it did not end by itself
        proc.wait()
    assert proc.returncode == UNREACHABLE, (out, err)
    assert json.loads(out)["error"]["message"].endswith("the session bus went away"), out


# --- policy, keyring, network ---------------------------------------------------------------

def test_access_denied(session, emulator, daemon):
    """With only the shipped default policy, approving is refused."""
    policy = session.path("policy-default")
    os.makedirs(policy, exist_ok=True)
    with open(os.path.join(vt.SOURCE_DIR, "policy", "default.conf")) as src, \
            open(os.path.join(policy, "default.conf"), "w") as dst:
        dst.write(src.read())
    daemon.stop()
    strict = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                       extra_args=["--policy-dir", policy])
    strict.start()
    try:
        f = enroll(session, emulator)
        ch = challenge(emulator, f, vt.new_transaction_id())
        r = fails(ctl(session, "--json", "approve", "-c", ch["sid"]), DENIED,
                  "not allowed by the policy")
        json_error(r, DENIED, "org.freedesktop.DBus.Error.AccessDenied")
        assert emulator.answer_posts(ch["sid"]) == 0
    finally:
        strict.stop()
        daemon.start()


def test_keyring_locked(session, emulator, daemon):
    f = enroll(session, emulator)
    ch = challenge(emulator, f, vt.new_transaction_id())
    session.lock_keyring()
    try:
        session.client.wait_state("keyring-locked")
        r = ok(ctl(session, "status"))
        assert "keyring-locked (unlock the login keyring" in r.out
        r = fails(ctl(session, "--json", "approve", "-c", ch["sid"]), LOCKED,
                  "the keyring is locked")
        json_error(r, LOCKED, "io.github.vpush1.Error.KeyringLocked")
    finally:
        session.unlock_keyring()
    session.client.wait_state("ready")


def test_network_unreachable(session, emulator, daemon):
    """A Verify API that can't be reached: exit 10."""
    daemon.stop()
    offline = vt.Daemon(session, emulator, config={"Verify": {
        "BaseUrl": "http://127.0.0.1:1/v2/", "TimeoutMs": "1000"}})
    offline.start()
    try:
        identity = vt.unique_identity("ctl")
        token = emulator.access_token(identity)["token"]
        r = fails(ctl(session, "--json", "enroll", "-s", emulator.service_sid, "-i", identity,
                      "-t", token, "-n", "x"), NETWORK, "the Verify API could not be reached")
        json_error(r, NETWORK, "io.github.vpush1.Error.Network")
    finally:
        offline.stop()
        daemon.start()


def test_busy(session, emulator, daemon, client):
    """A call vpushd refuses for one of its caps on calls under way (LimitsExceeded):
    exit 11, which a script can tell from a failure and try again."""
    f = enroll(session, emulator)
    path = vt.factor_path(f["sid"])
    emulator.fault(r"/Entities/%s/Challenges\Z" % f["identity"], action="delay", seconds=600,
                   method="GET", count=100000)
    try:
        held = [vt.PendingCall(client, "ListChallenges", vt.asv({}), path, vt.FACTOR_IFACE)
                for _ in range(16)]
        vt.wait_until(lambda: emulator.faults_held() >= 16, 10 * vt.SLOWDOWN,
                      what="16 lists at the API")
        r = fails(ctl(session, "--json", "challenges", f["sid"], "--history"), BUSY,
                  "vpushd is at one of its limits")
        json_error(r, BUSY, "org.freedesktop.DBus.Error.LimitsExceeded")
    finally:
        emulator.clear_faults()
    for c in held:
        c.wait(30 * vt.SLOWDOWN)
        assert c.error is None, c.error
    ok(ctl(session, "challenges", f["sid"], "--history"))
