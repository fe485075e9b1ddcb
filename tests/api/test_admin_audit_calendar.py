"""The audit log viewer (filters, before/after, the chain's status, CSV export that is
itself audited) and the working-day calendar that every deadline counts with."""
from __future__ import annotations

import csv
import datetime as dt
import io

import sqlalchemy as sa

from server.core import audit
from server.core.audit import AuditEvent
from server.core.models import CalendarDay
from server.core.workdays import Calendar
from tests.admin_fixtures import csrf


def _admin(make_user, sign_in, county):
    user = make_user("admin-a", roles=("admin",), jurisdiction=county)
    sign_in("admin-a")
    return user


def test_the_log_filters_by_person_case_action_and_date(client, make_user, sign_in, county, case_factory,
                                                        db_session):
    admin = _admin(make_user, sign_in, county)
    case = case_factory()
    other = make_user("office-a", roles=("office",))
    audit.record(db_session, "case.commented", "case", case.id, before={"text": "旧"}, after={"text": "新"},
                 case_id=case.id, actor=other)
    audit.record(db_session, "user.updated", "user", admin.id, after={"x": 1}, actor=admin)
    db_session.flush()
    page = client.get(f"/admin/audit?person=office-a&lang=en").get_data(as_text=True)
    assert "case.commented" in page and "user.updated" not in page.split("<tbody>")[1]
    assert "旧" in page and "新" in page  # before and after
    page = client.get(f"/admin/audit?case={case.number}").get_data(as_text=True)
    assert "case.commented" in page.split("<tbody>")[1]
    page = client.get("/admin/audit?action=user.updated").get_data(as_text=True)
    assert "case.commented" not in page.split("<tbody>")[1]
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    page = client.get(f"/admin/audit?from={tomorrow}").get_data(as_text=True)
    assert "data-event=" not in page
    r = client.get("/admin/audit?from=yesterday&case=NOPE&lang=en")
    assert r.status_code == 422
    assert "A date as YYYY-MM-DD." in r.get_data(as_text=True) and "No case with this number." in r.get_data(
        as_text=True)
    assert 'value="yesterday"' in r.get_data(as_text=True)


def test_the_chain_status_names_the_last_verified_entry(client, make_user, sign_in, county, db_session):
    _admin(make_user, sign_in, county)
    last = audit.record(db_session, "test.event", "x", 1, after={"n": 1}, actor=None)
    page = client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert f"up to entry #{last.id}" in page and "verified" in page


def test_csv_export_of_the_filtered_range_is_itself_audited(client, make_user, sign_in, county, db_session):
    _admin(make_user, sign_in, county)
    audit.record(db_session, "test.exported_row", "x", 7, before={"a": "前"}, after={"a": "后"}, actor=None)
    r = client.get("/admin/audit.csv?action=test.exported_row")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "at", "actor", "action"]
    assert len(rows) == 2 and rows[1][3] == "test.exported_row" and "前" in rows[1][7] and "后" in rows[1][8]
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit.exported"))
    assert ev.actor_name == "admin-a" and ev.after["rows"] == 1
    assert ev.after["filters"] == {"action": "test.exported_row"}


def test_calendar_holidays_and_make_up_days_change_the_working_days(client, make_user, sign_in, county,
                                                                    db_session):
    _admin(make_user, sign_in, county)
    page = client.get("/admin/calendar/2031").get_data(as_text=True)
    # 2031-10-01 is a Wednesday; 2031-10-11 a Saturday.
    r = client.post("/admin/calendar/2031", data={"csrf_token": csrf(page), "start": "2031-10-01",
                                                  "end": "2031-10-03", "kind": "holiday", "name": "国庆节"})
    assert r.status_code == 303
    r = client.post("/admin/calendar/2031", data={"csrf_token": csrf(page), "start": "2031-10-11", "end": "",
                                                  "kind": "makeup", "name": "国庆节调休"})
    assert r.status_code == 303
    cal = Calendar.load(db_session)
    assert not cal.is_working_day(dt.date(2031, 10, 2)) and cal.is_working_day(dt.date(2031, 10, 11))
    assert cal.add_working_days(dt.date(2031, 9, 30), 1) == dt.date(2031, 10, 6)
    shown = client.get("/admin/calendar/2031").get_data(as_text=True)
    assert 'data-day="2031-10-02"' in shown and "国庆节调休" in shown
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "calendar.day_added")) == 4
    client.post("/admin/calendar/2031/2031-10-11/remove", data={"csrf_token": csrf(page)})
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CalendarDay).where(CalendarDay.day == dt.date(2031, 10, 11))) == 0
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "calendar.day_removed"))
    assert ev.before["name"] == "国庆节调休"


def test_calendar_bad_input_is_refused_with_what_was_typed_kept(client, make_user, sign_in, county, db_session):
    _admin(make_user, sign_in, county)
    page = client.get("/admin/calendar/2031").get_data(as_text=True)
    # A make-up working day on a Wednesday changes nothing.
    r = client.post("/admin/calendar/2031?lang=en", data={"csrf_token": csrf(page), "start": "2031-10-01",
                                                          "kind": "makeup", "name": "调休"})
    assert r.status_code == 422 and "Saturday or Sunday" in r.get_data(as_text=True)
    assert 'value="调休"' in r.get_data(as_text=True)
    r = client.post("/admin/calendar/2031?lang=en", data={"csrf_token": csrf(page), "start": "2032-01-01",
                                                          "kind": "holiday", "name": "元旦"})
    assert r.status_code == 422 and "A day of 2031 on this page." in r.get_data(as_text=True)
    r = client.post("/admin/calendar/2031?lang=en", data={"csrf_token": csrf(page), "start": "2031-05-01",
                                                          "end": "2031-04-01", "kind": "holiday", "name": "x"})
    assert r.status_code == 422 and "comes before" in r.get_data(as_text=True)
    client.post("/admin/calendar/2031", data={"csrf_token": csrf(page), "start": "2031-05-01", "kind": "holiday",
                                              "name": "劳动节"})
    r = client.post("/admin/calendar/2031?lang=en", data={"csrf_token": csrf(page), "start": "2031-05-01",
                                                          "kind": "holiday", "name": "劳动节"})
    assert r.status_code == 422 and "Already in the calendar" in r.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)
                             .where(CalendarDay.day >= dt.date(2031, 1, 1))) == 1
