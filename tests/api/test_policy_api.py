"""POST /api/v1/policy/evaluate answers as DESIGN.md says (issue: Foundation, item 6)."""
import copy
import datetime as dt

import pytest
import sqlalchemy as sa

from server.core.audit import AuditEvent
from server.policy.models import PolicyVersion
from server.policy.settings import DEFAULT_SETTINGS


@pytest.fixture()
def office_headers(make_user, token_for, policy):
    make_user("office-pol", roles=("office",))
    return token_for("office-pol")


def household(community, **over):
    body = {
        "community": community.code, "on": "2026-11-20",
        "members": [
            {"name": "李秀英", "id_number": "330122196103020344", "relation": "self", "sex": "F",
             "birth_date": "1961-03-02", "health": "chronic", "disability_grade": None,
             "labour_ability": "partial", "work_status": "unemployed", "class": "B"},
            {"name": "王小明", "relation": "grandchild", "sex": "M", "birth_date": "2012-05-01", "student": True},
        ],
        "income": [{"member": 0, "kind": "pension", "monthly_amount": "620.00"},
                   {"member": 0, "kind": "special_care", "monthly_amount": "300.00"}],
        "assets": [{"category": "vehicle", "description": "电动三轮车", "value": "8000", "count": 1, "photos": []}],
    }
    body.update(over)
    return body


def test_evaluate_explains_the_whole_computation(client, office_headers, community):
    r = client.post("/api/v1/policy/evaluate", json=household(community), headers=office_headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    out = r.get_json()
    # S = 1100 (two people: no single-person increment); special-care pension is not counted (M21 Art 13).
    assert out["standard"] == "1100.00"
    assert out["counted_income"] == "620.00"
    assert out["per_capita_income"] == "310.00"
    assert out["eligible"] is True and out["near_dibao"] is False
    # base = 1100×2 − 620 = 1580; class B +20 % of S = 220; elderly 50 (65 in 2026); student 50.
    assert out["base_allowance"] == "1580.00"
    assert out["allowance"] == "1900.00"
    assert sum(map(float, out["funding"].values())) == pytest.approx(1900.00)
    assert out["funding"] == {"municipal": "1140.00", "district": "760.00"}
    assert out["policy_version"]["effective_from"] == "2026-01-01"
    codes = [r["code"] for r in out["reasons"]]
    assert "income_excluded" in codes and "pci_below_standard" in codes
    assert all(r["text"] for r in out["reasons"])
    excluded = next(r for r in out["reasons"] if r["code"] == "income_excluded")
    assert "300" in excluded["text"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in out["reasons"][0]["text"])  # Chinese by default


def test_reasons_come_in_english_when_asked(client, office_headers, community):
    r = client.post("/api/v1/policy/evaluate", json=household(community),
                    headers={**office_headers, "Accept-Language": "en"})
    texts = [x["text"] for x in r.get_json()["reasons"]]
    assert texts and all(not any("\u4e00" <= ch <= "\u9fff" for ch in t.replace("李秀英", "").replace("王小明", ""))
                         for t in texts)


def test_the_policy_in_force_on_the_date_is_used(client, office_headers, community, county, db_session):
    raised = copy.deepcopy(DEFAULT_SETTINGS)
    raised["monthly_standard"] = "1200.00"
    db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2026, 7, 1), settings=raised))
    db_session.flush()
    before = client.post("/api/v1/policy/evaluate", json=household(community, on="2026-06-30"), headers=office_headers)
    after = client.post("/api/v1/policy/evaluate", json=household(community, on="2026-07-01"), headers=office_headers)
    assert before.get_json()["standard"] == "1100.00"
    assert after.get_json()["standard"] == "1200.00"
    assert after.get_json()["policy_version"]["effective_from"] == "2026-07-01"


def test_no_policy_before_the_first_version_is_a_404_problem(client, office_headers, community):
    r = client.post("/api/v1/policy/evaluate", json=household(community, on="2020-01-01"), headers=office_headers)
    assert r.status_code == 404 and r.get_json()["type"].endswith("/no-policy")


def test_a_community_outside_the_callers_scope_is_404_and_logged(client, make_user, make_community, token_for,
                                                                 policy, db_session):
    other = make_community("白云源社区", "Baiyunyuan")
    home = make_community("梅蓉村", "Meirong")
    make_user("office-far", roles=("office",), jurisdiction=home)
    r = client.post("/api/v1/policy/evaluate", json=household(other), headers=token_for("office-far"))
    assert r.status_code == 404
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [e.entity_id for e in denied] == [str(other.id)]


def test_no_token_is_401(client, community):
    r = client.post("/api/v1/policy/evaluate", json=household(community))
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"


BAD = [
    ("unknown field", lambda b: b.update(bonus=1), "bonus"),
    ("wrong type", lambda b: b["members"][0].update(student="sometimes"), "members.0.student"),
    ("bad date", lambda b: b.update(on="2026-02-30"), "on"),
    ("negative money", lambda b: b["income"][0].update(monthly_amount="-5.00"), "income.0.monthly_amount"),
    ("float money", lambda b: b["income"][0].update(monthly_amount=620.1), "income.0.monthly_amount"),
    ("three decimals", lambda b: b["income"][0].update(monthly_amount="1.005"), "income.0.monthly_amount"),
    ("wrong ID check digit", lambda b: b["members"][0].update(id_number="330122196103020345"), "members.0.id_number"),
    ("unknown income kind", lambda b: b["income"][0].update(kind="lottery"), "income.0.kind"),
    ("income of no member", lambda b: b["income"][0].update(member=7), "income.0.member"),
    ("no members", lambda b: b.update(members=[]), "members"),
    ("disability grade out of range", lambda b: b["members"][0].update(disability_grade=9), "members.0.disability_grade"),
]


@pytest.mark.parametrize("name,mutate,field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_422_naming_the_field_and_changes_nothing(client, office_headers, community, db_session,
                                                                name, mutate, field):
    body = household(community)
    mutate(body)
    events = db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    r = client.post("/api/v1/policy/evaluate", json=body, headers=office_headers)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.get_json()
    assert problem["type"].endswith("/validation-error")
    assert field in problem["errors"], problem
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events
