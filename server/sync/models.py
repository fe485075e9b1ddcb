"""The change feed behind the tablets' cursor: a server-side sequence, never wall-clock time."""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, UTCDateTime, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Counter(Base):
    """A named counter. Taking a number locks its row until commit, so numbers commit in
    order and a cursor never skips a change that commits late."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class SyncChange(Base):
    """A case changed for a team (`upsert`) or left its hands (`remove`)."""

    __tablename__ = "sync_changes"
    __table_args__ = (
        sa.CheckConstraint("change IN ('upsert', 'remove')", name="change"),
        sa.Index("ix_sync_changes_team_seq", "team_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id"))
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    change: Mapped[str] = mapped_column(sa.String(8))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
