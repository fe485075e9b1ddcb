"""Working-day deadlines (issue 6 item 6; M21): acceptance starts them with the policy's
numbers and the working-day calendar (holidays and make-up days), lists show overdue
badges, and /due lists what falls due this week in the user's scope."""
from __future__ import annotations

import copy
import datetime as dt
import re

from server.cases import lifecycle
from server.core.models import CalendarDay
from server.core.workdays import Calendar
from server.policy.models import PolicyVersion
from server.policy.settings import DEFAULT_SETTINGS


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_acceptance_counts_the_policys_working_days_past_holidays(client, db_session, make_user, sign_in, county,
                                                                  case_factory):
    today = lifecycle.local_today()
    settings = copy.deepcopy(DEFAULT_SETTINGS)
    settings["deadlines"]["investigation_start_wd"] = 5  # this county allows five working days
    db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=today - dt.timedelta(days=30),
                                 settings=settings, note="test"))
    # The next two weekdays are a holiday: they do not count.
    day, holidays = today, []
    while len(holidays) < 2:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            holidays.append(day)
    for d in holidays:
        if db_session.get(CalendarDay, d) is None:
            db_session.add(CalendarDay(day=d, working=False, name="test holiday"))
    db_session.flush()
    make_user("office-d", roles=("office",))
    sign_in("office-d")
    case = case_factory("application")
    r = client.post(f"/applications/{case.id}/accept", data={"csrf_token": _csrf(client, f"/applications/{case.id}"),
                                                              "version": case.version})
    assert r.status_code == 303
    db_session.refresh(case)
    expected, n, d = None, 0, today
    while n < 5:
        d += dt.timedelta(days=1)
        if d.weekday() < 5 and d not in holidays:
            n += 1
    expected = d
    assert case.investigation_due == expected == Calendar.load(db_session).add_working_days(today, 5)


def test_due_this_week_lists_the_scopes_deadlines_with_working_days_left(client, db_session, make_user, sign_in,
                                                                         case_factory, make_community):
    today = lifecycle.local_today()
    week_end = today + dt.timedelta(days=6 - today.weekday())
    due_today = case_factory("accepted", investigation_due=today, case_due=today + dt.timedelta(days=60))
    late = case_factory("accepted", investigation_due=today - dt.timedelta(days=9),
                        case_due=today + dt.timedelta(days=40))
    deciding = case_factory("county_review", decision_due=week_end, case_due=today + dt.timedelta(days=20))
    later = case_factory("accepted", investigation_due=week_end + dt.timedelta(days=1),
                         case_due=today + dt.timedelta(days=50))
    decided = case_factory("approved", case_due=today - dt.timedelta(days=3))  # decided: no longer due
    other = case_factory("accepted", community_=make_community("白云源社区", "Baiyunyuan"), investigation_due=today)
    make_user("office-d", roles=("office",))
    sign_in("office-d")
    html = client.get("/due?lang=en").get_data(as_text=True)
    rows = re.findall(r'<tr data-case="([^"]+)" data-code="([^"]+)"( class="overdue")?>', html)
    listed = {(case_id, code): bool(over) for case_id, code, over in rows}
    assert listed == {(str(due_today.id), "investigation_start"): False,
                      (str(late.id), "investigation_start"): True,
                      (str(deciding.id), "county_decision"): False}
    assert later.number not in html and decided.number not in html and other.number not in html
    # Oldest first, and the late one carries its badge and how many working days it is past.
    assert [r[0] for r in rows][0] == str(late.id)
    cal = Calendar.load(db_session)
    past = -cal.working_days_between(today, today - dt.timedelta(days=9))
    assert f"{past} past" in html and "Investigation not started in time" in html


def test_lists_carry_overdue_badges(client, db_session, make_user, sign_in, case_factory):
    today = lifecycle.local_today()
    late = case_factory("accepted", investigation_due=today - dt.timedelta(days=5),
                        case_due=today + dt.timedelta(days=30))
    on_time = case_factory("accepted", investigation_due=today + dt.timedelta(days=2),
                           case_due=today + dt.timedelta(days=30))
    make_user("office-d", roles=("office",))
    sign_in("office-d")
    for path in ("/applications?lang=en", "/assignments?lang=en"):
        html = client.get(path).get_data(as_text=True)
        late_row = re.search(rf'<tr data-case="{late.id}".*?</tr>', html, re.S).group(0)
        on_time_row = re.search(rf'<tr data-case="{on_time.id}".*?</tr>', html, re.S).group(0)
        assert 'data-overdue="investigation_start"' in late_row
        assert "data-overdue" not in on_time_row


def test_a_county_reviewer_sees_the_whole_countys_deadlines(client, db_session, make_user, sign_in, county,
                                                            case_factory, make_community):
    today = lifecycle.local_today()
    a = case_factory("county_review", decision_due=today, case_due=today + dt.timedelta(days=9))
    b = case_factory("county_review", community_=make_community("白云源社区", "Baiyunyuan"), decision_due=today,
                     case_due=today + dt.timedelta(days=9))
    make_user("county-d", roles=("county",), jurisdiction=county)
    sign_in("county-d")
    html = client.get("/due").get_data(as_text=True)
    assert a.number in html and b.number in html


def test_a_special_case_has_45_working_days_for_the_whole_case(client, db_session, make_user, sign_in,
                                                              case_factory):
    make_user("office-d", roles=("office",))
    sign_in("office-d")
    special, plain = case_factory("application", special=True), case_factory("application")
    for case in (special, plain):
        r = client.post(f"/applications/{case.id}/accept",
                        data={"csrf_token": _csrf(client, f"/applications/{case.id}"), "version": case.version})
        assert r.status_code == 303
        db_session.refresh(case)
    cal, today = Calendar.load(db_session), lifecycle.local_today()
    assert special.case_due == cal.add_working_days(today, 45)
    assert plain.case_due == cal.add_working_days(today, 30)
