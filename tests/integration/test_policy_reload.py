"""The policy read again while vpushd runs (vpush-policy(5), README "Policy"): when a policy
directory changes, is removed and made again, or is a symlink pointed elsewhere, and on
SIGHUP; in a thread, so that vpushd answers its calls meanwhile under the policy in force;
never a file still being written."""

import os
import shutil
import signal
import time

import pytest

import vpushtest as vt
from vpushtest_policy import (ERR_ACCESS_DENIED, MANAGE, assert_access_denied, assert_untouched,
                              challenge, last_audit, refused)

# preloaded into vpushd: holds the open() of a policy file (tests/open-gate-shim.c)
OPEN_GATE_SHIM = os.path.join(vt.BUILD_DIR, "tests", "integration", "open-gate.so")
RULE = "[Rule %s]\nActions=approve\nCallers=*\nRequireActiveSession=false\n"


def test_policy_change_without_restart(start_daemon, client, emulator):
    daemon = start_daemon()
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    assert_access_denied(refused(client.approve, {"transaction-id": txid}), "Actions=approve")

    with open(os.path.join(daemon.policy_dir, "60-approve.conf"), "w") as f:
        f.write("[Rule added]\nActions=approve\nCallers=*\nRequireActiveSession=false\n")

    def approved():
        try:
            return client.approve({"transaction-id": txid, "timeout-ms": 1000})
        except vt.DBusCallError as e:
            assert e.name == ERR_ACCESS_DENIED, e
            return None
    assert vt.wait_until(approved, 15, interval=0.2, what="the new rule") == ch["sid"]
    last_audit(daemon, VPUSH_DECISION="allowed", VPUSH_RULE="added", VPUSH_CHALLENGE=ch["sid"])

    # a broken change is not taken: the previous policy stays
    with open(os.path.join(daemon.policy_dir, "70-broken.conf"), "w") as f:
        f.write("[Rule broken]\nActions=approve\n")
    vt.wait_until(lambda: "policy not reloaded, the previous one stays in force" in
                  daemon.log_text(), 10, what="the broken policy to be refused", pump=False)
    assert "70-broken.conf: rule “broken”, key Callers" in daemon.log_text()
    txid2 = vt.new_transaction_id()
    ch2 = challenge(emulator, factor, txid2)
    assert client.approve({"transaction-id": txid2}) == ch2["sid"]


def test_sighup_reads_the_policy_again(start_daemon, client, emulator):
    """systemctl --user reload (the unit's ExecReload= sends SIGHUP) reads the policy
    again, for directories a monitor can't watch; vpushd goes on running."""
    daemon = start_daemon()
    factor = vt.enroll(client, emulator)
    os.kill(daemon.proc.pid, signal.SIGHUP)
    vt.wait_until(lambda: "policy reloaded on SIGHUP: 1 rule from " in daemon.log_text(), 10,
                  what="the policy to be read on SIGHUP", pump=False)
    assert daemon.running()
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    assert_access_denied(refused(client.approve, {"transaction-id": txid}), "Actions=approve")

    # a broken policy read on SIGHUP leaves the previous one, as a change does
    with open(os.path.join(daemon.policy_dir, "70-broken.conf"), "w") as f:
        f.write("[Rule broken]\nActions=approve\n")
    os.kill(daemon.proc.pid, signal.SIGHUP)
    vt.wait_until(lambda: "policy not reloaded on SIGHUP, the previous one stays in force: "
                  in daemon.log_text(), 10, what="the broken policy to be refused", pump=False)
    assert daemon.running()
    assert client.factor_props(factor.path)["FriendlyName"] == factor.friendly_name
    assert_untouched(emulator, factor, ch)


@pytest.fixture
def open_gate(session):
    """While this file exists, vpushd's open() of its 50-test.conf waits: a policy directory
    on a network file system whose server does not answer."""
    path = session.path("open-gate-%d" % os.getpid())
    yield path
    for p in (path, path + ".held"):
        if os.path.exists(p):
            os.unlink(p)


def start_gated(start_daemon, gate):
    if not os.path.exists(OPEN_GATE_SHIM):
        raise vt.HarnessError("the open shim is not built: %s" % OPEN_GATE_SHIM)
    return start_daemon(env={"LD_PRELOAD": OPEN_GATE_SHIM, "VPUSH_TEST_OPEN_GATE": gate,
                             "VPUSH_TEST_OPEN_GATE_ONLY": "/50-test.conf"})


def hold_policy_read(daemon, gate):
    """SIGHUP with the gate closed: the policy's read waits at the open() of 50-test.conf."""
    open(gate, "w").close()
    os.kill(daemon.proc.pid, signal.SIGHUP)
    vt.wait_until(lambda: os.path.exists(gate + ".held"), 15, what="the policy read to be held",
                  pump=False)


def test_policy_read_off_the_main_loop(start_daemon, client, emulator, session, open_gate):
    """The policy is read again in a thread: while a policy file can't be opened, vpushd
    answers its calls with the policy in force, which a whole new one replaces once read.
    A change and a SIGHUP while it is read make one read more after it."""
    daemon = start_gated(start_daemon, open_gate)
    factor = vt.enroll(client, emulator)
    txid = vt.new_transaction_id()
    ch = challenge(emulator, factor, txid)
    hold_policy_read(daemon, open_gate)

    # answered on vpushd's main loop, by the policy in force
    error = refused(client.approve, {"transaction-id": txid}, timeout_ms=int(5000 * vt.SLOWDOWN))
    assert_access_denied(error, "Actions=approve")

    staged = os.path.join(session.tmp, "60-approve.conf")
    with open(staged, "w") as f:
        f.write("[Rule added]\nActions=approve\nCallers=*\nRequireActiveSession=false\n")
    os.rename(staged, os.path.join(daemon.policy_dir, "60-approve.conf"))
    vt.wait_until(lambda: "policy to be read again once the read under way is done"
                  in daemon.log_text(), 15, what="the change to be seen", pump=False)
    os.kill(daemon.proc.pid, signal.SIGHUP)
    vt.wait_until(lambda: "policy to be read again on SIGHUP once the read under way is done"
                  in daemon.log_text(), 15, what="the SIGHUP to be seen", pump=False)
    assert "policy reloaded" not in daemon.log_text()

    os.unlink(open_gate)
    vt.wait_until(lambda: "policy reloaded on SIGHUP: 2 rules from " in daemon.log_text(), 15,
                  what="the policy to be read again", pump=False)
    log = daemon.log_text()
    # the held read (which listed the directory before the change), then one more
    assert log.count("policy reloaded") == 2, log
    assert (log.index("policy reloaded on SIGHUP: 1 rule from ")
            < log.index("policy reloaded on SIGHUP: 2 rules from ")), log
    assert client.approve({"transaction-id": txid}) == ch["sid"]


def test_stop_while_the_policy_is_read(start_daemon, client, emulator, open_gate):
    """vpushd stops at once while a policy read waits, and cleanly."""
    daemon = start_gated(start_daemon, open_gate)
    hold_policy_read(daemon, open_gate)
    assert daemon.stop() == 0


def test_file_removed_as_it_is_read(start_daemon, client, emulator, open_gate):
    """A policy file removed after the read listed its directory, before it opened the file,
    is taken as removed: the policy without it is put in force. Before, the read failed
    ("No such file or directory") and the previous policy stayed until the next read."""
    daemon = start_gated(start_daemon, open_gate)
    put(daemon.policy_dir, "60-added.conf", RULE % "added")
    vt.wait_until(lambda: any("2 rules from" in line for line in reloads(daemon)), 15,
                  what="the added file", pump=False)
    hold_policy_read(daemon, open_gate)
    os.unlink(os.path.join(daemon.policy_dir, "50-test.conf"))
    os.unlink(open_gate)
    vt.wait_until(lambda: any("reloaded on SIGHUP: 1 rule from " in line
                              and line.endswith("/60-added.conf") for line in reloads(daemon)),
                  15, what="the held read, without the removed file", pump=False)
    assert "not reloaded" not in daemon.log_text(), daemon.log_text()


def put(directory, name, text):
    """A policy file written beside its directory and renamed into it, as vpush-policy(5)
    says to."""
    staged = os.path.join(os.path.dirname(directory), ".staged-" + name)
    with open(staged, "w") as f:
        f.write(text)
    os.rename(staged, os.path.join(directory, name))


def reloads(daemon):
    return [line for line in daemon.log_text().splitlines() if "policy reloaded" in line]


def inotify_watches(pid):
    """The inodes pid's inotify instances watch (/proc/PID/fdinfo)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:inotify":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = f.read()
        except OSError:
            continue
        for line in info.splitlines():
            # "inotify wd:1 ino:2a0e sdev:800001 mask:…", in hex
            if line.startswith("inotify wd:"):
                inodes.add(int(line.split(" ino:")[1].split()[0], 16))
    return inodes


def test_half_written_file_waited_for_after_a_slow_read(start_daemon, client, emulator,
                                                       session, open_gate):
    """A change seen during a slow read is read after it, but, as any change's read, not
    while a policy file is still being written in place: a rule read half-written can be
    wider than the whole one (vpush-policy(5)). Before, the read after the slow one took
    the half-written file at once."""
    daemon = start_gated(start_daemon, open_gate)
    hold_policy_read(daemon, open_gate)
    put(daemon.policy_dir, "60-deny.conf", RULE.replace("approve", "deny") % "deny")
    vt.wait_until(lambda: "policy to be read again once the read under way is done"
                  in daemon.log_text(), 15, what="the change to be seen", pump=False)
    # being written: the rule so far, without the Factors= line that narrows it
    with open(os.path.join(daemon.policy_dir, "70-half.conf"), "w") as half:
        half.write(RULE % "half")
        half.flush()
        os.unlink(open_gate)
        vt.wait_until(lambda: reloads(daemon), 15, what="the held read", pump=False)
        # the read that followed at once, before
        time.sleep(0.3)
        if "still being written" in daemon.log_text():
            pytest.skip("this machine took over 2 s: vpushd read the file as it was, as "
                        "it does for a file written that long")
        assert len(reloads(daemon)) == 1, reloads(daemon)
        half.write("Factors=YF00000000000000000000000000000000\n")
    vt.wait_until(lambda: len(reloads(daemon)) == 2, 15, what="the file read once closed",
                  pump=False)
    assert "70-half.conf" in reloads(daemon)[1]
    assert "still being written" not in daemon.log_text()


def test_directory_made_again_is_watched_again(start_daemon, client, emulator):
    """A policy directory removed and made again (its inode may be the old one's) is
    watched again at once: a change there applies at once, not when GLib next looks for
    the old directory's path (every 4 s)."""
    daemon = start_daemon()
    shutil.rmtree(daemon.policy_dir)
    os.mkdir(daemon.policy_dir)
    put(daemon.policy_dir, "50-test.conf", MANAGE)
    put(daemon.policy_dir, "60-added.conf", RULE % "added")
    vt.wait_until(lambda: any("2 rules from" in line for line in reloads(daemon)[-1:]), 15,
                  what="the directory's new files", pump=False)
    assert os.stat(daemon.policy_dir).st_ino in inotify_watches(daemon.proc.pid)


def test_symlink_pointed_elsewhere_watches_its_new_target(session, emulator, client):
    """A policy directory that is a symlink, pointed at another directory, and SIGHUP: the
    new target is watched, the old one no longer. Before, the old target stayed watched
    (GLib watches a path once for all its monitors) and changes in the new one were
    never seen."""
    old, new, link = session.path("old-target"), session.path("new-target"), session.path("link")
    for target in (old, new):
        os.makedirs(target)
        put(target, "50-test.conf", MANAGE)
    os.symlink(old, link)
    daemon = vt.Daemon(session, emulator, extra_args=["--policy-dir", link])
    daemon.start()
    try:
        os.symlink(new, link + ".new")
        os.rename(link + ".new", link)
        put(new, "60-added.conf", RULE % "added")
        os.kill(daemon.proc.pid, signal.SIGHUP)
        vt.wait_until(lambda: any("2 rules from" in line for line in reloads(daemon)), 15,
                      what="the new target's policy", pump=False)
        watched = vt.wait_until(lambda: (lambda w: w if os.stat(new).st_ino in w else None)(
            inotify_watches(daemon.proc.pid)), 5, what="the new target watched", pump=False)
        assert os.stat(old).st_ino not in watched
        put(new, "70-more.conf", RULE % "more")
        vt.wait_until(lambda: any("3 rules from" in line for line in reloads(daemon)), 15,
                      what="a change in the new target", pump=False)
    finally:
        daemon.stop()
