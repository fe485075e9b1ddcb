"""Who may see which ledgers. The ledgers, exports and dashboard are the community
office's and the county's (DESIGN "Who uses it": "ledgers in Excel"); an investigator, a
panel member or an administrator has no business with them (403, a role question).

The slice is the same as for cases (server.cases.access): an office sees its own
community, a county every community under it. A community outside the user's slice asked
for by a filter is a 404, logged like a case out of scope.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.access import jurisdiction_subtree
from server.cases.models import Case
from server.core.models import Jurisdiction

LEDGER_ROLES = ("office", "county")


@dataclass(frozen=True)
class Community:
    id: int
    name: str
    name_en: str | None

    def label(self, locale: str) -> str:
        return self.name if locale == "zh_CN" or not self.name_en else self.name_en


@dataclass(frozen=True)
class Scope:
    """The communities a ledger covers: all the user may see, or the one chosen."""

    community_ids: tuple[int, ...]
    communities: tuple[Community, ...]  # every community the user may choose from, by name
    chosen: Community | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        return (self.chosen.id,) if self.chosen is not None else self.community_ids

    def clause(self) -> sa.ColumnElement[bool]:
        """WHERE over Case: the cases this ledger covers."""
        return Case.community_id.in_(self.ids) if self.ids else sa.false()

    def describe(self) -> dict:
        """For the audit log: which slice an export took."""
        return {"community_ids": list(self.ids), "community": self.chosen.name if self.chosen else None}


def may_use_ledgers(user: User | None) -> bool:
    return user is not None and user.active and user.has_role(*LEDGER_ROLES)


def visible_community_ids(session: Session, user: User) -> set[int]:
    """The jurisdictions whose cases `user` sees in a ledger (case_scope_clause's office and
    county parts; the ledgers have no investigator or panel part)."""
    ids: set[int] = set()
    if user.has_role("office"):
        ids.add(user.jurisdiction_id)
    if user.has_role("county"):
        ids.update(session.scalars(jurisdiction_subtree(user.jurisdiction_id)).all())
    return ids


class OutOfScope(LookupError):
    """The community asked for is not one the user may see."""


def scope_for(session: Session, user: User, community: str | int | None = None) -> Scope:
    """The ledger scope of `user`, narrowed to `community` when given; OutOfScope when the
    community is not theirs (or not a number: nobody's)."""
    ids = visible_community_ids(session, user)
    rows = session.execute(
        sa.select(Jurisdiction.id, Jurisdiction.name, Jurisdiction.name_en)
        .where(Jurisdiction.id.in_(ids), Jurisdiction.kind == "community")
        .order_by(Jurisdiction.code)).all() if ids else []
    communities = tuple(Community(*r) for r in rows)
    scope = Scope(community_ids=tuple(sorted(ids)), communities=communities)
    if community in (None, ""):
        return scope
    text = str(community).strip()
    if not text.isdigit():
        raise OutOfScope(text)
    chosen = next((c for c in communities if c.id == int(text)), None)
    if chosen is None:
        raise OutOfScope(text)
    return Scope(community_ids=scope.community_ids, communities=communities, chosen=chosen)
