"""Public notice (printable and at /notices, no sign-in) and objections.

- `/notices`: anyone; the notices up today in a chosen community, the three public fields
  only (M21 Art 19, 24), cacheable.
- `/publicity…`: the community office (and the county, reading): its notices with dates
  and objections, one notice with its objections, the objection and answer forms, the
  end of posting, and the print batch as A4 HTML and PDF (one template for both).

Every POST answers 303 to a GET, or the page again with the errors by the fields and the
typed values kept (422), or a message when the action no longer fits (409).
"""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from flask import (Blueprint, Response, abort, flash, g, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from server.cases.labels import STATES
from server.cases.lifecycle import IllegalTransition, TransitionForbidden, local_today
from server.cases.models import Case
from server.core import audit
from server.core.auth import roles_required
from server.core.errors import Forbidden, NotFound, Problem, ValidationProblem
from server.core.models import Jurisdiction
from server.extensions import db
from server.publicity import access, operations, queries
from server.publicity.models import CHANNELS, RESOLUTIONS, Notice, Objection

bp = Blueprint("publicity", __name__, template_folder="templates", static_folder="static",
               static_url_path="/publicity/static")

PUBLIC_MAX_AGE = 300  # seconds: a notice board, not a ticker; a new post shows within five minutes
CHANNEL_LABELS = {"in_person": _l("in person"), "phone": _l("by phone"), "letter": _l("by letter"),
                  "online": _l("online")}
RESOLUTION_LABELS = {"reinvestigate": _l("Re-investigation"), "return_to_panel": _l("Return to the panel"),
                     "dismissed": _l("Dismissed")}
NOTICE_STATE_LABELS = {"posted": _l("Posted"), "ended": _l("Ended, sent to the county"),
                       "withdrawn": _l("Withdrawn after an objection")}
READ_FIELDS = ["objections.objector_name", "objections.contact", "objections.content"]
_PRINT_CSS = Path(__file__).parent / "static" / "print.css"


def _form_id() -> str:
    return secrets.token_urlsafe(12)


def _locale() -> str:
    from flask_babel import get_locale

    return "zh_CN" if get_locale().language == "zh" else "en"


def _labels() -> dict:
    return {"channel": {k: str(v) for k, v in CHANNEL_LABELS.items()},
            "resolution": {k: str(v) for k, v in RESOLUTION_LABELS.items()},
            "notice": {k: str(v) for k, v in NOTICE_STATE_LABELS.items()},
            "state": {k: str(v) for k, v in STATES.items()}}


def place_name(j: Jurisdiction | None) -> str:
    if j is None:
        return ""
    return j.name if _locale() == "zh_CN" or not j.name_en else j.name_en


@bp.app_template_filter("yuan")
def yuan(value) -> str:
    """Money as the notice prints it: two decimals, no grouping (¥ is in the heading)."""
    return "" if value is None else f"{value:.2f}"


# --- the public page ----------------------------------------------------------------------


@bp.route("/notices")
def public():
    """The notices up today, by community. No sign-in, no personal data beyond the three
    public fields; the same answer for everyone, so caches may keep it."""
    today = local_today()
    communities = queries.public_communities(db.session, today)
    code = (request.args.get("community") or "").strip()
    chosen, notices = None, []
    if code:
        chosen = next((c for c in communities if c.code == code), None)
        if chosen is None:
            abort(404)
        notices = queries.public_notices(db.session, chosen.id, today)
    html = render_template("publicity/public.html", communities=communities, chosen=chosen, notices=notices,
                           today=today, locale_code=_locale(), place=_public_place)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    # The language comes from ?lang or its cookie (or a signed-in user's setting).
    response.vary.add("Cookie")
    response.add_etag()
    return response.make_conditional(request)


def _public_place(row) -> str:
    return row.name if _locale() == "zh_CN" or not row.name_en else row.name_en


# --- the office: finding a notice ---------------------------------------------------------


def _deny(entity: str, entity_id, case_id=None, acting: bool = False) -> None:
    db.keep_on_error()
    audit.record(db.session, "access.denied", entity, entity_id, case_id=case_id,
                 after={"page": request.path, **({"acting": True} if acting else {})})


def _notice_or_404(notice_id: int, acting: bool = False) -> tuple[Notice, Case]:
    """The notice if the user may see its case (404 otherwise, logged); acting on it also
    needs the office's right to act on the case (403, logged)."""
    notice = db.session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(_("No such notice."))
    case = db.session.get(Case, notice.case_id)
    if not access.can_view_notice(g.user, case):
        _deny("notice", notice.id, case.id)
        raise NotFound(_("No such notice."))
    if acting and not access.can_act_on_notice(g.user, case):
        _deny("notice", notice.id, case.id, acting=True)
        raise Forbidden(_("You may see this notice but not act on it."))
    return notice, case


def _community_or_404(value: str | None) -> tuple[Jurisdiction, list[Jurisdiction]]:
    """The community asked for (by id), or the user's first; 404 when not theirs."""
    choices = access.community_choices(db.session, g.user)
    if not choices:
        raise NotFound(_("You have no community whose notices you may see."))
    if not value:
        own = next((c for c in choices if c.id == g.user.jurisdiction_id), None)
        return own or choices[0], choices
    chosen = next((c for c in choices if str(c.id) == value.strip()), None)
    if chosen is None:
        _deny("jurisdiction", value.strip()[:64])
        raise NotFound(_("No such community."))
    return chosen, choices


# --- the office: the community's notices ----------------------------------------------------


@bp.route("/publicity")
@roles_required("office", "county")
def office_list():
    community, choices = _community_or_404(request.args.get("community"))
    state = request.args.get("state") or ""
    if state not in queries.NOTICE_STATES:
        state = ""
    today = local_today()
    rows = queries.office_notices(db.session, community.id, state or None)
    finished = [r for r in queries.office_notices(db.session, community.id, "posted") if r.finished(today)]
    return render_template("publicity/office_list.html", community=community, choices=choices, rows=rows,
                           state=state, counts=queries.state_counts(db.session, community.id), today=today,
                           finished=finished, L=_labels(), place=place_name, form_id=_form_id(),
                           can_act=g.user.has_role("office") and community.id == g.user.jurisdiction_id)


@bp.route("/publicity/end-finished", methods=["POST"])
@roles_required("office")
def end_finished():
    community, _choices = _community_or_404(request.form.get("community"))
    back = url_for("publicity.office_list", community=community.id)
    if community.id != g.user.jurisdiction_id:
        _deny("jurisdiction", community.id, acting=True)
        raise Forbidden(_("Only the community's own office sends its notices to the county."))
    try:
        ended = operations.end_finished_postings(db.session, local_today(), g.user, community.id)
    except (Problem, StaleDataError):
        db.session.rollback()
        flash(_("A case changed while this ran; nothing was sent. Try again."), "error")
        return redirect(back, code=303)
    if ended:
        numbers = [db.session.get(Case, n.case_id).number for n in ended]
        flash(_("Sent to the county: %(n)s case(s) — %(numbers)s", n=len(ended), numbers=", ".join(numbers)), "ok")
    else:
        flash(_("No posting is finished and free of objections; nothing was sent."), "warn")
    return redirect(back, code=303)


# --- the office: one notice ---------------------------------------------------------------


def _render_notice(notice: Notice, case: Case, status: int = 200, errors: dict | None = None,
                   typed: dict | None = None, message: str | None = None, open_form: str | None = None):
    nf = queries.notice_file(db.session, notice)
    if nf.objections:
        # Who objected and how to reach them is personal: reading it is on record.
        audit.record_read(db.session, "notice", notice.id, READ_FIELDS, case_id=case.id)
        if status >= 400:
            db.keep_on_error()
    today = local_today()
    return render_template(
        "publicity/notice.html", nf=nf, notice=notice, case=case, today=today, errors=errors or {},
        typed=typed or {}, message=message, open_form=open_form, form_id=_form_id(), L=_labels(),
        channels=CHANNELS, resolutions=RESOLUTIONS, place=place_name,
        can_act=access.can_act_on_notice(g.user, case),
        in_period=notice.state == "posted" and notice.posted_from <= today <= notice.posted_until
        and case.state in queries.PUBLIC_CASE_STATES,
        finished=notice.state == "posted" and notice.posted_until < today and case.state == "publicity"
        and not nf.open_objections,
    ), status


@bp.route("/publicity/notices/<int:notice_id>")
@roles_required("office", "county")
def notice_page(notice_id: int):
    notice, case = _notice_or_404(notice_id)
    return _render_notice(notice, case)


def _act(notice_id: int, form_name: str, do, success: str):
    """Run one action from a notice's page (see the module's docstring)."""
    notice, case = _notice_or_404(notice_id, acting=True)
    typed = request.form.to_dict(flat=True)
    try:
        do(notice, case, request.form.get("form_id"))
    except operations.AlreadyDone:
        db.session.rollback()
        flash(_("That form was already sent; nothing was done twice."), "ok")
        return redirect(url_for("publicity.notice_page", notice_id=notice_id), code=303)
    except ValidationProblem as exc:
        db.session.rollback()
        notice, case = _notice_or_404(notice_id)
        return _render_notice(notice, case, 422, errors=exc.extra["errors"], typed=typed, open_form=form_name,
                              message=_("Please correct the marked fields."))
    except (IllegalTransition, TransitionForbidden, StaleDataError, Problem) as exc:
        db.session.rollback()
        notice, case = _notice_or_404(notice_id)
        detail = getattr(exc, "detail", None) if isinstance(exc, (operations.ObjectionNotAllowed,
                                                                  operations.ObjectionAnswered,
                                                                  operations.PostingNotFinished)) else None
        status = exc.status if isinstance(exc, Problem) else 409
        text = _("This action does not fit the notice as it is now (someone may have acted on it). Nothing was done.")
        return _render_notice(notice, case, status, typed=typed, open_form=form_name,
                              message=f"{text} {detail}" if detail else text)
    flash(success, "ok")
    return redirect(url_for("publicity.notice_page", notice_id=notice_id), code=303)


@bp.route("/publicity/notices/<int:notice_id>/objections", methods=["POST"])
@roles_required("office")
def record_objection(notice_id: int):
    def do(notice, case, form_id):
        f = request.form
        operations.record_objection(db.session, notice, g.user, channel=f.get("channel"), content=f.get("content"),
                                    objector_name=f.get("objector_name"), contact=f.get("contact"), form_id=form_id)

    return _act(notice_id, "object", do,
                _("Objection recorded; the case waits until every objection is answered."))


@bp.route("/publicity/objections/<int:objection_id>/answer", methods=["POST"])
@roles_required("office")
def answer_objection(objection_id: int):
    objection = db.session.get(Objection, objection_id)
    if objection is None:
        raise NotFound(_("No such objection."))

    def do(notice, case, form_id):
        operations.answer_objection(db.session, db.session.get(Objection, objection_id), g.user,
                                    resolution=request.form.get("resolution"), response=request.form.get("response"),
                                    form_id=form_id)

    return _act(objection.notice_id, f"answer-{objection_id}", do, _("Objection answered."))


@bp.route("/publicity/notices/<int:notice_id>/end", methods=["POST"])
@roles_required("office")
def end_posting(notice_id: int):
    notice, case = _notice_or_404(notice_id, acting=True)
    if notice.state == "ended":  # the same button twice
        flash(_("This notice was already sent to the county."), "ok")
        return redirect(url_for("publicity.notice_page", notice_id=notice_id), code=303)
    return _act(notice_id, "end", lambda n, c, fid: operations.end_posting(db.session, n, g.user),
                _("Posting ended; the case went to the county for its decision."))


# --- printing -----------------------------------------------------------------------------


def _print_context(community: Jurisdiction, notices: list[Notice], today: dt.date) -> dict:
    contact = (request.args.get("contact") or "").strip()[:200]
    return dict(community=community, notices=notices, today=today, contact=contact, place=place_name,
                office_name=_("%(community)s Residents' Committee", community=place_name(community)),
                print_css=_PRINT_CSS.read_text(encoding="utf-8"),
                periods=sorted({(n.posted_from, n.posted_until) for n in notices}))


def _printed(context: dict, pdf: bool, entity: str, entity_id, case_id=None, filename: str = "notice"):
    """The page, or the same template as PDF. A print is an export: it is on record."""
    from server.core.pdf import render_pdf

    audit.record(db.session, "notice.print", entity, entity_id, case_id=case_id,
                 after={"format": "pdf" if pdf else "html", "notices": [n.id for n in context["notices"]]})
    if not pdf:
        return render_template("publicity/print.html", for_pdf=False, **context)
    data = render_pdf("publicity/print.html", **context)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}.pdf"', "Cache-Control": "private, no-store"})


def _batch(pdf: bool):
    community, _choices = _community_or_404(request.args.get("community"))
    today = local_today()
    posted_from = None
    if request.args.get("posted_from"):
        try:
            posted_from = dt.date.fromisoformat(request.args["posted_from"])
        except ValueError:
            abort(404)
    notices = queries.print_batch(db.session, community.id, today, posted_from)
    return _printed(_print_context(community, notices, today), pdf, "jurisdiction", community.id,
                    filename=f"notices-{community.code}-{today.isoformat()}")


@bp.route("/publicity/print")
@roles_required("office", "county")
def print_batch():
    return _batch(pdf=False)


@bp.route("/publicity/print.pdf")
@roles_required("office", "county")
def print_batch_pdf():
    return _batch(pdf=True)


def _one(notice_id: int, pdf: bool):
    notice, case = _notice_or_404(notice_id)
    community = db.session.get(Jurisdiction, notice.community_id)
    return _printed(_print_context(community, [notice], local_today()), pdf, "notice", notice.id, case.id,
                    filename=f"notice-{notice.id}")


@bp.route("/publicity/notices/<int:notice_id>/print")
@roles_required("office", "county")
def print_notice(notice_id: int):
    return _one(notice_id, pdf=False)


@bp.route("/publicity/notices/<int:notice_id>/print.pdf")
@roles_required("office", "county")
def print_notice_pdf(notice_id: int):
    return _one(notice_id, pdf=True)


# --- the case file's section ----------------------------------------------------------------


@bp.app_template_global("publicity_section")
def case_section(case: Case) -> dict:
    """The data of `publicity/_case_section.html` (the case's notices and objections). The
    fragment calls it itself, so the case file includes it with `case` in its context:
    `{% include "publicity/_case_section.html" %}`."""
    return {"cn": queries.case_notices(db.session, case.id), "L": _labels()}
