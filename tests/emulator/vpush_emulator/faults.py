"""Fault injection (docs/emulator.md "Faults"): the next COUNT /v2 requests that match a rule
(a path regular expression, optionally a method) get a broken answer: an error status (429
with Retry-After too), no answer at all (the connection closed), a response cut off in the
middle of its body, malformed JSON, an oversized body, or the real answer with a wrong
Content-Type. `when=before` takes the request before it is handled (nothing changes in the
store); `when=after` lets it be handled and breaks only the answer, as a reply lost on the
way back does.

Held requests (a delay past the client's timeout) are delay.py's; `action=delay` here adds
one of those, so that one control call can set up any fault."""

import json
import re
import socket
import threading
from http import HTTPStatus

from . import delay
from .common import Response
from .util import ApiError, json_dumps

ACTIONS = ("status", "drop", "truncate", "malformed", "huge", "content-type", "bad-item",
           "short-page", "stale-status", "sid", "delay")
# these change the real answer, so the request is always handled first
AFTER_ONLY = ("truncate", "content-type", "bad-item", "short-page", "stale-status", "sid")
# what action=sid puts in an answer: a sid as the OpenAPI document has them (two letters,
# 32 hex digits), so that the answer is still one the API could give
SID_RE = re.compile(r"[A-Z]{2}[0-9a-f]{32}")
WHEN = ("before", "after")
COUNT_MAX = 100000
HUGE_DEFAULT = 10 * 1024 * 1024
HUGE_MAX = 64 * 1024 * 1024
HEADER_VALUE_MAX = 200
DEFAULT_CODES = {429: 20429, 503: 20503}
DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"
# how bad-item makes an item unreadable: a field that is wrong, or an escape a JSON
# reader may misread ("\u0000", which cuts a string short in some; half a surrogate pair)
BAD_ITEM_HOW = ("date", "nul", "surrogate")
# what a malformed answer to a request that was not handled says
MALFORMED_BODY = b'{"sid": "YC0123456789abcdef0123456789abcdef", "status": "pend'


class Rule:
    def __init__(self, rule_id, path, method, action, when, count, status=None, code=None,
                 retry_after=None, content_type=None, size=None, date=None, how=None,
                 sid=None):
        self.id = rule_id
        self.path = path
        self.regex = re.compile(path)
        self.method = method
        self.action = action
        self.when = when
        self.remaining = count
        self.hits = 0
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.date = date
        self.content_type = content_type
        self.size = size
        self.how = how
        self.sid = sid

    def json(self):
        out = {"id": self.id, "path": self.path, "method": self.method, "action": self.action,
               "when": self.when, "remaining": self.remaining, "hits": self.hits}
        if self.action == "status":
            out.update(status=self.status, code=self.code, retry_after=self.retry_after,
                       date=self.date)
        elif self.action == "content-type":
            out["content_type"] = self.content_type
        elif self.action == "huge":
            out["size"] = self.size
        elif self.action == "bad-item":
            out["how"] = self.how
        elif self.action == "sid":
            out["sid"] = self.sid
        return out


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, **kw):
        with self.lock:
            rule = Rule(self.next_id, **kw)
            self.next_id += 1
            self.rules.append(rule)
            return rule.json()

    def take(self, method, path):
        """The oldest rule with uses left that matches, used once; or None."""
        with self.lock:
            for rule in self.rules:
                if rule.remaining > 0 and (rule.method is None or rule.method == method) \
                        and rule.regex.search(path):
                    rule.remaining -= 1
                    rule.hits += 1
                    return rule
        return None

    def snapshot(self):
        with self.lock:
            return [r.json() for r in self.rules]

    def clear(self):
        with self.lock:
            n, self.rules = len(self.rules), []
        return n


_attach_lock = threading.Lock()


def of(server):
    """The server's Faults (created on first use)."""
    with _attach_lock:
        faults = getattr(server, "faults", None)
        if faults is None:
            faults = server.faults = Faults()
        return faults


def take(server, method, path):
    return of(server).take(method, path)


# --- answering ------------------------------------------------------------------------------

def _error_body(rule, status):
    code = rule.code if rule.code is not None else DEFAULT_CODES.get(status, 20500)
    return {"code": code, "message": f"Injected fault (emulator rule {rule.id})",
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


def _encode(body):
    if isinstance(body, (dict, list)):
        return json_dumps(body).encode("utf-8")
    if isinstance(body, str):
        return body.encode("utf-8")
    return body or b""


def _head(handler, status, ctype, length, headers=()):
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
             f"Date: {handler.date_time_string()}", "Server: vpush-emulator",
             f"Content-Type: {ctype}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _close(handler):
    """Ends the connection at once: the client reads EOF where it expects more."""
    handler.close_connection = True
    try:
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _write(handler, data):
    try:
        handler.wfile.write(data)
    except OSError:
        pass                                # the client gave up: nothing more to do


def _huge(handler, rule):
    """A 200 JSON object of rule.size bytes, written until the client hangs up."""
    size = max(rule.size, 16)
    prefix, suffix = b'{"padding": "', b'"}'
    fill = size - len(prefix) - len(suffix)
    handler.close_connection = True
    try:
        handler.wfile.write(_head(handler, 200, "application/json", size) + prefix)
        chunk = b"x" * 65536
        while fill > 0:
            n = min(fill, len(chunk))
            handler.wfile.write(chunk[:n])
            fill -= n
        handler.wfile.write(suffix)
    except OSError:
        pass
    handler.log_request(200, size)


def status_instead(rule):
    """The status a rule with when=before answers (0: none, the connection is closed)."""
    if rule.action == "status":
        return rule.status
    return 0 if rule.action == "drop" else 200


def answer_instead(handler, rule):
    """A rule with when=before: the request is not handled; this is the whole answer."""
    if rule.action == "status":
        data = _encode(_error_body(rule, rule.status))
        extra = [("Retry-After", rule.retry_after)] if rule.retry_after is not None else []
        if rule.status == 401:
            extra.append(("WWW-Authenticate", 'Basic realm="Twilio API"'))
        handler._send(rule.status, data, extra, date=rule.date)
    elif rule.action == "drop":
        _close(handler)
    elif rule.action == "malformed":
        handler._send(200, MALFORMED_BODY)
    elif rule.action == "huge":
        _huge(handler, rule)
    else:
        raise AssertionError(f"action {rule.action} has no answer of its own")


def answer_after(handler, rule, status, out, extra):
    """A rule with when=after: the request was handled (status, out, extra); break its
    answer."""
    data = _encode(out)
    if rule.action == "status":
        answer_instead(handler, rule)
    elif rule.action == "drop":
        _close(handler)
    elif rule.action == "truncate":
        # the headers promise the whole body; half of it comes, then the connection ends
        head = _head(handler, status, "application/json", len(data), extra)
        _write(handler, head + data[:len(data) // 2] if data else head[:len(head) // 2])
        _close(handler)
        handler.log_request(status, len(data) // 2)
    elif rule.action == "malformed":
        cut = data[:len(data) // 2] if len(data) > 1 else MALFORMED_BODY
        handler._send(200 if status == 204 else status, cut, extra)
    elif rule.action == "huge":
        _huge(handler, rule)
    elif rule.action == "content-type":
        handler._send(status, data, extra, ctype=rule.content_type)
    elif rule.action == "bad-item":
        # ASCII: a lone surrogate goes out as its \u escape, which UTF-8 can't carry
        bad = json.dumps(_bad_item(out, rule.how), separators=(",", ":"), ensure_ascii=True)
        handler._send(status, bad.encode("ascii"), extra)
    elif rule.action == "short-page":
        handler._send(status, _encode(_short_page(out)), extra)
    elif rule.action == "stale-status":
        stale = dict(out, status=_stale_status(out)) \
            if isinstance(out, dict) and "status" in out else out
        handler._send(status, _encode(stale), extra)
    elif rule.action == "sid":
        # an API that hands out a sid it gave before (another factor's, say)
        other = dict(out, sid=rule.sid) if isinstance(out, dict) and "sid" in out else out
        handler._send(status, _encode(other), extra)
    else:
        raise AssertionError(f"action {rule.action} can't break an answer")


def _short_page(out):
    """The answer with its list (its first member that is an array) cut to its first item,
    its meta and its next page as they were: a server that gives fewer than asked for and
    says there is more. An answer without a list goes out as it was."""
    if isinstance(out, dict):
        for key, value in out.items():
            if isinstance(value, list):
                return dict(out, **{key: value[:1]})
    return out


def _stale_status(out):
    """What a copy read before the change says: a factor is unverified (the API's only
    other factor status), a challenge pending."""
    return "unverified" if str(out.get("sid", "")).startswith("YF") else "pending"


def _bad_item(out, how):
    """The answer with the first item of its list (its first member that is an array of
    objects) unreadable (how): its date_created is not a date ("date"), its
    hidden_details.transaction_id has "\\u0000other" added ("nul"), or its
    details.message half a surrogate pair ("surrogate"). An answer without such a list goes
    out as it was."""
    if isinstance(out, dict):
        for key, value in out.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return dict(out, **{key: [_bad(value[0], how)] + value[1:]})
    return out


def _bad(item, how):
    if how == "nul":
        hidden = item.get("hidden_details") if isinstance(item.get("hidden_details"), dict) \
            else {}
        txid = hidden.get("transaction_id") if isinstance(hidden.get("transaction_id"), str) \
            else ""
        return dict(item, hidden_details=dict(hidden, transaction_id=txid + "\0other"))
    if how == "surrogate":
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        message = details.get("message") if isinstance(details.get("message"), str) else ""
        return dict(item, details=dict(details, message=message + "\ud800"))
    return dict(item, date_created="not a date")


# --- control API ----------------------------------------------------------------------------

def _int(form, key, default, lo, hi):
    raw = form.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, 60306, f"{key} must be an integer")
    if not lo <= value <= hi:
        raise ApiError(400, 60306, f"{key} must be from {lo} to {hi}")
    return value


def _header_value(form, key, default):
    value = form.get(key)
    if value is None:
        return default
    if len(value) > HEADER_VALUE_MAX or any(c in value for c in "\r\n\0"):
        raise ApiError(400, 60306, f"{key} must be one line of at most {HEADER_VALUE_MAX} "
                                   "characters")
    return value


def _add(server, form):
    action = form.get("action") or "status"
    if action not in ACTIONS:
        raise ApiError(400, 60306, "action must be one of " + ", ".join(ACTIONS))
    if action == "delay":
        # held requests are delay.py's, with its own checks of path, seconds, count, when
        res = delay.handle(server, "POST", "/_emulator/delay", form)
        return Response(200, dict(res.body, action="delay"))
    rx = form.get("path")
    if not rx:
        raise ApiError(400, 60306, "path (a regular expression) is required")
    try:
        re.compile(rx)
    except re.error as exc:
        raise ApiError(400, 60306, f"path is not a regular expression: {exc}")
    method = (form.get("method") or "").upper() or None
    count = _int(form, "count", 1, 1, COUNT_MAX)
    when = form.get("when") or ("after" if action in AFTER_ONLY else "before")
    if when not in WHEN:
        raise ApiError(400, 60306, "when must be before or after")
    if action in AFTER_ONLY and when != "after":
        raise ApiError(400, 60306, f"action {action} changes the real answer: when must be after")
    kw = {}
    if action == "status":
        kw["status"] = _int(form, "status", 503, 400, 599)
        kw["code"] = _int(form, "code", None, 1, 99999)
        kw["retry_after"] = _header_value(form, "retry_after", None)
        kw["date"] = _header_value(form, "date", None)
    elif action == "content-type":
        kw["content_type"] = _header_value(form, "content_type", DEFAULT_CONTENT_TYPE)
    elif action == "huge":
        kw["size"] = _int(form, "size", HUGE_DEFAULT, 16, HUGE_MAX)
    elif action == "bad-item":
        kw["how"] = form.get("how") or "date"
        if kw["how"] not in BAD_ITEM_HOW:
            raise ApiError(400, 60306, "how must be one of " + ", ".join(BAD_ITEM_HOW))
    elif action == "sid":
        kw["sid"] = form.get("sid") or ""
        if not SID_RE.fullmatch(kw["sid"]):
            raise ApiError(400, 60306, "sid must be two capital letters and 32 hex digits")
    return Response(200, of(server).add(path=rx, method=method, action=action, when=when,
                                        count=count, **kw))


def handle(server, method, path, form):
    faults = of(server)
    if path == "/_emulator/faults" and method == "POST":
        return _add(server, form)
    if path == "/_emulator/faults" and method == "GET":
        delays = delay.of(server).snapshot()
        rules = faults.snapshot() + [dict(r, action="delay") for r in delays["rules"]]
        return Response(200, {"rules": rules, "held": delays["held"]})
    if path == "/_emulator/faults/clear" and method == "POST":
        return Response(200, {"cleared": faults.clear(),
                              "released": delay.of(server).clear()})
    raise ApiError(404, 20404, "no such control call")
