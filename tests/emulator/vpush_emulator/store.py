"""The emulator's state: account, services, entities, factors, challenges, access
tokens, page tokens and the clock. One lock guards all of it."""

import collections
import secrets
import threading
import time
from urllib.parse import quote

from .util import iso, new_sid


class Clock:
    """Real time plus a settable offset (POST /_emulator/clock)."""

    def __init__(self, offset=0.0):
        self.offset = float(offset)

    def now(self):
        return time.time() + self.offset


class Service:
    __slots__ = ("sid", "friendly_name", "created", "updated", "include_date")

    def __init__(self, sid, friendly_name, now, include_date=False):
        self.sid = sid
        self.friendly_name = friendly_name
        self.created = self.updated = int(now)
        # Push.IncludeDate (default false): details.date in challenges, else left out
        self.include_date = include_date


class Entity:
    __slots__ = ("sid", "service_sid", "identity", "created", "challenges")

    def __init__(self, service_sid, identity, now):
        self.sid = new_sid("YE")
        self.service_sid = service_sid
        self.identity = identity
        self.created = int(now)
        self.challenges = []                # in creation order


class AccessToken:
    __slots__ = ("sid", "service_sid", "identity", "factor_type", "friendly_name",
                 "ttl", "created", "expires", "token")

    def __init__(self, service_sid, identity, factor_type, friendly_name, ttl, now):
        self.sid = new_sid("YK")
        self.service_sid = service_sid
        self.identity = identity
        self.factor_type = factor_type
        self.friendly_name = friendly_name
        self.ttl = ttl
        self.created = int(now)
        self.expires = now + ttl
        self.token = opaque_token()


def opaque_token():
    """An opaque string shaped like Twilio's enrollment JWE (5 parts, empty key part).
    The device never parses it; we only look it up."""
    from .util import b64url_encode
    header = b64url_encode(b'{"zip":"DEF","kid":"EMULATOR","cty":"twilio-fpa;v=1",'
                           b'"enc":"A256GCM","alg":"dir"}')
    return ".".join((header, "", b64url_encode(secrets.token_bytes(12)),
                     b64url_encode(secrets.token_bytes(96)),
                     b64url_encode(secrets.token_bytes(16))))


class Factor:
    __slots__ = ("sid", "seq", "service_sid", "entity", "friendly_name", "status", "public_key",
                 "public_key_b64", "credential_sid", "sdk_version", "app_id", "platform",
                 "push_token", "metadata", "created", "updated", "deleted")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        self.sid = new_sid("YF")
        self.credential_sid = new_sid("CR")
        self.status = "unverified"
        self.deleted = False


class Challenge:
    __slots__ = ("sid", "seq", "service_sid", "entity", "factor_sid", "created", "updated",
                 "responded", "expires", "status", "message", "fields", "hidden",
                 "metadata", "answer_posts", "signed_fields")

    def __init__(self, seq, **kw):
        for k, v in kw.items():
            setattr(self, k, v)
        self.sid = new_sid("YC")
        self.seq = seq
        self.responded = None
        self.status = "pending"
        self.metadata = None
        self.answer_posts = 0
        self.signed_fields = None   # the fields its last GET listed for the answer

    def refresh(self, now):
        """Lazy expiry: a pending challenge past its expiration date is expired."""
        if self.status == "pending" and now >= self.expires:
            self.status = "expired"
            self.updated = int(self.expires)


REQUEST_LOG_MAX = 100000
NONCONFORMING_MAX = 1000

# The fields listed in Twilio-Verify-Signature-Fields (protocol doc §5C), in order.
SIGNATURE_FIELDS = ("hidden_details", "account_sid", "sid", "expiration_date", "date_created",
                    "status", "factor_sid", "details", "service_sid", "identity")


class Store:
    def __init__(self, account_sid=None, auth_token=None, clock_offset=0.0):
        self.lock = threading.RLock()
        self.clock = Clock(clock_offset)
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.base = "http://127.0.0.1"      # set by the server once it listens
        self.services = {}
        self.entities = {}                  # (service_sid, identity) -> Entity
        self.factors = {}                   # sid -> Factor (deleted ones kept)
        self.by_credential = {}             # credential sid -> Factor
        self.challenges = {}                # sid -> Challenge
        self.access_tokens = {}             # token string -> AccessToken
        self.page_tokens = collections.OrderedDict()
        self.requests = []
        self.nonconforming = []             # --check-openapi: requests the spec does not
        self.nonconforming_total = 0        # allow, answers it does not; how many in all
        self.jwt_seen = {}                  # accepted device JWTs' replay keys, oldest first
        self.signature_fields = None        # the header's text set by a test, else the default
        self._seq = 0

    def now(self):
        return self.clock.now()

    # --- creation -----------------------------------------------------------------
    def add_service(self, friendly_name, include_date=False):
        svc = Service(new_sid("VA"), friendly_name, self.now(), include_date)
        self.services[svc.sid] = svc
        return svc

    def entity(self, service_sid, identity, create=False):
        key = (service_sid, identity)
        ent = self.entities.get(key)
        if ent is None and create:
            ent = self.entities[key] = Entity(service_sid, identity, self.now())
        return ent

    def add_factor(self, factor):
        self._seq += 1
        factor.seq = self._seq
        self.factors[factor.sid] = factor
        self.by_credential[factor.credential_sid] = factor

    def add_challenge(self, **kw):
        self._seq += 1
        ch = Challenge(self._seq, **kw)
        self.challenges[ch.sid] = ch
        ch.entity.challenges.append(ch)
        return ch

    def log_request(self, entry):
        entry.setdefault("time", self.now())
        entry.setdefault("fault", None)
        self.requests.append(entry)
        if len(self.requests) > REQUEST_LOG_MAX:
            del self.requests[:len(self.requests) - REQUEST_LOG_MAX]

    def note_nonconforming(self, kind, method, path, error, status=None):
        """Keeps a request, answer or protocol step the client under test got wrong for
        GET /_emulator/conformance: the last NONCONFORMING_MAX, and how many in all."""
        entry = {"kind": kind, "method": method, "path": path, "error": str(error)}
        if status is not None:
            entry["status"] = status
        with self.lock:
            self.nonconforming.append(entry)
            del self.nonconforming[:-NONCONFORMING_MAX]
            self.nonconforming_total += 1

    def signature_fields_text(self):
        """The Twilio-Verify-Signature-Fields a GET of a pending challenge gives: a test's
        text, else all of SIGNATURE_FIELDS (the body always has them, docs/emulator.md);
        not trimmed to the body's keys, so that --check-openapi sees a body without one."""
        if self.signature_fields is not None:
            return self.signature_fields
        return ",".join(SIGNATURE_FIELDS)

    def advertised_signature_fields(self):
        """The fields an answer signs, as a device reads the list a GET gives now."""
        return [k.strip() for k in self.signature_fields_text().split(",") if k.strip()]

    def new_page_token(self, cursor):
        token = "PT" + secrets.token_urlsafe(24)
        self.page_tokens[token] = cursor
        while len(self.page_tokens) > 20000:
            self.page_tokens.popitem(last=False)
        return token

    # --- rendering (OpenAPI shapes) -------------------------------------------------
    def service_url(self, sid):
        return f"{self.base}/v2/Services/{sid}"

    def render_service(self, svc):
        url = self.service_url(svc.sid)
        return {
            "sid": svc.sid,
            "account_sid": self.account_sid,
            "friendly_name": svc.friendly_name,
            "code_length": 6,
            "lookup_enabled": False,
            "psd2_enabled": False,
            "skip_sms_to_landlines": False,
            "dtmf_input_required": False,
            "tts_name": None,
            "do_not_share_warning_enabled": False,
            "custom_code_enabled": False,
            "push": {"include_date": svc.include_date, "apn_credential_sid": None,
                     "fcm_credential_sid": None},
            "totp": {"issuer": svc.friendly_name, "time_step": 30, "code_length": 6,
                     "skew": 1},
            "default_template_sid": None,
            "whatsapp": None,
            "passkeys": None,
            "verify_event_subscription_enabled": False,
            "date_created": iso(svc.created),
            "date_updated": iso(svc.updated),
            "url": url,
            "links": {
                "verification_checks": url + "/VerificationCheck",
                "verifications": url + "/Verifications",
                "rate_limits": url + "/RateLimits",
                "messaging_configurations": url + "/MessagingConfigurations",
                "entities": url + "/Entities",
                "webhooks": url + "/Webhooks",
                "access_tokens": url + "/AccessTokens",
            },
        }

    def render_access_token(self, tok):
        return {
            "sid": tok.sid,
            "account_sid": self.account_sid,
            "service_sid": tok.service_sid,
            "entity_identity": tok.identity,
            "factor_type": tok.factor_type,
            "factor_friendly_name": tok.friendly_name,
            "token": tok.token,
            "url": f"{self.service_url(tok.service_sid)}/AccessTokens/{tok.sid}",
            "ttl": tok.ttl,
            "date_created": iso(tok.created),
        }

    def entity_url(self, ent):
        return f"{self.service_url(ent.service_sid)}/Entities/{quote(ent.identity, safe='')}"

    def render_factor(self, f, new=False):
        ent = f.entity
        body = {
            "sid": f.sid,
            "account_sid": self.account_sid,
            "service_sid": f.service_sid,
            "entity_sid": ent.sid,
            "identity": ent.identity,
        }
        if new:
            body["binding"] = {"alg": "ES256", "public_key": f.public_key_b64}
            body["options"] = None
        body.update({
            "date_created": iso(f.created),
            "date_updated": iso(f.updated),
            "friendly_name": f.friendly_name,
            "status": f.status,
            "factor_type": "push",
            "config": {
                "sdk_version": f.sdk_version,
                "app_id": f.app_id,
                "notification_platform": f.platform,
                "notification_token": f.push_token,
                "credential_sid": f.credential_sid,
            },
            "metadata": f.metadata,
            "url": f"{self.entity_url(ent)}/Factors/{f.sid}",
        })
        return body

    def render_challenge(self, ch):
        ent = ch.entity
        url = f"{self.entity_url(ent)}/Challenges/{ch.sid}"
        details = {"message": ch.message}
        svc = self.services.get(ch.service_sid)
        if svc is not None and svc.include_date:
            details["date"] = iso(ch.created)
        details["fields"] = [dict(f) for f in ch.fields]
        return {
            "sid": ch.sid,
            "account_sid": self.account_sid,
            "service_sid": ch.service_sid,
            "entity_sid": ent.sid,
            "identity": ent.identity,
            "factor_sid": ch.factor_sid,
            "date_created": iso(ch.created),
            "date_updated": iso(ch.updated),
            "date_responded": iso(ch.responded),
            "expiration_date": iso(ch.expires),
            "status": ch.status,
            "responded_reason": "none",
            "details": details,
            "hidden_details": dict(ch.hidden) if ch.hidden is not None else None,
            "metadata": dict(ch.metadata) if ch.metadata is not None else None,
            "factor_type": "push",
            "url": url,
            "links": {"notifications": url + "/Notifications"},
        }

    def snapshot(self):
        """GET /_emulator/state."""
        now = self.now()
        factors = {}
        for f in self.factors.values():
            d = self.render_factor(f)
            d["deleted"] = f.deleted
            factors[f.sid] = d
        challenges = {}
        for ch in self.challenges.values():
            ch.refresh(now)
            d = self.render_challenge(ch)
            d["answer_posts"] = ch.answer_posts
            challenges[ch.sid] = d
        return {"account_sid": self.account_sid, "services": sorted(self.services),
                "clock_offset": self.clock.offset, "factors": factors,
                "challenges": challenges}
