"""Faults of the Verify API (docs/emulator.md "Faults"; README "When things fail"): vpushd
retries transient failures (no answer, a timeout, a broken connection, 429, 5xx) with
jittered backoff, honours Retry-After, gives up with Error.Network or Error.Api within its
bounds (RetryTimeoutMs, and for an answer also the challenge's expiry), never answers
a challenge twice, and is still on the bus after each fault. An answer's faults are in
test_answer_faults.py.

One vpushd for the module, with short timeouts: 1 s per request, 3 s of retries. Polling
is hourly, so that only the calls a test makes meet its faults (vpushtest_faults.py).
"""

import datetime
import subprocess
import time

import pytest

import vpushtest as vt
import vpushtest_faults as vf
from vpushtest_faults import (ERR_API, ERR_FAILED, ERR_NETWORK, answer_elsewhere, challenge_re,
                              expect_error, list_path, logged, new_challenge, verify_settings)

# the module's vpushd and factor, and the check after each test (vpushtest_faults.py)
fdaemon = vf.fdaemon
factor = vf.factor
faults_checked = vf.faults_checked


# ---------------------------------------------------------------------------------------
# Transient failures are retried


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_retried(factor, client, emulator, status):
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    rule = emulator.fault(challenge_re(ch["sid"]), status=status, method="POST", count=2)
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    posts = logged(emulator, "/Challenges/" + ch["sid"], "POST", before)
    assert [(p["status"], p["fault"]) for p in posts] == \
        [(status, rule["id"]), (status, rule["id"]), (200, None)]
    # the faults came before the API handled anything: one answer
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


def test_429_retry_after_honoured(factor, client, emulator):
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    emulator.fault(challenge_re(ch["sid"]), status=429, retry_after=1, method="GET")
    assert client.approve({"challenge-sid": ch["sid"], "timeout-ms": 8000}) == ch["sid"]
    gets = logged(emulator, "/Challenges/" + ch["sid"], "GET", before)
    assert [g["status"] for g in gets[:2]] == [429, 200], gets
    assert gets[1]["time"] - gets[0]["time"] >= 0.95


def test_retry_after_past_the_deadline(session, fdaemon, factor, client, emulator):
    """Retry-After longer than the retry timeout: given up at once, not waited for. The
    retry timeout is 60 s here, so that a call that waited for it, or for the 120 s of
    Retry-After, would outlast the test's own call timeout (30 s)."""
    with verify_settings(session, fdaemon, emulator, RetryTimeoutMs="60000") as d:
        before = len(emulator.requests())
        # the call's own list (Order=asc), not a poll's
        emulator.fault(list_path(factor), status=429, retry_after=120, method="GET",
                       query="Order=asc")
        e = expect_error(ERR_API, client.list_challenges, factor.path, {})
        assert "HTTP 429" in e.message
        # the call's own (Order=asc; the poller lists with Order=desc)
        assert len([g for g in logged(emulator, "/Challenges", "GET", before)
                    if "Order=asc" in (g.get("query") or "")]) == 1
        assert "giving up after 1 attempt(s): Retry-After is past the deadline" in d.log_text()
        # the fault is used up: the next call goes through
        client.list_challenges(factor.path, {})


def test_timeout_retried(factor, client, emulator):
    """A request held past the 1 s request timeout is sent again."""
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    # the call's own list (Order=asc), not a poll's
    emulator.fault(list_path(factor), action="delay", seconds=2.5, method="GET",
                   query="Order=asc")
    t0 = time.monotonic()
    items, _ = client.list_challenges(factor.path, {"status": "pending"})
    # not before the request timeout
    assert time.monotonic() - t0 >= 1
    assert ch["sid"] in [i["sid"] for i in items]

    # sent again: the call's own GETs (Order=asc) are the held one, handled when its delay
    # ends, and the one sent again, which went through
    def mine():
        return [g for g in logged(emulator, "/Entities/%s/Challenges" % factor.identity, "GET",
                                  before) if "Order=asc" in (g.get("query") or "")]
    vt.wait_until(lambda: len(mine()) >= 2, 10 * vt.SLOWDOWN, what="both of the call's GETs")
    assert len(mine()) == 2, mine()


@pytest.mark.parametrize("action,when", [("drop", "before"), ("drop", "after"),
                                         ("truncate", "after")])
def test_broken_connection_retried(factor, client, emulator, action, when):
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    # two: curl itself may send a GET again once when a reused connection is found dead
    rule = emulator.fault(list_path(factor), action=action, when=when, method="GET", count=2)
    items, _ = client.list_challenges(factor.path, {"status": "pending"})
    assert ch["sid"] in [i["sid"] for i in items]
    gets = logged(emulator, "/Entities/%s/Challenges" % factor.identity, "GET", before)
    # the call's own GETs (Order=asc; the poller lists with Order=desc and may come in
    # between): the first met the fault, the last went through; both faults were met
    mine = [g for g in gets if "Order=asc" in (g.get("query") or "")]
    assert mine and mine[0]["fault"] == rule["id"] and mine[-1]["fault"] is None, gets
    assert [g["fault"] for g in gets].count(rule["id"]) == 2, gets
    assert [g["fault"] for g in mine] in ([rule["id"], rule["id"], None],
                                          [rule["id"], None]), gets


# ---------------------------------------------------------------------------------------
# Giving up


def test_gives_up_with_api_error(factor, client, emulator):
    before = len(emulator.requests())
    emulator.fault(list_path(factor), status=503, method="GET", count=1000)
    t0 = time.monotonic()
    e = expect_error(ERR_API, client.list_challenges, factor.path, {})
    took = time.monotonic() - t0
    assert "HTTP 503" in e.message
    # RetryTimeoutMs=3000, and no retry starts within a second of it; the margin past the
    # deadline is for latency
    assert 0.5 <= took < 3 + 0.5 * vt.SLOWDOWN, took
    assert len(logged(emulator, "/Challenges", "GET", before)) >= 3
    # the API answered all along: vpushd is not offline
    assert client.manager_property("State") == "ready"


def test_gives_up_with_network_error_and_goes_offline(factor, client, emulator):
    emulator.fault(list_path(factor), action="drop", method="GET", count=1000)
    t0 = time.monotonic()
    call = vt.PendingCall(client, "ListChallenges", vt.asv({}), factor.path, vt.FACTOR_IFACE)
    # State says so while the call is still retrying
    client.wait_state("offline", timeout=3)
    assert not call.done
    call.wait()
    assert call.error is not None and call.error.name == ERR_NETWORK, call.error
    # within RetryTimeoutMs=3000, as above
    assert 0.5 <= time.monotonic() - t0 < 3 + 0.5 * vt.SLOWDOWN
    assert client.manager_property("State") == "offline"
    emulator.clear_faults()
    client.list_challenges(factor.path, {})
    assert client.manager_property("State") == "ready"


def test_approve_reports_a_failing_api_not_notfound(factor, client, emulator):
    """The challenge can't be looked up because every poll gets 503: when the wait ends,
    the caller learns that, not NotFound."""
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    emulator.fault(list_path(factor), status=503, method="GET", count=1000)
    e = expect_error(ERR_API, client.approve, {"transaction-id": txid, "timeout-ms": 1500})
    assert "HTTP 503" in e.message
    assert emulator.answer_posts(ch["sid"]) == 0
    # let the poll still retrying in the background end before the next test
    emulator.clear_faults()
    vt.wait_until(lambda: client.manager_property("State") == "ready", 10, what="State ready")


def test_answer_retries_bounded(factor, client, emulator):
    """An answer is retried, but only within RetryTimeoutMs (3 s): the app waiting on the
    bus gets its reply, and no answer lands long after it gave up."""
    ch = new_challenge(emulator, factor, expiration=60)
    before = len(emulator.requests())
    emulator.fault(challenge_re(ch["sid"]), status=503, method="POST", count=1000)
    with pytest.raises(vt.DBusCallError) as e:
        client.approve({"challenge-sid": ch["sid"]})
    assert e.value.name == ERR_API, e.value
    posts = logged(emulator, "/Challenges/" + ch["sid"], "POST", before)
    assert len(posts) >= 2, posts
    assert posts[-1]["time"] - posts[0]["time"] <= 3.5, posts
    assert emulator.answer_posts(ch["sid"]) == 0


def test_answer_retries_end_at_the_challenges_expiry(session, fdaemon, factor, client,
                                                    emulator):
    """The API's clock is 40 s ahead of vpushd's, within a JWT's lifetime (no 401 corrects
    it): an answer's retries still end at the challenge's expiry by the API's clock, not at
    RetryTimeoutMs (10 s here). dbus-api.md: vpushd never sends an answer for an expired
    challenge."""
    emulator.set_clock(40)
    try:
        with verify_settings(session, fdaemon, emulator, RetryTimeoutMs="10000"):
            ch = new_challenge(emulator, factor, expiration=5)
            client.refresh()
            before = len(emulator.requests())
            emulator.fault(challenge_re(ch["sid"]), status=503, method="POST", count=1000)
            with pytest.raises(vt.DBusCallError):
                client.approve({"challenge-sid": ch["sid"]})
            expires = datetime.datetime.fromisoformat(
                ch["expiration_date"].replace("Z", "+00:00")).timestamp()
            # the reply comes before the expiry: retries that went on after it (with
            # waits of 0.5, 1, 2, 4 s) would come in the seconds after it
            vt.wait_until(lambda: emulator.now() > expires + 3, 15, interval=0.2,
                          what="3 s past the expiry", pump=False)
            posts = logged(emulator, "/Challenges/" + ch["sid"], "POST", before)
            # read expired while the clock is ahead, so that it stays so: back at the
            # clock of the module's other tests it would be a pending challenge newer
            # than theirs
            assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "expired"
    finally:
        emulator.set_clock(0)
    assert posts, "no answer was sent at all"
    assert [p["time"] for p in posts if p["time"] >= expires] == [], (expires, posts)


# ---------------------------------------------------------------------------------------
# Replies that are not transient failures


def test_timeout_bounds_a_call_while_the_api_fails(session, fdaemon, factor, client,
                                                   emulator):
    """The API answers 503 to every list: a call for a transaction id still ends at its
    timeout-ms (with what is known), not after the retries of lists made on its behalf.

    With the module's RetryTimeoutMs (3 s) those retries may end 0.75 s in, as the backoff
    falls, too close to the call's 1 s to tell the two apart. So this test runs vpushd with
    RetryTimeoutMs=60000: a list is then retried until 51 s in at the earliest (no retry
    starts with less than its wait, at most 8 s, and 1 s left)."""
    with verify_settings(session, fdaemon, emulator, RetryTimeoutMs="60000"):
        emulator.fault(list_path(factor), status=503, method="GET", count=1000)
        t0 = time.monotonic()
        with pytest.raises(vt.DBusCallError) as e:
            client.approve({"transaction-id": vt.new_transaction_id(), "timeout-ms": 1000})
        elapsed = time.monotonic() - t0
        # the lists' retries go on after the call ended: it did not wait for them
        lists = len(logged(emulator, "/Challenges", "GET", 0))
        vt.wait_until(lambda: len(logged(emulator, "/Challenges", "GET", 0)) > lists,
                      10 * vt.SLOWDOWN, what="a list retried after the call ended")
    # not before its timeout-ms
    assert elapsed >= 0.9, elapsed
    assert e.value.name in (ERR_API, vt.ERR_NOT_FOUND), e.value


@pytest.mark.parametrize("action", ["huge", "malformed"])
def test_unreadable_list_fails_a_wait_not_found(action, fdaemon, factor, client, emulator):
    """A call that waits for a transaction id while its poll gets a list vpushd can't read
    (over the body cap, or no JSON) ends with that failure: the challenge may be waiting
    where vpushd can't see it, so NotFound would be false."""
    txid = vt.new_transaction_id()
    emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    emulator.fault(list_path(factor), action=action, method="GET", count=1000)
    try:
        e = expect_error(ERR_FAILED, client.approve, {"transaction-id": txid, "timeout-ms": 2000})
    finally:
        emulator.clear_faults()
    assert ("larger than" if action == "huge" else "JSON") in e.message, e.message


def test_unreadable_list_item_is_not_taken_as_answered(fdaemon, factor, client, emulator):
    """A poll whose list had an item vpushd could not read left it out, and concludes
    nothing from the absence of the challenges it did not see: a pending challenge stays
    on the bus and is approved."""
    ch = new_challenge(emulator, factor)
    client.refresh()
    path = vt.challenge_path(ch["sid"])
    assert path in client.challenge_paths()
    emulator.fault(list_path(factor), action="bad-item", method="GET")
    client.refresh()
    assert "item 0 (challenge YC" in fdaemon.log_text()
    assert path in client.challenge_paths()
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]


def test_answered_challenge_leaves_though_another_get_fails(fdaemon, factor, client, emulator):
    """The list alone tells which challenges stopped being pending: one answered elsewhere
    leaves the bus at the next poll even when the GET of another, new challenge fails
    (always, here). That failure is still the poll's error."""
    answered = new_challenge(emulator, factor)
    client.refresh()
    path = vt.challenge_path(answered["sid"])
    assert path in client.challenge_paths()
    unreadable = new_challenge(emulator, factor)
    emulator.fault(challenge_re(unreadable["sid"]), status=400, method="GET", count=1000)
    answer_elsewhere(emulator, answered["sid"], "approved")
    e = expect_error(ERR_API, client.refresh)
    assert "HTTP 400" in e.message, e.message
    assert path not in client.challenge_paths()
    assert vt.challenge_path(unreadable["sid"]) not in client.challenge_paths()


@pytest.mark.parametrize("how", ["nul", "surrogate"])
def test_misread_list_item_is_left_out(how, fdaemon, factor, client, emulator):
    """An item of the list with an escape json-glib misreads (it would read the
    transaction id "T\\u0000other" as "T") costs that item only: it is left out with a
    warning naming it, never read or approved, and the page's other challenges are taken."""
    a = new_challenge(emulator, factor)
    b = new_challenge(emulator, factor)
    emulator.fault(list_path(factor), action="bad-item", how=how, method="GET", count=1000)
    try:
        client.refresh()
        named = [c for c in (a, b)
                 if "item 0 (challenge %s) left out" % c["sid"] in fdaemon.log_text()]
        assert len(named) == 1, fdaemon.log_text()
        bad = named[0]
        good = b if bad is a else a
        assert vt.challenge_path(good["sid"]) in client.challenge_paths()
        assert vt.challenge_path(bad["sid"]) not in client.challenge_paths()
        txid = bad["hidden_details"]["transaction_id"]
        expect_error(vt.ERR_NOT_FOUND, client.approve, {"transaction-id": txid,
                                                        "timeout-ms": 1000})
        assert client.approve({"transaction-id": good["hidden_details"]["transaction_id"]}) \
            == good["sid"]
    finally:
        emulator.clear_faults()
    assert emulator.fetch_challenge(factor.identity, bad["sid"])["status"] == "pending"


def test_stale_answer_body_read_again(fdaemon, factor, client, emulator):
    """The API takes the answer, but its reply shows the challenge still pending (a copy
    read before the change). As the SDKs do (protocol doc §3.7), vpushd reads the
    challenge again, and what it shows decides: approved, so the call succeeds."""
    ch = new_challenge(emulator, factor)
    emulator.fault(challenge_re(ch["sid"]), "stale-status", method="POST", when="after")
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    assert "the reply to its answer showed an older copy" in fdaemon.log_text()


@pytest.mark.parametrize("action", ["malformed", "huge"])
def test_unreadable_answer_body_read_again(action, fdaemon, factor, client, emulator):
    """The API takes the answer (200), but the body of its reply can't be read: not JSON,
    or over the 1 MiB body cap. The SDKs ignore that body and read the challenge back
    (protocol doc §3.7), and so does vpushd: the challenge reads approved, so the call
    succeeds, with one answer sent."""
    ch = new_challenge(emulator, factor)
    client.refresh()  # fetched now: the answer goes out without another GET first
    emulator.fault(challenge_re(ch["sid"]), action, method="POST", when="after")
    before = fdaemon.log_text().count("the reply to its answer could not be read")
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    # this case's line: the module's vpushd logged the other case's too
    assert fdaemon.log_text().count("the reply to its answer could not be read") == before + 1


@pytest.mark.parametrize("action", ["stale-status", "huge"])
def test_answer_body_unusable_then_a_failed_read(action, fdaemon, factor, client, emulator):
    """The API takes the answer and replies with an older copy, or a body over the cap, and
    reading the challenge back then fails: that failure is the call's outcome, saying the
    answer was taken, not the older copy's "pending" or the cap. vpushd remembers its
    answer: a second call, which finds the challenge approved, succeeds."""
    ch = new_challenge(emulator, factor)
    client.refresh()  # fetched now: the answer goes out without another GET first
    emulator.fault(challenge_re(ch["sid"]), action, method="POST", when="after")
    emulator.fault(challenge_re(ch["sid"]), status=400, method="GET")
    e = expect_error(ERR_API, client.approve, {"challenge-sid": ch["sid"]})
    assert "took the answer, but reading it back failed: HTTP 400" in e.message, e.message
    assert emulator.answer_posts(ch["sid"]) == 1
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]


def test_stale_answer_body_and_a_stale_read_then_a_second_call(fdaemon, factor, client,
                                                                 emulator):
    """The API takes the answer, and both its reply and the read after it show the
    challenge pending (older copies): the call fails, as the SDKs do ("not updated"). When
    the app calls again, the API refuses the second answer and the challenge reads
    approved: that was vpushd's own answer, so the second call succeeds."""
    ch = new_challenge(emulator, factor)
    client.refresh()  # fetched now: the answer goes out without another GET first
    emulator.fault(challenge_re(ch["sid"]), "stale-status", method="POST", when="after")
    emulator.fault(challenge_re(ch["sid"]), "stale-status", method="GET", when="after")
    e = expect_error(ERR_API, client.approve, {"challenge-sid": ch["sid"]})
    assert "is pending after the answer" in e.message, e.message
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 2
    assert "an earlier answer of vpushd's was taken" in fdaemon.log_text()
    # the other answer was never vpushd's
    ch2 = new_challenge(emulator, factor)
    client.refresh()
    emulator.fault(challenge_re(ch2["sid"]), "stale-status", method="POST", when="after")
    emulator.fault(challenge_re(ch2["sid"]), "stale-status", method="GET", when="after")
    expect_error(ERR_API, client.approve, {"challenge-sid": ch2["sid"]})
    expect_error(vt.ERR_ALREADY_RESPONDED, client.deny, {"challenge-sid": ch2["sid"]})


def test_malformed_json_not_retried(factor, client, emulator):
    before = len(emulator.requests())
    emulator.fault(list_path(factor), action="malformed", method="GET")
    e = expect_error(ERR_FAILED, client.list_challenges, factor.path, {})
    assert "not valid JSON" in e.message
    assert len(logged(emulator, "/Challenges", "GET", before)) == 1
    client.list_challenges(factor.path, {})


def test_huge_body_not_read_nor_retried(factor, client, emulator):
    before = len(emulator.requests())
    emulator.fault(list_path(factor), action="huge", method="GET")
    e = expect_error(ERR_FAILED, client.list_challenges, factor.path, {})
    # a list of 50 may be 32 KiB a challenge
    assert e.message == "response body larger than 1600 KiB (HTTP status 200)"
    assert len(logged(emulator, "/Challenges", "GET", before)) == 1
    # the API was reached: vpushd is not offline
    assert client.manager_property("State") == "ready"
    client.list_challenges(factor.path, {})


@pytest.mark.parametrize("fault,error", [(dict(action="huge"), ERR_FAILED),
                                         (dict(status=503, count=1000), ERR_API)])
def test_api_answering_makes_an_offline_vpushd_ready(factor, client, emulator, fault, error):
    """A reply over the cap, or a 503 (README: "State stays ready" for HTTP 500-504), comes
    from an API that was reached: an offline vpushd is ready again after it."""
    emulator.fault(list_path(factor), "drop", method="GET", count=1000)
    try:
        expect_error(ERR_NETWORK, client.list_challenges, factor.path, {})
        assert client.manager_property("State") == "offline"
    finally:
        emulator.clear_faults()
    emulator.fault(list_path(factor), method="GET", **fault)
    try:
        expect_error(error, client.list_challenges, factor.path, {})
        assert client.manager_property("State") == "ready"
    finally:
        emulator.clear_faults()


def test_state_follows_the_last_request_of_a_poll(session, fdaemon, factor, client, emulator):
    """State is offline when the Verify API could not be reached at the last attempt
    (dbus-api.md): a poll whose GET of one challenge found no API, and whose GET of another
    then got an answer, leaves vpushd ready. Before, the poll's end reported its first
    failure once more, and State went back to offline after the answer."""
    with verify_settings(session, fdaemon, emulator, TimeoutMs="120000", RetryTimeoutMs="0"):
        client.refresh()  # the first poll of the new vpushd is over
        lost, held = new_challenge(emulator, factor), new_challenge(emulator, factor)
        emulator.fault(challenge_re(lost["sid"]), action="drop", method="GET", count=1000)
        emulator.fault(challenge_re(held["sid"]), action="delay", seconds=600, method="GET")
        call = vt.PendingCall(client, "Refresh", None)
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the GET of the second challenge held")
        client.wait_state("offline", timeout=10 * vt.SLOWDOWN)
        assert not call.done
        emulator.release_held()
        call.wait()
        assert call.error is not None and call.error.name == ERR_NETWORK, call.error
        # the last request got its answer
        assert held["sid"] in [p.rsplit("/", 1)[1] for p in client.challenge_paths()]
        assert client.manager_property("State") == "ready"


def test_wrong_content_type_accepted(factor, client, emulator):
    """The body of a 2xx is checked field by field; its Content-Type is not."""
    ch = new_challenge(emulator, factor)
    emulator.fault(list_path(factor), action="content-type", content_type="text/plain",
                   method="GET")
    items, _ = client.list_challenges(factor.path, {"status": "pending"})
    assert ch["sid"] in [i["sid"] for i in items]


# ---------------------------------------------------------------------------------------
# Enrollment: a create is never sent twice when it may have been taken


def test_create_not_resent_after_lost_reply(fdaemon, client, emulator):
    identity = vt.unique_identity("fault")
    path = r"/Entities/%s/Factors\Z" % identity
    emulator.fault(path, action="drop", method="POST")
    before = len(emulator.requests())
    expect_error(ERR_NETWORK, vt.enroll, client, emulator, identity=identity)
    assert len(logged(emulator, "/Entities/%s/Factors" % identity, "POST", before)) == 1
    assert emulator.list_factors(identity) == []


def test_create_retried_after_429(fdaemon, client, emulator):
    identity = vt.unique_identity("fault")
    emulator.fault(r"/Entities/%s/Factors\Z" % identity, status=429, retry_after=1,
                   method="POST")
    before = len(emulator.requests())
    f = vt.enroll(client, emulator, identity=identity)
    posts = logged(emulator, "/Entities/%s/Factors" % identity, "POST", before)
    assert [p["status"] for p in posts] == [429, 201]
    assert [x["sid"] for x in emulator.list_factors(identity)] == [f.sid]


def test_refresh_error_names_its_factor(fdaemon, factor, client, emulator):
    """Refresh polls every factor; when the poll of one fails, the error says which."""
    vt.enroll(client, emulator)  # a second factor, whose poll works
    emulator.fault(list_path(factor), status=400, method="GET", count=10)
    try:
        e = expect_error(ERR_API, client.refresh)
    finally:
        emulator.clear_faults()
    assert e.message.startswith("factor %s: HTTP 400" % factor.sid), e.message


def test_missing_key_is_a_broken_factor(session, fdaemon, factor, client, emulator):
    """A factor whose key was deleted from the keyring behind vpushd's back: a Refresh
    still polls the other factors, and its error names the broken one as such
    (Error.Failed), not NotFound, which would say there is no such factor."""
    broken = vt.enroll(client, emulator)
    subprocess.run(["secret-tool", "clear", "factor-sid", broken.sid], env=session.env,
                   timeout=20, check=True)
    fdaemon.restart()  # a running vpushd keeps the key it has read
    try:
        ch = emulator.create_challenge(factor.identity, factor.sid)
        e = expect_error(ERR_FAILED, client.refresh)
        assert e.message.startswith("factor %s: the key of factor %s is not in the Secret "
                                    "Service" % (broken.sid, broken.sid)), e.message
        assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    finally:
        client.factor_delete(broken.path)  # without its key: here only


def test_missing_key_fails_the_factor_methods(session, fdaemon, client, emulator):
    """Without its key, a factor's Verify, rename, ListChallenges and an approval of its
    challenge by sid fail with Error.Failed, saying the key is missing, as Refresh does:
    NotFound would say there is no such factor (dbus-api.md)."""
    broken = vt.enroll(client, emulator)
    unverified = vt.enroll(client, emulator, verify=False)
    ch = emulator.create_challenge(broken.identity, broken.sid)
    for f in (broken, unverified):
        subprocess.run(["secret-tool", "clear", "factor-sid", f.sid], env=session.env,
                       timeout=20, check=True)
    fdaemon.restart()  # a running vpushd keeps the key it has read
    calls = [(unverified, "Verify", lambda: client.factor_verify(unverified.path)),
             (broken, "Update", lambda: client.factor_update(broken.path,
                                                             {"friendly-name": "new"})),
             (broken, "ListChallenges", lambda: client.list_challenges(broken.path, {})),
             (broken, "ApproveChallenge",
              lambda: client.approve({"challenge-sid": ch["sid"], "factor-sid": broken.sid}))]
    try:
        for f, name, call in calls:
            e = expect_error(ERR_FAILED, call)
            assert "the key of factor %s is not in the Secret Service" % f.sid \
                in e.message, (name, e.message)
    finally:
        for f in (broken, unverified):
            client.factor_delete(f.path)  # without its key: here only
    assert emulator.state()["challenges"][ch["sid"]]["status"] == "pending"


def test_approval_reports_a_refused_poll(fdaemon, factor, client, emulator):
    """A transaction-id approval whose poll the API refuses (4xx) ends at its timeout-ms
    with that refusal, naming the factor, not NotFound: the challenge may be there."""
    vt.enroll(client, emulator)  # a second factor, whose poll works
    emulator.fault(list_path(factor), status=404, code=60390, method="GET", count=10)
    try:
        e = expect_error(ERR_API, client.approve,
                         {"transaction-id": vt.new_transaction_id(),
                          "timeout-ms": int(1000 * vt.SLOWDOWN)})
    finally:
        emulator.clear_faults()
    assert e.message.startswith("factor %s: HTTP 404" % factor.sid), e.message


def test_refused_answer_after_a_refused_poll(fdaemon, factor, client, emulator):
    """An approval whose own poll the API refused, and which then finds its challenge and has
    its answer refused, ends with the answer's refusal, not the poll's. (The poll's error
    was dropped without being freed: the sanitizer and valgrind runs of this test see that.)"""
    txid = vt.new_transaction_id()
    # no poll of the factor under way, which the approval's would join
    client.refresh()
    before = len(emulator.requests())
    emulator.fault(list_path(factor), status=404, code=60390, method="GET", count=1)
    approval = vt.PendingCall(client, "ApproveChallenge",
                              vt.asv({"transaction-id": txid,
                                      "timeout-ms": 20000}))
    try:
        vt.wait_until(lambda: logged(emulator, "/Entities/%s/Challenges" % factor.identity,
                                     "GET", since=before), 10 * vt.SLOWDOWN,
                      what="the approval's poll")
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": txid})
        emulator.fault(challenge_re(ch["sid"]), status=400, code=60306, method="POST")
        client.refresh()
        approval.wait(20 * vt.SLOWDOWN)
    finally:
        emulator.clear_faults()
    assert approval.error is not None and approval.error.name == ERR_API, approval.error
    assert approval.error.message.startswith("HTTP 400, code 60306"), approval.error.message
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"
