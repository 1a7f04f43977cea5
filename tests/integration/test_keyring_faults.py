"""Keyring faults: the login keyring locked at start and while running, gnome-keyring-daemon
killed and restarted, hung (SIGSTOP) while running and at start, and no Secret Service at all
at start.

For each: Manager.State says keyring-locked, calls that need the keyring fail with
KeyringLocked (the message says why) within the configured timeout ([Keyring] TimeoutMs), the
bus keeps answering everything else, and vpushd recovers by itself once the keyring is back,
without a restart. Keys already in memory keep working while the Secret Service is gone or
hung; a lock drops them.

Timings are asserted only as upper bounds derived from the configured timeout.
"""

import contextlib
import glob
import os
import signal
import subprocess
import time

import pytest

import vpushtest as vt

# under valgrind a keyring that has just started may be starved of processor time by four
# slowed vpushds for longer than 2 s
KEYRING_TIMEOUT_MS = 5000 if vt.VALGRIND else 2000
TIMEOUT = KEYRING_TIMEOUT_MS / 1000
# Every call that needs the keyring fails, and every change of State shows, within this.
BOUND = TIMEOUT + 2
# What vpushd does once the keyring is back (stores, deletes, relabels) has no promised
# bound: waits for it allow for valgrind's slowdown.
SETTLE = BOUND * vt.SLOWDOWN

LOCKED = "the login keyring is locked"
NOT_RUNNING = "the Secret Service (org.freedesktop.secrets) is not running"
NOT_ANSWERING = "the Secret Service did not answer within %d ms" % KEYRING_TIMEOUT_MS


# ---------------------------------------------------------------------------------------
# Faults (on the harness's Session)


def kill_keyring(session):
    """SIGKILL gnome-keyring-daemon, as a crash would, and wait for its name to go."""
    session.keyring.kill()
    session.keyring.wait(10)
    session.keyring = None
    vt.wait_until(lambda: not session.client.name_has_owner(vt.SECRETS_NAME), 10,
                  what="org.freedesktop.secrets to leave the bus", pump=False)


def pause_keyring(session):
    """SIGSTOP: the daemon keeps its bus name but answers nothing. The Session's keyring
    helpers would block on it: don't call them before resume_keyring()."""
    session.keyring.send_signal(signal.SIGSTOP)
    session.keyring_paused = True


def resume_keyring(session):
    if getattr(session, "keyring_paused", False) and session.keyring is not None:
        session.keyring.send_signal(signal.SIGCONT)
    session.keyring_paused = False


@contextlib.contextmanager
def keyring_activation_runs(session, program):
    """D-Bus activation of org.freedesktop.secrets runs program while inside: a service file
    of that name in XDG_DATA_HOME, which the bus reads before the system's."""
    services = os.path.join(session.data, "dbus-1", "services")
    path = os.path.join(services, "org.freedesktop.secrets.service")
    os.makedirs(services, exist_ok=True)
    try:
        with open(path) as f:
            before = f.read()
    except FileNotFoundError:
        before = None
    with open(path, "w") as f:
        f.write("[D-BUS Service]\nName=org.freedesktop.secrets\nExec=%s\n" % program)
    reload_bus_config(session)
    try:
        yield
    finally:
        if before is None:
            os.unlink(path)
        else:
            with open(path, "w") as f:
                f.write(before)
        reload_bus_config(session)


def keyring_activation_blocked(session):
    """Activation fails at once (/bin/false): "no keyring" stays no keyring, whoever asks."""
    return keyring_activation_runs(session, "/bin/false")


def keyring_activation_hung(session):
    """Activation hangs: the program never takes the name, so the bus answers the activation
    only at its own timeout, long after vpushd's keyring timeout."""
    return keyring_activation_runs(session, "/bin/sleep 120")


def reload_bus_config(session):
    session.client.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig",
                        bus_name="org.freedesktop.DBus")


# ---------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def daemon(session, emulator):
    """vpushd with a short keyring timeout (overrides conftest's)."""
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config={"Keyring": {"TimeoutMs": str(KEYRING_TIMEOUT_MS)}})
    d.start()
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def no_stray_keyring(session):
    """D-Bus activation of the Secret Service fails here unless a test sets it up: a call
    of vpushd's while the harness's keyring is killed would otherwise start the system's
    gnome-keyring (locked, and not the harness's), which would then hold the name."""
    with keyring_activation_blocked(session):
        yield


@pytest.fixture(autouse=True)
def keyring_restored(session):
    yield
    resume_keyring(session)
    if session.keyring is None or session.keyring.poll() is not None:
        session.start_keyring(unlock=True)
    elif session.keyring_locked():
        session.unlock_keyring()


def expect_within(limit, name, fn, *args):
    """fn(*args) must fail with the D-Bus error name, within limit seconds."""
    start = time.monotonic()
    try:
        res = fn(*args)
    except vt.DBusCallError as e:
        took = time.monotonic() - start
        assert e.name == name, "expected %s, got %s" % (name, e)
        assert took < limit, "%s came after %.1f s, more than %.1f s" % (e, took, limit)
        return e
    raise AssertionError("expected %s, got a reply %r" % (name, res))


def enroll_request(emulator, identity):
    token = emulator.access_token(identity)["token"]
    return {"service-sid": emulator.service_sid, "identity": identity, "access-token": token,
            "friendly-name": "During a keyring fault"}


def enroll_fails(client, emulator, message):
    """EnrollFactor fails with KeyringLocked and message within BOUND, and leaves no factor
    at the Verify API."""
    identity = vt.unique_identity("fault")
    e = expect_within(BOUND, vt.ERR_KEYRING_LOCKED, client.enroll,
                      enroll_request(emulator, identity))
    assert e.message == message
    assert emulator.list_factors(identity) == []
    return e


def refused_while_locked(client, emulator, session, txid, ch):
    """While the keyring is locked: the approval of ch and an enrollment fail with
    KeyringLocked, saying so, and nothing is answered; once unlocked, both work."""
    e = expect_within(BOUND, vt.ERR_KEYRING_LOCKED, client.approve,
                      {"transaction-id": txid, "timeout-ms": 3000})
    assert e.message == LOCKED
    assert emulator.answer_posts(ch) == 0
    enroll_fails(client, emulator, LOCKED)

    session.unlock_keyring()
    client.wait_state("ready", timeout=BOUND)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch
    vt.enroll(client, emulator)


def new_challenge(emulator, factor):
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    return txid, ch["sid"]


def our_keys(session, emulator):
    return len(session.keyring_items({"service-sid": emulator.service_sid}))


# ---------------------------------------------------------------------------------------
# Tests


def test_locked_at_start(daemon, client, emulator, session):
    f = vt.enroll(client, emulator)
    daemon.stop()
    session.restart_keyring(unlock=False)
    daemon.start(wait_states=("keyring-locked",), timeout=BOUND)
    assert client.factor_paths() == [f.path]

    txid, ch = new_challenge(emulator, f)
    refused_while_locked(client, emulator, session, txid, ch)


def test_locked_while_running(factor, daemon, client, emulator, session):
    txid, ch = new_challenge(emulator, factor)
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=BOUND)
    # a lock drops the keys vpushd had in memory too
    refused_while_locked(client, emulator, session, txid, ch)


def test_killed_and_restarted(factor, daemon, client, emulator, session):
    keys = our_keys(session, emulator)
    kill_keyring(session)
    client.wait_state("keyring-locked", timeout=BOUND)
    # what needs the keyring fails at once, saying why
    enroll_fails(client, emulator, NOT_RUNNING)
    # the key of the enrolled factor is in memory: approvals go on
    txid, ch = new_challenge(emulator, factor)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch
    # and a challenge that is not there is not there: NotFound, not KeyringLocked
    for match in ({"challenge-sid": "YC" + "0" * 32}, {"transaction-id": "none-" + txid}):
        e = expect_within(BOUND, vt.ERR_NOT_FOUND, client.approve,
                          dict(match, **{"timeout-ms": 1000}))
        assert "within 1000 ms" in e.message, e

    session.start_keyring(unlock=True)
    client.wait_state("ready", timeout=BOUND)
    # a new connection (and session) to the new daemon: storing and reading work
    g = vt.enroll(client, emulator)
    assert len(session.keyring_items({"factor-sid": g.sid})) == 1
    assert our_keys(session, emulator) == keys + 1
    txid, ch = new_challenge(emulator, g)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch


def test_killed_and_restarted_locked(factor, daemon, client, emulator, session):
    kill_keyring(session)
    client.wait_state("keyring-locked", timeout=BOUND)
    session.start_keyring(unlock=False)

    # back, but locked: vpushd reads the new daemon's lock state and says so
    seen = []

    def says_locked():
        identity = vt.unique_identity("fault")
        try:
            client.enroll(enroll_request(emulator, identity))
        except vt.DBusCallError as e:
            seen[:] = [e]
            return e.name == vt.ERR_KEYRING_LOCKED and e.message == LOCKED
        raise AssertionError("enrolled while the keyring is locked")
    vt.wait_until(says_locked, BOUND, what="KeyringLocked: %s (last: %s)" % (LOCKED, seen))
    assert client.manager_property("State") == "keyring-locked"
    # a locked keyring drops the keys in memory, as any lock does
    txid, ch = new_challenge(emulator, factor)
    e = expect_within(BOUND, vt.ERR_KEYRING_LOCKED, client.approve,
                      {"transaction-id": txid, "timeout-ms": 3000})
    assert e.message == LOCKED

    session.unlock_keyring()
    client.wait_state("ready", timeout=BOUND)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch


def test_hung(factor, daemon, client, emulator, session):
    keys = our_keys(session, emulator)
    txid, ch = new_challenge(emulator, factor)
    identities = [vt.unique_identity("hung"), vt.unique_identity("hung")]
    request = enroll_request(emulator, identities[0])

    pause_keyring(session)
    try:
        pending = vt.PendingCall(client, "EnrollFactor", vt.asv(request))
        # while that enrollment waits for the keyring, the bus answers everything else
        for _ in range(5):
            start = time.monotonic()
            assert client.manager_property("Version")
            client.managed_objects()
            client.manager_property("State")
            took = time.monotonic() - start
            assert took < TIMEOUT, "property reads took %.1f s while the keyring hangs" % took
            time.sleep(0.1)
        # and an approval with the key in memory goes through
        assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch

        vt.wait_until(lambda: pending.done, BOUND, what="EnrollFactor to fail")
        assert pending.error is not None, "enrolled while the keyring hangs: %r" % (pending.value,)
        assert pending.error.name == vt.ERR_KEYRING_LOCKED
        assert pending.error.message == NOT_ANSWERING
        assert pending.took < BOUND
        client.wait_state("keyring-locked", timeout=BOUND)

        # known not to answer: the next call that needs it fails too
        e = expect_within(BOUND, vt.ERR_KEYRING_LOCKED, client.enroll,
                          enroll_request(emulator, identities[1]))
        assert e.message == NOT_ANSWERING
        for identity in identities:
            assert emulator.list_factors(identity) == []
    finally:
        resume_keyring(session)

    client.wait_state("ready", timeout=BOUND)
    g = vt.enroll(client, emulator)
    txid, ch = new_challenge(emulator, g)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch
    # the resumed daemon ran the store that had timed out; vpushd deleted that key again
    vt.wait_until(lambda: our_keys(session, emulator) == keys + 1, SETTLE,
                  what="no key left of the enrollment that failed")


def journal_entries(daemon):
    return glob.glob(os.path.join(daemon.state_dir, "enrolling", "*.json"))


def test_failed_rollback_finished_while_running(daemon, client, emulator, session):
    """An enrollment that fails while the keyring hangs can't undo itself then: its
    provisional key can't be deleted. Once the keyring answers again its journal entry is
    finished as at start, not kept, with its key, until vpushd restarts weeks later. Several
    deletes of that key then meet (the recovery's, the key store's own of the store that
    timed out)."""
    vt.enroll(client, emulator)
    keys = our_keys(session, emulator)
    for _ in range(2):
        pause_keyring(session)
        try:
            enroll_fails(client, emulator, NOT_ANSWERING)
        finally:
            resume_keyring(session)
        client.wait_state("ready", timeout=BOUND)
    vt.wait_until(lambda: not journal_entries(daemon), SETTLE,
                  what="no journal entry left of the enrollments that failed")
    vt.wait_until(lambda: our_keys(session, emulator) == keys, SETTLE,
                  what="no key left of the enrollments that failed")
    assert daemon.running()
    vt.enroll(client, emulator)


def test_key_of_a_deleted_factor_goes_once_unlocked(daemon, client, emulator, session):
    """The keyring is locked just as the API deletes the factor: its key can't go then, so
    the delete succeeds with the key left, which its journal entry names. Once unlocked, the
    running vpushd deletes that key and drops the entry, without a restart."""
    f = vt.enroll(client, emulator)
    emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600, method="DELETE",
                   when="after")
    call = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN, what="the DELETE held")
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=BOUND)
    emulator.clear_faults()
    call.wait(30 * vt.SLOWDOWN)
    assert call.error is None, call.error
    assert emulator.fetch_factor(f.identity, f.sid).status == 404
    assert len(journal_entries(daemon)) == 1
    assert "the key of deleted factor %s stays" % f.sid in daemon.log_text()

    session.unlock_keyring()
    client.wait_state("ready", timeout=BOUND)
    vt.wait_until(lambda: not journal_entries(daemon), SETTLE,
                  what="the deletion's journal entry to go")
    assert session.keyring_items({"factor-sid": f.sid}) == []
    assert daemon.running()


def test_hung_at_start(daemon, client, emulator, session):
    f = vt.enroll(client, emulator)
    daemon.stop()
    pause_keyring(session)
    try:
        daemon.start(wait_states=("keyring-locked",), timeout=BOUND)
        txid, ch = new_challenge(emulator, f)
        expect_within(BOUND, vt.ERR_KEYRING_LOCKED, client.approve,
                      {"transaction-id": txid, "timeout-ms": 3000})
        assert emulator.answer_posts(ch) == 0
    finally:
        resume_keyring(session)
    client.wait_state("ready", timeout=BOUND)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch


def test_calls_wait_while_starting(daemon, client, emulator, session):
    """vpushd takes its name before the Secret Service has answered: State is "starting",
    and a call that needs a key waits for the answer instead of failing."""
    f = vt.enroll(client, emulator)
    daemon.stop()
    txid, ch = new_challenge(emulator, f)
    # a long keyring timeout: "starting" must last for as long as this test looks at it
    slow = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                     config={"Keyring": {"TimeoutMs": "25000"}})
    pause_keyring(session)
    try:
        slow.start(wait_states=("starting",), timeout=BOUND)
        assert client.factor_paths() == [f.path]
        approval = vt.PendingCall(client, "ApproveChallenge", vt.asv(
            {"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}))
        # the approval waits: nothing answered, nothing posted, still starting
        time.sleep(0.5)
        client.pump()
        assert not approval.done, approval.error
        assert client.manager_property("State") == "starting"
        assert emulator.answer_posts(ch) == 0
    finally:
        resume_keyring(session)
    try:
        vt.wait_until(lambda: approval.done, vt.APPROVE_TIMEOUT_MS / 1000 + BOUND,
                      what="the approval")
        assert approval.error is None, approval.error
        assert approval.value == (ch,)
        assert emulator.answer_posts(ch) == 1
        assert client.manager_property("State") == "ready"
    finally:
        slow.stop()


def test_approval_timeout_runs_from_the_keyrings_answer(daemon, client, emulator, session):
    """An approval's timeout-ms is its own wait once the Secret Service has answered: one
    shorter than the wait for that answer is no NotFound while vpushd has not even asked
    the API (by transaction id and by challenge sid alike)."""
    f = vt.enroll(client, emulator)
    daemon.stop()
    txid, ch = new_challenge(emulator, f)
    _, ch_by_sid = new_challenge(emulator, f)
    slow = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                     config={"Keyring": {"TimeoutMs": "25000"}})
    pause_keyring(session)
    try:
        slow.start(wait_states=("starting",), timeout=BOUND)
        calls = [vt.PendingCall(client, "ApproveChallenge", vt.asv(
            {"transaction-id": txid, "timeout-ms": 1000})),
                 vt.PendingCall(client, "ApproveChallenge", vt.asv(
            {"challenge-sid": ch_by_sid, "timeout-ms": 1000}))]
        time.sleep(3)
        client.pump()
        assert [c.error for c in calls if c.done] == []
        assert client.manager_property("State") == "starting"
    finally:
        resume_keyring(session)
    try:
        for c in calls:
            c.wait(BOUND)
        assert [c.error for c in calls] == [None, None]
        assert [c.value for c in calls] == [(ch,), (ch_by_sid,)]
        assert emulator.answer_posts(ch) == 1 and emulator.answer_posts(ch_by_sid) == 1
    finally:
        slow.stop()


def test_enrollments_waiting_for_the_keyring_are_capped(daemon, client, emulator, session):
    """Enrollments that wait for the Secret Service's first answer count in the cap of 8
    under way (each holds its caller's pidfd): the ninth is LimitsExceeded at once, not
    parked; once the keyring answers, the eight go on."""
    daemon.stop()
    slow = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                     config={"Keyring": {"TimeoutMs": "25000"}})
    pause_keyring(session)
    calls = []
    try:
        slow.start(wait_states=("starting",), timeout=BOUND)
        for _ in range(9):
            identity = vt.unique_identity()
            token = emulator.access_token(identity)["token"]
            calls.append(vt.PendingCall(client, "EnrollFactor", vt.asv(
                {"service-sid": emulator.service_sid, "identity": identity,
                 "access-token": token, "friendly-name": "capped " + identity[-6:]})))
        vt.one_over_the_cap(client, calls, "8 enrollments are under way already", BOUND)
        assert client.manager_property("State") == "starting"
    finally:
        resume_keyring(session)
    try:
        for c in calls:
            c.wait(SETTLE * 2)
        assert sum(c.error is None for c in calls) == 8, [c.error for c in calls]
    finally:
        slow.stop()


def test_activation_hung_at_start(daemon, client, emulator, session):
    """The Secret Service's activation never finishes: vpushd still settles within its
    keyring timeout (keyring-locked), and what waited for that (an approval, an enrollment
    made while starting) fails then rather than hanging; once a keyring owns the name,
    vpushd is ready."""
    f = vt.enroll(client, emulator)
    daemon.stop()
    txid, ch = new_challenge(emulator, f)
    with keyring_activation_hung(session):
        session.stop_keyring()
        daemon.start(wait_states=("starting", "keyring-locked"), timeout=BOUND)
        approval = vt.PendingCall(client, "ApproveChallenge",
                               vt.asv({"transaction-id": txid, "timeout-ms": 10000}))
        enrollment = vt.PendingCall(client, "EnrollFactor",
                                 vt.asv(enroll_request(emulator, vt.unique_identity("hung"))))
        # each is answered within the keyring timeout of the start and one of its own
        vt.wait_until(lambda: approval.done and enrollment.done, 2 * TIMEOUT + 2,
                      what="the calls made while starting")
        for call in (approval, enrollment):
            assert call.error is not None and call.error.name == vt.ERR_KEYRING_LOCKED, \
                call.error
        assert client.manager_property("State") == "keyring-locked"
        assert emulator.answer_posts(ch) == 0
        session.start_keyring(unlock=True)
        client.wait_state("ready", timeout=BOUND)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch


def test_absent_at_start(daemon, client, emulator, session):
    f = vt.enroll(client, emulator)
    daemon.stop()
    with keyring_activation_blocked(session):
        session.stop_keyring()
        daemon.start(wait_states=("keyring-locked",), timeout=BOUND)
        assert client.factor_paths() == [f.path]
        txid, ch = new_challenge(emulator, f)
        e = expect_within(BOUND, vt.ERR_KEYRING_LOCKED, client.approve,
                          {"transaction-id": txid, "timeout-ms": 3000})
        assert e.message == NOT_RUNNING
        assert emulator.answer_posts(ch) == 0
        enroll_fails(client, emulator, NOT_RUNNING)

        session.start_keyring(unlock=True)
        client.wait_state("ready", timeout=BOUND)
    assert client.approve({"transaction-id": txid, "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch
    vt.enroll(client, emulator)


def test_missing_key_says_nothing_about_the_api(session, client, emulator):
    """A factor whose key is gone from the keyring fails at home: that is no sign of the
    API answering, so an offline vpushd stays offline (dbus-api.md: offline = the API could
    not be reached at the last attempt)."""
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config={
        "Verify": {"TimeoutMs": "1000", "RetryTimeoutMs": "2000"},
        "Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}})
    d.start()
    try:
        a = vt.enroll(client, emulator)
        b = vt.enroll(client, emulator, verify=False)
        emulator.fault(r"/Entities/%s/Challenges\Z" % a.identity, "drop", method="GET",
                       count=1000)
        subprocess.run(["secret-tool", "clear", "factor-sid", b.sid], env=session.env,
                       timeout=20, check=True)
        d.restart(wait_states=("ready", "offline"))  # forgets the keys it held
        client.wait_state("offline", timeout=10)
        for _ in range(2):
            try:
                client.factor_verify(b.path)
            except vt.DBusCallError:
                pass
            else:
                raise AssertionError("a factor without its key was verified")
            assert client.manager_property("State") == "offline"
        emulator.clear_faults()
        client.list_challenges(a.path, {})
        assert client.manager_property("State") == "ready"
    finally:
        d.stop()


def test_rename_waits_for_the_relabel_before_it(factor, daemon, client, emulator, session):
    """A rename ends once its key's label has the new name, or that failed: the next
    Update of the factor is sent only then, so two relabels are never out at once (they
    could reach the keyring out of order and leave it with the older name). Before, the
    relabel ran on its own after the reply, and the next rename went out meanwhile."""
    def labels():
        return [i["label"] for i in session.keyring_items({"factor-sid": factor.sid})]

    def log_lines():
        return daemon.log_text().splitlines()

    # the key in memory: the renames below need no keyring
    client.factor_update(factor.path, {"friendly-name": "Desk 1"})
    vt.wait_until(lambda: labels() == ["vpush factor key (Desk 1)"], SETTLE,
                  what="the key relabelled")
    mark = len(log_lines())
    pause_keyring(session)
    try:
        client.factor_update(factor.path, {"friendly-name": "Desk 2"})  # its relabel hangs
        client.factor_update(factor.path, {"friendly-name": "Desk 3"})
        lines = log_lines()[mark:]
        sent = [i for i, line in enumerate(lines)
                if "HTTP POST " in line and line.endswith("/Factors/" + factor.sid)]
        label_failed = [i for i, line in enumerate(lines)
                        if "keeps its old label" in line and NOT_ANSWERING in line]
        assert len(sent) == 2 and label_failed, lines
        assert sent[0] < label_failed[0] < sent[1], \
            "Desk 3 went out while Desk 2's relabel was out"
    finally:
        resume_keyring(session)
    client.wait_state("ready", timeout=BOUND)
    client.factor_update(factor.path, {"friendly-name": "Desk 4"})
    vt.wait_until(lambda: labels() == ["vpush factor key (Desk 4)"], SETTLE,
                  what="the key relabelled")
    assert client.factor_props(factor.path)["FriendlyName"] == "Desk 4"


def kill_paused_keyring(session):
    """SIGKILL a keyring stopped by pause_keyring(): whatever it was sent dies unanswered."""
    session.keyring.kill()
    session.keyring.wait(10)
    session.keyring = None
    session.keyring_paused = False
    vt.wait_until(lambda: not session.client.name_has_owner(vt.SECRETS_NAME), 10,
                  what="org.freedesktop.secrets to leave the bus", pump=False)


def test_killed_during_delete(factor, daemon, client, emulator, session):
    """The keyring dies while Factor.Delete deletes the key (the factor is gone at the API):
    the delete succeeds, and the key goes as soon as the keyring is back, without a restart
    of vpushd (before, it stayed until vpushd's next start)."""
    pause_keyring(session)
    call = vt.PendingCall(client, "Delete", None, factor.path, vt.FACTOR_IFACE)
    vt.wait_until(lambda: emulator.state()["factors"][factor.sid]["deleted"], SETTLE,
                  what="the factor deleted at the API")
    # the key was in memory: the only keyring call is the item's delete, sent (and hanging)
    # or about to be; either way it dies with the keyring
    kill_paused_keyring(session)
    call.wait(SETTLE)
    assert call.error is None, call.error
    assert client.factor_paths() == []

    session.start_keyring(unlock=True)
    client.wait_state("ready", timeout=BOUND)
    vt.wait_until(lambda: session.keyring_items({"factor-sid": factor.sid}) == [], SETTLE,
                  what="the deleted factor's key gone from the keyring")
    vt.wait_until(lambda: not journal_entries(daemon), SETTLE,
                  what="the deletion's journal entry gone")


def test_killed_during_enrollment_key_store(daemon, client, emulator, session):
    """The keyring dies while EnrollFactor stores the key under the new factor's sid: the
    enrollment fails with KeyringLocked and is undone at the API at once; the keys it had
    stored (the provisional one) go as soon as the keyring is back, without a restart."""
    keys = our_keys(session, emulator)
    identity = vt.unique_identity("killed")
    # hold the create's reply: the keyring is stopped before vpushd stores the key under
    # the sid it brings
    emulator.fault(r"/Entities/%s/Factors\Z" % identity, action="delay", seconds=600,
                   method="POST", when="after")
    call = vt.PendingCall(client, "EnrollFactor", vt.asv(enroll_request(emulator, identity)))
    vt.wait_until(lambda: emulator.faults_held() >= 1, SETTLE, what="the create held")
    pause_keyring(session)
    emulator.clear_faults()
    vt.wait_until(lambda: "storing its key" in daemon.log_text(), SETTLE,
                  what="the key's store under the sid sent")
    kill_paused_keyring(session)
    call.wait(SETTLE)
    assert call.error is not None and call.error.name == vt.ERR_KEYRING_LOCKED, call.error
    assert call.error.message == NOT_RUNNING
    assert emulator.list_factors(identity) == []

    session.start_keyring(unlock=True)
    client.wait_state("ready", timeout=BOUND)
    vt.wait_until(lambda: our_keys(session, emulator) == keys, SETTLE,
                  what="no key left of the enrollment that failed")
    vt.wait_until(lambda: not journal_entries(daemon), SETTLE,
                  what="no journal entry left of the enrollment that failed")


def test_killed_during_relabel(factor, daemon, client, emulator, session):
    """The keyring dies while a rename relabels the factor's key: the rename succeeds, and
    the key gets the new name in its label once the keyring is back, without a restart or
    another rename (before, it kept the old name until the next rename)."""
    def labels():
        return [i["label"] for i in session.keyring_items({"factor-sid": factor.sid})]

    pause_keyring(session)
    # the key is in memory: the rename needs the keyring only for the relabel
    client.factor_update(factor.path, {"friendly-name": "Renamed meanwhile"})
    kill_paused_keyring(session)
    session.start_keyring(unlock=True)
    client.wait_state("ready", timeout=BOUND)
    vt.wait_until(lambda: labels() == ["vpush factor key (Renamed meanwhile)"], SETTLE,
                  what="the key relabelled")
