from marshmallow import RAISE, Schema, fields, validate

from server.cases.models import STATES
from server.core.errors import InputSchema


class TransitionIn(InputSchema):
    class Meta:
        unknown = RAISE

    to = fields.String(required=True, validate=validate.OneOf(STATES))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    # The version the caller saw: a case changed since then is a 409, not an overwrite.
    version = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


class CaseOut(Schema):
    id = fields.UUID()
    number = fields.String()
    state = fields.String()
    version = fields.Integer()
    community = fields.String(attribute="community.code")
    accepted_at = fields.DateTime(format="iso", allow_none=True)
    investigation_due = fields.Date(allow_none=True)
    case_due = fields.Date(allow_none=True)
    decision_due = fields.Date(allow_none=True)
    allowed_transitions = fields.List(fields.String())
    overdue = fields.List(fields.String())


class TransitionOut(Schema):
    case_id = fields.UUID()
    from_state = fields.String()
    to_state = fields.String()
    reason = fields.String(allow_none=True)
    at = fields.DateTime(format="iso")
    version = fields.Integer()
    allowed_transitions = fields.List(fields.String())
