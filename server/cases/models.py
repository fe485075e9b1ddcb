"""Households, their members, and the case that carries an application through its life."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, Money, Point, UTCDateTime, new_uuid, utcnow
from server.core.models import Jurisdiction

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")

STATES = (
    "application", "accepted", "investigating", "submitted", "in_review", "returned",
    "panel", "publicity", "objection", "county_review", "approved", "rejected",
    "active", "recheck", "adjusted", "stopped",
)
SEXES = ("F", "M")
HEALTH = ("healthy", "chronic", "serious_illness")
CLASSES = ("A", "B")
STABILITY = ("stable", "unstable")


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    head_name: Mapped[str] = mapped_column(sa.String(100))
    address: Mapped[str] = mapped_column(sa.String(300))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    # The registered location the visit's GPS is checked against.
    location = mapped_column(Point(), nullable=True)
    location_accuracy_m: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 1))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    community: Mapped[Jurisdiction] = relationship()
    members: Mapped[list[Member]] = relationship(back_populates="household", cascade="all, delete-orphan",
                                                 order_by="Member.position")
    cases: Mapped[list[Case]] = relationship(back_populates="household")


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        sa.UniqueConstraint("household_id", "id_number"),
        sa.CheckConstraint(f"sex IN {SEXES}", name="sex"),
        sa.CheckConstraint(f"health IS NULL OR health IN {HEALTH}", name="health"),
        sa.CheckConstraint(f"class IS NULL OR class IN {CLASSES}", name="class"),
        sa.CheckConstraint("disability_grade IS NULL OR disability_grade BETWEEN 1 AND 4", name="disability_grade"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    name: Mapped[str] = mapped_column(sa.String(100))
    id_number: Mapped[str] = mapped_column(sa.String(18), index=True)
    relation: Mapped[str] = mapped_column(sa.String(24))
    sex: Mapped[str] = mapped_column(sa.String(1))
    birth_date: Mapped[dt.date] = mapped_column(sa.Date)
    hukou_type: Mapped[str | None] = mapped_column(sa.String(16))
    education: Mapped[str | None] = mapped_column(sa.String(24))
    health: Mapped[str | None] = mapped_column(sa.String(16))
    disability_grade: Mapped[int | None] = mapped_column(sa.SmallInteger)
    labour_ability: Mapped[str | None] = mapped_column(sa.String(16))
    work_status: Mapped[str | None] = mapped_column(sa.String(24))
    student: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    special_identity: Mapped[str | None] = mapped_column(sa.String(32))
    klass: Mapped[str | None] = mapped_column("class", sa.String(1))
    counted: Mapped[bool] = mapped_column(sa.Boolean, default=True)

    household: Mapped[Household] = relationship(back_populates="members")


class Case(Base):
    """One application and everything that follows it. `state` changes only through
    server.cases.lifecycle; `version` makes a stale page's action fail instead of overwrite."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {STATES}", name="state"),
        sa.CheckConstraint(f"stability IS NULL OR stability IN {STABILITY}", name="stability"),
        sa.Index("ix_cases_community_state", "community_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_uuid)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"))
    state: Mapped[str] = mapped_column(sa.String(16), default="application")
    applied_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Deadlines in working days (M21), set by the lifecycle and read by the overdue check:
    # investigation and whole case from acceptance, the county's decision from hand-over.
    investigation_due: Mapped[dt.date | None] = mapped_column(sa.Date)
    decision_due: Mapped[dt.date | None] = mapped_column(sa.Date)
    case_due: Mapped[dt.date | None] = mapped_column(sa.Date, index=True)
    special: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # 45 instead of 30 working days
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    related_to_staff: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    declaration: Mapped[dict] = mapped_column(JSON, default=dict)  # declared income and assets
    stability: Mapped[str | None] = mapped_column(sa.String(8))
    allowance: Mapped[Decimal | None] = mapped_column(Money())
    payment_from: Mapped[dt.date | None] = mapped_column(sa.Date)
    next_recheck_due: Mapped[dt.date | None] = mapped_column(sa.Date, index=True)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    household: Mapped[Household] = relationship(back_populates="cases")
    community: Mapped[Jurisdiction] = relationship()
    transitions: Mapped[list[CaseTransition]] = relationship(back_populates="case", order_by="CaseTransition.id")


class CaseTransition(Base):
    """Every state change, with who made it and why."""

    __tablename__ = "case_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: the system
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="transitions")


class Assignment(Base):
    """A case in a team's hands from assigned_at until ended_at (reassignment ends it)."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Decision(Base):
    """The county's decision, and each later re-check outcome, with the policy it used."""

    __tablename__ = "decisions"
    __table_args__ = (
        sa.CheckConstraint("outcome IN ('approved', 'rejected', 'continued', 'adjusted', 'stopped')", name="outcome"),
        sa.CheckConstraint("outcome NOT IN ('rejected', 'adjusted', 'stopped') OR length(reason) > 0",
                           name="reason_required"),
        # The payment list finds each case's decision in effect in a month from this index
        # alone (a decision row also carries the engine's whole answer, a few KB).
        sa.Index("ix_decisions_case_payment", "case_id", "payment_from", "decision_date", "outcome", "allowance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(12))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decision_date: Mapped[dt.date] = mapped_column(sa.Date)
    policy_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("policy_versions.id"))
    standard: Mapped[Decimal | None] = mapped_column(Money())
    allowance: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    payment_from: Mapped[dt.date | None] = mapped_column(sa.Date)
    evaluation: Mapped[dict] = mapped_column(JSON, default=dict)  # the engine's whole answer, as shown


class Attachment(Base):
    """A document scanned at intake (ID card, hukou book, certificates), by content hash."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(32))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
