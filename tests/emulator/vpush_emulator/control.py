"""The test-control API under /_emulator/ (docs/emulator.md "Test control")."""

from . import delay, faults
from .common import Response
from .util import ApiError, parse_string_map


def handle(server, method, path, form):
    store = server.store
    hub = server.hub
    if path == "/_emulator/delay" or path.startswith("/_emulator/delay/"):
        return delay.handle(server, method, path, form)
    if path == "/_emulator/faults" or path.startswith("/_emulator/faults/"):
        return faults.handle(server, method, path, form)
    if path == "/_emulator/answer" and method == "POST":
        return answer(store, form)
    if path == "/_emulator/hidden-details" and method == "POST":
        return hidden_details(store, form)
    if path == "/_emulator/signature-fields" and method == "POST":
        text = form.get("fields")
        # a header value: printable ASCII; an empty list would have an answer sign nothing
        if text is not None and (not text.strip() or len(text) > 1000
                                 or any(not " " <= ch <= "~" for ch in text)):
            raise ApiError(400, 60306, "fields must be 1 to 1000 printable ASCII characters")
        with store.lock:
            store.signature_fields = text
        return Response(200, {"fields": text})
    if path == "/_emulator/clock":
        if method == "POST":
            raw = form.get("offset")
            try:
                offset = float(raw)
            except (TypeError, ValueError):
                raise ApiError(400, 60306, "offset must be a number of seconds")
            with store.lock:
                store.clock.offset = offset
        elif method != "GET":
            raise ApiError(405, 20004)
        return Response(200, {"offset": store.clock.offset, "now": int(store.now())})
    if path == "/_emulator/state" and method == "GET":
        with store.lock:
            return Response(200, store.snapshot())
    if path == "/_emulator/conformance" and method == "GET":
        with store.lock:
            return Response(200, {"checked": server.spec is not None,
                                  "total": store.nonconforming_total,
                                  "requests": list(store.nonconforming)})
    if path == "/_emulator/requests" and method == "GET":
        with store.lock:
            return Response(200, list(store.requests))
    if path == "/_emulator/requests/clear" and method == "POST":
        with store.lock:
            store.requests.clear()
        return Response(200, {"cleared": True})
    if path == "/_emulator/push/silence" and method == "POST":
        on = form.get("on")
        if on not in ("0", "1"):
            raise ApiError(400, 60306, "on must be 1 or 0")
        hub.silenced = on == "1"
        return Response(200, {"silenced": hub.silenced})
    if path == "/_emulator/push/refuse" and method == "POST":
        on = form.get("on")
        if on not in ("0", "1"):
            raise ApiError(400, 60306, "on must be 1 or 0")
        hub.refusing = on == "1"
        # like a push server going down: the open streams end too
        dropped = hub.drop_all() if hub.refusing else 0
        return Response(200, {"refusing": hub.refusing, "dropped": dropped})
    if path == "/_emulator/push/keepalive" and method == "POST":
        try:
            seconds = float(form.get("seconds"))
        except (TypeError, ValueError):
            raise ApiError(400, 60306, "seconds must be a number")
        hub.keepalive = seconds
        return Response(200, {"keepalive": hub.keepalive})
    parts = path.split("/")
    # /_emulator/push/{topic}
    if len(parts) == 4 and parts[2] == "push" and method == "GET":
        return Response(200, hub.stats(parts[3]))
    # /_emulator/push/{topic}/drop
    if len(parts) == 5 and parts[2] == "push" and parts[4] == "drop" and method == "POST":
        return Response(200, {"topic": parts[3], "dropped": hub.drop(parts[3])})
    raise ApiError(404, 20404, "no such control call")


def answer(store, form):
    """Answers a pending challenge as another device of its factor would have (no signature
    checked): for tests of a challenge answered elsewhere meanwhile."""
    sid = form.get("sid")
    status = form.get("status")
    if status not in ("approved", "denied"):
        raise ApiError(400, 60306, "status must be approved or denied")
    with store.lock:
        ch = store.challenges.get(sid or "")
        if ch is None:
            raise ApiError(404, 60391)
        now = int(store.now())
        ch.refresh(now)
        if ch.status != "pending":
            raise ApiError(409, 60325, f"challenge is {ch.status}")
        ch.status = status
        ch.responded = ch.updated = now
        return Response(200, store.render_challenge(ch))


def hidden_details(store, form):
    """Sets a challenge's hidden details, which the API never changes: for tests of a client
    that must notice a copy that no longer matches what it chose."""
    sid = form.get("sid")
    text = form.get("hidden_details")
    # read as HiddenDetails on create is, so a challenge ends up as one the API could hold
    hidden = parse_string_map(text, 1024, "hidden_details") if text else None
    with store.lock:
        ch = store.challenges.get(sid or "")
        if ch is None:
            raise ApiError(404, 60391)
        ch.hidden = hidden
        return Response(200, store.render_challenge(ch))
