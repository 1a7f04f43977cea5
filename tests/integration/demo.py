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
import shutil
import subprocess
import sys
import time
import urllib.request

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


# for calls that reach the Verify API: busctl's default 25 s can end one whose work still
# goes through (README, "Inspecting it with busctl"), and the calls shown are copied
API_CALL_TIMEOUT = "--timeout=120"


def busctl(session, *args):
    argv = ["busctl", "--user"] + list(args)
    show_cmd(argv)
    r = subprocess.run(argv, env=session.env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=130)
    out = (r.stdout + r.stderr).strip()
    for line in out.splitlines():
        say("    " + line)
    if r.returncode != 0:
        raise SystemExit("busctl failed (exit %d)" % r.returncode)
    return r.stdout.strip()


def busctl_value(out):
    """`s "x"` / `o "/p"` → x."""
    return json.loads(out.split(" ", 1)[1])


# the emulator is on loopback: never reached through an http_proxy of the environment
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def publish(emulator, topic, hint):
    """What the app backend does after creating a challenge: a hint on the device's stream."""
    req = urllib.request.Request("%s/push/%s" % (emulator.url, topic),
                                 data=json.dumps(hint).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with _opener.open(req, timeout=10) as r:
        r.read()


def wait_for(what, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise vt.HarnessError("timed out waiting for " + what)


DEMO_POLICY = """\
# Only busctl (standing in for the shop's kiosk app) may answer challenges, and only by
# transaction id. A real rule would also say RequireActiveSession=true; this demo's
# private bus has no logind to ask.
[Rule demo-app]
Actions=approve;deny
Callers=exe:{busctl}
Factors=*
RequireActiveSession=false
Match=transaction-id
MaxChallengeAgeSeconds=120

[Rule demo-manage]
Actions=enroll;update;delete;list
Callers=*
RequireActiveSession=false
"""


def hold(session, emulator, identity, sid, topic, policy_file):
    """Keeps everything running for a look at it, making another challenge on each Enter."""
    vpushctl = os.path.join(vt.BUILD_DIR, "cli", "vpushctl")
    say()
    say("Everything is still running. In another shell:")
    say("  export DBUS_SESSION_BUS_ADDRESS='%s'" % session.address)
    say("  busctl --user tree %s" % vt.BUS_NAME)
    if os.access(vpushctl, os.X_OK):
        say("  %s status" % shlex.quote(vpushctl))
    say("The policy is %s: vpushd reads it again when it changes." % policy_file)
    say("Press Enter for another challenge, Ctrl-C to stop and clean up.")
    try:
        # stdin closed (a script, </dev/null): wait for the signal only
        while sys.stdin.readline():
            txid = vt.new_transaction_id("order")
            ch = emulator.create_challenge(identity, sid, message="Log in to Example Shop?",
                                           hidden={"transaction_id": txid})
            publish(emulator, topic, {"type": "verify_push_challenge", "factor_sid": sid,
                                      "challenge_sid": ch["sid"]})
            say("Backend: created challenge %s with transaction id %s. The app approves it with:"
                % (ch["sid"], txid))
            show_cmd(["busctl", "--user", API_CALL_TIMEOUT, "call", vt.BUS_NAME,
                      vt.MANAGER_PATH, vt.MANAGER_IFACE, "ApproveChallenge", "a{sv}", "1",
                      "transaction-id", "s", txid])
        signal.pause()
    except KeyboardInterrupt:
        pass


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
        topic = "demo-" + vt.unique_identity("t")[-8:]
        push_url = "%s/push/%s/sse" % (emulator.url, topic)
        say("  push channel (SSE):      " + push_url)
        policy_dir = session.path("policy.d")
        os.makedirs(policy_dir, exist_ok=True)
        busctl_exe = os.path.realpath(shutil.which("busctl"))
        with open(os.path.join(policy_dir, "demo.conf"), "w") as f:
            f.write(DEMO_POLICY.format(busctl=busctl_exe))
        say("  policy (%s/demo.conf):" % policy_dir)
        for line in DEMO_POLICY.format(busctl=busctl_exe).splitlines():
            say("    " + line)
        # polling every 10 minutes: the challenge below arrives by push
        daemon = vt.Daemon(session, emulator,
                           config={"Approval": {"DefaultTimeoutMs": "10000"},
                                   "Poll": {"IntervalSeconds": "600",
                                            "IntervalWithPushSeconds": "600"},
                                   "Push": {"Url": push_url}},
                           extra_args=["--policy-dir", policy_dir])
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
        out = busctl(session, API_CALL_TIMEOUT, "call", vt.BUS_NAME, vt.MANAGER_PATH,
                     vt.MANAGER_IFACE, "EnrollFactor", "a{sv}", "4",
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
        wait_for("the push channel", lambda: session.client.manager_property("PushState")
                 == "connected")
        busctl(session, "get-property", vt.BUS_NAME, vt.MANAGER_PATH, vt.MANAGER_IFACE,
               "PushState")
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
        t0 = time.monotonic()
        publish(emulator, topic, {"type": "verify_push_challenge", "factor_sid": sid,
                                  "challenge_sid": ch["sid"]})
        cpath = vt.CHALLENGES_PATH + "/" + ch["sid"]
        wait_for("the Challenge object", lambda: cpath in session.client.challenge_paths())
        ms = (time.monotonic() - t0) * 1000
        say('  -> challenge %s, status %s, message "%s"'
            % (ch["sid"], ch["status"], ch["details"]["message"]))
        say("  Backend: publishes a hint on the factor's push channel (POST /push/%s)" % topic)
        say("  -> %.1f ms later vpushd has fetched it and shows it on the bus (polling is "
            "every 10 minutes):" % ms)
        busctl(session, "get-property", vt.BUS_NAME, cpath, vt.CHALLENGE_IFACE, "Message")
        say("  The backend gives the transaction id %s to the app." % txid)

        step(4, "Another program (gdbus, not named in the policy) tries the same: refused")
        argv = ["gdbus", "call", "--session", "--dest", vt.BUS_NAME, "--object-path",
                vt.MANAGER_PATH, "--method", vt.MANAGER_IFACE + ".ApproveChallenge",
                "{'transaction-id': <'%s'>}" % txid]
        show_cmd(argv)
        r = subprocess.run(argv, env=session.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=40)
        for line in (r.stdout + r.stderr).strip().splitlines():
            say("    " + line)
        if r.returncode == 0 or "AccessDenied" not in r.stderr:
            raise SystemExit("the policy let an unnamed program approve")

        step(5, "App (in the foreground): approves silently by transaction id "
                "(Manager.ApproveChallenge)")
        out = busctl(session, API_CALL_TIMEOUT, "call", vt.BUS_NAME, vt.MANAGER_PATH,
                     vt.MANAGER_IFACE, "ApproveChallenge", "a{sv}", "1",
                     "transaction-id", "s", txid)
        answered = busctl_value(out)
        say("  -> answered challenge %s" % answered)

        step(6, "Backend: fetches the challenge (GET …/Challenges/%s)" % ch["sid"])
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
            hold(session, emulator, identity, sid, topic,
                 os.path.join(policy_dir, "demo.conf"))
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
