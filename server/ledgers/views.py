"""Ledgers and exports (payment list, active households, visits as GeoJSON) and the county dashboard.

Pages for the community office (its community) and the county (its communities, one at a
time on request): the monthly payment list, the ledger of active households, the
dashboard, and their exports. Every export is on the audit log (who, what, the filter and
the number of rows). An investigator, panel member or administrator gets a 403; a
community outside the user's slice, a 404 (logged)."""
from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server.cases.labels import OVERDUE, STATES
from server.cases.lifecycle import local_today
from server.core import audit
from server.core.auth import roles_required
from server.core.db import sqlite_begin
from server.core.errors import NotFound, ValidationProblem
from server.core.workdays import Calendar
from server.extensions import db, htmx
from server.ledgers import access, charts, exports, queries

bp = Blueprint("ledgers", __name__, template_folder="templates", static_folder="static",
               static_url_path="/ledgers/static")

TOPUPS = {
    "topup_class_a": _l("Class A"), "topup_class_b": _l("Class B"), "topup_elderly": _l("Elderly"),
    "topup_severe_disability": _l("Severe disability"), "topup_serious_illness": _l("Serious illness"),
    "topup_student": _l("Student"), "topup_single_parent": _l("Single parent"),
}
STABILITY = {"stable": _l("Stable"), "unstable": _l("Unstable")}
VISIT_KINDS = {"initial": _l("first visit"), "revisit": _l("re-visit"), "recheck": _l("re-check")}


def _locale() -> str:
    from flask_babel import get_locale

    return "zh_CN" if get_locale().language == "zh" else "en"


def _labels() -> dict:
    """The code tables, translated once for the page."""
    return {"state": {k: str(v) for k, v in STATES.items()}, "overdue": {k: str(v) for k, v in OVERDUE.items()},
            "topup": {k: str(v) for k, v in TOPUPS.items()}, "stability": {k: str(v) for k, v in STABILITY.items()},
            "kind": {k: str(v) for k, v in VISIT_KINDS.items()},
            "share": {"municipal": _("Municipal"), "district": _("District"), "county": _("County"),
                      "province": _("Province"), "city": _("City")}}


def _scope() -> access.Scope:
    """The user's ledger scope, narrowed to ?community= when given; a community outside
    it is a 404, and the attempt is logged."""
    asked = request.args.get("community")
    try:
        return access.scope_for(db.session, g.user, asked)
    except access.OutOfScope:
        db.keep_on_error()
        audit.record(db.session, "access.denied", "jurisdiction", (asked or "")[:64], after={"page": request.path})
        raise NotFound(_("No such community.")) from None


def _month(errors: dict) -> dt.date:
    text = (request.args.get("month") or "").strip()
    if not text:
        return queries.first_of_month(local_today())
    try:
        return queries.parse_month(text)
    except ValueError:
        errors["month"] = [_("Enter a month as YYYY-MM.")]
        return queries.first_of_month(local_today())


def _page() -> int:
    text = request.args.get("page", "")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def _per_page(errors: dict) -> int:
    text = (request.args.get("per_page") or "").strip()
    if not text:
        return 50
    if not text.isdigit() or not 1 <= int(text) <= queries.MAX_PER_PAGE:
        errors["per_page"] = [_("From 1 to %(n)s.", n=queries.MAX_PER_PAGE)]
        return 50
    return int(text)


def _args(**extra) -> dict:
    """The page's filters, for links (pages, exports)."""
    out = {k: v for k in ("month", "community", "per_page", "from", "to", "kind")
           if (v := (request.args.get(k) or "").strip())}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _community_name(scope: access.Scope) -> dict[int, str]:
    return {c.id: c.label(_locale()) for c in scope.communities}


def _render(template: str, fragment: str, status: int = 200, **context):
    if htmx and not htmx.boosted:
        return render_template(fragment, **context), status
    return render_template(template, **context), status


# --- pages --------------------------------------------------------------------------------


@bp.route("/ledgers")
@roles_required(*access.LEDGER_ROLES)
def index():
    scope = _scope()
    return render_template("ledgers/index.html", scope=scope, L=_labels(),
                           month_text=queries.first_of_month(local_today()).strftime("%Y-%m"))


@bp.route("/ledgers/payments")
@roles_required(*access.LEDGER_ROLES)
def payments():
    scope = _scope()
    errors: dict = {}
    month = _month(errors)
    per_page = _per_page(errors)
    pl = queries.payment_list(db.session, scope, month, _page(), per_page)
    args = _args()
    return _render("ledgers/payments.html", "ledgers/_payments_results.html", 422 if errors else 200,
                   pl=pl, scope=scope, errors=errors, typed=request.args, L=_labels(), args=args,
                   names=_community_name(scope), month_text=month.strftime("%Y-%m"),
                   page_url=lambda p: url_for("ledgers.payments", **{**args, "page": p}))


@bp.route("/ledgers/active")
@roles_required(*access.LEDGER_ROLES)
def active():
    scope = _scope()
    errors: dict = {}
    per_page = _per_page(errors)
    today = local_today()
    led = queries.ledger(db.session, scope, today, _page(), per_page)
    args = _args()
    return _render("ledgers/active.html", "ledgers/_active_results.html", 422 if errors else 200,
                   led=led, scope=scope, errors=errors, typed=request.args, L=_labels(), args=args, today=today,
                   names=_community_name(scope),
                   page_url=lambda p: url_for("ledgers.active", **{**args, "page": p}))


@bp.route("/dashboard")
@roles_required(*access.LEDGER_ROLES)
def dashboard():
    scope = _scope()
    today = local_today()
    tz = current_app.config["TIMEZONE"]
    d = queries.dashboard(db.session, scope, today, Calendar.load(db.session), tz)
    L = _labels()
    state_chart = charts.hbar([(L["state"][s], n, str(n)) for s, n in d.by_state.items()])
    step_chart = charts.hbar([(L["state"][s.state], s.average_wd, f"{s.average_wd}") for s in d.steps])
    overdue_chart = charts.hbar([(L["overdue"][k], n, str(n)) for k, n in d.overdue.items()])
    month_chart = charts.columns([(m.month.strftime("%Y-%m"), [m.approved, m.stopped]) for m in d.months],
                                 [_("Approved"), _("Stopped")], width=960)
    return _render("ledgers/dashboard.html", "ledgers/_dashboard_body.html", d=d, scope=scope, L=L,
                   typed=request.args, state_chart=state_chart, step_chart=step_chart, overdue_chart=overdue_chart,
                   month_chart=month_chart,
                   receiving=sum(d.by_state[s] for s in ("active", "adjusted", "recheck")),
                   overdue_total=sum(d.overdue.values()))


# --- exports ------------------------------------------------------------------------------


def _money_columns(share_names: list[str], L: dict) -> list[exports.Column]:
    return [exports.Column(L["share"].get(name, name), (lambda r, name=name: r.shares.get(name)), "money", 12)
            for name in share_names]


def _payment_columns(share_names: list[str], names: dict[int, str], L: dict) -> list[exports.Column]:
    C = exports.Column
    return [
        C(_("Case number"), lambda r: r.number, width=18),
        C(_("Community"), lambda r: names.get(r.community_id, ""), width=14),
        C(_("Head of household"), lambda r: r.head_name, width=12),
        C(_("ID number"), lambda r: r.id_masked, width=21),
        C(_("Household size"), lambda r: r.size, "int", 8),
        C(_("Class A members"), lambda r: r.class_a, "int", 8),
        C(_("Class B members"), lambda r: r.class_b, "int", 8),
        C(_("Base allowance"), lambda r: r.base, "money", 12),
        C(_("Top-ups"), lambda r: r.topups, "money", 12),
        C(_("Monthly amount"), lambda r: r.amount, "money", 12),
        *_money_columns(share_names, L),
        C(_("Paid from"), lambda r: r.payment_from, "date", 11),
    ]


def _export_response(built: exports.Built, filename: str, what: str, fmt: str, filters: dict):
    # Who and when are the event's own; what, the filter and the row count are its content.
    audit.record(db.session, "export", "export", what, after={"what": what, "format": fmt, "filter": filters,
                                                             "rows": built.rows})
    response = send_file(built.file, mimetype=built.mimetype, as_attachment=True, download_name=filename,
                         max_age=0)
    response.headers["Cache-Control"] = "no-store"  # personal data: no copies in caches
    return response


def _slug(scope: access.Scope) -> str:
    return f"-{scope.chosen.id}" if scope.chosen else ""


@contextlib.contextmanager
def _reading():
    """On SQLite, build a long export in a read transaction (a deferred BEGIN): the
    request's usual BEGIN IMMEDIATE would hold the write lock, and every tablet's sync
    with it, for as long as the file takes. The request has written nothing yet, so its
    transaction so far is ended first; the audit entry is written after, in a new one."""
    if db.dialect != "sqlite":
        yield
        return
    db.session.rollback()
    token = sqlite_begin.set("BEGIN")
    try:
        yield
        db.session.rollback()  # ends the read transaction: nothing in it to keep
    finally:
        sqlite_begin.reset(token)


def _counted(batches, totals: queries.Totals):
    """The batches, adding each into `totals` as it passes (the totals row is the sum of
    the rows written, so it cannot disagree with them)."""
    for batch in batches:
        queries.add_totals(totals, batch)
        yield batch


def _build(fmt: str, columns, batches, totals_row, sheet: str, period: str, scope: access.Scope) -> exports.Built:
    if fmt == "xlsx":
        return exports.xlsx(columns, batches, totals_row, sheet, _("About"), _about(scope, period))
    return exports.csv_file(columns, batches, totals_row)


@bp.route("/ledgers/payments.xlsx", defaults={"fmt": "xlsx"})
@bp.route("/ledgers/payments.csv", defaults={"fmt": "csv"})
@roles_required(*access.LEDGER_ROLES)
def payments_export(fmt: str):
    scope = _scope()
    errors: dict = {}
    month = _month(errors)
    if errors:
        raise ValidationProblem(errors)
    month_text = month.strftime("%Y-%m")
    t = queries.Totals()

    def totals_row():
        return [_("Total: %(n)s households", n=t.households), None, None, None, t.persons, None, None, t.base,
                t.topups, t.amount, *[t.shares.get(n) for n in share_names], None]

    with _reading():
        share_names, batches = queries.payment_rows_all(db.session, scope, month)
        t.shares = {n: queries.ZERO for n in share_names}
        columns = _payment_columns(share_names, _community_name(scope), _labels())
        built = _build(fmt, columns, _counted(batches, t), totals_row, _("Payment list") + " " + month_text,
                       month_text, scope)
    filters = {"month": month_text, **scope.describe()}
    return _export_response(built, f"payment-list-{month_text}{_slug(scope)}.{fmt}", "payment_list", fmt, filters)


@bp.route("/ledgers/active.xlsx", defaults={"fmt": "xlsx"})
@bp.route("/ledgers/active.csv", defaults={"fmt": "csv"})
@roles_required(*access.LEDGER_ROLES)
def active_export(fmt: str):
    scope = _scope()
    L = _labels()
    names = _community_name(scope)
    today = local_today()
    sep = "、" if _locale() == "zh_CN" else ", "
    C = exports.Column
    columns = [
        C(_("Case number"), lambda r: r.number, width=18),
        C(_("Community"), lambda r: names.get(r.community_id, ""), width=14),
        C(_("Head of household"), lambda r: r.head_name, width=12),
        C(_("ID number"), lambda r: r.id_masked, width=21),
        C(_("Household size"), lambda r: r.size, "int", 8),
        C(_("Class A members"), lambda r: r.class_a, "int", 8),
        C(_("Class B members"), lambda r: r.class_b, "int", 8),
        C(_("Top-up kinds"), lambda r: sep.join(L["topup"].get(c, c) for c in r.topup_codes), width=24),
        C(_("Top-ups"), lambda r: r.topups, "money", 12),
        C(_("Monthly amount"), lambda r: r.amount, "money", 12),
        C(_("Receiving since"), lambda r: r.since, "date", 11),
        C(_("Next re-check due"), lambda r: r.next_recheck_due, "date", 11),
        C(_("Stability"), lambda r: L["stability"].get(r.stability, r.stability or ""), width=9),
        C(_("State"), lambda r: L["state"].get(r.state, r.state), width=10),
    ]
    t = queries.Totals()

    def totals_row():
        return [_("Total: %(n)s households", n=t.households), None, None, None, t.persons, None, None, None, t.topups,
                t.amount, None, None, None, None]

    with _reading():
        batches = _counted(queries.ledger_rows_all(db.session, scope), t)
        built = _build(fmt, columns, batches, totals_row, _("Active households"), today.isoformat(), scope)
    filters = {"on": today.isoformat(), **scope.describe()}
    return _export_response(built, f"active-households-{today.isoformat()}{_slug(scope)}.{fmt}", "active_households",
                            fmt, filters)


def _day(name: str, errors: dict) -> dt.date | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = [_("Enter a date as YYYY-MM-DD.")]
        return None


@bp.route("/ledgers/visits.geojson")
@roles_required(*access.LEDGER_ROLES)
def visits_export():
    scope = _scope()
    errors: dict = {}
    since, until = _day("from", errors), _day("to", errors)
    kind = (request.args.get("kind") or "").strip() or None
    if kind is not None and kind not in VISIT_KINDS:
        errors["kind"] = [_("Choose from the list.")]
    if since and until and since > until:
        errors["to"] = [_("The end comes before the start.")]
    if errors:
        raise ValidationProblem(errors)
    tz = current_app.config["TIMEZONE"]
    f = queries.VisitFilter(since=since, until=until, kind=kind)
    with _reading():
        built = exports.geojson(queries.visit_points(db.session, scope, f, tz), ZoneInfo(tz))
    filters = {"from": since, "to": until, "kind": kind, **scope.describe()}
    return _export_response(built, f"visits{_slug(scope)}.geojson", "visits", "geojson", filters)


def _about(scope: access.Scope, period: str) -> list[tuple[str, str]]:
    return [(_("Period"), period),
            (_("Community"), scope.chosen.label(_locale()) if scope.chosen else _("All communities in scope")),
            (_("Exported by"), g.user.display_name),
            (_("Exported at"), dt.datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y-%m-%d %H:%M")),
            (_("ID numbers"), _("masked"))]
