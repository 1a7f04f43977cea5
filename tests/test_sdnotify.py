"""sd_notify without systemd: the test binds its own NOTIFY_SOCKET, as systemd would, and
checks what vpushd sends and when: READY=1 once the bus name is owned and the factors are
loaded, STATUS= when the factor count or the state changes, WATCHDOG=1 at half of
WATCHDOG_USEC (only when WATCHDOG_PID is vpushd, or unset), STOPPING=1 on SIGTERM."""

import os
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

import vpushtest as vt

vt.install_reaper()


@pytest.fixture(scope="module")
def session():
    s = vt.Session(name="notify")
    yield s
    s.close()


@pytest.fixture(scope="module")
def emulator(session):
    e = vt.Emulator(session.tmp, env=session.env)
    yield e
    e.stop()


class Notify:
    """An AF_UNIX datagram socket like systemd's notify socket, with SCM_CREDENTIALS."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def recv(self, timeout):
        """(monotonic time, sender pid, {key: value}) or None after timeout seconds."""
        r, _, _ = select.select([self.sock], [], [], max(0, timeout))
        if not r:
            return None
        data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", cdata[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
        return time.monotonic(), pid, fields

    def wait_for(self, key, timeout=15.0, value=None):
        """Messages up to and including the first with key (and value); asserts it comes."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            msg = self.recv(deadline - time.monotonic())
            assert msg is not None, "no %s=%s within %s s; got %s" % (key, value, timeout, seen)
            seen.append(msg)
            if key in msg[2] and (value is None or msg[2][key] == value):
                return seen

    def drain(self, seconds):
        msgs = []
        deadline = time.monotonic() + seconds
        while True:
            msg = self.recv(deadline - time.monotonic())
            if msg is None:
                return msgs
            msgs.append(msg)

    def close(self):
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def notify(session):
    n = Notify(session.path("notify-%d.sock" % time.monotonic_ns()))
    yield n
    n.close()


class Vpushd:
    """The built vpushd with the harness's config, started with our own environment."""

    def __init__(self, session, emulator, notify, watchdog_usec=None, watchdog_pid=None,
                 state_dir=None, config=None):
        self.config = vt.Daemon(session, emulator, state_dir=state_dir, config=config)
        self.log = session.path("vpushd-notify-%d.log" % self.config.n)
        env = dict(session.env, NOTIFY_SOCKET=notify.path)
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        args = [vt.vpushd_path(), "--config", self.config.config_path, "--state-dir",
                self.config.state_dir]
        if vt.vpushd_supports("--policy-dir"):
            args += ["--policy-dir", vt.POLICY_DIR]
        if watchdog_pid == "self":
            # WATCHDOG_PID must be vpushd's own pid: the shell's pid, kept through exec
            args = ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"'] + args
        elif watchdog_pid:
            env["WATCHDOG_PID"] = str(watchdog_pid)
        self.proc = vt._spawn(args, env=env, stdin=subprocess.DEVNULL,
                              stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)

    def stop(self):
        return vt._stop_process(self.proc)


def test_ready_status_stopping(session, emulator, notify):
    d = Vpushd(session, emulator, notify)
    try:
        msgs = notify.wait_for("READY")
        # nothing before READY=1, which comes with the first STATUS=, from vpushd itself
        assert len(msgs) == 1, msgs
        _, pid, fields = msgs[0]
        assert pid == d.proc.pid
        # the name is owned when READY=1 is sent, maybe before the Secret Service has answered
        assert fields["READY"] == "1"
        assert fields["STATUS"] in ("0 factors, starting, no push channel",
                                    "0 factors, no push channel"), fields
        assert session.client.name_has_owner(vt.BUS_NAME)
        if "starting" in fields["STATUS"]:
            notify.wait_for("STATUS", value="0 factors, no push channel")
        # no watchdog without WATCHDOG_USEC
        assert [m for m in notify.drain(0.5) if "WATCHDOG" in m[2]] == []

        f = vt.enroll(session.client, emulator)
        notify.wait_for("STATUS", value="1 factor, no push channel")
        vt.enroll(session.client, emulator)
        notify.wait_for("STATUS", value="2 factors, no push channel")
        session.client.factor_delete(f.path)
        notify.wait_for("STATUS", value="1 factor, no push channel")

        # a state change: the keyring locks and unlocks
        session.lock_keyring()
        try:
            notify.wait_for("STATUS", value="1 factor, keyring locked, no push channel")
        finally:
            session.unlock_keyring()
        notify.wait_for("STATUS", value="1 factor, no push channel")

        d.proc.send_signal(signal.SIGTERM)
        _, pid, fields = notify.wait_for("STOPPING")[-1]
        assert pid == d.proc.pid and fields["STOPPING"] == "1"
        assert d.proc.wait(10) == 0
    finally:
        d.stop()
        vt.wait_until(lambda: not session.client.name_has_owner(vt.BUS_NAME), 5)

    # started again with its factor: READY=1 only once that factor is loaded
    d = Vpushd(session, emulator, notify, state_dir=d.config.state_dir)
    try:
        _, _, fields = notify.wait_for("READY")[-1]
        assert fields["STATUS"] in ("1 factor, starting, no push channel",
                                    "1 factor, no push channel"), fields
    finally:
        d.stop()
        vt.wait_until(lambda: not session.client.name_has_owner(vt.BUS_NAME), 5)


def test_a_start_that_fails_is_ready_then_stopping(session, emulator, notify):
    """A vpushd that can't start takes its name to answer its callers: it tells systemd
    READY=1, then STOPPING=1, and gives the name back only once systemd has read both
    (BARRIER=1), so that a D-Bus activation asked for after that waits for the stop and
    starts another vpushd, rather than join this start and be left unanswered."""
    d = Vpushd(session, emulator, notify, config={"Verify": {"BaseUrl": "ftp://x"}})
    try:
        [(_, pid, ready)] = notify.wait_for("READY")
        assert pid == d.proc.pid and ready["READY"] == "1", ready
        assert ready["STATUS"] == ("could not start: its configuration or policy is wrong "
                                   "(exit status 78)"), ready
        [(_, pid, stopping)] = notify.wait_for("STOPPING")
        assert pid == d.proc.pid and stopping == {"STOPPING": "1"}, stopping
        # the barrier not yet read: the name is still vpushd's
        assert session.client.name_has_owner(vt.BUS_NAME)
        [(_, _, barrier)] = notify.wait_for("BARRIER")
        assert barrier == {"BARRIER": "1"}, barrier
        assert d.proc.wait(10) == 78
        assert not session.client.name_has_owner(vt.BUS_NAME)
    finally:
        d.stop()


def test_push_status(session, emulator, notify):
    """STATUS= follows PushState too, from READY=1 on: the stream of [Push] Url opens once
    the name is owned, with or without factors."""
    url = "%s/push/notify-%d/sse" % (emulator.url, time.monotonic_ns())
    d = Vpushd(session, emulator, notify, config={"Push": {"Url": url}})
    try:
        fields = notify.wait_for("READY")[-1][2]
        assert fields["STATUS"] in ("0 factors, starting, push connecting",
                                    "0 factors, push connecting"), fields
        notify.wait_for("STATUS", value="0 factors, push connected")
        vt.enroll(session.client, emulator)
        notify.wait_for("STATUS", value="1 factor, push connected")
        emulator.request("POST", "/_emulator/push/%s/drop" % url.split("/")[-2], {},
                         backend=False)
        # dropped: it says so, then connects again
        msgs = notify.wait_for("STATUS", value="1 factor, push connected")
        assert any(m[2].get("STATUS", "").startswith("1 factor, push ")
                   and m[2]["STATUS"] != "1 factor, push connected" for m in msgs), msgs
    finally:
        d.stop()
        vt.wait_until(lambda: not session.client.name_has_owner(vt.BUS_NAME), 5)


def test_watchdog(session, emulator, notify):
    """Pings at half of WATCHDOG_USEC (1 s here): every 0.5 s, not every 1 s (too late for
    systemd as soon as one is delayed) nor every 0.25 s or faster."""
    d = Vpushd(session, emulator, notify, watchdog_usec=1000000, watchdog_pid="self")
    try:
        notify.wait_for("READY")
        pings = [m for m in notify.drain(3.2) if m[2].get("WATCHDOG") == "1"]
        times = [round(m[0], 3) for m in pings]
        assert all(m[1] == d.proc.pid for m in pings)
        # 6 or 7 in 3.2 s. A slow vpushd sends fewer (a GLib timeout does not catch up);
        # only a late read of READY=1 can add one or two, sent before the count began. Two
        # pings a tick would make 12 or more. At least 3, for two gaps.
        assert 3 <= len(pings) <= 9, times
        # a slow machine makes gaps longer: half-way from 0.5 s to 1 s still tells the two
        # apart, and so does 0.3 s from 0.25 s
        gaps = sorted(b[0] - a[0] for a, b in zip(pings, pings[1:]))
        assert 0.3 <= gaps[len(gaps) // 2] <= 0.75, gaps
    finally:
        d.stop()
        vt.wait_until(lambda: not session.client.name_has_owner(vt.BUS_NAME), 5)


def test_no_watchdog_for_another_pid(session, emulator, notify):
    """WATCHDOG_PID names another process (systemd set it for a parent): no pings."""
    d = Vpushd(session, emulator, notify, watchdog_usec=200000, watchdog_pid=os.getpid())
    try:
        notify.wait_for("READY")
        assert [m for m in notify.drain(0.8) if "WATCHDOG" in m[2]] == []
    finally:
        d.stop()
        vt.wait_until(lambda: not session.client.name_has_owner(vt.BUS_NAME), 5)


def test_no_notify_socket(session, emulator):
    """Without NOTIFY_SOCKET vpushd runs as usual (the harness never sets it)."""
    d = vt.Daemon(session, emulator).start()
    try:
        with open("/proc/%d/environ" % d.proc.pid, "rb") as f:
            environ = f.read().split(b"\0")
        assert not [v for v in environ if v.startswith(b"NOTIFY_SOCKET=")], environ
        assert session.client.manager_property("State") == "ready"
    finally:
        assert d.stop() == 0
