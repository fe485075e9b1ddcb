"""The county's decision (DESIGN "The case lifecycle" and "Money"): approve or reject a
case in county review with the policy in force on the decision date, payment from the
first of the next month, a written reason for a rejection, a refused action that changes
nothing, the access rules, and the applicant's letter as A4 HTML and PDF."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
from decimal import Decimal

import pytest
import sqlalchemy as sa

from server.cases.lifecycle import local_today, transition
from server.cases.models import Case, CaseTransition, Decision
from server.core.audit import AuditEvent
from server.decisions import operations
from server.policy import engine
from server.policy.models import PolicyVersion
from server.policy.settings import PolicySettings, merge_defaults
from server.review.flags import household_in
from server.visits.models import Visit
from tests.review_fixtures import bearer, form_of, office, team, visited_case  # noqa: F401 - fixtures

FIRST_STEPS = ("in_review", "panel", "publicity", "county_review")


# --- fixtures and helpers (test_rechecks.py uses them too) ------------------------------


@pytest.fixture()
def county_user(make_user, county):
    return make_user("county-a", roles=("county",), jurisdiction=county)


@pytest.fixture()
def awaiting_decision(visited_case, office, db_session, policy):
    """A case whose visit came through the API, taken by the office through review, the
    panel and public notice to the county."""

    def make(**visit_changes):
        case, visit_id, body = visited_case(**visit_changes)
        for step in FIRST_STEPS:
            transition(db_session, case, step, office)
        db_session.flush()
        return case

    return make


def add_version(db_session, place, effective_from, **settings) -> PolicyVersion:
    version = PolicyVersion(jurisdiction_id=place.id, effective_from=effective_from,
                            settings=merge_defaults(settings), note=f"from {effective_from}")
    db_session.add(version)
    db_session.flush()
    return version


def expected_allowance(db_session, case, version) -> Decimal:
    """What the engine gives the case's visit under `version` (computed independently of
    the decision code, from the stored visit)."""
    visit = db_session.scalar(sa.select(Visit).where(Visit.case_id == case.id))
    settings = PolicySettings.from_dict(merge_defaults(version.settings))
    return engine.evaluate(settings, household_in(visit), version.effective_from).allowance


def decisions_of(db_session, case) -> list[Decision]:
    return list(db_session.scalars(sa.select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)))


def moves_of(db_session, case) -> list[tuple[str, str, int | None]]:
    return [(t.from_state, t.to_state, t.actor_id) for t in db_session.scalars(
        sa.select(CaseTransition).where(CaseTransition.case_id == case.id).order_by(CaseTransition.id))]


def events(db_session, case_id, action) -> list[AuditEvent]:
    return list(db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                               AuditEvent.action == action)))


def open_page(client, url, status=200) -> str:
    r = client.get(url)
    assert r.status_code == status, r.get_data(as_text=True)[:800]
    return r.get_data(as_text=True)


def decide_form(client, case, decision, reason="", **extra) -> dict:
    form = form_of(open_page(client, f"/decisions/{case.id}?lang=en"), f"/decisions/{case.id}")
    return {**form, "decision": decision, "reason": reason, **extra}


# --- the policy in force on the decision date -----------------------------------------


def test_the_allowance_uses_the_policy_in_force_on_the_decision_date(db_session, awaiting_decision, county_user,
                                                                     county, policy):
    raised = add_version(db_session, county, dt.date(2027, 1, 1), monthly_standard="1250.00")
    before, after = awaiting_decision(), awaiting_decision()

    d1 = operations.decide(db_session, before, county_user, "approve", "", stability=None, today=dt.date(2026, 12, 15))
    d2 = operations.decide(db_session, after, county_user, "approve", "", stability=None, today=dt.date(2027, 1, 4))

    assert (d1.policy_version_id, d1.standard) == (policy.id, Decimal("1100.00"))
    assert (d2.policy_version_id, d2.standard) == (raised.id, Decimal("1250.00"))
    assert d1.allowance == expected_allowance(db_session, before, policy)
    assert d2.allowance == expected_allowance(db_session, after, raised)
    assert d2.allowance > d1.allowance
    # The engine's whole answer is kept with the decision.
    assert d1.evaluation["standard"] == "1100.00" and d1.evaluation["policy_version"]["id"] == policy.id
    assert d1.evaluation["allowance"] == str(d1.allowance) and d1.evaluation["reasons"]
    assert {r["code"] for r in d2.evaluation["reasons"]} >= {"standard", "base_allowance"}
    # December's decision is paid from January of the next year.
    assert d1.payment_from == dt.date(2027, 1, 1) and d2.payment_from == dt.date(2027, 2, 1)
    assert (before.allowance, before.payment_from) == (d1.allowance, d1.payment_from)
    assert before.state == after.state == "active"


@pytest.mark.parametrize("day, first", [
    (dt.date(2026, 11, 23), dt.date(2026, 12, 1)),
    (dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    (dt.date(2026, 12, 31), dt.date(2027, 1, 1)),
    (dt.date(2027, 1, 31), dt.date(2027, 2, 1)),
    (dt.date(2028, 2, 29), dt.date(2028, 3, 1)),
])
def test_payment_starts_on_the_first_of_the_following_month(day, first):
    assert operations.first_of_next_month(day) == first


def test_months_are_added_to_a_payment_date_across_years():
    assert operations.add_months(dt.date(2026, 12, 1), 6) == dt.date(2027, 6, 1)
    assert operations.add_months(dt.date(2026, 7, 1), 12) == dt.date(2027, 7, 1)
    assert operations.add_months(dt.date(2027, 1, 31), 1) == dt.date(2027, 2, 28)
    assert operations.parse_month("2027-01") == dt.date(2027, 1, 1)
    assert operations.parse_month("2027-13") is None and operations.parse_month("") is None


# --- approve and reject through the pages ---------------------------------------------


def test_the_county_approves_from_its_queue_and_payment_starts(client, sign_in, db_session, awaiting_decision,
                                                             county_user, county, policy):
    later = add_version(db_session, county, local_today() + dt.timedelta(days=1), monthly_standard="1500.00")
    case = awaiting_decision()
    sign_in(county_user.username)
    queue = open_page(client, "/decisions?lang=en")
    assert case.number in queue and case.decision_due.isoformat() in queue

    page = open_page(client, f"/decisions/{case.id}?lang=en")
    assert "Findings and the policy" in page and "Evaluation panel" in page
    assert "Public notice and objections" in page
    assert f"version of {policy.effective_from.isoformat()}" in page  # not tomorrow's version
    r = client.post(f"/decisions/{case.id}", data=decide_form(client, case, "approve", stability="stable"))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/decisions/{case.id}")

    db_session.expire_all()
    case = db_session.get(Case, case.id)
    [d] = decisions_of(db_session, case)
    today = local_today()
    assert d.outcome == "approved" and d.decision_date == today and d.decided_by_id == county_user.id
    assert d.policy_version_id == policy.id != later.id and d.standard == Decimal("1100.00")
    assert d.allowance == expected_allowance(db_session, case, policy) > 0
    assert d.payment_from == operations.first_of_next_month(today)
    assert case.state == "active" and case.allowance == d.allowance and case.payment_from == d.payment_from
    assert case.stability == "stable" and case.next_recheck_due == operations.add_months(d.payment_from, 12)
    # Approved by the county, then the payment started by the system in the same request.
    assert moves_of(db_session, case)[-2:] == [("county_review", "approved", county_user.id),
                                               ("approved", "active", None)]
    [event] = events(db_session, case.id, "decision.made")
    assert event.after["outcome"] == "approved" and event.after["late"] is False
    # The visit decided on is accepted (the facts the policy impact preview and re-checks read).
    assert db_session.scalar(sa.select(Visit.state).where(Visit.case_id == case.id)) == "accepted"
    done = open_page(client, f"/decisions/{case.id}?lang=en")
    assert "Approved; the payment is scheduled." in done and f"/decisions/letters/{d.id}" in done
    assert case.number not in open_page(client, "/decisions?lang=en")


def test_a_rejection_needs_a_written_reason_and_nothing_changes_without_one(client, sign_in, db_session,
                                                                          awaiting_decision, county_user):
    case = awaiting_decision()
    before = (case.state, case.version, len(moves_of(db_session, case)))
    sign_in(county_user.username)
    r = client.post(f"/decisions/{case.id}", data=decide_form(client, case, "reject", reason="   "))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="err-reason"' in html and "A reason is required" in html
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    assert (case.state, case.version, len(moves_of(db_session, case))) == before
    assert decisions_of(db_session, case) == []

    reason = "家庭人均收入高于本县低保标准，不符合条件。"
    r = client.post(f"/decisions/{case.id}", data=decide_form(client, case, "reject", reason=reason))
    assert r.status_code == 303
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    [d] = decisions_of(db_session, case)
    assert case.state == "rejected" and (d.outcome, d.reason, d.allowance, d.payment_from) == (
        "rejected", reason, Decimal("0.00"), None)
    assert case.allowance is None and case.next_recheck_due is None
    assert moves_of(db_session, case)[-1][:2] == ("county_review", "rejected")


def test_a_case_still_in_public_notice_is_refused_and_nothing_changes(client, sign_in, db_session, visited_case,
                                                                     office, county_user, policy):
    case, _v, _b = visited_case()
    for step in FIRST_STEPS[:-1]:
        transition(db_session, case, step, office)
    db_session.flush()
    before = (case.state, case.version, len(moves_of(db_session, case)))
    sign_in(county_user.username)
    page = open_page(client, f"/decisions/{case.id}?lang=en")
    assert 'data-testid="not-waiting"' in page and 'data-testid="approve"' not in page
    form = form_of(page, "/logout")  # only the CSRF token: the page offers no decision form
    r = client.post(f"/decisions/{case.id}", data={"csrf_token": form["csrf_token"], "decision": "approve",
                                                   "version": str(case.version), "stability": "stable"})
    assert r.status_code == 409
    assert "not waiting for the county" in r.get_data(as_text=True)
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    assert (case.state, case.version, len(moves_of(db_session, case))) == before
    assert decisions_of(db_session, case) == [] and case.allowance is None
    with pytest.raises(operations.NotInCountyReview):
        operations.decide(db_session, case, county_user, "approve", "", stability=None, today=local_today())


def test_a_case_of_another_county_is_not_found_and_the_attempt_logged(client, sign_in, db_session, make_user,
                                                                      awaiting_decision, policy):
    from server.core.models import Jurisdiction

    elsewhere = Jurisdiction(code="339999", name="建德市", name_en="Jiande", kind="county")
    db_session.add(elsewhere)
    db_session.flush()
    stranger = make_user("county-b", roles=("county",), jurisdiction=elsewhere)
    case = awaiting_decision()
    sign_in(stranger.username)
    assert case.number not in open_page(client, "/decisions?lang=en")
    assert client.get(f"/decisions/{case.id}").status_code == 404
    token = form_of(open_page(client, "/decisions?lang=en"), "/logout")["csrf_token"]
    r = client.post(f"/decisions/{case.id}", data={"csrf_token": token, "decision": "approve"})
    assert r.status_code == 404
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "county_review"
    assert len(events(db_session, case.id, "access.denied")) == 2


@pytest.mark.parametrize("role", ["office", "investigator", "panel", "admin"])
def test_only_the_county_decides(client, sign_in, db_session, make_user, awaiting_decision, role):
    case = awaiting_decision()
    user = make_user(f"not-county-{role}", roles=(role,))
    sign_in(user.username)
    assert client.get("/decisions").status_code == 403
    assert client.get(f"/decisions/{case.id}").status_code == 403
    token = form_of(open_page(client, "/?lang=en"), "/logout")["csrf_token"]
    assert client.post(f"/decisions/{case.id}", data={"csrf_token": token, "decision": "approve",
                                                      "stability": "stable"}).status_code == 403
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "county_review"


def test_a_decision_after_the_deadline_is_made_and_shown_as_late(client, sign_in, db_session, awaiting_decision,
                                                                county_user):
    case = awaiting_decision()
    case.decision_due = local_today() - dt.timedelta(days=3)
    db_session.flush()
    sign_in(county_user.username)
    assert 'data-testid="overdue"' in open_page(client, "/decisions?lang=en")
    page = open_page(client, f"/decisions/{case.id}?lang=en")
    assert 'data-testid="late"' in page and "recorded as late" in page
    r = client.post(f"/decisions/{case.id}", data=decide_form(client, case, "approve", stability="stable"))
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "active"
    [event] = events(db_session, case.id, "decision.made")
    assert event.after["late"] is True
    assert 'data-testid="late-badge"' in open_page(client, f"/decisions/{case.id}?lang=en")


def test_the_same_form_twice_decides_once_and_a_stale_page_is_told(client, sign_in, db_session, awaiting_decision,
                                                                  county_user):
    case = awaiting_decision()
    sign_in(county_user.username)
    form = decide_form(client, case, "approve", stability="stable")
    assert client.post(f"/decisions/{case.id}", data=form).status_code == 303
    again = client.post(f"/decisions/{case.id}", data=form, follow_redirects=True)
    assert again.status_code == 200 and "already sent" in again.get_data(as_text=True)
    assert len(decisions_of(db_session, case)) == 1

    other = awaiting_decision()
    stale = decide_form(client, other, "approve", stability="stable")
    other.related_to_staff = True  # anything that bumps the version: someone else saved the case
    db_session.flush()
    r = client.post(f"/decisions/{other.id}", data=stale)
    assert r.status_code == 409 and "changed since you opened it" in r.get_data(as_text=True)
    assert decisions_of(db_session, other) == []


def test_a_household_not_eligible_today_can_only_be_rejected(client, sign_in, db_session, awaiting_decision,
                                                            county_user):
    case = awaiting_decision(income=[{"member": 0, "kind": "wage", "monthly_amount": "6000.00"}])
    sign_in(county_user.username)
    page = open_page(client, f"/decisions/{case.id}?lang=en")
    assert "Not eligible." in page and "only a rejection can be recorded" in page
    r = client.post(f"/decisions/{case.id}", data=decide_form(client, case, "approve", stability="stable"))
    assert r.status_code == 422 and "not eligible" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "county_review" and decisions_of(db_session, case) == []


def test_stability_is_proposed_from_the_visit_and_the_county_may_change_it(client, sign_in, db_session,
                                                                          awaiting_decision, county_user):
    members = [
        {"name": "周建华", "relation": "self", "sex": "M", "birth_date": "1980-05-01", "health": "healthy",
         "labour_ability": "full", "work_status": "flexible"},
        {"name": "周小雨", "relation": "child", "sex": "F", "birth_date": "2015-09-01", "health": "healthy",
         "labour_ability": "none", "work_status": "student", "student": True},
    ]
    case = awaiting_decision(members=members, income=[{"member": 0, "kind": "wage", "monthly_amount": "800.00"}])
    sign_in(county_user.username)
    page = open_page(client, f"/decisions/{case.id}?lang=en")
    assert re.search(r'id="stability-unstable" name="stability" value="unstable" checked', page)
    assert "周建华 able to work" in page
    # The county overrides the proposal: stable, so a yearly re-check.
    r = client.post(f"/decisions/{case.id}", data=decide_form(client, case, "approve", stability="stable"))
    assert r.status_code == 303
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    assert case.stability == "stable" and case.next_recheck_due == operations.add_months(case.payment_from, 12)


# --- the letter -----------------------------------------------------------------------


def pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True).stdout.decode()


def png_not_blank(data: bytes, tmp_path) -> bool:
    from PIL import Image, ImageStat

    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True)
    [png] = list(tmp_path.glob("page*.png"))
    with Image.open(png) as image:
        gray = image.convert("L")
        assert gray.size[0] > 300 and gray.size[1] > 400  # A4 at 50 dpi: 413 × 585
        dark = sum(gray.histogram()[:128])
        return ImageStat.Stat(gray).stddev[0] > 5 and dark > 200


def test_the_approval_letter_as_a4_html_and_pdf(client, sign_in, db_session, awaiting_decision, county_user, county,
                                               office, tmp_path):
    case = awaiting_decision()
    d = operations.decide(db_session, case, county_user, "approve", "", stability="stable", today=local_today())
    applicant = case.household.members[0].name
    sign_in(county_user.username)
    html = open_page(client, f"/decisions/letters/{d.id}")  # the users' language by default
    assert "最低生活保障" in html and applicant in html and case.number in html
    assert f"{d.allowance}" in html and f"{d.payment_from.year}年{d.payment_from.month}月" in html
    assert "行政复议" in html and county.name in html and "<script>" not in html
    en = open_page(client, f"/decisions/letters/{d.id}?lang=en")
    assert "has been examined and approved" in en and d.payment_from.strftime("%B %Y") in en
    assert "administrative review within 60 days" in en

    r = client.get(f"/decisions/letters/{d.id}.pdf?lang=zh_CN")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    text = pdf_text(r.data, tmp_path)
    assert applicant in text and case.number in text and str(d.allowance) in text
    assert f"{d.payment_from.year}年{d.payment_from.month}月" in text and "行政复议" in text and county.name in text
    assert png_not_blank(r.data, tmp_path)
    [event] = events(db_session, case.id, "decision.letter_pdf")
    assert event.entity_id == str(d.id) and len(event.after["sha256"]) == 64

    # The office of the community prints it too; an investigator may not.
    client.post("/logout", data={"csrf_token": form_of(html_of(client), "/logout")["csrf_token"]})
    sign_in(office.username)
    assert client.get(f"/decisions/letters/{d.id}").status_code == 200


def html_of(client) -> str:
    return client.get("/?lang=en").get_data(as_text=True)


def test_the_rejection_letter_gives_the_reason(client, sign_in, db_session, awaiting_decision, county_user, tmp_path,
                                              make_user):
    case = awaiting_decision()
    reason = "经入户调查，家庭拥有价值较高的机动车，不符合最低生活保障条件。"
    d = operations.decide(db_session, case, county_user, "reject", reason, stability=None, today=local_today())
    sign_in(county_user.username)
    r = client.get(f"/decisions/letters/{d.id}.pdf?lang=zh_CN")
    text = pdf_text(r.data, tmp_path)
    assert "不予批准" in text or "未获批准" in text
    assert "家庭拥有价值较高的机动车" in text.replace("\n", "").replace(" ", "") and "行政复议" in text
    en = open_page(client, f"/decisions/letters/{d.id}?lang=en")
    assert "is not approved, for the following reason" in en and reason in en


def test_letters_follow_the_case_access_rules(client, sign_in, db_session, awaiting_decision, county_user, make_user,
                                             make_community):
    case = awaiting_decision()
    d = operations.decide(db_session, case, county_user, "approve", "", stability=None, today=local_today())
    elsewhere = make_user("office-far", roles=("office",), jurisdiction=make_community("远山社区", "Yuanshan"))
    sign_in(elsewhere.username)
    assert client.get(f"/decisions/letters/{d.id}").status_code == 404
    assert client.get(f"/decisions/letters/{d.id}.pdf").status_code == 404
    assert client.get("/decisions/letters/999999").status_code == 404
    assert events(db_session, case.id, "decision.letter_pdf") == []
    investigator = make_user("inv-letter", roles=("investigator",))
    client.post("/logout", data={"csrf_token": form_of(html_of(client), "/logout")["csrf_token"]})
    sign_in(investigator.username)
    assert client.get(f"/decisions/letters/{d.id}").status_code == 403


def test_a_county_reviewer_related_to_the_household_does_not_decide(client, sign_in, db_session, awaiting_decision,
                                                                   county_user, county):
    """M21 Art 11: a relative's case is seen, not decided (403, logged)."""
    from server.accounts.models import StaffRelation

    case = awaiting_decision()
    member = case.household.members[0]
    db_session.add(StaffRelation(jurisdiction_id=county.id, staff_user_id=county_user.id,
                                 staff_name=county_user.display_name, staff_role="county", relative_name=member.name,
                                 relative_id_number=member.id_number, relation="sibling"))
    db_session.flush()
    sign_in(county_user.username)
    page = open_page(client, f"/decisions/{case.id}?lang=en")
    assert "not decide on it" in page and 'data-testid="approve"' not in page
    token = form_of(page, "/logout")["csrf_token"]
    r = client.post(f"/decisions/{case.id}", data={"csrf_token": token, "decision": "approve",
                                                   "version": str(case.version), "stability": "stable"})
    assert r.status_code == 403
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "county_review" and decisions_of(db_session, case) == []
    assert [e.after.get("acting") for e in events(db_session, case.id, "access.denied")] == [True]


def test_the_case_file_section_lists_the_decisions_with_their_letters(app, db_session, awaiting_decision,
                                                                       county_user, office):
    """decisions/_case_section.html, as the office's case file includes it."""
    from flask import g, render_template_string

    from server.decisions import queries

    case = awaiting_decision()
    d = operations.decide(db_session, case, county_user, "approve", "", stability="unstable",
                          today=dt.date(2026, 12, 15))
    with app.test_request_context("/?lang=en"):
        g.user = office
        html = render_template_string('{% include "decisions/_case_section.html" %}',
                                      **queries.case_section(db_session, case))
    assert 'data-outcome="approved"' in html and str(d.allowance) in html and "2027-01" in html
    assert f"/decisions/letters/{d.id}" in html and f"/decisions/letters/{d.id}.pdf" in html
    assert "Next re-check due 2027-07-01." in html and county_user.display_name in html


def test_the_pages_speak_chinese_by_default_and_english_on_request(client, sign_in, awaiting_decision, county_user):
    case = awaiting_decision()
    sign_in(county_user.username)
    zh = open_page(client, f"/decisions/{case.id}?lang=zh_CN")
    assert "县级审批决定" in zh and "批准" in zh and "书面理由" in zh and "County decisions" not in zh
    assert "等待县级审批的案件" in open_page(client, "/decisions")
    assert "启动到期复核" in open_page(client, "/rechecks")
    en = open_page(client, f"/decisions/{case.id}?lang=en")
    assert "Written reason (required to reject)" in en and "县级审批决定" not in en
