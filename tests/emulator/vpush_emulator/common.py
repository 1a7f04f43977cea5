"""Lookups, challenge fetch/list and pagination shared by the device and backend APIs."""

from urllib.parse import urlencode

from .util import ApiError, is_integer_text, is_sid


class Response:
    """own_signature_fields: the Twilio-Verify-Signature-Fields header among `headers` is
    the emulator's own list (--check-openapi checks the body has every field it names), not
    a text a test set (which may name fields the body lacks on purpose)."""

    __slots__ = ("status", "body", "headers", "own_signature_fields")

    def __init__(self, status, body=None, headers=(), own_signature_fields=False):
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.own_signature_fields = own_signature_fields


class Request:
    """What a handler sees: the parsed request plus the authenticated principal."""

    __slots__ = ("store", "method", "path", "params", "query", "form", "kind", "factor",
                 "password", "headers")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


def service(req):
    svc = req.store.services.get(req.params["svc"])
    if svc is None:
        raise ApiError(404, 20404, "service not found")
    return svc


def entity(req):
    service(req)
    ent = req.store.entity(req.params["svc"], req.params["identity"])
    if ent is None:
        raise ApiError(404, 60392)
    return ent


def factor_in_entity(req, sid, ent):
    if not is_sid("YF", sid):
        raise ApiError(400, 60362)
    f = req.store.factors.get(sid)
    if f is None or f.deleted or f.entity is not ent:
        raise ApiError(404, 60390)
    return f


def path_factor(req):
    """The factor named in the path. For a device call it must be the JWT's factor."""
    sid = req.params["sid"]
    if req.kind == "device":
        f = req.factor
        if sid != f.sid:
            raise ApiError(401, 20003, "the JWT authenticates another factor")
        if f.deleted:
            raise ApiError(404, 60390)
        return f
    return factor_in_entity(req, sid, entity(req))


def challenge(req):
    sid = req.params["sid"]
    if not is_sid("YC", sid):
        raise ApiError(400, 60364)
    if req.kind == "device":
        if req.factor.deleted:
            raise ApiError(404, 60390)
        ent = req.factor.entity
    else:
        ent = entity(req)
    ch = req.store.challenges.get(sid)
    if ch is None or ch.entity is not ent:
        raise ApiError(404, 60391)
    if req.kind == "device" and ch.factor_sid != req.factor.sid:
        # A device sees only the challenges of the factor it authenticates as.
        raise ApiError(404, 60391)
    ch.refresh(req.store.now())
    return ch


def fetch_challenge(req):
    ch = challenge(req)
    body = req.store.render_challenge(ch)
    headers = []
    own = False
    if ch.status == "pending":
        text = req.store.signature_fields
        own = text is None
        text = req.store.signature_fields_text()
        # the answer is checked against the list the device's last GET gave (§5C): the
        # backend's GETs in between are not what the device read
        if req.kind == "device":
            ch.signed_fields = req.store.advertised_signature_fields()
        headers.append(("Twilio-Verify-Signature-Fields", text))
    return Response(200, body, headers, own_signature_fields=own)


# --- pagination -------------------------------------------------------------------------

def _int_param(query, name, default, lo, hi):
    raw = query.get(name)
    if raw is None:
        return default
    # an empty value is not an integer (OpenAPI), as an empty Status is not an enum value
    if not is_integer_text(raw):
        raise ApiError(400, 60306, f"{name} must be an integer")
    value = int(raw, 10)
    if value < lo or (hi is not None and value > hi):
        raise ApiError(400, 60306, f"{name} out of range")
    return value


def paginate(req, items, key, url_path, filters, order):
    """items: list of (sort_key, rendered-later object) already filtered, in ascending
    sort-key order. filters: ordered list of (param, value) that define the query.
    Returns the list body `{key: [...], meta: {...}}` (objects still unrendered)."""
    store = req.store
    q = req.query
    page_size = _int_param(q, "PageSize", 50, 1, 1000)
    page = _int_param(q, "Page", None, 0, None)
    token = q.get("PageToken") or q.get("pageToken")
    scope = (url_path, tuple(filters))
    if order == "desc":
        items = items[::-1]

    def before(a, b):      # a comes before b in the requested order
        return a < b if order == "asc" else a > b

    if token:
        cursor = store.page_tokens.get(token)
        if cursor is None:
            raise ApiError(400, 60306, "unknown PageToken")
        if cursor["scope"] != scope:
            raise ApiError(400, 60306, "PageToken does not belong to this query")
        if cursor["dir"] == "next":
            rest = [it for it in items if before(cursor["key"], it[0])]
            chosen = rest[:page_size]
        else:
            rest = [it for it in items if before(it[0], cursor["key"])]
            chosen = rest[-page_size:]
        page_no = cursor["page"] if page is None else page
        start = items.index(chosen[0]) if chosen else len(items)
    else:
        # OpenAPI: Page is "the page index. This value is simply for client state": only a
        # PageToken moves through the list
        page_no = page or 0
        start = 0
        chosen = items[:page_size]

    base = f"{store.base}{url_path}"
    params = [(k, v) for k, v in filters if v is not None]

    def url(p, tok=None):
        qs = params + [("PageSize", page_size), ("Page", p)]
        if tok:
            qs.append(("PageToken", tok))
        return f"{base}?{urlencode(qs)}"

    next_url = prev_url = None
    if chosen and start + len(chosen) < len(items):
        tok = store.new_page_token({"scope": scope, "dir": "next", "key": chosen[-1][0],
                                    "page": page_no + 1})
        next_url = url(page_no + 1, tok)
    if chosen and start > 0:
        tok = store.new_page_token({"scope": scope, "dir": "prev", "key": chosen[0][0],
                                    "page": max(page_no - 1, 0)})
        prev_url = url(max(page_no - 1, 0), tok)
    return {
        key: [obj for _, obj in chosen],
        "meta": {
            "page": page_no,
            "page_size": page_size,
            "first_page_url": url(0),
            "previous_page_url": prev_url,
            "url": url(page_no, token),
            "next_page_url": next_url,
            "key": key,
        },
    }


def list_challenges(req):
    store = req.store
    q = req.query
    factor_sid = q.get("FactorSid")
    status = q.get("Status")
    order = q.get("Order", "asc")
    if factor_sid is not None and not is_sid("YF", factor_sid):
        raise ApiError(400, 60362)
    if status is not None and status not in ("pending", "expired", "approved", "denied"):
        raise ApiError(400, 60306, "Status must be pending, expired, approved or denied")
    if order not in ("asc", "desc"):
        raise ApiError(400, 60306, "Order must be asc or desc")
    if req.kind == "device":
        f = req.factor
        if f.deleted:
            raise ApiError(404, 60390)
        if factor_sid is not None and factor_sid != f.sid:
            raise ApiError(401, 20003, "the JWT authenticates another factor")
        ent = f.entity
        only = f.sid
    else:
        ent = entity(req)
        only = factor_sid
    now = store.now()
    items = []
    for ch in ent.challenges:
        if only is not None and ch.factor_sid != only:
            continue
        ch.refresh(now)
        if status is not None and ch.status != status:
            continue
        items.append(((ch.created, ch.seq), ch))
    items.sort(key=lambda it: it[0])
    filters = [("FactorSid", factor_sid), ("Status", status), ("Order", q.get("Order"))]
    url_path = store.entity_url(ent)[len(store.base):] + "/Challenges"
    body = paginate(req, items, "challenges", url_path, filters, order)
    body["challenges"] = [store.render_challenge(ch) for ch in body["challenges"]]
    return Response(200, body)
