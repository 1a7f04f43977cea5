"""OpenAPI conformance: load Twilio's twilio_verify_v2.json and check a response body
against the operation's response schema, and a request's query, form and body type against
the operation's parameters and request body.

The spec is found next to the repository checkout (<repo>/../shared/spec/…), or at
$VPUSH_OPENAPI. In responses the checker is stricter than OpenAPI in what our emulator
promises: date-time is exactly YYYY-MM-DDTHH:MM:SSZ, uri is absolute http(s), and (by
default) objects may carry only the properties the schema declares and must carry all of
them. In requests a date-time is any RFC 3339 date-time, as OpenAPI has it, and the path's
parameters are checked too. The properties the document leaves without a type are checked,
in strict mode, as the protocol doc describes them (PROTOCOL_SHAPES: a challenge's details,
hidden_details and metadata, a factor's config, binding and metadata); other schemas
without a type accept any JSON value."""

import base64
import datetime
import json
import os
import re
from urllib.parse import unquote, urlsplit

from .util import FORM_TYPE, is_integer_text

ENV = "VPUSH_OPENAPI"
DATE_TIME_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
RFC3339_RE = re.compile(r"\A\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                   "more_info": {"type": "string", "format": "uri"},
                   "status": {"type": "integer"}},
}


NOT_GIVEN = object()     # an argument not passed, where None means "absent"

# What the protocol doc says of the properties the OpenAPI document leaves without a
# type; applied in strict mode only (Twilio's examples show TOTP factors, and push ones
# without config.credential_sid). Properties in x-optional may be absent.
_STRING_MAP = {"type": "object", "nullable": True, "additionalProperties": {"type": "string"}}
_PUSH_CONFIG = {   # §3.1: what the SDKs map; credential_sid is required (the JWT's kid)
    "type": "object",
    "properties": {
        "sdk_version": {"type": "string"},
        "app_id": {"type": "string"},
        "notification_platform": {"type": "string", "enum": ["apn", "fcm", "none"]},
        "notification_token": {"type": "string", "nullable": True},
        "credential_sid": {"type": "string", "pattern": "^CR[0-9a-fA-F]{32}$"},
    },
}
PROTOCOL_SHAPES = {
    "verify.v2.service.entity.challenge": {
        # §3.5: details has message, optional date, fields of {label, value} strings;
        # hidden_details an object of strings (iOS requires string values)
        "details": {"type": "object", "x-optional": ["date"], "properties": {
            "message": {"type": "string"},
            "date": {"type": "string", "format": "date-time"},
            "fields": {"type": "array", "items": {"type": "object", "properties": {
                "label": {"type": "string"}, "value": {"type": "string"}}}},
        }},
        "hidden_details": _STRING_MAP,
        "metadata": _STRING_MAP,
    },
    "verify.v2.service.entity.factor": {"config": _PUSH_CONFIG, "metadata": _STRING_MAP},
    "verify.v2.service.entity.new_factor": {
        "config": _PUSH_CONFIG,
        "metadata": _STRING_MAP,
        # §3.1, §4: binding returned on create, the key as sent
        "binding": {"type": "object", "properties": {
            "alg": {"type": "string", "enum": ["ES256"]}, "public_key": {"type": "string"}}},
    },
}
IMF_FIXDATE_RE = re.compile(r"\A(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|"
                            r"Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT\Z")


class ConformanceError(AssertionError):
    pass


def default_spec_path():
    env = os.environ.get(ENV)
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    repo_root = os.path.join(here, os.pardir, os.pardir, os.pardir)
    return os.path.normpath(os.path.join(repo_root, os.pardir, "shared", "spec",
                                         "twilio_verify_v2.json"))


_cache = {}


def load(path=None):
    path = path or default_spec_path()
    spec = _cache.get(path)
    if spec is None:
        spec = _cache[path] = Spec(path)
    return spec


def _is_rfc3339(v):
    if not RFC3339_RE.match(v):
        return False
    try:
        datetime.datetime.fromisoformat(v.upper().replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _is_date_time(v):
    if not DATE_TIME_RE.match(v):
        return False
    try:
        datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")
        return True
    except ValueError:
        return False


def _is_uri(v):
    try:
        u = urlsplit(v)
    except ValueError:
        return False
    return u.scheme in ("http", "https") and bool(u.netloc) and " " not in v


class Spec:
    def __init__(self, path):
        try:
            with open(path, encoding="utf-8") as fh:
                self.doc = json.load(fh)
        except OSError as exc:
            raise ConformanceError(f"cannot read the OpenAPI document {path} ({exc}); "
                                   f"set ${ENV} to its location") from exc
        self.path = path
        self._routes = []
        for template, item in self.doc["paths"].items():
            regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            literal = sum(1 for seg in template.split("/") if seg and "{" not in seg)
            self._routes.append((literal, re.compile(regex), template, item))
        self._routes.sort(key=lambda r: -r[0])
        # the protocol doc's shapes, by the identity of the property schemas they refine
        self._shapes = {}
        for name, props in PROTOCOL_SHAPES.items():
            declared = self.doc["components"]["schemas"][name]["properties"]
            for prop, shape in props.items():
                self._shapes[id(declared[prop])] = shape

    # --- lookup -----------------------------------------------------------------------
    def operation(self, method, path):
        """(template, operation) for a concrete request path (no query)."""
        for _, regex, template, item in self._routes:
            if regex.match(path) and method.lower() in item:
                return template, item[method.lower()]
        raise ConformanceError(f"no operation for {method} {path} in the OpenAPI document")

    def resolve(self, schema):
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ConformanceError(f"external $ref {ref}")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
            seen += 1
            if seen > 50:
                raise ConformanceError(f"$ref loop at {ref}")
        return schema

    def response_schema(self, method, path, status):
        template, op = self.operation(method, path)
        responses = op.get("responses", {})
        resp = responses.get(str(status))
        if resp is None:
            ok = sorted(k for k in responses if k.startswith("2"))
            raise ConformanceError(f"{method} {template} ({op.get('operationId')}): status "
                                   f"{status} is not a documented response ({ok})")
        content = resp.get("content")
        if not content:
            return op.get("operationId"), None
        media = content.get("application/json") or next(iter(content.values()))
        return op.get("operationId"), media.get("schema")

    # --- validation ---------------------------------------------------------------------
    def validate(self, schema, value, where="$", strict=True):
        errors = []
        self._check(schema, value, where, strict, errors)
        return errors

    def _check(self, schema, value, where, strict, errors):
        if strict:
            schema = self._shapes.get(id(schema), schema)
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return
        if value is None:
            if schema.get("nullable") or not schema.get("type") and "enum" not in schema \
                    and "properties" not in schema:
                return
            errors.append(f"{where}: null is not allowed")
            return
        typ = schema.get("type")
        if typ == "string":
            if not isinstance(value, str):
                errors.append(f"{where}: expected string, got {type(value).__name__}")
                return
            if "minLength" in schema and len(value) < schema["minLength"]:
                errors.append(f"{where}: shorter than {schema['minLength']}")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errors.append(f"{where}: longer than {schema['maxLength']}")
            if "pattern" in schema and not re.search(schema["pattern"], value):
                errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
            fmt = schema.get("format")
            if fmt == "date-time" and not _is_date_time(value):
                errors.append(f"{where}: {value!r} is not YYYY-MM-DDTHH:MM:SSZ")
            elif fmt == "uri" and not _is_uri(value):
                errors.append(f"{where}: {value!r} is not an absolute http(s) URI")
        elif typ == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(f"{where}: expected integer, got {type(value).__name__}")
                return
        elif typ == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors.append(f"{where}: expected number, got {type(value).__name__}")
                return
        elif typ == "boolean":
            if not isinstance(value, bool):
                errors.append(f"{where}: expected boolean, got {type(value).__name__}")
                return
        elif typ == "array":
            if not isinstance(value, list):
                errors.append(f"{where}: expected array, got {type(value).__name__}")
                return
            items = schema.get("items")
            if items is not None:
                for i, v in enumerate(value):
                    self._check(items, v, f"{where}[{i}]", strict, errors)
        elif typ == "object" or (typ is None and "properties" in schema):
            if not isinstance(value, dict):
                errors.append(f"{where}: expected object, got {type(value).__name__}")
                return
            if schema.get("format") == "uri-map":
                for k, v in value.items():
                    if not isinstance(v, str) or not _is_uri(v):
                        errors.append(f"{where}.{k}: {v!r} is not an absolute URI")
            props = schema.get("properties")
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for k, v in value.items():
                    if props is None or k not in props:
                        self._check(extra, v, f"{where}.{k}", strict, errors)
            if props is not None:
                for k, v in value.items():
                    if k in props:
                        self._check(props[k], v, f"{where}.{k}", strict, errors)
                    elif strict and not extra:
                        errors.append(f"{where}: property {k!r} is not in the schema")
                if strict:
                    for k in props:
                        if k not in value and k not in schema.get("x-optional", ()):
                            errors.append(f"{where}: property {k!r} is missing")
                for k in schema.get("required", ()):
                    if k not in value:
                        errors.append(f"{where}: required property {k!r} is missing")
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                errors.append(f"{where}: below minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                errors.append(f"{where}: above maximum {schema['maximum']}")

    def _check_text(self, schema, value, where, errors):
        """A query or form value (text) against its schema."""
        schema = self.resolve(schema) or {}
        typ = schema.get("type")
        if typ == "array":
            self._check_text(schema.get("items", {}), value, where, errors)
        elif typ == "integer":
            if not is_integer_text(value):
                errors.append(f"{where}: {value!r} is not an integer")
            else:
                self._check(schema, int(value), where, True, errors)
        elif typ == "boolean":
            if value not in ("true", "false"):
                errors.append(f"{where}: {value!r} is not true or false")
        elif typ == "object":
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                errors.append(f"{where}: {value!r} is not a JSON object")
        elif typ == "string":
            if schema.get("format") == "date-time":
                if not _is_rfc3339(value):
                    errors.append(f"{where}: {value!r} is not an RFC 3339 date-time")
                schema = {k: v for k, v in schema.items() if k != "format"}
            self._check(schema, value, where, True, errors)

    def _check_auth(self, op, authorization, errors):
        """The Authorization header (None: absent) against the operation's security: the
        document's one scheme is HTTP Basic, so a request carries `Basic` and the Base64
        of `user:password` (whether those are right is the API's to say, with a 401)."""
        if authorization is NOT_GIVEN:
            return
        needs = op.get("security", self.doc.get("security"))
        if not needs:
            return
        schemes = self.doc.get("components", {}).get("securitySchemes", {})
        kinds = set()
        for requirement in needs:
            for name in requirement:
                scheme = schemes.get(name, {})
                kinds.add((scheme.get("type"), str(scheme.get("scheme", "")).lower()))
        if kinds != {("http", "basic")}:
            return      # no other scheme is in the document: nothing known to check
        scheme, _, value = (authorization or "").strip().partition(" ")
        try:
            raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
            credentials = b":" in raw and raw.decode("utf-8")
        except (ValueError, UnicodeError):
            credentials = False
        if scheme.lower() != "basic" or not credentials:
            shown = "none" if authorization is None else repr(scheme or authorization[:10])
            errors.append(f"Authorization {shown}, not HTTP Basic with user:password "
                          "(the document's security scheme)")

    def check_request(self, method, path, query, form, content_type=None, body=None,
                      authorization=NOT_GIVEN):
        """Raise ConformanceError unless the query parameters and the form fields (lists of
        (name, value)) are the operation's, with values its schemas allow, each given once
        unless it is an array, and the form has every required field. A field beyond a schema is
        kept, even one the SDKs send (Config.AppId on UpdateFactor, protocol doc §3.3): the
        API ignores it, and a client need not send it.
        With `body` (the raw bytes) and `content_type` (the header's value, None if absent)
        the body is checked too: an operation with a request body takes one only as a type
        the document gives it (application/x-www-form-urlencoded; parameters such as
        charset allowed), and an operation without takes no body at all (an empty one with
        a Content-Type header, as the SDKs send on GET and DELETE, passes).
        With `authorization` (the header's value, None if absent) it must be HTTP Basic,
        the operation's security scheme."""
        template, op = self.operation(method, path)
        op_id = op.get("operationId")
        errors = []
        self._check_auth(op, authorization, errors)
        params = {}
        in_path = {}
        for p in op.get("parameters", ()):
            p = self.resolve(p)
            if p.get("in") == "query":
                params[p["name"]] = p
            elif p.get("in") == "path":
                in_path[p["name"]] = p
        for seg, value in zip(template.split("/"), path.split("/")):
            if seg.startswith("{") and seg[1:-1] in in_path:
                self._check_text(in_path[seg[1:-1]].get("schema", {}), unquote(value),
                                 seg, errors)
        for name, value in query:
            if name not in params:
                errors.append(f"query parameter {name!r} is not the operation's")
            else:
                self._check_text(params[name].get("schema", {}), value, "?" + name, errors)
        self._check_repeats(query, {n: p.get("schema", {}) for n, p in params.items()},
                            "query parameter", errors)
        content = (op.get("requestBody") or {}).get("content", {})
        self._check_body(content, content_type, body, errors)
        if FORM_TYPE not in content:
            if form and not body:
                errors.append("a form, for an operation that takes none")
        else:
            schema = self.resolve(content[FORM_TYPE].get("schema", {}))
            props = schema.get("properties", {})
            for name, value in form:
                if name in props:
                    self._check_text(props[name], value, name, errors)
                else:
                    errors.append(f"form field {name!r} is not in the schema")
            self._check_repeats(form, props, "form field", errors)
            names = {name for name, _ in form}
            for name in schema.get("required", ()):
                if name not in names:
                    errors.append(f"required form field {name!r} is missing")
        if errors:
            raise ConformanceError(f"{op_id} {method} {path}: request: " + "; ".join(errors[:20]))

    def _check_repeats(self, pairs, schemas, what, errors):
        """A name given more than once is an array (OpenAPI's default style, form with
        explode, for queries and form bodies alike); any other parameter is given once,
        or the client and the server may each take another of its values."""
        counts = {}
        for name, _ in pairs:
            counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            if count > 1 and name in schemas \
                    and (self.resolve(schemas[name]) or {}).get("type") != "array":
                errors.append(f"{what} {name!r} given {count} times, and it is not an array")

    def check_unreadable(self, method, path, content_type, body, authorization=NOT_GIVEN):
        """check_request for a request whose query or form cannot be read (bad UTF-8 or
        percent-encoding): only that the document has its operation, that its body is
        one the operation takes, and its Authorization."""
        _, op = self.operation(method, path)
        errors = []
        self._check_auth(op, authorization, errors)
        self._check_body((op.get("requestBody") or {}).get("content", {}), content_type,
                         body, errors)
        if errors:
            raise ConformanceError(f"{op.get('operationId')} {method} {path}: request: "
                                   + "; ".join(errors))

    @staticmethod
    def _check_body(content, content_type, body, errors):
        """A body (bytes; None: not known) against the operation's requestBody content."""
        if not body:
            return
        if not content:
            errors.append(f"a body ({len(body)} bytes, Content-Type {content_type!r}), "
                          "for an operation that takes none")
            return
        media = (content_type or "").split(";")[0].strip().lower()
        if media not in {k.lower() for k in content}:
            errors.append(f"a body of Content-Type {content_type!r}, not one of "
                          f"{sorted(content)}")

    @staticmethod
    def check_signature_fields(method, path, text, body):
        """Raise ConformanceError unless the Twilio-Verify-Signature-Fields header `text`
        (split on commas, each name trimmed, empty ones ignored) names at least one field
        and only keys of the response `body` (protocol doc §5C, §13: a client copies each
        from the body, and cannot sign one the body lacks)."""
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            raise ConformanceError(f"{method} {path}: Twilio-Verify-Signature-Fields "
                                   f"{text!r} names no field")
        keys = body if isinstance(body, dict) else {}
        missing = [n for n in names if n not in keys]
        if missing:
            raise ConformanceError(f"{method} {path}: Twilio-Verify-Signature-Fields names "
                                   f"{missing}, not in the body")

    def check_response_headers(self, method, path, status, headers, has_body):
        """Raise ConformanceError unless the answer's headers (a list of (name, value)) are
        ones the document allows: a `Date` in RFC 1123 form (IMF-fixdate, as protocol doc
        §2.2 has the SDKs parse it; §6 needs it on a 401), a Content-Type that is one of
        the response's media types when there is a body and none without, and no
        Twilio-… header the operation does not document for that status (a client reads
        Twilio-Verify-Signature-Fields, §3.5: only FetchChallenge has it)."""
        errors = []
        by_name = {}
        for name, value in headers:
            by_name.setdefault(name.lower(), []).append(value)
        dates = by_name.get("date", [])
        if len(dates) != 1 or not IMF_FIXDATE_RE.match(dates[0]):
            errors.append(f"Date {dates!r} is not one RFC 1123 date in GMT")
        documented = {}
        media = {"application/json"}
        if status < 400:
            template, op = self.operation(method, path)
            resp = op.get("responses", {}).get(str(status)) or {}
            documented = {k.lower() for k in resp.get("headers", {})}
            media = {k.lower() for k in resp.get("content", {})}
        types = by_name.get("content-type", [])
        if has_body:
            kinds = [t.split(";")[0].strip().lower() for t in types]
            if len(kinds) != 1 or kinds[0] not in media:
                errors.append(f"Content-Type {types!r}, not one of {sorted(media)}")
        elif types:
            errors.append(f"Content-Type {types!r} on an answer without a body")
        for name in by_name:
            if name.startswith("twilio-") and name not in documented:
                errors.append(f"header {name!r} is not the operation's for {status}")
        if errors:
            raise ConformanceError(f"{method} {path} -> {status}: headers: " + "; ".join(errors))

    def check_response(self, method, path, status, body, strict=True):
        """Raise ConformanceError unless `body` (parsed JSON, or None for no body)
        conforms to the documented response for `status`. 4xx/5xx bodies are checked
        against Twilio's error shape {code, message, more_info, status}."""
        if status >= 400:
            errors = self.validate(ERROR_SCHEMA, body, "$", strict=True)
            if not errors and body.get("status") != status:
                errors.append(f"$.status {body.get('status')} != HTTP status {status}")
            if errors:
                raise ConformanceError(f"{method} {path} -> {status}: " + "; ".join(errors))
            return
        op_id, schema = self.response_schema(method, path, status)
        if schema is None:
            if body not in (None, b"", ""):
                raise ConformanceError(f"{op_id} -> {status}: expected no body")
            return
        errors = self.validate(schema, body, "$", strict=strict)
        if errors:
            raise ConformanceError(f"{op_id} {method} {path} -> {status}: "
                                   + "; ".join(errors[:20]))
