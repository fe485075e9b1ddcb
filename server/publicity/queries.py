"""Reads of the public notice: what the public sees, the office's list of a community's
notices, a notice with its objections, a print batch, and a case's notices for its file.

The public reads select the notice's own columns only (the masked name, household size,
amount and dates): nothing of the household is joined in, so nothing else can leak."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.models import Case
from server.core.models import Jurisdiction
from server.publicity.models import Notice, Objection

NOTICE_STATES = ("posted", "ended", "withdrawn")
# A notice is shown to the public while its case waits on it: in posting, or held by an
# objection that is still open (the notice stays up until the objection sends it back).
PUBLIC_CASE_STATES = ("publicity", "objection")


def _up_on(today: dt.date) -> list[sa.ColumnElement[bool]]:
    return [Notice.state == "posted", Notice.posted_from <= today, Notice.posted_until >= today]


# --- the public page --------------------------------------------------------------------


@dataclass(frozen=True)
class PublicNotice:
    head_name_shown: str
    household_size: int
    amount: object  # Decimal
    posted_from: dt.date
    posted_until: dt.date


def public_communities(session: Session, today: dt.date) -> list:
    """Every community, with the number of notices up today: rows (id, code, name,
    name_en, posted). One query."""
    up = (sa.select(Notice.community_id, sa.func.count().label("n"))
          .join(Case, Case.id == Notice.case_id)
          .where(*_up_on(today), Case.state.in_(PUBLIC_CASE_STATES))
          .group_by(Notice.community_id).subquery())
    return session.execute(
        sa.select(Jurisdiction.id, Jurisdiction.code, Jurisdiction.name, Jurisdiction.name_en,
                  sa.func.coalesce(up.c.n, 0).label("posted"))
        .outerjoin(up, up.c.community_id == Jurisdiction.id)
        .where(Jurisdiction.kind == "community").order_by(Jurisdiction.name, Jurisdiction.id)).all()


def public_notices(session: Session, community_id: int, today: dt.date) -> list[PublicNotice]:
    """The notices of a community up today, in posting order. Only the notice's public
    columns are read."""
    rows = session.execute(
        sa.select(Notice.head_name_shown, Notice.household_size, Notice.amount, Notice.posted_from,
                  Notice.posted_until)
        .join(Case, Case.id == Notice.case_id)
        .where(Notice.community_id == community_id, *_up_on(today), Case.state.in_(PUBLIC_CASE_STATES))
        .order_by(Notice.posted_from, Notice.id))
    return [PublicNotice(*r) for r in rows]


# --- the office -------------------------------------------------------------------------


@dataclass
class NoticeRow:
    id: int
    case_id: uuid.UUID
    case_number: str
    case_state: str
    head_name_shown: str
    household_size: int
    amount: object
    posted_from: dt.date
    posted_until: dt.date
    state: str
    closed_at: dt.datetime | None
    objections: int = 0
    open_objections: int = 0

    def finished(self, today: dt.date) -> bool:
        """The posting is over with no objection open: it may go to the county."""
        return (self.state == "posted" and self.posted_until < today and self.case_state == "publicity"
                and self.open_objections == 0)

    def in_period(self, today: dt.date) -> bool:
        return self.state == "posted" and self.posted_from <= today <= self.posted_until


def office_notices(session: Session, community_id: int, state: str | None = None, limit: int = 500) -> list[NoticeRow]:
    """A community's notices, newest posting first, with each one's objections counted:
    two queries whatever the number."""
    q = (sa.select(Notice.id, Notice.case_id, Case.number, Case.state.label("case_state"), Notice.head_name_shown,
                   Notice.household_size, Notice.amount, Notice.posted_from, Notice.posted_until, Notice.state,
                   Notice.closed_at)
         .join(Case, Case.id == Notice.case_id)
         .where(Notice.community_id == community_id)
         .order_by(Notice.posted_from.desc(), Notice.id.desc()).limit(limit))
    if state:
        q = q.where(Notice.state == state)
    rows = [NoticeRow(*r) for r in session.execute(q)]
    by_id = {r.id: r for r in rows}
    if by_id:
        for notice_id, total, still_open in session.execute(
                sa.select(Objection.notice_id, sa.func.count(),
                          sa.func.count(sa.case((Objection.resolution.is_(None), 1))))
                .where(Objection.notice_id.in_(list(by_id))).group_by(Objection.notice_id)):
            by_id[notice_id].objections, by_id[notice_id].open_objections = total, still_open
    return rows


def state_counts(session: Session, community_id: int) -> dict[str, int]:
    counts = dict.fromkeys(NOTICE_STATES, 0)
    counts.update(dict(session.execute(sa.select(Notice.state, sa.func.count())
                                       .where(Notice.community_id == community_id).group_by(Notice.state)).all()))
    return counts


def finished_clause(today: dt.date) -> list[sa.ColumnElement[bool]]:
    """Notices whose posting is over, whose case still waits in publicity, with no
    objection open: what the office sends to the county (a Notice joined to its Case)."""
    return [Notice.state == "posted", Notice.posted_until < today, Case.state == "publicity",
            ~sa.exists().where(Objection.notice_id == Notice.id, Objection.resolution.is_(None))]


def finished_notices(session: Session, today: dt.date, scope: sa.ColumnElement[bool],
                     community_id: int | None = None) -> list[Notice]:
    q = (sa.select(Notice).join(Case, Case.id == Notice.case_id)
         .where(*finished_clause(today), scope).order_by(Notice.posted_until, Notice.id))
    if community_id is not None:
        q = q.where(Notice.community_id == community_id)
    return list(session.scalars(q))


@dataclass
class NoticeFile:
    notice: Notice
    case: Case
    objections: list[Objection]
    users: dict[int, User]

    @property
    def open_objections(self) -> list[Objection]:
        return [o for o in self.objections if o.resolution is None]


def _users(session: Session, ids) -> dict[int, User]:
    ids = sorted({i for i in ids if i})
    return {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}


def notice_file(session: Session, notice: Notice) -> NoticeFile:
    case = session.get(Case, notice.case_id)
    objections = list(session.scalars(sa.select(Objection).where(Objection.notice_id == notice.id)
                                      .order_by(Objection.received_at, Objection.id)))
    users = _users(session, [notice.created_by_id] + [o.received_by_id for o in objections]
                   + [o.resolved_by_id for o in objections])
    return NoticeFile(notice=notice, case=case, objections=objections, users=users)


def print_batch(session: Session, community_id: int, today: dt.date,
                posted_from: dt.date | None = None) -> list[Notice]:
    """The notices of a community up for posting (not ended or withdrawn, period not over),
    in posting order; only those first posted on `posted_from` when given."""
    q = (sa.select(Notice).where(Notice.community_id == community_id, Notice.state == "posted",
                                 Notice.posted_until >= today)
         .order_by(Notice.posted_from, Notice.id))
    if posted_from is not None:
        q = q.where(Notice.posted_from == posted_from)
    return list(session.scalars(q))


# --- the case file ----------------------------------------------------------------------


@dataclass
class CaseNotices:
    """A case's notices (newest first) and each one's objections, for the case file's
    section (`publicity/_case_section.html`)."""

    notices: list[Notice]
    objections: dict[int, list[Objection]] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)

    @property
    def open_objections(self) -> int:
        return sum(1 for items in self.objections.values() for o in items if o.resolution is None)


def case_notices(session: Session, case_id: uuid.UUID) -> CaseNotices:
    """Three queries: the notices, their objections, the users named."""
    notices = list(session.scalars(sa.select(Notice).where(Notice.case_id == case_id)
                                   .order_by(Notice.posted_from.desc(), Notice.id.desc())))
    objections: dict[int, list[Objection]] = {n.id: [] for n in notices}
    if notices:
        for o in session.scalars(sa.select(Objection).where(Objection.case_id == case_id)
                                 .order_by(Objection.received_at, Objection.id)):
            objections.setdefault(o.notice_id, []).append(o)
    users = _users(session, [n.created_by_id for n in notices]
                   + [o.received_by_id for items in objections.values() for o in items]
                   + [o.resolved_by_id for items in objections.values() for o in items])
    return CaseNotices(notices=notices, objections=objections, users=users)
