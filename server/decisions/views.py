"""The county's decision, the decision letter and re-checks, as pages.

- /decisions: the county's queue of cases in county review, nearest deadline first;
- /decisions/<case>: the case summary and the approve / reject form;
- /decisions/letters/<decision> (and .pdf): the applicant's letter, A4;
- /rechecks: re-checks due and in progress, and the button that starts the due ones;
- /rechecks/<case>: the re-check's outcome (continue / adjust / stop).

Every POST answers 303 to a GET, or the page again with the errors by the fields (422),
or with a message when the case is not where the page thought it was (409); a refused
action changes nothing."""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from pathlib import Path

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from server.cases import access as case_access
from server.cases.lifecycle import IllegalTransition, TransitionForbidden, local_today
from server.cases.models import Case, Decision
from server.cases.operations import StaleCase
from server.core import audit, pdf
from server.core.auth import roles_required
from server.core.errors import Forbidden, NotFound, ValidationProblem
from server.decisions import access, operations, queries
from server.extensions import db
from server.policy import engine
from server.review.labels import translated

bp = Blueprint("decisions", __name__, template_folder="templates", static_folder="static",
               static_url_path="/decisions/static")

# What a decision page shows that is personal (record_read names them).
READ_FIELDS = ["members.health", "members.disability_grade", "members.labour_ability", "income", "assets"]
STATIC = Path(__file__).resolve().parent / "static"


def _locale() -> str:
    return "zh_CN" if get_locale().language == "zh" else "en"


def _form_id() -> str:
    return secrets.token_urlsafe(12)


def month_text(day: dt.date | None) -> str:
    if day is None:
        return "—"
    return f"{day.year}年{day.month}月" if _locale() == "zh_CN" else day.strftime("%B %Y")


def date_text(day: dt.date | None) -> str:
    if day is None:
        return "—"
    return f"{day.year}年{day.month}月{day.day}日" if _locale() == "zh_CN" else f"{day.day} {day.strftime('%B %Y')}"


def reason_line(reason) -> str:
    """An engine reason (or one stored in a Decision's evaluation) in the page's language."""
    if isinstance(reason, dict):
        try:
            return engine.reason_text(engine.Reason(reason["code"], reason.get("params") or {}), _locale())
        except (KeyError, IndexError, ValueError):
            return reason.get("text") or reason.get("code", "")
    return engine.reason_text(reason, _locale())


def income_label(kind: str | None) -> str:
    """An income kind in the words the policy engine's explanations use."""
    if kind is None:
        return "—"
    return engine._LABELS["kind"].get(kind, {}).get(_locale(), kind)


def _common() -> dict:
    return dict(locale_code=_locale(), month=month_text, date_text=date_text, reason_line=reason_line,
                income_label=income_label,
                L=translated("state", "overdue", "word"), outcome_labels=outcome_labels(),
                stability_labels=stability_labels())


def outcome_labels() -> dict[str, str]:
    return {"approved": _("Approved"), "rejected": _("Rejected"), "continued": _("Continued"),
            "adjusted": _("Adjusted"), "stopped": _("Stopped")}


def stability_labels() -> dict[str, str]:
    return {"stable": _("stable"), "unstable": _("unstable")}


def _case_or_404(case_id: uuid.UUID, acting: bool = False) -> Case:
    """The case if the user may see it (404 otherwise, the attempt logged); acting on it
    also needs `access.can_decide` (403, logged)."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(_("No such case."))
    if not case_access.can_view_case(g.user, case):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "case", case.id, case_id=case.id, after={"page": request.path})
        raise NotFound(_("No such case."))
    if acting and not access.can_decide(g.user, case):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "case", case.id, case_id=case.id,
                     after={"page": request.path, "acting": True})
        raise Forbidden(_("You may see this case but not decide on it."))
    return case


def _locked(case_id: uuid.UUID) -> Case:
    """The case again, its row locked until commit: two decisions on one case are made
    one after the other, the second seeing the first."""
    return db.session.get(Case, case_id, with_for_update=True, populate_existing=True)


# --- the county's queue ---------------------------------------------------------------


@bp.route("/decisions")
@roles_required("county")
def queue():
    today = local_today()
    rows, total = queries.county_queue(db.session, g.user, today)
    return render_template("decisions/queue.html", rows=rows, total=total, today=today,
                           shown=len(rows), **_common())


# --- the decision page ----------------------------------------------------------------


def _render_decision(case: Case, status: int = 200, errors: dict | None = None, typed: dict | None = None,
                     message: str | None = None):
    session = db.session
    today = local_today()
    ctx = queries.decision_context(session, case, today)
    audit.record_read(session, "case", case.id, READ_FIELDS, case_id=case.id)
    if status >= 400:
        db.keep_on_error()  # the read is on record even when the answer is an error
    can_decide = case.state == "county_review" and access.can_decide(g.user, case)
    return render_template("decisions/decide.html", ctx=ctx, case=case, errors=errors or {}, typed=typed or {},
                           message=message, form_id=_form_id(), can_decide=can_decide,
                           next_month=operations.first_of_next_month(today), **_common()), status


@bp.route("/decisions/<uuid:case_id>")
@roles_required("county")
def decision_page(case_id: uuid.UUID):
    return _render_decision(_case_or_404(case_id))


def _act(case_id: uuid.UUID, render, do, success: str, back: str):
    """Run one decision form: 303 back to its page when done (or already done by this
    very form); the page again with a message (409) when the case is not where the page
    thought, or with the errors by the fields and everything typed kept (422)."""
    _case_or_404(case_id, acting=True)
    case = _locked(case_id)
    typed = request.form.to_dict(flat=True)
    version = request.form.get("version", "")
    seen = int(version) if version.isdigit() else None

    def again(status, **kw):
        db.session.rollback()
        return render(db.session.get(Case, case_id), status, typed=typed, **kw)

    try:
        do(case, seen, request.form.get("form_id"))
    except operations.AlreadyDone:
        db.session.rollback()
        flash(_("That form was already sent; nothing was done twice."), "ok")
        return redirect(back, code=303)
    except (StaleCase, StaleDataError):
        return again(409, message=_("This case changed since you opened it (someone else acted on it). Nothing was "
                                    "done. Check the case as it is now and try again."))
    except ValidationProblem as exc:
        return again(422, errors=exc.extra["errors"], message=_("Please correct the marked fields."))
    except (operations.NotInCountyReview, operations.NotInRecheck, operations.NoPolicy) as exc:
        return again(exc.status, message=exc.detail)
    except (IllegalTransition, TransitionForbidden) as exc:
        return again(exc.status, message=_("This action does not fit the case as it is now. Nothing was done."))
    flash(success, "ok")
    return redirect(back, code=303)


@bp.route("/decisions/<uuid:case_id>", methods=["POST"])
@roles_required("county")
def decide(case_id: uuid.UUID):
    choice = request.form.get("decision", "")

    def do(case, seen, form_id):
        operations.decide(db.session, case, g.user, choice, request.form.get("reason"),
                          stability=request.form.get("stability"), today=local_today(), seen_version=seen,
                          form_id=form_id)

    success = _("Approved; the payment is scheduled.") if choice == "approve" else _("Rejected; the reason is recorded.")
    return _act(case_id, _render_decision, do, success, url_for("decisions.decision_page", case_id=case_id))


# --- the letter -----------------------------------------------------------------------


def _decision_or_404(decision_id: int) -> tuple[Decision, Case]:
    decision = db.session.get(Decision, decision_id)
    if decision is None:
        raise NotFound(_("No such decision."))
    case = _case_or_404(decision.case_id)
    return decision, case


def _letter_context(decision: Decision) -> dict:
    return dict(letter=queries.letter(db.session, decision), letter_css=(STATIC / "letter.css").read_text("utf-8"),
                **_common())


@bp.route("/decisions/letters/<int:decision_id>")
@roles_required("office", "county")
def letter(decision_id: int):
    decision, _case = _decision_or_404(decision_id)
    return render_template("decisions/letter.html", for_pdf=False, **_letter_context(decision))


@bp.route("/decisions/letters/<int:decision_id>.pdf")
@roles_required("office", "county")
def letter_pdf(decision_id: int):
    decision, case = _decision_or_404(decision_id)
    data = pdf.render_pdf("decisions/letter.html", **_letter_context(decision))
    operations.letter_generated(db.session, decision, pdf.sha256(data), len(data), g.user)
    name = f"decision-{case.number}-{decision.id}.pdf"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


# --- re-checks ------------------------------------------------------------------------


@bp.route("/rechecks")
@roles_required("office", "county")
def rechecks():
    today = local_today()
    q = queries.recheck_queue(db.session, g.user, today)
    return render_template("decisions/rechecks.html", q=q, today=today, form_id=_form_id(),
                           can_start=access.may_start_rechecks(g.user), **_common())


@bp.route("/rechecks/start", methods=["POST"])
@roles_required("office", "county")
def start_rechecks():
    today = local_today()
    started = operations.start_due_rechecks(db.session, today, scope=case_access.case_scope_clause(g.user),
                                            actor=g.user)
    if started:
        flash(_("%(n)s re-check(s) started; the teams' tablets get them at their next sync: %(numbers)s",
                n=len(started), numbers=", ".join(c.number for c in started[:50])
                + (" …" if len(started) > 50 else "")), "ok")
    else:
        flash(_("No re-check is due; nothing was started."), "ok")
    return redirect(url_for("decisions.rechecks"), code=303)


def _render_recheck(case: Case, status: int = 200, errors: dict | None = None, typed: dict | None = None,
                    message: str | None = None):
    session = db.session
    today = local_today()
    ctx = queries.decision_context(session, case, today, recheck=True)
    audit.record_read(session, "case", case.id, READ_FIELDS, case_id=case.id)
    if status >= 400:
        db.keep_on_error()
    can_decide = case.state == "recheck" and access.can_decide(g.user, case)
    first = today.replace(day=1)
    return render_template("decisions/recheck.html", ctx=ctx, case=case, errors=errors or {}, typed=typed or {},
                           message=message, form_id=_form_id(), can_decide=can_decide,
                           next_month=operations.first_of_next_month(today), first_month=first,
                           last_month=operations.add_months(first, operations.MAX_MONTHS_AHEAD),
                           **_common()), status


@bp.route("/rechecks/<uuid:case_id>")
@roles_required("county")
def recheck_page(case_id: uuid.UUID):
    return _render_recheck(_case_or_404(case_id))


@bp.route("/rechecks/<uuid:case_id>", methods=["POST"])
@roles_required("county")
def end_recheck(case_id: uuid.UUID):
    choice = request.form.get("outcome", "")

    def do(case, seen, form_id):
        operations.end_recheck(db.session, case, g.user, choice, request.form.get("reason"),
                               from_month=operations.parse_month(request.form.get("from_month")),
                               stability=request.form.get("stability"), today=local_today(), seen_version=seen,
                               form_id=form_id)

    success = {"continue": _("The allowance continues."), "adjust": _("The allowance is adjusted."),
               "stop": _("The allowance is stopped.")}.get(choice, "")
    return _act(case_id, _render_recheck, do, success, url_for("decisions.recheck_page", case_id=case_id))
