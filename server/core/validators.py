"""Checks shared by every schema: national ID numbers (GB 11643-1999), coordinates."""
from __future__ import annotations

import datetime as dt
import re

from marshmallow import ValidationError

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")


def id_check_digit(first17: str) -> str:
    """GB 11643: the 18th character is ISO 7064 MOD 11-2 of the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def parse_id_number(value: str) -> tuple[dt.date, str]:
    """(birth date, sex "M"/"F") from a valid 18-digit ID number; ValueError otherwise."""
    value = value.strip().upper()
    if not _ID_RE.match(value):
        raise ValueError("An ID number has 17 digits and a final digit or X.")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValueError("The birth date inside the ID number is not a real date.") from None
    if birth.year < 1900 or birth > dt.date.today():
        raise ValueError("The birth date inside the ID number is out of range.")
    if id_check_digit(value[:17]) != value[17]:
        raise ValueError("The check digit of the ID number is wrong (GB 11643).")
    return birth, ("M" if int(value[16]) % 2 else "F")


def validate_id_number(value: str) -> None:
    try:
        parse_id_number(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def make_id_number(region: str, birth: dt.date, sequence: int, sex: str) -> str:
    """A valid ID number (used by demo data and tests): sequence 0–499, odd digit for men."""
    seq = sequence % 500 * 2 + (1 if sex == "M" else 0)
    first17 = f"{region:0>6}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)
