"""The policy engine against hand-computed cases (DESIGN "Money", seeds 000 and 002, M21 Art 13).

Default policy: local standard S = 1100.00, +15.00 for a single person, class A +30 % of S,
class B +20 % of S, hardship top-ups 50/100/100/50/50, near-dibao below 1.5 x S, rounding
half-up to 0.01, funding 60 % municipal / 40 % district. Pure: no database, no fixtures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from server.policy.engine import (
    REASON_TEXTS,
    AssetIn,
    ExpenditureIn,
    HouseholdIn,
    IncomeIn,
    MemberIn,
    PolicyInputError,
    Reason,
    evaluate,
    reason_text,
    select_version,
    split_funding,
)
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, PolicySettingsError, merge_defaults

ON = date(2026, 11, 20)


def policy(**overrides) -> PolicySettings:
    return PolicySettings.from_dict(merge_defaults(overrides))


DEFAULT = policy()


def D(s: str) -> Decimal:
    return Decimal(s)


def member(name: str = "成员", birth_date: date | None = date(1980, 1, 1), **kw) -> MemberIn:
    return MemberIn(name=name, birth_date=birth_date, relation=kw.pop("relation", "self"), **kw)


def people(n: int, *special: MemberIn) -> list[MemberIn]:
    """`special` members first, then ordinary working-age adults up to n."""
    return list(special) + [member(f"成员{i}") for i in range(len(special), n)]


def wage(amount: str, who: int | None = 0) -> IncomeIn:
    return IncomeIn(member=who, kind="wage", monthly_amount=D(amount))


def household(members, income=(), assets=(), expenditure=()) -> HouseholdIn:
    return HouseholdIn(members=members, income=list(income), assets=list(assets), expenditure=list(expenditure))


@dataclass
class Case:
    household: HouseholdIn
    standard: str
    counted_income: str
    pci: str
    eligible: bool
    near_dibao: bool
    allowance: str
    settings: PolicySettings = DEFAULT
    extra: dict = field(default_factory=dict)  # other Evaluation fields to check


def case(id_: str, *args, **kw):
    return pytest.param(Case(*args, **kw), id=id_)


def excluded_kind_case(kind: str):
    # 5000 of an excluded kind would lift PCI to 3000 if it were counted; it must change nothing.
    return case(
        f"excluded_income_{kind}",
        household(people(2), [wage("1000.00"), IncomeIn(1, kind, D("5000.00"))]),
        "1100.00", "1000.00", "500.00", True, False, "1200.00",
        extra={"excluded_income": D("5000.00"), "reason_codes_include": ["income_excluded"]},
    )


def asset_case(id_: str, assets, eligible: bool, disqualifiers: list[str], settings: PolicySettings = DEFAULT):
    # Two members, wage 1000: PCI 500, well inside both the standard and near-dibao;
    # only the assets decide. Disqualified households are not near-dibao either.
    return case(
        id_, household(people(2), [wage("1000.00")], assets),
        "1100.00", "1000.00", "500.00", eligible, False, "1200.00" if eligible else "0.00",
        settings=settings, extra={"disqualifiers": disqualifiers},
    )


ROUNDING_POLICY = {"class_topup_percent": {"B": "12.335"}}  # 2200 + 12.335 % x 1100 = 2335.685
THIRDS = {"funding_split": {"municipal": "33.3333", "district": "33.3333", "county": "33.3334"}}
DEDUCTING = policy(deduct_rigid_expenditure=True)
RAISED_2027 = policy(monthly_standard="1200.00")

CASES = [
    # --- income against the standard ---------------------------------------------------
    case("zero_income_three_members", household(people(3)),
         "1100.00", "0.00", "0.00", True, False, "3300.00"),
    case("income_above_standard_is_near_dibao", household(people(2), [wage("2400.00")]),
         "1100.00", "2400.00", "1200.00", False, True, "0.00"),
    case("pci_equal_to_standard_is_not_eligible", household(people(2), [wage("2200.00")]),
         "1100.00", "2200.00", "1100.00", False, True, "0.00"),
    # PCI 1099.995 is shown as 1100.00, but the rule compares the exact value.
    case("pci_half_a_cent_below_standard_is_eligible", household(people(2), [wage("2199.99")]),
         "1100.00", "2199.99", "1100.00", True, False, "0.01"),
    case("pci_exactly_1_5_standard_is_not_near_dibao", household(people(2), [wage("3300.00")]),
         "1100.00", "3300.00", "1650.00", False, False, "0.00"),
    case("pci_just_below_1_5_standard_is_near_dibao", household(people(2), [wage("3299.98")]),
         "1100.00", "3299.98", "1649.99", False, True, "0.00"),
    case("pci_one_third_rounds_half_up_for_display", household(people(3), [wage("2000.00")]),
         "1100.00", "2000.00", "666.67", True, False, "1300.00"),
    case("household_income_without_member", household(people(2), [wage("700.00", who=None)]),
         "1100.00", "700.00", "350.00", True, False, "1500.00"),
    # --- seed 000: single person ----------------------------------------------------------
    case("single_person_standard_plus_15", household(people(1), [IncomeIn(0, "pension", D("620.00"))]),
         "1115.00", "620.00", "620.00", True, False, "495.00"),
    case("single_person_eligible_only_by_increment", household(people(1), [wage("1110.00")]),
         "1115.00", "1110.00", "1110.00", True, False, "5.00"),
    # --- seed 002: class top-ups ----------------------------------------------------------
    case("class_a_plus_30_percent_of_standard", household(people(2, member("甲", klass="A")), [wage("1000.00")]),
         "1100.00", "1000.00", "500.00", True, False, "1530.00",
         extra={"topups": [("topup_class_a", 0, D("330"))]}),
    case("class_b_plus_20_percent_of_standard", household(people(3, member("乙", klass="B")), [wage("1500.00")]),
         "1100.00", "1500.00", "500.00", True, False, "2020.00",
         extra={"topups": [("topup_class_b", 0, D("220"))]}),
    # 30 % of the raised 1115 is 334.50; funding 60/40 of 1449.50 is 869.70 + 579.80.
    case("class_a_single_person_uses_raised_standard_and_splits_60_40", household(people(1, member(klass="A"))),
         "1115.00", "0.00", "0.00", True, False, "1449.50",
         extra={"funding": {"municipal": D("869.70"), "district": D("579.80")}}),
    case("uncounted_member_income_and_topups_ignored",
         household(people(2) + [member("外出", counted=False, klass="A", health="serious_illness")],
                   [wage("600.00"), wage("5000.00", who=2)]),
         "1100.00", "600.00", "300.00", True, False, "1600.00",
         extra={"counted_members": 2, "topups": [],
                "reason_codes_include": ["income_of_uncounted_member"]}),
    case("class_topup_only_when_eligible", household(people(2, member(klass="A")), [wage("2400.00")]),
         "1100.00", "2400.00", "1200.00", False, True, "0.00", extra={"topups": []}),
    # --- special-hardship top-ups (2 members, wage 800: base 1400) ------------------------
    case("hardship_elderly", household(people(2, member("老", birth_date=date(1960, 3, 2))), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1450.00"),
    case("hardship_elderly_turns_60_on_the_day",
         household(people(2, member("老", birth_date=date(1966, 11, 20))), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1450.00"),
    case("hardship_elderly_not_the_day_before_60",
         household(people(2, member("老", birth_date=date(1966, 11, 21))), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1400.00"),
    case("hardship_severe_disability_grade_2",
         household(people(2, member("残", disability_grade=2)), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1500.00"),
    case("hardship_disability_grade_3_is_not_severe",
         household(people(2, member("残", disability_grade=3)), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1400.00"),
    case("hardship_serious_illness",
         household(people(2, member("病", health="serious_illness")), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1500.00"),
    case("hardship_student", household(people(2, member("学", student=True)), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1450.00"),
    case("hardship_single_parent_stated",
         household(people(2, member("单", hardship=("single_parent",))), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1450.00"),
    case("hardship_each_category_once_per_member",
         household(people(2, member("老", birth_date=date(1950, 1, 1), disability_grade=1,
                                    hardship=("elderly", "elderly"))), [wage("800.00")]),
         "1100.00", "800.00", "400.00", True, False, "1550.00",
         extra={"topups": [("topup_elderly", 0, D("50.00")), ("topup_severe_disability", 0, D("100.00"))]}),
    # --- M21 Art 13: income not counted (one case per kind) -------------------------------
    *[excluded_kind_case(kind) for kind in DEFAULT_SETTINGS["excluded_income_kinds"]],
    # --- asset disqualifiers --------------------------------------------------------------
    asset_case("vehicle_above_limit", [AssetIn("vehicle", D("30000.01"))], False, ["vehicle_value"]),
    asset_case("vehicle_exactly_at_limit", [AssetIn("vehicle", D("30000.00"))], True, []),
    asset_case("vehicle_disability_mobility_exempt", [AssetIn("vehicle", D("80000.00"), disability_mobility=True)],
               True, []),
    asset_case("vehicle_rule_switched_off", [AssetIn("vehicle", D("80000.00"))], True, [],
               settings=policy(disqualifiers={"vehicle_value_limit": None})),
    asset_case("one_home_allowed", [AssetIn("home", D("300000.00"))], True, []),
    asset_case("multiple_homes_by_count", [AssetIn("home", D("300000.00"), count=2)], False, ["multiple_homes"]),
    asset_case("multiple_homes_by_items", [AssetIn("home", None), AssetIn("home", None)], False, ["multiple_homes"]),
    asset_case("business_registration", [AssetIn("business", None, description="个体工商户")], False,
               ["business_registration"]),
    # 24 months x 1100 = 26400 per person; two people: 52800 in all.
    asset_case("financial_assets_at_limit", [AssetIn("financial", D("17600.00"), count=3)], True, []),
    asset_case("financial_assets_above_limit", [AssetIn("financial", D("52800.01"))], False, ["financial_assets"]),
    asset_case("luxury_goods", [AssetIn("luxury", D("20000.00"), description="名表")], False, ["luxury_goods"]),
    asset_case("luxury_rule_switched_off", [AssetIn("luxury", D("20000.00"))], True, [],
               settings=policy(disqualifiers={"luxury_goods": False})),
    asset_case("flagged_asset_always_applies", [AssetIn("other", D("100.00"), disqualifying=True)], False,
               ["flagged_asset"], settings=policy(disqualifiers={
                   "vehicle_value_limit": None, "max_homes": None, "business_registration": False,
                   "financial_assets_months": None, "luxury_goods": False})),
    asset_case("several_disqualifiers_in_order",
               [AssetIn("luxury", None), AssetIn("vehicle", D("50000.00"), disqualifying=True)], False,
               ["vehicle_value", "luxury_goods", "flagged_asset"]),
    # --- rounding (2 members, one class B at 12.335 %: 2335.685 before rounding) ----------
    case("rounding_half_up", household(people(2, member(klass="B"))),
         "1100.00", "0.00", "0.00", True, False, "2335.69", settings=policy(**ROUNDING_POLICY),
         extra={"reason_codes_include": ["rounded"]}),
    case("rounding_half_even", household(people(2, member(klass="B"))),
         "1100.00", "0.00", "0.00", True, False, "2335.68",
         settings=policy(**ROUNDING_POLICY, rounding={"mode": "half_even"})),
    case("rounding_down", household(people(2, member(klass="B"))),
         "1100.00", "0.00", "0.00", True, False, "2335.68",
         settings=policy(**ROUNDING_POLICY, rounding={"mode": "down"})),
    case("rounding_whole_yuan_quantum", household(people(2, member(klass="B"))),
         "1100.00", "0.00", "0.00", True, False, "2336.00",
         settings=policy(**ROUNDING_POLICY, rounding={"quantum": "1"})),
    case("rounding_whole_yuan_quantum_down", household(people(2, member(klass="B"))),
         "1100.00", "0.00", "0.00", True, False, "2335.00",
         settings=policy(**ROUNDING_POLICY, rounding={"quantum": "1", "mode": "down"})),
    # --- funding split: thirds of 100.00 must still add up to 100.00 ----------------------
    case("funding_three_way_thirds_sum_exactly", household(people(1), [wage("1015.00")]),
         "1115.00", "1015.00", "1015.00", True, False, "100.00", settings=policy(**THIRDS),
         extra={"funding": {"municipal": D("33.33"), "district": D("33.34"), "county": D("33.33")}}),
    # --- rigid expenditure ---------------------------------------------------------------
    case("rigid_expenditure_deducted_where_policy_says",
         household(people(2), [wage("2600.00")], expenditure=[ExpenditureIn("medical", D("500.00")),
                                                                ExpenditureIn("utilities", D("100.00"))]),
         "1100.00", "2100.00", "1050.00", True, False, "100.00", settings=DEDUCTING,
         extra={"deductions": D("500.00")}),
    case("rigid_expenditure_not_deducted_by_default",
         household(people(2), [wage("2600.00")], expenditure=[ExpenditureIn("medical", D("500.00"))]),
         "1100.00", "2600.00", "1300.00", False, True, "0.00", extra={"deductions": D("0")}),
    case("rigid_expenditure_deduction_floored_at_zero",
         household(people(2), [wage("100.00")], expenditure=[ExpenditureIn("disability", D("300.00"))]),
         "1100.00", "0.00", "0.00", True, False, "2200.00", settings=DEDUCTING,
         extra={"deductions": D("100.00")}),
    # --- a policy change mid-year: the engine uses the policy it is given -----------------
    case("policy_before_change_standard_1100", household(people(2), [wage("2300.00")]),
         "1100.00", "2300.00", "1150.00", False, True, "0.00"),
    case("policy_after_change_standard_1200", household(people(2), [wage("2300.00")]),
         "1200.00", "2300.00", "1150.00", True, False, "100.00", settings=RAISED_2027),
]


@pytest.mark.parametrize("c", CASES)
def test_worked_case(c: Case):
    e = evaluate(c.settings, c.household, ON)
    assert e.standard == D(c.standard)
    assert e.counted_income == D(c.counted_income)
    assert e.per_capita_income == D(c.pci)
    assert str(e.per_capita_income) == c.pci  # shown with two places
    assert e.eligible is c.eligible
    assert e.near_dibao is c.near_dibao
    assert e.allowance == D(c.allowance)
    assert str(e.allowance) == c.allowance
    assert sum(e.funding.values(), Decimal(0)) == e.allowance
    extra = dict(c.extra)
    for code in extra.pop("reason_codes_include", []):
        assert code in [r.code for r in e.reasons]
    for name, expected in extra.items():
        assert getattr(e, name) == expected, name
    if not c.eligible:
        assert e.reasons[-1].code == "ineligible_allowance_zero"
    for r in e.reasons:  # every step can be put into words, in both languages
        for locale in ("zh_CN", "en"):
            text = reason_text(r, locale)
            assert "{" not in text and "}" not in text


def test_at_least_24_worked_cases():
    assert len(CASES) >= 24


def test_reasons_explain_the_computation_in_order():
    e = evaluate(
        DEFAULT,
        household(
            [member("张三", klass="B", birth_date=date(1950, 5, 1)), member("李四", counted=False)],
            [IncomeIn(0, "pension", D("620.00")), IncomeIn(0, "scholarship", D("100.00")), wage("50.00", who=1)],
            [AssetIn("vehicle", D("8000.00"))],
        ),
        ON,
    )
    # One counted member: S = 1115, base 1115 - 620 = 495, +223 (20 % of 1115) +50 elderly.
    assert e.allowance == D("768.00")
    assert [r.code for r in e.reasons] == [
        "standard", "single_person_increment", "income_excluded", "income_of_uncounted_member",
        "pci_below_standard", "base_allowance", "topup_class_b", "topup_elderly",
    ]
    assert e.reasons[0] == Reason("standard", {"standard": "1100.00", "members": 1})
    assert reason_text(e.reasons[4], "zh_CN") == "家庭人均月收入 620.00 元低于保障标准 1115.00 元"
    assert reason_text(e.reasons[4], "en-US") == (
        "Per-capita monthly income of 620.00 yuan is below the standard of 1115.00 yuan")
    assert reason_text(e.reasons[2], "zh-CN") == "奖学金 100.00 元不计入家庭收入"


def test_disqualifier_reason_names_value_and_limit():
    e = evaluate(DEFAULT, household(people(2), [], [AssetIn("vehicle", D("45000"))]), ON)
    [r] = [r for r in e.reasons if r.code == "vehicle_value"]
    assert r.params == {"value": "45000.00", "limit": "30000.00"}
    assert "45000.00" in reason_text(r, "zh_CN") and "30000.00" in reason_text(r, "zh_CN")
    assert not e.near_dibao  # a disqualified household is not near-dibao either


def test_every_reason_code_has_both_languages():
    for code, texts in REASON_TEXTS.items():
        assert set(texts) == {"zh_CN", "en"}, code
    for category in DEFAULT_SETTINGS["hardship_amounts"]:
        assert f"topup_{category}" in REASON_TEXTS


# --- policy versions by date -----------------------------------------------------------


def test_select_version_picks_the_policy_in_force():
    versions = [(date(2026, 7, 1), RAISED_2027), (date(2026, 1, 1), DEFAULT)]  # order does not matter
    assert select_version(versions, date(2026, 6, 30)) is DEFAULT
    assert select_version(versions, date(2026, 7, 1)) is RAISED_2027
    assert select_version(versions, date(2027, 3, 1)) is RAISED_2027
    h = household(people(2), [wage("2300.00")])
    assert evaluate(select_version(versions, date(2026, 6, 30)), h, ON).allowance == D("0.00")
    assert evaluate(select_version(versions, date(2026, 7, 1)), h, ON).allowance == D("100.00")


def test_select_version_before_any_policy_is_an_error():
    with pytest.raises(PolicyInputError) as err:
        select_version([(date(2026, 1, 1), DEFAULT)], date(2025, 12, 31))
    assert err.value.field == "on"


def test_select_version_refuses_two_versions_on_one_date():
    with pytest.raises(PolicyInputError) as err:
        select_version([(date(2026, 1, 1), DEFAULT), (date(2026, 1, 1), RAISED_2027)], date(2026, 2, 1))
    assert err.value.field == "versions"


# --- input the engine refuses ----------------------------------------------------------


@pytest.mark.parametrize("h, field", [
    pytest.param(household(people(2), [IncomeIn(0, "lottery", D("10"))]), "income.0.kind", id="unknown_income_kind"),
    pytest.param(household(people(2), [wage("-1.00")]), "income.0.monthly_amount", id="negative_income"),
    pytest.param(household(people(2), [IncomeIn(0, "wage", 12.5)]), "income.0.monthly_amount", id="float_income"),
    pytest.param(household(people(2), [wage("1.00", who=5)]), "income.0.member", id="income_of_unknown_member"),
    pytest.param(household(people(2), expenditure=[ExpenditureIn("medical", D("-5"))]),
                 "expenditure.0.monthly_amount", id="negative_expenditure"),
    pytest.param(household(people(2), assets=[AssetIn("vehicle", D("-1"))]), "assets.0.value",
                 id="negative_asset_value"),
    pytest.param(household(people(2), assets=[AssetIn("yacht", D("1"))]), "assets.0.category",
                 id="unknown_asset_category"),
    pytest.param(household(people(2), assets=[AssetIn("home", None, count=0)]), "assets.0.count",
                 id="asset_count_zero"),
    pytest.param(household([member(counted=False)]), "members", id="no_counted_member"),
    pytest.param(household([]), "members", id="no_member"),
    pytest.param(household([member(hardship=("orphan",))]), "members.0.hardship", id="unknown_hardship"),
    pytest.param(household([member(klass="C")]), "members.0.class", id="unknown_class"),
    pytest.param(household([member(disability_grade=5)]), "members.0.disability_grade", id="bad_disability_grade"),
])
def test_bad_input_names_the_field(h, field):
    with pytest.raises(PolicyInputError) as err:
        evaluate(DEFAULT, h, ON)
    assert err.value.field == field


# --- the settings document -------------------------------------------------------------


def test_default_settings_round_trip():
    s = PolicySettings.from_dict(DEFAULT_SETTINGS)
    assert s.to_dict() == DEFAULT_SETTINGS
    assert s.monthly_standard == D("1100.00") and isinstance(s.monthly_standard, Decimal)
    assert s.class_topup_percent["A"] == D("30")
    assert s.disqualifiers.vehicle_value_limit == D("30000.00")
    assert s.panel.criteria["need"] == 30
    assert PolicySettings.from_dict(s.to_dict()) == s
    assert hash(s) == hash(PolicySettings.from_dict(DEFAULT_SETTINGS))


def test_merge_defaults_makes_a_new_version_without_touching_the_old():
    before = repr(DEFAULT_SETTINGS)
    doc = merge_defaults({"monthly_standard": "1200.00", "class_topup_percent": {"A": "35"}})
    assert doc["monthly_standard"] == "1200.00"
    assert doc["class_topup_percent"] == {"A": "35", "B": "20"}
    assert repr(DEFAULT_SETTINGS) == before
    newer = merge_defaults({"publicity_days": 10}, base=doc)
    assert newer["monthly_standard"] == "1200.00" and newer["publicity_days"] == 10
    assert doc["publicity_days"] == 7


def test_disabled_disqualifiers_round_trip_as_null():
    doc = merge_defaults({"disqualifiers": {"vehicle_value_limit": None, "max_homes": None}})
    assert PolicySettings.from_dict(doc).to_dict() == doc


@pytest.mark.parametrize("partial, field", [
    pytest.param({"monthly_standard": "-1.00"}, "monthly_standard", id="negative_money"),
    pytest.param({"monthly_standard": "about 1100"}, "monthly_standard", id="non_decimal_money"),
    pytest.param({"monthly_standard": 1100.0}, "monthly_standard", id="float_money"),
    pytest.param({"hardship_amounts": {"student": "-50"}}, "hardship_amounts.student", id="negative_hardship"),
    pytest.param({"disqualifiers": {"vehicle_value_limit": "3万"}}, "disqualifiers.vehicle_value_limit",
                 id="non_decimal_limit"),
    pytest.param({"class_topup_percent": {"A": "130"}}, "class_topup_percent.A", id="percent_above_100"),
    pytest.param({"class_topup_percent": {"B": "-5"}}, "class_topup_percent.B", id="percent_below_0"),
    pytest.param({"funding_split": {"municipal": "70"}}, "funding_split", id="funding_not_100"),
    pytest.param({"funding_split": {"municipal": "120", "district": "-20"}}, "funding_split.municipal",
                 id="funding_share_out_of_range"),
    pytest.param({"bonus": "1"}, "bonus", id="unknown_top_level_key"),
    pytest.param({"flags": {"gps_distance_km": 1}}, "flags.gps_distance_km", id="unknown_nested_key"),
    pytest.param({"class_topup_percent": {"C": "10"}}, "class_topup_percent.C", id="unknown_class"),
    pytest.param({"excluded_income_kinds": ["wage", "special_care", "family_planning_award", "scholarship",
                                            "heroism_reward", "government_assistance"]},
                 "excluded_income_kinds", id="kind_counted_and_excluded"),
    pytest.param({"counted_income_kinds": ["wage"]}, "counted_income_kinds", id="wire_kind_neither"),
    pytest.param({"rounding": {"mode": "bankers"}}, "rounding.mode", id="unknown_rounding_mode"),
    pytest.param({"rounding": {"quantum": "0"}}, "rounding.quantum", id="zero_quantum"),
    pytest.param({"near_dibao_factor": "0.9"}, "near_dibao_factor", id="near_factor_below_1"),
    pytest.param({"elderly_age": "60"}, "elderly_age", id="age_not_a_number"),
    pytest.param({"mask_names": "yes"}, "mask_names", id="flag_not_boolean"),
    pytest.param({"severe_disability_grades": [1, 5]}, "severe_disability_grades.1", id="bad_disability_grade"),
    pytest.param({"panel": {"pass_ratio": "1.5"}}, "panel.pass_ratio", id="ratio_above_1"),
    pytest.param({"panel": {"criteria": {"need": 40}}}, "panel.criteria", id="criteria_not_100"),
])
def test_settings_errors_name_the_field(partial, field):
    with pytest.raises(PolicySettingsError) as err:
        PolicySettings.from_dict(merge_defaults(partial))
    assert field in err.value.errors, err.value.errors


def test_missing_keys_are_named():
    doc = merge_defaults({})
    del doc["publicity_days"]
    del doc["panel"]["criteria"]
    with pytest.raises(PolicySettingsError) as err:
        PolicySettings.from_dict(doc)
    assert set(err.value.errors) == {"publicity_days", "panel.criteria"}


def test_all_errors_reported_at_once():
    with pytest.raises(PolicySettingsError) as err:
        PolicySettings.from_dict(merge_defaults({
            "monthly_standard": "-1", "funding_split": {"municipal": "50"}, "rounding": {"mode": "x"}}))
    assert {"monthly_standard", "funding_split", "rounding.mode"} <= set(err.value.errors)


def test_settings_are_not_a_mapping_at_all():
    with pytest.raises(PolicySettingsError):
        PolicySettings.from_dict(["monthly_standard"])


def test_the_rounding_cent_falls_on_the_same_share_whatever_order_the_split_is_stored_in():
    """PostgreSQL's JSONB returns keys in its own order; the decision must not depend on it."""
    amount = Decimal("1000.01")
    one = split_funding(amount, {"municipal": Decimal("50"), "district": Decimal("50")})
    other = split_funding(amount, {"district": Decimal("50"), "municipal": Decimal("50")})
    assert one == other and sum(one.values()) == amount
    shares = split_funding(Decimal("999.99"), {"district": Decimal("40"), "municipal": Decimal("60")})
    assert list(shares) == ["district", "municipal"] and shares == {"municipal": Decimal("599.99"),
                                                                    "district": Decimal("400.00")}
