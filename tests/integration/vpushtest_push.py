"""The push channel's helpers shared by the push tests: topics on the emulator's push
server and hints published to them, PushState, vpushd's requests as the emulator saw them,
and a scripted push server of the test's own."""

import http.server
import json
import threading
import time
import urllib.request
import uuid

import vpushtest as vt

SLOW_POLL = {"IntervalSeconds": "600", "IntervalWithPushSeconds": "600"}

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def push_daemons(session, emulator):
    """The body of a fixture: yields start(url=None, poll=SLOW_POLL, verify=None) → a
    running vpushd with that push URL; stops them all afterwards."""
    daemons = []

    def start(url=None, poll=SLOW_POLL, verify=None):
        config = {"Poll": dict(poll)}
        if verify:
            config["Verify"] = dict(verify)
        if url:
            config["Push"] = {"Url": url}
        d = vt.Daemon(session, emulator, config=config)
        daemons.append(d)
        return d.start()
    yield start
    for d in daemons:
        d.stop()


def new_topic():
    return "t" + uuid.uuid4().hex[:16]


def push_url(emulator, topic, fmt="sse"):
    return "%s/push/%s/%s" % (emulator.url, topic, fmt)


def publish(emulator, topic, hint, encoding=None):
    """POST /push/{topic} with the hint as JSON text; returns the stored message.
    encoding="base64": sent base64-encoded, as ntfy sends a body that is not text."""
    query = "?encoding=" + encoding if encoding else ""
    req = urllib.request.Request("%s/push/%s%s" % (emulator.url, topic, query),
                                 data=json.dumps(hint).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with _opener.open(req, timeout=10) as r:
        return json.loads(r.read())


def publish_hint(emulator, topic, challenge, with_factor=True):
    hint = {"type": "verify_push_challenge", "challenge_sid": challenge["sid"]}
    if with_factor:
        hint["factor_sid"] = challenge["factor_sid"]
    return publish(emulator, topic, hint)


def control(emulator, path, form=None):
    res = emulator.request("POST" if form is not None else "GET", "/_emulator/push/" + path,
                           form, backend=False)
    assert res.status == 200, (path, res.status, res.body)
    return res.json()


def topic_stats(emulator, topic):
    return control(emulator, topic)


def push_state(client):
    return client.manager_property("PushState")


def wait_push_state(client, state, timeout=15.0):
    return vt.wait_until(lambda: push_state(client) == state, timeout,
                         what="PushState %s (now %s)" % (state, push_state(client)))


def wait_exported(client, sid, timeout=10.0):
    path = vt.challenge_path(sid)
    vt.wait_until(lambda: path in client.challenge_paths(), timeout,
                  what="challenge %s on the bus" % sid)


def device_requests(emulator):
    return [r for r in emulator.requests() if r["auth"] == "device"]


def lists(requests):
    return [r for r in requests if r["method"] == "GET" and r["path"].endswith("/Challenges")]


def settle(emulator, quiet=0.8, timeout=15.0):
    """Waits until vpushd has made no API call for `quiet` seconds (its start-up and
    connect polls are over), then empties the emulator's request log."""
    emulator.wait_quiet(quiet, timeout)
    emulator.clear_requests()


class ScriptedPushServer:
    """An SSE push server that answers its connections one by one from a script: each
    step is (status, body), (status, body, headers) or (status, body, headers, delay),
    headers with a Content-Type for another kind of stream, delay the seconds before the
    headers are sent, body bytes or a function writing to the response's file; it records
    each request's Last-Event-ID, path with query, and when it came (monotonic seconds)."""

    def __init__(self, script):
        self.script = list(script)
        self.seen = []
        self.paths = []
        self.times = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.times.append(time.monotonic())
                server.seen.append(self.headers.get("Last-Event-ID"))
                server.paths.append(self.path)
                status, body, *rest = (server.script.pop(0) if server.script
                                       else (503, b""))
                headers = dict(rest[0]) if rest else {}
                if len(rest) > 1:
                    time.sleep(rest[1])
                self.send_response(status)
                headers.setdefault("Content-Type", "text/event-stream")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if callable(body):
                    try:
                        body(self.wfile)
                    except OSError:
                        pass    # vpushd went away
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/stream" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
