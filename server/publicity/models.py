"""Public notice of passed cases (M21 Art 19, 24) and the objections raised during it."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, Money, UTCDateTime, utcnow


class Notice(Base):
    """Only what may be public: the masked head's name, household size and amount."""

    __tablename__ = "notices"
    __table_args__ = (
        sa.CheckConstraint("state IN ('posted', 'ended', 'withdrawn')", name="state"),
        sa.CheckConstraint("posted_until >= posted_from", name="dates"),
        # One notice up per case: a second post for the same pass finds the first.
        sa.Index("uq_notices_case_posted", "case_id", unique=True,
                 sqlite_where=sa.text("state = 'posted'"), postgresql_where=sa.text("state = 'posted'")),
        # The public page and the office's list: a community's notices by state.
        sa.Index("ix_notices_community_state", "community_id", "state", "posted_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    head_name_shown: Mapped[str] = mapped_column(sa.String(100))
    household_size: Mapped[int] = mapped_column(sa.Integer)
    amount: Mapped[Decimal] = mapped_column(Money())
    posted_from: Mapped[dt.date] = mapped_column(sa.Date)
    posted_until: Mapped[dt.date] = mapped_column(sa.Date, index=True)
    state: Mapped[str] = mapped_column(sa.String(10), default="posted")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the notice came down: sent to the county (ended) or sent back by an objection (withdrawn).
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


CHANNELS = ("in_person", "phone", "letter", "online")
RESOLUTIONS = ("reinvestigate", "return_to_panel")  # what the office may answer (the model also knows 'dismissed')


class Objection(Base):
    __tablename__ = "objections"
    __table_args__ = (
        sa.CheckConstraint("resolution IS NULL OR resolution IN ('reinvestigate', 'return_to_panel', 'dismissed')",
                           name="resolution"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    objector_name: Mapped[str | None] = mapped_column(sa.String(100))  # may be anonymous
    contact: Mapped[str | None] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))  # in_person / phone / letter / online
    content: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    received_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(sa.String(16))
    response: Mapped[str | None] = mapped_column(sa.Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
