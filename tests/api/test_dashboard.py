"""The dashboard (county, and an office for its community): cases per state, average
working days per step from the case transitions (counted with the working-day calendar),
overdue cases by kind, approvals and stops per month for the last 12 months — each number
equal to the same count made here independently, in Python, from the rows; drawn as SVG
bars with the numbers in a table, and no script in the page."""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.cases.labels import OVERDUE, STATES
from server.cases.lifecycle import local_today, overdue
from server.cases.models import Case, CaseTransition, Decision
from server.core.models import CalendarDay
from server.core.workdays import Calendar
from server.ledgers import access, queries
from tests.api.test_ledgers import county_user, office_l, other_community, other_office  # noqa: F401

TZ = ZoneInfo("Asia/Shanghai")
PATH = ["application", "accepted", "investigating", "submitted", "in_review", "panel", "publicity", "county_review",
        "approved", "active"]


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), TZ)


def walk(db_session, case, start: dt.date, gaps: list[int], *, late_hour: int = 10) -> None:
    """Transitions along the lifecycle, each `gap` calendar days after the one before."""
    case.applied_at = at(start, late_hour)
    day = start
    for frm, to, gap in zip(PATH, PATH[1:], gaps):
        day += dt.timedelta(days=gap)
        db_session.add(CaseTransition(case_id=case.id, from_state=frm, to_state=to, at=at(day, late_hour)))
    case.state = PATH[len(gaps)]
    case.state_changed_at = at(day, late_hour)  # as the lifecycle sets it with the last transition
    db_session.flush()


def expected_steps(db_session, cases) -> dict[str, Decimal]:
    """Per state, the mean working days from entering it to leaving it, pairing each
    transition with the one before it, the plain way."""
    cal = Calendar.load(db_session)
    totals, counts = defaultdict(int), Counter()
    for case in cases:
        rows = db_session.scalars(sa.select(CaseTransition).where(CaseTransition.case_id == case.id)
                                  .order_by(CaseTransition.at, CaseTransition.id)).all()
        entered = case.applied_at
        for t in rows:
            totals[t.from_state] += cal.working_days_between(entered.astimezone(TZ).date(), t.at.astimezone(TZ).date())
            counts[t.from_state] += 1
            entered = t.at
    return {s: (Decimal(totals[s]) / counts[s]).quantize(Decimal("0.1"), ROUND_HALF_UP) for s in counts}


def world(db_session, case_factory, other_community, county_user):
    today = local_today()
    # A public holiday in the middle of the steps: the calendar, not Monday–Friday alone, counts.
    db_session.add(CalendarDay(day=dt.date(2026, 3, 4), working=False, name="测试假日"))
    monday = dt.date(2026, 3, 2)
    walked = []
    for gaps in ([2, 2, 3, 1, 7], [1, 1, 1, 1, 1, 8, 4, 1], [3, 4], [5, 9, 1, 1, 2, 1, 1, 1, 1]):
        case = case_factory(state="application")
        walk(db_session, case, monday, gaps)
        walked.append(case)
    # Early in the morning in Beijing is still the previous day in UTC: the local day counts.
    late = case_factory(state="application")
    walk(db_session, late, dt.date(2026, 3, 6), [3, 1], late_hour=7)
    walked.append(late)
    # Deadlines: missed and not missed, of every kind.
    past, future = today - dt.timedelta(days=3), today + dt.timedelta(days=3)
    others = [
        case_factory(state="accepted", investigation_due=past, case_due=future),
        case_factory(state="accepted", investigation_due=future, case_due=past),
        case_factory(state="county_review", decision_due=past, case_due=past),
        case_factory(state="county_review", decision_due=future),
        case_factory(state="active", next_recheck_due=past, allowance=Decimal("900.00"), payment_from=past),
        case_factory(state="adjusted", next_recheck_due=future, allowance=Decimal("900.00"), payment_from=past),
        case_factory(state="rejected", case_due=past),
        case_factory(state="recheck", next_recheck_due=past),
    ]
    # Approvals and stops this month, months ago, and over a year ago (not shown).
    month = today.replace(day=1)
    decided = []
    for outcome, day in (("approved", today), ("approved", month), ("approved", month - dt.timedelta(days=1)),
                         ("stopped", month - dt.timedelta(days=40)), ("approved", today - dt.timedelta(days=300)),
                         ("approved", today - dt.timedelta(days=400)), ("stopped", today - dt.timedelta(days=800)),
                         ("rejected", today)):
        case = case_factory(state="active")
        db_session.add(Decision(case_id=case.id, outcome=outcome, reason="" if outcome == "approved" else "理由",
                                decided_by_id=county_user.id, decision_date=day, allowance=Decimal("1.00")))
        decided.append((outcome, day))
    # Elsewhere: another community of the county.
    elsewhere = case_factory(state="panel", community_=other_community, case_due=past)
    db_session.flush()
    return today, walked, others, decided, elsewhere


def expected_months(today, decided):
    first = today.replace(day=1)
    months = []
    for i in range(11, -1, -1):
        index = first.year * 12 + first.month - 1 - i
        months.append(dt.date(index // 12, index % 12 + 1, 1))
    out = {m: [0, 0] for m in months}
    for outcome, day in decided:
        m = day.replace(day=1)
        if m in out and day <= today and outcome in ("approved", "stopped"):
            out[m][0 if outcome == "approved" else 1] += 1
    return out


def test_dashboard_numbers_equal_counts_made_independently(db_session, case_factory, other_community, county_user,
                                                           office_l):
    today, walked, others, decided, elsewhere = world(db_session, case_factory, other_community, county_user)
    mine = walked + others + [c for c in db_session.scalars(sa.select(Case).where(
        Case.community_id == office_l.jurisdiction_id))]
    mine = list({c.id: c for c in mine}.values())
    cal = Calendar.load(db_session)
    tz = "Asia/Shanghai"

    office_view = queries.dashboard(db_session, access.scope_for(db_session, office_l), today, cal, tz)
    expected_states = Counter(c.state for c in mine)
    assert {s: n for s, n in office_view.by_state.items() if n} == dict(expected_states)
    assert office_view.total == len(mine)
    expected_overdue = Counter(code for c in mine for code in overdue(c, today))
    assert office_view.overdue == {code: expected_overdue.get(code, 0) for code in OVERDUE}
    assert all(office_view.overdue.values())  # each kind present, so the comparison means something
    steps = {s.state: s.average_wd for s in office_view.steps}
    assert steps == expected_steps(db_session, walked)
    assert {s.state: s.count for s in office_view.steps} == dict(
        Counter(t.from_state for c in walked for t in db_session.scalars(
            sa.select(CaseTransition).where(CaseTransition.case_id == c.id))))
    months = expected_months(today, decided)
    assert [(m.month, m.approved, m.stopped) for m in office_view.months] == [(m, a, s) for m, (a, s) in months.items()]
    assert sum(m.approved for m in office_view.months) == 4

    # The county sees the other community's case too; narrowed to it, only that one.
    county_view = queries.dashboard(db_session, access.scope_for(db_session, county_user), today, cal, tz)
    assert county_view.by_state["panel"] == expected_states["panel"] + 1
    assert county_view.overdue["case_total"] == expected_overdue["case_total"] + 1
    narrow = queries.dashboard(db_session, access.scope_for(db_session, county_user, other_community.id), today,
                               cal, tz)
    assert narrow.total == 1 and narrow.by_state["panel"] == 1 and narrow.steps == []


def test_working_days_skip_the_holiday_and_the_weekend(db_session, case_factory, office_l):
    db_session.add(CalendarDay(day=dt.date(2026, 3, 4), working=False, name="测试假日"))
    case = case_factory(state="application")
    walk(db_session, case, dt.date(2026, 3, 2), [2, 4])  # Mon -> Wed (holiday) -> Sun
    view = queries.dashboard(db_session, access.scope_for(db_session, office_l), dt.date(2026, 3, 20),
                             Calendar.load(db_session), "Asia/Shanghai")
    steps = {s.state: s.average_wd for s in view.steps}
    # Tue counts, Wed is the holiday; Thu and Fri count, the weekend does not.
    assert steps == {"application": Decimal("1.0"), "accepted": Decimal("2.0")}


def chart_table(html: str, chart: str) -> dict[str, list[str]]:
    m = re.search(rf'<table class="visually-hidden chart-data" data-chart="{chart}">(.*?)</table>', html, re.S)
    assert m, chart
    return {th: re.findall(r"<td>([^<]*)</td>", rest)
            for th, rest in re.findall(r'<tr><th scope="row">([^<]*)</th>(.*?)</tr>', m.group(1), re.S)}


def test_dashboard_page_draws_svg_bars_with_the_numbers_as_tables(client, sign_in, db_session, case_factory,
                                                                 other_community, county_user, office_l):
    today, walked, others, decided, _elsewhere = world(db_session, case_factory, other_community, county_user)
    sign_in(office_l.username)
    r = client.get("/dashboard?lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    mine = db_session.scalars(sa.select(Case).where(Case.community_id == office_l.jurisdiction_id)).all()
    states = chart_table(html, "states")
    expected = Counter(c.state for c in mine)
    assert {label: int(v[0]) for label, v in states.items()} == {str(STATES[s]): expected.get(s, 0) for s in STATES}
    steps = chart_table(html, "steps")
    assert {label: v[0] for label, v in steps.items()} == {
        str(STATES[s]): str(v) for s, v in expected_steps(db_session, walked).items()}
    over = chart_table(html, "overdue")
    exp_over = Counter(code for c in mine for code in overdue(c, today))
    assert {label: int(v[0]) for label, v in over.items()} == {str(OVERDUE[k]): exp_over.get(k, 0) for k in OVERDUE}
    months = chart_table(html, "months")
    assert [list(map(int, v)) for v in months.values()] == [v for v in expected_months(today, decided).values()]
    # One bar per number, drawn by the server; no script in the page but the static files.
    assert html.count('<svg class="chart-svg"') == 4
    assert len(re.findall(r'<rect class="bar[^"]*" [^>]*data-value=', html)) == len(STATES) + len(steps) + \
        len(OVERDUE) + 2 * 12
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " onclick=" not in html
    assert re.search(r'data-total="cases">%d<' % len(mine), html)


def test_county_dashboard_may_narrow_to_one_community_but_not_an_office(client, sign_in, db_session, case_factory,
                                                                       other_community, other_office, office_l):
    case_factory(state="panel", community_=other_community)
    sign_in(other_office.username)
    html = client.get("/dashboard?lang=en").get_data(as_text=True)
    assert chart_table(html, "states")[str(STATES["panel"])] == ["1"]
    assert client.get(f"/dashboard?community={office_l.jurisdiction_id}").status_code == 404
    fragment = client.get("/dashboard", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="dashboard-body">')
