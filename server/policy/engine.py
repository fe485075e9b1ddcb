"""The policy engine: what a household is entitled to under one policy, and why.

Pure: no Flask, no database. The caller picks the policy in force (`select_version`),
turns the survey into the *In dataclasses below and calls `evaluate`. Every step of the
computation leaves a `Reason`, so the office, the panel and the applicant see the same
explanation (DESIGN "Money", M21 Art 13).

Money is Decimal throughout and never float (STYLE habit 8). Comparisons use exact values;
only what is shown is quantized.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from server.policy.settings import PolicySettings, Rounding

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

ASSET_CATEGORIES = ("vehicle", "home", "business", "financial", "luxury", "other")
HEALTH_STATES = ("healthy", "chronic", "serious_illness")
# Hardship categories the engine recognises from the member record itself; the rest
# (single_parent) can only be named explicitly in `MemberIn.hardship`.
_AUTOMATIC_HARDSHIP = ("elderly", "severe_disability", "serious_illness", "student")
# The order disqualifiers are checked and explained in.
DISQUALIFIER_CODES = (
    "vehicle_value", "multiple_homes", "business_registration", "financial_assets", "luxury_goods", "flagged_asset",
)

_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")


class PolicyInputError(ValueError):
    """The household cannot be evaluated as given; `field` names the bad input in the wire's
    dotted form ('income.2.kind', 'members.0.class'), as `ValidationProblem` reports fields."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# --- input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberIn:
    name: str | None
    birth_date: date | None
    relation: str | None
    counted: bool = True
    klass: str | None = None  # "A", "B" or None (the wire's "class")
    health: str | None = None  # healthy / chronic / serious_illness
    disability_grade: int | None = None  # 1 (most severe) .. 4
    student: bool = False
    hardship: tuple[str, ...] = ()  # hardship categories stated explicitly, e.g. ("single_parent",)


@dataclass(frozen=True)
class IncomeIn:
    member: int | None  # index into HouseholdIn.members; None for the household as a whole
    kind: str
    monthly_amount: Decimal


@dataclass(frozen=True)
class ExpenditureIn:
    kind: str
    monthly_amount: Decimal


@dataclass(frozen=True)
class AssetIn:
    category: str  # vehicle, home, business, financial, luxury, other
    value: Decimal | None  # per item; None when not estimated
    count: int = 1
    disqualifying: bool = False  # the investigators' own judgement
    disability_mobility: bool = False
    description: str | None = None


@dataclass(frozen=True)
class HouseholdIn:
    members: Sequence[MemberIn]
    income: Sequence[IncomeIn]
    assets: Sequence[AssetIn]
    expenditure: Sequence[ExpenditureIn] = ()


# --- output --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One step of the explanation. `params` is JSON-able: money as decimal strings."""

    code: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    standard: Decimal  # S: the household's standard per person per month
    local_standard: Decimal
    counted_members: int
    counted_income: Decimal  # counted monthly income, after any rigid-expenditure deduction
    excluded_income: Decimal
    deductions: Decimal  # rigid expenditure actually subtracted from counted income
    per_capita_income: Decimal  # for showing: quantized to 0.01; the rules compare exactly
    eligible: bool
    near_dibao: bool
    base_allowance: Decimal
    topups: list  # [(code, member index | None, amount)]
    allowance: Decimal
    funding: dict  # share name -> amount; the shares sum to the allowance exactly
    disqualifiers: list  # codes, in DISQUALIFIER_CODES order
    reasons: list  # [Reason], in the order of the computation


# --- the rules -----------------------------------------------------------------------


def evaluate(settings: PolicySettings, household: HouseholdIn, on: date) -> Evaluation:
    """The household's standard, income, eligibility and allowance under `settings` on `on`."""
    members = list(household.members)
    _check_members(settings, members)
    counted_idx = [i for i, m in enumerate(members) if m.counted]
    n = len(counted_idx)
    if n == 0:
        raise PolicyInputError("members", "no counted member: per-capita income is undefined")
    reasons: list[Reason] = []

    # Seed 000: S is the local standard, raised for a single-person household.
    local = settings.monthly_standard
    standard = local + settings.single_person_increment if n == 1 else local
    reasons.append(Reason("standard", {"standard": _yuan(local), "members": n}))
    if n == 1 and settings.single_person_increment:
        reasons.append(Reason("single_person_increment", {
            "increment": _yuan(settings.single_person_increment), "standard": _yuan(standard)}))

    # M21 Art 13: only the counted kinds of income of counted members are household income.
    counted_kinds = set(settings.counted_income_kinds)
    excluded_kinds = set(settings.excluded_income_kinds)
    gross = ZERO
    excluded_by_kind: dict[str, Decimal] = {}
    uncounted_by_member: dict[int, Decimal] = {}
    for i, item in enumerate(household.income):
        where = f"income.{i}"
        amount = _money(item.monthly_amount, f"{where}.monthly_amount")
        if item.member is not None and (isinstance(item.member, bool) or not isinstance(item.member, int)
                                        or not 0 <= item.member < len(members)):
            raise PolicyInputError(f"{where}.member", f"no member {item.member!r} in this household")
        if item.kind in excluded_kinds:
            excluded_by_kind[item.kind] = excluded_by_kind.get(item.kind, ZERO) + amount
        elif item.kind not in counted_kinds:
            raise PolicyInputError(f"{where}.kind", f"unknown income kind {item.kind!r}")
        elif item.member is not None and not members[item.member].counted:
            uncounted_by_member[item.member] = uncounted_by_member.get(item.member, ZERO) + amount
        else:
            gross += amount
    excluded_income = sum(excluded_by_kind.values(), ZERO)
    for kind in settings.excluded_income_kinds:  # policy order, so input order does not matter
        if kind in excluded_by_kind:
            reasons.append(Reason("income_excluded", {"kind": kind, "amount": _yuan(excluded_by_kind[kind])}))
    for i in sorted(uncounted_by_member):
        reasons.append(Reason("income_of_uncounted_member", {
            "member": i, "name": _who(members, i), "amount": _yuan(uncounted_by_member[i])}))

    # Rigid medical/disability costs come off income only where the policy says so (DESIGN "Money").
    rigid = ZERO
    for i, item in enumerate(household.expenditure):
        amount = _money(item.monthly_amount, f"expenditure.{i}.monthly_amount")
        if item.kind in settings.rigid_expenditure_kinds:
            rigid += amount
    deductions = ZERO
    if settings.deduct_rigid_expenditure and rigid > 0:
        deductions = min(rigid, gross)  # income is floored at 0, never negative
        reasons.append(Reason("rigid_expenditure_deducted", {
            "expenditure": _yuan(rigid), "deducted": _yuan(deductions),
            "income": _yuan(gross), "counted_income": _yuan(gross - deductions)}))
    income = gross - deductions

    # PCI < S, compared as income < S x n so no division rounds the boundary case.
    pci = (income / n).quantize(CENT, ROUND_HALF_UP)
    below_standard = income < standard * n
    reasons.append(Reason("pci_below_standard" if below_standard else "pci_not_below_standard",
                          {"pci": _yuan(pci), "standard": _yuan(standard)}))

    found = _disqualifiers(settings, [_check_asset(a, i) for i, a in enumerate(household.assets)], n)
    reasons.extend(Reason(code, params) for code, params in found)
    disqualified = bool(found)

    eligible = below_standard and not disqualified
    base = ZERO
    topups: list[tuple[str, int | None, Decimal]] = []
    if eligible:
        # Seed 000: base = S x counted members - counted income, never below 0.
        base = max(ZERO, standard * n - income)
        reasons.append(Reason("base_allowance", {
            "standard": _yuan(standard), "members": n, "income": _yuan(income), "base": _yuan(base)}))
        for i in counted_idx:  # only counted members are recipients (seed 002)
            for code, amount, params in _member_topups(settings, members[i], standard, on):
                topups.append((code, i, amount))
                reasons.append(Reason(code, {"member": i, "name": _who(members, i),
                                             "amount": _yuan(amount), **params}))

    # Near-dibao (低保边缘): above the standard, no disqualifier, PCI < factor x S.
    near_limit = settings.near_dibao_factor * standard
    near_dibao = not eligible and not disqualified and income < near_limit * n
    if near_dibao:
        reasons.append(Reason("near_dibao", {"pci": _yuan(pci), "factor": _plain(settings.near_dibao_factor),
                                             "limit": _yuan(near_limit)}))

    if eligible:
        unrounded = base + sum((amount for _, _, amount in topups), ZERO)
        allowance = round_money(unrounded, settings.rounding)
        if allowance != unrounded:
            reasons.append(Reason("rounded", {
                "amount": _plain(unrounded), "allowance": _plain(allowance),
                "quantum": _plain(settings.rounding.quantum), "mode": settings.rounding.mode}))
    else:
        allowance = ZERO
        reasons.append(Reason("ineligible_allowance_zero", {}))

    return Evaluation(
        standard=standard,
        local_standard=local,
        counted_members=n,
        counted_income=income,
        excluded_income=excluded_income,
        deductions=deductions,
        per_capita_income=pci,
        eligible=eligible,
        near_dibao=near_dibao,
        base_allowance=base,
        topups=topups,
        allowance=allowance,
        funding=split_funding(allowance, settings.funding_split),
        disqualifiers=[code for code, _ in found],
        reasons=reasons,
    )


def round_money(amount: Decimal, rounding: Rounding) -> Decimal:
    """`amount` to a multiple of the policy's quantum with its mode; shown with at least 2 places."""
    units = (amount / rounding.quantum).to_integral_value(rounding=rounding.decimal_mode)
    rounded = units * rounding.quantum
    if rounded.as_tuple().exponent > -2:
        rounded = rounded.quantize(CENT)  # a whole-yuan quantum still reads as money: "1234.00"
    return rounded


def split_funding(allowance: Decimal, split: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The allowance shared per policy (seed 000: 60 % municipal, 40 % district).

    Each share is the difference of rounded running totals, so no share is negative and
    the last takes the remainder: the shares add up to the allowance exactly. They are
    computed largest first (ties by name), never in the stored order: PostgreSQL's JSONB
    keeps no key order, and the cent of rounding must fall on the same share on both
    databases (and in the ledgers, which use the same order). The answer lists them in the
    policy's order."""
    funding: dict[str, Decimal] = {}
    names = sorted(split, key=lambda name: (-split[name], name))
    running, allocated = Decimal(0), ZERO
    for name in names[:-1]:
        running += split[name]
        target = (allowance * running / HUNDRED).quantize(CENT, ROUND_HALF_UP)
        funding[name] = target - allocated
        allocated = target
    funding[names[-1]] = allowance - allocated
    return {name: funding[name] for name in split}


def select_version(versions: Sequence[tuple[date, PolicySettings]], on: date) -> PolicySettings:
    """The policy in force on `on`: the latest effective date not after it (DESIGN "Money":
    a case is computed with the policy in force on its decision date)."""
    dates = [effective for effective, _ in versions]
    if len(set(dates)) != len(dates):
        raise PolicyInputError("versions", "two policy versions take effect on the same date")
    in_force = [(effective, s) for effective, s in versions if effective <= on]
    if not in_force:
        raise PolicyInputError("on", f"no policy version in force on {on.isoformat()}")
    return max(in_force, key=lambda pair: pair[0])[1]


def age_on(birth_date: date, on: date) -> int:
    """Whole years completed on `on` (a 29 February birthday is reached on 1 March)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _member_topups(settings: PolicySettings, member: MemberIn, standard: Decimal,
                   on: date) -> list[tuple[str, Decimal, dict]]:
    out: list[tuple[str, Decimal, dict]] = []
    if member.klass is not None:
        # Seed 002: class A +30 % of S, class B +20 % of S (percentages per policy).
        percent = settings.class_topup_percent[member.klass]
        amount = standard * percent / HUNDRED
        if amount > 0:
            out.append((f"topup_class_{member.klass.lower()}", amount, {"percent": _plain(percent)}))
    categories: list[str] = []
    if member.birth_date is not None and age_on(member.birth_date, on) >= settings.elderly_age:
        categories.append("elderly")
    if member.disability_grade in settings.severe_disability_grades:
        categories.append("severe_disability")
    if member.health == "serious_illness":
        categories.append("serious_illness")
    if member.student:
        categories.append("student")
    categories.extend(member.hardship)
    seen: set[str] = set()
    for category in categories:
        if category in seen:  # each category is paid once per member
            continue
        seen.add(category)
        amount = settings.hardship_amounts[category]
        if amount > 0:
            out.append((f"topup_{category}", amount, {}))
    return out


def _disqualifiers(settings: PolicySettings, assets: list[AssetIn], n: int) -> list[tuple[str, dict]]:
    """DESIGN "Money": asset rules, each a policy setting; the investigators' flag always counts."""
    rules = settings.disqualifiers
    found: list[tuple[str, dict]] = []

    def of(category: str) -> list[AssetIn]:
        return [a for a in assets if a.category == category]

    if rules.vehicle_value_limit is not None:
        # Disability mobility vehicles are exempt; a car exactly at the limit is allowed.
        over = [a.value for a in of("vehicle")
                if not a.disability_mobility and a.value is not None and a.value > rules.vehicle_value_limit]
        if over:
            found.append(("vehicle_value", {"value": _yuan(max(over)), "limit": _yuan(rules.vehicle_value_limit)}))
    if rules.max_homes is not None:
        homes = sum(a.count for a in of("home"))
        if homes > rules.max_homes:
            found.append(("multiple_homes", {"homes": homes, "limit": rules.max_homes}))
    if rules.business_registration and of("business"):
        found.append(("business_registration", {"count": sum(a.count for a in of("business"))}))
    if rules.financial_assets_months is not None:
        total = sum((a.value * a.count for a in of("financial") if a.value is not None), ZERO)
        limit = rules.financial_assets_months * settings.monthly_standard
        if total > limit * n:  # per capita > limit, without dividing
            found.append(("financial_assets", {"per_capita": _yuan(total / n), "limit": _yuan(limit),
                                               "months": rules.financial_assets_months}))
    if rules.luxury_goods and of("luxury"):
        found.append(("luxury_goods", {"count": sum(a.count for a in of("luxury"))}))
    flagged = [a for a in assets if a.disqualifying]
    if flagged:
        found.append(("flagged_asset", {"count": len(flagged)}))
    return found


def _check_members(settings: PolicySettings, members: list[MemberIn]) -> None:
    if not members:
        raise PolicyInputError("members", "a household has at least one member")
    for i, m in enumerate(members):
        where = f"members.{i}"
        if m.klass is not None and m.klass not in settings.class_topup_percent:
            raise PolicyInputError(f"{where}.class", f"unknown class {m.klass!r}")
        if m.health is not None and m.health not in HEALTH_STATES:
            raise PolicyInputError(f"{where}.health", f"unknown health state {m.health!r}")
        if m.disability_grade is not None and (isinstance(m.disability_grade, bool)
                                               or m.disability_grade not in (1, 2, 3, 4)):
            raise PolicyInputError(f"{where}.disability_grade", "must be 1 to 4")
        for category in m.hardship:
            if category not in settings.hardship_amounts:
                raise PolicyInputError(f"{where}.hardship", f"unknown hardship category {category!r}")


def _check_asset(asset: AssetIn, i: int) -> AssetIn:
    where = f"assets.{i}"
    if asset.category not in ASSET_CATEGORIES:
        raise PolicyInputError(f"{where}.category", f"unknown asset category {asset.category!r}")
    if isinstance(asset.count, bool) or not isinstance(asset.count, int) or asset.count < 1:
        raise PolicyInputError(f"{where}.count", "must be a whole number of at least 1")
    value = None if asset.value is None else _money(asset.value, f"{where}.value")
    return AssetIn(asset.category, value, asset.count, asset.disqualifying, asset.disability_mobility,
                   asset.description)


def _money(value: Any, where: str) -> Decimal:
    """A non-negative exact amount; floats are refused, not converted (STYLE habit 8)."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    elif isinstance(value, str) and _DECIMAL.match(value):
        d = Decimal(value)
    else:
        raise PolicyInputError(where, f"must be a Decimal amount, not {type(value).__name__} {value!r}")
    if not d.is_finite():
        raise PolicyInputError(where, "must be a finite amount")
    if d < 0:
        raise PolicyInputError(where, "must not be negative")
    return d


def _yuan(amount: Decimal) -> str:
    return format(amount.quantize(CENT, ROUND_HALF_UP), "f")


def _plain(d: Decimal) -> str:
    return format(d, "f")


def _who(members: list[MemberIn], i: int) -> str:
    return members[i].name or f"#{i + 1}"


# --- explanations --------------------------------------------------------------------

# One text per reason code and locale; `reason_text` fills in the params (and labels for
# codes such as an income kind or a rounding mode).
REASON_TEXTS: dict[str, dict[str, str]] = {
    "standard": {
        "zh_CN": "当地低保标准为每人每月 {standard} 元，计入共同生活的家庭成员 {members} 人",
        "en": "The local standard is {standard} yuan per person per month; {members} household member(s) counted",
    },
    "single_person_increment": {
        "zh_CN": "单人户保障标准增加 {increment} 元，为每月 {standard} 元",
        "en": "Single-person household: the standard is raised by {increment} to {standard} yuan a month",
    },
    "income_excluded": {
        "zh_CN": "{kind_label} {amount} 元不计入家庭收入",
        "en": "{kind_label} of {amount} yuan is not counted as household income",
    },
    "income_of_uncounted_member": {
        "zh_CN": "{name} 不计入共同生活的家庭成员，其收入 {amount} 元不计入家庭收入",
        "en": "{name} is not a counted household member; their income of {amount} yuan is not counted",
    },
    "rigid_expenditure_deducted": {
        "zh_CN": "扣除刚性支出 {deducted} 元（医疗、残疾等支出共 {expenditure} 元），计入收入由 {income} 元减为 {counted_income} 元",
        "en": "Rigid expenditure deducted: {deducted} yuan (of {expenditure} yuan medical, disability and similar "
              "costs); counted income falls from {income} to {counted_income} yuan",
    },
    "pci_below_standard": {
        "zh_CN": "家庭人均月收入 {pci} 元低于保障标准 {standard} 元",
        "en": "Per-capita monthly income of {pci} yuan is below the standard of {standard} yuan",
    },
    "pci_not_below_standard": {
        "zh_CN": "家庭人均月收入 {pci} 元不低于保障标准 {standard} 元",
        "en": "Per-capita monthly income of {pci} yuan is not below the standard of {standard} yuan",
    },
    "vehicle_value": {
        "zh_CN": "拥有价值 {value} 元的机动车，超过 {limit} 元的限额（残疾人功能性补偿代步车除外）",
        "en": "Owns a vehicle worth {value} yuan, above the limit of {limit} yuan (disability mobility vehicles "
              "are exempt)",
    },
    "multiple_homes": {
        "zh_CN": "家庭拥有住房 {homes} 套，超过 {limit} 套",
        "en": "The household owns {homes} homes, more than {limit}",
    },
    "business_registration": {
        "zh_CN": "家庭成员有工商登记的经营主体（{count} 个）",
        "en": "A household member has a registered business ({count})",
    },
    "financial_assets": {
        "zh_CN": "人均金融资产 {per_capita} 元，超过 {months} 个月当地低保标准之和 {limit} 元",
        "en": "Financial assets of {per_capita} yuan per person exceed {months} months of the local standard "
              "({limit} yuan)",
    },
    "luxury_goods": {
        "zh_CN": "拥有非生活必需的高档消费品 {count} 件",
        "en": "Owns {count} high-end item(s) not needed for daily life",
    },
    "flagged_asset": {
        "zh_CN": "调查人员认定 {count} 项财产不符合低保条件",
        "en": "The investigators marked {count} asset(s) as disqualifying",
    },
    "base_allowance": {
        "zh_CN": "基本保障金 = 保障标准 {standard} 元 × {members} 人 − 家庭月收入 {income} 元 = {base} 元",
        "en": "Base allowance = standard {standard} yuan × {members} − monthly income {income} yuan = {base} yuan",
    },
    "topup_class_a": {
        "zh_CN": "{name} 属 A 类保障对象，按保障标准的 {percent}% 增发 {amount} 元",
        "en": "{name} is a class A recipient: {percent}% of the standard added, {amount} yuan",
    },
    "topup_class_b": {
        "zh_CN": "{name} 属 B 类保障对象，按保障标准的 {percent}% 增发 {amount} 元",
        "en": "{name} is a class B recipient: {percent}% of the standard added, {amount} yuan",
    },
    "topup_elderly": {
        "zh_CN": "{name} 为老年人，增发特殊困难补助 {amount} 元",
        "en": "{name} is elderly: hardship top-up of {amount} yuan",
    },
    "topup_severe_disability": {
        "zh_CN": "{name} 为重度残疾人，增发特殊困难补助 {amount} 元",
        "en": "{name} has a severe disability: hardship top-up of {amount} yuan",
    },
    "topup_serious_illness": {
        "zh_CN": "{name} 患重病，增发特殊困难补助 {amount} 元",
        "en": "{name} has a serious illness: hardship top-up of {amount} yuan",
    },
    "topup_student": {
        "zh_CN": "{name} 为在校学生，增发特殊困难补助 {amount} 元",
        "en": "{name} is a student: hardship top-up of {amount} yuan",
    },
    "topup_single_parent": {
        "zh_CN": "{name} 属单亲家庭，增发特殊困难补助 {amount} 元",
        "en": "{name} is in a single-parent family: hardship top-up of {amount} yuan",
    },
    "near_dibao": {
        "zh_CN": "家庭人均月收入 {pci} 元低于保障标准的 {factor} 倍（{limit} 元），属低保边缘家庭",
        "en": "Per-capita monthly income of {pci} yuan is below {factor} times the standard ({limit} yuan): "
              "a near-dibao household",
    },
    "rounded": {
        "zh_CN": "保障金 {amount} 元按{mode_label}取整至 {quantum} 元，为 {allowance} 元",
        "en": "The allowance of {amount} yuan is rounded ({mode_label}) to {quantum} yuan: {allowance} yuan",
    },
    "ineligible_allowance_zero": {
        "zh_CN": "不符合低保条件，保障金为 0 元",
        "en": "Not eligible: the allowance is 0",
    },
}

_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "kind": {
        "wage": {"zh_CN": "工资性收入", "en": "Wages"},
        "business": {"zh_CN": "经营净收入", "en": "Net business income"},
        "property": {"zh_CN": "财产净收入", "en": "Net property income"},
        "maintenance": {"zh_CN": "赡养费、抚养费、扶养费", "en": "Maintenance received"},
        "pension": {"zh_CN": "养老金", "en": "Pension"},
        "unemployment": {"zh_CN": "失业保险金", "en": "Unemployment benefit"},
        "other": {"zh_CN": "其他收入", "en": "Other income"},
        "special_care": {"zh_CN": "优待抚恤金", "en": "Special-care pension"},
        "family_planning_award": {"zh_CN": "计划生育奖励与扶助金", "en": "Family-planning award"},
        "scholarship": {"zh_CN": "奖学金", "en": "Scholarship"},
        "heroism_reward": {"zh_CN": "见义勇为奖励金", "en": "Heroism reward"},
        "government_assistance": {"zh_CN": "政府救助金", "en": "Government assistance"},
    },
    "mode": {
        "half_up": {"zh_CN": "四舍五入", "en": "half up"},
        "half_even": {"zh_CN": "四舍六入五成双", "en": "half to even"},
        "down": {"zh_CN": "舍去尾数", "en": "down"},
        "up": {"zh_CN": "进位", "en": "up"},
    },
}


def _locale(locale: str | None) -> str:
    tag = (locale or "").replace("-", "_").lower()
    if tag.startswith("en"):
        return "en"
    return "zh_CN"  # the users' language (DESIGN "Who uses it") is also the fallback


def reason_text(reason: Reason, locale: str | None = "zh_CN") -> str:
    """The reason in words, in zh_CN or en ("zh-CN", "en_US" and the like are accepted)."""
    loc = _locale(locale)
    params = dict(reason.params)
    for name, labels in _LABELS.items():
        value = params.get(name)
        if isinstance(value, str):
            params[f"{name}_label"] = labels.get(value, {}).get(loc, value)
    return REASON_TEXTS[reason.code][loc].format_map(params)
