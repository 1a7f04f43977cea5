"""A restart of vpushd keeps its factors (state dir + keyring) and can approve."""

import os
import signal
import subprocess

import vpushtest as vt


def test_restart_keeps_factors_and_approves(daemon, client, emulator):
    a = vt.enroll(client, emulator, friendly_name="Before restart A")
    b = vt.enroll(client, emulator, friendly_name="Before restart B")
    props_before = {f.path: client.factor_props(f.path) for f in (a, b)}
    assert daemon.stop() == 0, "vpushd did not exit 0 on SIGTERM"
    assert not client.name_has_owner(vt.BUS_NAME)
    daemon.start()
    assert client.factor_paths() == sorted([a.path, b.path])
    for path, props in props_before.items():
        assert client.factor_props(path) == props
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(b.identity, b.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]
    assert emulator.fetch_challenge(b.identity, ch["sid"])["status"] == "approved"


def test_pending_challenge_seen_after_restart(daemon, client, emulator):
    f = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    daemon.restart()
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    assert client.deny({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "denied"


def test_restart_with_keyring_restarted(daemon, client, emulator, session):
    """The keys persist in the keyring's own storage, not only in a running daemon."""
    f = vt.enroll(client, emulator)
    daemon.stop()
    session.restart_keyring(unlock=True)
    daemon.start()
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid,
                           "timeout-ms": vt.APPROVE_TIMEOUT_MS}) == ch["sid"]


def test_second_instance_says_the_name_is_taken(daemon, client, session):
    """A second vpushd, with or without --replace, leaves the running one alone and says
    why it exits: the name was never its own to lose."""
    for extra, hint in (((), "(another vpushd?)"),
                        (("--replace",), "--replace replaces only an instance started with "
                                         "--replace")):
        r = subprocess.run([vt.vpushd_path(), "--config", daemon.config_path,
                            "--state-dir", session.path("second-state")] + list(extra),
                           env=session.env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        assert "io.github.vpush is owned by another process on the session bus" in r.stderr
        assert hint in r.stderr, r.stderr
        assert "lost the name" not in r.stderr
        assert client.name_owner_pid(vt.BUS_NAME) == daemon.proc.pid


def test_second_instance_leaves_the_state_directory_alone(daemon, client, emulator, session):
    """A second vpushd of the same state directory (started by hand next to the unit, or
    on another session bus) exits before it touches the directory: it would take the
    running one's writes under way for a crash's leftovers, and finish or undo its
    enrollments under way. --replace too: a replacement can't be safe there."""
    f = vt.enroll(client, emulator)
    under_way = os.path.join(daemon.state_dir, "factors", f.sid + ".json.Ab12Cd")
    with open(under_way, "w") as fh:
        fh.write("{}")
    for extra in ((), ("--replace",)):
        r = subprocess.run([vt.vpushd_path(), "--config", daemon.config_path,
                            "--state-dir", daemon.state_dir] + list(extra),
                           env=session.env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        assert ("the state directory %s is in use by another vpushd (pid %d)"
                % (daemon.state_dir, daemon.proc.pid)) in r.stderr, r.stderr
        assert "left by a write" not in r.stderr, r.stderr
        assert os.path.exists(under_way)
        assert client.name_owner_pid(vt.BUS_NAME) == daemon.proc.pid
    os.unlink(under_way)
    assert client.factor_paths() == [f.path]


def test_stop_while_starting_is_a_stop(daemon, session):
    """SIGTERM as soon as vpushd says it is starting (its state not loaded yet) is a stop
    like any other, exit status 0, not a death by the signal (vpushd(8) EXIT STATUS)."""
    daemon.stop()
    for n in range(5):
        proc = subprocess.Popen([vt.vpushd_path(), "--config", daemon.config_path,
                                 "--state-dir", session.path("starting-%d" % n)],
                                env=session.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = b""
            while b"starting" not in line:
                line = proc.stderr.readline()
                assert line, "vpushd ended before it said it was starting"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


def test_unexpected_argument(session):
    r = subprocess.run([vt.vpushd_path(), "extra"], env=session.env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    # EX_USAGE, which the unit does not restart
    assert r.returncode == 64
    assert "vpushd: unexpected argument “extra”" in r.stderr, r.stderr
