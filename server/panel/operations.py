"""Writes of the evaluation panel (民主评议; M12 Art 22–24 and local rules, M21 Art 11):
scheduling a session, attendance, recusals, opening, anonymous voting and scoring,
closing each item (which moves its case on) and the session, signatures and minutes.
Each write flushes (never commits) and is audited; a refused action raises a Problem
(409 for a rule, 403 for a member who may not vote, 422 for bad input) before it has
changed anything.

Anonymity of the vote
---------------------
A member's vote is two rows that nothing joins: a VoteReceipt says THAT the member voted
on the item (so nobody votes twice), a Vote holds the choice and, through Score, the
scores, with a random id and no member and no time. Neither the audit log nor any log,
page or export ever holds a choice: the audit log records that a member voted, and the
tallies once the item is closed.

Rows still betray their order to someone who reads the database's internals: a Vote
inserted in the transaction of its receipt shares the receipt's `xmin` (PostgreSQL) and
sits next to it in physical order (`ctid`; SQLite's `rowid`). So when an item is
closed, its votes, scores and receipts are deleted and written again in one
transaction, with fresh random ids: the ballots in an order that depends only on their
content (choice, then scores; ties in random order), the receipts in member order. After
the close every live row of the item has the closing transaction's `xmin`, and
neither `ctid`/`rowid` order nor ids say which member cast which ballot. On SQLite the
delete runs with `secure_delete` on, so the freed cells are zeroed.

What this does not defend against, and where to look instead:
- someone with database access watching WHILE the item is open for voting (polling
  the tables, `xmin`/`ctid`, row-level logging or triggers added by a DBA) sees each
  ballot arrive with its receipt, until the close rewrites them;
- until PostgreSQL vacuums the table, the dead versions of the deleted rows keep their
  old `xmin` and position (readable with pageinspect), and the WAL (and any WAL archive
  or logical replication stream) keeps each insert as it happened; on SQLite the WAL
  file keeps old page images until the next checkpoint. Run VACUUM and checkpoints, and
  keep WAL archives and statement logging (`log_statement = 'all'`) at the level of
  access the ballot itself deserves;
- a reverse proxy or load balancer that logs request bodies records the choice with
  the member's session cookie: never log bodies of `/panel/…/vote` and `/…/ballot/…`;
- a tally with one voter, or a unanimous tally, says how everyone voted; that is the
  nature of the result, not a leak.
"""
from __future__ import annotations

import binascii
import datetime as dt
import io
import secrets
import uuid
from collections import defaultdict
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import access as case_access
from server.cases import lifecycle
from server.cases.models import Case
from server.core import audit
from server.core.audit import AuditEvent
from server.core.db import utcnow
from server.core.errors import Conflict, Forbidden, ValidationProblem
from server.core.models import Jurisdiction
from server.panel import queries
from server.panel.models import (CHOICES, PANEL_CATEGORIES, AgendaItem, PanelMember, PanelSession, Recusal,
                                 RecusalProposal, Score, Vote, VoteReceipt)

MAX_SIGNATURE_BYTES = 512 * 1024
MAX_SIGNATURE_SIDE = 4000
CENT = Decimal("0.01")
_CHOICE_ORDER = {c: i for i, c in enumerate(CHOICES)}


class AlreadyDone(Exception):
    """The very thing asked for is already so (a double submit, a second click): nothing
    is done again and the page says so kindly."""


class PanelConflict(Conflict):
    """The action does not fit the session or item as it is now."""

    code, title = "panel-conflict", "Not possible in this state"


class QuorumNotMet(Conflict):
    code, title = "panel-quorum-not-met", "The session cannot open"


class AlreadyVoted(Conflict):
    code, title = "panel-already-voted", "Already voted"


class VotingClosed(Conflict):
    code, title = "panel-voting-closed", "Voting is not open"


class MayNotVote(Forbidden):
    code, title = "panel-may-not-vote", "You may not vote on this case"


# --- messages ------------------------------------------------------------------------------


def quorum_message(code: str, p: dict) -> str:
    if code == "no_members":
        return _("The panel has no members.")
    if code == "attendance_unrecorded":
        return _("Attendance is not recorded for %(n)s member(s).", n=p["n"])
    if code == "attendance":
        return _("Attendance: %(present)s of %(members)s members present; at least %(needed)s are needed "
                 "(⅔ of the members).", **p)
    if code == "residents":
        return _("Residents' representatives: %(residents)s of the %(present)s present; at least %(needed)s are "
                 "needed (⅔ of those present).", **p)
    return code


def tally_text(item: AgendaItem, needed: int, when: dt.datetime) -> str:
    return _("Evaluation panel of %(date)s: %(for)s for, %(against)s against, %(abstain)s abstaining, of "
             "%(eligible)s present and not recused; %(needed)s votes for were needed. Not passed.",
             date=lifecycle.local_today(when).isoformat(), eligible=item.present_count, needed=needed,
             **{"for": item.votes_for, "against": item.votes_against, "abstain": item.votes_abstain})


def _session_state(ps: PanelSession) -> dict:
    return {"scheduled_for": ps.scheduled_for, "place": ps.place, "state": ps.state}


def _lock_item(session: Session, item: AgendaItem) -> AgendaItem:
    """Re-read the item under a row lock (PostgreSQL; SQLite's write transaction is the
    lock), so a vote and the close of its item cannot interleave."""
    return session.get(AgendaItem, item.id, with_for_update=True, populate_existing=True)


def _lock_session(session: Session, ps: PanelSession) -> PanelSession:
    return session.get(PanelSession, ps.id, with_for_update=True, populate_existing=True)


# --- scheduling ----------------------------------------------------------------------------


def _form_seen(session: Session, actor: User, form_id: str | None) -> bool:
    """Was this very form (its one-time id) already handled for this user?"""
    if not form_id:
        return False
    rows = session.scalars(sa.select(AuditEvent.after).where(AuditEvent.action == "panel.scheduled",
                                                              AuditEvent.actor_id == actor.id)
                           .order_by(AuditEvent.id.desc()).limit(50))
    return any(isinstance(a, dict) and a.get("form_id") == form_id for a in rows)


def _check_plan(session: Session, community: Jurisdiction, when: dt.datetime | None, place: str,
                seats: list[tuple[int, str]], case_ids: list[uuid.UUID], except_session: int | None,
                rules) -> tuple[dict, dict[int, User], list[Case]]:
    errors: dict[str, list[str]] = {}
    if when is None:
        errors["scheduled_for"] = [_("Enter the date and time of the session.")]
    place = place.strip()
    if not place:
        errors["place"] = [_("Enter where the session meets.")]
    elif len(place) > 200:
        errors["place"] = [_("At most %(n)s characters.", n=200)]
    allowed = {c.user.id: c.user for c in queries.candidates(session, community)}
    users: dict[int, User] = {}
    for user_id, category in seats:
        if user_id not in allowed:
            errors.setdefault("members", []).append(_("Choose members from the list."))
            continue
        if category not in PANEL_CATEGORIES:
            errors.setdefault("members", []).append(
                _("Choose the category of %(name)s.", name=allowed[user_id].display_name))
            continue
        users[user_id] = allowed[user_id]
    if not seats:
        errors["members"] = [_("Choose the members of the panel.")]
    elif "members" not in errors:
        reps = sum(1 for _u, c in seats if c == "resident_rep")
        need = queries.needed(len(seats), rules.residents_ratio)
        if reps < need:
            # M12 Art 22–24: residents' representatives are at least ⅔ of the panel, so a
            # full panel meets the residents' share.
            errors["members"] = [_("Residents' representatives must be at least ⅔ of the panel: %(reps)s of "
                                   "%(n)s, at least %(needed)s needed.", reps=reps, n=len(seats), needed=need)]
    free = {c.id: c for c in queries.waiting_cases(session, community.id, except_session)}
    cases = []
    for cid in case_ids:
        if cid not in free:
            errors.setdefault("cases", []).append(
                _("A chosen case is no longer waiting for the panel; choose from the list as it is now."))
            continue
        cases.append(free[cid])
    if not case_ids:
        errors["cases"] = [_("Choose at least one case for the agenda.")]
    if errors:
        raise ValidationProblem({k: list(dict.fromkeys(v)) for k, v in errors.items()})
    return {"place": place}, users, cases


def schedule(session: Session, community: Jurisdiction, actor: User, *, when: dt.datetime | None, place: str,
             seats: list[tuple[int, str]], case_ids: list[uuid.UUID], form_id: str | None = None) -> PanelSession:
    """Schedule a session of the community's panel: when and where, its members (users
    with the panel role, each with a category) and its agenda (cases waiting in `panel`)."""
    if _form_seen(session, actor, form_id):
        raise AlreadyDone()
    probe = PanelSession(community_id=community.id, scheduled_for=when or utcnow())
    rules = queries.rules_for(session, probe)
    clean, users, cases = _check_plan(session, community, when, place, seats, case_ids, None, rules)
    ps = PanelSession(community_id=community.id, scheduled_for=when, place=clean["place"], state="scheduled",
                      created_by_id=actor.id)
    session.add(ps)
    session.flush()
    _set_members(session, ps, seats, users)
    _set_agenda(session, ps, cases)
    session.flush()
    audit.record(session, "panel.scheduled", "panel_session", ps.id, actor=actor,
                 after={**_session_state(ps), "members": [[u, c] for u, c in seats],
                        "cases": [c.number for c in cases], "form_id": form_id})
    refresh_proposals(session, ps)
    return ps


def update(session: Session, ps: PanelSession, actor: User, *, when: dt.datetime | None, place: str,
           seats: list[tuple[int, str]], case_ids: list[uuid.UUID]) -> None:
    """Change a scheduled session: its time, place, members and agenda."""
    ps = _lock_session(session, ps)
    if ps.state != "scheduled":
        raise PanelConflict(_("Only a scheduled session can be changed; this one is %(state)s.", state=ps.state))
    community = session.get(Jurisdiction, ps.community_id)
    rules = queries.rules_for(session, ps)
    clean, users, cases = _check_plan(session, community, when, place, seats, case_ids, ps.id, rules)
    before = {**_session_state(ps), "members": [[m.user_id, m.category] for m in ps.members],
              "cases": [session.get(Case, i.case_id).number for i in ps.agenda]}
    ps.scheduled_for, ps.place = when, clean["place"]
    _set_members(session, ps, seats, users)
    _set_agenda(session, ps, cases)
    session.flush()
    audit.record(session, "panel.updated", "panel_session", ps.id, actor=actor, before=before,
                 after={**_session_state(ps), "members": [[u, c] for u, c in seats],
                        "cases": [c.number for c in cases]})
    refresh_proposals(session, ps)


def _set_members(session: Session, ps: PanelSession, seats: list[tuple[int, str]], users: dict[int, User]) -> None:
    wanted = dict(seats)
    for m in list(ps.members):
        if m.user_id not in wanted:
            ps.members.remove(m)
    have = {m.user_id: m for m in ps.members}
    for user_id, category in seats:
        if user_id in have:
            have[user_id].category = category
            have[user_id].name = users[user_id].display_name
        else:
            ps.members.append(PanelMember(user_id=user_id, name=users[user_id].display_name, category=category))
    session.flush()


def _set_agenda(session: Session, ps: PanelSession, cases: list[Case]) -> None:
    wanted = {c.id: pos for pos, c in enumerate(cases)}
    for item in list(ps.agenda):
        if item.case_id not in wanted:
            ps.agenda.remove(item)
    have = {i.case_id: i for i in ps.agenda}
    for case in cases:
        if case.id in have:
            have[case.id].position = wanted[case.id]
        else:
            ps.agenda.append(AgendaItem(case_id=case.id, position=wanted[case.id], state="pending"))
    session.flush()


def cancel(session: Session, ps: PanelSession, actor: User) -> None:
    ps = _lock_session(session, ps)
    if ps.state == "cancelled":
        raise AlreadyDone()
    if ps.state != "scheduled":
        raise PanelConflict(_("Only a scheduled session can be cancelled; this one is %(state)s.", state=ps.state))
    ps.state = "cancelled"
    session.flush()
    audit.record(session, "panel.cancelled", "panel_session", ps.id, actor=actor, before={"state": "scheduled"},
                 after={"state": "cancelled"})


# --- attendance and opening ----------------------------------------------------------------


def record_attendance(session: Session, ps: PanelSession, present: dict[int, bool | None], actor: User) -> None:
    """Who is there, member by member (None: not yet known). Fixed once the session opens."""
    ps = _lock_session(session, ps)
    if ps.state != "scheduled":
        raise PanelConflict(_("Attendance is taken before the session opens; this session is %(state)s.",
                              state=ps.state))
    before, after = {}, {}
    for m in ps.members:
        value = present.get(m.id, m.present)
        if value != m.present:
            before[str(m.id)], after[str(m.id)] = m.present, value
            m.present = value
    session.flush()
    if after:
        audit.record(session, "panel.attendance", "panel_session", ps.id, actor=actor, before=before, after=after)


def open_session(session: Session, ps: PanelSession, actor: User) -> queries.Quorum:
    """Open the session, only when the quorum rules hold; otherwise QuorumNotMet says
    which rule fails, with the numbers."""
    ps = _lock_session(session, ps)
    if ps.state == "open":
        raise AlreadyDone()
    if ps.state != "scheduled":
        raise PanelConflict(_("Only a scheduled session can open; this one is %(state)s.", state=ps.state))
    members = list(ps.members)
    q = queries.quorum(members, queries.rules_for(session, ps))
    if not q.ok:
        raise QuorumNotMet(" ".join(quorum_message(c, p) for c, p in q.failures),
                           failures=[{"rule": c, **p} for c, p in q.failures])
    if not ps.agenda:
        raise PanelConflict(_("The agenda is empty."))
    ps.state, ps.opened_at = "open", utcnow()
    session.flush()
    audit.record(session, "panel.opened", "panel_session", ps.id, actor=actor, before={"state": "scheduled"},
                 after={"state": "open", "members": q.members, "present": q.present,
                        "residents_present": q.residents_present})
    refresh_proposals(session, ps)
    return q


# --- recusals ------------------------------------------------------------------------------


def refresh_proposals(session: Session, ps: PanelSession) -> list[RecusalProposal]:
    """Propose a recusal for every member the register of staff relatives names as related
    to a household on the agenda (M21 Art 11), unless already recused or proposed."""
    members = list(ps.members)
    new = []
    for item in ps.agenda:
        if item.state == "closed":
            continue
        case = session.get(Case, item.case_id)
        known = {r.panel_member_id for r in item.recusals} | {p.panel_member_id for p in item.proposals}
        for match in queries.register_matches(session, case, members):
            if match.member.id in known:
                continue
            proposal = RecusalProposal(panel_member_id=match.member.id, details=match.details,
                                       by_account=match.by_account, state="proposed")
            item.proposals.append(proposal)
            session.flush()
            audit.record(session, "panel.recusal_proposed", "agenda_item", item.id, case_id=case.id, actor=None,
                         after={"panel_member_id": match.member.id, "by_account": match.by_account,
                                "relation": match.details.get("relation")})
            new.append(proposal)
    return new


def register_reason(details: dict) -> str:
    from server.panel.labels import relation_label

    return _("The register of staff relatives names %(relative)s, of this household, as %(relation)s of "
             "%(staff)s.", relative=details.get("relative_name", ""),
             relation=relation_label(details.get("relation")), staff=details.get("staff_name", ""))


def _voted(session: Session, item_id: int, member_id: int) -> bool:
    return session.get(VoteReceipt, (item_id, member_id)) is not None


def decide_proposal(session: Session, proposal: RecusalProposal, confirm: bool, actor: User) -> None:
    item = _lock_item(session, session.get(AgendaItem, proposal.agenda_item_id))
    session.refresh(proposal)
    if proposal.state != "proposed":
        raise AlreadyDone()
    if item.state == "closed":
        raise PanelConflict(_("This case has been decided; its recusals can no longer change."))
    if confirm:
        if _voted(session, item.id, proposal.panel_member_id):
            raise PanelConflict(_("This member has already voted on the case; a vote cannot be taken back."))
        if session.scalar(sa.select(Recusal.id).where(Recusal.agenda_item_id == item.id,
                                                      Recusal.panel_member_id == proposal.panel_member_id)) is None:
            item.recusals.append(Recusal(panel_member_id=proposal.panel_member_id, source="register",
                                         reason=register_reason(proposal.details or {})))
    elif proposal.by_account:
        # The register entry names this member's own account: certain, not a name match.
        raise PanelConflict(_("The register names this member's own account; the recusal cannot be dismissed."))
    proposal.state = "confirmed" if confirm else "dismissed"
    proposal.decided_by_id, proposal.decided_at = actor.id, utcnow()
    session.flush()
    audit.record(session, "panel.recusal_confirmed" if confirm else "panel.recusal_dismissed", "agenda_item", item.id,
                 case_id=item.case_id, actor=actor, after={"panel_member_id": proposal.panel_member_id})


def recuse(session: Session, item: AgendaItem, member: PanelMember, reason: str, actor: User,
           source: str = "declared") -> Recusal:
    """A member steps aside from a case (declared by them, or recorded by the office): they
    neither vote nor score on it."""
    item = _lock_item(session, item)
    reason = (reason or "").strip()
    if member.session_id != item.session_id:
        raise PanelConflict(_("This member does not sit on this session."))
    if item.state == "closed":
        raise PanelConflict(_("This case has been decided; its recusals can no longer change."))
    existing = session.scalar(sa.select(Recusal).where(Recusal.agenda_item_id == item.id,
                                                       Recusal.panel_member_id == member.id))
    if existing is not None:
        raise AlreadyDone()
    if _voted(session, item.id, member.id):
        raise PanelConflict(_("This member has already voted on the case; a vote cannot be taken back."))
    if not reason:
        raise ValidationProblem({"reason": [_("Say how the member is related to the household.")]})
    if len(reason) > 500:
        raise ValidationProblem({"reason": [_("At most %(n)s characters.", n=500)]})
    rec = Recusal(agenda_item_id=item.id, panel_member_id=member.id, source=source, reason=reason)
    session.add(rec)
    for p in item.proposals:
        if p.panel_member_id == member.id and p.state == "proposed":
            p.state, p.decided_by_id, p.decided_at = "confirmed", actor.id, utcnow()
    session.flush()
    audit.record(session, "panel.recused", "agenda_item", item.id, case_id=item.case_id, actor=actor,
                 after={"panel_member_id": member.id, "source": source, "reason": reason})
    return rec


# --- the agenda, one case at a time --------------------------------------------------------------


def start_voting(session: Session, item: AgendaItem, actor: User) -> None:
    """Put one case to the panel: members may score and vote on it until it is closed."""
    ps = _lock_session(session, session.get(PanelSession, item.session_id))
    item = _lock_item(session, item)
    if item.state == "voting":
        raise AlreadyDone()
    if ps.state != "open":
        raise PanelConflict(_("The session is not open."))
    if item.state == "closed":
        raise PanelConflict(_("This case has been decided already."))
    current = session.scalar(sa.select(AgendaItem).where(AgendaItem.session_id == ps.id,
                                                         AgendaItem.state == "voting"))
    if current is not None:
        case = session.get(Case, current.case_id)
        raise PanelConflict(_("Close the vote on case %(number)s first: the panel takes one case at a time.",
                              number=case.number))
    case = session.get(Case, item.case_id)
    if case.state != "panel":
        raise PanelConflict(_("Case %(number)s is no longer waiting for the panel (it is %(state)s).",
                              number=case.number, state=case.state))
    refresh_proposals(session, ps)
    pending = [p for p in item.proposals if p.state == "proposed"]
    if pending:
        raise PanelConflict(_("Confirm or dismiss the %(n)s proposed recusal(s) on this case first.", n=len(pending)))
    present = {m.id for m in ps.members if m.present}
    if not present - {r.panel_member_id for r in item.recusals}:
        raise PanelConflict(_("No member present may vote on this case."))
    item.state = "voting"
    session.flush()
    audit.record(session, "panel.voting_started", "agenda_item", item.id, case_id=case.id, actor=actor,
                 before={"state": "pending"}, after={"state": "voting"})


def remove_item(session: Session, item: AgendaItem, actor: User) -> None:
    """Take a case not yet put to the vote off the agenda (it waits for another session)."""
    ps = _lock_session(session, session.get(PanelSession, item.session_id))
    item = _lock_item(session, item)
    if ps.state not in queries.LIVE_STATES or item.state != "pending":
        raise PanelConflict(_("Only a case not yet put to the vote can be taken off the agenda."))
    case_id, item_id = item.case_id, item.id
    ps.agenda.remove(item)
    session.flush()
    audit.record(session, "panel.item_removed", "agenda_item", item_id, case_id=case_id, actor=actor,
                 after={"session_id": ps.id})


def parse_scores(raw: dict[str, str], criteria) -> tuple[dict[str, Decimal], dict[str, list[str]]]:
    """The scoring sheet: each criterion of the policy, from 0 to its weight."""
    scores, errors = {}, {}
    for code, weight in criteria.items():
        text = (raw.get(code) or "").strip().replace(",", ".")
        if not text:
            errors[f"score.{code}"] = [_("Give a score from 0 to %(max)s.", max=weight)]
            continue
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value < 0 or value > weight:
            errors[f"score.{code}"] = [_("Give a score from 0 to %(max)s.", max=weight)]
            continue
        if value != value.quantize(CENT):
            errors[f"score.{code}"] = [_("At most two decimals.")]
            continue
        scores[code] = value.quantize(CENT)
    return scores, errors


def check_may_vote(session: Session, ps: PanelSession, item: AgendaItem, member: PanelMember | None,
                   user: User) -> None:
    """Raise why `user` may not vote on `item` now; return quietly if they may. A member
    without an account votes on the chairing office's tablet, handed to them."""
    from server.panel import access

    if member is None or member.session_id != ps.id:
        raise MayNotVote(_("You do not sit on this session."))
    if member.user_id is None:
        if not access.can_manage(user, ps):
            raise MayNotVote(_("A member without an account votes on the office's tablet."))
    elif member.user_id != user.id:
        raise MayNotVote(_("You do not sit on this session."))
    if ps.state != "open":
        raise VotingClosed(_("The session is not open."))
    if item.state == "closed":
        raise VotingClosed(_("Voting on this case has closed."))
    if item.state != "voting":
        raise VotingClosed(_("This case has not been put to the vote yet."))
    if not member.present:
        raise MayNotVote(_("Only members recorded as present vote."))
    if session.scalar(sa.select(Recusal.id).where(Recusal.agenda_item_id == item.id,
                                                  Recusal.panel_member_id == member.id)) is not None:
        raise MayNotVote(_("You have recused yourself from this case; you do not vote or score on it."))
    case = session.get(Case, item.case_id)
    if member.user_id is not None and not case_access.can_act_on_case(user, case):
        # M21 Art 11: the register names the member as a relative of the household.
        raise MayNotVote(_("The register of staff relatives relates you to this household; you do not vote on it."))
    if _voted(session, item.id, member.id):
        raise AlreadyVoted(_("Your vote on this case is already recorded. A vote cannot be cast twice or changed."))


def cast_vote(session: Session, item: AgendaItem, member: PanelMember | None, user: User, choice: str,
              raw_scores: dict[str, str]) -> None:
    """Record one member's anonymous ballot: a receipt that they voted, and a Vote (with
    its scores) that names nobody. The choice appears nowhere else."""
    item = _lock_item(session, item)
    ps = session.get(PanelSession, item.session_id)
    check_may_vote(session, ps, item, member, user)
    rules = queries.rules_for(session, ps)
    scores, errors = parse_scores(raw_scores, rules.criteria)
    if choice not in CHOICES:
        errors["choice"] = [_("Choose for, against or abstain.")]
    if errors:
        raise ValidationProblem(errors)
    try:
        with session.begin_nested():
            session.add(VoteReceipt(agenda_item_id=item.id, panel_member_id=member.id))
            session.flush()
    except sa.exc.IntegrityError:
        # The same member's second request, racing the first: one receipt wins.
        raise AlreadyVoted(_("Your vote on this case is already recorded. A vote cannot be cast twice or changed.")) \
            from None
    conn = session.connection()
    vote_id = uuid.uuid4()
    conn.execute(sa.insert(Vote.__table__), [{"id": vote_id, "agenda_item_id": item.id, "choice": choice}])
    conn.execute(sa.insert(Score.__table__), [{"vote_id": vote_id, "criterion": code, "value": value}
                                              for code, value in sorted(scores.items())])
    audit.record(session, "panel.voted", "agenda_item", item.id, case_id=item.case_id, actor=user,
                 after={"panel_member_id": member.id})


def _rewrite_ballots(session: Session, item_id: int) -> list[tuple[str, dict[str, Decimal]]]:
    """Delete the item's votes, scores and receipts and write them again with fresh ids,
    the ballots in content order (see the module's docstring). Returns the ballots."""
    conn = session.connection()
    votes, scores, receipts = Vote.__table__, Score.__table__, VoteReceipt.__table__
    ballot_ids = sa.select(votes.c.id).where(votes.c.agenda_item_id == item_id)
    ballots = {vid: (choice, {}) for vid, choice in conn.execute(
        sa.select(votes.c.id, votes.c.choice).where(votes.c.agenda_item_id == item_id))}
    for vid, criterion, value in conn.execute(sa.select(scores.c.vote_id, scores.c.criterion, scores.c.value)
                                              .where(scores.c.vote_id.in_(ballot_ids))):
        ballots[vid][1][criterion] = value
    members = sorted(conn.execute(sa.select(receipts.c.panel_member_id)
                                  .where(receipts.c.agenda_item_id == item_id)).scalars())
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")  # freed cells are zeroed, not left readable
    conn.execute(sa.delete(scores).where(scores.c.vote_id.in_(ballot_ids)))
    conn.execute(sa.delete(votes).where(votes.c.agenda_item_id == item_id))
    conn.execute(sa.delete(receipts).where(receipts.c.agenda_item_id == item_id))
    content = list(ballots.values())
    secrets.SystemRandom().shuffle(content)  # equal ballots in random order; sort is stable
    content.sort(key=lambda b: (_CHOICE_ORDER[b[0]], sorted(b[1].items())))
    vote_rows, score_rows = [], []
    for choice, values in content:
        vid = uuid.uuid4()
        vote_rows.append({"id": vid, "agenda_item_id": item_id, "choice": choice})
        score_rows.extend({"vote_id": vid, "criterion": c, "value": v} for c, v in sorted(values.items()))
    if vote_rows:
        conn.execute(sa.insert(votes), vote_rows)
    if score_rows:
        conn.execute(sa.insert(scores), score_rows)
    if members:
        conn.execute(sa.insert(receipts), [{"agenda_item_id": item_id, "panel_member_id": m} for m in members])
    return content


def close_item(session: Session, item: AgendaItem, actor: User) -> AgendaItem:
    """Close the vote on a case: count it, and move the case on. Passed (≥ ⅔ of those
    present and not recused voting for): panel → publicity and its public notice is
    posted. Not passed: panel → county_review, with the tally as the reason (the county
    decides, normally rejecting)."""
    from server.publicity.operations import post_notice

    ps = _lock_session(session, session.get(PanelSession, item.session_id))
    item = _lock_item(session, item)
    if item.state == "closed":
        raise AlreadyDone()
    if ps.state != "open":
        raise PanelConflict(_("The session is not open."))
    if item.state != "voting":
        raise PanelConflict(_("This case has not been put to the vote yet."))
    case = session.get(Case, item.case_id)
    if case.state != "panel":
        raise PanelConflict(_("Case %(number)s is no longer waiting for the panel (it is %(state)s).",
                              number=case.number, state=case.state))
    settings = queries.settings_for(session, ps)
    rules = settings.panel
    present = {m.id for m in ps.members if m.present}
    recused = {r.panel_member_id for r in item.recusals}
    eligible = len(present - recused)
    session.flush()
    ballots = _rewrite_ballots(session, item.id)
    counts = defaultdict(int)
    for choice, _values in ballots:
        counts[choice] += 1
    totals = [sum(values.values(), Decimal(0)) for _c, values in ballots]
    need = queries.needed(eligible, rules.pass_ratio)
    passed = queries.passes(counts["for"], eligible, rules)
    item.votes_for, item.votes_against, item.votes_abstain = counts["for"], counts["against"], counts["abstain"]
    item.present_count = eligible
    item.average_score = (sum(totals, Decimal(0)) / len(totals)).quantize(CENT) if totals else None
    item.result = "passed" if passed else "failed"
    item.state, item.closed_at = "closed", utcnow()
    session.flush()
    audit.record(session, "panel.item_closed", "agenda_item", item.id, case_id=case.id, actor=actor,
                 before={"state": "voting"},
                 after={"result": item.result, "for": item.votes_for, "against": item.votes_against,
                        "abstain": item.votes_abstain, "eligible": eligible, "needed": need,
                        "ballots": len(ballots), "average_score": item.average_score})
    if passed:
        lifecycle.transition(session, case, "publicity", actor, deadlines=settings.deadlines)
        post_notice(session, case, actor)
    else:
        lifecycle.transition(session, case, "county_review", actor, tally_text(item, need, ps.scheduled_for),
                             deadlines=settings.deadlines)
    return item


def close_session(session: Session, ps: PanelSession, actor: User) -> None:
    ps = _lock_session(session, ps)
    if ps.state == "closed":
        raise AlreadyDone()
    if ps.state != "open":
        raise PanelConflict(_("Only an open session can be closed; this one is %(state)s.", state=ps.state))
    waiting = [i for i in ps.agenda if i.state != "closed"]
    if waiting:
        raise PanelConflict(_("%(n)s case(s) on the agenda are not decided: close their votes, or take them off "
                              "the agenda, first.", n=len(waiting)))
    ps.state, ps.closed_at = "closed", utcnow()
    session.flush()
    audit.record(session, "panel.closed", "panel_session", ps.id, actor=actor, before={"state": "open"},
                 after={"state": "closed", "items": len(ps.agenda)})


# --- signatures and minutes -------------------------------------------------------------------


def signature_key(sha: str) -> str:
    return f"panel/signatures/{sha}.png"


def minutes_key(sha: str) -> str:
    return f"panel/minutes/{sha}.pdf"


def decode_signature(data_url: str | None) -> bytes:
    """A signature drawn on the screen, sent as a PNG data URL; checked to be a real PNG,
    not too large, and not blank."""
    import base64

    from PIL import Image

    bad = ValidationProblem({"signature": [_("Sign in the box first.")]})
    prefix = "data:image/png;base64,"
    if not data_url or not data_url.startswith(prefix):
        raise bad
    try:
        data = base64.b64decode(data_url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise bad from None
    if len(data) > MAX_SIGNATURE_BYTES:
        raise ValidationProblem({"signature": [_("The signature image is too large.")]})
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG" or max(img.size) > MAX_SIGNATURE_SIDE:
                raise bad
            img.load()
            if not _has_ink(img):
                raise bad
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise bad from None
    return data


def _has_ink(img) -> bool:
    """Enough visible, dark pixels to be a stroke (an untouched canvas has none)."""
    from PIL import ImageChops

    rgba = img.convert("RGBA")
    visible = rgba.getchannel("A").point(lambda v: 255 if v > 32 else 0)
    dark = rgba.convert("L").point(lambda v: 255 if v < 200 else 0)
    return ImageChops.multiply(visible, dark).histogram()[255] >= 20


def save_signature(session: Session, ps: PanelSession, member: PanelMember, png: bytes, actor: User) -> str:
    from server.core.pdf import sha256
    from server.core.storage import current_store

    if member.session_id != ps.id:
        raise PanelConflict(_("This member does not sit on this session."))
    if ps.state not in ("open", "closed"):
        raise PanelConflict(_("The minutes are signed once the session has met."))
    if not member.present:
        raise PanelConflict(_("Only members recorded as present sign the minutes."))
    sha = sha256(png)
    current_store().put(signature_key(sha), png, "image/png")
    before = member.signature_sha256
    member.signature_sha256 = sha
    session.flush()
    audit.record(session, "panel.signed", "panel_member", member.id, actor=actor,
                 before={"signature_sha256": before}, after={"signature_sha256": sha, "session_id": ps.id})
    return sha


def store_minutes(session: Session, ps: PanelSession, pdf: bytes, actor: User) -> str:
    """Keep the minutes PDF in the store by its SHA-256 and point the session at it."""
    from server.core.pdf import sha256
    from server.core.storage import current_store

    if ps.state != "closed":
        raise PanelConflict(_("The minutes are made once the session is closed."))
    sha = sha256(pdf)
    current_store().put(minutes_key(sha), pdf, "application/pdf")
    before = ps.minutes_sha256
    ps.minutes_sha256 = sha
    session.flush()
    audit.record(session, "panel.minutes", "panel_session", ps.id, actor=actor,
                 before={"minutes_sha256": before},
                 after={"minutes_sha256": sha, "bytes": len(pdf),
                        "signed": sorted(m.id for m in ps.members if m.signature_sha256)})
    return sha
