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
