"""Writes of the public notice (M21 Art 19, 24): posting a passed case, the objections
raised while it is up, and the end of posting. Each write is audited; flushes, never
commits (the request does).

A notice carries only what may be public: the head's name (masked when the policy says
so), the household size and the monthly amount. Nothing else of the household is copied
onto it, so no page or print made from a notice can show more.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.lifecycle import local_today
from server.cases.models import Case, Household
from server.core import audit
from server.core.errors import Conflict
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults
from server.publicity.models import Notice
from server.visits.models import Visit

# A visit that counts as the case's survey: the one the office reviewed (in review, or
# accepted once the case moved on); returned and superseded visits were answered by a later one.
_REVIEWED_VISIT_STATES = ("in_review", "accepted")


class NoticeNotAllowed(Conflict):
    """Only a case the panel passed (state publicity) is posted."""

    code, title = "notice-not-allowed", "No notice for this case"


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
    session.add(notice)
    session.flush()
    audit.record(session, "notice.post", "notice", notice.id, case_id=case.id, actor=actor,
                 after={"head_name_shown": notice.head_name_shown, "household_size": notice.household_size,
                        "amount": notice.amount, "posted_from": posted_from, "posted_until": posted_until,
                        "visit_id": visit.id, "policy_version_id": result.version.id if result.version else None})
    return notice
