"""Logging: to the journal when stderr is connected to journald, with a
MESSAGE_ID per event and the VPUSH_* fields; to stderr otherwise; debug output only with
--verbose or G_MESSAGES_DEBUG.

There is no journald here, so the journal test runs vpushd in a mount namespace where
/run/systemd is a tmpfs holding our own journal sockets: stderr is connected to
/run/systemd/journal/stdout (GLib asks getpeername() whether stderr is the journal), and
/run/systemd/journal/socket reads the native protocol. That needs root and unshare;
without, it is skipped."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import vpushtest as vt

vt.install_reaper()

# Run by unshare in a new mount namespace: argv = vpushd's argv as JSON, the stderr file.
# Forwards SIGTERM to vpushd; prints each journal record as a JSON line.
JOURNAL_HELPER = r"""
import json, os, select, signal, socket, struct, subprocess, sys
argv, stderr_path = json.loads(sys.argv[1]), sys.argv[2]
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run/systemd"], check=True)
os.makedirs("/run/systemd/journal")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/run/systemd/journal/socket")
# stdout and stderr connected to journald's stream socket, as systemd does it
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("/run/systemd/journal/stdout")
listener.listen(1)
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect("/run/systemd/journal/stdout")
stream, _ = listener.accept()
st = os.fstat(client.fileno())
env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=client, stderr=client)
client.close()
signal.signal(signal.SIGTERM, lambda *a: proc.send_signal(signal.SIGTERM))
err = open(stderr_path, "ab")

def parse(data):
    rec = {}
    while data:
        nl = data.index(b"\n")
        line, data = data[:nl], data[nl + 1:]
        if b"=" in line:
            k, v = line.split(b"=", 1)
        else:  # KEY\n<le64 size><value>\n
            k, (size,) = line, struct.unpack("<Q", data[:8])
            v, data = data[8:8 + size], data[8 + size + 1:]
        rec[k.decode()] = v.decode(errors="replace")
    return rec

while proc.poll() is None:
    ready, _, _ = select.select([sock, stream], [], [], 0.1)
    if sock in ready:
        print(json.dumps(parse(sock.recv(65536))), flush=True)
    if stream in ready:
        err.write(stream.recv(65536))
        err.flush()
while select.select([sock], [], [], 0.2)[0]:
    print(json.dumps(parse(sock.recv(65536))), flush=True)
print(json.dumps({"EXIT": proc.returncode}), flush=True)
"""


def message_ids():
    with open(os.path.join(vt.SOURCE_DIR, "daemon", "vpush-log.h")) as f:
        return dict(re.findall(r'#define VPUSH_MSGID_(\w+)\s+"([0-9a-f]{32})"', f.read()))


@pytest.fixture(scope="module")
def session():
    s = vt.Session(name="journal")
    yield s
    s.close()


@pytest.fixture(scope="module")
def emulator(session):
    e = vt.Emulator(session.tmp, env=session.env)
    yield e
    e.stop()


def vpushd_argv(daemon, *extra):
    args = [vt.vpushd_path(), "--config", daemon.config_path, "--state-dir", daemon.state_dir]
    if vt.vpushd_supports("--policy-dir"):
        args += ["--policy-dir", vt.POLICY_DIR]
    return args + list(extra)


def can_unshare():
    if os.geteuid() != 0 or not os.path.isdir("/run/systemd"):
        return False
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t",
                        "tmpfs", "tmpfs", "/run/systemd"], capture_output=True)
    return r.returncode == 0


class Journal:
    def __init__(self, session, argv):
        self.stderr = session.path("journal-stderr-%d.log" % time.monotonic_ns())
        self.proc = vt._spawn(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-c",
             JOURNAL_HELPER, json.dumps(argv), self.stderr],
            env=session.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self.records = []
        self.buffer = b""

    def read(self, timeout):
        """The next record, or None after timeout seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0, deadline - time.monotonic()))
            chunk = os.read(self.proc.stdout.fileno(), 65536) if r else b""
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        self.records.append(json.loads(line))
        return self.records[-1]

    def wait_for(self, timeout=15.0, **fields):
        deadline = time.monotonic() + timeout
        for rec in self.records:
            if all(rec.get(k) == v for k, v in fields.items()):
                return rec
        while time.monotonic() < deadline:
            rec = self.read(deadline - time.monotonic())
            if rec and all(rec.get(k) == v for k, v in fields.items()):
                return rec
        raise AssertionError("no journal record with %s; got %s\nstderr: %s" % (
            fields, self.records, self.proc.stderr.read().decode()
            if self.proc.poll() is not None else ""))

    def stop(self):
        """SIGTERM to vpushd; its exit code."""
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while not self.records or "EXIT" not in self.records[-1]:
            assert self.read(deadline - time.monotonic()) is not None, self.records
        self.proc.wait(10)
        return self.records[-1]["EXIT"]


@pytest.mark.skipif(not can_unshare(), reason="needs root and unshare for a private /run")
def test_journal_fields(session, emulator):
    ids = message_ids()
    daemon = vt.Daemon(session, emulator)
    journal = Journal(session, vpushd_argv(daemon, "--verbose"))
    try:
        started = journal.wait_for(MESSAGE_ID=ids["STARTED"])
        assert started["PRIORITY"] == "5" and started["GLIB_DOMAIN"] == "vpushd"
        assert started["MESSAGE"].startswith("vpushd 0.1.0 starting")
        journal.wait_for(MESSAGE_ID=ids["READY"])
        vt.wait_until(lambda: session.client.name_has_owner(vt.BUS_NAME), 10)

        f = vt.enroll(session.client, emulator)
        journal.wait_for(MESSAGE_ID=ids["ENROLLED"], VPUSH_FACTOR=f.sid)

        txid = vt.new_transaction_id()
        ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        assert session.client.approve({"transaction-id": txid}) == ch["sid"]
        rec = journal.wait_for(MESSAGE_ID=ids["APPROVED"], VPUSH_CHALLENGE=ch["sid"])
        assert rec["VPUSH_FACTOR"] == f.sid and rec["VPUSH_CALLER"]

        ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": "t"})
        session.client.deny({"challenge-sid": ch["sid"]})
        journal.wait_for(MESSAGE_ID=ids["DENIED"], VPUSH_CHALLENGE=ch["sid"])

        session.client.factor_delete(f.path)
        journal.wait_for(MESSAGE_ID=ids["DELETED"], VPUSH_FACTOR=f.sid)
        # --verbose: debug records too
        assert any(r.get("PRIORITY") == "7" for r in journal.records)
    finally:
        assert journal.stop() == 0
    journal.wait_for(MESSAGE_ID=ids["STOPPING"])
    # everything went to the journal, nothing to the stream
    with open(journal.stderr) as f:
        assert f.read() == ""
    assert len(set(ids.values())) == len(ids)


def run_briefly(session, emulator, extra_args=(), env=None):
    """vpushd with stderr to a file, until it is ready; returns what it wrote."""
    daemon = vt.Daemon(session, emulator)
    log = session.path("stderr-%d.log" % daemon.n)
    proc = vt._spawn(vpushd_argv(daemon, *extra_args), env=dict(session.env, **(env or {})),
                     stdin=subprocess.DEVNULL, stdout=open(log, "ab"), stderr=subprocess.STDOUT)

    def ready():
        with open(log) as f:
            return "state: ready" in f.read()
    try:
        # its own word, not the bus's: the name is owned before vpushd hears that it is;
        # "state: ready" comes after the keyring was found, which logs at debug level
        vt.wait_until(ready, 10 * vt.SLOWDOWN, what="vpushd to say it is ready")
    finally:
        assert vt._stop_process(proc) == 0
        vt.wait_until(lambda: not session.client.name_has_owner(vt.BUS_NAME), 5)
    with open(log) as f:
        return f.read()


def test_stderr_without_journal(session, emulator):
    text = run_briefly(session, emulator)
    assert "vpushd 0.1.0 starting" in text and "ready on the session bus" in text
    assert "stopping" in text
    assert "-DEBUG" not in text


def test_debug_output(session, emulator):
    assert "vpushd-DEBUG" in run_briefly(session, emulator, ["--verbose"])
    assert "vpushd-DEBUG" in run_briefly(session, emulator, env={"G_MESSAGES_DEBUG": "vpushd"})
