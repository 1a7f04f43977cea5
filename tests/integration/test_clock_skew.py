"""Clock skew between the machine and the Verify API, an hour or a second, is corrected
from the 401 + Date answer (one retry), at enrollment and at approval, and the machine's
clock stepped later does not undo it; a correction a century or more off, from a Date or a
damaged clock.json, is not taken."""

import email.utils
import json
import os
import re

import pytest

import vpushtest as vt
from vpushtest_push import SLOW_POLL


@pytest.fixture(autouse=True)
def reset_clock(emulator):
    emulator.set_clock(0)
    yield
    emulator.set_clock(0)


def _saw_401(emulator):
    return [r for r in emulator.requests() if r["status"] == 401 and r["auth"] == "device"]


# -1: the machine a second fast, within the resolution of Date, still corrected
@pytest.mark.parametrize("offset", [3600, -3600, -1])
def test_skew_before_enrolling(offset, daemon, client, emulator):
    emulator.set_clock(offset)
    emulator.clear_requests()
    f = vt.enroll(client, emulator)
    assert client.get_property(f.path, vt.FACTOR_IFACE, "Status") == "verified"
    assert emulator.fetch_factor(f.identity, f.sid).json()["status"] == "verified"
    assert _saw_401(emulator), "the emulator never refused a JWT: skew not exercised"
    # and the corrected clock is used for the approval
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "approved"


def test_skew_before_approving(factor, client, emulator):
    # cleared first: a background poll right after the clock moves is already refused
    emulator.clear_requests()
    emulator.set_clock(3600)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    assert _saw_401(emulator), "the emulator never refused a JWT: skew not exercised"
    assert emulator.answer_posts(ch["sid"]) == 1


def test_skew_correction_survives_restart(factor, client, emulator, daemon):
    """README: "the offset is kept in `clock.json`, and taken against the local clock at the
    next start". The restarted vpushd signs with the corrected clock from its first request:
    the API refuses none of its JWTs, and it has nothing to correct. (Its first poll would
    learn the offset again from a 401, so the checks are on clock.json and on every request
    since the start, not only on the approval's.)"""
    emulator.set_clock(3600)
    client.refresh()  # learns the offset
    assert [o for o in _corrections(daemon) if abs(o - 3600) <= 2], _corrections(daemon)
    daemon.stop()  # a write asked for is finished before vpushd exits
    with open(os.path.join(daemon.state_dir, "clock.json")) as f:
        saved = json.load(f)["offset_seconds"]
    assert abs(saved - 3600) <= 2, saved
    emulator.clear_requests()
    daemon.start()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    assert not _saw_401(emulator), "the clock correction was not kept across a restart"
    assert _corrections(daemon) == [], _corrections(daemon)


# a hundred years and a day, past the largest correction taken (vpush-time.h)
ABSURD = 100 * 366 * 86400 + 86400


def _corrections(daemon):
    """The offsets vpushd took from the API's Date, in its log."""
    return [int(m) for m in re.findall(r"clock corrected by the Verify API's Date: offset "
                                       r"(-?\d+) s", daemon.log_text())]


@pytest.mark.parametrize("offset", [2 ** 63 - 1, -2 ** 63, ABSURD, -ABSURD])
def test_absurd_saved_correction_ignored(offset, session, emulator, client):
    """A damaged clock.json is no correction: none that overflows the clock (it crashed
    vpushd), and none that makes the API refuse every JWT."""
    d = vt.Daemon(session, emulator)
    with open(os.path.join(d.state_dir, "clock.json"), "w") as f:
        f.write('{"offset_seconds": %d}' % offset)
    d.start()
    try:
        emulator.clear_requests()
        f = vt.enroll(client, emulator)
        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        assert client.approve({"transaction-id": txid}) == ch["sid"]
        assert not _saw_401(emulator), "the damaged correction was used"
        assert "ignoring clock correction in" in d.log_text()
    finally:
        d.stop()


@pytest.mark.parametrize("date", ["Fri, 01 Jan 2147483647 00:00:00 GMT",
                                  "Mon, 01 Jan 1900 00:00:00 GMT"])
def test_absurd_date_not_taken(factor, daemon, client, emulator, date):
    """A 401 whose Date is centuries away (ahead or behind) corrects nothing: such an
    offset would overflow the clock's arithmetic, and would be kept in clock.json."""
    emulator.clear_requests()
    rule = emulator.fault(r"/Challenges\Z", action="status", status=401, method="GET",
                          date=date)
    try:
        client.refresh()  # or a poll takes the fault first
    except vt.DBusCallError:
        pass
    vt.wait_until(lambda: [r for r in emulator.requests() if r["fault"] == rule["id"]], 10,
                  what="the 401 with the absurd Date")
    assert not [o for o in _corrections(daemon) if abs(o) > ABSURD], _corrections(daemon)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    daemon.restart()
    assert not [o for o in _corrections(daemon) if abs(o) > ABSURD]
    assert "ignoring clock correction" not in daemon.log_text()


def _approve_refused_with_date(factor, client, emulator, ahead):
    """A cached challenge whose answers get 401 with a Date `ahead` seconds past the
    emulator's clock (twice at most); approves it by its transaction id. Returns the
    challenge, the D-Bus error and the answer POSTs the emulator saw, each with its fault
    rule's id."""
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid},
                                   expiration=300)
    client.refresh()
    emulator.clear_requests()
    date = email.utils.formatdate(emulator.now() + ahead, usegmt=True)
    rule = emulator.fault(r"/Challenges/%s\Z" % ch["sid"], action="status", status=401,
                          code=20003, method="POST", count=2, date=date)
    with pytest.raises(vt.DBusCallError) as e:
        client.approve({"transaction-id": txid})
    posts = [r["fault"] == rule["id"] for r in emulator.requests() if r["method"] == "POST"]
    return ch, txid, e.value, posts


def test_second_401_is_final(factor, daemon, client, emulator):
    """A 401 with the API's Date is retried once, on the clock that Date gives (protocol
    doc §6); a second 401 ends the call with Error.Api, and no third request is sent."""
    corrections = len(_corrections(daemon))
    # two minutes: within the challenge's life, which vpushd checks on the clock it corrects
    ch, txid, error, posts = _approve_refused_with_date(factor, client, emulator, 120)
    assert error.name == vt.ERR_PREFIX + "Api", error
    assert "HTTP 401, code 20003" in error.message, error
    assert posts == [True, True]
    assert abs(_corrections(daemon)[corrections] - 120) <= 2, _corrections(daemon)
    assert emulator.answer_posts(ch["sid"]) == 0

    # the API's own 401 corrects the clock back, and the answer goes through
    emulator.clear_faults()
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"


def test_no_answer_past_expiry_by_the_corrected_clock(factor, daemon, client, emulator):
    """A 401 whose Date puts the challenge past its expiration_date: the retry is not sent
    (dbus-api.md: vpushd never sends an answer for an expired challenge); Error.Expired."""
    ch, _, error, posts = _approve_refused_with_date(factor, client, emulator, 3600)
    assert error.name == vt.ERR_EXPIRED, error
    assert error.message.endswith("by the Verify API's clock"), error
    assert posts == [True]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"


def test_wall_clock_stepped_after_correction(session, emulator, client):
    """The machine's clock an hour behind, corrected by a 401; then NTP steps it forward
    the hour. vpushd's clock goes on from the API's Date, not from the wall clock plus the
    offset learnt (an hour ahead now): the expiry check finishes only the challenge that
    did expire, and the other one can be approved."""
    step = vt.ShiftedClock(session, "VPUSH_TEST_CLOCK_STEP")
    d = vt.Daemon(session, emulator, config={"Poll": dict(SLOW_POLL)}, env=step.env)
    d.start()
    try:
        f = vt.enroll(client, emulator)
        emulator.set_clock(3600)
        client.refresh()
        assert [o for o in _corrections(d) if abs(o - 3600) <= 2], _corrections(d)
        # the expiry timer is set for the first; a slow machine gets more time to step
        soon = emulator.create_challenge(f.identity, f.sid, expiration=3 + 2 * vt.SLOWDOWN)
        txid = vt.new_transaction_id()
        later = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid},
                                          expiration=300)
        client.refresh()
        step.set(3600)
        paths = client.challenge_paths()
        assert vt.challenge_path(soon["sid"]) in paths, "expired before the clock stepped"
        assert vt.challenge_path(later["sid"]) in paths
        vt.wait_until(lambda: vt.challenge_path(soon["sid"]) not in client.challenge_paths(),
                      10 * vt.SLOWDOWN, what="the expiry check")
        assert vt.challenge_path(later["sid"]) in client.challenge_paths()
        assert client.approve({"transaction-id": txid}) == later["sid"]
        assert emulator.fetch_challenge(f.identity, later["sid"])["status"] == "approved"
    finally:
        d.stop()
