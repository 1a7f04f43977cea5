"""Cross-checks the daemon's crypto and JWT code, through vpush-crypto-tool, against
Python's cryptography package: an independent ECDSA, PKCS#8 and SPKI implementation.

Signatures are made many times over because ECDSA is randomized: about one r or s in 128
is shorter than 32 bytes, which is where a DER → r‖s conversion goes wrong.

PYTEST_DONT_REWRITE: with the terminal plugin off (TAP output), pytest's rewritten asserts
fail inside their own error report; plain asserts with messages stay readable."""

import base64
import json
import os
import subprocess

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ITERATIONS = 300
SPKI_B64_PREFIX = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

CHALLENGE = {
    "sid": "YC0123456789abcdef0123456789abcdef",
    "account_sid": "AC0123456789abcdef0123456789abcdef",
    "service_sid": "VA0123456789abcdef0123456789abcdef",
    "entity_sid": "YE0123456789abcdef0123456789abcdef",
    "identity": "ff483d1ff591898a9942916050d2ca3f",
    "factor_sid": "YF0123456789abcdef0123456789abcdef",
    "date_created": "2024-01-02T03:04:05Z",
    "date_updated": "2024-01-02T03:04:05Z",
    "expiration_date": "2024-01-02T03:09:05Z",
    "status": "pending",
    "details": {
        "message": "Log in to https://shop.example/ – «ok?»",
        "date": None,
        "fields": [{"label": "Amount", "value": "€ 5"}, {"label": "n", "value": 7}],
    },
    "hidden_details": None,
    "metadata": {"os": "linux"},
    "url": "https://verify.twilio.com/v2/Services/VA0/Entities/e/Challenges/YC0",
}
# What production signs (protocol doc §5C).
SIGNATURE_FIELDS = (
    "hidden_details,account_sid,sid,expiration_date,date_created,status,factor_sid,"
    "details,service_sid,identity"
)


def run_tool(*args, stdin=None, expect=0):
    exe = os.environ.get("VPUSH_CRYPTO_TOOL")
    assert exe, "VPUSH_CRYPTO_TOOL is not set; run this through meson test"
    proc = subprocess.run(
        [exe, *args], input=stdin, capture_output=True, text=True, check=False, timeout=60
    )
    if proc.returncode != expect:
        pytest.fail(f"{args[0]} exited {proc.returncode}, expected {expect}: {proc.stderr}")
    return proc


def b64url_decode(text):
    assert "=" not in text and "+" not in text and "/" not in text
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Canonical: re-encoding gives the same text back.
    assert base64.urlsafe_b64encode(data).rstrip(b"=").decode() == text
    return data


def b64_strict(text):
    return base64.b64decode(text, validate=True)


def spki_b64(public_key):
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def pkcs8_b64(private_key):
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


def c_gen():
    pkcs8, spki = run_tool("gen").stdout.split()
    return pkcs8, spki


def is_short(der_sig):
    r, s = decode_dss_signature(der_sig)
    return r.bit_length() <= 248 or s.bit_length() <= 248


def verify_jwt(jwt, public_key):
    """Checks the ES256 signature the JOSE way and returns (header, payload)."""
    header_b64, payload_b64, sig_b64 = jwt.split(".")
    raw = b64url_decode(sig_b64)
    assert len(raw) == 64, f"signature is {len(raw)} bytes"
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    public_key.verify(
        encode_dss_signature(r, s), f"{header_b64}.{payload_b64}".encode(), ECDSA_SHA256
    )
    header = json.loads(b64url_decode(header_b64))
    payload = json.loads(b64url_decode(payload_b64))
    return header, payload


def test_c_spki_is_p256():
    for _ in range(20):
        pkcs8, spki = c_gen()
        assert len(spki) == 124
        assert spki.startswith(SPKI_B64_PREFIX)
        der = b64_strict(spki)
        assert len(der) == 91

        public_key = serialization.load_der_public_key(der)
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert isinstance(public_key.curve, ec.SECP256R1)
        assert spki_b64(public_key) == spki

        # The PKCS#8 key is the private half of that SPKI.
        private_key = serialization.load_der_private_key(b64_strict(pkcs8), password=None)
        assert isinstance(private_key.curve, ec.SECP256R1)
        assert spki_b64(private_key.public_key()) == spki


def test_c_der_signatures_verify_in_python():
    pkcs8, spki = c_gen()
    public_key = serialization.load_der_public_key(b64_strict(spki))
    messages = [f"YF{i:032x}" for i in range(ITERATIONS)] + ["", "ünïcødé ✓", "a b\tc"]

    sigs = run_tool("sign-der", pkcs8, *messages).stdout.splitlines()
    assert len(sigs) == len(messages)
    for message, sig in zip(messages, sigs):
        der = b64_strict(sig)
        public_key.verify(der, message.encode(), ECDSA_SHA256)
        with pytest.raises(InvalidSignature):
            public_key.verify(der, (message + ".").encode(), ECDSA_SHA256)


def test_der_to_raw_matches_python():
    private_key = ec.generate_private_key(ec.SECP256R1())
    sigs = [private_key.sign(f"m{i}".encode(), ECDSA_SHA256) for i in range(ITERATIONS)]
    # Make sure the short cases are in, however the dice fell above.
    short = [sig for sig in sigs if is_short(sig)]
    i = 0
    while len(short) < 8:
        sig = private_key.sign(f"extra{i}".encode(), ECDSA_SHA256)
        i += 1
        if is_short(sig):
            short.append(sig)
            sigs.append(sig)

    out = run_tool("der-to-raw", *(base64.b64encode(sig).decode() for sig in sigs))
    raws = out.stdout.splitlines()
    assert len(raws) == len(sigs)
    for sig, raw_b64 in zip(sigs, raws):
        r, s = decode_dss_signature(sig)
        expected = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        got = b64url_decode(raw_b64)
        assert got == expected, f"{sig.hex()}: got {got.hex()}, want {expected.hex()}"


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x31\x06\x02\x01\x01\x02\x01\x01",  # SET, not SEQUENCE
        b"\x30\x06\x02\x01\x01\x02\x01\x01\x00",  # trailing byte
        b"\x30\x07\x02\x01\x01\x02\x01\x01",  # length too long
        b"\x30\x03\x02\x01\x01",  # only r
        b"\x30\x06\x02\x01\x81\x02\x01\x01",  # negative r
        b"\x30\x25\x02\x22" + b"\x00\x00" + b"\x80" * 32 + b"\x02\x01\x01",  # 34-byte r
    ],
)
def test_der_to_raw_rejects_malformed(der):
    proc = run_tool("der-to-raw", base64.b64encode(der).decode(), expect=2)
    assert proc.stdout == ""


def test_python_signatures_verify_in_c():
    private_key = ec.generate_private_key(ec.SECP256R1())
    spki = spki_b64(private_key.public_key())
    other = spki_b64(ec.generate_private_key(ec.SECP256R1()).public_key())

    for i in range(ITERATIONS):
        message = f"YF{i:032x}"
        sig = base64.b64encode(private_key.sign(message.encode(), ECDSA_SHA256)).decode()
        run_tool("verify-der", spki, message, sig)
        if i % 50 == 0:
            run_tool("verify-der", spki, message + "x", sig, expect=1)
            run_tool("verify-der", other, message, sig, expect=1)

    garbled = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    run_tool("verify-der", spki, "m", garbled, expect=1)


def test_python_pkcs8_imported_by_c():
    for _ in range(10):
        private_key = ec.generate_private_key(ec.SECP256R1())
        public_key = private_key.public_key()
        messages = [f"message {i}" for i in range(ITERATIONS // 10)]

        sigs = run_tool("sign-der", pkcs8_b64(private_key), *messages).stdout.splitlines()
        assert len(sigs) == len(messages)
        for message, sig in zip(messages, sigs):
            public_key.verify(b64_strict(sig), message.encode(), ECDSA_SHA256)

        jwt = run_tool("jwt-device", pkcs8_b64(private_key), "CRx", "ACx", "1700000000").stdout
        verify_jwt(jwt.strip(), public_key)


def test_c_rejects_foreign_private_keys():
    p384 = ec.generate_private_key(ec.SECP384R1())
    run_tool("sign-der", pkcs8_b64(p384), "m", expect=2)

    # SEC1 "EC PRIVATE KEY" is not PKCS#8.
    p256 = ec.generate_private_key(ec.SECP256R1())
    sec1 = p256.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    run_tool("sign-der", base64.b64encode(sec1).decode(), "m", expect=2)


def test_jwt_device_claims():
    pkcs8, spki = c_gen()
    public_key = serialization.load_der_public_key(b64_strict(spki))

    for i in range(ITERATIONS):
        now = 1700000000 + i * 7919
        jwt = run_tool(
            "jwt-device", pkcs8, "CR0123456789abcdef0123456789abcdef", "AC0123", str(now)
        ).stdout.strip()
        header, payload = verify_jwt(jwt, public_key)

        assert header == {
            "cty": "twilio-pba;v=1",
            "kid": "CR0123456789abcdef0123456789abcdef",
            "typ": "JWT",
            "alg": "ES256",
        }, header
        assert payload == {"sub": "AC0123", "nbf": now, "exp": now + 600}, payload
        assert type(payload["nbf"]) is int and type(payload["exp"]) is int


@pytest.mark.parametrize("status", ["approved", "denied"])
@pytest.mark.parametrize("hidden_details", [None, {"transaction_id": "tx-42"}])
def test_jwt_answer_claims(status, hidden_details):
    pkcs8, spki = c_gen()
    public_key = serialization.load_der_public_key(b64_strict(spki))
    body = dict(CHALLENGE, hidden_details=hidden_details)
    fields = SIGNATURE_FIELDS.split(",")

    for _ in range(ITERATIONS // 10):
        jwt = run_tool(
            "jwt-answer", pkcs8, " , ".join(fields), status, stdin=json.dumps(body)
        ).stdout.strip()
        header, payload = verify_jwt(jwt, public_key)

        assert header == {"typ": "JWT", "alg": "ES256"}, header
        expected = {name: body[name] for name in fields}
        expected["status"] = status
        assert payload == expected, payload


def test_jwt_answer_adds_status():
    pkcs8, spki = c_gen()
    public_key = serialization.load_der_public_key(b64_strict(spki))
    jwt = run_tool("jwt-answer", pkcs8, "sid,details", "denied", stdin=json.dumps(CHALLENGE))
    _, payload = verify_jwt(jwt.stdout.strip(), public_key)
    expected = {"sid": CHALLENGE["sid"], "details": CHALLENGE["details"], "status": "denied"}
    assert payload == expected, payload


def test_jwt_answer_missing_field():
    pkcs8, _ = c_gen()
    proc = run_tool(
        "jwt-answer",
        pkcs8,
        "sid,responded_reason",
        "approved",
        stdin=json.dumps(CHALLENGE),
        expect=2,
    )
    assert proc.stdout == ""
    assert "responded_reason" in proc.stderr
