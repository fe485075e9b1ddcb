"""The public notice in a real browser: anyone reads the notices being posted in a
community without signing in (only the three public fields), and the community office
records an objection, which holds the case, then answers it, which takes the notice down."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import live_app


def _seed(session):
    """The demo county (40 households) and one more case of office1's community passed by
    the panel today and posted, so the office has a notice in its posting period."""
    from server.accounts.models import User
    from server.cases import lifecycle
    from server.cases.models import Case
    from server.demo import build_demo
    from server.publicity import operations
    from server.visits.models import Visit

    build_demo(session, households=40)
    office = session.scalar(sa.select(User).where(User.username == "office1"))
    case = session.scalar(
        sa.select(Case).where(Case.community_id == office.jurisdiction_id, Case.state == "panel",
                              sa.exists().where(Visit.case_id == Case.id, Visit.state.in_(("in_review", "accepted"))))
        .order_by(Case.number).limit(1))
    assert case is not None, "the demo has a case before the panel in office1's community"
    lifecycle.transition(session, case, "publicity", office)
    notice = operations.post_notice(session, case, office)
    session.flush()
    return {"community": case.community.code, "name": notice.head_name_shown, "head": case.household.head_name,
            "address": case.household.address, "number": case.number, "notice": notice.id,
            "amount": f"{notice.amount:.2f}"}


@pytest.fixture(scope="module")
def notice_server(tmp_path_factory):
    with live_app(tmp_path_factory, "ui_notice", threads=2, seed=_seed) as (base, _app, seeded):
        yield base, seeded


def test_public_page_without_sign_in_then_the_office_records_and_answers_an_objection(notice_server, page):
    base, seeded = notice_server

    # Anyone: the public page, signed out, choosing the community from the list.
    page.goto(base + "/notices?lang=en")
    expect(page.locator("h1")).to_contain_text("Public notices")
    page.select_option("#community", seeded["community"])
    page.click("form button[type=submit]")
    rows = page.locator('[data-testid="public-notice"]')
    expect(rows.filter(has_text=seeded["name"]).first).to_be_visible()
    expect(rows.filter(has_text=seeded["amount"]).first).to_be_visible()
    body = page.locator("body").inner_text()
    assert seeded["head"] not in body and seeded["address"] not in body and seeded["number"] not in body
    assert "/login" not in page.url
    bad = [v["id"] for v in Axe().run(page).response["violations"] if v.get("impact") in ("serious", "critical")]
    assert bad == []
    page.click('nav.lang a[lang="zh-CN"]')
    expect(page.locator("h1")).to_contain_text("最低生活保障公示")

    # The office: its list, the notice, an anonymous objection by phone.
    page.goto(base + "/login?lang=en")
    page.fill("#username", "office1")
    page.fill("#password", "demo1234")
    page.click("button[type=submit]")
    page.goto(base + "/publicity")
    page.click(f'[data-testid="notice-{seeded["notice"]}"] a')
    expect(page.locator('[data-testid="case-state"]')).to_have_text("Public notice")
    page.select_option("#channel", "phone")
    page.fill("#content", "The son runs a shop in town and earns well.")
    page.click('[data-testid="record-objection"]')
    expect(page.locator(".msg-ok")).to_contain_text("Objection recorded")
    expect(page.locator('[data-testid="case-state"]')).to_have_text("Objection")
    objection = page.locator("article.objection.open")
    expect(objection).to_contain_text("Anonymous")
    expect(objection).to_contain_text("The son runs a shop in town")

    # The answer: a re-investigation; the case goes back to its team, the notice comes down.
    objection.locator('input[value="reinvestigate"]').check()
    objection.locator("textarea[name=response]").fill("The team will visit again and check the shop.")
    objection.locator("button[type=submit]").click()
    expect(page.locator(".msg-ok")).to_contain_text("Objection answered")
    expect(page.locator('[data-testid="case-state"]')).to_have_text("Investigating")
    expect(page.locator('[data-testid="notice-state"]')).to_contain_text("Withdrawn")

    # The public page no longer lists it.
    page.goto(base + f"/notices?community={seeded['community']}&lang=en")
    expect(page.locator("h2#notices-h")).to_be_visible()
    same = page.locator('[data-testid="public-notice"]').filter(has_text=seeded["name"]).filter(
        has_text=seeded["amount"])
    expect(same).to_have_count(0)
