"""Browser sign-in and sign-out (session cookie: HttpOnly, SameSite=Lax, CSRF on the form)."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from server.accounts import operations
from server.core.auth import login_required, start_session
from server.core.i18n import N_
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
    start_session(user)  # a fresh session on sign-in: no fixation
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
                           now=utcnow(), done=request.args.get("done"))


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


# --- administration: create, edit, deactivate, reset password ---------------------------

# Messages of accounts.operations, shown translated next to the field.
_OPERATION_MESSAGES = (N_("This username is taken."), N_("Letters, digits, '.', '-' and '_' only, up to 64."),
                       N_("At least 8 characters."), N_("You cannot deactivate yourself."))


def _places():
    from server.cases.access import jurisdiction_subtree
    from server.core.models import Jurisdiction

    return db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.id.in_(jurisdiction_subtree(g.user.jurisdiction_id)))
        .order_by(Jurisdiction.code)).all()


def _user_form_values(target=None) -> dict:
    if request.method == "POST":
        return {"username": request.form.get("username", "").strip(),
                "display_name": request.form.get("display_name", "").strip(),
                "jurisdiction": request.form.get("jurisdiction", ""),
                "roles": request.form.getlist("roles"),
                "phone": request.form.get("phone", "").strip(),
                "id_number": request.form.get("id_number", "").strip().upper()}
    if target is None:
        return {"username": "", "display_name": "", "jurisdiction": str(g.user.jurisdiction_id), "roles": [],
                "phone": "", "id_number": ""}
    # The ID number on file is shown masked beside the field, never put back into it: an
    # empty field keeps it (see _id_number_to_save).
    return {"username": target.username, "display_name": target.display_name,
            "jurisdiction": str(target.jurisdiction_id), "roles": sorted(target.roles), "phone": target.phone or "",
            "id_number": ""}


def _id_number_to_save(target, values: dict) -> str:
    """What the edit form means for the ID number: a new number typed replaces it, the
    "remove" box clears it, an empty field keeps the one on file."""
    if values["id_number"]:
        return values["id_number"]
    if request.form.get("remove_id_number"):
        return ""
    return target.id_number or ""


def _check_user_form(values: dict, places, creating: bool) -> tuple[dict, object]:
    from server.accounts.models import ROLES
    from server.core.validators import parse_id_number

    errors: dict[str, str] = {}
    place = next((p for p in places if str(p.id) == values["jurisdiction"]), None)
    if place is None:
        errors["jurisdiction"] = _("Choose where this person works.")
    if not values["display_name"] or len(values["display_name"]) > 100:
        errors["display_name"] = _("Enter the person's name (up to 100 characters).")
    if not values["roles"] or any(r not in ROLES for r in values["roles"]):
        errors["roles"] = _("Choose at least one role.")
    if values["id_number"]:
        try:
            parse_id_number(values["id_number"])
        except ValueError:
            errors["id_number"] = _("Not a valid 18-character ID number (GB 11643).")
    if len(values["phone"]) > 32:
        errors["phone"] = _("At most 32 characters.")
    if creating:
        password = request.form.get("password", "")
        if len(password) < 8:
            errors["password"] = _("At least 8 characters.")
        elif password != request.form.get("password2", ""):
            errors["password2"] = _("The two passwords differ.")
    return errors, place


def _problem_messages(exc) -> dict[str, str]:
    return {k: " ".join(_(m) for m in v) for k, v in exc.extra.get("errors", {}).items()}


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def user_new():
    from server.accounts.models import ROLES
    from server.core.errors import ValidationProblem

    _admin_only()
    places = _places()
    values = _user_form_values()
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors, place = _check_user_form(values, places, creating=True)
        if not errors:
            try:
                user = operations.create_user(
                    db.session, username=values["username"], display_name=values["display_name"],
                    password=request.form.get("password", ""), roles=values["roles"], jurisdiction=place,
                    actor=g.user, phone=values["phone"] or None, id_number=values["id_number"] or None)
                return redirect(url_for("accounts.user_detail", user_id=user.id), code=303)
            except ValidationProblem as exc:
                errors = _problem_messages(exc)
    return render_template("accounts/user_form.html", values=values, errors=errors, places=places, roles=ROLES,
                           target=None), 422 if errors else 200


@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def user_edit(user_id: int):
    from server.accounts.models import ROLES
    from server.core.errors import ValidationProblem

    _admin_only()
    target = _managed_user(user_id)
    places = _places()
    values = _user_form_values(target)
    values["username"] = target.username  # the username is the person's key in the log: never changed
    errors: dict[str, str] = {}
    if request.method == "POST":
        errors, place = _check_user_form(values, places, creating=False)
        if not errors:
            try:
                operations.update_user(db.session, target, display_name=values["display_name"], roles=values["roles"],
                                       jurisdiction=place, phone=values["phone"],
                                       id_number=_id_number_to_save(target, values), actor=g.user)
                return redirect(url_for("accounts.user_detail", user_id=target.id), code=303)
            except ValidationProblem as exc:
                errors = _problem_messages(exc)
    return render_template("accounts/user_form.html", values=values, errors=errors, places=places, roles=ROLES,
                           target=target), 422 if errors else 200


@bp.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
@login_required
def user_password(user_id: int):
    _admin_only()
    target = _managed_user(user_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = request.form.get("password", "")
        if len(password) < 8:
            errors["password"] = _("At least 8 characters.")
        elif password != request.form.get("password2", ""):
            errors["password2"] = _("The two passwords differ.")
        else:
            operations.set_password(db.session, target, password, g.user)
            return redirect(url_for("accounts.user_detail", user_id=target.id, done="password"), code=303)
    return render_template("accounts/password.html", target=target, errors=errors), 422 if errors else 200


@bp.route("/admin/users/<int:user_id>/deactivate", methods=["POST"])
@login_required
def user_deactivate(user_id: int):
    from server.core.errors import ValidationProblem

    _admin_only()
    target = _managed_user(user_id)
    try:
        operations.deactivate_user(db.session, target, g.user)
    except ValidationProblem:
        return redirect(url_for("accounts.user_detail", user_id=target.id, done="self"), code=303)
    return redirect(url_for("accounts.user_detail", user_id=target.id, done="deactivated"), code=303)


@bp.route("/admin/users/<int:user_id>/reactivate", methods=["POST"])
@login_required
def user_reactivate(user_id: int):
    _admin_only()
    target = _managed_user(user_id)
    operations.reactivate_user(db.session, target, g.user)
    return redirect(url_for("accounts.user_detail", user_id=target.id), code=303)


# --- the relations register (M21 Art 11) -------------------------------------------------


@bp.route("/admin/relations", methods=["GET", "POST"])
@login_required
def relations():
    from server.accounts import relations as register
    from server.accounts.models import RELATIONS, User
    from server.core.errors import ValidationProblem

    _admin_only()
    places = _places()
    place_ids = [p.id for p in places]
    staff = db.session.scalars(sa.select(User).where(User.jurisdiction_id.in_(place_ids), User.active.is_(True))
                               .order_by(User.display_name)).all()
    fields = ("jurisdiction", "staff_user", "staff_name", "staff_role", "relative_name", "relative_id_number",
              "relation")
    values = {k: (request.form.get(k) or "").strip() for k in fields} if request.method == "POST" else {
        k: "" for k in fields}
    errors: dict[str, str] = {}
    if request.method == "POST":
        place = next((p for p in places if str(p.id) == values["jurisdiction"]), None)
        staff_user = next((u for u in staff if str(u.id) == values["staff_user"]), None)
        if place is None:
            errors["jurisdiction"] = _("Choose where this person works.")
        if values["staff_user"] and staff_user is None:
            errors["staff_user"] = _("Choose a staff member from the list.")
        if not errors:
            try:
                _rel, flagged = register.add_relation(
                    db.session, jurisdiction=place, staff_user=staff_user, staff_name=values["staff_name"],
                    staff_role=values["staff_role"], relative_name=values["relative_name"],
                    relative_id_number=values["relative_id_number"], relation=values["relation"], actor=g.user)
                return redirect(url_for("accounts.relations", flagged=len(flagged)), code=303)
            except ValidationProblem as exc:
                errors = {k: " ".join(v) for k, v in exc.extra["errors"].items()}
    return render_template("accounts/relations.html", values=values, errors=errors, places=places, staff=staff,
                           staff_roles=register.STAFF_ROLES, relation_kinds=RELATIONS,
                           rows=register.register(db.session, place_ids),
                           cases=register.related_cases(db.session, place_ids),
                           flagged=request.args.get("flagged")), 422 if errors else 200


@bp.route("/admin/relations/<int:relation_id>/remove", methods=["POST"])
@login_required
def relation_remove(relation_id: int):
    from server.accounts import relations as register
    from server.accounts.models import StaffRelation
    from server.core.errors import NotFound

    _admin_only()
    rel = db.session.get(StaffRelation, relation_id)
    if rel is None or rel.jurisdiction_id not in {p.id for p in _places()}:
        raise NotFound()
    register.remove_relation(db.session, rel, g.user)
    return redirect(url_for("accounts.relations"), code=303)
