"""Tests of the emulator's fault injection (docs/emulator.md "Faults"): each fault on the
wire, read with a raw socket where the client library would hide it, and the control
calls around it."""

import json
import os
import socket
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from emulator_client import Device, Emulator, assert_error, basic  # noqa: E402
from vpush_emulator import openapi  # noqa: E402


@pytest.fixture(scope="module")
def emu():
    e = Emulator("--check-openapi")
    yield e
    e.stop()
    assert e.proc.returncode == 0


@pytest.fixture(autouse=True)
def no_faults_left(emu):
    yield
    assert emu.control("POST", "/_emulator/faults/clear").status == 200


def add(emu, **form):
    r = emu.control("POST", "/_emulator/faults", {k: str(v) for k, v in form.items()})
    assert r.status == 200, r
    return r.json


def svc_re(emu):
    return "/Services/%s\\Z" % emu.service_sid


def raw(emu, method, path, body=b"", auth=None, timeout=10):
    """One request on a fresh connection, read until the server closes it:
    (status or None, headers dict, body bytes, everything received)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/x-www-form-urlencoded")
    if auth:
        lines.append(f"Authorization: {auth}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", emu.port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    if not got:
        return None, {}, b"", got
    head, _, rest = got.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(status_line.split()[1]), headers, rest, got


def backend_auth(emu):
    return basic(emu.account_sid, emu.auth_token)


def challenge_count(emu):
    return len(emu.state()["challenges"])


# --- control calls --------------------------------------------------------------------------

@pytest.mark.parametrize("form", [
    {"action": "status"},
    {"path": "(", "action": "status"},
    {"path": "x", "action": "explode"},
    {"path": "x", "count": "0"},
    {"path": "x", "count": "many"},
    {"path": "x", "status": "399"},
    {"path": "x", "status": "600"},
    {"path": "x", "when": "during"},
    {"path": "x", "action": "truncate", "when": "before"},
    {"path": "x", "action": "content-type", "when": "before"},
    {"path": "x", "action": "bad-item", "when": "before"},
    {"path": "x", "action": "bad-item", "how": "octal"},
    {"path": "x", "action": "stale-status", "when": "before"},
    {"path": "x", "action": "short-page", "when": "before"},
    {"path": "x", "action": "sid"},
    {"path": "x", "action": "sid", "sid": "YF0123"},
    {"path": "x", "action": "sid", "sid": "YF" + "0" * 32, "when": "before"},
    {"path": "x", "retry_after": "1\r\nX-Evil: 1"},
    {"path": "x", "date": "Fri, 01 Jan 2027 00:00:00 GMT\r\nX-Evil: 1"},
    {"path": "x", "action": "huge", "size": str(65 * 1024 * 1024)},
    {"path": "x", "action": "delay"},
    {"path": "x", "action": "delay", "seconds": "0"},
], ids=["no-path", "bad-regex", "bad-action", "count-0", "count-text", "status-399",
        "status-600", "bad-when", "truncate-before", "content-type-before",
        "bad-item-before", "bad-item-how", "stale-status-before", "short-page-before",
        "sid-missing", "sid-short",
        "sid-before", "header-newline", "date-newline",
        "huge-too-big", "delay-no-seconds", "delay-0"])
def test_bad_rules_refused(emu, form):
    r = emu.control("POST", "/_emulator/faults", form)
    assert r.status == 400, r
    assert r.json["code"] == 60306


def test_rules_listed_used_up_and_cleared(emu):
    a = add(emu, path=svc_re(emu), action="status", status=503, method="get", count=2)
    assert a["method"] == "GET" and a["remaining"] == 2 and a["when"] == "before"
    d = add(emu, path="nothing-matches-this", action="delay", seconds=1)
    assert d["action"] == "delay"
    listed = emu.control("GET", "/_emulator/faults").json
    assert [r["action"] for r in listed["rules"]] == ["status", "delay"]
    assert listed["held"] == 0

    # a method filter: a POST to the same path is not taken
    r = emu.request("POST", emu.svc_path(), {"FriendlyName": "x"}, auth=backend_auth(emu),
                    validate=False)
    assert r.status == 405
    for _ in range(2):
        r = emu.request("GET", emu.svc_path(), auth=backend_auth(emu), validate=False)
        assert r.status == 503
    assert emu.backend("GET", emu.svc_path()).status == 200
    rule = emu.control("GET", "/_emulator/faults").json["rules"][0]
    assert rule["remaining"] == 0 and rule["hits"] == 2

    r = emu.control("POST", "/_emulator/faults/clear")
    assert r.json == {"cleared": 1, "released": 0}
    assert emu.control("GET", "/_emulator/faults").json["rules"] == []


def test_oldest_rule_first(emu):
    first = add(emu, path=svc_re(emu), status=500)
    second = add(emu, path="/Services/", status=502)
    assert emu.control("POST", "/_emulator/requests/clear").status == 200
    statuses = [emu.request("GET", emu.svc_path(), auth=backend_auth(emu),
                            validate=False).status for _ in range(3)]
    assert statuses == [500, 502, 200]
    log = emu.control("GET", "/_emulator/requests").json
    assert [e["fault"] for e in log] == [first["id"], second["id"], None]
    assert all(isinstance(e["time"], float) for e in log)
    assert log[0]["time"] <= log[1]["time"] <= log[2]["time"]


# --- each fault on the wire -----------------------------------------------------------------

def test_status_with_retry_after(emu):
    add(emu, path=svc_re(emu), status=429, retry_after="7")
    status, headers, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 429
    assert headers["retry-after"] == "7"
    assert headers["date"]
    err = json.loads(body)
    assert err["code"] == 20429 and err["status"] == 429 and "fault" in err["message"]

    add(emu, path=svc_re(emu), status=503, code=20001,
        retry_after="Wed, 21 Oct 2037 07:28:00 GMT")
    status, headers, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 503 and json.loads(body)["code"] == 20001
    assert headers["retry-after"] == "Wed, 21 Oct 2037 07:28:00 GMT"


def test_status_with_date(emu):
    """A client's clock correction from a 401's Date can be tried with any Date."""
    date = "Fri, 01 Jan 2147483647 00:00:00 GMT"
    add(emu, path=svc_re(emu), status=401, date=date)
    status, headers, _, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 401 and headers["date"] == date
    status, headers, _, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and headers["date"] != date


def test_status_before_is_not_handled_after_is(emu):
    d = Device(emu).enroll()
    path = f"{emu.svc_path()}/Entities/{d.identity}/Challenges"
    form = f"FactorSid={d.sid}&Details.Message=hi".encode()
    n = challenge_count(emu)
    add(emu, path=path + "\\Z", method="POST", status=500)
    assert raw(emu, "POST", path, form, backend_auth(emu))[0] == 500
    assert challenge_count(emu) == n
    add(emu, path=path + "\\Z", method="POST", status=500, when="after")
    assert raw(emu, "POST", path, form, backend_auth(emu))[0] == 500
    assert challenge_count(emu) == n + 1


def test_drop(emu):
    d = Device(emu).enroll()
    path = f"{emu.svc_path()}/Entities/{d.identity}/Challenges"
    form = f"FactorSid={d.sid}&Details.Message=hi".encode()
    n = challenge_count(emu)
    # before: not handled, and not a byte of answer
    rule = add(emu, path=path + "\\Z", method="POST", action="drop")
    assert raw(emu, "POST", path, form, backend_auth(emu))[3] == b""
    assert challenge_count(emu) == n
    log = emu.control("GET", "/_emulator/requests").json
    assert log[-1]["fault"] == rule["id"] and log[-1]["status"] == 0
    # after: handled, the answer lost
    add(emu, path=path + "\\Z", method="POST", action="drop", when="after")
    assert raw(emu, "POST", path, form, backend_auth(emu))[3] == b""
    assert challenge_count(emu) == n + 1


def test_lost_answer_may_be_asked_again(emu):
    """A device request handled but answered with nothing may come again with its JWT (a
    client library resending on a dead kept-alive connection); one answered may not."""
    d = Device(emu).enroll()
    path = f"{d.base}/Challenges?FactorSid={d.sid}"
    auth = d.auth()
    add(emu, path=r"/Challenges\Z", method="GET", action="drop", when="after")
    assert raw(emu, "GET", path, auth=auth)[3] == b""
    assert raw(emu, "GET", path, auth=auth)[0] == 200
    status, _, body, _ = raw(emu, "GET", path, auth=auth)
    assert status == 401 and b"already used" in body


def test_lost_refusal_does_not_clear_the_use_it_replayed(emu):
    """A replay refused and then lost on the way does not make the token new again."""
    d = Device(emu).enroll()
    path = f"{d.base}/Challenges?FactorSid={d.sid}"
    auth = d.auth()
    assert raw(emu, "GET", path, auth=auth)[0] == 200
    add(emu, path=r"/Challenges\Z", method="GET", action="drop", when="after")
    assert raw(emu, "GET", path, auth=auth)[3] == b""
    status, _, body, _ = raw(emu, "GET", path, auth=auth)
    assert status == 401 and b"already used" in body


def test_truncate(emu):
    add(emu, path=svc_re(emu), action="truncate")
    status, headers, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200
    length = int(headers["content-length"])
    assert 0 < len(body) < length
    whole = emu.backend("GET", emu.svc_path())
    assert whole.raw[:len(body)] == body and len(whole.raw) == length


@pytest.mark.parametrize("when", ["before", "after"])
def test_malformed(emu, when):
    add(emu, path=svc_re(emu), action="malformed", when=when)
    status, headers, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body) > 0
    with pytest.raises(ValueError):
        json.loads(body)


def test_huge(emu):
    add(emu, path=svc_re(emu), action="huge")
    status, headers, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and int(headers["content-length"]) == 10 * 1024 * 1024
    assert len(body) == 10 * 1024 * 1024
    assert json.loads(body)["padding"].startswith("xxx")

    # a client that hangs up early does no harm
    add(emu, path=svc_re(emu), action="huge", size=50 * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as s:
        s.sendall(f"GET {emu.svc_path()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    assert emu.backend("GET", emu.svc_path()).status == 200


def test_content_type(emu):
    add(emu, path=svc_re(emu), action="content-type", content_type="text/plain")
    status, headers, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and headers["content-type"] == "text/plain"
    assert json.loads(body)["sid"] == emu.service_sid
    # default: HTML, as a captive portal would say
    add(emu, path=svc_re(emu), action="content-type")
    assert raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))[1]["content-type"] \
        .startswith("text/html")


def test_bad_item(emu):
    """The first item of a list made unreadable (its date_created), the rest as it was;
    an answer without a list is left alone."""
    d = Device(emu).enroll()
    for _ in range(2):
        emu.create_challenge(d.identity, d.sid)
    path = f"{emu.svc_path()}/Entities/{d.identity}/Challenges"
    whole = emu.backend("GET", path).json
    add(emu, path=r"/Challenges\Z", action="bad-item", method="GET")
    status, _, body, _ = raw(emu, "GET", path, auth=backend_auth(emu))
    broken = json.loads(body)
    assert status == 200 and len(whole["challenges"]) == 2
    assert broken["challenges"][0]["date_created"] == "not a date"
    assert dict(broken["challenges"][0], date_created=None) \
        == dict(whole["challenges"][0], date_created=None)
    assert broken["challenges"][1:] == whole["challenges"][1:]
    assert broken["meta"] == whole["meta"]
    add(emu, path=svc_re(emu), action="bad-item")
    status, _, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and json.loads(body)["sid"] == emu.service_sid


@pytest.mark.parametrize("how", ["nul", "surrogate"])
def test_bad_item_escape(emu, how):
    """The first item of a list with an escape some JSON readers misread: "\\u0000" added to
    its transaction id, or half a surrogate pair to its message; JSON all the same."""
    d = Device(emu).enroll()
    emu.create_challenge(d.identity, d.sid, hidden={"transaction_id": "T"})
    path = f"{emu.svc_path()}/Entities/{d.identity}/Challenges"
    add(emu, path=r"/Challenges\Z", action="bad-item", method="GET", how=how)
    status, _, body, _ = raw(emu, "GET", path, auth=backend_auth(emu))
    item = json.loads(body)["challenges"][0]
    assert status == 200
    if how == "nul":
        assert b'"T\\u0000other"' in body
        assert item["hidden_details"]["transaction_id"] == "T\0other"
    else:
        assert b'\\ud800"' in body
        assert item["details"]["message"].endswith("\ud800")


def test_short_page(emu):
    """A list cut to its first item, its meta and next page as they were; an answer
    without a list is left alone."""
    d = Device(emu).enroll()
    for _ in range(3):
        emu.create_challenge(d.identity, d.sid)
    path = f"{emu.svc_path()}/Entities/{d.identity}/Challenges"
    whole = emu.backend("GET", path, query={"PageSize": "2"}).json
    add(emu, path=r"/Challenges\Z", action="short-page", method="GET")
    status, _, body, _ = raw(emu, "GET", path + "?PageSize=2", auth=backend_auth(emu))
    short = json.loads(body)
    assert status == 200 and len(whole["challenges"]) == 2
    assert short["challenges"] == whole["challenges"][:1]
    # still an answer the API could give
    openapi.load().check_response("GET", path, status, short)
    # a page token is made anew for each answer
    assert dict(short["meta"], next_page_url=None) == dict(whole["meta"], next_page_url=None)
    assert "PageToken=" in short["meta"]["next_page_url"]
    add(emu, path=svc_re(emu), action="short-page")
    status, _, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and json.loads(body)["sid"] == emu.service_sid


def test_stale_status(emu):
    """The answer to an update of a challenge shows it still pending; the update itself
    was made. An answer without a status goes out as it was."""
    d = Device(emu).enroll()
    c = emu.create_challenge(d.identity, d.sid).json
    add(emu, path=r"/Challenges/%s\Z" % c["sid"], action="stale-status", method="POST")
    r = d.answer(c["sid"], "approved")
    assert r.status == 200 and r.json["status"] == "pending", r
    assert d.fetch(c["sid"]).json["status"] == "approved"
    add(emu, path=svc_re(emu), action="stale-status")
    status, _, body, _ = raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert status == 200 and json.loads(body)["sid"] == emu.service_sid


def test_stale_status_of_a_factor(emu):
    """A factor's stale status is the one the API has besides verified: unverified (the
    OpenAPI document's factor statuses); the verification itself was made."""
    d = Device(emu)
    d.create()
    add(emu, path=r"/Factors/%s\Z" % d.sid, action="stale-status", method="POST")
    r = d.verify()
    assert r.status == 200 and r.json["status"] == "unverified", r
    openapi.load().check_response("POST", f"{emu.svc_path()}/Entities/{d.identity}/Factors/"
                                  f"{d.sid}", r.status, r.json)


def test_sid(emu):
    """The answer to a create carries another factor's sid; the factor made has its own.
    An answer without a sid goes out as it was."""
    first = Device(emu).enroll()
    add(emu, path=r"/Factors\Z", action="sid", sid=first.sid, method="POST")
    second = Device(emu)
    r = second.create()
    assert r.status == 201 and r.json["sid"] == first.sid, r
    factors = emu.backend("GET", f"{emu.svc_path()}/Entities/{second.identity}/Factors").json
    assert len(factors["factors"]) == 1 and factors["factors"][0]["sid"] != first.sid
    rules = emu.control("GET", "/_emulator/faults").json["rules"]
    assert rules[0]["sid"] == first.sid and rules[0]["hits"] == 1
    add(emu, path=r"/Challenges\Z", action="sid", sid=first.sid, method="GET")
    path = f"{emu.svc_path()}/Entities/{first.identity}/Challenges"
    status, _, body, _ = raw(emu, "GET", path, auth=backend_auth(emu))
    assert status == 200 and "sid" not in json.loads(body)


def test_delay(emu):
    add(emu, path=svc_re(emu), action="delay", seconds=0.5, method="GET")
    t0 = time.monotonic()
    assert emu.backend("GET", emu.svc_path()).status == 200
    assert time.monotonic() - t0 >= 0.5
    rules = emu.control("GET", "/_emulator/faults").json["rules"]
    assert rules[0]["action"] == "delay" and rules[0]["hits"] == 1


def _held(emu):
    return emu.control("GET", "/_emulator/delay").json["held"]


def _wait(cond, what):
    deadline = time.monotonic() + 10
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_delay_released_by_rule(emu):
    """delay/clear with id lets that rule's requests go on and keeps the other rules and
    theirs held: a test can let one request through, then see what the client does."""
    ids = [emu.control("POST", "/_emulator/delay", {"path": svc_re(emu), "seconds": "600",
                                                    "method": "GET"}).json["id"]
           for _ in range(2)]
    done = []

    def get():
        done.append(raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu), timeout=60)[0])

    threads = [threading.Thread(target=get) for _ in ids]
    for t in threads:
        t.start()
    _wait(lambda: _held(emu) == 2, "both requests held")
    r = emu.control("POST", "/_emulator/delay/clear", {"id": str(ids[1])})
    assert r.status == 200 and r.json["released"] == 1, r
    _wait(lambda: done == [200], "the released request answered")
    assert _held(emu) == 1
    assert [x["id"] for x in emu.control("GET", "/_emulator/delay").json["rules"]] == ids[:1]
    assert emu.control("POST", "/_emulator/delay/clear", {"id": str(ids[1])}).status == 404
    assert emu.control("POST", "/_emulator/delay/clear", {"id": "x"}).status == 400
    assert emu.control("POST", "/_emulator/delay/clear").json["released"] == 1
    for t in threads:
        t.join(10)
    assert done == [200, 200]


# --- a challenge answered elsewhere ---------------------------------------------------------

def test_answer_control(emu):
    d = Device(emu).enroll()
    ch = emu.create_challenge(d.identity, d.sid).json
    r = emu.control("POST", "/_emulator/answer", {"sid": ch["sid"], "status": "denied"})
    assert r.status == 200 and r.json["status"] == "denied"
    assert r.json["date_responded"] is not None
    again = emu.control("POST", "/_emulator/answer", {"sid": ch["sid"], "status": "approved"})
    assert again.status == 409 and again.json["code"] == 60325
    # the device's own answer now comes too late
    assert d.call("POST", f"/Challenges/{ch['sid']}", {"AuthPayload": "x"}).status == 409
    assert emu.control("POST", "/_emulator/answer",
                       {"sid": ch["sid"], "status": "pending"}).status == 400
    assert emu.control("POST", "/_emulator/answer",
                       {"sid": "YC" + "0" * 32, "status": "denied"}).status == 404


def test_hidden_details_control(emu):
    """The hidden details a test sets are what the device reads and must sign from then on."""
    d = Device(emu).enroll()
    ch = emu.create_challenge(d.identity, d.sid, hidden={"transaction_id": "t-1"}).json
    r = emu.control("POST", "/_emulator/hidden-details",
                    {"sid": ch["sid"], "hidden_details": '{"transaction_id": "t-2"}'})
    assert r.status == 200 and r.json["hidden_details"] == {"transaction_id": "t-2"}, r
    fetched = d.fetch(ch["sid"])
    assert fetched.json["hidden_details"] == {"transaction_id": "t-2"}, fetched
    assert d.answer(ch["sid"]).status == 200
    r = emu.control("POST", "/_emulator/hidden-details", {"sid": ch["sid"]})
    assert r.status == 200 and r.json["hidden_details"] is None, r
    for bad in ('{"n": 1}', "[]", "{"):
        assert_error(emu.control("POST", "/_emulator/hidden-details",
                                 {"sid": ch["sid"], "hidden_details": bad}), 400, 60306)
    assert_error(emu.control("POST", "/_emulator/hidden-details",
                             {"sid": "YC" + "0" * 32}), 404, 60391)


def test_delay_by_query(emu):
    """query=REGEX holds only the requests whose query string matches: a test can hold a
    client's list of recent challenges and not its poll, which lists the same path."""
    rule = emu.control("POST", "/_emulator/delay", {"path": svc_re(emu), "seconds": "0.5",
                                                    "query": r"(^|&)Marker=1(&|$)",
                                                    "count": "5"}).json
    assert rule["query"] == r"(^|&)Marker=1(&|$)", rule
    t0 = time.monotonic()
    raw(emu, "GET", emu.svc_path() + "?Marker=10", auth=backend_auth(emu))
    raw(emu, "GET", emu.svc_path(), auth=backend_auth(emu))
    assert time.monotonic() - t0 < 0.5
    raw(emu, "GET", emu.svc_path() + "?Other=2&Marker=1", auth=backend_auth(emu))
    assert time.monotonic() - t0 >= 0.5
    rules = emu.control("GET", "/_emulator/delay").json["rules"]
    assert rules[0]["hits"] == 1, rules
    bad = emu.control("POST", "/_emulator/delay", {"path": "x", "seconds": "1", "query": "("})
    assert bad.status == 400 and "query is not a regular expression" in bad.json["message"]


# --- what a client sent is checked, whatever becomes of it ---------------------------------

def _kept_since(emu, before):
    found = emu.control("GET", "/_emulator/conformance").json
    new = found["total"] - before
    return found["requests"][len(found["requests"]) - new:] if new else []


def test_requests_taken_by_a_fault_are_checked(emu):
    """--check-openapi checks a request the API never handles: one a `before` fault
    answers, or a held one a clear with drop loses. A client's retry tests would otherwise
    check only the attempt that got through."""
    path = emu.svc_path() + "?Bogus=1"
    before = emu.control("GET", "/_emulator/conformance").json["total"]
    add(emu, path=svc_re(emu), method="GET", status=503)
    assert raw(emu, "GET", path, auth=backend_auth(emu))[0] == 503
    kept = _kept_since(emu, before)
    assert len(kept) == 1 and "'Bogus' is not the operation's" in kept[0]["error"], kept

    before = emu.control("GET", "/_emulator/conformance").json["total"]
    emu.control("POST", "/_emulator/delay", {"path": svc_re(emu), "seconds": "600",
                                            "method": "GET"})
    got = []
    t = threading.Thread(target=lambda: got.append(
        raw(emu, "GET", path, auth=backend_auth(emu), timeout=60)))
    t.start()
    _wait(lambda: _held(emu) == 1, "the request held")
    assert emu.control("POST", "/_emulator/delay/clear", {"drop": "1"}).json["released"] == 1
    t.join(10)
    assert got and got[0][3] == b"", got
    kept = _kept_since(emu, before)
    assert len(kept) == 1 and "'Bogus' is not the operation's" in kept[0]["error"], kept
