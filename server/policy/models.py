"""Policy versions: every number of DESIGN.md "Money" and the rules, per jurisdiction and
effective date. A version in force is never edited; a new one is made."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.core.db import Base, UTCDateTime, utcnow
from server.core.models import Jurisdiction

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (sa.UniqueConstraint("jurisdiction_id", "effective_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(sa.ForeignKey("jurisdictions.id"), index=True)
    effective_from: Mapped[dt.date] = mapped_column(sa.Date)
    settings: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship()
