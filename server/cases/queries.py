"""Reads about cases: what waits for whom. Never writes."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import Team, TeamMember, User, UserRole
from server.cases.access import case_scope_clause
from server.cases.lifecycle import DECIDED, RECEIVING, overdue, overdue_clause, overdue_clauses
from server.cases.models import STATES, Attachment, Case, Household, Member
from server.core.workdays import Calendar

# What each role acts on, in the order the home page lists it.
WAITING_FOR = {
    "investigator": ("investigating", "returned", "recheck"),
    "office": ("application", "accepted", "submitted", "in_review", "publicity", "objection", "recheck"),
    "panel": ("panel",),
    "county": ("county_review", "recheck"),
}


@dataclass
class HomeSummary:
    counts: dict[str, int]
    total: int
    overdue: dict[str, int]
    overdue_total: int
    waiting: list[tuple[str, int]]
    due_this_week: int


def home_summary(session: Session, user: User, today: dt.date) -> HomeSummary:
    scope = case_scope_clause(user)
    rows = session.execute(sa.select(Case.state, sa.func.count()).where(scope).group_by(Case.state)).all()
    counts = {state: 0 for state in STATES}
    counts.update({state: n for state, n in rows})
    clauses = overdue_clauses(today)
    overdue_row = session.execute(
        sa.select(*[sa.func.coalesce(sa.func.sum(sa.case((clause, 1), else_=0)), 0).label(code)
                    for code, clause in clauses.items()]).where(scope)
    ).one()
    overdue = dict(zip(clauses, (int(v) for v in overdue_row)))
    overdue_total = session.scalar(sa.select(sa.func.count()).where(scope, overdue_clause(today)))
    week_end = today + dt.timedelta(days=6 - today.weekday())
    due_this_week = session.scalar(sa.select(sa.func.count()).where(
        scope, sa.or_(sa.and_(Case.state == "accepted", Case.investigation_due.between(today, week_end)),
                      sa.and_(Case.state == "county_review", Case.decision_due.between(today, week_end)),
                      sa.and_(Case.state.not_in(("approved", "rejected", "active", "recheck", "adjusted", "stopped")),
                              Case.case_due.between(today, week_end)))))
    waiting_states: list[str] = []
    for role, states in WAITING_FOR.items():
        if user.has_role(role):
            waiting_states += [s for s in states if s not in waiting_states]
    return HomeSummary(counts=counts, total=sum(counts.values()), overdue=overdue, overdue_total=overdue_total,
                       waiting=[(s, counts[s]) for s in waiting_states], due_this_week=due_this_week)


# --- intake, assignment and deadlines (issue 6) --------------------------------------------

# A household stays "open" while any of its cases is: an application refused or rejected, or
# an allowance stopped, closes it, and its members may apply again.
CLOSED_STATES = ("rejected", "stopped")


@dataclass
class Membership:
    id_number: str
    member_name: str
    case_id: uuid.UUID
    case_number: str
    state: str
    community_id: int
    head_name: str


def open_memberships(session: Session, id_numbers: list[str]) -> list[Membership]:
    """Who of these ID numbers already belongs to a household with an open case."""
    numbers = sorted({n.upper() for n in id_numbers if n})
    if not numbers:
        return []
    rows = session.execute(
        sa.select(Member.id_number, Member.name, Case.id, Case.number, Case.state, Case.community_id,
                  Household.head_name)
        .join(Household, Household.id == Member.household_id)
        .join(Case, Case.household_id == Household.id)
        .where(sa.func.upper(Member.id_number).in_(numbers), Case.state.not_in(CLOSED_STATES))
        .order_by(Member.id_number, Case.applied_at)
    ).all()
    return [Membership(r[0].upper(), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def team_investigator_count(session: Session, team_id: int) -> int:
    """Active investigators on the team (M21 Art 15–16: a visit needs two)."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(TeamMember)
        .join(User, User.id == TeamMember.user_id)
        .join(UserRole, sa.and_(UserRole.user_id == User.id, UserRole.role == "investigator"))
        .where(TeamMember.team_id == team_id, User.active.is_(True))) or 0


@dataclass
class TeamChoice:
    team: Team
    investigators: list[str]

    @property
    def big_enough(self) -> bool:
        return len(self.investigators) >= 2


def teams_for(session: Session, user: User) -> list[TeamChoice]:
    """The investigation teams of the user's community, with their active investigators."""
    teams = session.scalars(sa.select(Team).where(Team.community_id == user.jurisdiction_id, Team.active.is_(True))
                            .order_by(Team.name, Team.id)).all()
    out = []
    for team in teams:
        names = [m.user.display_name for m in team.members
                 if m.user.active and m.user.has_role("investigator")]
        out.append(TeamChoice(team, sorted(names)))
    return out


@dataclass
class CaseRow:
    case: Case
    head_name: str
    team_name: str | None
    members: int
    overdue: list[str]
    related: list[str]


LIST_LIMIT = 200


def office_cases(session: Session, user: User, today: dt.date, *, states: tuple[str, ...] | None = None,
                 related: bool = False, with_team: bool | None = None, search: str = "",
                 limit: int = LIST_LIMIT, offset: int = 0) -> tuple[list[CaseRow], int]:
    """Cases in the user's scope, oldest deadline first, with what a list shows at a glance;
    and how many there are in all. `with_team`: only cases a team holds (True) or none does
    (False); `search`: part of the case number or of the applicant's name."""
    where = [case_scope_clause(user)]
    if search:
        pattern = "%" + search.replace("\\", "").replace("%", "").replace("_", "") + "%"
        where.append(sa.or_(Case.number.ilike(pattern), Case.household_id.in_(
            sa.select(Household.id).where(Household.head_name.like(pattern)))))
    if states:
        where.append(Case.state.in_(states))
    if with_team is not None:
        where.append(Case.team_id.is_not(None) if with_team else Case.team_id.is_(None))
    if related:
        where.append(Case.related_to_staff.is_(True))
    total = session.scalar(sa.select(sa.func.count()).select_from(Case).where(*where))
    members = (sa.select(sa.func.count()).where(Member.household_id == Case.household_id)
               .correlate(Case).scalar_subquery())
    rows = session.execute(
        sa.select(Case, Household.head_name, Team.name, members)
        .join(Household, Household.id == Case.household_id)
        .outerjoin(Team, Team.id == Case.team_id)
        .where(*where)
        .order_by(sa.func.coalesce(Case.investigation_due, Case.case_due, sa.cast(Case.applied_at, sa.Date)),
                  Case.applied_at, Case.id)
        .limit(limit).offset(offset)
    ).all()
    flagged = related_reasons(session, [r[0].id for r in rows if r[0].related_to_staff])
    return [CaseRow(c, head, team, n, overdue(c, today), flagged.get(c.id, [])) for c, head, team, n in rows], total


def related_reasons(session: Session, case_ids: list[uuid.UUID], locale: str | None = None) -> dict[uuid.UUID, list[str]]:
    """Each case's open related-to-staff flags (M21 Art 11), as readable sentences."""
    from server.review.flags import flag_text
    from server.review.models import Flag

    if not case_ids:
        return {}
    out: dict[uuid.UUID, list[str]] = {}
    for f in session.scalars(sa.select(Flag).where(Flag.case_id.in_(case_ids), Flag.code == "related_to_staff",
                                                   Flag.dismissed_at.is_(None)).order_by(Flag.id)):
        text = flag_text(f, locale=locale or _locale())
        if text not in out.setdefault(f.case_id, []):
            out[f.case_id].append(text)
    return out


def _locale() -> str:
    from flask_babel import get_locale

    try:
        return "zh_CN" if get_locale().language == "zh" else "en"
    except Exception:  # no request: the users' language
        return "zh_CN"


def attachments_of(session: Session, case_id: uuid.UUID) -> list[Attachment]:
    return list(session.scalars(sa.select(Attachment).where(Attachment.case_id == case_id)
                                .order_by(Attachment.id)))


@dataclass
class DueItem:
    case: Case
    head_name: str
    code: str  # which deadline: investigation_start, case_total, county_decision, recheck
    due: dt.date
    working_days_left: int  # negative when past
    overdue: bool


def due_items(session: Session, user: User, today: dt.date, calendar: Calendar,
              limit: int = 500) -> tuple[list[DueItem], dt.date]:
    """What falls due from today to the end of this week, and what is already past, in the
    user's scope: one line per deadline, the earliest first. The rules are lifecycle's."""
    week_end = today + dt.timedelta(days=6 - today.weekday())
    open_ = Case.state.not_in(sorted(DECIDED))
    kinds = (
        ("investigation_start", Case.investigation_due, Case.state == "accepted"),
        ("case_total", Case.case_due, open_),
        ("county_decision", Case.decision_due, Case.state == "county_review"),
        ("recheck", Case.next_recheck_due, Case.state.in_(sorted(RECEIVING))),
    )
    found: list[tuple[Case, str, str, dt.date]] = []
    for code, column, applies in kinds:
        rows = session.execute(
            sa.select(Case, Household.head_name).join(Household, Household.id == Case.household_id)
            .where(case_scope_clause(user), applies, column.is_not(None), column <= week_end)
            .order_by(column, Case.id).limit(limit)).all()
        found += [(case, head, code, getattr(case, column.key)) for case, head in rows]
    found.sort(key=lambda f: (f[3], f[0].number, f[2]))
    found = found[:limit]
    # Working days counted once over the whole span, not once per line.
    first = min([f[3] for f in found] + [today])
    count, day, upto = 0, first, {first: 0}
    while day < week_end:
        day += dt.timedelta(days=1)
        count += calendar.is_working_day(day)
        upto[day] = count
    items = [DueItem(case, head, code, due, upto[due] - upto[today], due < today) for case, head, code, due in found]
    return items, week_end


def community_center(session: Session, jurisdiction_id: int) -> tuple[float, float]:
    """Where a map of the community opens: its registered point, else the nearest above it."""
    from server.core.models import Jurisdiction

    node = session.get(Jurisdiction, jurisdiction_id)
    while node is not None:
        if node.location is not None:
            row = session.execute(sa.select(sa.func.ST_Y(Jurisdiction.location), sa.func.ST_X(Jurisdiction.location))
                                  .where(Jurisdiction.id == node.id)).one()
            return float(row[0]), float(row[1])
        node = node.parent
    return 35.86, 104.20  # no point registered anywhere above: the middle of the country


def display_names(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(session.execute(sa.select(User.id, User.display_name).where(User.id.in_(sorted(user_ids)))).all())


def staff_relatives_of(session: Session, people: list[tuple[str, str]]) -> list[str]:
    """M21 Art 11, before anything is stored: the register's entries for these (ID number,
    name) pairs, as sentences in the user's language. The review flags' own matching."""
    from server.review import flags

    found = flags.staff_relatives(session, people, None)
    return [flags.flag_text(f.code, f.params, _locale()) for f in found]
