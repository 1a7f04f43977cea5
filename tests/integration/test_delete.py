"""Factor.Delete removes the factor at the Verify API, its key in the keyring, its record
and its object (InterfacesRemoved)."""

import vpushtest as vt


def test_delete(daemon, client, emulator, session):
    f = vt.enroll(client, emulator)
    keep = vt.enroll(client, emulator)
    assert len(session.keyring_items({"factor-sid": f.sid})) == 1
    client.signals.clear()
    client.factor_delete(f.path)

    # remotely
    assert emulator.state()["factors"][f.sid]["deleted"] is True
    assert emulator.fetch_factor(f.identity, f.sid).status == 404
    # in the keyring
    assert session.keyring_items({"factor-sid": f.sid}) == []
    assert "factor-sid = " + f.sid not in session.secret_tool_search("factor-sid", f.sid)
    # on the bus
    vt.wait_until(lambda: any(m == "InterfacesRemoved" and a[0] == f.path
                              and vt.FACTOR_IFACE in a[1] for m, _, a in client.signals), 5,
                  what="InterfacesRemoved for the factor")
    assert client.factor_paths() == [keep.path]
    # the other factor is untouched
    assert len(session.keyring_items({"factor-sid": keep.sid})) == 1
    assert emulator.fetch_factor(keep.identity, keep.sid).status == 200

    # and it does not come back after a restart
    daemon.restart()
    assert client.factor_paths() == [keep.path]


def test_delete_already_gone_remotely(daemon, client, emulator, session):
    """404 from the Verify API counts as done."""
    f = vt.enroll(client, emulator)
    res = emulator.request("DELETE", emulator.entity_path(f.identity) + "/Factors/" + f.sid)
    assert res.status == 204, res.body
    client.factor_delete(f.path)
    assert client.factor_paths() == []
    assert session.keyring_items({"factor-sid": f.sid}) == []


def test_deleted_factor_not_usable(daemon, client, emulator):
    f = vt.enroll(client, emulator)
    client.factor_delete(f.path)
    try:
        client.approve({"transaction-id": "x-1", "factor-sid": f.sid, "timeout-ms": 500})
    except vt.DBusCallError as e:
        assert e.name == vt.ERR_NOT_FOUND, e
    else:
        raise AssertionError("a deleted factor still answers")
    try:
        client.factor_props(f.path)
    except vt.DBusCallError:
        pass
    else:
        raise AssertionError("the deleted factor's object still answers")
