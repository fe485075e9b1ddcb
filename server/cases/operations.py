"""Writes to cases."""
from __future__ import annotations

from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import lifecycle
from server.cases.models import Case, CaseTransition
from server.core.errors import Conflict
from server.policy import queries as policy_queries
from server.policy.settings import PolicySettings


class StaleCase(Conflict):
    code, title = "stale-case", "The case changed since you saw it"


def move(session: Session, case: Case, to_state: str, actor: User | None, reason: str | None = None,
         seen_version: int | None = None) -> CaseTransition:
    """A state change with the deadlines of the policy in force for the case's community."""
    if seen_version is not None and seen_version != case.version:
        raise StaleCase("Reload the case and try again.", current_version=case.version, state=case.state)
    today = lifecycle.local_today()
    version = policy_queries.version_in_force(session, case.community, today)
    deadlines = PolicySettings.from_dict(version.settings).deadlines if version is not None else None
    return lifecycle.transition(session, case, to_state, actor, reason, today=today, deadlines=deadlines)
