"""POST /api/v1/policy/evaluate: the policy engine's whole computation, explained."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_babel import get_locale
from flask_smorest import Blueprint

from server.core import audit
from server.core.auth import login_required
from server.core.errors import UNAVAILABLE_DOC, NotFound, ValidationProblem, problem_docs
from server.extensions import db
from server.policy import access, engine, queries
from server.policy.schemas import EvaluateIn, EvaluateOut
from server.policy.settings import PolicySettings

blp = Blueprint("policy", __name__, url_prefix="/api/v1/policy", description="The policy engine")


def household_from_wire(data: dict) -> engine.HouseholdIn:
    members = tuple(
        engine.MemberIn(name=m.get("name"), birth_date=m.get("birth_date"), relation=m.get("relation"),
                        counted=m.get("counted", True), klass=m.get("klass"), health=m.get("health"),
                        disability_grade=m.get("disability_grade"), student=m.get("student", False),
                        hardship=tuple(m.get("hardship", ())))
        for m in data["members"])
    income = tuple(engine.IncomeIn(member=i.get("member"), kind=i["kind"], monthly_amount=i["monthly_amount"])
                   for i in data.get("income", ()))
    assets = tuple(engine.AssetIn(category=a["category"], value=a.get("value"), count=a.get("count", 1),
                                  disqualifying=a.get("disqualifying", False),
                                  disability_mobility=a.get("disability_mobility", False),
                                  description=a.get("description"))
                   for a in data.get("assets", ()))
    expenditure = tuple(engine.ExpenditureIn(kind=e["kind"], monthly_amount=e["monthly_amount"])
                        for e in data.get("expenditure", ()))
    return engine.HouseholdIn(members=members, income=income, assets=assets, expenditure=expenditure)


def evaluation_out(result: engine.Evaluation, version, locale: str) -> dict:
    return {
        "standard": result.standard, "local_standard": result.local_standard,
        "counted_members": result.counted_members, "counted_income": result.counted_income,
        "excluded_income": result.excluded_income, "deductions": result.deductions,
        "per_capita_income": result.per_capita_income, "eligible": result.eligible,
        "near_dibao": result.near_dibao, "base_allowance": result.base_allowance,
        "topups": [{"code": c, "member": m, "amount": a} for c, m, a in result.topups],
        "allowance": result.allowance, "funding": result.funding, "disqualifiers": list(result.disqualifiers),
        "reasons": [{"code": r.code, "text": engine.reason_text(r, locale), "params": r.params}
                    for r in result.reasons],
        "policy_version": {"id": version.id, "jurisdiction": version.jurisdiction.code,
                           "effective_from": version.effective_from},
    }


@blp.route("/evaluate")
class Evaluate(MethodView):
    @blp.arguments(EvaluateIn)
    @blp.response(200, EvaluateOut)
    @problem_docs(blp, {
        401: "unauthorized / token-revoked / token-expired",
        404: "not-found: no such community in the caller's scope; no-policy: none in force there on that date",
        422: "validation-error: an invalid household, naming each field",
        503: UNAVAILABLE_DOC,
    })
    @login_required
    def post(self, data):
        """Evaluate a household under the policy in force for a community on a date."""
        session = db.session
        place = queries.jurisdiction_by_code(session, data["community"])
        if place is None or not access.can_evaluate_for(g.user, place):
            if place is not None:
                db.keep_on_error()
                audit.record(session, "access.denied", "jurisdiction", place.id,
                             after={"endpoint": "policy.evaluate"})
            raise NotFound("No such community.")
        version = queries.version_in_force(session, place, data["on"])
        if version is None:
            raise NotFound("No policy is in force there on that date.", code="no-policy")
        try:
            result = engine.evaluate(PolicySettings.from_dict(version.settings), household_from_wire(data), data["on"])
        except engine.PolicyInputError as exc:
            raise ValidationProblem({exc.field: [exc.message]}) from None
        return evaluation_out(result, version, str(get_locale()))
