"""Writes to the change feed the tablets read with their cursor."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.core.db import utcnow
from server.sync.models import Counter, SyncChange

_TAKE = sa.update(Counter.__table__).where(Counter.__table__.c.name == sa.bindparam("counter")) \
    .values(value=Counter.__table__.c.value + 1).returning(Counter.__table__.c.value)
_CHANGE = SyncChange.__table__.insert()


def next_value(session: Session, name: str) -> int:
    """Take the next number of a counter. The UPDATE locks the counter's row until commit
    (PostgreSQL row lock; SQLite's write lock), so numbers become visible in order."""
    value = session.connection().execute(_TAKE, {"counter": name}).scalar()
    if value is None:
        session.add(Counter(name=name, value=1))
        session.flush()
        value = 1
    return value


def case_changed(session: Session, case_id: uuid.UUID, team_id: int | None) -> None:
    """The case changed: the team that holds it sees it at its next sync."""
    if team_id is not None:
        _append(session, team_id, case_id, "upsert")


def case_left_team(session: Session, case_id: uuid.UUID, team_id: int) -> None:
    _append(session, team_id, case_id, "remove")


def _append(session: Session, team_id: int, case_id: uuid.UUID, change: str) -> None:
    session.flush()  # the case (perhaps new in this transaction) is there before its change is
    session.connection().execute(_CHANGE, {"seq": next_value(session, "sync"), "team_id": team_id,
                                           "case_id": case_id, "change": change, "at": utcnow()})
