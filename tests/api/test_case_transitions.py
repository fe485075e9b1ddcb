"""The lifecycle over HTTP: illegal moves are 409 naming the allowed ones; scope is 404."""
import sqlalchemy as sa

from server.cases.models import CaseTransition
from server.core.audit import AuditEvent


def test_office_accepts_an_application_and_deadlines_start(client, make_user, token_for, case_factory, policy,
                                                           db_session):
    make_user("office-c", roles=("office",))
    case = case_factory("application")
    h = token_for("office-c")
    r = client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "accepted"}, headers=h)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["to_state"] == "accepted"
    got = client.get(f"/api/v1/cases/{case.id}", headers=h).get_json()
    assert got["state"] == "accepted"
    assert got["investigation_due"] and got["case_due"] > got["investigation_due"]
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CaseTransition)
                             .where(CaseTransition.case_id == case.id)) == 1


def test_illegal_transition_is_409_with_the_allowed_ones(client, make_user, token_for, case_factory, policy):
    make_user("office-d", roles=("office",))
    case = case_factory("application")
    r = client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "approved"}, headers=token_for("office-d"))
    assert r.status_code == 409
    problem = r.get_json()
    assert problem["type"].endswith("/illegal-transition")
    assert sorted(problem["allowed"]) == ["accepted", "rejected"]


def test_wrong_role_is_403_and_missing_reason_is_422(client, make_user, token_for, case_factory, policy, db_session):
    make_user("office-e", roles=("office",))
    case = case_factory("county_review")
    h = token_for("office-e")
    r = client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "approved"}, headers=h)
    assert r.status_code == 403 and r.get_json()["type"].endswith("/transition-forbidden")
    make_user("county-e", roles=("county",), jurisdiction=case.community.parent.parent)
    hc = token_for("county-e")
    # The county decides on its decision page, which records the allowance and the letter;
    # a bare state change through the API is refused.
    r = client.post(f"/api/v1/cases/{case.id}/transitions",
                    json={"to": "rejected", "reason": "家庭人均收入高于当地低保标准"}, headers=hc)
    assert r.status_code == 409 and r.get_json()["type"].endswith("/use-procedure")
    assert r.get_json()["page"] == "/decisions"
    db_session.expire_all()
    assert db_session.get(type(case), case.id).state == "county_review"  # nothing changed
    # A refusal at the counter needs its reason.
    application = case_factory("application")
    h = token_for("office-e")
    r = client.post(f"/api/v1/cases/{application.id}/transitions", json={"to": "rejected"}, headers=h)
    assert r.status_code == 422 and "reason" in r.get_json()["errors"]
    r = client.post(f"/api/v1/cases/{application.id}/transitions",
                    json={"to": "rejected", "reason": "户籍不在本社区"}, headers=h)
    assert r.status_code == 201


def test_stale_version_is_409_and_changes_nothing(client, make_user, token_for, case_factory, policy):
    make_user("office-f", roles=("office",))
    case = case_factory("application")
    h = token_for("office-f")
    seen = client.get(f"/api/v1/cases/{case.id}", headers=h).get_json()["version"]
    assert client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "accepted", "version": seen},
                       headers=h).status_code == 201
    r = client.post(f"/api/v1/cases/{case.id}/transitions",
                    json={"to": "rejected", "reason": "重复申请", "version": seen}, headers=h)
    assert r.status_code == 409 and r.get_json()["type"].endswith("/stale-case")
    assert client.get(f"/api/v1/cases/{case.id}", headers=h).get_json()["state"] == "accepted"


def test_case_of_another_community_is_404_and_the_attempt_logged(client, make_user, token_for, case_factory,
                                                                 make_community, db_session):
    other = make_community("白云源社区", "Baiyunyuan")
    case = case_factory("application", community_=other)
    make_user("office-g", roles=("office",))
    h = token_for("office-g")
    assert client.get(f"/api/v1/cases/{case.id}", headers=h).status_code == 404
    r = client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "accepted"}, headers=h)
    assert r.status_code == 404
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                            AuditEvent.entity_id == str(case.id))).all()
    assert len(denied) == 2


def test_unknown_state_and_unknown_field_are_422(client, make_user, token_for, case_factory):
    make_user("office-h2", roles=("office",))
    case = case_factory("application")
    h = token_for("office-h2")
    r = client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "paid"}, headers=h)
    assert r.status_code == 422 and "to" in r.get_json()["errors"]
    r = client.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "accepted", "force": True}, headers=h)
    assert r.status_code == 422 and "force" in r.get_json()["errors"]
    assert client.get("/api/v1/cases/not-a-uuid", headers=h).status_code == 404
