"""The county's decision in a real browser: county1 opens its queue, approves a case
and opens the applicant's letter, printable and as a PDF; axe-core finds no serious or
critical violation on the queue, the decision page and the letter."""
from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect


def sign_in(page, base, username):
    page.goto(base + "/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", "demo1234")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_be_visible()


def serious(page) -> list[str]:
    results = Axe().run(page)
    return [f'{v["id"]}: {v["help"]} ({len(v["nodes"])})' for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def test_the_county_approves_a_case_and_opens_the_letter(live_server, page):
    sign_in(page, live_server, "county1")
    page.goto(live_server + "/decisions?lang=en")
    expect(page.locator("h1")).to_have_text("County decisions")
    links = page.locator("table.queue tbody tr[data-case] td:first-child a")
    expect(links.first).to_be_visible()
    assert serious(page) == []
    hrefs = [a.get_attribute("href") for a in links.all()]

    # The first case the policy in force today finds eligible (the others can only be rejected).
    for href in hrefs:
        page.goto(live_server + href)
        if page.get_by_test_id("approve").is_enabled():
            break
    else:
        raise AssertionError("no case in the demo's county review can be approved")
    number = re.search(r"Decision on case (\S+)", page.locator("h1").inner_text()).group(1)
    expect(page.get_by_test_id("computation")).to_contain_text("Eligible: allowance")
    amount = re.search(r"allowance ([\d.]+) yuan", page.get_by_test_id("verdict").inner_text()).group(1)
    assert serious(page) == []

    page.get_by_test_id("approve").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Approved; the payment is scheduled.")
    expect(page.get_by_test_id("case-state")).to_have_text("Receiving allowance")
    expect(page.get_by_test_id("decision-allowance").last).to_have_text(amount)

    page.get_by_test_id("letter-link").last.click()
    expect(page.get_by_test_id("letter-title")).to_have_text(
        "Decision on the application for the minimum living allowance")
    expect(page.get_by_test_id("letter-amount")).to_contain_text(f"{amount} yuan a month")
    expect(page.locator(".case-number")).to_contain_text(number)
    expect(page.get_by_test_id("letter-rights")).to_contain_text("administrative review")
    expect(page.locator("button[data-print]")).to_be_visible()  # the print script ran (no inline script)
    assert serious(page) == []

    pdf = page.request.get(live_server + page.get_by_test_id("letter-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    # Back in the queue the case is gone.
    page.goto(live_server + "/decisions?lang=en")
    expect(page.locator("table.queue")).not_to_contain_text(number)
