"""TLS (issue 6): vpushd against the emulator's HTTPS listener with a test CA made here.

It talks HTTPS only with that CA configured (`[Verify] CaFile=`), for API calls and push
streams alike; a certificate from an unknown CA or for another host name is refused with
Error.Network saying it is a TLS certificate problem and naming the host; plain http:// to
a host that is not loopback is refused when the config is loaded.
"""

import datetime
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

import vpushtest as vt
from vpushtest_push import SLOW_POLL, publish, push_state, wait_push_state

sys.path.insert(0, os.path.join(vt.SOURCE_DIR, "tests", "emulator"))
from vpush_emulator import testca  # noqa: E402

ERR_NETWORK = vt.ERR_PREFIX + "Network"


class Pki:
    """The test CA; from it a server certificate for 127.0.0.1 only (not localhost), one
    for other.example only and an expired one for 127.0.0.1; a second CA nobody uses."""

    def __init__(self, directory):
        os.makedirs(directory)
        good = testca.write(directory, dns=(), ips=("127.0.0.1",))
        self.ca = good["ca"]
        self.cert, self.key = good["cert"], good["key"]
        other = testca.write(directory, ca=good["issuer"], dns=("other.example",), ips=(),
                             prefix="other-")
        self.other_cert, self.other_key = other["cert"], other["key"]
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        expired = testca.write(directory, ca=good["issuer"], dns=(), ips=("127.0.0.1",),
                               prefix="expired-", not_before=now - datetime.timedelta(days=10),
                               not_after=now - datetime.timedelta(days=1))
        self.expired_cert, self.expired_key = expired["cert"], expired["key"]
        self.rogue_ca = testca.write(directory, prefix="rogue-")["ca"]
        self.garbage_ca = os.path.join(directory, "garbage.pem")
        with open(self.garbage_ca, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")


def start_emulator(session, name, cert, key):
    workdir = session.path(name)
    os.makedirs(workdir)
    return vt.Emulator(workdir, env=session.env, extra_args=("--tls-cert", cert, "--tls-key", key))


@pytest.fixture(scope="module")
def pki(session):
    return Pki(session.path("pki"))


@pytest.fixture(scope="module")
def emulator(session, pki):
    """Serves HTTPS with the certificate for 127.0.0.1 (and plain HTTP for the harness)."""
    e = start_emulator(session, "emulator-tls", pki.cert, pki.key)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def other_emulator(session, pki):
    """Serves HTTPS with the certificate for other.example."""
    e = start_emulator(session, "emulator-other", pki.other_cert, pki.other_key)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def expired_emulator(session, pki):
    """Serves HTTPS with an expired certificate for 127.0.0.1."""
    e = start_emulator(session, "emulator-expired", pki.expired_cert, pki.expired_key)
    yield e
    e.stop()


@pytest.fixture
def started(session):
    """start(emulator, verify={…}, push_url=None) → a running vpushd; stopped afterwards."""
    daemons = []

    def start(emulator, verify, push_url=None, poll=None):
        config = {"Verify": dict(verify), "Poll": dict(poll or SLOW_POLL)}
        if push_url:
            config["Push"] = {"Url": push_url}
        d = vt.Daemon(session, emulator, config=config)
        daemons.append(d)
        return d.start()
    yield start
    for d in daemons:
        d.stop()


def localhost_url(url):
    assert "//127.0.0.1:" in url, url
    return url.replace("//127.0.0.1:", "//localhost:", 1)


def enroll_error(client, emulator):
    with pytest.raises(vt.DBusCallError) as exc:
        vt.enroll(client, emulator)
    return exc.value


def assert_certificate_error(err, host, ca_hint):
    assert err.name == ERR_NETWORK, err
    assert "TLS certificate problem" in err.message, err.message
    assert "“%s”" % host in err.message, err.message
    assert ca_hint in err.message, err.message


# ---- HTTPS with the CA configured -------------------------------------------------------

def test_ready_record_has_https(emulator):
    assert emulator.https_base_url.startswith("https://127.0.0.1:")
    assert emulator.https_base_url.endswith("/v2/")
    assert emulator.https_url + "/v2/" == emulator.https_base_url
    assert emulator.https_url != emulator.url


def test_enroll_and_approve_over_https(started, client, emulator, pki, session):
    started(emulator, {"BaseUrl": emulator.https_base_url, "CaFile": pki.ca})
    f = vt.enroll(client, emulator)
    assert client.factor_props(f.path)["Status"] == "verified"
    assert session.keyring_items({"xdg:schema": vt.SECRET_SCHEMA, "factor-sid": f.sid})
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(f.identity, f.sid, hidden={"transaction_id": txid})
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.fetch_challenge(f.identity, ch["sid"])["status"] == "approved"


def test_no_tls_key_log(started, client, emulator, pki, session):
    """libcurl writes the TLS session secrets to the file SSLKEYLOGFILE names; with them
    the access token and the device JWTs could be read off the wire. vpushd never does."""
    keylog = session.path("tls-keys.log")
    session.env["SSLKEYLOGFILE"] = keylog
    try:
        started(emulator, {"BaseUrl": emulator.https_base_url, "CaFile": pki.ca})
    finally:
        del session.env["SSLKEYLOGFILE"]
    f = vt.enroll(client, emulator)
    assert client.factor_props(f.path)["Status"] == "verified"
    assert not os.path.exists(keylog)


def test_push_stream_over_https(started, client, emulator, pki):
    """The push stream uses the same CA: a hint over HTTPS brings the challenge while
    polling is every 10 minutes."""
    topic = "t" + uuid.uuid4().hex[:16]
    started(emulator, {"BaseUrl": emulator.https_base_url, "CaFile": pki.ca},
            push_url="%s/push/%s/sse" % (emulator.https_url, topic))
    f = vt.enroll(client, emulator)
    wait_push_state(client, "connected")
    stats = emulator.request("GET", "/_emulator/push/" + topic, backend=False).json()
    assert stats["subscribers"] == 1, stats

    ch = emulator.create_challenge(f.identity, f.sid, message="Over TLS?")
    publish(emulator, topic, {"type": "verify_push_challenge", "challenge_sid": ch["sid"],
                              "factor_sid": f.sid})
    path = vt.challenge_path(ch["sid"])
    vt.wait_until(lambda: path in client.challenge_paths(), 10,
                  what="challenge %s on the bus" % ch["sid"])
    assert client.get_property(path, vt.CHALLENGE_IFACE, "Message") == "Over TLS?"


def test_cas_parsed_once_for_all_connections(started, client, emulator, pki, session):
    """vpushd keeps the CAs it parsed for the first connection for the next ones (libcurl's
    CA cache, which a CA directory beside the file would turn off: then every connection
    parses the whole file again). With the file garbled after the first requests, a new
    connection still verifies the server."""
    ca = session.path("ca-%s.pem" % uuid.uuid4().hex[:8])
    shutil.copy(pki.ca, ca)
    started(emulator, {"BaseUrl": emulator.https_base_url, "CaFile": ca})
    f = vt.enroll(client, emulator)
    # the first poll of a new factor runs at once: let it pass before the fault is set
    lists = "/Entities/%s/Challenges" % f.identity
    vt.wait_until(lambda: [r for r in emulator.requests() if r["path"].endswith(lists)], 10,
                  what="the first poll")
    time.sleep(0.3)
    with open(ca, "w") as out:
        out.write("-----BEGIN CERTIFICATE-----\ngarbled\n-----END CERTIFICATE-----\n")
    # the server drops the kept-alive connection: the retry needs a new one
    before = len(emulator.requests())
    emulator.fault(lists + "\\Z", "drop", method="GET")
    client.list_challenges(f.path, {"order": "asc"})
    # judged by this call's own GETs (the poller lists with Order=desc)
    mine = [r for r in emulator.requests()[before:]
            if r["path"].endswith(lists) and "Order=asc" in r["query"]]
    assert [r["status"] for r in mine] == [0, 200], mine


# ---- refused certificates ----------------------------------------------------------------

def test_unknown_ca_without_ca_file(started, client, emulator):
    """The system store does not know the test CA."""
    started(emulator, {"BaseUrl": emulator.https_base_url})
    err = enroll_error(client, emulator)
    assert_certificate_error(err, "127.0.0.1",
                             "trusted CAs: the system's, /etc/ssl/certs/ca-certificates.crt")


def test_unknown_ca_with_another_ca_file(started, client, emulator, pki):
    started(emulator, {"BaseUrl": emulator.https_base_url, "CaFile": pki.rogue_ca})
    err = enroll_error(client, emulator)
    assert_certificate_error(err, "127.0.0.1", "trusted CAs: " + pki.rogue_ca)


def test_wrong_host_name_localhost(started, client, emulator, pki):
    """The certificate names 127.0.0.1 only; vpushd connects to localhost."""
    started(emulator, {"BaseUrl": localhost_url(emulator.https_base_url), "CaFile": pki.ca})
    err = enroll_error(client, emulator)
    assert_certificate_error(err, "localhost", pki.ca)


def test_wrong_host_name_other_certificate(started, client, other_emulator, pki):
    """A certificate for other.example, from the trusted CA, served at 127.0.0.1."""
    started(other_emulator, {"BaseUrl": other_emulator.https_base_url, "CaFile": pki.ca})
    err = enroll_error(client, other_emulator)
    assert_certificate_error(err, "127.0.0.1", pki.ca)


def test_expired_certificate(started, client, expired_emulator, pki):
    started(expired_emulator, {"BaseUrl": expired_emulator.https_base_url, "CaFile": pki.ca})
    err = enroll_error(client, expired_emulator)
    assert_certificate_error(err, "127.0.0.1", pki.ca)
    assert "expired" in err.message, err.message


def test_unusable_ca_file(session, emulator, pki):
    """A CaFile that holds no certificate is an error at start, naming it: libcurl would
    refuse it at every https request, and vpushd would say only "offline"."""
    path = os.path.join(session.tmp, "ca-garbage.conf")
    with open(path, "w") as f:
        f.write("[Verify]\nBaseUrl=%s\nCaFile=%s\n" % (emulator.https_base_url, pki.garbage_ca))
    r = subprocess.run([vt.vpushd_path(), "--config", path], env=session.env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert r.returncode == 78, r  # EX_CONFIG: the unit does not restart it
    assert ('%s: [Verify] CaFile: "%s" can\'t be used: it holds no PEM certificate'
            % (path, pki.garbage_ca)) in r.stderr, r.stderr


def test_refused_certificate_leaves_nothing(started, client, emulator, session):
    """Nothing reached the API, nothing was kept: no factor, no key; still on the bus,
    State says offline (the API could not be reached)."""
    keys = {"xdg:schema": vt.SECRET_SCHEMA}
    d = started(emulator, {"BaseUrl": emulator.https_base_url})
    keys_before = len(session.keyring_items(keys))
    identity = vt.unique_identity()
    token = emulator.access_token(identity)["token"]
    with pytest.raises(vt.DBusCallError) as exc:
        client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                       "access-token": token, "friendly-name": "TLS refused"})
    assert exc.value.name == ERR_NETWORK
    assert emulator.list_factors(identity) == []
    assert client.factor_paths() == []
    assert len(session.keyring_items(keys)) == keys_before
    assert d.running()
    assert client.manager_property("State") == "offline"


def test_push_stream_refuses_unknown_ca(started, client, emulator, pki):
    """API calls over plain loopback http, the push stream over https with a CA that did
    not sign the push server's certificate: the stream never connects and the log says
    why; the API still works."""
    topic = "t" + uuid.uuid4().hex[:16]
    d = started(emulator, {"CaFile": pki.rogue_ca},
                push_url="%s/push/%s/sse" % (emulator.https_url, topic))
    vt.enroll(client, emulator)
    pattern = "push stream to https://127.0.0.1:%d failed: TLS certificate problem with " \
              "“127.0.0.1”" % emulator.info["https_port"]
    vt.wait_until(lambda: pattern in d.log_text(), 15, what="the push stream's TLS error")
    assert push_state(client) != "connected"
    stats = emulator.request("GET", "/_emulator/push/" + topic, backend=False).json()
    assert stats["subscribers"] == 0, stats


# ---- plain http to a remote host -----------------------------------------------------------

@pytest.mark.parametrize("group,key,value", [
    ("Verify", "BaseUrl", "http://verify.example.com/v2/"),
    ("Verify", "BaseUrl", "http://10.0.0.1:8080/v2/"),
    ("Push", "Url", "http://push.example.com/topic/sse"),
])
def test_plain_http_to_remote_host_refused_at_load(session, emulator, group, key, value):
    d = vt.Daemon(session, emulator, config={group: {key: value}})
    with pytest.raises(vt.HarnessError):
        d.start(timeout=10)
    rc = d.proc.returncode
    text = d.log_text()
    d.stop()
    assert rc == 78, rc  # EX_CONFIG, which the unit does not restart
    assert d.config_path in text, text
    assert "[%s] %s" % (group, key) in text, text
    # a push URL's path is its topic, as good as a password: the host only
    shown = value if group == "Verify" else value[:value.index("/", len("http://"))] + "/…"
    assert '"%s"' % shown in text, text
    if group == "Push":
        assert "topic" not in text, text
    assert "plain http:// is only allowed to a loopback host" in text, text
