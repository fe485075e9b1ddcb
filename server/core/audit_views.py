"""Administration pages of the core: the audit log viewer (filters, before/after, the
hash chain's status, CSV export that is itself audited) and the working-day calendar."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import sqlalchemy as sa
from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from server.accounts import access as accounts_access
from server.cases.lifecycle import local_today
from server.cases.models import Case
from server.core import audit, workdays
from server.core.auth import login_required
from server.core.errors import NotFound
from server.core.models import CalendarDay
from server.core.security import mask_ids
from server.extensions import db

bp = Blueprint("audit_views", __name__, template_folder="templates")

PAGE_SIZE = 100
EXPORT_LIMIT = 100_000


def _admin_only() -> None:
    if not accounts_access.can_manage_users(g.user):
        raise NotFound()  # administration is not advertised to other roles


# --- the audit log ----------------------------------------------------------------------


def _filters(args) -> tuple[dict, dict, list]:
    """The typed filters, their errors, and the WHERE clauses."""
    ev = audit.AuditEvent
    values = {k: (args.get(k) or "").strip() for k in ("person", "case", "action", "from", "to")}
    errors: dict[str, str] = {}
    where: list = []
    if values["person"]:
        where.append(ev.actor_name == values["person"])
    if values["case"]:
        text = values["case"]
        try:
            where.append(ev.case_id == uuid.UUID(text))
        except ValueError:
            case_id = db.session.scalar(sa.select(Case.id).where(Case.number == text))
            if case_id is None:
                errors["case"] = _("No case with this number.")
            else:
                where.append(ev.case_id == case_id)
    if values["action"]:
        where.append(ev.action.startswith(values["action"]) if values["action"].endswith(".")
                     else ev.action == values["action"])
    for key in ("from", "to"):
        if values[key]:
            try:
                day = dt.date.fromisoformat(values[key])
            except ValueError:
                errors[key] = _("A date as YYYY-MM-DD.")
                continue
            # Local days (Asia/Shanghai and the like) to UTC instants.
            start = dt.datetime.combine(day if key == "from" else day + dt.timedelta(days=1), dt.time(),
                                        tzinfo=_tz())
            where.append(ev.at >= start if key == "from" else ev.at < start)
    return values, errors, where


def _tz():
    from zoneinfo import ZoneInfo

    from flask import current_app

    return ZoneInfo(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


@bp.route("/admin/audit")
@login_required
def log():
    _admin_only()
    ev = audit.AuditEvent
    values, errors, where = _filters(request.args)
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    events, total = [], 0
    if not errors:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(ev).where(*where))
        events = db.session.scalars(sa.select(ev).where(*where).order_by(ev.id.desc())
                                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    chain = audit.verify(db.session)
    actions = db.session.scalars(sa.select(ev.action).distinct().order_by(ev.action)).all()
    pages = max(1, -(-total // PAGE_SIZE))
    status = 422 if errors else 200
    return render_template("core/audit.html", values=values, errors=errors, events=events, total=total,
                           page=page, pages=pages, chain=chain, actions=actions, tz=_tz(),
                           pretty=lambda d: mask_ids(json.dumps(d, ensure_ascii=False, indent=1, sort_keys=True))), status


@bp.route("/admin/audit.csv")
@login_required
def export():
    """The filtered range as CSV; the export itself goes into the log (who took what)."""
    _admin_only()
    ev = audit.AuditEvent
    values, errors, where = _filters(request.args)
    if errors:
        return redirect(url_for("audit_views.log", **{k: v for k, v in values.items() if v}), code=303)
    rows = db.session.scalars(sa.select(ev).where(*where).order_by(ev.id).limit(EXPORT_LIMIT)).all()
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads UTF-8 Chinese only with the BOM
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "action", "entity", "entity_id", "case_id", "before", "after", "ip",
                     "hash"])
    for e in rows:
        # ID numbers masked, as on the page: an export leaves the system, the hash still
        # lets the exact row be checked against the log.
        writer.writerow([e.id, e.at.isoformat(), e.actor_name, e.action, e.entity, e.entity_id,
                         e.case_id or "", mask_ids(json.dumps(e.before, ensure_ascii=False)) if e.before is not None else "",
                         mask_ids(json.dumps(e.after, ensure_ascii=False)) if e.after is not None else "", e.ip or "",
                         e.hash])
    audit.record(db.session, "audit.exported", "audit_log", rows[-1].id if rows else 0,
                 after={"filters": {k: v for k, v in values.items() if v}, "rows": len(rows),
                        "first_id": rows[0].id if rows else None, "last_id": rows[-1].id if rows else None})
    stamp = local_today().isoformat()
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})


# --- the working-day calendar -----------------------------------------------------------


@bp.route("/admin/calendar")
@login_required
def calendar():
    _admin_only()
    return redirect(url_for("audit_views.calendar_year", year=local_today().year))


@bp.route("/admin/calendar/<int:year>", methods=["GET", "POST"])
@login_required
def calendar_year(year: int):
    """Public holidays and make-up working days of one year; every deadline counts with them."""
    _admin_only()
    if not 2000 <= year <= 2100:
        raise NotFound()
    values = {"start": "", "end": "", "kind": "holiday", "name": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: (request.form.get(k) or "").strip() for k in values}
        start = _date(values["start"])
        end = _date(values["end"]) if values["end"] else start
        if start is None:
            errors["start"] = _("A date as YYYY-MM-DD.")
        elif start.year != year:
            errors["start"] = _("A day of %(year)s on this page.", year=year)
        if values["end"] and end is None:
            errors["end"] = _("A date as YYYY-MM-DD.")
        if values["kind"] not in ("holiday", "makeup"):
            errors["kind"] = _("Choose holiday or make-up working day.")
        if not errors:
            try:
                workdays.add_days(db.session, start, end, working=values["kind"] == "makeup", name=values["name"],
                                  actor=g.user)
            except workdays.CalendarError as exc:
                errors[exc.field] = exc.message
        if not errors:
            return redirect(url_for("audit_views.calendar_year", year=year), code=303)
    days = db.session.scalars(sa.select(CalendarDay).where(CalendarDay.day >= dt.date(year, 1, 1),
                                                           CalendarDay.day <= dt.date(year, 12, 31))
                              .order_by(CalendarDay.day)).all()
    return render_template("core/calendar.html", year=year, days=days, values=values,
                           errors=errors), 422 if errors else 200


@bp.route("/admin/calendar/<int:year>/<day>/remove", methods=["POST"])
@login_required
def calendar_remove(year: int, day: str):
    _admin_only()
    d = _date(day)
    if d is None or not workdays.remove_day(db.session, d, actor=g.user):
        raise NotFound()
    return redirect(url_for("audit_views.calendar_year", year=year), code=303)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None
