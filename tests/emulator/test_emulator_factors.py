"""Push factors on the emulator: creating, verifying, updating, deleting and listing them."""

import base64
import json
import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

from emulator_client import Device, assert_error, b64url, basic, encode_form


# --- create factor -------------------------------------------------------------------------

def test_create_factor_bad_tokens(emu, clock):
    d = Device(emu)
    assert_error(d.create(token="not-a-token"), 401, 20003)
    other = emu.access_token("other-identity-1")
    assert_error(d.create(token=other), 401, 20003)
    svc2 = emu.backend("POST", "/v2/Services", {"FriendlyName": "svc two"}).json["sid"]
    assert_error(d.create(token=emu.access_token(d.identity, svc2)), 401, 20003)
    tok = emu.access_token(d.identity)
    # just past its 60 s
    clock(60.5)
    assert_error(d.create(token=tok), 401, 20003)
    clock(0)
    assert d.create(token=tok).status == 201
    # backend credentials cannot create a push factor
    r = emu.request("POST", d.base + "/Factors", form=d.create_form(),
                    auth=basic(emu.account_sid, emu.auth_token))
    assert_error(r, 401, 20003)


def _p384_spki():
    k = ec.generate_private_key(ec.SECP384R1())
    return base64.b64encode(k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def _rsa_spki():
    k = rsa.generate_private_key(65537, 1024)
    return base64.b64encode(k.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def _compressed_spki():
    k = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = k.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    prefix = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200")
    return base64.b64encode(prefix + point).decode()


BAD_CREATE = {
    "spki-garbage": ({"Binding__PublicKey": "bm90IGEga2V5"}, 60306),
    "spki-not-base64": ({"Binding__PublicKey": "***"}, 60306),
    "spki-raw-point": ({"Binding__PublicKey": None}, 60306),
    "spki-p384": ({"Binding__PublicKey": "P384"}, 60306),
    "spki-rsa": ({"Binding__PublicKey": "RSA"}, 60306),
    "spki-compressed": ({"Binding__PublicKey": "COMPRESSED"}, 60306),
    "spki-urlsafe": ({"Binding__PublicKey": "URLSAFE"}, 60306),
    "spki-unpadded": ({"Binding__PublicKey": "UNPADDED"}, 60306),
    "alg-rs256": ({"Binding__Alg": "RS256"}, 60306),
    "alg-missing": ({"Binding__Alg": None}, 60306),
    "no-sdk-version": ({"Config__SdkVersion": None}, 60306),
    "no-app-id": ({"Config__AppId": None}, 60306),
    "app-id-101": ({"Config__AppId": "a" * 101}, 60306),
    "no-platform": ({"Config__NotificationPlatform": None}, 60306),
    "platform-bad": ({"Config__NotificationPlatform": "gcm"}, 60306),
    "apn-no-token": ({"Config__NotificationPlatform": "apn"}, 60306),
    "fcm-token-31": ({"Config__NotificationPlatform": "fcm",
                      "Config__NotificationToken": "x" * 31}, 60306),
    "fcm-token-256": ({"Config__NotificationPlatform": "fcm",
                       "Config__NotificationToken": "x" * 256}, 60306),
    "no-friendly-name": ({"FriendlyName": None}, 60306),
    "friendly-name-65": ({"FriendlyName": "n" * 65}, 60306),
    "metadata-not-json": ({"Metadata": "{os"}, 60306),
    "metadata-array": ({"Metadata": '["a"]'}, 60306),
    "metadata-number": ({"Metadata": '{"n": 1}'}, 60306),
    "metadata-1025": ({"Metadata": json.dumps({"k": "v" * 1016})}, 60306),
    "no-factor-type": ({"FactorType": None}, 60369),
    "factor-type-totp": ({"FactorType": "totp"}, 60369),
}


@pytest.mark.parametrize("case", list(BAD_CREATE))
def test_create_factor_rejected(emu, case):
    over, code = BAD_CREATE[case]
    d = Device(emu)
    pk = over.get("Binding__PublicKey")
    if pk == "P384":
        over = {**over, "Binding__PublicKey": _p384_spki()}
    elif pk == "RSA":
        over = {**over, "Binding__PublicKey": _rsa_spki()}
    elif pk == "COMPRESSED":
        over = {**over, "Binding__PublicKey": _compressed_spki()}
    elif pk == "URLSAFE":
        spki = d.spki_b64()
        while "+" not in spki and "/" not in spki:
            d.key = ec.generate_private_key(ec.SECP256R1())
            spki = d.spki_b64()
        over = {**over, "Binding__PublicKey": spki.replace("+", "-").replace("/", "_")}
    elif pk == "UNPADDED":
        # §4: standard base64 with padding (a P-256 SPKI's 91 bytes end in "=")
        assert d.spki_b64().endswith("=")
        over = {**over, "Binding__PublicKey": d.spki_b64().rstrip("=")}
    elif "Binding__PublicKey" in over and pk is None:
        raw = d.key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        over = {**over, "Binding__PublicKey": base64.b64encode(raw).decode()}
    assert_error(d.create(**over), 400, code)
    assert emu.backend("GET", d.base + "/Factors").status in (200, 404)


@pytest.mark.parametrize("over", [
    {"Config__NotificationPlatform": "fcm", "Config__NotificationToken": "f" * 32},
    {"Config__NotificationPlatform": "apn", "Config__NotificationToken": "a" * 255},
    {"FriendlyName": "n" * 64, "Metadata": json.dumps({"k": "v" * 1015})},
], ids=["fcm-32", "apn-255", "limits"])
def test_create_factor_accepted_limits(emu, over):
    r = Device(emu).create(**over)
    assert r.status == 201, r


def test_form_parsing_quirks(emu):
    """§2.1: iOS leaves '=', '/' raw inside values; '+' stands for a space."""
    d = Device(emu)
    while "/" not in d.spki_b64():
        d.key = ec.generate_private_key(ec.SECP256R1())
    tok = emu.access_token(d.identity)
    form = d.create_form(FriendlyName="my desk")
    parts = []
    for k, v in form.items():
        if k == "FriendlyName":
            parts.append("FriendlyName=my+desk")
        else:   # iOS: whole pair encoded with query-allowed minus '+'
            parts.append(urllib.parse.quote(f"{k}={v}", safe="=/?:@!$'()*,;&-._~"))
    body = "&".join(parts)
    assert "/" in body and "%2F" not in body
    r = emu.request("POST", d.base + "/Factors", body=body, auth=basic("token", tok))
    assert r.status == 201, r
    assert r.json["friendly_name"] == "my desk"
    assert r.json["binding"]["public_key"] == d.spki_b64()


@pytest.mark.parametrize("ctype", ["application/json", "text/plain", None])
def test_body_that_is_not_a_form_has_no_parameters(emu, ctype):
    """Request bodies are forms (the OpenAPI document lists no other type): a body sent
    as anything else is not read, so the required parameters are missing."""
    d = Device(emu)
    tok = emu.access_token(d.identity)
    body = encode_form(d.create_form(FriendlyName="desk"))
    r = emu.request("POST", d.base + "/Factors", body=body, auth=basic("token", tok),
                    headers={"Content-Type": ctype} if ctype else {"Content-Type": ""})
    assert r.status == 400, r
    r = emu.request("POST", d.base + "/Factors", body=body, auth=basic("token", tok),
                    headers={"Content-Type": "Application/X-WWW-Form-URLencoded; charset=utf-8"})
    assert r.status == 201, r


# --- verify / update / delete factor -------------------------------------------------------

def _url_safe_der(d):
    """A DER signature of the factor sid whose base64url text is not also standard Base64
    (it has a '-' or '_', or would need padding)."""
    while True:
        der = d.sign_der(d.sid.encode())
        if b64url(der) != base64.b64encode(der).decode():
            return b64url(der)


def test_verify_factor_rejections(emu):
    """Protocol doc §8.2: an AuthPayload that is not padded standard Base64 of a DER
    ECDSA signature is an invalid request (400/60306); a DER signature that does not
    verify is a failed verification (403/60311)."""
    d = Device(emu)
    assert d.create().status == 201
    other = ec.generate_private_key(ec.SECP256R1())
    der = d.sign_der(d.sid.encode())
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    malformed = [
        _url_safe_der(d),                                                 # base64url
        base64.b64encode(der).decode().rstrip("="),                       # padding left out
        "not base64!",
        base64.b64encode(raw).decode(),                                   # r||s, not DER
        base64.b64encode(der + b"\0").decode(),                           # a byte after it
        base64.b64encode(der[:-1]).decode(),                              # cut short
        base64.b64encode(b"\x30\x81" + der[1:]).decode(),                 # long-form length
        base64.b64encode(b"signature").decode(),
    ]
    if len(base64.b64encode(der).decode().rstrip("=")) % 4 == 0:
        malformed.pop(1)       # no padding to leave out: that one is well-formed
    for payload in malformed:
        assert_error(d.verify(payload), 400, 60306)
    assert_error(d.call("POST", f"/Factors/{d.sid}", {"AuthPayload": ""}), 400, 60306)
    not_verified = [
        base64.b64encode(d.sign_der(d.sid.encode(), other)).decode(),    # wrong key
        base64.b64encode(d.sign_der(b"YF" + b"0" * 32)).decode(),        # wrong message
        base64.b64encode(encode_dss_signature(r, r)).decode(),           # wrong s
        base64.b64encode(encode_dss_signature(1, 1)).decode(),
        base64.b64encode(encode_dss_signature(0, 0)).decode(),
    ]
    for payload in not_verified:
        assert_error(d.verify(payload), 403, 60311)
    # unverified factor cannot get challenges
    assert_error(emu.create_challenge(d.identity, d.sid), 403, 60318)
    assert d.verify().json["status"] == "verified"
    assert emu.create_challenge(d.identity, d.sid).status == 201


def test_update_factor(emu, dev):
    r = dev.call("POST", f"/Factors/{dev.sid}", {
        "FriendlyName": "renamed", "Config.SdkVersion": "0.2.0", "Config.AppId": "ignored",
        "Config.NotificationPlatform": "fcm", "Config.NotificationToken": "t" * 40,
        "Unknown.Field": "x"})
    assert r.status == 200, r
    assert r.json["friendly_name"] == "renamed"
    assert r.json["config"]["notification_platform"] == "fcm"
    assert r.json["config"]["notification_token"] == "t" * 40
    assert r.json["config"]["sdk_version"] == "0.2.0"
    assert r.json["config"]["app_id"] == "io.github.vpush"
    assert r.json["status"] == "verified"
    bad = dev.call("POST", f"/Factors/{dev.sid}", {"Config.NotificationPlatform": "apn",
                                                    "Config.NotificationToken": "short"})
    assert_error(bad, 400, 60306)
    assert_error(dev.call("POST", f"/Factors/{dev.sid}", {"FriendlyName": "x" * 65}), 400, 60306)
    back = dev.call("POST", f"/Factors/{dev.sid}", {"Config.NotificationPlatform": "none"})
    assert back.status == 200 and back.json["config"]["notification_token"] is None


def test_delete_factor(emu, dev):
    r = dev.call("DELETE", f"/Factors/{dev.sid}")
    assert r.status == 204 and r.raw == b""
    assert_error(dev.call("DELETE", f"/Factors/{dev.sid}"), 404, 60390)
    assert_error(dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}), 404, 60390)
    assert_error(emu.backend("GET", f"{dev.base}/Factors/{dev.sid}"), 404, 60390)
    assert_error(emu.backend("DELETE", f"{dev.base}/Factors/{dev.sid}"), 404, 60390)
    assert_error(emu.create_challenge(dev.identity, dev.sid), 404, 60390)
    assert emu.state()["factors"][dev.sid]["deleted"] is True


def test_backend_factors(emu):
    d1 = Device(emu).enroll()
    d2 = Device(emu, identity=d1.identity)
    assert d2.create().status == 201
    r = emu.backend("GET", d1.base + "/Factors", query={"PageSize": 1})
    assert r.status == 200 and len(r.json["factors"]) == 1
    assert r.json["meta"]["key"] == "factors" and r.json["meta"]["next_page_url"]
    nxt = urllib.parse.urlsplit(r.json["meta"]["next_page_url"])
    r2 = emu.backend("GET", nxt.path + "?" + nxt.query)
    assert [f["sid"] for f in r.json["factors"] + r2.json["factors"]] == [d1.sid, d2.sid]
    assert r2.json["meta"]["next_page_url"] is None
    one = emu.backend("GET", f"{d1.base}/Factors/{d2.sid}")
    assert one.status == 200 and one.json["status"] == "unverified"
    assert "binding" not in one.json
    assert emu.backend("DELETE", f"{d1.base}/Factors/{d2.sid}").status == 204
    assert_error(emu.backend("GET", f"{d1.base}/Factors/YFnothex"), 400, 60362)
    assert_error(emu.backend("GET", "/v2/Services/%s/Entities/nobody-12345/Factors"
                             % emu.service_sid), 404, 60392)
