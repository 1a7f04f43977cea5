"""Enrollment leaves no orphan: a step that fails after the remote create undoes it."""
import os
import shutil

import pytest

import vpushtest as vt


def test_record_write_fails_after_create(daemon, client, emulator, session):
    # the factor record can't be written: the factors directory is a file now
    factors = os.path.join(daemon.state_dir, "factors")
    shutil.rmtree(factors, ignore_errors=True)
    with open(factors, "w") as f:
        f.write("not a directory\n")

    identity = vt.unique_identity("rollback")
    token = emulator.access_token(identity)["token"]
    try:
        client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                       "access-token": token, "friendly-name": "Rollback"})
    except vt.DBusCallError as e:
        assert e.name == "io.github.vpush1.Error.Failed", e
    else:
        raise AssertionError("EnrollFactor succeeded without a place for its record")

    # the factor was created remotely, then deleted again; the key is gone too
    created = [sid for sid, f in emulator.state()["factors"].items()
               if f.get("identity") == identity]
    assert len(created) == 1, emulator.state()["factors"]
    assert emulator.state()["factors"][created[0]]["deleted"]
    assert session.keyring_items({"factor-sid": created[0]}) == []
    assert client.factor_paths() == []


def enroll_failing(client, emulator, message):
    """Enrolls a new identity, which must fail with Error.Failed saying message; returns
    the identity."""
    identity = vt.unique_identity("rollback")
    token = emulator.access_token(identity)["token"]
    try:
        client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                       "access-token": token, "friendly-name": "Unsynced"})
    except vt.DBusCallError as e:
        assert e.name == "io.github.vpush1.Error.Failed", e
        assert message in str(e), e
    else:
        raise AssertionError("EnrollFactor succeeded with its state not synced")
    return identity


def test_record_removed_when_its_sync_fails(session, emulator, client):
    """The record's write fails after its rename (the directory's sync, EIO), so the record
    is on disk: the rollback removes it, or the next start would load a factor that the API
    no longer has, with no key."""
    daemon = vt.daemon_failing_syncs(session, emulator, os.sep + "factors")
    try:
        identity = enroll_failing(client, emulator, "cannot sync")

        created = [sid for sid, f in emulator.state()["factors"].items()
                   if f.get("identity") == identity]
        assert len(created) == 1, emulator.state()["factors"]
        assert emulator.state()["factors"][created[0]]["deleted"]
        assert session.keyring_items({"factor-sid": created[0]}) == []
        assert os.listdir(os.path.join(daemon.state_dir, "factors")) == []
        assert os.listdir(os.path.join(daemon.state_dir, "enrolling")) == []

        daemon.stop()
        daemon.start()
        assert client.factor_paths() == []
    finally:
        daemon.stop()


def test_journal_entry_removed_when_its_sync_fails(session, emulator, client):
    """The journal entry's write fails after its rename (the directory's sync, EIO): the
    entry is on disk, and goes again before the reply, or the next start would take it for
    an enrollment a crash interrupted, its create maybe sent."""
    daemon = vt.daemon_failing_syncs(session, emulator, os.sep + "enrolling")
    try:
        identity = enroll_failing(client, emulator, "cannot keep the enrollment journal")
        assert os.listdir(os.path.join(daemon.state_dir, "enrolling")) == []
        assert [f for f in emulator.state()["factors"].values()
                if f.get("identity") == identity] == []

        daemon.stop()
        daemon.start()
        vt.wait_until(lambda: "crash recovery finished" in daemon.log_text(), 30 * vt.SLOWDOWN,
                      what="vpushd's crash recovery")
        assert "crash recovery: enrollment" not in daemon.log_text()
    finally:
        daemon.stop()


def test_sid_given_twice_replaces_nothing(daemon, client, emulator, session):
    """The API answers a create with the sid of a factor vpushd holds. Storing the new key
    under it, writing its record or deleting it at the API in a rollback would each be done
    to the other factor: the enrollment fails having done none of them."""
    held = vt.enroll(client, emulator)
    record = os.path.join(daemon.state_dir, "factors", held.sid + ".json")
    with open(record, "rb") as f:
        record_before = f.read()
    items_before = session.keyring_items({"factor-sid": held.sid})
    assert len(items_before) == 1, items_before

    emulator.fault(r"/Factors\Z", action="sid", sid=held.sid, method="POST")
    identity = vt.unique_identity("twice")
    token = emulator.access_token(identity)["token"]
    with pytest.raises(vt.DBusCallError) as e:
        client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                       "access-token": token, "friendly-name": "Second"})
    assert e.value.name == "io.github.vpush1.Error.Api", e.value
    assert "factor sid %s, which vpushd holds already" % held.sid in str(e.value), e.value

    # the factor held is as it was: its record, its one key, at the API, on the bus
    with open(record, "rb") as f:
        assert f.read() == record_before
    assert [i["path"] for i in session.keyring_items({"factor-sid": held.sid})] == \
        [i["path"] for i in items_before]
    assert not emulator.state()["factors"][held.sid]["deleted"]
    assert client.factor_paths() == [held.path]
    # nothing of the refused enrollment is left: no provisional key, no journal entry
    assert os.listdir(os.path.join(daemon.state_dir, "enrolling")) == []
    assert session.keyring_items({"xdg:schema": vt.SECRET_SCHEMA}) == items_before
    # the new factor was never verified; nothing was sent under the sid it was given
    made = [sid for sid, f in emulator.state()["factors"].items()
            if f.get("identity") == identity]
    assert len(made) == 1 and made[0] != held.sid, made
    assert emulator.state()["factors"][made[0]]["status"] == "unverified"

    # and its key still signs, after a restart too (from the keyring, not a cache)
    daemon.stop()
    daemon.start()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(held.identity, held.sid,
                                   hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
