"""A form sent several times at once registers one application (issue 6 "Bad input"): the
same intake form posted from eight threads at the same moment against a live server
(waitress) on a database of its own, committed for real — the rolled-back test transaction
would serialise the requests itself."""
from __future__ import annotations

import re
import threading

import pytest
import requests
import sqlalchemy as sa

from server.cases.models import Case, Household
from server.core.audit import AuditEvent
from tests.api.test_intake import APPLICANT_ID, SPOUSE_ID
from tests.conftest import live_app

N = 8


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from server.accounts.models import User, UserRole
    from server.core.auth import hash_password
    from server.core.models import Jurisdiction

    def seed(s):
        county = Jurisdiction(code="330122", name="桐庐县", kind="county")
        community = Jurisdiction(code="330122001001", name="迎春社区", kind="community", parent=county)
        s.add_all([county, community])
        s.flush()
        user = User(username="office-c", display_name="前台", password_hash=hash_password("pw-intake-1"),
                    jurisdiction_id=community.id)
        user.role_rows = [UserRole(role="office")]
        s.add(user)

    with live_app(tmp_path_factory, "intakeconc", threads=N, seed=seed) as (base, app, _):
        yield {"base": base, "engine": app.extensions["doorstep_db"].engine}


def signed_in(base) -> requests.Session:
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(base + "/login").text).group(1)
    r = http.post(base + "/login", data={"username": "office-c", "password": "pw-intake-1", "csrf_token": token},
                  allow_redirects=False)
    assert r.status_code == 303, r.text
    return http


def test_the_same_form_sent_at_once_from_many_threads_registers_one_application(live):
    base = live["base"]
    http = signed_in(base)
    page = http.get(base + "/applications/new").text
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "case_id": re.search(r'name="case_id" value="([^"]+)"', page).group(1),
        "address": "迎春路 5 号", "lat": "29.7981", "lon": "119.6902", "reason": "无固定收入",
        "m-0-name": "王秀英", "m-0-id_number": APPLICANT_ID, "m-0-relation": "self",
        "m-1-name": "李建国", "m-1-id_number": SPOUSE_ID, "m-1-relation": "spouse",
    }
    start = threading.Barrier(N)
    answers: list = [None] * N

    def send(i):
        start.wait()
        answers[i] = http.post(base + "/applications/new", data=form, allow_redirects=False)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [303] * N, [a.text[:300] for a in answers if a.status_code != 303]
    assert len({a.headers["Location"] for a in answers}) == 1
    with live["engine"].connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
        assert conn.scalar(sa.select(sa.func.count()).select_from(Household)) == 1
        assert conn.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "case.registered")) == 1


def test_accept_and_assign_pressed_at_once_from_many_threads_happen_once(live):
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.cases.models import Assignment, CaseTransition

    base = live["base"]
    http = signed_in(base)
    with live["engine"].begin() as conn:
        case_id, version = conn.execute(sa.select(Case.id, Case.version)).one()
    with sa.orm.Session(live["engine"]) as s:  # a team of two for the assignment
        community_id = s.scalar(sa.select(User.jurisdiction_id).where(User.username == "office-c"))
        users = [User(username=f"inv-c{i}", display_name=f"inv-c{i}", password_hash="-",
                      jurisdiction_id=community_id, role_rows=[UserRole(role="investigator")]) for i in (1, 2)]
        s.add_all(users)
        s.flush()
        team = Team(community_id=community_id, name="调查组", members=[TeamMember(user_id=u.id) for u in users])
        s.add(team)
        s.commit()
        team_id = team.id
    page = http.get(f"{base}/applications/{case_id}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def at_once(path, data):
        start = threading.Barrier(N)
        answers: list = [None] * N

        def send(i):
            start.wait()
            answers[i] = http.post(base + path, data=data, allow_redirects=False)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return answers

    answers = at_once(f"/applications/{case_id}/accept", {"csrf_token": token, "version": str(version)})
    assert [a.status_code for a in answers] == [303] * N, [a.text[:300] for a in answers if a.status_code != 303]
    with live["engine"].connect() as conn:
        version = conn.scalar(sa.select(Case.version).where(Case.id == case_id))
    answers = at_once("/assignments", {"csrf_token": token, "case": str(case_id), f"version-{case_id}": str(version),
                                       "team": str(team_id)})
    assert [a.status_code for a in answers] == [303] * N, [a.text[:300] for a in answers if a.status_code != 303]
    with live["engine"].connect() as conn:
        moves = conn.execute(sa.select(CaseTransition.to_state).where(CaseTransition.case_id == case_id)
                             .order_by(CaseTransition.id)).scalars().all()
        assert moves == ["accepted", "investigating"]
        assert conn.scalar(sa.select(sa.func.count()).select_from(Assignment)) == 1
        assert conn.scalar(sa.select(Case.team_id).where(Case.id == case_id)) == team_id
