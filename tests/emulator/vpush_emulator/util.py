"""Small helpers shared by every module: SIDs, dates, form parsing, errors, JSON."""

import base64
import binascii
import datetime
import email.utils
import json
import re
import secrets
import time
from urllib.parse import unquote_plus

ERROR_MESSAGES = {
    20003: "Authenticate",
    20004: "Method not allowed",
    20404: "The requested resource was not found",
    60305: "Access Token parameters invalid",
    60306: "Invalid request",
    60311: "Factor verification failed",
    60318: "Factor is unverified",
    60323: "Challenge expired",
    60324: "Challenge verification failed, AuthPayload is invalid",
    60325: "Challenge already responded",
    60362: "Factor SID invalid or not provided",
    60364: "Challenge SID invalid or not provided",
    60369: "Factor type invalid or not provided",
    60390: "Factor not found",
    60391: "Challenge not found",
    60392: "Entity not found",
}


class ApiError(Exception):
    """An error answered as Twilio's `{code, message, more_info, status}` body."""

    def __init__(self, status, code, detail=None):
        super().__init__(detail or ERROR_MESSAGES.get(code, "Error"))
        self.status = status
        self.code = code
        self.detail = detail

    def body(self):
        message = ERROR_MESSAGES.get(self.code, "Error")
        if self.detail:
            message = f"{message}: {self.detail}"
        return {
            "code": self.code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def new_sid(prefix):
    return prefix + secrets.token_hex(16)


SID_RE = {p: re.compile(r"\A%s[0-9a-fA-F]{32}\Z" % p) for p in
          ("AC", "VA", "YE", "YF", "YC", "YK", "CR", "NT")}


def is_sid(prefix, value):
    return value is not None and SID_RE[prefix].match(value) is not None


def iso(ts):
    """Epoch seconds -> `YYYY-MM-DDTHH:MM:SSZ` (UTC, no fractions; §2.2)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def http_date(ts):
    """Epoch seconds -> RFC 1123 date for the `Date` header."""
    return email.utils.formatdate(int(ts), usegmt=True)


def parse_iso8601(text):
    """ISO 8601 date-time -> epoch seconds (float). Naive values are UTC.
    Raises ValueError."""
    if not isinstance(text, str) or "T" not in text.upper():
        raise ValueError("not an ISO 8601 date-time")
    value = text.strip()
    if value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


FORM_TYPE = "application/x-www-form-urlencoded"
_INTEGER_RE = re.compile(r"-?[0-9]+")


def is_integer_text(raw):
    """Digits with an optional minus: Python's int() would also take "5_0" and " 5"."""
    return _INTEGER_RE.fullmatch(raw) is not None


def parse_form(raw):
    """Parse an x-www-form-urlencoded string per protocol doc §2.1: split on `&`,
    then on the first `=`, percent-decode, `+` is a space. Returns a list of
    (key, value) pairs in order. Raises ApiError 400 on bad encoding."""
    pairs = []
    if not raw:
        return pairs
    for part in raw.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        try:
            pairs.append((unquote_plus(key, errors="strict"),
                          unquote_plus(value, errors="strict")))
        except UnicodeDecodeError:
            raise ApiError(400, 60306, "form body is not valid percent-encoded UTF-8")
    return pairs


class Form:
    """Form fields: first value by name, or all values of a repeated name."""

    __slots__ = ("pairs", "_first")

    def __init__(self, pairs):
        self.pairs = pairs
        self._first = {}
        for k, v in pairs:
            self._first.setdefault(k, v)

    def get(self, key, default=None):
        return self._first.get(key, default)

    def __contains__(self, key):
        return key in self._first

    def getall(self, key):
        return [v for k, v in self.pairs if k == key]


def b64url_decode(text):
    """Strict base64url without padding (RFC 7515 §2), in its canonical form (RFC 4648
    §3.5: the unused bits of the last character are zero, so each byte string has one
    text). Raises ValueError."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text) \
            or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("base64url with non-zero trailing bits")
    return data


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64std_decode(text):
    """Strict standard base64 with padding. Raises ValueError."""
    if not isinstance(text, str) or not text or len(text) % 4 != 0:
        raise ValueError("not padded standard base64")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(str(exc))


def json_dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def json_equal(a, b):
    """Semantic JSON equality that does not confuse true/1 or 1/1.0 with strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_loads(text, **kwargs):
    """json.loads for text from a client, with what it lets through refused as ValueError
    like any other bad text: nesting too deep for Python's parser (RecursionError), and a
    lone UTF-16 surrogate escape ("\\ud800"), which I-JSON (RFC 7493 §2.1) forbids and
    which no UTF-8 answer could carry back."""
    try:
        obj = json.loads(text, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply")
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ValueError("JSON string holds a lone UTF-16 surrogate")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return obj


def parse_string_map(text, limit, what):
    """Stringified JSON object with only string values, at most `limit` chars."""
    if len(text) > limit:
        raise ApiError(400, 60306, f"{what} is longer than {limit} characters")
    try:
        obj = json_loads(text)
    except ValueError as exc:
        raise ApiError(400, 60306, f"{what} is not valid JSON ({exc})")
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise ApiError(400, 60306, f"{what} must be a JSON object with string values")
    return obj
