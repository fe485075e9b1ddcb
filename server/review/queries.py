"""Reads for the office's review: a case's quality flags, the review queue and the case file."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.access import case_scope_clause
from server.cases.lifecycle import overdue, overdue_clause
from server.cases.models import Case, Household
from server.core.models import Jurisdiction
from server.review.flags import CODES, SEVERITY_RANK
from server.review.models import SEVERITIES, Flag
from server.visits.models import Visit, VisitConflict, VisitInvestigator

_CODE_ORDER = {code: i for i, code in enumerate(CODES)}


def flags_for_case(session: Session, case_id: uuid.UUID, include_dismissed: bool = True) -> list[Flag]:
    """The case's flags: open before dismissed, then errors, warnings, info, then in the
    order the checks run (CODES), oldest first."""
    q = sa.select(Flag).where(Flag.case_id == case_id)
    if not include_dismissed:
        q = q.where(Flag.dismissed_at.is_(None))
    flags = session.scalars(q).all()
    return sorted(flags, key=lambda f: (f.dismissed_at is not None, SEVERITY_RANK.get(f.severity, len(SEVERITIES)),
                                        _CODE_ORDER.get(f.code, len(CODES)), f.created_at, f.id))


def open_flag_counts(session: Session, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """For each case asked about: its open (not dismissed) flags counted by severity, every
    severity present (0 when none), in one query."""
    ids = list(dict.fromkeys(case_ids))
    counts = {case_id: {severity: 0 for severity in reversed(SEVERITIES)} for case_id in ids}
    if not ids:
        return counts
    rows = session.execute(
        sa.select(Flag.case_id, Flag.severity, sa.func.count())
        .where(Flag.case_id.in_(ids), Flag.dismissed_at.is_(None))
        .group_by(Flag.case_id, Flag.severity)
    )
    for case_id, severity, n in rows:
        counts[case_id][severity] = n
    return counts


# --- the review queue -----------------------------------------------------------------

# The states a case waits in for the office's review, in the order the queue's tabs show
# them; the default view is the first two (a synced visit to judge).
QUEUE_STATES = ("submitted", "in_review", "returned", "panel", "objection")
DEFAULT_STATES = ("submitted", "in_review")
SORTS = ("waiting", "newest", "deadline", "number")
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class QueueFilter:
    community_id: int | None = None
    state: str | None = None  # None: DEFAULT_STATES
    flag: str | None = None  # an open flag of this code
    investigator_id: int | None = None  # made the case's visit
    received_from: dt.date | None = None  # a visit received on or after (local date)
    received_to: dt.date | None = None
    overdue: bool = False
    sort: str = "waiting"
    per_page: int = 50


@dataclass
class QueueRow:
    id: uuid.UUID
    number: str
    state: str
    version: int
    head_name: str
    community: str
    community_en: str | None
    state_changed_at: dt.datetime
    case_due: dt.date | None
    overdue: list[str]
    flags: list = field(default_factory=list)  # rows of (id, case_id, code, severity, params)
    visit_received_at: dt.datetime | None = None
    investigators: list[str] = field(default_factory=list)
    open_conflicts: int = 0
    sort_key: object = None


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    counts: dict[str, int]
    total: int  # cases matching the filter (all pages)


def _sort_column(sort: str):
    return {"waiting": Case.state_changed_at, "newest": Case.state_changed_at,
            "deadline": Case.case_due, "number": Case.number}[sort]


def encode_cursor(sort: str, value, case_id: uuid.UUID) -> str:
    if isinstance(value, dt.datetime):
        text = "t" + value.astimezone(dt.timezone.utc).isoformat()
    elif isinstance(value, dt.date):
        text = "d" + value.isoformat()
    elif value is None:
        text = "n"
    else:
        text = "s" + str(value)
    raw = json.dumps([sort, text, case_id.hex], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str):
    """(value, case id) of the last row of the previous page; ValueError when the cursor is
    not one of ours or belongs to another sort order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind_sort, text, hex_id = json.loads(raw)
        case_id = uuid.UUID(hex=hex_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError("bad cursor") from exc
    if kind_sort != sort or not isinstance(text, str) or not text:
        raise ValueError("cursor of another order")
    tag, body = text[0], text[1:]
    if tag == "t":
        value = dt.datetime.fromisoformat(body)
    elif tag == "d":
        value = dt.date.fromisoformat(body)
    elif tag == "n":
        value = None
    elif tag == "s":
        value = body
    else:
        raise ValueError("bad cursor")
    return value, case_id


def _after(sort: str, value, case_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """Rows after (value, id) in the queue's order: a keyset, so a page costs the same
    wherever it is (no OFFSET). NULL deadlines sort last."""
    col = _sort_column(sort)
    if sort == "newest":  # descending, ties by id descending
        return sa.or_(col < value, sa.and_(col == value, Case.id < case_id))
    if value is None:
        return sa.and_(col.is_(None), Case.id > case_id)
    return sa.or_(col > value, sa.and_(col == value, Case.id > case_id), col.is_(None))


def _order(sort: str):
    col = _sort_column(sort)
    if sort == "newest":
        return [col.desc(), Case.id.desc()]
    return [sa.nulls_last(col.asc()), Case.id.asc()]


def _local_day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(dt.timezone.utc)


def queue_conditions(user: User, f: QueueFilter, today: dt.date, tz: str, *,
                     with_state: bool = True) -> list[sa.ColumnElement[bool]]:
    """The WHERE of the queue: the user's scope (access.case_scope_clause), then each filter."""
    conds: list[sa.ColumnElement[bool]] = [case_scope_clause(user)]
    if with_state:
        conds.append(Case.state == f.state if f.state else Case.state.in_(DEFAULT_STATES))
    else:
        conds.append(Case.state.in_(QUEUE_STATES))
    if f.community_id is not None:
        conds.append(Case.community_id == f.community_id)
    if f.flag:
        conds.append(sa.exists().where(Flag.case_id == Case.id, Flag.code == f.flag, Flag.dismissed_at.is_(None)))
    if f.investigator_id is not None:
        conds.append(sa.exists().where(Visit.case_id == Case.id, VisitInvestigator.visit_id == Visit.id,
                                       VisitInvestigator.user_id == f.investigator_id))
    if f.received_from is not None or f.received_to is not None:
        received = [Visit.case_id == Case.id]
        if f.received_from is not None:
            received.append(Visit.received_at >= _local_day_start(f.received_from, tz))
        if f.received_to is not None:
            received.append(Visit.received_at < _local_day_start(f.received_to + dt.timedelta(days=1), tz))
        conds.append(sa.exists().where(*received))
    if f.overdue:
        conds.append(overdue_clause(today))
    return conds


def review_queue(session: Session, user: User, f: QueueFilter, today: dt.date, tz: str,
                 cursor: str | None = None) -> QueuePage:
    """One page of the queue and the counts per state, in a fixed number of queries
    whatever the page size: the page, the counts, and one query each for the page's
    flags, visits and conflicts."""
    conds = queue_conditions(user, f, today, tz)
    q = (sa.select(Case.id, Case.number, Case.state, Case.version, Case.state_changed_at, Case.case_due,
                   Case.investigation_due, Case.decision_due, Case.next_recheck_due, Case.special,
                   Household.head_name, Jurisdiction.name, Jurisdiction.name_en)
         .join(Household, Household.id == Case.household_id)
         .join(Jurisdiction, Jurisdiction.id == Case.community_id)
         .where(*conds).order_by(*_order(f.sort)).limit(f.per_page + 1))
    if cursor:
        value, last_id = decode_cursor(cursor, f.sort)
        q = q.where(_after(f.sort, value, last_id))
    result = session.execute(q).all()
    more = len(result) > f.per_page
    result = result[:f.per_page]
    rows = []
    for r in result:
        probe = SimpleNamespace(state=r.state, case_due=r.case_due, investigation_due=r.investigation_due,
                                decision_due=r.decision_due, next_recheck_due=r.next_recheck_due)
        rows.append(QueueRow(id=r.id, number=r.number, state=r.state, version=r.version, head_name=r.head_name,
                             community=r.name, community_en=r.name_en, state_changed_at=r.state_changed_at,
                             case_due=r.case_due, overdue=overdue(probe, today),
                             sort_key={"waiting": r.state_changed_at, "newest": r.state_changed_at,
                                       "deadline": r.case_due, "number": r.number}[f.sort]))
    next_cursor = encode_cursor(f.sort, rows[-1].sort_key, rows[-1].id) if more and rows else None
    _fill_rows(session, rows)

    count_conds = queue_conditions(user, f, today, tz, with_state=False)
    counts = {s: 0 for s in QUEUE_STATES}
    counts.update(dict(session.execute(
        sa.select(Case.state, sa.func.count()).where(*count_conds).group_by(Case.state)).all()))
    total = counts[f.state] if f.state else sum(counts[s] for s in DEFAULT_STATES)
    return QueuePage(rows=rows, next_cursor=next_cursor, counts=counts, total=total)


def _fill_rows(session: Session, rows: list[QueueRow]) -> None:
    """Each row's open flags, latest visit (when received, by whom) and unresolved
    conflicts: three queries for the whole page."""
    if not rows:
        return
    by_id = {r.id: r for r in rows}
    ids = list(by_id)
    # Plain rows, not Flag objects: a long page has hundreds of flags.
    for flag in session.execute(sa.select(Flag.id, Flag.case_id, Flag.code, Flag.severity, Flag.params)
                                .where(Flag.case_id.in_(ids), Flag.dismissed_at.is_(None))):
        by_id[flag.case_id].flags.append(flag)
    for row in rows:
        row.flags.sort(key=lambda fl: (SEVERITY_RANK.get(fl.severity, 9), _CODE_ORDER.get(fl.code, len(CODES)), fl.id))
    latest = (sa.select(Visit.case_id, sa.func.max(Visit.received_at).label("at"))
              .where(Visit.case_id.in_(ids)).group_by(Visit.case_id).subquery())
    visits = session.execute(
        sa.select(Visit.case_id, Visit.id, Visit.received_at, User.display_name)
        .join(latest, sa.and_(latest.c.case_id == Visit.case_id, latest.c.at == Visit.received_at))
        .outerjoin(VisitInvestigator, VisitInvestigator.visit_id == Visit.id)
        .outerjoin(User, User.id == VisitInvestigator.user_id)
        .order_by(Visit.case_id, User.display_name)).all()
    for v in visits:
        row = by_id[v.case_id]
        row.visit_received_at = v.received_at
        if v.display_name and v.display_name not in row.investigators:
            row.investigators.append(v.display_name)
    for case_id, n in session.execute(
            sa.select(Visit.case_id, sa.func.count(VisitConflict.id))
            .join(VisitConflict, VisitConflict.visit_id == Visit.id)
            .where(Visit.case_id.in_(ids), VisitConflict.resolved_at.is_(None)).group_by(Visit.case_id)):
        by_id[case_id].open_conflicts = n


def queue_choices(session: Session, user: User) -> tuple[list, list]:
    """The communities and investigators the filters offer: those in the user's scope, as
    (id, name, name_en) and (id, display_name) rows."""
    from server.accounts.models import UserRole
    from server.cases.access import jurisdiction_subtree

    if user.has_role("county"):
        place = Jurisdiction.id.in_(jurisdiction_subtree(user.jurisdiction_id))
    else:
        place = Jurisdiction.id == user.jurisdiction_id
    communities = session.execute(sa.select(Jurisdiction.id, Jurisdiction.name, Jurisdiction.name_en)
                                  .where(place, Jurisdiction.kind == "community").order_by(Jurisdiction.name)).all()
    ids = [c.id for c in communities] or [user.jurisdiction_id]
    investigators = session.execute(
        sa.select(User.id, User.display_name).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "investigator", User.jurisdiction_id.in_(ids)).order_by(User.display_name)).all()
    return communities, investigators


# --- the case file --------------------------------------------------------------------


@dataclass
class Point:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass
class Computation:
    """The policy engine's answer on a visit's findings, or why there is none."""

    evaluation: object | None  # engine.Evaluation
    version: object | None  # PolicyVersion in force (None: the defaults)
    on: dt.date
    error: str | None = None


@dataclass
class CaseFile:
    case: Case
    household: Household
    members: list
    visits: list[Visit]  # newest first, parts loaded
    latest: Visit | None
    investigators: dict[int, User]
    photos: dict[str, object]  # sha256 -> Photo (stored ones)
    points: dict[str, Point]  # "household", "visit:<id>", "photo:<visit_photo id>", "testimony:<id>"
    flags: list[Flag]
    photo_flags: dict[str, list[Flag]]
    transitions: list
    returns: list
    comments: list
    corrections: list
    audit: list
    users: dict[int, User]
    computation: Computation | None
    conflicts: list[VisitConflict]


def _points(session: Session, model, ids, key: str) -> dict[str, Point]:
    if not ids:
        return {}
    accuracy = getattr(model, "location_accuracy_m", None)
    cols = [model.id, sa.func.ST_Y(model.location), sa.func.ST_X(model.location)]
    cols.append(accuracy if accuracy is not None else sa.null())
    rows = session.execute(sa.select(*cols).where(model.id.in_(list(ids)), model.location.is_not(None)))
    return {f"{key}:{i}": Point(float(lat), float(lon), None if acc is None else float(acc)) for i, lat, lon, acc in rows}


def case_file(session: Session, case: Case, today: dt.date) -> CaseFile:
    """Everything the case file shows, in a fixed number of queries whatever the number
    of visits, photos, members or events."""
    from sqlalchemy.orm import selectinload

    from server.accounts.models import User as U
    from server.cases.models import CaseTransition, Member
    from server.core.audit import AuditEvent
    from server.photos.models import Photo
    from server.review.models import CaseReturn, Comment, Correction
    from server.visits.models import Visit as V

    household = session.get(Household, case.household_id)
    members = list(session.scalars(sa.select(Member).where(Member.household_id == household.id)
                                   .order_by(Member.position, Member.id)))
    visits = list(session.scalars(
        sa.select(V).where(V.case_id == case.id).order_by(V.received_at.desc(), V.id)
        .options(selectinload(V.investigators), selectinload(V.members), selectinload(V.income),
                 selectinload(V.expenditure), selectinload(V.assets), selectinload(V.testimonies),
                 selectinload(V.photos), selectinload(V.signatures), selectinload(V.conflicts))))
    latest = visits[0] if visits else None
    hashes = {p.sha256 for v in visits for p in v.photos}
    hashes |= {s.image_sha256 for v in visits for s in v.signatures}
    hashes |= {t.signature_sha256 for v in visits for t in v.testimonies if t.signature_sha256}
    photos = {p.sha256: p for p in session.scalars(sa.select(Photo).where(Photo.sha256.in_(sorted(hashes))))} \
        if hashes else {}

    points: dict[str, Point] = {}
    hp = session.execute(sa.select(sa.func.ST_Y(Household.location), sa.func.ST_X(Household.location),
                                   Household.location_accuracy_m)
                         .where(Household.id == household.id, Household.location.is_not(None))).first()
    if hp is not None:
        points["household"] = Point(float(hp[0]), float(hp[1]), None if hp[2] is None else float(hp[2]))
    visit_rows = session.execute(sa.select(V.id, sa.func.ST_Y(V.location), sa.func.ST_X(V.location),
                                           V.location_accuracy_m)
                                 .where(V.case_id == case.id, V.location.is_not(None)))
    for vid, lat, lon, acc in visit_rows:
        points[f"visit:{vid}"] = Point(float(lat), float(lon), None if acc is None else float(acc))
    from server.visits.models import Testimony, VisitPhoto

    points.update(_points(session, VisitPhoto, [p.id for v in visits for p in v.photos], "photo"))
    points.update(_points(session, Testimony, [t.id for v in visits for t in v.testimonies], "testimony"))

    flags = flags_for_case(session, case.id)
    photo_flags: dict[str, list[Flag]] = {}
    for fl in flags:
        if fl.photo_sha256:
            photo_flags.setdefault(fl.photo_sha256, []).append(fl)
        sha = (fl.params or {}).get("sha256") if isinstance(fl.params, dict) else None
        if sha and not fl.photo_sha256:
            photo_flags.setdefault(sha, []).append(fl)

    transitions = list(session.scalars(sa.select(CaseTransition).where(CaseTransition.case_id == case.id)
                                       .order_by(CaseTransition.at, CaseTransition.id)))
    returns = list(session.scalars(sa.select(CaseReturn).where(CaseReturn.case_id == case.id)
                                   .order_by(CaseReturn.returned_at, CaseReturn.id)))
    comments = list(session.scalars(sa.select(Comment).where(Comment.case_id == case.id)
                                    .order_by(Comment.at, Comment.id)))
    visit_ids = [v.id for v in visits]
    corrections = list(session.scalars(sa.select(Correction).where(Correction.visit_id.in_(visit_ids))
                                       .order_by(Correction.at, Correction.id))) if visit_ids else []
    events = list(session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case.id)
                                  .order_by(AuditEvent.id.desc()).limit(200)))
    conflicts = [c for v in visits for c in v.conflicts]

    user_ids = {i.user_id for v in visits for i in v.investigators}
    user_ids |= {v.submitted_by_id for v in visits}
    user_ids |= {t.actor_id for t in transitions if t.actor_id}
    user_ids |= {r.returned_by_id for r in returns} | {c.author_id for c in comments} | {c.by_id for c in corrections}
    user_ids |= {c.resolved_by_id for c in conflicts if c.resolved_by_id} | {c.submitted_by_id for c in conflicts}
    users = {u.id: u for u in session.scalars(sa.select(U).where(U.id.in_(sorted(user_ids))))} if user_ids else {}
    investigators = {uid: users[uid] for uid in {i.user_id for v in visits for i in v.investigators} if uid in users}

    return CaseFile(case=case, household=household, members=members, visits=visits, latest=latest,
                    investigators=investigators, photos=photos, points=points, flags=flags, photo_flags=photo_flags,
                    transitions=transitions, returns=returns, comments=comments, corrections=corrections,
                    audit=events, users=users, computation=computation(session, case, latest) if latest else None,
                    conflicts=conflicts)


def computation(session: Session, case: Case, visit: Visit) -> Computation:
    """The policy engine on the visit's findings, with the policy in force for the case's
    community on the visit's (local) date: why eligible or not, and the allowance."""
    from server.cases.lifecycle import local_today
    from server.policy import engine
    from server.policy.queries import version_in_force
    from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults
    from server.review.flags import household_in

    on = local_today(visit.started_at)
    version = version_in_force(session, case.community, on)
    settings = PolicySettings.from_dict(merge_defaults(version.settings) if version else DEFAULT_SETTINGS)
    try:
        result = engine.evaluate(settings, household_in(visit), on)
    except engine.PolicyInputError as exc:
        return Computation(None, version, on, error=f"{exc.field}: {exc.message}")
    return Computation(result, version, on)


def conflict_rows(stored: dict, received: dict) -> list[tuple[str, object, object, bool]]:
    """Both versions of a visit flattened to dotted fields ("members.0.name"), side by
    side: (field, stored value, received value, differs), in the body's order."""
    a, b = _flatten(stored), _flatten(received)
    keys = list(a) + [k for k in b if k not in a]
    return [(k, a.get(k), b.get(k), a.get(k) != b.get(k)) for k in keys]


def _flatten(value, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        if not value and prefix:
            out[prefix] = []
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = value
    return out


def conflict_sections(stored: dict, received: dict) -> list[str]:
    """The top-level parts of a visit body that differ between the two versions: the
    choice the office makes, part by part."""
    keys = list(stored) + [k for k in received if k not in stored]
    return [k for k in keys if stored.get(k) != received.get(k)]
