"""The case file's section on the evaluation panel: for each vote on the case that has
closed, the session's date, the tallies of those present and not recused, the average
score and the result; for a case waiting on a live agenda, which session it waits for.

Only what the closing of a vote wrote on its agenda item is read (AgendaItem's counts,
average and result): no ballot, score or receipt, so nothing here can say who voted how
(M12 Art 22–24: the vote is anonymous)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.cases.models import Case
from server.panel import access, queries
from server.panel.models import AgendaItem, PanelSession


@dataclass(frozen=True)
class PanelVote:
    """One closed vote on the case, as its tallies say."""

    session_id: int
    scheduled_for: dt.datetime
    place: str
    result: str  # passed / failed
    votes_for: int
    votes_against: int
    votes_abstain: int
    present: int  # present and not recused: the pass mark's base
    needed: int  # votes for the pass mark asked for, under the rules of the session's date
    average_score: Decimal | None
    may_open: bool  # the reader may open the session's page


@dataclass(frozen=True)
class WaitingItem:
    """The case on the agenda of a session that has not decided it yet."""

    session_id: int
    scheduled_for: dt.datetime
    session_state: str  # scheduled / open
    item_state: str  # pending / voting
    may_open: bool


@dataclass(frozen=True)
class PanelSection:
    votes: list[PanelVote]
    waiting: list[WaitingItem]


def case_panel(session: Session, case: Case, user) -> PanelSection:
    """The case's panel votes in the order they were held, and any agenda it waits on."""
    rows = session.execute(
        sa.select(AgendaItem, PanelSession).join(PanelSession, PanelSession.id == AgendaItem.session_id)
        .where(AgendaItem.case_id == case.id, PanelSession.state != "cancelled")
        .order_by(PanelSession.scheduled_for, AgendaItem.id)).all()
    votes, waiting = [], []
    rules: dict[int, object] = {}
    for item, ps in rows:
        may_open = user is not None and access.can_oversee(session, user, ps)
        if item.state == "closed":
            if ps.id not in rules:
                rules[ps.id] = queries.rules_for(session, ps)
            present = item.present_count or 0
            votes.append(PanelVote(
                session_id=ps.id, scheduled_for=ps.scheduled_for, place=ps.place, result=item.result or "failed",
                votes_for=item.votes_for or 0, votes_against=item.votes_against or 0,
                votes_abstain=item.votes_abstain or 0, present=present,
                needed=queries.needed(present, rules[ps.id].pass_ratio), average_score=item.average_score,
                may_open=may_open))
        elif ps.state in queries.LIVE_STATES:
            waiting.append(WaitingItem(session_id=ps.id, scheduled_for=ps.scheduled_for, session_state=ps.state,
                                       item_state=item.state, may_open=may_open))
    return PanelSection(votes=votes, waiting=waiting)
