"""The emulator's start-up, services, access tokens, whole device flow and request log."""

import email.utils
import json
import time
import urllib.parse

import pytest

from emulator_client import SIGNATURE_FIELDS, Device, assert_error, basic


# --- start-up and plumbing ----------------------------------------------------------------

def test_ready_file(emu):
    r = emu.ready
    assert set(r) >= {"base_url", "url", "port", "account_sid", "auth_token", "service_sid"}
    assert r["base_url"] == f"http://127.0.0.1:{r['port']}/v2/"
    assert r["url"] == f"http://127.0.0.1:{r['port']}"
    assert r["account_sid"].startswith("AC") and len(r["account_sid"]) == 34
    assert r["service_sid"].startswith("VA") and len(r["service_sid"]) == 34
    svc = emu.backend("GET", emu.svc_path())
    assert svc.status == 200 and svc.json["sid"] == r["service_sid"]


def test_keep_alive_reuses_connection(emu):
    emu.backend("GET", emu.svc_path())
    sock = emu.conn.sock
    for _ in range(5):
        assert emu.backend("GET", emu.svc_path()).status == 200
    assert emu.conn.sock is sock


def test_create_service(emu):
    r = emu.backend("POST", "/v2/Services", {"FriendlyName": "second"})
    assert r.status == 201 and r.json["friendly_name"] == "second"
    d = Device(emu, service_sid=r.json["sid"]).enroll()
    assert d.call("GET", "/Challenges", query={"FactorSid": d.sid}).status == 200


def test_create_service_name_length(emu):
    """OpenAPI CreateService: FriendlyName "can be up to 32 characters long"."""
    for name in ("n" * 31, "n" * 32, "\u00e9" * 32):
        r = emu.backend("POST", "/v2/Services", {"FriendlyName": name})
        assert r.status == 201 and r.json["friendly_name"] == name, r
    for form in ({"FriendlyName": "n" * 33}, {"FriendlyName": ""}, {}):
        assert_error(emu.backend("POST", "/v2/Services", form), 400, 60306)


def test_service_include_date(emu):
    """Push.IncludeDate (default false): details.date only when the service asks for it,
    and the answer is signed over details as the service renders them."""
    r = emu.backend("POST", "/v2/Services", {"FriendlyName": "dated", "Push.IncludeDate": "true"})
    assert r.status == 201 and r.json["push"]["include_date"] is True
    dated = Device(emu, service_sid=r.json["sid"]).enroll()
    plain = Device(emu).enroll()
    assert emu.backend("GET", emu.svc_path()).json["push"]["include_date"] is False
    for dev, with_date in ((dated, True), (plain, False)):
        ch = emu.create_challenge(dev.identity, dev.sid, service_sid=dev.service_sid).json
        assert ("date" in ch["details"]) == with_date, ch["details"]
        if with_date:
            assert ch["details"]["date"] == ch["date_created"]
        assert list(ch["details"]) == ["message"] + (["date"] if with_date else []) + ["fields"]
        r = dev.answer(ch["sid"])
        assert r.status == 200 and r.json["status"] == "approved", r
    r = emu.backend("POST", "/v2/Services", {"FriendlyName": "x", "Push.IncludeDate": "yes"})
    assert_error(r, 400, 60306)


def test_backend_wrong_credentials(emu):
    for auth in (basic(emu.account_sid, "wrong"), basic("AC" + "0" * 32, emu.auth_token),
                 None, "Bearer x"):
        r = emu.request("POST", emu.svc_path() + "/AccessTokens",
                        {"Identity": "someone-123", "FactorType": "push"}, auth=auth)
        assert_error(r, 401, 20003)


def test_unknown_service_and_path(emu):
    r = emu.backend("POST", "/v2/Services/VA" + "0" * 32 + "/AccessTokens",
                    {"Identity": "someone-123", "FactorType": "push"})
    assert_error(r, 404, 20404)
    r = emu.request("GET", "/v2/Nothing", validate=False)
    assert r.status == 404


# --- access tokens ------------------------------------------------------------------------

def test_access_token_defaults(emu):
    r = emu.backend("POST", emu.svc_path() + "/AccessTokens",
                    {"Identity": "someone-123", "FactorType": "push",
                     "FactorFriendlyName": "My desktop"})
    assert r.status == 201
    assert r.json["ttl"] == 60 and r.json["factor_type"] == "push"
    assert r.json["entity_identity"] == "someone-123"
    assert r.json["factor_friendly_name"] == "My desktop"
    assert isinstance(r.json["token"], str) and len(r.json["token"]) > 20


def test_access_token_url_fetches_it(emu):
    """Its `url` names a resource the document has (FetchAccessToken): the same token."""
    r = emu.backend("POST", emu.svc_path() + "/AccessTokens",
                    {"Identity": "someone-123", "FactorType": "push"})
    assert r.status == 201
    path = urllib.parse.urlsplit(r.json["url"]).path
    assert path == f"{emu.svc_path()}/AccessTokens/{r.json['sid']}"
    fetched = emu.backend("GET", path)
    assert fetched.status == 200 and fetched.json == r.json, fetched
    other = emu.backend("POST", "/v2/Services", {"FriendlyName": "other"}).json["sid"]
    assert_error(emu.backend("GET", f"/v2/Services/{other}/AccessTokens/{r.json['sid']}"),
                 404, 20404)
    assert_error(emu.backend("GET", f"{emu.svc_path()}/AccessTokens/YK{'0' * 32}"), 404, 20404)
    dev = Device(emu).enroll()
    assert_error(emu.request("GET", path, auth=dev.auth()), 401, 20003)


@pytest.mark.parametrize("form", [
    {"FactorType": "push"},
    {"Identity": "someone-123"},
    {"Identity": "someone-123", "FactorType": "totp"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "59"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "301"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "abc"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "1_00"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": ""},
    {"Identity": "short", "FactorType": "push"},
    {"Identity": "has space 123", "FactorType": "push"},
], ids=["no-identity", "no-type", "totp", "ttl-59", "ttl-301", "ttl-text", "ttl-underscore",
        "ttl-empty", "identity-short", "identity-space"])
def test_access_token_rejected(emu, form):
    assert_error(emu.backend("POST", emu.svc_path() + "/AccessTokens", form), 400, 60305)


def test_access_token_ttl_300(emu):
    r = emu.backend("POST", emu.svc_path() + "/AccessTokens",
                    {"Identity": "someone-123", "FactorType": "push", "Ttl": "300"})
    assert r.status == 201 and r.json["ttl"] == 300


# --- the full flow -------------------------------------------------------------------------

def test_full_device_flow(emu):
    d = Device(emu)
    r = d.create(Metadata=json.dumps({"os": "Linux"}))
    assert r.status == 201
    f = r.json
    assert f["status"] == "unverified" and f["factor_type"] == "push"
    assert f["binding"] == {"alg": "ES256", "public_key": d.spki_b64()}
    assert f["config"]["credential_sid"].startswith("CR") and len(f["config"]["credential_sid"]) == 34
    assert f["config"]["notification_platform"] == "none"
    assert f["metadata"] == {"os": "Linux"}
    assert f["identity"] == d.identity and f["account_sid"] == emu.account_sid
    assert f["url"].startswith(emu.url + "/v2/Services/")

    r = d.verify()
    assert r.status == 200 and r.json["status"] == "verified"
    assert "binding" not in r.json

    c = emu.create_challenge(d.identity, d.sid, "Sign in to the kiosk?",
                             fields=[{"label": "Action", "value": "Sign in"}],
                             hidden={"txn": "t-1"})
    assert c.status == 201
    ch = c.json
    assert ch["status"] == "pending" and ch["factor_sid"] == d.sid
    assert ch["details"]["message"] == "Sign in to the kiosk?"
    assert ch["details"]["fields"] == [{"label": "Action", "value": "Sign in"}]
    assert ch["hidden_details"] == {"txn": "t-1"}
    assert ch["date_responded"] is None and ch["responded_reason"] == "none"
    created = email.utils.parsedate_to_datetime(c.header("Date")).timestamp()
    exp = time.mktime(time.strptime(ch["expiration_date"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(exp - created - 300) <= 2, "default expiry is 5 minutes"

    lst = d.call("GET", "/Challenges", query=[("FactorSid", d.sid), ("Status", "pending"),
                                               ("Order", "desc"), ("PageSize", "20")])
    assert lst.status == 200
    assert [x["sid"] for x in lst.json["challenges"]] == [ch["sid"]]
    assert lst.header("Twilio-Verify-Signature-Fields") is None

    got = d.fetch(ch["sid"])
    assert got.status == 200
    assert got.header("Twilio-Verify-Signature-Fields").split(",") == SIGNATURE_FIELDS
    assert got.json == ch

    r = d.call("POST", f"/Challenges/{ch['sid']}",
               {"AuthPayload": d.answer_payload(got, "approved")})
    assert r.status == 200 and r.json["status"] == "approved"
    assert r.json["date_responded"] is not None

    seen = emu.backend("GET", f"{d.base}/Challenges/{ch['sid']}")
    assert seen.status == 200 and seen.json["status"] == "approved"
    assert seen.header("Twilio-Verify-Signature-Fields") is None
    st = emu.state()
    assert st["challenges"][ch["sid"]]["status"] == "approved"
    assert st["challenges"][ch["sid"]]["answer_posts"] == 1
    assert st["factors"][d.sid]["status"] == "verified"
    assert st["factors"][d.sid]["deleted"] is False


def test_deny(emu, dev):
    c = emu.create_challenge(dev.identity, dev.sid).json
    r = dev.answer(c["sid"], "denied")
    assert r.status == 200 and r.json["status"] == "denied"
    assert emu.backend("GET", f"{dev.base}/Challenges/{c['sid']}").json["status"] == "denied"


# --- request log ------------------------------------------------------------------------------

def test_request_log(emu):
    assert emu.control("POST", "/_emulator/requests/clear").status == 200
    d = Device(emu).enroll()
    d.call("GET", "/Challenges", query={"FactorSid": d.sid, "pageToken": "x"})
    emu.request("GET", d.base + "/Challenges")
    log = emu.control("GET", "/_emulator/requests").json
    assert [e["auth"] for e in log] == ["backend", "access-token", "device", "device", "none"]
    assert [e["status"] for e in log] == [201, 201, 200, 400, 401]
    assert log[1]["method"] == "POST" and log[1]["path"] == d.base + "/Factors"
    assert "pageToken=x" in log[3]["query"]
