"""Factor.Delete removes the factor at the Verify API, its key in the keyring, its record
and its object (InterfacesRemoved). A Factor call on a factor path where no factor is (never
was, or no longer) is NotFound naming the factor, and the bus shows the factors as before."""

import os
import xml.etree.ElementTree as ET

import pytest

import vpushtest as vt
from vpushtest_policy import last_audit

FACTOR_XML = os.path.join(vt.SOURCE_DIR, "dbus", "io.github.vpush1.Factor.xml")


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
    """A factor the backend deleted stays here, key and all, its calls failing with the
    API's 404 (README, "When things fail"); a Delete then removes it: 404 from the Verify
    API counts as done."""
    f = vt.enroll(client, emulator)
    res = emulator.request("DELETE", emulator.entity_path(f.identity) + "/Factors/" + f.sid)
    assert res.status == 204, res.body
    for call in (client.refresh, lambda: client.list_challenges(f.path, {})):
        with pytest.raises(vt.DBusCallError) as failed:
            call()
        assert failed.value.name == vt.ERR_PREFIX + "Api", failed.value
        assert "HTTP 404, code 60390" in failed.value.message, failed.value
    assert client.factor_paths() == [f.path]
    assert len(session.keyring_items({"factor-sid": f.sid})) == 1
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
    _expect_not_found(lambda: client.factor_props(f.path), f.sid, "GetAll")


def test_list_during_a_delete_is_not_found(daemon, client, emulator):
    """A ListChallenges whose request reaches the API after a Delete there gets the API's
    404 for the factor: the call says the factor was deleted, NotFound, not Error.Api."""
    f = vt.enroll(client, emulator)
    # every list of challenges is held until the delete is done, however long that takes:
    # the poller's too, which would otherwise be the one held while this call's list went
    # through (the path is the same)
    emulator.fault(r"/Entities/%s/Challenges\Z" % f.identity, action="delay", seconds=600,
                   method="GET", when="before", count=100)
    call = vt.PendingCall(client, "ListChallenges", vt.asv({}), f.path, vt.FACTOR_IFACE)
    try:
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN, what="the list held")
        client.factor_delete(f.path)
    finally:
        emulator.clear_faults()
    call.wait()
    assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
    assert "factor %s was deleted" % f.sid in call.error.message, call.error


def test_waiting_call_ends_when_its_factor_is_deleted(daemon, client, emulator):
    """An approval waiting with factor-sid ends when that factor is deleted, saying so,
    not at its timeout with "no pending challenge matches"."""
    f = vt.enroll(client, emulator)
    allowed = daemon.log_text().count("approve allowed for ")
    call = vt.PendingCall(client, "ApproveChallenge",
                          vt.asv({"transaction-id": vt.new_transaction_id(), "factor-sid": f.sid,
                                  "timeout-ms": 20000}))
    # let the policy let it in first: a Delete done before that is "no factor", not this
    vt.wait_until(lambda: daemon.log_text().count("approve allowed for ") > allowed, 10,
                  what="the approval to be let in", pump=False)
    client.factor_delete(f.path)
    call.wait(timeout=10)
    assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
    assert "factor %s was deleted" % f.sid in call.error.message, call.error


def test_delete_while_a_poll_of_the_factor_goes_on(daemon, client, emulator):
    """A factor deleted while its poll still waits for a GET that then succeeds: the poll
    ends quietly, and vpushd goes on running."""
    f = vt.enroll(client, emulator)
    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="delay", seconds=600, method="GET",
                   when="after")
    refresh = vt.PendingCall(client, "Refresh", None)
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the challenge's GET held")
    client.factor_delete(f.path)
    emulator.clear_faults()
    refresh.wait(timeout=30 * vt.SLOWDOWN)
    assert refresh.error is None, refresh.error
    assert daemon.running()
    assert client.manager_property("State") == "ready"


def test_refresh_is_not_failed_by_a_delete(daemon, client, emulator):
    """Refresh polls every factor: one that another caller deletes meanwhile has nothing
    left to poll, and what the API answers of it then (404, as its list was asked after
    the delete) is no failure of the Refresh, running or queued behind the running poll."""
    f = vt.enroll(client, emulator)
    keep = vt.enroll(client, emulator)
    emulator.fault(r"/Entities/%s/Challenges\Z" % f.identity, action="delay", seconds=600,
                   method="GET")
    running = vt.PendingCall(client, "Refresh", None)
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the factor's challenge list held")
    queued = vt.PendingCall(client, "Refresh", None)
    client.factor_delete(f.path)
    emulator.clear_faults()
    for call in (running, queued):
        call.wait(timeout=30 * vt.SLOWDOWN)
        assert call.error is None, call.error
    assert client.factor_paths() == [keep.path]


def test_refresh_is_not_failed_by_a_delete_the_api_has_done(daemon, client, emulator):
    """The same while the Delete is still under way: the API has deleted the factor and
    its reply is on the way back. The factor's list is a 404 then, which fails neither a
    Refresh nor an approval that polled every factor (NotFound, as for no match)."""
    f = vt.enroll(client, emulator)
    keep = vt.enroll(client, emulator)
    emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=2.5, method="DELETE",
                   when="after")
    delete = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the DELETE done at the API, its reply held")
    refresh = vt.PendingCall(client, "Refresh", None)
    approve = vt.PendingCall(client, "ApproveChallenge",
                             vt.asv({"transaction-id": "no-such-order", "timeout-ms": 1500}))
    for call in (refresh, approve, delete):
        call.wait(timeout=30 * vt.SLOWDOWN)
    assert [r for r in emulator.requests() if r["status"] == 404
            and r["path"].endswith("/Entities/%s/Challenges" % f.identity)], \
        "no list of the factor was refused: the window was not exercised"
    assert refresh.error is None, refresh.error
    assert approve.error is not None and approve.error.name == vt.ERR_NOT_FOUND, approve.error
    assert delete.error is None, delete.error
    assert client.factor_paths() == [keep.path]


def test_refresh_is_not_failed_by_a_get_after_the_api_deleted(daemon, client, emulator):
    """The same for the GET of a challenge the list named: it reaches the API after the
    DELETE, whose reply is still on the way back, and is a 404."""
    f = vt.enroll(client, emulator)
    keep = vt.enroll(client, emulator)
    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    get_rule = emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="delay", seconds=600,
                              method="GET", when="before")
    refresh = vt.PendingCall(client, "Refresh", None)
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the challenge's GET held")
    delete_rule = emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600,
                                 method="DELETE", when="after")
    delete = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    vt.wait_until(lambda: emulator.faults_held() >= 2, 10 * vt.SLOWDOWN,
                  what="the DELETE done at the API, its reply held")
    emulator.release_held(get_rule["id"])
    refresh.wait(timeout=30 * vt.SLOWDOWN)
    emulator.release_held(delete_rule["id"])
    delete.wait(timeout=30 * vt.SLOWDOWN)
    assert [r["status"] for r in emulator.requests()
            if r["method"] == "GET" and r["path"].endswith("/Challenges/" + ch["sid"])] == [404]
    assert refresh.error is None, refresh.error
    assert delete.error is None, delete.error
    assert client.factor_paths() == [keep.path]


@pytest.mark.parametrize("by", ["poll", "challenge-sid"])
def test_challenge_fetched_for_a_deleted_factor_is_not_exported(by, daemon, client, emulator):
    """A challenge whose GET was under way when its factor was deleted is not put on the bus
    once the GET comes back: no Challenge object names a factor that is gone."""
    f = vt.enroll(client, emulator)
    # every GET of a challenge of it is held, from before the challenge is there: a
    # scheduled poll's as well as the call's, whichever comes first
    emulator.fault(r"/Entities/%s/Challenges/[^/]+\Z" % f.identity, action="delay",
                   seconds=600, method="GET", when="after", count=10)
    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    if by == "poll":
        call = vt.PendingCall(client, "Refresh", None)
    else:
        call = vt.PendingCall(client, "ApproveChallenge",
                              vt.asv({"challenge-sid": ch["sid"], "timeout-ms": 20000}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the challenge's GET held")
    client.signals.clear()
    client.factor_delete(f.path)
    emulator.clear_faults()
    call.wait(timeout=30 * vt.SLOWDOWN)
    if by == "challenge-sid":
        assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
    # a Refresh ends once its poll is over; the Delete's own signals are in by then
    vt.wait_until(lambda: any(m == "InterfacesRemoved" and a[0] == f.path
                              for m, _, a in client.signals), 5 * vt.SLOWDOWN,
                  what="InterfacesRemoved for the factor")
    assert vt.challenge_path(ch["sid"]) not in client.challenge_paths()
    assert not [a for m, _, a in client.signals
                if m == "InterfacesAdded" and a[0] == vt.challenge_path(ch["sid"])]
    assert emulator.answer_posts(ch["sid"]) == 0


def test_answer_held_while_its_factor_is_deleted_is_not_found(daemon, client, emulator):
    """An approval whose answer POST the API gets only after its factor was deleted there
    (and so refuses, 404) says the factor was deleted, NotFound, not Error.Api."""
    f = vt.enroll(client, emulator)
    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="delay", seconds=600, method="POST",
                   when="before")
    call = vt.PendingCall(client, "ApproveChallenge",
                          vt.asv({"challenge-sid": ch["sid"], "timeout-ms": 20000}))
    try:
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the answer's POST held")
        client.factor_delete(f.path)
    finally:
        emulator.clear_faults()
    call.wait(timeout=30 * vt.SLOWDOWN)
    assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
    assert "factor %s was deleted" % f.sid in call.error.message, call.error


@pytest.mark.parametrize("delete", ["done", "in flight"])
@pytest.mark.parametrize("reply", ["lost", "malformed", "stale-status"])
def test_answer_taken_while_its_factor_is_deleted_is_unknown(reply, delete, daemon, client,
                                                             emulator):
    """The API took the answer, then the factor was deleted before vpushd could tell: its
    reply lost (the retry refused, 404), or a 2xx it can't read or that still shows the
    challenge pending. With the factor gone nothing can be read back: the call fails
    saying the answer's fate is unknown, not NotFound as if it had not been taken. So
    too while the Delete is in flight, its DELETE done at the API (the read-back 404)."""
    f = vt.enroll(client, emulator)
    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    answer = r"/Challenges/%s\Z" % ch["sid"]
    held = emulator.fault(answer, action="delay", seconds=600, method="POST", when="after")
    if reply != "lost":
        emulator.fault(answer, action=reply, method="POST", when="after")
    call = vt.PendingCall(client, "ApproveChallenge",
                          vt.asv({"challenge-sid": ch["sid"], "timeout-ms": 20000}))
    deleting = None
    try:
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the answer's reply held")
        if delete == "done":
            client.factor_delete(f.path)
        else:
            # the DELETE done at the API, its reply held: the factor is being deleted here
            emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600,
                           method="DELETE", when="after")
            deleting = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
            vt.wait_until(lambda: emulator.faults_held() >= 2, 10 * vt.SLOWDOWN,
                          what="the DELETE's reply held")
    finally:
        res = emulator.request("POST", "/_emulator/delay/clear",
                               {"id": str(held["id"]), "drop": "1" if reply == "lost" else "0"},
                               backend=False)
        assert res.status == 200, res.body
    call.wait(timeout=30 * vt.SLOWDOWN)
    if deleting is not None:
        res = emulator.request("POST", "/_emulator/delay/clear", {}, backend=False)
        assert res.status == 200, res.body
        deleting.wait(timeout=30 * vt.SLOWDOWN)
        assert deleting.error is None, deleting.error
    assert call.error is not None and call.error.name == vt.ERR_PREFIX + "Failed", call.error
    unknown = ("the answer to challenge %s was sent, and whether the Verify API took it is "
               "unknown, as factor %s %s" % (ch["sid"], f.sid, "was deleted meanwhile"
                                             if delete == "done" else "is being deleted"))
    assert unknown in call.error.message, call.error
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "approved"
    record = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_CHALLENGE=ch["sid"])
    assert unknown in record["MESSAGE"], record["MESSAGE"]


def _factor_calls(client, path):
    """Every Factor method and property read on path, with arguments it would accept."""
    return [("Delete", lambda: client.factor_delete(path)),
            ("Verify", lambda: client.factor_verify(path)),
            ("Update", lambda: client.factor_update(path, {"friendly-name": "Renamed"})),
            ("ListChallenges", lambda: client.list_challenges(path, {"page-size": 10})),
            ("Get", lambda: client.get_property(path, vt.FACTOR_IFACE, "Sid")),
            ("GetAll", lambda: client.factor_props(path))]


def _expect_not_found(fn, sid, what):
    try:
        res = fn()
    except vt.DBusCallError as e:
        assert e.name == vt.ERR_NOT_FOUND, "%s: %s" % (what, e)
        assert sid in e.message, "%s: the message does not name the factor: %s" % (what, e)
    else:
        raise AssertionError("%s on a factor that is not there answered %r" % (what, res))


def _changes_sent(emulator, before):
    return [r for r in emulator.requests()[before:]
            if r["method"] != "GET" and not r["path"].startswith("/_emulator")]


def test_concurrent_deletes_share_one_outcome(daemon, client, emulator, session):
    """Three Deletes of one factor at once: one deletes it, the others get its outcome.
    Before, each cleared the key on its own: one got KeyringLocked ("No such secret
    item") for a factor that was deleted, and at times libsecret returned a task twice."""
    f = vt.enroll(client, emulator)
    keep = vt.enroll(client, emulator)
    # the first one's DELETE is held, so the others come while it is in flight (for less
    # than the request timeout, 5 s, after which it would be sent again)
    emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=2.5, method="DELETE",
                   when="after")
    calls = [vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE) for _ in range(3)]
    for call in calls:
        call.wait()
    assert [c.error for c in calls] == [None, None, None]
    deletes = [r for r in emulator.requests()
               if r["method"] == "DELETE" and r["path"].endswith(f.sid)]
    assert len(deletes) == 1, deletes
    assert session.keyring_items({"factor-sid": f.sid}) == []
    assert client.factor_paths() == [keep.path]
    assert daemon.running()



def test_deletes_joining_one_are_capped(daemon, client, emulator, session):
    """At most 32 Delete calls wait to share the outcome of one under way (it may retry for
    RetryTimeoutMs, and each waiting call holds its message): one more is LimitsExceeded at
    once; the others get the outcome as before."""
    f = vt.enroll(client, emulator)
    emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600, method="DELETE")
    try:
        first = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the DELETE held")
        joined = [vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
                  for _ in range(33)]
        vt.one_over_the_cap(client, joined,
                            "32 Delete calls wait for the delete of factor %s already" % f.sid,
                            10 * vt.SLOWDOWN)
    finally:
        emulator.clear_faults()
        emulator.release_held()
    for c in [first] + joined:
        c.wait(30 * vt.SLOWDOWN)
    assert sum(c.error is None for c in [first] + joined) == 33
    assert f.path not in client.factor_paths()
    assert session.keyring_items({"factor-sid": f.sid}) == []


def _call_held(client, emulator, f, method):
    """An Update (rename) or Verify of f whose reply the emulator holds: the PendingCall
    and the id of the delay rule holding it, once held."""
    rule = emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600,
                          method="POST", when="after")
    arg = vt.asv({"friendly-name": "renamed"}) if method == "Update" else None
    call = vt.PendingCall(client, method, arg, f.path, vt.FACTOR_IFACE)
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the request held")
    return call, rule["id"]


def _delete_allowed(daemon, client, f):
    """A Delete of f, once it is past the policy (and so waiting, or under way)."""
    allowed = "delete of factor %s allowed" % f.sid
    before = daemon.log_text().count(allowed)
    delete = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    vt.wait_until(lambda: daemon.log_text().count(allowed) > before, 10 * vt.SLOWDOWN,
                  what="the Delete allowed")
    return delete


def _deletes_sent(emulator, f):
    return [r for r in emulator.requests()
            if r["method"] == "DELETE" and r["path"].endswith("/Factors/" + f.sid)]


@pytest.mark.parametrize("method", ["Update", "Verify"])
def test_delete_waits_for_the_call_sent(method, daemon, client, emulator):
    """A Delete that comes while an Update's or a Verify's request is out lets that call
    end first, its answer recorded, then deletes the factor. Before, the DELETE went out at
    once and the call, whose change the API had made, got NotFound."""
    f = vt.enroll(client, emulator, verify=(method == "Update"))
    keep = vt.enroll(client, emulator)
    try:
        call, _ = _call_held(client, emulator, f, method)
        delete = _delete_allowed(daemon, client, f)
        client.factor_props(keep.path)  # the bus answers while the Delete waits
        assert not call.done and not delete.done
        assert _deletes_sent(emulator, f) == []
    finally:
        emulator.clear_faults()
    call.wait()
    assert call.error is None, call.error
    delete.wait()
    assert delete.error is None, delete.error
    assert len(_deletes_sent(emulator, f)) == 1
    remote = emulator.state()["factors"][f.sid]
    assert remote["deleted"]
    if method == "Update":
        assert remote["friendly_name"] == "renamed"
    else:
        assert remote["status"] == "verified"
    record = os.path.join(daemon.state_dir, "factors", f.sid + ".json")
    assert not os.path.exists(record)
    assert client.factor_paths() == [keep.path]
    daemon.restart()
    assert client.factor_paths() == [keep.path]


@pytest.mark.parametrize("method", ["Update", "Verify"])
def test_failed_delete_keeps_the_answer_of_the_call_sent(method, daemon, client, emulator):
    """A Delete that fails after it let the Update or Verify under way end: the factor is
    back as the API has it, renamed or verified, also after a restart. Before, the call's
    reply came during the delete and was dropped (NotFound), and the failed delete put the
    factor back with the old name, or unverified."""
    f = vt.enroll(client, emulator, verify=(method == "Update"))
    try:
        call, rule = _call_held(client, emulator, f, method)
        # the DELETE, once sent, is held, then refused: a delete under way while the call's
        # reply comes in (as before), or one that waits for it
        emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600,
                       method="DELETE", when="before")
        emulator.fault(r"/Factors/%s\Z" % f.sid, status=400, method="DELETE")
        delete = _delete_allowed(daemon, client, f)
        emulator.release_held(rule)
        call.wait()
        assert call.error is None, call.error
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the DELETE held")
        assert not delete.done
        emulator.release_held()
        delete.wait()
    finally:
        emulator.clear_faults()
    assert delete.error is not None and delete.error.name == vt.ERR_PREFIX + "Api", \
        delete.error
    want = ("FriendlyName", "renamed") if method == "Update" else ("Status", "verified")
    remote = emulator.state()["factors"][f.sid]
    assert not remote["deleted"]
    assert remote["friendly_name" if method == "Update" else "status"] == want[1]
    assert client.factor_paths() == [f.path]
    assert client.factor_props(f.path)[want[0]] == want[1]
    daemon.restart()
    assert client.factor_props(f.path)[want[0]] == want[1]


def test_updates_waiting_for_a_deleted_factor_are_not_found(daemon, client, emulator):
    """Updates of one factor run one at a time. A Delete lets the one under way end, and
    those waiting for it, not sent yet, get NotFound as the Delete begins, every one of
    them. Before, only the first waiting got a reply; the others waited for ever."""
    f = vt.enroll(client, emulator)
    before = len(emulator.requests())
    try:
        # the first rename's reply is held until the others are answered
        first = vt.rename_held(client, emulator, f, "Desk 1")
        waiting = [vt.PendingCall(client, "Update", vt.asv({"friendly-name": "Desk %d" % i}),
                                  f.path, vt.FACTOR_IFACE) for i in (2, 3, 4)]
        # all of them past the policy, so waiting for the first, before the delete begins
        allowed = "update of factor %s allowed" % f.sid
        vt.wait_until(lambda: daemon.log_text().count(allowed) == 4, 10 * vt.SLOWDOWN,
                      what="the Updates allowed")
        client.refresh()
        assert not any(call.done for call in waiting)
        delete = _delete_allowed(daemon, client, f)
        for call in waiting:
            call.wait(30 * vt.SLOWDOWN)
            assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
            assert "%s is being deleted" % f.sid in call.error.message
        assert not first.done and not delete.done
    finally:
        emulator.clear_faults()
    first.wait()
    assert first.error is None, first.error
    delete.wait()
    assert delete.error is None, delete.error
    assert emulator.state()["factors"][f.sid]["friendly_name"] == "Desk 1"
    renames = [r for r in emulator.requests()[before:]
               if r["method"] == "POST" and r["path"].endswith("/Factors/" + f.sid)]
    assert len(renames) == 1, renames
    assert client.factor_paths() == []


@pytest.mark.parametrize("case", ["Verify-verified", "Verify-unverified", "Update"])
def test_change_during_a_delete_is_not_found(case, daemon, client, emulator):
    """docs/crash-safety.md: Update and Verify during a delete get NotFound ("is being
    deleted"), and send nothing: before, a verified factor's Verify answered success for a
    factor on its way out, and an unverified one's Verify and an Update sent their POST
    (a rename the API kept if the delete then failed)."""
    f = vt.enroll(client, emulator, verify=(case != "Verify-unverified"))
    # the DELETE is held until the Verify has its answer, however long that takes
    emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600, method="DELETE",
                   when="before")
    delete = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    try:
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the DELETE held")
        before = len(emulator.requests())
        try:
            if case == "Update":
                client.factor_update(f.path, {"friendly-name": "renamed while deleted"})
            else:
                client.factor_verify(f.path)
        except vt.DBusCallError as e:
            assert e.name == vt.ERR_NOT_FOUND, e
            assert "%s is being deleted" % f.sid in e.message, e
        else:
            raise AssertionError("%s during a delete succeeded" % case)
        posts = [r for r in emulator.requests()[before:] if r["method"] == "POST"]
        assert posts == [], posts
    finally:
        emulator.clear_faults()
    delete.wait()
    assert delete.error is None, delete.error
    assert client.factor_paths() == []


@pytest.mark.parametrize("match", ["challenge-sid", "transaction-id"])
def test_approval_during_a_delete_is_not_found(match, daemon, client, emulator):
    """A factor whose Delete is under way is as good as gone for approvals too: its record
    is, and its DELETE may reach the API before or after an answer. A call for its
    challenge ends NotFound and sends nothing; before, it was answered."""
    f = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    client.refresh()
    emulator.fault(r"/Factors/%s\Z" % f.sid, action="delay", seconds=600, method="DELETE",
                   when="before")
    delete = vt.PendingCall(client, "Delete", None, f.path, vt.FACTOR_IFACE)
    try:
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the DELETE held")
        before = len(emulator.requests())
        value = ch["sid"] if match == "challenge-sid" else txid
        with pytest.raises(vt.DBusCallError) as e:
            client.approve({match: value, "timeout-ms": 1000})
        assert e.value.name == vt.ERR_NOT_FOUND, e.value
        posts = [r for r in emulator.requests()[before:] if r["method"] == "POST"]
        assert posts == [], posts
    finally:
        emulator.clear_faults()
    delete.wait()
    assert delete.error is None, delete.error
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "pending"


def test_unknown_factor_path_not_found(daemon, client, emulator):
    keep = vt.enroll(client, emulator)
    before = len(emulator.requests())
    for sid in ("YF" + "0123456789abcdef" * 2, keep.sid[:-1] + "x", "not_a_sid"):
        for what, fn in _factor_calls(client, vt.factor_path(sid)):
            _expect_not_found(fn, sid, what)
    assert _changes_sent(emulator, before) == []
    assert client.factor_paths() == [keep.path]
    assert client.factor_props(keep.path)["FriendlyName"] == keep.friendly_name


def test_delete_stale_path_not_found(daemon, client, emulator):
    """A second Delete through the same path, as a stale proxy would send it."""
    f = vt.enroll(client, emulator)
    keep = vt.enroll(client, emulator)
    client.factor_delete(f.path)
    before = len(emulator.requests())
    for what, fn in _factor_calls(client, f.path):
        _expect_not_found(fn, f.sid, what)
    assert _changes_sent(emulator, before) == []
    assert client.factor_paths() == [keep.path]
    assert emulator.fetch_factor(keep.identity, keep.sid).status == 200


def _introspect(client, path):
    node = ET.fromstring(client.introspect(path))
    return ({i.get("name"): i for i in node.findall("interface")},
            sorted(n.get("name") for n in node.findall("node")))


def test_factors_on_the_bus_unchanged(daemon, client, emulator):
    """What busctl tree and busctl introspect show of the factors: the factors path is no
    object and lists every factor once; each factor has the Factor interface as in
    dbus/io.github.vpush1.Factor.xml; GetManagedObjects has each factor once."""
    factors = [vt.enroll(client, emulator) for _ in range(2)]
    gone = vt.enroll(client, emulator)
    client.factor_delete(gone.path)
    want = ET.parse(FACTOR_XML).getroot().find("interface")

    interfaces, nodes = _introspect(client, vt.FACTORS_PATH)
    assert interfaces == {}
    assert nodes == sorted(f.sid for f in factors)
    assert "factors" in _introspect(client, vt.MANAGER_PATH)[1]

    managed = client.managed_objects()
    assert sorted(managed) == sorted(f.path for f in factors)
    for f in factors:
        interfaces, nodes = _introspect(client, f.path)
        assert sorted(interfaces) == sorted([vt.FACTOR_IFACE, vt.PROPS_IFACE,
                                             "org.freedesktop.DBus.Introspectable",
                                             "org.freedesktop.DBus.Peer"])
        assert nodes == []
        iface = interfaces[vt.FACTOR_IFACE]
        for kind in ("method", "property", "signal"):
            assert (sorted(e.get("name") for e in iface.findall(kind))
                    == sorted(e.get("name") for e in want.findall(kind))), kind
        props = client.factor_props(f.path)
        assert sorted(props) == sorted(p.get("name") for p in want.findall("property"))
        assert props["Sid"] == f.sid
        assert list(managed[f.path]) == [vt.FACTOR_IFACE]
        assert managed[f.path][vt.FACTOR_IFACE] == props
