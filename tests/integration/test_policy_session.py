"""Who may approve, by the caller's login session: RequireActiveSession against logind
(mocked with python-dbusmock on a private system bus), and the session of an app started
by the user's service manager (its cgroup, the display's session). The caller is this test
process unless a test says otherwise."""

import os
import re
import shutil
import subprocess
import threading

import pytest
from gi.repository import GLib

import vpushtest as vt
from vpushtest_policy import (ERR_ACCESS_DENIED, MSGID_APPROVED, MY_EXE, assert_access_denied,
                              assert_untouched, challenge, gdbus_approve, last_audit, refused)
from vpushtest_system import LOGIND, SESSION_PATH


SESSION_RULE = """
[Rule at-the-desk]
Actions=approve;deny
Callers=exe:%s
RequireActiveSession=true
""" % MY_EXE


def test_session_active_and_unlocked_allowed(start_daemon, logind, client, emulator):
    logind.add_session(active=True)
    daemon = start_daemon(SESSION_RULE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    assert client.deny({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "denied"
    record = last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_CHALLENGE=ch["sid"])
    assert record["VPUSH_ACTION"] == "deny"
    assert record["VPUSH_RULE"] == "at-the-desk"
    assert record["VPUSH_CALLER_SESSION"] == "c1"


def test_session_locked_refused(start_daemon, logind, client, emulator):
    logind.add_session(active=True, locked=True)
    daemon = start_daemon(SESSION_RULE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "rule “at-the-desk” requires the caller's login session",
                         "and it is locked")
    assert_untouched(emulator, factor, ch)
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_ACTION="approve")
    assert record["VPUSH_RULE"] == "at-the-desk"
    assert record["VPUSH_CALLER_SESSION"] == "c1"

    # unlocking is seen at the next call
    logind.set_session(LockedHint=GLib.Variant("b", False))
    assert client.approve({"transaction-id": txid}) == ch["sid"]


def session_inactive(logind):
    logind.add_session(active=False)


def session_without_a_seat(logind):
    # an ssh login: logind calls it active, on no seat
    logind.add_session(active=True)
    logind.set_session_seat("", "/")


def session_whose_lock_is_unknown(logind):
    # anything logind does not say counts against the session: a LockedHint vpushd can't
    # read (not a boolean) is taken for locked
    logind.add_session(active=True)
    logind.set_session_property("LockedHint", GLib.Variant("s", "no"))


@pytest.mark.parametrize("make_session,words", [
    (session_inactive, "and it is not the active session of a seat"),
    (session_without_a_seat, "and it is not the active session of a seat"),
    (session_whose_lock_is_unknown, "and it is locked"),
], ids=["inactive", "without-a-seat", "lock-unknown"])
def test_session_not_at_the_desk_refused(make_session, words, start_daemon, logind, client,
                                         emulator):
    """design.md: the caller's login session must be "active on its seat" and not locked;
    a session that is inactive, has no seat, or whose lock logind does not say is refused."""
    make_session(logind)
    daemon = start_daemon(SESSION_RULE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, words)
    assert_untouched(emulator, factor, ch)
    last_audit(daemon, VPUSH_DECISION="refused", VPUSH_RULE="at-the-desk")


def test_caller_gone_while_its_session_is_looked_up(start_daemon, logind, session, client,
                                                   emulator):
    """logind is asked about the caller's pid; a caller that exits before logind answers is
    refused, as its pid may be another process's by then (vpushd pins the caller, and
    checks the pin once logind has answered). The challenge is known beforehand, so that
    nothing but that check stands between the call and its answer."""
    logind.add_session(active=True)
    logind.answer_session_by_pid_after(2 * vt.SLOWDOWN)
    daemon = start_daemon(SESSION_RULE.replace("Callers=exe:%s" % MY_EXE, "Callers=*"))
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    client.refresh()
    asked = logind.log_text().count("GetSessionByPID")
    caller = subprocess.Popen(
        ["gdbus", "call", "--session", "--dest", vt.BUS_NAME, "--object-path", vt.MANAGER_PATH,
         "--method", vt.MANAGER_IFACE + ".ApproveChallenge",
         "{'transaction-id': <'%s'>, 'timeout-ms': <uint32 3000>}" % txid],
        env=session.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        vt.wait_until(lambda: logind.log_text().count("GetSessionByPID") > asked,
                      10 * vt.SLOWDOWN, what="logind to be asked", pump=False)
    finally:
        caller.kill()
        caller.wait()
    vt.wait_until(lambda: "the caller exited while its login session was looked up"
                  in daemon.log_text(), 15 * vt.SLOWDOWN, what="the call to be refused",
                  pump=False)
    assert_untouched(emulator, factor, ch)


def test_logind_absent_refused(start_daemon, system_bus, client, emulator):
    # a system bus without logind on it
    assert not system_bus.client.name_has_owner(LOGIND)
    daemon = start_daemon(SESSION_RULE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "and it is unknown (logind could not be asked)")
    assert_untouched(emulator, factor, ch)
    last_audit(daemon, VPUSH_DECISION="refused", VPUSH_RULE="at-the-desk")
    assert "the login session of pid %d is unknown: logind" % os.getpid() in daemon.log_text()


def test_no_system_bus_refused(session, start_daemon, client, emulator):
    """No system bus at all fails closed the same way."""
    saved = session.env["DBUS_SYSTEM_BUS_ADDRESS"]
    session.env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + session.path("no-such-bus")
    try:
        daemon = start_daemon(SESSION_RULE)
    finally:
        session.env["DBUS_SYSTEM_BUS_ADDRESS"] = saved
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    challenge(emulator, factor, txid)

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "and it is unknown (logind could not be asked)")
    last_audit(daemon, VPUSH_DECISION="refused", VPUSH_RULE="at-the-desk")


# a signal sent on the system bus after the calls, for dbus-monitor to print
MARK = "io.github.vpush.test.Mark"


def read_lines(stream, lines):
    for line in iter(stream.readline, ""):
        lines.append(line)


def test_calls_at_once_share_one_system_bus_connection(start_daemon, logind, system_bus,
                                                       client, emulator):
    """The session checks of calls made at once wait for the one connection to the system
    bus being made, rather than each opening its own: a system bus limits how many
    connections a user may have (256), and a burst of calls must not use them up."""
    logind.add_session(active=True)
    start_daemon(SESSION_RULE)
    monitor = subprocess.Popen(
        ["dbus-monitor", "--address", system_bus.address,
         "type='method_call',member='GetSessionByPID'", "type='signal',interface='%s'" % MARK],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    reader = threading.Thread(target=read_lines, args=(monitor.stdout, lines), daemon=True)
    try:
        # its first line is of its own signals: it watches from then on
        assert monitor.stdout.readline(), "dbus-monitor printed nothing"
        reader.start()
        calls = vt.AsyncCalls()
        for n in range(8):
            calls.call(client.conn, n, "ApproveChallenge",
                       {"transaction-id": vt.new_transaction_id(), "timeout-ms": 0})
        calls.wait(30)
        assert all(r[:2] == ("error", vt.ERR_NOT_FOUND) for r in calls.results.values()), \
            calls.results
        # the monitor, another process, may not have printed what the bus routed to it
        # yet: once a mark sent after the calls is printed, all of theirs is
        system_bus.client.conn.emit_signal(None, "/", MARK, "Mark", None)
        system_bus.client.conn.flush_sync(None)
        vt.wait_until(lambda: any("interface=%s;" % MARK in line for line in list(lines)),
                      10 * vt.SLOWDOWN, what="dbus-monitor to print the mark", pump=False)
    finally:
        monitor.terminate()
        monitor.wait(10)
        if reader.is_alive():
            reader.join(10)
        monitor.stdout.close()
    out = "".join(lines)
    # the monitor's own signals (NameAcquired, NameLost) come from the bus: not counted
    calls = [line for line in out.splitlines() if "member=GetSessionByPID" in line]
    senders = {re.search(r"sender=(\S+)", line).group(1) for line in calls}
    assert len(calls) == 8, out
    assert len(senders) == 1, senders


def _writable_cgroup2():
    """The cgroup2 mount, if this test may make cgroups in it (root, on a machine whose
    cgroup tree is its own), else None. Where systemd runs, the tree is systemd's: a
    user@UID.service made there, and removed again, would be one of its units."""
    if os.path.exists("/run/systemd/system"):
        return None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2" and os.access(fields[4], os.W_OK):
                return fields[4]
    return None


def app_scope_of(uid):
    """The cgroup of an app that user uid's manager started, to be made under the cgroup2
    mount; skips the test when there is none this test may write."""
    root = _writable_cgroup2()
    if root is None:
        pytest.skip("no cgroup2 tree of its own to make an app's cgroup in "
                    "(none, not root, or systemd's)")
    return os.path.join(root, "user.slice", "user-%d.slice" % uid, "user@%d.service" % uid,
                        "app.slice", "app-vpushtest-%d.scope" % os.getpid())


def gdbus_approve_in(session, cgroup, txid):
    """gdbus_approve(), from a process in cgroup (a path under the cgroup2 mount, made
    here and removed after), or in this process's own when cgroup is None."""
    if cgroup is None:
        return gdbus_approve(session, txid)
    os.makedirs(cgroup)
    try:
        return subprocess.run(
            ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "sh", cgroup,
             "gdbus", "call", "--session", "--dest", vt.BUS_NAME, "--object-path",
             vt.MANAGER_PATH, "--method", vt.MANAGER_IFACE + ".ApproveChallenge",
             "{'transaction-id': <'%s'>, 'timeout-ms': <uint32 3000>}" % txid],
            env=session.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=30)
    finally:
        # the process has exited: its cgroup goes, and the ones above it unless another
        # test's are in them
        os.rmdir(cgroup)
        path = os.path.dirname(cgroup)
        while os.path.basename(os.path.dirname(path)) != "":
            try:
                os.rmdir(path)
            except OSError:
                break
            if os.path.basename(path) == "user.slice":
                break
            path = os.path.dirname(path)


GDBUS_SESSION_RULE = """
[Rule at-the-desk]
Actions=approve;deny
Callers=exe:%s
RequireActiveSession=true
"""


def gdbus_at_the_desk(start_daemon, logind, client, emulator, display):
    """An active session of the user's (its graphical one when display), a vpushd whose
    rule lets gdbus approve in an active session, and a challenge for it; returns the
    daemon, gdbus, the factor, the transaction id and the challenge."""
    gdbus = os.path.realpath(shutil.which("gdbus"))
    logind.add_session(active=True, by_pid=False)
    if display:
        logind.set_user_display("c1", SESSION_PATH)
    daemon = start_daemon(GDBUS_SESSION_RULE % gdbus)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    return daemon, gdbus, factor, txid, challenge(emulator, factor, txid)


def assert_not_in_a_session(r):
    assert r.returncode != 0 and ERR_ACCESS_DENIED in r.stderr, r
    assert "and it is not in a login session" in r.stderr, r.stderr


def test_app_of_the_user_manager_uses_the_display_session(start_daemon, logind, client,
                                                          emulator, session):
    """An app in no session scope whose cgroup is in its own user manager's tree
    (app-*.scope under user@UID.service) gets the user's graphical session, as
    sd_uid_get_display() does."""
    scope = app_scope_of(os.getuid())
    daemon, _, factor, txid, ch = gdbus_at_the_desk(start_daemon, logind, client, emulator,
                                                    display=False)
    assert_not_in_a_session(gdbus_approve_in(session, scope, txid))

    logind.set_user_display("c1", SESSION_PATH)
    r = gdbus_approve_in(session, scope, txid)
    assert r.returncode == 0 and ch["sid"] in r.stdout, r
    record = last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_CHALLENGE=ch["sid"])
    assert record["VPUSH_CALLER_SESSION"] == "c1"
    assert record["VPUSH_CALLER_UNIT"] == os.path.basename(scope), record
    # the outcome records name the session the decision was taken in, too
    record = last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    assert record.get("VPUSH_CALLER_SESSION") == "c1", record
    r = gdbus_approve_in(session, scope, txid)
    assert "AlreadyResponded" in r.stderr, r
    record = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_TRANSACTION=txid)
    assert record.get("VPUSH_CALLER_SESSION") == "c1", record


@pytest.mark.parametrize("where", ["no-unit", "another-users-manager"])
def test_no_session_outside_the_user_manager(start_daemon, logind, client, emulator, session,
                                            where):
    """A process in no session that its own user manager did not start (a cron job, a
    system service running as the user, an app of another user's manager) is in no
    session: the user's graphical session is not its to borrow."""
    scope = app_scope_of(os.getuid() + 1) if where == "another-users-manager" else None
    daemon, gdbus, factor, txid, ch = gdbus_at_the_desk(start_daemon, logind, client,
                                                        emulator, display=True)
    assert_not_in_a_session(gdbus_approve_in(session, scope, txid))
    assert_untouched(emulator, factor, ch)
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_CALLER_EXE=gdbus)
    assert "VPUSH_CALLER_SESSION" not in record, record
