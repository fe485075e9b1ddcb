"""Device sign-in for the tablets: POST /api/v1/auth/token, DELETE to revoke."""
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from server.accounts import operations
from server.accounts.schemas import TokenIn, TokenOut
from server.core.auth import login_required
from server.core.errors import UNAVAILABLE_DOC, problem_docs
from server.extensions import db

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Device tokens")


@blp.route("/token")
class TokenResource(MethodView):
    @blp.arguments(TokenIn)
    @blp.response(201, TokenOut)
    @problem_docs(blp, {
        401: "invalid-credentials: wrong username or password",
        403: "account-locked: locked after repeated failures, for a while",
        422: "validation-error naming each bad field",
        503: UNAVAILABLE_DOC,
    })
    def post(self, data):
        """Sign a device in once, online: a bearer token for the API."""
        db.keep_on_error()  # a failed attempt must still count towards the lock-out
        cfg = current_app.config
        user = operations.authenticate(db.session, data["username"], data["password"],
                                       max_failures=cfg["LOGIN_MAX_FAILURES"], lock_minutes=cfg["LOGIN_LOCK_MINUTES"])
        raw, token = operations.issue_token(db.session, user, data["device_name"], cfg["TOKEN_DAYS"])
        j = user.jurisdiction
        return {"token": raw, "expires_at": token.expires_at,
                "user": {"username": user.username, "display_name": user.display_name, "roles": sorted(user.roles),
                         "community": {"code": j.code, "name": j.name, "kind": j.kind}}}

    @blp.response(204)
    @problem_docs(blp, {401: "unauthorized / token-revoked / token-expired: no valid token", 503: UNAVAILABLE_DOC})
    @login_required
    def delete(self):
        """Revoke the caller's own token (sign the device out)."""
        operations.revoke_token(db.session, g.token, g.user)
