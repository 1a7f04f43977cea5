"""A throwaway test CA and server certificates for the emulator's HTTPS listener
(docs/emulator.md "HTTPS"). Everything is made at test time in a temporary directory;
no key is ever committed.

    python3 -m vpush_emulator.testca DIR [--name other.example] [--ip 127.0.0.1 …]

writes DIR/ca.pem, DIR/server.pem and DIR/server.key and prints their paths as JSON.
"""

import argparse
import datetime
import ipaddress
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)


class Issued:
    """A certificate and its private key (cryptography objects)."""

    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vpush tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder, not_before, not_after):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return builder.not_valid_before(not_before or now - DAY) \
                  .not_valid_after(not_after or now + 30 * DAY)


def make_ca(common_name="vpush test CA"):
    """A self-signed CA (EC P-256) that may sign server certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = x509.CertificateBuilder() \
        .subject_name(_name(common_name)).issuer_name(_name(common_name)) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number()) \
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True) \
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True) \
        .add_extension(ski, critical=False)
    builder = _validity(builder, None, None)
    return Issued(builder.sign(key, hashes.SHA256()), key)


def make_server(ca, dns=("localhost",), ips=("127.0.0.1", "::1"), not_before=None,
                not_after=None):
    """A TLS server certificate signed by ca (an Issued) whose subjectAltName holds exactly
    the DNS names dns and the IP addresses ips (a client checks only these)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
    if not sans:
        raise ValueError("a server certificate needs at least one name")
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = x509.CertificateBuilder() \
        .subject_name(_name(dns[0] if dns else ips[0])).issuer_name(ca.cert.subject) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number()) \
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True) \
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True) \
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False) \
        .add_extension(x509.SubjectAlternativeName(sans), critical=False) \
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False) \
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
    builder = _validity(builder, not_before, not_after)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def write(directory, ca=None, dns=("localhost",), ips=("127.0.0.1", "::1"), prefix="",
          **kw):
    """Makes a CA (unless given) and a server certificate; writes <prefix>ca.pem,
    <prefix>server.pem and <prefix>server.key (mode 0600) into directory.
    Returns {"ca": path, "cert": path, "key": path, "issuer": the CA's Issued}."""
    ca = ca or make_ca()
    server = make_server(ca, dns=dns, ips=ips, **kw)
    paths = {k: os.path.join(directory, prefix + name)
             for k, name in (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"))}
    with open(paths["ca"], "wb") as f:
        f.write(ca.cert_pem())
    with open(paths["cert"], "wb") as f:
        f.write(server.cert_pem())
    fd = os.open(paths["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(server.key_pem())
    paths["issuer"] = ca
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m vpush_emulator.testca",
                                description="Make a throwaway test CA and server certificate.")
    p.add_argument("directory")
    p.add_argument("--name", action="append", help="DNS name (repeatable; default localhost)")
    p.add_argument("--ip", action="append", help="IP address (repeatable; default 127.0.0.1, ::1)")
    args = p.parse_args(argv)
    paths = write(args.directory, dns=args.name if args.name is not None else ("localhost",),
                  ips=args.ip if args.ip is not None else ("127.0.0.1", "::1"))
    paths.pop("issuer")
    print(json.dumps(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
