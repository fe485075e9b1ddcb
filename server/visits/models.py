"""One home visit as the tablet recorded it (DESIGN.md "The survey"). The submitted JSON is
kept whole as evidence (`body`); the parts below are its searchable, checkable form."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, Money, Point, UTCDateTime, utcnow

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")

VISIT_KINDS = ("initial", "revisit", "recheck")
VISIT_STATES = ("awaiting_photos", "in_review", "accepted", "returned", "superseded")


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (
        sa.CheckConstraint(f"kind IN {VISIT_KINDS}", name="kind"),
        sa.CheckConstraint(f"state IN {VISIT_STATES}", name="state"),
        sa.CheckConstraint("ended_at >= started_at", name="time_order"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)  # made by the tablet
    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    state: Mapped[str] = mapped_column(sa.String(16), default="awaiting_photos", index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    location = mapped_column(Point(), nullable=True)
    location_accuracy_m: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 1))
    device_id: Mapped[str | None] = mapped_column(sa.String(100))
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    complete_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # all photos arrived
    housing_tenure: Mapped[str | None] = mapped_column(sa.String(16))
    housing_area_m2: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 2))
    housing_condition: Mapped[str | None] = mapped_column(sa.String(16))
    conclusion: Mapped[str] = mapped_column(sa.Text, default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    body: Mapped[dict] = mapped_column(JSON)
    body_hash: Mapped[str] = mapped_column(sa.String(64))  # canonical JSON: an identical resend is a 200

    investigators: Mapped[list[VisitInvestigator]] = relationship(cascade="all, delete-orphan")
    members: Mapped[list[VisitMember]] = relationship(cascade="all, delete-orphan", order_by="VisitMember.position")
    income: Mapped[list[IncomeItem]] = relationship(cascade="all, delete-orphan")
    expenditure: Mapped[list[Expenditure]] = relationship(cascade="all, delete-orphan")
    assets: Mapped[list[Asset]] = relationship(cascade="all, delete-orphan")
    testimonies: Mapped[list[Testimony]] = relationship(cascade="all, delete-orphan")
    photos: Mapped[list[VisitPhoto]] = relationship(cascade="all, delete-orphan")
    signatures: Mapped[list[Signature]] = relationship(cascade="all, delete-orphan")
    conflicts: Mapped[list[VisitConflict]] = relationship(cascade="all, delete-orphan")


class VisitInvestigator(Base):
    __tablename__ = "visit_investigators"

    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True, index=True)


class VisitMember(Base):
    __tablename__ = "visit_members"
    __table_args__ = (sa.UniqueConstraint("visit_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(100))
    id_number: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    relation: Mapped[str | None] = mapped_column(sa.String(24))
    sex: Mapped[str | None] = mapped_column(sa.String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(sa.Date)
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


class IncomeItem(Base):
    __tablename__ = "income_items"
    __table_args__ = (sa.CheckConstraint("monthly_amount >= 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    member_position: Mapped[int | None] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(24))
    monthly_amount: Mapped[Decimal] = mapped_column(Money())
    counted: Mapped[bool] = mapped_column(sa.Boolean)  # by the policy in force when received
    note: Mapped[str | None] = mapped_column(sa.Text)


class Expenditure(Base):
    __tablename__ = "expenditures"
    __table_args__ = (sa.CheckConstraint("monthly_amount >= 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    monthly_amount: Mapped[Decimal] = mapped_column(Money())
    note: Mapped[str | None] = mapped_column(sa.Text)


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        sa.CheckConstraint("value IS NULL OR value >= 0", name="value"),
        sa.CheckConstraint("count >= 0", name="count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    category: Mapped[str] = mapped_column(sa.String(24))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    value: Mapped[Decimal | None] = mapped_column(Money())
    count: Mapped[int] = mapped_column(sa.Integer, default=1)
    disqualifying: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    disability_mobility: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    photo_hashes: Mapped[list] = mapped_column(JSON, default=list)


class Testimony(Base):
    __tablename__ = "testimonies"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    witness_name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(16))
    contact: Mapped[str | None] = mapped_column(sa.String(100))
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    matches_declaration: Mapped[str | None] = mapped_column(sa.String(8))  # yes / no / unsure
    statement: Mapped[str] = mapped_column(sa.Text, default="")
    location = mapped_column(Point(), nullable=True)
    location_accuracy_m: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 1))
    at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    signature_sha256: Mapped[str | None] = mapped_column(sa.String(64))


class VisitPhoto(Base):
    """A photo as the visit names it; the bytes are a Photo, which may arrive later."""

    __tablename__ = "visit_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    location = mapped_column(Point(), nullable=True)
    location_accuracy_m: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 1))


class Signature(Base):
    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(24))
    name: Mapped[str] = mapped_column(sa.String(100))
    image_sha256: Mapped[str] = mapped_column(sa.String(64))


class VisitConflict(Base):
    """A different body sent for a stored visit: kept beside it for the office to resolve."""

    __tablename__ = "visit_conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    body: Mapped[dict] = mapped_column(JSON)
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(sa.String(16))  # kept_stored / took_new / merged
