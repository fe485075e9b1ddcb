"""The policy engine on the wire: POST /api/v1/policy/evaluate (DESIGN.md)."""
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from server.core.errors import InputSchema
from server.core.fields import Money
from server.core.validators import validate_id_number
from server.policy.settings import HARDSHIP_CATEGORIES, WIRE_INCOME_KINDS

HEALTH = ("healthy", "chronic", "serious_illness")
# What the OpenAPI document says of money and ID numbers: the same rules the fields enforce
# (an ID number's check digit aside), so a client generating requests from it sends values
# the server takes.
MONEY_DOC = {"pattern": r"^\d{1,12}(\.\d{1,2})?$", "example": "1200.00",
             "description": "yuan as a decimal string, at most two decimals"}
ID_NUMBER_DOC = {"pattern": r"^\d{17}[\dX]$", "description": "18-character resident ID with its check digit"}


def money(**kwargs) -> Money:
    return Money(metadata=dict(MONEY_DOC), **kwargs)
ASSET_CATEGORIES = ("vehicle", "home", "business", "financial", "luxury", "other")


class Strict(InputSchema):
    class Meta:
        unknown = RAISE


class MemberIn(Strict):
    name = fields.String(load_default=None, validate=validate.Length(max=100))
    id_number = fields.String(load_default=None, validate=validate_id_number, metadata=dict(ID_NUMBER_DOC))
    relation = fields.String(load_default=None, validate=validate.Length(max=24))
    sex = fields.String(load_default=None, validate=validate.OneOf(["F", "M"]))
    birth_date = fields.Date(load_default=None)
    hukou_type = fields.String(load_default=None, validate=validate.Length(max=16))
    education = fields.String(load_default=None, validate=validate.Length(max=24))
    health = fields.String(load_default=None, validate=validate.OneOf(HEALTH))
    disability_grade = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 4))
    labour_ability = fields.String(load_default=None, validate=validate.Length(max=16))
    work_status = fields.String(load_default=None, validate=validate.Length(max=24))
    student = fields.Boolean(load_default=False)
    special_identity = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    klass = fields.String(data_key="class", load_default=None, allow_none=True, validate=validate.OneOf(["A", "B"]))
    hardship = fields.List(fields.String(validate=validate.OneOf(HARDSHIP_CATEGORIES)), load_default=list)
    counted = fields.Boolean(load_default=True)


class IncomeIn(Strict):
    member = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0))
    kind = fields.String(required=True, validate=validate.OneOf(WIRE_INCOME_KINDS))
    monthly_amount = money(required=True)


class ExpenditureIn(Strict):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=24))
    monthly_amount = money(required=True)


class AssetIn(Strict):
    category = fields.String(required=True, validate=validate.OneOf(ASSET_CATEGORIES))
    description = fields.String(load_default=None, validate=validate.Length(max=500))
    value = money(load_default=None, allow_none=True)
    count = fields.Integer(load_default=1, validate=validate.Range(min=0, max=1000))
    photos = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{64}$")), load_default=list)
    disqualifying = fields.Boolean(load_default=False)
    disability_mobility = fields.Boolean(load_default=False)


class EvaluateIn(Strict):
    community = fields.String(required=True, validate=validate.Length(min=1, max=24))
    on = fields.Date(required=True)
    members = fields.List(fields.Nested(MemberIn), required=True, validate=validate.Length(min=1, max=50))
    income = fields.List(fields.Nested(IncomeIn), load_default=list, validate=validate.Length(max=500))
    assets = fields.List(fields.Nested(AssetIn), load_default=list, validate=validate.Length(max=500))
    expenditure = fields.List(fields.Nested(ExpenditureIn), load_default=list, validate=validate.Length(max=500))

    @validates_schema
    def _members_exist(self, data, **kwargs):
        n = len(data.get("members", []))
        bad = {f"income.{i}.member": ["No member with this index."]
               for i, item in enumerate(data.get("income", [])) if item.get("member") is not None and item["member"] >= n}
        if bad:
            raise ValidationError(bad)


class ReasonOut(Schema):
    code = fields.String()
    text = fields.String()
    params = fields.Dict()


class TopupOut(Schema):
    code = fields.String()
    member = fields.Integer(allow_none=True)
    amount = Money()


class PolicyVersionRef(Schema):
    id = fields.Integer()
    jurisdiction = fields.String()
    effective_from = fields.Date()


class EvaluateOut(Schema):
    standard = Money()
    local_standard = Money()
    counted_members = fields.Integer()
    counted_income = Money()
    excluded_income = Money()
    deductions = Money()
    per_capita_income = Money()
    eligible = fields.Boolean()
    near_dibao = fields.Boolean()
    base_allowance = Money()
    topups = fields.List(fields.Nested(TopupOut))
    allowance = Money()
    funding = fields.Dict(keys=fields.String(), values=Money())
    disqualifiers = fields.List(fields.String())
    reasons = fields.List(fields.Nested(ReasonOut))
    policy_version = fields.Nested(PolicyVersionRef)
