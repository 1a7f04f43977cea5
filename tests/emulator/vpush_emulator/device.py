"""The device calls (protocol doc §3): create/verify/update/delete factor and answer a
challenge. Fetch and list challenges are in common.py (the backend uses them too)."""

from . import auth
from .common import Response, challenge, path_factor
from .store import Factor
from .util import ApiError, parse_string_map

PLATFORMS = ("apn", "fcm", "none")


def _push_token(platform, token):
    if platform in ("apn", "fcm"):
        if token is None or not 32 <= len(token) <= 255:
            raise ApiError(400, 60306, "Config.NotificationToken must be 32-255 characters "
                                        "for apn and fcm")
    elif token is not None and token != "" and not 32 <= len(token) <= 255:
        raise ApiError(400, 60306, "Config.NotificationToken must be 32-255 characters")
    return token or None


def _friendly_name(value):
    if value is None or value == "":
        raise ApiError(400, 60306, "FriendlyName is required")
    if len(value) > 64:
        raise ApiError(400, 60306, "FriendlyName is longer than 64 characters")
    return value


def create_factor(req):
    """POST …/Entities/{Identity}/Factors with the access token as Basic password."""
    store = req.store
    now = store.now()
    tok = store.access_tokens.get(req.password)
    if tok is None:
        raise ApiError(401, 20003, "unknown access token")
    if tok.expires <= now:
        raise ApiError(401, 20003, "access token expired")
    if tok.service_sid != req.params["svc"] or tok.identity != req.params["identity"]:
        raise ApiError(401, 20003, "access token is for another service or identity")
    form = req.form
    ftype = form.get("FactorType")
    if ftype is None or ftype == "":
        raise ApiError(400, 60369)
    if ftype != "push" or tok.factor_type != "push":
        raise ApiError(400, 60369, "only push factors are emulated")
    name = _friendly_name(form.get("FriendlyName"))
    if form.get("Binding.Alg") != "ES256":
        raise ApiError(400, 60306, "Binding.Alg must be ES256")
    pub_b64 = form.get("Binding.PublicKey")
    if not pub_b64:
        raise ApiError(400, 60306, "Binding.PublicKey is required")
    key = auth.load_public_key(pub_b64)
    sdk = form.get("Config.SdkVersion")
    if not sdk:
        raise ApiError(400, 60306, "Config.SdkVersion is required")
    app_id = form.get("Config.AppId")
    if not app_id:
        raise ApiError(400, 60306, "Config.AppId is required")
    if len(app_id) > 100:
        raise ApiError(400, 60306, "Config.AppId is longer than 100 characters")
    platform = form.get("Config.NotificationPlatform")
    if platform not in PLATFORMS:
        raise ApiError(400, 60306, "Config.NotificationPlatform must be apn, fcm or none")
    push_token = _push_token(platform, form.get("Config.NotificationToken"))
    metadata = None
    if form.get("Metadata") is not None:
        metadata = parse_string_map(form.get("Metadata"), 1024, "Metadata")
    ent = store.entity(tok.service_sid, tok.identity, create=True)
    f = Factor(service_sid=tok.service_sid, entity=ent, friendly_name=name, public_key=key,
               public_key_b64=pub_b64, sdk_version=sdk, app_id=app_id, platform=platform,
               push_token=push_token, metadata=metadata, created=int(now), updated=int(now))
    store.add_factor(f)
    return Response(201, store.render_factor(f, new=True))


def update_factor(req):
    """POST …/Factors/{YF}: verify (AuthPayload) and/or update (Config.*, FriendlyName).
    Unknown fields (e.g. Config.AppId, Binding.*) are ignored (§3.3)."""
    store = req.store
    f = path_factor(req)
    form = req.form
    # Validate everything before changing anything.
    name = f.friendly_name
    if "FriendlyName" in form:
        name = _friendly_name(form.get("FriendlyName"))
    platform = f.platform
    if "Config.NotificationPlatform" in form:
        platform = form.get("Config.NotificationPlatform")
        if platform not in PLATFORMS:
            raise ApiError(400, 60306, "Config.NotificationPlatform must be apn, fcm or none")
    push_token = f.push_token
    if "Config.NotificationToken" in form or "Config.NotificationPlatform" in form:
        push_token = _push_token(platform, form.get("Config.NotificationToken",
                                                    push_token if platform != "none" else None))
    sdk = f.sdk_version
    if "Config.SdkVersion" in form:
        sdk = form.get("Config.SdkVersion")
        if not sdk:
            raise ApiError(400, 60306, "Config.SdkVersion must not be empty")
    verify = "AuthPayload" in form
    if verify:
        auth.check_factor_payload(f.public_key, form.get("AuthPayload"), f.sid)
    changed = (name, platform, push_token, sdk) != (f.friendly_name, f.platform,
                                                     f.push_token, f.sdk_version)
    f.friendly_name, f.platform, f.push_token, f.sdk_version = name, platform, push_token, sdk
    if verify and f.status != "verified":
        f.status = "verified"
        changed = True
    if changed:
        f.updated = int(store.now())
    return Response(200, store.render_factor(f))


def delete_factor(req):
    """DELETE …/Factors/{YF} (device JWT or backend). 204, then 404/60390."""
    store = req.store
    f = path_factor(req)
    f.deleted = True
    f.updated = int(store.now())
    return Response(204)


def update_challenge(req):
    """POST …/Challenges/{YC} with AuthPayload (§5C, docs/emulator.md)."""
    store = req.store
    ch = challenge(req)
    ch.answer_posts += 1
    if ch.status == "expired":
        raise ApiError(403, 60323)
    if ch.status != "pending":
        raise ApiError(409, 60325, f"challenge is {ch.status}")
    payload = req.form.get("AuthPayload")
    if not payload:
        raise ApiError(400, 60306, "AuthPayload is required")
    if len(payload) > 5456:
        raise ApiError(400, 60306, "AuthPayload is longer than 5456 characters")
    metadata = None
    if req.form.get("Metadata") is not None:
        metadata = parse_string_map(req.form.get("Metadata"), 1024, "Metadata")
    expected = store.render_challenge(ch)
    fields = ch.signed_fields
    if fields is None:
        # a device GETs the challenge before it answers (§5C step 1): one that did not
        # cannot know the list, so it is checked against the one a GET would give now,
        # and kept as nonconforming (the API cannot refuse it, a client's tests can)
        fields = store.advertised_signature_fields()
        store.note_nonconforming("protocol", "POST", req.path,
                                 f"answer to {ch.sid} without a GET of it by the device "
                                 "while it was pending (protocol doc §5C step 1)")
    status, deviations = auth.check_answer(req.factor.public_key, payload, expected, fields)
    # what the API takes but the SDKs would not send, as for the device JWT
    for detail in deviations:
        store.note_nonconforming("protocol", "POST", req.path, detail)
    now = int(store.now())
    ch.status = status
    ch.responded = ch.updated = now
    if metadata is not None:
        ch.metadata = metadata
    return Response(200, store.render_challenge(ch))
