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
