"""Authentication and signatures: HTTP Basic, the device auth JWT (protocol doc §5A),
the verify-factor AuthPayload (§5B), the challenge answer JWT (§5C) and the factor's
public key (§4). Everything here is pure: it takes values and raises ApiError."""

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

from .util import ApiError, b64std_decode, b64url_decode, json_loads

ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
MAX_LIFETIME = 600     # exp - nbf
JWT_SEEN_MAX = 200000  # device JWTs remembered as used: about 25 MB at most
# RFC 7515 §4.1.11: a JWS whose "crit" names an extension the recipient does not
# understand is invalid; neither the SDKs nor the protocol doc use one, so none is
CRIT_REFUSED = "JWT header has crit (no JWS extension is understood)"


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_members(pairs):
    """RFC 7519 §4: a JWT's parser must refuse duplicate claim names or keep the last;
    json.loads keeps the last, which hides a writer that left a copied member in place
    (an answer's "status": "pending" beside the new one). Refused, at every depth."""
    obj = {}
    for name, value in pairs:
        if name in obj:
            raise ValueError(f"duplicate member {name!r}")
        obj[name] = value
    return obj


def _json_object(raw):
    """RFC 8259 text in UTF-8 only: no NaN/Infinity, no UTF-16/32 (json.loads takes both);
    no member name twice in one object; no lone surrogate, no nesting past the parser."""
    return json_loads(raw.decode("utf-8"), parse_constant=_no_constant,
                      object_pairs_hook=_unique_members)


def unauthorized(detail):
    return ApiError(401, 20003, detail)


def parse_basic(header):
    """`Authorization: Basic base64(user:password)` -> (user, password) or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip().encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    user, sep, password = raw.partition(":")
    if not sep:
        return None
    return user, password


def load_public_key(b64):
    """Binding.PublicKey: standard Base64 of a DER SubjectPublicKeyInfo of a P-256 key."""
    try:
        der = b64std_decode(b64)
    except ValueError:
        raise ApiError(400, 60306, "Binding.PublicKey is not standard Base64")
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise ApiError(400, 60306, "Binding.PublicKey is not a DER SubjectPublicKeyInfo")
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ApiError(400, 60306, "Binding.PublicKey is not a P-256 key")
    # Only the 91-byte form with the uncompressed point (protocol doc §4).
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    if der != P256_SPKI_PREFIX + point:
        raise ApiError(400, 60306, "Binding.PublicKey is not an uncompressed P-256 SPKI")
    return key


def verify_der(key, der_sig, message):
    try:
        key.verify(der_sig, message, ECDSA_SHA256)
        return True
    except (InvalidSignature, ValueError):
        return False


def check_factor_payload(key, auth_payload, factor_sid):
    """§5B: std Base64 of a DER ECDSA-SHA256 signature over the factor sid. One that is
    not that (its format) is 400/60306 (§8.2: "AuthPayload format"); a DER signature
    that does not verify is 403/60311."""
    try:
        der = b64std_decode(auth_payload)
    except ValueError:
        raise ApiError(400, 60306, "AuthPayload is not padded standard Base64")
    try:
        r, s = decode_dss_signature(der)
        canonical = encode_dss_signature(r, s) == der
    except ValueError:
        canonical = False
    if not canonical:
        raise ApiError(400, 60306, "AuthPayload is not a DER ECDSA signature")
    if not verify_der(key, der, factor_sid.encode("utf-8")):
        raise ApiError(403, 60311, "AuthPayload is not a valid signature of the factor sid")


class Jws:
    """A split, decoded compact JWS (not yet verified)."""

    __slots__ = ("header", "payload", "signing_input", "signature")

    def __init__(self, token):
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("not a compact JWS (3 parts)")
        try:
            header = _json_object(b64url_decode(parts[0]))
            payload = _json_object(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"bad base64url or JSON in JWS ({exc})")
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise ValueError("JWS header and payload must be JSON objects")
        if len(signature) != 64:
            raise ValueError("ES256 signature must be 64 bytes r||s")
        self.header = header
        self.payload = payload
        self.signing_input = (parts[0] + "." + parts[1]).encode("ascii")
        self.signature = signature

    def replay_key(self):
        """What makes a token the same one again: its signing input and the signature's
        r. Not the text: with (r, s) the signature (r, n - s) verifies too (ECDSA is
        malleable), while signing anew picks another r. Kept as a digest."""
        return hashlib.sha256(self.signing_input + b"." + self.signature[:32]).digest()

    def verify(self, key):
        r = int.from_bytes(self.signature[:32], "big")
        s = int.from_bytes(self.signature[32:], "big")
        if not r or not s:
            return False
        return verify_der(key, encode_dss_signature(r, s), self.signing_input)


def _seconds(payload, claim):
    """§5A: nbf and exp are integer unix seconds."""
    v = payload.get(claim)
    if isinstance(v, bool) or not isinstance(v, int):
        raise unauthorized(f"JWT claim {claim} missing or not an integer")
    return v


DEVICE_JWT_HEADER = ("alg", "cty", "kid", "typ")
DEVICE_JWT_CLAIMS = ("sub", "nbf", "exp")


def device_jwt_deviations(header, payload, nbf, exp):
    """How an accepted device JWT differs from the SDKs' (§5A): header alg, cty, kid and
    typ JWT; claims sub, nbf, exp = nbf + 600 and nothing else."""
    found = []
    if header.get("typ") != "JWT":
        found.append("device JWT header has no typ JWT (§5A)")
    extra = sorted(set(header) - set(DEVICE_JWT_HEADER))
    if extra:
        found.append(f"device JWT header has {', '.join(extra)}, which §5A does not send")
    extra = sorted(set(payload) - set(DEVICE_JWT_CLAIMS))
    if extra:
        found.append(f"device JWT has the claims {', '.join(extra)}, which §5A does not send "
                     "(no iat, iss, aud or jti)")
    if exp - nbf != MAX_LIFETIME:
        found.append(f"device JWT lifetime exp - nbf is {exp - nbf} s, not 600 (§5A)")
    return found


def check_device_jwt(store, jwt, method="", path=""):
    """§5A / docs/emulator.md: the Basic password of a request whose Basic user is "token"
    (another user is the backend's). Returns the factor the JWT authenticates (possibly a
    deleted one). Caller checks that it belongs to the path. Raises 401/20003. What it
    takes but the SDKs would not send is kept as nonconforming, for method and path."""
    try:
        jws = Jws(jwt)
    except ValueError as exc:
        raise unauthorized(f"malformed JWT: {exc}")
    # §5A: built fresh for every request, so a token seen before is a replay
    seen_key = jws.replay_key()
    if seen_key in store.jwt_seen:
        raise unauthorized("JWT was already used (a device JWT is minted for every request)")
    h = jws.header
    if h.get("alg") != "ES256":
        raise unauthorized("JWT alg must be ES256")
    if h.get("cty") != "twilio-pba;v=1":
        raise unauthorized("JWT cty must be twilio-pba;v=1")
    # no typ is taken: the SDKs sent none before June 2020 (§5A), and §13 asks an emulator
    # for alg, cty and kid only
    if "typ" in h and h["typ"] != "JWT":
        raise unauthorized("JWT typ must be JWT")
    if "crit" in h:
        raise unauthorized(CRIT_REFUSED)
    kid = h.get("kid")
    factor = store.by_credential.get(kid) if isinstance(kid, str) else None
    if factor is None:
        raise unauthorized("JWT kid is not a known credential sid")
    if not jws.verify(factor.public_key):
        raise unauthorized("JWT signature does not verify with the factor key")
    p = jws.payload
    if p.get("sub") != store.account_sid:
        raise unauthorized("JWT sub is not the account sid")
    nbf = _seconds(p, "nbf")
    exp = _seconds(p, "exp")
    _check_times(store, nbf, exp)
    # What §5A says the SDKs send, and the API may well take otherwise: not refused, but
    # kept for GET /_emulator/conformance, where a client's tests look
    for detail in device_jwt_deviations(h, p, nbf, exp):
        store.note_nonconforming("protocol", method, path, detail)
    # Remembered for good, not until its exp: a test that moves the emulator's clock
    # forward and back would make a token forgotten as expired valid again. Only the
    # oldest beyond JWT_SEEN_MAX are forgotten.
    store.jwt_seen[seen_key] = None
    if len(store.jwt_seen) > JWT_SEEN_MAX:
        del store.jwt_seen[next(iter(store.jwt_seen))]
    return factor


def forget_device_jwt(store, jwt):
    """The request this token came with was handled, but not a byte of the answer went
    out: a client may send that very request again (curl does, for a GET on a kept-alive
    connection found dead), which is not using the token for another request."""
    try:
        store.jwt_seen.pop(Jws(jwt).replay_key(), None)
    except ValueError:
        pass            # never accepted, so never remembered


def _check_times(store, nbf, exp):
    now = store.now()
    # protocol doc §6: a JWT whose nbf is in the future is refused, with no allowance
    # (Twilio's is not documented): a client's clock correction from Date must do the work
    if nbf > now:
        raise unauthorized("JWT nbf is in the future")
    if exp <= now:
        raise unauthorized("JWT has expired")
    if exp - nbf > MAX_LIFETIME:
        raise unauthorized("JWT lifetime exp - nbf exceeds 600 s")


ANSWER_JWT_HEADER = ("alg", "typ")


def answer_deviations(header, payload, fields):
    """How an accepted answer JWT differs from the SDKs' (§5C steps 3-5): header typ and
    alg only; claims the listed fields and status, nothing else."""
    found = []
    extra = sorted(set(header) - set(ANSWER_JWT_HEADER))
    if extra:
        found.append(f"answer JWT header has {', '.join(extra)}, which §5C does not send "
                     "(only typ and alg)")
    extra = sorted(set(payload) - set(fields) - {"status"})
    if extra:
        found.append(f"answer JWT has the claims {', '.join(extra)}, which §5C does not send "
                     "(the listed fields and status only)")
    return found


def check_answer(key, auth_payload, expected, fields):
    """§5C / §13.7: verify an update-challenge AuthPayload. `expected` is the
    challenge as rendered for a GET while pending; `fields` the signature-field list.
    Returns the requested status and how the JWT differs from the SDKs' (taken, as the
    API would take it, but kept as nonconforming by the caller). §8.2: one that is not an ES256 JWT (its format: not a
    compact JWS, bad base64url, not JSON objects, no 64-byte signature, another alg or
    typ) raises 400/60306; a JWT whose signature does not verify, or whose signed fields
    are not the challenge's, 403/60324."""
    from .util import json_equal

    def malformed(detail):
        return ApiError(400, 60306, detail)

    def bad(detail):
        return ApiError(403, 60324, detail)

    try:
        jws = Jws(auth_payload)
    except ValueError as exc:
        raise malformed(f"AuthPayload is not an ES256 JWT: {exc}")
    if jws.header.get("alg") != "ES256":
        raise malformed("AuthPayload alg must be ES256")
    if jws.header.get("typ") != "JWT":
        raise malformed("AuthPayload typ must be JWT")
    # §5C step 5: "no kid, no cty", the device JWT's: a client that reused its header
    for name in ("kid", "cty"):
        if name in jws.header:
            raise malformed(f"AuthPayload header has {name} (§5C: only typ and alg)")
    if "crit" in jws.header:
        raise malformed("AuthPayload " + CRIT_REFUSED)
    if not jws.verify(key):
        raise bad("AuthPayload signature does not verify with the factor key")
    p = jws.payload
    status = p.get("status")
    if status not in ("approved", "denied"):
        raise bad("AuthPayload status must be approved or denied")
    for name in fields:
        if name == "status":
            continue
        if name not in p:
            raise bad(f"AuthPayload lacks signed field {name}")
        if not json_equal(p[name], expected.get(name)):
            raise bad(f"AuthPayload field {name} does not match the challenge")
    return status, answer_deviations(jws.header, p, fields)
