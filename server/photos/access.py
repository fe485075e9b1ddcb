"""Who may see a photo: whoever uploaded it, and whoever may see a case whose visit names
it (as a photo, an asset's photo, a signature or a witness's signature) — the office of
that community, its county, the team that visits it, the panel that has it on its agenda.
A picture that serves two cases (a duplicate) is visible from either. The original, the
evidence with its EXIF GPS intact, only to office and county staff among them."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import object_session

from server.accounts.models import User
from server.cases import access as case_access
from server.cases.models import Case
from server.photos.models import Photo
from server.visits.models import Asset, Signature, Testimony, Visit, VisitPhoto

ORIGINAL_ROLES = ("office", "county")


def cases_naming(session, sha256: str) -> list[Case]:
    """The cases with a visit that names `sha256` anywhere."""
    # An asset's hashes are a JSON list: its text contains the quoted hash exactly when the
    # list does (a hash is 64 hex digits, so one cannot be part of another).
    visits = sa.union(
        sa.select(VisitPhoto.visit_id).where(VisitPhoto.sha256 == sha256),
        sa.select(Signature.visit_id).where(Signature.image_sha256 == sha256),
        sa.select(Testimony.visit_id).where(Testimony.signature_sha256 == sha256),
        sa.select(Asset.visit_id).where(sa.cast(Asset.photo_hashes, sa.Text).contains(f'"{sha256}"', autoescape=True)),
    ).subquery()
    return list(session.scalars(
        sa.select(Case).where(Case.id.in_(sa.select(Visit.case_id).where(Visit.id.in_(sa.select(visits.c[0])))))
        .order_by(Case.id)))


def can_view_photo(user: User | None, photo: Photo) -> bool:
    if user is None or not user.active:
        return False
    if photo.uploaded_by_id is not None and photo.uploaded_by_id == user.id:
        return True
    session = object_session(photo) or object_session(user)
    if session is None:
        return False
    return any(case_access.can_view_case(user, case) for case in cases_naming(session, photo.sha256))


def can_read_original(user: User | None, photo: Photo) -> bool:
    return user is not None and user.has_role(*ORIGINAL_ROLES) and can_view_photo(user, photo)
