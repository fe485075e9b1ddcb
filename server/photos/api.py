"""Content-addressed photos (DESIGN "Sync protocol", "The wire format"):

    PUT  /api/v1/photos/<sha256>            the image bytes; 201 new, 200 already stored
    HEAD /api/v1/photos/<sha256>            200 stored, 404 not (what the device still has to send)
    GET  /api/v1/photos/<sha256>/display    re-encoded JPEG, long edge ≤ 2048, no metadata
    GET  /api/v1/photos/<sha256>/thumb      the same, 320 px
    GET  /api/v1/photos/<sha256>/original   the evidence bytes: office and county only, audited
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from server.core import audit
from server.core.auth import login_required
from server.core.errors import PROBLEM_JSON, UNAVAILABLE_DOC, Forbidden, NotFound, Problem, ProblemSchema, TooLarge
from server.core.storage import ObjectMissing, current_store
from server.extensions import db
from server.photos import access, operations, queries
from server.photos.schemas import PhotoOut

log = logging.getLogger("doorstep.photos")

blp = Blueprint("photos", __name__, url_prefix="/api/v1/photos", description="Content-addressed photos")

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
# The served copies never change under their name: a year in the device's own cache.
DERIVED_CACHE = "private, max-age=31536000, immutable"
_READ_CHUNK = 256 * 1024


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class BadPhotoName(Problem):
    status, code, title = 422, "invalid-photo-name", "A photo's name is its SHA-256"


def _problem(status: int, description: str, **kwargs):
    return blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON, description=description,
                            **kwargs)


def _today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(current_app.config["TIMEZONE"])).date()


def _read_body(cap: int) -> bytes:
    """The request body, refusing it once it passes `cap` bytes: a declared length is
    checked before a byte is read, a chunked body as it arrives; never read unbounded."""
    too_large = TooLarge(f"A photo may be at most {cap} bytes.", max_bytes=cap)
    if request.content_length is not None and request.content_length > cap:
        raise too_large
    stream = request.stream  # werkzeug enforces MAX_CONTENT_LENGTH on it too (413)
    body = bytearray()
    while True:
        chunk = stream.read(min(_READ_CHUNK, cap + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if len(body) > cap:
            raise too_large
    return bytes(body)


def _visible_photo(sha256: str):
    """The photo if the caller may see it; 404 otherwise (a refusal is logged)."""
    photo = queries.photo(db.session, sha256) if queries.is_sha256(sha256) else None
    if photo is None:
        raise NotFound("No such photo.")
    if not access.can_view_photo(g.user, photo):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "photo", sha256, after={"endpoint": request.endpoint})
        raise NotFound("No such photo.")
    return photo


_BINARY = {"type": "string", "format": "binary"}


@blp.route("/<string:sha256>")
class PhotoResource(MethodView):
    @blp.doc(requestBody={"required": True, "description": "The image bytes, exactly as the camera wrote them.",
                          "content": {t: {"schema": _BINARY} for t in ACCEPTED_TYPES}})
    @blp.response(201, PhotoOut, description="Stored now: checked, processed, kept")
    @blp.alt_response(200, schema=PhotoOut, success=True,
                      description="Already stored (an upload repeated or resumed); nothing rewritten")
    @_problem(401, "No valid token (unauthorized)")
    @_problem(413, "More bytes than the policy allows (too-large; default 25 MB)")
    @_problem(415, "Content-Type is not image/jpeg, png, webp, heic or heif (unsupported-media-type)")
    @_problem(422, "The name is not 64 lowercase hex digits (invalid-photo-name); the bytes do not hash to "
                   "it (hash-mismatch); they are not an image (not-an-image) or a broken one "
                   "(corrupt-image); more pixels than the policy allows (too-many-pixels; default 50 MP)")
    @_problem(503, UNAVAILABLE_DOC)
    @login_required
    def put(self, sha256):
        """Upload a photo under the SHA-256 of its bytes. Safe to repeat: the same photo
        again, or two devices sending it at once, is stored once."""
        if not queries.is_sha256(sha256):
            raise BadPhotoName("The name must be the SHA-256 of the bytes as 64 lowercase hex digits.")
        if request.mimetype not in ACCEPTED_TYPES:
            raise UnsupportedMediaType(f"Send the bytes as one of: {', '.join(ACCEPTED_TYPES)}.",
                                       accepted=list(ACCEPTED_TYPES))
        session = db.session
        limits = queries.photo_limits_for(session, g.user.jurisdiction, _today())
        cap = limits.max_bytes
        if current_app.config.get("MAX_CONTENT_LENGTH"):
            cap = min(cap, current_app.config["MAX_CONTENT_LENGTH"])
        data = _read_body(cap)
        _photo, created = operations.ingest(session, current_store(), sha256, data, g.user,
                                            max_pixels=limits.max_pixels, timezone=current_app.config["TIMEZONE"])
        return queries.photo_out(session, sha256), 201 if created else 200

    @blp.response(200, description="The server has this photo")
    @_problem(401, "No valid token (unauthorized)")
    @blp.alt_response(404, description="Not stored (yet): send it")
    @_problem(503, UNAVAILABLE_DOC)
    @login_required
    def head(self, sha256):
        """Is this photo stored? No access check beyond sign-in: only someone holding the
        bytes knows their hash, and the answer tells them nothing else."""
        if not queries.is_sha256(sha256) or not queries.exists(db.session, sha256):
            raise NotFound("No such photo.")
        return Response(status=200)


def _derived(sha256: str, variant: str, key: str) -> Response:
    _visible_photo(sha256)
    etag = f"{sha256}-{variant}"
    headers = {"Cache-Control": DERIVED_CACHE, "X-Content-Type-Options": "nosniff", "Vary": "Authorization, Cookie"}
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    try:
        data = current_store().get(key)
    except ObjectMissing:
        log.error("photo %s has a row but no %s copy in the store", sha256, variant)
        raise NotFound("The photo's copy is missing from the store.", code="photo-missing") from None
    response = Response(data, status=200, mimetype="image/jpeg", headers=headers)
    response.set_etag(etag)
    return response


def _derived_docs(what: str):
    def decorate(view):
        view = login_required(view)
        for deco in (  # innermost first, as if stacked bottom-up
            _problem(503, UNAVAILABLE_DOC),
            _problem(404, "No such photo, or not one the caller may see (not-found)"),
            _problem(401, "No valid token (unauthorized)"),
            blp.alt_response(304, success=True, description="Not modified (If-None-Match had its ETag)"),
            blp.response(200, _BINARY, content_type="image/jpeg",
                         description=f"The {what}: JPEG, upright, no metadata at all (no EXIF, no GPS)"),
        ):
            view = deco(view)
        return view

    return decorate


@blp.route("/<string:sha256>/display")
class PhotoDisplay(MethodView):
    @_derived_docs("display copy (long edge at most 2048 px)")
    def get(self, sha256):
        """The display copy of a photo."""
        return _derived(sha256, "display", queries.display_key(sha256))


@blp.route("/<string:sha256>/thumb")
class PhotoThumb(MethodView):
    @_derived_docs("thumbnail (long edge 320 px)")
    def get(self, sha256):
        """The thumbnail of a photo."""
        return _derived(sha256, "thumb", queries.thumb_key(sha256))


@blp.route("/<string:sha256>/original")
class PhotoOriginal(MethodView):
    @blp.response(200, _BINARY, content_type="application/octet-stream",
                  description="The original bytes as uploaded (their SHA-256 is the name), with its own "
                              "Content-Type; never cached")
    @_problem(401, "No valid token (unauthorized)")
    @_problem(403, "Only office and county staff read originals (forbidden); the refusal is logged")
    @_problem(404, "No such photo, or not one the caller may see (not-found)")
    @_problem(503, UNAVAILABLE_DOC)
    @login_required
    def get(self, sha256):
        """The original photo, the evidence: it carries the household's exact GPS, so only
        office and county staff may read it, and every read is audited."""
        photo = _visible_photo(sha256)
        if not access.can_read_original(g.user, photo):
            db.keep_on_error()
            audit.record(db.session, "access.denied", "photo", sha256, after={"endpoint": request.endpoint})
            raise Forbidden("Only office and county staff may read a photo's original.",
                            required_roles=list(access.ORIGINAL_ROLES))
        try:
            body = current_store().open(photo.original_key or queries.original_key(sha256))
        except ObjectMissing:
            log.error("photo %s has a row but no original in the store", sha256)
            raise NotFound("The photo's original is missing from the store.", code="photo-missing") from None
        try:
            operations.record_original_read(db.session, photo)
        except BaseException:
            body.close()
            raise
        response = Response(_stream(body), status=200, mimetype=photo.content_type, direct_passthrough=True)
        response.content_length = photo.size_bytes
        # Every read is on record, so no copy may be kept where a read would not be.
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _stream(body):
    try:
        while chunk := body.read(_READ_CHUNK):
            yield chunk
    finally:
        body.close()
