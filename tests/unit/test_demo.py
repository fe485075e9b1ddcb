"""The demo county (DESIGN.md "Demo data"): every state of the lifecycle, the listed users
with the password demo1234, five tablet cases per team, valid ID numbers, masked notices."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from server.accounts.models import StaffRelation, Team, TeamMember, User
from server.cases.lifecycle import TRANSITIONS
from server.cases.models import STATES, Case, CaseTransition, Household, Member
from server.core.auth import verify_password
from server.core.validators import parse_id_number
from server.core.workdays import Calendar
from server.demo import build_demo, mask_name
from server.panel.models import AgendaItem, PanelMember, Recusal
from server.publicity.models import Notice
from server.visits.models import Visit, VisitMember

TZ = ZoneInfo("Asia/Shanghai")
DEMO_USERS = {
    "investigator1": "investigator", "investigator2": "investigator", "investigator3": "investigator",
    "investigator4": "investigator", "office1": "office", "panel1": "panel", "panel2": "panel", "panel3": "panel",
    "panel4": "panel", "panel5": "panel", "county1": "county", "admin": "admin",
}


@pytest.fixture()
def demo(db_session):
    return build_demo(db_session)


def test_every_state_of_the_lifecycle_has_a_case(db_session, demo):
    states = Counter(db_session.scalars(sa.select(Case.state)))
    assert set(STATES) <= set(states), set(STATES) - set(states)
    assert demo["households"] == 60


def test_the_demo_users_have_their_roles_and_the_password_demo1234(db_session, demo):
    users = {u.username: u for u in db_session.scalars(sa.select(User))}
    assert set(users) == set(DEMO_USERS)
    for username, role in DEMO_USERS.items():
        assert users[username].roles == {role}, username
    assert verify_password(users["investigator1"].password_hash, "demo1234")
    assert not verify_password(users["investigator1"].password_hash, "demo12345")
    assert len({u.password_hash for u in users.values()}) == 1  # hashed once, on purpose


def test_each_investigation_team_has_five_cases_waiting_on_its_tablets(db_session, demo):
    teams = db_session.scalars(sa.select(Team)).all()
    members = {t.name: {m.user.username for m in t.members} for t in teams}
    assert {"investigator1", "investigator2"} in members.values()
    assert {"investigator3", "investigator4"} in members.values()
    for team in teams:
        waiting = db_session.scalar(sa.select(sa.func.count()).select_from(Case).where(
            Case.team_id == team.id, Case.state.in_(("investigating", "returned"))))
        assert waiting >= 5, team.name
    # An investigator's team is in their own community (M21 Art 15: a team of two or more).
    for team in teams:
        assert len(team.members) >= 2


def test_every_id_number_is_valid_and_matches_sex_and_birth_date(db_session, demo):
    rows = db_session.execute(sa.select(Member.id_number, Member.sex, Member.birth_date)).all()
    rows += db_session.execute(sa.select(VisitMember.id_number, VisitMember.sex, VisitMember.birth_date)).all()
    assert rows
    for id_number, sex, birth in rows:
        assert parse_id_number(id_number) == (birth, sex), id_number
        assert id_number.startswith("330122")
    # One person, one number: no two households share an ID number.
    owners = db_session.execute(sa.select(Member.id_number, sa.func.count(sa.distinct(Member.household_id)))
                                .group_by(Member.id_number)).all()
    assert all(n == 1 for _, n in owners)


def test_public_notices_show_only_the_masked_head_name(db_session, demo):
    notices = db_session.execute(
        sa.select(Notice, Household.head_name).join(Case, Case.id == Notice.case_id)
        .join(Household, Household.id == Case.household_id)).all()
    assert any(n.state == "posted" for n, _ in notices)
    for notice, head in notices:
        assert notice.head_name_shown == mask_name(head)
        assert notice.head_name_shown != head and "*" in notice.head_name_shown  # M21 Art 19, 24
    in_publicity = db_session.scalars(sa.select(Case.id).where(Case.state == "publicity")).all()
    assert len(in_publicity) >= 3
    assert {n.case_id for n, _ in notices} >= set(in_publicity)


def test_mask_name_keeps_the_first_and_last_character():
    assert mask_name("张三") == "张*"
    assert mask_name("张小三") == "张*三"
    assert mask_name("申屠美娟") == "申**娟"
    assert mask_name("王") == "王"


def test_transitions_follow_the_lifecycle_and_end_in_the_case_state(db_session, demo):
    steps: dict = {}
    for row in db_session.scalars(sa.select(CaseTransition).order_by(CaseTransition.id)):
        steps.setdefault(row.case_id, []).append(row)
    for case in db_session.scalars(sa.select(Case)):
        state, at = "application", case.applied_at
        for step in steps.get(case.id, []):
            assert (step.from_state, step.to_state) in TRANSITIONS
            assert step.from_state == state and step.at > at
            if TRANSITIONS[(step.from_state, step.to_state)].reason_required:
                assert step.reason, (case.number, step.to_state)
            state, at = step.to_state, step.at
        assert state == case.state, case.number


def test_deadlines_count_working_days_from_acceptance(db_session, demo):
    calendar = Calendar.load(db_session)
    assert dt.date(2026, 2, 16) in calendar.holidays and dt.date(2026, 2, 14) in calendar.makeup_days
    for case in db_session.scalars(sa.select(Case).where(Case.accepted_at.is_not(None))):
        accepted = case.accepted_at.astimezone(TZ).date()
        assert case.investigation_due == calendar.add_working_days(accepted, 3)  # M21 Art 15
        assert case.case_due == calendar.add_working_days(accepted, 45 if case.special else 30)
    today = dt.datetime.now(TZ).date()
    overdue = db_session.scalar(sa.select(sa.func.count()).select_from(Case).where(
        Case.state.not_in(("approved", "rejected", "active", "recheck", "adjusted", "stopped")),
        Case.case_due < today))
    assert overdue >= 1


def test_visits_carry_their_wire_body_and_its_hash(db_session, demo):
    visits = db_session.scalars(sa.select(Visit)).all()
    assert visits
    for visit in visits:
        raw = json.dumps(visit.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert visit.body_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert visit.body["case_id"] == str(visit.case_id)
        assert len(visit.body["investigators"]) >= 2 and len(visit.body["testimonies"]) >= 2
        assert all(isinstance(i["monthly_amount"], str) for i in visit.body["income"])  # money as strings


def test_one_applicant_is_a_panel_members_sister_and_she_recuses(db_session, demo):
    related = db_session.scalars(sa.select(Case).where(Case.related_to_staff)).all()
    assert len(related) == 1
    case = related[0]
    register = set(db_session.scalars(sa.select(StaffRelation.relative_id_number)))
    assert {m.id_number for m in case.household.members} & register  # M21 Art 11
    recused = db_session.scalars(
        sa.select(User.username).join(PanelMember, PanelMember.user_id == User.id)
        .join(Recusal, Recusal.panel_member_id == PanelMember.id)
        .join(AgendaItem, AgendaItem.id == Recusal.agenda_item_id).where(AgendaItem.case_id == case.id)).all()
    assert recused == ["panel3"]


def test_households_scale_with_the_argument(db_session):
    counts = build_demo(db_session, households=500)
    assert counts["households"] == 500
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Household)) == 500
    states = Counter(db_session.scalars(sa.select(Case.state)))
    assert set(STATES) <= set(states)
    assert states["active"] == max(states.values())  # most households receive the allowance


def test_the_same_seed_and_day_give_the_same_county(db_session):
    def snapshot():
        savepoint = db_session.begin_nested()
        build_demo(db_session, households=80, seed=11, today=dt.date(2026, 11, 20))
        rows = db_session.execute(
            sa.select(Case.number, Case.state, Case.applied_at, Case.allowance, Household.head_name,
                      Household.address).join(Household).order_by(Case.number)).all()
        members = db_session.scalars(sa.select(Member.id_number).order_by(Member.id_number)).all()
        savepoint.rollback()
        return rows, members

    assert snapshot() == snapshot()


def test_refuses_a_database_that_already_has_users(db_session, demo):
    with pytest.raises(RuntimeError):
        build_demo(db_session)
