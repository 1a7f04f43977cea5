"""pytest fixtures for the integration tests (harness: vpushtest.py).

Per test module: one private session bus + gnome-keyring (`session`) and one emulator.
Per test: a fresh vpushd with an empty state directory (`daemon`), stopped afterwards, or
any number of them, each with a policy directory of the test's (`start_daemon`).
"""

import os
import time

import pytest

import vpushtest as vt
from vpushtest_policy import MANAGE
from vpushtest_system import Logind, NetworkManager, SystemBus


def pytest_configure(config):
    vt.install_reaper()


@pytest.fixture(scope="module")
def session():
    s = vt.Session(name="it")
    yield s
    s.close()


@pytest.fixture(scope="module")
def emulator(session):
    e = vt.Emulator(session.tmp, env=session.env)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def client(session):
    return session.client


@pytest.fixture
def daemon(session, emulator):
    """A running vpushd with a fresh state dir (State=ready)."""
    if not os.access(vt.vpushd_path(), os.X_OK):
        pytest.fail("vpushd is not built at %s" % vt.vpushd_path())
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator)
    d.start()
    yield d
    d.stop()


# vpushd with a policy directory of the test's (test_policy.py, test_audit.py; the policy
# every test starts with: vpushtest_policy.py)

@pytest.fixture
def start_daemon(session, emulator, system_bus):
    """start_daemon(rules) → a running vpushd whose --policy-dir holds MANAGE + rules."""
    started = []

    def start(rules="", files=None, config=None, env=None):
        policy_dir = session.path("policy-%d" % (vt.Daemon.counter + 1))
        os.makedirs(policy_dir)
        for name, text in (files or {"50-test.conf": MANAGE + rules}).items():
            with open(os.path.join(policy_dir, name), "w") as f:
                f.write(text)
        emulator.set_clock(0)
        daemon = vt.Daemon(session, emulator, config=config, env=env,
                           extra_args=["--policy-dir", policy_dir])
        daemon.policy_dir = policy_dir
        started.append(daemon)
        return daemon.start()
    yield start
    for daemon in started:
        daemon.stop()


# A private system bus for the modules that ask for it, with logind or NetworkManager
# mocked on it (vpushtest_system.py)

@pytest.fixture(scope="module")
def system_bus(session):
    """The module's private system bus; every vpushd the module starts is told of it."""
    bus = SystemBus(session)
    session.env["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
    yield bus
    session.env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    bus.close()


@pytest.fixture
def logind(session, system_bus):
    mock = Logind(session, system_bus)
    yield mock
    mock.stop()


@pytest.fixture
def network_manager(session, system_bus):
    mock = NetworkManager(session, system_bus)
    yield mock
    mock.stop()


@pytest.fixture
def factor(daemon, client, emulator):
    """A verified factor enrolled through the running daemon, once the poll that follows
    an enrollment has listed its challenges (for up to 2 s): a challenge the test makes
    next is not read by that poll before the test's faults and holds are set."""
    f = vt.enroll(client, emulator)
    listed = "/Entities/%s/Challenges" % f.identity
    deadline = time.monotonic() + 2 * vt.SLOWDOWN
    while time.monotonic() < deadline and not any(
            r["method"] == "GET" and r["path"].endswith(listed) for r in emulator.requests()):
        time.sleep(0.01)
    return f


@pytest.fixture(autouse=True)
def requests_conform():
    """Every request a test's processes made to an emulator is one the OpenAPI document
    allows (vpushd's, and the harness's as the app backend), and every answer the emulator
    gave them is one it allows (a client would retry the 500 it gets for one)."""
    before = {id(e): e.conformance()["total"] for e in vt.Emulator.running()}
    yield
    for e in vt.Emulator.running():
        found = e.conformance()
        # counted, not sliced by position: the emulator keeps only the last ones
        new = found["total"] - before.get(id(e), 0)
        assert not new, ("%d requests or answers the OpenAPI document does not allow:\n" % new
                         + "\n".join("%s: %s" % (r["kind"], r["error"])
                                      for r in found["requests"][-new:]))


# On failure, add the tail of the logs this test's processes wrote to the report (so it
# ends up in the TAP output that meson prints).

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._vpush_logs_from = len(vt.LOGS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    start = getattr(item, "_vpush_logs_from", 0)
    logs = [entry for entry in vt.LOGS[start:] if entry[0] == "vpushd"]
    # Module-level logs (emulator, keyring) are shown shorter.
    seen = set()
    extra = []
    for label, path in logs + [e for e in vt.LOGS if e[0] in ("emulator", "gnome-keyring")]:
        if path in seen:
            continue
        seen.add(path)
        n = 120 if label == "vpushd" else 25
        extra.append("--- %s log (%s), last %d lines ---\n%s"
                     % (label, os.path.basename(path), n, vt.log_tail(path, n)))
    if extra:
        report.longrepr = str(report.longrepr) + "\n" + "\n".join(extra)
