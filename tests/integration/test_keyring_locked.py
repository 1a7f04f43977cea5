"""A locked Secret Service collection is a state (State=keyring-locked) and a clear error
(KeyringLocked), never mistaken for "not found"; unlocking recovers without a restart."""

import os
import subprocess
import time

import pytest

import vpushtest as vt
from vpushtest_policy import MSGID_APPROVED, last_audit


@pytest.fixture(autouse=True)
def unlocked_afterwards(session):
    yield
    if session.keyring is None or session.keyring.poll() is not None:
        session.start_keyring(unlock=True)
    elif session.keyring_locked():
        session.unlock_keyring()


def _expect(name, fn, *args):
    try:
        res = fn(*args)
    except vt.DBusCallError as e:
        assert e.name == name, "expected %s, got %s" % (name, e)
        return e
    raise AssertionError("expected %s, got a reply %r" % (name, res))


def test_locked_then_unlocked(factor, daemon, client, emulator, session):
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})

    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=10)
    _expect(vt.ERR_KEYRING_LOCKED, client.approve, {"transaction-id": txid, "timeout-ms": 3000})
    assert emulator.answer_posts(ch["sid"]) == 0
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"
    # the factor is still there: locked is not "gone"
    assert client.factor_paths() == [factor.path]
    assert len(session.keyring_items({"factor-sid": factor.sid})) == 1

    # enrolling needs the keyring too, and must leave no orphan
    identity = vt.unique_identity("locked")
    token = emulator.access_token(identity)["token"]
    _expect(vt.ERR_KEYRING_LOCKED, client.enroll,
            {"service-sid": emulator.service_sid, "identity": identity, "access-token": token,
             "friendly-name": "while locked"})
    assert emulator.list_factors(identity) == []
    assert client.factor_paths() == [factor.path]

    session.unlock_keyring()
    client.wait_state("ready", timeout=10)
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


def test_locked_at_start(daemon, client, emulator, session):
    f = vt.enroll(client, emulator)
    daemon.stop()
    session.restart_keyring(unlock=False)
    assert session.keyring_locked()
    daemon.start(wait_states=("keyring-locked",))
    # the factor record is on disk: the object is there, its key just can't be read
    assert client.factor_paths() == [f.path]
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    _expect(vt.ERR_KEYRING_LOCKED, client.approve, {"transaction-id": txid, "timeout-ms": 3000})
    assert emulator.answer_posts(ch["sid"]) == 0

    session.unlock_keyring()
    client.wait_state("ready", timeout=10)
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "approved"


def test_unlocked_with_every_descriptor_in_use(daemon, client, emulator, session):
    """libsecret sets up libgcrypt when it first opens an encrypted session, and libgcrypt
    aborts the process when it can't read /proc/sys/crypto/fips_enabled then: vpushd has
    it set up at start, so the first session, opened once the keyring is unlocked while no
    descriptor is left (a poll every 2 s asks for the key), fails alone. With descriptors
    again, the key is read."""
    f = vt.enroll(client, emulator)
    daemon.stop()
    session.restart_keyring(unlock=False)
    polling = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                        config={"Poll": {"IntervalSeconds": "2"}})
    polling.start(wait_states=("keyring-locked",))
    try:
        pid = polling.proc.pid
        in_use = len(os.listdir("/proc/%d/fd" % pid))
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:" % in_use], check=True)
        session.unlock_keyring()
        time.sleep(4)
        assert polling.running(), polling.log_text()[-2000:]
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=1024:"], check=True)
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        assert client.approve({"transaction-id": txid,
                               "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
    finally:
        polling.stop()


def test_delete_while_locked(factor, daemon, client, emulator, session):
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=10)
    _expect(vt.ERR_KEYRING_LOCKED, client.factor_delete, factor.path)
    session.unlock_keyring()
    client.wait_state("ready", timeout=10)
    client.factor_delete(factor.path)
    assert client.factor_paths() == []
    assert session.keyring_items({"factor-sid": factor.sid}) == []


def test_every_call_that_needs_a_key_while_locked(daemon, client, emulator, session):
    """README ("When things fail"): each call that signs with a key fails with
    KeyringLocked while the keyring is locked, at once, and sends nothing; a change of the
    push URL alone needs no key and works."""
    f = vt.enroll(client, emulator)
    unverified = vt.enroll(client, emulator, verify=False)
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=10)
    before = len(emulator.requests())
    for fn, args in ((client.factor_verify, (unverified.path,)),
                     (client.factor_update, (f.path, {"friendly-name": "while locked"})),
                     (client.list_challenges, (f.path, {})),
                     (client.refresh, ()),
                     (client.approve, ({"challenge-sid": "YC" + "0" * 32, "timeout-ms": 3000},)),
                     (client.deny, ({"transaction-id": vt.new_transaction_id()},)),
                     # out of time before its poll could even ask: not NotFound either
                     (client.approve, ({"transaction-id": vt.new_transaction_id(),
                                        "timeout-ms": 0},)),
                     (client.deny, ({"challenge-sid": "YC" + "0" * 32, "timeout-ms": 0},))):
        _expect(vt.ERR_KEYRING_LOCKED, fn, *args)
    sent = [r for r in emulator.requests()[before:] if not r["path"].startswith("/_emulator")]
    assert sent == [], sent
    client.factor_update(f.path, {"push-url": emulator.url + "/push/locked/sse"})
    assert client.get_property(f.path, vt.FACTOR_IFACE, "PushUrl").endswith("/locked/sse")
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == f.friendly_name


def answer_held_then_locked(factor, client, emulator, session):
    """An approval of a new challenge whose answer POST the emulator holds, and the keyring
    locked meanwhile: (challenge, the answer's path pattern, the held fault, the call)."""
    ch = emulator.create_challenge(factor.identity, factor.sid)
    answer = r"/Challenges/%s\Z" % ch["sid"]
    held = emulator.fault(answer, action="delay", seconds=600, method="POST")
    call = vt.PendingCall(client, "ApproveChallenge",
                          vt.asv({"challenge-sid": ch["sid"], "timeout-ms": 10000}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the answer held")
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=10)
    return ch, answer, held, call


def test_lock_stops_a_call_under_way(factor, daemon, client, emulator, session):
    """A call loaded its key before the lock: an approval whose answer the API refused
    with a 503 would retry with it. A lock drops the keys, and nothing more is signed with
    one: the call ends KeyringLocked, its answer sent once, the challenge still pending."""
    emulator.clear_requests()
    ch, answer, held, call = answer_held_then_locked(factor, client, emulator, session)
    emulator.fault(answer, status=503, method="POST")
    emulator.release_held(held["id"])
    call.wait(30 * vt.SLOWDOWN)
    assert call.error is not None and call.error.name == vt.ERR_KEYRING_LOCKED, call.error
    posts = [r for r in emulator.requests()
             if r["method"] == "POST" and r["path"].endswith("/Challenges/" + ch["sid"])]
    assert [r["status"] for r in posts] == [503], posts
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"


@pytest.mark.parametrize("reply", ["lost", "malformed", "refused"])
def test_lock_while_an_answer_is_sent_reads_nothing_back(reply, factor, daemon, client,
                                                         emulator, session):
    """The answer went out before the lock; then its reply was lost or unreadable (the API
    took it), or was a refusal. Each would be told by reading the challenge back, a GET
    signed with the key loaded before the lock: nothing is signed once the keyring is
    locked, so the call ends KeyringLocked saying what is not known, and sends no GET."""
    ch, answer, held, call = answer_held_then_locked(factor, client, emulator, session)
    before = len(emulator.requests())
    if reply == "refused":
        emulator.fault(answer, status=409, code=60325, method="POST")
    else:
        emulator.fault(answer, action="drop" if reply == "lost" else reply, method="POST",
                       when="after")
    emulator.release_held(held["id"])
    call.wait(30 * vt.SLOWDOWN)
    assert call.error is not None and call.error.name == vt.ERR_KEYRING_LOCKED, call.error
    if reply == "refused":
        why = "the Verify API refused the answer to challenge %s (HTTP 409" % ch["sid"]
    else:
        why = ("the answer to challenge %s was sent, and whether the Verify API took it is "
               "unknown until the keyring is unlocked" % ch["sid"])
    assert why in call.error.message, call.error
    sent = [r["method"] for r in emulator.requests()[before:]
            if r["path"].endswith("/Challenges/" + ch["sid"])]
    assert sent == ["POST"], sent
    status = emulator.fetch_challenge(factor.identity, ch["sid"])["status"]
    assert status == ("pending" if reply == "refused" else "approved"), status
    record = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_CHALLENGE=ch["sid"])
    assert why in record["MESSAGE"], record["MESSAGE"]
    # once unlocked, the app's retry succeeds: the answer the API took was this device's
    # (a second answer is refused, 409, and the challenge read back)
    session.unlock_keyring()
    client.wait_state("ready", timeout=10)
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])


def test_key_in_a_collection_locked_since_the_keyring_started(factor, daemon, client, emulator,
                                                               session):
    """The key is in another collection than the one vpushd follows (the `default` alias
    moved since), locked since gnome-keyring started: its items then show the schema
    "org.freedesktop.Secret.Generic", and a search that names vpushd's schema misses them.
    That key is locked away, not gone: KeyringLocked, and a Delete must not take it for a
    missing key and delete the factor here only, leaving it at the API with its key."""
    from test_keyring_items import copy_to_new_collection

    [item] = session.keyring_items({"factor-sid": factor.sid})
    other = copy_to_new_collection(session, item, "other")
    try:
        session._secrets_call(item["path"], "org.freedesktop.Secret.Item", "Delete")
        daemon.stop()
        session.restart_keyring(unlock=True)  # the login collection only
        daemon.start()
        client.wait_state("ready", timeout=10)

        ch = emulator.create_challenge(factor.identity, factor.sid)
        _expect(vt.ERR_KEYRING_LOCKED, client.approve,
                {"challenge-sid": ch["sid"], "timeout-ms": 3000})
        _expect(vt.ERR_KEYRING_LOCKED, client.factor_delete, factor.path)
        assert client.factor_paths() == [factor.path]
        assert emulator.fetch_factor(factor.identity, factor.sid).status == 200
        assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"
    finally:
        session._secrets_call(other, "org.freedesktop.Secret.Collection", "Delete")
