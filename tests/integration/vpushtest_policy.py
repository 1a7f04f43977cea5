"""What the tests of the policy (test_policy.py, test_policy_session.py) and of the audit
trail (test_audit.py) share: the MESSAGE_IDs of vpushd's records, the rule every test's policy starts with, and
the audit trail read back from vpushd's log. Their fixture start_daemon is in conftest.py."""

import os
import shlex
import subprocess

import vpushtest as vt

ERR_ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
MSGID_DECISION = "4e2a3bb1f5c94a0bb8d0f62f6a3c7d04"
MSGID_ENROLLED = "4e2a3bb1f5c94a0bb8d0f62f6a3c7d03"
MSGID_DELETED = "4e2a3bb1f5c94a0bb8d0f62f6a3c7d05"
MSGID_APPROVED = "4e2a3bb1f5c94a0bb8d0f62f6a3c7d06"
MSGID_LEFT_OUT = "4e2a3bb1f5c94a0bb8d0f62f6a3c7d0b"
MSGID_UPDATED = "4e2a3bb1f5c94a0bb8d0f62f6a3c7d0c"

# What /proc/<pid>/exe says about this process, as vpushd will read it
MY_EXE = os.readlink("/proc/self/exe")

# Enrolling and the other factor methods, for every test
MANAGE = """[Rule manage]
Actions=enroll;update;delete;list
Callers=*
RequireActiveSession=false
"""


def audit_records(daemon, message_id=MSGID_DECISION):
    """The audit trail vpushd wrote to stderr: one dict of journal fields per record (the
    policy's decisions, or the records of another MESSAGE_ID)."""
    records = []
    for line in daemon.log_text().splitlines():
        message, sep, fields = line.rpartition(" -- ")
        if not sep or "MESSAGE_ID=" not in fields:
            continue
        record = dict(token.split("=", 1) for token in shlex.split(fields))
        record["MESSAGE"] = message
        if record.get("MESSAGE_ID") == message_id:
            records.append(record)
    return records


def last_audit(daemon, message_id=MSGID_DECISION, **expected):
    """The last audit record with the expected fields (None: field absent)."""
    def find():
        for record in reversed(audit_records(daemon, message_id)):
            if all(record.get(k) == v for k, v in expected.items()):
                return record
        return None
    # the log is written by another process: give it a moment
    return vt.wait_until(find, 5 * vt.SLOWDOWN, what="an audit record with %s" % expected,
                         pump=False)


def challenge(emulator, factor, txid=None, **kw):
    hidden = {"transaction_id": txid} if txid else None
    return emulator.create_challenge(factor.identity, factor.sid, hidden=hidden, **kw)


def refused(call, *args, **kw):
    try:
        call(*args, **kw)
    except vt.DBusCallError as e:
        return e
    raise AssertionError("not refused")


def assert_access_denied(error, *parts):
    assert error.name == ERR_ACCESS_DENIED, error
    for part in parts:
        assert part in error.message, (part, error.message)


def assert_untouched(emulator, factor, ch):
    assert emulator.answer_posts(ch["sid"]) == 0
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"


def gdbus_approve(session, txid):
    """ApproveChallenge from another executable: gdbus."""
    return subprocess.run(
        ["gdbus", "call", "--session", "--dest", vt.BUS_NAME, "--object-path", vt.MANAGER_PATH,
         "--method", vt.MANAGER_IFACE + ".ApproveChallenge",
         "{'transaction-id': <'%s'>, 'timeout-ms': <uint32 3000>}" % txid],
        env=session.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
