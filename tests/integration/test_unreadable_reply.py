"""Replies of the Verify API that can't be read (README "When things fail"): vpushd sent the
request and the server answered, with something libcurl can't parse (a header line over
its 100 KB, a status line that is not one, no status line) or headers over vpushd's 64 KiB
cap. The API was reached: such a reply is Error.Failed and State stays ready. Whether the
API acted on the request is unknown unless the status read was a 4xx: an answer is then
read back, never sent twice, and an approval the API took succeeds.

The emulator can't send such replies: a proxy in front of it passes every request on and
relays the reply, but for a request the test picks, which the emulator gets and acts on,
and whose reply vpushd gets as the test's raw bytes.
"""

import http.client
import http.server
import re
import threading
import urllib.parse

import pytest

import vpushtest as vt
from vpushtest_policy import MSGID_APPROVED, last_audit

ERR_FAILED = vt.ERR_PREFIX + "Failed"

BIG = b"X-Big: " + b"a" * 200 * 1024 + b"\r\n"
REPLIES = {
    # libcurl's own limit on a header line ("Out of memory")
    "200 with a header line over 100 KB": b"HTTP/1.1 200 OK\r\n" + BIG + b"\r\n",
    "a status line that is not one": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "no status line (HTTP/0.9)": b"{}",
    # vpushd's cap on all the header lines together
    "interim responses without end": b"HTTP/1.1 100 Continue\r\n\r\n" * 3000,
    "500 with headers over 64 KiB": b"HTTP/1.1 500 Oops\r\n" + BIG[:80 * 1024] + b"\r\n\r\n",
}


class UnreadableProxy:
    """Relays vpushd's requests to the emulator and the replies back; the next request
    that matches a rule of unreadable() goes to the emulator too, but vpushd gets the raw
    bytes of the rule instead of the emulator's reply."""

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port,
                                                  timeout=30)
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                conn.close()
                raw = proxy.take(self.command, self.path)
                if raw is not None:
                    self.close_connection = True
                    try:
                        self.wfile.write(raw)
                    except OSError:
                        pass  # vpushd gave up on it before the end
                    return
                self.send_response_only(reply.status, reply.reason)
                for k, v in reply.getheaders():
                    if k.lower() not in ("connection", "content-length", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = relay

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = "http://127.0.0.1:%d%s" % (self.httpd.server_address[1],
                                                   self.upstream.path)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def unreadable(self, method, path_re, raw):
        with self.lock:
            self.rules.append((method, re.compile(path_re), raw))

    def take(self, method, path):
        with self.lock:
            for rule in self.rules:
                if rule[0] == method and rule[1].search(path.split("?")[0]):
                    self.rules.remove(rule)
                    return rule[2]
        return None

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def proxy(emulator):
    p = UnreadableProxy(emulator.base_url)
    yield p
    p.close()


@pytest.fixture(scope="module")
def udaemon(session, emulator, proxy):
    emulator.set_clock(0)
    d = vt.Daemon(session, emulator, config={
        "Verify": {"BaseUrl": proxy.base_url, "RetryTimeoutMs": "3000"},
        "Poll": {"IntervalSeconds": "3600", "IntervalWithPushSeconds": "3600"}})
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def factor(udaemon, client, emulator):
    f = vt.enroll(client, emulator)
    client.refresh()  # the first poll of a new factor is over before a test sets a rule
    return f


@pytest.fixture(autouse=True)
def no_rule_left(proxy, udaemon):
    yield
    assert not proxy.rules, "a rule was not met: %r" % proxy.rules
    assert udaemon.running(), "vpushd exited:\n" + vt.log_tail(udaemon.log)


@pytest.mark.parametrize("reply", REPLIES)
def test_answer_taken_whose_reply_is_unreadable(reply, proxy, udaemon, factor, client,
                                                emulator):
    """The API takes the approval; its reply can't be read. vpushd reads the challenge
    back, finds it approved and succeeds, with the one answer sent, and the approval in
    the audit trail. Before, the call ended Network or Failed and the app's retry got
    AlreadyResponded."""
    txid = vt.new_transaction_id()
    ch = emulator.create_challenge(factor.identity, factor.sid, hidden={"transaction_id": txid})
    client.refresh()  # fetched now: the answer goes out without another GET first
    proxy.unreadable("POST", r"/Challenges/%s\Z" % ch["sid"], REPLIES[reply])
    assert client.approve({"transaction-id": txid}) == ch["sid"]
    assert emulator.answer_posts(ch["sid"]) == 1
    assert emulator.fetch_challenge(factor.identity, ch["sid"])["status"] == "approved"
    last_audit(udaemon, MSGID_APPROVED, VPUSH_CHALLENGE=ch["sid"])
    assert client.manager_property("State") == "ready"


@pytest.mark.parametrize("reply", ["200 with a header line over 100 KB",
                                   "a status line that is not one",
                                   "no status line (HTTP/0.9)"])
def test_list_whose_reply_is_unreadable(reply, proxy, factor, client, emulator):
    """A list's reply that can't be read is the API answering: Error.Failed saying so,
    not sent again, and State stays ready. Before, it was Error.Network and offline."""
    before = len(emulator.requests())
    proxy.unreadable("GET", r"/Entities/%s/Challenges\Z" % factor.identity, REPLIES[reply])
    with pytest.raises(vt.DBusCallError) as e:
        client.list_challenges(factor.path, {})
    assert e.value.name == ERR_FAILED, e.value
    assert "the reply of “127.0.0.1” could not be read" in e.value.message, e.value.message
    assert len([r for r in emulator.requests()[before:] if r["method"] == "GET"]) == 1
    assert client.manager_property("State") == "ready"
    client.list_challenges(factor.path, {})


def test_create_whose_reply_is_unreadable(proxy, udaemon, client, emulator, session):
    """The API makes the factor; the create's reply can't be read, so its sid never
    reaches vpushd. The enrollment fails Error.Failed and leaves no key; the factor the
    API made stays unverified, and the log says the API deletes it by itself (as after a
    create whose reply was lost)."""
    identity = vt.unique_identity("unread")
    token = emulator.access_token(identity)["token"]
    proxy.unreadable("POST", r"/Entities/%s/Factors\Z" % identity,
                     REPLIES["200 with a header line over 100 KB"])
    with pytest.raises(vt.DBusCallError) as e:
        client.enroll({"service-sid": emulator.service_sid, "identity": identity,
                       "access-token": token, "friendly-name": "Unread"})
    assert e.value.name == ERR_FAILED, e.value
    made = [f for f in emulator.state()["factors"].values() if f.get("identity") == identity]
    assert [f["status"] for f in made] == ["unverified"], made
    vt.wait_until(lambda: "deletes it by itself" in udaemon.log_text(), 10 * vt.SLOWDOWN,
                  what="the note on the factor the API made")
    # no Factor object, and no key but those of the factors on the bus
    assert identity not in [client.get_property(p, vt.FACTOR_IFACE, "Identity")
                            for p in client.factor_paths()]
    keys = session.keyring_items({"xdg:schema": vt.SECRET_SCHEMA})
    assert len(keys) == len(client.factor_paths()), keys


@pytest.mark.parametrize("reply", ["200 with a header line over 100 KB",
                                   "a status line that is not one"])
def test_fetch_by_sid_whose_reply_is_unreadable(reply, proxy, factor, client, emulator):
    """An approval by challenge sid asks for the challenge directly; a reply to that GET
    that can't be read is what the call tells at its timeout (Error.Failed), not that no
    such challenge is pending (NotFound)."""
    ch = emulator.create_challenge(factor.identity, factor.sid)
    proxy.unreadable("GET", r"/Challenges/%s\Z" % ch["sid"], REPLIES[reply])
    with pytest.raises(vt.DBusCallError) as e:
        client.approve({"challenge-sid": ch["sid"], "timeout-ms": 2000})
    assert e.value.name == ERR_FAILED, e.value
    assert "the reply of “127.0.0.1” could not be read" in e.value.message, e.value.message
    assert emulator.answer_posts(ch["sid"]) == 0
    assert client.manager_property("State") == "ready"
