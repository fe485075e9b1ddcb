"""Visits arrive exactly once under concurrency (issue 4 item 3): fifty tablets' worth of
simultaneous PUTs against a live server (waitress, 16 threads) on a database of its own,
committed for real: the rolled-back test transaction would serialise everything itself."""
from __future__ import annotations

import json
import threading
import uuid

import pytest
import requests
import sqlalchemy as sa

from server.visits.models import Visit, VisitConflict, VisitMember
from tests.api.test_visits import hashes_of, visit_body
from tests.conftest import live_app

N = 50


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.accounts.operations import issue_token
    from server.cases.models import Case, Household
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction

    def seed(s):
        county = Jurisdiction(code="330122", name="桐庐县", kind="county")
        community = Jurisdiction(code="330122001001", name="迎春社区", kind="community", parent=county)
        s.add_all([county, community])
        s.flush()
        users = []
        for name in ("inv-1", "inv-2"):
            user = User(username=name, display_name=name, password_hash="-", jurisdiction_id=community.id)
            user.role_rows = [UserRole(role="investigator")]
            users.append(user)
        s.add_all(users)
        s.flush()
        team = Team(community_id=community.id, name="调查一组", members=[TeamMember(user_id=u.id) for u in users])
        s.add(team)
        s.flush()
        cases = []
        for i in range(12):
            household = Household(community_id=community.id, head_name=f"户主{i}", address=f"迎春路{i}号",
                                  location=point_wkt(29.797, 119.691))
            cases.append(Case(number=f"C-{i}", household=household, community_id=community.id,
                              state="investigating", team_id=team.id))
        s.add_all(cases)
        s.flush()
        raw, _token = issue_token(s, users[0], "tablet", 30)
        case_ids = [c.id for c in cases]
        return raw, case_ids

    with live_app(tmp_path_factory, "visitconc", threads=16, seed=seed) as (base, app, (raw, case_ids)):
        yield {"base": base, "headers": {"Authorization": "Bearer " + raw}, "cases": case_ids,
               "engine": app.extensions["doorstep_db"].engine}


def put_all(live, jobs: list[tuple[uuid.UUID, dict]]) -> list[requests.Response]:
    """PUT every (visit id, body) at once, one thread each, released together."""
    start = threading.Barrier(len(jobs))
    answers: list = [None] * len(jobs)

    def one(i, visit_id, body):
        with requests.Session() as http:
            start.wait()
            answers[i] = http.put(f"{live['base']}/api/v1/visits/{visit_id}", json=body, headers=live["headers"],
                                  timeout=120)

    threads = [threading.Thread(target=one, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def count(live, model, **where) -> int:
    with live["engine"].connect() as conn:
        q = sa.select(sa.func.count()).select_from(model)
        for key, value in where.items():
            q = q.where(getattr(model, key) == value)
        return conn.scalar(q)


def test_fifty_concurrent_puts_of_one_new_visit_leave_one_visit(live):
    visit_id = uuid.uuid4()
    body = visit_body(live["cases"][0], tag="same")
    answers = put_all(live, [(visit_id, body)] * N)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (N - 1) + [201], [a.text for a in answers if a.status_code not in (200, 201)]
    assert len({a.text for a in answers}) == 1  # every device is told the same thing
    assert count(live, Visit, id=visit_id) == 1
    assert count(live, VisitMember, visit_id=visit_id) == len(body["members"])
    assert count(live, VisitConflict, visit_id=visit_id) == 0


def test_fifty_concurrent_puts_of_two_versions_keep_one_visit_and_one_conflict(live):
    visit_id = uuid.uuid4()
    one = visit_body(live["cases"][1], tag="v1")
    other = visit_body(live["cases"][1], tag="v1", notes="第二台平板的版本")
    answers = put_all(live, [(visit_id, one if i % 2 else other) for i in range(N)])
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}
    assert statuses.count(409) == N // 2  # every PUT of the version that lost
    assert all(a.json()["type"].endswith("/visit-conflict") for a in answers if a.status_code == 409)
    assert count(live, Visit, id=visit_id) == 1
    assert count(live, VisitConflict, visit_id=visit_id) == 1


def test_one_visit_id_sent_for_two_cases_at_once_is_stored_once(live):
    """Different cases lock different rows, so the two meet at the primary key: the loser
    re-reads in its savepoint and answers 409 (both bodies kept)."""
    visit_id = uuid.uuid4()
    jobs = [(visit_id, visit_body(live["cases"][2 + i % 2], tag="pk")) for i in range(N)]
    statuses = sorted(a.status_code for a in put_all(live, jobs))
    assert statuses.count(201) == 1 and statuses.count(409) == N // 2 and statuses.count(200) == N // 2 - 1
    assert count(live, Visit, id=visit_id) == 1
    assert count(live, VisitConflict, visit_id=visit_id) == 1


def test_fifty_different_visits_at_once_all_arrive(live):
    """No "database is locked" on SQLite, no deadlock on PostgreSQL: every one is a 201."""
    jobs = [(uuid.uuid4(), visit_body(live["cases"][i % 6], tag=f"d{i}")) for i in range(N)]
    answers = put_all(live, jobs)
    assert [a.status_code for a in answers] == [201] * N, [a.text for a in answers if a.status_code != 201][:3]
    assert all(count(live, Visit, id=visit_id) == 1 for visit_id, _ in jobs)


def test_a_visit_and_its_photos_sent_at_once_end_in_review(live):
    """Whichever commits last sees the other: the visit is never left awaiting a photo that
    is already stored (rounds of a visit PUT racing its own photo uploads)."""
    from tests import photos_helpers as ph

    for round_ in range(6):
        case_id = live["cases"][6 + round_]
        body = visit_body(case_id, tag=f"race{round_}")
        images = [ph.png_bytes(ph.textured((96, 72), seed=1000 * round_ + i)) for i in range(len(hashes_of(body)))]
        text = json.dumps(body, ensure_ascii=False)
        for old, data in zip(hashes_of(body), images):
            text = text.replace(old, ph.sha(data))
        body = json.loads(text)
        visit_id = uuid.uuid4()
        start = threading.Barrier(len(images) + 1)
        statuses: list = []

        def send(method, path, **kwargs):
            with requests.Session() as http:
                start.wait()
                statuses.append(http.request(method, live["base"] + path, headers={**live["headers"],
                                             **kwargs.pop("headers", {})}, timeout=120, **kwargs).status_code)

        threads = [threading.Thread(target=send, args=("PUT", f"/api/v1/visits/{visit_id}"), kwargs={"json": body})]
        threads += [threading.Thread(target=send, args=("PUT", f"/api/v1/photos/{ph.sha(data)}"),
                                     kwargs={"data": data, "headers": {"Content-Type": "image/png"}})
                    for data in images]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [201] * len(threads), statuses
        answer = requests.get(f"{live['base']}/api/v1/visits/{visit_id}", headers=live["headers"], timeout=30).json()
        assert answer["state"] == "in_review" and answer["missing_photos"] == [], (round_, answer)
