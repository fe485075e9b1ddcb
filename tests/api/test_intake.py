"""Intake at the counter (issue 6 item 1): the office registers an application with its
household, members (GB 11643 ID numbers), declaration, home point and documents; accepts
it (the deadline clock starts) or refuses it with a reason; staff relatives are flagged and
listed apart (M21 Art 11). Bad input re-renders the form with the errors by the fields and
everything typed kept; a double send does nothing twice; a stale page gets a clear message."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import uuid

import pytest
import sqlalchemy as sa

from server.accounts.models import StaffRelation
from server.cases import lifecycle
from server.cases.models import Attachment, Case, CaseTransition, Household
from server.core.audit import AuditEvent
from server.core.storage import current_store
from server.core.validators import make_id_number
from server.core.workdays import Calendar
from server.review.models import Flag

APPLICANT_ID = make_id_number("330122", dt.date(1961, 3, 2), 41, "F")
SPOUSE_ID = make_id_number("330122", dt.date(1958, 7, 9), 42, "M")
PDF = b"%PDF-1.4\n% a scanned hukou book\n%%EOF\n"


def csrf(client, path="/applications/new") -> tuple[str, str]:
    html = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    m = re.search(r'name="case_id" value="([^"]+)"', html)
    return token, (m.group(1) if m else "")


def intake_form(client, **changes) -> dict:
    token, case_id = csrf(client)
    form = {
        "csrf_token": token, "case_id": case_id,
        "address": "迎春路 12 号 3 单元 201", "phone": "13800001111", "lat": "29.7981", "lon": "119.6902",
        "reason": "丈夫重病，妻子无业，无稳定收入",
        "m-0-name": "王秀英", "m-0-id_number": APPLICANT_ID, "m-0-relation": "self", "m-0-health": "chronic",
        "m-1-name": "李建国", "m-1-id_number": SPOUSE_ID, "m-1-relation": "spouse", "m-1-health": "serious_illness",
        "inc-0-kind": "pension", "inc-0-amount": "620", "inc-0-member": "1",
        "as-0-category": "vehicle", "as-0-description": "电动三轮车", "as-0-value": "800", "as-0-count": "1",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


@pytest.fixture()
def office_in(make_user, sign_in):
    make_user("office-i", roles=("office",), display_name="前台 小周")
    sign_in("office-i")


def case_of(db_session, form) -> Case | None:
    return db_session.get(Case, uuid.UUID(form["case_id"]))


def test_registering_an_application_stores_household_members_declaration_and_point(client, db_session, office_in,
                                                                                  community):
    form = intake_form(client)
    r = client.post("/applications/new", data=form)
    assert r.status_code == 303
    case = case_of(db_session, form)
    assert r.headers["Location"].endswith(f"/applications/{case.id}")
    assert case.state == "application" and case.community_id == community.id
    assert case.number.startswith(f"{community.code}-") and not case.related_to_staff
    hh = case.household
    assert hh.head_name == "王秀英" and hh.address.startswith("迎春路") and hh.phone == "13800001111"
    lat, lon = db_session.execute(sa.select(sa.func.ST_Y(Household.location), sa.func.ST_X(Household.location))
                                  .where(Household.id == hh.id)).one()
    assert (lat, lon) == (pytest.approx(29.7981), pytest.approx(119.6902))
    # Birth date and sex come from the ID number (GB 11643).
    assert [(m.name, m.relation, m.sex, m.birth_date, m.position) for m in hh.members] == [
        ("王秀英", "self", "F", dt.date(1961, 3, 2), 0), ("李建国", "spouse", "M", dt.date(1958, 7, 9), 1)]
    assert case.declaration["income"] == [{"member": 0, "kind": "pension", "monthly_amount": "620.00"}]
    assert case.declaration["assets"][0]["value"] == "800.00" and case.declaration["reason"].startswith("丈夫")
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "case.registered"))
    assert ev.case_id == case.id and ev.actor_name == "office-i"
    page = client.get(f"/applications/{case.id}?lang=en").get_data(as_text=True)
    assert "Application " + case.number in page and "Accept the application" in page


def test_documents_are_stored_by_content_and_can_be_opened(app, client, db_session, office_in):
    form = intake_form(client, attachment_kind="hukou_book")
    form["attachments"] = (io.BytesIO(PDF), "户口本.pdf")
    assert client.post("/applications/new", data=form, content_type="multipart/form-data").status_code == 303
    case = case_of(db_session, form)
    (att,) = db_session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id)).all()
    assert att.sha256 == hashlib.sha256(PDF).hexdigest() and att.kind == "hukou_book"
    assert att.content_type == "application/pdf" and att.filename == "户口本.pdf"
    with app.app_context():
        assert current_store().get(f"attachments/{att.sha256}") == PDF
    r = client.get(f"/applications/{case.id}/attachments/{att.id}")
    assert r.status_code == 200 and r.data == PDF


def test_a_file_that_is_not_a_document_is_refused_by_the_field(client, db_session, office_in):
    form = intake_form(client)
    form["attachments"] = (io.BytesIO(b"MZ\x90\x00 not a document"), "setup.exe")
    r = client.post("/applications/new?lang=en", data=form, content_type="multipart/form-data")
    assert r.status_code == 422 and "setup.exe is not a PDF or a picture." in r.get_data(as_text=True)
    assert case_of(db_session, form) is None


def test_a_document_survives_a_form_sent_back_with_errors(client, db_session, office_in):
    form = intake_form(client, address="")
    form["attachments"] = (io.BytesIO(PDF), "低保申请书.pdf")
    r = client.post("/applications/new", data=form, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "低保申请书.pdf" in html
    kept = dict(re.findall(r'name="(kept-0-[a-z_0-9]+)" value="([^"]*)"', html))
    assert kept["kept-0-sha256"] == hashlib.sha256(PDF).hexdigest()
    again = {**form, **kept, "address": "迎春路 12 号"}
    del again["attachments"]
    assert client.post("/applications/new", data=again).status_code == 303
    case = case_of(db_session, form)
    assert [a.filename for a in db_session.scalars(sa.select(Attachment).where(Attachment.case_id == case.id))] == [
        "低保申请书.pdf"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("m-0-id_number", APPLICANT_ID[:-1] + ("0" if APPLICANT_ID[-1] != "0" else "1"),
     "The check digit of the ID number is wrong (GB 11643)."),
    ("m-1-id_number", "33012219581332001X", "The birth date inside the ID number is not a real date."),
    ("m-1-id_number", "12345", "An ID number has 17 digits and a final digit or X."),
    ("m-1-name", "", "This field is required."),
    ("address", "", "This field is required."),
    ("lat", "", "Pick the home on the map, or type its latitude and longitude."),
    ("lon", "200", "A longitude is a number between -180 and 180."),
    ("inc-0-amount", "六百", "An amount in yuan, like 1200 or 1200.50."),
    ("inc-0-member", "5", "The number of a member listed above (1 to 2)."),
    ("as-0-count", "0", "A whole number from 1 to 999."),
    ("m-1-relation", "cousin", "Choose how this person is related to the applicant."),
])
def test_a_bad_field_is_named_next_to_it_and_everything_typed_is_kept(client, db_session, office_in, field, value,
                                                                      message):
    form = intake_form(client, **{field: value})
    if field == "lat":
        form["lon"] = ""
    before = db_session.scalar(sa.select(sa.func.count()).select_from(Household))
    r = client.post("/applications/new?lang=en", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    error = re.search(rf'<span class="field-error" id="{re.escape(field)}-error" role="alert">([^<]*)</span>', html)
    assert error and error.group(1) == message
    assert f'aria-describedby="{field}-error"' in html
    # What was typed is still there, the bad value too (a select shows only its own choices).
    for key, typed in form.items():
        if key not in ("csrf_token", field) and typed:
            assert typed in html, key
    if value and not field.endswith("relation"):
        assert f'value="{value}"' in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Household)) == before
    assert case_of(db_session, form) is None


def test_exactly_one_applicant_and_no_id_number_twice(client, db_session, office_in):
    form = intake_form(client, **{"m-1-relation": "self", "m-1-id_number": APPLICANT_ID})
    html = client.post("/applications/new?lang=en", data=form).get_data(as_text=True)
    assert "The same ID number is entered twice in this household." in html
    form = intake_form(client, **{"m-0-relation": "spouse"})
    html = client.post("/applications/new?lang=en", data=form).get_data(as_text=True)
    assert "Exactly one member is the applicant." in html


def test_someone_in_another_open_household_is_caught_with_a_link_to_it(client, db_session, office_in, case_factory):
    existing = case_factory("investigating")
    taken = existing.household.members[1]
    form = intake_form(client, **{"m-1-id_number": taken.id_number})
    r = client.post("/applications/new?lang=en", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert (f"{taken.name} already belongs to the open household of {existing.household.head_name} "
            f"(case {existing.number}).") in html
    assert f'href="/cases/{existing.id}"' in html  # the case file
    assert case_of(db_session, form) is None


def test_the_applicant_of_an_open_household_is_told_the_household_already_has_a_case(client, office_in,
                                                                                     case_factory):
    existing = case_factory("active")
    form = intake_form(client, **{"m-0-id_number": existing.household.members[0].id_number})
    html = client.post("/applications/new?lang=en", data=form).get_data(as_text=True)
    assert "This household already has an open case; open it instead of registering again." in html


def test_a_member_of_another_community_is_caught_without_showing_that_household(client, office_in, case_factory,
                                                                               make_community):
    elsewhere = case_factory("in_review", community_=make_community("白云源社区", "Baiyunyuan"))
    form = intake_form(client, **{"m-1-id_number": elsewhere.household.members[0].id_number})
    html = client.post("/applications/new?lang=en", data=form).get_data(as_text=True)
    assert "This person already belongs to an open household in another community." in html
    assert elsewhere.household.head_name not in html and str(elsewhere.id) not in html


def test_someone_whose_earlier_application_was_refused_may_apply_again(client, db_session, office_in, case_factory):
    refused = case_factory("rejected")
    form = intake_form(client, **{"m-0-id_number": refused.household.members[0].id_number})
    assert client.post("/applications/new", data=form).status_code == 303


def test_a_form_sent_twice_registers_one_application(client, db_session, office_in):
    form = intake_form(client)
    first = client.post("/applications/new", data=form)
    second = client.post("/applications/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "case.registered")) == 1
    page = client.get(second.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "未重复登记" in page  # the flash, in the language of the send


def test_member_rows_are_added_and_removed_as_fragments_and_without_javascript(client, office_in):
    r = client.get("/applications/new", query_string={"add_row": "m", "m-0-name": "x", "m-4-name": "y"},
                   headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'name="m-5-id_number"' in html
    r = client.get("/applications/new", query_string={"remove_row": "m-4"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.get_data(as_text=True) == ""
    # JavaScript off: the button sends the whole form and gets it back with a row more or less.
    form = intake_form(client, add_row="m")
    html = client.post("/applications/new", data=form).get_data(as_text=True)
    assert 'name="m-2-id_number"' in html and "李建国" in html
    form = intake_form(client, remove_row="m-1")
    html = client.post("/applications/new", data=form).get_data(as_text=True)
    assert 'name="m-1-id_number"' not in html and "王秀英" in html and "李建国" not in html


def test_accepting_starts_the_working_day_deadlines(client, db_session, office_in, policy):
    form = intake_form(client)
    client.post("/applications/new", data=form)
    case = case_of(db_session, form)
    token, _ = csrf(client, f"/applications/{case.id}")
    r = client.post(f"/applications/{case.id}/accept", data={"csrf_token": token, "version": case.version})
    assert r.status_code == 303
    db_session.refresh(case)
    today = lifecycle.local_today()
    cal = Calendar.load(db_session)
    assert case.state == "accepted" and case.accepted_at is not None
    # M21 Art 15: 3 working days to start; 30 for the whole case.
    assert case.investigation_due == cal.add_working_days(today, 3)
    assert case.case_due == cal.add_working_days(today, 30)
    page = client.get(f"/applications/{case.id}?lang=en").get_data(as_text=True)
    assert f'data-testid="investigation-due">{case.investigation_due}<' in page


def test_refusing_needs_a_written_reason(client, db_session, office_in):
    form = intake_form(client)
    client.post("/applications/new", data=form)
    case = case_of(db_session, form)
    token, _ = csrf(client, f"/applications/{case.id}")
    r = client.post(f"/applications/{case.id}/refuse?lang=en", data={"csrf_token": token, "version": case.version,
                                                                       "reason": "  "})
    assert r.status_code == 422
    assert 'id="reason-error" role="alert">Write the reason the applicant is told.<' in r.get_data(as_text=True)
    db_session.refresh(case)
    assert case.state == "application"
    r = client.post(f"/applications/{case.id}/refuse", data={"csrf_token": token, "version": case.version,
                                                               "reason": "户籍不在本社区"})
    assert r.status_code == 303
    db_session.refresh(case)
    row = db_session.scalars(sa.select(CaseTransition).where(CaseTransition.case_id == case.id)).one()
    assert case.state == "rejected" and row.reason == "户籍不在本社区"
    history = client.get(f"/applications/{case.id}?lang=en").get_data(as_text=True)
    assert re.search(r"Application → Rejected</td>\s*<td>前台 小周</td><td>户籍不在本社区</td>", history)


def test_a_stale_page_gets_a_clear_message_and_a_double_accept_does_nothing(client, db_session, office_in):
    form = intake_form(client)
    client.post("/applications/new", data=form)
    case = case_of(db_session, form)
    token, _ = csrf(client, f"/applications/{case.id}")
    seen = case.version
    assert client.post(f"/applications/{case.id}/accept", data={"csrf_token": token, "version": seen}).status_code == 303
    # The same button again (a double click): nothing happens twice.
    r = client.post(f"/applications/{case.id}/accept", data={"csrf_token": token, "version": seen})
    assert r.status_code == 303
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CaseTransition)
                             .where(CaseTransition.case_id == case.id)) == 1
    # An old page refusing what was since accepted is told so.
    r = client.post(f"/applications/{case.id}/refuse?lang=en",
                    data={"csrf_token": token, "version": seen, "reason": "材料不全"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and "This case has changed since you opened the page (it is now: Accepted)" in html
    assert "材料不全" in html
    db_session.refresh(case)
    assert case.state == "accepted"


def test_a_relative_of_staff_is_flagged_at_intake_and_listed_apart(client, db_session, office_in, community,
                                                                  make_user, case_factory):
    panel = make_user("panel-x", roles=("panel",), display_name="评议员 老陈")
    db_session.add(StaffRelation(jurisdiction_id=community.id, staff_user_id=panel.id, staff_name="评议员 老陈",
                                 staff_role="panel", relative_name="李建国", relative_id_number=SPOUSE_ID,
                                 relation="sibling"))
    db_session.flush()
    other = case_factory("application")
    form = intake_form(client)
    client.post("/applications/new", data=form)
    case = case_of(db_session, form)
    assert case.related_to_staff
    flag = db_session.scalars(sa.select(Flag).where(Flag.case_id == case.id)).one()
    assert flag.code == "related_to_staff" and flag.visit_id is None and flag.severity == "error"
    assert flag.params == {"member_name": "李建国", "staff_name": "评议员 老陈", "staff_role": "panel",
                           "relation": "sibling"}
    page = client.get(f"/applications/{case.id}?lang=en").get_data(as_text=True)
    assert "Household member 李建国 is the sibling of panel member 评议员 老陈" in page
    # The review pages show the intake's flag too.
    case_file = client.get(f"/cases/{case.id}?lang=en")
    assert case_file.status_code == 200 and "评议员 老陈" in case_file.get_data(as_text=True)
    listed = client.get("/applications?related=1").get_data(as_text=True)
    assert case.number in listed and other.number not in listed
    assert other.number in client.get("/applications").get_data(as_text=True)
    # The filter answers htmx with the list alone.
    r = client.get("/applications?state=all&related=1", headers={"HX-Request": "true"})
    fragment = r.get_data(as_text=True)
    assert "<html" not in fragment and 'id="application-list"' in fragment and case.number in fragment


def test_a_case_outside_the_community_is_a_404_and_the_attempt_is_logged(client, db_session, office_in, case_factory,
                                                                        make_community):
    elsewhere = case_factory("application", community_=make_community("白云源社区", "Baiyunyuan"))
    r = client.get(f"/applications/{elsewhere.id}", headers={"Accept": "text/html"})
    assert r.status_code == 404
    token, _ = csrf(client)
    r = client.post(f"/applications/{elsewhere.id}/accept", data={"csrf_token": token, "version": 1})
    assert r.status_code == 404
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                            AuditEvent.case_id == elsewhere.id)).all()
    assert len(denied) == 2 and denied[0].actor_name == "office-i"
    db_session.refresh(elsewhere)
    assert elsewhere.state == "application"
    assert elsewhere.number not in client.get("/applications?state=all").get_data(as_text=True)


def test_a_county_reviewer_sees_the_county_but_does_not_register(client, make_user, sign_in, county, case_factory):
    make_user("county-i", roles=("county",), jurisdiction=county)
    case = case_factory("application")
    sign_in("county-i")
    assert case.number in client.get("/applications").get_data(as_text=True)
    assert client.get("/applications/new", headers={"Accept": "text/html"}).status_code == 403
    page = client.get(f"/applications/{case.id}?lang=en").get_data(as_text=True)
    assert "Accept the application" not in page


def test_the_pages_speak_chinese_by_default(client, office_in):
    html = client.get("/applications/new").get_data(as_text=True)
    assert "新的申请" in html or "登记申请" in html
    assert 'lang="zh-CN"' in html


def test_an_id_number_is_checked_as_it_is_typed_and_nothing_is_stored(client, db_session, office_in, community,
                                                                      make_user, case_factory):
    def check(number, name="王秀英"):
        r = client.get("/applications/new", headers={"HX-Request": "true"},
                       query_string={"check": "m-0-id_number", "m-0-id_number": number, "m-0-name": name,
                                     "lang": "en"})
        assert r.status_code == 200 and "<html" not in r.get_data(as_text=True)
        return r.get_data(as_text=True)

    assert "Born 1961-03-02 · Female" in check(APPLICANT_ID.lower())
    wrong = APPLICANT_ID[:-1] + ("X" if APPLICANT_ID[-1] != "X" else "0")
    assert "The check digit of the ID number is wrong (GB 11643)." in check(wrong)
    taken = case_factory("investigating")
    html = check(taken.household.members[0].id_number)
    assert f"Already in the open household of {taken.household.head_name} (case {taken.number})." in html
    assert f'href="/cases/{taken.id}"' in html
    staff = make_user("office-rel", roles=("office",), display_name="社工 小林")
    db_session.add(StaffRelation(jurisdiction_id=community.id, staff_user_id=staff.id, staff_name="社工 小林",
                                 staff_role="office", relative_name="李建国", relative_id_number=SPOUSE_ID,
                                 relation="spouse"))
    db_session.flush()
    html = check(SPOUSE_ID, "李建国")
    assert 'data-check="related"' in html and "李建国" in html and "社工 小林" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Household)) == 1  # only the factory's


def test_the_list_finds_a_case_by_number_or_name_and_pages_through_the_rest(client, db_session, office_in,
                                                                           case_factory, monkeypatch):
    from server.cases import queries

    cases = [case_factory("application") for _ in range(5)]
    target = cases[3]
    html = client.get("/applications", query_string={"q": target.household.head_name}).get_data(as_text=True)
    assert target.number in html and cases[0].number not in html
    html = client.get("/applications", query_string={"q": target.number[2:9]}).get_data(as_text=True)
    assert target.number in html
    monkeypatch.setattr(queries, "LIST_LIMIT", 2)
    seen = []
    for page in (1, 2, 3):
        html = client.get(f"/applications?page={page}&lang=en").get_data(as_text=True)
        seen += re.findall(r'<tr data-case="([^"]+)"', html)
        assert f"page {page} of 3" in html
    assert sorted(seen) == sorted(str(c.id) for c in cases)
    assert 'rel="next"' not in html and 'rel="prev"' in html
