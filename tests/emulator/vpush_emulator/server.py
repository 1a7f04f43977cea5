"""HTTP server: routing, authentication, the request log, push stream endpoints and
the command line (docs/emulator.md "Running it")."""

import argparse
import base64
import hmac
import ipaddress
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from . import auth, backend, common, control, delay, device, faults
from .push import TOPIC_RE, PushHub
from .push import parse_since as push_since
from .store import Store
from .util import FORM_TYPE, ApiError, Form, http_date, json_dumps, parse_form


DEVICE, BACKEND, ACCESS = "device", "backend", "access-token"
_E = r"/v2/Services/(?P<svc>[^/]+)/Entities/(?P<identity>[^/]+)"

# (regex, {METHOD: (handler, allowed auth kinds)})
ROUTES = [(re.compile(rx + r"\Z"), methods) for rx, methods in [
    (r"/v2/Services", {"POST": (backend.create_service, {BACKEND})}),
    (r"/v2/Services/(?P<svc>[^/]+)", {"GET": (backend.fetch_service, {BACKEND, DEVICE})}),
    (r"/v2/Services/(?P<svc>[^/]+)/AccessTokens",
     {"POST": (backend.create_access_token, {BACKEND})}),
    (r"/v2/Services/(?P<svc>[^/]+)/AccessTokens/(?P<sid>[^/]+)",
     {"GET": (backend.fetch_access_token, {BACKEND})}),
    (_E + r"/Factors", {"POST": (device.create_factor, {ACCESS}),
                        "GET": (backend.list_factors, {BACKEND})}),
    (_E + r"/Factors/(?P<sid>[^/]+)", {"POST": (device.update_factor, {DEVICE}),
                                       "GET": (backend.fetch_factor, {BACKEND}),
                                       "DELETE": (device.delete_factor, {DEVICE, BACKEND})}),
    (_E + r"/Challenges", {"POST": (backend.create_challenge, {BACKEND}),
                           "GET": (common.list_challenges, {DEVICE, BACKEND})}),
    (_E + r"/Challenges/(?P<sid>[^/]+)", {"GET": (common.fetch_challenge, {DEVICE, BACKEND}),
                                          "POST": (device.update_challenge, {DEVICE})}),
    (_E + r"/Challenges/(?P<csid>[^/]+)/Notifications",
     {"POST": (backend.create_notification, {BACKEND})}),
]]


def route(path):
    for rx, methods in ROUTES:
        m = rx.match(path)
        if m:
            return methods, {k: unquote(v) for k, v in m.groupdict().items()}
    return None, None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, store, hub, spec=None, verbose=False):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.store = store
        self.hub = hub
        self.spec = spec
        self.verbose = verbose
        super().__init__(addr, Handler)
        host, port = self.server_address[:2]
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        store.base = self.url


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vpush-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 600

    # --- plumbing ---------------------------------------------------------------------
    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("vpush-emulator: %s %s\n" % (self.address_string(), fmt % args))

    def date_time_string(self, timestamp=None):
        return http_date(self.server.store.now() if timestamp is None else timestamp)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _head_fields(self, status, headers=(), ctype="application/json", date=None):
        """The answer's header fields but Content-Length, as _send writes them (and
        --check-openapi checks them)."""
        fields = [("Date", date or self.date_time_string()), ("Server", "vpush-emulator")]
        if status != 204:
            fields.append(("Content-Type", ctype))
        return fields + list(headers)

    def _send(self, status, body=None, headers=(), ctype="application/json", date=None,
              fields=None):
        if isinstance(body, (dict, list)):
            data = json_dumps(body).encode("utf-8")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = body or b""
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        for k, v in fields or self._head_fields(status, headers, ctype, date):
            lines.append(f"{k}: {v}")
            if k == "Content-Type":
                lines.append(f"Content-Length: {len(data)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (data if status != 204 else b""))
        self.log_request(status, len(data))

    def _error(self, exc, headers=()):
        hdrs = list(headers)
        if exc.status == 401:
            hdrs.append(("WWW-Authenticate", 'Basic realm="Twilio API"'))
        self._send(exc.status, exc.body(), hdrs)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        raw_path, _, raw_query = self.path.partition("?")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._error(ApiError(400, 60306, "unreadable request body"))
            return
        if raw_path.startswith("/v2/") or raw_path == "/v2":
            self._api(method, raw_path, raw_query, body)
        elif raw_path.startswith("/_emulator/"):
            try:
                form = Form(parse_form(body.decode("utf-8") or raw_query))
                resp = control.handle(self.server, method, raw_path, form)
                self._send(resp.status, resp.body)
            except ApiError as exc:
                self._error(exc)
            except UnicodeDecodeError:
                self._error(ApiError(400, 60306, "body is not UTF-8"))
        elif raw_path.startswith("/push/"):
            self._push(method, raw_path, raw_query, body)
        else:
            self._error(ApiError(404, 20404, f"no resource at {raw_path}"))

    # --- Verify API ---------------------------------------------------------------------
    def _check_request(self, method, path, query, form, body):
        """--check-openapi: a request the OpenAPI document does not allow is still answered
        as the API would (the emulator's own tests send such requests on purpose), but
        printed and kept for GET /_emulator/conformance, where a client's tests look."""
        spec = self.server.spec
        if spec is None:
            return
        try:
            spec.check_request(method, path, query.pairs, form.pairs,
                               self.headers.get("Content-Type"), body,
                               self.headers.get("Authorization"))
        except AssertionError as exc:
            self._report_request(method, path, exc)

    def _parse(self, raw_query, body):
        """(query, form). The API reads a body as a form only when it says it is one
        (anything else has no parameters, so the required ones are missing)."""
        query = Form(parse_form(raw_query))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        form = Form(parse_form(body.decode("utf-8") if ctype.lower() == FORM_TYPE else ""))
        return query, form

    def _check_unrouted(self, method, path, raw_query, body):
        """--check-openapi, for a request the emulator answers 404 or 405: one whose path or
        method the OpenAPI document does not have either is kept as nonconforming (a client
        must never send it); one the document has (an operation the emulator does not
        serve) is checked as any other."""
        spec = self.server.spec
        if spec is None:
            return
        try:
            query, form = self._parse(raw_query, body)
        except (ApiError, UnicodeDecodeError):
            self._check_unreadable(method, path, body)
            return
        self._check_request(method, path, query, form, body)

    def _check_unreadable(self, method, path, body):
        """--check-openapi, for a request whose query or form cannot be read (answered 400
        when the emulator serves it): its operation and its body's type are checked."""
        spec = self.server.spec
        if spec is None:
            return
        try:
            spec.check_unreadable(method, path, self.headers.get("Content-Type"), body,
                                  self.headers.get("Authorization"))
        except AssertionError as exc:
            self._report_request(method, path, exc)

    def _report_request(self, method, path, exc):
        sys.stderr.write(f"vpush-emulator: OPENAPI REQUEST NONCONFORMANCE: {exc}\n")
        sys.stderr.flush()
        self._nonconforming("request", method, path, exc)

    def _nonconforming(self, kind, method, path, exc, status=None):
        """Keeps a --check-openapi failure for GET /_emulator/conformance."""
        self.server.store.note_nonconforming(kind, method, path, exc, status)

    def _check_sent(self, method, path, raw_query, body, entry):
        """--check-openapi for a request as it arrived, before a delay or fault can take
        it: what a client sent is checked whatever becomes of it. (query, form), or the
        exception that made them unreadable; None for a request the emulator does not
        serve."""
        if entry is None:
            self._check_unrouted(method, path, raw_query, body)
            return None
        try:
            query, form = self._parse(raw_query, body)
        except (ApiError, UnicodeDecodeError) as exc:
            self._check_unreadable(method, path, body)
            return exc
        self._check_request(method, path, query, form, body)
        return query, form

    def _api(self, method, path, raw_query, body):
        methods, params = route(path)
        entry = methods.get(method) if methods else None
        parsed = self._check_sent(method, path, raw_query, body, entry)
        held = delay.hold(self.server, method, path, "before", raw_query or "")
        if held == "dropped":
            self.close_connection = True    # lost on the way: never handled, no answer
            return
        store = self.server.store
        creds = auth.parse_basic(self.headers.get("Authorization"))
        kind = "none"
        if creds is not None:
            if creds[0] == "token":
                kind = ACCESS if entry and ACCESS in entry[1] else DEVICE
            else:
                kind = BACKEND
        fault = faults.take(self.server, method, path)
        if fault is not None and fault.when == "before":
            # not handled: the fault is the whole answer (docs/emulator.md "Faults")
            with store.lock:
                store.log_request({"method": method, "path": path, "query": raw_query,
                                   "status": faults.status_instead(fault), "auth": kind,
                                   "fault": fault.id})
            try:
                faults.answer_instead(self, fault)
            except OSError:
                self.close_connection = True
            return
        extra = []
        own_fields = False
        jwt_taken = False
        try:
            if entry is None:
                if methods is None:
                    raise ApiError(404, 20404, f"no resource at {path}")
                raise ApiError(405, 20004)
            handler, allowed = entry
            if isinstance(parsed, ApiError):
                raise parsed
            if isinstance(parsed, UnicodeDecodeError):
                raise ApiError(400, 60306, "body is not UTF-8")
            query, form = parsed
            with store.lock:
                req = common.Request(store=store, method=method, path=path, params=params,
                                     query=query, form=form, kind=kind,
                                     headers=self.headers)
                self._authenticate(req, creds, allowed)
                jwt_taken = kind == DEVICE    # this request's device JWT is remembered now
                resp = handler(req)
            status, out, extra = resp.status, resp.body, resp.headers
            own_fields = resp.own_signature_fields
        except ApiError as exc:
            status, out = exc.status, exc.body()
            if status == 401:
                extra = [("WWW-Authenticate", 'Basic realm="Twilio API"')]
        except Exception as exc:    # noqa: BLE001 - the emulator's own bug, not the client's
            # answered as Twilio answers its own failures, and kept where a client's tests
            # look: a connection closed without an answer would be resent by the client
            # with the same device JWT and refused as a replay, hiding the bug
            traceback.print_exc()
            self._nonconforming("emulator", method, path, repr(exc), 500)
            status, out, extra = 500, {"code": 20500, "message": f"emulator bug: {exc!r}",
                                       "more_info": "https://www.twilio.com/docs/errors/20500",
                                       "status": 500}, []
        spec = self.server.spec
        fields = None
        if spec is not None:
            try:
                spec.check_response(method, path, status, out)
                fields = self._head_fields(status, extra)
                spec.check_response_headers(method, path, status, fields, out is not None)
                if own_fields:
                    # a list a test set may name fields the body lacks on purpose
                    for name, value in extra:
                        if name.lower() == "twilio-verify-signature-fields":
                            spec.check_signature_fields(method, path, value, out)
            except AssertionError as exc:
                sys.stderr.write(f"vpush-emulator: OPENAPI CONFORMANCE FAILURE: {exc}\n")
                sys.stderr.flush()
                # a client takes a 500 for a passing fault and tries again: kept where a
                # client's tests look, so the emulator's bug is not lost in a retry
                self._nonconforming("response", method, path, exc, status)
                status, out, extra = 500, {"code": 20500, "message": f"emulator bug: {exc}",
                                           "more_info": "https://www.twilio.com/docs/errors/20500",
                                           "status": 500}, []
                fields = None
        with store.lock:
            store.log_request({"method": method, "path": path, "query": raw_query,
                               "status": status, "auth": kind,
                               "fault": fault.id if fault is not None else None})
        held = delay.hold(self.server, method, path, "after", raw_query or "") or held
        lost = held == "dropped" or (fault is not None and fault.action == "drop")
        # only a token this request had accepted is forgotten: a replay refused here must
        # not clear the earlier use it replayed
        if lost and jwt_taken:
            with store.lock:
                auth.forget_device_jwt(store, creds[1])
        if held == "dropped":
            self.close_connection = True    # handled, the answer lost on the way
            return
        if fault is not None:
            try:
                faults.answer_after(self, fault, status, out, extra)
            except OSError:
                self.close_connection = True
            return
        if held:
            try:
                self._send(status, out, extra)
            except OSError:
                self.close_connection = True   # the client gave up while it was held
            return
        self._send(status, out, extra, fields=fields)     # the fields checked, if any

    def _authenticate(self, req, creds, allowed):
        store = req.store
        kind = req.kind
        if creds is None:
            raise ApiError(401, 20003, "no HTTP Basic credentials")
        if kind not in allowed:
            raise ApiError(401, 20003, f"this call does not accept {kind} credentials")
        user, password = creds
        if kind == BACKEND:
            if not (hmac.compare_digest(user.encode(), store.account_sid.encode())
                    and hmac.compare_digest(password.encode(), store.auth_token.encode())):
                raise ApiError(401, 20003, "wrong account sid or auth token")
        elif kind == ACCESS:
            req.password = password
        else:
            f = auth.check_device_jwt(store, password, req.method, req.path)
            if f.service_sid != req.params.get("svc") or (
                    "identity" in req.params and f.entity.identity != req.params["identity"]):
                raise ApiError(401, 20003, "the JWT's factor belongs to another service "
                                           "or identity")
            req.factor = f

    def _peer_closed(self):
        return _peer_gone(self.connection)

    # --- push ---------------------------------------------------------------------------
    def _push(self, method, path, raw_query, body):
        hub = self.server.hub
        parts = path.split("/")          # ['', 'push', topic, (sse|json)]
        topic = unquote(parts[2]) if len(parts) > 2 else ""
        if not TOPIC_RE.match(topic):
            self._error(ApiError(404, 20404, "bad topic name"))
            return
        if len(parts) == 3 and method in ("POST", "PUT"):
            # encoding=base64: the body goes out base64-encoded, as ntfy sends a body that
            # is not UTF-8 text ("encoding": "base64"); then any bytes will do
            encoding = Form(parse_form(raw_query)).get("encoding") or None
            if encoding not in (None, "base64"):
                self._error(ApiError(400, 60306, "encoding must be base64 or left out"))
                return
            try:
                data = base64.b64encode(body).decode("ascii") if encoding \
                    else body.decode("utf-8")
            except UnicodeDecodeError:
                self._error(ApiError(400, 60306, "hint is not UTF-8"))
                return
            msg, _ = hub.publish(topic, data, encoding)
            self._send(200, hub.message_json(topic, msg))
            return
        if len(parts) != 4 or parts[3] not in ("sse", "json") or method != "GET":
            self._error(ApiError(404, 20404, "no such push call"))
            return
        if hub.refusing:
            self._error(ApiError(503, 20503, "push server refusing (test control)"))
            return
        fmt = parts[3]
        query = Form(parse_form(raw_query))
        poll = fmt == "json" and query.get("poll") in ("1", "true", "yes")
        try:
            since = push_since(query.get("since") or ("all" if poll else None),
                               hub.clock.now())
        except ValueError as e:
            self._error(ApiError(400, 40008, str(e)))
            return
        if fmt == "sse":
            # an SSE event id is any string: one the topic does not have replays all
            last_event_id = self.headers.get("Last-Event-ID")
            if last_event_id:
                since = ("id", last_event_id)
            ctype = "text/event-stream; charset=utf-8"
        else:
            ctype = "application/x-ndjson; charset=utf-8"
        if poll:
            sub, backlog = hub.subscribe(topic, since)
            hub.unsubscribe(topic, sub)
            data = b"".join(hub.encode("json", topic, m) for m in backlog)
            self._send(200, data, ctype="application/x-ndjson; charset=utf-8")
            return
        self.close_connection = True
        head = (f"HTTP/1.1 200 OK\r\nDate: {self.date_time_string()}\r\n"
                f"Server: vpush-emulator\r\nContent-Type: {ctype}\r\n"
                "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
                "Connection: close\r\n\r\n").encode("latin-1")
        try:
            self.log_request(200)
            hub.stream(topic, since, fmt, self.wfile.write, self._peer_closed, head)
        except OSError:
            pass


def _peer_gone(sock):
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv):
    p = argparse.ArgumentParser(prog="vpush-emulator",
                                description="Local emulator of the Twilio Verify API "
                                            "(push factors) for vpush tests.")
    p.add_argument("--listen", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port, 0 = any free one (default)")
    p.add_argument("--ready-file", help="write the JSON ready record here once listening")
    p.add_argument("--clock-offset", type=float, default=0.0,
                   help="initial clock offset in seconds")
    p.add_argument("--keepalive", type=float, default=25.0,
                   help="push stream keepalive interval in seconds (<= 0: none)")
    p.add_argument("--check-openapi", action="store_true",
                   help="check every /v2 request and response against the OpenAPI "
                        "document; a mismatch is printed to stderr and kept for "
                        "GET /_emulator/conformance (a bad response is answered 500)")
    p.add_argument("--account-sid", help="fixed AC… sid (default: random)")
    p.add_argument("--auth-token", help="fixed auth token (default: random)")
    p.add_argument("--verbose", action="store_true", help="log each request to stderr")
    p.add_argument("--tls-cert", metavar="FILE",
                   help="also serve HTTPS with this PEM certificate (chain)")
    p.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    p.add_argument("--tls-port", type=int, default=0,
                   help="HTTPS port, 0 = any free one (default)")
    args = p.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    return args


def write_ready(path, record):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
        fh.write("\n")
    os.rename(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not _is_loopback(args.listen):
        sys.stderr.write("vpush-emulator: --listen must be a loopback address\n")
        return 2
    spec = None
    if args.check_openapi:
        from . import openapi
        spec = openapi.load()
    from .util import is_sid
    if args.account_sid and not is_sid("AC", args.account_sid):
        sys.stderr.write("vpush-emulator: --account-sid must be AC + 32 hex digits\n")
        return 2
    store = Store(args.account_sid, args.auth_token, args.clock_offset)
    hub = PushHub(store.clock, args.keepalive)
    server = Server((args.listen, args.port), store, hub, spec, args.verbose)
    svc = store.add_service("vpush test")
    record = {"base_url": server.url + "/v2/", "url": server.url,
              "port": server.server_address[1], "account_sid": store.account_sid,
              "auth_token": store.auth_token, "service_sid": svc.sid}
    tls_server = None
    if args.tls_cert:
        from . import tls
        try:
            tls_context = tls.context(args.tls_cert, args.tls_key)
        except (OSError, ValueError) as exc:    # ssl.SSLError is an OSError
            sys.stderr.write(f"vpush-emulator: --tls-cert/--tls-key: {exc}\n")
            return 2
        tls_server = tls.TLSServer(server, (args.listen, args.tls_port), tls_context)
        record.update(https_base_url=tls_server.url + "/v2/", https_url=tls_server.url,
                      https_port=tls_server.server_address[1])
        threading.Thread(target=tls_server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.ready_file:
        write_ready(args.ready_file, record)
    else:
        print(json.dumps(record), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if tls_server is not None:
            tls_server.shutdown()
            tls_server.server_close()
        server.server_close()
    return 0
