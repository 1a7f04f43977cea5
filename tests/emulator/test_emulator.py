"""Tests of the Verify emulator (docs/emulator.md), acting as an independent device and
backend with Python cryptography. Every /v2 response is checked against Twilio's
OpenAPI document."""

import base64
import email.utils
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from vpush_emulator import openapi  # noqa: E402

EMULATOR = os.path.join(HERE, "vpush-emulator")
SPEC = openapi.load()
SIGNATURE_FIELDS = ["hidden_details", "account_sid", "sid", "expiration_date", "date_created",
                    "status", "factor_sid", "details", "service_sid", "identity"]


# --- helpers ------------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def encode_form(fields):
    """Android-style: every key and value percent-encoded (RFC 3986 unreserved kept)."""
    if isinstance(fields, dict):
        fields = list(fields.items())
    return "&".join(f"{urllib.parse.quote(str(k), safe='')}={urllib.parse.quote(str(v), safe='')}"
                    for k, v in fields if v is not None)


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.json = json.loads(raw) if raw else None

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return f"<Resp {self.status} {self.raw[:300]!r}>"


class Emulator:
    def __init__(self, *extra):
        self.tmp = tempfile.mkdtemp(prefix="vpush-emu-")
        ready = os.path.join(self.tmp, "ready.json")
        self.proc = subprocess.Popen([sys.executable, EMULATOR, "--listen", "127.0.0.1",
                                      "--port", "0", "--ready-file", ready, *extra],
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start: "
                                   + self.proc.stderr.read().decode(errors="replace"))
            time.sleep(0.02)
        with open(ready) as fh:
            self.ready = json.load(fh)
        self.url = self.ready["url"]
        self.port = self.ready["port"]
        self.account_sid = self.ready["account_sid"]
        self.auth_token = self.ready["auth_token"]
        self.service_sid = self.ready["service_sid"]
        self.conn = None

    def stop(self):
        if self.conn:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        return self.conn

    def request(self, method, path, form=None, query=None, auth=None, headers=None,
                body=None, validate=True):
        if query:
            path = path + "?" + (query if isinstance(query, str) else encode_form(query))
        hdrs = {"Accept": "application/json"}
        if body is None and form is not None:
            body = encode_form(form)
        if body is not None or method in ("POST", "DELETE"):
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if auth:
            hdrs["Authorization"] = auth
        hdrs.update(headers or {})
        for attempt in (0, 1):
            conn = self.connection()
            try:
                conn.request(method, path, body=body.encode() if isinstance(body, str) else body,
                             headers=hdrs)
                r = conn.getresponse()
                raw = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                conn.close()
                self.conn = None
                if attempt:
                    raise
        resp = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, raw)
        resp.headers = r.headers
        assert r.headers.get("Date"), "every response carries a Date header"
        p = path.split("?")[0]
        if validate and p.startswith("/v2/"):
            SPEC.check_response(method, p, resp.status, resp.json)
        return resp

    # backend side
    def backend(self, method, path, form=None, query=None):
        return self.request(method, path, form=form, query=query,
                            auth=basic(self.account_sid, self.auth_token))

    def svc_path(self, service_sid=None):
        return f"/v2/Services/{service_sid or self.service_sid}"

    def access_token(self, identity, service_sid=None, **extra):
        form = {"Identity": identity, "FactorType": "push", **extra}
        r = self.backend("POST", self.svc_path(service_sid) + "/AccessTokens", form)
        assert r.status == 201, r
        return r.json["token"]

    def create_challenge(self, identity, factor_sid, message="Log in?", fields=(),
                         hidden=None, expiration=None, service_sid=None):
        form = [("FactorSid", factor_sid), ("Details.Message", message)]
        form += [("Details.Fields", json.dumps(f)) for f in fields]
        if hidden is not None:
            form.append(("HiddenDetails", json.dumps(hidden)))
        if expiration is not None:
            form.append(("ExpirationDate", expiration))
        return self.backend("POST", f"{self.svc_path(service_sid)}/Entities/{identity}/Challenges",
                            form)

    def control(self, method, path, form=None):
        return self.request(method, path, form=form, validate=False)

    def set_clock(self, offset):
        r = self.control("POST", "/_emulator/clock", {"offset": offset})
        assert r.status == 200, r

    def state(self):
        return self.control("GET", "/_emulator/state").json


class Device:
    """An independent push-factor device (protocol doc §3-§5)."""

    def __init__(self, emu, identity=None, service_sid=None):
        self.emu = emu
        self.identity = identity or "dev-" + secrets.token_hex(8)
        self.service_sid = service_sid or emu.service_sid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.sid = None
        self.credential_sid = None
        self.account_sid = emu.account_sid
        self.correction = 0

    @property
    def base(self):
        return f"/v2/Services/{self.service_sid}/Entities/{self.identity}"

    def spki_b64(self, key=None):
        der = (key or self.key).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def create_form(self, **over):
        form = {"FriendlyName": "test desktop", "FactorType": "push",
                "Binding.PublicKey": self.spki_b64(), "Binding.Alg": "ES256",
                "Config.SdkVersion": "0.1.0", "Config.AppId": "io.github.vpush",
                "Config.NotificationPlatform": "none"}
        for k, v in over.items():
            k = k.replace("__", ".")
            if v is None:
                form.pop(k, None)
            else:
                form[k] = v
        return form

    def create(self, token=None, **over):
        token = token or self.emu.access_token(self.identity, self.service_sid)
        r = self.emu.request("POST", self.base + "/Factors", form=self.create_form(**over),
                             auth=basic("token", token))
        if r.status == 201:
            self.sid = r.json["sid"]
            self.credential_sid = r.json["config"]["credential_sid"]
        return r

    def sign_der(self, data, key=None):
        return (key or self.key).sign(data, ec.ECDSA(hashes.SHA256()))

    def jws(self, header, payload, key=None):
        h = b64url(json.dumps(header).encode())
        p = b64url(json.dumps(payload).encode())
        r, s = decode_dss_signature(self.sign_der(f"{h}.{p}".encode(), key))
        return f"{h}.{p}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def jwt(self, now=None, header=None, payload=None, key=None):
        now = int(time.time() + self.correction) if now is None else now
        hdr = {"cty": "twilio-pba;v=1", "kid": self.credential_sid, "typ": "JWT",
               "alg": "ES256"}
        pl = {"sub": self.account_sid, "nbf": now, "exp": now + 600}
        hdr.update(header or {})
        pl.update(payload or {})
        for d in (hdr, pl):
            for k in [k for k, v in d.items() if v is None]:
                del d[k]
        return self.jws(hdr, pl, key)

    def auth(self, **kw):
        user = kw.pop("user", "token")
        return basic(user, self.jwt(**kw))

    def call(self, method, path, form=None, query=None, **kw):
        return self.emu.request(method, self.base + path, form=form, query=query,
                                auth=self.auth(**kw))

    def verify(self, payload=None):
        payload = payload or base64.b64encode(self.sign_der(self.sid.encode())).decode()
        return self.call("POST", f"/Factors/{self.sid}", {"AuthPayload": payload})

    def enroll(self):
        r = self.create()
        assert r.status == 201, r
        r = self.verify()
        assert r.status == 200 and r.json["status"] == "verified", r
        return self

    def fetch(self, csid):
        return self.call("GET", f"/Challenges/{csid}")

    def answer_payload(self, fetched, status="approved", mutate=None, key=None, header=None):
        fields = fetched.header("Twilio-Verify-Signature-Fields").split(",")
        body = fetched.json
        payload = {k: body[k] for k in fields}
        payload["status"] = status
        if mutate:
            mutate(payload)
        return self.jws(header or {"typ": "JWT", "alg": "ES256"}, payload, key)

    def answer(self, csid, status="approved", **kw):
        fetched = self.fetch(csid)
        assert fetched.status == 200, fetched
        return self.call("POST", f"/Challenges/{csid}",
                         {"AuthPayload": self.answer_payload(fetched, status, **kw)})


def assert_error(resp, status, code):
    assert resp.status == status, resp
    assert resp.json["code"] == code, resp
    assert resp.json["status"] == status
    if status == 401:
        date = resp.header("Date")
        assert date and email.utils.parsedate_to_datetime(date), "401 needs an RFC 1123 Date"


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def emu():
    e = Emulator("--check-openapi")
    yield e
    e.stop()
    assert e.proc.returncode == 0


@pytest.fixture
def clock(emu):
    yield emu.set_clock
    emu.set_clock(0)


@pytest.fixture
def dev(emu):
    return Device(emu).enroll()


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


@pytest.mark.parametrize("form", [
    {"FactorType": "push"},
    {"Identity": "someone-123"},
    {"Identity": "someone-123", "FactorType": "totp"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "59"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "301"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "abc"},
    {"Identity": "someone-123", "FactorType": "push", "Ttl": "1_00"},
    {"Identity": "short", "FactorType": "push"},
    {"Identity": "has space 123", "FactorType": "push"},
], ids=["no-identity", "no-type", "totp", "ttl-59", "ttl-301", "ttl-text", "ttl-underscore",
        "identity-short", "identity-space"])
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


# --- create factor -------------------------------------------------------------------------

def test_create_factor_bad_tokens(emu, clock):
    d = Device(emu)
    assert_error(d.create(token="not-a-token"), 401, 20003)
    other = emu.access_token("other-identity-1")
    assert_error(d.create(token=other), 401, 20003)
    svc2 = emu.backend("POST", "/v2/Services", {"FriendlyName": "svc two"}).json["sid"]
    assert_error(d.create(token=emu.access_token(d.identity, svc2)), 401, 20003)
    tok = emu.access_token(d.identity)
    clock(61)
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

def test_verify_factor_rejections(emu):
    d = Device(emu)
    assert d.create().status == 201
    other = ec.generate_private_key(ec.SECP256R1())
    bad = [
        base64.b64encode(d.sign_der(d.sid.encode(), other)).decode(),     # wrong key
        base64.b64encode(d.sign_der(b"YF" + b"0" * 32)).decode(),         # wrong message
        b64url(d.sign_der(d.sid.encode())),                                # base64url
        "not base64!",
    ]
    for payload in bad:
        assert_error(d.verify(payload), 403, 60311)
    r = d.call("POST", f"/Factors/{d.sid}", {"AuthPayload": ""})
    assert_error(r, 403, 60311)
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


# --- device JWT ---------------------------------------------------------------------------

def _other_key():
    return ec.generate_private_key(ec.SECP256R1())


NOW = object()
BAD_JWT = {
    "wrong-user": dict(user="Token"),
    "user-is-account": dict(user="ACCOUNT"),
    "alg-es384": dict(header={"alg": "ES384"}),
    "alg-none": dict(header={"alg": "none"}),
    "alg-missing": dict(header={"alg": None}),
    "cty-wrong": dict(header={"cty": "twilio-pba;v=2"}),
    "cty-missing": dict(header={"cty": None}),
    "typ-wrong": dict(header={"typ": "JWS"}),
    "kid-unknown": dict(header={"kid": "CR" + "0" * 32}),
    "kid-missing": dict(header={"kid": None}),
    "bad-signature": dict(key="OTHER"),
    "sub-wrong": dict(payload={"sub": "AC" + "1" * 32}),
    "sub-missing": dict(payload={"sub": None}),
    "nbf-future": dict(payload={"nbf": "NOW+120", "exp": "NOW+600"}),
    "exp-past": dict(payload={"nbf": "NOW-700", "exp": "NOW-1"}),
    "lifetime-601": dict(payload={"nbf": "NOW-1", "exp": "NOW+600"}),
    "nbf-missing": dict(payload={"nbf": None}),
    "exp-string": dict(payload={"exp": "later"}),
    "nbf-nan": dict(payload={"nbf": float("nan")}),
    "exp-infinity": dict(payload={"nbf": "NOW", "exp": float("inf")}),
    "nbf-nan-exp-infinity": dict(payload={"nbf": float("nan"), "exp": float("inf")}),
    "exp-fraction": dict(payload={"nbf": "NOW", "exp": "NOW+599.5"}),
    "nbf-bool": dict(payload={"nbf": True}),
    "exp-before-nbf": dict(payload={"nbf": "NOW+50", "exp": "NOW+10"}),
    "exp-at-nbf": dict(payload={"nbf": "NOW+10", "exp": "NOW+10"}),
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


def test_device_jwt_malformed(emu, dev):
    good = dev.jwt()
    h, p, s = good.split(".")
    for token in (good + ".x", f"{h}.{p}", f"{h}.{p}.{s}=", f"{h}.{p}.{s[:-4]}",
                  f"{h}.{p}.{b64url(b'0' * 64)}", "a.b.c", ""):
        r = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                        auth=basic("token", token))
        assert_error(r, 401, 20003)


def test_device_jwt_not_utf8_json(emu, dev):
    now = int(time.time())
    header = {"cty": "twilio-pba;v=1", "kid": dev.credential_sid, "typ": "JWT", "alg": "ES256"}
    payload = {"sub": dev.account_sid, "nbf": now, "exp": now + 600}
    for h, p in ((json.dumps(header).encode("utf-16"), json.dumps(payload).encode()),
                 (json.dumps(header).encode(), json.dumps(payload).encode("utf-32"))):
        signing_input = f"{b64url(h)}.{b64url(p)}"
        r, s = decode_dss_signature(dev.sign_der(signing_input.encode()))
        token = f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        r = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid},
                        auth=basic("token", token))
        assert_error(r, 401, 20003)


def test_device_jwt_replay_refused(emu, dev):
    auth = dev.auth()
    first = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid}, auth=auth)
    assert first.status == 200
    again = emu.request("GET", dev.base + "/Challenges", query={"FactorSid": dev.sid}, auth=auth)
    assert_error(again, 401, 20003)
    assert "already used" in again.json["message"]
    # a token minted afresh is fine
    assert dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}).status == 200


def test_device_jwt_edges_accepted(emu, dev):
    now = int(time.time())
    for payload in ({"nbf": now + 50, "exp": now + 650}, {"nbf": now - 599, "exp": now + 1},
                    {"nbf": now, "exp": now + 600, "iat": now, "extra": "x"}):
        r = dev.call("GET", "/Challenges", query={"FactorSid": dev.sid}, payload=payload)
        assert r.status == 200, (payload, r)


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


BAD_ANSWER = {
    "tampered-message": dict(mutate=_tamper_message),
    "tampered-hidden": dict(mutate=_tamper_hidden),
    "tampered-expiry": dict(mutate=_expiry_shift),
    "tampered-sid": dict(mutate=_sid_other),
    "missing-identity": dict(mutate=_drop_identity),
    "missing-details": dict(mutate=_drop_details),
    "status-expired": dict(mutate=_wrong_status),
    "status-missing": dict(mutate=_no_status),
    "bad-signature": dict(key="OTHER"),
    "alg-hs256": dict(header={"typ": "JWT", "alg": "HS256"}),
    "typ-missing": dict(header={"alg": "ES256"}),
}


@pytest.mark.parametrize("case", list(BAD_ANSWER))
def test_answer_rejected(emu, dev, case):
    c = emu.create_challenge(dev.identity, dev.sid, hidden={"txn": "t-9"}).json
    kw = dict(BAD_ANSWER[case])
    if kw.get("key") == "OTHER":
        kw["key"] = _other_key()
    assert_error(dev.answer(c["sid"], **kw), 403, 60324)
    assert dev.fetch(c["sid"]).json["status"] == "pending"
    assert dev.answer(c["sid"]).status == 200, "a good answer still works afterwards"


def test_answer_malformed_payloads(emu, dev):
    c = emu.create_challenge(dev.identity, dev.sid).json
    path = f"/Challenges/{c['sid']}"
    for payload in ("x", "a.b.c", dev.jwt() + "x"):
        assert_error(dev.call("POST", path, {"AuthPayload": payload}), 403, 60324)
    assert_error(dev.call("POST", path, {}), 400, 60306)
    assert_error(dev.call("POST", path, {"AuthPayload": "a" * 5457}), 400, 60306)


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


@pytest.mark.parametrize("query", [
    {"PageSize": "0"}, {"PageSize": "1001"}, {"PageSize": "x"}, {"Page": "-1"},
    {"Order": "up"}, {"Status": "done"}, {"PageToken": "nonsense"}, {"FactorSid": "YF1"},
    {"PageSize": "5_0"}, {"PageSize": " 5"}, {"PageSize": "+5"}, {"Page": "0x1"},
], ids=["size-0", "size-1001", "size-text", "page-neg", "order", "status", "token", "factor",
        "size-underscore", "size-space", "size-plus", "page-hex"])
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
    for method, path, query, form, what in (
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


# --- push streams ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pushemu():
    e = Emulator("--keepalive", "0.3")
    yield e
    e.stop()


class Stream:
    """A raw streaming GET; lines are read with our own buffer so a read timeout does
    not spoil the connection."""

    def __init__(self, emu, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
        hdrs = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode())
        self.buf = b""
        self.status = self.line()
        self.headers = {}
        while True:
            line = self.line().rstrip("\r\n")
            if not line:
                break
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def line(self, timeout=3):
        """Next line including its LF; "" when the server closed. Raises
        socket.timeout when nothing complete arrives in time."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest.decode()
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode() + "\n"

    def sse_event(self, timeout=3):
        """Next SSE block (list of lines) that is not only comments."""
        while True:
            block = []
            while True:
                line = self.line(timeout)
                if line == "":
                    return None          # closed
                line = line.rstrip("\n")
                if line == "":
                    break
                block.append(line)
            if any(not b.startswith(":") for b in block):
                return block

    def json_event(self, timeout=3, skip_keepalive=True):
        while True:
            ev = json.loads(self.line(timeout))
            if not (skip_keepalive and ev["event"] == "keepalive"):
                return ev

    def close(self):
        self.sock.close()


def publish(emu, topic, data):
    r = emu.request("POST", f"/push/{topic}", body=data, validate=False)
    assert r.status == 200, r
    return r.json


def test_sse_stream_and_resume(pushemu):
    topic = "t" + secrets.token_hex(6)
    m1 = publish(pushemu, topic, '{"challenge_sid":"YC1"}')
    s = Stream(pushemu, f"/push/{topic}/sse", {"Last-Event-ID": m1["id"]})
    assert s.status.startswith("HTTP/1.1 200")
    assert s.headers["content-type"].startswith("text/event-stream")
    m2 = publish(pushemu, topic, '{"challenge_sid":"YC2","factor_sid":"YF2"}')
    ev = s.sse_event()
    assert ev == [f"id: {m2['id']}", 'data: {"challenge_sid":"YC2","factor_sid":"YF2"}']
    s.close()
    # resume: everything after m1
    s = Stream(pushemu, f"/push/{topic}/sse", {"Last-Event-ID": m1["id"]})
    assert s.sse_event() == [f"id: {m2['id']}", 'data: {"challenge_sid":"YC2","factor_sid":"YF2"}']
    s.close()
    # multi-line data
    s = Stream(pushemu, f"/push/{topic}/sse", {"Last-Event-ID": m2["id"]})
    m3 = publish(pushemu, topic, "line1\nline2")
    assert s.sse_event() == [f"id: {m3['id']}", "data: line1", "data: line2"]
    s.close()


def test_sse_keepalive_silence_drop(pushemu):
    topic = "k" + secrets.token_hex(6)
    s = Stream(pushemu, f"/push/{topic}/sse")
    assert s.line(2) == ": keepalive\n"
    assert s.line(2) == "\n"
    assert pushemu.control("POST", "/_emulator/push/silence", {"on": "1"}).json["silenced"]
    try:
        s.line(0.35)   # a keepalive may already have been in flight
        s.line(0.35)
    except socket.timeout:
        pass
    with pytest.raises(socket.timeout):
        s.line(1.0)
    m = publish(pushemu, topic, "still delivered")
    assert s.sse_event() == [f"id: {m['id']}", "data: still delivered"]
    pushemu.control("POST", "/_emulator/push/silence", {"on": "0"})
    assert s.line(2) == ": keepalive\n"
    s.close()
    s = Stream(pushemu, f"/push/{topic}/sse")
    r = pushemu.control("POST", f"/_emulator/push/{topic}/drop")
    assert r.json["dropped"] == 1
    while True:
        line = s.line(2)
        if line == "":
            break
        assert line in (": keepalive\n", "\n")
    s.close()


def test_ntfy_stream_and_resume(pushemu):
    topic = "n" + secrets.token_hex(6)
    m1 = publish(pushemu, topic, "first")
    s = Stream(pushemu, f"/push/{topic}/json?since={m1['id']}")
    assert s.headers["content-type"].startswith("application/x-ndjson")
    opened = json.loads(s.line())
    assert opened["event"] == "open" and opened["topic"] == topic
    assert set(opened) >= {"id", "time", "event", "topic"}
    m2 = publish(pushemu, topic, '{"challenge_sid":"YC9"}')
    msg = s.json_event()
    assert msg["event"] == "message" and msg["id"] == m2["id"] and msg["topic"] == topic
    assert msg["message"] == '{"challenge_sid":"YC9"}' and isinstance(msg["time"], int)
    ka = json.loads(s.line(2))
    assert ka["event"] == "keepalive" and ka["topic"] == topic
    s.close()
    s = Stream(pushemu, f"/push/{topic}/json?since=all")
    events = [s.json_event() for _ in range(3)]
    assert [e["event"] for e in events] == ["open", "message", "message"]
    assert [e["id"] for e in events[1:]] == [m1["id"], m2["id"]]
    s.close()
    r = pushemu.request("GET", f"/push/{topic}/json?poll=1&since={m1['id']}", validate=False)
    lines = r.raw.decode().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [m2["id"]]
    s = Stream(pushemu, f"/push/{topic}/json")
    assert json.loads(s.line())["event"] == "open"
    assert pushemu.control("POST", f"/_emulator/push/{topic}/drop").json["dropped"] == 1
    rest = []
    while True:
        line = s.line(2)
        if not line:
            break
        rest.append(json.loads(line)["event"])
    assert set(rest) <= {"keepalive"}
    s.close()


def test_sigterm_stops(pushemu):
    e = Emulator()
    assert e.backend("GET", e.svc_path()).status == 200
    e.stop()
    assert e.proc.returncode == 0
