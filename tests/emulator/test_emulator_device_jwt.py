"""The device JWT the emulator checks on every device call, and its clock offset."""

import email.utils
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emulator_client import Device, _other_key, assert_error, b64url, basic
from vpush_emulator.util import b64url_decode


# --- device JWT ---------------------------------------------------------------------------

BAD_JWT = {
    "wrong-user": dict(user="Token"),
    "user-is-account": dict(user="ACCOUNT"),
    "alg-es384": dict(header={"alg": "ES384"}),
    "alg-none": dict(header={"alg": "none"}),
    "alg-missing": dict(header={"alg": None}),
    "cty-wrong": dict(header={"cty": "twilio-pba;v=2"}),
    "cty-missing": dict(header={"cty": None}),
    "typ-wrong": dict(header={"typ": "JWS"}),
    "crit-exp": dict(header={"crit": ["exp"]}),
    "crit-unknown": dict(header={"crit": ["x-twilio"], "x-twilio": 1}),
    "kid-unknown": dict(header={"kid": "CR" + "0" * 32}),
    "kid-missing": dict(header={"kid": None}),
    "bad-signature": dict(key="OTHER"),
    "sub-wrong": dict(payload={"sub": "AC" + "1" * 32}),
    "sub-missing": dict(payload={"sub": None}),
    "nbf-future": dict(payload={"nbf": "NOW+120", "exp": "NOW+600"}),
    # a lifetime of 600 s, so that only its exp refuses it
    "exp-past": dict(payload={"nbf": "NOW-603", "exp": "NOW-3"}),
    "exp-long-past": dict(payload={"nbf": "NOW-700", "exp": "NOW-100"}),
    "lifetime-601": dict(payload={"nbf": "NOW-1", "exp": "NOW+600"}),
    "nbf-missing": dict(payload={"nbf": None}),
    "exp-string": dict(payload={"exp": "later"}),
    "nbf-nan": dict(payload={"nbf": float("nan")}),
    "exp-infinity": dict(payload={"nbf": "NOW", "exp": float("inf")}),
    "nbf-nan-exp-infinity": dict(payload={"nbf": float("nan"), "exp": float("inf")}),
    "exp-fraction": dict(payload={"nbf": "NOW", "exp": "NOW+599.5"}),
    "nbf-bool": dict(payload={"nbf": True}),
    "nbf-one-second-ahead": dict(payload={"nbf": "NOW+1", "exp": "NOW+600"}),
}


def _resolve(d, spec, now):
    out = {}
    for k, v in spec.items():
        if isinstance(v, dict):
            v = _resolve(d, v, now)
        elif v == "OTHER":
            v = _other_key()
        elif v == "ACCOUNT":
            v = d.emu.account_sid
        elif isinstance(v, str) and v.startswith("NOW"):
            v = now + (float(v[3:]) if "." in v else int(v[3:] or 0))
        out[k] = v
    return out


@pytest.mark.parametrize("case", list(BAD_JWT))
def test_device_jwt_rejected(emu, dev, case):
    kw = _resolve(dev, BAD_JWT[case], int(time.time()))
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}, **kw)
    assert_error(r, 401, 20003)


def test_basic_credentials_unpadded(emu, dev):
    """§2: the Basic credentials are standard base64 with padding; without it, 401."""
    for k in range(3):
        value = basic("token", dev.jwt(payload={"x": "a" * k} if k else None)).split(" ", 1)[1]
        if value.endswith("="):
            break
    assert value.endswith("="), value
    r = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                    auth="Basic " + value.rstrip("="))
    assert_error(r, 401, 20003)


def test_device_jwt_malformed(emu, dev):
    good = dev.jwt()
    h, p, s = good.split(".")
    for token in (good + ".x", f"{h}.{p}", f"{h}.{p}.{s}=", f"{h}.{p}.{s[:-4]}",
                  f"{h}.{p}.{b64url(b'0' * 64)}", "a.b.c", ""):
        r = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                        auth=basic("token", token))
        assert_error(r, 401, 20003)


def _list_with_raw_jwt(emu, dev, header_bytes, payload_bytes):
    """A list call whose device JWT is these header and payload bytes, signed by the
    factor's key."""
    signing_input = f"{b64url(header_bytes)}.{b64url(payload_bytes)}"
    r, s = decode_dss_signature(dev.sign_der(signing_input.encode()))
    token = f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    return emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                       auth=basic("token", token))


def test_device_jwt_not_utf8_json(emu, dev):
    now = int(time.time())
    header = {"cty": "twilio-pba;v=1", "kid": dev.credential_sid, "typ": "JWT", "alg": "ES256"}
    payload = {"sub": dev.account_sid, "nbf": now, "exp": now + 600}
    for h, p in ((json.dumps(header).encode("utf-16"), json.dumps(payload).encode()),
                 (json.dumps(header).encode(), json.dumps(payload).encode("utf-32"))):
        assert_error(_list_with_raw_jwt(emu, dev, h, p), 401, 20003)


def test_device_jwt_duplicate_members(emu, dev):
    """RFC 7519 §4: claim names are unique; a parser keeping the last "sub" would take the
    second one here for the first."""
    now = int(time.time())
    header = {"cty": "twilio-pba;v=1", "kid": dev.credential_sid, "typ": "JWT", "alg": "ES256"}
    payload = json.dumps({"sub": "AC" + "0" * 32, "nbf": now, "exp": now + 600})
    payload = payload[:-1] + ', "sub": "%s"}' % dev.account_sid
    for h, p in ((json.dumps(header).encode(), payload.encode()),
                 (json.dumps(header)[:-1].encode() + b', "typ": "JWT"}',
                  json.dumps({"sub": dev.account_sid, "nbf": now, "exp": now + 600}).encode())):
        r = _list_with_raw_jwt(emu, dev, h, p)
        assert_error(r, 401, 20003)
        assert "duplicate member" in r.json["message"], r.json


def test_device_jwt_nested_or_surrogate(emu, dev):
    """JSON Python's parser cannot take (nested past its recursion limit) or no answer
    could carry back (a lone surrogate escape) is a bad JWT like any other: 401 with a
    Date header, not a connection closed without an answer."""
    now = int(time.time())
    header = {"cty": "twilio-pba;v=1", "kid": dev.credential_sid, "typ": "JWT", "alg": "ES256"}
    payload = {"sub": dev.account_sid, "nbf": now, "exp": now + 600}
    deep = b'{"x":' + b"[" * 2000 + b"]" * 2000
    for h, p in ((deep + b"," + json.dumps(header).encode()[1:], json.dumps(payload).encode()),
                 (json.dumps(header).encode(), deep + b"," + json.dumps(payload).encode()[1:]),
                 (json.dumps(header).encode(),
                  json.dumps(payload).encode()[:-1] + b', "x": "\\ud800"}')):
        r = _list_with_raw_jwt(emu, dev, h, p)
        assert_error(r, 401, 20003)
        assert r.headers.get("Date"), r.headers


def test_device_jwt_replay_refused(emu, dev):
    auth = dev.auth()
    first = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid}, auth=auth)
    assert first.status == 200
    again = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid}, auth=auth)
    assert_error(again, 401, 20003)
    assert "already used" in again.json["message"]
    # a token minted afresh is fine
    assert dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}).status == 200


def test_device_jwt_replay_refused_after_clock_moves(emu, dev, clock):
    """A used token stays used when the clock goes past its exp and back: forgotten as
    expired, it would be taken again."""
    auth = dev.auth()
    assert emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                       auth=auth).status == 200
    clock(700)
    dev.correction = 700
    assert dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}).status == 200
    clock(0)
    dev.correction = 0
    again = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid}, auth=auth)
    assert_error(again, 401, 20003)
    assert "already used" in again.json["message"]


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _other_s(token):
    """The same token with s replaced by n - s: a signature that verifies just as well."""
    h, p, sig = token.split(".")
    raw = b64url_decode(sig)
    s = int.from_bytes(raw[32:], "big")
    return f"{h}.{p}.{b64url(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


def _other_tail(token):
    """The same token with a last character that decodes to the same bytes (64 bytes
    leave 4 unused bits in it, zero in the canonical text)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:-1] + alphabet[alphabet.index(token[-1]) | 1]


def _challenges(emu, dev, token):
    return emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                       auth=basic("token", token))


def test_device_jwt_replay_malleated_refused(emu, dev):
    """A replay is the same signing input with the same r, whatever the s: (r, n - s)
    verifies as (r, s) does."""
    first = dev.jwt()
    assert _challenges(emu, dev, first).status == 200
    again = _challenges(emu, dev, _other_s(first))
    assert_error(again, 401, 20003)
    assert "already used" in again.json["message"]
    # the n - s form is a good signature: taken when it comes first, then the token is used
    fresh = dev.jwt()
    assert _challenges(emu, dev, _other_s(fresh)).status == 200
    again = _challenges(emu, dev, fresh)
    assert_error(again, 401, 20003)
    assert "already used" in again.json["message"]


def test_device_jwt_noncanonical_base64url_refused(emu, dev):
    """A base64url text whose unused trailing bits are not zero is refused, so it cannot
    pass for a token not seen before either."""
    token = dev.jwt()
    assert _other_tail(token) != token
    r = _challenges(emu, dev, _other_tail(token))
    assert_error(r, 401, 20003)
    assert "trailing bits" in r.json["message"], r
    assert _challenges(emu, dev, token).status == 200
    r = _challenges(emu, dev, _other_tail(token))
    assert_error(r, 401, 20003)


def test_b64url_decode_canonical():
    for text, data in (("", b""), ("QQ", b"A"), ("QUI", b"AB"), ("QUJD", b"ABC"),
                       ("_-8", b"\xff\xef")):
        assert b64url_decode(text) == data
        assert b64url(data) == text
    for text in ("QR", "QX", "QUJ", "QUL", "_-9", "Q", "QQ==", "Q+", "Q/", "Q Q"):
        with pytest.raises(ValueError):
            b64url_decode(text)


def _conformance_total(emu):
    return emu.control("GET", "/_emulator/conformance").json["total"]


def _kept_since(emu, before):
    found = emu.control("GET", "/_emulator/conformance").json
    new = found["total"] - before
    return found["requests"][len(found["requests"]) - new:] if new else []


def test_device_jwt_edges_accepted(emu, dev):
    """Taken, as the API would take them, but not what the SDKs send (§5A): each is kept
    for GET /_emulator/conformance, kind protocol, where a client's tests look."""
    now = int(time.time())
    # the SDKs' own: nothing kept
    before = _conformance_total(emu)
    assert dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}).status == 200
    assert _conformance_total(emu) == before
    # a lifetime of 600 s that started earlier: nothing kept
    for payload, words in (({"nbf": now - 300, "exp": now + 300}, None),
                           ({"nbf": now - 599, "exp": now + 1}, None),
                           ({"nbf": now, "exp": now + 60}, "is 60 s, not 600"),
                           ({"nbf": now, "exp": now + 600, "iat": now, "extra": "x"},
                            "the claims extra, iat, which §5A does not send")):
        before = _conformance_total(emu)
        r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}, payload=payload)
        assert r.status == 200, (payload, r)
        kept = _kept_since(emu, before)
        if words is None:
            assert kept == [], (payload, kept)
            continue
        assert [k["kind"] for k in kept] == ["protocol"], kept
        assert words in kept[0]["error"], kept
    # no typ: the SDKs sent none before June 2020 (protocol doc §5A), and §13 does not ask
    # an emulator to check it; today's SDKs send it
    before = _conformance_total(emu)
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}, header={"typ": None})
    assert r.status == 200, r
    kept = _kept_since(emu, before)
    assert len(kept) == 1 and "has no typ JWT" in kept[0]["error"], kept
    assert kept[0]["path"] == dev.base + "/Challenges", kept


def test_device_jwt_other_identity_or_factor(emu, dev):
    other = Device(emu).enroll()
    # dev's JWT on other's identity path
    r = emu.request("GET", other.base + "/Challenges", query={"FactorSid": other.sid},
                    auth=dev.auth())
    assert_error(r, 401, 20003)
    r = emu.request("POST", f"{other.base}/Factors/{other.sid}", {"FriendlyName": "x"},
                    auth=dev.auth())
    assert_error(r, 401, 20003)
    # another factor of the same identity
    sibling = Device(emu, identity=dev.identity).enroll()
    assert_error(dev.call("DELETE", f"/Factors/{sibling.sid}"), 401, 20003)
    assert_error(dev.call("GET", "/Challenges", query={"FactorSid": sibling.sid}), 401, 20003)
    c = emu.create_challenge(dev.identity, sibling.sid).json
    assert_error(dev.fetch(c["sid"]), 404, 60391)
    # another service
    r = emu.request("GET", f"/v2/Services/VA{'0' * 32}/Entities/{dev.identity}/Challenges",
                    auth=dev.auth())
    assert_error(r, 401, 20003)
    # device JWT on a backend-only call
    r = emu.request("GET", f"{dev.base}/Factors/{dev.sid}", auth=dev.auth())
    assert_error(r, 401, 20003)
    # access token on a device call
    tok = emu.access_token(dev.identity)
    r = emu.request("GET", dev.base + "/Challenges", auth=basic("token", tok))
    assert_error(r, 401, 20003)


def test_device_fetch_service(emu, dev):
    r = emu.request("GET", f"/v2/Services/{dev.service_sid}", auth=dev.auth())
    assert r.status == 200 and r.json["sid"] == dev.service_sid
    # a deleted factor's JWT still verifies, and every call for it is 404/60390
    assert dev.call("DELETE", f"/Factors/{dev.sid}").status == 204
    r = emu.request("GET", f"/v2/Services/{dev.service_sid}", auth=dev.auth())
    assert_error(r, 404, 60390)


def test_clock_offset_shifts_checks(emu, dev, clock):
    clock(3600)
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid})
    assert_error(r, 401, 20003)
    server = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
    assert abs(server - (time.time() + 3600)) < 5
    dev.correction = int(server - time.time())      # what the SDK does (§6)
    assert dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}).status == 200
    c = emu.create_challenge(dev.identity, dev.sid)
    created = time.mktime(time.strptime(c.json["date_created"], "%Y-%m-%dT%H:%M:%SZ")) \
        - time.timezone
    assert abs(created - (time.time() + 3600)) < 5
    clock(-3600)
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid})
    assert_error(r, 401, 20003)                      # nbf is now far in the future
    st = emu.control("GET", "/_emulator/clock").json
    assert st["offset"] == -3600


def test_clock_control_rejects_garbage(emu):
    assert emu.control("POST", "/_emulator/clock", {"offset": "soon"}).status == 400
