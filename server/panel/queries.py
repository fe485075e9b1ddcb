"""Reads for the evaluation panel: the rules in force (quorum, residents' share, pass
mark, scoring criteria), a session with its members, agenda, recusals and progress, the
case file summary a member votes on, and an item's results once it has closed.

No writes. Nothing here returns how a member voted: a ballot (Vote, Score) carries no
member, and results are read only for closed items (see operations.py).
"""
from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import StaffRelation, User, UserRole
from server.cases.lifecycle import local_today
from server.cases.models import Case, Household, Member
from server.core.models import Jurisdiction
from server.panel import access
from server.panel.models import (AgendaItem, PanelMember, PanelSession, Recusal, RecusalProposal, Score, Vote,
                                 VoteReceipt)
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PanelRules, PolicySettings, merge_defaults
from server.visits.models import Visit, VisitMember

# Sessions whose agenda still holds a case: a case waits on one agenda at a time.
LIVE_STATES = ("scheduled", "open")
# A visit the office reviewed is the survey the panel judges (returned and superseded
# visits were answered by a later one).
_REVIEWED = ("in_review", "accepted")


# --- the rules -------------------------------------------------------------------------


def ratio(value: Decimal) -> Fraction:
    """A policy ratio as an exact fraction. Policies write ⅔ as "0.6667" (or "0.667"): a
    ratio that is a fraction with a denominator up to 12, rounded to the places it is
    written with, is read as that fraction, so 4 of 6 is ⅔ and passes; any other ratio
    (0.51, 0.66) is taken exactly as written."""
    exact = Fraction(value)
    simple = exact.limit_denominator(12)
    places = -value.as_tuple().exponent if isinstance(value, Decimal) else 4
    half_unit = Fraction(1, 2 * 10 ** max(places, 0))
    return simple if abs(simple - exact) < half_unit else exact


def needed(count: int, share: Decimal) -> int:
    """The least whole number that is at least `share` of `count` (⅔ of 6 is 4, of 7 is 5)."""
    return math.ceil(ratio(share) * count)


def settings_for(session: Session, ps: PanelSession) -> PolicySettings:
    """The policy in force for the session's community on its (local) date."""
    community = session.get(Jurisdiction, ps.community_id)
    version = version_in_force(session, community, local_today(ps.scheduled_for))
    return PolicySettings.from_dict(merge_defaults(version.settings) if version is not None else DEFAULT_SETTINGS)


def rules_for(session: Session, ps: PanelSession) -> PanelRules:
    """The panel rules (ratios, scoring criteria and weights) of the policy in force."""
    return settings_for(session, ps).panel


@dataclass
class Quorum:
    """M12 Art 22–24 (local rules): attendance ≥ ⅔ of the members, residents'
    representatives ≥ ⅔ of those present. Each failing rule is in `failures` as
    (code, numbers), for a message that says which rule and by how much."""

    members: int
    present: int
    unrecorded: int
    present_needed: int
    residents_present: int
    residents_needed: int
    failures: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def quorum(members: list[PanelMember], rules: PanelRules) -> Quorum:
    present = [m for m in members if m.present]
    unrecorded = sum(1 for m in members if m.present is None)
    reps = sum(1 for m in present if m.category == "resident_rep")
    q = Quorum(members=len(members), present=len(present), unrecorded=unrecorded,
               present_needed=max(needed(len(members), rules.attendance_ratio), 1),
               residents_present=reps, residents_needed=needed(len(present), rules.residents_ratio))
    if not members:
        q.failures.append(("no_members", {}))
    if unrecorded:
        q.failures.append(("attendance_unrecorded", {"n": unrecorded}))
    if members and q.present < q.present_needed:
        q.failures.append(("attendance", {"present": q.present, "members": q.members, "needed": q.present_needed}))
    if q.present and reps < q.residents_needed:
        q.failures.append(("residents", {"residents": reps, "present": q.present, "needed": q.residents_needed}))
    return q


def passes(votes_for: int, eligible: int, rules: PanelRules) -> bool:
    """A case passes with ≥ ⅔ of those present (recused members not counted) voting for.
    With nobody able to vote there is no decision of the panel, so it does not pass."""
    return eligible > 0 and votes_for >= needed(eligible, rules.pass_ratio)


# --- sessions ----------------------------------------------------------------------------


def sessions_for(session: Session, user: User, limit: int = 200) -> list[PanelSession]:
    """The sessions the office or county list shows: upcoming and open first, then the
    most recent."""
    live_first = sa.case((PanelSession.state.in_(LIVE_STATES), 0), else_=1)
    return list(session.scalars(sa.select(PanelSession).where(access.sessions_clause(user))
                                .order_by(live_first, PanelSession.scheduled_for.desc(), PanelSession.id.desc())
                                .limit(limit)))


def my_sessions(session: Session, user: User) -> list[tuple[PanelSession, PanelMember]]:
    """The sessions `user` sits on, with their seat: live ones first."""
    live_first = sa.case((PanelSession.state.in_(LIVE_STATES), 0), else_=1)
    rows = session.execute(sa.select(PanelSession, PanelMember)
                           .join(PanelMember, PanelMember.session_id == PanelSession.id)
                           .where(PanelMember.user_id == user.id, PanelSession.state != "cancelled")
                           .order_by(live_first, PanelSession.scheduled_for.desc(), PanelSession.id.desc())
                           .limit(200))
    return [(ps, m) for ps, m in rows]


def agenda_counts(session: Session, session_ids: list[int]) -> dict[int, int]:
    if not session_ids:
        return {}
    return dict(session.execute(sa.select(AgendaItem.session_id, sa.func.count()).where(
        AgendaItem.session_id.in_(session_ids)).group_by(AgendaItem.session_id)).all())


@dataclass
class Candidate:
    user: User
    category: str | None  # the category of their latest seat, as a default


def candidates(session: Session, community: Jurisdiction) -> list[Candidate]:
    """Users with the panel role at the community or above it (a township's police
    officer sits on its communities' panels), with the category they last sat in."""
    ids = [j.id for j in community.lineage()]
    users = list(session.scalars(sa.select(User).join(UserRole, UserRole.user_id == User.id)
                                 .where(UserRole.role == "panel", User.active.is_(True),
                                        User.jurisdiction_id.in_(ids))
                                 .order_by(User.display_name, User.id)))
    last: dict[int, str] = {}
    if users:
        rows = session.execute(sa.select(PanelMember.user_id, PanelMember.category)
                               .where(PanelMember.user_id.in_([u.id for u in users]))
                               .order_by(PanelMember.id))
        last = {uid: cat for uid, cat in rows}
    return [Candidate(u, last.get(u.id)) for u in users]


def waiting_cases(session: Session, community_id: int, except_session: int | None = None) -> list[Case]:
    """The community's cases in state `panel` that are not already waiting on another live
    session's agenda (a closed item has been decided, so a case back from an objection is
    free again)."""
    taken = (sa.select(AgendaItem.case_id).join(PanelSession, PanelSession.id == AgendaItem.session_id)
             .where(PanelSession.state.in_(LIVE_STATES), AgendaItem.state != "closed"))
    if except_session is not None:
        taken = taken.where(PanelSession.id != except_session)
    return list(session.scalars(sa.select(Case).where(Case.community_id == community_id, Case.state == "panel",
                                                      Case.id.not_in(taken))
                                .order_by(Case.state_changed_at, Case.number).limit(500)))


@dataclass
class ItemView:
    item: AgendaItem
    case: Case
    household: Household
    recused: dict[int, Recusal]  # panel member id -> recusal
    proposals: list[RecusalProposal]
    voted: set[int]  # panel member ids with a receipt (that they voted, never how)
    eligible: int  # present and not recused: the pass mark's base
    criteria: dict[str, Decimal] = field(default_factory=dict)  # closed items: average per criterion

    @property
    def pending_proposals(self) -> list[RecusalProposal]:
        return [p for p in self.proposals if p.state == "proposed"]


@dataclass
class SessionView:
    ps: PanelSession
    community: Jurisdiction
    members: list[PanelMember]
    items: list[ItemView]
    rules: PanelRules
    quorum: Quorum

    def member(self, member_id: int) -> PanelMember | None:
        return next((m for m in self.members if m.id == member_id), None)

    @property
    def voting(self) -> ItemView | None:
        return next((i for i in self.items if i.item.state == "voting"), None)


def session_view(session: Session, ps: PanelSession) -> SessionView:
    """A session with everything its pages show, in a fixed number of queries."""
    members = list(session.scalars(sa.select(PanelMember).where(PanelMember.session_id == ps.id)
                                   .order_by(PanelMember.id)))
    items = list(session.scalars(sa.select(AgendaItem).where(AgendaItem.session_id == ps.id)
                                 .order_by(AgendaItem.position, AgendaItem.id)))
    item_ids = [i.id for i in items]
    cases = {c.id: c for c in session.scalars(sa.select(Case).where(Case.id.in_([i.case_id for i in items])))} \
        if items else {}
    households = {h.id: h for h in session.scalars(sa.select(Household).where(
        Household.id.in_({c.household_id for c in cases.values()})))} if cases else {}
    recusals: dict[int, dict[int, Recusal]] = defaultdict(dict)
    proposals: dict[int, list[RecusalProposal]] = defaultdict(list)
    voted: dict[int, set[int]] = defaultdict(set)
    averages: dict[int, dict[str, Decimal]] = defaultdict(dict)
    if item_ids:
        for r in session.scalars(sa.select(Recusal).where(Recusal.agenda_item_id.in_(item_ids)).order_by(Recusal.id)):
            recusals[r.agenda_item_id][r.panel_member_id] = r
        for p in session.scalars(sa.select(RecusalProposal).where(RecusalProposal.agenda_item_id.in_(item_ids))
                                 .order_by(RecusalProposal.id)):
            proposals[p.agenda_item_id].append(p)
        for item_id, member_id in session.execute(sa.select(VoteReceipt.agenda_item_id, VoteReceipt.panel_member_id)
                                                  .where(VoteReceipt.agenda_item_id.in_(item_ids))):
            voted[item_id].add(member_id)
        closed = [i.id for i in items if i.state == "closed"]
        if closed:
            averages = criterion_averages(session, closed)
    rules = rules_for(session, ps)
    order = list(rules.criteria)
    present = {m.id for m in members if m.present}
    views = []
    for item in items:
        case = cases[item.case_id]
        rec = recusals[item.id]
        views.append(ItemView(item=item, case=case, household=households[case.household_id], recused=rec,
                              proposals=proposals[item.id], voted=voted[item.id],
                              eligible=len(present - set(rec)), criteria=_in_order(averages.get(item.id, {}), order)))
    return SessionView(ps=ps, community=session.get(Jurisdiction, ps.community_id), members=members, items=views,
                       rules=rules, quorum=quorum(members, rules))


def _in_order(averages: dict[str, Decimal], order: list[str]) -> dict[str, Decimal]:
    """The policy's criteria in its own order, then any others (an older policy's) by name."""
    keys = [c for c in order if c in averages] + sorted(set(averages) - set(order))
    return {c: averages[c] for c in keys}


def criterion_averages(session: Session, item_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """The average score per criterion of closed items (aggregates only; the caller asks
    for closed items, whose tallies are public to the session)."""
    rows = session.execute(sa.select(Vote.agenda_item_id, Score.criterion, sa.func.avg(Score.value))
                           .join(Score, Score.vote_id == Vote.id)
                           .join(AgendaItem, AgendaItem.id == Vote.agenda_item_id)
                           .where(Vote.agenda_item_id.in_(item_ids), AgendaItem.state == "closed")
                           .group_by(Vote.agenda_item_id, Score.criterion))
    out: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for item_id, criterion, avg in rows:
        out[item_id][criterion] = Decimal(str(avg)).quantize(Decimal("0.01"))
    return out


# --- the register of staff relatives ---------------------------------------------------------


@dataclass(frozen=True)
class RegisterMatch:
    member: PanelMember
    by_account: bool  # the register entry names the member's own account, not just their name
    details: dict


def household_numbers(session: Session, case: Case) -> set[str]:
    """The ID numbers of the household as registered and as its latest visit found it."""
    numbers = {n.upper() for n in session.scalars(sa.select(Member.id_number).where(
        Member.household_id == case.household_id, Member.id_number.is_not(None))) if n}
    latest = sa.select(Visit.id).where(Visit.case_id == case.id).order_by(Visit.received_at.desc(), Visit.id) \
        .limit(1).scalar_subquery()
    numbers |= {n.upper() for n in session.scalars(sa.select(VisitMember.id_number).where(
        VisitMember.visit_id == latest, VisitMember.id_number.is_not(None))) if n}
    return numbers


def register_matches(session: Session, case: Case, members: list[PanelMember]) -> list[RegisterMatch]:
    """M21 Art 11: members the register of staff relatives names as related to someone in
    the case's household (spouse, parents, children, siblings, grandparents,
    grandchildren). The same register and ID-number match as the review's
    `related_to_staff` flag (server.review.flags.staff_relatives), read per member: an
    entry linked to the member's account, or one naming them."""
    numbers = household_numbers(session, case)
    if not numbers or not members:
        return []
    by_user = {m.user_id: m for m in members if m.user_id is not None}
    users = {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(list(by_user))))} if by_user else {}
    names: dict[str, list[PanelMember]] = defaultdict(list)
    for m in members:
        names[m.name.strip()].append(m)
        if m.user_id in users:
            names[users[m.user_id].display_name.strip()].append(m)
    relations = session.scalars(sa.select(StaffRelation).where(
        sa.func.upper(StaffRelation.relative_id_number).in_(sorted(numbers)),
        sa.or_(StaffRelation.staff_user_id.in_(list(by_user) or [-1]),
               StaffRelation.staff_name.in_(sorted(names) or [""])))
        .order_by(StaffRelation.id)).all()
    found: dict[int, RegisterMatch] = {}
    for rel in relations:
        details = {"relative_name": rel.relative_name, "relation": rel.relation, "staff_name": rel.staff_name}
        if rel.staff_user_id is not None and rel.staff_user_id in by_user:
            m = by_user[rel.staff_user_id]
            found[m.id] = RegisterMatch(m, True, details)
            continue
        if rel.staff_user_id is not None:
            continue  # the entry names another account that happens to share a name
        for m in dict.fromkeys(names.get(rel.staff_name.strip(), [])):
            if m.id not in found:
                found[m.id] = RegisterMatch(m, False, details)
    return list(found.values())


# --- the case file a member votes on ------------------------------------------------------


@dataclass
class MemberLine:
    name: str
    relation: str | None
    sex: str | None
    age: int | None
    health: str | None
    disability_grade: int | None
    labour_ability: str | None
    work_status: str | None
    student: bool
    counted: bool


@dataclass
class CaseSummary:
    """What a panel member sees of a case: enough to judge it, never full ID numbers."""

    case: Case
    household: Household
    visit: Visit | None
    members: list[MemberLine]
    income: list[tuple[str, str, Decimal, bool]]  # (member name, kind, monthly amount, counted)
    computation: object | None  # review.queries.Computation
    flags: list
    testimonies: list[tuple[str, str]]  # (role, matches the declaration)


def reviewed_visit(session: Session, case: Case) -> Visit | None:
    visit = session.scalar(sa.select(Visit).where(Visit.case_id == case.id, Visit.state.in_(_REVIEWED))
                           .order_by(Visit.received_at.desc(), Visit.id).limit(1))
    if visit is None:
        visit = session.scalar(sa.select(Visit).where(Visit.case_id == case.id)
                               .order_by(Visit.received_at.desc(), Visit.id).limit(1))
    return visit


def _age(birth: dt.date | None, on: dt.date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def case_summary(session: Session, case: Case, on: dt.date) -> CaseSummary:
    from server.review.queries import computation, flags_for_case

    household = session.get(Household, case.household_id)
    visit = reviewed_visit(session, case)
    if visit is not None:
        people = sorted(visit.members, key=lambda m: m.position)
    else:
        people = list(session.scalars(sa.select(Member).where(Member.household_id == household.id)
                                      .order_by(Member.position, Member.id)))
    members = [MemberLine(name=m.name, relation=m.relation, sex=m.sex, age=_age(m.birth_date, on), health=m.health,
                          disability_grade=m.disability_grade, labour_ability=m.labour_ability,
                          work_status=m.work_status, student=bool(m.student), counted=bool(m.counted))
               for m in people]
    income = []
    testimonies = []
    if visit is not None:
        by_pos = {m.position: m.name for m in visit.members}
        income = [(by_pos.get(i.member_position, ""), i.kind, i.monthly_amount, bool(i.counted))
                  for i in sorted(visit.income, key=lambda i: i.id)]
        testimonies = [(t.role, t.matches_declaration) for t in sorted(visit.testimonies, key=lambda t: t.id)]
    return CaseSummary(case=case, household=household, visit=visit, members=members, income=income,
                       computation=computation(session, case, visit) if visit is not None else None,
                       flags=flags_for_case(session, case.id, include_dismissed=False), testimonies=testimonies)


def item_of(session: Session, ps: PanelSession, item_id: int) -> AgendaItem | None:
    item = session.get(AgendaItem, item_id)
    return item if item is not None and item.session_id == ps.id else None


def members_by_user(session: Session, user_ids: list[int]) -> dict[int, User]:
    if not user_ids:
        return {}
    return {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(user_ids)))}


def case_ids_of(session: Session, ps: PanelSession) -> list[uuid.UUID]:
    return list(session.scalars(sa.select(AgendaItem.case_id).where(AgendaItem.session_id == ps.id)))
