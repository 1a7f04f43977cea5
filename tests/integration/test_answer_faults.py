"""Faults of the Verify API met by an answer (README "When things fail"): vpushd never
answers a challenge twice. An answer whose reply was lost is sent again, and the API's
refusal of it (409) with the challenge read back tells whether the first was taken; a
second call for a challenge whose answer is in flight waits for that answer's outcome; a
refusal with no lost reply before it is never taken for success. The other
faults are in test_faults.py, whose vpushd and helpers this module shares
(vpushtest_faults.py).
"""

import time

import pytest

import vpushtest as vt
import vpushtest_faults as vf
from vpushtest_faults import (ERR_API, answer_elsewhere, challenge_re, expect_error, logged,
                              new_challenge, verify_settings)

# the module's vpushd and factor, and the check after each test (vpushtest_faults.py)
fdaemon = vf.fdaemon
factor = vf.factor
faults_checked = vf.faults_checked


@pytest.fixture
def patient_daemon(session, fdaemon, factor, emulator):
    """For one test, vpushd in place of the module's (same state directory, so the same
    factor) with the longest request timeout the configuration allows, 120 s: an answer
    the test holds with a delay rule stays in flight until the test lets it go
    (clear_faults()). The module's vpushd is back afterwards."""
    with verify_settings(session, fdaemon, emulator, TimeoutMs="120000") as d:
        yield d


def approve_held(client, emulator, ch):
    """An ApproveChallenge of ch whose answer the emulator holds until the test clears its
    faults; returns the call once the answer is held."""
    emulator.fault(challenge_re(ch["sid"]), action="delay", seconds=600, method="POST")
    first = vt.PendingCall(client, "ApproveChallenge", vt.asv({"challenge-sid": ch["sid"]}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                  what="the answer to be held")
    return first


@pytest.mark.parametrize("action,extra", [("drop", {}), ("truncate", {}),
                                          ("delay", {"seconds": 3})])
def test_answer_reply_lost(fdaemon, factor, client, emulator, action, extra):
    """The API takes the answer, its reply is lost. The retry is refused (409), and a fetch
    shows the challenge as asked: that is success, and nothing was answered twice."""
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    emulator.fault(challenge_re(ch["sid"]), action=action, when="after", method="POST", **extra)
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    posts = logged(emulator, "/Challenges/" + ch["sid"], "POST", before)
    assert [p["status"] for p in posts] == [200, 409], posts
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    assert emulator.answer_posts(ch["sid"]) == 2
    assert "the reply to its answer was lost" in fdaemon.log_text()


@pytest.mark.parametrize("status", [500, 502, 504])
def test_answer_taken_with_a_server_error_reply(fdaemon, factor, client, emulator, status):
    """The API takes the answer and replies 5xx: a reply lost as far as vpushd can tell
    (README: "timeout, dropped connection, 5xx"). The call succeeds as usual: the retry is
    refused (409), and a fetch shows the challenge approved."""
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    rule = emulator.fault(challenge_re(ch["sid"]), status=status, when="after", method="POST")
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    posts = logged(emulator, "/Challenges/" + ch["sid"], "POST", before)
    # the log has the API's own status; the fault replaced the first one
    assert [(p["fault"], p["status"]) for p in posts] == [(rule["id"], 200), (None, 409)], posts
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


@pytest.mark.skipif(vt.VALGRIND, reason="its read-back has the 1 s request timeout, which "
                    "vpushd under valgrind may miss; the read-back runs in the other tests")
def test_answer_replies_all_lost(fdaemon, factor, client, emulator):
    """The API takes the answer, and the replies to it and to every retry (409s) are lost
    until the retries end. vpushd reads the challenge back: approved, after its answer
    may have gone through, so the call succeeds, and the challenge is remembered as
    answered. Before, the call ended Network for an approval the API had taken."""
    ch = new_challenge(emulator, factor)
    client.refresh()
    emulator.fault(challenge_re(ch["sid"]), action="delay", seconds=600, method="POST",
                   when="after", count=100)
    try:
        assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    finally:
        emulator.clear_faults()
    assert emulator.answer_posts(ch["sid"]) >= 2
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    assert "the reply to its answer was lost" in fdaemon.log_text()
    e = expect_error(vt.ERR_ALREADY_RESPONDED, client.deny, {"challenge-sid": ch["sid"]})
    assert "approved" in str(e)


def test_answer_lost_and_answered_elsewhere(factor, client, emulator):
    """vpushd's answer times out; meanwhile the challenge was denied elsewhere. Its retry
    is refused and the challenge is not in the asked status: AlreadyResponded."""
    ch = new_challenge(emulator, factor)
    emulator.fault(challenge_re(ch["sid"]), action="delay", seconds=3, method="POST")
    call = vt.PendingCall(client, "ApproveChallenge", vt.asv({"challenge-sid": ch["sid"]}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10, what="the answer to be held")
    answer_elsewhere(emulator, ch["sid"], "denied")
    call.wait()
    assert call.error is not None and call.error.name == vt.ERR_ALREADY_RESPONDED, call.error
    assert "denied" in call.error.message
    emulator.clear_faults()          # the held POST is handled now: refused, too late
    vt.wait_until(lambda: emulator.answer_posts(ch["sid"]) == 2, 10, what="the held answer")
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "denied"


def test_second_call_waits_for_the_answer_in_flight(patient_daemon, factor, client, emulator):
    """A second call for a challenge another call is answering is not told AlreadyResponded
    while that answer may still fail: it waits for it, and hears AlreadyResponded once the
    challenge is answered.

    The first call's answer is held until the test lets it go: after the second call has
    polled for its transaction id and every reply vpushd sent by then is in. So that vpushd
    does not time that request out meanwhile, this test runs it with the longest request
    timeout (patient_daemon)."""
    ch = new_challenge(emulator, factor)
    client.refresh()
    first = approve_held(client, emulator, ch)
    before = len(emulator.requests())
    second = vt.PendingCall(client, "DenyChallenge",
                            vt.asv({"transaction-id": ch["hidden_details"]["transaction_id"]}))
    # a call that waits for the answer polls for its transaction id first; one that does
    # not wait replies without it
    vt.wait_until(lambda: second.done or logged(
        emulator, "/Entities/%s/Challenges" % factor.identity, "GET", before),
        10 * vt.SLOWDOWN, what="the second call's poll")
    # the round trip to vpushd brings in any reply sent before it (the harness pumps the
    # main context after each call)
    time.sleep(0.3)
    client.manager_property("State")
    assert emulator.faults_held() == 1 and not first.done, first.error
    assert not second.done, second.error
    emulator.clear_faults()  # the held answer is handled now
    first.wait(timeout=10 * vt.SLOWDOWN)
    assert first.error is None and first.value == (ch["sid"],), first.error
    second.wait(timeout=10 * vt.SLOWDOWN)
    assert second.error is not None and second.error.name == vt.ERR_ALREADY_RESPONDED, \
        second.error
    assert "approved" in second.error.message
    assert emulator.answer_posts(ch["sid"]) == 1


def test_second_call_answers_when_the_first_fails(factor, client, emulator):
    """The answer in flight is refused and the challenge is still pending: the call that
    waited for it answers the challenge itself."""
    ch = new_challenge(emulator, factor)
    before = len(emulator.requests())
    emulator.fault(challenge_re(ch["sid"]), action="delay", seconds=0.8, method="POST")
    emulator.fault(challenge_re(ch["sid"]), status=400, method="POST")
    first = vt.PendingCall(client, "ApproveChallenge", vt.asv(
        {"challenge-sid": ch["sid"], "timeout-ms": vt.APPROVE_TIMEOUT_MS}))
    vt.wait_until(lambda: emulator.faults_held() >= 1, 10, what="the answer to be held")
    second = vt.PendingCall(client, "DenyChallenge", vt.asv(
        {"challenge-sid": ch["sid"], "timeout-ms": vt.APPROVE_TIMEOUT_MS}))
    first.wait()
    assert first.error is not None and first.error.name == ERR_API, first.error
    second.wait()
    assert second.error is None and second.value == (ch["sid"],), second.error
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "denied"
    posts = logged(emulator, "/Challenges/" + ch["sid"], "POST", before)
    assert [p["status"] for p in posts] == [400, 200], posts


def test_waiting_call_hears_when_the_answer_ends_in_expiry(patient_daemon, factor, client,
                                                           emulator):
    """The answer in flight ends with the challenge gone (the API says it expired). A
    second call that waited for it past its own timeout-ms hears Expired at once: it is
    woken by the end of that answer, whatever removed the challenge.

    The answer is held until the test lets it go: after the second call has read the
    challenge (still pending) and waited past its timeout-ms, and after the API's clock has
    moved past the expiry. So that vpushd does not time that request out meanwhile, this
    test runs vpushd with the longest request timeout the configuration allows
    (patient_daemon)."""
    try:
        ch = new_challenge(emulator, factor, expiration=60)
        client.refresh()
        first = approve_held(client, emulator, ch)
        before = len(emulator.requests())
        second = vt.PendingCall(client, "DenyChallenge",
                                vt.asv({"challenge-sid": ch["sid"], "timeout-ms": 100}))
        # its own GET of the challenge, still pending, before the API's clock moves on
        vt.wait_until(lambda: logged(emulator, "/Challenges/" + ch["sid"], "GET", before),
                      10 * vt.SLOWDOWN, what="the second call's GET")
        # past the second call's timeout-ms it still waits for the answer; the round trip
        # to vpushd brings in any reply sent before it
        time.sleep(0.3)
        client.manager_property("State")
        assert emulator.faults_held() == 1 and not first.done, first.error
        assert not second.done, second.error
        emulator.set_clock(120)
        emulator.clear_faults()  # the held answer is handled now, after the expiry
        first.wait()
        second.wait(timeout=10 * vt.SLOWDOWN)
    finally:
        emulator.set_clock(0)
    assert first.error is not None and first.error.name == vt.ERR_EXPIRED, first.error
    assert second.error is not None and second.error.name == vt.ERR_EXPIRED, second.error


def test_refusal_without_lost_reply_is_not_success(factor, client, emulator):
    """A 409 with no lost reply before it: someone else answered, even if with the same
    status."""
    ch = new_challenge(emulator, factor)
    client.refresh()
    vt.wait_until(lambda: vt.challenge_path(ch["sid"]) in client.challenge_paths(), 10,
                  what="the challenge on the bus")
    answer_elsewhere(emulator, ch["sid"], "approved")
    # fetched a moment ago: answered with a single POST, which is refused
    e = expect_error(vt.ERR_ALREADY_RESPONDED, client.approve, {"challenge-sid": ch["sid"]})
    assert "approved" in e.message
    assert emulator.answer_posts(ch["sid"]) == 1
