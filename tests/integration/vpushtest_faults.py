"""What the Verify API fault tests share (test_faults.py, test_answer_faults.py): one vpushd
per test module with short timeouts, 1 s per request and 3 s of retries, and polling
hourly, so that only the calls a test makes meet its faults. A test module takes the
fixtures below as its own: `fdaemon = vf.fdaemon` and so on (pytest finds a module's
fixtures among its names).
"""

import contextlib
import time

import pytest

import vpushtest as vt

CONFIG = {
    "Verify": {"TimeoutMs": "1000", "RetryTimeoutMs": "3000"},
    "Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"},
    "Approval": {"DefaultTimeoutMs": "3000"},
}
ERR_NETWORK = vt.ERR_PREFIX + "Network"
ERR_API = vt.ERR_PREFIX + "Api"
ERR_FAILED = vt.ERR_PREFIX + "Failed"


def answer_elsewhere(emulator, sid, status):
    """The challenge answered by another device of the factor, as far as the API knows."""
    res = emulator.request("POST", "/_emulator/answer", {"sid": sid, "status": status},
                           backend=False)
    assert res.status == 200, res.body


def logged(emulator, path_end, method, since=0):
    return [r for r in emulator.requests()[since:]
            if r["method"] == method and r["path"].endswith(path_end)]


@pytest.fixture(scope="module")
def fdaemon(session, emulator):
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config=CONFIG)
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def factor(fdaemon, client, emulator):
    f = vt.enroll(client, emulator)
    # the first poll of a new factor runs at once: let it pass before any fault is set
    vt.wait_until(lambda: logged(emulator, "/Entities/%s/Challenges" % f.identity, "GET"), 10,
                  what="the first poll")
    time.sleep(0.3)
    return f


@pytest.fixture(autouse=True)
def faults_checked(request, emulator, client):
    """After every test: no fault left, and vpushd still running and answering."""
    yield
    emulator.clear_faults()
    if "fdaemon" in request.fixturenames:
        d = request.getfixturevalue("fdaemon")
        assert d.running(), "vpushd exited:\n" + vt.log_tail(d.log)
        assert client.manager_property("State") in ("ready", "offline")


@contextlib.contextmanager
def verify_settings(session, fdaemon, emulator, **verify):
    """vpushd in place of the module's (same state directory, so the same factor) with
    these [Verify] settings; the faults are cleared and the module's vpushd is back
    afterwards."""
    config = {group: dict(keys) for group, keys in CONFIG.items()}
    config["Verify"].update(verify)
    fdaemon.stop()
    d = vt.Daemon(session, emulator, state_dir=fdaemon.state_dir, config=config)
    try:
        d.start()
        # its start-up poll is over: a fault the test sets is not met by that poll
        emulator.wait_quiet(0.8 * vt.SLOWDOWN, 15 * vt.SLOWDOWN)
        yield d
    finally:
        emulator.clear_faults()
        d.stop()
        fdaemon.start()
        # nor one the next test sets
        emulator.wait_quiet(0.8 * vt.SLOWDOWN, 15 * vt.SLOWDOWN)


def list_path(f):
    return r"/Entities/%s/Challenges\Z" % f.identity


def challenge_re(sid):
    return r"/Challenges/%s\Z" % sid


def new_challenge(emulator, f, **kw):
    return emulator.create_challenge(f.identity, f.sid,
                                     hidden={"transaction_id": vt.new_transaction_id()}, **kw)


def expect_error(name, fn, *args, **kw):
    with pytest.raises(vt.DBusCallError) as e:
        fn(*args, **kw)
    assert e.value.name == name, e.value
    return e.value
