"""The app-backend calls (protocol doc §12), authenticated with account_sid:auth_token."""

import re

from .common import Response, entity, factor_in_entity, paginate, service
from .store import AccessToken
from .util import (ApiError, is_integer_text, is_sid, iso, json_loads, new_sid,
                   parse_iso8601, parse_string_map)

IDENTITY_RE = re.compile(r"\A[A-Za-z0-9-]{8,64}\Z")
DEFAULT_EXPIRY = 300
MAX_EXPIRY = 3600


def create_service(req):
    name = req.form.get("FriendlyName")
    if not name:
        raise ApiError(400, 60306, "FriendlyName is required")
    # OpenAPI CreateService: "It can be up to 32 characters long"
    if len(name) > 32:
        raise ApiError(400, 60306, "FriendlyName is longer than 32 characters")
    include_date = req.form.get("Push.IncludeDate", "false").lower()
    if include_date not in ("true", "false"):
        raise ApiError(400, 60306, "Push.IncludeDate must be true or false")
    svc = req.store.add_service(name, include_date == "true")
    return Response(201, req.store.render_service(svc))


def fetch_service(req):
    svc = req.store.services.get(req.params["svc"])
    if req.kind == "device" and (req.factor.service_sid != req.params["svc"]):
        raise ApiError(401, 20003, "the JWT's factor belongs to another service")
    if req.kind == "device" and req.factor.deleted:
        raise ApiError(404, 60390)       # every call for a deleted factor
    if svc is None:
        raise ApiError(404, 20404, "service not found")
    return Response(200, req.store.render_service(svc))


def create_access_token(req):
    store = req.store
    svc = service(req)
    form = req.form
    identity = form.get("Identity")
    if not identity:
        raise ApiError(400, 60305, "Identity is required")
    if not IDENTITY_RE.match(identity):
        raise ApiError(400, 60305, "Identity must be 8-64 characters of [A-Za-z0-9-]")
    ftype = form.get("FactorType")
    if ftype != "push":
        raise ApiError(400, 60305, "FactorType must be push")
    friendly = form.get("FactorFriendlyName")
    if friendly is not None and len(friendly) > 64:
        raise ApiError(400, 60305, "FactorFriendlyName is longer than 64 characters")
    ttl = 60
    if form.get("Ttl") is not None:       # an empty one is no integer (OpenAPI)
        if not is_integer_text(form.get("Ttl")):
            raise ApiError(400, 60305, "Ttl must be an integer")
        ttl = int(form.get("Ttl"), 10)
        if not 60 <= ttl <= 300:
            raise ApiError(400, 60305, "Ttl must be between 60 and 300")
    tok = AccessToken(svc.sid, identity, "push", friendly, ttl, store.now())
    store.access_tokens[tok.token] = tok
    return Response(201, store.render_access_token(tok))


def fetch_access_token(req):
    """The resource an access token's `url` names (OpenAPI FetchAccessToken)."""
    store = req.store
    svc = service(req)
    sid = req.params["sid"]
    if not is_sid("YK", sid):
        raise ApiError(404, 20404, "access token not found")
    for tok in store.access_tokens.values():
        if tok.sid == sid and tok.service_sid == svc.sid:
            return Response(200, store.render_access_token(tok))
    raise ApiError(404, 20404, "access token not found")


def list_factors(req):
    store = req.store
    ent = entity(req)
    items = [((f.created, f.seq), f) for f in store.factors.values()
             if f.entity is ent and not f.deleted]
    items.sort(key=lambda it: it[0])
    url_path = store.entity_url(ent)[len(store.base):] + "/Factors"
    body = paginate(req, items, "factors", url_path, [], "asc")
    body["factors"] = [store.render_factor(f) for f in body["factors"]]
    return Response(200, body)


def fetch_factor(req):
    ent = entity(req)
    f = factor_in_entity(req, req.params["sid"], ent)
    return Response(200, req.store.render_factor(f))


def _fields(values):
    if len(values) > 20:
        raise ApiError(400, 60306, "Details.Fields has more than 20 items")
    fields = []
    for raw in values:
        try:
            obj = json_loads(raw)
        except ValueError as exc:
            raise ApiError(400, 60306, f"Details.Fields item is not JSON ({exc})")
        if not isinstance(obj, dict) or set(obj) != {"label", "value"} \
                or not isinstance(obj["label"], str) or not isinstance(obj["value"], str):
            raise ApiError(400, 60306, "Details.Fields item must be {label, value} strings")
        if not obj["label"] or len(obj["label"]) > 36:
            raise ApiError(400, 60306, "Details.Fields label must be 1-36 characters")
        if len(obj["value"]) > 128:
            raise ApiError(400, 60306, "Details.Fields value is longer than 128 characters")
        fields.append({"label": obj["label"], "value": obj["value"]})
    return fields


def create_challenge(req):
    store = req.store
    form = req.form
    ent = entity(req)
    fsid = form.get("FactorSid")
    if not is_sid("YF", fsid):
        raise ApiError(400, 60362)
    f = factor_in_entity(req, fsid, ent)
    if f.status != "verified":
        raise ApiError(403, 60318)
    message = form.get("Details.Message")
    if not message:
        raise ApiError(400, 60306, "Details.Message is required for push")
    if len(message) > 256:
        raise ApiError(400, 60306, "Details.Message is longer than 256 characters")
    fields = _fields(form.getall("Details.Fields"))
    hidden = None
    if form.get("HiddenDetails") not in (None, ""):
        hidden = parse_string_map(form.get("HiddenDetails"), 1024, "HiddenDetails")
    now = int(store.now())
    expires = now + DEFAULT_EXPIRY
    if form.get("ExpirationDate") not in (None, ""):
        try:
            expires = int(parse_iso8601(form.get("ExpirationDate")))
        except ValueError:
            raise ApiError(400, 60306, "ExpirationDate is not an ISO 8601 date-time")
        if expires <= now:
            raise ApiError(400, 60306, "ExpirationDate is not in the future")
        if expires > now + MAX_EXPIRY:
            raise ApiError(400, 60306, "ExpirationDate is more than 60 minutes ahead")
    ch = store.add_challenge(service_sid=f.service_sid, entity=ent, factor_sid=f.sid,
                             created=now, updated=now, expires=expires, message=message,
                             fields=fields, hidden=hidden)
    return Response(201, store.render_challenge(ch))


def create_notification(req):
    """POST …/Challenges/{YC}/Notifications: nothing is delivered (platform none)."""
    from .common import challenge
    store = req.store
    req.params["sid"] = req.params["csid"]
    ch = challenge(req)
    if ch.status != "pending":
        raise ApiError(400, 60306, "challenge is not pending")
    ttl = 300
    if req.form.get("Ttl") is not None:
        if not is_integer_text(req.form.get("Ttl")):
            raise ApiError(400, 60306, "Ttl must be an integer")
        ttl = int(req.form.get("Ttl"), 10)
        if not 0 <= ttl <= 300:
            raise ApiError(400, 60306, "Ttl must be between 0 and 300")
    return Response(201, {
        "sid": new_sid("NT"),
        "account_sid": store.account_sid,
        "service_sid": ch.service_sid,
        "entity_sid": ch.entity.sid,
        "identity": ch.entity.identity,
        "challenge_sid": ch.sid,
        "priority": "high",
        "ttl": ttl,
        "date_created": iso(store.now()),
    })
