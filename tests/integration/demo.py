"""The vpush demo (run by tests/run-demo): the whole flow on loopback, told step by step.

Everything runs in a throwaway session: a temporary HOME, a private D-Bus session bus and a
fresh, unlocked gnome-keyring on it, the Verify emulator on 127.0.0.1, and vpushd. The
user's own bus, keyring and home are never touched. The app's D-Bus calls are made with
busctl, printed first, so they can be copied.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys

import vpushtest as vt

BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def say(text=""):
    print(text, flush=True)


def step(n, text):
    say()
    say("%s[%s] %s%s" % (BOLD, n, text, RESET))


def show_cmd(argv):
    say("  $ " + " ".join(shlex.quote(a) for a in argv))


def busctl(session, *args):
    argv = ["busctl", "--user"] + list(args)
    show_cmd(argv)
    r = subprocess.run(argv, env=session.env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=40)
    out = (r.stdout + r.stderr).strip()
    for line in out.splitlines():
        say("    " + line)
    if r.returncode != 0:
        raise SystemExit("busctl failed (exit %d)" % r.returncode)
    return r.stdout.strip()


def busctl_value(out):
    """`s "x"` / `o "/p"` → x."""
    return json.loads(out.split(" ", 1)[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hold", action="store_true",
                    help="keep everything running at the end until Ctrl-C, to inspect it")
    args = ap.parse_args()

    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        say("Note: your own session bus is not used; the demo runs on a private one with a "
            "fresh keyring, so nothing is left in your login keyring.")

    session = emulator = daemon = None
    ok = False

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    vt.install_reaper()
    signal.signal(signal.SIGTERM, on_signal)
    try:
        step(0, "Setting up: private session bus, unlocked gnome-keyring, Verify emulator, vpushd")
        session = vt.Session(name="demo")
        say("  temporary HOME:          " + session.home)
        say("  DBUS_SESSION_BUS_ADDRESS=" + session.address)
        say("  Secret Service:          gnome-keyring-daemon (pid %d), collection %s"
            % (session.keyring.pid, session.default_collection()))
        emulator = vt.Emulator(session.tmp, env=session.env)
        say("  Verify emulator:         " + emulator.base_url)
        daemon = vt.Daemon(session, emulator, config={"Approval": {"DefaultTimeoutMs": "10000"}})
        say("  vpushd config (%s):" % daemon.config_path)
        with open(daemon.config_path) as f:
            for line in f.read().strip().splitlines():
                say("    " + line)
        daemon.start()
        say("  vpushd (pid %d) owns %s, State=%s"
            % (daemon.proc.pid, vt.BUS_NAME, session.client.manager_property("State")))

        identity = vt.unique_identity("alice")
        step(1, "Backend: asks Verify for an enrollment access token "
                "(POST /v2/Services/%s/AccessTokens, Identity=%s, FactorType=push)"
             % (emulator.service_sid, identity))
        tok = emulator.access_token(identity, friendly_name="Alice's desktop")
        say("  -> access token %s… (ttl %s s), handed to the desktop app"
            % (tok["token"][:24], tok["ttl"]))

        step(2, "App: enrolls this desktop as a push factor over D-Bus (Manager.EnrollFactor)")
        out = busctl(session, "call", vt.BUS_NAME, vt.MANAGER_PATH, vt.MANAGER_IFACE,
                     "EnrollFactor", "a{sv}", "4",
                     "service-sid", "s", emulator.service_sid,
                     "identity", "s", identity,
                     "access-token", "s", tok["token"],
                     "friendly-name", "s", "Alice's desktop")
        fpath = busctl_value(out)
        sid = busctl_value(busctl(session, "get-property", vt.BUS_NAME, fpath, vt.FACTOR_IFACE,
                                  "Sid"))
        status = busctl_value(busctl(session, "get-property", vt.BUS_NAME, fpath,
                                     vt.FACTOR_IFACE, "Status"))
        say("  -> factor %s, Sid=%s, Status=%s" % (fpath, sid, status))
        if status != "verified":
            raise SystemExit("the factor is not verified")
        say("  The private key is in the Secret Service (secret not shown):")
        show_cmd(["secret-tool", "search", "--all", "factor-sid", sid])
        for line in session.secret_tool_search("factor-sid", sid).splitlines():
            say("    " + line)

        txid = vt.new_transaction_id("order")
        step(3, "Backend: creates a challenge for the factor with HiddenDetails "
                '{"transaction_id": "%s"}' % txid)
        ch = emulator.create_challenge(identity, sid, message="Log in to Example Shop?",
                                       fields=[("Amount", "12.50 EUR")],
                                       hidden={"transaction_id": txid})
        say('  -> challenge %s, status %s, message "%s"'
            % (ch["sid"], ch["status"], ch["details"]["message"]))
        say("  The backend gives the transaction id %s to the app." % txid)

        step(4, "App (in the foreground): approves silently by transaction id "
                "(Manager.ApproveChallenge)")
        out = busctl(session, "--timeout=30", "call", vt.BUS_NAME, vt.MANAGER_PATH,
                     vt.MANAGER_IFACE, "ApproveChallenge", "a{sv}", "1",
                     "transaction-id", "s", txid)
        answered = busctl_value(out)
        say("  -> answered challenge %s" % answered)

        step(5, "Backend: fetches the challenge (GET …/Challenges/%s)" % ch["sid"])
        final = emulator.fetch_challenge(identity, ch["sid"])
        say("  -> status: %s (responded %s)" % (final["status"], final.get("date_responded")))
        say()
        if final["status"] != "approved" or answered != ch["sid"]:
            say("DEMO FAILED: the challenge is %s" % final["status"])
            return 1
        ok = True
        say("%sDemo OK: the challenge was approved silently, matched by its transaction id.%s"
            % (BOLD, RESET))
        if args.hold:
            say()
            say("Everything is still running. In another shell:")
            say("  export DBUS_SESSION_BUS_ADDRESS='%s'" % session.address)
            say("  busctl --user tree %s" % vt.BUS_NAME)
            say("Press Ctrl-C to stop and clean up.")
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
        return 0
    except vt.HarnessError as e:
        say("DEMO FAILED: %s" % e)
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if daemon is not None:
            rc = daemon.stop()
            if (rc not in (0, None) or not ok) and daemon.log:
                say("vpushd exited with %s; the end of its log:\n%s"
                    % (rc, vt.log_tail(daemon.log, 40)))
        if emulator is not None:
            emulator.stop()
        if session is not None:
            session.close()


if __name__ == "__main__":
    sys.exit(main())
