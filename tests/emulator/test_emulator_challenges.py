"""Challenges on the emulator: creating, fetching, answering and listing them, paging."""

import base64
import json
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emulator_client import SIGNATURE_FIELDS, Device, _other_key, assert_error, b64url


# --- challenges: creation ------------------------------------------------------------------

def _iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


BAD_CHALLENGE = {
    "no-factor": (dict(factor=None), 400, 60362),
    "factor-malformed": (dict(factor="YF123"), 400, 60362),
    "factor-unknown": (dict(factor="YF" + "a" * 32), 404, 60390),
    "no-message": (dict(message=""), 400, 60306),
    "message-257": (dict(message="m" * 257), 400, 60306),
    "fields-21": (dict(fields=[{"label": "l", "value": "v"}] * 21), 400, 60306),
    "field-not-json": (dict(raw_fields=["{label"]), 400, 60306),
    "field-no-value": (dict(raw_fields=['{"label": "a"}']), 400, 60306),
    "field-label-37": (dict(fields=[{"label": "l" * 37, "value": "v"}]), 400, 60306),
    "field-value-129": (dict(fields=[{"label": "l", "value": "v" * 129}]), 400, 60306),
    "field-number": (dict(fields=[{"label": "l", "value": 5}]), 400, 60306),
    "hidden-number": (dict(hidden='{"a": 1}'), 400, 60306),
    "hidden-array": (dict(hidden='["a"]'), 400, 60306),
    "hidden-1025": (dict(hidden=json.dumps({"a": "b" * 1017})), 400, 60306),
    # JSON Python's parser cannot take, or no UTF-8 answer could carry back: refused at once,
    # not stored to break every later answer about the challenge
    "hidden-nested": (dict(hidden="[" * 1024), 400, 60306),
    "hidden-lone-surrogate": (dict(hidden='{"transaction_id": "\\ud800"}'), 400, 60306),
    "field-nested": (dict(raw_fields=["[" * 5000]), 400, 60306),
    "field-lone-surrogate": (dict(raw_fields=['{"label": "a", "value": "\\udc00"}']), 400, 60306),
    "expiry-past": (dict(expiration=-10), 400, 60306),
    "expiry-61min": (dict(expiration=3660), 400, 60306),
    "expiry-garbage": (dict(expiration="tomorrow"), 400, 60306),
}


@pytest.mark.parametrize("case", list(BAD_CHALLENGE))
def test_create_challenge_rejected(emu, dev, case):
    spec, status, code = BAD_CHALLENGE[case]
    form = []
    factor = spec.get("factor", dev.sid)
    if factor is not None:
        form.append(("FactorSid", factor))
    form.append(("Details.Message", spec.get("message", "Hello")))
    form += [("Details.Fields", json.dumps(f)) for f in spec.get("fields", [])]
    form += [("Details.Fields", f) for f in spec.get("raw_fields", [])]
    if "hidden" in spec:
        form.append(("HiddenDetails", spec["hidden"]))
    if "expiration" in spec:
        e = spec["expiration"]
        form.append(("ExpirationDate", e if isinstance(e, str) else _iso(time.time() + e)))
    r = emu.backend("POST", dev.base + "/Challenges", form)
    assert_error(r, status, code)


def test_create_challenge_other_entity(emu, dev):
    other = Device(emu).enroll()
    assert_error(emu.create_challenge(other.identity, dev.sid), 404, 60390)
    assert_error(emu.create_challenge("nobody-1234", dev.sid), 404, 60392)


def test_create_challenge_fields_and_expiry(emu, dev):
    fields = [{"label": f"L{i}", "value": f"v/{i} & ="} for i in range(20)]
    exp = int(time.time()) + 3500
    r = emu.create_challenge(dev.identity, dev.sid, "m" * 256, fields=fields,
                             hidden={"ip": "10.0.0.1", "txn": "a/b=c"},
                             expiration=_iso(exp))
    assert r.status == 201, r
    assert r.json["details"]["fields"] == fields
    assert r.json["expiration_date"] == _iso(exp)
    assert r.json["hidden_details"] == {"ip": "10.0.0.1", "txn": "a/b=c"}
    for form in ("%Y-%m-%dT%H:%M:%S.123Z", "%Y-%m-%dT%H:%M:%S+00:00"):
        e = time.strftime(form, time.gmtime(time.time() + 120))
        assert emu.create_challenge(dev.identity, dev.sid, expiration=e).status == 201


# --- challenges: fetch, answer --------------------------------------------------------------

def test_signature_fields_only_when_pending(emu, dev):
    c = emu.create_challenge(dev.identity, dev.sid, hidden=None).json
    got = dev.fetch(c["sid"])
    assert got.header("Twilio-Verify-Signature-Fields").split(",") == SIGNATURE_FIELDS
    assert all(k in got.json for k in SIGNATURE_FIELDS)
    assert got.json["hidden_details"] is None
    assert dev.answer(c["sid"]).status == 200
    assert dev.fetch(c["sid"]).header("Twilio-Verify-Signature-Fields") is None


def _tamper_message(p):
    p["details"] = dict(p["details"], message="something else")


def _tamper_hidden(p):
    p["hidden_details"] = {"txn": "forged"}


def _drop_identity(p):
    del p["identity"]


def _drop_details(p):
    del p["details"]


def _wrong_status(p):
    p["status"] = "expired"


def _no_status(p):
    del p["status"]


def _expiry_shift(p):
    p["expiration_date"] = _iso(time.time() + 9999)


def _sid_other(p):
    p["sid"] = "YC" + "b" * 32


def _fields_other(p):
    p["details"] = dict(p["details"], fields=[{"label": "Amount", "value": "9999 EUR"}])


def _setter(name, value):
    def mutate(p):
        p[name] = value
    return mutate


# a well-formed answer that is not the challenge's or does not verify: 403/60324; one that
# is not an ES256 JWT at all (its header included: protocol doc §8.2, "invalid JWT"): 400/60306
BAD_ANSWER = {
    "tampered-message": (dict(mutate=_tamper_message), 403, 60324),
    "tampered-hidden": (dict(mutate=_tamper_hidden), 403, 60324),
    "tampered-expiry": (dict(mutate=_expiry_shift), 403, 60324),
    "tampered-sid": (dict(mutate=_sid_other), 403, 60324),
    "tampered-fields": (dict(mutate=_fields_other), 403, 60324),
    "tampered-date-created": (dict(mutate=_setter("date_created", "2001-01-01T00:00:00Z")),
                              403, 60324),
    "tampered-factor-sid": (dict(mutate=_setter("factor_sid", "YF" + "c" * 32)), 403, 60324),
    "tampered-identity": (dict(mutate=_setter("identity", "someone-else")), 403, 60324),
    "tampered-service-sid": (dict(mutate=_setter("service_sid", "VA" + "c" * 32)), 403, 60324),
    "tampered-account-sid": (dict(mutate=_setter("account_sid", "AC" + "c" * 32)), 403, 60324),
    "missing-identity": (dict(mutate=_drop_identity), 403, 60324),
    "missing-details": (dict(mutate=_drop_details), 403, 60324),
    "status-expired": (dict(mutate=_wrong_status), 403, 60324),
    "status-missing": (dict(mutate=_no_status), 403, 60324),
    "bad-signature": (dict(key="OTHER"), 403, 60324),
    "alg-hs256": (dict(header={"typ": "JWT", "alg": "HS256"}), 400, 60306),
    "alg-missing": (dict(header={"typ": "JWT"}), 400, 60306),
    "typ-missing": (dict(header={"alg": "ES256"}), 400, 60306),
    "typ-jws": (dict(header={"typ": "JWS", "alg": "ES256"}), 400, 60306),
    "crit": (dict(header={"typ": "JWT", "alg": "ES256", "crit": ["b64"], "b64": True}),
             400, 60306),
    "kid": (dict(header={"typ": "JWT", "alg": "ES256", "kid": "CR" + "a" * 32}), 400, 60306),
    "cty": (dict(header={"typ": "JWT", "alg": "ES256", "cty": "twilio-pba;v=1"}), 400, 60306),
}


@pytest.mark.parametrize("case", list(BAD_ANSWER))
def test_answer_rejected(emu, dev, case):
    c = emu.create_challenge(dev.identity, dev.sid, hidden={"txn": "t-9"},
                             fields=[{"label": "Amount", "value": "10 EUR"}]).json
    kw, status, code = BAD_ANSWER[case]
    kw = dict(kw)
    if kw.get("key") == "OTHER":
        kw["key"] = _other_key()
    assert_error(dev.answer(c["sid"], **kw), status, code)
    assert dev.fetch(c["sid"]).json["status"] == "pending"
    assert dev.answer(c["sid"]).status == 200, "a good answer still works afterwards"


def test_answer_extras_kept(emu, dev):
    """An answer JWT with a header field or claim the SDKs do not send (§5C steps 3-5:
    header typ and alg only, claims the listed fields and status) is taken, as the API
    would, and kept for GET /_emulator/conformance, kind protocol; the SDKs' own is not."""
    for kw, words in ((dict(), None),
                      (dict(header={"typ": "JWT", "alg": "ES256", "jku": "https://x.test/k"}),
                       "answer JWT header has jku, which §5C does not send"),
                      (dict(mutate=lambda p: p.update(iat=1, jti="x")),
                       "answer JWT has the claims iat, jti, which §5C does not send")):
        c = emu.create_challenge(dev.identity, dev.sid).json
        before = emu.control("GET", "/_emulator/conformance").json["total"]
        r = dev.answer(c["sid"], **kw)
        assert r.status == 200 and r.json["status"] == "approved", r
        found = emu.control("GET", "/_emulator/conformance").json
        kept = found["requests"][len(found["requests"]) - (found["total"] - before):]
        if words is None:
            assert kept == [], kept
            continue
        assert [(k["kind"], k["method"]) for k in kept] == [("protocol", "POST")], kept
        assert words in kept[0]["error"] and c["sid"] in kept[0]["path"], kept


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed(dev, header_bytes, payload_bytes):
    h, p = b64url(header_bytes), b64url(payload_bytes)
    r, s = decode_dss_signature(dev.sign_der(f"{h}.{p}".encode()))
    return f"{h}.{p}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_answer_malformed_payloads(emu, dev):
    """Protocol doc §8.2: an AuthPayload that is not a compact JWS of JSON objects with a
    64-byte signature is an invalid request (400/60306), signed by the factor's key or not;
    a well-formed one whose signature does not verify is a failed verification (403/60324)."""
    c = emu.create_challenge(dev.identity, dev.sid).json
    path = f"/Challenges/{c['sid']}"
    good = dev.answer_payload(dev.fetch(c["sid"]))
    h, p, sig = good.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    header = b'{"typ":"JWT","alg":"ES256"}'
    malformed = [
        "x", "a.b.c", "..", good + ".x", f"{h}.{p}", dev.jwt() + "x",
        f"{h}.{p}.{sig}=",                                          # padded
        f"{h}.{p}.{sig[:-1]}{alphabet[alphabet.index(sig[-1]) | 1]}",  # non-zero trailing bits
        f"{h}.{p}.{sig[:-4]}",                                      # 61-byte signature
        f"{h}.{p}.{sig}AA",                                         # 66-byte signature
        f"{h}.{p}.+{sig[1:]}",                                      # standard Base64
        _signed(dev, header, b'["approved"]'),                      # payload not an object
        _signed(dev, header, b"approved"),                          # payload not JSON
        _signed(dev, b'["typ","JWT"]', json.dumps({"status": "approved"}).encode()),
        _signed(dev, json.dumps({"typ": "JWT", "alg": "ES256"}).encode("utf-16"),
                json.dumps({"status": "approved"}).encode()),        # header not UTF-8
        dev.jwt(),          # the factor's signature, but a device JWT: its kid and cty
        # the copied "pending" left in place beside the answer's status (RFC 7519 §4)
        _signed(dev, header, json.dumps(
            {**{k: v for k, v in json.loads(_unb64url(p)).items() if k != "status"},
             "status": "pending"}).encode()[:-1] + b', "status": "approved"}'),
        _signed(dev, b'{"typ":"JWT","alg":"ES256","alg":"ES256"}', _unb64url(p)),
        _signed(dev, header, b"[" * 1200 + b"]" * 1200),               # past the parser
    ]
    for payload in malformed:
        assert_error(dev.call("POST", path, {"AuthPayload": payload}), 400, 60306)
    not_verified = [
        f"{h}.{p}.{b64url(bytes(64))}",                             # r = s = 0
        f"{h}.{p}.{b64url(b'0' * 64)}",
        f"{h}.{b64url(b'{}')}.{sig}",                               # another payload
    ]
    for payload in not_verified:
        assert_error(dev.call("POST", path, {"AuthPayload": payload}), 403, 60324)
    assert_error(dev.call("POST", path, {}), 400, 60306)
    assert_error(dev.call("POST", path, {"AuthPayload": ""}), 400, 60306)
    assert_error(dev.call("POST", path, {"AuthPayload": "a" * 5457}), 400, 60306)
    assert dev.fetch(c["sid"]).json["status"] == "pending"
    assert emu.state()["challenges"][c["sid"]]["answer_posts"] == (
        len(malformed) + len(not_verified) + 3)
    assert dev.answer(c["sid"]).status == 200, "a good answer still works afterwards"


def test_answer_semantic_compare(emu, dev):
    """Android escapes '/' as '\\/' and orders keys arbitrarily: compare JSON values."""
    c = emu.create_challenge(dev.identity, dev.sid, "a/b", hidden={"u": "http://x/y"}).json
    got = dev.fetch(c["sid"])
    fields = got.header("Twilio-Verify-Signature-Fields").split(",")
    payload = {k: got.json[k] for k in reversed(fields)}
    payload["status"] = "approved"
    text = json.dumps(payload).replace("/", "\\/")
    h = b64url(b'{"alg":"ES256","typ":"JWT"}')
    p = b64url(text.encode())
    r, s = decode_dss_signature(dev.sign_der(f"{h}.{p}".encode()))
    jwt = f"{h}.{p}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    r = dev.call("POST", f"/Challenges/{c['sid']}", {"AuthPayload": jwt,
                                                       "Metadata": '{"os": "Linux"}'})
    assert r.status == 200 and r.json["status"] == "approved", r
    assert r.json["metadata"] == {"os": "Linux"}


def test_answer_expired(emu, dev, clock):
    c = emu.create_challenge(dev.identity, dev.sid, expiration=_iso(time.time() + 60)).json
    got = dev.fetch(c["sid"])
    payload = dev.answer_payload(got)
    clock(120)
    dev.correction = 120
    r = dev.call("POST", f"/Challenges/{c['sid']}", {"AuthPayload": payload})
    assert_error(r, 403, 60323)
    f = dev.fetch(c["sid"])
    assert f.json["status"] == "expired" and f.header("Twilio-Verify-Signature-Fields") is None
    lst = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Status": "expired"})
    assert c["sid"] in [x["sid"] for x in lst.json["challenges"]]
    assert emu.state()["challenges"][c["sid"]]["answer_posts"] == 1


def test_list_expires_lazily(emu, dev, clock):
    """A list shows a challenge past its expiration_date as expired, without a fetch of
    it first (§13.7: "lazily flip to expired" whenever it is read)."""
    c = emu.create_challenge(dev.identity, dev.sid, expiration=_iso(time.time() + 60)).json
    clock(120)
    dev.correction = 120
    lst = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Status": "pending"})
    assert c["sid"] not in [x["sid"] for x in lst.json["challenges"]], lst
    lst = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid})
    assert [x["status"] for x in lst.json["challenges"] if x["sid"] == c["sid"]] == ["expired"]


def test_expiry_at_its_second(emu, dev, clock):
    """A challenge is pending until its expiration_date, and expired from then on."""
    expires = int(time.time()) + 60
    c = emu.create_challenge(dev.identity, dev.sid, expiration=_iso(expires)).json
    for offset, status in ((58, "pending"), (61, "expired")):
        clock(offset)
        dev.correction = offset
        assert dev.fetch(c["sid"]).json["status"] == status, offset


def test_answer_twice(emu, dev):
    c = emu.create_challenge(dev.identity, dev.sid).json
    got = dev.fetch(c["sid"])
    payload = dev.answer_payload(got, "approved")
    assert dev.call("POST", f"/Challenges/{c['sid']}", {"AuthPayload": payload}).status == 200
    r = dev.call("POST", f"/Challenges/{c['sid']}", {"AuthPayload": payload})
    assert_error(r, 409, 60325)
    r = dev.call("POST", f"/Challenges/{c['sid']}",
                 {"AuthPayload": dev.answer_payload(got, "denied")})
    assert_error(r, 409, 60325)
    st = emu.state()["challenges"][c["sid"]]
    assert st["status"] == "approved" and st["answer_posts"] == 3


def test_challenge_lookup_errors(emu, dev):
    assert_error(dev.fetch("YC123"), 400, 60364)
    assert_error(dev.fetch("YC" + "0" * 32), 404, 60391)
    assert_error(emu.backend("GET", f"{dev.base}/Challenges/YC{'0' * 32}"), 404, 60391)


def test_resend_notification(emu, dev):
    c = emu.create_challenge(dev.identity, dev.sid).json
    r = emu.backend("POST", f"{dev.base}/Challenges/{c['sid']}/Notifications", {"Ttl": "150"})
    assert r.status == 201 and r.json["ttl"] == 150 and r.json["challenge_sid"] == c["sid"]
    for ttl in ("", "301", "-1", "1_0"):
        assert_error(emu.backend("POST", f"{dev.base}/Challenges/{c['sid']}/Notifications",
                                 {"Ttl": ttl}), 400, 60306)


# --- listing and pagination -----------------------------------------------------------------

def _page_path(url):
    u = urllib.parse.urlsplit(url)
    return u.path + "?" + u.query


def test_pagination(emu, dev, clock):
    sids = []
    for i in range(7):
        clock(i)        # distinct creation seconds
        sids.append(emu.create_challenge(dev.identity, dev.sid, f"c{i}").json["sid"])
    clock(0)
    dev.correction = 0
    q = [("PageSize", "3"), ("FactorSid", dev.sid), ("Order", "asc")]
    r = dev.call("GET", "/Challenges", query=q)
    meta = r.json["meta"]
    assert meta["page"] == 0 and meta["page_size"] == 3 and meta["key"] == "challenges"
    assert meta["previous_page_url"] is None
    for k in ("first_page_url", "url", "next_page_url"):
        assert meta[k].startswith(emu.url + dev.base + "/Challenges?"), meta[k]
    seen = [x["sid"] for x in r.json["challenges"]]
    pages = [r]
    while r.json["meta"]["next_page_url"]:
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(
            r.json["meta"]["next_page_url"]).query)["PageToken"][0]
        # Android sends PageToken, iOS pageToken (§3.6): alternate between them
        name = "PageToken" if len(pages) % 2 else "pageToken"
        r = dev.call("GET", "/Challenges", query=q + [(name, token)])
        assert r.status == 200, r
        pages.append(r)
        seen += [x["sid"] for x in r.json["challenges"]]
    assert seen == sids
    assert [len(p.json["challenges"]) for p in pages] == [3, 3, 1]
    assert [p.json["meta"]["page"] for p in pages] == [0, 1, 2]
    prev = dev.call("GET", _page_path(pages[2].json["meta"]["previous_page_url"])[len(dev.base):])
    assert [x["sid"] for x in prev.json["challenges"]] == sids[3:6]
    assert prev.json["meta"]["page"] == 1

    # pages of one: the second (its first item is item 1) leads back to the first
    one = dev.call("GET", "/Challenges", query=[("PageSize", "1"), ("FactorSid", dev.sid),
                                                ("Order", "asc")])
    second = dev.call("GET", _page_path(one.json["meta"]["next_page_url"])[len(dev.base):])
    assert [x["sid"] for x in second.json["challenges"]] == sids[1:2]
    back = second.json["meta"]["previous_page_url"]
    assert back, second.json["meta"]
    back = dev.call("GET", _page_path(back)[len(dev.base):])
    assert [x["sid"] for x in back.json["challenges"]] == sids[:1]
    assert back.json["meta"]["page"] == 0 and back.json["meta"]["previous_page_url"] is None

    desc = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Order": "desc",
                                                  "PageSize": "4"})
    assert [x["sid"] for x in desc.json["challenges"]] == sids[::-1][:4]
    nxt = dev.call("GET", _page_path(desc.json["meta"]["next_page_url"])[len(dev.base):])
    assert [x["sid"] for x in nxt.json["challenges"]] == sids[::-1][4:]

    dev.answer(sids[2])
    pend = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Status": "pending"})
    assert [x["sid"] for x in pend.json["challenges"]] == sids[:2] + sids[3:]
    appr = emu.backend("GET", dev.base + "/Challenges",
                       query={"FactorSid": dev.sid, "Status": "approved"})
    assert [x["sid"] for x in appr.json["challenges"]] == [sids[2]]
    full = emu.backend("GET", dev.base + "/Challenges")
    assert len(full.json["challenges"]) == 7 and full.json["meta"]["page_size"] == 50
    # Page is "simply for client state" (OpenAPI): without a token it moves nothing
    page2 = dev.call("GET", "/Challenges", query=q + [("Page", "2")])
    assert [x["sid"] for x in page2.json["challenges"]] == sids[:3]
    assert page2.json["meta"]["page"] == 2


@pytest.mark.parametrize("query", [
    {"PageSize": "0"}, {"PageSize": "1001"}, {"PageSize": "x"}, {"Page": "-1"},
    {"Order": "up"}, {"Status": "done"}, {"PageToken": "nonsense"}, {"FactorSid": "YF1"},
    {"PageSize": "5_0"}, {"PageSize": " 5"}, {"PageSize": "+5"}, {"Page": "0x1"},
    {"PageSize": ""}, {"Page": ""}, {"Order": ""}, {"Status": ""},
], ids=["size-0", "size-1001", "size-text", "page-neg", "order", "status", "token", "factor",
        "size-underscore", "size-space", "size-plus", "page-hex", "size-empty", "page-empty",
        "order-empty", "status-empty"])
def test_list_bad_params(emu, dev, query):
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, **query})
    assert r.status == 400 and r.json["code"] in (60306, 60362), r


def test_page_token_bound_to_query(emu, dev):
    for _ in range(2):
        emu.create_challenge(dev.identity, dev.sid)
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "PageSize": "1"})
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(
        r.json["meta"]["next_page_url"]).query)["PageToken"][0]
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Status": "approved",
                                                "PageToken": token})
    assert_error(r, 400, 60306)


def test_signature_fields_set_by_a_test(emu, dev):
    """The header's text as a test sets it; the answer is checked against the list the
    challenge's last GET gave, and the default comes back without fields."""
    text = "sid, factor_sid,,details , date_updated,metadata"
    try:
        assert emu.control("POST", "/_emulator/signature-fields", {"fields": text}).status == 200
        c = emu.create_challenge(dev.identity, dev.sid).json
        fetched = dev.fetch(c["sid"])
        assert fetched.header("Twilio-Verify-Signature-Fields") == text
        # a listed field left out of the payload is refused; status is not listed
        bad = dev.call("POST", f"/Challenges/{c['sid']}", {"AuthPayload": dev.answer_payload(
            fetched, mutate=lambda p: p.pop("metadata"))})
        assert_error(bad, 403, 60324)
        r = dev.answer(c["sid"])
        assert r.status == 200 and r.json["status"] == "approved", r
    finally:
        emu.control("POST", "/_emulator/signature-fields", {})
    c = emu.create_challenge(dev.identity, dev.sid).json
    assert dev.fetch(c["sid"]).header("Twilio-Verify-Signature-Fields").split(",") == [
        k for k in SIGNATURE_FIELDS]
    for bad_text in ("sid\r\nX: 1", "sid,\u20ac", "", " "):
        r = emu.control("POST", "/_emulator/signature-fields", {"fields": bad_text})
        assert r.status == 400, (bad_text, r)


def test_signature_fields_are_the_devices(emu, dev):
    """The answer is checked against the list the device's GET gave, not one a backend's
    GET got after it: otherwise a client that ignored the header could pass."""
    text = "sid,status,date_updated,entity_sid"
    try:
        emu.control("POST", "/_emulator/signature-fields", {"fields": text})
        c = emu.create_challenge(dev.identity, dev.sid).json
        fetched = dev.fetch(c["sid"])
        assert fetched.header("Twilio-Verify-Signature-Fields") == text
    finally:
        emu.control("POST", "/_emulator/signature-fields", {})
    path = f"{emu.svc_path()}/Entities/{dev.identity}/Challenges/{c['sid']}"
    by_backend = emu.backend("GET", path)
    assert by_backend.header("Twilio-Verify-Signature-Fields").split(",") == SIGNATURE_FIELDS
    # signed over the backend's list, which the device never read
    bad = dev.call("POST", f"/Challenges/{c['sid']}",
                   {"AuthPayload": dev.answer_payload(by_backend)})
    assert_error(bad, 403, 60324)
    r = dev.call("POST", f"/Challenges/{c['sid']}", {"AuthPayload": dev.answer_payload(fetched)})
    assert r.status == 200 and r.json["status"] == "approved", r


def test_answer_without_a_get_of_it(emu, dev):
    """A device GETs a challenge before it answers it (§5C step 1). An answer without that
    GET is checked against the list a GET would give now (one a test set, here), not a
    fixed one, and kept for GET /_emulator/conformance: the API cannot refuse it, but a
    client that skipped the GET, or signed a list of its own, must not pass its tests."""
    text = "sid,status,date_updated,entity_sid"
    emu.control("POST", "/_emulator/signature-fields", {"fields": text})
    try:
        fixed = emu.create_challenge(dev.identity, dev.sid).json
        advertised = emu.create_challenge(dev.identity, dev.sid).json
        before = emu.control("GET", "/_emulator/conformance").json["total"]
        # signed over the default list, as a client that ignored the header would
        payload = {k: fixed[k] for k in SIGNATURE_FIELDS}
        payload["status"] = "approved"
        r = dev.call("POST", f"/Challenges/{fixed['sid']}",
                     {"AuthPayload": dev.jws({"typ": "JWT", "alg": "ES256"}, payload)})
        assert_error(r, 403, 60324)
        payload = {k: advertised[k] for k in text.split(",")}
        payload["status"] = "approved"
        r = dev.call("POST", f"/Challenges/{advertised['sid']}",
                     {"AuthPayload": dev.jws({"typ": "JWT", "alg": "ES256"}, payload)})
        assert r.status == 200 and r.json["status"] == "approved", r
    finally:
        emu.control("POST", "/_emulator/signature-fields", {})
    found = emu.control("GET", "/_emulator/conformance").json
    kept = found["requests"][len(found["requests"]) - (found["total"] - before):]
    assert [k["kind"] for k in kept] == ["protocol", "protocol"], kept
    assert fixed["sid"] in kept[0]["error"] and "§5C" in kept[0]["error"], kept
    # answered after the device's GET: nothing kept
    c = emu.create_challenge(dev.identity, dev.sid).json
    assert dev.answer(c["sid"]).status == 200
    assert emu.control("GET", "/_emulator/conformance").json["total"] == found["total"]
