"""Who may see and act on notices and objections.

- Anyone, signed in or not, sees the notices being posted now (`/notices`): the notice
  itself holds only the three public fields (M21 Art 19, 24).
- The office sees its own community's notices with their objections (who objected and
  how to reach them is not public), records objections, answers them and sends finished
  postings to the county; the county sees the notices of every community under it.
- A case's notices follow the case: `cases.access` decides (404 when out of scope).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import access as case_access
from server.cases.models import Case
from server.core.models import Jurisdiction


def community_choices(session: Session, user: User) -> list[Jurisdiction]:
    """The communities whose notices `user` may list: an office its own, the county every
    community below it; nobody else any."""
    if user is None or not user.active:
        return []
    clauses = []
    if user.has_role("office"):
        clauses.append(Jurisdiction.id == user.jurisdiction_id)
    if user.has_role("county"):
        clauses.append(Jurisdiction.id.in_(case_access.jurisdiction_subtree(user.jurisdiction_id)))
    if not clauses:
        return []
    return list(session.scalars(sa.select(Jurisdiction).where(Jurisdiction.kind == "community", sa.or_(*clauses))
                                .order_by(Jurisdiction.name, Jurisdiction.id)))


def can_list_community(session: Session, user: User, community_id: int) -> bool:
    return any(c.id == community_id for c in community_choices(session, user))


def can_view_notice(user: User, case: Case) -> bool:
    return case_access.can_view_case(user, case)


def can_act_on_notice(user: User, case: Case) -> bool:
    """Recording and answering objections and ending a posting is the community office's
    work (lifecycle: publicity/objection edges are the office's), on a case it may act on."""
    return user is not None and user.has_role("office") and case_access.can_act_on_case(user, case)
