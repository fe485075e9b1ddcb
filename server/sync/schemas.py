"""GET /api/v1/sync/assignments on the wire (DESIGN.md "The wire format")."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from server.core.errors import InputSchema
from server.core.fields import AwareDateTime

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


class AssignmentsArgs(InputSchema):
    class Meta:
        unknown = RAISE

    since = fields.String(load_default=None, validate=validate.Length(max=200),
                          metadata={"description": "The `cursor` of the previous answer; missing or empty: "
                                                   "everything currently assigned (a full sync)"})
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT),
                           metadata={"description": f"Cases per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}); "
                                                    "`more` says whether to ask again with the new cursor"})


class PointOut(Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)


class MemberOut(Schema):
    """Only what an investigator needs at the door (reading it is audited)."""

    name = fields.String()
    id_number = fields.String(allow_none=True)
    relation = fields.String(allow_none=True)
    sex = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    health = fields.String(allow_none=True)
    disability_grade = fields.Integer(allow_none=True)
    labour_ability = fields.String(allow_none=True)
    work_status = fields.String(allow_none=True)
    student = fields.Boolean()
    special_identity = fields.String(allow_none=True)
    klass = fields.String(data_key="class", allow_none=True)


class HouseholdOut(Schema):
    head_name = fields.String()
    address = fields.String()
    phone = fields.String(allow_none=True)
    location = fields.Nested(PointOut, allow_none=True, metadata={"description": "The registered location"})
    members = fields.List(fields.Nested(MemberOut))


class PreviousVisitOut(Schema):
    id = fields.UUID()
    kind = fields.String()
    started_at = AwareDateTime()
    ended_at = AwareDateTime()
    state = fields.String()
    conclusion = fields.String()


class ReturnedOut(Schema):
    reasons = fields.List(fields.Raw(), metadata={"description": "The office's reasons for the re-visit"})
    returned_at = AwareDateTime()


class DeadlinesOut(Schema):
    investigation_due = fields.Date(allow_none=True)
    case_due = fields.Date(allow_none=True)
    decision_due = fields.Date(allow_none=True)
    next_recheck_due = fields.Date(allow_none=True)


class AssignedCaseOut(Schema):
    id = fields.UUID()
    number = fields.String()
    state = fields.String()
    version = fields.Integer()
    household = fields.Nested(HouseholdOut)
    previous_visits = fields.List(fields.Nested(PreviousVisitOut))
    returned_reasons = fields.List(fields.Nested(ReturnedOut), metadata={"description": "Open returns (re-visit)"})
    deadlines = fields.Nested(DeadlinesOut)


class AssignmentsOut(Schema):
    cases = fields.List(fields.Nested(AssignedCaseOut))
    removed = fields.List(fields.UUID(), metadata={"description": "Cases no longer in the team's hands: delete them "
                                                                 "from the device"})
    cursor = fields.String(metadata={"description": "Opaque: send it back as `since`"})
    more = fields.Boolean(metadata={"description": "True when more changes wait: ask again with this cursor"})
