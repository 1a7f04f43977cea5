"""The matching rules' errors: NotFound, Ambiguous, Expired, AlreadyResponded — and that
nothing is ever answered when the daemon says no."""

import time

import pytest

import vpushtest as vt


def _expect_error(name, fn, *args, **kw):
    try:
        res = fn(*args, **kw)
    except vt.DBusCallError as e:
        assert e.name == name, "expected %s, got %s" % (name, e)
        return e
    raise AssertionError("expected %s, got a reply %r" % (name, res))


def _all_answer_posts(emulator):
    return {sid: c["answer_posts"] for sid, c in emulator.state()["challenges"].items()}


@pytest.mark.parametrize("method", ["approve", "deny"])
def test_unknown_transaction_id_not_found_after_timeout(method, factor, client, emulator):
    other = emulator.create_challenge(factor.identity, factor.sid,
                                      hidden={"transaction_id": vt.new_transaction_id()})
    before = _all_answer_posts(emulator)
    t0 = time.monotonic()
    _expect_error(vt.ERR_NOT_FOUND, getattr(client, method),
                  {"transaction-id": vt.new_transaction_id("unknown"), "timeout-ms": 1500})
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.4, "NotFound came before the timeout (%.2f s)" % elapsed
    assert _all_answer_posts(emulator) == before
    assert emulator.answer_posts(other["sid"]) == 0
    assert emulator.fetch_challenge(factor.identity, other["sid"])["status"] == "pending"


def test_unknown_challenge_sid_not_found(factor, client, emulator):
    before = _all_answer_posts(emulator)
    _expect_error(vt.ERR_NOT_FOUND, client.approve,
                  {"challenge-sid": "YC" + "0" * 32, "timeout-ms": 1000})
    assert _all_answer_posts(emulator) == before


@pytest.mark.parametrize("by", ["transaction-id", "challenge-sid"])
def test_pending_challenge_of_another_factor_not_found(by, factor, client, emulator):
    """factor-sid narrows the match: a pending challenge of another factor is NotFound,
    and the message says which factor was looked at (the challenge is pending, after all)."""
    other = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    match = {"transaction-id": txid} if by == "transaction-id" else {"challenge-sid": ch["sid"]}
    match.update({"factor-sid": other.sid, "timeout-ms": 1000})
    e = _expect_error(vt.ERR_NOT_FOUND, client.approve, match)
    assert "of factor %s" % other.sid in e.message, e.message
    assert emulator.answer_posts(ch["sid"]) == 0
    assert client.approve({"challenge-sid": ch["sid"], "factor-sid": factor.sid}) == ch["sid"]


def test_answered_challenge_of_another_factor_not_found(factor, client, emulator):
    """factor-sid narrows the match also for a challenge vpushd answered: naming another
    factor gives NotFound, not AlreadyResponded, and never that answer's outcome, which
    belongs to whoever asked for it (dbus-api.md: factor-sid "only this factor")."""
    other = vt.enroll(client, emulator)
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    e = _expect_error(vt.ERR_NOT_FOUND, client.approve,
                      {"challenge-sid": ch["sid"], "factor-sid": other.sid, "timeout-ms": 1000})
    assert "of factor %s" % other.sid in e.message, e.message
    assert emulator.answer_posts(ch["sid"]) == 1


def test_transaction_id_matched_whole(factor, client, emulator):
    """A transaction id matches only the same id: not a part of it, not one in other case,
    not one with a space added. Pending and on the bus, the challenge is left alone."""
    txid = "tx-12345-Order"
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(), 10,
                  what="the challenge on the bus")
    for other in ("tx-1", "tx-12345-", "tx-12345-order", "TX-12345-ORDER", txid + " ",
                  " " + txid, "12345", ""):
        e = _expect_error(vt.ERR_NOT_FOUND if other else vt.ERR_INVALID_ARGS, client.approve,
                          {"transaction-id": other, "timeout-ms": 300})
        if other:
            assert ch["sid"] not in e.message, e.message
    assert emulator.answer_posts(ch["sid"]) == 0
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"
    assert client.approve({"transaction-id": txid}) == ch["sid"]


def test_default_timeout_from_config(factor, client, emulator):
    """No timeout-ms: [Approval] DefaultTimeoutMs (3000 in the test config) applies."""
    t0 = time.monotonic()
    e = _expect_error(vt.ERR_NOT_FOUND, client.approve,
                      {"transaction-id": vt.new_transaction_id("unknown")})
    elapsed = time.monotonic() - t0
    assert "within 3000 ms" in e.message, e.message
    assert elapsed >= 2.9, elapsed


@pytest.fixture
def quiet_factor(session, client, emulator):
    """A factor of a vpushd that polls only when asked, with its first poll done: two
    challenges created back to back are then seen by the same poll. (A scheduled poll
    landing between them would leave one cached, and a cached challenge is answered
    without waiting for another poll: one answer, never two.)"""
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config={"Poll": {"IntervalSeconds": "3600",
                                                      "IntervalWithPushSeconds": "3600"}})
    d.start()
    f = vt.enroll(client, emulator)
    f.daemon = d  # for the tests that read its log
    client.refresh()
    yield f
    d.stop()


@pytest.mark.parametrize("method", ["approve", "deny"])
def test_two_matches_ambiguous(method, quiet_factor, client, emulator):
    factor = quiet_factor
    txid = vt.new_transaction_id()
    a = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    b = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    e = _expect_error(vt.ERR_AMBIGUOUS, getattr(client, method),
                      {"transaction-id": txid, "timeout-ms": 3000})
    for ch in (a, b):
        assert ch["sid"] in e.message, e.message
        assert emulator.answer_posts(ch["sid"]) == 0
        assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"


def test_second_match_that_could_not_be_fetched_ambiguous(quiet_factor, client, emulator):
    """The call's poll lists two pending challenges of the transaction id, and the GET of
    one fails: the other is not answered as the only match (the list shows both)."""
    factor = quiet_factor
    txid = vt.new_transaction_id()
    a = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    b = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    emulator.fault(r"/Challenges/%s\Z" % b["sid"], status=400, method="GET")
    try:
        e = _expect_error(vt.ERR_AMBIGUOUS, client.approve,
                          {"transaction-id": txid, "timeout-ms": 3000})
    finally:
        emulator.clear_faults()
    assert a["sid"] in e.message and b["sid"] + " (listed, not fetched)" in e.message, e.message
    for ch in (a, b):
        assert emulator.answer_posts(ch["sid"]) == 0
    # once it can be fetched, both are on the bus: still two
    _expect_error(vt.ERR_AMBIGUOUS, client.approve, {"transaction-id": txid, "timeout-ms": 3000})
    assert emulator.answer_posts(a["sid"]) == 0


def test_second_match_whose_fetch_is_under_way_ambiguous(quiet_factor, client, emulator):
    """A call waits. A poll then lists two pending challenges of its transaction id, and
    while the GET of one is under way the call looks again (another factor's poll ends):
    it does not answer the one fetched, the list shows two."""
    factor = quiet_factor
    other = vt.enroll(client, emulator)
    client.refresh()
    txid = vt.new_transaction_id()
    emulator.clear_requests()
    call = vt.PendingCall(client, "ApproveChallenge",
                          vt.asv({"transaction-id": txid, "timeout-ms": 20000}))
    # its own poll has found nothing: it waits
    vt.wait_until(lambda: client.pump() or any(
        r["path"].endswith("/Challenges") for r in emulator.requests()), 10,
        what="the call's poll")
    emulator.wait_quiet(0.5 * vt.SLOWDOWN, 10 * vt.SLOWDOWN)
    a = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    b = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    # b's GET is held; the other factor's poll ends a second in, once a is fetched
    emulator.fault(r"/Challenges/%s\Z" % b["sid"], action="delay", seconds=30, method="GET")
    emulator.fault(r"/Entities/%s/Challenges\Z" % other.identity, action="delay", seconds=1,
                   method="GET")
    try:
        refresh = vt.PendingCall(client, "Refresh", None)
        call.wait(15 * vt.SLOWDOWN)
        assert call.error is not None, call.value
        assert call.error.name == vt.ERR_AMBIGUOUS, call.error
        assert b["sid"] + " (listed, not fetched)" in call.error.message, call.error.message
    finally:
        emulator.clear_faults()
        emulator.release_held()
    refresh.wait(30 * vt.SLOWDOWN)
    for ch in (a, b):
        assert emulator.answer_posts(ch["sid"]) == 0


def test_only_match_that_could_not_be_fetched_is_not_answered(quiet_factor, client, emulator):
    """The only challenge of the transaction id is listed, but its GET fails every time:
    the call ends at its timeout-ms with that GET's error, having sent nothing."""
    factor = quiet_factor
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], status=400, method="GET", count=1000)
    try:
        e = _expect_error(vt.ERR_PREFIX + "Api", client.approve,
                          {"transaction-id": txid, "timeout-ms": 1500})
    finally:
        emulator.clear_faults()
    assert "HTTP 400" in e.message, e.message
    assert emulator.answer_posts(ch["sid"]) == 0
    assert client.approve({"transaction-id": txid}) == ch["sid"]


def test_listed_copy_dropped_by_the_polls_own_fetch(quiet_factor, client, emulator):
    """A poll lists a pending challenge that is answered elsewhere before its GET: the GET
    shows it denied, and its list copy counts no more, also when the polls are incomplete
    (which keep the copies they could not replace). The next challenge of its transaction
    id is answered, not refused as Ambiguous."""
    factor = quiet_factor
    txid = vt.new_transaction_id()
    list_re = r"/Entities/%s/Challenges\Z" % factor.identity

    def unreadable():
        # the list's first item (the newest: a poll lists Order=desc) can't be read: the
        # poll is incomplete
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": vt.new_transaction_id()})
        emulator.fault(list_re, action="bad-item", method="GET")
        return ch

    x = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    first = unreadable()
    held = emulator.fault(r"/Challenges/%s\Z" % x["sid"], action="delay", seconds=30,
                          method="GET")
    try:
        refresh = vt.PendingCall(client, "Refresh", None)
        vt.wait_until(lambda: client.pump() or emulator.faults_held() == 1, 10 * vt.SLOWDOWN,
                      what="the GET of the listed challenge held")
        emulator.request("POST", "/_emulator/answer", {"sid": x["sid"], "status": "denied"},
                         backend=False)
        emulator.release_held(held["id"])
        refresh.wait(30 * vt.SLOWDOWN)
        y = emulator.create_challenge(factor.identity, factor.sid,
                                      hidden={"transaction_id": txid})
        second = unreadable()
        client.refresh()
    finally:
        emulator.clear_faults()
        emulator.release_held()
    log = factor.daemon.log_text()
    for ch in (first, second):
        assert "item 0 (challenge %s) left out" % ch["sid"] in log, log
    assert vt.challenge_path(y["sid"]) in client.challenge_paths()
    assert client.approve({"transaction-id": txid, "timeout-ms": 3000}) == y["sid"]
    assert emulator.answer_posts(x["sid"]) == 0


def test_challenge_sid_fetched_after_the_timeout_serves_the_next_call(quiet_factor, client,
                                                                      emulator):
    """A call by challenge-sid with timeout-ms 0 ends at once, but its fetch goes on and
    brings the challenge for the next call (README "timeout-ms"), also when it is not the
    first factor asked that has it."""
    second = vt.enroll(client, emulator)
    client.refresh()
    for factor in (quiet_factor, second):
        ch = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": vt.new_transaction_id()})
        _expect_error(vt.ERR_NOT_FOUND, client.approve,
                      {"challenge-sid": ch["sid"], "timeout-ms": 0})
        path = vt.challenge_path(ch["sid"])
        vt.wait_until(lambda: path in client.challenge_paths(), 10 * vt.SLOWDOWN,
                      what="the challenge the call's fetch brought")
        assert client.approve({"challenge-sid": ch["sid"], "timeout-ms": 0}) == ch["sid"]


def test_two_matches_on_two_factors_ambiguous(quiet_factor, client, emulator):
    f1 = quiet_factor
    f2 = vt.enroll(client, emulator)
    client.refresh()
    txid = vt.new_transaction_id()
    a = emulator.create_challenge(f1.identity, f1.sid, hidden={"transaction_id": txid})
    b = emulator.create_challenge(f2.identity, f2.sid, hidden={"transaction_id": txid})
    e = _expect_error(vt.ERR_AMBIGUOUS, client.approve, {"transaction-id": txid})
    assert a["sid"] in e.message and b["sid"] in e.message, e.message
    assert emulator.answer_posts(a["sid"]) == 0 and emulator.answer_posts(b["sid"]) == 0
    # narrowed to one factor it is unambiguous
    assert client.approve({"transaction-id": txid, "factor-sid": f2.sid}) == b["sid"]
    assert emulator.fetch_challenge(f1.identity, a["sid"])["status"] == "pending"


def test_expired_while_read_again_before_signing(quiet_factor, client, emulator):
    """A cached copy older than 30 s is read again right before signing (README). When that
    read ends after the challenge's expiration_date, no answer is sent: Expired, though the
    challenge was pending when the call chose it and when the API read it."""
    f = quiet_factor
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid},
                                   expiration=35)
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    time.sleep(31)
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="delay", seconds=4, method="GET",
                   when="after")
    emulator.clear_requests()
    _expect_error(vt.ERR_EXPIRED, client.approve, {"transaction-id": txid, "timeout-ms": 20000})
    reads = [r for r in emulator.requests()
             if r["method"] == "GET" and r["path"].endswith("/Challenges/" + ch["sid"])]
    assert len(reads) == 1, "expected the one read before signing: %r" % reads
    assert emulator.answer_posts(ch["sid"]) == 0
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "expired"


def test_hidden_details_changed_before_signing(session, client, emulator):
    """The copy read again right before signing (the cached one is older than 30 s) must
    still match (dbus-api.md): when its transaction id is not the call's any more, the
    call is NotFound, no answer is sent and the challenge stays pending."""
    emulator.set_clock(0)
    suspended = vt.ShiftedClock(session, "VPUSH_TEST_SUSPENDED")
    d = vt.Daemon(session, emulator, env=suspended.env,
                  config={"Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}})
    d.start()
    try:
        f = vt.enroll(client, emulator)
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        client.refresh()
        assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
        # 31 s on by the boot clock and the API's, as after a suspend: the copy is stale
        suspended.set(31)
        emulator.set_clock(31)
        emulator.set_hidden_details(ch["sid"], {"transaction_id": vt.new_transaction_id()})
        emulator.clear_requests()
        e = _expect_error(vt.ERR_NOT_FOUND, client.approve,
                          {"transaction-id": txid, "timeout-ms": 3000})
        assert "no longer matches" in e.message, e.message
        reads = [r for r in emulator.requests()
                 if r["method"] == "GET" and r["path"].endswith("/Challenges/" + ch["sid"])]
        assert len(reads) == 1, "expected the one read before signing: %r" % reads
        assert emulator.answer_posts(ch["sid"]) == 0
        assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "pending"
    finally:
        d.stop()


@pytest.mark.parametrize("by", ["transaction-id", "challenge-sid"])
def test_expired(by, factor, client, emulator):
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": txid}, expiration=3)
    client.refresh()
    path = vt.challenge_path(ch["sid"])
    assert path in client.challenge_paths(), "the daemon did not see the pending challenge"
    expires = vt.parse_rfc3339(ch["expiration_date"])
    vt.wait_until(lambda: emulator.now() > expires + 1, 10, what="the challenge to expire")
    key = txid if by == "transaction-id" else ch["sid"]
    _expect_error(vt.ERR_EXPIRED, client.approve, {by: key, "timeout-ms": 2000})
    assert emulator.answer_posts(ch["sid"]) == 0
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "expired"
    # and it leaves the bus
    vt.wait_until(lambda: path not in client.challenge_paths(), 10,
                  what="the expired Challenge object to go")


def test_approve_twice_already_responded(factor, client, emulator):
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.approve,
                  {"transaction-id": txid, "timeout-ms": 2000})
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.deny,
                  {"transaction-id": txid, "timeout-ms": 2000})
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


def test_finished_before_a_restart(session, client, emulator):
    """vpushd keeps the challenges it saw finish only while it runs. After a restart a
    transaction id whose challenge was answered, or expired, is looked up in the API's own
    list of the factor's challenges: AlreadyResponded and Expired, as before the restart,
    not NotFound. One that finished longer ago than vpushd would keep it is NotFound."""
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator)
    d.start()
    try:
        f = vt.enroll(client, emulator)
        answered_tx = vt.new_transaction_id()
        answered = emulator.create_challenge(f.identity, f.sid,
                                             hidden={"transaction_id": answered_tx})
        assert client.approve({"transaction-id": answered_tx}) == answered["sid"]
        expired_tx = vt.new_transaction_id()
        expired = emulator.create_challenge(f.identity, f.sid,
                                            hidden={"transaction_id": expired_tx}, expiration=2)
        expires = vt.parse_rfc3339(expired["expiration_date"])
        vt.wait_until(lambda: emulator.now() > expires + 1, 10, what="the challenge to expire")
        d.stop()
        d.start()

        e = _expect_error(vt.ERR_ALREADY_RESPONDED, client.approve,
                          {"transaction-id": answered_tx, "timeout-ms": 3000})
        assert answered["sid"] in e.message and "approved" in e.message
        _expect_error(vt.ERR_EXPIRED, client.deny,
                      {"transaction-id": expired_tx, "timeout-ms": 3000})
        assert emulator.answer_posts(answered["sid"]) == 1
        assert emulator.answer_posts(expired["sid"]) == 0

        # forty minutes on (vpushd learns the API's clock from its 401 and Date)
        d.stop()
        emulator.set_clock(40 * 60)
        d.start()
        _expect_error(vt.ERR_NOT_FOUND, client.approve,
                      {"transaction-id": answered_tx, "timeout-ms": 2000})
    finally:
        d.stop()
        emulator.set_clock(0)


def test_history_lookup_polls_for_a_new_pending_challenge(quiet_factor, client, emulator):
    """A challenge created under the transaction id after the call's own poll read the
    factor's list: the list of recent challenges, read next, shows it pending. That list
    item has nothing to sign, so vpushd polls the factor for it and answers it, well
    before timeout-ms ends the call with NotFound."""
    factor = quiet_factor
    txid = vt.new_transaction_id()
    # the poll's list is read at once and its answer held (well within [Verify]
    # TimeoutMs, 5 s): the challenge is created meanwhile
    emulator.fault(r"/Entities/%s/Challenges\Z" % factor.identity, "delay", seconds=2,
                   method="GET", when="after")
    since = len(emulator.requests())
    call = vt.PendingCall(client, "ApproveChallenge",
                          vt.asv({"transaction-id": txid, "timeout-ms": 20000}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10, what="the poll's list to be held")
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert emulator.faults_held() == 1, "the challenge came after the poll's answer"
    call.wait(30)
    assert call.error is None and call.value == (ch["sid"],), call.error
    assert emulator.answer_posts(ch["sid"]) == 1
    lists = [r["query"] for r in emulator.requests()[since:]
             if r["method"] == "GET" and r["path"].endswith("/Entities/%s/Challenges"
                                                           % factor.identity)]
    history = [i for i, q in enumerate(lists) if "Order=desc" in q and "Status=" not in q]
    assert history, lists
    assert any("Status=pending" in q for q in lists[history[0] + 1:]), lists


def test_history_lists_of_factors_deleted_while_queued_or_held(quiet_factor, client, emulator):
    """A call by a transaction id waits for the lists of recent challenges of every factor
    it may use, at most 4 at the API at once, the rest waiting their turn
    (daemon/vpush-history.c). A factor deleted while its list is at the API (404), and one
    deleted while its list waits (no key): each list still ends and says so to the calls
    waiting for it, so the call ends with what the other lists show (AlreadyResponded) as
    soon as they are read, not with NotFound at its timeout."""
    waiting = quiet_factor
    others = [vt.enroll(client, emulator) for _ in range(4)]
    txid = vt.new_transaction_id()
    # answered elsewhere, never seen pending by this vpushd (it polls only when asked)
    ch = emulator.create_challenge(others[0].identity, others[0].sid,
                                   hidden={"transaction_id": txid})
    res = emulator.request("POST", "/_emulator/answer", {"sid": ch["sid"], "status": "approved"},
                           backend=False)
    assert res.status == 200, res.body
    # the lists of recent challenges of the 4 others only (a poll's ask for Status=pending)
    emulator.fault(r"/Entities/(%s)/Challenges\Z" % "|".join(f.identity for f in others),
                   action="delay", seconds=600, method="GET", count=100000,
                   query=r"\A(?!.*Status=).*\bOrder=desc\b")
    try:
        # one call per other factor fills the 4 places with a held list
        fillers = [vt.PendingCall(client, "ApproveChallenge",
                                  vt.asv({"transaction-id": vt.new_transaction_id(),
                                          "factor-sid": f.sid,
                                          "timeout-ms": min(20000, int(3000 * vt.SLOWDOWN))}))
                   for f in others]
        vt.wait_until(lambda: client.pump() or emulator.faults_held() >= 4, 10 * vt.SLOWDOWN,
                      what="4 lists to be held")
        call = vt.PendingCall(client, "ApproveChallenge",
                              vt.asv({"transaction-id": txid, "timeout-ms": 20000}))
        # once its poll found nothing: the waiting factor's list waits its turn, the others'
        # follow the lists held (well within [Verify] TimeoutMs, 5 s)
        vt.wait_until(lambda: client.pump() or "it asks the API for the recent challenges of "
                      "5 factors" in waiting.daemon.log_text(), 10 * vt.SLOWDOWN,
                      what="the call to ask for the lists")
        client.pump()
        assert emulator.faults_held() == 4 and not call.done
        client.factor_delete(waiting.path)
        client.factor_delete(others[3].path)
    finally:
        emulator.clear_faults()
    call.wait(30)
    assert call.error is not None and call.error.name == vt.ERR_ALREADY_RESPONDED, call.error
    assert ch["sid"] in call.error.message
    # the outcome once the lists ended, not at the call's timeout-ms (20 s)
    assert call.took < 15, call.took
    # the queued list was sent for a factor with no key left: it failed, and said so
    assert "listing the challenges of factor %s failed" % waiting.sid \
        in waiting.daemon.log_text()
    for c in fillers:
        c.wait(30)
        assert c.error is not None and c.error.name == vt.ERR_NOT_FOUND, c.error
    assert emulator.answer_posts(ch["sid"]) == 0


def test_direct_fetch_back_during_the_answer_is_ignored(quiet_factor, client, emulator):
    """A call by challenge sid asks each factor for the challenge; meanwhile a poll finds
    it and the call answers it. The call's own GET is handled after the answer was taken,
    and comes back before the answer's reply: it says "approved", and that is this call's
    own answer, not AlreadyResponded. The call gets the answer's reply, once."""
    vt.enroll(client, emulator)  # a second factor: its GET of the challenge is a 404
    f = quiet_factor
    ch = emulator.create_challenge(f.identity, f.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    path = r"/Entities/%s/Challenges/%s\Z" % (f.identity, ch["sid"])
    emulator.fault(path, "delay", seconds=1, method="GET")
    emulator.fault(path, "delay", seconds=2, method="POST", when="after")
    call = vt.PendingCall(client, "ApproveChallenge", vt.asv({"challenge-sid": ch["sid"]}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10, what="the call's GET to be held")
    client.refresh()  # the poll's GET of the same challenge is not held
    vt.wait_until(lambda: emulator.answer_posts(ch["sid"]) == 1, 10, what="the answer")
    call.wait(10)
    assert call.error is None and call.value == (ch["sid"],), call.error
    assert call.took >= 1.5, "the reply came before the answer's"
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.deny, {"challenge-sid": ch["sid"]})
    assert emulator.answer_posts(ch["sid"]) == 1


def test_transaction_id_used_again(quiet_factor, client, emulator):
    """A backend may create a new challenge under a transaction id already answered (a
    retried login): it is the candidate, found by the poll the call starts, not an
    AlreadyResponded for the old one (nor an Expired for an expired one)."""
    factor = quiet_factor
    txid = vt.new_transaction_id()
    first = emulator.create_challenge(factor.identity, factor.sid,
                                      hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == first["sid"]
    second = emulator.create_challenge(factor.identity, factor.sid,
                                       hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid, "timeout-ms": 3000}) == second["sid"]
    assert emulator.fetch_challenge(factor.identity, second["sid"])["status"] == "approved"
    # with nothing newer, the answered one is the outcome, and quickly; also when the
    # wait ends before the poll does
    started = time.monotonic()
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.deny,
                  {"transaction-id": txid, "timeout-ms": 10000})
    assert time.monotonic() - started < 5
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.approve,
                  {"transaction-id": txid, "timeout-ms": 0})
    # an expired one under a transaction id used again
    txid = vt.new_transaction_id()
    old = emulator.create_challenge(factor.identity, factor.sid,
                                    hidden={"transaction_id": txid}, expiration=3)
    client.refresh()
    expires = vt.parse_rfc3339(old["expiration_date"])
    vt.wait_until(lambda: emulator.now() > expires + 1, 10, what="the challenge to expire")
    new = emulator.create_challenge(factor.identity, factor.sid,
                                    hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid, "timeout-ms": 3000}) == new["sid"]
    assert emulator.answer_posts(old["sid"]) == 0
    assert emulator.answer_posts(first["sid"]) == 1


def test_challenge_sid_after_backend_saw_approved(factor, client, emulator, daemon):
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    # the answer comes from the API; under valgrind a fresh vpushd's key load and fetch
    # take seconds, which timeout-ms must not cut short
    timeout = int(min(20000, 2000 * vt.SLOWDOWN))
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.approve,
                  {"challenge-sid": ch["sid"], "timeout-ms": timeout})
    # also from a daemon that has no memory of answering it (it must ask the API)
    daemon.restart()
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.deny,
                  {"challenge-sid": ch["sid"], "timeout-ms": timeout})
    assert emulator.answer_posts(ch["sid"]) == 1


def test_denied_then_approve_already_responded(factor, client, emulator):
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": vt.new_transaction_id()})
    assert client.deny({"challenge-sid": ch["sid"]}) == ch["sid"]
    _expect_error(vt.ERR_ALREADY_RESPONDED, client.approve,
                  {"challenge-sid": ch["sid"], "timeout-ms": 2000})
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "denied"


# what a real server may list in Twilio-Verify-Signature-Fields: hidden_details left out
FIELDS_WITHOUT_HIDDEN = ("account_sid,sid,expiration_date,date_created,status,factor_sid,"
                         "details,service_sid,identity")


@pytest.fixture
def fields_without_hidden(emulator):
    emulator.set_signature_fields(FIELDS_WITHOUT_HIDDEN)
    yield
    emulator.set_signature_fields(None)


def test_transaction_id_cut_at_nul_never_matches(fields_without_hidden, factor, client,
                                                 emulator):
    """json-glib ends a string at \\u0000: a challenge whose transaction id is T, NUL,
    more was read as T and answered for a caller asking for T. vpushd refuses JSON with
    \\u0000 instead; the challenge is no candidate, and nothing is answered."""
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": txid + "\u0000other"})
    _expect_error(vt.ERR_NOT_FOUND, client.approve, {"transaction-id": txid, "timeout-ms": 1500})
    assert emulator.answer_posts(ch["sid"]) == 0
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"


def test_no_answer_after_expiry_by_the_api_clock(factor, client, emulator, daemon):
    """dbus-api.md: vpushd never sends an answer for an expired challenge. A machine clock
    behind the API's by less than a JWT's lifetime is never corrected (no 401): the
    challenge expires by the API's Date it was fetched with, not by that clock."""
    # ours is 300 s behind the API's from now on
    emulator.set_clock(300)
    emulator.clear_requests()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": txid}, expiration=8)
    expiry = vt.parse_rfc3339(ch["expiration_date"])
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    # Date has whole seconds, and so has vpushd's count of the time since
    vt.wait_until(lambda: emulator.now() >= expiry + 2, 30, what="the challenge to expire",
                  pump=False)

    _expect_error(vt.ERR_EXPIRED, client.approve, {"transaction-id": txid, "timeout-ms": 3000})
    assert emulator.answer_posts(ch["sid"]) == 0
    assert not [r for r in emulator.requests() if r["status"] == 401], \
        "a 401 corrected the clock: the skew was not exercised"


def test_challenge_leaves_the_bus_at_expiry_by_the_api_clock(quiet_factor, client, emulator):
    """A Challenge object goes once the challenge expired (dbus-api.md), by the API's Date
    it was fetched with as ApproveChallenge judges it (Expired), also while the machine's
    clock runs behind the API's by less than a JWT's lifetime, which nothing corrects, and
    no poll comes to find it gone."""
    emulator.set_clock(300)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(quiet_factor.identity, quiet_factor.sid,
                                   hidden={"transaction_id": txid}, expiration=4)
    expiry = vt.parse_rfc3339(ch["expiration_date"])
    client.refresh()
    path = vt.challenge_path(ch["sid"])
    assert path in client.challenge_paths()
    vt.wait_until(lambda: emulator.now() >= expiry + 1, 30 * vt.SLOWDOWN,
                  what="the challenge to expire", pump=False)
    vt.wait_until(lambda: path not in client.challenge_paths(), 10 * vt.SLOWDOWN,
                  what="the expired Challenge object to go")
    _expect_error(vt.ERR_EXPIRED, client.approve, {"challenge-sid": ch["sid"], "timeout-ms": 0})
    assert emulator.answer_posts(ch["sid"]) == 0


def test_no_answer_retried_after_expiry_by_the_api_clock(factor, client, emulator, daemon):
    """The answer's retries (the API answering 503) end with the challenge's expiry by the
    API's Date it was fetched with too, not only by a machine clock that runs behind it:
    no answer is sent for a challenge that expired."""
    emulator.set_clock(300)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid,
                                   hidden={"transaction_id": txid}, expiration=6)
    expiry = vt.parse_rfc3339(ch["expiration_date"])
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    emulator.clear_requests()
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], status=503, retry_after=1, method="POST",
                   count=1000)
    try:
        with pytest.raises(vt.DBusCallError):
            client.approve({"transaction-id": txid}, timeout_ms=60000)
    finally:
        emulator.clear_faults()
    posts = [r for r in emulator.requests()
             if r["method"] == "POST" and r["path"].endswith("/Challenges/" + ch["sid"])]
    assert posts, "no answer was sent at all"
    late = [r["time"] for r in posts if r["time"] >= expiry]
    assert not late, "answers sent %s s after the challenge expired" % [t - expiry for t in late]
