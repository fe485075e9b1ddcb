"""Reads about cases: what waits for whom. Never writes."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.access import case_scope_clause
from server.cases.lifecycle import overdue_clause, overdue_clauses
from server.cases.models import STATES, Case

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
