"""Visits from the tablets: PUT /api/v1/visits/<uuid> (idempotent), GET for its status."""
from __future__ import annotations

import uuid

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from server.cases.models import Case
from server.core import audit
from server.core.auth import roles_required
from server.core.errors import UNAVAILABLE_DOC, NotFound, problem_docs
from server.extensions import db
from server.visits import access, operations, queries
from server.visits.models import Visit
from server.visits.schemas import VISIT_IN, VisitAnswerOut, body_hash, canonical_body

blp = Blueprint("visits_api", __name__, url_prefix="/api/v1/visits",
                description="Home visits from the tablets: sent once, acknowledged, checked")


def _not_found(case: Case | None, what: str = "case") -> NotFound:
    """404 for a case or visit the caller may not know exists; the attempt is logged."""
    if case is not None:
        db.keep_on_error()
        audit.record(db.session, "access.denied", "case", case.id, case_id=case.id,
                     after={"endpoint": "visits"})
    return NotFound(f"No such {what}.")


def _visible_visit(visit: Visit) -> Visit:
    case = db.session.get(Case, visit.case_id)
    if not access.can_view_visit(db.session, g.user, visit, case):
        raise _not_found(case, "visit")
    return visit


@blp.route("/<uuid:visit_id>")
class VisitResource(MethodView):
    @blp.arguments(VISIT_IN)  # an instance: a class would be built anew, nested schemas and all, per request
    @blp.response(201, VisitAnswerOut, description="A new visit, stored")
    @blp.alt_response(200, schema=VisitAnswerOut, description="The same body again: the stored answer, "
                                                               "nothing written")
    @problem_docs(blp, {
        401: "unauthorized / token-revoked / token-expired",
        403: "forbidden: not an investigator",
        404: "not-found: no such case in the caller's team",
        409: "visit-conflict: a different body for a stored visit (both kept for the office); case-not-visitable: "
             "the case is not in investigating, returned or recheck",
        422: "validation-error naming each bad field (`members.0.id_number`, `investigators.1`, …)",
        503: UNAVAILABLE_DOC,
    })
    @roles_required("investigator")
    def put(self, data, visit_id: uuid.UUID):
        """Send a home visit. Idempotent: the device may resend until it has an answer."""
        session = db.session
        body = canonical_body(data)
        digest = body_hash(body)
        visit = queries.stored_visit(session, visit_id)
        if visit is None:
            case = operations.lock_case(session, data["case_id"])
            if case is None or not access.can_submit_visit(session, g.user, case):
                raise _not_found(case)
            # A concurrent PUT of this visit may have stored it (and moved the case on) while we
            # waited for the case's lock; one storing it after this read meets us at the INSERT.
            visit = queries.stored_visit(session, visit_id)
        try:
            if visit is None:
                try:
                    return operations.receive_visit(session, visit_id, case, data, body, digest, g.user).answer, 201
                except operations.AlreadyReceived as lost:
                    visit = lost.visit
            return operations.resend(session, _visible_visit(visit), body, digest, g.user).answer, 200
        except operations.VisitConflictProblem:
            db.keep_on_error()  # the conflicting body is kept for the office
            raise

    @blp.response(200, VisitAnswerOut)
    @problem_docs(blp, {
        401: "unauthorized / token-revoked / token-expired",
        403: "forbidden: not an investigator, office or county user",
        404: "not-found: no such visit for the caller",
        503: UNAVAILABLE_DOC,
    })
    @roles_required("investigator", "office", "county")
    def get(self, visit_id: uuid.UUID):
        """A visit's status: awaiting photos (and which) or in review, with its flags."""
        visit = db.session.get(Visit, visit_id)
        if visit is None:
            raise NotFound("No such visit.")
        return queries.answer(db.session, _visible_visit(visit))
