"""Every bad argument of every method → org.freedesktop.DBus.Error.InvalidArgs, whose
message names the argument; and nothing reaches the Verify API."""

import pytest
from gi.repository import GLib

import vpushtest as vt

V = GLib.Variant
HEX32 = "0123456789abcdef" * 2
S = lambda s: V("s", s)  # noqa: E731


@pytest.fixture(scope="module")
def env(session, emulator):
    d = vt.Daemon(session, emulator)
    d.start()
    f = vt.enroll(session.client, emulator)
    yield {"daemon": d, "factor": f, "emulator": emulator}
    d.stop()


def _enroll_base(emulator):
    return {"service-sid": S(emulator.service_sid), "identity": S("ident-12345678"),
            "access-token": S("token-not-used"), "friendly-name": S("desk")}


def _without(d, key):
    d = dict(d)
    del d[key]
    return d


def _with(d, **kw):
    d = dict(d)
    for k, v in kw.items():
        d[k.replace("_", "-")] = v
    return d


# (case id, request builder(emulator) → dict of str → Variant, name the message must carry)
ENROLL_CASES = [
    ("missing-service-sid", lambda e: _without(_enroll_base(e), "service-sid"), "service-sid"),
    ("missing-identity", lambda e: _without(_enroll_base(e), "identity"), "identity"),
    ("missing-access-token", lambda e: _without(_enroll_base(e), "access-token"), "access-token"),
    ("missing-friendly-name", lambda e: _without(_enroll_base(e), "friendly-name"),
     "friendly-name"),
    ("empty", lambda e: {}, ("service-sid", "identity", "access-token", "friendly-name")),
    ("unknown-key", lambda e: _with(_enroll_base(e), bogus_key=S("x")), "bogus-key"),
    ("service-sid-type", lambda e: _with(_enroll_base(e), service_sid=V("u", 5)), "service-sid"),
    ("identity-type", lambda e: _with(_enroll_base(e), identity=V("i", 5)), "identity"),
    ("access-token-type", lambda e: _with(_enroll_base(e), access_token=V("as", ["a"])),
     "access-token"),
    ("friendly-name-type", lambda e: _with(_enroll_base(e), friendly_name=V("u", 1)),
     "friendly-name"),
    ("metadata-type", lambda e: _with(_enroll_base(e), metadata=V("s", "{}")), "metadata"),
    ("metadata-type-asv", lambda e: _with(_enroll_base(e),
                                          metadata=V("a{sv}", {"os": S("Linux")})), "metadata"),
    # a{ss} can hold a key twice: which value was meant can't be known
    ("metadata-key-twice", lambda e: _with(_enroll_base(e), metadata=V.new_array(
        GLib.VariantType("{ss}"), [V.new_dict_entry(S("os"), S("Linux")),
                                   V.new_dict_entry(S("os"), S("BSD"))])),
     "metadata has the key “os” twice"),
    ("push-url-type", lambda e: _with(_enroll_base(e), push_url=V("b", True)), "push-url"),
    ("verify-type", lambda e: _with(_enroll_base(e), verify=S("true")), "verify"),
    ("service-sid-short", lambda e: _with(_enroll_base(e), service_sid=S("VA123")), "service-sid"),
    ("service-sid-prefix", lambda e: _with(_enroll_base(e), service_sid=S("XX" + HEX32)),
     "service-sid"),
    ("service-sid-not-hex", lambda e: _with(_enroll_base(e), service_sid=S("VA" + "g" * 32)),
     "service-sid"),
    ("service-sid-long", lambda e: _with(_enroll_base(e), service_sid=S("VA" + HEX32 + "0")),
     "service-sid"),
    ("friendly-name-65", lambda e: _with(_enroll_base(e), friendly_name=S("n" * 65)),
     "friendly-name"),
    # the API's Identity: 8 to 64 of [A-Za-z0-9-]
    ("identity-7", lambda e: _with(_enroll_base(e), identity=S("abc-123")), "identity"),
    ("identity-65", lambda e: _with(_enroll_base(e), identity=S("a" * 65)), "identity"),
    ("identity-slash", lambda e: _with(_enroll_base(e), identity=S("alice/1234")), "identity"),
    ("identity-underscore", lambda e: _with(_enroll_base(e), identity=S("alice_1234")),
     "identity"),
    ("identity-space", lambda e: _with(_enroll_base(e), identity=S("alice 1234")), "identity"),
    ("identity-non-ascii", lambda e: _with(_enroll_base(e), identity=S("alicé-1234")),
     "identity"),
]

MATCH_CASES = [
    ("neither", {"timeout-ms": V("u", 100)}, ("transaction-id", "challenge-sid")),
    ("empty", {}, ("transaction-id", "challenge-sid")),
    ("both", {"transaction-id": S("t-1"), "challenge-sid": S("YC" + HEX32)},
     ("transaction-id", "challenge-sid")),
    ("unknown-key", {"transaction-id": S("t-1"), "frobnicate": S("x")}, ("frobnicate",)),
    ("transaction-id-type", {"transaction-id": V("u", 1)}, ("transaction-id",)),
    ("challenge-sid-type", {"challenge-sid": V("o", "/YC" + HEX32)}, ("challenge-sid",)),
    ("factor-sid-type", {"transaction-id": S("t-1"), "factor-sid": V("i", 1)}, ("factor-sid",)),
    ("timeout-ms-type-s", {"transaction-id": S("t-1"), "timeout-ms": S("1000")}, ("timeout-ms",)),
    ("timeout-ms-type-i", {"transaction-id": S("t-1"), "timeout-ms": V("i", 1000)},
     ("timeout-ms",)),
    ("timeout-ms-too-big", {"transaction-id": S("t-1"), "timeout-ms": V("u", 20001)},
     ("timeout-ms",)),
    ("timeout-ms-huge", {"transaction-id": S("t-1"), "timeout-ms": V("u", 4294967295)},
     ("timeout-ms",)),
    ("challenge-sid-short", {"challenge-sid": S("YC123")}, ("challenge-sid",)),
    ("challenge-sid-prefix", {"challenge-sid": S("YF" + HEX32)}, ("challenge-sid",)),
    ("challenge-sid-not-hex", {"challenge-sid": S("YC" + "z" * 32)}, ("challenge-sid",)),
    ("transaction-id-empty", {"transaction-id": S("")}, ("transaction-id",)),
    # README: 1 to 1024 bytes (a multi-byte character counts each of its bytes)
    ("transaction-id-1025", {"transaction-id": S("t" * 1025)}, ("transaction-id",)),
    ("transaction-id-1025-bytes", {"transaction-id": S("é" * 512 + "t")}, ("transaction-id",)),
    ("factor-sid-short", {"transaction-id": S("t-1"), "factor-sid": S("YFxyz")}, ("factor-sid",)),
    ("factor-sid-prefix", {"transaction-id": S("t-1"), "factor-sid": S("YC" + HEX32)},
     ("factor-sid",)),
]

UPDATE_CASES = [
    ("unknown-key", {"bogus": S("x")}, "bogus"),
    ("friendly-name-type", {"friendly-name": V("u", 3)}, "friendly-name"),
    ("friendly-name-65", {"friendly-name": S("n" * 65)}, "friendly-name"),
    ("push-url-type", {"push-url": V("as", [])}, "push-url"),
]

LIST_CASES = [
    ("unknown-key", {"bogus": S("x")}, "bogus"),
    ("status-type", {"status": V("u", 1)}, "status"),
    ("status-value", {"status": S("bogus")}, "status"),
    ("order-type", {"order": V("b", True)}, "order"),
    ("order-value", {"order": S("up")}, "order"),
    ("page-size-0", {"page-size": V("u", 0)}, "page-size"),
    ("page-size-1001", {"page-size": V("u", 1001)}, "page-size"),
    ("page-size-type-s", {"page-size": S("10")}, "page-size"),
    ("page-size-type-i", {"page-size": V("i", 10)}, "page-size"),
    ("page-token-type", {"page-token": V("u", 1)}, "page-token"),
]


def _expect_invalid(fn, names):
    if isinstance(names, str):
        names = (names,)
    try:
        res = fn()
    except vt.DBusCallError as e:
        assert e.name == vt.ERR_INVALID_ARGS, "expected InvalidArgs, got %s" % e
        if names:
            assert any(n in e.message for n in names), \
                "the message %r does not name %s" % (e.message, " or ".join(names))
        return e
    raise AssertionError("expected InvalidArgs, got a reply %r" % (res,))


def _no_traffic(emulator, before):
    calls = [r for r in emulator.requests()[before:] if not r["path"].startswith("/_emulator")]
    # the poller's own lists of pending challenges may land in the window; anything else
    # the daemon sent was caused by the invalid call
    device = [r for r in calls if r["auth"] in ("device", "access-token")
              and not (r["method"] == "GET" and r["path"].endswith("/Challenges")
                       and "Status=pending" in r.get("query", ""))]
    assert device == [], "an invalid call reached the Verify API: %s" % device


@pytest.mark.parametrize("case,build,name", ENROLL_CASES, ids=[c[0] for c in ENROLL_CASES])
def test_enroll_invalid(env, client, case, build, name):
    em = env["emulator"]
    before = len(em.requests())
    _expect_invalid(lambda: client.enroll(V("a{sv}", build(em))), name)
    _no_traffic(em, before)
    assert client.factor_paths() == [env["factor"].path]


@pytest.mark.parametrize("method", ["approve", "deny"])
@pytest.mark.parametrize("case,match,names", MATCH_CASES, ids=[c[0] for c in MATCH_CASES])
def test_match_invalid(env, client, method, case, match, names):
    em = env["emulator"]
    before = len(em.requests())
    _expect_invalid(lambda: getattr(client, method)(V("a{sv}", match)), names)
    _no_traffic(em, before)


@pytest.mark.parametrize("method", ["approve", "deny"])
def test_transaction_id_of_1024_bytes_is_taken(env, client, method):
    """The bound itself is a transaction id like any other: no such challenge, not invalid."""
    with pytest.raises(vt.DBusCallError) as e:
        getattr(client, method)({"transaction-id": "é" * 512, "timeout-ms": V("u", 1)})
    assert e.value.name == vt.ERR_NOT_FOUND, e.value


@pytest.mark.parametrize("case,changes,name", UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES])
def test_update_invalid(env, client, case, changes, name):
    f = env["factor"]
    _expect_invalid(lambda: client.factor_update(f.path, V("a{sv}", changes)), name)
    assert client.get_property(f.path, vt.FACTOR_IFACE, "FriendlyName") == f.friendly_name


@pytest.mark.parametrize("case,options,name", LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_list_challenges_invalid(env, client, case, options, name):
    f = env["factor"]
    em = env["emulator"]
    before = len(em.requests())
    _expect_invalid(lambda: client.list_challenges(f.path, V("a{sv}", options)), name)
    _no_traffic(em, before)


# Wrong signatures: the method's argument itself is of the wrong type (GDBus answers these
# with InvalidArgs before vpushd's code runs; no argument name is required in the message).
SIGNATURE_CASES = [
    ("EnrollFactor-s", vt.MANAGER_PATH, vt.MANAGER_IFACE, "EnrollFactor", V("(s)", ("x",))),
    ("EnrollFactor-none", vt.MANAGER_PATH, vt.MANAGER_IFACE, "EnrollFactor", None),
    ("EnrollFactor-a{ss}", vt.MANAGER_PATH, vt.MANAGER_IFACE, "EnrollFactor",
     V("(a{ss})", ({"identity": "x"},))),
    ("ApproveChallenge-s", vt.MANAGER_PATH, vt.MANAGER_IFACE, "ApproveChallenge",
     V("(s)", ("order-1",))),
    ("DenyChallenge-none", vt.MANAGER_PATH, vt.MANAGER_IFACE, "DenyChallenge", None),
    ("Refresh-s", vt.MANAGER_PATH, vt.MANAGER_IFACE, "Refresh", V("(s)", ("x",))),
    ("Verify-u", None, vt.FACTOR_IFACE, "Verify", V("(u)", (1,))),
    ("Delete-s", None, vt.FACTOR_IFACE, "Delete", V("(s)", ("x",))),
    ("Update-s", None, vt.FACTOR_IFACE, "Update", V("(s)", ("x",))),
    ("ListChallenges-none", None, vt.FACTOR_IFACE, "ListChallenges", None),
]


@pytest.mark.parametrize("case,path,iface,method,args", SIGNATURE_CASES,
                         ids=[c[0] for c in SIGNATURE_CASES])
def test_wrong_signature(env, client, case, path, iface, method, args):
    path = path or env["factor"].path
    _expect_invalid(lambda: client.call(path, iface, method, args), ())
    # the factor survived every one of these (Delete with a bad signature must not delete)
    assert client.factor_paths() == [env["factor"].path]
