"""Reads about visits: what a visit names, what has not arrived, what the device is told."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.photos.models import Photo
from server.review.models import Flag
from server.visits.models import Asset, Signature, Testimony, Visit, VisitPhoto


_EXISTS = sa.select(Visit.id).where(Visit.id == sa.bindparam("visit_id"))


def stored_visit(session: Session, visit_id: uuid.UUID) -> Visit | None:
    """The visit stored under `visit_id`, if any. Most PUTs bring a new visit: a bare
    existence check first, the whole row only for a resend."""
    if session.execute(_EXISTS, {"visit_id": visit_id}).first() is None:
        return None
    return session.get(Visit, visit_id)


def named_hashes(body: dict) -> list[str]:
    """Every image a visit body names by SHA-256 (photos, asset photos, testimony and other
    signatures), sorted, each once."""
    named = {p["sha256"] for p in body.get("photos") or ()}
    for asset in body.get("assets") or ():
        named.update(asset.get("photos") or ())
    named.update(t["signature"] for t in body.get("testimonies") or () if t.get("signature"))
    named.update(s["image"] for s in body.get("signatures") or ())
    return sorted(named)


def missing_photos(session: Session, hashes: list[str]) -> list[str]:
    """The hashes among `hashes` with no stored Photo, sorted."""
    if not hashes:
        return []
    arrived = set(session.scalars(sa.select(Photo.sha256).where(Photo.sha256.in_(hashes))))
    return [h for h in hashes if h not in arrived]


def open_flags(session: Session, visit_id: uuid.UUID) -> list[Flag]:
    return list(session.scalars(sa.select(Flag).where(Flag.visit_id == visit_id, Flag.dismissed_at.is_(None))
                                .order_by(Flag.id)))


def flags_out(flags) -> list[dict]:
    return [{"code": f.code, "severity": f.severity, "reason": f.reason} for f in flags if f.dismissed_at is None]


def answer(session: Session, visit: Visit, flags=None) -> dict:
    """The answer of PUT and GET /api/v1/visits/<uuid> (DESIGN "The wire format")."""
    missing = missing_photos(session, named_hashes(visit.body)) if visit.state == "awaiting_photos" else []
    return {"id": visit.id, "state": visit.state, "missing_photos": missing,
            "flags": flags_out(open_flags(session, visit.id) if flags is None else flags)}


def awaiting_visits_naming(session: Session, sha256: str) -> list[Visit]:
    """Visits still awaiting photos that name `sha256` anywhere."""
    # An asset's hashes are a JSON list: its text contains the quoted hash exactly when the
    # list does (a hash is 64 hex digits, so one cannot be part of another).
    asset_text = sa.cast(Asset.photo_hashes, sa.Text)
    ids = sa.union(
        sa.select(VisitPhoto.visit_id).where(VisitPhoto.sha256 == sha256),
        sa.select(Signature.visit_id).where(Signature.image_sha256 == sha256),
        sa.select(Testimony.visit_id).where(Testimony.signature_sha256 == sha256),
        sa.select(Asset.visit_id).join(Visit, Visit.id == Asset.visit_id)
        .where(Visit.state == "awaiting_photos", asset_text.contains(f'"{sha256}"', autoescape=True)),
    ).subquery()
    return list(session.scalars(
        sa.select(Visit).where(Visit.state == "awaiting_photos", Visit.id.in_(sa.select(ids.c[0])))
        .order_by(Visit.received_at, Visit.id)))
