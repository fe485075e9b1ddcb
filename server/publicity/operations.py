"""Writes of the public notice (M21 Art 19, 24): posting a passed case, the objections
raised while it is up, and the end of posting. Each write is audited; flushes, never
commits (the request does).

A notice carries only what may be public: the head's name (masked when the policy says
so), the household size and the monthly amount. Nothing else of the household is copied
onto it, so no page or print made from a notice can show more.
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import lifecycle
from server.cases.access import can_act_on_case, case_scope_clause
from server.cases.lifecycle import local_today
from server.cases.models import Case, CaseTransition, Household
from server.core import audit
from server.core.audit import AuditEvent
from server.core.db import utcnow
from server.core.errors import Conflict, ValidationProblem
from server.core.i18n import N_
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults
from server.publicity import queries
from server.publicity.models import CHANNELS, RESOLUTIONS, Notice, Objection
from server.visits.models import Visit

MAX_TEXT = 4000
MAX_NAME = 100
# The audit actions of this module whose `after` carries the form's id (double submits).
FORM_ACTIONS = ("objection.record", "objection.answer")

# A visit that counts as the case's survey: the one the office reviewed (in review, or
# accepted once the case moved on); returned and superseded visits were answered by a later one.
_REVIEWED_VISIT_STATES = ("in_review", "accepted")


class NoticeNotAllowed(Conflict):
    """Only a case the panel passed (state publicity) is posted."""

    code, title = "notice-not-allowed", N_("No notice for this case")


class ObjectionNotAllowed(Conflict):
    """An objection is recorded only while the notice is up (M21 Art 19: during posting)."""

    code, title = "objection-not-allowed", N_("Not in the posting period")


class ObjectionAnswered(Conflict):
    code, title = "objection-answered", N_("The objection was already answered")


class PostingNotFinished(Conflict):
    """The case goes to the county only after the whole posting period with no objection open."""

    code, title = "posting-not-finished", N_("The posting is not over")


class AlreadyDone(Exception):
    """This very form was handled before (a double submit): nothing is done again."""

    def __init__(self, entity_id=None):
        super().__init__(entity_id)
        self.entity_id = entity_id


def mask_name(name: str) -> str:
    """The head's name as a public notice shows it (M21 Art 19, 24): 张三 → 张*, 张小三 → 张*三,
    申小小娟 → 申**娟. The first and last character stay; a one-character name is kept."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def policy_settings(session: Session, case: Case, on: dt.date) -> PolicySettings:
    """The settings in force for the case's community on `on` (the defaults when none is)."""
    version = version_in_force(session, case.community, on)
    return PolicySettings.from_dict(merge_defaults(version.settings) if version is not None else DEFAULT_SETTINGS)


def shown_name(name: str, settings: PolicySettings) -> str:
    return mask_name(name) if settings.mask_names else (name or "").strip()


def posting_dates(start: dt.date, settings: PolicySettings) -> tuple[dt.date, dt.date]:
    """First and last day of posting: `publicity_days` calendar days, both ends included
    (7 days from the 1st: the 1st to the 7th)."""
    return start, start + dt.timedelta(days=settings.publicity_days - 1)


def reviewed_visit(session: Session, case: Case) -> Visit | None:
    """The case's latest reviewed visit: the survey the panel judged."""
    return session.scalar(sa.select(Visit).where(Visit.case_id == case.id, Visit.state.in_(_REVIEWED_VISIT_STATES))
                          .order_by(Visit.received_at.desc(), Visit.id).limit(1))


def current_notice(session: Session, case: Case) -> Notice | None:
    """The case's notice that is up (state posted), if any."""
    return session.scalar(sa.select(Notice).where(Notice.case_id == case.id, Notice.state == "posted")
                          .order_by(Notice.id.desc()).limit(1))


def post_notice(session: Session, case: Case, actor: User | None, *, today: dt.date | None = None) -> Notice:
    """Post the public notice of a case the panel passed (state publicity).

    Shows the head's name (masked per the policy's `mask_names`), the household size and
    the monthly allowance of the latest reviewed visit (the policy engine's answer, as the
    case file computes it), from today (local date) for `publicity_days` days. A second call
    for the same case returns the notice already up. Refuses (409 notice-not-allowed) a case
    in any other state, or one with no reviewed visit to take the amount from.
    """
    from server.review.queries import computation

    if case.state != "publicity":
        raise NoticeNotAllowed(
            _("Only a case the panel passed is posted; this one is in state %(state)s.", state=case.state),
            state=case.state)
    existing = current_notice(session, case)
    if existing is not None:
        return existing
    visit = reviewed_visit(session, case)
    if visit is None:
        raise NoticeNotAllowed(_("The case has no reviewed visit to take the household and amount from."),
                               state=case.state)
    result = computation(session, case, visit)
    if result.evaluation is None:
        raise NoticeNotAllowed(_("The allowance cannot be computed: %(error)s", error=result.error),
                               state=case.state)
    today = today or local_today()
    settings = policy_settings(session, case, today)
    household = session.get(Household, case.household_id)
    posted_from, posted_until = posting_dates(today, settings)
    notice = Notice(case_id=case.id, community_id=case.community_id,
                    head_name_shown=shown_name(household.head_name, settings),
                    household_size=len(visit.members), amount=result.evaluation.allowance,
                    posted_from=posted_from, posted_until=posted_until, state="posted",
                    created_by_id=actor.id if actor is not None else None)
    try:
        with session.begin_nested():  # the same pass posted twice at once: the index keeps one
            session.add(notice)
            session.flush()
    except IntegrityError:
        existing = current_notice(session, case)
        if existing is None:
            raise
        return existing
    audit.record(session, "notice.post", "notice", notice.id, case_id=case.id, actor=actor,
                 after={"head_name_shown": notice.head_name_shown, "household_size": notice.household_size,
                        "amount": notice.amount, "posted_from": posted_from, "posted_until": posted_until,
                        "visit_id": visit.id, "policy_version_id": result.version.id if result.version else None})
    return notice


# --- shared ---------------------------------------------------------------------------


def _move(session: Session, case: Case, to_state: str, actor: User | None, reason: str | None,
          today: dt.date) -> CaseTransition:
    """A lifecycle move with the deadlines of the policy in force for the case's community
    (the hand-over to the county starts the county's 10 working days)."""
    settings = policy_settings(session, case, today)
    return lifecycle.transition(session, case, to_state, actor, reason, today=today, deadlines=settings.deadlines)


def _done_before(session: Session, case_id: uuid.UUID, action: str, form_id: str | None) -> str | None:
    """The entity id a form with this id already made, if it was handled before."""
    if not form_id:
        return None
    rows = session.execute(sa.select(AuditEvent.entity_id, AuditEvent.after)
                           .where(AuditEvent.case_id == case_id, AuditEvent.action == action))
    for entity_id, after in rows:
        if isinstance(after, dict) and after.get("form_id") == form_id:
            return entity_id
    return None


def _text(value: str | None, limit: int) -> str:
    return (value or "").strip()[:limit + 1]


# --- objections -----------------------------------------------------------------------


def record_objection(session: Session, notice: Notice, actor: User, *, channel: str | None, content: str | None,
                     objector_name: str | None = None, contact: str | None = None,
                     today: dt.date | None = None, form_id: str | None = None) -> Objection:
    """The office records an objection to a notice that is up: who objected (or nobody
    named: anonymous), how (in person, phone, letter, online) and what. The first open
    objection holds the case (publicity → objection, with the objection as the reason);
    it waits there until every objection is answered. Refused outside the posting period."""
    case = session.get(Case, notice.case_id)
    earlier = _done_before(session, case.id, "objection.record", form_id)
    if earlier is not None:
        raise AlreadyDone(int(earlier))
    today = today or local_today()
    if notice.state != "posted" or case.state not in queries.PUBLIC_CASE_STATES:
        raise ObjectionNotAllowed(_("This notice is no longer posted; objections to it are closed."),
                                  notice_state=notice.state, case_state=case.state)
    if not notice.posted_from <= today <= notice.posted_until:
        raise ObjectionNotAllowed(
            _("Objections are taken during the posting period, %(start)s to %(end)s.",
              start=notice.posted_from.isoformat(), end=notice.posted_until.isoformat()),
            posted_from=notice.posted_from.isoformat(), posted_until=notice.posted_until.isoformat())
    channel = (channel or "").strip()
    content, name, contact = _text(content, MAX_TEXT), _text(objector_name, MAX_NAME), _text(contact, MAX_NAME)
    errors: dict[str, list[str]] = {}
    if channel not in CHANNELS:
        errors["channel"] = [_("Choose how the objection came in.")]
    if not content:
        errors["content"] = [_("Write down what the objection says.")]
    elif len(content) > MAX_TEXT:
        errors["content"] = [_("At most %(n)s characters.", n=MAX_TEXT)]
    if len(name) > MAX_NAME:
        errors["objector_name"] = [_("At most %(n)s characters.", n=MAX_NAME)]
    if len(contact) > MAX_NAME:
        errors["contact"] = [_("At most %(n)s characters.", n=MAX_NAME)]
    if errors:
        raise ValidationProblem(errors)
    objection = Objection(notice_id=notice.id, case_id=case.id, objector_name=name or None, contact=contact or None,
                          channel=channel, content=content, received_at=utcnow(), received_by_id=actor.id)
    session.add(objection)
    session.flush()
    if case.state == "publicity":
        # The objector's name and contact stay off the case's history: only what was said.
        _move(session, case, "objection", actor, _("Objection during the public notice: %(content)s",
                                                   content=content[:500]), today)
    audit.record(session, "objection.record", "objection", objection.id, case_id=case.id, actor=actor,
                 after={"notice_id": notice.id, "channel": channel, "anonymous": not name, "form_id": form_id})
    return objection


def answer_objection(session: Session, objection: Objection, actor: User, *, resolution: str | None,
                     response: str | None, today: dt.date | None = None, form_id: str | None = None) -> Objection:
    """The office answers an objection in writing: a re-investigation or a return to the
    panel. When no objection of the case stays open, the case moves (objection →
    investigating if any answer asked for a re-investigation, else → panel) and the
    notice is withdrawn; a later pass posts a new one."""
    case = session.get(Case, objection.case_id)
    if _done_before(session, case.id, "objection.answer", form_id) is not None:
        raise AlreadyDone(objection.id)
    if objection.resolution is not None:
        raise ObjectionAnswered(_("This objection was already answered."), resolution=objection.resolution)
    resolution = (resolution or "").strip()
    response = _text(response, MAX_TEXT)
    errors: dict[str, list[str]] = {}
    if resolution not in RESOLUTIONS:
        errors["resolution"] = [_("Choose a re-investigation or a return to the panel.")]
    if not response:
        errors["response"] = [_("Write the response to the objection.")]
    elif len(response) > MAX_TEXT:
        errors["response"] = [_("At most %(n)s characters.", n=MAX_TEXT)]
    if errors:
        raise ValidationProblem(errors)
    if case.state != "objection":
        raise ObjectionAnswered(_("The case is no longer waiting on objections (state %(state)s).", state=case.state),
                                case_state=case.state)
    today = today or local_today()
    objection.resolution, objection.response = resolution, response
    objection.resolved_at, objection.resolved_by_id = utcnow(), actor.id
    session.flush()
    audit.record(session, "objection.answer", "objection", objection.id, case_id=case.id, actor=actor,
                 before={"resolution": None}, after={"resolution": resolution, "response": response,
                                                     "form_id": form_id})
    still_open = session.scalar(sa.select(sa.func.count()).select_from(Objection)
                                .where(Objection.case_id == case.id, Objection.resolution.is_(None)))
    if still_open:
        return objection
    notice = session.get(Notice, objection.notice_id)
    answered = list(session.scalars(sa.select(Objection).where(Objection.notice_id == notice.id)
                                    .order_by(Objection.received_at, Objection.id)))
    reinvestigate = any(o.resolution == "reinvestigate" for o in answered)
    reason = "；".join(o.response for o in answered if o.response)
    if reinvestigate:
        _send_back_to_team(session, case, actor, answered)
        _move(session, case, "investigating", actor, reason, today)
    else:
        _move(session, case, "panel", actor, reason, today)
    _close(session, notice, "withdrawn", actor, {"objections": [o.id for o in answered],
                                                "case_state": case.state})
    return objection


def _send_back_to_team(session: Session, case: Case, actor: User, objections: list[Objection]) -> None:
    """The re-investigation's questions reach the team's tablets as an open return (the
    sync's `returned_reasons`); the next visit closes it. The objectors' names and
    contacts are not sent."""
    from server.review.models import CaseReturn

    reasons = []
    for o in objections:
        if o.resolution == "reinvestigate":
            reasons.append(_("Objection during the public notice: %(content)s", content=o.content[:500]))
            reasons.append(o.response[:500])
    visit = reviewed_visit(session, case)
    session.add(CaseReturn(case_id=case.id, visit_id=visit.id if visit else None, reasons=reasons,
                           returned_by_id=actor.id, returned_at=utcnow()))
    session.flush()


def _close(session: Session, notice: Notice, state: str, actor: User | None, after: dict) -> None:
    before = notice.state
    notice.state, notice.closed_at = state, utcnow()
    session.flush()
    audit.record(session, f"notice.{'end' if state == 'ended' else 'withdraw'}", "notice", notice.id,
                 case_id=notice.case_id, actor=actor, before={"state": before}, after={"state": state, **after})


# --- end of posting -------------------------------------------------------------------


def end_posting(session: Session, notice: Notice, actor: User, today: dt.date | None = None) -> Notice:
    """The posting period is over and no objection is open: the case goes to the county
    (publicity → county_review, which starts the county's 10 working days) and the notice
    ends. Refused before the last day has passed (posting-not-finished)."""
    case = session.get(Case, notice.case_id)
    today = today or local_today()
    if notice.state != "posted":
        raise PostingNotFinished(_("This notice is not posted (it is %(state)s).", state=notice.state),
                                 notice_state=notice.state)
    if today <= notice.posted_until:
        raise PostingNotFinished(
            _("The posting runs until %(end)s; the case can go to the county from the day after.",
              end=notice.posted_until.isoformat()), posted_until=notice.posted_until.isoformat())
    still_open = session.scalar(sa.select(sa.func.count()).select_from(Objection)
                                .where(Objection.notice_id == notice.id, Objection.resolution.is_(None)))
    if still_open or case.state != "publicity":
        raise PostingNotFinished(_("An objection to this notice is open; answer it first."),
                                 case_state=case.state, open_objections=still_open)
    _move(session, case, "county_review", actor, None, today)
    _close(session, notice, "ended", actor, {"case_state": case.state})
    return notice


def end_finished_postings(session: Session, today: dt.date, actor: User,
                          community_id: int | None = None) -> list[Notice]:
    """Every finished posting the actor may act on (of one community when given) goes to
    the county; returns the notices ended. Running it twice ends nothing the second time."""
    ended = []
    for notice in queries.finished_notices(session, today, case_scope_clause(actor), community_id):
        case = session.get(Case, notice.case_id)
        if not can_act_on_case(actor, case):
            continue  # M21 Art 11: not a case of a relative
        ended.append(end_posting(session, notice, actor, today))
    return ended
