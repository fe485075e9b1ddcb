"""The office's review in a real browser (issue 6 "Tests"): a visit synced through the
API shows up in the queue with its flags, is returned for a re-visit, the second visit
arrives and the case goes to the panel; a conflict is resolved side by side; axe-core
finds no serious or critical violation on the queue and the case file."""
from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid

import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.photos_helpers import png_bytes, textured

_seed = iter(range(1000, 100000))


def token(base, username):
    r = requests.post(base + "/api/v1/auth/token",
                      json={"username": username, "password": "demo1234", "device_name": "ui test tablet"})
    assert r.status_code == 201, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def waiting_case(base, auth, taken=set()):
    """A case of the team waiting for its first visit, not used by another test."""
    cases = requests.get(base + "/api/v1/sync/assignments", headers=auth).json()["cases"]
    case = next(c for c in cases if c["state"] == "investigating" and not c["previous_visits"]
                and c["id"] not in taken)
    taken.add(case["id"])
    return case


def real_visit(base, auth, case_id, kind="initial", **changes) -> dict:
    """A realistic visit whose every image is a real picture uploaded first, so the visit
    is complete on arrival."""
    from tests.api.test_visits import visit_body
    from server.visits.queries import named_hashes

    body = visit_body(case_id, investigators=("investigator1", "investigator2"), tag=uuid.uuid4().hex[:6],
                      kind=kind, **changes)
    body["signatures"][0]["name"] = "investigator1"
    text = json.dumps(body, ensure_ascii=False)
    for fake in named_hashes(body):
        data = png_bytes(textured((48, 32), seed=next(_seed)))
        real = hashlib.sha256(data).hexdigest()
        r = requests.put(f"{base}/api/v1/photos/{real}", data=data, headers={**auth, "Content-Type": "image/png"})
        assert r.status_code in (200, 201), r.text
        text = text.replace(fake, real)
    return json.loads(text)


def put_visit(base, auth, body, visit_id=None):
    visit_id = visit_id or uuid.uuid4()
    return visit_id, requests.put(f"{base}/api/v1/visits/{visit_id}", json=body, headers=auth)


def sign_in(page, base, username="office1"):
    page.goto(base + "/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", "demo1234")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_be_visible()


def serious(page) -> list[str]:
    results = Axe().run(page)
    return [f'{v["id"]}: {v["help"]} ({len(v["nodes"])})' for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")]


def test_synced_visit_returned_revisited_and_sent_to_the_panel(live_server, page):
    tablet = token(live_server, "investigator1")
    case = waiting_case(live_server, tablet)
    _vid, r = put_visit(live_server, tablet, real_visit(live_server, tablet, case["id"]))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "in_review" and r.json()["flags"]

    sign_in(page, live_server)
    page.click("header >> text=Review queue")
    expect(page.locator("h1")).to_have_text("Review queue")
    row = page.locator(f'tr[data-case="{case["id"]}"]')
    expect(row).to_be_visible()
    expect(row.locator('.flag[data-code="testimony_contradicts"]')).to_contain_text("does not match")

    # Filtered to the flag, the case is still there; keyboard-only from the filter form.
    page.select_option("#f-flag", "testimony_contradicts")
    page.locator(".queue-filters button[type=submit]").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"flag=testimony_contradicts"))
    expect(page.locator(f'tr[data-case="{case["id"]}"]')).to_be_visible()

    page.click(f'tr[data-case="{case["id"]}"] a')
    expect(page.locator("[data-testid=case-state]")).to_have_text("Submitted")
    page.locator("#return-form input[name=chosen]").first.check()
    page.fill("#return-reasons", "请补拍厨房照片")
    page.click("[data-testid=return]")
    expect(page.locator(".msg-ok")).to_contain_text("Returned to the team")
    expect(page.locator("[data-testid=case-state]")).to_have_text("Returned for re-visit")

    # The tablet reads the reasons and sends the re-visit.
    again = requests.get(live_server + "/api/v1/sync/assignments", headers=tablet).json()["cases"]
    mine = next(c for c in again if c["id"] == case["id"])
    assert "请补拍厨房照片" in mine["returned_reasons"][-1]["reasons"]
    _vid, r = put_visit(live_server, tablet, real_visit(live_server, tablet, case["id"], kind="revisit"))
    assert r.status_code == 201, r.text

    page.reload()
    expect(page.locator("[data-testid=case-state]")).to_have_text("Submitted")
    expect(page.locator("#visits tbody tr")).to_have_count(2)
    # The photos load in the page with the office's own session.
    thumb = page.locator("#photos .gallery img").first
    thumb.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    page.click("[data-testid=to-panel]")
    expect(page.locator("[data-testid=case-state]")).to_have_text("Evaluation panel")
    expect(page.locator('#trail tr[data-action="review.to_panel"]')).to_have_count(1)


def test_conflict_resolved_side_by_side(live_server, page):
    tablet = token(live_server, "investigator1")
    case = waiting_case(live_server, tablet)
    body = real_visit(live_server, tablet, case["id"])
    visit_id, r = put_visit(live_server, tablet, body)
    assert r.status_code == 201, r.text
    changed = copy.deepcopy(body)
    changed["notes"] = "第二次发送：补充了赡养情况"
    changed["housing"]["area_m2"] = "52"
    _vid, r = put_visit(live_server, tablet, changed, visit_id)
    assert r.status_code == 409

    sign_in(page, live_server)
    page.goto(f'{live_server}/cases/{case["id"]}?lang=en')
    page.click("[data-testid=open-conflict] a")
    expect(page.locator("h1")).to_have_text("Two versions of a visit")
    compare = page.locator("[data-testid=compare]")
    differing = compare.locator("tr[data-differs]")
    expect(differing).to_have_count(2)
    notes = compare.locator('tbody[data-section="notes"] tr[data-differs]')
    expect(notes.locator("td").nth(2)).to_have_text("第二次发送：补充了赡养情况")
    page.click("[data-testid=resolve]")  # nothing chosen yet: asked for by name
    expect(page.locator("#err-choice-notes")).to_be_visible()
    page.check("#c-notes-received")
    page.check("#c-housing-stored")
    page.click("[data-testid=resolve]")
    expect(page.locator(".msg-ok")).to_contain_text("combined")
    expect(page.locator("[data-testid=open-conflict]")).to_have_count(0)
    expect(page.locator("#assets")).to_contain_text("第二次发送：补充了赡养情况")
    expect(page.locator("#assets")).to_contain_text("48.00 m²")


def test_queue_and_case_file_have_no_serious_accessibility_violations(live_server, page):
    sign_in(page, live_server)
    for lang in ("en", "zh_CN"):
        page.goto(f"{live_server}/review?lang={lang}")
        expect(page.locator("#queue-results")).to_be_visible()
        assert serious(page) == [], lang
    page.goto(f"{live_server}/review?lang=en")
    first = page.locator("#queue-results tbody tr[data-case] a").first
    first.click()
    expect(page.locator("[data-testid=case-state]")).to_be_visible()
    expect(page.locator("#case-map")).to_have_attribute("data-ready", "true")
    assert serious(page) == []
    # The keyboard reaches the actions, and focus is visible.
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
