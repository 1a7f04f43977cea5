"""Bad input on the bus, many concurrent callers, and callers that leave mid-call.

- every method with empty and huge (1 MiB) strings, unknown and repeated keys, malformed
  sids and wrong types → org.freedesktop.DBus.Error.InvalidArgs naming the argument, with a
  short message, nothing sent to the Verify API, and vpushd still up (the cases already in
  test_invalid_args.py are not repeated here);
- 200 concurrent ApproveChallenge/DenyChallenge calls from several client connections,
  several for the same challenge → each challenge is answered exactly once at the emulator,
  the other calls get AlreadyResponded (or NotFound), Ambiguous where two challenges match;
- a client that leaves the bus while its call waits for a challenge → the wait is cancelled
  (the challenge arriving later is not answered for it), vpushd keeps no watch or state for
  it and keeps answering;
- a caller whose sandbox root has a FIFO for .flatpak-info → refused at once.

The caps on the calls callers may have under way, and on what vpushd holds for them, are
in test_limits.py.
"""

import os
import random
import time

import pytest
from gi.repository import GLib

import vpushtest as vt
from vpushtest import AsyncCalls, _connect, assert_healthy

V = GLib.Variant
HEX32 = "0123456789abcdef" * 2
MIB = 1024 * 1024
# the filler of every huge string: its absence from replies and the log is checked
HUGE = "Z" * MIB
S = lambda s: V("s", s)  # noqa: E731
# a string that a byte-wise cut at 40 (or 64) bytes would split inside a character
MULTIBYTE = "\u00e9" * 40
MESSAGE_MAX = 2048

ERR_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
ERR_PROPERTY_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"


def asv_pairs(pairs):
    """An a{sv} with the entries in this order, repeated keys kept (a dict can't)."""
    return V.new_array(GLib.VariantType.new("{sv}"),
                       [V.new_dict_entry(S(k), V.new_variant(v)) for k, v in pairs])


def _expect_error(fn, names=(), errors=(vt.ERR_INVALID_ARGS,), short=True):
    """Calls fn, which must fail with one of errors, the message naming one of names and
    (short) not repeating a huge argument. Assertions keep huge strings out of reports."""
    if isinstance(names, str):
        names = (names,)
    try:
        res = fn()
    except vt.DBusCallError as e:
        text = e.message
        assert e.name in errors, "expected %s, got %s: %.300s" % (" or ".join(errors), e.name,
                                                                  text)
        named = not names or any(n in text for n in names)
        assert named, "the message %.300r does not name %s" % (text, " or ".join(names))
        if short:
            length_ok = len(text) <= MESSAGE_MAX and "Z" * 64 not in text
            assert length_ok, "a %d-character error message: %.200r…" % (len(text), text)
        return e
    raise AssertionError("expected %s, got a reply %.300r" % (" or ".join(errors), res))


def _answers_sent(emulator, before):
    """Requests since index before that would change something at the Verify API."""
    return [r for r in emulator.requests()[before:]
            if not r["path"].startswith("/_emulator") and r["method"] != "GET"
            and r["auth"] in ("device", "access-token")]


def vpushd_match_rules(client):
    """How many match rules vpushd's connection has on the bus (dbus-daemon's statistics),
    or None where the bus has no Debug.Stats interface."""
    owner = client.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
                        V("(s)", (vt.BUS_NAME,)), bus_name="org.freedesktop.DBus")[0]
    try:
        stats = client.call("/org/freedesktop/DBus", "org.freedesktop.DBus.Debug.Stats",
                            "GetConnectionStats", V("(s)", (owner,)),
                            bus_name="org.freedesktop.DBus")[0]
    except vt.DBusCallError:
        return None
    return stats["MatchRules"]


def wait_match_rules(client, baseline, timeout=5):
    """Waits until vpushd has no more match rules than at baseline (it dropped whatever
    it subscribed to for its callers)."""
    if baseline is None:
        return
    vt.wait_until(lambda: vpushd_match_rules(client) <= baseline, timeout,
                  what="vpushd's match rules back to %d (now %s)"
                  % (baseline, vpushd_match_rules(client)))


# ---------------------------------------------------------------------------------------
# Bad input


def _enroll_base(emulator):
    return [("service-sid", S(emulator.service_sid)), ("identity", S("ident-12345678")),
            ("access-token", S("token-not-used")), ("friendly-name", S("desk"))]


def _set(pairs, key, value):
    """pairs with key's value replaced (or added at the end)."""
    out = [(k, v) for k, v in pairs if k != key]
    return out + [(key, value)]


# (case id, builder(emulator) → list of (key, Variant), names one of which the message
# must carry)
METADATA_TOO_LONG = "metadata is more than 1024 characters as JSON"

ENROLL_CASES = [
    ("service-sid-empty", lambda e: _set(_enroll_base(e), "service-sid", S("")), "service-sid"),
    ("service-sid-huge", lambda e: _set(_enroll_base(e), "service-sid", S("VA" + HUGE)),
     "service-sid"),
    ("service-sid-multibyte", lambda e: _set(_enroll_base(e), "service-sid",
                                             S("VAx" + MULTIBYTE)), "service-sid"),
    ("service-sid-newline", lambda e: _set(_enroll_base(e), "service-sid",
                                           S(e.service_sid + "\n")), "service-sid"),
    ("identity-empty", lambda e: _set(_enroll_base(e), "identity", S("")), "identity"),
    ("identity-huge", lambda e: _set(_enroll_base(e), "identity", S(HUGE)), "identity"),
    ("identity-slash", lambda e: _set(_enroll_base(e), "identity", S("a/../../b-1234")),
     "identity"),
    ("identity-variant", lambda e: _set(_enroll_base(e), "identity", V("v", S("x"))),
     "identity"),
    ("access-token-empty", lambda e: _set(_enroll_base(e), "access-token", S("")),
     "access-token"),
    ("access-token-huge", lambda e: _set(_enroll_base(e), "access-token", S(HUGE)),
     "access-token"),
    ("friendly-name-empty", lambda e: _set(_enroll_base(e), "friendly-name", S("")),
     "friendly-name"),
    ("friendly-name-huge", lambda e: _set(_enroll_base(e), "friendly-name", S(HUGE)),
     "friendly-name"),
    # refused before any JSON of it is made: a gigabyte of entries took gigabytes
    ("metadata-huge-value", lambda e: _set(_enroll_base(e), "metadata",
                                           V("a{ss}", {"os": HUGE})), METADATA_TOO_LONG),
    ("metadata-huge-key", lambda e: _set(_enroll_base(e), "metadata",
                                         V("a{ss}", {HUGE: "x"})), METADATA_TOO_LONG),
    ("metadata-many-keys", lambda e: _set(_enroll_base(e), "metadata",
                                          V("a{ss}", {"k%d" % i: "v" for i in range(20000)})),
     METADATA_TOO_LONG),
    ("push-url-huge", lambda e: _set(_enroll_base(e), "push-url",
                                     S("https://push.example/" + HUGE)), "push-url"),
    ("push-url-not-url", lambda e: _set(_enroll_base(e), "push-url", S("not a url")),
     "push-url"),
    ("push-url-scheme", lambda e: _set(_enroll_base(e), "push-url", S("file:///etc/passwd")),
     "push-url"),
    ("unknown-key-empty", lambda e: _enroll_base(e) + [("", S("x"))], "request"),
    ("unknown-key-huge", lambda e: _enroll_base(e) + [(HUGE, S("x"))], "request"),
    ("repeated-key", lambda e: _enroll_base(e) + [("identity", S("other-12345678"))],
     "identity"),
]

MATCH_CASES = [
    ("transaction-id-empty", [("transaction-id", S(""))], "transaction-id"),
    ("transaction-id-huge", [("transaction-id", S(HUGE))], "transaction-id"),
    ("transaction-id-1025", [("transaction-id", S("t" * 1025))], "transaction-id"),
    ("challenge-sid-empty", [("challenge-sid", S(""))], "challenge-sid"),
    ("challenge-sid-huge", [("challenge-sid", S("YC" + HUGE))], "challenge-sid"),
    ("challenge-sid-multibyte", [("challenge-sid", S("YCx" + MULTIBYTE))], "challenge-sid"),
    ("challenge-sid-space", [("challenge-sid", S("YC" + HEX32[:31] + " "))], "challenge-sid"),
    ("challenge-sid-newline", [("challenge-sid", S("YC" + HEX32 + "\n"))], "challenge-sid"),
    ("challenge-sid-33", [("challenge-sid", S("YC" + HEX32 + "0"))], "challenge-sid"),
    ("factor-sid-empty", [("transaction-id", S("t-1")), ("factor-sid", S(""))], "factor-sid"),
    ("factor-sid-huge", [("transaction-id", S("t-1")), ("factor-sid", S("YF" + HUGE))],
     "factor-sid"),
    ("factor-sid-multibyte", [("transaction-id", S("t-1")),
                              ("factor-sid", S("YFx" + MULTIBYTE))], "factor-sid"),
    ("timeout-ms-type-t", [("transaction-id", S("t-1")), ("timeout-ms", V("t", 1000))],
     "timeout-ms"),
    ("unknown-key-empty", [("transaction-id", S("t-1")), ("", S("x"))], "match"),
    ("unknown-key-huge", [("transaction-id", S("t-1")), (HUGE, S("x"))], "match"),
    ("repeated-transaction-id", [("transaction-id", S("t-1")), ("transaction-id", S("t-2"))],
     "transaction-id"),
    ("repeated-challenge-sid", [("challenge-sid", S("bogus")),
                                ("challenge-sid", S("YC" + HEX32))], "challenge-sid"),
    ("repeated-factor-sid", [("transaction-id", S("t-1")), ("factor-sid", S("YF" + HEX32)),
                             ("factor-sid", S("YF" + HEX32[::-1]))], "factor-sid"),
]

UPDATE_CASES = [
    ("friendly-name-empty", [("friendly-name", S(""))], "friendly-name"),
    ("friendly-name-huge", [("friendly-name", S(HUGE))], "friendly-name"),
    ("push-url-huge", [("push-url", S("https://push.example/" + HUGE))], "push-url"),
    ("push-url-not-url", [("push-url", S("::::"))], "push-url"),
    ("push-url-plain-http", [("push-url", S("http://push.example/t"))], "push-url"),
    ("unknown-key-huge", [(HUGE, S("x"))], "changes"),
    ("repeated-friendly-name", [("friendly-name", S("one")), ("friendly-name", S("two"))],
     "friendly-name"),
]

LIST_CASES = [
    ("status-empty", [("status", S(""))], "status"),
    ("status-huge", [("status", S(HUGE))], "status"),
    ("order-empty", [("order", S(""))], "order"),
    ("order-huge", [("order", S(HUGE))], "order"),
    ("page-size-max", [("page-size", V("u", 4294967295))], "page-size"),
    ("page-token-huge", [("page-token", S(HUGE))], "page-token"),
    ("page-token-1025", [("page-token", S("p" * 1025))], "page-token"),
    ("unknown-key-huge", [(HUGE, S("x"))], "options"),
    ("repeated-status", [("status", S("pending")), ("status", S("approved"))], "status"),
]

# Wrong signatures not in test_invalid_args.py, and the Properties and ObjectManager
# methods every object has.
SIGNATURE_CASES = [
    ("ApproveChallenge-two-args", vt.MANAGER_PATH, vt.MANAGER_IFACE, "ApproveChallenge",
     V("(a{sv}a{sv})", ({}, {}))),
    ("DenyChallenge-a{ss}", vt.MANAGER_PATH, vt.MANAGER_IFACE, "DenyChallenge",
     V("(a{ss})", ({"transaction-id": "t-1"},))),
    ("EnrollFactor-extra-arg", vt.MANAGER_PATH, vt.MANAGER_IFACE, "EnrollFactor",
     V("(a{sv}s)", ({}, "x"))),
    ("Update-none", None, vt.FACTOR_IFACE, "Update", None),
    ("ListChallenges-a{ss}", None, vt.FACTOR_IFACE, "ListChallenges",
     V("(a{ss})", ({"status": "pending"},))),
    ("Verify-a{sv}", None, vt.FACTOR_IFACE, "Verify", V("(a{sv})", ({},))),
    ("GetManagedObjects-s", vt.MANAGER_PATH, vt.OM_IFACE, "GetManagedObjects",
     V("(s)", ("x",))),
    # GDBus answers a Properties method with the wrong signature with UnknownMethod
    ("Get-s", vt.MANAGER_PATH, vt.PROPS_IFACE, "Get", V("(s)", (vt.MANAGER_IFACE,))),
    ("GetAll-u", None, vt.PROPS_IFACE, "GetAll", V("(u)", (1,))),
    ("Set-ss", None, vt.PROPS_IFACE, "Set", V("(ss)", (vt.FACTOR_IFACE, "FriendlyName"))),
]


class TestBadInput:
    """One vpushd (with one factor) for all the bad-input cases, stopped at the end."""

    @pytest.fixture(scope="class")
    def env(self, session, emulator):
        emulator.set_clock(0)
        d = vt.Daemon(session, emulator)
        d.start()
        f = vt.enroll(session.client, emulator)
        yield {"daemon": d, "factor": f, "emulator": emulator}
        d.stop()

    @pytest.mark.parametrize("case,build,name", ENROLL_CASES, ids=[c[0] for c in ENROLL_CASES])
    def test_enroll_bad_input(self, env, client, case, build, name):
        em = env["emulator"]
        before = len(em.requests())
        _expect_error(lambda: client.enroll(asv_pairs(build(em))), name)
        assert _answers_sent(em, before) == []
        assert client.factor_paths() == [env["factor"].path]
        assert env["daemon"].running()

    def test_enroll_push_url_credentials_not_echoed(self, env, client):
        """A push URL with a password is refused without the password in the reply."""
        em = env["emulator"]
        pairs = _set(_enroll_base(em), "push-url", S("https://user:s3cr3t-pw@push.example/t"))
        e = _expect_error(lambda: client.enroll(asv_pairs(pairs)), "push-url")
        assert "s3cr3t-pw" not in e.message, e.message
        leaked = "s3cr3t-pw" in env["daemon"].log_text()
        assert not leaked, "the password is in vpushd's log"

    @pytest.mark.parametrize("url", ["http://push.example/s3cr3t-topic",
                                     "ftp://push.example/s3cr3t-topic", "https://[::1/s3cr3t-topic"])
    def test_refused_push_url_not_echoed(self, env, client, url):
        """A push URL's topic is as good as a password (README): one refused is not
        quoted in the reply, which names the host at most, by enrollment or by Update."""
        em = env["emulator"]
        e = _expect_error(
            lambda: client.enroll(asv_pairs(_set(_enroll_base(em), "push-url", S(url)))),
            "push-url")
        assert "s3cr3t-topic" not in e.message, e.message
        e = _expect_error(lambda: client.factor_update(env["factor"].path,
                                                       asv_pairs([("push-url", S(url))])),
                          "push-url")
        assert "s3cr3t-topic" not in e.message, e.message
        assert "s3cr3t-topic" not in env["daemon"].log_text()

    @pytest.mark.parametrize("method", ["approve", "deny"])
    @pytest.mark.parametrize("case,pairs,name", MATCH_CASES, ids=[c[0] for c in MATCH_CASES])
    def test_match_bad_input(self, env, client, method, case, pairs, name):
        em = env["emulator"]
        before = len(em.requests())
        _expect_error(lambda: getattr(client, method)(asv_pairs(pairs)), name)
        assert _answers_sent(em, before) == []
        assert env["daemon"].running()

    @pytest.mark.parametrize("case,pairs,name", UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES])
    def test_update_bad_input(self, env, client, case, pairs, name):
        f = env["factor"]
        em = env["emulator"]
        before = len(em.requests())
        _expect_error(lambda: client.factor_update(f.path, asv_pairs(pairs)), name)
        assert _answers_sent(em, before) == []
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == f.friendly_name

    @pytest.mark.parametrize("case,pairs,name", LIST_CASES, ids=[c[0] for c in LIST_CASES])
    def test_list_challenges_bad_input(self, env, client, case, pairs, name):
        f = env["factor"]
        _expect_error(lambda: client.list_challenges(f.path, asv_pairs(pairs)), name)
        assert env["daemon"].running()

    @pytest.mark.parametrize("case,path,iface,method,args", SIGNATURE_CASES,
                             ids=[c[0] for c in SIGNATURE_CASES])
    def test_wrong_signature_more(self, env, client, case, path, iface, method, args):
        path = path or env["factor"].path
        errors = (vt.ERR_INVALID_ARGS,)
        if iface == vt.PROPS_IFACE:
            errors += (ERR_UNKNOWN_METHOD,)
        _expect_error(lambda: client.call(path, iface, method, args), errors=errors)
        assert client.factor_paths() == [env["factor"].path]

    def test_properties_bad_input(self, env, client):
        f = env["factor"]
        # unknown property, read-only properties, a huge property name
        _expect_error(lambda: client.get_property(vt.MANAGER_PATH, vt.MANAGER_IFACE, "Bogus"),
                      "Bogus")
        # GDBus itself repeats the name in its message
        _expect_error(lambda: client.get_property(vt.MANAGER_PATH, vt.MANAGER_IFACE, HUGE),
                      short=False)
        for path, iface, name, value in ((vt.MANAGER_PATH, vt.MANAGER_IFACE, "State", S("ready")),
                                         (f.path, vt.FACTOR_IFACE, "FriendlyName", S("mine")),
                                         (f.path, vt.FACTOR_IFACE, "Status", S("verified"))):
            _expect_error(lambda: client.call(path, vt.PROPS_IFACE, "Set",
                                              V("(ssv)", (iface, name, value))),
                          name, errors=(vt.ERR_INVALID_ARGS, ERR_PROPERTY_READ_ONLY))
        assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == f.friendly_name

    @pytest.mark.parametrize("sid", ["YF" + HEX32, "YF" + "0" * 32, "not_a_sid",
                                     "YF" + "z" * 500], ids=["hex", "zeros", "not-a-sid", "long"])
    def test_unknown_factor_object(self, env, client, sid):
        """A factor path that names no factor (well-formed sid or not): NotFound naming it,
        cut short when it is long."""
        path = vt.FACTORS_PATH + "/" + sid
        for method, args in (("Verify", None), ("Delete", None),
                             ("Update", V("(a{sv})", ({},))),
                             ("ListChallenges", V("(a{sv})", ({},)))):
            _expect_error(lambda: client.call(path, vt.FACTOR_IFACE, method, args), sid[:64],
                          errors=(vt.ERR_NOT_FOUND,))
        assert client.factor_paths() == [env["factor"].path]

    def test_still_healthy_after_bad_input(self, env, client):
        """Last of the bad-input tests: vpushd is up, answers, and its log holds none of the
        huge arguments."""
        d, em, f = env["daemon"], env["emulator"], env["factor"]
        assert_healthy(d, client)
        txid = vt.new_transaction_id()
        ch = em.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
        assert client.approve({"transaction-id": txid}) == ch["sid"]
        assert em.answer_posts(ch["sid"]) == 1
        log = d.log_text()
        echoed = [line[:200] for line in log.splitlines() if "Z" * 1024 in line]
        assert echoed == [], "the log repeats a huge argument"
        bad = [line for line in log.splitlines() if "CRITICAL" in line or "WARNING" in line]
        assert bad == []


# ---------------------------------------------------------------------------------------
# Concurrency


def test_200_concurrent_answers(daemon, client, emulator, session):
    rng = random.Random(6)
    f1 = vt.enroll(client, emulator)
    f2 = vt.enroll(client, emulator)
    factors = [f1, f2]
    conns = [_connect(session.address) for _ in range(8)]
    try:
        # challenges vpushd knows of before the calls, and a pair sharing a transaction id
        targets = []
        for i in range(12):
            f = factors[i % 2]
            txid = vt.new_transaction_id("conc")
            ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
            targets.append({"sid": ch["sid"], "txid": txid, "factor": f})
        dup_txid = vt.new_transaction_id("dup")
        dups = [emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": dup_txid})
                for f in factors]
        client.refresh()
        base_rules = vpushd_match_rules(client)

        # challenges created after the calls were sent: the calls wait for them
        late = []
        for i in range(4):
            late.append({"sid": None, "txid": vt.new_transaction_id("late"),
                         "factor": factors[i % 2]})

        calls = []  # (key, method, match)
        n = 0
        for t in targets + late:
            for j in range(10):
                method = "DenyChallenge" if (j % 5 == 4 and n % 2 == 0) else "ApproveChallenge"
                match = {"transaction-id": t["txid"]} if (j % 2 == 0 or t["sid"] is None) \
                    else {"challenge-sid": t["sid"]}
                if j % 3 == 0:
                    match["factor-sid"] = t["factor"].sid
                if t["sid"] is None:
                    match["timeout-ms"] = 15000
                calls.append((("target", t["txid"], j), method, match))
            n += 1
        for j in range(20):
            calls.append((("dup", j), "ApproveChallenge" if j % 4 else "DenyChallenge",
                          {"transaction-id": dup_txid}))
        for j in range(10):
            calls.append((("missing-txid", j), "ApproveChallenge",
                          {"transaction-id": vt.new_transaction_id("none"), "timeout-ms": 300}))
            calls.append((("missing-sid", j), "DenyChallenge",
                          {"challenge-sid": "YC%032x" % rng.getrandbits(128), "timeout-ms": 300}))
        assert len(calls) == 200
        rng.shuffle(calls)

        ac = AsyncCalls()
        for i, (key, method, match) in enumerate(calls):
            ac.call(conns[i % len(conns)], key, method, match)
        for c in conns:
            c.flush_sync(None)
        # let the waiting calls start waiting, then create the late challenges
        time.sleep(0.3)
        for t in late:
            ch = emulator.create_challenge(t["factor"].identity, t["factor"].sid,
                                           hidden={"transaction_id": t["txid"]})
            t["sid"] = ch["sid"]
        # every call ends: the longest timeout-ms is 15 s
        ac.wait(30 * vt.SLOWDOWN)

        state = emulator.state()["challenges"]
        problems = []
        for t in targets + late:
            mine = {k: v for k, v in ac.results.items() if k[0] == "target" and k[1] == t["txid"]}
            oks = [(k, v) for k, v in mine.items() if v[0] == "ok"]
            others = [v for v in mine.values() if v[0] != "ok"]
            st = state[t["sid"]]
            if len(oks) != 1:
                problems.append("%s: %d successful calls: %s" % (t["sid"], len(oks), oks))
            elif oks[0][1][1] != t["sid"]:
                problems.append("%s: the call answered %s" % (t["sid"], oks[0][1][1]))
            if st["answer_posts"] != 1:
                problems.append("%s: %d answers posted" % (t["sid"], st["answer_posts"]))
            bad = [v for v in others if v[1] not in (vt.ERR_ALREADY_RESPONDED, vt.ERR_NOT_FOUND)]
            if bad:
                problems.append("%s: unexpected errors %s" % (t["sid"], bad))
            if len(oks) == 1:
                ok_key = oks[0][0]
                method = [m for k, m, _ in calls if k == ok_key][0]
                want = "approved" if method == "ApproveChallenge" else "denied"
                if st["status"] != want:
                    problems.append("%s: %s succeeded but the challenge is %s"
                                    % (t["sid"], method, st["status"]))
        for key, res in ac.results.items():
            if key[0] == "dup" and res[:2] != ("error", vt.ERR_AMBIGUOUS):
                problems.append("%s: %s" % (key, res))
            if key[0].startswith("missing") and res[:2] != ("error", vt.ERR_NOT_FOUND):
                problems.append("%s: %s" % (key, res))
        for d in dups:
            if state[d["sid"]]["answer_posts"] != 0 or state[d["sid"]]["status"] != "pending":
                problems.append("ambiguous %s was answered: %s" % (d["sid"], state[d["sid"]]))
        assert problems == [], "\n".join(problems)

        # nothing kept for the 200 calls, and still answering: the ambiguous pair, one by
        # one by sid
        wait_match_rules(client, base_rules)
        assert_healthy(daemon, client)
        for d in dups:
            assert client.approve({"challenge-sid": d["sid"]}) == d["sid"]
            assert emulator.answer_posts(d["sid"]) == 1
        answered = {t["sid"] for t in targets + late} | {d["sid"] for d in dups}
        assert not answered & {p.rsplit("/", 1)[1] for p in client.challenge_paths()}
    finally:
        for c in conns:
            try:
                c.close_sync(None)
            except GLib.Error:
                pass


# ---------------------------------------------------------------------------------------
# Clients that leave mid-call


def let_in(daemon):
    """How many approvals and denials the policy has let in (before their challenge is
    known)."""
    log = daemon.log_text()
    return log.count("approve allowed for ") + log.count("deny allowed for ")


def test_client_leaves_while_waiting(daemon, client, emulator, session, factor):
    """Callers wait for a transaction id that has no challenge yet and leave the bus: their
    waits end, and the challenge arriving afterwards is not answered for them."""
    base_rules = vpushd_match_rules(client)
    txid = vt.new_transaction_id("gone")
    conns = [_connect(session.address) for _ in range(4)]
    before = let_in(daemon)
    ac = AsyncCalls()
    ac.call(conns[0], "a0", "ApproveChallenge", {"transaction-id": txid, "timeout-ms": 20000})
    ac.call(conns[1], "a1", "ApproveChallenge",
            {"transaction-id": txid, "factor-sid": factor.sid, "timeout-ms": 20000})
    ac.call(conns[2], "d2", "DenyChallenge", {"transaction-id": txid, "timeout-ms": 20000})
    ac.call(conns[3], "a3", "ApproveChallenge",
            {"challenge-sid": "YC" + "e" * 32, "timeout-ms": 20000})
    for c in conns:
        c.flush_sync(None)
    gone = [c.get_unique_name() for c in conns]

    # the policy let each call in, so vpushd knows its caller: one that leaves before that
    # is refused as unidentified instead, however long the test waited
    vt.wait_until(lambda: let_in(daemon) >= before + len(conns), 10 * vt.SLOWDOWN,
                  what="the policy to let the calls in", pump=False)
    client.pump()
    assert ac.results == {}, "a call ended early: %s" % ac.results
    for c in conns:
        c.close_sync(None)

    # each waiting call ends, and says why in the log
    def ended():
        log = daemon.log_text()
        return all("the caller %s left the bus" % name in log for name in gone)
    vt.wait_until(ended, 5, what="vpushd to end the calls of %s" % ", ".join(gone))

    # vpushd drops whatever it kept for those callers (e.g. a watch on their names)
    wait_match_rules(client, base_rules)

    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    client.refresh()
    assert vt.challenge_path(ch["sid"]) in client.challenge_paths()
    time.sleep(1.0)
    client.pump()
    assert emulator.answer_posts(ch["sid"]) == 0, \
        "a call of a client that left answered the challenge"
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "pending"

    # nothing of it leaks into the next call
    assert_healthy(daemon, client)
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    wait_match_rules(client, base_rules)


def test_client_leaves_right_after_calling(daemon, client, emulator, session, factor):
    """A caller sends an answer for an existing challenge and leaves at once: the challenge
    is answered at most once, and the next caller gets a consistent answer."""
    txid = vt.new_transaction_id("hasty")
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    client.refresh()
    gone = []
    for i in range(5):
        conn = _connect(session.address)
        gone.append(conn.get_unique_name())
        AsyncCalls().call(conn, "x", "ApproveChallenge", {"transaction-id": txid})
        conn.flush_sync(None)
        conn.close_sync(None)

    # vpushd is done with each: it answered, refused, or gave up (its log says which)
    def ended(name):
        return any((name + ")" in line or "caller %s:" % name in line)
                   and ("is approved" in line or "not done" in line or "refused" in line)
                   for line in daemon.log_text().splitlines())
    vt.wait_until(lambda: all(ended(name) for name in gone), 10,
                  what="vpushd to be done with the calls of %s" % ", ".join(gone))
    posts = emulator.answer_posts(ch["sid"])
    assert posts <= 1
    if posts == 1:
        with pytest.raises(vt.DBusCallError) as e:
            client.approve({"transaction-id": txid})
        assert e.value.name == vt.ERR_ALREADY_RESPONDED
    else:
        assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    assert_healthy(daemon, client)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs CAP_SYS_ADMIN and CAP_SYS_CHROOT")
def test_sandbox_root_with_a_fifo(daemon, client, session):
    """A caller whose root (another mount namespace's) has a FIFO for .flatpak-info: vpushd
    refuses it at once instead of waiting for a writer that never comes, a worker thread
    and the call held for good."""
    root = session.path("fifo-root")
    os.makedirs(root, exist_ok=True)
    fifo = os.path.join(root, ".flatpak-info")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    timeout_ms = int(30000 * vt.SLOWDOWN)
    try:
        out = vt.call_from_root(session, root, vt.MANAGER_PATH, vt.MANAGER_IFACE, "Refresh",
                                timeout_ms=timeout_ms)
    finally:
        # a vpushd that opened the FIFO is let go
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(fifo) else -1
        if fd >= 0:
            os.close(fd)
    assert out == "org.freedesktop.DBus.Error.AccessDenied", out
    assert "root/.flatpak-info: not a regular file" in daemon.log_text()
    assert_healthy(daemon, client)


def _has_reader(fifo):
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return True
    except OSError:
        return False
