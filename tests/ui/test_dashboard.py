"""The county's dashboard in a real browser: four bar charts drawn by the server as SVG,
the numbers in tables for screen readers, narrowed to one community without a reload
(htmx), no script error or blocked inline script, and no serious accessibility fault."""
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


def state_counts(page) -> dict[str, int]:
    rows = page.locator('table.chart-data[data-chart="states"] tbody tr')
    return {rows.nth(i).locator("th").inner_text(): int(rows.nth(i).locator("td").inner_text())
            for i in range(rows.count())}


def test_county_dashboard_charts_tables_and_community_filter(live_server, page):
    problems = []
    # A blocked inline script or style would be a console error; a missing file, a failed response.
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    sign_in(page, live_server, "county1")
    page.goto(live_server + "/dashboard?lang=en")
    expect(page.locator("h1")).to_have_text("Dashboard")

    charts = page.locator("svg.chart-svg")
    expect(charts).to_have_count(4)
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 50  # drawn, not an empty box
    # Every state's bar is as long as its number says, relative to the longest.
    bars = page.locator('svg[data-chart="states"] rect.bar')
    values = [int(bars.nth(i).get_attribute("data-value")) for i in range(bars.count())]
    widths = [float(bars.nth(i).get_attribute("width")) for i in range(bars.count())]
    top = max(values)
    assert top > 0
    for v, w in zip(values, widths):
        assert abs(w - widths[values.index(top)] * v / top) < 1.0

    counts = state_counts(page)
    total = int(page.locator('[data-total="cases"]').inner_text())
    assert sum(counts.values()) == total > 0
    assert values == list(counts.values())
    # The tables are there for screen readers, not shown on screen.
    table = page.locator('table.chart-data[data-chart="states"]')
    assert table.evaluate("t => getComputedStyle(t).position") == "absolute"
    assert table.evaluate("t => getComputedStyle(t).clip") == "rect(0px, 0px, 0px, 0px)"

    # One community, without a reload: the numbers shrink, the address says which.
    page.evaluate("window.__marker = 1")
    select = page.locator("#f-community")
    options = select.locator("option")
    assert options.count() >= 3  # all, and the county's communities
    page.select_option("#f-community", index=1)
    page.click("form.ledger-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"[?&]community=\d+"))
    expect(page.locator('[data-total="cases"]')).not_to_have_text(str(total))
    assert page.evaluate("window.__marker") == 1  # swapped in place by htmx
    narrowed = state_counts(page)
    assert 0 < sum(narrowed.values()) < total
    assert all(narrowed[k] <= counts[k] for k in counts)

    serious = [f'{v["id"]}: {v["help"]}' for v in Axe().run(page).response["violations"]
               if v.get("impact") in ("serious", "critical")]
    assert serious == []
    assert problems == []


def test_office_dashboard_in_chinese_shows_its_community_only(live_server, page):
    sign_in(page, live_server, "office1")
    page.goto(live_server + "/dashboard?lang=zh_CN")
    expect(page.locator("h1")).to_have_text("统计看板")
    expect(page.locator("svg.chart-svg")).to_have_count(4)
    expect(page.locator("#f-community")).to_have_count(0)  # an office has one community
    assert sum(state_counts(page).values()) == int(page.locator('[data-total="cases"]').inner_text())
