"""Drives the emulator as backend and as a device; each /v2 answer is checked against OpenAPI."""

import base64
import email.utils
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
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
        fields = [k.strip() for k in fetched.header("Twilio-Verify-Signature-Fields").split(",")
                  if k.strip()]
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


def _other_key():
    return ec.generate_private_key(ec.SECP256R1())
