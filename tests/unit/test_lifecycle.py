"""The case lifecycle (DESIGN.md "The case lifecycle", M21) and who may see and act on a
case: the transition table per role, a case walked through its whole life on the real
database, the refusals, the deadlines and their overdue check in Python and in SQL."""
import datetime as dt
import itertools

import pytest
import sqlalchemy as sa

from server.accounts.models import StaffRelation, Team, TeamMember
from server.cases import access
from server.cases.lifecycle import (
    DECIDED,
    SYSTEM,
    TRANSITIONS,
    CaseNotAssigned,
    IllegalTransition,
    TransitionForbidden,
    allowed_transitions,
    local_today,
    overdue,
    overdue_clause,
    overdue_clauses,
    transition,
)
from server.cases.models import STATES, Case, CaseTransition
from server.core.audit import AuditEvent, verify
from server.core.errors import Forbidden, ValidationProblem
from server.core.models import CalendarDay, Jurisdiction
from server.core.workdays import Calendar
from server.panel.models import AgendaItem, PanelMember, PanelSession, Recusal
from server.sync.models import SyncChange

D = dt.date
FRI = D(2026, 11, 20)
# One holiday on the Monday after FRI, so a test can tell the calendar was used.
CAL = Calendar(holidays=frozenset({D(2026, 11, 23)}))

# ---------------------------------------------------------------------------------------
# The table, without a database

# What each role may do from each state, written out by hand from DESIGN.md and the
# brief (not derived from TRANSITIONS, so a slip in the table shows).
EXPECTED = {
    "office": {
        "application": ["accepted", "rejected"],
        "accepted": ["investigating"],
        "submitted": ["in_review"],
        "in_review": ["returned", "panel"],
        "returned": ["investigating"],
        "panel": ["publicity", "county_review"],
        "publicity": ["county_review", "objection"],
        "objection": ["investigating", "panel"],
        "active": ["recheck"],
        "adjusted": ["recheck"],
    },
    "investigator": {"investigating": ["submitted"]},
    "panel": {"panel": ["publicity"]},
    "county": {
        "county_review": ["approved", "rejected"],
        "approved": ["active"],
        "recheck": ["active", "adjusted", "stopped"],
    },
    SYSTEM: {
        "investigating": ["submitted"],
        "submitted": ["in_review"],
        "returned": ["investigating"],
        "approved": ["active"],
        "active": ["recheck"],
        "adjusted": ["recheck"],
    },
    "admin": {},  # separation of duties: administration is not case work
}

REASON_REQUIRED = {
    ("application", "rejected"), ("in_review", "returned"), ("panel", "county_review"),
    ("publicity", "objection"), ("objection", "investigating"), ("objection", "panel"),
    ("county_review", "rejected"), ("recheck", "adjusted"), ("recheck", "stopped"),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("state", STATES)
def test_allowed_transitions_for_each_role_and_state(role, state):
    assert allowed_transitions(state, {role}) == EXPECTED[role].get(state, [])


def test_none_means_the_system():
    for state in STATES:
        assert allowed_transitions(state, None) == allowed_transitions(state, {SYSTEM})


def test_several_roles_may_do_what_any_of_them_may():
    assert allowed_transitions("panel", {"panel", "office"}) == ["publicity", "county_review"]
    assert allowed_transitions("investigating", {"investigator", "office"}) == ["submitted"]
    assert allowed_transitions("county_review", {"admin", "county"}) == ["approved", "rejected"]


def test_the_table_names_only_known_states_and_roles():
    roles = {"investigator", "office", "panel", "county", SYSTEM}
    for (frm, to), rule in TRANSITIONS.items():
        assert frm in STATES and to in STATES
        assert rule.roles and rule.roles <= roles, rule
    assert len({r.name for r in TRANSITIONS.values()}) == len(TRANSITIONS)


def test_no_transition_is_open_to_admin():
    assert not [k for k, r in TRANSITIONS.items() if "admin" in r.roles]


def test_reasons_are_required_exactly_where_someone_must_be_told_why():
    # M21: refusals, rejections, returns, objections, adjustments and stops carry reasons.
    assert {k for k, r in TRANSITIONS.items() if r.reason_required} == REASON_REQUIRED


def test_every_state_is_reachable_and_only_rejected_and_stopped_are_final():
    reached, frontier = {"application"}, ["application"]
    while frontier:
        state = frontier.pop()
        for (frm, to) in TRANSITIONS:
            if frm == state and to not in reached:
                reached.add(to)
                frontier.append(to)
    assert reached == set(STATES)
    assert {s for s in STATES if not any(frm == s for frm, _ in TRANSITIONS)} == {"rejected", "stopped"}


def test_today_is_the_local_date_in_beijing():
    assert local_today(dt.datetime(2026, 11, 19, 16, 30, tzinfo=dt.timezone.utc)) == D(2026, 11, 20)
    assert local_today(dt.datetime(2026, 11, 19, 15, 59, tzinfo=dt.timezone.utc)) == D(2026, 11, 19)


@pytest.mark.parametrize("state, field, due, today, expected", [
    # M21 Art 15: the investigation starts within 3 working days of acceptance.
    ("accepted", "investigation_due", FRI, FRI, []),
    ("accepted", "investigation_due", FRI, FRI + dt.timedelta(days=1), ["investigation_start"]),
    ("investigating", "investigation_due", FRI, FRI + dt.timedelta(days=1), []),
    # The whole case: 30 (45) working days, until the county has decided.
    ("in_review", "case_due", FRI, FRI + dt.timedelta(days=1), ["case_total"]),
    ("county_review", "case_due", FRI, FRI, []),
    ("approved", "case_due", FRI, FRI + dt.timedelta(days=9), []),
    ("rejected", "case_due", FRI, FRI + dt.timedelta(days=9), []),
    # The county's 10 working days.
    ("county_review", "decision_due", FRI, FRI + dt.timedelta(days=1), ["county_decision"]),
    ("publicity", "decision_due", FRI, FRI + dt.timedelta(days=1), []),
    # Re-checks of recipients.
    ("active", "next_recheck_due", FRI, FRI + dt.timedelta(days=1), ["recheck"]),
    ("adjusted", "next_recheck_due", FRI, FRI + dt.timedelta(days=1), ["recheck"]),
    ("active", "next_recheck_due", FRI, FRI, []),
    ("recheck", "next_recheck_due", FRI, FRI + dt.timedelta(days=1), []),
])
def test_overdue_in_python(state, field, due, today, expected):
    case = Case(state=state, special=False, **{field: due})
    assert overdue(case, today, CAL) == expected


def test_a_case_can_miss_two_deadlines_at_once():
    case = Case(state="accepted", investigation_due=FRI, case_due=FRI)
    assert overdue(case, FRI + dt.timedelta(days=1)) == ["investigation_start", "case_total"]


def test_no_deadline_no_overdue():
    for state in STATES:
        assert overdue(Case(state=state), D(2030, 1, 1)) == []


# ---------------------------------------------------------------------------------------
# On the database


@pytest.fixture()
def office(make_user):
    return make_user("lc-office", ("office",))


@pytest.fixture()
def county_user(make_user, county):
    return make_user("lc-county", ("county",), county)


@pytest.fixture()
def team(db_session, community, make_user):
    team = Team(community_id=community.id, name="第一调查组")
    team.members = [TeamMember(user_id=make_user(f"lc-inv{i}", ("investigator",)).id) for i in (1, 2)]
    db_session.add(team)
    db_session.flush()
    return team


@pytest.fixture()
def team_investigator(team):
    return team.members[0].user


@pytest.fixture()
def panel_user(make_user):
    return make_user("lc-panel", ("panel",))


def audit_events(db_session, case):
    return db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                          AuditEvent.action == "case.transition")
                              .order_by(AuditEvent.id)).all()


def test_a_case_walks_its_whole_life(db_session, case_factory, office, team, team_investigator, panel_user,
                                     county_user):
    case = case_factory()
    later = D(2026, 12, 10)  # a Thursday
    steps = [
        ("accepted", office, None, FRI),
        ("investigating", office, None, FRI),
        ("submitted", team_investigator, None, FRI),
        ("in_review", None, None, FRI),
        ("returned", office, "厨房照片缺失 / kitchen photos missing", FRI),
        ("investigating", None, None, FRI),
        ("submitted", None, None, FRI),
        ("in_review", office, None, FRI),
        ("panel", office, None, FRI),
        ("publicity", panel_user, None, FRI),
        ("objection", office, "邻居反映有经营收入", FRI),
        ("panel", office, "复核后重新评议", FRI),
        ("publicity", panel_user, None, FRI),
        ("county_review", office, None, later),
        ("approved", county_user, None, later),
        ("active", None, None, later),
        ("recheck", None, None, later),
        ("active", county_user, None, later),
        ("recheck", office, None, later),
        ("adjusted", county_user, "收入增加，核减保障金", later),
        ("recheck", None, None, later),
        ("stopped", county_user, "家庭人均收入超过当地标准", later),
    ]
    for to_state, actor, reason, today in steps:
        if to_state == "investigating" and case.team_id is None:
            case.team_id = team.id  # the office assigns the team, then starts the investigation
        row = transition(db_session, case, to_state, actor, reason, today=today, calendar=CAL)
        assert isinstance(row, CaseTransition) and row.id is not None
        assert case.state == to_state
        if to_state == "accepted":
            # M21 Art 15: 3 working days (Mon 23 Nov is a holiday); 30 for the whole case.
            assert case.investigation_due == D(2026, 11, 26)
            assert case.case_due == D(2027, 1, 4)
            assert case.accepted_at is not None
        if to_state == "county_review":
            assert case.decision_due == D(2026, 12, 24)  # M21: 10 working days

    db_session.expire_all()
    case = db_session.get(Case, case.id)
    rows = case.transitions
    states = ["application"] + [s[0] for s in steps]
    assert [(r.from_state, r.to_state) for r in rows] == list(itertools.pairwise(states))
    assert [r.actor_id for r in rows] == [a.id if a else None for _, a, _, _ in steps]
    assert [r.reason for r in rows] == [s[2] for s in steps]
    assert all(r.at is not None and r.at.tzinfo is not None for r in rows)
    assert case.state_changed_at == rows[-1].at
    assert case.version > len(steps)  # every flush bumped it

    events = audit_events(db_session, case)
    assert [(e.before, e.after) for e in events] == [
        ({"state": r.from_state}, {"state": r.to_state, "reason": r.reason}) for r in rows]
    assert [e.actor_name for e in events] == [a.username if a else "system" for _, a, _, _ in steps]
    assert {e.entity_id for e in events} == {str(case.id)}

    # Every change after the team took the case reached its tablets' feed.
    changes = db_session.scalars(sa.select(SyncChange).where(SyncChange.case_id == case.id)
                                 .order_by(SyncChange.seq)).all()
    assert len(changes) == len(steps) - 1
    assert {(c.team_id, c.change) for c in changes} == {(team.id, "upsert")}
    assert verify(db_session).ok  # last: verify() empties the session


def test_a_special_case_has_45_working_days(db_session, case_factory, office):
    case = case_factory(special=True)
    transition(db_session, case, "accepted", office, today=FRI, calendar=Calendar())
    assert case.case_due == Calendar().add_working_days(FRI, 45) == D(2027, 1, 22)


def test_deadlines_come_from_the_policy_when_given(db_session, case_factory, office):
    case = case_factory()
    transition(db_session, case, "accepted", office, today=FRI, calendar=Calendar(),
               deadlines={"investigation_start_wd": 5, "case_total_wd": 20})
    assert case.investigation_due == D(2026, 11, 27)
    assert case.case_due == D(2026, 12, 18)


def test_without_a_calendar_the_calendar_table_is_used(db_session, case_factory, office):
    db_session.add_all([CalendarDay(day=D(2026, 11, 24), working=False, name="a holiday"),
                        CalendarDay(day=D(2026, 11, 28), working=True, name="make-up Saturday")])
    db_session.flush()
    case = case_factory()
    transition(db_session, case, "accepted", office, today=FRI)
    # Mon 23, Wed 25 (Tue 24 is the holiday), Thu 26.
    assert case.investigation_due == D(2026, 11, 26)
    assert case.case_due == Calendar.load(db_session).add_working_days(FRI, 30)


def test_an_illegal_transition_names_the_allowed_ones(db_session, case_factory, office):
    case = case_factory()
    with pytest.raises(IllegalTransition) as err:
        transition(db_session, case, "approved", office, today=FRI, calendar=CAL)
    problem = err.value
    assert (problem.status, problem.code) == (409, "illegal-transition")
    assert problem.extra == {"from_state": "application", "to_state": "approved",
                             "allowed": ["accepted", "rejected"]}
    assert problem.body()["allowed"] == ["accepted", "rejected"]
    assert case.state == "application" and not case.transitions


def test_an_unknown_state_is_an_illegal_transition(db_session, case_factory, office):
    with pytest.raises(IllegalTransition):
        transition(db_session, case_factory(), "archived", office, today=FRI, calendar=CAL)


@pytest.mark.parametrize("state, to_state, role", [
    ("application", "accepted", "investigator"),
    ("county_review", "approved", "office"),   # the county decides, not the community
    ("county_review", "approved", "admin"),    # separation of duties
    ("panel", "county_review", "panel"),       # a failed vote is sent up by the office
    ("investigating", "submitted", "county"),
])
def test_a_role_outside_the_rule_is_forbidden(db_session, case_factory, make_user, state, to_state, role):
    case = case_factory(state=state)
    actor = make_user(f"lc-{role}-x", (role,))
    with pytest.raises(TransitionForbidden) as err:
        transition(db_session, case, to_state, actor, "reason", today=FRI, calendar=CAL)
    assert isinstance(err.value, Forbidden)
    assert (err.value.status, err.value.code) == (403, "transition-forbidden")
    assert err.value.extra["allowed"] == allowed_transitions(state, {role})
    assert case.state == state


def test_the_system_may_not_decide(db_session, case_factory):
    case = case_factory(state="county_review")
    with pytest.raises(TransitionForbidden):
        transition(db_session, case, "approved", None, today=FRI, calendar=CAL)


@pytest.mark.parametrize("reason", [None, "", "   \n"])
def test_a_rejection_without_a_written_reason_is_refused(db_session, case_factory, county_user, reason):
    # M21: a rejection carries a written reason.
    case = case_factory(state="county_review")
    with pytest.raises(ValidationProblem) as err:
        transition(db_session, case, "rejected", county_user, reason, today=FRI, calendar=CAL)
    assert list(err.value.extra["errors"]) == ["reason"]
    assert err.value.status == 422
    assert case.state == "county_review"
    assert not audit_events(db_session, case)


def test_a_reason_is_kept_trimmed(db_session, case_factory, county_user):
    case = case_factory(state="county_review")
    row = transition(db_session, case, "rejected", county_user, "  存款超过规定  ", today=FRI, calendar=CAL)
    assert row.reason == "存款超过规定"


def test_the_investigation_starts_only_with_a_team(db_session, case_factory, office):
    case = case_factory(state="accepted")
    with pytest.raises(CaseNotAssigned) as err:
        transition(db_session, case, "investigating", office, today=FRI, calendar=CAL)
    assert err.value.status == 409
    assert case.state == "accepted"


def test_a_system_transition_is_recorded_without_an_actor(db_session, case_factory, team):
    case = case_factory(state="submitted", team=team)
    row = transition(db_session, case, "in_review", None, today=FRI, calendar=CAL)
    assert row.actor_id is None
    (event,) = audit_events(db_session, case)
    assert (event.actor_id, event.actor_name) == (None, "system")


def test_overdue_in_sql_matches_python(db_session, case_factory):
    today = D(2026, 12, 1)
    dates = [None, today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)]
    cases = []
    for state in STATES:
        for i, (inv, total, decision, recheck) in enumerate(itertools.product(dates, repeat=4)):
            if i % 7:  # a spread of the 256 combinations per state is plenty
                continue
            cases.append(case_factory(state=state, members=1, investigation_due=inv, case_due=total,
                                      decision_due=decision, next_recheck_due=recheck))
    ids = [c.id for c in cases]
    expected = {c.id for c in cases if overdue(c, today)}
    assert expected and expected != set(ids)  # the check below proves something
    got = set(db_session.scalars(sa.select(Case.id).where(Case.id.in_(ids), overdue_clause(today))))
    assert got == expected
    for code, clause in overdue_clauses(today).items():
        per_code = set(db_session.scalars(sa.select(Case.id).where(Case.id.in_(ids), clause)))
        assert per_code == {c.id for c in cases if code in overdue(c, today)}, code
        # Each clause is two-valued: its negation picks exactly the other cases.
        negated = set(db_session.scalars(sa.select(Case.id).where(Case.id.in_(ids), ~clause)))
        assert negated == set(ids) - per_code, code
    counted = db_session.scalar(sa.select(sa.func.count()).select_from(Case)
                                .where(Case.id.in_(ids), overdue_clause(today)))
    assert counted == len(expected)


def test_a_decided_case_is_never_overdue_for_the_whole_case(db_session, case_factory):
    today = D(2026, 12, 1)
    for state in DECIDED:
        case = case_factory(state=state, case_due=today - dt.timedelta(days=30))
        assert "case_total" not in overdue(case, today)


# ---------------------------------------------------------------------------------------
# Who may see and act on a case (access.py)


@pytest.fixture()
def world(db_session, county, township, make_community, make_user, case_factory, office):
    """Two communities under one township of the county, one community in another county,
    a case in each, a team, a panel session, and one user of each role."""
    other_county = Jurisdiction(code="44AC01", name="别县", kind="county")
    db_session.add(other_county)
    db_session.flush()
    c2 = make_community("东风社区", "Dongfeng Community")
    far = Jurisdiction(code="44AC01-01", name="远方社区", kind="community", parent=other_county)
    db_session.add(far)
    db_session.flush()
    home, second, away = case_factory(), case_factory(community_=c2), case_factory(community_=far)

    inv, inv_other = make_user("acc-inv", ("investigator",)), make_user("acc-inv2", ("investigator",))
    team = Team(community_id=office.jurisdiction_id, name="甲组", members=[TeamMember(user_id=inv.id)])
    db_session.add(team)
    db_session.flush()
    home.team_id = team.id

    panel = make_user("acc-panel", ("panel",))
    session = PanelSession(community_id=office.jurisdiction_id, created_by_id=office.id,
                           scheduled_for=dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc),
                           members=[PanelMember(user_id=panel.id, name="评议员", category="resident_rep")],
                           agenda=[AgendaItem(case_id=home.id)])
    db_session.add(session)
    db_session.flush()
    users = {
        "office": office,
        "office2": make_user("acc-office2", ("office",), c2),
        "county": make_user("acc-county", ("county",), county),
        "township": make_user("acc-town", ("county",), township),
        "other_county": make_user("acc-county2", ("county",), other_county),
        "investigator": inv,
        "investigator_elsewhere": inv_other,
        "panel": panel,
        "admin": make_user("acc-admin", ("admin",), county),
        "inactive_office": make_user("acc-gone", ("office",), active=False),
    }
    return {"users": users, "cases": {"home": home, "second": second, "away": away},
            "session": session, "team": team}


SEES = {
    "office": {"home"},
    "office2": {"second"},
    "county": {"home", "second"},       # through the township
    "township": {"home", "second"},
    "other_county": {"away"},
    "investigator": {"home"},           # the team's case only
    "investigator_elsewhere": set(),
    "panel": {"home"},                  # on the agenda of a session they sit on
    "admin": set(),                     # separation of duties
    "inactive_office": set(),
}


def test_who_sees_which_case(world):
    for who, user in world["users"].items():
        seen = {name for name, case in world["cases"].items() if access.can_view_case(user, case)}
        assert seen == SEES[who], who


def test_the_scope_clause_matches_can_view_case(db_session, world):
    db_session.flush()
    ids = {c.id: name for name, c in world["cases"].items()}
    for who, user in world["users"].items():
        rows = db_session.scalars(sa.select(Case.id).where(Case.id.in_(ids), access.case_scope_clause(user)))
        assert {ids[i] for i in rows} == SEES[who], who


def test_several_roles_see_the_union(db_session, world, make_user, community):
    user = make_user("acc-both", ("office", "county"), community)
    assert {n for n, c in world["cases"].items() if access.can_view_case(user, c)} == {"home"}
    both = make_user("acc-admin-office", ("admin", "office"), community)
    assert access.can_view_case(both, world["cases"]["home"])  # the admin role adds nothing, takes nothing


def test_acting_follows_seeing(world):
    home = world["cases"]["home"]
    for who in ("office", "county", "investigator", "panel"):
        assert access.can_act_on_case(world["users"][who], home), who
    for who in ("admin", "office2", "other_county", "investigator_elsewhere", "inactive_office"):
        assert not access.can_act_on_case(world["users"][who], home), who


def test_a_panel_member_who_recused_or_whose_session_closed_may_look_but_not_act(db_session, world):
    home, panel, session = world["cases"]["home"], world["users"]["panel"], world["session"]
    # M21 Art 11: a member related to the household recuses from its item.
    db_session.add(Recusal(agenda_item_id=session.agenda[0].id, panel_member_id=session.members[0].id,
                           source="declared", reason="亲属"))
    db_session.flush()
    assert access.can_view_case(panel, home) and not access.can_act_on_case(panel, home)
    db_session.execute(sa.delete(Recusal))
    session.state = "closed"
    db_session.flush()
    assert access.can_view_case(panel, home) and not access.can_act_on_case(panel, home)


def test_staff_related_to_the_household_may_not_act_on_its_case(db_session, world):
    # M21 Art 11: a caseworker registered as a relative of a household member does not handle the case.
    home, office = world["cases"]["home"], world["users"]["office"]
    member = home.household.members[1]
    db_session.add(StaffRelation(jurisdiction_id=office.jurisdiction_id, staff_user_id=office.id,
                                 staff_name=office.display_name, staff_role="office", relative_name=member.name,
                                 relative_id_number=member.id_number, relation="sibling"))
    db_session.flush()
    assert access.can_view_case(office, home)
    assert not access.can_act_on_case(office, home)
    assert access.can_act_on_case(world["users"]["county"], home)
