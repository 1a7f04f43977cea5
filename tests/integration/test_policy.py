"""Who may approve: the policy files and the caller's identity, against the real vpushd.
The caller is this test process unless a test says otherwise. The caller's login session
is in test_policy_session.py, the audit trail of the policy's decisions in test_audit.py, the
policy read again (a change, SIGHUP) in test_policy_reload.py."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

import vpushtest as vt
from vpushtest_policy import (ERR_ACCESS_DENIED, MANAGE, MSGID_APPROVED, MY_EXE,
                              assert_access_denied, assert_untouched, audit_records, challenge,
                              gdbus_approve, last_audit, refused)

SHIPPED_DEFAULT = os.path.join(vt.SOURCE_DIR, "policy", "default.conf")


# ---------------------------------------------------------------------------------------
# Tests


def test_shipped_default_refuses_approve_and_deny(session, start_daemon, client, emulator):
    with open(SHIPPED_DEFAULT) as f:
        daemon = start_daemon(files={"default.conf": f.read()})
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "no policy rule allows “approve” to this caller",
                         "Actions=approve and Callers=exe:" + MY_EXE)
    # the refusal says nothing of factors or challenges
    assert factor.sid not in e.message and ch["sid"] not in e.message
    e = refused(client.deny, {"transaction-id": txid})
    assert_access_denied(e, "Actions=deny")
    assert_untouched(emulator, factor, ch)

    record = last_audit(daemon, VPUSH_ACTION="approve", VPUSH_DECISION="refused")
    assert record["VPUSH_CALLER_EXE"] == MY_EXE
    assert "VPUSH_RULE" not in record
    # what was asked for is in the record, though the caller is told nothing of it
    assert record["VPUSH_TRANSACTION"] == txid
    assert txid in record["MESSAGE"], record["MESSAGE"]
    last_audit(daemon, VPUSH_ACTION="deny", VPUSH_DECISION="refused", VPUSH_TRANSACTION=txid)
    # by challenge sid and factor sid
    e = refused(client.approve, {"challenge-sid": ch["sid"], "factor-sid": factor.sid})
    assert_access_denied(e, "Actions=approve")
    record = last_audit(daemon, VPUSH_ACTION="approve", VPUSH_DECISION="refused",
                        VPUSH_CHALLENGE=ch["sid"])
    assert record["VPUSH_FACTOR"] == factor.sid
    assert "VPUSH_TRANSACTION" not in record


def test_allowed_exe_approves_another_exe_refused(session, start_daemon, client, emulator):
    daemon = start_daemon("""
[Rule this-test]
Actions=approve
Callers=exe:%s
RequireActiveSession=false
""" % MY_EXE)
    gdbus = os.path.realpath(shutil.which("gdbus"))
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    r = gdbus_approve(session, txid)
    assert r.returncode != 0
    assert ERR_ACCESS_DENIED in r.stderr, r.stderr
    assert "Callers=exe:" + gdbus in r.stderr, r.stderr
    assert_untouched(emulator, factor, ch)
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_CALLER_EXE=gdbus)
    assert record["VPUSH_ACTION"] == "approve"

    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    record = last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_CHALLENGE=ch["sid"])
    assert record["VPUSH_ACTION"] == "approve"
    assert record["VPUSH_RULE"] == "this-test"
    assert record["VPUSH_FACTOR"] == factor.sid
    assert record["VPUSH_CALLER_EXE"] == MY_EXE
    assert record["VPUSH_CALLER_PID"] == str(os.getpid())
    # not a Flatpak, and no systemd on the test machine
    assert "VPUSH_CALLER_APP" not in record
    # README: the outcome, with the same fields but VPUSH_DECISION
    # written after the reply
    last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    outcome = [r for r in audit_records(daemon, MSGID_APPROVED)
               if r.get("VPUSH_CHALLENGE") == ch["sid"]]
    assert len(outcome) == 1, outcome
    same = {k: v for k, v in record.items() if k not in ("MESSAGE", "MESSAGE_ID",
                                                          "VPUSH_DECISION")}
    assert {k: v for k, v in outcome[0].items()
            if k not in ("MESSAGE", "MESSAGE_ID")} == same, (outcome, record)
    # invalid arguments are no decision: nothing recorded
    before = len(audit_records(daemon))
    assert refused(client.approve, {"transaction-id": txid, "challenge-sid": ch["sid"]}).name \
        == "org.freedesktop.DBus.Error.InvalidArgs"
    client.refresh()  # a later call's records would be after this one's
    assert len(audit_records(daemon)) == before


def test_match_transaction_id_refuses_challenge_sid(start_daemon, client, emulator):
    daemon = start_daemon("""
[Rule by-transaction]
Actions=approve
Callers=*
RequireActiveSession=false
Match=transaction-id
""")
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)

    e = refused(client.approve, {"challenge-sid": ch["sid"]})
    assert_access_denied(e, "rule “by-transaction” allows “approve” only by transaction-id "
                            "(Match=transaction-id)")
    assert_untouched(emulator, factor, ch)
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_RULE="by-transaction")
    assert record["VPUSH_ACTION"] == "approve"

    assert client.approve({"transaction-id": txid}) == ch["sid"]
    last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_RULE="by-transaction",
               VPUSH_CHALLENGE=ch["sid"])


# rules of the tests on a challenge's age
QUICK_60S = """
[Rule quick]
Actions=approve
Callers=*
RequireActiveSession=false
MaxChallengeAgeSeconds=60
"""
ANY_AGE = """
[Rule any-age]
Actions=approve
Callers=*
RequireActiveSession=false
"""


def test_max_challenge_age_refuses_old_challenge(start_daemon, client, emulator):
    daemon = start_daemon("""
[Rule quick]
Actions=approve
Callers=*
RequireActiveSession=false
MaxChallengeAgeSeconds=1
""")
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    time.sleep(2.5)

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "rule “quick” allows only challenges up to 1 s old "
                            "(MaxChallengeAgeSeconds=1)")
    assert_untouched(emulator, factor, ch)
    # decided on the very challenge: it is named in the audit trail
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_CHALLENGE=ch["sid"])
    assert record["VPUSH_RULE"] == "quick"
    assert record["VPUSH_FACTOR"] == factor.sid


def test_max_age_by_the_api_clock(start_daemon, client, emulator):
    """MaxChallengeAgeSeconds counts by the Verify API's clock as well: a machine clock
    behind it by less than a JWT's lifetime is never corrected (no 401), and by it alone
    an old challenge would look new."""
    daemon = start_daemon(QUICK_60S)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid, expiration=1200)
    # 300 s pass by the API's clock and none by ours: ours is 300 s behind from now on,
    # and vpushd sees the challenge only now
    daemon.stop()
    emulator.set_clock(300)
    emulator.clear_requests()
    daemon.start()

    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "rule “quick” allows only challenges up to 60 s old")
    assert_untouched(emulator, factor, ch)
    assert not [r for r in emulator.requests() if r["status"] == 401], \
        "a 401 corrected the clock: the skew was not exercised"


def cached_then_asleep(session, start_daemon, client, emulator, rules):
    """A vpushd with rules that has a challenge cached, then 250 s asleep: its boot clock
    and the API's clock went on, its monotonic clock did not. (daemon, factor, transaction
    id, challenge)."""
    suspended = vt.ShiftedClock(session, "VPUSH_TEST_SUSPENDED")
    daemon = start_daemon(rules, env=suspended.env)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid, expiration=1200)
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    suspended.set(250)
    emulator.set_clock(250)
    emulator.clear_requests()
    return daemon, factor, txid, ch


def test_max_age_counts_a_suspend(session, start_daemon, client, emulator):
    """A challenge fetched just before a suspend is as old after it as the API's clock
    says: the time since its reply's Date runs on the boot clock, which goes on through a
    suspend, not on the monotonic clock, which stands still. The machine's clock is left
    behind the API's by the suspend, less than a JWT's lifetime: no 401 corrects it."""
    daemon, factor, txid, ch = cached_then_asleep(session, start_daemon, client, emulator,
                                                  QUICK_60S)
    e = refused(client.approve, {"transaction-id": txid})
    assert_access_denied(e, "rule “quick” allows only challenges up to 60 s old")
    assert_untouched(emulator, factor, ch)
    assert not [r for r in emulator.requests() if r["status"] == 401], \
        "a 401 corrected the clock: the skew was not exercised"
    last_audit(daemon, VPUSH_DECISION="refused", VPUSH_CHALLENGE=ch["sid"])


def test_copy_from_before_a_suspend_is_fetched_again(session, start_daemon, client, emulator):
    """A cached challenge fetched in the last 30 s is answered without another GET; a
    suspend makes the copy old, though the monotonic clock stood still through it."""
    _, factor, txid, ch = cached_then_asleep(session, start_daemon, client, emulator, ANY_AGE)
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    sent = [(r["method"], r["path"]) for r in emulator.requests()
            if r["path"].endswith("/Challenges/" + ch["sid"])]
    assert [m for m, _ in sent] == ["GET", "POST"], sent


def test_no_descriptor_left_to_identify_the_caller(start_daemon, client, emulator):
    """vpushd out of descriptors can't pin or read the caller: that is its own failure
    (Error.Failed, naming it), not the policy's refusal (AccessDenied would point at the
    policy). It fails closed all the same, and is in the audit trail as failed."""
    daemon = start_daemon(ANY_AGE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    pid = daemon.proc.pid
    open_fds = {int(fd) for fd in os.listdir("/proc/%d/fd" % pid)}
    # no descriptor below the limit is free: the next one vpushd opens fails with EMFILE
    lowest_free = min(set(range(len(open_fds) + 1)) - open_fds)
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:" % lowest_free], check=True)
    try:
        e = refused(client.approve, {"transaction-id": txid, "timeout-ms": 1000})
    finally:
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=1024:"], check=True)
    assert e.name == vt.ERR_PREFIX + "Failed", e
    assert "Too many open files" in e.message, e.message
    record = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_ACTION="approve")
    assert "not decided for" in record["MESSAGE"], record["MESSAGE"]
    assert_untouched(emulator, factor, ch)
    assert client.approve({"transaction-id": txid}) == ch["sid"]


def test_factors_rule_hides_other_factors(start_daemon, client, emulator):
    """A challenge of a factor no rule covers is not a candidate for a transaction id:
    NotFound, as if it did not exist. Naming that factor with factor-sid, or such a
    challenge on the bus with challenge-sid, is AccessDenied at once, logged as refused
    (Factor and Challenge objects are public)."""
    daemon = start_daemon()
    mine = vt.enroll(client, emulator)
    other = vt.enroll(client, emulator)
    with open(os.path.join(daemon.policy_dir, "60-mine.conf"), "w") as f:
        f.write("[Rule mine]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                "Match=any\nFactors=%s\n" % mine.sid)
    txid = vt.new_transaction_id()
    ch_other = challenge(emulator, other, txid)

    def reloaded():
        return "policy reloaded: 2 rules" in daemon.log_text()
    vt.wait_until(reloaded, 10, what="the policy to be reloaded", pump=False)

    e = refused(client.approve, {"transaction-id": txid, "timeout-ms": 1500})
    assert e.name == vt.ERR_NOT_FOUND, e
    assert other.sid not in e.message, e.message
    # that call's poll put the challenge on the bus
    vt.wait_until(lambda: vt.challenge_path(ch_other["sid"]) in client.challenge_paths(), 10,
                  what="the other factor's challenge on the bus")
    # known to vpushd now, and still not a candidate
    e = refused(client.approve, {"transaction-id": txid, "timeout-ms": 1500})
    assert e.name == vt.ERR_NOT_FOUND, e
    assert other.sid not in e.message and ch_other["sid"] not in e.message, e.message
    started = time.monotonic()
    e = refused(client.approve, {"challenge-sid": ch_other["sid"], "timeout-ms": 10000})
    assert e.name == ERR_ACCESS_DENIED, e
    assert other.sid in e.message and ch_other["sid"] in e.message, e.message
    assert time.monotonic() - started < 5, "refused at once, not at the timeout"
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_CHALLENGE=ch_other["sid"])
    assert record["VPUSH_FACTOR"] == other.sid
    assert record["VPUSH_CALLER_PID"] == str(os.getpid()) and "VPUSH_CALLER_EXE" in record
    started = time.monotonic()
    e = refused(client.approve, {"transaction-id": txid, "factor-sid": other.sid})
    assert e.name == ERR_ACCESS_DENIED, e
    assert other.sid in e.message and "approve" in e.message, e.message
    assert time.monotonic() - started < 5, "refused at once, not at the timeout"
    record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_FACTOR=other.sid)
    assert record["VPUSH_ACTION"] == "approve"
    assert record["VPUSH_RULE"] == "mine"
    assert_untouched(emulator, other, ch_other)

    txid2 = vt.new_transaction_id()
    ch_mine = challenge(emulator, mine, txid2)
    assert client.approve({"transaction-id": txid2}) == ch_mine["sid"]


def test_only_the_callers_factors_decide_its_answer(start_daemon, client, emulator):
    """A transaction id is looked for on the factors the caller may use, and only theirs
    decide the outcome: another app's factor whose poll the API refuses neither shows in
    the caller's error (which would tell it of a factor it may not use) nor keeps the call
    from learning from the API that its own challenge was answered already."""
    daemon = start_daemon("[Rule mine]\nActions=approve;deny\nCallers=*\n"
                          "RequireActiveSession=false\nFactors=Mine*\n")
    mine = vt.enroll(client, emulator, friendly_name="Mine desk")
    other = vt.enroll(client, emulator, friendly_name="Other desk")
    txid = vt.new_transaction_id()
    ch = challenge(emulator, mine, txid)
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    daemon.stop()  # it forgets the challenges it saw finish
    daemon.start()
    emulator.fault(r"/Entities/%s/Challenges\Z" % other.identity, status=404, code=60390,
                   method="GET", count=1000)
    try:
        # the API's answer ends the call: the timeout is only a bound (valgrind is slow)
        e = refused(client.deny, {"transaction-id": txid, "timeout-ms": 20000})
        assert e.name == vt.ERR_ALREADY_RESPONDED, e
        assert other.sid not in e.message, e.message
        e = refused(client.approve, {"transaction-id": vt.new_transaction_id(),
                                     "timeout-ms": 1500})
        assert e.name == vt.ERR_NOT_FOUND, e
        assert other.sid not in e.message, e.message
    finally:
        emulator.clear_faults()
    assert emulator.answer_posts(ch["sid"]) == 1


def test_another_factors_failure_is_not_the_answers_error(session, client, emulator):
    """A call that waits its timeout out ends NotFound though the API answers 503 to
    another app's factor at that moment: that failure, what the API said of a factor the
    caller may not use, is not the call's business. Before, the last failed request of
    anyone's became the call's error."""
    policy_dir = session.path("policy-other-failure")
    os.makedirs(policy_dir)
    with open(os.path.join(policy_dir, "50-test.conf"), "w") as f:
        f.write(MANAGE + "[Rule mine]\nActions=approve;deny\nCallers=*\n"
                "RequireActiveSession=false\nFactors=Mine*\n")
    daemon = vt.Daemon(session, emulator, extra_args=["--policy-dir", policy_dir], config={
        "Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}})
    daemon.start()
    try:
        mine = vt.enroll(client, emulator, friendly_name="Mine desk")
        other = vt.enroll(client, emulator, friendly_name="Other desk")
        client.refresh()
        mine_list = emulator.entity_path(mine.identity) + "/Challenges"
        other_list = emulator.entity_path(other.identity) + "/Challenges"

        def lists(path, status=None):
            return [r for r in emulator.requests() if r["method"] == "GET" and r["path"] == path
                    and (status is None or r["status"] == status)]

        emulator.clear_requests()
        # (timeout-ms is at most 20000: more is InvalidArgs, and nothing would be polled)
        call = vt.PendingCall(client, "ApproveChallenge",
                              vt.asv({"transaction-id": vt.new_transaction_id(),
                                      "timeout-ms": min(20000, int(3000 * vt.SLOWDOWN))}))
        # its poll and the API's history of its factor: the call then waits
        vt.wait_until(lambda: len(lists(mine_list)) >= 2, 10 * vt.SLOWDOWN,
                      what="the call's poll and history")
        # another factor's poll, held, then answered 503 (retried, still 503)
        emulator.fault(r"%s\Z" % other_list, action="delay", seconds=600, method="GET")
        emulator.fault(r"%s\Z" % other_list, status=503, method="GET", count=1000)
        refresh = vt.PendingCall(client, "Refresh", None)
        vt.wait_until(lambda: emulator.faults_held() >= 1 and len(lists(mine_list)) >= 3,
                      10 * vt.SLOWDOWN, what="the Refresh's GETs")
        emulator.release_held()
        vt.wait_until(lambda: lists(other_list, 503), 10 * vt.SLOWDOWN, what="the 503")
        assert not call.done, "the call ended before the other factor's failure"
        call.wait()
        assert call.error is not None and call.error.name == vt.ERR_NOT_FOUND, call.error
        assert other.sid not in call.error.message, call.error.message
    finally:
        emulator.clear_faults()
        daemon.stop()
    refresh.wait()


def test_a_name_is_never_a_sid(start_daemon, client, emulator):
    """A rule that names its factor by sid covers that factor alone, not another one enrolled
    with that sid as its name (the shipped default lets any process enroll)."""
    daemon = start_daemon()
    shop = vt.enroll(client, emulator)
    other = vt.enroll(client, emulator, friendly_name=shop.sid)
    with open(os.path.join(daemon.policy_dir, "60-shop.conf"), "w") as f:
        f.write("[Rule shop]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"
                "Factors=%s\n" % shop.sid)
    vt.wait_until(lambda: "policy reloaded: 2 rules" in daemon.log_text(), 10,
                  what="the policy to be reloaded", pump=False)
    txid = vt.new_transaction_id()
    ch_other = challenge(emulator, other, txid)
    e = refused(client.approve, {"transaction-id": txid, "timeout-ms": 1500})
    assert e.name == vt.ERR_NOT_FOUND, e
    e = refused(client.approve, {"transaction-id": txid, "factor-sid": other.sid})
    assert_access_denied(e, other.sid)
    assert_untouched(emulator, other, ch_other)

    ch_shop = challenge(emulator, shop, txid)
    assert client.approve({"transaction-id": txid}) == ch_shop["sid"]


def test_rename_does_not_move_a_factor_between_rules(start_daemon, client, emulator):
    """Factors= globs match the friendly name a factor was enrolled with: a caller allowed
    to rename (the shipped default allows any) can't bring another factor under a rule
    that allows it to approve, nor take its own from under one."""
    daemon = start_daemon(
        "[Rule shop]\nActions=approve;deny\nCallers=*\nRequireActiveSession=false\n"
        "Factors=Shop*\n")
    bank = vt.enroll(client, emulator, friendly_name="Bank login")
    shop = vt.enroll(client, emulator, friendly_name="Shop kiosk")
    txid = vt.new_transaction_id()
    ch_bank = challenge(emulator, bank, txid)

    client.factor_update(bank.path, {"friendly-name": "Shop pwned"})
    assert client.factor_props(bank.path)["FriendlyName"] == "Shop pwned"
    e = refused(client.approve, {"transaction-id": txid, "timeout-ms": 1500})
    assert e.name == vt.ERR_NOT_FOUND, e
    e = refused(client.approve, {"transaction-id": txid, "factor-sid": bank.sid})
    assert_access_denied(e, bank.sid)
    assert_untouched(emulator, bank, ch_bank)
    # after a restart too: the name the policy matches is kept in the factor's record
    daemon.stop()
    daemon.start()
    e = refused(client.approve, {"transaction-id": txid, "factor-sid": bank.sid})
    assert_access_denied(e, bank.sid)
    assert_untouched(emulator, bank, ch_bank)

    client.factor_update(shop.path, {"friendly-name": "Front desk"})
    txid2 = vt.new_transaction_id()
    ch_shop = challenge(emulator, shop, txid2)
    assert client.approve({"transaction-id": txid2}) == ch_shop["sid"]


def test_enroll_is_held_to_the_factors_a_rule_names(start_daemon, client, emulator):
    """A factor to be enrolled is known by its name: a rule with Factors= lets a caller
    enroll only factors of names it covers (which decide the rules of the factor later)."""
    daemon = start_daemon(files={"50-test.conf": (
        "[Rule kiosk]\nActions=enroll;update;delete;list\nCallers=*\n"
        "RequireActiveSession=false\nFactors=Kiosk *\n")})
    kiosk = vt.enroll(client, emulator, friendly_name="Kiosk 1")
    assert client.factor_props(kiosk.path)["FriendlyName"] == "Kiosk 1"
    identity = vt.unique_identity()
    e = refused(vt.enroll, client, emulator, identity=identity, friendly_name="Bank login")
    assert_access_denied(e, "“enroll” of a factor named “Bank login”", "rule “kiosk”")
    assert emulator.list_factors(identity) == []
    record = last_audit(daemon, VPUSH_ACTION="enroll", VPUSH_DECISION="refused")
    assert "enroll of a factor named “Bank login” refused" in record["MESSAGE"], record
    assert "VPUSH_FACTOR" not in record, record


def test_factor_methods_go_through_the_policy(start_daemon, client, emulator):
    daemon = start_daemon(files={"50-test.conf": "[Rule enroll]\nActions=enroll\nCallers=*\n"
                                                 "RequireActiveSession=false\n"})
    factor = vt.enroll(client, emulator)

    for action, call in (("list", lambda: client.list_challenges(factor.path)),
                         ("update", lambda: client.factor_update(factor.path,
                                                                 {"friendly-name": "x"})),
                         ("update", lambda: client.factor_verify(factor.path)),
                         ("delete", lambda: client.factor_delete(factor.path))):
        assert_access_denied(refused(call), "Actions=%s and Callers=exe:%s" % (action, MY_EXE))
        record = last_audit(daemon, VPUSH_DECISION="refused", VPUSH_ACTION=action)
        assert record["VPUSH_FACTOR"] == factor.sid
    # nothing happened to it
    assert client.factor_props(factor.path)["FriendlyName"] == factor.friendly_name
    assert emulator.fetch_factor(factor.identity, factor.sid).status == 200
    # any process of the user may ask for a poll
    client.refresh()


@pytest.mark.parametrize("text,message", [
    ("[Rule shop]\nActions=approve\nCallers=exe:/usr/bin/shop\nMaxChallengeAgeSeconds=soon\n",
     "rule “shop”, key MaxChallengeAgeSeconds: “soon” is not a number of seconds"),
    # read as one rule, the second group would let every caller approve
    ("[Rule shop]\nActions=approve\nCallers=exe:/usr/bin/shop\nRequireActiveSession=false\n"
     "\n[Rule shop]\nCallers=*\n",
     "group [Rule shop] appears twice; write each group once"),
    ("[Rule shop]\nActions=approve\nCallers=exe:/usr/bin/shop\nCallers=*\n",
     "[Rule shop] key Callers appears twice; write each key once"),
], ids=["bad-value", "repeated-rule", "repeated-key"])
def test_broken_policy_is_a_startup_error(session, text, message):
    policy_dir = tempfile.mkdtemp(prefix="policy-broken.", dir=session.tmp)
    with open(os.path.join(policy_dir, "shop.conf"), "w") as f:
        f.write(text)
    r = subprocess.run([vt.vpushd_path(), "--policy-dir", policy_dir],
                       env=session.env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78  # EX_CONFIG: the unit does not restart it
    assert ("%s: %s" % (os.path.join(policy_dir, "shop.conf"), message)) in r.stderr, r.stderr


def test_missing_policy_dir_is_a_startup_error(session):
    """vpushd(8): --policy-dir reads the policy from DIR only; a DIR that is not there is a
    mistake, not the built-in policy."""
    missing = session.path("no-such-policy-dir")
    r = subprocess.run([vt.vpushd_path(), "--policy-dir", missing], env=session.env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert r.returncode == 78
    assert "vpushd: --policy-dir %s: no such directory" % missing in r.stderr, r.stderr


def test_broken_policy_leaves_a_running_vpushd_alone(session, emulator, client):
    """A vpushd that can't start asks for the name to answer the calls that started it
    (vpushd(8)), never taking it: a running one keeps it and its calls, even one started
    with --replace (which lets a later --replace take the name), and even when the broken
    one is started with --replace too."""
    policy_dir = tempfile.mkdtemp(prefix="policy-broken.", dir=session.tmp)
    with open(os.path.join(policy_dir, "shop.conf"), "w") as f:
        f.write("[Rule shop]\nActions=fly\n")
    running = vt.Daemon(session, emulator, extra_args=["--replace"]).start()
    try:
        owner = client.name_owner_pid(vt.BUS_NAME)
        for replace in ([], ["--replace"]):
            r = subprocess.run([vt.vpushd_path(), "--policy-dir", policy_dir] + replace,
                               env=session.env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 78, (replace, r)
            assert running.running(), replace
            assert client.name_owner_pid(vt.BUS_NAME) == owner, replace
            assert client.manager_property("Version") == "0.1.0"
    finally:
        running.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs CAP_SYS_ADMIN and CAP_SYS_CHROOT")
def test_unsandboxed_keeps_flatpak_apps_out(start_daemon, client, emulator, session):
    """Callers=unsandboxed: every process of the user but a Flatpak app (one whose root
    has a .flatpak-info), which a rule must name; Callers=* lets it in."""
    root = session.path("flatpak-root")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".flatpak-info"), "w") as out:
        out.write("[Application]\nname=org.example.Evil\n")

    def rename_from_the_sandbox(path):
        return vt.call_from_root(session, root, path, vt.FACTOR_IFACE, "Update",
                                 "({'friendly-name': <'from the app'>},)")

    daemon = start_daemon(files={"50-test.conf": MANAGE.replace("Callers=*",
                                                                "Callers=unsandboxed")})
    f = vt.enroll(client, emulator, friendly_name="Own desk")
    assert rename_from_the_sandbox(f.path) == ERR_ACCESS_DENIED
    assert "Callers=flatpak:org.example.Evil" in daemon.log_text()
    client.factor_update(f.path, {"friendly-name": "Renamed here"})
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == "Renamed here"
    daemon.stop()

    start_daemon()  # Callers=*
    g = vt.enroll(client, emulator, friendly_name="Own desk")
    assert rename_from_the_sandbox(g.path) == "ok"
    assert client.get_property(g.path, vt.FACTOR_IFACE, "FriendlyName") == "from the app"
