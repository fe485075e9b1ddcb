"""The case file /cases/<id> (issue 6 items 4 and 7): one screen with the household, the
policy engine's computation explained, assets, testimonies, signatures, photos with
their time, place and flags, the map's points, the visit history and the audit trail.
Every read is audited; a case out of scope is a 404 and the attempt is logged; the page
costs a fixed number of queries however many visits and photos the case has."""
from __future__ import annotations

import json
import re
import uuid
from html import unescape

import sqlalchemy as sa

from server.core.audit import AuditEvent
from server.visits.queries import named_hashes
from tests.photos_helpers import camera_jpeg
from tests.review_fixtures import *  # noqa: F401,F403 - fixtures
from tests.review_fixtures import QueryCounter, store_photos, visit_body


def test_case_file_shows_the_whole_case(client, sign_in, office, visited_case, policy):
    case, visit_id, body = visited_case()
    sign_in(office.username)
    html = client.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    # Household and members as the visit found them.
    assert "王秀英" in html and "李建国" in html and body["members"][0]["id_number"] in html
    # The computation explained, with the policy version used.
    comp = html.split('data-testid="computation"')[1].split("</section>")[0]
    assert "Per-capita income" in comp and 'data-code="standard"' in comp
    assert "2026-01-01" in comp  # the version in force
    # Assets, testimonies, signatures, photos with capture time and place.
    assert "电动三轮车" in html and "赵大妈" in html and "老两口身体不好" in html
    assert html.count('class="photo"') == 3
    for p in body["photos"]:
        assert f'/api/v1/photos/{p["sha256"]}/thumb' in html
    assert "29.79710, 119.69120" in html
    # The map's points: registered location, the visit, each photo.
    points = json.loads(unescape(re.search(r'data-points="([^"]*)"', html).group(1)))
    assert sorted({p["kind"] for p in points}) == ["household", "photo", "visit"]
    assert len([p for p in points if p["kind"] == "photo"]) == 3
    # Visit history and the audit trail.
    assert "first visit" in html
    assert 'data-action="visit.received"' in html and 'data-action="case.transition"' in html


def test_flags_on_a_photo_are_shown_with_it(client, sign_in, office, visited_case):
    photos = [{"sha256": "f" * 64, "kind": "exterior", "taken_at": "2026-11-19T09:20:00+08:00",
               "location": {"lat": 29.7971, "lon": 119.6912, "accuracy_m": 8.0}}]
    case, _v, _b = visited_case(tag="late", photos=photos)
    sign_in(office.username)
    html = client.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    tile = html.split(f'data-sha="{"f" * 64}"')[1].split("</li>")[0]
    assert 'class="flag sev-' in tile


def test_every_read_is_audited(client, sign_in, office, visited_case, db_session):
    case, _v, _b = visited_case()
    sign_in(office.username)
    for _ in range(2):
        assert client.get(f"/cases/{case.id}").status_code == 200
    reads = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                           AuditEvent.action == "read")).all()
    assert len(reads) == 2 and all(r.actor_id == office.id for r in reads)
    assert "members.id_number" in reads[0].after["fields"]


def test_a_case_out_of_scope_is_a_404_and_the_attempt_is_logged(client, sign_in, make_user, make_community,
                                                              case_factory, db_session):
    elsewhere = make_community("白云源社区", "Baiyunyuan")
    theirs = case_factory(state="in_review", community_=elsewhere)
    stranger = make_user("office-b", roles=("office",))
    sign_in(stranger.username)
    r = client.get(f"/cases/{theirs.id}", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert theirs.household.head_name not in r.get_data(as_text=True)
    r = client.post(f"/cases/{theirs.id}/comment", data={"text": "x"})
    assert r.status_code in (400, 404)  # without a CSRF token the form is refused before anything
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == theirs.id,
                                                            AuditEvent.action == "access.denied")).all()
    assert denied and denied[0].actor_id == stranger.id
    assert client.get(f"/cases/{uuid.uuid4()}").status_code == 404


def test_case_file_query_count_does_not_grow_with_visits_and_photos(client, sign_in, office, visited_case, app,
                                                                   db_session, bearer):
    small, _v, _b = visited_case()
    big, _v2, body = visited_case()
    # The big case is returned and its re-visit brings ten photos more.
    many = [{"sha256": f"{i:064x}", "kind": "other", "taken_at": "2026-11-20T09:30:00+08:00",
             "location": {"lat": 29.7972, "lon": 119.6913, "accuracy_m": 5.0}} for i in range(1, 11)]
    from server.cases.models import Case
    from server.review import operations

    operations.return_for_revisit(db_session, db_session.get(Case, big.id), office, ["缺少厨房照片"], None, None)
    second = visit_body(big.id, tag="second", kind="revisit", photos=many)
    store_photos(db_session, named_hashes(second))
    assert client.put(f"/api/v1/visits/{uuid.uuid4()}", json=second, headers=bearer("inv-2")).status_code == 201
    sign_in(office.username)
    engine = app.extensions["doorstep_db"].engine
    counts = []
    for case_id in (small.id, big.id):  # read before counting: the test's own session stays out of it
        with QueryCounter(engine) as q:
            html = client.get(f"/cases/{case_id}").get_data(as_text=True)
        counts.append(q.count)
    assert html.count('class="photo"') == 10
    assert counts[0] == counts[1], counts
    assert counts[1] <= 45, counts


def test_photo_copies_open_with_an_office_session(client, sign_in, office, team, bearer, db_session, case_factory):
    data = camera_jpeg()
    import hashlib

    from tests.photos_helpers import name_in_visit

    digest = hashlib.sha256(data).hexdigest()
    r = client.put(f"/api/v1/photos/{digest}", data=data, headers={**bearer("inv-1"), "Content-Type": "image/jpeg"})
    assert r.status_code == 201, r.get_data(as_text=True)
    name_in_visit(db_session, case_factory(state="in_review"), digest)  # a photo is seen through its case
    assert client.get(f"/api/v1/photos/{digest}/thumb").status_code == 401
    sign_in(office.username)
    r = client.get(f"/api/v1/photos/{digest}/thumb")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert client.get(f"/api/v1/photos/{digest}/display").status_code == 200
    # The session opens the served copies only: nothing else under /api/ takes it.
    assert client.get(f"/api/v1/photos/{digest}/original").status_code == 401
    assert client.put(f"/api/v1/photos/{digest}", data=data, headers={"Content-Type": "image/jpeg"}).status_code == 401
    assert client.get("/api/v1/sync/assignments").status_code == 401
