"""Office pages of the cases domain: the start page, intake at the counter (register, accept,
refuse), the applications list and the register of staff relatives (M21 Art 11), handing
cases to investigation teams, and what falls due this week.

htmx: one URL, the whole page or only a fragment on HX-Request; every POST answers 303 to a
GET, and every page works with JavaScript off."""
from __future__ import annotations

import re
import uuid

from flask import Blueprint, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.routing import BuildError

from server.accounts.models import Team
from server.cases import access, lifecycle, operations, queries
from server.cases.forms import (ATTACHMENT_KINDS, ATTACHMENT_TYPES, LABELS, MAX_ATTACHMENT_BYTES, IntakeForm,
                                birth_and_sex, id_number_error)
from server.cases.labels import OVERDUE, STATES
from server.cases.lifecycle import local_today
from server.cases.models import Attachment, Case
from server.core import audit
from server.core.auth import login_required, roles_required
from server.core.errors import NotFound, ValidationProblem
from server.core.storage import ObjectMissing, current_store
from server.core.workdays import Calendar
from server.extensions import db, htmx

bp = Blueprint("cases", __name__, template_folder="templates")

OFFICE_ROLES = ("office", "county")  # county: its county's cases, to read

@bp.route("/")
@login_required
def home():
    today = local_today()
    summary = queries.home_summary(db.session, g.user, today)
    return render_template("cases/home.html", summary=summary, today=today)


# --- helpers ---------------------------------------------------------------------------------


@bp.app_template_global("state_name")
def state_name(state: str) -> str:
    """A state's name in the user's language: one lookup, cheap enough for every row of a list."""
    return str(STATES.get(state, state))


@bp.app_template_global("overdue_name")
def overdue_name(code: str) -> str:
    return str(OVERDUE.get(code, code))


@bp.app_template_global("case_url")
def case_url(case_id) -> str:
    """The case file when the review pages provide one, else the application page."""
    try:
        return url_for("review.case_file", case_id=case_id)
    except BuildError:
        return url_for("cases.application", case_id=case_id)


def _visible_case(case_id: uuid.UUID, *, acting: bool = False) -> Case:
    """The case, or 404 for one outside the user's scope (the attempt is logged)."""
    case = db.session.get(Case, case_id)
    allowed = case is not None and (access.can_act_on_case(g.user, case) if acting
                                    else access.can_view_case(g.user, case))
    if not allowed:
        if case is not None:
            db.keep_on_error()
            audit.record(db.session, "access.denied", "case", case.id, case_id=case.id,
                         after={"page": request.path, "method": request.method})
        raise NotFound(_("No such case."))
    return case


def _local_time(value) -> str:
    from zoneinfo import ZoneInfo

    from flask import current_app

    tz = ZoneInfo(current_app.config.get("TIMEZONE", lifecycle.DEFAULT_TIMEZONE))
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# File types by their first bytes: what the browser says is not trusted.
_MAGIC = ((b"%PDF-", "application/pdf"), (b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def _sniff(data: bytes) -> str | None:
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    return None


def _take_files(form: IntakeForm) -> None:
    """Store each uploaded file at once (by content hash) and carry it in the form, so a
    form re-rendered with errors keeps what was attached."""
    kind = request.form.get("attachment_kind", "other")
    kind = kind if kind in ATTACHMENT_KINDS else "other"
    for upload in request.files.getlist("attachments"):
        if not upload or not upload.filename:
            continue
        data = upload.stream.read(MAX_ATTACHMENT_BYTES + 1)
        if len(data) > MAX_ATTACHMENT_BYTES:
            form.error("attachments", _("%(name)s is larger than 10 MB.", name=upload.filename))
            continue
        content_type = _sniff(data)
        if content_type not in ATTACHMENT_TYPES:
            form.error("attachments", _("%(name)s is not a PDF or a picture.", name=upload.filename))
            continue
        sha = operations.store_attachment(data, content_type)
        form.keep_file(sha, upload.filename[:200], content_type, kind)


def _render_intake(form: IntakeForm, status: int = 200, duplicates=None):
    center = queries.community_center(db.session, g.user.jurisdiction_id)
    return render_template("cases/intake.html", form=form, labels=LABELS, attachment_kinds=ATTACHMENT_KINDS,
                           duplicates=duplicates or {}, center=center), status


# --- intake ----------------------------------------------------------------------------------


@bp.route("/applications/new", methods=["GET", "POST"])
@roles_required("office")
def intake():
    if request.method == "GET":
        if htmx and request.args.get("remove_row"):
            return ""  # the row is gone in the browser; nothing to send back
        if htmx and re.fullmatch(r"m-\d{1,4}-id_number", request.args.get("check", "")):
            return _check_id_number(request.args["check"])
        if htmx and request.args.get("add_row") in ("m", "inc", "as"):
            kind = request.args["add_row"]
            form = IntakeForm.from_request(request.args)
            return render_template("cases/_intake_rows.html", form=IntakeForm(), kind=kind,
                                   index=form.next_index(kind), labels=LABELS)
        return _render_intake(IntakeForm.blank())

    form = IntakeForm.from_request(request.form)
    _take_files(form)
    # Without JavaScript the row buttons send the whole form: one row more or less.
    if request.form.get("add_row") in ("m", "inc", "as"):
        form.add_row(request.form["add_row"])
        return _render_intake(form)
    remove = request.form.get("remove_row", "")
    if remove:
        kind, _sep, index = remove.partition("-")
        if kind in ("m", "inc", "as") and index.isdigit():
            form.remove_row(kind, int(index))
        return _render_intake(form)

    existing = _already_registered(form.v("case_id"))
    if existing is not None:
        return existing
    ok = form.validate()
    store = current_store()
    for kept in form.data.get("attachments", []):
        # A file named by an earlier send must really be in the store.
        if not store.exists(operations.attachment_key(kept["sha256"])):
            form.error("attachments", _("%(name)s is missing; attach it again.", name=kept["filename"]))
            ok = False
    if not ok:
        return _render_intake(form, 422)
    duplicates = _duplicates(form)
    if duplicates:
        # The same form sent twice at once: its people are "taken" by the other send's case.
        existing = _already_registered(form.v("case_id"))
        return existing if existing is not None else _render_intake(form, 422, duplicates)
    try:
        with db.session.begin_nested():
            case = operations.register_application(db.session, form.data, g.user, g.user.jurisdiction)
    except (IntegrityError, operations.DuplicatePerson) as exc:
        # The same form sent twice at once: the other send registered it, and this one meets
        # its case id (IntegrityError) or its members (DuplicatePerson), whichever it reaches first.
        existing = _already_registered(form.v("case_id"))
        if existing is not None:
            return existing
        if isinstance(exc, IntegrityError):
            raise
        return _render_intake(form, 409, _duplicates(form))
    flash(_("Application %(number)s registered.", number=case.number), "ok")
    return redirect(url_for("cases.application", case_id=case.id), code=303)


def _check_id_number(field: str):
    """As the ID number is typed: what it says (birth date, sex), or what is wrong with it,
    whether its holder is in another open household, and whether they are a relative of
    staff (M21 Art 11). Nothing is stored."""
    number = request.args.get(field, "").strip().upper()
    name = request.args.get(field.replace("-id_number", "-name"), "").strip() or number
    if not number:
        return ""
    problem = id_number_error(number)
    birth = sex = None
    duplicates, related = [], []
    if problem is None:
        birth, sex = birth_and_sex(number)
        for found in queries.open_memberships(db.session, [number]):
            case = db.session.get(Case, found.case_id)
            duplicates.append({"membership": found, "visible": access.can_view_case(g.user, case)})
        related = queries.staff_relatives_of(db.session, [(number, name)])
    return render_template("cases/_id_check.html", field=field, problem=problem, birth=birth, sex=sex,
                           duplicates=duplicates, related=related)


def _already_registered(case_id: str):
    """A second send of a form that was already registered does nothing again."""
    try:
        cid = uuid.UUID(case_id)
    except ValueError:
        return None
    case = db.session.get(Case, cid)
    if case is None:
        return None
    if not access.can_view_case(g.user, case):
        raise NotFound(_("No such case."))
    flash(_("This application was already registered as %(number)s; nothing was registered twice.",
            number=case.number), "info")
    return redirect(url_for("cases.application", case_id=case.id), code=303)


def _duplicates(form: IntakeForm) -> dict[str, dict]:
    """Members already in another open household, as errors next to their ID numbers."""
    by_number = {m["id_number"]: m["index"] for m in form.data.get("members", [])}
    out: dict[str, dict] = {}
    for found in queries.open_memberships(db.session, list(by_number)):
        field = f"m-{by_number[found.id_number]}-id_number"
        if field in out:
            continue
        case = db.session.get(Case, found.case_id)
        visible = access.can_view_case(g.user, case)
        out[field] = {"membership": found, "visible": visible}
        if visible:
            form.error(field, _("%(name)s already belongs to the open household of %(head)s (case %(number)s).",
                                name=found.member_name, head=found.head_name, number=found.case_number))
        else:
            form.error(field, _("This person already belongs to an open household in another community."))
    if any(f.endswith("-id_number") for f in out):
        applicant = next((m for m in form.data["members"] if m["relation"] == "self"), None)
        if applicant and f"m-{applicant['index']}-id_number" in out:
            form.error("_form", _("This household already has an open case; open it instead of registering again."))
    return out


# --- one application: accept or refuse -------------------------------------------------------


@bp.route("/applications/<uuid:case_id>")
@roles_required(*OFFICE_ROLES)
def application(case_id):
    case = _visible_case(case_id)
    return _render_application(case)


def _render_application(case: Case, status: int = 200, message: str | None = None, errors=None, reason=""):
    today = local_today()
    attachments = queries.attachments_of(db.session, case.id)
    related = queries.related_reasons(db.session, [case.id]).get(case.id, [])
    if status == 200:
        # The ID numbers show masked here; in full only in the case file (its own read).
        audit.record_read(db.session, "case", case.id, ["household.address", "household.phone", "declaration"],
                          case_id=case.id)
    team = db.session.get(Team, case.team_id) if case.team_id else None
    actors = queries.display_names(db.session, {t.actor_id for t in case.transitions if t.actor_id})
    return render_template("cases/application.html", case=case, today=today, attachments=attachments,
                           applied_on=local_today(case.applied_at), team_name=team.name if team else None,
                           actors=actors, local_time=_local_time,
                           related=related, overdue=lifecycle.overdue(case, today), labels=LABELS,
                           may_act=access.can_act_on_case(g.user, case) and g.user.has_role("office"),
                           message=message, errors=errors or {}, reason=reason), status


def _decide(case_id, to_state: str):
    case = _visible_case(case_id, acting=True)
    seen = _int(request.form.get("version"))
    reason = request.form.get("reason", "").strip()
    if case.state == to_state and seen is not None and seen < case.version:
        flash(_("This was already done; nothing was changed twice."), "info")
        return redirect(url_for("cases.application", case_id=case.id), code=303)
    try:
        if to_state == "accepted":
            operations.accept(db.session, case, g.user, seen_version=seen)
            flash(_("Accepted. The investigation must start by %(date)s.", date=case.investigation_due), "ok")
        else:
            if not reason:
                return _render_application(case, 422, errors={"reason": [_("Write the reason the applicant is told.")]},
                                           reason=reason)
            if len(reason) > 2000:
                return _render_application(case, 422, errors={"reason": [_("At most %(n)s characters.", n=2000)]},
                                           reason=reason)
            operations.refuse(db.session, case, g.user, reason, seen_version=seen)
            flash(_("The application was refused."), "ok")
    except (operations.StaleCase, lifecycle.IllegalTransition, StaleDataError):
        # StaleDataError: the same case changed by a request that committed while this one ran.
        db.session.rollback()
        db.session.refresh(case)
        if case.state == to_state:  # the same button, pressed twice at once
            flash(_("This was already done; nothing was changed twice."), "info")
            return redirect(url_for("cases.application", case_id=case.id), code=303)
        return _stale(case, reason)
    except ValidationProblem as exc:
        return _render_application(case, 422, errors=exc.extra.get("errors", {}), reason=reason)
    return redirect(url_for("cases.application", case_id=case.id), code=303)


def _stale(case: Case, reason: str = ""):
    db.session.rollback()
    db.session.refresh(case)
    return _render_application(
        case, 409, reason=reason,
        message=_("This case has changed since you opened the page (it is now: %(state)s). Nothing was changed; "
                  "check it and act again.", state=state_name(case.state)))


@bp.route("/applications/<uuid:case_id>/accept", methods=["POST"])
@roles_required("office")
def accept(case_id):
    return _decide(case_id, "accepted")


@bp.route("/applications/<uuid:case_id>/refuse", methods=["POST"])
@roles_required("office")
def refuse(case_id):
    return _decide(case_id, "rejected")


@bp.route("/applications/<uuid:case_id>/attachments/<int:attachment_id>")
@roles_required(*OFFICE_ROLES)
def attachment(case_id, attachment_id):
    case = _visible_case(case_id)
    row = db.session.get(Attachment, attachment_id)
    if row is None or row.case_id != case.id:
        raise NotFound(_("No such document."))
    try:
        data = current_store().open(operations.attachment_key(row.sha256))
    except ObjectMissing:
        raise NotFound(_("The document's file is missing from the store.")) from None
    audit.record_read(db.session, "attachment", row.id, ["attachment"], case_id=case.id)
    return send_file(data, mimetype=row.content_type, download_name=row.filename, as_attachment=False)


# --- lists -----------------------------------------------------------------------------------

LIST_FILTERS = {
    "waiting": ("application", "accepted"),
    "application": ("application",),
    "accepted": ("accepted",),
    "all": None,
}


@bp.route("/applications")
@roles_required(*OFFICE_ROLES)
def applications():
    related = request.args.get("related") in ("1", "on", "true")
    show = request.args.get("state", "all" if related else "waiting")
    if show not in LIST_FILTERS:
        show = "waiting"
    search = request.args.get("q", "").strip()[:50]
    page = max(1, min(_int(request.args.get("page")) or 1, 10_000))
    size = queries.LIST_LIMIT
    rows, total = queries.office_cases(db.session, g.user, local_today(), states=LIST_FILTERS[show], related=related,
                                       search=search, limit=size, offset=(page - 1) * size)
    pages = max(1, -(-total // size))
    args = {"state": show, "related": 1 if related else None, "q": search or None}
    template = "cases/_application_rows.html" if htmx and not htmx.boosted else "cases/applications.html"
    return render_template(template, rows=rows, total=total, show=show, related=related, filters=LIST_FILTERS,
                           search=search, page=page, pages=pages, args=args)


@bp.route("/assignments", methods=["GET", "POST"])
@roles_required(*OFFICE_ROLES)
def assignments():
    if request.method == "POST":
        return _assign()
    return _render_assignments()


def _render_assignments(status: int = 200, errors=None, selected=(), team_id=None, message=None):
    today = local_today()
    # Waiting: accepted, or due for a re-check with no team yet; held: on a team's tablets.
    waiting, waiting_total = queries.office_cases(db.session, g.user, today, with_team=False,
                                                  states=operations.ASSIGNABLE + operations.REASSIGNABLE)
    held, held_total = queries.office_cases(db.session, g.user, today, states=operations.REASSIGNABLE,
                                            with_team=True)
    teams = queries.teams_for(db.session, g.user)
    return render_template("cases/assignments.html", waiting=waiting, waiting_total=waiting_total, held=held,
                           held_total=held_total, teams=teams, errors=errors or {}, selected=set(selected),
                           team_id=team_id, message=message, may_act=g.user.has_role("office")), status


def _assign():
    if not g.user.has_role("office"):
        raise NotFound(_("No such page."))
    ids = []
    for raw in request.form.getlist("case"):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    team_id = _int(request.form.get("team"))
    errors: dict[str, list[str]] = {}
    if not ids:
        errors["cases"] = [_("Tick at least one case.")]
    team = db.session.get(Team, team_id) if team_id else None
    if team is None or team.community_id != g.user.jurisdiction_id:
        errors["team"] = [_("Choose an investigation team.")]
    if errors:
        return _render_assignments(422, errors, [str(i) for i in ids], team_id)
    # Every case must be in scope before anything is written: a refusal is logged and commits.
    cases = [_visible_case(i, acting=True) for i in ids]
    outcome = {"assigned": 0, "reassigned": 0, "unchanged": 0}
    stale = False
    for case in cases:
        seen = _int(request.form.get(f"version-{case.id}"))
        try:
            outcome[operations.assign(db.session, case, team, g.user, seen_version=seen)] += 1
        except StaleDataError:
            # Another request changed these cases and committed while this one ran.
            db.session.rollback()
            for c in cases:
                db.session.refresh(c)
            if all(c.team_id == team.id and c.state not in operations.ASSIGNABLE for c in cases):
                flash(_("%(assigned)s case(s) assigned and %(reassigned)s reassigned to %(team)s; %(unchanged)s "
                        "already were.", assigned=0, reassigned=0, unchanged=len(cases), team=team.name), "info")
                return redirect(url_for("cases.assignments"), code=303)
            return _render_assignments(409, {str(c.id): [_("Case %(number)s has changed since you opened the page "
                                                           "(it is now: %(state)s).", number=c.number,
                                                           state=state_name(c.state))] for c in cases},
                                       [str(i) for i in ids], team_id,
                                       message=_("Nothing was assigned. Correct the cases marked below and send again."))
        except (operations.StaleCase, lifecycle.IllegalTransition):
            stale = True
            errors[str(case.id)] = [_("Case %(number)s has changed since you opened the page (it is now: %(state)s).",
                                      number=case.number, state=state_name(case.state))]
        except ValidationProblem as exc:
            for key, messages in exc.extra.get("errors", {}).items():
                target = errors.setdefault("team" if key == "team" else str(case.id), [])
                target.extend(m for m in messages if m not in target)
    if errors:
        # All or nothing: the error answer rolls every change of this request back.
        db.session.rollback()
        return _render_assignments(409 if stale else 422, errors, [str(i) for i in ids], team_id,
                                   message=_("Nothing was assigned. Correct the cases marked below and send again."))
    flash(_("%(assigned)s case(s) assigned and %(reassigned)s reassigned to %(team)s; %(unchanged)s already were.",
            team=team.name, **outcome), "ok")
    return redirect(url_for("cases.assignments"), code=303)


@bp.route("/due")
@roles_required(*OFFICE_ROLES)
def due():
    today = local_today()
    items, week_end = queries.due_items(db.session, g.user, today, Calendar.load(db.session))
    return render_template("cases/due.html", items=items, today=today, week_end=week_end)

