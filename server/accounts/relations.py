"""The register of staff relatives (M21 Art 11): relatives of caseworkers, panel members and
cadres (spouse, parents, children, siblings, grandparents, grandchildren), matched by ID
number against applicants and household members. A match flags the open case concerned
(`related_to_staff`, the same flag and text as a synced visit gets from
server.review.flags) and lists it separately; the panel's recusal reads the same register.

Writes flush, never commit, and go into the audit log."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from server.accounts.models import RELATIONS, ROLES, StaffRelation, User
from server.cases.models import Case, Household, Member
from server.core import audit
from server.core.errors import ValidationProblem
from server.core.i18n import N_
from server.core.models import Jurisdiction
from server.core.validators import parse_id_number
from server.review import flags
from server.review.models import Flag
from server.visits.models import Visit, VisitMember

CLOSED = ("rejected", "stopped")  # a case in these states is no longer open
STAFF_ROLES = (*ROLES, "cadre")
_WORDS = (N_("cadre"),)  # shown with _() in the register


def _state(rel: StaffRelation) -> dict:
    return {"staff_user_id": rel.staff_user_id, "staff_name": rel.staff_name, "staff_role": rel.staff_role,
            "relative_name": rel.relative_name, "relative_id_number": rel.relative_id_number,
            "relation": rel.relation, "jurisdiction_id": rel.jurisdiction_id}


def add_relation(session: Session, *, jurisdiction: Jurisdiction, staff_user: User | None, staff_name: str,
                 staff_role: str, relative_name: str, relative_id_number: str, relation: str,
                 actor: User) -> tuple[StaffRelation, list[uuid.UUID]]:
    """Register a relative and flag the open cases it matches; returns the relation and
    the ids of the cases newly flagged."""
    errors: dict[str, list[str]] = {}
    staff_name = (staff_user.display_name if staff_user else staff_name).strip()
    if not staff_name or len(staff_name) > 100:
        errors["staff_name"] = [_("Name the staff member, or choose one from the list.")]
    if staff_role not in STAFF_ROLES:
        errors["staff_role"] = [_("Choose the staff member's role.")]
    if not relative_name.strip() or len(relative_name) > 100:
        errors["relative_name"] = [_("Enter the relative's name.")]
    if relation not in RELATIONS:
        errors["relation"] = [_("Choose the relation.")]
    number = relative_id_number.strip().upper()
    try:
        parse_id_number(number)
    except ValueError:
        errors["relative_id_number"] = [_("Not a valid 18-character ID number (GB 11643).")]
    if not errors and session.scalar(sa.select(StaffRelation.id).where(
            StaffRelation.staff_name == staff_name, StaffRelation.relative_id_number == number)):
        errors["relative_id_number"] = [_("This relative of this staff member is already registered.")]
    if errors:
        raise ValidationProblem(errors)
    rel = StaffRelation(jurisdiction_id=jurisdiction.id, staff_user_id=staff_user.id if staff_user else None,
                        staff_name=staff_name, staff_role=staff_role, relative_name=relative_name.strip(),
                        relative_id_number=number, relation=relation, created_by_id=actor.id)
    session.add(rel)
    session.flush()
    audit.record(session, "relation.added", "staff_relation", rel.id, actor=actor, after=_state(rel))
    return rel, rematch(session, [number])


def remove_relation(session: Session, rel: StaffRelation, actor: User) -> None:
    """A relation entered by mistake. Flags already raised stay (the office dismisses them
    with a reason), so the record of what was seen is kept."""
    before, rel_id = _state(rel), rel.id
    session.delete(rel)
    session.flush()
    audit.record(session, "relation.removed", "staff_relation", rel_id, actor=actor, before=before)


def matching_cases(session: Session, numbers: list[str]) -> list[Case]:
    """Open cases with an applicant or member (registered, or as a visit found them) whose
    ID number is one of `numbers`."""
    wanted = sorted({n.upper() for n in numbers})
    by_member = sa.select(Case.id).join(Member, Member.household_id == Case.household_id).where(
        sa.func.upper(Member.id_number).in_(wanted))
    by_visit = sa.select(Visit.case_id).join(VisitMember, VisitMember.visit_id == Visit.id).where(
        sa.func.upper(VisitMember.id_number).in_(wanted))
    return session.scalars(sa.select(Case).where(Case.state.not_in(CLOSED),
                                                 sa.or_(Case.id.in_(by_member), Case.id.in_(by_visit)))
                           .order_by(Case.number)).all()


def rematch(session: Session, numbers: list[str]) -> list[uuid.UUID]:
    """Flag every open case matching these ID numbers, with the flags a visit's refresh
    would compute (server.review.flags), so the next refresh neither doubles nor drops
    them; a flag dismissed before is not raised again. Returns the cases newly flagged."""
    flagged = []
    for case in matching_cases(session, numbers):
        household = session.get(Household, case.household_id)
        visit = session.scalars(sa.select(Visit).where(Visit.case_id == case.id)
                                .order_by(Visit.received_at.desc(), Visit.id.desc()).limit(1)).first()
        # The review's own matching (server.review.flags): the visit's members, or the
        # household as registered when no visit has come back yet.
        people = () if visit is None else tuple(
            (m.id_number, m.name) for m in sorted(visit.members, key=lambda m: m.position) if m.id_number)
        found = flags.staff_relatives(session, people, household.id)
        if visit is not None:
            known = session.execute(sa.select(Flag.code, Flag.params).where(Flag.visit_id == visit.id)).all()
        else:
            known = session.execute(sa.select(Flag.code, Flag.params).where(Flag.case_id == case.id,
                                                                            Flag.visit_id.is_(None))).all()
        keys = {(code, flags.canonical(params or {})) for code, params in known}
        new = [f for f in found if f.key not in keys]
        for f in new:
            session.add(flags.flag_row(case.id, visit.id if visit else None, f))
        if found and not case.related_to_staff:
            # M21 Art 11: the case is registered separately.
            case.related_to_staff = True
            audit.record(session, "case.related_to_staff", "case", case.id, before={"related_to_staff": False},
                         after={"related_to_staff": True, "matched": [f.params for f in found]}, case_id=case.id)
            flagged.append(case.id)
        elif new:
            flagged.append(case.id)
    session.flush()
    return flagged


def register(session: Session, jurisdiction_ids) -> list[StaffRelation]:
    return session.scalars(sa.select(StaffRelation).where(StaffRelation.jurisdiction_id.in_(jurisdiction_ids))
                           .order_by(StaffRelation.staff_name, StaffRelation.relative_name)).all()


def related_cases(session: Session, jurisdiction_ids) -> list[Case]:
    """M21 Art 11: the cases related to staff, listed separately."""
    return session.scalars(sa.select(Case).where(Case.related_to_staff.is_(True),
                                                 Case.community_id.in_(jurisdiction_ids))
                           .order_by(Case.number)).all()
