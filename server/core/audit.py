"""The audit log: append-only and hash-chained. Each event's hash covers its content and
the previous event's hash, so a changed, removed or reordered row breaks the chain at
that row; `flask doorstep verify-audit` finds the first broken link. The database also
refuses UPDATE and DELETE on the table (triggers in the migration)."""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, has_request_context, request
from sqlalchemy.orm import Mapped, Session, mapped_column

from server.core.db import Base, UTCDateTime, utcnow

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS = "0" * 64
# Any constant: PostgreSQL serialises appends with this transaction-scoped advisory lock.
_PG_LOCK_KEY = 0x444F4F52


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)  # no FK: the log outlives users
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(48), index=True)
    entity: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    case_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


def jsonable(value):
    """Decimal, dates, UUIDs and sets to what JSON keeps exactly (money as strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # floats are not stable across databases' JSON
    return value


def _digest(ev: AuditEvent) -> str:
    content = {
        "at": ev.at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
        "actor_id": ev.actor_id, "actor_name": ev.actor_name, "action": ev.action,
        "entity": ev.entity, "entity_id": ev.entity_id,
        "case_id": str(ev.case_id) if ev.case_id else None,
        "before": ev.before, "after": ev.after, "ip": ev.ip, "prev_hash": ev.prev_hash,
    }
    raw = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _current_actor():
    user = g.get("user") if has_request_context() else None
    if user is not None:
        return user.id, user.username
    return None, "system"


_PG_LOCK = sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY))
_LAST_HASH = sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
_COLUMNS = ("at", "actor_id", "actor_name", "action", "entity", "entity_id", "case_id", "before", "after", "ip",
            "prev_hash", "hash")
_INSERT = AuditEvent.__table__.insert().returning(AuditEvent.__table__.c.id)

CURRENT_USER = object()  # the default actor: whoever is signed in to this request


def record(session: Session, action: str, entity: str, entity_id, *, before: dict | None = None,
           after: dict | None = None, case_id: uuid.UUID | None = None, actor=CURRENT_USER) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the write).
    `actor=None` names the system (a move nobody clicked), whoever the request is from."""
    session.flush()  # what the event speaks of is written first, as callers expect
    conn = session.connection()  # Core statements: one event is one INSERT, no unit of work
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK)
    prev = conn.execute(_LAST_HASH).scalar() or GENESIS
    if actor is CURRENT_USER:
        actor_id, actor_name = _current_actor()
    elif actor is None:
        actor_id, actor_name = None, "system"
    else:
        actor_id, actor_name = actor.id, actor.username
    at = utcnow()  # both databases keep microseconds, which is all the digest covers
    ev = AuditEvent(
        at=at, actor_id=actor_id, actor_name=actor_name, action=action, entity=entity,
        entity_id=str(entity_id), case_id=case_id,
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        ip=request.remote_addr if has_request_context() else None, prev_hash=prev,
    )
    ev.hash = _digest(ev)
    # The object returned is a record of what was written, not attached to the session.
    ev.id = conn.execute(_INSERT, {c: getattr(ev, c) for c in _COLUMNS}).scalar_one()
    return ev


def record_read(session: Session, entity: str, entity_id, fields: list[str], case_id=None) -> AuditEvent:
    """Reading a national ID, income detail or health record is itself an event."""
    return record(session, "read", entity, entity_id, after={"fields": sorted(fields)}, case_id=case_id)


@dataclass
class ChainReport:
    ok: bool
    checked: int
    last_good_id: int | None
    broken_id: int | None = None
    problem: str | None = None


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order. Reads plain rows, not ORM objects, so the caller's
    session is left as it was."""
    table = AuditEvent.__table__
    prev_hash, last_id, checked = GENESIS, 0, 0
    last_good = None
    while True:
        rows = session.execute(
            sa.select(table).where(table.c.id > last_id).order_by(table.c.id).limit(batch)
        ).all()
        if not rows:
            return ChainReport(True, checked, last_good)
        for ev in rows:
            if ev.prev_hash != prev_hash:
                return ChainReport(False, checked, last_good, ev.id, "link to the previous event does not match")
            if _digest(ev) != ev.hash:
                return ChainReport(False, checked, last_good, ev.id, "content does not match its hash")
            prev_hash, last_id, last_good = ev.hash, ev.id, ev.id
            checked += 1
