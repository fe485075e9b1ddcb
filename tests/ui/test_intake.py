"""The counter in a real browser (issue 6 "Tests"): office1 registers an application,
adding and removing member rows with htmx, picking the home on the map and attaching a
scan; accepts it; assigns it to the community's team. axe-core finds no serious or
critical violation on the intake, application and assignment pages."""
from __future__ import annotations

import datetime as dt
import random
import re

from playwright.sync_api import expect

from server.core.validators import make_id_number
from tests.ui.test_review_pages import serious, sign_in

PDF = b"%PDF-1.4\n% scanned household register\n%%EOF\n"


def people(seed: int) -> tuple[str, str, str]:
    """Three ID numbers no demo household has (another county's region code)."""
    r = random.Random(seed)
    year = r.randrange(1950, 1990)
    return (make_id_number("330183", dt.date(year, 3, 2), r.randrange(500), "F"),
            make_id_number("330183", dt.date(year - 2, 7, 9), r.randrange(500), "M"),
            make_id_number("330183", dt.date(year + 25, 1, 20), r.randrange(500), "F"))


def register(page, base, seed: int, head="周美华") -> str:
    """Fill the intake form as the office does; returns the new case's id."""
    applicant, spouse, daughter = people(seed)
    page.goto(base + "/applications/new?lang=en")
    expect(page.locator("h1")).to_have_text("New application")
    page.fill("#address", "迎春路 88 号 2 单元 301")
    page.fill("#phone", "13900002222")
    # The home's point: a click on the map fills the latitude and longitude.
    page.locator("#pick-map").click(position={"x": 200, "y": 150})
    expect(page.locator("#lat")).not_to_have_value("")
    expect(page.locator("#lon")).not_to_have_value("")
    page.fill("#reason", "丈夫因病失去劳动能力，女儿在读")
    page.fill("[name='m-0-name']", head)
    page.fill("[name='m-0-id_number']", applicant)
    page.press("[name='m-0-id_number']", "Tab")  # checked as it is typed: birth date and sex
    expect(page.locator("#m-0-id_number-check")).to_contain_text("Born")
    page.select_option("[name='m-0-health']", "healthy")
    # Rows come and go with htmx, without a page load.
    page.click("button:has-text('Add a member')")
    expect(page.locator("[name='m-1-name']")).to_be_visible()
    page.fill("[name='m-1-name']", "陈国强")
    page.fill("[name='m-1-id_number']", spouse)
    page.select_option("[name='m-1-relation']", "spouse")
    page.select_option("[name='m-1-health']", "serious_illness")
    page.click("button:has-text('Add a member')")
    page.fill("[name='m-2-name']", "多余的一行")
    page.locator("fieldset[data-row='m-2-'] button.remove").click()
    expect(page.locator("[name='m-2-name']")).to_have_count(0)
    page.click("button:has-text('Add a member')")
    expect(page.locator("[name='m-2-name']")).to_have_value("")  # a fresh row in the removed one's place
    page.fill("[name='m-2-name']", "陈小雨")
    page.fill("[name='m-2-id_number']", daughter)
    page.select_option("[name='m-2-relation']", "child")
    page.select_option("[name='inc-0-kind']", "wage")
    page.fill("[name='inc-0-amount']", "900")
    page.fill("[name='inc-0-member']", "1")
    page.select_option("[name='as-0-category']", "vehicle")
    page.fill("[name='as-0-description']", "电动自行车")
    page.fill("[name='as-0-value']", "1200")
    page.select_option("#attachment_kind", "hukou_book")
    page.set_input_files("#attachments", files=[{"name": "户口本.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    assert serious(page) == []
    page.click("button[name=register]")
    expect(page.locator("[data-testid=state]")).to_have_text("Application")
    return re.search(r"/applications/([0-9a-f-]{36})", page.url).group(1)


def test_register_accept_and_assign_an_application(live_server, page):
    sign_in(page, live_server)
    case_id = register(page, live_server, seed=1)
    expect(page.locator(".flash")).to_contain_text("registered")
    expect(page.locator("[data-testid=attachments]")).to_contain_text("户口本.pdf")
    members = page.locator("#members-h + table tbody tr")
    expect(members).to_have_count(3)
    expect(members.nth(1)).to_contain_text("Male")
    assert serious(page) == []

    page.click("button[name=accept]")
    expect(page.locator("[data-testid=state]")).to_have_text("Accepted")
    expect(page.locator("[data-testid=investigation-due]")).to_have_text(re.compile(r"\d{4}-\d{2}-\d{2}"))

    page.click("text=Assign it to a team")
    expect(page.locator("h1")).to_have_text("Assign cases to investigation teams")
    assert serious(page) == []
    row = page.locator(f"[data-testid=waiting] tr[data-case='{case_id}']")
    row.locator("input[type=checkbox]").check()
    team = page.locator("#team option", has_text="迎春社区调查一组").get_attribute("value")
    page.select_option("#team", team)
    page.click("button[name=assign]")
    expect(page.locator(".flash")).to_contain_text("1 case(s) assigned")
    held = page.locator(f"[data-testid=held] tr[data-case='{case_id}']")
    expect(held).to_contain_text("迎春社区调查一组")
    expect(held).to_contain_text("Investigating")


def test_a_mistake_is_shown_by_the_field_and_nothing_typed_is_lost(live_server, page):
    sign_in(page, live_server)
    applicant, _spouse, _daughter = people(2)
    page.goto(live_server + "/applications/new?lang=en")
    page.fill("#address", "迎春路 90 号")
    page.fill("#lat", "29.8001")
    page.fill("#lon", "119.6853")
    page.fill("#reason", "独居老人")
    page.fill("[name='m-0-name']", "孙桂兰")
    page.fill("[name='m-0-id_number']", applicant[:-1] + ("1" if applicant[-1] != "1" else "2"))
    page.click("button[name=register]")
    error = page.locator("#m-0-id_number-error")
    expect(error).to_have_text("The check digit of the ID number is wrong (GB 11643).")
    expect(page.locator("[name='m-0-name']")).to_have_value("孙桂兰")
    expect(page.locator("#reason")).to_have_value("独居老人")
    expect(page.locator("#lat")).to_have_value("29.8001")
    page.fill("[name='m-0-id_number']", applicant)
    page.click("button[name=register]")
    expect(page.locator("[data-testid=state]")).to_have_text("Application")
