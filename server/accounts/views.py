"""Browser sign-in and sign-out (session cookie: HttpOnly, SameSite=Lax, CSRF on the form)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from server.accounts import operations
from server.core.auth import login_required
from server.extensions import db

bp = Blueprint("accounts", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    """Only a path on this site: a sign-in link must not send people elsewhere."""
    if not target:
        return url_for("cases.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("cases.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("accounts/login.html", username="", error=None, next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    nxt = request.form.get("next", "")
    if not username or not password:
        return render_template("accounts/login.html", username=username, next=nxt,
                               error=_("Enter your username and password.")), 422
    db.keep_on_error()  # failed attempts count towards the lock-out even though we answer 401
    cfg = current_app.config
    try:
        user = operations.authenticate(db.session, username, password,
                                       max_failures=cfg["LOGIN_MAX_FAILURES"], lock_minutes=cfg["LOGIN_LOCK_MINUTES"])
    except operations.AccountLocked:
        return render_template("accounts/login.html", username=username, next=nxt,
                               error=_("Too many failed sign-ins: this account is locked for a while. Try again later or ask your administrator.")), 403
    except operations.InvalidCredentials:
        return render_template("accounts/login.html", username=username, next=nxt,
                               error=_("Wrong username or password.")), 401
    session.clear()  # a fresh session on sign-in: no fixation
    session.permanent = True
    session["uid"] = user.id
    session["sv"] = user.session_version
    return redirect(_safe_next(nxt), code=303)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    session.clear()
    return redirect(url_for("accounts.login"), code=303)


def _managed_user(user_id: int):
    from server.accounts import access
    from server.accounts.models import User
    from server.core import audit
    from server.core.errors import NotFound

    target = db.session.get(User, user_id)
    if target is None or not access.can_manage(g.user, target):
        if target is not None:
            db.keep_on_error()
            audit.record(db.session, "access.denied", "user", user_id, after={"page": request.path})
        raise NotFound()
    return target


def _admin_only():
    from server.accounts import access
    from server.core.errors import NotFound

    if not access.can_manage_users(g.user):
        raise NotFound()  # administration is not advertised to other roles


@bp.route("/admin/users")
@login_required
def users():
    from server.accounts import queries
    from server.core.db import utcnow

    _admin_only()
    rows = queries.users_under(db.session, g.user)
    tokens = queries.active_token_counts(db.session, [u.id for u in rows], utcnow())
    return render_template("accounts/users.html", users=rows, tokens=tokens)


@bp.route("/admin/users/<int:user_id>")
@login_required
def user_detail(user_id: int):
    from server.accounts import queries
    from server.core.db import utcnow

    _admin_only()
    target = _managed_user(user_id)
    return render_template("accounts/user.html", target=target, tokens=queries.tokens_of(db.session, target),
                           now=utcnow())


@bp.route("/admin/users/<int:user_id>/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(user_id: int, token_id: int):
    from server.accounts.models import DeviceToken
    from server.core.errors import NotFound

    _admin_only()
    target = _managed_user(user_id)
    token = db.session.get(DeviceToken, token_id)
    if token is None or token.user_id != target.id:
        raise NotFound()
    operations.revoke_token(db.session, token, g.user)
    return redirect(url_for("accounts.user_detail", user_id=target.id), code=303)


@bp.route("/admin/users/<int:user_id>/tokens/revoke-all", methods=["POST"])
@login_required
def revoke_all(user_id: int):
    _admin_only()
    target = _managed_user(user_id)
    operations.revoke_all_tokens(db.session, target, g.user)
    return redirect(url_for("accounts.user_detail", user_id=target.id), code=303)
