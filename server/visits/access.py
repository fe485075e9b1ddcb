"""Who may send and who may see a visit. A case or visit the user may not touch is a 404
to them (they may not know it exists); the handler logs the refusal."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import TeamMember, User
from server.cases import access as case_access
from server.cases.models import Case
from server.visits.models import Visit, VisitInvestigator

# The states a team's visit can be received in: a first investigation, a re-visit after
# the office returned the case, a recipient's re-check.
VISITABLE_STATES = ("investigating", "returned", "recheck")


def team_ids(session: Session, user: User) -> list[int]:
    """The teams `user` investigates for."""
    return list(session.scalars(sa.select(TeamMember.team_id).where(TeamMember.user_id == user.id)
                                .order_by(TeamMember.team_id)))


def can_submit_visit(session: Session, user: User | None, case: Case) -> bool:
    """An investigator of the team that holds the case (M21 Art 15: the team visits)."""
    if user is None or not user.active or not user.has_role("investigator") or case.team_id is None:
        return False
    return session.scalar(sa.select(sa.literal(True)).where(
        TeamMember.team_id == case.team_id, TeamMember.user_id == user.id)) is not None


def can_view_visit(session: Session, user: User | None, visit: Visit, case: Case) -> bool:
    """Whoever may see the case, and whoever sent or made the visit: a tablet whose team
    lost the case must still learn that its visit arrived, or it would resend for ever."""
    if user is None or not user.active:
        return False
    if visit.submitted_by_id == user.id or case_access.can_view_case(user, case):
        return True
    return session.scalar(sa.select(sa.literal(True)).where(
        VisitInvestigator.visit_id == visit.id, VisitInvestigator.user_id == user.id)) is not None
