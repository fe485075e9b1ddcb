"""Impact preview: what a draft policy version would do to every household now receiving
the allowance, compared with the version it would replace, per community.

The inputs are read set-based (five queries whatever the number of households: the cases,
the members, the income, the expenditure and the assets of each case's latest accepted
visit, the last three already summed per kind in SQL) and evaluated in plain Python.

`evaluate_facts` is the policy engine's money rules (server.policy.engine.evaluate) over
those pre-summed facts, without building the explanation: the preview must answer for
100,000 households under two versions in a few seconds, and the full engine spends most
of its time writing reasons nobody reads here. It computes eligibility, near-dibao and
the allowance exactly as the engine does (tests compare the two household by household);
the page of one household still runs the engine itself and shows its reasons.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import operator
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.cases.lifecycle import RECEIVING
from server.cases.models import Case, Household
from server.core.models import Jurisdiction
from server.policy import engine
from server.policy.models import PolicyVersion
from server.policy.settings import PolicySettings, merge_defaults
from server.visits.models import Asset, Expenditure, IncomeItem, Visit, VisitMember

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
CATEGORIES = ("gain", "lose", "ineligible", "eligible", "near_dibao_in", "near_dibao_out")
PAGE_SIZE = 50


class HouseholdFacts:
    """What the money rules read of one household, summed once, independent of any policy.
    Amounts are whole cents (int): exact, and cheap to add up for 100,000 households.
    A plain class with slots and positional construction: 100,000 of these are made per
    preview, and a dataclass's defaults and factories cost a second of that."""

    __slots__ = ("case_id", "number", "head_name", "community_id", "counted", "class_a", "class_b",
                 "other_classes", "births", "grades", "ill", "students", "income", "other_income_kinds",
                 "expenditure", "vehicle_max", "homes", "businesses", "financial", "luxury", "flagged", "invalid")

    def __init__(self, case_id, number, head_name, community_id, counted=0, class_a=0, class_b=0,
                 other_classes=frozenset(), births=(), grades=(), ill=0, students=0, income=None,
                 other_income_kinds=frozenset(), expenditure=None, vehicle_max=None, homes=0, businesses=0,
                 financial=0, luxury=0, flagged=0, invalid=None):
        self.case_id = case_id  # as the database spells it (text): turned into a UUID only where shown
        self.number, self.head_name, self.community_id = number, head_name, community_id
        self.counted, self.class_a, self.class_b = counted, class_a, class_b  # counted members, of class A / B
        self.other_classes = other_classes  # a class the policy may not know
        self.births = births  # counted members' birth dates as yyyymmdd ints
        self.grades = grades  # counted members' disability grades
        self.ill, self.students = ill, students
        self.income = income or {}  # kind -> cents, of counted members or the household
        self.other_income_kinds = other_income_kinds  # kinds of uncounted members' income
        self.expenditure = expenditure or {}  # kind -> cents
        self.vehicle_max = vehicle_max  # cents: the dearest vehicle that is not a disability mobility vehicle
        self.homes, self.businesses, self.financial, self.luxury = homes, businesses, financial, luxury
        self.flagged = flagged
        self.invalid = invalid  # why the engine would refuse this household


class Outcome(NamedTuple):
    """A tuple: 200,000 are made per preview, and a frozen dataclass is slow to build."""

    eligible: bool
    near_dibao: bool
    allowance: Decimal
    error: str | None = None


NOT_IN_FORCE = Outcome(False, False, ZERO, "no_policy")
_TRUE = ("1", "true", "t")
_NO_MEMBERS = ("0", "0", "0", "0", "0", "0", "", "", "", "", "")


def _text(column) -> sa.ColumnElement:
    """A column as text, NULL as the empty string."""
    return sa.func.coalesce(sa.cast(column, sa.String), "")


def _cents_text(column) -> sa.ColumnElement:
    # Whole cents: exact on both databases (SQLite keeps NUMERIC as integers or floats).
    return sa.cast(sa.cast(sa.func.round(column * 100), sa.BigInteger), sa.String)


def _joined(dialect: str, parts: list, table, where) -> sa.ScalarSelect:
    """One text per visit: its rows, fields joined by '|', rows by ';' (a correlated
    subquery on the visit_id index, so one row per household comes back)."""
    row = parts[0]
    for p in parts[1:]:
        row = row.op("||")("|").op("||")(p)
    agg = sa.func.group_concat(row, ";") if dialect == "sqlite" else sa.func.string_agg(row, ";")
    return sa.select(agg).select_from(table).where(*where).scalar_subquery()


def household_rows(session: Session, community_ids: list[int], expenditure: bool = True):
    """Every receiving case (lifecycle.RECEIVING) in these communities with its latest
    accepted visit (the survey its allowance was decided on): one query, one row per
    household, each part of the survey folded into one text column by the database.
    The expenditure is read only when asked (only a rigid-cost deduction needs it)."""
    d = session.get_bind().dialect.name
    t = _text
    later = sa.orm.aliased(Visit)
    # "No later accepted visit of the same case". The state is compared as an expression so
    # SQLite's planner walks the case_id index here, not every accepted visit of the county.
    newest = ~sa.exists().where(
        later.case_id == Visit.case_id, sa.func.coalesce(later.state, "") == "accepted",
        sa.or_(later.received_at > Visit.received_at,
               sa.and_(later.received_at == Visit.received_at, later.id > Visit.id)))
    m, i, e, a = VisitMember, IncomeItem, Expenditure, Asset

    def agg(expr, sep=","):
        return sa.func.group_concat(expr, sep) if d == "sqlite" else sa.func.string_agg(expr, sep)

    def count(condition):
        return sa.cast(sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0), sa.String)

    def joined(*parts):
        out = parts[0]
        for part in parts[1:]:
            out = out.op("||")("|").op("||")(part)
        return out

    counted = m.counted.is_(True)
    # The members folded into counts by the database: what the top-ups and the income need.
    members = sa.select(joined(
        count(counted),
        count(sa.and_(counted, m.klass == "A")),
        count(sa.and_(counted, m.klass == "B")),
        count(sa.and_(counted, m.health == "serious_illness")),
        count(sa.and_(counted, m.student.is_(True))),
        count(sa.and_(m.health.is_not(None), m.health.not_in(engine.HEALTH_STATES))),
        sa.func.coalesce(agg(sa.case((counted, sa.func.replace(sa.cast(m.birth_date, sa.String), "-", "")))), ""),
        sa.func.coalesce(agg(sa.case((counted, sa.cast(m.disability_grade, sa.String)))), ""),
        sa.func.coalesce(agg(sa.case((sa.and_(counted, m.klass.not_in(("A", "B"))), m.klass))), ""),
        sa.func.coalesce(agg(sa.case((~counted, sa.cast(m.position, sa.String)))), ""),
        sa.func.coalesce(agg(sa.cast(m.position, sa.String)), ""),
    )).where(m.visit_id == Visit.id).scalar_subquery()
    spend = (_joined(d, [e.kind, _cents_text(e.monthly_amount)], e, [e.visit_id == Visit.id]) if expenditure
             else sa.null())
    stmt = (
        sa.select(
            sa.cast(Case.id, sa.String), Case.number, Household.head_name, Case.community_id, members,
            _joined(d, [t(i.member_position), i.kind, _cents_text(i.monthly_amount)], i, [i.visit_id == Visit.id]),
            spend,
            # An asset counted zero times is no asset (as the review's evaluation reads a visit).
            _joined(d, [a.category, t(_cents_text(a.value)), t(a.count), t(a.disqualifying), t(a.disability_mobility)],
                    a, [a.visit_id == Visit.id, a.count > 0]),
        )
        .select_from(Case)
        .join(Visit, Visit.case_id == Case.id).join(Household, Household.id == Case.household_id)
        .where(Case.state.in_(sorted(RECEIVING)), Case.community_id.in_(community_ids), Visit.state == "accepted",
               newest)
    )  # no ORDER BY: sorting rows that carry the folded survey costs more than sorting in Python
    conn = session.connection()
    if d == "sqlite":
        # Pages read through a memory map rather than a read() call each: a third of the
        # query's time at 100,000 households. A setting of this connection only.
        conn.exec_driver_sql("PRAGMA mmap_size = 2147418112")
    else:
        # PostgreSQL would JIT-compile this query (its cost estimate is high) for longer than
        # the compiled code saves; off for this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")
    # Plain rows through the connection: ORM rows for 100,000 households cost seconds.
    return conn.execute(stmt)


def load_households(session: Session, community_ids: list[int], expenditure: bool = True) -> list[HouseholdFacts]:
    if not community_ids:
        return []
    facts = facts_from_rows(household_rows(session, community_ids, expenditure))
    facts.sort(key=operator.attrgetter("number"))
    return facts


def facts_from_rows(rows) -> list[HouseholdFacts]:
    out: list[HouseholdFacts] = []
    append = out.append
    categories = engine.ASSET_CATEGORIES
    for case_id, number, head, community_id, members, income, spend, assets in rows:
        (n, class_a, class_b, ill, students, bad_health, births, grades, others, uncounted,
         positions) = members.split("|") if members else _NO_MEMBERS
        f = HouseholdFacts(case_id, number, head, community_id, int(n), int(class_a), int(class_b),
                           set(others.split(",")) if others else frozenset(),
                           [int(b) for b in births.split(",")] if births else (),
                           [int(g) for g in grades.split(",")] if grades else (), int(ill), int(students))
        append(f)
        if bad_health != "0":
            f.invalid = "members.health"
        if income:
            uncounted = uncounted.split(",") if uncounted else ()
            positions = positions.split(",") if positions else ()
            sums: dict = {}
            for row in income.split(";"):
                pos, kind, cents = row.split("|")
                if not pos or (pos in positions and pos not in uncounted):
                    sums[kind] = sums.get(kind, 0) + int(cents)
                elif pos in uncounted:
                    if not f.other_income_kinds:
                        f.other_income_kinds = set()
                    f.other_income_kinds.add(kind)
                else:
                    f.invalid = "income.member"
            f.income = sums
        if spend:
            sums = {}
            for row in spend.split(";"):
                kind, cents = row.split("|")
                sums[kind] = sums.get(kind, 0) + int(cents)
            f.expenditure = sums
        if assets:
            for row in assets.split(";"):
                category, cents, count, flagged, mobility = row.split("|")
                if flagged in _TRUE:
                    f.flagged += 1
                if category == "vehicle":
                    if cents and mobility not in _TRUE:
                        value = int(cents)
                        if f.vehicle_max is None or value > f.vehicle_max:
                            f.vehicle_max = value
                elif category == "home":
                    f.homes += int(count)
                elif category == "business":
                    f.businesses += 1
                elif category == "financial":
                    if cents:
                        f.financial += int(cents) * int(count)
                elif category == "luxury":
                    f.luxury += 1
                elif category not in categories:
                    f.invalid = "assets.category"
    return out


def _cents(d: Decimal) -> Decimal:
    return d * HUNDRED


class Prepared:
    """One version's settings in the plain shapes the inner loop wants; money compared in
    cents (Decimal x 100, so nothing is rounded on the way)."""

    def __init__(self, settings: PolicySettings, on: dt.date):
        self.settings = settings
        self.counted_kinds = frozenset(settings.counted_income_kinds)
        self.known_kinds = self.counted_kinds | frozenset(settings.excluded_income_kinds)
        self.rigid_kinds = frozenset(settings.rigid_expenditure_kinds) if settings.deduct_rigid_expenditure else None
        self.share_a = settings.class_topup_percent["A"] / HUNDRED
        self.share_b = settings.class_topup_percent["B"] / HUNDRED
        self.classes = frozenset(settings.class_topup_percent)
        h = settings.hardship_amounts
        self.elderly, self.severe_amount = h["elderly"], h["severe_disability"]
        self.ill, self.student = h["serious_illness"], h["student"]
        self.severe = frozenset(settings.severe_disability_grades)
        # Elderly on `on` (engine.age_on >= elderly_age) <=> born on or before this day, as yyyymmdd.
        self.elderly_born_by = (on.year - settings.elderly_age) * 10000 + on.month * 100 + on.day
        self.local = settings.monthly_standard
        self.single = settings.monthly_standard + settings.single_person_increment
        self.near = settings.near_dibao_factor
        dq = settings.disqualifiers
        self.car_limit = None if dq.vehicle_value_limit is None else _cents(dq.vehicle_value_limit)
        self.max_homes = dq.max_homes
        self.business, self.luxury = dq.business_registration, dq.luxury_goods
        self.financial_limit = (None if dq.financial_assets_months is None
                                else _cents(dq.financial_assets_months * settings.monthly_standard))
        r = settings.rounding
        self.quantum, self.mode = r.quantum, r.decimal_mode
        self.requantize = r.quantum.as_tuple().exponent > -2  # engine.round_money shows at least 2 places


def evaluate_facts(settings: PolicySettings | Prepared, f: HouseholdFacts, on: dt.date) -> Outcome:
    """engine.evaluate's eligibility, near-dibao and allowance over pre-summed facts."""
    p = settings if isinstance(settings, Prepared) else Prepared(settings, on)
    if f.invalid:
        return Outcome(False, False, ZERO, f.invalid)
    n = f.counted
    if n == 0:
        return Outcome(False, False, ZERO, "members")
    if f.other_classes and not f.other_classes <= p.classes:
        return Outcome(False, False, ZERO, "members.class")
    known = p.known_kinds
    if f.other_income_kinds and not f.other_income_kinds <= known:
        return Outcome(False, False, ZERO, "income.kind")
    gross = 0
    counted_kinds = p.counted_kinds
    for kind, cents in f.income.items():
        if kind in counted_kinds:
            gross += cents
        elif kind not in known:
            return Outcome(False, False, ZERO, "income.kind")
    income = gross
    if p.rigid_kinds is not None and f.expenditure:
        rigid = sum(c for k, c in f.expenditure.items() if k in p.rigid_kinds)
        income = gross - min(rigid, gross)

    if ((p.car_limit is not None and f.vehicle_max is not None and f.vehicle_max > p.car_limit)
            or (p.max_homes is not None and f.homes > p.max_homes)
            or (p.business and f.businesses)
            or (p.financial_limit is not None and f.financial > p.financial_limit * n)
            or (p.luxury and f.luxury)
            or f.flagged):
        return Outcome(False, False, ZERO)
    standard = p.single if n == 1 else p.local
    limit = standard * n * HUNDRED  # cents
    if not income < limit:
        return Outcome(False, income < p.near * limit, ZERO)
    total = (limit - income) / HUNDRED
    if f.class_a:
        total += standard * p.share_a * f.class_a
    if f.class_b:
        total += standard * p.share_b * f.class_b
    # Plain loops: these lists hold one to five members, where a generator costs more than the work.
    born_by = p.elderly_born_by
    elderly = 0
    for b in f.births:
        if b <= born_by:
            elderly += 1
    if elderly:
        total += p.elderly * elderly
    if f.grades:
        severe_grades = p.severe
        severe = 0
        for g in f.grades:
            if g in severe_grades:
                severe += 1
        if severe:
            total += p.severe_amount * severe
    if f.ill:
        total += p.ill * f.ill
    if f.students:
        total += p.student * f.students
    # engine.round_money, inline: this line runs 200,000 times per preview.
    allowance = (total / p.quantum).to_integral_value(rounding=p.mode) * p.quantum
    if p.requantize:
        allowance = allowance.quantize(CENT)
    return Outcome(True, False, allowance)


# --- which version applies where ------------------------------------------------------


def _settings(version: PolicyVersion | None) -> PolicySettings | None:
    return None if version is None else PolicySettings.from_dict(merge_defaults(version.settings))


def communities_under(session: Session, root: Jurisdiction) -> list[Jurisdiction]:
    from server.cases.access import jurisdiction_subtree

    return session.scalars(
        sa.select(Jurisdiction).where(Jurisdiction.id.in_(jurisdiction_subtree(root.id)),
                                      Jurisdiction.kind == "community").order_by(Jurisdiction.code)).all()


@dataclass
class CommunityImpact:
    community: Jurisdiction
    current: PolicyVersion | None
    applies: bool  # False: a version of the community itself (or a nearer level) still wins
    households: int = 0
    not_evaluated: int = 0
    counts: dict = field(default_factory=lambda: {c: 0 for c in CATEGORIES})
    total_before: Decimal = ZERO
    total_after: Decimal = ZERO
    lists: dict = field(default_factory=lambda: {c: [] for c in CATEGORIES})

    @property
    def change(self) -> Decimal:
        return self.total_after - self.total_before


class Row(NamedTuple):
    case_id: str
    number: str
    head_name: str
    before: Outcome
    after: Outcome

    @property
    def difference(self) -> Decimal:
        return self.after.allowance - self.before.allowance


@dataclass
class Impact:
    on: dt.date
    communities: list[CommunityImpact]
    seconds: float = 0.0

    def total(self, attr: str):
        return sum((getattr(c, attr) for c in self.communities), ZERO if attr.startswith("total") else 0)

    def count(self, category: str) -> int:
        return sum(c.counts[category] for c in self.communities)

    @property
    def change(self) -> Decimal:
        return self.total("total_after") - self.total("total_before")

    def rows(self, community_id: int, category: str) -> list[Row]:
        for c in self.communities:
            if c.community.id == community_id:
                return c.lists.get(category, [])
        return []


def _nearest_version(community: Jurisdiction, on: dt.date,
                     by_place: dict) -> tuple[PolicyVersion | None, Jurisdiction | None]:
    """The version in force on `on` (nearest level first) and the level it came from."""
    for node in community.lineage():
        candidates = [v for v in by_place.get(node.id, ()) if v.effective_from <= on]
        if candidates:
            return max(candidates, key=lambda v: v.effective_from), node
    return None, None


@contextlib.contextmanager
def _no_cyclic_gc():
    """Hundreds of thousands of small objects, none in a cycle: the cyclic collector would
    walk them again and again while they are made (a fifth of the preview at 100,000
    households). Reference counting still frees everything; the collector's previous state
    is restored afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compute(session: Session, place: Jurisdiction, draft: PolicySettings, on: dt.date) -> Impact:
    """The draft, made for `place` and taking effect on `on`, against what would otherwise be
    in force on `on`, for every receiving household of every community under `place`."""
    with _no_cyclic_gc():
        return _compute(session, place, draft, on)


def _compute(session: Session, place: Jurisdiction, draft: PolicySettings, on: dt.date) -> Impact:
    started = time.perf_counter()
    communities = communities_under(session, place)
    if place.kind == "community" and not communities:
        communities = [place]
    lineage_ids = {n.id for c in communities for n in c.lineage()}
    by_place: dict = defaultdict(list)
    for v in session.scalars(sa.select(PolicyVersion).where(PolicyVersion.jurisdiction_id.in_(lineage_ids),
                                                            PolicyVersion.effective_from <= on)):
        by_place[v.jurisdiction_id].append(v)

    result: list[CommunityImpact] = []
    settings_cache: dict = {}
    for community in communities:
        current, level = _nearest_version(community, on, by_place)
        # The draft wins unless a level nearer the community than `place` has its own version.
        nearer = [n.id for n in community.lineage()]
        applies = level is None or nearer.index(level.id) >= nearer.index(place.id)
        if current is not None and current.id not in settings_cache:
            settings_cache[current.id] = _settings(current)
        result.append(CommunityImpact(community=community, current=current, applies=applies))

    index = {c.community.id: c for c in result}
    prepared = {vid: Prepared(st, on) for vid, st in settings_cache.items()}
    draft_prepared = Prepared(draft, on)
    # Expenditure matters only where a version deducts rigid costs from income.
    deducts = draft.deduct_rigid_expenditure or any(st.deduct_rigid_expenditure for st in settings_cache.values())
    facts_list = load_households(session, [c.community.id for c in result if c.applies], expenditure=deducts)
    before_of = {c.community.id: None if c.current is None else prepared[c.current.id] for c in result}
    for facts in facts_list:
        ci = index[facts.community_id]
        current = before_of[facts.community_id]
        before = NOT_IN_FORCE if current is None else evaluate_facts(current, facts, on)
        after = evaluate_facts(draft_prepared, facts, on)
        ci.households += 1
        if before.error or after.error:
            ci.not_evaluated += 1
        ci.total_before += before.allowance
        ci.total_after += after.allowance
        category = None
        if before.eligible and after.eligible:
            if after.allowance > before.allowance:
                category = "gain"
            elif after.allowance < before.allowance:
                category = "lose"
        elif before.eligible:
            category = "ineligible"
        elif after.eligible:
            category = "eligible"
        row = None
        if category:
            row = Row(facts.case_id, facts.number, facts.head_name, before, after)
            ci.counts[category] += 1
            ci.lists[category].append(row)
        near = None
        if after.near_dibao and not before.near_dibao:
            near = "near_dibao_in"
        elif before.near_dibao and not after.near_dibao:
            near = "near_dibao_out"
        if near:
            ci.counts[near] += 1
            ci.lists[near].append(row or Row(facts.case_id, facts.number, facts.head_name, before, after))
    return Impact(on=on, communities=result, seconds=time.perf_counter() - started)


def changes_payments(impact: Impact) -> bool:
    """Whether the draft changes what any household is paid."""
    return any(c.counts["gain"] or c.counts["lose"] or c.counts["ineligible"] or c.counts["eligible"]
               for c in impact.communities)


def household_in(session: Session, case: Case) -> engine.HouseholdIn | None:
    """The engine's input from the case's latest accepted visit (what its allowance was decided on)."""
    visit = session.scalars(sa.select(Visit).where(Visit.case_id == case.id, Visit.state == "accepted")
                               .order_by(Visit.received_at.desc(), Visit.id.desc()).limit(1)).first()
    if visit is None:
        return None
    members = sorted(visit.members, key=lambda m: m.position)
    index = {m.position: i for i, m in enumerate(members)}
    return engine.HouseholdIn(
        members=tuple(engine.MemberIn(name=m.name, birth_date=m.birth_date, relation=m.relation, counted=m.counted,
                                      klass=m.klass, health=m.health, disability_grade=m.disability_grade,
                                      student=bool(m.student)) for m in members),
        income=tuple(engine.IncomeIn(member=None if i.member_position is None else index.get(i.member_position, -1),
                                     kind=i.kind, monthly_amount=i.monthly_amount)
                     for i in sorted(visit.income, key=lambda i: i.id)),
        assets=tuple(engine.AssetIn(category=a.category, value=a.value, count=a.count, disqualifying=a.disqualifying,
                                    disability_mobility=a.disability_mobility, description=a.description)
                     for a in sorted(visit.assets, key=lambda a: (a.position, a.id)) if a.count > 0),
        expenditure=tuple(engine.ExpenditureIn(kind=e.kind, monthly_amount=e.monthly_amount)
                          for e in sorted(visit.expenditure, key=lambda e: e.id)),
    )
