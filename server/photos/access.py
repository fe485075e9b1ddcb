"""Who may see a photo. For now: anyone signed in whose place is in the county of the
person who uploaded it (the lead will narrow this to the scope of the photo's case). The
original, the evidence with its EXIF GPS intact, only to office and county staff who
may see the photo at all."""
from __future__ import annotations

from sqlalchemy.orm import object_session

from server.accounts.models import User
from server.core.models import Jurisdiction
from server.photos.models import Photo

ORIGINAL_ROLES = ("office", "county")


def county_of(place: Jurisdiction | None) -> Jurisdiction | None:
    """The county a place lies in (the place itself for a county); the top of its chain
    where there is no county above it."""
    if place is None:
        return None
    lineage = place.lineage()
    for node in lineage:
        if node.kind == "county":
            return node
    return lineage[-1]


def _within(place: Jurisdiction, root: Jurisdiction) -> bool:
    return any(node.id == root.id for node in place.lineage())


def can_view_photo(user: User | None, photo: Photo) -> bool:
    if user is None or not user.active or photo.uploaded_by_id is None:
        return False
    if photo.uploaded_by_id == user.id:
        return True
    session = object_session(photo) or object_session(user)
    uploader = session.get(User, photo.uploaded_by_id) if session is not None else None
    county = county_of(uploader.jurisdiction) if uploader is not None else None
    return county is not None and _within(user.jurisdiction, county)


def can_read_original(user: User | None, photo: Photo) -> bool:
    return can_view_photo(user, photo) and user.has_role(*ORIGINAL_ROLES)
