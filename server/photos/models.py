"""Photo bytes, content-addressed: the SHA-256 of the original is its name and its proof."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, Point, UTCDateTime, utcnow


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (sa.CheckConstraint("length(sha256) = 64", name="sha256_length"),)

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    width: Mapped[int | None] = mapped_column(sa.Integer)
    height: Mapped[int | None] = mapped_column(sa.Integer)
    exif_taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    exif_location = mapped_column(Point(), nullable=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    derived_ready: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # display + thumb made
    exif_accuracy_m: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 1))
