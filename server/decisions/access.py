"""Who may decide, read decisions and start re-checks. The case's own visibility is
server.cases.access's rule (a case out of scope is a 404); this module adds the roles.

- county: decides on its county's cases in county review and ends their re-checks;
- office and county: read a case's decisions and its letters, see the re-check queue and
  start the re-checks that are due (the office for its own community);
- anyone else: none of it (403), whatever case they may otherwise see.
"""
from __future__ import annotations

from server.accounts.models import User
from server.cases import access as case_access
from server.cases.models import Case

DECIDING_ROLES = ("county",)
READING_ROLES = ("office", "county")
RECHECK_STARTING_ROLES = ("office", "county")


def may_decide(user: User | None) -> bool:
    return user is not None and user.active and user.has_role(*DECIDING_ROLES)


def can_decide(user: User | None, case: Case) -> bool:
    """The county's decision on this case: its county, and not a relative's case (M21 Art 11)."""
    return may_decide(user) and case_access.can_act_on_case(user, case)


def may_read(user: User | None) -> bool:
    return user is not None and user.active and user.has_role(*READING_ROLES)


def can_read(user: User | None, case: Case) -> bool:
    return may_read(user) and case_access.can_view_case(user, case)


def may_start_rechecks(user: User | None) -> bool:
    return user is not None and user.active and user.has_role(*RECHECK_STARTING_ROLES)
