"""A slow disk: vpushd's durable writes (factor records, the enrollment journal, the clock
correction) wait for the disk in a thread of their own, never on the main loop, and are
done in the order they were asked for. The disk is made slow by tests/fsync-gate-shim.c,
preloaded into vpushd: while the test's gate file exists, each fsync() waits."""

import json
import os
import signal

import pytest

import vpushtest as vt

SHIM = os.path.join(vt.BUILD_DIR, "tests", "integration", "fsync-gate.so")


@pytest.fixture
def gate(session):
    path = session.path("fsync-gate-%d" % os.getpid())
    yield path
    for p in (path, path + ".held"):
        if os.path.exists(p):
            os.unlink(p)


@pytest.fixture
def slow_daemon(session, emulator, gate):
    if not os.path.exists(SHIM):
        raise vt.HarnessError("the fsync shim is not built: %s" % SHIM)
    d = vt.Daemon(session, emulator, env=gate_env(gate))
    d.start()
    yield d
    if os.path.exists(gate):
        os.unlink(gate)
    d.stop()


def gate_env(gate, only=None):
    """vpushd's environment for a slow disk: every fsync waits while the gate exists, or
    only those of paths ending with `only`."""
    env = {"LD_PRELOAD": SHIM, "VPUSH_TEST_FSYNC_GATE": gate}
    if only is not None:
        env["VPUSH_TEST_FSYNC_GATE_ONLY"] = only
    return env


def close_gate(gate):
    if os.path.exists(gate + ".held"):
        os.unlink(gate + ".held")
    open(gate, "w").close()


def start_enrollment(client, emulator, name):
    """An EnrollFactor call under way: (its identity, the call)."""
    identity = vt.unique_identity()
    token = emulator.access_token(identity)["token"]
    return identity, vt.PendingCall(client, "EnrollFactor", vt.asv({
        "service-sid": emulator.service_sid, "identity": identity, "access-token": token,
        "friendly-name": name}))


def wait_held(gate):
    vt.wait_until(lambda: os.path.exists(gate + ".held"), 30, what="a write held at the disk")


def record(daemon, sid):
    with open(os.path.join(daemon.state_dir, "factors", sid + ".json")) as f:
        return json.load(f)


def test_bus_answered_while_a_write_waits(slow_daemon, client, emulator, gate):
    f = vt.enroll(client, emulator)
    close_gate(gate)
    call = vt.PendingCall(client, "Update", vt.asv({"friendly-name": "slow disk"}), f.path,
                          vt.FACTOR_IFACE)
    wait_held(gate)

    # calls that need no write are answered meanwhile, one that needs the API too
    assert f.path in client.managed_objects()
    assert client.list_challenges(f.path)[0] == []
    assert client.manager_property("State") == "ready"
    # the Update's reply waits for its record
    assert not call.done
    assert record(slow_daemon, f.sid)["friendly_name"] != "slow disk"

    os.unlink(gate)
    call.wait()
    assert call.error is None, call.error
    assert record(slow_daemon, f.sid)["friendly_name"] == "slow disk"
    assert client.factor_props(f.path)["FriendlyName"] == "slow disk"


def test_stop_finishes_the_write(slow_daemon, client, emulator, gate):
    """SIGTERM while a write waits: vpushd exits once it is done. The API already has the
    new name, so the record must have it too."""
    f = vt.enroll(client, emulator)
    close_gate(gate)
    vt.PendingCall(client, "Update", vt.asv({"friendly-name": "written at exit"}), f.path,
                   vt.FACTOR_IFACE)
    wait_held(gate)
    assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == "written at exit"

    slow_daemon.proc.send_signal(signal.SIGTERM)
    vt.wait_until(lambda: "stopping" in slow_daemon.log_text(), 30, what="vpushd to stop")
    os.unlink(gate)
    assert slow_daemon.stop() == 0
    assert record(slow_daemon, f.sid)["friendly_name"] == "written at exit"

    slow_daemon.start()
    assert client.factor_props(f.path)["FriendlyName"] == "written at exit"


def test_killed_while_the_delete_journal_waits(slow_daemon, client, emulator, gate, session):
    """A Delete whose journal entry never reached the disk had not begun: the factor stays,
    with its key, at the API and here."""
    f = vt.enroll(client, emulator)
    close_gate(gate)
    call = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    wait_held(gate)
    assert not call.done
    slow_daemon.proc.send_signal(signal.SIGKILL)
    slow_daemon.proc.wait()
    os.unlink(gate)
    slow_daemon.stop()

    slow_daemon.start()
    assert client.factor_paths() == [f.path]
    assert emulator.fetch_factor(f.identity, f.sid).status == 200
    assert len(session.keyring_items({"factor-sid": f.sid})) == 1
    client.factor_delete(f.path)
    assert client.factor_paths() == []


def test_delete_waits_for_the_record_removal(session, emulator, client, gate):
    """docs/crash-safety.md, Deletion: the record goes before the API is asked. Its removal
    is on disk (its directory synced) before the DELETE goes out, or a power cut after it
    would bring the record back: a factor on the bus that the API no longer has."""
    # only the syncs of the records' directory wait
    daemon = vt.Daemon(session, emulator, env=gate_env(gate, os.sep + "factors"))
    daemon.start()
    try:
        f = vt.enroll(client, emulator)
        close_gate(gate)
        call = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
        wait_held(gate)
        assert not os.path.exists(os.path.join(daemon.state_dir, "factors", f.sid + ".json"))
        assert not call.done
        deletes = [r for r in emulator.requests()
                   if r["method"] == "DELETE" and r["path"].endswith("/Factors/" + f.sid)]
        assert deletes == [], deletes

        os.unlink(gate)
        call.wait()
        assert call.error is None, call.error
        assert emulator.fetch_factor(f.identity, f.sid).status == 404
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        daemon.stop()


def test_keyring_locked_while_an_enrollment_is_written(session, emulator, client, gate):
    """A lock wipes the keys vpushd holds (README): one locked while an enrollment's
    record waits for the disk leaves the new factor's key in the keyring only, and its
    challenges can't be answered until the keyring is unlocked."""
    # the record's write waits, the journal's and the keyring's steps before it don't
    daemon = vt.Daemon(session, emulator, env=gate_env(gate, os.sep + "factors"))
    daemon.start()
    try:
        close_gate(gate)
        identity, call = start_enrollment(client, emulator, "locked meanwhile")
        wait_held(gate)
        session.lock_keyring()
        client.wait_state("keyring-locked", timeout=10 * vt.SLOWDOWN)
        os.unlink(gate)
        call.wait()
        assert call.error is None, call.error
        sid = client.get_property(call.value[0], vt.FACTOR_IFACE, "Sid")

        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(identity, sid, hidden={"transaction_id": txid})
        try:
            client.approve({"transaction-id": txid, "timeout-ms": 3000})
        except vt.DBusCallError as e:
            assert e.name == vt.ERR_KEYRING_LOCKED, e
        else:
            raise AssertionError("a challenge was answered while the keyring was locked")
        assert emulator.answer_posts(ch["sid"]) == 0

        session.unlock_keyring()
        client.wait_state("ready", timeout=10 * vt.SLOWDOWN)
        assert client.approve({"transaction-id": txid}) == ch["sid"]
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        if session.keyring_locked():
            session.unlock_keyring()
        daemon.stop()


def test_enrollment_entry_outlives_the_wait_for_its_record(session, emulator, client, gate):
    """An enrollment's journal entry is removed only once its factor's record is on the
    disk: killed while the record's write waits, the next start still has the entry, and
    the factor ends whole (record, key, factor at the API) or gone from both sides."""
    # the record's write waits (its directory's sync), the journal's steps don't
    daemon = vt.Daemon(session, emulator, env=gate_env(gate, os.sep + "factors"))
    journal = os.path.join(daemon.state_dir, "enrolling")
    daemon.start()
    try:
        close_gate(gate)
        identity, call = start_enrollment(client, emulator, "killed while written")
        wait_held(gate)
        assert not call.done
        entries = [n for n in os.listdir(journal) if n.endswith(".json")]
        assert len(entries) == 1, "the journal entry went before the record was on the disk"
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        os.unlink(gate)
        daemon.stop()

        daemon.start()
        vt.wait_until(lambda: "crash recovery finished" in daemon.log_text(), 20 * vt.SLOWDOWN,
                      what="vpushd's crash recovery to finish")
        assert [n for n in os.listdir(journal) if n.endswith(".json")] == []
        remote = {sid: f for sid, f in emulator.state()["factors"].items()
                  if f.get("identity") == identity}
        assert len(remote) == 1, remote
        [(sid, factor)] = remote.items()
        keys = session.keyring_items({"factor-sid": sid})
        if client.factor_paths():
            assert client.factor_paths() == [vt.factor_path(sid)]
            assert not factor["deleted"] and factor["status"] == "verified", factor
            assert len(keys) == 1
        else:
            assert factor["deleted"], factor
            assert keys == []
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        daemon.stop()


def test_new_journal_directory_is_synced(session, emulator, client, gate):
    """The first enrollment makes the journal's directory: it is synced into the state
    directory before the entry is written in it, or a power cut could lose the directory
    with the entry, and with it what the next start must undo."""
    daemon = vt.Daemon(session, emulator)
    # only syncs of the state directory itself wait
    daemon.extra_env = gate_env(gate, os.path.basename(daemon.state_dir))
    daemon.start()
    try:
        journal = os.path.join(daemon.state_dir, "enrolling")
        assert not os.path.exists(journal)
        close_gate(gate)
        identity = vt.unique_identity()
        call = vt.PendingCall(client, "EnrollFactor", vt.asv({
            "service-sid": emulator.service_sid, "identity": identity,
            "access-token": emulator.access_token(identity)["token"],
            "friendly-name": "first of all"}))
        vt.wait_until(lambda: os.path.exists(gate + ".held") or call.done, 30 * vt.SLOWDOWN,
                      what="a write held at the disk")
        assert not call.done, call.error
        assert os.path.isdir(journal) and os.listdir(journal) == []
        assert not call.done
        os.unlink(gate)
        call.wait()
        assert call.error is None, call.error
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        daemon.stop()


def test_failed_delete_leaves_state_to_the_last_request(session, client, emulator, gate):
    """State is offline when the Verify API could not be reached at the last attempt
    (dbus-api.md). A Delete whose DELETE found no API puts the record back before it
    replies; a request that reaches the API while that write waits leaves vpushd ready,
    also once the Delete has replied. Before, the reply reported the DELETE's failure once
    more, and State went back to offline."""
    d = vt.Daemon(session, emulator, config={
        "Verify": {"TimeoutMs": "120000", "RetryTimeoutMs": "0"},
        "Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}},
        env=gate_env(gate))
    d.start()
    try:
        f, other = vt.enroll(client, emulator), vt.enroll(client, emulator)
        path = r"/Factors/%s\Z" % f.sid
        # held, and then the connection closed without an answer
        emulator.fault(path, action="delay", seconds=600, method="DELETE")
        emulator.fault(path, action="drop", method="DELETE", count=1000)
        call = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
        vt.wait_until(lambda: emulator.faults_held() >= 1, 30, what="the DELETE held")
        close_gate(gate)
        emulator.release_held()
        client.wait_state("offline", timeout=30)
        wait_held(gate)  # the record of the factor going back
        assert client.list_challenges(other.path)[0] == []
        assert client.manager_property("State") == "ready"
        os.unlink(gate)
        call.wait()
        assert call.error is not None and call.error.name == vt.ERR_PREFIX + "Network", \
            call.error
        assert f.path in client.factor_paths()
        assert client.manager_property("State") == "ready"
    finally:
        emulator.clear_faults()
        d.stop()


def test_refresh_while_a_delete_removes_its_entry(session, emulator, client, gate):
    """A Delete removes the factor's key, then its journal entry, then the factor: a poll
    of the factor in between finds no key. That ends the poll as for a factor that is gone,
    no failure of the Refresh that asked for it (nor "the key is missing"); the other
    factors are polled."""
    # only the syncs of the journal's directory wait: the entry's write and its removal
    daemon = vt.Daemon(session, emulator, env=gate_env(gate, os.sep + "enrolling"))
    daemon.start()
    try:
        f = vt.enroll(client, emulator)
        keep = vt.enroll(client, emulator)
        emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600, method="DELETE",
                       when="before")
        close_gate(gate)
        call = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
        wait_held(gate)                       # the journal entry's write
        os.unlink(gate)
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the DELETE held at the API")
        close_gate(gate)
        emulator.release_held()
        wait_held(gate)                       # the entry's removal, the key gone already
        assert session.keyring_items({"factor-sid": f.sid}) == []
        assert f.path in client.factor_paths()
        ch = emulator.create_challenge(keep.identity, keep.sid)
        client.refresh()
        assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
        os.unlink(gate)
        call.wait()
        assert call.error is None, call.error
        assert client.factor_paths() == [keep.path]
    finally:
        emulator.clear_faults()
        if os.path.exists(gate):
            os.unlink(gate)
        daemon.stop()
