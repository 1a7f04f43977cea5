"""Enrollment leaves no orphan: a step that fails after the remote create undoes it."""
import os
import shutil

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
