"""EnrollFactor end to end: factor verified at the emulator, key in the keyring, object on
the bus with the contract's properties; the Manager's own properties."""

import pytest

import vpushtest as vt


def test_manager_properties(daemon, client):
    props = client.get_all(vt.MANAGER_PATH, vt.MANAGER_IFACE)
    assert isinstance(props["Version"], str) and props["Version"]
    assert props["State"] == "ready"
    assert props["PushState"] == "disabled"  # no [Push] Url configured
    assert client.factor_paths() == []


def test_enroll(daemon, client, emulator, session):
    identity = vt.unique_identity("enroll")
    token = emulator.access_token(identity)["token"]
    path = client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                          "access-token": token, "friendly-name": "Kiosk 7",
                          "metadata": {"os": "Linux", "site": "lab"}})
    assert path.startswith(vt.FACTORS_PATH + "/")
    sid = path.rsplit("/", 1)[1]
    assert vt.SID_RE["YF"].match(sid)

    # on the bus, with the contract's properties
    props = client.factor_props(path)
    assert props["Sid"] == sid
    assert props["FriendlyName"] == "Kiosk 7"
    assert props["ServiceSid"] == emulator.service_sid
    assert props["Identity"] == identity
    assert props["AccountSid"] == emulator.account_sid
    assert props["Status"] == "verified"
    assert vt.RFC3339_RE.match(props["CreatedAt"]), props["CreatedAt"]
    assert props["KeyStorage"] == "secret-service"
    assert path in client.factor_paths()
    # ObjectManager announced it
    assert any(m == "InterfacesAdded" and args[0] == path and vt.FACTOR_IFACE in args[1]
               for m, _, args in client.signals)

    # verified at the emulator, as the backend sees it
    res = emulator.fetch_factor(identity, sid)
    assert res.status == 200, res.body
    remote = res.json()
    assert remote["status"] == "verified"
    assert remote["friendly_name"] == "Kiosk 7"
    assert remote["factor_type"] == "push"
    assert remote["config"]["notification_platform"] == "none"
    assert remote["metadata"] == {"os": "Linux", "site": "lab"}
    assert not emulator.state()["factors"][sid]["deleted"]

    # the private key is in the Secret Service under the factor sid
    items = session.keyring_items({"factor-sid": sid})
    assert len(items) == 1, items
    assert items[0]["attributes"].get("xdg:schema") == vt.SECRET_SCHEMA
    assert items[0]["attributes"].get("service-sid") == emulator.service_sid
    assert items[0]["label"] == "vpush factor key (Kiosk 7)"
    out = session.secret_tool_search("factor-sid", sid)
    assert "attribute.factor-sid = " + sid in out, out


def test_enroll_unverified_then_verify(daemon, client, emulator):
    f = vt.enroll(client, emulator, verify=False)
    assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "unverified"
    assert emulator.fetch_factor(f.identity, f.sid).json()["status"] == "unverified"
    client.factor_verify(f.path)
    assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "verified"
    assert emulator.fetch_factor(f.identity, f.sid).json()["status"] == "verified"


def _verifies_sent(emulator, f):
    return [r for r in emulator.requests()
            if r["method"] == "POST" and r["path"].endswith("/Factors/" + f.sid)]


def test_concurrent_verifies_send_one_request(daemon, client, emulator):
    """Verify calls of one factor wait for the one under way, as Updates do: three at once
    send one POST and all succeed. Before, each sent its own."""
    f = vt.enroll(client, emulator, verify=False)
    rule = emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600,
                          method="POST", when="after")
    try:
        calls = [vt.PendingCall(client, "Verify", None, f.path, vt.FACTOR_IFACE)]
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the first Verify's POST held")
        calls += [vt.PendingCall(client, "Verify", None, f.path, vt.FACTOR_IFACE)
                  for _ in range(2)]
        # the others are past the policy and waiting, not sending
        allowed = "update of factor %s allowed" % f.sid
        vt.wait_until(lambda: daemon.log_text().count(allowed) >= 3, 10 * vt.SLOWDOWN,
                      what="the three Verify calls allowed")
        assert not any(c.done for c in calls)
        emulator.release_held(rule["id"])
        for call in calls:
            call.wait()
    finally:
        emulator.clear_faults()
    assert [c.error for c in calls] == [None, None, None]
    assert len(_verifies_sent(emulator, f)) == 1, _verifies_sent(emulator, f)
    assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "verified"


def test_verify_after_a_failed_one_sends_its_own(daemon, client, emulator):
    """A Verify that waited for one that failed tries for itself."""
    f = vt.enroll(client, emulator, verify=False)
    emulator.fault(r"/Factors/%s\Z" % f.sid, status=400, method="POST", count=1)
    rule = emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600,
                          method="POST", when="before", count=1)
    try:
        first = vt.PendingCall(client, "Verify", None, f.path, vt.FACTOR_IFACE)
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the first Verify's POST held")
        second = vt.PendingCall(client, "Verify", None, f.path, vt.FACTOR_IFACE)
        allowed = "update of factor %s allowed" % f.sid
        vt.wait_until(lambda: daemon.log_text().count(allowed) >= 2, 10 * vt.SLOWDOWN,
                      what="the second Verify allowed")
        emulator.release_held(rule["id"])
        first.wait()
        second.wait()
    finally:
        emulator.clear_faults()
    assert first.error is not None and first.error.name == vt.ERR_PREFIX + "Api", first.error
    assert second.error is None, second.error
    assert len(_verifies_sent(emulator, f)) == 2, _verifies_sent(emulator, f)
    assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "verified"


def test_enroll_friendly_name_64(daemon, client, emulator):
    """Names of up to 64 characters, not bytes: "é" * 64 is 128 bytes of UTF-8."""
    for name in ("n" * 64, "é" * 64):
        f = vt.enroll(client, emulator, friendly_name=name)
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == name
        assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == name


def test_update_friendly_name_64(daemon, client, emulator):
    """A rename takes what an enrollment takes: up to 64 characters, not bytes."""
    f = vt.enroll(client, emulator, friendly_name="Short")
    for name in ("n" * 64, "é" * 64):
        client.factor_update(f.path, {"friendly-name": name})
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == name
        assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == name
    try:
        client.factor_update(f.path, {"friendly-name": "é" * 65})
    except vt.DBusCallError as e:
        assert e.name == vt.ERR_INVALID_ARGS and "friendly-name" in e.message, e
    else:
        raise AssertionError("a name of 65 characters was taken")
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "é" * 64


def test_enroll_bad_token_is_api_error_and_leaves_nothing(daemon, client, emulator, session):
    identity = vt.unique_identity("badtok")
    try:
        client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                       "access-token": "not-a-token", "friendly-name": "x"})
    except vt.DBusCallError as e:
        assert e.name == "io.github.vpush1.Error.Api", e
    else:
        raise AssertionError("EnrollFactor with a bad access token succeeded")
    assert client.factor_paths() == []
    assert emulator.list_factors(identity) == []


def test_enroll_left_unverified_is_an_api_error(daemon, client, emulator):
    """A verification the API answers with the factor still unverified (emulator fault
    stale-status) is no enrollment: EnrollFactor fails with Error.Api naming the status,
    and leaves nothing behind, here or at the API, as a refused one does."""
    identity = vt.unique_identity("stale")
    emulator.fault(r"/Factors/YF[0-9a-f]{32}\Z", "stale-status", method="POST", when="after")
    token = emulator.access_token(identity)["token"]
    try:
        with pytest.raises(vt.DBusCallError) as e:
            client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                           "access-token": token, "friendly-name": "x"})
    finally:
        emulator.clear_faults()
    assert e.value.name == "io.github.vpush1.Error.Api", e.value
    assert "left the new factor unverified" in e.value.message, e.value
    assert client.factor_paths() == []
    assert emulator.list_factors(identity) == []


def test_update_friendly_name(daemon, client, emulator, session):
    f = vt.enroll(client, emulator, friendly_name="Desk before")
    client.factor_update(f.path, {"friendly-name": "Renamed desk"})
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "Renamed desk"
    assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == "Renamed desk"
    # design.md: the key's label names the factor, so a rename relabels it (after the reply)
    vt.wait_until(lambda: [i["label"] for i in session.keyring_items({"factor-sid": f.sid})]
                  == ["vpush factor key (Renamed desk)"], 10, what="the key relabelled")
    # and the key itself is untouched: the factor still answers
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": "relabelled"})
    assert client.approve({"transaction-id": "relabelled"}) == ch["sid"]


def test_two_factors_two_objects(daemon, client, emulator):
    a = vt.enroll(client, emulator)
    b = vt.enroll(client, emulator)
    assert a.sid != b.sid
    assert sorted([a.path, b.path]) == client.factor_paths()


def test_enroll_metadata_limit_in_characters(daemon, client, emulator):
    """The API takes Metadata of up to 1024 characters (OpenAPI CreateNewFactor): 1024
    characters of JSON text that are more bytes than that are sent, 1025 are refused."""
    value = "é" * (1024 - len('{"os":""}'))
    f = vt.enroll(client, emulator, metadata={"os": value})
    assert emulator.fetch_factor(f.identity, f.sid).json()["metadata"] == {"os": value}
    try:
        vt.enroll(client, emulator, metadata={"os": value + "é"})
    except vt.DBusCallError as e:
        assert e.name == vt.ERR_INVALID_ARGS and "metadata" in e.message, e
    else:
        raise AssertionError("metadata of 1025 characters was taken")


def test_enroll_metadata_with_control_characters(daemon, client, emulator):
    """Metadata is sent as JSON text (OpenAPI CreateNewFactor): every control character
    escaped, U+001F too, which json-glib 1.6 wrote as it is."""
    value = "".join(chr(c) for c in range(1, 0x20))
    f = vt.enroll(client, emulator, metadata={"os" + chr(0x1f): value})
    assert emulator.fetch_factor(f.identity, f.sid).json()["metadata"] == \
        {"os" + chr(0x1f): value}


def test_concurrent_renames_end_alike_here_and_at_the_api(daemon, client, emulator):
    """Two Updates of one factor at once run one after the other. Before, both went out at
    once: the first's reply, held here past the second's, renamed the factor here last, to
    the name the API had replaced already."""
    f = vt.enroll(client, emulator, friendly_name="Desk 0")
    try:
        first = vt.rename_held(client, emulator, f, "Desk 1")
        second = vt.PendingCall(client, "Update", vt.asv({"friendly-name": "Desk 2"}), f.path,
                                vt.FACTOR_IFACE)
        # the second waits for the first: nothing of it reaches the API meanwhile (a
        # refresh is one more round trip to vpushd, so the second call has been read)
        client.refresh()
        assert not second.done
        assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == "Desk 1"
    finally:
        emulator.clear_faults()
    first.wait()
    second.wait()
    assert (first.error, second.error) == (None, None)
    assert emulator.fetch_factor(f.identity, f.sid).json()["friendly_name"] == "Desk 2"
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "Desk 2"


def test_enrollments_at_once_are_capped(daemon, client, emulator):
    """At most 8 enrollments are under way at once, of all callers together: each holds a
    connection (a file descriptor) to the Verify API, and a loop of EnrollFactor calls
    with any token would otherwise use up vpushd's descriptors. One more is refused at
    once with LimitsExceeded, and the cap frees as they finish."""
    prefix = vt.unique_identity("cap")
    emulator.fault(r"/Entities/%s-\d+/Factors\Z" % prefix, action="delay", seconds=600,
                   method="POST", when="after", count=8)
    calls = []
    for i in range(8):
        identity = "%s-%d" % (prefix, i)
        token = emulator.access_token(identity)["token"]
        calls.append(vt.PendingCall(client, "EnrollFactor", vt.asv(
            {"service-sid": emulator.service_sid, "identity": identity,
             "access-token": token, "friendly-name": "Held %d" % i})))
    try:
        vt.wait_until(lambda: emulator.faults_held() == 8, 10, what="8 creates held")
        with pytest.raises(vt.DBusCallError) as e:
            vt.enroll(client, emulator)
        assert e.value.name == "org.freedesktop.DBus.Error.LimitsExceeded", e.value
        assert "8 enrollments are under way already" in e.value.message
    finally:
        emulator.clear_faults()
        emulator.release_held()
    for call in calls:
        call.wait(30)
        assert call.error is None, call.error
    assert vt.enroll(client, emulator).path in client.factor_paths()


def _enroll_refused(client, emulator, words):
    identity = vt.unique_identity("over")
    with pytest.raises(vt.DBusCallError) as e:
        vt.enroll(client, emulator, identity=identity)
    assert e.value.name == vt.ERR_LIMITS_EXCEEDED, e.value
    assert words in e.value.message, e.value.message
    assert emulator.list_factors(identity) == [], "nothing is made for a refused enrollment"


def test_factors_are_capped(session, client, emulator):
    """vpushd.conf(5) [Verify] MaxFactors: vpushd holds at most that many factors, the
    enrollments under way included. One more EnrollFactor is LimitsExceeded at once,
    naming the setting, and nothing is made for it; a Delete makes room. Factors enrolled
    before the setting was lowered are all kept and served."""
    d = vt.Daemon(session, emulator, config={"Verify": {"MaxFactors": "3"}})
    d.start()
    try:
        factors = [vt.enroll(client, emulator) for _ in range(3)]
        _enroll_refused(client, emulator, "[Verify] MaxFactors is 3, and vpushd holds 3, the "
                        "enrollments under way included: delete a factor to enroll another")
    finally:
        d.stop()

    # the create held below must outlast the refusal's round trips, under valgrind too
    d = vt.Daemon(session, emulator, state_dir=d.state_dir,
                  config={"Verify": {"MaxFactors": "2", "TimeoutMs": "120000"}})
    d.start()
    try:
        assert sorted(client.factor_paths()) == sorted(f.path for f in factors)
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(factors[2].identity, factors[2].sid,
                                       hidden={"transaction_id": txid})
        # just started: under valgrind its first polls can take the default 3 s
        assert client.approve({"transaction-id": txid,
                               "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
        _enroll_refused(client, emulator, "and vpushd holds 3,")
        client.factor_delete(factors[0].path)
        client.factor_delete(factors[1].path)
        # one factor and one enrollment under way: the cap of 2 is reached
        prefix = vt.unique_identity("held")
        emulator.fault(r"/Entities/%s/Factors\Z" % prefix, action="delay", seconds=600,
                       method="POST", when="after")
        token = emulator.access_token(prefix)["token"]
        held = vt.PendingCall(client, "EnrollFactor", vt.asv(
            {"service-sid": emulator.service_sid, "identity": prefix, "access-token": token,
             "friendly-name": "Held"}))
        try:
            vt.wait_until(lambda: emulator.faults_held() == 1, 10 * vt.SLOWDOWN,
                          what="the create held")
            _enroll_refused(client, emulator, "and vpushd holds 2,")
        finally:
            emulator.clear_faults()
        held.wait(30 * vt.SLOWDOWN)
        assert held.error is None, held.error
        assert len(client.factor_paths()) == 2
    finally:
        d.stop()
