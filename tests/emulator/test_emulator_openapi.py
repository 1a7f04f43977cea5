"""The OpenAPI checker and the emulator's record of requests that do not conform."""

import os

import pytest

from emulator_client import SPEC
from vpush_emulator import openapi


# --- OpenAPI checker ----------------------------------------------------------------------------

def test_openapi_checker_accepts_twilio_examples():
    """Our checker, non-strict, accepts Twilio's own examples for the push operations."""
    count = 0
    for path, item in SPEC.doc["paths"].items():
        if "/Entities/" not in path and not path.endswith("AccessTokens"):
            continue
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for status, resp in op["responses"].items():
                for media in resp.get("content", {}).values():
                    for ex in media.get("examples", {}).values():
                        errors = SPEC.validate(media["schema"], ex["value"], strict=False)
                        assert not errors, (op["operationId"], errors)
                        count += 1
    assert count >= 10


def test_openapi_checker_rejects():
    good = {"sid": "YC" + "a" * 32, "status": "pending", "date_created": "2026-01-01T00:00:00Z",
            "url": "http://127.0.0.1:1/x"}
    schema = {"$ref": "#/components/schemas/verify.v2.service.entity.challenge"}
    assert not SPEC.validate(schema, good, strict=False)
    for bad in ({"sid": "YF" + "a" * 32}, {"status": "done"}, {"status": None},
                {"date_created": "2026-01-01T00:00:00.000Z"},
                {"date_created": "2026-01-01 00:00:00"}, {"url": "/relative"},
                {"links": {"n": "nope"}}, {"unknown": 1}):
        errs = SPEC.validate(schema, {**good, **bad}, strict=True)
        assert errs, bad
    with pytest.raises(AssertionError):
        SPEC.check_response("GET", "/v2/Services/VA%s/Entities/x/Challenges/YC%s"
                            % ("a" * 32, "a" * 32), 201, good)
    with pytest.raises(AssertionError):
        SPEC.check_response("POST", "/v2/Services/x/AccessTokens", 400,
                            {"code": "1", "message": "m"})


def test_openapi_request_checker():
    """check_request: the operation's query parameters and form fields, their values as
    the schemas allow, the required fields; fields the protocol doc records the SDKs
    sending beyond a schema pass."""
    base = "/v2/Services/VA%s/Entities/user-1234/" % ("a" * 32)
    factor = base + "Factors/YF" + "b" * 32
    listing = base + "Challenges"
    SPEC.check_request("GET", listing, [("FactorSid", "YF" + "b" * 32), ("PageSize", "50"),
                                        ("Order", "desc"), ("Status", "pending")], [])
    SPEC.check_request("POST", factor, [], [("FriendlyName", "desk"),
                                            ("Config.SdkVersion", "1"),
                                            ("Config.AppId", "io.github.vpush"),
                                            ("Config.NotificationPlatform", "none")])
    SPEC.check_request("POST", base + "Factors", [], [("FriendlyName", "d"), ("FactorType", "push"),
                                                      ("Config.NotificationPlatform", "none")])
    # a request's date-time is any RFC 3339 one; a path's identity is percent-encoded
    for when in ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00.250Z", "2026-11-26t10:00:00+01:00"):
        SPEC.check_request("POST", listing, [], [("FactorSid", "YF" + "b" * 32),
                                                 ("Details.Message", "m"),
                                                 ("ExpirationDate", when)])
    SPEC.check_request("GET", base.replace("user-1234", "user%2F1") + "Challenges", [], [])
    other = "/v2/Services/VA%s/Entities/user-1234/" % ("a" * 31)
    for method, path, query, form, what in (
            ("GET", other + "Challenges", [], [], "{ServiceSid}: 'VA" + "a" * 31),
            ("GET", listing + "/YC" + "c" * 31, [], [], "{Sid}: 'YC"),
            ("POST", listing, [], [("FactorSid", "YF" + "b" * 32), ("Details.Message", "m"),
                                   ("ExpirationDate", "2026-11-26T10:00:00")],
             "not an RFC 3339 date-time"),
            ("GET", listing, [("PageSize", "5_0")], [], "not an integer"),
            ("GET", listing, [("PageSize", "1001")], [], "above maximum"),
            ("GET", listing, [("Order", "up")], [], "is not one of"),
            ("GET", listing, [("pageSize", "5")], [], "not the operation's"),
            ("GET", listing, [], [("FactorSid", "x")], "takes none"),
            ("POST", factor, [], [("FriendlyName", "d"), ("Config.AppID", "x")], "not in the schema"),
            ("POST", base + "Factors", [], [("FriendlyName", "d"), ("FactorType", "sms")],
             "is not one of"),
            ("POST", base + "Factors", [], [("FriendlyName", "d")], "'FactorType' is missing"),
            ("POST", base + "Factors", [], [("FriendlyName", "d"), ("FactorType", "push"),
                                            ("Config.AppId", "x"), ("Config.Bogus", "1")],
             "'Config.Bogus' is not in the schema")):
        with pytest.raises(AssertionError) as exc:
            SPEC.check_request(method, path, query, form)
        assert what in str(exc.value), (what, str(exc.value))


def test_nonconforming_requests_are_kept(emu, dev):
    """With --check-openapi a request the spec does not allow is answered as the API would
    answer it, and kept for GET /_emulator/conformance."""
    before = len(emu.control("GET", "/_emulator/conformance").json["requests"])
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Bogus": "1"})
    assert r.status == 200, r
    found = emu.control("GET", "/_emulator/conformance").json
    assert found["checked"] is True
    assert len(found["requests"]) == before + 1
    assert "'Bogus' is not the operation's" in found["requests"][-1]["error"]


def test_openapi_spec_location(monkeypatch):
    monkeypatch.setenv("VPUSH_OPENAPI", "/nonexistent/spec.json")
    assert openapi.default_spec_path() == "/nonexistent/spec.json"
    monkeypatch.delenv("VPUSH_OPENAPI")
    p = openapi.default_spec_path()
    assert p.endswith(os.path.join("shared", "spec", "twilio_verify_v2.json"))
    assert os.path.exists(p)
