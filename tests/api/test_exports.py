"""Exports (DESIGN "Money", "ledgers in Excel"): the payment list and the active
households as XLSX (read back with openpyxl) and CSV (UTF-8 with a BOM, parsed), visits
as GeoJSON ([lon, lat], nothing personal); ID numbers masked in every one; every export
leaves an audit entry saying who, what, the filter and the number of rows."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from server.core.audit import AuditEvent
from tests.api.test_ledgers import (county_user, evaluation, office_l, other_community, other_office,  # noqa: F401
                                    recipient)

ID18 = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")


@pytest.fixture()
def paid(db_session, policy, recipient, other_community):
    """Three households paid in November 2026 (one in the other community), one whose
    payment starts in December, one stopped from November."""
    ev = evaluation("1066.00", [("topup_class_a", "330.00"), ("topup_elderly", "50.00")])
    cases = [
        recipient([("approved", "1446.00", dt.date(2026, 9, 1), ev)], classes=("A", None)),
        recipient([("approved", "1000.01", dt.date(2026, 10, 1))], members=3, classes=("B", "B", None)),
        recipient([("approved", "333.33", dt.date(2026, 10, 1))], community_=other_community),
    ]
    later = recipient([("approved", "500.00", dt.date(2026, 12, 1))])
    stopped = recipient([("approved", "800.00", dt.date(2026, 2, 1)), ("stopped", "0.00", dt.date(2026, 11, 1))],
                        state="stopped")
    return cases, later, stopped


def exports_logged(db_session) -> list[AuditEvent]:
    return db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "export")
                              .order_by(AuditEvent.id)).all()


def id_numbers(*cases) -> set[str]:
    return {m.id_number for c in cases for m in c.household.members}


def read_xlsx(data: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, so Excel reads Chinese right"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_payment_list_xlsx_reads_back_with_money_as_numbers_and_totals(client, sign_in, db_session, county_user,
                                                                     paid):
    cases, later, stopped = paid
    sign_in(county_user.username)
    r = client.get("/ledgers/payments.xlsx?month=2026-11&lang=en")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["Content-Disposition"] == "attachment; filename=payment-list-2026-11.xlsx"
    rows = read_xlsx(r.data)
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[:10] == ("Case number", "Community", "Head of household", "ID number", "Household size",
                           "Class A members", "Class B members", "Base allowance", "Top-ups", "Monthly amount")
    assert header[10:12] == ("Municipal", "District")
    assert [row[0] for row in body] == sorted(c.number for c in cases)
    by_number = {row[0]: row for row in body}
    first = by_number[cases[0].number]
    assert first[4:7] == (2, 1, 0)
    # Money as numbers (not text), two decimals, and the split adds up in each row.
    assert [Decimal(str(v)) for v in first[7:12]] == [Decimal("1066"), Decimal("380"), Decimal("1446"),
                                                     Decimal("867.6"), Decimal("578.4")]
    for row in body:
        assert all(isinstance(v, (int, float)) for v in row[7:12])
        assert Decimal(str(row[10])) + Decimal(str(row[11])) == Decimal(str(row[9]))
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    assert book.worksheets[0]["J2"].number_format == "#,##0.00"
    # The totals row: households, persons and each sum.
    assert total[0] == "Total: 3 households"
    assert total[4] == sum(row[4] for row in body)
    for col in (9, 10, 11):
        assert Decimal(str(total[col])).quantize(Decimal("0.01")) == \
            sum(Decimal(str(row[col])).quantize(Decimal("0.01")) for row in body)
    assert Decimal(str(total[9])) == Decimal("2779.34")
    assert later.number not in by_number and stopped.number not in by_number


def test_payment_list_csv_has_a_bom_header_rows_and_totals(client, sign_in, db_session, county_user, paid):
    cases, _later, _stopped = paid
    sign_in(county_user.username)
    r = client.get("/ledgers/payments.csv?month=2026-11")  # Chinese by default
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == "attachment; filename=payment-list-2026-11.csv"
    rows = read_csv(r.data)
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[0] == "案件编号" and "市级" in header
    assert len(body) == 3
    municipal, district, amount = header.index("市级"), header.index("区级"), header.index("月发放金额")
    for row in body:
        assert Decimal(row[municipal]) + Decimal(row[district]) == Decimal(row[amount])
        assert re.fullmatch(r"\d+\.\d\d", row[amount])
    assert total[amount] == "2779.34"
    assert Decimal(total[municipal]) + Decimal(total[district]) == Decimal("2779.34")
    assert Decimal(total[municipal]) == sum(Decimal(row[municipal]) for row in body)
    assert any(cases[0].household.head_name in row for row in body)


def test_office_export_holds_only_its_community(client, sign_in, db_session, other_office, paid):
    cases, _later, _stopped = paid
    sign_in(other_office.username)
    rows = read_csv(client.get("/ledgers/payments.csv?month=2026-11").data)
    assert [row[0] for row in rows[1:-1]] == [cases[2].number]


@pytest.mark.parametrize("path", ["/ledgers/payments.xlsx?month=2026-11", "/ledgers/payments.csv?month=2026-11",
                                  "/ledgers/active.xlsx", "/ledgers/active.csv"])
def test_id_numbers_are_masked_in_every_export(client, sign_in, db_session, county_user, paid, path):
    cases, later, stopped = paid
    sign_in(county_user.username)
    r = client.get(path)
    assert r.status_code == 200
    if path.split("?")[0].endswith(".xlsx"):
        text = "\n".join(str(v) for row in read_xlsx(r.data) for v in row if v is not None)
    else:
        text = r.data.decode("utf-8-sig")
    assert not ID18.search(text)
    for number in id_numbers(*cases, later):
        assert number not in text
    head = cases[0].household.members[0].id_number
    assert f"{head[:6]}********{head[-4:]}" in text


def test_active_households_export_lists_classes_topups_since_and_recheck(client, sign_in, county_user, paid):
    cases, later, stopped = paid
    sign_in(county_user.username)
    rows = read_xlsx(client.get("/ledgers/active.xlsx?lang=en").data)
    header, body, total = rows[0], rows[1:-1], rows[-1]
    col = {name: i for i, name in enumerate(header)}
    by_number = {row[0]: row for row in body}
    # Receiving now, or from next month: both are active households; the stopped one is not.
    assert set(by_number) == {c.number for c in cases} | {later.number}
    first = by_number[cases[0].number]
    assert first[col["Top-up kinds"]] == "Class A, Elderly"
    assert Decimal(str(first[col["Top-ups"]])) == Decimal("380")
    assert first[col["Receiving since"]].date() == dt.date(2026, 9, 1)
    assert first[col["Next re-check due"]].date() == dt.date(2027, 10, 1)
    assert first[col["Stability"]] == "Stable"
    assert total[0] == "Total: 4 households"
    assert Decimal(str(total[col["Monthly amount"]])).quantize(Decimal("0.01")) == Decimal("3279.34")


def test_every_export_is_in_the_audit_log_with_who_what_filter_and_rows(client, sign_in, db_session, county_user,
                                                                       other_community, paid):
    sign_in(county_user.username)
    assert client.get("/ledgers/payments.xlsx?month=2026-11").status_code == 200
    assert client.get(f"/ledgers/payments.csv?month=2026-11&community={other_community.id}").status_code == 200
    assert client.get("/ledgers/active.csv").status_code == 200
    assert client.get("/ledgers/active.xlsx").status_code == 200
    assert client.get("/ledgers/visits.geojson?kind=initial").status_code == 200
    events = exports_logged(db_session)
    assert [(e.actor_name, e.after["what"], e.after["format"], e.after["rows"]) for e in events] == [
        ("county-l", "payment_list", "xlsx", 3), ("county-l", "payment_list", "csv", 1),
        ("county-l", "active_households", "csv", 4), ("county-l", "active_households", "xlsx", 4),
        ("county-l", "visits", "geojson", 0)]
    assert events[0].after["filter"]["month"] == "2026-11"
    assert events[1].after["filter"]["community_ids"] == [other_community.id]
    assert events[4].after["filter"]["kind"] == "initial"
    assert all(e.actor_id == county_user.id for e in events)


def test_a_refused_export_writes_nothing_to_the_log_but_the_refusal(client, sign_in, db_session, make_user, paid):
    inv = make_user("inv-x", roles=("investigator",))
    sign_in(inv.username)
    assert client.get("/ledgers/payments.csv?month=2026-11").status_code == 403
    assert exports_logged(db_session) == []


def test_a_bad_month_is_a_422_and_no_export(client, sign_in, db_session, county_user, paid):
    sign_in(county_user.username)
    r = client.get("/ledgers/payments.xlsx?month=11-2026", headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert exports_logged(db_session) == []


# --- visits as GeoJSON ---------------------------------------------------------------------


def test_visits_geojson_is_a_feature_collection_in_lon_lat_with_nothing_personal(
        client, sign_in, db_session, make_user, community, visited_case, office):
    from server.review.models import Flag

    case, visit_id, body = visited_case()
    open_flags = db_session.scalar(sa.select(sa.func.count()).select_from(Flag).where(
        Flag.visit_id == visit_id, Flag.dismissed_at.is_(None)))
    sign_in(office.username)
    r = client.get("/ledgers/visits.geojson")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert r.headers["Content-Disposition"] == "attachment; filename=visits.geojson"
    doc = json.loads(r.data)
    assert doc["type"] == "FeatureCollection"
    [feature] = doc["features"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    # RFC 7946: longitude first. The visit was at the wire's {"lat", "lon"}.
    assert (lat, lon) == pytest.approx((body["location"]["lat"], body["location"]["lon"]), abs=1e-6)
    assert -180 <= lon <= 180 and -90 <= lat <= 90 and abs(lon) > abs(lat)
    props = feature["properties"]
    assert props["case_number"] == case.number and props["kind"] == "initial"
    assert props["flags"] == open_flags and props["state"] in ("in_review", "awaiting_photos")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", props["date"])
    text = r.get_data(as_text=True)
    for m in body["members"]:
        assert m["name"] not in text and m["id_number"] not in text
    assert case.household.head_name not in text and case.household.address not in text
    event = exports_logged(db_session)[-1]
    assert (event.after["what"], event.after["rows"]) == ("visits", 1)


def test_visits_geojson_keeps_to_the_office_community(client, sign_in, other_office, visited_case):
    visited_case()
    sign_in(other_office.username)
    assert json.loads(client.get("/ledgers/visits.geojson").data)["features"] == []


def test_visits_geojson_filters_by_kind_and_dates(client, sign_in, office, visited_case):
    visited_case()
    sign_in(office.username)
    assert len(json.loads(client.get("/ledgers/visits.geojson?kind=initial").data)["features"]) == 1
    assert json.loads(client.get("/ledgers/visits.geojson?kind=recheck").data)["features"] == []
    assert json.loads(client.get("/ledgers/visits.geojson?from=2100-01-01").data)["features"] == []
    assert client.get("/ledgers/visits.geojson?kind=bogus").status_code == 422
    assert client.get("/ledgers/visits.geojson?from=2026-02-01&to=2026-01-01").status_code == 422


from tests.review_fixtures import bearer, office, store_photos, team, visited_case  # noqa: E402,F401 - fixtures
