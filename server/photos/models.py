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
    # 64-bit perceptual hash (dHash) as 16 hex digits: the same picture re-sent for another
    # household is found by Hamming distance, through the bands below.
    phash: Mapped[str | None] = mapped_column(sa.String(16))
    original_key: Mapped[str | None] = mapped_column(sa.String(200))  # where the evidence bytes are kept


class PhotoHashBand(Base):
    """The perceptual hash cut into 8 bands of 8 bits: two hashes within Hamming distance 7
    share at least one band exactly (pigeonhole), so candidates come from an index."""

    __tablename__ = "photo_hash_bands"
    __table_args__ = (sa.Index("ix_photo_hash_bands_band_value", "band", "value"),)

    sha256: Mapped[str] = mapped_column(sa.ForeignKey("photos.sha256", ondelete="CASCADE"), primary_key=True)
    band: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(sa.SmallInteger)
