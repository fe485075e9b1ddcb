"""The notice pages: the public page (no sign-in, three fields, cacheable), the office's
list and notice page with the objection and answer forms, the end of posting, the print
batch as A4 HTML and PDF; who may see and act."""
from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
import sqlalchemy as sa

from server.cases.lifecycle import local_today
from server.core.audit import AuditEvent
from server.publicity import operations
from server.publicity.models import Notice, Objection
from tests.publicity_fixtures import *  # noqa: F401,F403


def _hidden(html: str, action: str) -> dict:
    return form_of(html, action)  # noqa: F405


@pytest.fixture()
def up(posted):
    """A notice posted today (so it is on the public page now)."""
    return posted()


# --- the public page ---------------------------------------------------------------------


def test_public_page_needs_no_sign_in_and_lists_the_notices_up_today(client, up, community):
    case, notice = up
    r = client.get(f"/notices?community={community.code}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert notice.head_name_shown in html and f"{notice.amount:.2f}" in html
    assert notice.posted_until.isoformat() in html
    assert case.household.head_name not in html  # masked
    assert case.number not in html and case.household.address not in html


def test_public_page_lists_communities_with_their_counts(client, up, community):
    html = client.get("/notices").get_data(as_text=True)
    assert community.name in html
    assert re.search(re.escape(community.name) + r"\s*\(1\)", html)


def test_public_page_in_english(client, up, community):
    html = client.get(f"/notices?community={community.code}&lang=en").get_data(as_text=True)
    assert "Public notices" in html and community.name_en in html and 'lang="en"' in html


def test_public_page_in_chinese_by_default(client, up, community):
    html = client.get(f"/notices?community={community.code}").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "公示" in html


def test_public_page_is_cacheable_and_answers_304_when_unchanged(client, up, community):
    r = client.get(f"/notices?community={community.code}")
    assert "public" in r.headers["Cache-Control"] and "max-age=" in r.headers["Cache-Control"]
    assert "Cookie" in r.headers.get("Vary", "")
    assert "Set-Cookie" not in r.headers
    again = client.get(f"/notices?community={community.code}", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304


def test_public_page_asks_no_csrf_token_and_sets_no_session(client, up, community):
    r = client.get(f"/notices?community={community.code}")
    assert "csrf_token" not in r.get_data(as_text=True)
    assert not any(h.startswith("session=") for h in r.headers.getlist("Set-Cookie"))


def test_public_page_leaves_out_notices_not_up(client, db_session, posted, office, community):
    future_case, future = posted(on=local_today() + dt.timedelta(days=2))
    past_case, past = posted(on=local_today() - dt.timedelta(days=9))  # posting over, not yet sent
    held_case, held = posted()
    operations.record_objection(db_session, held, office, channel="phone", content="异议")
    answered_case, answered = posted()
    o = operations.record_objection(db_session, answered, office, channel="phone", content="异议")
    operations.answer_objection(db_session, o, office, resolution="return_to_panel", response="重评")
    html = client.get(f"/notices?community={community.code}").get_data(as_text=True)
    rows = re.findall(r'data-testid="public-notice"', html)
    assert len(rows) == 1  # the one held by an open objection stays up until it is answered
    assert held.posted_from.isoformat() in html
    assert future.posted_from.isoformat() not in html and past.posted_until.isoformat() not in html


def test_public_page_costs_the_same_few_queries_however_many_notices(app, client, posted, community):
    from tests.review_fixtures import QueryCounter

    posted()
    engine = app.extensions["doorstep_db"].engine
    with QueryCounter(engine) as one:
        assert client.get(f"/notices?community={community.code}").status_code == 200
    for _ in range(4):
        posted()
    with QueryCounter(engine) as five:
        html = client.get(f"/notices?community={community.code}").get_data(as_text=True)
    assert html.count('data-testid="public-notice"') == 5
    assert five.count == one.count <= 3


def test_unknown_community_is_404(client):
    assert client.get("/notices?community=NOPE").status_code == 404


# --- the office ----------------------------------------------------------------------------


def test_office_lists_its_communitys_notices_with_dates_and_objections(client, db_session, posted, office, sign_in):
    case, notice = posted()
    operations.record_objection(db_session, notice, office, channel="letter", content="有车")
    sign_in("office-r")
    html = client.get("/publicity?lang=en").get_data(as_text=True)
    row = re.search(rf'<tr[^>]*data-testid="notice-{notice.id}">(.*?)</tr>', html, re.S).group(1)
    assert case.number in row and notice.posted_from.isoformat() in row and notice.posted_until.isoformat() in row
    assert "1 open" in row and "Objection" in row


def test_another_communitys_notice_is_404_and_logged(client, db_session, posted, make_community, make_user, sign_in):
    case, notice = posted()
    elsewhere = make_community("东风社区", "Dongfeng Community")
    make_user("office-y", roles=("office",), jurisdiction=elsewhere)
    sign_in("office-y")
    assert client.get(f"/publicity/notices/{notice.id}").status_code == 404
    assert client.get(f"/publicity/notices/{notice.id}/print.pdf").status_code == 404
    r = client.post(f"/publicity/notices/{notice.id}/objections", data={"channel": "phone", "content": "x"})
    assert r.status_code in (400, 404)  # no CSRF token: refused before anything else
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert any(e.entity == "notice" and e.entity_id == str(notice.id) for e in denied)


def test_county_reads_but_may_not_record_an_objection(client, db_session, posted, make_user, county, sign_in):
    case, notice = posted()
    make_user("county-r", roles=("county",), jurisdiction=county)
    sign_in("county-r")
    page = client.get(f"/publicity/notices/{notice.id}")
    assert page.status_code == 200
    assert 'id="objection-form"' not in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post(f"/publicity/notices/{notice.id}/objections",
                    data={"csrf_token": token, "channel": "phone", "content": "x"})
    assert r.status_code == 403
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


def _objection_form(client, notice):
    html = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    return _hidden(html, f"/publicity/notices/{notice.id}/objections")


def test_recording_an_objection_through_the_page(client, db_session, posted, office, sign_in):
    case, notice = posted()
    sign_in("office-r")
    form = _objection_form(client, notice)
    r = client.post(f"/publicity/notices/{notice.id}/objections",
                    data={**form, "objector_name": "", "contact": "", "channel": "online", "content": "他家有轿车"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/publicity/notices/{notice.id}")
    # the same form again (a double click) records nothing more
    again = client.post(f"/publicity/notices/{notice.id}/objections",
                        data={**form, "objector_name": "", "contact": "", "channel": "online", "content": "他家有轿车"})
    assert again.status_code == 303
    db_session.expire_all()
    objections = db_session.scalars(sa.select(Objection).where(Objection.notice_id == notice.id)).all()
    assert len(objections) == 1 and objections[0].objector_name is None and objections[0].channel == "online"
    assert db_session.get(type(case), case.id).state == "objection"
    page = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    assert "他家有轿车" in page and ("Anonymous" in page or "匿名" in page)


def test_a_bad_objection_form_comes_back_with_errors_and_what_was_typed(client, db_session, posted, sign_in):
    case, notice = posted()
    sign_in("office-r")
    form = _objection_form(client, notice)
    r = client.post(f"/publicity/notices/{notice.id}/objections",
                    data={**form, "objector_name": "钱先生", "contact": "138", "channel": "", "content": ""})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="err-channel"' in html and 'id="err-content"' in html and 'value="钱先生"' in html
    db_session.expire_all()
    assert db_session.get(type(case), case.id).state == "publicity"


def test_an_objection_after_the_posting_period_is_refused_on_the_page(client, db_session, posted, sign_in):
    case, notice = posted(on=local_today() - dt.timedelta(days=7))  # its last day was yesterday
    sign_in("office-r")
    html = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    assert 'id="objection-form"' not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post(f"/publicity/notices/{notice.id}/objections",
                    data={"csrf_token": token, "form_id": "x1", "channel": "phone", "content": "迟到的异议"})
    assert r.status_code == 409
    assert "page-message" in r.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


@pytest.mark.parametrize("resolution, state", [("reinvestigate", "investigating"), ("return_to_panel", "panel")])
def test_answering_an_objection_through_the_page(client, db_session, posted, office, sign_in, resolution, state):
    case, notice = posted()
    objection = operations.record_objection(db_session, notice, office, channel="phone", content="有异议")
    sign_in("office-r")
    html = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    form = _hidden(html, f"/publicity/objections/{objection.id}/answer")
    bad = client.post(f"/publicity/objections/{objection.id}/answer", data={**form, "resolution": resolution,
                                                                            "response": " "})
    assert bad.status_code == 422 and 'id="err-response"' in bad.get_data(as_text=True)
    r = client.post(f"/publicity/objections/{objection.id}/answer",
                    data={**form, "resolution": resolution, "response": "书面答复内容"})
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(type(case), case.id).state == state
    assert db_session.get(Notice, notice.id).state == "withdrawn"
    page = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    assert "书面答复内容" in page
    # a stale page's second answer changes nothing
    stale = client.post(f"/publicity/objections/{objection.id}/answer",
                        data={**form, "form_id": "other", "resolution": "reinvestigate", "response": "再来"})
    assert stale.status_code == 409
    db_session.expire_all()
    assert db_session.get(Objection, objection.id).response == "书面答复内容"


def test_end_of_posting_button_for_the_community(client, db_session, posted, sign_in):
    done_case, done = posted(on=local_today() - dt.timedelta(days=7))
    running_case, running = posted()
    sign_in("office-r")
    html = client.get("/publicity").get_data(as_text=True)
    assert 'data-testid="end-finished"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/publicity/end-finished", data={"csrf_token": token, "community": str(done.community_id)})
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(type(done_case), done_case.id).state == "county_review"
    assert db_session.get(type(running_case), running_case.id).state == "publicity"
    assert done_case.number in client.get(r.headers["Location"]).get_data(as_text=True)


def test_ending_one_posting_before_its_end_is_refused_on_the_page(client, db_session, posted, sign_in):
    case, notice = posted()
    sign_in("office-r")
    html = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    assert 'data-testid="end-posting"' not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post(f"/publicity/notices/{notice.id}/end", data={"csrf_token": token})
    assert r.status_code == 409
    db_session.expire_all()
    assert db_session.get(type(case), case.id).state == "publicity"


def test_ending_one_finished_posting_on_the_page(client, db_session, posted, sign_in):
    case, notice = posted(on=local_today() - dt.timedelta(days=7))
    sign_in("office-r")
    html = client.get(f"/publicity/notices/{notice.id}").get_data(as_text=True)
    form = _hidden(html, f"/publicity/notices/{notice.id}/end")
    assert client.post(f"/publicity/notices/{notice.id}/end", data=form).status_code == 303
    assert client.post(f"/publicity/notices/{notice.id}/end", data=form).status_code == 303  # harmless twice
    db_session.expire_all()
    assert db_session.get(type(case), case.id).state == "county_review"


# --- printing ------------------------------------------------------------------------------


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "n.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_print_batch_as_a4_html_and_pdf(client, db_session, posted, sign_in, community, tmp_path):
    first_case, first = posted()
    second_case, second = posted()
    sign_in("office-r")
    html = client.get(f"/publicity/print?community={community.id}&contact=桐君路1号 0571-1234").get_data(as_text=True)
    for n in (first, second):
        assert n.head_name_shown in html and f"{n.amount:.2f}" in html
    assert first.posted_from.isoformat() in html and first.posted_until.isoformat() in html
    assert community.name in html and "桐君路1号 0571-1234" in html
    assert "<script>" not in html and "onclick" not in html
    r = client.get(f"/publicity/print.pdf?community={community.id}")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    text = _pdf_text(r.data, tmp_path)
    assert first.head_name_shown in text and second.head_name_shown in text
    assert f"{first.amount:.2f}" in text and first.posted_until.isoformat() in text
    assert community.name in text
    prints = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "notice.print")).all()
    assert {e.after["format"] for e in prints} == {"html", "pdf"}


def test_one_notices_pdf_renders_to_a_page_that_is_not_blank(client, posted, sign_in, tmp_path):
    from PIL import Image

    case, notice = posted()
    sign_in("office-r")
    r = client.get(f"/publicity/notices/{notice.id}/print.pdf")
    assert r.status_code == 200
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(r.data)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True)
    png = next(tmp_path.glob("page*.png"))
    image = Image.open(png).convert("L")
    assert image.size[0] < image.size[1]  # portrait A4
    dark = image.histogram()[:128]
    dark = sum(dark)
    assert dark > 500  # text and table lines, not an empty page


def test_case_section_shows_the_cases_notices_and_objections(app, db_session, posted, office):
    from flask import render_template

    case, notice = posted()
    operations.record_objection(db_session, notice, office, channel="letter", content="有异议内容", objector_name="孙女士")
    with app.test_request_context("/"):
        html = render_template("publicity/_case_section.html", case=case)
    assert notice.posted_from.isoformat() in html and "有异议内容" in html and "孙女士" in html
    assert f'data-testid="case-notice-{notice.id}"' in html


def test_case_section_of_a_case_never_posted(app, db_session, case_factory):
    from flask import render_template

    case = case_factory(state="panel")
    with app.test_request_context("/"):
        html = render_template("publicity/_case_section.html", case=case)
    assert 'id="publicity"' in html and "notice-state" not in html
