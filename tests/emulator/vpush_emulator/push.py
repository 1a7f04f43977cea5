"""Push streams (design.md "Push channel"; linux-anchors.md §3.2-3.3): a topic keeps
its messages for resume and fans them out to open SSE and ntfy-JSON streams."""

import json
import queue
import re
import secrets
import string
import threading
import time

TOPIC_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
HISTORY = 1000
POLL = 0.25          # how often an idle stream checks that its client is still there
CACHE_SECONDS = 12 * 3600
_DROP = object()
_LINE_END = re.compile(r"\r\n|\r|\n")
_ALNUM = string.ascii_letters + string.digits


_MESSAGE_ID = re.compile(r"\A[A-Za-z0-9]{12}\Z")
# Go's time.ParseDuration, which ntfy uses for `since=10m`
_DURATION_PART = r"(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
_DURATION = re.compile(r"\A[-+]?(?:%s)+\Z" % _DURATION_PART)
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3,
                   "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_since(value, now):
    """ntfy's `since=` (server.go parseSince), in its order: empty or `none` (nothing
    old), `all`, `latest` (the newest message only), a message id, a unix time, a
    duration back from now. Returns a marker for subscribe(); ValueError otherwise (ntfy
    answers 400)."""
    if not value or value == "none":
        return None
    if value in ("all", "latest"):
        return value
    if _MESSAGE_ID.match(value):
        return ("id", value)
    if re.fullmatch(r"[-+]?\d+", value):
        return ("time", int(value))
    if _DURATION.match(value):
        sign = -1.0 if value[0] == "-" else 1.0
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in
                      re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)",
                                 value))
        return ("time", int(now - sign * seconds))
    raise ValueError(f"invalid since parameter {value!r}")


def new_message_id():
    """ntfy-style 12-character id; always has a letter, so it never looks like a
    unix time in `since=`."""
    while True:
        mid = "".join(secrets.choice(_ALNUM) for _ in range(12))
        if not mid.isdigit():
            return mid


class Message:
    __slots__ = ("id", "time", "data", "encoding")

    def __init__(self, data, now, encoding=None):
        self.id = new_message_id()
        self.time = int(now)
        self.data = data            # the text of "message" (base64 text when encoded)
        self.encoding = encoding    # None, or "base64" (ntfy's "encoding")


class Subscriber:
    __slots__ = ("queue", "closed")

    def __init__(self, closed):
        self.queue = queue.SimpleQueue()
        self.closed = closed


class Topic:
    def __init__(self, name):
        self.name = name
        self.messages = []
        self.subscribers = set()
        self.connections = 0    # streams ever opened, for tests that expect a reconnect


class PushHub:
    def __init__(self, clock, keepalive):
        self.clock = clock
        self.keepalive = keepalive
        self.silenced = False
        self.refusing = False   # push server "down": stream requests get 503
        self.lock = threading.Lock()
        self.topics = {}

    def _topic(self, name):
        t = self.topics.get(name)
        if t is None:
            t = self.topics[name] = Topic(name)
        return t

    def publish(self, name, data, encoding=None):
        with self.lock:
            t = self._topic(name)
            msg = Message(data, self.clock.now(), encoding)
            t.messages.append(msg)
            del t.messages[:-HISTORY]
            for sub in t.subscribers:
                sub.queue.put(msg)
            return msg, len(t.subscribers)

    def subscribe(self, name, since, closed=lambda: False):
        """Register a subscriber and return (subscriber, backlog). `since`: None (only
        new), "all", "latest" (the newest kept), ("id", ID) (after it; an id the topic
        does not have replays everything kept, as ntfy does) or ("time", T) (messages at
        or after unix time T); see parse_since()."""
        with self.lock:
            t = self._topic(name)
            backlog = []
            if since == "all":
                backlog = list(t.messages)
            elif since == "latest":
                backlog = t.messages[-1:]
            elif since and since[0] == "time":
                backlog = [m for m in t.messages if m.time >= since[1]]
            elif since and since[0] == "id":
                ids = [m.id for m in t.messages]
                backlog = t.messages[ids.index(since[1]) + 1:] if since[1] in ids \
                    else list(t.messages)
            sub = Subscriber(closed)
            t.subscribers.add(sub)
            t.connections += 1
            return sub, backlog

    def unsubscribe(self, name, sub):
        with self.lock:
            t = self.topics.get(name)
            if t is not None:
                t.subscribers.discard(sub)

    def stats(self, name):
        with self.lock:
            t = self.topics.get(name)
            return {"topic": name, "subscribers": len(t.subscribers) if t else 0,
                    "connections": t.connections if t else 0,
                    "messages": len(t.messages) if t else 0}

    def drop_all(self):
        with self.lock:
            names = list(self.topics)
        return sum(self.drop(name) for name in names)

    def drop(self, name):
        with self.lock:
            t = self.topics.get(name)
            subs = list(t.subscribers) if t else []
        live = 0
        for sub in subs:
            live += not sub.closed()
            sub.queue.put(_DROP)
        return live

    def stream(self, name, since, fmt, write, closed=lambda: False, head=b""):
        """Run one stream until the client goes away or the topic is dropped.
        `head` (the HTTP response head) is written once subscribed, so a client that
        has seen the headers is sure to get every later message. `write(bytes)`
        raises OSError when the client is gone; `closed()` tells whether the client
        has hung up (checked a few times a second)."""
        sub, backlog = self.subscribe(name, since, closed)
        try:
            if head:
                write(head)
            if fmt == "json":
                write(self._ntfy_line(name, None, "open"))
            for msg in backlog:
                write(self.encode(fmt, name, msg))
            next_keepalive = time.monotonic() + self.keepalive
            while True:
                wait = POLL
                if self.keepalive > 0:
                    wait = max(0.0, min(wait, next_keepalive - time.monotonic()))
                try:
                    item = sub.queue.get(timeout=wait)
                except queue.Empty:
                    if closed():
                        return
                    if self.keepalive > 0 and time.monotonic() >= next_keepalive:
                        next_keepalive = time.monotonic() + self.keepalive
                        if not self.silenced:
                            write(b": keepalive\n\n" if fmt == "sse"
                                  else self._ntfy_line(name, None, "keepalive"))
                    continue
                if item is _DROP:
                    return
                write(self.encode(fmt, name, item))
        finally:
            self.unsubscribe(name, sub)

    def encode(self, fmt, topic, msg):
        if fmt == "sse" and msg.encoding is not None:
            # the hint's bytes are not text here: the ntfy message object, as ntfy's own
            # /sse sends every message
            data = json.dumps(self.message_json(topic, msg), separators=(",", ":"))
            return f"id: {msg.id}\ndata: {data}\n\n".encode("utf-8")
        if fmt == "sse":
            lines = [f"id: {msg.id}"]
            # the SSE line ends are CRLF, LF and CR only (str.splitlines would also split
            # on U+2028, U+0085 and the like, which the client takes as part of the line)
            lines += [f"data: {line}" for line in _LINE_END.split(msg.data)]
            return ("\n".join(lines) + "\n\n").encode("utf-8")
        return self._ntfy_line(topic, msg, "message")

    def message_json(self, topic, msg):
        out = {"id": msg.id, "time": msg.time, "expires": msg.time + CACHE_SECONDS,
               "event": "message", "topic": topic, "message": msg.data}
        if msg.encoding is not None:
            out["encoding"] = msg.encoding
        return out

    def _ntfy_line(self, topic, msg, event):
        if msg is not None:
            obj = self.message_json(topic, msg)
        else:
            obj = {"id": new_message_id(), "time": int(self.clock.now()), "event": event,
                   "topic": topic}
        return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
