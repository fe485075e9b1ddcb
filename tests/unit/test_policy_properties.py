"""Properties of the policy engine that must hold for every household and policy (DESIGN "Money").

Pure: no database, no fixtures.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from server.policy.engine import AssetIn, ExpenditureIn, HouseholdIn, IncomeIn, MemberIn, evaluate
from server.policy.settings import DEFAULT_SETTINGS, HARDSHIP_CATEGORIES, PolicySettings, merge_defaults

ON = date(2026, 11, 20)
COUNTED = tuple(DEFAULT_SETTINGS["counted_income_kinds"])
EXCLUDED = tuple(DEFAULT_SETTINGS["excluded_income_kinds"])

FAST = hsettings(max_examples=200, deadline=None)

amounts = st.decimals(min_value=0, max_value=3000, places=2, allow_nan=False, allow_infinity=False)
raises = st.decimals(min_value=Decimal("0.01"), max_value=5000, places=2, allow_nan=False, allow_infinity=False)
rarely = st.integers(0, 9).map(lambda x: x == 0)

policies = st.builds(
    lambda standard, mode, quantum, deduct, split: PolicySettings.from_dict(merge_defaults({
        "monthly_standard": standard,
        "rounding": {"mode": mode, "quantum": quantum},
        "deduct_rigid_expenditure": deduct,
        "funding_split": split,
    })),
    standard=st.sampled_from(["1100.00", "800.50", "1234.56"]),
    mode=st.sampled_from(["half_up", "half_even", "down", "up"]),
    quantum=st.sampled_from(["0.01", "0.1", "1", "0.05"]),
    deduct=st.booleans(),
    split=st.sampled_from([
        {"municipal": "60", "district": "40"},
        {"municipal": "33.3333", "district": "33.3333", "county": "33.3334"},
        {"municipal": "0", "district": "100"},
    ]),
)

member_records = st.builds(
    MemberIn,
    name=st.none() | st.sampled_from(["张三", "李四", "王五"]),
    birth_date=st.none() | st.dates(date(1920, 1, 1), ON),
    relation=st.just("self"),
    counted=st.booleans(),
    klass=st.sampled_from([None, None, "A", "B"]),
    health=st.sampled_from([None, "healthy", "chronic", "serious_illness"]),
    disability_grade=st.sampled_from([None, None, 1, 2, 3, 4]),
    student=st.booleans(),
    hardship=st.lists(st.sampled_from(HARDSHIP_CATEGORIES), max_size=2).map(tuple),
)

asset_records = st.builds(
    AssetIn,
    category=st.sampled_from(["vehicle", "home", "business", "financial", "luxury", "other", "other", "other"]),
    value=st.none() | st.decimals(min_value=0, max_value=60000, places=2, allow_nan=False, allow_infinity=False),
    count=st.integers(1, 2),
    disqualifying=rarely,
    disability_mobility=st.booleans(),
)


@lru_cache(maxsize=None)  # one strategy per household size: building strategies is the slow part
def income_items(n: int, kinds: tuple[str, ...]):
    return st.lists(st.builds(IncomeIn, member=st.none() | st.integers(0, n - 1), kind=st.sampled_from(kinds),
                              monthly_amount=amounts), max_size=5)


@st.composite
def households(draw):
    members = draw(st.lists(member_records, min_size=1, max_size=6))
    members[0] = replace(members[0], counted=True)  # PCI needs at least one counted member
    n = len(members)
    income = draw(income_items(n, COUNTED)) + draw(income_items(n, EXCLUDED))
    return HouseholdIn(
        members=members,
        income=draw(st.permutations(income)),
        assets=draw(st.lists(asset_records, max_size=2)),
        expenditure=draw(st.lists(st.builds(ExpenditureIn, kind=st.sampled_from(["medical", "disability", "rent"]),
                                             monthly_amount=amounts), max_size=2)),
    )


@FAST
@given(policies, households())
def test_allowance_is_never_negative_and_funding_adds_up(policy, household):
    e = evaluate(policy, household, ON)
    assert e.allowance >= 0 and e.base_allowance >= 0
    assert all(share >= 0 for share in e.funding.values())
    # Seed 000: the shares of the allowance add up to it exactly.
    assert sum(e.funding.values(), Decimal(0)) == e.allowance
    assert list(e.funding) == list(policy.funding_split)
    # An ineligible household gets nothing; an eligible one gets a multiple of the quantum.
    if not e.eligible:
        assert e.allowance == 0 and e.topups == []
    else:
        assert e.allowance % policy.rounding.quantum == 0
        assert e.counted_income < e.standard * e.counted_members
    assert not (e.eligible and e.near_dibao)


@FAST
@given(policies, households(), st.data(), raises)
def test_more_counted_income_never_raises_the_allowance(policy, household, data, rise):
    income = list(household.income)
    counted_at = [i for i, item in enumerate(income) if item.kind in COUNTED]
    if not counted_at:  # raising an absent item from 0
        income.append(IncomeIn(None, "wage", Decimal("0.00")))
        counted_at = [len(income) - 1]
    i = data.draw(st.sampled_from(counted_at))
    before = evaluate(policy, replace(household, income=income), ON)
    income[i] = replace(income[i], monthly_amount=income[i].monthly_amount + rise)
    after = evaluate(policy, replace(household, income=income), ON)
    assert after.allowance <= before.allowance
    assert after.counted_income >= before.counted_income
    assert after.eligible <= before.eligible


@FAST
@given(policies, households(), st.data())
def test_excluded_income_changes_nothing_but_excluded_income(policy, household, data):
    # M21 Art 13: income of an excluded kind is not household income, whatever its size.
    kept = [item for item in household.income if item.kind not in EXCLUDED]
    other = data.draw(income_items(len(household.members), EXCLUDED))
    before = evaluate(policy, household, ON)
    after = evaluate(policy, replace(household, income=kept + other), ON)
    for name in ("standard", "counted_members", "counted_income", "deductions", "per_capita_income", "eligible",
                 "near_dibao", "base_allowance", "topups", "allowance", "funding", "disqualifiers"):
        assert getattr(after, name) == getattr(before, name), name
    assert after.excluded_income == sum((item.monthly_amount for item in other), Decimal(0))
    assert ([r for r in after.reasons if r.code != "income_excluded"]
            == [r for r in before.reasons if r.code != "income_excluded"])


@FAST
@given(policies, households(), st.randoms(use_true_random=False))
def test_order_of_income_items_does_not_matter(policy, household, rnd):
    shuffled = list(household.income)
    rnd.shuffle(shuffled)
    assert evaluate(policy, replace(household, income=shuffled), ON) == evaluate(policy, household, ON)
