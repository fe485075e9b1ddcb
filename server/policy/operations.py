"""Writes about policy: a new version. A version in force is never edited; the next one
is made with its own effective date (DESIGN "Money": standards are versioned by date)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.core import audit
from server.core.errors import ValidationProblem
from server.core.models import Jurisdiction
from server.policy import impact
from server.policy.models import PolicyVersion
from server.policy.settings import PolicySettings, PolicySettingsError, merge_defaults


def previous_version(session: Session, place: Jurisdiction, on: dt.date) -> PolicyVersion | None:
    """The version of `place` itself in force just before `on` (what a new one replaces there)."""
    return session.scalar(
        sa.select(PolicyVersion).where(PolicyVersion.jurisdiction_id == place.id, PolicyVersion.effective_from < on)
        .order_by(PolicyVersion.effective_from.desc()).limit(1))


def create_version(session: Session, *, place: Jurisdiction, effective_from: dt.date, settings: dict, note: str,
                   actor: User, today: dt.date) -> PolicyVersion:
    """A new version for `place` from `effective_from`. Refused (422, per field) when the
    document is invalid, when `place` already has a version on that date, or when the date
    is in the past and the version would change an allowance already paid."""
    try:
        parsed = PolicySettings.from_dict(settings)
    except PolicySettingsError as exc:
        raise ValidationProblem(exc.errors) from None
    errors: dict[str, list[str]] = {}
    if session.scalar(sa.select(PolicyVersion.id).where(PolicyVersion.jurisdiction_id == place.id,
                                                        PolicyVersion.effective_from == effective_from)):
        errors["effective_from"] = [_("A version of this jurisdiction already takes effect on that date; "
                                      "versions are never edited, choose another date.")]
    elif effective_from < today and impact.changes_payments(impact.compute(session, place, parsed, effective_from)):
        errors["effective_from"] = [_("This version changes allowances, and payments from that date have already "
                                      "been made: choose today or a later date.")]
    if errors:
        raise ValidationProblem(errors)
    before = previous_version(session, place, effective_from)
    version = PolicyVersion(jurisdiction_id=place.id, effective_from=effective_from, settings=parsed.to_dict(),
                            note=note, created_by_id=actor.id)
    session.add(version)
    session.flush()
    audit.record(session, "policy.version_created", "policy_version", version.id,
                 before=None if before is None else {"version_id": before.id,
                                                     "effective_from": before.effective_from,
                                                     "settings": merge_defaults(before.settings)},
                 after={"jurisdiction": place.code, "effective_from": effective_from, "note": note,
                        "settings": version.settings})
    return version
