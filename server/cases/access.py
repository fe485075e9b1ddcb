"""Who may see and who may act on a case. Handlers ask here, never decide themselves; a
case the user may not see is a 404 to them (they may not know it exists), one they may
see but not act on is a 403.

Each role sees a slice of the cases, and a user with several roles sees their union:

- office: the cases of its own community (the user's jurisdiction);
- county: the cases of every community under its jurisdiction, through any townships;
- investigator: the cases held by a team they belong to;
- panel: the cases on the agenda of a panel session they sit on;
- admin: none. Administration is not case work (separation of duties).

`can_view_case` and `case_scope_clause` are the same rule, once for one case in Python
and once as SQL for lists and counts; a test keeps them equal.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from server.accounts.models import StaffRelation, TeamMember, User
from server.cases.models import Case, Member
from server.core.models import Jurisdiction
from server.panel.models import AgendaItem, PanelMember, PanelSession, Recusal

# A panel member acts on an agenda item only while the session has not ended.
_LIVE_SESSION_STATES = ("scheduled", "open")


def _session(user: User, case: Case) -> Session | None:
    return object_session(case) or object_session(user)


def _in_county(user: User, case: Case) -> bool:
    """The case's community, or a jurisdiction above it, is the user's."""
    node, seen = case.community, set()
    while node is not None and node.id not in seen:  # `seen`: a mistaken cycle must not hang a request
        if node.id == user.jurisdiction_id:
            return True
        seen.add(node.id)
        node = node.parent
    return False


def _in_team(session: Session | None, user: User, case: Case) -> bool:
    if session is None or case.team_id is None:
        return False
    return session.scalar(sa.select(sa.literal(True)).where(
        TeamMember.team_id == case.team_id, TeamMember.user_id == user.id)) is not None


def _on_agenda(session: Session | None, user: User, case: Case, live_only: bool) -> bool:
    if session is None or case.id is None:
        return False
    q = (sa.select(sa.literal(True))
         .select_from(AgendaItem)
         .join(PanelMember, PanelMember.session_id == AgendaItem.session_id)
         .where(AgendaItem.case_id == case.id, PanelMember.user_id == user.id))
    if live_only:
        # M21 Art 11: a member who recused from this item takes no part in it.
        q = (q.join(PanelSession, PanelSession.id == AgendaItem.session_id)
             .where(PanelSession.state.in_(_LIVE_SESSION_STATES),
                    ~sa.exists().where(Recusal.agenda_item_id == AgendaItem.id,
                                       Recusal.panel_member_id == PanelMember.id)))
    return session.scalar(q.limit(1)) is not None


def _related_to_household(session: Session | None, user: User, case: Case) -> bool:
    """M21 Art 11: a caseworker or panel member registered as a relative of someone in
    the household does not handle the case."""
    if session is None:
        return False
    return session.scalar(sa.select(sa.literal(True)).where(
        StaffRelation.staff_user_id == user.id,
        StaffRelation.relative_id_number.in_(
            sa.select(Member.id_number).where(Member.household_id == case.household_id)),
    ).limit(1)) is not None


def _may_see(user: User, case: Case, *, acting: bool) -> bool:
    if user is None or not user.active:
        return False
    roles = user.roles
    # Cheapest first: office and county need no query beyond the jurisdiction chain.
    if "office" in roles and user.jurisdiction_id == case.community_id:
        return True
    if "county" in roles and _in_county(user, case):
        return True
    session = _session(user, case)
    if "investigator" in roles and _in_team(session, user, case):
        return True
    if "panel" in roles and _on_agenda(session, user, case, live_only=acting):
        return True
    return False


def can_view_case(user: User | None, case: Case) -> bool:
    return _may_see(user, case, acting=False)


def can_act_on_case(user: User | None, case: Case) -> bool:
    """May `user` change anything on `case`? Their view of it, less what a panel member
    may no longer touch (a closed session, a recusal) and less any case of a relative
    (M21 Art 11). Which *moves* their role may make is lifecycle.allowed_transitions."""
    if not _may_see(user, case, acting=True):
        return False
    return not _related_to_household(_session(user, case), user, case)


def jurisdiction_subtree(root_id: int) -> sa.Select:
    """SELECT of `root_id` and the id of every jurisdiction below it (a recursive CTE;
    UNION, not UNION ALL, so a mistaken cycle ends instead of looping)."""
    tree = sa.select(Jurisdiction.id).where(Jurisdiction.id == root_id).cte("subtree", recursive=True)
    below = sa.select(Jurisdiction.id).join(tree, Jurisdiction.parent_id == tree.c.id)
    tree = tree.union(below)
    return sa.select(tree.c.id)


def case_scope_clause(user: User | None) -> sa.ColumnElement[bool]:
    """WHERE clause over Case for the cases `user` may see (see can_view_case)."""
    if user is None or not user.active:
        return sa.false()
    roles = user.roles
    parts: list[sa.ColumnElement[bool]] = []
    if "office" in roles:
        parts.append(Case.community_id == user.jurisdiction_id)
    if "county" in roles:
        parts.append(Case.community_id.in_(jurisdiction_subtree(user.jurisdiction_id)))
    if "investigator" in roles:
        parts.append(Case.team_id.in_(sa.select(TeamMember.team_id).where(TeamMember.user_id == user.id)))
    if "panel" in roles:
        parts.append(Case.id.in_(
            sa.select(AgendaItem.case_id)
            .join(PanelMember, PanelMember.session_id == AgendaItem.session_id)
            .where(PanelMember.user_id == user.id)))
    return sa.or_(*parts) if parts else sa.false()
