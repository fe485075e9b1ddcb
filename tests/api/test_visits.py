"""PUT /api/v1/visits/<uuid> (issue 4 items 3 and "Bad input"; DESIGN "The wire format"):
a visit arrives exactly once, its photos complete it, and bad input is refused by name
with nothing already stored changed."""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import uuid

import pytest
import sqlalchemy as sa

from server.accounts.models import DeviceToken, Team, TeamMember
from server.cases.models import Case, CaseTransition
from server.core.audit import AuditEvent
from server.core.validators import make_id_number
from server.photos.models import Photo
from server.review.models import CaseReturn, Flag
from server.sync.models import SyncChange
from server.visits import operations
from server.visits import models as vm
from server.visits.models import Visit, VisitConflict


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def visit_body(case_id, *, investigators=("inv-1", "inv-2"), tag="a", **changes) -> dict:
    """A realistic visit of a two-person household, as a tablet sends it."""
    point = {"lat": 29.7971, "lon": 119.6912, "accuracy_m": 8.0}
    body = {
        "case_id": str(case_id), "kind": "initial",
        "started_at": "2026-11-20T09:12:00+08:00", "ended_at": "2026-11-20T09:58:00+08:00",
        "investigators": list(investigators), "location": point, "device_id": "tl-yc-pad-01",
        "members": [
            {"name": "王秀英", "id_number": make_id_number("330122", dt.date(1961, 3, 2), 17, "F"), "relation": "self",
             "sex": "F", "birth_date": "1961-03-02", "health": "chronic", "disability_grade": None,
             "labour_ability": "partial", "work_status": "unemployed", "class": "B"},
            {"name": "李建国", "id_number": make_id_number("330122", dt.date(1958, 7, 9), 18, "M"),
             "relation": "spouse", "sex": "M", "birth_date": "1958-07-09", "health": "serious_illness",
             "disability_grade": 2, "labour_ability": "none", "work_status": "retired"},
        ],
        "income": [{"member": 0, "kind": "pension", "monthly_amount": "620.00"},
                   {"member": 1, "kind": "special_care", "monthly_amount": "300"},
                   {"kind": "other", "monthly_amount": "50.5"}],
        "expenditure": [{"kind": "medical", "monthly_amount": "300.00"}],
        "housing": {"tenure": "owned", "area_m2": "48", "condition": "poor"},
        "assets": [{"category": "vehicle", "description": "电动三轮车", "value": "8000", "count": 1,
                    "photos": [sha(f"{tag}-asset")]}],
        "testimonies": [
            {"witness_name": "赵大妈", "role": "neighbour", "contact": "13800000000",
             "answers": {"lives_here": "两口子住", "matches_declaration": "yes"}, "statement": "老两口身体不好",
             "location": point, "at": "2026-11-20T09:40:00+08:00", "signature": sha(f"{tag}-sig-w1")},
            {"witness_name": "钱书记", "role": "cadre", "answers": {"matches_declaration": "no"},
             "statement": "", "at": "2026-11-20T09:50:00+08:00", "signature": sha(f"{tag}-sig-w2")},
        ],
        "photos": [{"sha256": sha(f"{tag}-{kind}"), "kind": kind, "taken_at": "2026-11-20T09:20:00+08:00",
                    "location": point} for kind in ("exterior", "interior", "kitchen")],
        "signatures": [{"role": "investigator", "name": "inv-1", "image": sha(f"{tag}-sig-i1")},
                       {"role": "family_member", "name": "王秀英", "image": sha(f"{tag}-sig-f")}],
        "conclusion": "家庭困难，建议纳入", "notes": "",
    }
    body.update(changes)
    return body


def hashes_of(body: dict) -> list[str]:
    from server.visits.queries import named_hashes

    return named_hashes(body)


@pytest.fixture()
def person(make_user):
    """A user of the test community, an investigator unless told otherwise."""

    def make(username, roles=("investigator",), jurisdiction=None):
        return make_user(username, roles=roles, jurisdiction=jurisdiction)

    return make


@pytest.fixture()
def bearer(db_session):
    """A real device token for a user, issued as sign-in issues it (the sign-in itself is
    tested in test_auth.py)."""
    from server.accounts.models import User
    from server.accounts.operations import issue_token

    def make(username, device_name="test tablet"):
        user = db_session.scalar(sa.select(User).where(User.username == username))
        raw, _token = issue_token(db_session, user, device_name, 30)
        db_session.flush()
        return {"Authorization": "Bearer " + raw}

    return make


@pytest.fixture()
def team(db_session, community, person):
    users = [person(name) for name in ("inv-1", "inv-2")]
    team = Team(community_id=community.id, name="迎春社区调查一组")
    team.members = [TeamMember(user_id=u.id) for u in users]
    db_session.add(team)
    db_session.flush()
    return team


@pytest.fixture()
def other_team(db_session, community, person):
    user = person("inv-9")
    team = Team(community_id=community.id, name="白云源社区调查组")
    team.members = [TeamMember(user_id=user.id)]
    db_session.add(team)
    db_session.flush()
    return team


@pytest.fixture()
def case(case_factory, team):
    return case_factory(state="investigating", team=team)


@pytest.fixture()
def auth(team, bearer):
    return bearer("inv-1")


def put(client, visit_id, body, headers):
    return client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers)


def store_photos(db_session, hashes):
    for h in hashes:
        if db_session.get(Photo, h) is None:
            db_session.add(Photo(sha256=h, content_type="image/jpeg", size_bytes=1234))
    db_session.flush()


TABLES = (Visit, vm.VisitInvestigator, vm.VisitMember, vm.IncomeItem, vm.Expenditure, vm.Asset, vm.Testimony,
          vm.VisitPhoto, vm.Signature, VisitConflict, CaseTransition, SyncChange)


def snapshot(db_session) -> dict:
    """Everything a refused request must leave as it was."""
    db_session.expire_all()
    counts = {m.__tablename__: db_session.scalar(sa.select(sa.func.count()).select_from(m)) for m in TABLES}
    counts["bodies"] = sorted(db_session.execute(sa.select(Visit.id, Visit.body_hash, Visit.state)).all())
    counts["cases"] = sorted(db_session.execute(sa.select(Case.id, Case.state, Case.version)).all())
    counts["writes"] = db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                         .where(AuditEvent.action != "access.denied"))
    return counts


def assert_problem(r, status, code):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["type"].endswith("/" + code), body
    return body


# --- 201 / 200 / 409 ----------------------------------------------------------------


def test_new_visit_is_201_and_stores_every_part(client, db_session, case, auth, policy):
    visit_id = uuid.uuid4()
    body = visit_body(case.id)
    r = put(client, visit_id, body, auth)
    assert r.status_code == 201, r.get_data(as_text=True)
    answer = r.get_json()
    assert set(answer) == {"id", "state", "missing_photos", "flags"}
    assert answer["id"] == str(visit_id)
    assert answer["state"] == "awaiting_photos"
    assert answer["missing_photos"] == hashes_of(body)
    assert all(set(f) == {"code", "severity", "reason"} for f in answer["flags"])

    db_session.expire_all()
    visit = db_session.get(Visit, visit_id)
    assert visit.case_id == case.id and visit.kind == "initial" and visit.device_id == "tl-yc-pad-01"
    assert visit.submitted_by_id == db_session.scalar(sa.select(TeamMember.user_id).limit(1).where(
        TeamMember.team_id == case.team_id).order_by(TeamMember.user_id))
    assert visit.started_at == dt.datetime(2026, 11, 20, 1, 12, tzinfo=dt.timezone.utc)
    assert visit.housing_tenure == "owned" and visit.housing_area_m2 == 48
    assert visit.conclusion == "家庭困难，建议纳入"
    assert len(visit.investigators) == 2
    assert [m.name for m in visit.members] == ["王秀英", "李建国"] and visit.members[0].klass == "B"
    income = {i.kind: i for i in visit.income}
    # M21 Art 13: special-care pensions are not counted; the policy in force says which are.
    assert income["pension"].counted and income["other"].counted and not income["special_care"].counted
    assert income["special_care"].monthly_amount == 300 and income["pension"].member_position == 0
    assert income["other"].member_position is None
    assert [e.kind for e in visit.expenditure] == ["medical"]
    assert visit.assets[0].photo_hashes == [sha("a-asset")] and visit.assets[0].value == 8000
    matches = sorted((t.witness_name, t.matches_declaration) for t in visit.testimonies)
    assert matches == [("赵大妈", "yes"), ("钱书记", "no")]
    assert sorted(p.kind for p in visit.photos) == ["exterior", "interior", "kitchen"]
    assert sorted(s.role for s in visit.signatures) == ["family_member", "investigator"]
    # The canonical body: parsed, dumped back, hashed with sorted keys.
    assert visit.body["income"][1]["monthly_amount"] == "300.00"
    from server.visits.schemas import body_hash

    assert visit.body_hash == body_hash(visit.body)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "visit.received")) == 1


def test_identical_resend_is_200_with_the_stored_answer_and_nothing_written(client, db_session, case, auth):
    visit_id = uuid.uuid4()
    body = visit_body(case.id)
    first = put(client, visit_id, body, auth)
    assert first.status_code == 201
    before = snapshot(db_session)
    again = put(client, visit_id, body, auth)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    # The same visit written differently (key order, "620" for "620.00") is the same visit.
    reworded = copy.deepcopy(body)
    reworded["income"][0]["monthly_amount"] = "620"
    reworded = dict(reversed(list(reworded.items())))
    assert put(client, visit_id, reworded, auth).status_code == 200
    assert snapshot(db_session) == before


def test_different_body_for_a_stored_visit_is_409_and_both_versions_are_kept(client, db_session, case, auth):
    visit_id = uuid.uuid4()
    body = visit_body(case.id)
    assert put(client, visit_id, body, auth).status_code == 201
    stored_hash = db_session.scalar(sa.select(Visit.body_hash).where(Visit.id == visit_id))
    changed = visit_body(case.id, conclusion="收入高于标准，建议不予纳入")
    problem = assert_problem(put(client, visit_id, changed, auth), 409, "visit-conflict")
    assert problem["visit_id"] == str(visit_id) and problem["stored_body_hash"] == stored_hash

    db_session.expire_all()
    visit = db_session.get(Visit, visit_id)
    assert visit.body_hash == stored_hash and visit.conclusion == "家庭困难，建议纳入"  # not overwritten
    conflicts = db_session.scalars(sa.select(VisitConflict)).all()
    assert len(conflicts) == 1
    assert conflicts[0].visit_id == visit_id and conflicts[0].body["conclusion"] == "收入高于标准，建议不予纳入"
    assert conflicts[0].body_hash == problem["received_body_hash"] != stored_hash
    assert conflicts[0].submitted_by_id == visit.submitted_by_id

    # The same conflicting body again: still 409, no second copy.
    assert_problem(put(client, visit_id, changed, auth), 409, "visit-conflict")
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(VisitConflict)) == 1
    assert db_session.get(Visit, visit_id).body_hash == stored_hash


def test_the_identical_body_is_still_200_after_a_conflict(client, db_session, case, auth):
    visit_id = uuid.uuid4()
    body = visit_body(case.id)
    put(client, visit_id, body, auth)
    put(client, visit_id, visit_body(case.id, notes="后补"), auth)
    assert put(client, visit_id, body, auth).status_code == 200


# --- photos: awaiting, complete, arriving later ----------------------------------------


def test_missing_photos_leave_the_visit_awaiting_photos_and_the_case_investigating(client, db_session, case, auth):
    body = visit_body(case.id)
    store_photos(db_session, [sha("a-exterior"), sha("a-interior")])
    r = put(client, uuid.uuid4(), body, auth)
    assert r.status_code == 201
    answer = r.get_json()
    assert answer["state"] == "awaiting_photos"
    assert answer["missing_photos"] == sorted(set(hashes_of(body)) - {sha("a-exterior"), sha("a-interior")})
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "investigating"


def test_complete_visit_enters_review_and_the_system_submits_the_case(client, db_session, case, auth):
    body = visit_body(case.id)
    store_photos(db_session, hashes_of(body))
    visit_id = uuid.uuid4()
    r = put(client, visit_id, body, auth)
    assert r.status_code == 201
    assert r.get_json()["state"] == "in_review" and r.get_json()["missing_photos"] == []
    db_session.expire_all()
    visit = db_session.get(Visit, visit_id)
    assert visit.state == "in_review" and visit.complete_at is not None
    assert db_session.get(Case, case.id).state == "submitted"
    moves = db_session.scalars(sa.select(CaseTransition).where(CaseTransition.case_id == case.id)).all()
    assert [(m.from_state, m.to_state, m.actor_id) for m in moves] == [("investigating", "submitted", None)]
    # The team's tablets learn of it through the change feed.
    assert db_session.scalar(sa.select(sa.func.count()).select_from(SyncChange)
                             .where(SyncChange.case_id == case.id, SyncChange.change == "upsert")) >= 1


def test_the_last_photo_arriving_completes_the_visit(client, db_session, case, auth):
    body = visit_body(case.id)
    visit_id = uuid.uuid4()
    assert put(client, visit_id, body, auth).get_json()["state"] == "awaiting_photos"
    *first, last = hashes_of(body)
    store_photos(db_session, first)
    assert operations.photo_arrived(db_session, first[-1]) == []  # one still missing
    assert db_session.get(Visit, visit_id).state == "awaiting_photos"
    store_photos(db_session, [last])
    done = operations.photo_arrived(db_session, last)
    assert [v.id for v in done] == [visit_id]
    db_session.expire_all()
    assert db_session.get(Visit, visit_id).state == "in_review"
    assert db_session.get(Case, case.id).state == "submitted"
    status = client.get(f"/api/v1/visits/{visit_id}", headers=auth)
    assert status.status_code == 200
    assert status.get_json()["state"] == "in_review" and status.get_json()["missing_photos"] == []


def test_an_asset_photo_or_signature_alone_can_complete_a_visit(client, db_session, case, auth):
    body = visit_body(case.id)
    visit_id = uuid.uuid4()
    put(client, visit_id, body, auth)
    store_photos(db_session, [h for h in hashes_of(body) if h != sha("a-asset")])
    store_photos(db_session, [sha("a-asset")])
    assert [v.id for v in operations.photo_arrived(db_session, sha("a-asset"))] == [visit_id]


def test_get_visit_status_tells_the_device_what_is_missing(client, db_session, case, auth, bearer):
    body = visit_body(case.id)
    visit_id = uuid.uuid4()
    put(client, visit_id, body, auth)
    r = client.get(f"/api/v1/visits/{visit_id}", headers=bearer("inv-2"))  # the team mate's tablet
    assert r.status_code == 200
    assert r.get_json()["missing_photos"] == hashes_of(body) and r.get_json()["state"] == "awaiting_photos"
    assert client.get(f"/api/v1/visits/{uuid.uuid4()}", headers=auth).status_code == 404


# --- the case: re-visits, states -------------------------------------------------------


def test_a_revisit_of_a_returned_case_reopens_it_and_closes_the_return(client, db_session, case_factory, team, auth,
                                                                       office_user):
    case = case_factory(state="returned", team=team)
    ret = CaseReturn(case_id=case.id, reasons=["缺少厨房照片"], returned_by_id=office_user.id)
    db_session.add(ret)
    db_session.flush()
    body = visit_body(case.id, kind="revisit", tag="r")
    r = put(client, uuid.uuid4(), body, auth)
    assert r.status_code == 201
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "investigating"  # photos still on their way
    assert db_session.get(CaseReturn, ret.id).closed_at is None
    store_photos(db_session, hashes_of(body))
    operations.photo_arrived(db_session, hashes_of(body)[0])
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "submitted"
    assert db_session.get(CaseReturn, ret.id).closed_at is not None
    moves = db_session.execute(sa.select(CaseTransition.from_state, CaseTransition.to_state, CaseTransition.actor_id)
                               .where(CaseTransition.case_id == case.id).order_by(CaseTransition.id)).all()
    assert moves == [("returned", "investigating", None), ("investigating", "submitted", None)]


def test_a_recheck_visit_leaves_the_case_in_recheck(client, db_session, case_factory, team, auth):
    case = case_factory(state="recheck", team=team)
    body = visit_body(case.id, kind="recheck")
    store_photos(db_session, hashes_of(body))
    r = put(client, uuid.uuid4(), body, auth)
    assert r.status_code == 201 and r.get_json()["state"] == "in_review"
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "recheck"  # the county decides a re-check


@pytest.mark.parametrize("state", ["accepted", "submitted", "panel", "approved"])
def test_a_case_not_waiting_for_a_visit_is_409_naming_its_state(client, db_session, case_factory, team, auth, state):
    case = case_factory(state=state, team=team)
    before = snapshot(db_session)
    problem = assert_problem(put(client, uuid.uuid4(), visit_body(case.id), auth), 409, "case-not-visitable")
    assert problem["state"] == state and state in problem["detail"]
    assert snapshot(db_session) == before


# --- who may send ----------------------------------------------------------------------


def test_a_visit_for_someone_elses_case_is_404_and_logged(client, db_session, case_factory, other_team, auth):
    theirs = case_factory(state="investigating", team=other_team)
    before = snapshot(db_session)
    assert_problem(put(client, uuid.uuid4(), visit_body(theirs.id), auth), 404, "not-found")
    assert snapshot(db_session) == before
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [e.entity_id for e in denied] == [str(theirs.id)]


def test_a_visit_for_no_such_case_is_404(client, db_session, case, auth):
    before = snapshot(db_session)
    assert_problem(put(client, uuid.uuid4(), visit_body(uuid.uuid4()), auth), 404, "not-found")
    assert snapshot(db_session) == before


def test_someone_else_cannot_read_or_overwrite_a_stored_visit(client, db_session, case, auth, other_team, bearer):
    visit_id = uuid.uuid4()
    put(client, visit_id, visit_body(case.id), auth)
    outsider = bearer("inv-9")
    before = snapshot(db_session)
    assert_problem(client.get(f"/api/v1/visits/{visit_id}", headers=outsider), 404, "not-found")
    assert_problem(put(client, visit_id, visit_body(case.id, notes="x"), outsider), 404, "not-found")
    assert snapshot(db_session) == before


def test_only_investigators_send_visits(client, db_session, case, person, bearer):
    person("office-z", roles=("office",))
    assert_problem(put(client, uuid.uuid4(), visit_body(case.id), bearer("office-z")), 403, "forbidden")


def test_no_token_is_401_unauthorized(client, case):
    assert_problem(put(client, uuid.uuid4(), visit_body(case.id), {}), 401, "unauthorized")
    assert_problem(put(client, uuid.uuid4(), visit_body(case.id), {"Authorization": "Bearer nonsense"}),
                   401, "unauthorized")


def test_a_revoked_token_is_401_token_revoked(client, db_session, case, auth, person, county):
    from server.accounts.operations import revoke_token

    admin = person("admin-r", roles=("admin",), jurisdiction=county)
    raw = auth["Authorization"].split()[1]
    token = db_session.scalar(sa.select(DeviceToken).where(DeviceToken.token_hash == hashlib.sha256(raw.encode())
                                                           .hexdigest()))
    revoke_token(db_session, token, admin)  # the office signs a lost tablet out
    db_session.flush()
    before = snapshot(db_session)
    problem = assert_problem(put(client, uuid.uuid4(), visit_body(case.id), auth), 401, "token-revoked")
    assert "sign in" in problem["detail"]
    assert_problem(client.get("/api/v1/sync/assignments", headers=auth), 401, "token-revoked")
    assert snapshot(db_session) == before


def test_an_expired_token_is_401_token_expired(client, db_session, case, auth):
    raw = auth["Authorization"].split()[1]
    token = db_session.scalar(sa.select(DeviceToken).where(DeviceToken.token_hash == hashlib.sha256(raw.encode())
                                                           .hexdigest()))
    token.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    db_session.flush()
    assert_problem(put(client, uuid.uuid4(), visit_body(case.id), auth), 401, "token-expired")


# --- investigators -----------------------------------------------------------------------


def test_an_unknown_investigator_is_422_naming_it(client, db_session, case, auth):
    before = snapshot(db_session)
    problem = assert_problem(put(client, uuid.uuid4(), visit_body(case.id, investigators=["inv-1", "nobody"]), auth),
                             422, "validation-error")
    assert set(problem["errors"]) == {"investigators.1"}
    assert snapshot(db_session) == before


def test_fewer_than_two_investigators_is_accepted(client, db_session, case, auth):
    """M21 Art 15 wants two; the office judges (a flag), the data is never refused."""
    visit_id = uuid.uuid4()
    r = put(client, visit_id, visit_body(case.id, investigators=["inv-1"]), auth)
    assert r.status_code == 201
    db_session.expire_all()
    assert len(db_session.get(Visit, visit_id).investigators) == 1


def test_an_investigator_listed_twice_is_422(client, case, auth):
    problem = assert_problem(put(client, uuid.uuid4(), visit_body(case.id, investigators=["inv-1", "inv-1"]), auth),
                             422, "validation-error")
    assert set(problem["errors"]) == {"investigators.1"}


# --- bad input: each refused by name, nothing stored changes ---------------------------


def _refused(client, db_session, case, auth, body, *fields, raw=None):
    visit_id = uuid.uuid4()
    stored = uuid.uuid4()
    assert put(client, stored, visit_body(case.id, tag="s"), auth).status_code == 201
    before = snapshot(db_session)
    if raw is not None:
        r = client.put(f"/api/v1/visits/{visit_id}", data=raw, content_type="application/json", headers=auth)
    else:
        r = put(client, visit_id, body, auth)
    assert 400 <= r.status_code < 500 and r.headers["Content-Type"] == "application/problem+json"
    problem = r.get_json()
    for field in fields:
        assert field in problem["errors"], problem
    # The same refused body under the stored visit's id is refused too, and it stays as it was.
    if raw is None:
        assert put(client, stored, body, auth).status_code == r.status_code
    assert snapshot(db_session) == before
    return problem


def test_malformed_json_is_refused(client, db_session, case, auth):
    problem = _refused(client, db_session, case, auth, None, raw='{"case_id": "x", ')
    assert problem["status"] in (400, 422)


def test_a_body_that_is_not_an_object_is_422(client, db_session, case, auth):
    _refused(client, db_session, case, auth, ["not", "a", "visit"])


def test_unknown_fields_are_422_naming_them(client, db_session, case, auth):
    body = visit_body(case.id, score=5)
    body["members"][1]["salary"] = "100"
    body["testimonies"][0]["answers"]["favourite_colour"] = "red"
    _refused(client, db_session, case, auth, body, "score", "members.1.salary", "testimonies.0.answers.favourite_colour")


def test_a_time_without_offset_is_422(client, db_session, case, auth):
    body = visit_body(case.id, started_at="2026-11-20T09:12:00")
    body["photos"][0]["taken_at"] = "2026-11-20 09:20"
    _refused(client, db_session, case, auth, body, "started_at", "photos.0.taken_at")


def test_ending_before_starting_is_422(client, db_session, case, auth):
    _refused(client, db_session, case, auth, visit_body(case.id, ended_at="2026-11-20T09:00:00+08:00"), "ended_at")


def test_out_of_range_coordinates_are_422(client, db_session, case, auth):
    body = visit_body(case.id, location={"lat": 91, "lon": 120.1, "accuracy_m": 5})
    body["photos"][1]["location"] = {"lat": 30.1, "lon": -181, "accuracy_m": 5}
    _refused(client, db_session, case, auth, body, "location.lat", "photos.1.location.lon")


def test_negative_money_is_422(client, db_session, case, auth):
    body = visit_body(case.id)
    body["income"][0]["monthly_amount"] = "-620.00"
    body["assets"][0]["value"] = -1
    _refused(client, db_session, case, auth, body, "income.0.monthly_amount", "assets.0.value")


def test_money_as_a_float_is_422(client, db_session, case, auth):
    body = visit_body(case.id)
    body["expenditure"][0]["monthly_amount"] = 300.5
    _refused(client, db_session, case, auth, body, "expenditure.0.monthly_amount")


def test_a_bad_id_check_digit_is_422_naming_the_member(client, db_session, case, auth):
    body = visit_body(case.id)
    good = body["members"][1]["id_number"]
    body["members"][1]["id_number"] = good[:17] + ("0" if good[17] != "0" else "1")
    _refused(client, db_session, case, auth, body, "members.1.id_number")


def test_income_of_a_member_not_listed_is_422(client, db_session, case, auth):
    body = visit_body(case.id)
    body["income"][0]["member"] = 2
    _refused(client, db_session, case, auth, body, "income.0.member")


@pytest.mark.parametrize("kind", ["re-visit", "re-check", "first", ""])
def test_visit_kind_is_one_of_the_wire_kinds(client, db_session, case, auth, kind):
    _refused(client, db_session, case, auth, visit_body(case.id, kind=kind), "kind")


def test_image_names_are_64_lowercase_hex_digits(client, db_session, case, auth):
    body = visit_body(case.id)
    body["photos"][0]["sha256"] = body["photos"][0]["sha256"].upper()
    body["signatures"][0]["image"] = "abc"
    body["assets"][0]["photos"] = ["z" * 64]
    body["testimonies"][1]["signature"] = "0" * 63
    _refused(client, db_session, case, auth, body, "photos.0.sha256", "signatures.0.image", "assets.0.photos.0",
             "testimonies.1.signature")


def test_missing_required_fields_are_422_naming_them(client, db_session, case, auth):
    body = visit_body(case.id)
    for key in ("case_id", "started_at", "investigators"):
        del body[key]
    del body["members"][0]["name"]
    _refused(client, db_session, case, auth, body, "case_id", "started_at", "investigators", "members.0.name")


def test_a_witness_answer_outside_yes_no_unsure_is_422(client, db_session, case, auth):
    body = visit_body(case.id)
    body["testimonies"][0]["answers"]["matches_declaration"] = "maybe"
    _refused(client, db_session, case, auth, body, "testimonies.0.answers.matches_declaration")


def test_flags_of_an_arriving_visit_are_the_flags_recomputed_from_its_stored_rows(client, db_session, case, auth,
                                                                                 community, policy):
    """An arriving visit is flagged from its parsed body, without reading it back; the
    office's recompute reads the stored rows. Both must say the same, flag for flag."""
    from server.accounts.models import StaffRelation
    from server.review.flags import refresh_flags

    body = visit_body(case.id, investigators=["inv-1"],
                      location={"lat": 29.8071, "lon": 119.6912, "accuracy_m": 75.5},
                      ended_at="2026-11-20T09:19:00+08:00",
                      income=[{"member": 0, "kind": "wage", "monthly_amount": "2600"},
                              {"member": 1, "kind": "scholarship", "monthly_amount": "100.5"}],
                      assets=[{"category": "vehicle", "description": "轿车", "value": "52000", "count": 1},
                              {"category": "luxury", "description": "钢琴", "value": "9000", "count": 1,
                               "disqualifying": True}])
    body["photos"][0]["taken_at"] = "2026-11-20T07:00:00+08:00"
    db_session.add(StaffRelation(jurisdiction_id=community.id, staff_name="刘主任", staff_role="caseworker",
                                 relative_name="李建国", relative_id_number=body["members"][1]["id_number"],
                                 relation="sibling"))
    store_photos(db_session, [sha("a-exterior")])
    visit_id = uuid.uuid4()
    r = put(client, visit_id, body, auth)
    assert r.status_code == 201, r.get_data(as_text=True)
    answered = r.get_json()["flags"]
    assert {"gps_far_from_home", "gps_inaccurate", "visit_too_short", "too_few_investigators",
            "photo_outside_visit", "photos_pending", "testimony_contradicts", "disqualifying_asset",
            "pci_above_standard", "related_to_staff"} <= {f["code"] for f in answered}

    stored = db_session.scalars(sa.select(Flag).where(Flag.visit_id == visit_id).order_by(Flag.id)).all()
    before = [(f.code, f.severity, f.reason, f.params, f.photo_sha256) for f in stored]
    assert [(code, severity, reason) for code, severity, reason, _, _ in before] == \
        [(f["code"], f["severity"], f["reason"]) for f in answered]
    db_session.expire_all()  # the request changed the case (related_to_staff) under this session
    again = refresh_flags(db_session, db_session.get(Visit, visit_id))
    assert [(f.code, f.severity, f.reason, f.params, f.photo_sha256) for f in again] == before
