"""Held requests (docs/emulator.md "Delays"): the next COUNT /v2 requests that match a rule
are held for SECONDS, before they are handled or after (handled, the response held), so that
a test can kill the client while it waits. Kept apart from the other fault controls on
purpose: a rule only delays, it never changes an answer; at most a held request is lost
(`clear` with `drop=1`), as if the network had eaten it."""

import re
import threading

from .common import Response
from .util import ApiError

MAX_SECONDS = 600
WHEN = ("before", "after")


class Rule:
    def __init__(self, rule_id, path, method, seconds, count, when, query=None):
        self.id = rule_id
        self.path = path
        self.regex = re.compile(path)
        self.query = query
        self.query_regex = re.compile(query) if query is not None else None
        self.method = method
        self.seconds = seconds
        self.remaining = count
        self.when = when
        self.held = 0       # requests being held right now
        self.hits = 0       # requests held so far
        self.released = threading.Event()
        self.dropped = False

    def json(self):
        return {"id": self.id, "path": self.path, "query": self.query, "method": self.method,
                "seconds": self.seconds, "remaining": self.remaining, "when": self.when,
                "held": self.held, "hits": self.hits}


class Delays:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, path, method, seconds, count, when, query=None):
        with self.lock:
            rule = Rule(self.next_id, path, method, seconds, count, when, query)
            self.next_id += 1
            self.rules.append(rule)
            return rule.json()

    def hold(self, method, path, when, query=""):
        """Blocks the calling request thread if a rule takes it. None: not held; "held": held
        and let go; "dropped": let go by a clear with drop (the request or the response is
        lost: close the connection without an answer)."""
        with self.lock:
            rule = next((r for r in self.rules
                         if r.remaining > 0 and r.when == when
                         and (r.method is None or r.method == method)
                         and r.regex.search(path)
                         and (r.query_regex is None or r.query_regex.search(query))),
                        None)
            if rule is None:
                return None
            rule.remaining -= 1
            rule.held += 1
            rule.hits += 1
        rule.released.wait(rule.seconds)
        with self.lock:
            rule.held -= 1
            return "dropped" if rule.dropped else "held"

    def snapshot(self):
        with self.lock:
            return {"rules": [r.json() for r in self.rules],
                    "held": sum(r.held for r in self.rules)}

    def clear(self, drop=False, rule_id=None):
        """Releases every held request at once (drop: they are lost) and forgets every
        rule; with rule_id, that rule's only (None if there is no such rule)."""
        with self.lock:
            if rule_id is None:
                rules, self.rules = self.rules, []
            else:
                rules = [r for r in self.rules if r.id == rule_id]
                if not rules:
                    return None
                self.rules = [r for r in self.rules if r.id != rule_id]
            held = sum(r.held for r in rules)
            for r in rules:
                r.dropped = drop
        for r in rules:
            r.released.set()
        return held


_attach_lock = threading.Lock()


def of(server):
    """The server's Delays (created on first use)."""
    with _attach_lock:
        delays = getattr(server, "delays", None)
        if delays is None:
            delays = server.delays = Delays()
        return delays


def hold(server, method, path, when, query=""):
    return of(server).hold(method, path, when, query)


def handle(server, method, path, form):
    delays = of(server)
    if path == "/_emulator/delay" and method == "GET":
        return Response(200, delays.snapshot())
    if path == "/_emulator/delay" and method == "POST":
        rx = form.get("path")
        if not rx:
            raise ApiError(400, 60306, "path (a regular expression) is required")
        try:
            re.compile(rx)
        except re.error as exc:
            raise ApiError(400, 60306, f"path is not a regular expression: {exc}")
        query = form.get("query")
        if query is not None:
            try:
                re.compile(query)
            except re.error as exc:
                raise ApiError(400, 60306, f"query is not a regular expression: {exc}")
        try:
            seconds = float(form.get("seconds"))
        except (TypeError, ValueError):
            raise ApiError(400, 60306, "seconds must be a number")
        if not 0 < seconds <= MAX_SECONDS:
            raise ApiError(400, 60306, f"seconds must be > 0 and <= {MAX_SECONDS}")
        try:
            count = int(form.get("count") or "1")
        except ValueError:
            raise ApiError(400, 60306, "count must be an integer")
        if count < 1:
            raise ApiError(400, 60306, "count must be at least 1")
        when = form.get("when") or "before"
        if when not in WHEN:
            raise ApiError(400, 60306, "when must be before or after")
        method_filter = (form.get("method") or "").upper() or None
        return Response(200, delays.add(rx, method_filter, seconds, count, when, query))
    if path == "/_emulator/delay/clear" and method == "POST":
        drop = form.get("drop") or "0"
        if drop not in ("0", "1"):
            raise ApiError(400, 60306, "drop must be 1 or 0")
        rule_id = None
        if form.get("id"):
            try:
                rule_id = int(form.get("id"))
            except ValueError:
                raise ApiError(400, 60306, "id must be an integer")
        released = delays.clear(drop == "1", rule_id)
        if released is None:
            raise ApiError(404, 20404, f"no delay rule {rule_id}")
        return Response(200, {"released": released, "dropped": drop == "1"})
    raise ApiError(404, 20404, "no such control call")
