"""The impact preview computes what the policy engine computes: household by household, the
same eligibility, near-dibao and allowance, under any policy; and it sorts households into
gain / lose / ineligible / newly eligible / near-dibao per community."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from server.policy import engine, impact
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults
from tests.admin_fixtures import *  # noqa: F401,F403 - fixtures

ON = dt.date(2026, 12, 1)
KINDS = ("wage", "pension", "maintenance", "special_care", "scholarship", "other")

policies = st.builds(
    lambda standard, a, b, elderly, mode, quantum, deduct, car, homes, fin, near: PolicySettings.from_dict(
        merge_defaults({
            "monthly_standard": str(standard), "class_topup_percent": {"A": str(a), "B": str(b)},
            "hardship_amounts": {**DEFAULT_SETTINGS["hardship_amounts"], "elderly": str(elderly)},
            "rounding": {"quantum": quantum, "mode": mode}, "deduct_rigid_expenditure": deduct,
            "disqualifiers": {**DEFAULT_SETTINGS["disqualifiers"], "vehicle_value_limit": car, "max_homes": homes,
                              "financial_assets_months": fin},
            "near_dibao_factor": near})),
    st.decimals(min_value=500, max_value=2000, places=2),
    st.decimals(min_value=0, max_value=100, places=1), st.decimals(min_value=0, max_value=100, places=0),
    st.decimals(min_value=0, max_value=200, places=2),
    st.sampled_from(["half_up", "half_even", "down", "up"]), st.sampled_from(["0.01", "0.1", "1", "10"]),
    st.booleans(), st.sampled_from([None, "30000.00", "5000.00"]), st.sampled_from([None, 0, 1]),
    st.sampled_from([None, 6, 24]), st.sampled_from(["1", "1.5", "2"]),
)

members = st.lists(st.fixed_dictionaries({
    "counted": st.booleans(), "klass": st.sampled_from([None, None, "A", "B"]),
    "birth": st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2020, 12, 31)),
    "grade": st.sampled_from([None, None, 1, 2, 3, 4]), "health": st.sampled_from([None, "healthy", "chronic",
                                                                                   "serious_illness"]),
    "student": st.booleans()}), min_size=1, max_size=5)
money = st.decimals(min_value=0, max_value=4000, places=2)


@st.composite
def households(draw):
    ms = draw(members)
    income = draw(st.lists(st.tuples(st.sampled_from([None] + list(range(len(ms)))), st.sampled_from(KINDS), money),
                           max_size=4))
    spend = draw(st.lists(st.tuples(st.sampled_from(["medical", "disability", "rent"]), money), max_size=3))
    assets = draw(st.lists(st.fixed_dictionaries({
        "category": st.sampled_from(["vehicle", "home", "business", "financial", "luxury", "other"]),
        "value": st.one_of(st.none(), st.decimals(min_value=0, max_value=90000, places=2)),
        "count": st.integers(1, 3), "flagged": st.integers(0, 19).map(lambda x: x == 0),
        "mobility": st.booleans()}), max_size=3))
    return ms, income, spend, assets


def _engine_input(ms, income, spend, assets) -> engine.HouseholdIn:
    return engine.HouseholdIn(
        members=tuple(engine.MemberIn(name=None, birth_date=m["birth"], relation=None, counted=m["counted"],
                                      klass=m["klass"], health=m["health"], disability_grade=m["grade"],
                                      student=m["student"]) for m in ms),
        income=tuple(engine.IncomeIn(member=p, kind=k, monthly_amount=a) for p, k, a in income),
        assets=tuple(engine.AssetIn(category=a["category"], value=a["value"], count=a["count"],
                                    disqualifying=a["flagged"], disability_mobility=a["mobility"]) for a in assets),
        expenditure=tuple(engine.ExpenditureIn(kind=k, monthly_amount=a) for k, a in spend))


def _row(ms, income, spend, assets) -> tuple:
    """The row household_rows would give for this household (SQLite's spelling)."""
    def b(x):
        return "1" if x else "0"

    counted = [m for m in ms if m["counted"]]
    members = "|".join([
        str(len(counted)), str(sum(m["klass"] == "A" for m in counted)), str(sum(m["klass"] == "B" for m in counted)),
        str(sum(m["health"] == "serious_illness" for m in counted)), str(sum(m["student"] for m in counted)), "0",
        ",".join(m["birth"].strftime("%Y%m%d") for m in counted),
        ",".join(str(m["grade"]) for m in counted if m["grade"] is not None),
        ",".join(m["klass"] for m in counted if m["klass"] not in (None, "A", "B")),
        ",".join(str(i) for i, m in enumerate(ms) if not m["counted"]),
        ",".join(str(i) for i in range(len(ms)))])
    inc = ";".join(f"{'' if p is None else p}|{k}|{int(a * 100)}" for p, k, a in income) or None
    sp = ";".join(f"{k}|{int(a * 100)}" for k, a in spend) or None
    ast = ";".join(f"{a['category']}|{'' if a['value'] is None else int(a['value'] * 100)}|{a['count']}|"
                   f"{b(a['flagged'])}|{b(a['mobility'])}" for a in assets) or None
    return ("id", "N-1", "head", 1, members, inc, sp, ast)


@hsettings(max_examples=400, deadline=None)
@given(policies, households())
def test_the_preview_computes_what_the_engine_computes(settings, household):
    ms, income, spend, assets = household
    [facts] = impact.facts_from_rows([_row(ms, income, spend, assets)])
    quick = impact.evaluate_facts(settings, facts, ON)
    try:
        full = engine.evaluate(settings, _engine_input(ms, income, spend, assets), ON)
    except engine.PolicyInputError:
        assert quick.error is not None
        return
    assert quick.error is None
    assert (quick.eligible, quick.near_dibao, quick.allowance) == (full.eligible, full.near_dibao, full.allowance)
    assert str(quick.allowance) == str(full.allowance)  # shown the same way too ("1234.00")


def test_the_elderly_birthday_boundary_matches_the_engine():
    settings = PolicySettings.from_dict(DEFAULT_SETTINGS)
    for birth in (dt.date(1966, 12, 1), dt.date(1966, 12, 2), dt.date(1966, 11, 30)):
        ms = [{"counted": True, "klass": None, "birth": birth, "grade": None, "health": None, "student": False}]
        [facts] = impact.facts_from_rows([_row(ms, [], [], [])])
        full = engine.evaluate(settings, _engine_input(ms, [], [], []), ON)
        assert impact.evaluate_facts(settings, facts, ON).allowance == full.allowance


def _versions(db_session, county, *docs):
    from server.policy.models import PolicyVersion

    for effective, doc in docs:
        db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=effective, settings=doc, note=""))
    db_session.flush()


def test_households_are_read_from_the_database_as_the_engine_reads_the_visit(db_session, receiving, county,
                                                                              community):
    """Real rows on this database: the set-based read gives the engine's answer."""
    from server.policy.impact import household_in

    cases = [
        receiving(members=[{"birth_date": dt.date(1950, 3, 1), "class": "A"}, {"birth_date": dt.date(2010, 5, 5),
                                                                              "student": True}],
                  income=[{"member": 0, "kind": "pension", "amount": "620.50"},
                          {"member": None, "kind": "special_care", "amount": "300.00"}]),
        receiving(members=[{"birth_date": dt.date(1980, 1, 1), "disability_grade": 1, "health": "serious_illness"},
                           {"birth_date": dt.date(1985, 1, 1), "counted": False}],
                  income=[{"member": 1, "kind": "wage", "amount": "3000.00"}],
                  assets=[{"category": "vehicle", "value": "20000.00"}, {"category": "home", "count": 1}],
                  expenditure=[{"kind": "medical", "amount": "400.00"}]),
        receiving(members=[{"birth_date": dt.date(1990, 1, 1)}], income=[{"member": 0, "kind": "wage",
                                                                          "amount": "1500.00"}]),
        receiving(members=[{"birth_date": dt.date(1990, 1, 1)}], assets=[{"category": "luxury", "value": "9000"}]),
        receiving(members=[{"birth_date": dt.date(1960, 1, 1)}], state="adjusted"),
    ]
    receiving(members=[{"birth_date": dt.date(1960, 1, 1)}], state="stopped")  # not receiving: not read
    facts = impact.load_households(db_session, [community.id])
    assert sorted(f.number for f in facts) == sorted(c.number for c in cases)
    for doc in (DEFAULT_SETTINGS, merge_defaults({"deduct_rigid_expenditure": True, "monthly_standard": "1600.00",
                                                  "rounding": {"quantum": "1", "mode": "up"}})):
        settings = PolicySettings.from_dict(doc)
        for case in cases:
            f = next(f for f in facts if f.number == case.number)
            full = engine.evaluate(settings, household_in(db_session, case), ON)
            quick = impact.evaluate_facts(settings, f, ON)
            assert (quick.eligible, quick.near_dibao, quick.allowance) == (full.eligible, full.near_dibao,
                                                                          full.allowance), case.number


def test_the_preview_sorts_households_per_community(db_session, receiving, county, community, make_community):
    _versions(db_session, county, (dt.date(2026, 1, 1), DEFAULT_SETTINGS))
    other = make_community(name="白云源社区", name_en="Baiyunyuan")
    # Standard 1100 now; the draft raises it to 1200 and lowers class A's top-up to 0.
    gains = receiving(members=[{"birth_date": dt.date(1980, 1, 1)}, {"birth_date": dt.date(1982, 1, 1)}],
                      income=[{"member": 0, "kind": "wage", "amount": "1000.00"}])
    loses = receiving(members=[{"birth_date": dt.date(1980, 1, 1), "class": "A"}, {"birth_date": dt.date(1982, 1, 1),
                                                                                 "class": "A"}],
                      income=[{"member": 0, "kind": "wage", "amount": "2000.00"}])
    newly = receiving(members=[{"birth_date": dt.date(1980, 1, 1)}],
                      income=[{"member": 0, "kind": "wage", "amount": "1150.00"}], community_=other)
    near = receiving(members=[{"birth_date": dt.date(1980, 1, 1)}],
                     income=[{"member": 0, "kind": "wage", "amount": "1500.00"}], community_=other)
    draft = PolicySettings.from_dict(merge_defaults({"monthly_standard": "1200.00",
                                                     "class_topup_percent": {"A": "0", "B": "20"},
                                                     "near_dibao_factor": "1.2"}))
    result = impact.compute(db_session, county, draft, ON)
    by_code = {c.community.id: c for c in result.communities}
    here, there = by_code[community.id], by_code[other.id]
    assert [r.number for r in here.lists["gain"]] == [gains.number]
    assert [r.number for r in here.lists["lose"]] == [loses.number]
    assert [r.number for r in there.lists["eligible"]] == [newly.number]
    # Near-dibao before (1500 and 1150 < 1.5 x 1115), not after: one is above 1.2 x 1215, the
    # other now eligible.
    assert sorted(r.number for r in there.lists["near_dibao_out"]) == sorted([near.number, newly.number])
    assert here.households == 2 and there.households == 2
    # gains: 2x1100-1000=1200 -> 2x1200-1000=1400; loses: 2200-2000+2x330=860 -> 400.
    assert here.total_before == Decimal("2060.00") and here.total_after == Decimal("1800.00")
    assert result.change == here.change + there.change
    assert impact.changes_payments(result)


def test_a_community_with_its_own_version_is_not_changed_by_a_county_draft(db_session, receiving, county,
                                                                           community):
    _versions(db_session, county, (dt.date(2026, 1, 1), DEFAULT_SETTINGS))
    from server.policy.models import PolicyVersion

    db_session.add(PolicyVersion(jurisdiction_id=community.id, effective_from=dt.date(2026, 6, 1),
                                 settings=DEFAULT_SETTINGS, note=""))
    receiving(members=[{"birth_date": dt.date(1980, 1, 1)}])
    result = impact.compute(db_session, county, PolicySettings.from_dict(
        merge_defaults({"monthly_standard": "1300.00"})), ON)
    [c] = result.communities
    assert not c.applies and c.households == 0
    assert not impact.changes_payments(result)
