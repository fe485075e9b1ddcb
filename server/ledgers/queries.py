"""Reads for the ledgers and the dashboard. Never writes.

Money (DESIGN "Money"): who is paid in a month is decided by the Decision rows, each with
the month it takes effect from (`payment_from`): the latest approval, continuation,
adjustment or stop that has taken effect by the month's first day says what the household
gets that month. A case with no such decision at all (made before decisions were kept)
falls back on its own `allowance` and `payment_from`.

Every read here is a handful of set-based statements whatever the number of households:
a page of rows is fetched with LIMIT, its details (members, the decision's computation)
in one statement for the whole page, and the totals are aggregates computed by the
database, the funding shares included (see `_share_sums`).
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from server.cases.lifecycle import RECEIVING, overdue_clauses
from server.cases.models import STATES, Case, CaseTransition, Decision, Household, Member
from server.core.security import mask_id_number
from server.core.workdays import Calendar
from server.ledgers.access import Scope
from server.policy.queries import settings_in_force
from server.policy.settings import PolicySettings, PolicySettingsError, Rounding

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

# Decisions that say what a household is paid from their month on (a rejection pays nothing
# and has no month).
PAYING_OUTCOMES = ("approved", "continued", "adjusted", "stopped")
# Cases that have been paid at some time: receiving now, being re-checked (paid meanwhile),
# or stopped (paid in the months before the stop took effect).
PAID_STATES = ("active", "adjusted", "recheck", "stopped")
# The ledger of active households: receiving now, or paid while their re-check runs.
LEDGER_STATES = ("active", "adjusted", "recheck")
MAX_PER_PAGE = 500


# --- small pure helpers ------------------------------------------------------------------


def mask_id(id_number: str | None) -> str:
    """A national ID as every export shows it: the region code and the last four kept,
    the birth date and sequence starred (330102********1234); the one rule of
    server.core.security, so pages, exports and logs agree."""
    return mask_id_number(id_number)


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> dt.date:
    """'2026-11' -> 2026-11-01; ValueError otherwise."""
    text = (text or "").strip()
    if len(text) != 7 or text[4] != "-":
        raise ValueError(text)
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12 or year < 1900:
        raise ValueError(text)
    return dt.date(year, month, 1)


def _round(value: Decimal, rounding: Rounding) -> Decimal:
    units = (value / rounding.quantum).to_integral_value(rounding=rounding.decimal_mode)
    return units * rounding.quantum


def split_amount(amount: Decimal, split: Mapping[str, Decimal], rounding: Rounding) -> dict[str, Decimal]:
    """`amount` shared per the policy's funding split (seed 000: 60 % municipal, 40 %
    district). Each share but the last is the difference of running totals rounded per the
    policy, the last takes the rest: no share is negative and the shares add up to the
    amount exactly. With the default rounding (0.01, half up) this is the engine's
    `split_funding`, so the list shows what the decision showed."""
    out: dict[str, Decimal] = {}
    names = list(split)
    running, allocated = Decimal(0), ZERO
    for name in names[:-1]:
        running += split[name]
        target = _round(amount * running / HUNDRED, rounding)
        out[name] = target - allocated
        allocated = target
    out[names[-1]] = amount - allocated
    return out


@dataclass(frozen=True)
class Funding:
    """A policy's funding split and rounding: what the shares of an amount are."""

    split: tuple[tuple[str, Decimal], ...]
    rounding: Rounding

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.split]

    def shares(self, amount: Decimal) -> dict[str, Decimal]:
        return split_amount(amount, dict(self.split), self.rounding)


def funding_by_community(session: Session, community_ids: tuple[int, ...], on: dt.date) -> dict[int, Funding | None]:
    """The funding split in force on `on` for each community (a community's own policy
    wins over its county's), largest share first; None where no policy is in force."""
    out: dict[int, Funding | None] = {}
    for cid in community_ids:  # one statement per community (a county has a few dozen), not per row
        doc = settings_in_force(session, cid, [on])[on]
        if doc is None:
            out[cid] = None
            continue
        try:
            settings = PolicySettings.from_dict(doc)
        except PolicySettingsError:
            out[cid] = None
            continue
        # Largest share first (ties by name): PostgreSQL's JSONB keeps no key order, so the
        # document's order cannot decide which share takes the rounding remainder.
        split = sorted(settings.funding_split.items(), key=lambda kv: (-kv[1], kv[0]))
        out[cid] = Funding(tuple(split), settings.rounding)
    return out


def _share_names(fundings) -> list[str]:
    names: list[str] = []
    for f in fundings:
        if f is not None:
            names += [n for n in f.names if n not in names]
    return names


def _custom_plans(session: Session) -> None:
    """PostgreSQL: plan the ledgers' statements for their actual values every time. The
    driver prepares a statement run often, and after a few runs PostgreSQL may keep one
    generic plan for any month and scope; for these windows over the decisions that plan
    was measured at minutes instead of half a second. For this transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


# --- which decision is in effect ---------------------------------------------------------

def _decisions_by_case(scope: sa.ColumnElement[bool], month: dt.date) -> sa.Subquery:
    """One row per case in scope that has a paying decision: the decision in effect on
    `month`'s first day (payment_from on or before it; the latest such, the later decided
    first) if there is one, else its first future one (`effective` false), and whether a
    stop takes effect after the month. One window over the decisions: no correlated
    subquery, which PostgreSQL may run once per row."""
    effective = sa.case((Decision.payment_from <= month, 1), else_=0)
    ranked = (sa.select(Decision.id.label("decision_id"), Decision.case_id.label("case_id"),
                        Decision.outcome.label("outcome"), Decision.allowance.label("allowance"),
                        Decision.payment_from.label("payment_from"), effective.label("effective"),
                        sa.func.row_number().over(
                            partition_by=Decision.case_id,
                            order_by=(effective.desc(), Decision.payment_from.desc(), Decision.decision_date.desc(),
                                      Decision.id.desc())).label("rn"),
                        sa.func.max(sa.case((sa.and_(Decision.outcome == "stopped", Decision.payment_from > month), 1),
                                            else_=0)).over(partition_by=Decision.case_id).label("stop_later"))
              .join(Case, Case.id == Decision.case_id)
              .where(scope, Case.state.in_(PAID_STATES), Decision.outcome.in_(PAYING_OUTCOMES),
                     Decision.payment_from.is_not(None))
              .subquery("ranked"))
    return sa.select(ranked).where(ranked.c.rn == 1).subquery("in_effect")


def _paid_in(scope: sa.ColumnElement[bool], month: dt.date) -> sa.Select:
    """The cases paid in `month` (its first day): the paying decision in effect then is
    not a stop and pays something, and a stopped case is paid only before its stop took
    effect. A case with no paying decision at all is paid its own allowance from its own
    payment_from."""
    eff = _decisions_by_case(scope, month)
    has = eff.c.decision_id.is_not(None)
    amount = sa.case((has, eff.c.allowance), else_=Case.allowance)
    return (sa.select(Case.id.label("case_id"), Case.number.label("number"), Case.community_id.label("community_id"),
                      Case.household_id.label("household_id"), Case.state.label("state"),
                      eff.c.decision_id.label("decision_id"), amount.label("amount"),
                      sa.case((has, eff.c.payment_from), else_=Case.payment_from).label("payment_from"))
            .select_from(Case)
            .outerjoin(eff, eff.c.case_id == Case.id)
            .where(scope, Case.state.in_(PAID_STATES),
                   sa.or_(sa.and_(has, eff.c.effective == 1, eff.c.outcome != "stopped", eff.c.allowance > 0,
                                  sa.or_(Case.state != "stopped", eff.c.stop_later == 1)),
                          sa.and_(~has, Case.state != "stopped", Case.payment_from <= month, Case.allowance > 0))))


# --- funding shares summed exactly in SQL -------------------------------------------------


def _rounded_units(cents: sa.ColumnElement, ratio: Fraction, mode: str) -> sa.ColumnElement:
    """round(cents x ratio) in whole units, with the policy's rounding mode, in integer
    arithmetic (exact on both databases; SQLite keeps money as REAL, so no decimals)."""
    p, q = ratio.numerator, ratio.denominator
    n = cents * p
    if mode == "down":
        return n // q
    if mode == "up":
        return (n + (q - 1)) // q
    t = n * 2 + q
    half_up = t // (2 * q)
    if mode == "half_up":
        return half_up
    # half_even: on an exact tie (t divisible by 2q) an odd result goes one down.
    return half_up - sa.case((sa.and_(t % (2 * q) == 0, half_up % 2 == 1), 1), else_=0)


def _boundaries(funding: Funding, cents: sa.ColumnElement) -> list[sa.ColumnElement]:
    """Per row, each boundary between shares: the running total rounded per policy, in
    units of the quantum. A sum's shares are differences of the sums of these, exactly
    as each row's shares are (split_amount), so the totals equal the sums of the rows."""
    quantum = Fraction(funding.rounding.quantum)
    exprs, running = [], Fraction(0)
    for _name, percent in funding.split[:-1]:
        running += Fraction(percent)
        ratio = running / 100 / (quantum * 100)  # cents x ratio = units of the quantum
        exprs.append(_rounded_units(cents, ratio, funding.rounding.mode))
    return exprs


def _cents(amount: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(sa.func.round(amount * 100), sa.BigInteger)


def _cents_sum(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


@dataclass
class Totals:
    households: int = 0
    persons: int = 0
    base: Decimal = ZERO  # filled by add_totals (exports); the pages show no base total
    topups: Decimal = ZERO  # likewise
    amount: Decimal = ZERO
    shares: dict[str, Decimal] = field(default_factory=dict)


class _TotalColumns:
    """The totals of a whole list as aggregates: plain, or as windows over the list, so
    that one statement gives a page of rows and the totals of all of them."""

    def __init__(self, sub: sa.Subquery, fundings: dict[int, Funding | None], persons: sa.ColumnElement,
                 extra: tuple[sa.ColumnElement, ...] = ()):
        by_funding: dict[Funding, list[int]] = {}
        for cid, funding in fundings.items():
            if funding is not None:
                by_funding.setdefault(funding, []).append(cid)
        self.groups = list(by_funding.items())
        cents = _cents(sub.c.amount)
        self.parts: list[sa.ColumnElement] = [sa.literal(1), sub.c.amount, persons, *extra]
        self.n_extra = len(extra)
        for funding, cids in self.groups:
            inside = sub.c.community_id.in_(cids)
            self.parts.append(sa.case((inside, sub.c.amount), else_=0))
            self.parts += [sa.case((inside, b), else_=0) for b in _boundaries(funding, cents)]

    def aggregates(self, window: bool) -> list[sa.ColumnElement]:
        return [(sa.func.sum(part).over() if window else sa.func.coalesce(sa.func.sum(part), 0)).label(f"tot_{i}")
                for i, part in enumerate(self.parts)]

    def read(self, values, share_names: list[str]) -> tuple[Totals, list]:
        """The Totals, and the values of the extra aggregates."""
        values = list(values)
        n, amount, persons = values[:3]
        extra = values[3:3 + self.n_extra]
        totals = Totals(households=int(n or 0), persons=int(persons or 0), amount=_cents_sum(amount),
                        shares={name: ZERO for name in share_names})
        i = 3 + self.n_extra
        for funding, _cids in self.groups:
            group_amount = _cents_sum(values[i])
            i += 1
            previous = ZERO
            k = len(funding.split) - 1
            for (name, _), units in zip(funding.split[:-1], values[i:i + k]):
                running = Decimal(int(units or 0)) * funding.rounding.quantum
                totals.shares[name] += running - previous
                previous = running
            i += k
            totals.shares[funding.split[-1][0]] += group_amount - previous
        return totals, extra


def _sized(session: Session, select_: sa.Select, name: str) -> sa.Subquery:
    """`select_` with each household's number of members as `persons`: on SQLite a count
    per row from the members' household index (cheap in process), on PostgreSQL a join to
    the counts of all households (one hash join instead of a subplan per row)."""
    base = select_.subquery(f"{name}_base")
    if session.get_bind().dialect.name == "postgresql":
        sizes = (sa.select(Member.household_id, sa.func.count().label("n")).group_by(Member.household_id)
                 .subquery("sizes"))
        return (sa.select(base, sa.func.coalesce(sizes.c.n, 0).label("persons"))
                .outerjoin(sizes, sizes.c.household_id == base.c.household_id).subquery(name))
    persons = (sa.select(sa.func.count()).select_from(Member).where(Member.household_id == base.c.household_id)
               .scalar_subquery())
    return sa.select(base, persons.label("persons")).subquery(name)


def _page_with_totals(session: Session, sub: sa.Subquery, totals: _TotalColumns, page: int,
                      per_page: int) -> tuple[list, list]:
    """A page of `sub` in case-number order and the totals over all of it, in one
    statement (the totals as windows over the whole list); a page past the end asks for
    the totals alone. Returns (rows, total values)."""
    width = len(totals.parts)
    rows = session.execute(sa.select(sub, *totals.aggregates(window=True)).order_by(sub.c.number)
                           .limit(per_page).offset((page - 1) * per_page)).all()
    if rows:
        return [_Row(sub, r[:-width]) for r in rows], list(rows[0][-width:])
    return [], list(session.execute(sa.select(*totals.aggregates(window=False)).select_from(sub)).one())


class _Row:
    """A row of `sub` read by column name."""

    __slots__ = ("_values", "_index")

    def __init__(self, sub: sa.Subquery, values):
        self._index = {c.name: i for i, c in enumerate(sub.c)}
        self._values = values

    def __getattr__(self, name):
        try:
            return self._values[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None


# --- the monthly payment list --------------------------------------------------------------


@dataclass
class PaymentRow:
    case_id: uuid.UUID
    number: str
    community_id: int
    head_name: str
    id_masked: str
    size: int
    class_a: int
    class_b: int
    base: Decimal | None
    topups: Decimal | None
    topup_codes: list[str]
    amount: Decimal
    shares: dict[str, Decimal]
    payment_from: dt.date | None
    state: str


@dataclass
class PaymentList:
    month: dt.date
    share_names: list[str]
    totals: Totals
    rows: list[PaymentRow]
    page: int
    per_page: int
    no_policy: list[int]  # communities with no policy in force that month: no shares shown

    @property
    def pages(self) -> int:
        return max(1, -(-self.totals.households // self.per_page))


@dataclass
class _Details:
    size: int = 0
    class_a: int = 0
    class_b: int = 0
    head_id: str | None = None
    head_name: str = ""


def _member_details(session: Session, household_ids: list[int]) -> dict[int, _Details]:
    """Size, classes, the head's name and ID number of each household, in one statement."""
    if not household_ids:
        return {}
    head_id = sa.func.coalesce(
        sa.func.max(sa.case((Member.relation == "self", Member.id_number))),
        sa.func.max(sa.case((Member.position == 0, Member.id_number))),
        sa.func.min(Member.id_number))
    rows = session.execute(
        sa.select(Household.id, Household.head_name, sa.func.count(Member.id),
                  sa.func.coalesce(sa.func.sum(sa.case((Member.klass == "A", 1), else_=0)), 0),
                  sa.func.coalesce(sa.func.sum(sa.case((Member.klass == "B", 1), else_=0)), 0),
                  head_id)
        .outerjoin(Member, Member.household_id == Household.id)
        .where(Household.id.in_(set(household_ids)))
        .group_by(Household.id, Household.head_name)).all()
    return {hid: _Details(int(n), int(a), int(b), head, name) for hid, name, n, a, b, head in rows}


def _decision_details(session: Session, decision_ids: list[int]) -> dict[int, tuple[Decimal | None, list]]:
    """Base allowance and top-ups of each decision's computation, in one statement."""
    ids = {i for i in decision_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(sa.select(Decision.id, Decision.evaluation["base_allowance"].as_string(),
                                     Decision.evaluation["topups"])
                           .where(Decision.id.in_(ids))).all()
    out = {}
    for did, base, topups in rows:
        try:
            base = Decimal(base) if base not in (None, "") else None
        except ArithmeticError:
            base = None
        out[did] = (base, topups if isinstance(topups, list) else None)
    return out


def _topups(items: list | None) -> tuple[Decimal | None, list[str]]:
    if items is None:
        return None, []
    total, codes = ZERO, []
    for item in items:
        try:
            total += Decimal(str(item.get("amount", "0")))
        except (ArithmeticError, AttributeError):
            continue
        code = item.get("code")
        if code and code not in codes:
            codes.append(code)
    return total, codes


def _payment_rows(session: Session, raw: list, fundings: dict[int, Funding | None]) -> list[PaymentRow]:
    members = _member_details(session, [r.household_id for r in raw])
    decisions = _decision_details(session, [r.decision_id for r in raw])
    out = []
    for r in raw:
        m = members.get(r.household_id, _Details())
        base, items = decisions.get(r.decision_id, (None, None))
        topups, codes = _topups(items)
        amount = _cents_sum(r.amount)
        funding = fundings.get(r.community_id)
        out.append(PaymentRow(
            case_id=r.case_id, number=r.number, community_id=r.community_id, head_name=m.head_name,
            id_masked=mask_id(m.head_id), size=m.size, class_a=m.class_a, class_b=m.class_b,
            base=base, topups=topups, topup_codes=codes, amount=amount,
            shares=funding.shares(amount) if funding else {}, payment_from=_as_date(r.payment_from)
            if r.payment_from else None, state=r.state))
    return out


def payment_totals(session: Session, scope: Scope, month: dt.date) -> Totals:
    """The month's totals alone: households, persons, amount and the funding shares."""
    _custom_plans(session)
    month = first_of_month(month)
    fundings = funding_by_community(session, scope.ids, month)
    paid = _sized(session, _paid_in(scope.clause(), month), "paid")
    totals = _TotalColumns(paid, fundings, paid.c.persons)
    values = session.execute(sa.select(*totals.aggregates(window=False)).select_from(paid)).one()
    return totals.read(values, _share_names(fundings.values()))[0]


def payment_list(session: Session, scope: Scope, month: dt.date, page: int = 1, per_page: int = 50) -> PaymentList:
    """The households paid in `month` (its first day): a page of them in case-number
    order, and the totals of all of them (households, persons, amount, shares)."""
    _custom_plans(session)
    month = first_of_month(month)
    page = max(1, page)
    fundings = funding_by_community(session, scope.ids, month)
    share_names = _share_names(fundings.values())
    paid = _sized(session, _paid_in(scope.clause(), month), "paid")
    totals = _TotalColumns(paid, fundings, paid.c.persons)
    raw, values = _page_with_totals(session, paid, totals, page, per_page)
    return PaymentList(month=month, share_names=share_names, totals=totals.read(values, share_names)[0],
                       rows=_payment_rows(session, raw, fundings), page=page, per_page=per_page,
                       no_policy=sorted(cid for cid, f in fundings.items() if f is None))


def payment_rows_all(session: Session, scope: Scope, month: dt.date, batch: int = 2000
                     ) -> tuple[list[str], Iterator[list[PaymentRow]]]:
    """Every row of the month's list, in batches (for the exports): the share names, and
    an iterator of batches, each with its details fetched in two statements."""
    _custom_plans(session)
    month = first_of_month(month)
    fundings = funding_by_community(session, scope.ids, month)
    paid = _paid_in(scope.clause(), month).subquery("paid")

    def batches():
        for chunk in _chunks(session, sa.select(paid).order_by(paid.c.number), batch):
            yield _payment_rows(session, chunk, fundings)

    return _share_names(fundings.values()), batches()


def _chunks(session: Session, query: sa.Select, batch: int) -> Iterator[list]:
    """The query's rows in batches from one statement (a server-side cursor on
    PostgreSQL); the details of each batch are fetched meanwhile on the same connection."""
    result = session.execute(query, execution_options={"yield_per": batch})
    for partition in result.partitions():
        yield list(partition)


def add_totals(totals: Totals, rows: list) -> None:
    """Add `rows` (PaymentRow or LedgerRow) into `totals`, as an export streams them."""
    for r in rows:
        totals.households += 1
        totals.persons += r.size
        if r.amount is not None:
            totals.amount += r.amount
        if getattr(r, "base", None) is not None:
            totals.base += r.base
        if r.topups is not None:
            totals.topups += r.topups
        for name, value in getattr(r, "shares", {}).items():
            totals.shares[name] = totals.shares.get(name, ZERO) + value


# --- the ledger of active households -------------------------------------------------------


@dataclass
class LedgerRow:
    case_id: uuid.UUID
    number: str
    community_id: int
    head_name: str
    id_masked: str
    size: int
    class_a: int
    class_b: int
    topups: Decimal | None
    topup_codes: list[str]
    amount: Decimal | None
    since: dt.date | None
    next_recheck_due: dt.date | None
    stability: str | None
    state: str


@dataclass
class Ledger:
    totals: Totals
    rows: list[LedgerRow]
    page: int
    per_page: int
    recheck_overdue: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.totals.households // self.per_page))


def _ledger_cases(scope: sa.ColumnElement[bool]) -> sa.Select:
    """The active households: receiving, or paid while their re-check runs, with the
    allowance and dates their latest decision left on the case."""
    return (sa.select(Case.id.label("case_id"), Case.number.label("number"), Case.community_id.label("community_id"),
                      Case.household_id.label("household_id"), Case.state.label("state"),
                      Case.allowance.label("amount"), Case.next_recheck_due.label("next_recheck_due"),
                      Case.stability.label("stability"), Case.payment_from.label("case_payment_from"))
            .where(scope, Case.state.in_(LEDGER_STATES)))


def _latest_decisions(session: Session, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    """For each case: since when it is paid (the month its approval took effect) and the
    top-ups of its latest paying decision, in one statement."""
    if not case_ids:
        return {}
    ranked = (sa.select(Decision.case_id.label("case_id"), Decision.evaluation["topups"].label("topups"),
                        sa.func.row_number().over(partition_by=Decision.case_id,
                                                  order_by=(Decision.decision_date.desc(), Decision.id.desc()))
                        .label("rn"),
                        sa.func.min(sa.case((Decision.outcome == "approved", Decision.payment_from)))
                        .over(partition_by=Decision.case_id).label("since"))
              .where(Decision.case_id.in_(set(case_ids)), Decision.outcome.in_(PAYING_OUTCOMES))
              .subquery("ranked"))
    rows = session.execute(sa.select(ranked.c.case_id, ranked.c.since, ranked.c.topups).where(ranked.c.rn == 1))
    return {cid: (since, topups if isinstance(topups, list) else None) for cid, since, topups in rows}


def _ledger_rows(session: Session, raw: list) -> list[LedgerRow]:
    members = _member_details(session, [r.household_id for r in raw])
    latest = _latest_decisions(session, [r.case_id for r in raw])
    out = []
    for r in raw:
        m = members.get(r.household_id, _Details())
        since, items = latest.get(r.case_id, (None, None))
        topups, codes = _topups(items)
        out.append(LedgerRow(
            case_id=r.case_id, number=r.number, community_id=r.community_id, head_name=m.head_name,
            id_masked=mask_id(m.head_id), size=m.size, class_a=m.class_a, class_b=m.class_b,
            topups=topups, topup_codes=codes, amount=_cents_sum(r.amount) if r.amount is not None else None,
            since=_as_date(since) if since else r.case_payment_from, next_recheck_due=r.next_recheck_due,
            stability=r.stability, state=r.state))
    return out


def ledger(session: Session, scope: Scope, today: dt.date, page: int = 1, per_page: int = 50) -> Ledger:
    """A page of the active households in case-number order, and the totals of all of
    them (households, persons, amount, re-checks overdue)."""
    _custom_plans(session)
    page = max(1, page)
    cases = _sized(session, _ledger_cases(scope.clause()), "ledger")
    overdue = sa.case((sa.and_(cases.c.state.in_(sorted(RECEIVING)), cases.c.next_recheck_due < today), 1), else_=0)
    totals = _TotalColumns(cases, {}, cases.c.persons, extra=(overdue,))
    raw, values = _page_with_totals(session, cases, totals, page, per_page)
    sums, (n_overdue,) = totals.read(values, [])
    return Ledger(totals=sums, rows=_ledger_rows(session, raw), page=page, per_page=per_page,
                  recheck_overdue=int(n_overdue or 0))


def ledger_rows_all(session: Session, scope: Scope, batch: int = 2000) -> Iterator[list[LedgerRow]]:
    _custom_plans(session)
    cases = _ledger_cases(scope.clause()).subquery("ledger")
    for chunk in _chunks(session, sa.select(cases).order_by(cases.c.number), batch):
        yield _ledger_rows(session, chunk)


# --- visits as points ------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitFilter:
    since: dt.date | None = None  # visit started on or after (local day)
    until: dt.date | None = None  # … on or before
    kind: str | None = None


def visit_points(session: Session, scope: Scope, f: VisitFilter, tz: str, batch: int = 5000) -> Iterator[tuple]:
    """(visit id, lon, lat, case number, kind, started_at, visit state, case state, open
    flags) of every located visit in scope, in batches keyset-paged on the visit id."""
    _custom_plans(session)
    from server.review.models import Flag
    from server.visits.models import Visit

    zone = ZoneInfo(tz)
    flags = (sa.select(Flag.visit_id, sa.func.count().label("n"))
             .where(Flag.dismissed_at.is_(None), Flag.visit_id.is_not(None)).group_by(Flag.visit_id)
             .subquery("visit_flags"))
    conditions = [scope.clause(), Visit.location.is_not(None)]
    if f.since is not None:
        conditions.append(Visit.started_at >= dt.datetime.combine(f.since, dt.time(), zone))
    if f.until is not None:
        conditions.append(Visit.started_at < dt.datetime.combine(f.until + dt.timedelta(days=1), dt.time(), zone))
    if f.kind:
        conditions.append(Visit.kind == f.kind)
    last = None
    while True:
        q = (sa.select(Visit.id, sa.func.ST_X(Visit.location), sa.func.ST_Y(Visit.location), Case.number,
                       Visit.kind, Visit.started_at, Visit.state, Case.state, sa.func.coalesce(flags.c.n, 0))
             .join(Case, Case.id == Visit.case_id)
             .outerjoin(flags, flags.c.visit_id == Visit.id)
             .where(*conditions))
        if last is not None:
            q = q.where(Visit.id > last)
        rows = session.execute(q.order_by(Visit.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


# --- the dashboard -----------------------------------------------------------------------------

# The steps of a case whose time the dashboard averages: each state a case passes through
# on its way and is moved on from by someone (the end states are not steps).
STEP_STATES = ("application", "accepted", "investigating", "submitted", "in_review", "returned", "panel",
               "publicity", "objection", "county_review", "approved", "recheck")


@dataclass
class StepTime:
    state: str
    count: int  # completed stays in the period
    average_wd: Decimal  # working days, one decimal


@dataclass
class MonthCount:
    month: dt.date
    approved: int
    stopped: int


@dataclass
class Dashboard:
    today: dt.date
    since: dt.date  # first day of the 12-month window
    by_state: dict[str, int]
    total: int
    steps: list[StepTime]
    overdue: dict[str, int]
    months: list[MonthCount]


def local_day_sql(column, dialect: str, tz: str) -> sa.ColumnElement:
    """The local calendar day of a UTC timestamp column, in SQL."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(tz, column), sa.Date)
    # SQLite keeps naive UTC text. Its date() takes a fixed offset only: the zone's offset
    # now (Asia/Shanghai has had no daylight saving since 1991).
    offset = dt.datetime.now(ZoneInfo(tz)).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return sa.func.date(column, f"{minutes:+d} minutes")


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class WorkdayIndex:
    """Working days as ordinals: index(d) - index(e) is the number of working days after
    e up to and including d, as Calendar.working_days_between counts them."""

    def __init__(self, calendar: Calendar, first: dt.date, last: dt.date):
        self.first = first
        self.ordinals: list[int] = []
        n, day = 0, first
        while day <= last:
            n += calendar.is_working_day(day)
            self.ordinals.append(n)
            day += dt.timedelta(days=1)

    def __call__(self, day: dt.date) -> int:
        return self.ordinals[(day - self.first).days]


def step_times(session: Session, scope: Scope, calendar: Calendar, tz: str) -> list[StepTime]:
    """The average working days a case spent in each step, over every completed stay on
    record: a stay starts with the transition into the state (or the application) and
    ends with the next transition out of it.

    No pairing of transitions is needed: per state, the sum over its completed stays of
    (leaving day - entering day) in working-day ordinals is the sum over the transitions
    out of it, less those into it, plus the transitions into it that are still open (each
    case's last one, which put it in its present state). Each sum is a GROUP BY (state,
    local day), so the database scans the transitions once and Python counts working days
    for a few thousand groups."""
    dialect = session.get_bind().dialect.name
    in_scope = sa.select(Case.id).where(scope.clause())
    t = CaseTransition
    day = local_day_sql(t.at, dialect, tz)
    moves = session.execute(sa.select(t.from_state, t.to_state, day, sa.func.count())
                            .where(t.case_id.in_(in_scope)).group_by(t.from_state, t.to_state, day)).all()
    # Each case's open stay: its state, entered when its last transition moved it there
    # (state_changed_at, which the lifecycle sets with that transition). Cases that never
    # moved entered no state by a transition and are left out, as they are of `moves`.
    changed_day = local_day_sql(Case.state_changed_at, dialect, tz)
    open_stays = session.execute(sa.select(Case.state, changed_day, sa.func.count())
                                 .where(scope.clause(), sa.exists().where(t.case_id == Case.id))
                                 .group_by(Case.state, changed_day)).all()
    applied_day = local_day_sql(Case.applied_at, dialect, tz)
    applied = session.execute(sa.select(applied_day, sa.func.count())
                              .where(scope.clause(), sa.exists().where(t.case_id == Case.id,
                                                                        t.from_state == "application"))
                              .group_by(applied_day)).all()
    days = [_as_date(d) for *_, d, _n in moves] + [_as_date(d) for _s, d, _n in open_stays] + \
        [_as_date(d) for d, _n in applied]
    if not days:
        return []
    index = WorkdayIndex(calendar, min(days), max(days))
    count: dict[str, int] = {}
    total: dict[str, int] = {}
    for frm, to, d, n in moves:
        o = index(_as_date(d)) * int(n)
        count[frm] = count.get(frm, 0) + int(n)
        total[frm] = total.get(frm, 0) + o
        total[to] = total.get(to, 0) - o
    for to, d, n in open_stays:
        total[to] = total.get(to, 0) + index(_as_date(d)) * int(n)
    for d, n in applied:
        total["application"] = total.get("application", 0) - index(_as_date(d)) * int(n)
    return [StepTime(state, count[state], (Decimal(total[state]) / count[state]).quantize(Decimal("0.1")))
            for state in STEP_STATES if count.get(state)]


def dashboard(session: Session, scope: Scope, today: dt.date, calendar: Calendar, tz: str) -> Dashboard:
    _custom_plans(session)
    clause = scope.clause()
    rows = session.execute(sa.select(Case.state, sa.func.count()).where(clause).group_by(Case.state)).all()
    by_state = {state: 0 for state in STATES}
    by_state.update({state: int(n) for state, n in rows})
    clauses = overdue_clauses(today)
    overdue_row = session.execute(
        sa.select(*[sa.func.coalesce(sa.func.sum(sa.case((c, 1), else_=0)), 0) for c in clauses.values()])
        .where(clause)).one()
    overdue = dict(zip(clauses, (int(v) for v in overdue_row)))
    this_month = first_of_month(today)
    since = add_months(this_month, -11)
    counted = session.execute(
        sa.select(Decision.outcome, Decision.decision_date, sa.func.count())
        .join(Case, Case.id == Decision.case_id)
        .where(clause, Decision.outcome.in_(("approved", "stopped")), Decision.decision_date >= since,
               Decision.decision_date <= today)
        .group_by(Decision.outcome, Decision.decision_date)).all()
    months = {add_months(since, i): MonthCount(add_months(since, i), 0, 0) for i in range(12)}
    for outcome, day, n in counted:
        bucket = months[first_of_month(_as_date(day))]
        if outcome == "approved":
            bucket.approved += int(n)
        else:
            bucket.stopped += int(n)
    return Dashboard(today=today, since=since, by_state=by_state, total=sum(by_state.values()),
                     steps=step_times(session, scope, calendar, tz), overdue=overdue,
                     months=list(months.values()))
