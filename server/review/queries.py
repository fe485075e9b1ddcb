"""Reads for the office's review: a case's quality flags and the open-flag counts of a queue."""
from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.review.flags import CODES, SEVERITY_RANK
from server.review.models import SEVERITIES, Flag

_CODE_ORDER = {code: i for i, code in enumerate(CODES)}


def flags_for_case(session: Session, case_id: uuid.UUID, include_dismissed: bool = True) -> list[Flag]:
    """The case's flags: open before dismissed, then errors, warnings, info, then in the
    order the checks run (CODES), oldest first."""
    q = sa.select(Flag).where(Flag.case_id == case_id)
    if not include_dismissed:
        q = q.where(Flag.dismissed_at.is_(None))
    flags = session.scalars(q).all()
    return sorted(flags, key=lambda f: (f.dismissed_at is not None, SEVERITY_RANK.get(f.severity, len(SEVERITIES)),
                                        _CODE_ORDER.get(f.code, len(CODES)), f.created_at, f.id))


def open_flag_counts(session: Session, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """For each case asked about: its open (not dismissed) flags counted by severity, every
    severity present (0 when none), in one query."""
    ids = list(dict.fromkeys(case_ids))
    counts = {case_id: {severity: 0 for severity in reversed(SEVERITIES)} for case_id in ids}
    if not ids:
        return counts
    rows = session.execute(
        sa.select(Flag.case_id, Flag.severity, sa.func.count())
        .where(Flag.case_id.in_(ids), Flag.dismissed_at.is_(None))
        .group_by(Flag.case_id, Flag.severity)
    )
    for case_id, severity, n in rows:
        counts[case_id][severity] = n
    return counts
