"""marshmallow fields for the wire format: money as decimal strings, points, aware times."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from marshmallow import RAISE, Schema, fields, validate

_MONEY = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


class Money(fields.Field):
    """Yuan as a decimal string ("1200.00"), never negative, at most two decimals. A bare
    integer is accepted; a float is not (it cannot say "0.10" exactly)."""

    default_error_messages = {
        "invalid": 'Money is a decimal string like "1200.00".',
        "negative": "Money cannot be negative.",
        "places": "Money has at most two decimals.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        text = str(value).strip()
        if text.startswith("-"):
            raise self.make_error("negative")
        if not _MONEY.match(text):
            try:
                Decimal(text)
            except (InvalidOperation, ValueError):
                raise self.make_error("invalid") from None
            if "." in text and len(text.split(".")[1]) > 2:
                raise self.make_error("places")
            raise self.make_error("invalid")
        return Decimal(text)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(Decimal(value).quantize(Decimal("0.01")))


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with an offset; a time without one is refused, not guessed."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.isoformat()


class PointSchema(Schema):
    class Meta:
        unknown = RAISE

    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    accuracy_m = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(0, 100_000))
