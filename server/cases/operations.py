"""Writes to cases: lifecycle moves, intake at the counter, and handing cases to teams."""
from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import Team, User
from server.cases import lifecycle, queries
from server.cases.models import Assignment, Attachment, Case, CaseTransition, Household, Member
from server.core import audit
from server.core.db import point_wkt, utcnow
from server.core.errors import Conflict, ValidationProblem
from server.core.models import Jurisdiction
from server.core.storage import current_store
from server.policy import queries as policy_queries
from server.policy.settings import PolicySettings
from server.sync import operations as sync


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


# --- intake (issue 6 item 1) -----------------------------------------------------------------

class DuplicatePerson(Conflict):
    """Someone on the application already belongs to another open household."""

    code, title = "duplicate-person", "Already in an open household"


def attachment_key(sha256: str) -> str:
    return f"attachments/{sha256}"


def store_attachment(data: bytes, content_type: str) -> str:
    """Keep a scanned document in the store by its content hash; the same file twice is one object."""
    sha = hashlib.sha256(data).hexdigest()
    current_store().put(attachment_key(sha), data, content_type)
    return sha


def next_case_number(session: Session, community: Jurisdiction, year: int) -> str:
    """<community code>-<year>-<n>, numbered per community and year under the counter's lock."""
    while True:
        n = sync.next_value(session, f"intake:{community.code}:{year}"[:32])
        number = f"{community.code}-{year}-{n:04d}"
        if session.scalar(sa.select(sa.literal(True)).where(Case.number == number)) is None:
            return number


def register_application(session: Session, data: dict, actor: User, community: Jurisdiction) -> Case:
    """An application as the office took it at the counter: household, members, declaration,
    attachments. Refuses anyone already in another open household (DuplicatePerson, with who
    and where). Flags relatives of staff and panel members (M21 Art 11)."""
    numbers = [m["id_number"] for m in data["members"]]
    found = queries.open_memberships(session, numbers)
    if found:
        raise DuplicatePerson("Already in an open household.", found=found)
    household = Household(community_id=community.id, head_name=next(m["name"] for m in data["members"]
                                                                     if m["relation"] == "self"),
                          address=data["address"], phone=data.get("phone") or None,
                          location=point_wkt(data["lat"], data["lon"]))
    ordered = sorted(data["members"], key=lambda m: m["relation"] != "self")  # the applicant first
    for position, m in enumerate(ordered):
        household.members.append(Member(position=position, name=m["name"], id_number=m["id_number"],
                                        relation=m["relation"], sex=m["sex"], birth_date=m["birth_date"],
                                        health=m.get("health"), hukou_type=m.get("hukou_type")))
    session.add(household)
    today = lifecycle.local_today()
    declaration = {
        "reason": data["reason"], "members": len(ordered),
        "income": [{"member": None if i["member"] is None else ordered.index(data["members"][i["member"]]),
                    "kind": i["kind"], "monthly_amount": str(i["monthly_amount"])} for i in data["income"]],
        "assets": [{"category": a["category"], "description": a["description"], "value": str(a["value"]),
                    "count": a["count"]} for a in data["assets"]],
        "declared_at": today.isoformat(),
    }
    case = Case(id=data["case_id"], number=next_case_number(session, community, today.year), household=household,
                community_id=community.id, state="application", special=bool(data.get("special")),
                declaration=declaration)
    session.add(case)
    session.flush()
    for a in data.get("attachments", []):
        session.add(Attachment(case_id=case.id, sha256=a["sha256"], filename=a["filename"],
                               content_type=a["content_type"], kind=a["kind"], uploaded_by_id=actor.id))
    related = flag_staff_relatives(session, case)
    audit.record(session, "case.registered", "case", case.id, before=None,
                 after={"number": case.number, "state": case.state, "household_id": household.id,
                        "members": len(ordered), "attachments": len(data.get("attachments", [])),
                        "related_to_staff": bool(related)},
                 case_id=case.id, actor=actor)
    session.flush()
    return case


def flag_staff_relatives(session: Session, case: Case) -> list:
    """M21 Art 11: members in the register of staff relatives flag the case at intake. The
    matching is the review flags' own (a visit with no members of its own reads the
    household's registered members)."""
    from server.review import flags
    from server.review.models import Flag

    # As a visit with nothing found of its own: the household's registered members count.
    found = flags.staff_relatives(session, (), case.household_id)
    if not found:
        return []
    existing = {(f.code, flags.canonical(f.params)) for f in session.scalars(
        sa.select(Flag).where(Flag.case_id == case.id, Flag.visit_id.is_(None), Flag.code == "related_to_staff"))}
    rows = []
    for f in found:
        if f.key not in existing:
            row = flags.flag_row(case.id, None, f)
            session.add(row)
            rows.append(row)
    if not case.related_to_staff:
        case.related_to_staff = True
    session.flush()
    return found


# --- assignment (issue 6 item 2) ---------------------------------------------------------------

# A case waits for a team once accepted; it can change hands while it is on the tablets.
ASSIGNABLE = ("accepted",)
REASSIGNABLE = ("investigating", "returned", "recheck")


def team_problem(session: Session, team: Team | None, case: Case) -> str | None:
    """Why `team` may not take `case`, or None. M21 Art 15–16: a visit needs two investigators."""
    from flask_babel import gettext as _

    if team is None or not team.active:
        return _("Choose an active investigation team.")
    if team.community_id != case.community_id:
        return _("The team does not work in this case's community.")
    if queries.team_investigator_count(session, team.id) < 2:
        return _("A home visit needs at least two investigators; this team has fewer.")
    return None


def assign(session: Session, case: Case, team: Team, actor: User, seen_version: int | None = None) -> str:
    """Hand `case` to `team`: an accepted case starts its investigation; a case already on a
    team's tablets moves to the new team's (and leaves the old team's at their next sync).
    Returns "assigned", "reassigned" or "unchanged" (the team already holds it: a second
    send of the same form does nothing)."""
    if case.team_id == team.id and case.state not in ASSIGNABLE:
        return "unchanged"
    if seen_version is not None and seen_version != case.version:
        raise StaleCase("Reload the page and try again.", current_version=case.version, state=case.state)
    if case.state not in ASSIGNABLE + REASSIGNABLE:
        raise lifecycle.IllegalTransition("This case is not waiting for a team.", from_state=case.state,
                                          to_state="investigating", allowed=[])
    problem = team_problem(session, team, case)
    if problem:
        raise ValidationProblem({"team": [problem]})
    old_team = case.team_id
    now = utcnow()
    session.execute(sa.update(Assignment).where(Assignment.case_id == case.id, Assignment.ended_at.is_(None))
                    .values(ended_at=now))
    session.add(Assignment(case_id=case.id, team_id=team.id, assigned_by_id=actor.id, assigned_at=now))
    case.team_id = team.id
    audit.record(session, "case.assigned", "case", case.id, before={"team_id": old_team},
                 after={"team_id": team.id, "team": team.name}, case_id=case.id, actor=actor)
    if old_team is not None and old_team != team.id:
        sync.case_left_team(session, case.id, old_team)  # off the old team's tablets at their next sync
    if case.state in ASSIGNABLE:
        move(session, case, "investigating", actor)  # puts it in the new team's feed
        return "assigned"
    sync.case_changed(session, case.id, team.id)
    session.flush()
    return "reassigned"


def accept(session: Session, case: Case, actor: User, seen_version: int | None = None) -> CaseTransition:
    """The office accepts the application: the working-day deadlines start (lifecycle)."""
    return move(session, case, "accepted", actor, seen_version=seen_version)


def refuse(session: Session, case: Case, actor: User, reason: str, seen_version: int | None = None) -> CaseTransition:
    """Refused at the counter, with the written reason the applicant is told."""
    return move(session, case, "rejected", actor, reason=reason, seen_version=seen_version)

