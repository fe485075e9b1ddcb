"""A panel session in real Chromium (issue: panel, item 6): the office takes attendance and
opens the demo county's scheduled session, puts a case to the vote, two members score and
vote on their own tablets (separate browser contexts), the office closes the vote and sees
the tally. The pages are used with the keyboard where a person would; axe-core finds no
serious or critical violation on the voting screen."""
from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import live_app

SCORES = {"need": "24", "housing": "15", "health": "16", "labour": "9", "testimony": "12"}


@pytest.fixture(scope="module")
def panel_server(tmp_path_factory):
    """A demo county of its own: this test changes its panel session for good."""
    from server.demo import build_demo

    demo = lambda s: build_demo(s, households=40)  # noqa: E731
    with live_app(tmp_path_factory, "panel_ui", threads=4, seed=demo) as (base, _app, _seeded):
        yield base


def sign_in(page, base, username):
    page.goto(base + "/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", "demo1234")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_be_visible()


def test_office_opens_two_members_vote_office_closes_and_sees_the_tally(panel_server, browser):
    base = panel_server
    office_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    office = office_ctx.new_page()
    sign_in(office, base, "office1")
    office.goto(base + "/panel/sessions?lang=en")
    office.locator("tr", has=office.locator(".pstate-scheduled")).first.locator("a").first.click()
    expect(office.locator("[data-testid=session-state]")).to_have_text("Scheduled")
    expect(office.locator("[data-testid=quorum]")).to_contain_text("Attendance is not recorded")

    # Attendance: everyone but the police officer (叶卫东) and one representative; keyboard for one radio.
    rows = office.locator("#members tbody tr")
    for i in range(rows.count()):
        name = rows.nth(i).locator("td").first.inner_text()
        choice = "0" if name in ("叶卫东", "孙彩凤") else "1"
        radio = rows.nth(i).locator(f"input[type=radio][value='{choice}']")
        if i == 0:
            radio.focus()
            office.keyboard.press("Space")
        else:
            radio.check()
    office.get_by_role("button", name="Save attendance").click()
    expect(office.locator("[data-testid=quorum]")).to_contain_text("Present: 5 of 7 members; at least 5 needed.")
    office.locator("#open-session").click()
    expect(office.locator("[data-testid=session-state]")).to_have_text("In session")

    # The first case without a recusal goes to the vote.
    item = office.locator("li.agenda-item", has_not=office.locator(".recusals")).first
    number = item.get_attribute("data-case")
    item.locator("button", has_text="Open the vote on this case").click()
    item = office.locator(f"li.agenda-item[data-case='{number}']")
    expect(item.locator("[data-testid=item-state]")).to_have_text("Voting open")
    expect(item.locator("[data-testid=progress]")).to_contain_text("0 of 5 members able to vote have voted.")

    # Two members, each on their own tablet.
    for username, choice in (("panel4", "for"), ("panel5", "against")):
        ctx = browser.new_context(viewport={"width": 820, "height": 1180}, locale="en-US", has_touch=True)
        tablet = ctx.new_page()
        sign_in(tablet, base, username)
        tablet.goto(base + "/panel/?lang=en")
        tablet.locator(".session-card a").first.click()
        tablet.locator(f"li.agenda-item[data-case='{number}'] [data-testid=vote-now]").click()
        expect(tablet.locator("h1")).to_contain_text(number)
        expect(tablet.locator("[data-testid=household-size]")).to_be_visible()
        assert not re.search(r"\d{17}[\dX]", tablet.content())  # no ID number on the screen
        if username == "panel4":
            problems = [f'{v["id"]}: {v["help"]}' for v in Axe().run(tablet).response["violations"]
                        if v.get("impact") in ("serious", "critical")]
            assert problems == []
        for code, value in SCORES.items():
            tablet.fill(f"#score-{code}", value)
        tablet.locator(f"input[name=choice][value={choice}]").check()
        tablet.locator("#cast-vote").click()
        expect(tablet.locator(".messages")).to_contain_text("Your vote is recorded, anonymously.")
        expect(tablet.locator(f"li.agenda-item[data-case='{number}'] [data-testid=voted]")).to_be_visible()
        assert "against" not in tablet.locator("#my-agenda").inner_text().lower()
        ctx.close()

    # The office's page follows the vote by itself, then closes and counts it.
    expect(item.locator("[data-testid=progress]")).to_contain_text("2 of 5 members able to vote have voted.",
                                                                   timeout=15000)
    expect(item.locator("[data-testid=votes-for]")).to_have_count(0)
    item.locator("button", has_text="Close the vote and count it").click()
    item = office.locator(f"li.agenda-item[data-case='{number}']")
    expect(item.locator("[data-testid=item-state]")).to_have_text("Decided")
    expect(item.locator("[data-testid=votes-for]")).to_have_text("1")
    expect(item.locator("[data-testid=votes-against]")).to_have_text("1")
    expect(item.locator("[data-testid=votes-abstain]")).to_have_text("0")
    expect(item.locator("[data-testid=result]")).to_have_text("Not passed")  # 1 of 5: ⅔ not reached
    expect(item.locator("table.criteria")).to_contain_text("Need")
    office_ctx.close()
