"""Who may see and who may do what with a panel session. Views ask here, never decide
themselves; a session the user may not see is a 404 to them, one they may see but not
act on is a 403 (server/cases/access.py decides the same for cases).

- the community office chairs its own community's sessions: schedules, takes attendance,
  opens and closes, records recusals, collects signatures, makes the minutes;
- the county sees the sessions of every community under it, and their minutes;
- a panel member sees the sessions they sit on, votes and scores there, declares a
  recusal, signs; and downloads the minutes of those sessions;
- admin: none (administration is not case work).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.access import jurisdiction_subtree
from server.core.models import Jurisdiction
from server.panel.models import PanelMember, PanelSession


def _active(user: User | None) -> bool:
    return user is not None and user.active


def can_manage(user: User | None, ps: PanelSession) -> bool:
    """The office of the session's community: it chairs the session."""
    return _active(user) and user.has_role("office") and user.jurisdiction_id == ps.community_id


def _in_county(session: Session, user: User, community_id: int) -> bool:
    node = session.get(Jurisdiction, community_id)
    seen = set()
    while node is not None and node.id not in seen:
        if node.id == user.jurisdiction_id:
            return True
        seen.add(node.id)
        node = node.parent
    return False


def seat(session: Session, user: User | None, ps: PanelSession) -> PanelMember | None:
    """The user's seat on the session's panel, if they have one."""
    if not _active(user) or not user.has_role("panel"):
        return None
    return session.scalar(sa.select(PanelMember).where(PanelMember.session_id == ps.id,
                                                       PanelMember.user_id == user.id))


def can_view(session: Session, user: User | None, ps: PanelSession) -> bool:
    if not _active(user):
        return False
    if can_manage(user, ps):
        return True
    if user.has_role("county") and _in_county(session, user, ps.community_id):
        return True
    return seat(session, user, ps) is not None


def can_oversee(session: Session, user: User | None, ps: PanelSession) -> bool:
    """The office's session page, read-only for the county."""
    if can_manage(user, ps):
        return True
    return _active(user) and user.has_role("county") and _in_county(session, user, ps.community_id)


def sessions_clause(user: User | None) -> sa.ColumnElement[bool]:
    """WHERE over PanelSession for the sessions the office/county list shows `user`."""
    if not _active(user):
        return sa.false()
    parts = []
    if user.has_role("office"):
        parts.append(PanelSession.community_id == user.jurisdiction_id)
    if user.has_role("county"):
        parts.append(PanelSession.community_id.in_(jurisdiction_subtree(user.jurisdiction_id)))
    return sa.or_(*parts) if parts else sa.false()
