"""The evaluation panel's pages: sessions, attendance, recusals, scoring and anonymous voting, minutes.

The community office chairs (/panel/sessions…): schedules a session, takes attendance,
opens it, puts one case at a time to the vote, closes each vote and the session, collects
signatures and makes the minutes. A panel member (/panel/ and /panel/my/…) sees the
sessions they sit on, scores and votes case by case, declares a recusal and signs.

One URL per page, the live fragment on an htmx request (the pages poll it while a
session is under way); every POST answers 303 to a GET, or the page again with a
message and the status (409 for a rule, 403 for who may not, 422 with the errors by the
fields and what was typed kept)."""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from server.accounts.models import User
from server.cases import access as case_access
from server.cases.models import Case
from server.core import audit
from server.core.auth import login_required, roles_required
from server.core.errors import Forbidden, NotFound, Problem, ValidationProblem
from server.core.models import Jurisdiction
from server.extensions import db, htmx
from server.panel import access, operations, queries
from server.panel.labels import EXTRA_WORDS, criterion_label, relation_label, translated
from server.panel.models import PANEL_CATEGORIES, AgendaItem, PanelMember, PanelSession, RecusalProposal

bp = Blueprint("panel", __name__, template_folder="templates", static_folder="static",
               static_url_path="/panel/static")

# What the voting screen shows that is personal (the read is audited).
READ_FIELDS = ["members.health", "members.disability_grade", "members.labour_ability", "income", "flags"]


def _locale() -> str:
    from flask_babel import get_locale

    return "zh_CN" if get_locale().language == "zh" else "en"


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _form_id() -> str:
    return secrets.token_urlsafe(12)


def _common() -> dict:
    from server.review.flags import flag_text
    from server.policy import engine

    from server.review.labels import translated as review_words

    locale = _locale()
    words = review_words("word", "flag", "severity")
    words.word.update({k: str(v) for k, v in EXTRA_WORDS.items() if k not in words.word})
    return dict(L=translated(), W=words, locale_code=locale,
                criterion_label=criterion_label, relation_label=relation_label, flag_text=flag_text,
                reason_text=engine.reason_text, share=lambda r: str(queries.ratio(r)),
                income_label=lambda kind: engine._LABELS["kind"].get(kind, {}).get(locale, kind))


def _denied(entity: str, entity_id) -> None:
    db.keep_on_error()
    audit.record(db.session, "access.denied", entity, entity_id, after={"page": request.path})


def _session_or_404(session_id: int) -> PanelSession:
    ps = db.session.get(PanelSession, session_id)
    if ps is None:
        raise NotFound(_("No such panel session."))
    if not access.can_view(db.session, g.user, ps):
        _denied("panel_session", ps.id)
        raise NotFound(_("No such panel session."))
    return ps


def _overseen(session_id: int) -> PanelSession:
    """The office's session page: the office of its community, the county read-only."""
    ps = _session_or_404(session_id)
    if not access.can_oversee(db.session, g.user, ps):
        _denied("panel_session", ps.id)
        raise NotFound(_("No such panel session."))
    return ps


def _managed(session_id: int) -> PanelSession:
    ps = _overseen(session_id)
    if not access.can_manage(g.user, ps):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "panel_session", ps.id, after={"page": request.path, "acting": True})
        raise Forbidden(_("Only the community office chairs this session."))
    return ps


def _item_or_404(ps: PanelSession, item_id: int) -> AgendaItem:
    item = queries.item_of(db.session, ps, item_id)
    if item is None:
        raise NotFound(_("No such case on this agenda."))
    return item


def _local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(_tz()).strftime(fmt) if value else ""


def _communities(ids: set[int]) -> dict[int, Jurisdiction]:
    if not ids:
        return {}
    return {j.id: j for j in db.session.scalars(sa.select(Jurisdiction).where(Jurisdiction.id.in_(sorted(ids))))}


# --- the office: sessions -------------------------------------------------------------------


@bp.route("/panel/sessions")
@roles_required("office", "county")
def sessions():
    rows = queries.sessions_for(db.session, g.user)
    counts = queries.agenda_counts(db.session, [ps.id for ps in rows])
    communities = _communities({ps.community_id for ps in rows})
    waiting = len(queries.waiting_cases(db.session, g.user.jurisdiction_id)) if g.user.has_role("office") else 0
    return render_template("panel/sessions.html", rows=rows, counts=counts, communities=communities,
                           waiting=waiting, **_common())


def _parse_plan(form) -> tuple[dict, dict]:
    """The new/edit form: (values for operations, what was typed)."""
    typed = {"scheduled_for": (form.get("scheduled_for") or "").strip(), "place": form.get("place") or "",
             "members": form.getlist("member"), "cases": form.getlist("case"),
             "category": {k.split(".", 1)[1]: v for k, v in form.items() if k.startswith("category.")}}
    when = None
    if typed["scheduled_for"]:
        try:
            when = dt.datetime.fromisoformat(typed["scheduled_for"])
            when = when.replace(tzinfo=_tz()) if when.tzinfo is None else when
        except ValueError:
            when = None
    seats = []
    for value in typed["members"]:
        if value.isdigit():
            seats.append((int(value), typed["category"].get(value, "")))
    case_ids = []
    for value in typed["cases"]:
        try:
            case_ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return {"when": when, "place": typed["place"], "seats": seats, "case_ids": case_ids}, typed


def _render_plan(community: Jurisdiction, ps: PanelSession | None, typed: dict, errors: dict | None = None,
                 status: int = 200, message: str | None = None):
    candidates = queries.candidates(db.session, community)
    cases = queries.waiting_cases(db.session, community.id, ps.id if ps else None)
    if ps is not None:  # the session's own cases stay choosable
        own = {c.id for c in cases}
        cases = cases + [db.session.get(Case, i.case_id) for i in ps.agenda if i.case_id not in own]
    rules = queries.rules_for(db.session, ps or PanelSession(community_id=community.id, scheduled_for=dt.datetime.now(
        dt.timezone.utc)))
    from server.cases.models import Household

    heads = {c.id: db.session.get(Household, c.household_id).head_name for c in cases}
    return render_template("panel/plan.html", ps=ps, community=community, candidates=candidates, cases=cases,
                           heads=heads, typed=typed, errors=errors or {}, message=message, rules=rules,
                           categories=PANEL_CATEGORIES, form_id=_form_id(), **_common()), status


@bp.route("/panel/sessions/new", methods=["GET", "POST"])
@roles_required("office")
def new_session():
    community = db.session.get(Jurisdiction, g.user.jurisdiction_id)
    if community.kind != "community":
        raise Forbidden(_("Sessions are scheduled by a community office."))
    if request.method == "GET":
        default = (dt.datetime.now(_tz()) + dt.timedelta(days=1)).replace(hour=14, minute=30, second=0, microsecond=0)
        last = queries.candidates(db.session, community)
        typed = {"scheduled_for": default.strftime("%Y-%m-%dT%H:%M"), "place": "", "members": [], "cases": [],
                 "category": {str(c.user.id): c.category or "" for c in last}}
        return _render_plan(community, None, typed)
    values, typed = _parse_plan(request.form)
    try:
        ps = operations.schedule(db.session, community, g.user, when=values["when"], place=values["place"],
                                 seats=values["seats"], case_ids=values["case_ids"],
                                 form_id=request.form.get("form_id"))
    except operations.AlreadyDone:
        flash(_("That form was already sent; nothing was done twice."), "ok")
        return redirect(url_for("panel.sessions"), code=303)
    except ValidationProblem as exc:
        db.session.rollback()
        return _render_plan(community, None, typed, exc.extra["errors"], 422, _("Please correct the marked fields."))
    flash(_("Session scheduled."), "ok")
    return redirect(url_for("panel.session", session_id=ps.id), code=303)


@bp.route("/panel/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@roles_required("office")
def edit_session(session_id: int):
    ps = _managed(session_id)
    community = db.session.get(Jurisdiction, ps.community_id)
    if request.method == "GET":
        typed = {"scheduled_for": _local(ps.scheduled_for, "%Y-%m-%dT%H:%M"), "place": ps.place,
                 "members": [str(m.user_id) for m in ps.members], "cases": [str(i.case_id) for i in ps.agenda],
                 "category": {str(m.user_id): m.category for m in ps.members}}
        return _render_plan(community, ps, typed)
    values, typed = _parse_plan(request.form)
    try:
        operations.update(db.session, ps, g.user, when=values["when"], place=values["place"], seats=values["seats"],
                          case_ids=values["case_ids"])
    except ValidationProblem as exc:
        db.session.rollback()
        ps = db.session.get(PanelSession, session_id)
        return _render_plan(community, ps, typed, exc.extra["errors"], 422, _("Please correct the marked fields."))
    except operations.PanelConflict as exc:
        db.session.rollback()
        return _render_session(db.session.get(PanelSession, session_id), exc.status, exc.detail)
    flash(_("Session changed."), "ok")
    return redirect(url_for("panel.session", session_id=ps.id), code=303)


def _render_session(ps: PanelSession, status: int = 200, message: str | None = None, errors: dict | None = None,
                    typed: dict | None = None):
    view = queries.session_view(db.session, ps)
    users = queries.members_by_user(db.session, [m.user_id for m in view.members if m.user_id])
    context = dict(v=view, ps=ps, message=message, errors=errors or {}, typed=typed or {},
                   manage=access.can_manage(g.user, ps), quorum_message=operations.quorum_message,
                   needed=queries.needed, users=users, local=_local, **_common())
    if htmx and not htmx.boosted and status < 400:
        return render_template("panel/_session_live.html", **context), status
    return render_template("panel/session.html", **context), status


@bp.route("/panel/sessions/<int:session_id>")
@roles_required("office", "county")
def session(session_id: int):
    return _render_session(_overseen(session_id))


def _office_act(session_id: int, do, success: str, anchor: str = ""):
    """Run one of the chair's actions: 303 back to the session when done (or already
    done), the session page with the reason when refused, nothing changed."""
    ps = _managed(session_id)
    try:
        do(ps)
    except operations.AlreadyDone:
        db.session.rollback()
        flash(_("Already done; nothing was done twice."), "ok")
        return redirect(url_for("panel.session", session_id=session_id) + anchor, code=303)
    except ValidationProblem as exc:
        db.session.rollback()
        return _render_session(db.session.get(PanelSession, session_id), 422,
                               _("Please correct the marked fields."), exc.extra["errors"], request.form.to_dict())
    except Problem as exc:
        db.session.rollback()
        return _render_session(db.session.get(PanelSession, session_id), exc.status, exc.detail or exc.title)
    flash(success, "ok")
    return redirect(url_for("panel.session", session_id=session_id) + anchor, code=303)


@bp.route("/panel/sessions/<int:session_id>/attendance", methods=["POST"])
@roles_required("office")
def attendance(session_id: int):
    def do(ps):
        present = {}
        for m in ps.members:
            value = request.form.get(f"present.{m.id}", "")
            present[m.id] = True if value == "1" else False if value == "0" else None
        operations.record_attendance(db.session, ps, present, g.user)

    return _office_act(session_id, do, _("Attendance recorded."), "#members")


@bp.route("/panel/sessions/<int:session_id>/open", methods=["POST"])
@roles_required("office")
def open_session(session_id: int):
    return _office_act(session_id, lambda ps: operations.open_session(db.session, ps, g.user),
                       _("The session is open."))


@bp.route("/panel/sessions/<int:session_id>/cancel", methods=["POST"])
@roles_required("office")
def cancel_session(session_id: int):
    return _office_act(session_id, lambda ps: operations.cancel(db.session, ps, g.user), _("Session cancelled."))


@bp.route("/panel/sessions/<int:session_id>/close", methods=["POST"])
@roles_required("office")
def close_session(session_id: int):
    return _office_act(session_id, lambda ps: operations.close_session(db.session, ps, g.user),
                       _("The session is closed. Collect the members' signatures and make the minutes."))


def _member_of(ps: PanelSession, member_id: str | int | None) -> PanelMember:
    member = db.session.get(PanelMember, int(member_id)) if str(member_id or "").isdigit() else None
    if member is None or member.session_id != ps.id:
        raise ValidationProblem({"member": [_("Choose a member of this panel.")]})
    return member


@bp.route("/panel/sessions/<int:session_id>/recusals", methods=["POST"])
@roles_required("office")
def record_recusal(session_id: int):
    def do(ps):
        member = _member_of(ps, request.form.get("member"))
        item_id = request.form.get("item", "")
        item = queries.item_of(db.session, ps, int(item_id)) if item_id.isdigit() else None
        if item is None:
            raise ValidationProblem({"item": [_("Choose a case on the agenda.")]})
        operations.recuse(db.session, item, member, request.form.get("reason", ""), g.user, source="declared")

    return _office_act(session_id, do, _("Recusal recorded."), "#agenda")


@bp.route("/panel/sessions/<int:session_id>/proposals/<int:proposal_id>", methods=["POST"])
@roles_required("office")
def decide_proposal(session_id: int, proposal_id: int):
    def do(ps):
        proposal = db.session.get(RecusalProposal, proposal_id)
        if proposal is None or queries.item_of(db.session, ps, proposal.agenda_item_id) is None:
            raise NotFound(_("No such proposal."))
        decision = request.form.get("decision")
        if decision not in ("confirm", "dismiss"):
            raise ValidationProblem({"decision": [_("Confirm or dismiss.")]})
        operations.decide_proposal(db.session, proposal, decision == "confirm", g.user)

    return _office_act(session_id, do, _("Recusal decided."), "#agenda")


@bp.route("/panel/sessions/<int:session_id>/items/<int:item_id>/start", methods=["POST"])
@roles_required("office")
def start_item(session_id: int, item_id: int):
    def do(ps):
        operations.start_voting(db.session, _item_or_404(ps, item_id), g.user)

    return _office_act(session_id, do, _("Voting is open on this case."), f"#item-{item_id}")


@bp.route("/panel/sessions/<int:session_id>/items/<int:item_id>/close", methods=["POST"])
@roles_required("office")
def close_item(session_id: int, item_id: int):
    def do(ps):
        operations.close_item(db.session, _item_or_404(ps, item_id), g.user)

    return _office_act(session_id, do, _("Voting closed; the result is below."), f"#item-{item_id}")


@bp.route("/panel/sessions/<int:session_id>/items/<int:item_id>/remove", methods=["POST"])
@roles_required("office")
def remove_item(session_id: int, item_id: int):
    def do(ps):
        operations.remove_item(db.session, _item_or_404(ps, item_id), g.user)

    return _office_act(session_id, do, _("The case was taken off the agenda; it waits for another session."),
                       "#agenda")


# --- signatures --------------------------------------------------------------------------------


def _render_sign(ps: PanelSession, member: PanelMember, action: str, back: str, status: int = 200,
                 errors: dict | None = None):
    return render_template("panel/sign.html", ps=ps, member=member, action=action, back=back, errors=errors or {},
                           **_common()), status


def _sign(ps: PanelSession, member: PanelMember, action: str, back: str):
    if request.method == "GET":
        return _render_sign(ps, member, action, back)
    try:
        png = operations.decode_signature(request.form.get("signature"))
        operations.save_signature(db.session, ps, member, png, g.user)
    except ValidationProblem as exc:
        db.session.rollback()
        return _render_sign(ps, member, action, back, 422, exc.extra["errors"])
    except Problem as exc:
        db.session.rollback()
        flash(exc.detail or exc.title, "error")
        return redirect(back, code=303)
    flash(_("Signature saved."), "ok")
    return redirect(back, code=303)


@bp.route("/panel/sessions/<int:session_id>/members/<int:member_id>/sign", methods=["GET", "POST"])
@roles_required("office")
def office_sign(session_id: int, member_id: int):
    """The office's tablet passed round the table: each member signs on it."""
    ps = _managed(session_id)
    member = db.session.get(PanelMember, member_id)
    if member is None or member.session_id != ps.id:
        raise NotFound(_("No such member."))
    return _sign(ps, member, url_for("panel.office_sign", session_id=ps.id, member_id=member.id),
                 url_for("panel.session", session_id=ps.id) + "#members")


@bp.route("/panel/my/<int:session_id>/sign", methods=["GET", "POST"])
@roles_required("panel")
def member_sign(session_id: int):
    ps, member = _seat_or_404(session_id)
    return _sign(ps, member, url_for("panel.member_sign", session_id=ps.id),
                 url_for("panel.my_session", session_id=ps.id))


# --- minutes -------------------------------------------------------------------------------------


def _minutes_context(ps: PanelSession, for_pdf: bool) -> dict:
    from server.core.pdf import data_uri
    from server.core.storage import ObjectMissing, current_store

    view = queries.session_view(db.session, ps)
    signatures = {}
    store = current_store()
    for m in view.members:
        if m.signature_sha256:
            try:
                signatures[m.id] = data_uri(store.get(operations.signature_key(m.signature_sha256)), "image/png")
            except ObjectMissing:
                pass
    creator = db.session.get(User, ps.created_by_id)
    css = (Path(bp.static_folder) / "minutes.css").read_text(encoding="utf-8") if for_pdf else ""
    return dict(v=view, ps=ps, signatures=signatures, creator=creator, needed=queries.needed, local=_local,
                for_pdf=for_pdf, minutes_css=css, **_common())


@bp.route("/panel/sessions/<int:session_id>/minutes", methods=["GET", "POST"])
@login_required
def minutes(session_id: int):
    """The minutes as a printable A4 page (GET; the same template makes the PDF), and
    making the signed PDF (POST, the office)."""
    ps = _session_or_404(session_id)
    if request.method == "GET":
        audit.record_read(db.session, "panel_session", ps.id, ["minutes"])
        return render_template("panel/minutes.html", **_minutes_context(ps, False))
    if not access.can_manage(g.user, ps):
        db.keep_on_error()
        audit.record(db.session, "access.denied", "panel_session", ps.id, after={"page": request.path, "acting": True})
        raise Forbidden(_("Only the community office makes the minutes."))
    from server.core.pdf import render_pdf

    try:
        if ps.state != "closed":
            raise operations.PanelConflict(_("The minutes are made once the session is closed."))
        pdf = render_pdf("panel/minutes.html", **{k: v for k, v in _minutes_context(ps, True).items()
                                                  if k != "for_pdf"})
        operations.store_minutes(db.session, ps, pdf, g.user)
    except Problem as exc:
        db.session.rollback()
        return _render_session(db.session.get(PanelSession, session_id), exc.status, exc.detail or exc.title)
    flash(_("The signed minutes were made and stored."), "ok")
    return redirect(url_for("panel.session", session_id=ps.id) + "#minutes", code=303)


@bp.route("/panel/sessions/<int:session_id>/minutes.pdf")
@login_required
def minutes_pdf(session_id: int):
    from server.core.storage import ObjectMissing, current_store

    ps = _session_or_404(session_id)
    if not ps.minutes_sha256:
        raise NotFound(_("The minutes of this session have not been made yet."))
    try:
        data = current_store().get(operations.minutes_key(ps.minutes_sha256))
    except ObjectMissing:
        raise NotFound(_("The minutes file is missing from the store.")) from None
    audit.record(db.session, "panel.minutes_downloaded", "panel_session", ps.id,
                 after={"minutes_sha256": ps.minutes_sha256})
    name = f"panel-minutes-{ps.id}-{_local(ps.scheduled_for, '%Y%m%d')}.pdf"
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "private, no-store"})


# --- the panel member ---------------------------------------------------------------------------


@bp.route("/panel/")
@roles_required("panel")
def mine():
    rows = queries.my_sessions(db.session, g.user)
    counts = queries.agenda_counts(db.session, [ps.id for ps, _m in rows])
    communities = _communities({ps.community_id for ps, _m in rows})
    return render_template("panel/mine.html", rows=rows, counts=counts, communities=communities, local=_local,
                           **_common())


def _seat_or_404(session_id: int) -> tuple[PanelSession, PanelMember]:
    ps = db.session.get(PanelSession, session_id)
    member = access.seat(db.session, g.user, ps) if ps is not None else None
    if ps is None or member is None or ps.state == "cancelled":
        if ps is not None:
            _denied("panel_session", ps.id)
        raise NotFound(_("No such panel session."))
    return ps, member


@bp.route("/panel/my/<int:session_id>")
@roles_required("panel")
def my_session(session_id: int):
    ps, member = _seat_or_404(session_id)
    view = queries.session_view(db.session, ps)
    context = dict(v=view, ps=ps, me=member, local=_local, needed=queries.needed, **_common())
    if htmx and not htmx.boosted:
        return render_template("panel/_my_agenda.html", **context)
    return render_template("panel/my_session.html", **context)


def _render_ballot(ps: PanelSession, member: PanelMember, item: AgendaItem, status: int = 200,
                   message: str | None = None, errors: dict | None = None, typed: dict | None = None,
                   proxy: bool = False):
    from server.cases.lifecycle import local_today

    view = queries.session_view(db.session, ps)
    iv = next(i for i in view.items if i.item.id == item.id)
    recused = member.id in iv.recused
    may_vote, why = True, None
    try:
        operations.check_may_vote(db.session, ps, item, member, g.user)
    except Problem as exc:
        may_vote, why = False, exc.detail
    summary = None
    if not recused and case_access.can_view_case(g.user, iv.case):
        summary = queries.case_summary(db.session, iv.case, local_today(ps.scheduled_for))
        audit.record_read(db.session, "case", iv.case.id, READ_FIELDS, case_id=iv.case.id)
    if status >= 400:
        db.keep_on_error()  # the read is on record even when the answer is a refusal
    if proxy:
        urls = {"vote": url_for("panel.proxy_ballot", session_id=ps.id, item_id=item.id, member_id=member.id),
                "back": url_for("panel.session", session_id=ps.id) + f"#item-{item.id}", "recuse": None}
    else:
        urls = {"vote": url_for("panel.vote", session_id=ps.id, item_id=item.id),
                "back": url_for("panel.my_session", session_id=ps.id),
                "recuse": url_for("panel.declare_recusal", session_id=ps.id, item_id=item.id)}
    return render_template("panel/ballot.html", v=view, ps=ps, me=member, iv=iv, s=summary, may_vote=may_vote,
                           why=why, recused=recused, voted=member.id in iv.voted, message=message,
                           errors=errors or {}, typed=typed or {}, local=_local, needed=queries.needed,
                           proxy=proxy, urls=urls, **_common()), status


@bp.route("/panel/my/<int:session_id>/cases/<int:item_id>")
@roles_required("panel")
def ballot(session_id: int, item_id: int):
    ps, member = _seat_or_404(session_id)
    return _render_ballot(ps, member, _item_or_404(ps, item_id))


def _cast(ps: PanelSession, member: PanelMember, item: AgendaItem, proxy: bool, back: str):
    session_id, item_id, member_id = ps.id, item.id, member.id
    scores = {k.split(".", 1)[1]: v for k, v in request.form.items() if k.startswith("score.")}
    typed = {"choice": request.form.get("choice", ""), "score": scores}
    try:
        operations.cast_vote(db.session, item, member, g.user, request.form.get("choice", ""), scores)
    except ValidationProblem as exc:
        db.session.rollback()
        return _render_ballot(db.session.get(PanelSession, session_id), db.session.get(PanelMember, member_id),
                              db.session.get(AgendaItem, item_id), 422, _("Please correct the marked fields."),
                              exc.extra["errors"], typed, proxy=proxy)
    except Problem as exc:
        db.session.rollback()
        return _render_ballot(db.session.get(PanelSession, session_id), db.session.get(PanelMember, member_id),
                              db.session.get(AgendaItem, item_id), exc.status,
                              (exc.detail or exc.title) + " " + _("Nothing was recorded."), proxy=proxy)
    # The choice is not repeated here or anywhere: the page says only that the vote counts.
    flash(_("The vote of %(name)s is recorded, anonymously.", name=member.name) if proxy
          else _("Your vote is recorded, anonymously."), "ok")
    return redirect(back, code=303)


@bp.route("/panel/my/<int:session_id>/cases/<int:item_id>/vote", methods=["POST"])
@roles_required("panel")
def vote(session_id: int, item_id: int):
    ps, member = _seat_or_404(session_id)
    return _cast(ps, member, _item_or_404(ps, item_id), False, url_for("panel.my_session", session_id=ps.id))


@bp.route("/panel/sessions/<int:session_id>/items/<int:item_id>/ballot/<int:member_id>", methods=["GET", "POST"])
@roles_required("office")
def proxy_ballot(session_id: int, item_id: int, member_id: int):
    """The ballot of a member without an account, on the chairing office's tablet handed
    to them: the same screen, the same anonymity."""
    ps = _managed(session_id)
    item = _item_or_404(ps, item_id)
    member = db.session.get(PanelMember, member_id)
    if member is None or member.session_id != ps.id or member.user_id is not None:
        raise NotFound(_("No such member without an account on this panel."))
    if request.method == "GET":
        return _render_ballot(ps, member, item, proxy=True)
    return _cast(ps, member, item, True, url_for("panel.session", session_id=ps.id) + f"#item-{item.id}")


@bp.route("/panel/my/<int:session_id>/cases/<int:item_id>/recuse", methods=["POST"])
@roles_required("panel")
def declare_recusal(session_id: int, item_id: int):
    ps, member = _seat_or_404(session_id)
    item = _item_or_404(ps, item_id)
    try:
        operations.recuse(db.session, item, member, request.form.get("reason", ""), g.user, source="declared")
    except operations.AlreadyDone:
        db.session.rollback()
        flash(_("Already done; nothing was done twice."), "ok")
        return redirect(url_for("panel.my_session", session_id=ps.id), code=303)
    except ValidationProblem as exc:
        db.session.rollback()
        return _render_ballot(ps, member, db.session.get(AgendaItem, item_id), 422,
                              _("Please correct the marked fields."), exc.extra["errors"],
                              {"reason": request.form.get("reason", "")})
    except Problem as exc:
        db.session.rollback()
        return _render_ballot(ps, member, db.session.get(AgendaItem, item_id), exc.status, exc.detail or exc.title)
    flash(_("You have recused yourself from this case; you will not vote or score on it."), "ok")
    return redirect(url_for("panel.my_session", session_id=ps.id), code=303)


# --- the case file's section ---------------------------------------------------------------------


@bp.app_template_global("panel_section")
def case_section(case: Case) -> dict:
    """The data of `panel/_case_section.html` (the case's closed panel votes: tallies,
    average score, result; never a ballot). The fragment calls it itself, so the case file
    includes it with `case` in its context: `{% include "panel/_case_section.html" %}`."""
    from server.panel.case_section import case_panel

    return {"section": case_panel(db.session, case, g.get("user")), "L": translated()}
