"""Handing accepted cases to an investigation team (issue 6 item 2): in bulk, to a team of at
least two investigators (M21 Art 15–16); the cases reach that team's tablets at the next
sync, and a reassigned case leaves the old team's tablets (`removed`). All or nothing: a
stale or out-of-scope case in the selection changes nothing."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from server.accounts.models import Team, TeamMember
from server.cases.models import Assignment, CaseTransition
from server.core.audit import AuditEvent
from tests.api.test_visits import bearer, person, team  # noqa: F401


def sync(client, headers, since=None):
    r = client.get("/api/v1/sync/assignments", query_string={"since": since} if since else {}, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def ids(answer) -> set[str]:
    return {c["id"] for c in answer["cases"]}


@pytest.fixture()
def second_team(db_session, community, person):
    users = [person(name) for name in ("inv-3", "inv-4")]
    t = Team(community_id=community.id, name="迎春社区调查二组")
    t.members = [TeamMember(user_id=u.id) for u in users]
    db_session.add(t)
    db_session.flush()
    return t


@pytest.fixture()
def office_in(make_user, sign_in):
    make_user("office-g", roles=("office",))
    sign_in("office-g")


def token(client) -> str:
    html = client.get("/assignments").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post(client, cases, team_id, versions=None, lang="en"):
    data = {"csrf_token": token(client), "case": [str(c.id) for c in cases], "team": str(team_id) if team_id else ""}
    for c in cases:
        data[f"version-{c.id}"] = str((versions or {}).get(c.id, c.version))
    return client.post(f"/assignments?lang={lang}", data=data)


def test_accepted_cases_are_listed_and_assigned_in_bulk(client, db_session, office_in, case_factory, team):
    a, b = case_factory("accepted"), case_factory("accepted")
    waiting_elsewhere = case_factory("application")
    page = client.get("/assignments").get_data(as_text=True)
    assert a.number in page and b.number in page and waiting_elsewhere.number not in page
    r = post(client, [a, b], team.id)
    assert r.status_code == 303
    for c in (a, b):
        db_session.refresh(c)
        assert c.state == "investigating" and c.team_id == team.id
        assert db_session.scalars(sa.select(Assignment).where(Assignment.case_id == c.id)).one().team_id == team.id
        ev = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "case.assigned",
                                                            AuditEvent.case_id == c.id)).one()
        assert ev.after["team_id"] == team.id and ev.actor_name == "office-g"
    assert "2 case(s) assigned" in client.get("/assignments?lang=en").get_data(as_text=True)


def test_assigned_cases_reach_the_teams_tablets_and_a_reassigned_case_leaves_the_old_ones(
        client, db_session, office_in, case_factory, team, second_team, bearer):
    first_tablet, second_tablet = bearer("inv-1"), bearer("inv-3")
    before_first, before_second = sync(client, first_tablet), sync(client, second_tablet)
    moved, kept = case_factory("accepted"), case_factory("accepted")
    assert post(client, [moved, kept], team.id).status_code == 303
    first = sync(client, first_tablet, before_first["cursor"])
    assert ids(first) == {str(moved.id), str(kept.id)} and first["removed"] == []
    assert all(c["state"] == "investigating" for c in first["cases"])
    # Reassignment: the case goes to the second team's tablets and off the first team's.
    db_session.refresh(moved)
    assert post(client, [moved], second_team.id).status_code == 303
    db_session.refresh(moved)
    assert moved.team_id == second_team.id and moved.state == "investigating"
    again = sync(client, first_tablet, first["cursor"])
    assert again["removed"] == [str(moved.id)] and ids(again) == set()
    second = sync(client, second_tablet, before_second["cursor"])
    assert ids(second) == {str(moved.id)} and second["removed"] == []
    assert ids(sync(client, first_tablet)) == {str(kept.id)}  # a full sync agrees
    rows = db_session.scalars(sa.select(Assignment).where(Assignment.case_id == moved.id).order_by(Assignment.id)).all()
    assert [(r.team_id, r.ended_at is None) for r in rows] == [(team.id, False), (second_team.id, True)]


def test_a_team_with_fewer_than_two_investigators_is_refused(client, db_session, office_in, case_factory, person,
                                                            community):
    solo = Team(community_id=community.id, name="单人组")
    solo.members = [TeamMember(user_id=person("inv-solo").id)]
    db_session.add(solo)
    db_session.flush()
    case = case_factory("accepted")
    r = post(client, [case], solo.id)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "A home visit needs at least two investigators; this team has fewer." in html
    assert "Nothing was assigned." in html
    db_session.refresh(case)
    assert case.state == "accepted" and case.team_id is None
    assert "fewer than two investigators" in client.get("/assignments?lang=en").get_data(as_text=True)


def test_no_case_or_no_team_is_named_by_the_field(client, db_session, office_in, case_factory, team,
                                                  make_community):
    case = case_factory("accepted")
    html = post(client, [], team.id).get_data(as_text=True)
    assert 'id="cases-error" role="alert">Tick at least one case.<' in html
    r = post(client, [case], None)
    assert r.status_code == 422 and 'id="team-error" role="alert">Choose an investigation team.<' in r.get_data(
        as_text=True)
    # A team of another community is not a choice.
    foreign = Team(community_id=make_community("白云源社区", "Baiyunyuan").id, name="外社区组")
    db_session.add(foreign)
    db_session.flush()
    assert post(client, [case], foreign.id).status_code == 422
    db_session.refresh(case)
    assert case.state == "accepted"


def test_sending_the_same_assignment_twice_does_nothing_twice(client, db_session, office_in, case_factory, team):
    case = case_factory("accepted")
    seen = case.version
    assert post(client, [case], team.id, {case.id: seen}).status_code == 303
    assert post(client, [case], team.id, {case.id: seen}).status_code == 303
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Assignment)
                             .where(Assignment.case_id == case.id)) == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CaseTransition)
                             .where(CaseTransition.case_id == case.id)) == 1


def test_a_stale_selection_changes_nothing_and_says_which_case(client, db_session, office_in, case_factory, team,
                                                              second_team):
    fresh, moved = case_factory("accepted"), case_factory("investigating", team=team)
    old_version = moved.version
    moved.state = "submitted"  # the visit arrived since the page was opened
    db_session.flush()
    r = post(client, [fresh, moved], second_team.id, {moved.id: old_version})
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert f"Case {moved.number} has changed since you opened the page (it is now: Submitted)." in html
    db_session.refresh(fresh)
    db_session.refresh(moved)
    assert fresh.state == "accepted" and fresh.team_id is None and moved.team_id == team.id
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 0


def test_a_case_of_another_community_is_a_404_logged_and_nothing_is_assigned(client, db_session, office_in,
                                                                            case_factory, team, make_community):
    mine = case_factory("accepted")
    theirs = case_factory("accepted", community_=make_community("白云源社区", "Baiyunyuan"))
    r = post(client, [mine, theirs], team.id)
    assert r.status_code == 404
    db_session.refresh(mine)
    assert mine.state == "accepted" and mine.team_id is None
    ev = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert ev.case_id == theirs.id and ev.actor_name == "office-g"


def test_a_county_reviewer_sees_the_list_but_does_not_assign(client, db_session, make_user, sign_in, county,
                                                            case_factory, team):
    make_user("county-g", roles=("county",), jurisdiction=county)
    case = case_factory("accepted")
    sign_in("county-g")
    page = client.get("/assignments?lang=en").get_data(as_text=True)
    assert case.number in page and "Assign the selected cases" not in page
    r = post(client, [case], team.id)
    assert r.status_code == 404
    db_session.refresh(case)
    assert case.team_id is None


def test_a_recheck_with_no_team_waits_for_one_and_gets_it_without_a_state_change(client, db_session, office_in,
                                                                                case_factory, team, bearer):
    recheck = case_factory("recheck")
    html = client.get("/assignments").get_data(as_text=True)
    waiting = re.search(r'data-testid="waiting">.*?</table>', html, re.S).group(0)
    assert recheck.number in waiting
    tablet = bearer("inv-1")
    cursor = sync(client, tablet)["cursor"]
    assert post(client, [recheck], team.id).status_code == 303
    db_session.refresh(recheck)
    assert recheck.state == "recheck" and recheck.team_id == team.id
    assert ids(sync(client, tablet, cursor)) == {str(recheck.id)}


@pytest.mark.parametrize("path", ["/assignments", "/applications?state=all", "/due"])
def test_the_lists_take_a_bounded_number_of_queries_whatever_their_length(app, client, db_session, office_in,
                                                                         case_factory, team, path):
    import datetime as dt

    from server.accounts.models import StaffRelation
    from server.cases import lifecycle
    from server.cases.operations import flag_staff_relatives
    from tests.review_fixtures import QueryCounter

    today = lifecycle.local_today()

    def add(n):
        for i in range(n):
            c = case_factory(("accepted", "investigating")[i % 2], team=team if i % 2 else None,
                             investigation_due=today, case_due=today + dt.timedelta(days=3))
            # Every case a relative of staff, so every list shows the flags' reasons.
            db_session.add(StaffRelation(jurisdiction_id=c.community_id, staff_name=f"员工{c.number}",
                                         staff_role="office", relative_name="x",
                                         relative_id_number=c.household.members[0].id_number, relation="spouse"))
            db_session.flush()
            flag_staff_relatives(db_session, c)

    engine = app.extensions["doorstep_db"].engine
    add(3)
    with QueryCounter(engine) as few:
        assert client.get(path).status_code == 200
    add(15)
    with QueryCounter(engine) as many:
        assert client.get(path).status_code == 200
    assert many.count == few.count
