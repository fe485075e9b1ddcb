"""What an investigator does in the tablet app, step by step, for the tests."""
from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.pwa.conftest import PASSWORD
from tests.photos_helpers import camera_jpeg, textured


def photo(tmp_path, name: str, seed: int, orientation: int = 6, size=(2600, 1950)):
    """A camera JPEG larger than the app keeps (so it is downscaled), stored sideways with
    an EXIF orientation, time and GPS fix, as a tablet's camera writes it."""
    path = tmp_path / name
    path.write_bytes(camera_jpeg(orientation, textured(size, seed), quality=85, icc=False,
                                 gps=(29.7976, 119.6913, 6.0)))
    return path


def sign_in(page: Page, username: str, password: str = PASSWORD):
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form.signin button[type=submit]")


def wait_until_offline_ready(page: Page):
    """The service worker controls the page (so the shell opens with no network) and the
    first sync has brought the assigned cases."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
    expect(page.locator("a.case").first).to_be_visible()


def pick_case(page: Page) -> str:
    """An assigned case waiting for its first visit, with no visit on this device yet."""
    return page.evaluate("""async () => {
        const {store} = window.doorstep;
        const busy = new Set((await store.listVisits()).map((v) => v.case_id));
        const cases = (await store.listCases()).filter((c) => c.state === "investigating"
            && !(c.previous_visits || []).length && !busy.has(c.id));
        cases.sort((a, b) => a.number.localeCompare(b.number));
        return cases[0].id;
    }""")


def start_visit(page: Page, case_id: str) -> str:
    page.click(f"a.case[data-case='{case_id}']")
    page.click("[data-testid=start-visit]")
    expect(page).to_have_url(re.compile(r"#/visit/"))
    return page.url.rsplit("/", 1)[1]


def draw(page: Page, selector: str, seed: int = 0):
    pad = page.locator(selector)
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x, y = box["x"] + 30, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(x + i * 25, y + (15 + seed if i % 2 else -15))
    page.mouse.up()


def add_photo(page: Page, kind: str, path):
    before = page.locator("[data-testid=photo]").count()
    page.set_input_files(f"[data-testid=file-{kind}]", str(path))
    expect(page.locator("[data-testid=photo]")).to_have_count(before + 1)


def add_testimony(page: Page, i: int, name: str, sign: bool = True):
    page.click("[data-testid=add-testimony]")
    page.fill(f"#f-testimonies-{i}-witness_name", name)
    page.fill(f"#f-testimonies-{i}-contact", "1380000000" + str(i))
    page.fill(f"#f-testimonies-{i}-answers-lives_here", "老两口住这里")
    page.fill(f"#f-testimonies-{i}-answers-work_and_income", "没有固定工作，靠养老金")
    page.check(f"[data-testid=match-{i}-yes]")
    page.fill(f"#f-testimonies-{i}-statement", f"{name}：情况属实")
    if sign:
        draw(page, f"[data-testid=testimony-{i}-pad]", seed=i)
        page.click(f"[data-testid=testimony-{i}-pad-save]")
        expect(page.locator("[data-testid=testimony]").nth(i).locator("img.thumb")).to_be_visible()


def add_signature(page: Page, role: str, name: str):
    page.select_option("#sign-role", role)
    page.fill("#sign-name", name)
    draw(page, "[data-testid=signature-pad]", seed=len(name))
    before = page.locator("[data-testid=signature]").count()
    page.click("[data-testid=signature-pad-save]")
    expect(page.locator("[data-testid=signature]")).to_have_count(before + 1)


def finish(page: Page):
    page.click("[data-testid=finish]")
    dialog = page.locator("dialog.confirm")
    if dialog.count() and dialog.is_visible():
        page.click("[data-testid=confirm-ok]")
    expect(page).to_have_url(re.compile(r"#/$"))


def visit_record(page: Page, visit_id: str) -> dict:
    return page.evaluate("id => window.doorstep.store.getVisit(id)", visit_id)


def wait_for_status(page: Page, visit_id: str, status: str, timeout: float = 45):
    """Wait until the device's record of the visit has this sync state (polling IndexedDB)."""
    deadline = time.monotonic() + timeout
    while True:
        record = visit_record(page, visit_id)
        if record and record["status"] == status:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"visit {visit_id} is {record and record['status']!r}, not {status!r}: {record and record.get('error')}")
        page.wait_for_timeout(250)


def wait_until_saved(page: Page):
    """Every change typed so far is written to IndexedDB."""
    expect(page.locator("[data-testid=saved]")).to_have_attribute("data-pending", "0")
