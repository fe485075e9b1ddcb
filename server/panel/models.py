"""The evaluation panel (民主评议, M12 Art 22–24): sessions, members, agenda, recusals,
anonymous votes and scores, signed minutes."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, UTCDateTime, new_uuid

PANEL_CATEGORIES = ("cadre", "police", "resident_rep")
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
SESSION_STATES = ("scheduled", "open", "closed", "cancelled")
CHOICES = ("for", "against", "abstain")


class PanelSession(Base):
    __tablename__ = "panel_sessions"
    __table_args__ = (sa.CheckConstraint(f"state IN {SESSION_STATES}", name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    scheduled_for: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    state: Mapped[str] = mapped_column(sa.String(10), default="scheduled")
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    minutes_sha256: Mapped[str | None] = mapped_column(sa.String(64))  # the signed minutes PDF in the store

    members: Mapped[list[PanelMember]] = relationship(cascade="all, delete-orphan")
    agenda: Mapped[list[AgendaItem]] = relationship(cascade="all, delete-orphan", order_by="AgendaItem.position")


class PanelMember(Base):
    __tablename__ = "panel_members"
    __table_args__ = (
        sa.CheckConstraint(f"category IN {PANEL_CATEGORIES}", name="category"),
        sa.UniqueConstraint("session_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    category: Mapped[str] = mapped_column(sa.String(16))
    present: Mapped[bool | None] = mapped_column(sa.Boolean)  # None: attendance not yet taken
    signature_sha256: Mapped[str | None] = mapped_column(sa.String(64))


class AgendaItem(Base):
    __tablename__ = "agenda_items"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "case_id"),
        sa.CheckConstraint("state IN ('pending', 'voting', 'closed')", name="state"),
        sa.CheckConstraint("result IS NULL OR result IN ('passed', 'failed')", name="result"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_sessions.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    state: Mapped[str] = mapped_column(sa.String(8), default="pending")
    result: Mapped[str | None] = mapped_column(sa.String(8))
    votes_for: Mapped[int | None] = mapped_column(sa.Integer)
    votes_against: Mapped[int | None] = mapped_column(sa.Integer)
    votes_abstain: Mapped[int | None] = mapped_column(sa.Integer)
    present_count: Mapped[int | None] = mapped_column(sa.Integer)
    average_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 2))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    recusals: Mapped[list[Recusal]] = relationship(cascade="all, delete-orphan")
    proposals: Mapped[list[RecusalProposal]] = relationship(cascade="all, delete-orphan")


class Recusal(Base):
    __tablename__ = "recusals"
    __table_args__ = (sa.UniqueConstraint("agenda_item_id", "panel_member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_item_id: Mapped[int] = mapped_column(sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), index=True)
    panel_member_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_members.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(sa.String(10))  # declared / register
    reason: Mapped[str] = mapped_column(sa.Text, default="")


class RecusalProposal(Base):
    """A recusal the register of staff relatives suggests (M21 Art 11): shown to the office,
    which confirms it (a Recusal with source "register") or, when the register matched the
    member by name only, dismisses it. Voting on the item waits until each is decided."""

    __tablename__ = "recusal_proposals"
    __table_args__ = (
        sa.UniqueConstraint("agenda_item_id", "panel_member_id"),
        sa.CheckConstraint("state IN ('proposed', 'confirmed', 'dismissed')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agenda_item_id: Mapped[int] = mapped_column(sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), index=True)
    panel_member_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_members.id", ondelete="CASCADE"))
    # What the register says: relative's name, relation, whether it names the member's account.
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    by_account: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    state: Mapped[str] = mapped_column(sa.String(10), default="proposed")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class VoteReceipt(Base):
    """That a member voted on an item (no second vote), never how: the Vote has no member."""

    __tablename__ = "vote_receipts"

    agenda_item_id: Mapped[int] = mapped_column(sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), primary_key=True)
    panel_member_id: Mapped[int] = mapped_column(sa.ForeignKey("panel_members.id", ondelete="CASCADE"), primary_key=True)


class Vote(Base):
    """An anonymous ballot: a random id, no member and no time, so it cannot be joined to
    its receipt."""

    __tablename__ = "votes"
    __table_args__ = (sa.CheckConstraint(f"choice IN {CHOICES}", name="choice"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_uuid)
    agenda_item_id: Mapped[int] = mapped_column(sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), index=True)
    choice: Mapped[str] = mapped_column(sa.String(8))

    scores: Mapped[list[Score]] = relationship(cascade="all, delete-orphan")


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (sa.CheckConstraint("value >= 0", name="value"),)

    vote_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("votes.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[Decimal] = mapped_column(sa.Numeric(6, 2))
