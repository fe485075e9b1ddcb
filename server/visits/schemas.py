"""A home visit on the wire (DESIGN.md "The wire format", fixed): `PUT /api/v1/visits/<uuid>`.

`VisitIn` parses and checks the body strictly (unknown fields are refused, by name); the
same schema dumps the parsed body back, and that canonical form is what is stored and
hashed, so a resend that differs only in key order, spacing, "620" against "620.00" or
an escaped character is recognised as the same visit.

Only what a device could not have meant is refused here: malformed values, impossible
times, unknown fields. What the office should judge (one investigator, a short visit, a
missing photo kind) is accepted and flagged (server.review.flags).
"""
from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from server.core.errors import InputSchema
from server.core.fields import AwareDateTime, PointSchema
from server.policy.schemas import ID_NUMBER_DOC, AssetIn, ExpenditureIn, IncomeIn, MemberIn
from server.visits.models import VISIT_KINDS

SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="A SHA-256 is 64 lowercase hexadecimal digits.")
TENURES = ("owned", "rented", "other")
WITNESS_ROLES = ("neighbour", "cadre", "grid_worker")
YES_NO_UNSURE = ("yes", "no", "unsure")
PHOTO_KINDS = ("exterior", "interior", "kitchen", "documents", "asset", "other")
SIGNATURE_ROLES = ("investigator", "family_member")
MAX_ITEMS = 200  # per list: far beyond any household, small enough that a body stays small


class Strict(InputSchema):
    class Meta:
        unknown = RAISE


class Area(fields.Field):
    """Square metres as a decimal string ("48", "48.5"); an integer is accepted, a float
    is not (the canonical body must not depend on a float's printing)."""

    default_error_messages = {"invalid": 'An area is a decimal string like "48.5".',
                              "range": "An area is between 0 and 100000 m²."}
    _RE = re.compile(r"^\d{1,6}(\.\d{1,2})?$")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        text = str(value).strip()
        if not self._RE.match(text):
            try:
                Decimal(text)
            except (InvalidOperation, ValueError):
                raise self.make_error("invalid") from None
            raise self.make_error("range")
        return Decimal(text)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


class VisitMemberIn(MemberIn):
    """A member as the investigator found them: the policy engine's member (reused), with a
    name required and the survey's unknowns allowed as null."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_number = fields.String(load_default=None, allow_none=True,
                              validate=MemberIn._declared_fields["id_number"].validators,
                              metadata=dict(ID_NUMBER_DOC))
    relation = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=24))
    sex = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["F", "M"]))
    birth_date = fields.Date(load_default=None, allow_none=True)
    hukou_type = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    education = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=24))
    health = fields.String(load_default=None, allow_none=True,
                           validate=MemberIn._declared_fields["health"].validators)
    labour_ability = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    work_status = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=24))


class HousingIn(Strict):
    tenure = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TENURES),
                           metadata={"description": "owned / rented / other"})
    area_m2 = Area(load_default=None, allow_none=True,
                   metadata={"type": "string", "format": "decimal", "pattern": Area._RE.pattern,
                             "description": 'm², a decimal string ("48")'})
    condition = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))


class AnswersIn(Strict):
    """The fixed questions put to every witness (DESIGN "The survey")."""

    lives_here = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                               metadata={"description": "Who lives here"})
    work_and_income = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                                    metadata={"description": "Work and income"})
    house_vehicle_business = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                                           metadata={"description": "House, vehicle, business"})
    living_conditions = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                                      metadata={"description": "Living conditions"})
    matches_declaration = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(YES_NO_UNSURE),
                                        metadata={"description": "Does the household match its declaration: "
                                                                 "yes / no / unsure"})


class TestimonyIn(Strict):
    witness_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(WITNESS_ROLES))
    contact = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    answers = fields.Nested(AnswersIn, load_default=dict)
    statement = fields.String(load_default="", validate=validate.Length(max=10000))
    location = fields.Nested(PointSchema, load_default=None, allow_none=True)
    at = AwareDateTime(load_default=None, allow_none=True)
    signature = fields.String(load_default=None, allow_none=True, validate=SHA256,
                              metadata={"description": "SHA-256 of the witness's signature image"})


class PhotoRefIn(Strict):
    sha256 = fields.String(required=True, validate=SHA256)
    kind = fields.String(required=True, validate=validate.OneOf(PHOTO_KINDS))
    taken_at = AwareDateTime(load_default=None, allow_none=True)
    location = fields.Nested(PointSchema, load_default=None, allow_none=True)


class SignatureIn(Strict):
    role = fields.String(required=True, validate=validate.OneOf(SIGNATURE_ROLES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    image = fields.String(required=True, validate=SHA256)


class VisitAssetIn(AssetIn):
    photos = fields.List(fields.String(validate=SHA256), load_default=list, validate=validate.Length(max=50))


def _items(schema, **kwargs):
    return fields.List(fields.Nested(schema), load_default=list, validate=validate.Length(max=MAX_ITEMS), **kwargs)


class VisitIn(Strict):
    """One home visit as the tablet recorded it. Times are ISO 8601 with an offset; money is
    a decimal string; points are {lat, lon, accuracy_m}; images are named by SHA-256."""

    case_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(VISIT_KINDS),
                         metadata={"description": "initial (first visit), revisit (after the office returned the "
                                                  "case), recheck (a recipient's scheduled re-check)"})
    started_at = AwareDateTime(required=True)
    ended_at = AwareDateTime(required=True)
    investigators = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                                validate=validate.Length(max=20),
                                metadata={"description": "usernames; fewer than two is accepted and flagged "
                                                         "(M21 Art 15)"})
    location = fields.Nested(PointSchema, load_default=None, allow_none=True)
    device_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    members = _items(VisitMemberIn)
    income = _items(IncomeIn)
    expenditure = _items(ExpenditureIn)
    housing = fields.Nested(HousingIn, load_default=None, allow_none=True)
    assets = _items(VisitAssetIn)
    testimonies = _items(TestimonyIn)
    photos = _items(PhotoRefIn)
    signatures = _items(SignatureIn)
    conclusion = fields.String(load_default="", validate=validate.Length(max=20000))
    notes = fields.String(load_default="", validate=validate.Length(max=20000))

    @validates_schema
    def _consistent(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        started, ended = data.get("started_at"), data.get("ended_at")
        if started is not None and ended is not None and ended < started:
            errors["ended_at"] = ["The visit cannot end before it started."]
        n = len(data.get("members") or [])
        for i, item in enumerate(data.get("income") or []):
            if item.get("member") is not None and item["member"] >= n:
                errors[f"income.{i}.member"] = ["No member with this index."]
        seen: dict[str, int] = {}
        for i, name in enumerate(data.get("investigators") or []):
            if name in seen:
                errors[f"investigators.{i}"] = [f"Listed twice (also investigators.{seen[name]})."]
            seen.setdefault(name, i)
        if errors:
            raise ValidationError(errors)


class FlagOut(Schema):
    code = fields.String()
    severity = fields.String(metadata={"description": "error / warning / info"})
    reason = fields.String()


class VisitAnswerOut(Schema):
    """What the device keeps for a visit: the server has it, and what is still missing."""

    id = fields.UUID()
    state = fields.String(metadata={"description": "awaiting_photos until every image the visit names has "
                                                   "arrived, then in_review"})
    missing_photos = fields.List(fields.String(), metadata={"description": "SHA-256 of each image not yet uploaded"})
    flags = fields.List(fields.Nested(FlagOut))


VISIT_IN = VisitIn()


def canonical_body(data: dict) -> dict:
    """The parsed body dumped back: plain JSON, the form that is stored and hashed."""
    return VISIT_IN.dump(data)


def body_hash(body: dict) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()
