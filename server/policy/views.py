"""Policy administration pages: the versions of each jurisdiction, one version, a new
version with its impact preview, and one household's allowance month by month."""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server.accounts import access as accounts_access
from server.cases.access import jurisdiction_subtree
from server.cases.lifecycle import local_today
from server.cases.models import Case
from server.core.auth import login_required
from server.core.errors import NotFound, ValidationProblem
from server.core.models import Jurisdiction
from server.extensions import db, htmx
from server.policy import engine, form, impact, operations
from server.policy.models import PolicyVersion
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults

CATEGORY_LABELS = {"gain": _l("Gain"), "lose": _l("Lose"), "ineligible": _l("Become ineligible"),
                   "eligible": _l("Newly eligible"), "near_dibao_in": _l("Become near-dibao"),
                   "near_dibao_out": _l("No longer near-dibao")}

bp = Blueprint("policy_admin", __name__, url_prefix="/admin/policy", template_folder="templates")


def _admin_only() -> None:
    if not accounts_access.can_manage_users(g.user):
        raise NotFound()  # administration is not advertised to other roles


def _places() -> list[Jurisdiction]:
    """The jurisdictions this admin makes policy for: its own and every one below it."""
    return db.session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.id.in_(jurisdiction_subtree(g.user.jurisdiction_id)))
        .order_by(Jurisdiction.code)).all()


def _place(place_id) -> Jurisdiction:
    for place in _places():
        if str(place.id) == str(place_id):
            return place
    raise NotFound()


def _status(version: PolicyVersion, versions: list[PolicyVersion], today: dt.date) -> str:
    if version.effective_from > today:
        return "scheduled"
    current = max((v for v in versions if v.jurisdiction_id == version.jurisdiction_id
                   and v.effective_from <= today), key=lambda v: v.effective_from)
    return "in_force" if current.id == version.id else "superseded"


@bp.route("/")
@login_required
def versions():
    _admin_only()
    places = _places()
    ids = {p.id for p in places} | {n.id for n in g.user.jurisdiction.lineage()}
    rows = db.session.scalars(sa.select(PolicyVersion).where(PolicyVersion.jurisdiction_id.in_(ids))
                              .order_by(PolicyVersion.jurisdiction_id, PolicyVersion.effective_from.desc())).all()
    today = local_today()
    return render_template("policy/versions.html", versions=rows, today=today,
                           status={v.id: _status(v, rows, today) for v in rows}, places=places)


def _version(version_id: int) -> PolicyVersion:
    version = db.session.get(PolicyVersion, version_id)
    allowed = {p.id for p in _places()} | {n.id for n in g.user.jurisdiction.lineage()}
    if version is None or version.jurisdiction_id not in allowed:
        raise NotFound()
    return version


@bp.route("/<int:version_id>")
@login_required
def version(version_id: int):
    _admin_only()
    v = _version(version_id)
    doc = merge_defaults(v.settings)
    before = operations.previous_version(db.session, v.jurisdiction, v.effective_from)
    changes = form.changed(merge_defaults(before.settings), doc) if before else {}
    return render_template("policy/version.html", v=v, sections=form.expand(doc), values=form.values_from(doc),
                           before=before, changes=changes, today=local_today(),
                           editable=False, mode_labels=form.MODE_LABELS)


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """GET: the form, filled from the version in force (or ?base=<id>). POST with
    action=preview (or show=<community>:<category>:<page>): the impact preview, nothing
    stored; action=save: the version is created (303 to it) or the form comes back with
    the errors next to the fields and everything typed kept."""
    _admin_only()
    places = _places()
    today = local_today()
    source = request.form if request.method == "POST" else request.args
    place = _place(source.get("jurisdiction") or g.user.jurisdiction_id)
    base_version = None
    if source.get("base"):
        base_version = _version(int(source["base"])) if str(source["base"]).isdigit() else None
    if base_version is None:
        base_version = version_in_force(db.session, place, today)
    base = merge_defaults(base_version.settings) if base_version else dict(DEFAULT_SETTINGS)
    if request.method == "GET":
        first_next_month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        return _form_page(places, place, base_version, form.values_from(base), first_next_month.isoformat(),
                          "", {}, None, None)

    values = form.values_from_form(base, request.form)
    effective_text = request.form.get("effective_from", "").strip()
    note = request.form.get("note", "").strip()
    doc, errors = form.document(base, values)
    effective = _parse_date(effective_text)
    if effective is None:
        errors["effective_from"] = _("Enter the date the version takes effect (YYYY-MM-DD).")
    if len(note) > 2000:
        errors["note"] = _("At most 2000 characters.")
    action = request.form.get("action", "preview")
    shown = request.form.get("show", "")
    if shown:
        action = "preview"
    if errors:
        return _form_page(places, place, base_version, values, effective_text, note, errors, None, None), 422

    settings = PolicySettings.from_dict(doc)
    if action == "save":
        try:
            created = operations.create_version(db.session, place=place, effective_from=effective, settings=doc,
                                                note=note, actor=g.user, today=today)
        except ValidationProblem as exc:
            messages = {k: " ".join(v) for k, v in exc.extra["errors"].items()}
            return _form_page(places, place, base_version, values, effective_text, note, messages, None, None), 422
        return redirect(url_for("policy_admin.version", version_id=created.id), code=303)

    result = impact.compute(db.session, place, settings, effective)
    listing = _listing(result, shown)
    if htmx and request.headers.get("HX-Target") == "impact":
        return render_template("policy/_impact.html", impact=result, listing=listing, categories=impact.CATEGORIES,
                               category_labels=CATEGORY_LABELS)
    return _form_page(places, place, base_version, values, effective_text, note, {}, result, listing)


def _listing(result: impact.Impact, shown: str):
    """The households behind one number of the preview, one page of them."""
    try:
        community_id, category, page = shown.split(":")
        community_id, page = int(community_id), max(1, int(page))
    except ValueError:
        return None
    if category not in impact.CATEGORIES:
        return None
    rows = result.rows(community_id, category)
    pages = max(1, -(-len(rows) // impact.PAGE_SIZE))
    page = min(page, pages)
    community = next(c.community for c in result.communities if c.community.id == community_id)
    return {"community": community, "category": category, "page": page, "pages": pages, "total": len(rows),
            "rows": rows[(page - 1) * impact.PAGE_SIZE: page * impact.PAGE_SIZE]}


def _form_page(places, place, base_version, values, effective_text, note, errors, result, listing):
    base = merge_defaults(base_version.settings) if base_version else dict(DEFAULT_SETTINGS)
    return render_template("policy/new.html", places=places, place=place, base_version=base_version,
                           sections=form.expand(base), values=values, effective_from=effective_text, note=note,
                           errors=errors, impact=result, listing=listing, categories=impact.CATEGORIES,
                           category_labels=CATEGORY_LABELS,
                           mode_labels=form.MODE_LABELS, income_kinds=form.INCOME_KIND_LABELS)


@bp.route("/households/<case_id>")
@login_required
def household(case_id: str):
    """One receiving household's allowance month by month under the versions in force:
    where a new version shows from its effective month on."""
    _admin_only()
    try:
        cid = uuid.UUID(case_id)
    except ValueError:
        raise NotFound() from None
    case = db.session.get(Case, cid)
    allowed = {p.id for p in _places()}
    if case is None or case.community_id not in allowed:
        if case is not None:  # a case outside the admin's county: refused, and on record
            from server.core import audit

            db.keep_on_error()
            audit.record(db.session, "access.denied", "case", case.id, case_id=case.id, after={"page": request.path})
        raise NotFound()
    household_in = impact.household_in(db.session, case)
    today = local_today()
    start = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    months, reasons = [], None
    month = start
    for _i in range(14):
        version = version_in_force(db.session, case.community, month)
        row = {"month": month, "version": version, "allowance": None, "eligible": None}
        if version is not None and household_in is not None:
            try:
                result = engine.evaluate(PolicySettings.from_dict(merge_defaults(version.settings)), household_in,
                                         month)
                row.update(allowance=result.allowance, eligible=result.eligible, near_dibao=result.near_dibao)
                if reasons is None and month >= today.replace(day=1):
                    reasons = [engine.reason_text(r, str(get_locale())) for r in result.reasons]
            except engine.PolicyInputError as exc:
                row["error"] = exc.message
        months.append(row)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return render_template("policy/household.html", case=case, months=months, reasons=reasons)
