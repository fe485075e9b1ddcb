"""Reads for the county's decision and for re-checks: the queues, what a decision page
shows about a case, a case's decisions, and a decision letter. Never writes."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from server.accounts.models import Team, User
from server.cases.access import case_scope_clause
from server.cases.lifecycle import RECEIVING
from server.cases.models import Case, CaseTransition, Decision, Household, Member
from server.core.models import Jurisdiction
from server.decisions import operations
from server.panel.models import AgendaItem, PanelSession
from server.policy.models import PolicyVersion
from server.publicity.models import Notice, Objection
from server.visits.models import Visit

MAX_ROWS = 200  # a queue page; the counts say how many there are in all
UPCOMING_DAYS = 31


# --- the county's queue ---------------------------------------------------------------


@dataclass
class QueueRow:
    id: uuid.UUID
    number: str
    version: int
    state: str
    head_name: str
    community: str
    community_en: str | None
    arrived_at: dt.datetime
    decision_due: dt.date | None
    members: int
    notice_amount: object | None  # the amount posted in public notice
    overdue: bool = False
    days_left: int | None = None
    panel_failed: bool = False  # came from a failed panel vote, with a recommendation to reject


def _member_count():
    return (sa.select(sa.func.count(Member.id)).where(Member.household_id == Case.household_id)
            .correlate(Case).scalar_subquery())


def _notice_amount():
    return (sa.select(Notice.amount).where(Notice.case_id == Case.id).order_by(Notice.id.desc()).limit(1)
            .correlate(Case).scalar_subquery())


def county_queue(session: Session, user: User, today: dt.date) -> tuple[list[QueueRow], int]:
    """Cases of the user's county waiting for its decision, the nearest deadline first
    (those without one last); and how many there are in all."""
    where = sa.and_(Case.state == "county_review", case_scope_clause(user))
    total = session.scalar(sa.select(sa.func.count()).select_from(Case).where(where))
    rows = session.execute(
        sa.select(Case.id, Case.number, Case.version, Case.state, Household.head_name, Jurisdiction.name,
                  Jurisdiction.name_en, Case.state_changed_at, Case.decision_due, _member_count(), _notice_amount())
        .join(Household, Household.id == Case.household_id).join(Jurisdiction, Jurisdiction.id == Case.community_id)
        .where(where).order_by(Case.decision_due.is_(None), Case.decision_due, Case.number).limit(MAX_ROWS)).all()
    out = [QueueRow(*r) for r in rows]
    failed = _from_failed_panel(session, [r.id for r in out])
    for r in out:
        if r.decision_due is not None:
            r.days_left = (r.decision_due - today).days
            r.overdue = today > r.decision_due
        r.panel_failed = r.id in failed
    return out, total


def _from_failed_panel(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Of these cases, those whose latest arrival in county review came from the panel
    (a failed vote) rather than from public notice."""
    if not ids:
        return set()
    last = (sa.select(CaseTransition.case_id, sa.func.max(CaseTransition.id).label("id"))
            .where(CaseTransition.case_id.in_(ids), CaseTransition.to_state == "county_review")
            .group_by(CaseTransition.case_id).subquery())
    return set(session.scalars(sa.select(CaseTransition.case_id).join(last, last.c.id == CaseTransition.id)
                               .where(CaseTransition.from_state == "panel")))


# --- a case's decisions (the office's case file includes these) ------------------------


@dataclass
class DecisionRow:
    decision: Decision
    decided_by: str
    policy_effective_from: dt.date | None
    late: bool = False


def case_decisions(session: Session, case: Case) -> list[DecisionRow]:
    """The case's decisions and re-check outcomes, oldest first, with who decided and
    the policy version used."""
    rows = session.execute(
        sa.select(Decision, User.display_name, PolicyVersion.effective_from)
        .join(User, User.id == Decision.decided_by_id)
        .outerjoin(PolicyVersion, PolicyVersion.id == Decision.policy_version_id)
        .where(Decision.case_id == case.id).order_by(Decision.decided_at, Decision.id)).all()
    # Only the county's decision has a deadline; it is late when made after it (the
    # deadline of that round in county review: the last one set before the decision).
    out = []
    for d, name, effective in rows:
        late = (d.outcome in ("approved", "rejected") and case.decision_due is not None
                and d.decision_date > case.decision_due)
        out.append(DecisionRow(d, name, effective, late))
    return out


def case_section(session: Session, case: Case) -> dict:
    """What `decisions/_case_section.html` needs, as template variables."""
    return {"decision_history": case_decisions(session, case), "decision_case": case}


# --- what the decision page shows -----------------------------------------------------


@dataclass
class PanelResult:
    item: AgendaItem
    session: PanelSession


@dataclass
class DecisionContext:
    case: Case
    household: Household
    members: list[Member]
    visit: Visit | None
    computation: operations.Computation
    proposed_stability: str
    unstable_because: list[str]
    panel: PanelResult | None
    notice: Notice | None
    objections: list[Objection]
    arrival: CaseTransition | None  # how the case came to the county (a failed panel says why)
    history: list[DecisionRow]
    today: dt.date
    late: bool
    recheck_started: dt.datetime | None = None
    recheck_visit: bool = False  # the visit shown is a re-check visit received in this re-check
    previous: Decision | None = None  # the decision whose amount is being paid
    users: dict[int, User] = field(default_factory=dict)


def decision_context(session: Session, case: Case, today: dt.date, *, recheck: bool = False) -> DecisionContext:
    household = session.get(Household, case.household_id)
    members = list(session.scalars(sa.select(Member).where(Member.household_id == household.id)
                                   .order_by(Member.position, Member.id)))
    started = operations.recheck_started_at(session, case) if recheck and case.state == "recheck" else None
    visit = operations.basis_visit(session, case, recheck_since=started)
    if visit is not None:  # its parts, for the computation and the page
        visit = session.scalars(sa.select(Visit).where(Visit.id == visit.id).options(
            selectinload(Visit.members), selectinload(Visit.income), selectinload(Visit.assets),
            selectinload(Visit.expenditure), selectinload(Visit.investigators))).one()
    c = operations.compute(session, case, visit, today)
    stability, because = operations.proposed_stability(visit)
    item = session.execute(
        sa.select(AgendaItem, PanelSession).join(PanelSession, PanelSession.id == AgendaItem.session_id)
        .where(AgendaItem.case_id == case.id, AgendaItem.state == "closed")
        .order_by(AgendaItem.id.desc()).limit(1)).first()
    notice = session.scalars(sa.select(Notice).where(Notice.case_id == case.id).order_by(Notice.id.desc())
                             .limit(1)).first()
    objections = list(session.scalars(sa.select(Objection).where(Objection.case_id == case.id)
                                      .order_by(Objection.received_at, Objection.id)))
    arrival = session.scalars(sa.select(CaseTransition).where(CaseTransition.case_id == case.id,
                                                              CaseTransition.to_state == "county_review")
                              .order_by(CaseTransition.id.desc()).limit(1)).first()
    history = case_decisions(session, case)
    previous = next((r.decision for r in reversed(history) if r.decision.outcome in ("approved", "continued", "adjusted")),
                    None)
    user_ids = {i.user_id for i in visit.investigators} if visit is not None else set()
    users = {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(sorted(user_ids))))} \
        if user_ids else {}
    late = case.state == "county_review" and case.decision_due is not None and today > case.decision_due
    return DecisionContext(
        case=case, household=household, members=members, visit=visit, computation=c, proposed_stability=stability,
        unstable_because=because, panel=PanelResult(*item) if item else None, notice=notice, objections=objections,
        arrival=arrival, history=history, today=today, late=late, recheck_started=started,
        recheck_visit=bool(visit is not None and started is not None and visit.kind == "recheck"
                           and visit.received_at >= started),
        previous=previous, users=users)


# --- the re-check queue ---------------------------------------------------------------


@dataclass
class RecheckRow:
    id: uuid.UUID
    number: str
    state: str
    head_name: str
    community: str
    community_en: str | None
    next_recheck_due: dt.date | None
    allowance: object | None
    stability: str | None
    team: str | None
    since: dt.datetime
    visit_at: dt.datetime | None = None  # the re-check visit, once it has arrived


@dataclass
class RecheckQueue:
    due: list[RecheckRow]
    upcoming: list[RecheckRow]
    waiting_visit: list[RecheckRow]
    visited: list[RecheckRow]
    counts: dict[str, int]


def recheck_queue(session: Session, user: User, today: dt.date) -> RecheckQueue:
    """Receiving cases whose re-check is due (or falls due within a month), and cases
    being re-checked, without and with the re-check visit."""
    scope = case_scope_clause(user)
    visit_at = (sa.select(sa.func.max(Visit.received_at))
                .where(Visit.case_id == Case.id, Visit.kind == "recheck", Visit.received_at >= Case.state_changed_at)
                .correlate(Case).scalar_subquery())
    columns = (Case.id, Case.number, Case.state, Household.head_name, Jurisdiction.name, Jurisdiction.name_en,
               Case.next_recheck_due, Case.allowance, Case.stability, Team.name, Case.state_changed_at)

    def select(*extra):
        return (sa.select(*columns, *extra).join(Household, Household.id == Case.household_id)
                .join(Jurisdiction, Jurisdiction.id == Case.community_id).outerjoin(Team, Team.id == Case.team_id))

    receiving = sa.and_(scope, Case.state.in_(sorted(RECEIVING)), Case.next_recheck_due.is_not(None))
    soon = today + dt.timedelta(days=UPCOMING_DAYS)
    in_recheck = sa.and_(scope, Case.state == "recheck")
    order = (Case.next_recheck_due, Case.number)

    def rows(q):
        return [RecheckRow(*r) for r in session.execute(q.limit(MAX_ROWS)).all()]

    def count(where):
        return session.scalar(sa.select(sa.func.count()).select_from(Case).where(where))

    has_visit = visit_at.is_not(None)
    return RecheckQueue(
        due=rows(select().where(receiving, Case.next_recheck_due <= today).order_by(*order)),
        upcoming=rows(select().where(receiving, Case.next_recheck_due > today, Case.next_recheck_due <= soon)
                      .order_by(*order)),
        waiting_visit=rows(select().where(in_recheck, ~has_visit).order_by(Case.state_changed_at, Case.number)),
        visited=rows(select(visit_at).where(in_recheck, has_visit).order_by(Case.state_changed_at, Case.number)),
        counts={"due": count(sa.and_(receiving, Case.next_recheck_due <= today)),
                "upcoming": count(sa.and_(receiving, Case.next_recheck_due > today, Case.next_recheck_due <= soon)),
                "waiting_visit": count(sa.and_(in_recheck, ~has_visit)),
                "visited": count(sa.and_(in_recheck, has_visit))},
    )


# --- the decision letter --------------------------------------------------------------


@dataclass
class Letter:
    decision: Decision
    case: Case
    applicant: str
    county: Jurisdiction | None
    previous_allowance: object | None = None  # for an adjustment: the amount before


def county_of(place: Jurisdiction) -> Jurisdiction | None:
    return next((j for j in place.lineage() if j.kind == "county"), None)


def letter(session: Session, decision: Decision) -> Letter:
    case = session.get(Case, decision.case_id)
    household = session.get(Household, case.household_id)
    applicant = session.scalar(sa.select(Member.name).where(Member.household_id == household.id,
                                                            Member.relation == "self")
                               .order_by(Member.position).limit(1)) or household.head_name
    previous = None
    if decision.outcome == "adjusted":
        previous = session.scalar(
            sa.select(Decision.allowance).where(Decision.case_id == case.id, Decision.id < decision.id,
                                                Decision.outcome.in_(("approved", "continued", "adjusted")))
            .order_by(Decision.id.desc()).limit(1))
    return Letter(decision, case, applicant, county_of(case.community), previous)
