"""The relations register (M21 Art 11): a registered relative's ID number flags the open
cases where they are an applicant or member, with the review's own flag, and lists them
separately; closed cases are left alone; bad input is refused with what was typed kept."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from server.accounts.models import StaffRelation
from server.cases.models import Member
from server.core.audit import AuditEvent
from server.core.validators import make_id_number
from server.review.models import Flag
from tests.admin_fixtures import *  # noqa: F401,F403 - fixtures
from tests.admin_fixtures import csrf


def _post(client, data):
    page = client.get("/admin/relations").get_data(as_text=True)
    return client.post("/admin/relations?lang=en", data={"csrf_token": csrf(page), **data})


def _member_number(db_session, case) -> str:
    return db_session.scalar(sa.select(Member.id_number).where(Member.household_id == case.household_id)
                             .order_by(Member.position))


def test_a_registered_relative_flags_open_cases_and_lists_them(client, make_user, sign_in, county, community,
                                                               case_factory, receiving, db_session):
    make_user("admin-r", roles=("admin",), jurisdiction=county)
    staff = make_user("office-r", roles=("office",), display_name="王办事员")
    sign_in("admin-r")
    open_case = case_factory(state="application")
    visited = receiving()  # a case with a visit: the flag goes on its latest visit
    closed = case_factory(state="rejected")
    number = _member_number(db_session, open_case)
    visited_number = _member_number(db_session, visited)
    db_session.execute(sa.update(Member).where(Member.household_id == closed.household_id, Member.position == 0)
                       .values(id_number=number))
    r = _post(client, {"jurisdiction": str(community.id), "staff_user": str(staff.id), "staff_name": "",
                       "staff_role": "office", "relative_name": "王某", "relative_id_number": number.lower(),
                       "relation": "sibling"})
    assert r.status_code == 303 and "flagged=1" in r.headers["Location"]
    r = _post(client, {"jurisdiction": str(community.id), "staff_user": "", "staff_name": "李书记",
                       "staff_role": "cadre", "relative_name": "李某", "relative_id_number": visited_number,
                       "relation": "child"})
    assert r.status_code == 303
    for case in (open_case, visited):
        db_session.refresh(case)
        assert case.related_to_staff
        flag = db_session.scalar(sa.select(Flag).where(Flag.case_id == case.id, Flag.code == "related_to_staff"))
        assert flag is not None and flag.severity == "error"
    flag = db_session.scalar(sa.select(Flag).where(Flag.case_id == open_case.id))
    assert flag.params["staff_name"] == "王办事员" and flag.params["relation"] == "sibling" and flag.visit_id is None
    assert db_session.scalar(sa.select(Flag.visit_id).where(Flag.case_id == visited.id)) is not None
    db_session.refresh(closed)
    assert not closed.related_to_staff
    listing = client.get("/admin/relations").get_data(as_text=True)
    related = listing[listing.index('data-testid="related-cases"'):]
    assert open_case.number in related and visited.number in related and closed.number not in related
    assert number not in listing  # the register shows ID numbers masked
    events = db_session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.in_(("relation.added", "case.related_to_staff")))).all()
    assert events.count("relation.added") == 2 and events.count("case.related_to_staff") == 2


def test_registering_again_does_not_flag_twice(db_session, make_user, community, case_factory):
    from server.accounts import relations

    actor = make_user("admin-r2", roles=("admin",))
    case = case_factory(state="in_review")
    number = _member_number(db_session, case)
    relations.add_relation(db_session, jurisdiction=community, staff_user=None, staff_name="甲", staff_role="panel",
                           relative_name="乙", relative_id_number=number, relation="spouse", actor=actor)
    assert relations.rematch(db_session, [number]) == []
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Flag).where(Flag.case_id == case.id)) == 1


def test_bad_input_is_refused_with_what_was_typed_kept(client, make_user, sign_in, county, community, db_session):
    make_user("admin-r3", roles=("admin",), jurisdiction=county)
    sign_in("admin-r3")
    bad = make_id_number("330122", dt.date(1990, 1, 1), 5, "M")[:-1] + "0"
    if bad == make_id_number("330122", dt.date(1990, 1, 1), 5, "M"):
        bad = bad[:-1] + "1"
    r = _post(client, {"jurisdiction": str(community.id), "staff_user": "", "staff_name": "",
                       "staff_role": "nobody", "relative_name": "赵某", "relative_id_number": bad,
                       "relation": "cousin"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Not a valid 18-character ID number" in html and "Name the staff member" in html
    assert "Choose the relation." in html and "Choose the staff member" in html
    assert f'value="{bad}"' in html and 'value="赵某"' in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(StaffRelation)) == 0


def test_removing_a_relation_is_audited(client, make_user, sign_in, county, community, db_session):
    make_user("admin-r4", roles=("admin",), jurisdiction=county)
    sign_in("admin-r4")
    number = make_id_number("330122", dt.date(1991, 2, 3), 9, "F")
    _post(client, {"jurisdiction": str(community.id), "staff_user": "", "staff_name": "孙干部",
                   "staff_role": "cadre", "relative_name": "孙某", "relative_id_number": number,
                   "relation": "parent"})
    rel = db_session.scalar(sa.select(StaffRelation).where(StaffRelation.relative_id_number == number))
    page = client.get("/admin/relations").get_data(as_text=True)
    r = client.post(f"/admin/relations/{rel.id}/remove", data={"csrf_token": csrf(page)})
    assert r.status_code == 303
    assert db_session.scalar(sa.select(sa.func.count()).select_from(StaffRelation).where(StaffRelation.id == rel.id)) == 0
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "relation.removed"))
    assert ev.before["relative_name"] == "孙某"
