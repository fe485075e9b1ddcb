"""Writes of photos: a photo arrives once, whatever the network does.

The order is store first, row second: the three objects are content-addressed, so a
request that dies after writing them leaves objects a retry reuses (nothing rewritten),
and the row, which says "this photo is here", is only ever written once they all are."""
from __future__ import annotations

import hashlib
import importlib
import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.core import audit
from server.core.db import point_wkt
from server.core.errors import Problem
from server.core.storage import Store
from server.photos import pipeline, queries
from server.photos.models import Photo, PhotoHashBand

log = logging.getLogger("doorstep.photos")


class HashMismatch(Problem):
    status, code, title = 422, "hash-mismatch", "The bytes do not hash to the name"


def ingest(session: Session, store: Store, sha256: str, data: bytes, uploader: User | None, *,
           max_pixels: int = pipeline.DEFAULT_MAX_PIXELS,
           timezone: str = pipeline.DEFAULT_TIMEZONE) -> tuple[Photo, bool]:
    """Check, process and keep one photo; (photo, True) if this call stored it, (photo,
    False) if it was already there (nothing is rewritten then)."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        # The upload was cut or changed on the way: nothing is kept, the device sends again.
        raise HashMismatch(f"The bytes hash to {actual}, not to the name.", sha256=actual,
                           size_bytes=len(data))
    existing = session.get(Photo, sha256)
    if existing is not None:
        return existing, False

    processed = pipeline.process(data, max_pixels=max_pixels, timezone=timezone)
    store.put(queries.original_key(sha256), data, processed.content_type)
    store.put(queries.display_key(sha256), processed.display_bytes, "image/jpeg")
    store.put(queries.thumb_key(sha256), processed.thumb_bytes, "image/jpeg")

    photo = Photo(
        sha256=sha256, content_type=processed.content_type, size_bytes=len(data),
        width=processed.width, height=processed.height, exif_taken_at=processed.taken_at,
        exif_location=point_wkt(processed.lat, processed.lon) if processed.lat is not None else None,
        exif_accuracy_m=processed.accuracy if processed.lat is not None else None,
        uploaded_by_id=uploader.id if uploader is not None else None, derived_ready=True,
        phash=processed.phash, original_key=queries.original_key(sha256),
    )
    try:
        # Two devices (or two retries of one) sending the same photo at once: the second
        # insert fails on the primary key once the first commits; its answer is then "already here".
        with session.begin_nested():
            session.add(photo)
            session.flush()
            session.add_all(PhotoHashBand(sha256=sha256, band=i, value=v)
                            for i, v in enumerate(pipeline.hash_bands(processed.phash)))
            session.flush()
    except IntegrityError:
        existing = session.get(Photo, sha256)
        if existing is None:
            raise
        log.info("photo %s: a concurrent upload stored it first", sha256)
        return existing, False

    audit.record(session, "photo.received", "photo", sha256,
                 after={"content_type": photo.content_type, "size_bytes": photo.size_bytes,
                        "width": photo.width, "height": photo.height, "phash": photo.phash})
    _photo_arrived(session, sha256)
    return photo, True


def _photo_arrived(session: Session, sha256: str) -> None:
    """Visits waiting for this photo move on (server.visits.operations.photo_arrived),
    once that exists; a missing module is not an error, a broken one is."""
    try:
        visits = importlib.import_module("server.visits.operations")
    except ModuleNotFoundError as exc:
        if exc.name != "server.visits.operations":
            raise
        return
    hook = getattr(visits, "photo_arrived", None)
    if hook is not None:
        hook(session, sha256)


def record_original_read(session: Session, photo: Photo) -> None:
    """The original carries the household's exact location: every read is on record."""
    audit.record(session, "photo.original_read", "photo", photo.sha256)
