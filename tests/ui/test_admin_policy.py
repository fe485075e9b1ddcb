"""An administrator makes a new policy version in the browser: previews its impact on the
demo county's households, looks at the households behind a number, saves it, and sees a
household's allowance change from the effective month on."""
import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from playwright.sync_api import expect


def test_new_version_preview_save_and_the_allowance_changes_from_its_month(live_server, page):
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    effective = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    month_before = (effective - dt.timedelta(days=1)).strftime("%Y-%m")

    page.goto(live_server + "/login?lang=en")
    page.fill("#username", "admin")
    page.fill("#password", "demo1234")
    page.click("button[type=submit]")
    page.click("header >> text=Policy")
    expect(page.locator("h1")).to_have_text("Policy versions")
    page.click("button:has-text('New version')")
    expect(page.locator("h1")).to_contain_text("New policy version")
    standard = page.locator("#f-monthly_standard")
    old = Decimal(standard.input_value())
    standard.fill(str(old + 80))
    page.fill("#effective_from", effective.isoformat())
    page.fill("#note", "browser test")

    page.click("button:has-text('Preview the impact')")
    table = page.locator("[data-testid=impact-table]")
    expect(table).to_be_visible()
    total = table.locator("tfoot [data-testid=total-change]")
    expect(total).to_have_text(re.compile(r"^\+\d"))
    assert Decimal(total.inner_text()) > 0
    # The households behind one number.
    first_gain = table.locator("tbody td[data-category=gain] button").first
    gained = int(first_gain.inner_text())
    assert gained > 0
    first_gain.click()
    listing = page.locator("[data-testid=impact-list]")
    expect(listing).to_contain_text(f"{gained} household(s)")
    link = listing.locator("tbody a").first
    household_url = link.get_attribute("href")
    row = listing.locator("tbody tr").first.locator("td")
    before, after = Decimal(row.nth(2).inner_text()), Decimal(row.nth(3).inner_text())
    assert after > before
    expect(page.locator("#f-monthly_standard")).to_have_value(str(old + 80))  # the form is as typed

    page.click("button:has-text('Save the version')")
    expect(page.locator("h1")).to_contain_text(effective.isoformat())
    expect(page.locator(".policy-changes")).to_contain_text("monthly_standard")

    page.goto(live_server + household_url)
    months = page.locator("[data-testid=months]")
    expect(months).to_be_visible()
    was = Decimal(months.locator(f"tr[data-month='{month_before}'] .allowance").inner_text())
    now = Decimal(months.locator(f"tr[data-month='{effective:%Y-%m}'] .allowance").inner_text())
    assert now == after and was < now  # the month before is paid under the old version
    expect(months.locator(f"tr[data-month='{effective:%Y-%m}']")).to_contain_text(effective.isoformat())
