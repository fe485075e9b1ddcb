"""The tablets' view of their team's cases: what changed since a cursor. Never writes.

The cursor is a position in the change feed (SyncChange.seq), never a clock: a number is
taken under the Counter row's lock and released only at commit
(server.sync.operations.next_value), so changes become visible in the order of their
numbers, and a reader that has seen number n will never later find a change below n
committing behind it. A full sync lists the cases themselves (also those with no change
row yet) and then continues from the feed's position when it began.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from server.accounts.models import User
from server.cases.models import Case, Household
from server.review.models import CaseReturn
from server.sync.models import SyncChange
from server.visits.access import team_ids
from server.visits.models import Visit

# What a sync answer lets the device read; each answer is one audited read of these.
SENSITIVE_FIELDS = ("household.address", "household.phone", "members.id_number", "members.health",
                    "members.disability_grade", "members.labour_ability", "members.special_identity")


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    seq: int  # every change up to here has been seen
    after: uuid.UUID | None = None  # a full sync in progress: cases listed up to this id

    def encode(self) -> str:
        text = f"1.{self.seq}" + (f".{self.after.hex}" if self.after else "")
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            parts = raw.split(".")
            if parts[0] != "1" or len(parts) not in (2, 3) or not parts[1].isdigit():
                raise BadCursor(text)
            return cls(int(parts[1]), uuid.UUID(hex=parts[2]) if len(parts) == 3 else None)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadCursor(text) from exc


@dataclass
class Page:
    cases: list[dict] = field(default_factory=list)
    removed: list[uuid.UUID] = field(default_factory=list)
    cursor: str = ""
    more: bool = False


def feed_position(session: Session) -> int:
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(SyncChange.seq), 0)))


def assignments(session: Session, user: User, cursor: Cursor | None, limit: int) -> Page:
    teams = team_ids(session, user)
    if cursor is None or cursor.after is not None:
        return _full(session, teams, cursor, limit)
    return _changes(session, teams, cursor, limit)


def _full(session: Session, teams: list[int], cursor: Cursor | None, limit: int) -> Page:
    # The feed's position first: whatever changes while the pages are fetched comes after it.
    seq = feed_position(session) if cursor is None else cursor.seq
    q = sa.select(Case).where(Case.team_id.in_(teams)).order_by(Case.id).limit(limit + 1)
    if cursor is not None:
        q = q.where(Case.id > cursor.after)
    cases = list(session.scalars(q.options(selectinload(Case.household).selectinload(Household.members))))
    more = len(cases) > limit
    cases = cases[:limit]
    return Page(cases=describe(session, cases), removed=[], more=more,
                cursor=Cursor(seq, cases[-1].id if more else None).encode())


def _changes(session: Session, teams: list[int], cursor: Cursor, limit: int) -> Page:
    if not teams:
        return Page(cursor=cursor.encode())
    last = sa.func.max(SyncChange.seq).label("last")
    rows = session.execute(
        sa.select(SyncChange.case_id, last)
        .where(SyncChange.team_id.in_(teams), SyncChange.seq > cursor.seq)
        .group_by(SyncChange.case_id).order_by(last).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return Page(cursor=cursor.encode())
    ids = [r.case_id for r in rows]
    # Each case's latest change per team since the cursor: a case the team still holds is
    # sent unless its latest change for that team took it away.
    latest = sa.select(SyncChange.case_id, SyncChange.team_id, sa.func.max(SyncChange.seq).label("seq")).where(
        SyncChange.case_id.in_(ids), SyncChange.team_id.in_(teams), SyncChange.seq > cursor.seq,
    ).group_by(SyncChange.case_id, SyncChange.team_id).subquery()
    change = {(r.case_id, r.team_id): r.change for r in session.execute(
        sa.select(SyncChange.case_id, SyncChange.team_id, SyncChange.change).join(latest, SyncChange.seq == latest.c.seq))}
    loaded = {c.id: c for c in session.scalars(
        sa.select(Case).where(Case.id.in_(ids))
        .options(selectinload(Case.household).selectinload(Household.members)))}
    keep, removed = [], []
    for case_id in ids:
        case = loaded.get(case_id)
        if case is not None and case.team_id in teams and change.get((case_id, case.team_id), "upsert") == "upsert":
            keep.append(case)
        else:
            removed.append(case_id)
    return Page(cases=describe(session, keep), removed=removed, more=more, cursor=Cursor(rows[-1].last).encode())


def describe(session: Session, cases: list[Case]) -> list[dict]:
    """Cases as the tablet gets them: household, members, previous visits, open returns."""
    if not cases:
        return []
    ids = [c.id for c in cases]
    points = {r.id: r for r in session.execute(
        sa.select(Household.id, sa.func.ST_Y(Household.location).label("lat"),
                  sa.func.ST_X(Household.location).label("lon"), Household.location_accuracy_m)
        .where(Household.id.in_([c.household_id for c in cases]), Household.location.is_not(None)))}
    visits: dict[uuid.UUID, list[dict]] = {i: [] for i in ids}
    for v in session.execute(
            sa.select(Visit.id, Visit.case_id, Visit.kind, Visit.started_at, Visit.ended_at, Visit.state,
                      Visit.conclusion).where(Visit.case_id.in_(ids)).order_by(Visit.started_at, Visit.id)):
        visits[v.case_id].append({"id": v.id, "kind": v.kind, "started_at": v.started_at, "ended_at": v.ended_at,
                                  "state": v.state, "conclusion": v.conclusion})
    returns: dict[uuid.UUID, list[dict]] = {i: [] for i in ids}
    for r in session.execute(
            sa.select(CaseReturn.case_id, CaseReturn.reasons, CaseReturn.returned_at)
            .where(CaseReturn.case_id.in_(ids), CaseReturn.closed_at.is_(None))
            .order_by(CaseReturn.returned_at, CaseReturn.id)):
        returns[r.case_id].append({"reasons": list(r.reasons or []), "returned_at": r.returned_at})
    out = []
    for c in cases:
        h = c.household
        p = points.get(h.id)
        out.append({
            "id": c.id, "number": c.number, "state": c.state, "version": c.version,
            "household": {
                "head_name": h.head_name, "address": h.address, "phone": h.phone,
                "location": None if p is None else {
                    "lat": p.lat, "lon": p.lon,
                    "accuracy_m": None if p.location_accuracy_m is None else float(p.location_accuracy_m)},
                "members": h.members,
            },
            "previous_visits": visits[c.id], "returned_reasons": returns[c.id],
            "deadlines": {"investigation_due": c.investigation_due, "case_due": c.case_due,
                          "decision_due": c.decision_due, "next_recheck_due": c.next_recheck_due},
        })
    return out
