"""Writes to the change feed the tablets read with their cursor."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.sync.models import Counter, SyncChange


def next_value(session: Session, name: str) -> int:
    """Take the next number of a counter. The UPDATE locks the counter's row until commit
    (PostgreSQL row lock; SQLite's write lock), so numbers become visible in order."""
    value = session.execute(
        sa.update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    ).scalar()
    if value is None:
        session.add(Counter(name=name, value=1))
        session.flush()
        value = 1
    return value


def case_changed(session: Session, case_id: uuid.UUID, team_id: int | None) -> None:
    """The case changed: the team that holds it sees it at its next sync."""
    if team_id is not None:
        session.add(SyncChange(seq=next_value(session, "sync"), team_id=team_id, case_id=case_id, change="upsert"))


def case_left_team(session: Session, case_id: uuid.UUID, team_id: int) -> None:
    session.add(SyncChange(seq=next_value(session, "sync"), team_id=team_id, case_id=case_id, change="remove"))
