"""Which policy is in force where and when."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.core.models import Jurisdiction
from server.policy.models import PolicyVersion


def version_in_force(session: Session, jurisdiction: Jurisdiction, on: dt.date) -> PolicyVersion | None:
    """The newest version effective on `on` at the nearest level: a community's own policy
    wins over its county's."""
    lineage = jurisdiction.lineage()
    rows = session.scalars(
        sa.select(PolicyVersion)
        .where(PolicyVersion.jurisdiction_id.in_([j.id for j in lineage]), PolicyVersion.effective_from <= on)
        .order_by(PolicyVersion.effective_from.desc())
    ).all()
    for node in lineage:
        for version in rows:
            if version.jurisdiction_id == node.id:
                return version
    return None


def jurisdiction_by_code(session: Session, code: str) -> Jurisdiction | None:
    return session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == code))


def _settings_by_lineage() -> sa.Select:
    """Every version of a jurisdiction's lineage (a recursive walk up its parents) effective
    by a day, nearest level first, then newest: built once, bound per call."""
    up = sa.select(Jurisdiction.id, Jurisdiction.parent_id, sa.literal(0).label("depth")) \
        .where(Jurisdiction.id == sa.bindparam("jurisdiction_id")).cte("lineage", recursive=True)
    parent = sa.orm.aliased(Jurisdiction)
    up = up.union_all(sa.select(parent.id, parent.parent_id, up.c.depth + 1)
                      .join(up, parent.id == up.c.parent_id).where(up.c.depth < 32))  # a cycle stops
    return (sa.select(PolicyVersion.effective_from, PolicyVersion.settings)
            .join(up, up.c.id == PolicyVersion.jurisdiction_id)
            .where(PolicyVersion.effective_from <= sa.bindparam("last_day"))
            .order_by(up.c.depth, PolicyVersion.effective_from.desc(), PolicyVersion.id.desc()))


_SETTINGS_BY_LINEAGE = _settings_by_lineage()


def settings_in_force(session: Session, jurisdiction_id: int, days: list[dt.date]) -> dict[dt.date, dict | None]:
    """The settings of `version_in_force` for several days at once, in one query (None where
    no version is in force)."""
    rows = session.execute(_SETTINGS_BY_LINEAGE, {"jurisdiction_id": jurisdiction_id, "last_day": max(days)}).all()
    # Rows run nearest level first, newest first: the first effective on a day is its version.
    return {day: next((settings for effective, settings in rows if effective <= day), None) for day in days}
