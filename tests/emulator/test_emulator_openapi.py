"""The OpenAPI checker and the emulator's record of requests that do not conform."""

import base64
import http.client
import json
import os
import threading

import pytest

from emulator_client import SPEC, basic
from vpush_emulator import openapi, server
from vpush_emulator import store as store_module
from vpush_emulator.push import PushHub
from vpush_emulator.store import SIGNATURE_FIELDS, Store


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
    the schemas allow, the required fields; a field beyond a schema is kept, even one the
    protocol doc records the SDKs sending (Config.AppId on UpdateFactor, §3.3)."""
    base = "/v2/Services/VA%s/Entities/user-1234/" % ("a" * 32)
    factor = base + "Factors/YF" + "b" * 32
    listing = base + "Challenges"
    SPEC.check_request("GET", listing, [("FactorSid", "YF" + "b" * 32), ("PageSize", "50"),
                                        ("Order", "desc"), ("Status", "pending")], [])
    SPEC.check_request("POST", factor, [], [("FriendlyName", "desk"),
                                            ("Config.SdkVersion", "1"),
                                            ("Config.NotificationPlatform", "none")])
    SPEC.check_request("POST", base + "Factors", [], [("FriendlyName", "d"), ("FactorType", "push"),
                                                      ("Config.NotificationPlatform", "none")])
    # a request's date-time is any RFC 3339 one; a path's identity is percent-encoded
    for when in ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00.250Z", "2026-11-26t10:00:00+01:00"):
        SPEC.check_request("POST", listing, [], [("FactorSid", "YF" + "b" * 32),
                                                 ("Details.Message", "m"),
                                                 ("ExpirationDate", when)])
    SPEC.check_request("GET", base.replace("user-1234", "user%2F1") + "Challenges", [], [])
    # an array is given once per item (Details.Fields)
    SPEC.check_request("POST", listing, [], [("FactorSid", "YF" + "b" * 32),
                                             ("Details.Message", "m"),
                                             ("Details.Fields", '{"label":"a","value":"1"}'),
                                             ("Details.Fields", '{"label":"b","value":"2"}')])
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
            ("POST", factor, [], [("FriendlyName", "d"), ("Config.SdkVersion", "1"),
                                  ("Config.AppId", "x"), ("Config.NotificationPlatform", "none")],
             "form field 'Config.AppId' is not in the schema"),
            ("POST", base + "Factors", [], [("FriendlyName", "d"), ("FactorType", "sms")],
             "is not one of"),
            ("POST", base + "Factors", [], [("FriendlyName", "d")], "'FactorType' is missing"),
            ("POST", base + "Factors", [], [("FriendlyName", "d"), ("FactorType", "push"),
                                            ("Config.AppId", "x"), ("Config.Bogus", "1")],
             "'Config.Bogus' is not in the schema"),
            ("GET", listing, [("Status", "pending"), ("Status", "expired")], [],
             "query parameter 'Status' given 2 times, and it is not an array"),
            ("POST", factor, [], [("FriendlyName", "a"), ("AuthPayload", "x"),
                                  ("FriendlyName", "b")],
             "form field 'FriendlyName' given 2 times, and it is not an array")):
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


def test_nonconforming_requests_counted(emu, dev):
    """Each request kept is counted in `total`, which goes on past the list's cap."""
    before = emu.control("GET", "/_emulator/conformance").json
    r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid, "Bogus": "1"})
    assert r.status == 200, r
    found = emu.control("GET", "/_emulator/conformance").json
    assert found["total"] == before["total"] + 1
    assert found["requests"][-1]["kind"] == "request"
    assert found["requests"][-1]["method"] == "GET"
    assert found["requests"][-1]["path"] == dev.base + "/Challenges"


def _kept_by(emu, send):
    """The requests and answers --check-openapi kept while `send()` ran, and its answer."""
    before = emu.control("GET", "/_emulator/conformance").json["total"]
    r = send()
    found = emu.control("GET", "/_emulator/conformance").json
    new = found["total"] - before
    return r, found["requests"][len(found["requests"]) - new:] if new else []


def test_unknown_path_or_method_kept(emu, dev):
    """A /v2 path or method the OpenAPI document does not have is answered 404 or 405, and
    kept: a client must never send it."""
    auth = basic(emu.account_sid, emu.auth_token)
    for method, path, status in (
            ("GET", emu.svc_path() + "/Nope", 404),
            ("GET", dev.base + "/Challenges/", 404),
            ("GET", "/v2/", 404),
            ("PUT", dev.base + "/Challenges", 405),
            ("PATCH", f"{dev.base}/Factors/{dev.sid}", 405)):
        r, kept = _kept_by(emu, lambda: emu.request(method, path, auth=auth))
        assert r.status == status, (method, path, r)
        assert len(kept) == 1, (method, path, kept)
        assert (kept[0]["kind"], kept[0]["method"], kept[0]["path"]) == ("request", method, path)
        assert f"no operation for {method} {path}" in kept[0]["error"], kept
    # an unreadable query does not hide it
    r, kept = _kept_by(emu, lambda: emu.request("GET", emu.svc_path() + "/Nope?x=%ff",
                                                auth=auth))
    assert r.status == 404 and len(kept) == 1 and "no operation" in kept[0]["error"], kept


def test_document_operation_not_served_passes(emu):
    """An operation the OpenAPI document has but the emulator does not serve (404 or 405)
    is not kept when the request is one the document allows, and is checked as any other."""
    auth = basic(emu.account_sid, emu.auth_token)
    for method, path, query, status in (("GET", "/v2/Services", {"PageSize": "5"}, 405),
                                        ("DELETE", emu.svc_path(), None, 405),
                                        ("GET", emu.svc_path() + "/Entities/user-1234", None,
                                         404)):
        r, kept = _kept_by(emu, lambda: emu.request(method, path, query=query, auth=auth))
        assert r.status == status, (method, path, r)
        assert kept == [], (method, path, kept)
    r, kept = _kept_by(emu, lambda: emu.request("GET", "/v2/Services", query={"Bogus": "1"},
                                                auth=auth))
    assert r.status == 405 and len(kept) == 1, kept
    assert "'Bogus' is not the operation's" in kept[0]["error"], kept


def test_openapi_request_body_checker():
    """check_request with the raw body: a form body only as the type the operation's
    requestBody gives; no body at all for an operation without one (a Content-Type header
    on an empty GET or DELETE, as the SDKs send it, passes)."""
    base = "/v2/Services/VA%s/Entities/user-1234/" % ("a" * 32)
    factor = base + "Factors/YF" + "b" * 32
    form = [("FriendlyName", "desk")]
    body = b"FriendlyName=desk"
    for ctype in ("application/x-www-form-urlencoded",
                  "Application/X-WWW-Form-URLencoded; charset=utf-8"):
        SPEC.check_request("POST", factor, [], form, ctype, body)
    for method, path in (("GET", factor), ("DELETE", factor), ("GET", base + "Challenges")):
        SPEC.check_request(method, path, [], [], "application/x-www-form-urlencoded", b"")
        SPEC.check_request(method, path, [], [], None, b"")
    SPEC.check_request("POST", factor, [], [], None, b"")     # an empty update
    for method, path, form, ctype, body, what in (
            ("POST", factor, [], None, body, "Content-Type None, not one of"),
            ("POST", factor, [], "application/json", b'{"FriendlyName":"desk"}',
             "Content-Type 'application/json', not one of"),
            ("POST", factor, [], "text/plain; charset=utf-8", body, "'text/plain"),
            ("GET", factor, form, "application/x-www-form-urlencoded", body,
             "17 bytes, Content-Type 'application/x-www-form-urlencoded'), for an "
             "operation that takes none"),
            ("DELETE", factor, [], "application/json", b"{}", "for an operation that takes none"),
            ("GET", base + "Challenges", [], None, b"x", "Content-Type None), for an "
             "operation")):
        with pytest.raises(AssertionError) as exc:
            SPEC.check_request(method, path, [], form, ctype, body)
        assert what in str(exc.value), (what, str(exc.value))
    with pytest.raises(AssertionError) as exc:
        SPEC.check_unreadable("GET", factor, "application/x-www-form-urlencoded", b"\xff")
    assert "for an operation that takes none" in str(exc.value)
    SPEC.check_unreadable("POST", factor, "application/x-www-form-urlencoded", b"\xff")


def test_openapi_request_auth_checker():
    """check_request with the Authorization header: HTTP Basic with user:password, the
    document's one security scheme, whatever the credentials; not checked when not given."""
    listing = "/v2/Services/VA%s/Entities/user-1234/Challenges" % ("a" * 32)
    for good in (basic("token", "x.y.z"), basic("AC" + "a" * 32, "secret"),
                 "basic " + basic("token", "")[6:]):
        SPEC.check_request("GET", listing, [], [], authorization=good)
        SPEC.check_unreadable("GET", listing, None, b"", authorization=good)
    SPEC.check_request("GET", listing, [], [])
    for bad, what in ((None, "Authorization none,"),
                      ("Bearer x.y.z", "Authorization 'Bearer',"),
                      ("Basic", "Authorization 'Basic',"),
                      ("Basic !!!", "Authorization 'Basic',"),
                      ("Basic " + base64.b64encode(b"no-colon").decode(), "not HTTP Basic"),
                      ("Basic " + base64.b64encode(b"\xff:x").decode(), "not HTTP Basic"),
                      ("token:x.y.z", "not HTTP Basic")):
        for check in (lambda: SPEC.check_request("GET", listing, [], [], authorization=bad),
                      lambda: SPEC.check_unreadable("GET", listing, None, b"",
                                                    authorization=bad)):
            with pytest.raises(AssertionError) as exc:
                check()
            assert what in str(exc.value), (bad, str(exc.value))


def test_request_without_basic_auth_kept(emu, dev):
    """With --check-openapi a /v2 request without HTTP Basic is answered 401 and kept; one
    with Basic credentials the API refuses is answered 401 and not kept (it conforms)."""
    path = dev.base + "/Challenges"
    for auth in (None, "Bearer " + dev.jwt()):
        r, kept = _kept_by(emu, lambda: emu.request("GET", path, query={"FactorSid": dev.sid},
                                                    auth=auth))
        assert r.status == 401, r
        assert len(kept) == 1 and "not HTTP Basic" in kept[0]["error"], kept
    r, kept = _kept_by(emu, lambda: emu.request("GET", path, query={"FactorSid": dev.sid},
                                                auth=basic("token", "not-a-jwt")))
    assert r.status == 401 and kept == [], (r, kept)
    r, kept = _kept_by(emu, lambda: dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}))
    assert r.status == 200 and kept == [], (r, kept)


def test_request_content_type_kept(emu, dev):
    """With --check-openapi a body of another type than the operation's, or a body on a
    call that takes none, is answered as the API would and kept; the right type is not."""
    fields = {"FriendlyName": "renamed"}
    good = dev.call("POST", f"/Factors/{dev.sid}", fields)
    assert good.status == 200, good
    for method, path, body, headers, status, what in (
            ("POST", f"/Factors/{dev.sid}", '{"FriendlyName":"x"}',
             {"Content-Type": "application/json"}, 200, "'application/json', not one of"),
            ("POST", f"/Factors/{dev.sid}", "FriendlyName=x", {"Content-Type": ""}, 200,
             "Content-Type '', not one of"),
            ("GET", "/Challenges", "FactorSid=" + dev.sid, {}, 200,
             "for an operation that takes none"),
            ("GET", "/Challenges", "x=%ff", {}, 400, "for an operation that takes none"),
            ("DELETE", "/Factors/YF" + "0" * 32, "x=1", {"Content-Type": "text/plain"}, 401,
             "for an operation that takes none")):
        r, kept = _kept_by(emu, lambda: emu.request(method, dev.base + path, body=body,
                                                    auth=dev.auth(), headers=headers))
        assert r.status == status, (method, path, r)
        assert len(kept) == 1 and kept[0]["kind"] == "request", (method, path, kept)
        assert what in kept[0]["error"], (what, kept)
    r, kept = _kept_by(emu, lambda: emu.request(
        "POST", dev.base + f"/Factors/{dev.sid}", body="FriendlyName=again", auth=dev.auth(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}))
    assert r.status == 200 and r.json["friendly_name"] == "again" and kept == [], (r, kept)
    r, kept = _kept_by(emu, lambda: dev.call("GET", "/Challenges",
                                             query={"FactorSid": dev.sid}))
    assert r.status == 200 and kept == [], (r, kept)


@pytest.fixture
def inproc():
    """An emulator in this process, checking against the OpenAPI document, whose store a
    test can break."""
    store = Store()
    srv = server.Server(("127.0.0.1", 0), store, PushHub(store.clock, 0), SPEC)
    svc = store.add_service("in process")
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv, svc
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _get(srv, path, auth=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": auth} if auth else {})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_nonconforming_response_kept(inproc, monkeypatch):
    """An answer the OpenAPI document does not allow goes out as a 500, and is kept for
    GET /_emulator/conformance with what the emulator would have answered: a client that
    retries the 500 does not hide it."""
    srv, svc = inproc
    store = srv.store
    render = store.render_service
    monkeypatch.setattr(store, "render_service",
                        lambda s: {**render(s), "code_length": "six"})
    status, body = _get(srv, f"/v2/Services/{svc.sid}",
                        basic(store.account_sid, store.auth_token))
    assert status == 500 and body["code"] == 20500, body
    status, found = _get(srv, "/_emulator/conformance")
    assert status == 200
    assert found["checked"] is True and found["total"] == 1
    entry = found["requests"][-1]
    assert entry["kind"] == "response" and entry["status"] == 200, entry
    assert (entry["method"], entry["path"]) == ("GET", f"/v2/Services/{svc.sid}")
    assert "code_length" in entry["error"], entry
    # the request was a good one: only its answer is kept
    assert len(found["requests"]) == 1


def test_nonconforming_total_past_cap(inproc, monkeypatch):
    """The list keeps the last NONCONFORMING_MAX; `total` counts them all, so a client's
    tests compare totals and see every new one."""
    srv, svc = inproc
    store = srv.store
    monkeypatch.setattr(store_module, "NONCONFORMING_MAX", 2)
    auth = basic(store.account_sid, store.auth_token)
    for n in range(1, 5):
        status, _ = _get(srv, f"/v2/Services/{svc.sid}?Bogus={n}", auth)
        assert status == 200
        status, found = _get(srv, "/_emulator/conformance")
        assert found["total"] == n
        assert len(found["requests"]) == min(n, 2)
        assert found["requests"][-1]["kind"] == "request"
        assert "Bogus" in found["requests"][-1]["error"]


def test_openapi_signature_fields_checker():
    """check_signature_fields: every name the header lists (split on commas, trimmed,
    empty ones ignored) is a key of the body, and it lists one at least."""
    body = {"sid": "YC1", "status": "pending", "details": {}, "hidden_details": None}
    for text in ("sid,status,details,hidden_details", " sid , ,details,", "sid"):
        SPEC.check_signature_fields("GET", "/p", text, body)
    for text, what in (("sid,status,entity_sid", "['entity_sid'], not in the body"),
                       ("sid, no_such ,,Status", "['no_such', 'Status']"),
                       ("message", "['message']"),     # a key of details, not of the body
                       (" , ", "names no field")):
        with pytest.raises(AssertionError) as exc:
            SPEC.check_signature_fields("GET", "/p", text, body)
        assert what in str(exc.value), (text, str(exc.value))
    with pytest.raises(AssertionError):
        SPEC.check_signature_fields("GET", "/p", "sid", None)


def _pending_challenge(srv, svc):
    store = srv.store
    with store.lock:
        ent = store.entity(svc.sid, "user-1234", create=True)
        now = int(store.now())
        ch = store.add_challenge(service_sid=svc.sid, entity=ent, factor_sid="YF" + "b" * 32,
                                 created=now, updated=now, expires=now + 300, message="m",
                                 fields=[], hidden=None)
    return f"/v2/Services/{svc.sid}/Entities/user-1234/Challenges/{ch.sid}"


def _get_with_header(srv, path, auth):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": auth})
        r = conn.getresponse()
        return r.status, r.getheader("Twilio-Verify-Signature-Fields"), json.loads(r.read())
    finally:
        conn.close()


def test_own_signature_fields_checked(inproc, monkeypatch):
    """The emulator's own Twilio-Verify-Signature-Fields list naming a field its body lacks
    is a nonconforming answer (500, kept); the list as it is passes."""
    srv, svc = inproc
    store = srv.store
    auth = basic(store.account_sid, store.auth_token)
    path = _pending_challenge(srv, svc)
    status, header, body = _get_with_header(srv, path, auth)
    assert status == 200 and header.split(",") == list(SIGNATURE_FIELDS), (header, body)
    assert _get(srv, "/_emulator/conformance")[1]["total"] == 0
    monkeypatch.setattr(store_module, "SIGNATURE_FIELDS", SIGNATURE_FIELDS + ("no_such_field",))
    status, header, body = _get_with_header(srv, path, auth)
    assert status == 500 and body["code"] == 20500 and header is None, (status, body)
    found = _get(srv, "/_emulator/conformance")[1]
    assert found["total"] == 1
    entry = found["requests"][-1]
    assert (entry["kind"], entry["status"], entry["path"]) == ("response", 200, path), entry
    assert "['no_such_field'], not in the body" in entry["error"], entry


def test_test_set_signature_fields_not_checked(inproc):
    """A list a test set (POST /_emulator/signature-fields) may name fields the challenge
    lacks on purpose: it goes out as it is, and is not kept."""
    srv, svc = inproc
    store = srv.store
    auth = basic(store.account_sid, store.auth_token)
    path = _pending_challenge(srv, svc)
    store.signature_fields = "sid,status,no_such_field"
    status, header, _ = _get_with_header(srv, path, auth)
    assert status == 200 and header == "sid,status,no_such_field"
    assert _get(srv, "/_emulator/conformance")[1]["total"] == 0


def test_openapi_spec_location(monkeypatch):
    monkeypatch.setenv("VPUSH_OPENAPI", "/nonexistent/spec.json")
    assert openapi.default_spec_path() == "/nonexistent/spec.json"
    monkeypatch.delenv("VPUSH_OPENAPI")
    p = openapi.default_spec_path()
    assert p.endswith(os.path.join("shared", "spec", "twilio_verify_v2.json"))
    assert os.path.exists(p)


def test_openapi_protocol_shapes():
    """Strict mode checks the properties the document leaves without a type as the
    protocol doc describes them (§3.1, §3.5); Twilio's examples, non-strict, still pass."""
    store = Store()
    svc = store.add_service("shapes")
    path = _pending_challenge_in(store, svc)
    good = store.render_challenge(store.challenges[path.rsplit("/", 1)[1]])
    SPEC.check_response("GET", path, 200, good)
    with_date = {**good, "details": {**good["details"], "date": good["date_created"]},
                 "hidden_details": {"txn": "t-1"}, "metadata": {"os": "Linux"}}
    SPEC.check_response("GET", path, 200, with_date)
    for bad, what in (
            ({"details": {"fields": []}}, "$.details: property 'message' is missing"),
            ({"details": {"message": "m", "fields": [{"label": "l", "value": 5}]}},
             "$.details.fields[0].value: expected string"),
            ({"details": {"message": "m", "fields": [], "extra": 1}}, "'extra' is not in"),
            ({"details": {"message": "m", "fields": [], "date": "today"}}, "'today'"),
            ({"details": None}, "$.details: null"),
            ({"hidden_details": {"txn": 1}}, "$.hidden_details.txn: expected string"),
            ({"hidden_details": ["txn"]}, "$.hidden_details: expected object"),
            ({"metadata": {"os": None}}, "$.metadata.os: null")):
        with pytest.raises(AssertionError) as exc:
            SPEC.check_response("GET", path, 200, {**good, **bad})
        assert what in str(exc.value), (bad, str(exc.value))
    factor_path = f"/v2/Services/{svc.sid}/Entities/user-1234/Factors"
    config = {"sdk_version": "1", "app_id": "a", "notification_platform": "none",
              "notification_token": None, "credential_sid": "CR" + "c" * 32}
    factor = {"sid": "YF" + "b" * 32, "account_sid": store.account_sid, "service_sid": svc.sid,
              "entity_sid": "YE" + "e" * 32, "identity": "user-1234",
              "binding": {"alg": "ES256", "public_key": "MFkw"}, "options": None,
              "date_created": "2026-01-01T00:00:00Z", "date_updated": "2026-01-01T00:00:00Z",
              "friendly_name": "f", "status": "unverified", "factor_type": "push",
              "config": config, "metadata": None, "url": "http://127.0.0.1:1/f"}
    SPEC.check_response("POST", factor_path, 201, factor)
    for bad, what in (
            ({"config": {**config, "credential_sid": None}}, "credential_sid: null"),
            ({"config": {k: v for k, v in config.items() if k != "credential_sid"}},
             "'credential_sid' is missing"),
            ({"config": {**config, "notification_platform": "FCM"}}, "'FCM' is not one of"),
            ({"binding": {"alg": "ES384", "public_key": "MFkw"}}, "'ES384' is not one of"),
            ({"metadata": {"n": 1}}, "$.metadata.n: expected string")):
        with pytest.raises(AssertionError) as exc:
            SPEC.check_response("POST", factor_path, 201, {**factor, **bad})
        assert what in str(exc.value), (bad, str(exc.value))


def test_openapi_response_headers_checker():
    """check_response_headers: one RFC 1123 Date, a Content-Type of the response's media
    types with a body and none without, and no Twilio-… header the operation does not
    document for that status."""
    svc = "/v2/Services/VA" + "a" * 32
    one = svc + "/Entities/user-1234/Challenges/YC" + "c" * 32
    date = ("Date", "Thu, 26 Nov 2026 16:11:44 GMT")
    json_type = ("Content-Type", "application/json")
    fields = ("Twilio-Verify-Signature-Fields", "sid,status")
    SPEC.check_response_headers("GET", one, 200, [date, json_type, fields], True)
    SPEC.check_response_headers("GET", one, 200, [date, ("content-type",
                                                         "application/json; charset=utf-8")],
                                True)
    SPEC.check_response_headers("DELETE", svc + "/Entities/user-1234/Factors/YF" + "f" * 32,
                                204, [date], False)
    SPEC.check_response_headers("GET", "/v2/Nothing", 404, [date, json_type], True)
    for method, path, status, headers, body, what in (
            ("GET", one, 200, [json_type], True, "Date []"),
            ("GET", one, 200, [date, date, json_type], True, "is not one RFC 1123"),
            ("GET", one, 200, [("Date", "2026-11-26T16:11:44Z"), json_type], True, "Date"),
            ("GET", one, 200, [("Date", "Thu, 26 Nov 2026 16:11:44 +0000"), json_type], True,
             "Date"),
            ("GET", one, 200, [date], True, "Content-Type []"),
            ("GET", one, 200, [date, ("Content-Type", "text/html")], True, "text/html"),
            ("GET", one, 401, [date, ("Content-Type", "text/plain")], True, "text/plain"),
            ("DELETE", svc + "/Entities/user-1234/Factors/YF" + "f" * 32, 204,
             [date, json_type], False, "without a body"),
            ("GET", one[:one.rindex("/")], 200, [date, json_type, fields], True,
             "'twilio-verify-signature-fields' is not the operation's"),
            ("GET", one, 404, [date, json_type, fields], True, "is not the operation's"),
            ("POST", one, 200, [date, json_type, fields], True, "is not the operation's")):
        with pytest.raises(AssertionError) as exc:
            SPEC.check_response_headers(method, path, status, headers, body)
        assert what in str(exc.value), (headers, str(exc.value))


def _pending_challenge_in(store, svc):
    with store.lock:
        ent = store.entity(svc.sid, "user-1234", create=True)
        now = int(store.now())
        ch = store.add_challenge(service_sid=svc.sid, entity=ent, factor_sid="YF" + "b" * 32,
                                 created=now, updated=now, expires=now + 300, message="m",
                                 fields=[], hidden=None)
    return f"/v2/Services/{svc.sid}/Entities/user-1234/Challenges/{ch.sid}"


def test_answer_headers_checked(inproc, monkeypatch):
    """A header the document does not give the operation (the signature-fields header on a
    list) makes the answer nonconforming: 500, kept."""
    srv, svc = inproc
    store = srv.store
    auth = basic(store.account_sid, store.auth_token)
    path = _pending_challenge(srv, svc)
    listing = path.rsplit("/", 1)[0]
    assert _get(srv, listing, auth)[0] == 200
    assert _get(srv, "/_emulator/conformance")[1]["total"] == 0
    real = server.common.list_challenges

    def with_header(req):
        resp = real(req)
        resp.headers.append(("Twilio-Verify-Signature-Fields", "sid"))
        return resp
    monkeypatch.setitem(server.route(listing)[0], "GET", (with_header, {"backend"}))
    status, body = _get(srv, listing, auth)
    assert status == 500 and body["code"] == 20500, body
    entry = _get(srv, "/_emulator/conformance")[1]["requests"][-1]
    assert (entry["kind"], entry["status"]) == ("response", 200), entry
    assert "twilio-verify-signature-fields" in entry["error"], entry


def test_answer_shapes_checked(inproc, monkeypatch):
    """A challenge whose hidden_details holds a number (protocol doc §3.5: strings) is a
    nonconforming answer: 500, kept."""
    srv, svc = inproc
    store = srv.store
    auth = basic(store.account_sid, store.auth_token)
    path = _pending_challenge(srv, svc)
    assert _get(srv, path, auth)[0] == 200
    render = store.render_challenge
    monkeypatch.setattr(store, "render_challenge",
                        lambda ch: {**render(ch), "hidden_details": {"n": 1}})
    status, body = _get(srv, path, auth)
    assert status == 500 and body["code"] == 20500, body
    entry = _get(srv, "/_emulator/conformance")[1]["requests"][-1]
    assert "$.hidden_details.n: expected string" in entry["error"], entry
