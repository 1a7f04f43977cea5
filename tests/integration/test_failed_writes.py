"""A factor's state file whose write fails (the directory's sync, EIO, from
tests/fsync-gate-shim.c) after the Verify API took a change, or during a Delete: the bus
shows what the API has, the caller hears of the failure, and the next start finds what the
log says it will."""
import json
import os

import pytest

import vpushtest as vt

FACTORS = os.sep + "factors"
ENROLLING = os.sep + "enrolling"


def expect_failed(call, *messages):
    try:
        call()
    except vt.DBusCallError as e:
        assert e.name == "io.github.vpush1.Error.Failed", e
        for message in messages:
            assert message in str(e), e
    else:
        raise AssertionError("the call succeeded though its write failed")


def restart_failing(daemon, session, emulator, path_part, count=1):
    """daemon stopped, and started again on its state with path_part's syncs failing"""
    daemon.stop()
    return vt.daemon_failing_syncs(session, emulator, path_part, count,
                                   state_dir=daemon.state_dir)


def record_on_disk(daemon, sid):
    with open(os.path.join(daemon.state_dir, "factors", sid + ".json")) as f:
        return json.load(f)


@pytest.mark.parametrize("count", [1, 2])
def test_unsaved_rename_is_shown(daemon, session, emulator, client, count):
    """The rename is made at the API and its record write fails: the bus has the new name,
    the call fails saying so, and the record is written once more (count 2: that fails too,
    and the log says so)."""
    f = vt.enroll(client, emulator)
    d = restart_failing(daemon, session, emulator, FACTORS, count)
    try:
        expect_failed(lambda: client.factor_update(f.path, {"friendly-name": "Renamed"}),
                      "was made at the Verify API, but could not be saved locally",
                      "cannot sync")
        assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == "Renamed"
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "Renamed"
        second = ("its record is saved, on a second try" if count == 1
                  else "could not be saved on a second try either")
        vt.wait_until(lambda: second in d.log_text(), 30 * vt.SLOWDOWN,
                      what="the record's second write")
        assert record_on_disk(d, f.sid)["friendly_name"] == "Renamed"

        d.stop()
        d.start()
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "Renamed"
    finally:
        d.stop()


def test_record_that_cannot_be_renamed_into_place_is_not_taken_for_saved(daemon, emulator,
                                                                         client):
    """docs/crash-safety.md: a write is "a temp file `NAME.vpush-tmp-XXXXXX`, fsync,
    rename", and "A write or a removal is done only once every one of its syncs is; one that
    fails (EIO, ENOSPC) is reported as failed". Here the rename fails (the record's name is
    taken by a directory): the rename at the API is reported as not saved locally, not as
    done, the second try fails too, and no temp file is left behind. Once the name is free,
    the next change is saved."""
    f = vt.enroll(client, emulator)
    record = os.path.join(daemon.state_dir, "factors", f.sid + ".json")
    os.unlink(record)
    os.mkdir(record)
    try:
        expect_failed(lambda: client.factor_update(f.path, {"friendly-name": "Renamed"}),
                      "was made at the Verify API, but could not be saved locally",
                      "cannot write %s: Is a directory" % record)
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "Renamed"
        vt.wait_until(lambda: "could not be saved on a second try either" in daemon.log_text(),
                      30 * vt.SLOWDOWN, what="the record's second write")
        assert "its record is saved, on a second try" not in daemon.log_text()
        assert [n for n in os.listdir(os.path.dirname(record)) if ".vpush-tmp-" in n] == []
    finally:
        os.rmdir(record)
    client.factor_update(f.path, {"friendly-name": "Renamed again"})
    assert record_on_disk(daemon, f.sid)["friendly_name"] == "Renamed again"


def test_unsaved_verify_is_shown(daemon, session, emulator, client):
    f = vt.enroll(client, emulator, verify=False)
    d = restart_failing(daemon, session, emulator, FACTORS)
    try:
        expect_failed(lambda: client.factor_verify(f.path),
                      "(status verified) was made at the Verify API", "cannot sync")
        assert emulator.fetch_factor(f.identity, f.sid).json()["status"] == "verified"
        assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "verified"
        vt.wait_until(lambda: "its record is saved, on a second try" in d.log_text(),
                      30 * vt.SLOWDOWN, what="the record's second write")

        d.stop()
        d.start()
        assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "verified"
    finally:
        d.stop()


def test_failed_undo_of_a_delete_says_what_the_next_start_does(daemon, session, emulator,
                                                                 client):
    """The record's removal fails at the directory's sync, so the Delete is undone before
    the API is asked; the record written back fails there too, after its rename: the record
    is on disk, and the next start keeps the factor, as the log says."""
    f = vt.enroll(client, emulator)
    d = restart_failing(daemon, session, emulator, FACTORS, 2)
    try:
        expect_failed(lambda: client.factor_delete(f.path), "cannot sync")
        vt.wait_until(lambda: "undoing its start failed too" in d.log_text(), 30 * vt.SLOWDOWN,
                      what="the failed undo logged")
        assert "vpushd keeps the factor at its next start" in d.log_text()
        assert "vpushd deletes the factor at its next start" not in d.log_text()
        assert emulator.fetch_factor(f.identity, f.sid).status == 200

        d.stop()
        d.start()
        vt.wait_until(lambda: "crash recovery finished" in d.log_text(), 30 * vt.SLOWDOWN,
                      what="vpushd's crash recovery")
        assert "the deletion of factor %s had not begun" % f.sid in d.log_text()
        assert client.factor_paths() == [f.path]
    finally:
        d.stop()


def test_delete_journal_entry_removed_when_its_sync_fails(daemon, session, emulator, client):
    """The Delete's journal entry fails at the directory's sync, after its rename: nothing
    was deleted, and the entry is removed before the error reply, not left for the next
    start."""
    f = vt.enroll(client, emulator)
    d = restart_failing(daemon, session, emulator, ENROLLING)
    try:
        expect_failed(lambda: client.factor_delete(f.path), "cannot sync")
        assert os.listdir(os.path.join(d.state_dir, "enrolling")) == []
        assert client.factor_paths() == [f.path]
        assert emulator.fetch_factor(f.identity, f.sid).status == 200

        d.stop()
        d.start()
        vt.wait_until(lambda: "crash recovery finished" in d.log_text(), 30 * vt.SLOWDOWN,
                      what="vpushd's crash recovery")
        assert "the deletion of factor" not in d.log_text()
        assert client.factor_paths() == [f.path]
    finally:
        d.stop()
