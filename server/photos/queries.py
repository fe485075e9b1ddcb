"""Reads of photos: rows and plain dicts, never a write."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.photos.models import Photo, PhotoHashBand
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PhotoLimits, PolicySettings

SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(name: str) -> bool:
    return isinstance(name, str) and SHA256.fullmatch(name) is not None


def photo(session: Session, sha256: str) -> Photo | None:
    return session.get(Photo, sha256) if is_sha256(sha256) else None


def exists(session: Session, sha256: str) -> bool:
    return is_sha256(sha256) and session.scalar(
        sa.select(sa.literal(True)).where(Photo.sha256 == sha256)) is not None


def photo_out(session: Session, sha256: str) -> dict | None:
    """The PhotoOut answer: the row with its EXIF point as lat/lon (ST_Y/ST_X work the
    same on SpatiaLite and PostGIS)."""
    row = session.execute(
        sa.select(Photo, sa.func.ST_Y(Photo.exif_location), sa.func.ST_X(Photo.exif_location))
        .where(Photo.sha256 == sha256)
    ).first()
    if row is None:
        return None
    p, lat, lon = row
    location = None
    if lat is not None and lon is not None:
        location = {"lat": float(lat), "lon": float(lon),
                    "accuracy_m": float(p.exif_accuracy_m) if p.exif_accuracy_m is not None else None}
    return {"sha256": p.sha256, "content_type": p.content_type, "size_bytes": p.size_bytes, "width": p.width,
            "height": p.height, "taken_at": _utc(p.exif_taken_at), "location": location, "phash": p.phash,
            "received_at": _utc(p.received_at)}


def _utc(value):
    # UTC, as stored: the same answer whether the row was just written or read back.
    return value.astimezone(dt.timezone.utc) if value is not None else None


def hash_bands(session: Session, sha256: str) -> list[int]:
    """The perceptual hash's 8 bands of this photo, band 0 first."""
    return list(session.scalars(
        sa.select(PhotoHashBand.value).where(PhotoHashBand.sha256 == sha256).order_by(PhotoHashBand.band)))


def display_key(sha256: str) -> str:
    return f"display/{sha256}.jpg"


def thumb_key(sha256: str) -> str:
    return f"thumbs/{sha256}.jpg"


def original_key(sha256: str) -> str:
    return f"originals/{sha256}"


def photo_limits_for(session: Session, place, on) -> PhotoLimits:
    """Size and pixel limits of the policy in force at `place` on `on`; the defaults where
    no policy is in force (a new jurisdiction must still take photos)."""
    version = version_in_force(session, place, on) if place is not None else None
    if version is None:
        return PhotoLimits(**DEFAULT_SETTINGS["photo_limits"])
    return PolicySettings.from_dict(version.settings).photo_limits
