"""The office's whole loop in a real browser (issue 6 "Tests"): an application registered at
the counter is accepted and assigned; the team's tablet gets it at its next sync and sends
the visit through the API; the review queue shows it with its flags; the office returns it
for a re-visit, the second visit arrives, and the case goes to the panel."""
from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.ui.test_intake import register
from tests.ui.test_review_pages import put_visit, real_visit, sign_in, token


def sync(base, auth, since=None) -> dict:
    r = requests.get(base + "/api/v1/sync/assignments", params={"since": since} if since else {}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_intake_to_panel_through_the_tablet_and_the_queue(live_server, page):
    tablet = token(live_server, "investigator1")
    before = sync(live_server, tablet)

    # The counter: register, accept, assign to the community's team.
    sign_in(page, live_server)
    case_id = register(page, live_server, seed=11, head="冯玉珍")
    page.click("button[name=accept]")
    expect(page.locator("[data-testid=state]")).to_have_text("Accepted")
    page.click("header >> text=Assignment")
    page.locator(f"[data-testid=waiting] tr[data-case='{case_id}'] input[type=checkbox]").check()
    page.select_option("#team", page.locator("#team option", has_text="迎春社区调查一组").get_attribute("value"))
    page.click("button[name=assign]")
    expect(page.locator(f"[data-testid=held] tr[data-case='{case_id}']")).to_contain_text("迎春社区调查一组")

    # The tablet's next sync brings the case, with the household as registered.
    changes = sync(live_server, tablet, before["cursor"])
    mine = next(c for c in changes["cases"] if c["id"] == case_id)
    assert mine["state"] == "investigating" and mine["household"]["head_name"] == "冯玉珍"
    assert [m["name"] for m in mine["household"]["members"]] == ["冯玉珍", "陈国强", "陈小雨"]
    assert mine["household"]["location"] is not None

    # The visit arrives through the API and lands in the review queue with its flags.
    _vid, r = put_visit(live_server, tablet, real_visit(live_server, tablet, case_id))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "in_review"
    page.click("header >> text=Review queue")
    row = page.locator(f'tr[data-case="{case_id}"]')
    expect(row).to_be_visible()
    expect(row.locator('.flag[data-code="testimony_contradicts"]')).to_contain_text("does not match")

    # Returned for a re-visit with a reason the tablet reads.
    row.locator("a").first.click()
    expect(page.locator("[data-testid=case-state]")).to_have_text("Submitted")
    page.locator("#return-form input[name=chosen]").first.check()
    page.fill("#return-reasons", "请补充女儿的在读证明照片")
    page.click("[data-testid=return]")
    expect(page.locator("[data-testid=case-state]")).to_have_text("Returned for re-visit")
    returned = next(c for c in sync(live_server, tablet)["cases"] if c["id"] == case_id)
    assert "请补充女儿的在读证明照片" in returned["returned_reasons"][-1]["reasons"]

    # The second visit arrives; the office sends the case to the panel.
    _vid, r = put_visit(live_server, tablet, real_visit(live_server, tablet, case_id, kind="revisit"))
    assert r.status_code == 201, r.text
    page.reload()
    expect(page.locator("[data-testid=case-state]")).to_have_text("Submitted")
    expect(page.locator("#visits tbody tr")).to_have_count(2)
    page.click("[data-testid=to-panel]")
    expect(page.locator("[data-testid=case-state]")).to_have_text("Evaluation panel")
