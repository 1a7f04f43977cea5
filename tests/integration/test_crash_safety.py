"""Crash safety (docs/crash-safety.md): vpushd killed with SIGKILL at each step of enrollment
and of approval, then started again, leaves no orphan key, no remote factor it knew of and
forgot, no half-written record, and no challenge answered twice.

vpushd is caught at a step by holding the Verify API request of that step in the emulator
(`POST /_emulator/delay`, docs/emulator.md), or the Secret Service call of that step by
stopping gnome-keyring-daemon (SIGSTOP); it is killed while it waits. The one window neither
can hold (between the record write and the removal of the journal entry, which follows it in
the state directory's write queue) is reproduced by writing the state a kill there leaves.
test_slow_disk.py holds vpushd's writes themselves.
"""

import contextlib
import glob
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest

import vpushtest as vt

FACTOR_RE = r"/Entities/%s/Factors\Z"
FACTOR_SID_RE = r"/Entities/%s/Factors/YF[0-9a-f]{32}\Z"
TEMP_RE = re.compile(r"\.json\.vpush-tmp-[A-Za-z0-9]{6}\Z")
RECOVERED = "crash recovery finished"


# ---------------------------------------------------------------------------------------
# Emulator delays


def hold(emulator, path, method=None, when="before", seconds=60, count=1):
    form = {"path": path, "seconds": str(seconds), "count": str(count), "when": when}
    if method:
        form["method"] = method
    res = emulator.request("POST", "/_emulator/delay", form, backend=False)
    assert res.status == 200, res.body
    return res.json()


def held(emulator):
    res = emulator.request("GET", "/_emulator/delay", backend=False)
    assert res.status == 200, res.body
    return res.json()["held"]


def wait_held(emulator, n=1, timeout=15.0):
    vt.wait_until(lambda: held(emulator) >= n, timeout, what="a request held by the emulator")


def release(emulator, drop=False):
    """Lets every held request go on (drop: they are lost, a request held before it was
    handled is never handled)."""
    res = emulator.request("POST", "/_emulator/delay/clear", {"drop": "1" if drop else "0"},
                           backend=False)
    assert res.status == 200, res.body


@pytest.fixture(autouse=True)
def no_delays_left(emulator):
    yield
    release(emulator)


# ---------------------------------------------------------------------------------------
# vpushd


def enroll_async(client, emulator, identity):
    token = emulator.access_token(identity)["token"]
    return vt.PendingCall(client, "EnrollFactor", vt.asv({
        "service-sid": emulator.service_sid, "identity": identity, "access-token": token,
        "friendly-name": "Crash %s" % identity[-6:]}))


def crash(daemon):
    """SIGKILL, as the OOM killer or a power cut would; nothing of vpushd runs after it."""
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)
    daemon.proc = None
    vt.wait_until(lambda: not daemon.session.client.name_has_owner(vt.BUS_NAME), 10,
                  what="vpushd's name to leave the bus")


def restart(daemon):
    daemon.start()
    vt.wait_until(lambda: RECOVERED in daemon.log_text(), 20 * vt.SLOWDOWN,
                  what="vpushd's crash recovery to finish")


# ---------------------------------------------------------------------------------------
# What is left


def journal(daemon):
    """The enrollment journal entries on disk."""
    entries = []
    for path in sorted(glob.glob(os.path.join(daemon.state_dir, "enrolling", "*.json"))):
        with open(path) as f:
            entries.append(json.load(f))
    return entries


def records(daemon):
    return sorted(os.path.basename(p)[:-5]
                  for p in glob.glob(os.path.join(daemon.state_dir, "factors", "*.json")))


def check_state_dir(daemon):
    """Every record parses and is named after its factor; no temp file of a write is left."""
    for d in (daemon.state_dir, os.path.join(daemon.state_dir, "factors"),
              os.path.join(daemon.state_dir, "enrolling")):
        if os.path.isdir(d):
            left = [n for n in os.listdir(d) if TEMP_RE.search(n)]
            assert left == [], "half-written files in %s: %s" % (d, left)
    for sid in records(daemon):
        with open(os.path.join(daemon.state_dir, "factors", sid + ".json")) as f:
            record = json.load(f)
        assert record["sid"] == sid
        assert record["status"] in ("verified", "unverified")
        for key in ("service_sid", "identity", "account_sid", "credential_sid", "created_at"):
            assert record[key], (sid, key)


def remote_factors(emulator, identity):
    return {sid: f for sid, f in emulator.state()["factors"].items()
            if f.get("identity") == identity}


def keys(session, name):
    return session.keyring_items({"factor-sid": name})


def assert_no_orphans(daemon, client, session, emulator, identity, names):
    """Nothing of the enrollment of identity is left: no record, no journal entry, no key, no
    factor object; every remote factor of identity whose sid vpushd knew is deleted."""
    assert journal(daemon) == []
    check_state_dir(daemon)
    assert records(daemon) == []
    assert client.factor_paths() == []
    for name in names:
        assert keys(session, name) == [], name


# ---------------------------------------------------------------------------------------
# The emulator's delay control itself


def test_delay_control(emulator):
    bad = [{"seconds": "1"}, {"path": "(", "seconds": "1"}, {"path": "x", "seconds": "0"},
           {"path": "x", "seconds": "1", "when": "during"}, {"path": "x", "seconds": "1",
                                                             "count": "0"}]
    for form in bad:
        res = emulator.request("POST", "/_emulator/delay", form, backend=False)
        assert res.status == 400, (form, res.body)

    rule = hold(emulator, r"/v2/Services/%s\Z" % emulator.service_sid, method="GET",
                when="after", seconds=30)
    assert rule["remaining"] == 1 and rule["when"] == "after"
    out = {}

    def fetch():
        out["res"] = emulator.request("GET", "/v2/Services/" + emulator.service_sid)
    t = threading.Thread(target=fetch)
    t.start()
    wait_held(emulator)
    release(emulator)
    # held for 30 s unless released
    t.join(10)
    assert not t.is_alive()
    assert out["res"].status == 200
    assert held(emulator) == 0
    # the rule was used up, and clear forgot it
    assert emulator.request("GET", "/_emulator/delay", backend=False).json()["rules"] == []

    # dropped: never handled, no answer
    services = len(emulator.state()["services"])
    hold(emulator, r"/v2/Services\Z", method="POST", seconds=30)

    def create():
        try:
            out["create"] = emulator.request("POST", "/v2/Services", {"FriendlyName": "Lost"})
        except OSError as e:   # the connection closed without an answer
            out["create"] = e
    t = threading.Thread(target=create)
    t.start()
    wait_held(emulator)
    release(emulator, drop=True)
    t.join(10)
    assert not t.is_alive() and isinstance(out["create"], OSError), out["create"]
    assert len(emulator.state()["services"]) == services


# ---------------------------------------------------------------------------------------
# Enrollment


@pytest.mark.parametrize("when", ["before", "after", "lost"])
def test_killed_during_create(daemon, client, emulator, session, when):
    """Killed while the create request is in flight: the factor's sid never reached vpushd.
    'before': the API handles the request only after the kill; 'after': it had handled it,
    the answer was lost; 'lost': the request never arrived."""
    identity = vt.unique_identity("crash")
    hold(emulator, FACTOR_RE % identity, method="POST",
         when="after" if when == "after" else "before")
    enroll_async(client, emulator, identity)
    wait_held(emulator)

    # the journal entry and the provisional key come before the create
    [entry] = journal(daemon)
    assert entry["identity"] == identity and "factor" not in entry
    assert len(keys(session, entry["id"])) == 1
    crash(daemon)
    release(emulator, drop=when == "lost")
    if when == "lost":
        created = {}
    else:
        created = vt.wait_until(lambda: remote_factors(emulator, identity), 10,
                                what="the create to be handled")

    restart(daemon)
    assert_no_orphans(daemon, client, session, emulator, identity, [entry["id"]] + list(created))
    # The device can't find a factor it never got the sid of (protocol doc §7): it stays
    # unverified, never usable, and the Verify API deletes it by itself. vpushd says so.
    assert "deletes it by itself" in daemon.log_text()
    for sid in created:
        assert emulator.state()["factors"][sid]["status"] == "unverified"
    assert remote_factors(emulator, identity).keys() == created.keys()


def test_killed_while_storing_the_key(daemon, client, emulator, session):
    """Killed after the create, while the key is being stored under the factor sid."""
    identity = vt.unique_identity("crash")
    hold(emulator, FACTOR_RE % identity, method="POST", when="after")
    enroll_async(client, emulator, identity)
    wait_held(emulator)
    session.keyring.send_signal(signal.SIGSTOP)
    try:
        release(emulator)
        entry = vt.wait_until(lambda: [e for e in journal(daemon) if "factor" in e], 10,
                              what="the factor sid in the journal")[0]
        time.sleep(0.3)  # the store under the sid is on its way to the stopped keyring
        crash(daemon)
    finally:
        session.keyring.send_signal(signal.SIGCONT)
    sid = entry["factor"]["sid"]
    assert remote_factors(emulator, identity)[sid]["status"] == "unverified"

    restart(daemon)
    assert_no_orphans(daemon, client, session, emulator, identity, [entry["id"], sid])
    assert emulator.state()["factors"][sid]["deleted"]
    assert "deleted factor %s" % sid in daemon.log_text()


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_during_verify(daemon, client, emulator, session, when):
    """Killed while the verify request is in flight; with 'after' the factor is verified
    remotely and vpushd never heard: it must not stay behind as a working factor nobody has."""
    identity = vt.unique_identity("crash")
    hold(emulator, FACTOR_SID_RE % identity, method="POST", when=when)
    enroll_async(client, emulator, identity)
    wait_held(emulator)

    [entry] = journal(daemon)
    sid = entry["factor"]["sid"]
    assert len(keys(session, sid)) == 1
    assert keys(session, entry["id"]) == []  # the provisional key went once the real one was in
    crash(daemon)
    release(emulator)
    vt.wait_until(lambda: remote_factors(emulator, identity)[sid]["status"] == "verified", 10,
                  what="the verify to be handled")

    restart(daemon)
    assert_no_orphans(daemon, client, session, emulator, identity, [entry["id"], sid])
    assert emulator.state()["factors"][sid]["deleted"]


def test_entry_of_another_base_url_waits_for_it(daemon, client, emulator, session):
    """Killed while the verify is in flight (the API verified the factor), then started with a
    BaseUrl whose path is wrong. That API answers a DELETE of the factor with 404, which
    counts as done: the keys and the entry went, and the verified factor stayed at the API
    with no key. The entry now waits, keys and all, and a start against the API it was made
    with deletes the factor."""
    identity = vt.unique_identity("crash")
    hold(emulator, FACTOR_SID_RE % identity, method="POST", when="after")
    enroll_async(client, emulator, identity)
    wait_held(emulator)
    [entry] = journal(daemon)
    sid = entry["factor"]["sid"]
    crash(daemon)
    release(emulator)
    vt.wait_until(lambda: remote_factors(emulator, identity)[sid]["status"] == "verified", 10,
                  what="the verify to be handled")

    wrong = emulator.base_url + "v2/"  # ".../v2/v2/": a path the API does not serve
    since = len(emulator.requests())
    elsewhere = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                          config={"Verify": {"BaseUrl": wrong}})
    try:
        restart(elsewhere)
    finally:
        elsewhere.stop()
    assert [e["id"] for e in journal(daemon)] == [entry["id"]]
    assert len(keys(session, sid)) == 1
    assert [r for r in emulator.requests()[since:] if r["method"] == "DELETE"] == []
    assert not emulator.state()["factors"][sid]["deleted"]
    assert ("enrollment %s of factor %s (identity %s of service %s) was interrupted at the "
            "Verify API at %s, and [Verify] BaseUrl is now %s"
            % (entry["id"], sid, identity, emulator.service_sid, emulator.base_url, wrong)
            in elsewhere.log_text())

    restart(daemon)
    assert_no_orphans(daemon, client, session, emulator, identity, [entry["id"], sid])
    assert emulator.state()["factors"][sid]["deleted"]


def secret_store(session, factor_sid, service_sid, secret=b"not a key"):
    """An item of vpushd's schema, as a crash could have left it."""
    subprocess.run(["secret-tool", "store", "--label=vpush factor key (left over)",
                    "xdg:schema", vt.SECRET_SCHEMA, "factor-sid", factor_sid,
                    "service-sid", service_sid],
                   input=secret, env=session.env, check=True, timeout=20,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(keys(session, factor_sid)) == 1


def secret_clear(session, factor_sid):
    subprocess.run(["secret-tool", "clear", "factor-sid", factor_sid], env=session.env,
                   timeout=20, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_after_the_record(daemon, client, emulator, session):
    """Killed after the record was written, before its journal entry was removed (and with a
    temp file of another write left): the factor is kept and works."""
    f = vt.enroll(client, emulator)
    crash(daemon)
    with open(os.path.join(daemon.state_dir, "factors", f.sid + ".json")) as fh:
        record = json.load(fh)
    entry_id = "enroll-" + uuid.uuid4().hex
    entry = {"id": entry_id, "service_sid": record["service_sid"],
             "identity": record["identity"], "friendly_name": record["friendly_name"],
             "started_at": record["created_at"], "factor": dict(record, status="unverified")}
    os.makedirs(os.path.join(daemon.state_dir, "enrolling"), exist_ok=True)
    with open(os.path.join(daemon.state_dir, "enrolling", entry_id + ".json"), "w") as fh:
        json.dump(entry, fh)
    secret_store(session, entry_id, record["service_sid"])
    # vpushd's mark: a write of its own a crash cut short (check_state_dir: it is gone)
    temp = os.path.join(daemon.state_dir, "factors", f.sid + ".json.vpush-tmp-Xy12Z9")
    with open(temp, "w") as fh:
        fh.write('{"sid": "%s", "friendly_na' % f.sid)

    restart(daemon)
    assert journal(daemon) == []
    check_state_dir(daemon)
    assert records(daemon) == [f.sid]
    assert client.factor_paths() == [f.path]
    assert keys(session, entry_id) == []
    assert len(keys(session, f.sid)) == 1
    assert not emulator.state()["factors"][f.sid]["deleted"]
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]


def test_temp_files_of_cut_writes_removed_at_start(daemon, client, emulator):
    """docs/crash-safety.md: "A temp file left by a write a crash interrupted is never read,
    and is removed at the next start; only a name with vpushd's mark is taken for one, so a
    person's `YF….json.backup` beside a record stays." Killed with a write of each kind cut
    short (a record, the clock, a journal entry): at the next start their temp files
    (NAME.vpush-tmp-XXXXXX, VPUSH_DURABLE_TEMP_MARK) are gone; a backup of the record, and
    a name like mkstemp's without the mark, are left as they were; the factor is the
    record's, not the half-written copy's."""
    f = vt.enroll(client, emulator)
    crash(daemon)
    factors = os.path.join(daemon.state_dir, "factors")
    enrolling = os.path.join(daemon.state_dir, "enrolling")
    os.makedirs(enrolling, exist_ok=True)
    cut = [os.path.join(factors, f.sid + ".json.vpush-tmp-AbC123"),
           os.path.join(daemon.state_dir, "clock.json.vpush-tmp-Q1w2E3"),
           os.path.join(enrolling, "enroll-%s.json.vpush-tmp-z9Y8x7" % uuid.uuid4().hex)]
    kept = {os.path.join(factors, f.sid + ".json.backup"): '{"sid": "%s"}' % f.sid,
            os.path.join(factors, f.sid + ".json.Xy12Z9"): "a person's file"}
    for path in cut:
        assert TEMP_RE.search(path), path
        with open(path, "w") as fh:
            fh.write('{"sid": "%s", "friendly_name": "half wr' % f.sid)
    for path, text in kept.items():
        with open(path, "w") as fh:
            fh.write(text)

    restart(daemon)
    assert [p for p in cut if os.path.exists(p)] == []
    for path, text in kept.items():
        with open(path) as fh:
            assert fh.read() == text, path
    assert daemon.log_text().count("left by a write that a crash interrupted") == len(cut)
    assert client.factor_paths() == [f.path]
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == f.friendly_name


def test_unowned_keys_deleted(daemon, client, emulator, session):
    """Keys of this state directory's services that no record and no journal entry owns are
    deleted at start; keys of other services, and names vpushd never uses, are not its to
    judge."""
    f = vt.enroll(client, emulator)
    orphan = "YF" + uuid.uuid4().hex
    provisional = "enroll-" + uuid.uuid4().hex
    other_service = "YF" + uuid.uuid4().hex
    odd_name = "not-a-factor-" + uuid.uuid4().hex
    secret_store(session, orphan, emulator.service_sid)
    secret_store(session, provisional, emulator.service_sid)
    secret_store(session, other_service, "VA" + uuid.uuid4().hex)
    secret_store(session, odd_name, emulator.service_sid)
    try:
        daemon.stop()
        restart(daemon)
        assert keys(session, orphan) == []
        assert keys(session, provisional) == []
        assert len(keys(session, other_service)) == 1
        assert len(keys(session, odd_name)) == 1
        assert len(keys(session, f.sid)) == 1
        assert client.factor_paths() == [f.path]
    finally:
        secret_clear(session, other_service)
        secret_clear(session, odd_name)


def test_record_that_cannot_be_read_keeps_its_key(daemon, client, emulator, session):
    """A record that is there but can't be read at start (here a symlink to a volume not
    mounted yet) still owns its key (docs/crash-safety.md): the factor is skipped, and the
    sweep of another factor's service leaves its key, so that it works again once the
    record can be read."""
    a = vt.enroll(client, emulator)
    b = vt.enroll(client, emulator)
    daemon.stop()
    record = os.path.join(daemon.state_dir, "factors", b.sid + ".json")
    volume = os.path.join(session.tmp, "volume-" + uuid.uuid4().hex)
    os.makedirs(volume)
    os.rename(record, os.path.join(volume, "record.json"))
    os.symlink(os.path.join(volume + ".not-mounted", "record.json"), record)
    restart(daemon)
    assert client.factor_paths() == [a.path]
    assert len(keys(session, b.sid)) == 1
    assert len(keys(session, a.sid)) == 1
    # the volume is there again
    daemon.stop()
    os.rename(volume, volume + ".not-mounted")
    restart(daemon)
    assert sorted(client.factor_paths()) == sorted([a.path, b.path])
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(b.identity, b.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid, "factor-sid": b.sid}) == ch["sid"]


@contextlib.contextmanager
def enrollment_failed_after_create(daemon, client, emulator, session, held):
    """In place of daemon, a vpushd with a short HTTP timeout and no retries, so that it gives
    up soon, whose EnrollFactor has just failed with Network: the first `held` requests to
    the created factor (the verify, then the rollback's DELETE, ...) get no answer in time.
    Gives that vpushd and the enrollment's identity; the vpushd is stopped afterwards."""
    daemon.stop()
    d = vt.Daemon(session, emulator, config={"Verify": {"TimeoutMs": "1000",
                                                        "RetryTimeoutMs": "0"}})
    d.start()
    try:
        identity = vt.unique_identity("crash")
        hold(emulator, FACTOR_SID_RE % identity, when="before", seconds=600, count=held)
        call = enroll_async(client, emulator, identity)
        vt.wait_until(lambda: call.done, 120, what="EnrollFactor to fail")
        assert call.error is not None and call.error.name == vt.ERR_PREFIX + "Network", \
            call.error
        yield d, identity
    finally:
        d.stop()


def test_rollback_that_cannot_reach_the_api(daemon, client, emulator, session):
    """An enrollment that fails after the create, with the API gone for the rollback too: the
    factor stays in the journal with its key (the running vpushd keeps trying), and the next
    start deletes it."""
    # every request to the factor is held; then they are lost
    with enrollment_failed_after_create(daemon, client, emulator, session,
                                        held=100) as (d, identity):
        [entry] = journal(d)
        sid = entry["factor"]["sid"]
        assert len(keys(session, sid)) == 1
        # stopped first: once the API answers, the running vpushd's next try would delete
        # the factor (the test below), and this one is about the next start
        d.stop()
        release(emulator, drop=True)
        assert not emulator.state()["factors"][sid]["deleted"]

        restart(d)
        assert_no_orphans(d, client, session, emulator, identity, [entry["id"], sid])
        assert emulator.state()["factors"][sid]["deleted"]
        assert "deleted factor %s" % sid in d.log_text()


def test_rollback_that_cannot_reach_the_api_finished_while_running(daemon, client, emulator,
                                                                   session):
    """As above, but the API answers again while vpushd runs: its recovery deletes the factor,
    its keys and the journal entry then, not at a start that may be weeks away."""
    # the verify and the rollback's DELETE are held; the next DELETE of the factor (the
    # recovery's) is answered
    with enrollment_failed_after_create(daemon, client, emulator, session,
                                        held=2) as (d, identity):
        release(emulator, drop=True)
        [sid] = remote_factors(emulator, identity)
        [entry_id] = re.findall(r"enrollment (enroll-[0-9a-f]{32}) stays in the journal",
                                d.log_text())
        vt.wait_until(lambda: remote_factors(emulator, identity)[sid]["deleted"],
                      30 * vt.SLOWDOWN, what="the recovery to delete the factor at the API")
        vt.wait_until(lambda: journal(d) == [], 30 * vt.SLOWDOWN,
                      what="the recovery to drop the journal entry")
        assert_no_orphans(d, client, session, emulator, identity, [entry_id, sid])
        assert d.running()


def test_sid_of_a_recovery_entry_is_not_given_again(daemon, client, emulator, session):
    """An enrollment whose rollback could not reach the API leaves its factor, and the key
    under its sid, to the recovery. A create answered with that sid (an API that hands one
    out twice) must not take it: storing a key under it, or the rollback of that enrollment
    deleting the keys under it, would leave the first factor at the API with no key."""
    with enrollment_failed_after_create(daemon, client, emulator, session,
                                        held=100) as (d, identity):
        [entry] = journal(d)
        sid = entry["factor"]["sid"]
        assert len(keys(session, sid)) == 1
        again = vt.unique_identity("again")
        emulator.fault(FACTOR_RE % again, action="sid", sid=sid, method="POST")
        call = enroll_async(client, emulator, again)
        vt.wait_until(lambda: call.done, 30 * vt.SLOWDOWN, what="the second EnrollFactor")
        assert call.error is not None and call.error.name == vt.ERR_PREFIX + "Api", call.error
        assert "factor sid %s, which vpushd holds already" % sid in str(call.error)
        assert len(keys(session, sid)) == 1
        assert [e["id"] for e in journal(d)] == [entry["id"]]
        assert not emulator.state()["factors"][sid]["deleted"]


def test_entry_read_at_start_is_judged_at_start(daemon, client, emulator, session):
    """A deletion entry whose factor had its record at start (killed before the deletion
    began): the factor stays, as it was decided then. The recovery may reach the entry only
    later, behind an older one, while a Delete of that factor has removed its record and
    waits for its DELETE. If that DELETE then fails, the factor must still be whole: not
    deleted at the API and its key by the recovery, which took the record's absence for an
    interrupted deletion."""
    x = vt.enroll(client, emulator)
    y = vt.enroll(client, emulator)
    factors_dir = os.path.join(daemon.state_dir, "factors")
    record = {}
    for f in (x, y):
        with open(os.path.join(factors_dir, f.sid + ".json")) as fh:
            record[f.sid] = json.load(fh)
    crash(daemon)
    # older: the enrollment of y, killed after the create (no record): the recovery deletes y;
    # newer: the deletion of x, killed before it began (its record is there)
    os.unlink(os.path.join(factors_dir, y.sid + ".json"))
    os.makedirs(os.path.join(daemon.state_dir, "enrolling"), exist_ok=True)
    now = time.time()
    for f, age, deleting in ((y, 20, False), (x, 10, True)):
        entry = {"id": "enroll-" + uuid.uuid4().hex, "service_sid": emulator.service_sid,
                 "identity": f.identity, "friendly_name": f.friendly_name,
                 "started_at": vt.rfc3339(now - age), "factor": record[f.sid]}
        if deleting:
            entry["deleting"] = True
        with open(os.path.join(daemon.state_dir, "enrolling", entry["id"] + ".json"),
                  "w") as fh:
            json.dump(entry, fh)

    first = hold(emulator, r"/Factors/%s\Z" % y.sid, method="DELETE", seconds=600)
    hold(emulator, r"/Factors/%s\Z" % x.sid, method="DELETE", seconds=600)
    # the longest request timeout: a held DELETE must not time out, and be sent again
    patient = vt.Daemon(session, emulator, state_dir=daemon.state_dir,
                        config={"Verify": {"TimeoutMs": "120000"}})
    patient.start()
    try:
        wait_held(emulator, 1)  # the recovery, at the older entry
        call = vt.PendingCall(client, "Delete", None, x.path, vt.FACTOR_IFACE)
        wait_held(emulator, 2)  # the Delete's DELETE: x's record is gone meanwhile
        assert x.sid not in records(patient)
        emulator.fault(r"/Factors/%s\Z" % x.sid, status=400, method="DELETE")
        emulator.release_held(first["id"])
        vt.wait_until(lambda: "the deletion of factor %s had not begun" % x.sid
                      in patient.log_text(), 20 * vt.SLOWDOWN,
                      what="the recovery to reach the entry of x")
        emulator.release_held()
        vt.wait_until(lambda: call.done, 20 * vt.SLOWDOWN, what="the Delete of x")
        assert call.error is not None and call.error.name == vt.ERR_PREFIX + "Api", call.error

        assert emulator.state()["factors"][y.sid]["deleted"]
        assert not emulator.state()["factors"][x.sid]["deleted"]
        assert client.factor_paths() == [x.path]
        assert records(patient) == [x.sid]
        assert len(keys(session, x.sid)) == 1
        vt.wait_until(lambda: journal(patient) == [], 10 * vt.SLOWDOWN,
                      what="the journal to empty")
        ch = emulator.create_challenge(x.identity, x.sid)
        assert client.approve({"challenge-sid": ch["sid"],
                               "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
    finally:
        patient.stop()


# ---------------------------------------------------------------------------------------
# Approval


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_during_answer(factor, daemon, client, emulator, when):
    """Killed while the answer is in flight. The API takes it ('before': after the kill;
    'after': before it, the reply was lost). After the restart the challenge is not shown as
    pending, and a second approval is refused without a second answer."""
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    hold(emulator, r"/Challenges/%s\Z" % ch["sid"], method="POST", when=when)
    vt.PendingCall(client, "ApproveChallenge", vt.asv({"transaction-id": txid}))
    wait_held(emulator)
    crash(daemon)
    release(emulator)
    vt.wait_until(lambda: emulator.fetch_challenge(factor.identity, ch["sid"])["status"]
                  == "approved", 10, what="the answer to be handled")

    restart(daemon)
    client.refresh()
    assert vt.challenge_path(ch["sid"]) not in client.challenge_paths()
    with pytest.raises(vt.DBusCallError) as e:
        client.approve({"transaction-id": txid})
    assert e.value.name in (vt.ERR_ALREADY_RESPONDED, vt.ERR_NOT_FOUND), e.value
    with pytest.raises(vt.DBusCallError) as e:
        client.deny({"challenge-sid": ch["sid"]})
    assert e.value.name == vt.ERR_ALREADY_RESPONDED, e.value
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


def test_killed_before_answer(factor, daemon, client, emulator):
    """Killed while reading the challenge before answering it: nothing was answered, so the
    challenge is answered once after the restart."""
    txid = vt.new_transaction_id()
    # every read of challenges (the poller's list, the direct fetch) is held, from before
    # the challenge is made: the poll that follows the enrollment would else read it
    hold(emulator, r"/Entities/%s/Challenges(/YC[0-9a-f]{32})?\Z" % factor.identity,
         method="GET", count=100)
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    vt.PendingCall(client, "ApproveChallenge", vt.asv({"challenge-sid": ch["sid"]}))
    wait_held(emulator)
    crash(daemon)
    release(emulator)
    assert emulator.answer_posts(ch["sid"]) == 0

    restart(daemon)
    assert client.approve({"challenge-sid": ch["sid"],
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


# ---------------------------------------------------------------------------------------
# Deletion


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_during_delete(factor, daemon, client, emulator, session, when):
    """Killed while the DELETE is in flight ('before': the API deletes the factor after
    the kill; 'after': before it, the reply was lost). The next start finishes the deletion:
    no record, no key, no factor object, nothing left at the API; before, the factor came
    back whole though the API no longer had it."""
    hold(emulator, r"/Factors/%s\Z" % factor.sid, method="DELETE", when=when)
    vt.PendingCall(client, "Delete", None, factor.path, vt.FACTOR_IFACE)
    wait_held(emulator)
    [entry] = journal(daemon)
    assert entry["deleting"] is True and entry["factor"]["sid"] == factor.sid
    assert records(daemon) == []
    crash(daemon)
    release(emulator)
    vt.wait_until(lambda: emulator.state()["factors"][factor.sid]["deleted"], 10,
                  what="the DELETE to be handled")

    restart(daemon)
    assert "the deletion of factor %s" % factor.sid in daemon.log_text()
    assert_no_orphans(daemon, client, session, emulator, factor.identity,
                      [entry["id"], factor.sid])


def test_killed_before_the_record_went(factor, daemon, client, emulator, session):
    """A deletion's entry is written before its record is removed: killed between the two
    (reproduced by writing the entry a kill there leaves), the factor stays, whole."""
    entry = {"id": "enroll-" + uuid.uuid4().hex, "service_sid": emulator.service_sid,
             "identity": factor.identity, "friendly_name": factor.friendly_name,
             "started_at": vt.rfc3339(time.time()), "deleting": True}
    with open(os.path.join(daemon.state_dir, "factors", factor.sid + ".json")) as f:
        entry["factor"] = json.load(f)
    crash(daemon)
    os.makedirs(os.path.join(daemon.state_dir, "enrolling"), exist_ok=True)
    with open(os.path.join(daemon.state_dir, "enrolling", entry["id"] + ".json"), "w") as f:
        json.dump(entry, f)

    restart(daemon)
    assert "the deletion of factor %s had not begun" % factor.sid in daemon.log_text()
    assert journal(daemon) == []
    assert records(daemon) == [factor.sid]
    assert client.factor_paths() == [factor.path]
    assert len(keys(session, factor.sid)) == 1
    assert emulator.fetch_factor(factor.identity, factor.sid).status == 200


def test_failed_delete_keeps_the_factor(factor, daemon, client, emulator, session):
    """A DELETE the API refuses: nothing was deleted, so the record is back, the journal
    entry gone, and the factor works as before."""
    emulator.fault(r"/Factors/%s\Z" % factor.sid, status=400, method="DELETE")
    with pytest.raises(vt.DBusCallError) as e:
        client.factor_delete(factor.path)
    assert e.value.name == vt.ERR_PREFIX + "Api", e.value
    assert journal(daemon) == []
    assert records(daemon) == [factor.sid]
    check_state_dir(daemon)
    assert client.factor_paths() == [factor.path]
    assert len(keys(session, factor.sid)) == 1
    daemon.restart()
    assert client.factor_paths() == [factor.path]
    ch = emulator.create_challenge(factor.identity, factor.sid)
    assert client.approve({"challenge-sid": ch["sid"],
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]


@pytest.mark.parametrize("deleting", [True, False])
def test_entry_whose_key_items_hold_no_key(factor, daemon, client, emulator, session, deleting):
    """Killed with the record gone (a deletion's step 2, an enrollment's rollback), and the
    factor's key item edited meanwhile into something that is not a key: no key will ever be
    loaded from it. The recovery finishes such an entry as Factor.Delete does such a factor,
    here only, with its items, and goes on; before, it tried again every 30 s to an hour for
    good, and every entry behind it, and the sweep, waited with it."""
    entry = {"id": "enroll-" + uuid.uuid4().hex, "service_sid": emulator.service_sid,
             "identity": factor.identity, "friendly_name": factor.friendly_name,
             "started_at": vt.rfc3339(time.time())}
    record_path = os.path.join(daemon.state_dir, "factors", factor.sid + ".json")
    with open(record_path) as f:
        entry["factor"] = json.load(f)
    if deleting:
        entry["deleting"] = True
    crash(daemon)
    os.makedirs(os.path.join(daemon.state_dir, "enrolling"), exist_ok=True)
    with open(os.path.join(daemon.state_dir, "enrolling", entry["id"] + ".json"), "w") as f:
        json.dump(entry, f)
    os.unlink(record_path)
    secret_clear(session, factor.sid)
    secret_store(session, factor.sid, emulator.service_sid)

    restart(daemon)
    assert "factor %s in the Secret Service is unusable" % factor.sid in daemon.log_text()
    assert_no_orphans(daemon, client, session, emulator, factor.identity,
                      [entry["id"], factor.sid])
    # nothing could sign its DELETE: the remote factor stays for the backend
    assert emulator.fetch_factor(factor.identity, factor.sid).status == 200


def test_recovery_goes_on_from_the_deleted_remote_factor(daemon, client, emulator, session):
    """The keyring locked while the recovery deleted an interrupted enrollment's factor: the
    key's delete is refused, and on unlock the key store deletes that key as the recovery
    tries the entry again. The retry began with loading the key for the DELETE already done,
    which met the key store's delete: the entry stayed 30 s more (and every one behind it),
    and then "no key" was told as a factor never verified and still at the API. The retry
    now only deletes the keys."""
    identity = vt.unique_identity("recov")
    hold(emulator, r"/Factors/YF[0-9a-f]{32}\Z", method="POST", when="before")
    enroll_async(client, emulator, identity)
    wait_held(emulator)
    crash(daemon)
    release(emulator, drop=True)
    [sid] = remote_factors(emulator, identity)
    # the recovery's DELETE of the remote factor: its answer held while the keyring locks
    hold(emulator, r"/Factors/%s\Z" % sid, method="DELETE", when="after")
    session.lock_keyring()
    daemon.start(wait_states=("keyring-locked",))
    session.unlock_keyring()
    wait_held(emulator)
    session.lock_keyring()
    client.wait_state("keyring-locked", timeout=10 * vt.SLOWDOWN)
    release(emulator)
    vt.wait_until(lambda: "waiting for the keyring to be usable"
                  in daemon.log_text().partition("crash recovery: deleted factor")[2],
                  10 * vt.SLOWDOWN, what="the recovery to wait for the keyring")
    session.unlock_keyring()
    vt.wait_until(lambda: journal(daemon) == [], 10 * vt.SLOWDOWN,
                  what="the journal entry to go once the keyring is usable")
    assert keys(session, sid) == []
    assert remote_factors(emulator, identity)[sid]["deleted"]
    assert "has no key in the keyring" not in daemon.log_text()
    assert "trying again in" not in daemon.log_text()
