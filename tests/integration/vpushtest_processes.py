"""The processes the harness starts (their logs, start, stop, reaping) and its bounded waits."""

import os
import signal
import subprocess
import time

from gi.repository import GLib

PYTHON = "/usr/bin/python3"

# Logs of the processes started by this harness, newest last: (label, path). The pytest
# conftest appends the tail of the ones a failing test started to its TAP report.
LOGS = []


# Every process started here, so that a harness killed by a timeout (SIGTERM) or exiting
# without its finalizers still leaves nothing running: see kill_all() and install_reaper().
PROCS = []


def _spawn(*args, **kw):
    p = subprocess.Popen(*args, **kw)
    PROCS.append(p)
    return p


def kill_all():
    for p in PROCS:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass


def install_reaper():
    """On SIGTERM/SIGHUP and at exit, kill every process this harness started."""
    import atexit

    def on_signal(signum, frame):
        kill_all()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    atexit.register(kill_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


class HarnessError(Exception):
    pass


# Under valgrind (tests/run-valgrind) four slowed vpushds share two processors with their
# keyrings and emulators: every wait for something to happen may take three times as long
# before it gives up. A wait's timeout only says when to stop waiting; the bounds vpushd
# promises are held to by the native and ASan+UBSan runs of the same tests.
WAIT_SCALE = 1.0 if os.environ.get("VPUSH_VALGRIND", "") in ("", "0") else 3.0


def wait_until(predicate, timeout, interval=0.05, what="condition", pump=True):
    """Calls predicate() until it returns a true value (returned) or timeout seconds pass
    (HarnessError). Pumps the default GLib main context so D-Bus signals are delivered."""
    timeout *= WAIT_SCALE
    deadline = time.monotonic() + timeout
    ctx = GLib.MainContext.default()
    while True:
        if pump:
            while ctx.pending():
                ctx.iteration(False)
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def log_tail(path, lines=80):
    try:
        with open(path, "r", errors="replace") as f:
            data = f.read().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(data[-lines:])


def _stop_process(proc, timeout=10.0, sig=signal.SIGTERM):
    """SIGTERM (then SIGKILL after timeout) a Popen we started; returns its exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode
