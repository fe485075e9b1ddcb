"""Cases over the API: a case's state and deadlines, and its state changes."""
from __future__ import annotations

import uuid

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from server.cases import access, lifecycle, operations
from server.cases.models import Case
from server.cases.schemas import CaseOut, TransitionIn, TransitionOut
from server.core import audit
from server.core.auth import login_required
from server.core.errors import UNAVAILABLE_DOC, Conflict, NotFound, problem_docs
from server.extensions import db

blp = Blueprint("cases_api", __name__, url_prefix="/api/v1/cases", description="Cases and their lifecycle")


# Moves that are more than a change of state: each has its own page, which records what the
# move means (the tally, the notice, the objection and its answer, the county's decision
# with the allowance and the letter). A bare state change here would skip that record.
PROCEDURES: dict[tuple[str, str], str] = {
    ("panel", "publicity"): "/panel/sessions",
    ("panel", "county_review"): "/panel/sessions",
    ("publicity", "county_review"): "/publicity",
    ("publicity", "objection"): "/publicity",
    ("objection", "investigating"): "/publicity",
    ("objection", "panel"): "/publicity",
    ("county_review", "approved"): "/decisions",
    ("county_review", "rejected"): "/decisions",
    ("approved", "active"): "/decisions",
    ("active", "recheck"): "/rechecks",
    ("adjusted", "recheck"): "/rechecks",
    ("recheck", "active"): "/rechecks",
    ("recheck", "adjusted"): "/rechecks",
    ("recheck", "stopped"): "/rechecks",
}


class UseProcedure(Conflict):
    code, title = "use-procedure", "This step has its own procedure"


def visible_case(case_id: uuid.UUID) -> Case:
    """The case, or 404 for one the caller may not know exists (and the attempt is logged)."""
    case = db.session.get(Case, case_id)
    if case is None or not access.can_view_case(g.user, case):
        if case is not None:
            db.keep_on_error()
            audit.record(db.session, "access.denied", "case", case.id, case_id=case.id)
        raise NotFound("No such case.")
    return case


def case_out(case: Case) -> dict:
    today = lifecycle.local_today()
    return {"id": case.id, "number": case.number, "state": case.state, "version": case.version,
            "community": case.community, "accepted_at": case.accepted_at,
            "investigation_due": case.investigation_due, "case_due": case.case_due,
            "decision_due": case.decision_due,
            "allowed_transitions": lifecycle.allowed_transitions(case.state, lifecycle.roles_of(g.user)),
            "overdue": lifecycle.overdue(case, today)}


@blp.route("/<uuid:case_id>")
class CaseResource(MethodView):
    @blp.response(200, CaseOut)
    @problem_docs(blp, {
        401: "unauthorized / token-revoked / token-expired",
        404: "not-found: no such case in the caller's scope",
        503: UNAVAILABLE_DOC,
    })
    @login_required
    def get(self, case_id):
        """A case's state, deadlines and the moves the caller may make."""
        return case_out(visible_case(case_id))


@blp.route("/<uuid:case_id>/transitions")
class Transitions(MethodView):
    @blp.arguments(TransitionIn)
    @blp.response(201, TransitionOut)
    @problem_docs(blp, {
        401: "unauthorized / token-revoked / token-expired",
        403: "transition-forbidden: the caller's role may not make this move",
        404: "not-found: no such case in the caller's scope",
        409: "illegal-transition: not a move of the lifecycle (with `allowed`); stale-case: the case changed "
             "since the caller saw it; use-procedure: a panel, notice, decision or re-check step, made on its "
             "page (`page`)",
        422: "validation-error: a bad field, or a reason is required",
        503: UNAVAILABLE_DOC,
    })
    @login_required
    def post(self, data, case_id):
        """Move a case along the lifecycle."""
        case = visible_case(case_id)
        if not access.can_act_on_case(g.user, case):
            raise NotFound("No such case.")
        page = PROCEDURES.get((case.state, data["to"]))
        rule = lifecycle.TRANSITIONS.get((case.state, data["to"]))
        if page is not None and rule is not None and rule.roles & lifecycle.roles_of(g.user):
            raise UseProcedure(f"Moving a case from {case.state} to {data['to']} is done on its page ({page}), "
                               "which records what the step decides.", page=page)
        row = operations.move(db.session, case, data["to"], g.user, data.get("reason"), data.get("version"))
        return {"case_id": case.id, "from_state": row.from_state, "to_state": row.to_state, "reason": row.reason,
                "at": row.at, "version": case.version,
                "allowed_transitions": lifecycle.allowed_transitions(case.state, lifecycle.roles_of(g.user))}
