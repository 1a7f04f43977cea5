"""The Verify emulator (tests/emulator/vpush-emulator) on loopback, for the harness: its
process, and the backend and control calls the tests make of it (docs/emulator.md)."""

import base64
import datetime
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from vpushtest_processes import (LOGS, PYTHON, HarnessError, _spawn, _stop_process, log_tail,
                                 wait_until)

EMULATOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulator",
                        "vpush-emulator")


class HttpResult:
    def __init__(self, status, body, headers):
        self.status, self.body, self.headers = status, body, headers

    def json(self):
        return json.loads(self.body) if self.body else None


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ") \
        .replace(tzinfo=datetime.timezone.utc).timestamp()


class Emulator:
    """tests/emulator/vpush-emulator on 127.0.0.1, with backend and control helpers."""

    def __init__(self, workdir, clock_offset=0, env=None, timeout=20.0, extra_args=()):
        """extra_args: more emulator options, e.g. ("--tls-cert", F, "--tls-key", K)."""
        self.workdir = workdir
        ready = os.path.join(workdir, "emulator-ready.json")
        self.log = os.path.join(workdir, "emulator.log")
        LOGS.append(("emulator", self.log))
        if os.path.exists(ready):
            os.unlink(ready)
        self.proc = _spawn(
            [PYTHON, EMULATOR, "--listen", "127.0.0.1", "--port", "0", "--ready-file", ready,
             "--clock-offset", str(clock_offset), "--verbose", "--check-openapi"]
            + list(extra_args),
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            env=env, start_new_session=True)

        def is_ready():
            if self.proc.poll() is not None:
                raise HarnessError("the emulator exited %s:\n%s"
                                   % (self.proc.returncode, log_tail(self.log)))
            return os.path.exists(ready)
        try:
            wait_until(is_ready, timeout, what="the emulator's ready file", pump=False)
        except BaseException:
            self.stop()
            raise
        with open(ready) as f:
            self.info = json.load(f)
        self.base_url = self.info["base_url"]
        self.url = self.info["url"].rstrip("/")
        self.account_sid = self.info["account_sid"]
        self.auth_token = self.info["auth_token"]
        self.service_sid = self.info["service_sid"]
        # with --tls-cert: the HTTPS listener (same emulator); the harness itself uses `url`
        self.https_base_url = self.info.get("https_base_url")
        self.https_url = self.info.get("https_url")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        Emulator.started.append(self)

    started = []

    @classmethod
    def running(cls):
        return [e for e in cls.started if e.proc is not None and e.proc.poll() is None]

    def conformance(self):
        """What --check-openapi found: `total`, how many requests the OpenAPI document does
        not allow and answers it does not (those answered 500) there have been, and
        `requests`, the last of them (`kind`: "request" or "response")."""
        return self.request("GET", "/_emulator/conformance", backend=False).json()

    def stop(self):
        return _stop_process(self.proc)

    # -- HTTP
    def request(self, method, path, form=None, backend=True, timeout=15.0):
        """path: absolute (/v2/…, /_emulator/…). form: dict or list of pairs."""
        data = None
        headers = {"Accept": "application/json"}
        if form is not None:
            data = urllib.parse.urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if backend:
            cred = base64.b64encode(("%s:%s" % (self.account_sid, self.auth_token)).encode())
            headers["Authorization"] = "Basic " + cred.decode()
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=timeout) as r:
                return HttpResult(r.status, r.read().decode(), dict(r.headers))
        except urllib.error.HTTPError as e:
            return HttpResult(e.code, e.read().decode(), dict(e.headers))

    def _ok(self, res, what):
        if res.status >= 300:
            raise HarnessError("%s: HTTP %d %s" % (what, res.status, res.body))
        return res.json()

    def entity_path(self, identity, service_sid=None):
        return "/v2/Services/%s/Entities/%s" % (service_sid or self.service_sid,
                                                urllib.parse.quote(identity, safe=""))

    # -- backend side (account sid + auth token)
    def access_token(self, identity, friendly_name=None, service_sid=None):
        """POST AccessTokens as the app backend; returns the whole response (token in
        ["token"])."""
        form = {"Identity": identity, "FactorType": "push"}
        if friendly_name:
            form["FactorFriendlyName"] = friendly_name
        return self._ok(self.request(
            "POST", "/v2/Services/%s/AccessTokens" % (service_sid or self.service_sid), form),
            "create access token")

    def create_challenge(self, identity, factor_sid, message="Approve this?", hidden=None,
                         expiration=None, fields=(), service_sid=None):
        """hidden: dict sent as HiddenDetails JSON. expiration: seconds from the emulator's
        now (int/float) or an RFC 3339 string. fields: [(label, value)]."""
        form = [("FactorSid", factor_sid), ("Details.Message", message)]
        for label, value in fields:
            form.append(("Details.Fields", json.dumps({"label": label, "value": value})))
        if hidden is not None:
            form.append(("HiddenDetails", json.dumps(hidden)))
        if expiration is not None:
            if not isinstance(expiration, str):
                expiration = rfc3339(self.now() + expiration)
            form.append(("ExpirationDate", expiration))
        return self._ok(self.request("POST", self.entity_path(identity, service_sid)
                                     + "/Challenges", form), "create challenge")

    def fetch_challenge(self, identity, sid, service_sid=None):
        return self._ok(self.request("GET", self.entity_path(identity, service_sid)
                                     + "/Challenges/" + sid), "fetch challenge")

    def fetch_factor(self, identity, sid, service_sid=None):
        """Returns the HttpResult (status 404 for a deleted factor)."""
        return self.request("GET", self.entity_path(identity, service_sid) + "/Factors/" + sid)

    def list_factors(self, identity, service_sid=None):
        res = self.request("GET", self.entity_path(identity, service_sid) + "/Factors")
        # an identity that never got a factor has no entity: Twilio answers 404/60392
        if res.status == 404 and json.loads(res.body).get("code") == 60392:
            return []
        return self._ok(res, "list factors")["factors"]

    # -- control API
    def state(self):
        return self._ok(self.request("GET", "/_emulator/state", backend=False), "state")

    def requests(self):
        return self._ok(self.request("GET", "/_emulator/requests", backend=False), "requests")

    def clear_requests(self):
        self._ok(self.request("POST", "/_emulator/requests/clear", {}, backend=False), "clear")

    def wait_quiet(self, quiet, timeout):
        """Waits until no request has come for `quiet` seconds (vpushd's start-up, connect
        and follow-up calls are over)."""
        state = {"n": -1, "since": time.monotonic()}

        def quiet_now():
            n = len(self.requests())
            if n != state["n"]:
                state["n"], state["since"] = n, time.monotonic()
            return time.monotonic() - state["since"] >= quiet
        wait_until(quiet_now, timeout, interval=0.1, what="vpushd to stop calling the API")

    def fault(self, path, action="status", **fields):
        """A fault rule (docs/emulator.md "Faults"): the next /v2 requests whose path
        matches the regex path get it. fields: method, count, when, seconds, status…"""
        form = {"path": path, "action": action}
        form.update({k: str(v) for k, v in fields.items()})
        return self._ok(self.request("POST", "/_emulator/faults", form, backend=False),
                        "fault")

    def set_signature_fields(self, text=None):
        """The Twilio-Verify-Signature-Fields text of the GETs from now on; None: the
        emulator's default list."""
        form = {} if text is None else {"fields": text}
        self._ok(self.request("POST", "/_emulator/signature-fields", form, backend=False),
                 "signature fields")

    def set_hidden_details(self, challenge_sid, hidden):
        """Changes a challenge's hidden details (dict; None: none), as the API never would."""
        form = {"sid": challenge_sid}
        if hidden is not None:
            form["hidden_details"] = json.dumps(hidden)
        self._ok(self.request("POST", "/_emulator/hidden-details", form, backend=False),
                 "hidden details")

    def clear_faults(self):
        self._ok(self.request("POST", "/_emulator/faults/clear", {}, backend=False),
                 "clear faults")

    def release_held(self, rule_id=None):
        """Lets the requests that delay rule rule_id (the "id" fault() answered) holds go
        on and forgets that rule; None: every delay rule. The fault rules stay."""
        form = {} if rule_id is None else {"id": str(rule_id)}
        self._ok(self.request("POST", "/_emulator/delay/clear", form, backend=False),
                 "release")

    def faults_held(self):
        """How many requests a delay rule holds right now."""
        return self._ok(self.request("GET", "/_emulator/faults", backend=False),
                        "faults")["held"]

    def set_clock(self, offset):
        return self._ok(self.request("POST", "/_emulator/clock", {"offset": str(offset)},
                                     backend=False), "set clock")

    def now(self):
        return self._ok(self.request("GET", "/_emulator/clock", backend=False), "clock")["now"]

    def answer_posts(self, challenge_sid=None):
        chs = self.state()["challenges"]
        if challenge_sid is not None:
            return chs[challenge_sid]["answer_posts"]
        return sum(c.get("answer_posts", 0) for c in chs.values())
