"""Writes about visits: a visit arriving from a tablet (exactly once), a photo completing
it, and the conflict record when a device sends a different body for a stored visit.

Ordering on PostgreSQL (SQLite's write lock serialises every writing transaction, so
none of this arises there):

- A new visit locks its case row first (FOR UPDATE): fifty resends of one visit queue on
  it, and each later one finds the stored visit instead of inserting. Two visits that
  share a UUID but name different cases meet at the primary key instead; the insert is
  in a savepoint, so the loser re-reads and answers 200 or 409.
- Whether a visit's photos have all arrived is decided under the audit log's lock (the
  one `audit.record` takes, held until commit). A visit and its last photo may arrive at
  the same moment on two connections; the one that takes the lock second sees the
  other's committed rows, so the visit cannot be left waiting for a photo that is there.
- A different body for a stored visit takes the audit lock, then the visit's row (never
  the other way round: a request that lost the insert arrives there holding the first).
- Locks are taken case row first, audit lock second, as lifecycle moves take them. The
  one exception is a last photo completing a visit: it must hold the audit lock before it
  can know which case to lock. Should that meet a new visit of the same case at the same
  instant, PostgreSQL breaks the deadlock and one request answers 503 `busy`, which the
  device retries.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import lifecycle
from server.cases.models import Case
from server.core import audit
from server.core.db import point_wkt, utcnow
from server.core.errors import Conflict, Problem, ValidationProblem
from server.policy import queries as policy_queries
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings
from server.review import flags
from server.review.models import CaseReturn, Flag
from server.sync import operations as sync
from server.visits import queries
from server.visits.access import VISITABLE_STATES
from server.visits.models import (
    Asset, Expenditure, IncomeItem, Signature, Testimony, Visit, VisitConflict, VisitInvestigator, VisitMember,
    VisitPhoto,
)


class VisitConflictProblem(Conflict):
    """A different body for a visit already stored: both are kept for the office."""

    code, title = "visit-conflict", "A different visit was already received under this id"


class CaseNotVisitable(Conflict):
    code, title = "case-not-visitable", "The case is not waiting for a visit"


class AlreadyReceived(Exception):
    """A concurrent PUT of the same UUID stored its visit first."""

    def __init__(self, visit: Visit):
        super().__init__(str(visit.id))
        self.visit = visit


@dataclass
class Received:
    visit: Visit | None  # None for a new visit: its answer is all the caller needs
    answer: dict


def lock_case(session: Session, case_id: uuid.UUID) -> Case | None:
    """The case, its row locked until commit (PostgreSQL; SQLite's write lock is already
    held): visits of one case are received one at a time, each seeing the last."""
    return session.get(Case, case_id, with_for_update=True)


def hold_photo_lock(session: Session) -> None:
    """Take the audit log's lock now (see the module's docstring): from here on this
    transaction sees every visit and photo committed before it, and none commits until
    it does. The same key `audit.record` takes, so the order of locks stays the same."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(audit._PG_LOCK_KEY)))


def resend(session: Session, visit: Visit, body: dict, body_hash: str, user: User) -> Received:
    """The same UUID again: the stored answer for an identical body (nothing is written);
    otherwise the new body is kept beside the stored one and a VisitConflictProblem raised.
    The caller must keep this transaction although it answers with an error."""
    if body_hash == visit.body_hash:
        return Received(visit, queries.answer(session, visit))
    # One conflict row per body. The audit lock comes before the visit's row, as on the path
    # of a PUT that found no visit, lost the insert and came here holding it: taking the
    # two the other way round deadlocks with that request.
    hold_photo_lock(session)
    session.get(Visit, visit.id, with_for_update=True, populate_existing=True)
    conflict = session.scalar(sa.select(VisitConflict).where(VisitConflict.visit_id == visit.id,
                                                             VisitConflict.body_hash == body_hash).limit(1))
    if conflict is None:
        conflict = VisitConflict(visit_id=visit.id, body=body, body_hash=body_hash, submitted_by_id=user.id)
        session.add(conflict)
        session.flush()
        audit.record(session, "visit.conflict", "visit", visit.id, case_id=visit.case_id,
                     after={"conflict_id": conflict.id, "body_hash": body_hash, "stored_body_hash": visit.body_hash})
    raise VisitConflictProblem(
        "A different visit is already stored under this id; both are kept for the office to resolve.",
        visit_id=str(visit.id), conflict_id=conflict.id, stored_body_hash=visit.body_hash,
        received_body_hash=body_hash, state=visit.state)


def receive_visit(session: Session, visit_id: uuid.UUID, case: Case, data: dict, body: dict, body_hash: str,
                  user: User) -> Received:
    """Store a new visit of `case` (locked by `lock_case`; access already checked) with all
    its parts, and its flags. `data` is the parsed body, `body` its canonical JSON. Raises
    AlreadyReceived when a concurrent request stored the same UUID first.

    Everything is written from what the body says: the visit and its parts in one
    multi-row INSERT per table, the flags from the same parsed facts (nothing is read
    back), so a visit costs about twenty statements."""
    names = data["investigators"]
    investigators = dict(session.execute(sa.select(User.username, User.id).where(User.username.in_(names))).all())
    unknown = {f"investigators.{i}": ["No such user."] for i, name in enumerate(names) if name not in investigators}
    if unknown:
        raise ValidationProblem(unknown)
    if case.state not in VISITABLE_STATES:
        raise CaseNotVisitable(f"A visit cannot be received for a case in state {case.state}.", state=case.state,
                               visitable_states=list(VISITABLE_STATES))

    now = utcnow()
    facts = flags.facts_from_body(visit_id, data)
    hold_photo_lock(session)  # before looking: a photo arriving now completes this visit after our commit
    known = flags.known_photos(session, facts.named)
    missing = sorted(facts.named - known.keys())
    location = data.get("location")
    housing = data.get("housing") or {}
    values = dict(
        id=visit_id, case_id=case.id, kind=data["kind"], state="awaiting_photos" if missing else "in_review",
        started_at=data["started_at"], ended_at=data["ended_at"],
        location=point_wkt(location["lat"], location["lon"]) if location else None,
        location_accuracy_m=_accuracy(location), device_id=data.get("device_id"), submitted_by_id=user.id,
        received_at=now, complete_at=None if missing else now, housing_tenure=housing.get("tenure"),
        housing_area_m2=housing.get("area_m2"), housing_condition=housing.get("condition"),
        conclusion=data.get("conclusion") or "", notes=data.get("notes") or "", body=body, body_hash=body_hash)
    if not _insert_new(session, values):
        existing = session.get(Visit, visit_id, populate_existing=True)
        if existing is None:  # the request that held the UUID rolled back: the device resends
            raise Problem("The visit could not be stored just now; send it again.", status=503, code="busy",
                          title="Busy", retry_after=1)
        raise AlreadyReceived(existing)

    settings, counted = _policy(session, case, data["started_at"])
    transitioned = False
    if case.state == "returned":
        # A re-visit: the case goes back to its team's hands (the system's move, not a click).
        lifecycle.transition(session, case, "investigating", None)
        transitioned = True
    _insert_parts(session, visit_id, data, body, [investigators[n] for n in names], counted)
    if not missing:
        transitioned |= _submit(session, case, now)
    audit.record(session, "visit.received", "visit", visit_id, case_id=case.id,
                 after={"kind": values["kind"], "state": values["state"], "body_hash": body_hash,
                        "missing_photos": len(missing), "device_id": values["device_id"]})
    if not transitioned:
        sync.case_changed(session, case.id, case.team_id)  # the team's tablets see the visit in the case
    found = flags.flag_new_visit(session, case, facts, settings, known)
    return Received(None, {"id": visit_id, "state": values["state"], "missing_photos": missing,
                           "flags": queries.flags_out(found)})


def _insert_new(session: Session, values: dict) -> bool:
    """INSERT the visit unless its UUID is already stored (ON CONFLICT DO NOTHING: a
    concurrent PUT of the same UUID waits for the first to commit, then inserts nothing).
    True when this request stored it."""
    table = Visit.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stored = insert.values(values).on_conflict_do_nothing(index_elements=[table.c.id]).returning(table.c.id)
    return session.connection().execute(stored).first() is not None  # no row back: nothing inserted


def photo_arrived(session: Session, sha256: str) -> list[Visit]:
    """A photo was stored: every visit waiting for it that now has all its images enters
    the review queue (and its case moves to submitted). Returns the visits completed."""
    hold_photo_lock(session)
    done = []
    for visit in queries.awaiting_visits_naming(session, sha256):
        if queries.missing_photos(session, queries.named_hashes(visit.body)):
            continue
        case = lock_case(session, visit.case_id)
        if not _complete(session, visit, case, utcnow()):
            sync.case_changed(session, case.id, case.team_id)
        audit.record(session, "visit.complete", "visit", visit.id, case_id=case.id, actor=None,
                     after={"state": visit.state, "last_photo": sha256})
        _refresh_flags(session, visit)
        done.append(visit)
    return done


def _complete(session: Session, visit: Visit, case: Case, now) -> bool:
    """Every image has arrived: the visit enters the review queue, the case is submitted
    (by the system) and the office's returns it answered are closed. True when the case moved."""
    visit.state = "in_review"
    visit.complete_at = now
    return _submit(session, case, now)


def _submit(session: Session, case: Case, now) -> bool:
    """A visit of `case` entered the review queue: close the returns it answered and move
    the case to submitted (the system's move). True when the case moved."""
    session.execute(sa.update(CaseReturn).where(CaseReturn.case_id == case.id, CaseReturn.closed_at.is_(None))
                    .values(closed_at=now), execution_options={"synchronize_session": False})
    if case.state == "investigating":
        lifecycle.transition(session, case, "submitted", None)
        return True
    return False


def _refresh_flags(session: Session, visit: Visit) -> list[Flag]:
    return flags.refresh_flags(session, visit)


def _accuracy(point: dict | None) -> Decimal | None:
    if not point or point.get("accuracy_m") is None:
        return None
    return Decimal(str(point["accuracy_m"])).quantize(Decimal("0.1"))


def _policy(session: Session, case: Case, started_at) -> tuple[PolicySettings, frozenset[str]]:
    """The policy for the flags (in force on the day of the visit) and the income kinds
    that count (M21 Art 13: in force where and when the visit is received), in one query."""
    visit_day, today = lifecycle.local_today(started_at), lifecycle.local_today()
    found = policy_queries.settings_in_force(session, case.community_id, [visit_day, today])
    settings = flags.settings_from(found[visit_day])
    counted = (found[today] or DEFAULT_SETTINGS).get("counted_income_kinds", DEFAULT_SETTINGS["counted_income_kinds"])
    return settings, frozenset(counted)


def _insert_parts(session: Session, vid: uuid.UUID, data: dict, body: dict, user_ids: list[int],
                  counted: frozenset[str]) -> None:
    """The visit's searchable parts, one multi-row INSERT per table (a visit has dozens of
    rows; the ORM unit of work would cost more than the database does)."""

    def point(p):
        return point_wkt(p["lat"], p["lon"]) if p else None

    rows: list[tuple[sa.Table, list[dict]]] = [
        (VisitInvestigator.__table__, [{"visit_id": vid, "user_id": uid} for uid in user_ids]),
        (VisitMember.__table__, [{
            "visit_id": vid, "position": i, "name": m["name"], "id_number": m.get("id_number"),
            "relation": m.get("relation"), "sex": m.get("sex"), "birth_date": m.get("birth_date"),
            "hukou_type": m.get("hukou_type"), "education": m.get("education"), "health": m.get("health"),
            "disability_grade": m.get("disability_grade"), "labour_ability": m.get("labour_ability"),
            "work_status": m.get("work_status"), "student": bool(m.get("student")),
            "special_identity": m.get("special_identity"), "class": m.get("klass"),
            "counted": m.get("counted", True)} for i, m in enumerate(data["members"])]),
        (IncomeItem.__table__, [{"visit_id": vid, "member_position": x.get("member"), "kind": x["kind"],
                                 "monthly_amount": x["monthly_amount"], "counted": x["kind"] in counted, "note": None}
                                for x in data["income"]]),
        (Expenditure.__table__, [{"visit_id": vid, "kind": x["kind"], "monthly_amount": x["monthly_amount"],
                                  "note": None} for x in data["expenditure"]]),
        (Asset.__table__, [{"visit_id": vid, "position": i, "category": a["category"],
                            "description": a.get("description") or "", "value": a.get("value"),
                            "count": a.get("count", 1), "disqualifying": a.get("disqualifying", False),
                            "disability_mobility": a.get("disability_mobility", False),
                            "photo_hashes": list(a.get("photos") or [])} for i, a in enumerate(data["assets"])]),
        (Testimony.__table__, [{"visit_id": vid, "witness_name": t["witness_name"], "role": t["role"],
                                "contact": t.get("contact"), "answers": body["testimonies"][i]["answers"],
                                "matches_declaration": (t.get("answers") or {}).get("matches_declaration"),
                                "statement": t.get("statement") or "", "location": point(t.get("location")),
                                "location_accuracy_m": _accuracy(t.get("location")), "at": t.get("at"),
                                "signature_sha256": t.get("signature")} for i, t in enumerate(data["testimonies"])]),
        (VisitPhoto.__table__, [{"visit_id": vid, "sha256": p["sha256"], "kind": p["kind"], "taken_at": p.get("taken_at"),
                                 "location": point(p.get("location")),
                                 "location_accuracy_m": _accuracy(p.get("location"))} for p in data["photos"]]),
        (Signature.__table__, [{"visit_id": vid, "role": s["role"], "name": s["name"], "image_sha256": s["image"]}
                               for s in data["signatures"]]),
    ]
    conn = session.connection()  # Core statements: the ORM's execution layer has nothing to add
    for table, values in rows:
        if values:
            conn.execute(table.insert(), values)
