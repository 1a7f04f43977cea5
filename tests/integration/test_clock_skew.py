"""Clock skew between the machine and the Verify API, an hour or a second, is corrected
from the 401 + Date answer (one retry), at enrollment and at approval."""

import pytest

import vpushtest as vt


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
    emulator.set_clock(3600)
    client.refresh()  # learns the offset
    daemon.restart()
    emulator.clear_requests()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    assert not _saw_401(emulator), "the clock correction was not kept across a restart"
