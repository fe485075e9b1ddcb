"""Tables every domain refers to: jurisdictions and the working-day calendar."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, Point, UTCDateTime, utcnow

JURISDICTION_KINDS = ("province", "city", "county", "township", "community")


class Jurisdiction(Base):
    """County → (township) → community. Policy, users and cases hang off a node."""

    __tablename__ = "jurisdictions"
    __table_args__ = (sa.CheckConstraint(f"kind IN {JURISDICTION_KINDS}", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(12))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    location = mapped_column(Point(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    parent: Mapped[Jurisdiction | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Jurisdiction]] = relationship(back_populates="parent")

    def lineage(self) -> list[Jurisdiction]:
        """This node and its ancestors, nearest first."""
        out, node = [], self
        while node is not None and node not in out:  # a mistaken cycle ends the walk
            out.append(node)
            node = node.parent
        return out


class CalendarDay(Base):
    """An exception to Monday–Friday: a public holiday on a weekday, or a make-up working
    day on a weekend (调休). Deadlines count working days through this table."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    working: Mapped[bool] = mapped_column(sa.Boolean)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
