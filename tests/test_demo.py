"""The demo's --hold (README "Two commands"): what it prints for a look at the live setup
works as printed, and each Enter makes another challenge that the printed call approves."""

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading

import vpushtest as vt

DEMO = os.path.join(vt.SOURCE_DIR, "tests", "integration", "demo.py")


class Demo:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, DEMO, "--hold"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.seen = []
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def line_with(self, text, timeout=120):
        """The next line holding text; fails at EOF or after timeout (a bound, not a wait)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("no line with %r:\n%s" % (text, "".join(self.seen)))
            assert line is not None, "the demo ended:\n" + "".join(self.seen)
            self.seen.append(line)
            if text in line:
                return line.strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.proc.stdin.close()


def run(argv, env):
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)


def test_hold_prints_what_works():
    demo = Demo()
    try:
        address = demo.line_with("export DBUS_SESSION_BUS_ADDRESS=")
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=shlex.split(address)[1].split("=", 1)[1])
        status = shlex.split(demo.line_with(" status"))
        assert status[0] == os.path.join(vt.BUILD_DIR, "cli", "vpushctl"), status
        r = run(status, env)
        assert r.returncode == 0 and "Factors:            1" in r.stdout, r
        assert "vpushd reads it again when it changes" in demo.line_with("The policy is ")
        demo.line_with("Press Enter for another challenge")

        for _ in range(2):
            demo.proc.stdin.write("\n")
            demo.proc.stdin.flush()
            created = demo.line_with("Backend: created challenge ")
            sid = created.split()[3]
            # with a D-Bus timeout past busctl's default 25 s, as README says
            call = shlex.split(demo.line_with("$ busctl --user --timeout=120 call"))[1:]
            r = run(call, env)
            assert r.returncode == 0 and r.stdout.strip() == 's "%s"' % sid, r
        assert demo.stop() == 0, "".join(demo.seen)
    finally:
        demo.stop()
