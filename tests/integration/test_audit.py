"""The audit trail against the real vpushd: every decision of the policy with the caller
and the rule, the outcome of an answer (also one under way when vpushd stops), a
caller's records rationed and counted, and no record forged by what a caller sends."""

import os
import subprocess

import pytest

import vpushtest as vt
from vpushtest_policy import (ERR_ACCESS_DENIED, MSGID_APPROVED, MSGID_DELETED, MSGID_ENROLLED,
                              MSGID_LEFT_OUT, MSGID_UPDATED, MY_EXE, audit_records, challenge,
                              last_audit, refused)

# how many audit records a caller gets in 10 s (daemon/vpush-log.h)
# [Audit] RecordsPerCaller: the flood tests' ration (the default is 200)
VPUSH_LOG_RATION = 20
RATION_CONFIG = {"Audit": {"RecordsPerCaller": str(VPUSH_LOG_RATION)}}
# this test process may approve and deny any challenge, matched by sid or transaction id
THIS_TEST_ANY_MATCH = """
[Rule this-test]
Actions=approve;deny
Callers=exe:%s
RequireActiveSession=false
Match=any
""" % MY_EXE


def test_outcome_record_names_the_challenge(start_daemon, client, emulator):
    """An allowed call that answers nothing (the challenge was already answered) is in the
    audit trail with the challenge, its factor and the transaction id asked for."""
    daemon = start_daemon("""
[Rule this-test]
Actions=approve;deny
Callers=exe:%s
RequireActiveSession=false
""" % MY_EXE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    assert client.deny({"transaction-id": txid}) == ch["sid"]
    e = refused(client.approve, {"transaction-id": txid})
    assert e.name == vt.ERR_ALREADY_RESPONDED, e
    record = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_TRANSACTION=txid)
    assert record["VPUSH_ACTION"] == "approve"
    assert record["VPUSH_CHALLENGE"] == ch["sid"]
    assert record["VPUSH_FACTOR"] == factor.sid
    assert record["VPUSH_RULE"] == "this-test"
    # who the caller is, as in the policy's own records
    assert record["VPUSH_CALLER_EXE"] == MY_EXE
    assert record["VPUSH_CALLER_PID"] == str(os.getpid())


def test_records_of_a_call_by_sid_name_the_transaction(start_daemon, client, emulator):
    """A call by challenge sid decides on a challenge with a transaction id: its decision
    and outcome records carry it, so that VPUSH_TRANSACTION finds every answer to it."""
    daemon = start_daemon(THIS_TEST_ANY_MATCH)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    e = refused(client.deny, {"challenge-sid": ch["sid"]})
    assert e.name == vt.ERR_ALREADY_RESPONDED, e
    decision = last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_CHALLENGE=ch["sid"])
    approved = last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    failed = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_CHALLENGE=ch["sid"])
    for record in (decision, approved, failed):
        assert record.get("VPUSH_TRANSACTION") == txid, record


@pytest.mark.parametrize("then", ["a poll", "31 s"])
def test_an_answer_taken_unseen_is_the_later_calls(start_daemon, session, client, emulator,
                                                   then):
    """The API takes an answer, but its reply and the read after it show the challenge
    still pending (older copies): the call fails. The app calls again after a poll found
    the challenge answered, or more than 30 s later (the cached copy is read again before
    signing): the challenge reads approved, as vpushd answered it, so that call succeeds,
    with no second answer, and the approval is in the audit trail once. A deny is told the
    challenge was approved."""
    suspended = vt.ShiftedClock(session, "VPUSH_TEST_SUSPENDED")
    daemon = start_daemon(THIS_TEST_ANY_MATCH,
                          config={"Poll": {"IntervalSeconds": "3600",
                                           "IntervalWithPushSeconds": "3600"}},
                          env=suspended.env)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    client.refresh()  # fetched now: the answer goes out without another GET first
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], "stale-status", method="POST", when="after")
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], "stale-status", method="GET", when="after")
    e = refused(client.approve, {"challenge-sid": ch["sid"]})
    assert e.name == vt.ERR_PREFIX + "Api" and "is pending after the answer" in e.message, e
    if then == "a poll":
        client.refresh()
        assert vt.challenge_path(ch["sid"]) not in client.challenge_paths()
    else:
        suspended.set(31)
        emulator.set_clock(31)
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    for call, match in ((client.deny, {"challenge-sid": ch["sid"]}),
                        (client.approve, {"transaction-id": txid})):
        e = refused(call, match)
        assert e.name == vt.ERR_ALREADY_RESPONDED, e
        assert e.message == "challenge %s was already approved" % ch["sid"], e.message
    assert len([r for r in audit_records(daemon, MSGID_APPROVED)
                if r.get("VPUSH_CHALLENGE") == ch["sid"]]) == 1


def test_an_answer_taken_unseen_is_not_another_callers(start_daemon, session, client, emulator):
    """An answer vpushd sent and could not confirm is the sending caller's to claim: another
    app (here gdbus, under a rule that refuses challenges over 1 s old) is told the challenge
    was already approved, is not given success, and no approved record names it; the
    sender's own call then succeeds."""
    daemon = start_daemon("""
[Rule app-a]
Actions=approve;deny
Callers=exe:%s
RequireActiveSession=false
Match=any

[Rule app-b]
Actions=approve
Callers=exe:/usr/bin/gdbus
RequireActiveSession=false
Match=any
MaxChallengeAgeSeconds=1
""" % MY_EXE, config={"Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}})
    factor = vt.enroll(client, emulator)
    ch = challenge(emulator, factor)
    client.refresh()
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], "stale-status", method="POST", when="after")
    emulator.fault(r"/Challenges/%s\Z" % ch["sid"], "stale-status", method="GET", when="after")
    e = refused(client.approve, {"challenge-sid": ch["sid"]})
    assert e.name == vt.ERR_PREFIX + "Api" and "is pending after the answer" in e.message, e
    client.refresh()
    other = subprocess.run(
        ["/usr/bin/gdbus", "call", "--session", "--dest", vt.BUS_NAME, "--object-path",
         vt.MANAGER_PATH, "--method", vt.MANAGER_IFACE + ".ApproveChallenge",
         "{'challenge-sid': <'%s'>}" % ch["sid"]],
        env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=session.address), capture_output=True,
        text=True, timeout=60)
    assert other.returncode != 0, other.stdout
    assert vt.ERR_ALREADY_RESPONDED in other.stderr, other.stderr
    assert not [r for r in audit_records(daemon, MSGID_APPROVED)
                if r.get("VPUSH_CHALLENGE") == ch["sid"]]
    assert client.approve({"challenge-sid": ch["sid"]}) == ch["sid"]
    # the outcome is written after the reply
    last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    [record] = [r for r in audit_records(daemon, MSGID_APPROVED)
                if r.get("VPUSH_CHALLENGE") == ch["sid"]]
    assert record["VPUSH_CALLER_EXE"] == MY_EXE, record
    assert emulator.answer_posts(ch["sid"]) == 1


@pytest.mark.parametrize("stage", ["answer-sent", "reading-back", "waiting"])
def test_stopping_records_the_outcome_of_a_call_under_way(stage, start_daemon, client, emulator):
    """vpushd stopping while an allowed approval is under way: its outcome is in the audit
    trail (failed, saying whether the answer was sent), not an "allowed" with nothing
    after it."""
    daemon = start_daemon("""
[Rule this-test]
Actions=approve
Callers=exe:%s
RequireActiveSession=false
""" % MY_EXE)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid) if stage != "waiting" else None
    try:
        if stage == "answer-sent":
            # the API takes the answer; its reply is held
            emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="delay", seconds=600,
                           method="POST", when="after")
        elif stage == "reading-back":
            # fetched now: the answer goes out at once. The API takes it, its reply shows
            # an older copy, and the read-back is held
            client.refresh()
            emulator.fault(r"/Challenges/%s\Z" % ch["sid"], "stale-status", method="POST",
                           when="after")
            emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="delay", seconds=600,
                           method="GET", when="before")
        else:
            # the call's poll is held: it is allowed in, and waits
            emulator.fault(r"/Challenges\Z", action="delay", seconds=600, method="GET",
                           when="before")
        allowed = daemon.log_text().count("approve allowed for ")
        call = vt.PendingCall(client, "ApproveChallenge",
                              vt.asv({"transaction-id": txid, "timeout-ms": 20000}))
        vt.wait_until(lambda: emulator.faults_held() >= 1, 10 * vt.SLOWDOWN,
                      what="the request held")
        # the request held may be the enrollment's first poll: the approval must be in
        vt.wait_until(lambda: daemon.log_text().count("approve allowed for ") > allowed,
                      10 * vt.SLOWDOWN, what="the approval to be let in", pump=False)
        assert not call.done
        assert daemon.stop() == 0
    finally:
        emulator.release_held()
        emulator.clear_faults()
    record = last_audit(daemon, VPUSH_DECISION="failed", VPUSH_TRANSACTION=txid)
    assert record["VPUSH_ACTION"] == "approve"
    assert record["VPUSH_RULE"] == "this-test"
    assert record["VPUSH_CALLER_EXE"] == MY_EXE
    assert record["VPUSH_CALLER_PID"] == str(os.getpid())
    assert "vpushd is stopping" in record["MESSAGE"], record["MESSAGE"]
    if stage != "waiting":
        assert record["VPUSH_CHALLENGE"] == ch["sid"]
        assert record["VPUSH_FACTOR"] == factor.sid
        assert "whether the Verify API took it is unknown" in record["MESSAGE"], record
        # the decision on the challenge came first, and no other outcome after it
        assert last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_CHALLENGE=ch["sid"])
        assert not audit_records(daemon, MSGID_APPROVED)
    else:
        assert "VPUSH_CHALLENGE" not in record


def test_a_flood_of_calls_is_counted_not_written(start_daemon, client, emulator):
    """A caller's audit records are rationed ([Audit] RecordsPerCaller in 10 s); the rest
    are counted in one record. journald drops every record of a unit past its rate limit
    (10000 in 30 s by default): a caller calling in a loop, refused or allowed to change
    nothing, would otherwise have everyone's decisions dropped with its own, its own
    approvals included. An approval allowed on its challenge, and its outcome, are always
    written; so is a change an Update made, after the flood."""
    daemon = start_daemon("[Rule approve]\nActions=approve\nCallers=exe:%s\n"
                          "RequireActiveSession=false\n" % MY_EXE, config=RATION_CONFIG)
    factor = vt.enroll(client, emulator)
    n = 2 * VPUSH_LOG_RATION  # of each kind: twice the ration
    calls = [vt.PendingCall(client, "DenyChallenge",
                            vt.asv({"transaction-id": "flood-%d" % i})) for i in range(n)]
    calls += [vt.PendingCall(client, "Update", vt.asv({}), factor.path, vt.FACTOR_IFACE)
              for i in range(n)]
    vt.wait_until(lambda: all(c.done for c in calls), 60 * vt.SLOWDOWN, what="the calls")
    assert all(c.error is not None and c.error.name == ERR_ACCESS_DENIED for c in calls[:n])
    assert all(c.error is None for c in calls[n:]), [c.error for c in calls[n:] if c.error]
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_CHALLENGE=ch["sid"])
    last_audit(daemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    push_url = "http://127.0.0.1:9/secret-topic/json"
    client.factor_update(factor.path, {"friendly-name": "Renamed desk", "push-url": push_url})
    client.factor_update(factor.path, {"push-url": ""})
    daemon.stop()  # the counts still open are written at exit

    # the flood's Updates changed nothing: only the two that did are recorded as changes
    updated = audit_records(daemon, MSGID_UPDATED)
    assert [r["MESSAGE"].split(": ", 2)[-1] for r in updated] == [
        "factor %s updated: renamed “Renamed desk”, push URL changed" % factor.sid,
        "factor %s updated: push URL removed" % factor.sid], updated
    assert all(r["VPUSH_FACTOR"] == factor.sid and MY_EXE in r["VPUSH_CALLER"]
               for r in updated), updated
    assert "secret-topic" not in daemon.log_text()

    # the enroll, the refused denials and the updates: one by one or counted
    written = [r for r in audit_records(daemon) if r["VPUSH_ACTION"] != "approve"]
    counts = audit_records(daemon, MSGID_LEFT_OUT)
    assert all(r["VPUSH_CALLER_EXE"] == MY_EXE for r in written + counts)
    # the enroll, n denials, n + 2 updates
    assert len(written) + sum(int(r["VPUSH_LEFT_OUT"]) for r in counts) == 2 * n + 3
    assert counts and len(written) < 2 * n + 3, len(written)
    assert "audit records of calls of" in counts[0]["MESSAGE"]


def test_a_flood_of_changes_is_refused_past_its_ration(start_daemon, client, emulator):
    """Every change an Update makes is recorded, so a caller's changes are bounded instead:
    RecordsPerCaller in 10 s, beyond which an Update that would change a factor is refused
    with LimitsExceeded. Before, a loop flipping a push URL (which the API never sees)
    wrote a record per call, a thousand a second, past journald's rate limit."""
    daemon = start_daemon(config=RATION_CONFIG)
    factor = vt.enroll(client, emulator)
    n = VPUSH_LOG_RATION + 10  # under the cap on Updates waiting at once
    urls = ["http://127.0.0.1:9/topic-a/json", ""]
    calls = [vt.PendingCall(client, "Update", vt.asv({"push-url": urls[i % 2]}), factor.path,
                            vt.FACTOR_IFACE) for i in range(n)]
    vt.wait_until(lambda: all(c.done for c in calls), 60 * vt.SLOWDOWN, what="the calls")
    made = [c for c in calls if c.error is None]
    refused = [c.error for c in calls if c.error is not None]
    assert refused, "no Update refused"
    assert all(e.name == vt.ERR_LIMITS_EXCEEDED and "RecordsPerCaller" in e.message
               and MY_EXE in e.message for e in refused), refused
    # an Update that changes nothing is no change, and not refused
    props = client.factor_props(factor.path)
    client.factor_update(factor.path, {"push-url": props["PushUrl"],
                                       "friendly-name": props["FriendlyName"]})
    daemon.stop()
    updated = audit_records(daemon, MSGID_UPDATED)
    # the ration's changes (more only if the calls took over 10 s); the rest of the Updates
    # made set what the factor had after a refusal
    assert VPUSH_LOG_RATION <= len(updated) <= len(made), (len(updated), len(made))


def test_failures_before_the_answer_went_out_are_rationed(session, start_daemon, client,
                                                         emulator):
    """Only the outcome of an answer that went out is never rationed (README): an approval
    that matched its challenge but failed before sending (here the keyring is locked, which
    a call learns at once) is a call like any other. Before, every such call wrote its
    record, and a caller allowed to approve could call in a loop past journald's rate
    limit while the keyring was locked."""
    daemon = start_daemon("[Rule approve]\nActions=approve\nCallers=exe:%s\n"
                          "RequireActiveSession=false\n" % MY_EXE,
                          config=RATION_CONFIG)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    n = 2 * VPUSH_LOG_RATION
    session.lock_keyring()
    try:
        client.wait_state("keyring-locked", timeout=10 * vt.SLOWDOWN)
        for _ in range(n):
            e = refused(client.approve, {"transaction-id": txid})
            assert e.name == vt.ERR_KEYRING_LOCKED, e
    finally:
        session.unlock_keyring()
    daemon.stop()  # the counts still open are written at exit

    failed = [r for r in audit_records(daemon) if r.get("VPUSH_DECISION") == "failed"]
    assert all(r["VPUSH_CHALLENGE"] == ch["sid"] for r in failed), failed
    counts = audit_records(daemon, MSGID_LEFT_OUT)
    assert len(failed) + sum(int(r["VPUSH_LEFT_OUT"]) for r in counts) == n
    assert len(failed) <= VPUSH_LOG_RATION, len(failed)
    assert emulator.answer_posts(ch["sid"]) == 0


def test_a_burst_of_calls_is_written_whole(start_daemon, client, emulator):
    """The default ration (200 records of a caller in 10 s) leaves an app, or a script
    checking the policy, that makes a burst of calls with every record of them."""
    daemon = start_daemon()
    n = 40  # more than 20, the ration before it was a setting
    calls = [vt.PendingCall(client, "DenyChallenge",
                            vt.asv({"transaction-id": "burst-%d" % i})) for i in range(n)]
    vt.wait_until(lambda: all(c.done for c in calls), 60 * vt.SLOWDOWN, what="the calls")
    assert all(c.error is not None and c.error.name == ERR_ACCESS_DENIED for c in calls)
    daemon.stop()
    refused = [r for r in audit_records(daemon) if r["VPUSH_ACTION"] == "deny"]
    assert sorted(r["VPUSH_TRANSACTION"] for r in refused) == sorted(
        "burst-%d" % i for i in range(n))
    assert audit_records(daemon, MSGID_LEFT_OUT) == []


def test_log_lines_cannot_be_forged(start_daemon, client, emulator):
    """Without the journal, records are lines on stderr: a newline in what a caller sends
    (here a transaction id) is written as an escape, never as a line of its own."""
    daemon = start_daemon("[Rule any]\nActions=approve\nCallers=*\nRequireActiveSession=false\n")
    f = vt.enroll(client, emulator)
    forged = ("vpushd-Message: approve allowed -- MESSAGE_ID=forged VPUSH_DECISION=allowed "
              "VPUSH_RULE=forged")
    txid = "order-1\n" + forged
    ch = challenge(emulator, f, txid)
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    # the id is logged, escaped (the record comes right after the reply)
    escaped = "order-1\\n" + forged.replace(" -- ", " -\\x2d ")
    vt.wait_until(lambda: escaped in daemon.log_text(), 10, what="the approval's record",
                  pump=False)
    log = daemon.log_text()
    assert not any(line.startswith("vpushd-Message: approve allowed -- MESSAGE_ID=forged")
                   for line in log.splitlines())
    assert not [r for r in audit_records(daemon) if r.get("VPUSH_RULE") == "forged"]

    # nor fields within the line: " -- " in the id is no separator, and a backslash in it
    # can't pass for an escape
    txid = "order-2 -- MESSAGE_ID=forged VPUSH_RULE=forged \\n"
    ch = challenge(emulator, f, txid)
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    vt.wait_until(lambda: "order-2 -\\x2d MESSAGE_ID=forged VPUSH_RULE=forged \\\\n"
                  in daemon.log_text(), 10, what="the second record", pump=False)
    lines = [line for line in daemon.log_text().splitlines() if "order-2" in line]
    assert all(line.count(" -- ") == 1 for line in lines), lines
    assert not [r for r in audit_records(daemon) if r.get("VPUSH_RULE") == "forged"]


def test_every_decision_audited(start_daemon, client, emulator):
    """design.md: every decision is logged with the caller and the rule: enroll, update,
    list and delete as well as answers."""
    daemon = start_daemon()
    f = vt.enroll(client, emulator)
    record = last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_ACTION="enroll")
    assert record["VPUSH_RULE"] == "manage" and record.get("VPUSH_CALLER"), record
    client.factor_update(f.path, {"friendly-name": "Renamed desktop"})
    client.list_challenges(f.path, {})
    client.factor_delete(f.path)
    for action in ("update", "list", "delete"):
        record = last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_ACTION=action,
                            VPUSH_FACTOR=f.sid)
        assert record["VPUSH_RULE"] == "manage" and record.get("VPUSH_CALLER"), record
    # the enrolled and deleted events name the caller too
    for message_id in (MSGID_ENROLLED, MSGID_DELETED):
        records = [r for r in audit_records(daemon, message_id) if r.get("VPUSH_FACTOR") == f.sid]
        assert records and records[-1].get("VPUSH_CALLER"), (message_id, records)
