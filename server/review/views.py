"""The office's review: the queue of synced visits (/review), the case file
(/cases/<id>) and the actions on a case. One URL per page, the fragment on an htmx
request; every POST answers 303 to a GET, or re-renders with the errors by the fields."""
from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from server.cases import access
from server.cases.lifecycle import IllegalTransition, TransitionForbidden, allowed_transitions, local_today
from server.cases.models import Case
from server.cases.operations import StaleCase
from server.core import audit
from server.decisions import queries as decision_queries
from server.core.auth import login_required, roles_required
from server.core.errors import Forbidden, NotFound, ValidationProblem
from server.extensions import db, htmx
from server.policy import engine
from server.review import operations, queries
from server.review.labels import translated
from server.review.flags import CODES, flag_text
from server.visits.models import Visit, VisitConflict

bp = Blueprint("review", __name__, template_folder="templates", static_folder="static",
               static_url_path="/review/static")

# What a case-file read shows that is personal (record_read names them).
READ_FIELDS = ["household.address", "household.phone", "members.id_number", "members.health",
               "members.disability_grade", "income", "assets", "testimonies", "photos"]


def _form_id() -> str:
    return secrets.token_urlsafe(12)


def _locale() -> str:
    from flask_babel import get_locale

    return "zh_CN" if get_locale().language == "zh" else "en"


@bp.app_template_filter("local_time")
def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    from zoneinfo import ZoneInfo

    if value is None:
        return ""
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)


# --- the queue ---------------------------------------------------------------------------


def _parse_filter(args) -> tuple[queries.QueueFilter, dict[str, list[str]], dict[str, str]]:
    """The queue's filters from the query string: (filter, errors by field, typed values).
    A bad value is reported by its field and left out of the filter."""
    typed = {k: (args.get(k) or "").strip() for k in ("community", "state", "flag", "investigator", "received_from",
                                                        "received_to", "overdue", "sort", "per_page")}
    errors: dict[str, list[str]] = {}
    values: dict = {}

    def integer(name):
        text = typed[name]
        if not text:
            return None
        if not text.isdigit():
            errors[name] = [_("Choose from the list.")]
            return None
        return int(text)

    def day(name):
        text = typed[name]
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            errors[name] = [_("Enter a date as YYYY-MM-DD.")]
            return None

    values["community_id"] = integer("community")
    values["investigator_id"] = integer("investigator")
    if typed["state"] and typed["state"] not in queries.QUEUE_STATES:
        errors["state"] = [_("Choose from the list.")]
    else:
        values["state"] = typed["state"] or None
    if typed["flag"] and typed["flag"] not in CODES:
        errors["flag"] = [_("Choose from the list.")]
    else:
        values["flag"] = typed["flag"] or None
    values["received_from"] = day("received_from")
    values["received_to"] = day("received_to")
    if values["received_from"] and values["received_to"] and values["received_from"] > values["received_to"]:
        errors["received_to"] = [_("The end comes before the start.")]
        values["received_to"] = None
    values["overdue"] = typed["overdue"] in ("1", "on", "true")
    if typed["sort"] and typed["sort"] not in queries.SORTS:
        errors["sort"] = [_("Choose from the list.")]
    else:
        values["sort"] = typed["sort"] or "waiting"
    per_page = integer("per_page")
    if per_page is not None and not 1 <= per_page <= queries.MAX_PER_PAGE:
        errors["per_page"] = [_("From 1 to %(n)s.", n=queries.MAX_PER_PAGE)]
        per_page = None
    values["per_page"] = per_page or 50
    return queries.QueueFilter(**values), errors, typed


def _row_texts() -> dict[str, str]:
    """The phrases every queue row repeats, translated once for the page (a gettext per
    row and phrase is most of a long page's time); formatted with Jinja's `format`."""
    return {"select_case": _("Select case %(number)s"), "since": _("since %(date)s"), "due_soon": _("due soon"),
            "conflict": _("Conflicting visit versions"), "none": _("none"),
            "sep": "、" if _locale() == "zh_CN" else ", "}


def _prepare_rows(rows: list[queries.QueueRow], today: dt.date) -> None:
    """What each row shows, in local time and the page's language, computed here once."""
    from zoneinfo import ZoneInfo

    tz, locale = ZoneInfo(current_app.config["TIMEZONE"]), _locale()
    for row in rows:
        row.since_local = row.state_changed_at.astimezone(tz).strftime("%Y-%m-%d")
        row.received_local = row.visit_received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") \
            if row.visit_received_at else ""
        row.due_soon = bool(row.case_due and not row.overdue and (row.case_due - today).days <= 7)
        row.flag_lines = [(f.code, f.severity, flag_text(f.code, f.params, locale)) for f in row.flags]


@bp.route("/review")
@roles_required("office", "county")
def queue():
    f, errors, typed = _parse_filter(request.args)
    cursor = request.args.get("after") or None
    today = local_today()
    try:
        page = queries.review_queue(db.session, g.user, f, today, current_app.config["TIMEZONE"], cursor)
    except ValueError:
        errors["after"] = [_("This page link is out of date; start again from the first page.")]
        page = queries.review_queue(db.session, g.user, f, today, current_app.config["TIMEZONE"], None)
    communities, investigators = queries.queue_choices(db.session, g.user)
    _prepare_rows(page.rows, today)
    args = {k: v for k, v in typed.items() if v and k not in errors}
    context = dict(page=page, f=f, typed=typed, errors=errors, communities=communities, investigators=investigators,
                   codes=CODES, states=queries.QUEUE_STATES,
                   state_args={k: v for k, v in args.items() if k != "state"}, sorts=queries.SORTS, today=today, args=args,
                   locale_code=_locale(), flag_text=flag_text, form_id=_form_id(), bulk_actions=operations.BULK_ACTIONS,
                   L=translated("state", "overdue", "flag", "severity", "sort"), T=_row_texts(),
                   cases_prefix=url_for("review.case_file", case_id=uuid.UUID(int=0))[:-36],
                   next_url=url_for("review.queue", **args, after=page.next_cursor) if page.next_cursor else None,
                   first_url=url_for("review.queue", **args) if cursor else None)
    status = 422 if errors else 200
    if htmx and not htmx.boosted:
        return render_template("review/_queue_results.html", **context), status
    return render_template("review/queue.html", **context), status


@bp.route("/review/bulk", methods=["POST"])
@roles_required("office")
def bulk():
    form = request.form
    selected = form.getlist("case")
    action = form.get("action", "")
    reasons = operations.parse_reasons(form.get("reasons"))
    back = form.get("back") or url_for("review.queue")
    if not back.startswith("/review"):
        back = url_for("review.queue")
    if not selected:
        flash(_("Select at least one case first."), "error")
        return redirect(back, code=303)
    items, skipped = [], []
    for value in selected[:queries.MAX_PER_PAGE]:
        case_id, _sep, version = value.partition(":")
        try:
            case = db.session.get(Case, uuid.UUID(case_id))
            seen = int(version)
        except ValueError:
            continue
        if case is None or not access.can_view_case(g.user, case):
            if case is not None:
                audit.record(db.session, "access.denied", "case", case.id, case_id=case.id,
                             after={"page": request.path})
            skipped.append(case_id)
            continue
        if not access.can_act_on_case(g.user, case):
            skipped.append(case.number)
            continue
        items.append((case, seen))
    try:
        results = operations.bulk(db.session, items, action, g.user, reasons, form.get("form_id"))
    except ValidationProblem as exc:
        for messages in exc.extra["errors"].values():
            for m in messages:
                flash(m, "error")
        return redirect(back, code=303)
    done = [r.case.number for r in results if r.ok]
    if done:
        flash(_("%(action)s: %(n)s case(s) — %(numbers)s", action=operations.BULK_ACTIONS[action], n=len(done),
                numbers=", ".join(done)), "ok")
    for r in results:
        if not r.ok:
            flash(_("%(number)s skipped: %(why)s", number=r.case.number, why=r.message), "warn")
    for s in skipped:
        flash(_("%(number)s skipped: not a case you may act on", number=s), "warn")
    return redirect(back, code=303)


# --- the case file -----------------------------------------------------------------------


def _case_or_404(case_id: uuid.UUID, acting: bool = False) -> Case:
    """The case if the user may see it (404 otherwise, the attempt logged); acting on it
    also needs `can_act_on_case` (403, logged)."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(_("No such case."))
    if not access.can_view_case(g.user, case):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "case", case.id, case_id=case.id, after={"page": request.path})
        raise NotFound(_("No such case."))
    if acting and not access.can_act_on_case(g.user, case):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "case", case.id, case_id=case.id,
                     after={"page": request.path, "acting": True})
        raise Forbidden(_("You may see this case but not act on it."))
    return case


def _render_case(case: Case, status: int = 200, errors: dict | None = None, typed: dict | None = None,
                 message: str | None = None, open_form: str | None = None):
    session = db.session
    cf = queries.case_file(session, case, local_today())
    audit.record_read(session, "case", case.id, READ_FIELDS, case_id=case.id)
    if status >= 400:
        db.keep_on_error()  # the read is on record even when the answer is an error
    moves = allowed_transitions(case.state, g.user.roles) if access.can_act_on_case(g.user, case) else []
    if case.state == "submitted" and "in_review" in moves:
        moves = moves + [m for m in allowed_transitions("in_review", g.user.roles) if m not in moves]
    targets = operations.correctable_fields(cf.latest) if cf.latest is not None else []
    map_points = _map_points(cf)
    return render_template(
        "review/case_file.html", cf=cf, case=case, moves=moves, errors=errors or {}, typed=typed or {},
        message=message, open_form=open_form, form_id=_form_id(), locale_code=_locale(), flag_text=flag_text,
        L=translated("state", "overdue", "flag", "severity", "word"),
        targets=targets, shown=operations.shown, label=_label, reason_text=engine.reason_text, map_points=json.dumps(map_points, ensure_ascii=False),
        tile_url=current_app.config.get("MAP_TILE_URL") or "",
        tile_attribution=current_app.config.get("MAP_TILE_ATTRIBUTION") or "",
        overdue=_overdue(case), can_office=g.user.has_role("office") and access.can_act_on_case(g.user, case),
        **decision_queries.case_section(session, case),
    ), status


def _label(group: str, value: str | None) -> str:
    """Income kinds and photo kinds in the words the policy engine and the flags use."""
    from server.review import flags

    if value is None:
        return "—"
    table = engine._LABELS.get(group) or flags._LABELS.get(group) or {}
    return table.get(value, {}).get(_locale(), value)


def _overdue(case: Case) -> list[str]:
    from server.cases.lifecycle import overdue

    return overdue(case, local_today())


def _map_points(cf: queries.CaseFile) -> list[dict]:
    out = []
    p = cf.points.get("household")
    if p:
        out.append({"kind": "household", "lat": p.lat, "lon": p.lon, "label": _("Registered location")})
    for v in cf.visits:
        p = cf.points.get(f"visit:{v.id}")
        if p:
            out.append({"kind": "visit", "lat": p.lat, "lon": p.lon, "accuracy": p.accuracy_m,
                        "label": _("Visit of %(date)s", date=local_time(v.started_at))})
        for ph in v.photos:
            p = cf.points.get(f"photo:{ph.id}")
            if p:
                out.append({"kind": "photo", "lat": p.lat, "lon": p.lon,
                            "label": _("Photo %(sha)s", sha=ph.sha256[:8]),
                            "thumb": url_for("photos.PhotoThumb", sha256=ph.sha256) if ph.sha256 in cf.photos else None})
    return out


@bp.route("/cases/<uuid:case_id>")
@login_required
def case_file(case_id: uuid.UUID):
    case = _case_or_404(case_id)
    return _render_case(case)


def _act(case_id: uuid.UUID, form_name: str, do, success: str):
    """Run one action from the case file: 303 back to it when done (or already done by
    the same form), the page again with a message when the case moved on (409), or with
    the errors by the fields and everything typed kept (422)."""
    case = _case_or_404(case_id, acting=True)
    typed = request.form.to_dict(flat=True)
    typed["chosen"] = request.form.getlist("chosen")
    version = request.form.get("version", "")
    seen = int(version) if version.isdigit() else None
    try:
        do(case, seen, request.form.get("form_id"))
    except operations.AlreadyDone:
        flash(_("That form was already sent; nothing was done twice."), "ok")
        return redirect(url_for("review.case_file", case_id=case.id), code=303)
    except StaleCase:
        db.session.rollback()
        case = db.session.get(Case, case_id)
        return _render_case(case, 409, typed=typed, open_form=form_name, message=_(
            "This case changed since you opened it (someone else acted on it). Nothing was done. "
            "Check the case as it is now and try again."))
    except (IllegalTransition, TransitionForbidden) as exc:
        db.session.rollback()
        case = db.session.get(Case, case_id)
        return _render_case(case, exc.status, typed=typed, open_form=form_name, message=_(
            "This action does not fit the case as it is now. Nothing was done."))
    except ValidationProblem as exc:
        db.session.rollback()
        case = db.session.get(Case, case_id)
        return _render_case(case, 422, errors=exc.extra["errors"], typed=typed, open_form=form_name,
                            message=_("Please correct the marked fields."))
    flash(success, "ok")
    return redirect(url_for("review.case_file", case_id=case.id), code=303)


@bp.route("/cases/<uuid:case_id>/start-review", methods=["POST"])
@roles_required("office")
def start_review(case_id):
    return _act(case_id, "start", lambda case, seen, fid: operations.start_review(db.session, case, g.user, seen, fid),
                _("Review started."))


@bp.route("/cases/<uuid:case_id>/to-panel", methods=["POST"])
@roles_required("office")
def to_panel(case_id):
    return _act(case_id, "panel", lambda case, seen, fid: operations.send_to_panel(db.session, case, g.user, seen, fid),
                _("Sent to the evaluation panel."))


@bp.route("/cases/<uuid:case_id>/return", methods=["POST"])
@roles_required("office")
def return_case(case_id):
    def do(case, seen, fid):
        reasons = operations.parse_reasons(request.form.get("reasons"), request.form.getlist("chosen"))
        operations.return_for_revisit(db.session, case, g.user, reasons, seen, fid)

    return _act(case_id, "return", do, _("Returned to the team for a re-visit; the reasons reach their tablets."))


@bp.route("/cases/<uuid:case_id>/comment", methods=["POST"])
@roles_required("office", "county")
def comment(case_id):
    return _act(case_id, "comment",
                lambda case, seen, fid: operations.add_comment(db.session, case, g.user, request.form.get("text"), fid),
                _("Comment added."))


@bp.route("/cases/<uuid:case_id>/correct", methods=["POST"])
@roles_required("office")
def correct(case_id):
    def do(case, seen, fid):
        visit = db.session.scalar(sa.select(Visit).where(Visit.case_id == case.id)
                                  .order_by(Visit.received_at.desc(), Visit.id).limit(1))
        if visit is None:
            raise ValidationProblem({"field": [_("The case has no visit to correct.")]})
        operations.correct_field(db.session, case, visit, g.user, request.form.get("field"),
                                 request.form.get("value"), request.form.get("reason"), fid)

    return _act(case_id, "correct", do, _("Field corrected; the flags were checked again."))


# --- conflicts ---------------------------------------------------------------------------


def _conflict_or_404(case: Case, conflict_id: int) -> VisitConflict:
    conflict = db.session.get(VisitConflict, conflict_id)
    if conflict is None:
        raise NotFound(_("No such conflict."))
    visit = db.session.get(Visit, conflict.visit_id)
    if visit is None or visit.case_id != case.id:
        raise NotFound(_("No such conflict."))
    return conflict


def _render_conflict(case: Case, conflict: VisitConflict, status=200, errors=None, typed=None, message=None):
    visit = db.session.get(Visit, conflict.visit_id)
    rows = queries.conflict_rows(visit.body, conflict.body)
    sections = queries.conflict_sections(visit.body, conflict.body)
    audit.record_read(db.session, "visit", visit.id, ["body"], case_id=case.id)
    if status >= 400:
        db.keep_on_error()
    return render_template("review/conflict.html", case=case, visit=visit, conflict=conflict, rows=rows,
                           sections=sections, errors=errors or {}, typed=typed or {}, message=message,
                           form_id=_form_id()), status


@bp.route("/cases/<uuid:case_id>/conflicts/<int:conflict_id>", methods=["GET", "POST"])
@roles_required("office")
def conflict(case_id, conflict_id):
    case = _case_or_404(case_id, acting=request.method == "POST")
    conflict = _conflict_or_404(case, conflict_id)
    if request.method == "GET":
        return _render_conflict(case, conflict)
    visit = db.session.get(Visit, conflict.visit_id)
    sections = queries.conflict_sections(visit.body, conflict.body)
    choices = {s: request.form.get(f"choice.{s}", "") for s in sections}
    try:
        resolution = operations.resolve_conflict(db.session, case, conflict, g.user, choices,
                                                 request.form.get("form_id"))
    except (operations.AlreadyDone, operations.ConflictAlreadyResolved):
        db.session.rollback()
        flash(_("This conflict was already resolved; nothing was done twice."), "ok")
        return redirect(url_for("review.case_file", case_id=case_id), code=303)
    except ValidationProblem as exc:
        db.session.rollback()
        case = db.session.get(Case, case_id)
        conflict = db.session.get(VisitConflict, conflict_id)
        return _render_conflict(case, conflict, 422, errors=exc.extra["errors"], typed=request.form.to_dict(),
                                message=_("Please correct the marked fields."))
    labels = {"kept_stored": _("the stored version was kept"), "took_new": _("the received version was taken"),
              "merged": _("the two versions were combined")}
    flash(_("Conflict resolved: %(how)s.", how=labels[resolution]), "ok")
    return redirect(url_for("review.case_file", case_id=case_id), code=303)
