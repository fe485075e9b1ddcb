"""GET /api/v1/sync/assignments (issue 4 item 2; DESIGN "Sync protocol"): the team's cases
that changed since an opaque cursor, in pages; a case that leaves the team is `removed`;
a returned case carries the office's reasons; every answer is an audited read."""
from __future__ import annotations

import base64
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.cases import lifecycle
from server.core.audit import AuditEvent
from server.review.models import CaseReturn
from server.sync import operations as sync_ops
from tests.api.test_visits import auth, bearer, case, other_team, person, put, team, visit_body  # noqa: F401

MEMBER_FIELDS = {"name", "id_number", "relation", "sex", "birth_date", "health", "disability_grade",
                 "labour_ability", "work_status", "student", "special_identity", "class"}


def sync(client, headers, since=None, limit=None):
    query = {}
    if since is not None:
        query["since"] = since
    if limit is not None:
        query["limit"] = limit
    r = client.get("/api/v1/sync/assignments", query_string=query, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def ids(answer) -> list[str]:
    return [c["id"] for c in answer["cases"]]


def test_full_sync_lists_the_teams_cases_with_what_an_investigator_needs(client, db_session, case_factory, team,
                                                                        other_team, auth):
    mine = [case_factory(state=s, team=team) for s in ("investigating", "investigating", "recheck")]
    case_factory(state="investigating", team=other_team)
    case_factory(state="accepted")  # no team yet
    answer = sync(client, auth)
    assert set(answer) == {"cases", "removed", "cursor", "more"}
    assert sorted(ids(answer)) == sorted(str(c.id) for c in mine)
    assert answer["removed"] == [] and answer["more"] is False and answer["cursor"]
    first = next(c for c in answer["cases"] if c["id"] == str(mine[0].id))
    assert set(first) == {"id", "number", "state", "version", "household", "previous_visits", "returned_reasons",
                          "deadlines"}
    assert first["number"] == mine[0].number and first["state"] == "investigating"
    household = first["household"]
    assert household["head_name"] == mine[0].household.head_name and household["address"]
    assert household["location"]["lat"] == pytest.approx(29.797) and household["location"]["lon"] == pytest.approx(119.691)
    assert [set(m) for m in household["members"]] == [MEMBER_FIELDS] * 2
    assert [m["id_number"] for m in household["members"]] == [m.id_number for m in mine[0].household.members]
    assert first["previous_visits"] == [] and first["returned_reasons"] == []


def test_each_answer_is_one_audited_read_of_ids_and_health(client, db_session, case_factory, team, auth):
    cases = [case_factory(state="investigating", team=team) for _ in range(3)]
    sync(client, auth)
    reads = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "read")).all()
    assert len(reads) == 1
    assert reads[0].entity == "sync_assignments" and reads[0].actor_name == "inv-1"
    assert reads[0].after["cases"] == sorted(str(c.id) for c in cases)
    assert "members.id_number" in reads[0].after["fields"] and "members.health" in reads[0].after["fields"]
    nothing_new = sync(client, auth, since=sync(client, auth)["cursor"])
    assert nothing_new["cases"] == []
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "read")) == 2  # the empty answer read nothing


def test_the_cursor_brings_changes_after_it_and_nothing_before(client, db_session, case_factory, team, auth):
    a, b, c = (case_factory(state="investigating", team=team) for _ in range(3))
    lifecycle.transition(db_session, b, "submitted", None)  # before the cursor
    cursor = sync(client, auth)["cursor"]
    assert sync(client, auth, since=cursor)["cases"] == []
    lifecycle.transition(db_session, a, "submitted", None)  # after it
    db_session.flush()
    answer = sync(client, auth, since=cursor)
    assert ids(answer) == [str(a.id)] and answer["cases"][0]["state"] == "submitted" and answer["removed"] == []
    assert sync(client, auth, since=answer["cursor"])["cases"] == []


def test_a_case_moved_to_another_team_is_removed_from_the_old_teams_tablets(client, db_session, case_factory, team,
                                                                           other_team, auth, bearer):
    moved = case_factory(state="investigating", team=team)
    kept = case_factory(state="investigating", team=team)
    mine_before = sync(client, auth)
    theirs = bearer("inv-9")
    theirs_before = sync(client, theirs)
    assert str(moved.id) in ids(mine_before) and str(moved.id) not in ids(theirs_before)
    # The office reassigns the case.
    moved.team_id = other_team.id
    sync_ops.case_left_team(db_session, moved.id, team.id)
    sync_ops.case_changed(db_session, moved.id, other_team.id)
    db_session.flush()
    mine = sync(client, auth, since=mine_before["cursor"])
    assert mine["removed"] == [str(moved.id)] and mine["cases"] == []
    assert ids(sync(client, theirs, since=theirs_before["cursor"])) == [str(moved.id)]
    assert str(kept.id) in ids(sync(client, auth)) and str(moved.id) not in ids(sync(client, auth))


def test_a_case_no_longer_held_is_removed_even_if_its_last_change_was_an_update(client, db_session, case_factory,
                                                                               team, other_team, auth):
    moved = case_factory(state="investigating", team=team)
    cursor = sync(client, auth)["cursor"]
    sync_ops.case_changed(db_session, moved.id, team.id)
    moved.team_id = other_team.id
    db_session.flush()
    assert sync(client, auth, since=cursor)["removed"] == [str(moved.id)]


def test_a_returned_case_comes_with_the_offices_reasons(client, db_session, case_factory, team, auth, office_user):
    returned = case_factory(state="returned", team=team)
    reasons = ["缺少厨房照片", "邻里访问只有一份"]
    db_session.add(CaseReturn(case_id=returned.id, reasons=reasons, returned_by_id=office_user.id))
    closed = CaseReturn(case_id=returned.id, reasons=["旧的"], returned_by_id=office_user.id)
    closed.closed_at = closed.returned_at = lifecycle.utcnow()
    db_session.add(closed)
    db_session.flush()
    entry = next(c for c in sync(client, auth)["cases"] if c["id"] == str(returned.id))
    assert entry["state"] == "returned"
    assert [r["reasons"] for r in entry["returned_reasons"]] == [reasons]
    assert entry["returned_reasons"][0]["returned_at"]


def test_previous_visits_are_listed_with_their_state(client, db_session, case, auth):
    visit_id = uuid.uuid4()
    cursor = sync(client, auth)["cursor"]
    assert put(client, visit_id, visit_body(case.id), auth).status_code == 201
    answer = sync(client, auth, since=cursor)  # a visit arriving changes the case for the team
    assert ids(answer) == [str(case.id)]
    visits = answer["cases"][0]["previous_visits"]
    assert [(v["id"], v["kind"], v["state"]) for v in visits] == [(str(visit_id), "initial", "awaiting_photos")]
    assert visits[0]["started_at"].startswith("2026-11-20T01:12:00") and visits[0]["conclusion"]


def test_a_full_sync_pages_through_every_case_once(client, db_session, case_factory, team, auth):
    cases = {str(case_factory(state="investigating", team=team).id) for _ in range(5)}
    seen, flags, cursor = [], [], None
    while True:
        page = sync(client, auth, since=cursor, limit=2)
        seen += ids(page)
        flags.append(page["more"])
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert sorted(seen) == sorted(cases) and flags == [True, True, False]
    assert sync(client, auth, since=cursor)["cases"] == []


def test_changes_page_in_order_and_a_change_during_paging_is_not_lost(client, db_session, case_factory, team, auth):
    cases = [case_factory(state="investigating", team=team) for _ in range(5)]
    cursor = sync(client, auth)["cursor"]
    for c in cases:
        lifecycle.transition(db_session, c, "submitted", None)
    db_session.flush()
    page = sync(client, auth, since=cursor, limit=3)
    assert ids(page) == [str(c.id) for c in cases[:3]] and page["more"] is True
    lifecycle.transition(db_session, cases[0], "in_review", None)  # changes again meanwhile
    db_session.flush()
    rest = sync(client, auth, since=page["cursor"], limit=3)
    assert ids(rest) == [str(c.id) for c in (cases[3], cases[4], cases[0])] and rest["more"] is False
    assert rest["cases"][2]["state"] == "in_review"


@pytest.mark.parametrize("since", ["garbage!", "MQ", base64.urlsafe_b64encode(b"2.5").decode(),
                                   base64.urlsafe_b64encode(b"1.-3").decode(), "MS41LnNvbWV0aGluZw"])
def test_a_malformed_cursor_is_422(client, team, auth, since):
    r = client.get("/api/v1/sync/assignments", query_string={"since": since}, headers=auth)
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"
    assert set(r.get_json()["errors"]) == {"since"}


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"limit": "many"}, {"page": 2}])
def test_bad_paging_arguments_are_422_naming_them(client, team, auth, query):
    r = client.get("/api/v1/sync/assignments", query_string=query, headers=auth)
    assert r.status_code == 422 and set(r.get_json()["errors"]) == set(query)


def test_only_investigators_sync_and_only_with_a_token(client, person, bearer):
    person("office-s", roles=("office",))
    r = client.get("/api/v1/sync/assignments", headers=bearer("office-s"))
    assert r.status_code == 403 and r.get_json()["type"].endswith("/forbidden")
    r = client.get("/api/v1/sync/assignments")
    assert r.status_code == 401 and r.get_json()["type"].endswith("/unauthorized")


def test_an_investigator_without_a_team_gets_nothing(client, person, bearer, case_factory):
    person("inv-alone")
    case_factory(state="investigating")
    headers = bearer("inv-alone")
    answer = sync(client, headers)
    assert answer["cases"] == [] and answer["removed"] == []
    assert sync(client, headers, since=answer["cursor"])["cases"] == []


def test_an_uncommitted_change_number_holds_back_the_next_one(app):
    """The cursor never skips a change that commits late: a change number is taken under
    the counter row's lock, held until commit, so a second writer waits for the first and
    numbers become visible in order. Proved with two real connections (no rolled-back
    test transaction: it would hold the lock itself)."""
    engine = app.extensions["doorstep_db"].engine
    first_conn = engine.connect()
    first = Session(bind=first_conn)
    try:
        taken = sync_ops.next_value(first, "sync")
        result: dict = {}

        def second_writer():
            conn = engine.connect()
            second = Session(bind=conn)
            try:
                result["value"] = sync_ops.next_value(second, "sync")
                result["at"] = time.monotonic()
            finally:
                second.rollback()
                second.close()
                conn.close()

        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(0.5)
        assert "value" not in result, "a second number was handed out while the first was uncommitted"
        released = time.monotonic()
        first.rollback()
        thread.join(timeout=30)
        assert result["value"] == taken and result["at"] >= released  # it waited, then got the next free number
    finally:
        first.rollback()
        first.close()
        first_conn.close()
