"""GET /api/v1/sync/assignments: the team's cases that changed since the device's cursor."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from server.core import audit
from server.core.auth import roles_required
from server.core.errors import UNAVAILABLE_DOC, ValidationProblem, problem_docs
from server.extensions import db
from server.sync import queries
from server.sync.schemas import AssignmentsArgs, AssignmentsOut

blp = Blueprint("sync_api", __name__, url_prefix="/api/v1/sync", description="What the tablets keep offline")


@blp.route("/assignments")
class Assignments(MethodView):
    @blp.arguments(AssignmentsArgs, location="query", unknown=RAISE)  # webargs would drop unknown query args
    @blp.response(200, AssignmentsOut)
    @problem_docs(blp, {
        401: "unauthorized / token-revoked / token-expired",
        403: "forbidden: not an investigator",
        422: "validation-error: `since` is not a cursor this server gave out, or `limit` is out of range",
        503: UNAVAILABLE_DOC,
    })
    @roles_required("investigator")
    def get(self, args):
        """The caller's team's cases that changed since `since`, in pages of `limit`."""
        since = (args.get("since") or "").strip()
        try:
            cursor = queries.Cursor.decode(since) if since else None
        except queries.BadCursor:
            raise ValidationProblem({"since": ["Not a cursor this server gave out; sync from the start."]}) from None
        page = queries.assignments(db.session, g.user, cursor, args["limit"])
        if page.cases:
            # DESIGN: reading national IDs and health is itself an event; one per answer.
            audit.record(db.session, "read", "sync_assignments", g.token.id if g.get("token") else g.user.id,
                         after={"fields": list(queries.SENSITIVE_FIELDS),
                                "cases": sorted(str(c["id"]) for c in page.cases),
                                "device": g.token.device_name if g.get("token") else None})
        return page
