"""A case's whole life after the office, in real headless Chromium, through the pages as
each person uses them (in Chinese, the users' language):

1. the team's tablet syncs a visit; office1 finds the case in the review queue, starts
   the review and sends it to the panel;
2. office1 schedules a panel session (four members, the case on the agenda), records
   attendance, opens it and puts the case to the vote; each member scores and votes on
   their own screen; office1 closes the vote: passed, the case is in public notice and
   the case file shows the panel's tallies (totals only);
3. the public page /notices, signed out, lists the masked name and the amount; office1
   records an objection and answers it by returning the case to the panel; a second
   session passes it again and a new notice is posted;
4. the posting ends and office1 sends the case to the county;
5. county1 approves it on the decision page and opens the decision letter;
6. the re-check falls due; office1 starts it on the re-checks page, the tablet sends
   the re-check visit through the API, county1 ends it with "continue"; the case file's
   decisions section shows approved and continued.

Two things no page can do are done in the database, and only those: the seven days of
posting pass (the notice's dates move back a week), and the re-check's date arrives
(next_recheck_due becomes today). Every page takes "today" from the clock
(server.cases.lifecycle.local_today), and no setting moves it."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import live_app
from tests.ui.lifecycle_steps import (ITEM, NOTICE, OUTCOME, RESULT, SESSION, STATE, Person, amount_in, cast_ballot,
                                      end_the_posting, local_today, masked, recheck_falls_due, step)
from tests.ui.test_review_pages import put_visit, real_visit, token, waiting_case

# Four members: a cadre and three residents' representatives (at least ⅔ of the panel).
FIRST_PANEL = {"俞国平": "cadre", "申屠美琴": "resident_rep", "钱永康": "resident_rep", "何桂芳": "resident_rep"}
SECOND_PANEL = {"申屠美琴": "resident_rep", "钱永康": "resident_rep", "何桂芳": "resident_rep"}
USERNAMES = {"俞国平": "panel1", "申屠美琴": "panel3", "钱永康": "panel4", "何桂芳": "panel5"}
# Each member's sheet (need 30, housing 20, health 20, labour 15, testimony 15) and vote.
FIRST_BALLOTS = {
    "panel1": ({"need": "24", "housing": "15", "health": "16", "labour": "9", "testimony": "12"}, "for"),      # 76
    "panel3": ({"need": "27", "housing": "18", "health": "17", "labour": "12", "testimony": "13"}, "for"),    # 87
    "panel4": ({"need": "20", "housing": "14", "health": "15", "labour": "10", "testimony": "11"}, "for"),    # 70
    "panel5": ({"need": "10", "housing": "8", "health": "9", "labour": "5", "testimony": "6"}, "against"),   # 38
}
SECOND_BALLOTS = {
    "panel3": ({"need": "25", "housing": "16", "health": "16", "labour": "10", "testimony": "12"}, "for"),    # 79
    "panel4": ({"need": "22", "housing": "15", "health": "15", "labour": "9", "testimony": "10"}, "for"),     # 71
    "panel5": ({"need": "18", "housing": "12", "health": "13", "labour": "8", "testimony": "9"}, "for"),      # 60
}


def _seed(session):
    """The demo county (40 households); office1's community, for the public page."""
    import sqlalchemy as sa

    from server.accounts.models import User
    from server.core.models import Jurisdiction
    from server.demo import build_demo

    build_demo(session, households=40)
    office = session.scalar(sa.select(User).where(User.username == "office1"))
    community = session.get(Jurisdiction, office.jurisdiction_id)
    return {"community": community.code}


@pytest.fixture(scope="module")
def lifecycle_server(tmp_path_factory):
    """A demo county of its own: the story changes its cases, sessions and re-checks."""
    with live_app(tmp_path_factory, "lifecycle_ui", threads=6, seed=_seed) as (base, app, seeded):
        yield base, app, seeded


def _average(ballots: dict) -> str:
    totals = [sum(int(v) for v in scores.values()) for scores, _choice in ballots.values()]
    return f"{sum(totals) / len(totals):.2f}"


def schedule_and_pass(office: Person, members: dict[str, Person], case_id: str, number: str, panel: dict,
                      ballots: dict) -> str:
    """office1 schedules a session with `panel` and the case, takes attendance, opens it,
    puts the case to the vote; the members vote; office1 closes the vote and the session.
    Returns the session's id."""
    page = office.page
    office.nav("/panel/sessions")
    page.click('a.button[href$="/panel/sessions/new"]')
    page.fill("#place", "社区二楼会议室")
    for name, category in panel.items():
        box = page.locator("#members-set label.check", has_text=name).locator("input[name=member]")
        box.check()
        page.select_option(f"#category-{box.get_attribute('value')}", category)
    page.check(f'input[name=case][value="{case_id}"]')
    page.click(".plan-form button[type=submit]")
    expect(page.get_by_test_id("session-state")).to_have_text(SESSION["scheduled"])
    session_id = re.search(r"/panel/sessions/(\d+)", page.url).group(1)

    # The case file says which session the case waits for.
    page.click(f'li.agenda-item[data-case="{number}"] .item-head a')
    expect(page.get_by_test_id("panel-waiting")).to_contain_text("民主评议会议程")
    expect(page.get_by_test_id("panel-waiting")).to_contain_text(SESSION["scheduled"])
    page.go_back()

    rows = page.locator("#members tbody tr")
    expect(rows).to_have_count(len(panel))
    for i in range(rows.count()):
        rows.nth(i).locator("input[type=radio][value='1']").check()
    page.click('form[action$="/attendance"] button[type=submit]')
    expect(page.get_by_test_id("quorum")).to_have_class(re.compile(r"\bok\b"))
    page.click("#open-session")
    expect(page.get_by_test_id("session-state")).to_have_text(SESSION["open"])

    item = page.locator(f'li.agenda-item[data-case="{number}"]')
    expect(item.locator(".proposal")).to_have_count(0)  # nobody on the panel is related to the household
    item.locator("button[id^=start-]").click()
    item = page.locator(f'li.agenda-item[data-case="{number}"]')
    expect(item.get_by_test_id("item-state")).to_have_text(ITEM["voting"])

    for username, (scores, choice) in ballots.items():
        cast_ballot(members[username], session_id, number, scores, choice)

    # Every member able to vote has voted (the page polls every 5 s; a reload is quicker).
    n = len(ballots)
    page.reload()
    item = page.locator(f'li.agenda-item[data-case="{number}"]')
    expect(item.get_by_test_id("progress")).to_contain_text(f"可投票的 {n} 名成员中已有 {n} 名投票。")
    expect(item.get_by_test_id("votes-for")).to_have_count(0)  # no tally while the vote is open
    item.locator("button[id^=close-]").click()
    item = page.locator(f'li.agenda-item[data-case="{number}"]')
    expect(item.get_by_test_id("item-state")).to_have_text(ITEM["closed"])
    counts = {c: sum(1 for _s, ch in ballots.values() if ch == c) for c in ("for", "against", "abstain")}
    expect(item.get_by_test_id("votes-for")).to_have_text(str(counts["for"]))
    expect(item.get_by_test_id("votes-against")).to_have_text(str(counts["against"]))
    expect(item.get_by_test_id("votes-abstain")).to_have_text(str(counts["abstain"]))
    expect(item.get_by_test_id("result")).to_have_text(RESULT["passed"])
    expect(item.locator(".results")).to_contain_text(_average(ballots))
    page.click("#close-session")
    expect(page.get_by_test_id("session-state")).to_have_text(SESSION["closed"])
    return session_id


def expect_panel_row(row, ballots: dict, present: int) -> None:
    counts = {c: sum(1 for _s, ch in ballots.values() if ch == c) for c in ("for", "against", "abstain")}
    expect(row.get_by_test_id("panel-result")).to_have_text(RESULT["passed"])
    expect(row.get_by_test_id("panel-for")).to_have_text(str(counts["for"]))
    expect(row.get_by_test_id("panel-against")).to_have_text(str(counts["against"]))
    expect(row.get_by_test_id("panel-abstain")).to_have_text(str(counts["abstain"]))
    expect(row.get_by_test_id("panel-present")).to_have_text(str(present))
    expect(row.get_by_test_id("panel-average")).to_have_text(_average(ballots))


def public_notice_rows(public: Person, community: str):
    """The public page as a passer-by opens it, signed out, choosing the community. The
    page may be cached for five minutes (PUBLIC_MAX_AGE), so each look is a fresh visitor's."""
    page = public.page
    page.goto(public.base + "/notices")
    page.select_option("#community", community)
    page.click("form button[type=submit]")
    expect(page.locator("h2#notices-h")).to_be_visible()
    return page.locator('[data-testid="public-notice"]')


def test_a_case_from_the_review_queue_to_its_first_recheck(lifecycle_server, browser):
    base, app, seeded = lifecycle_server
    people: list[Person] = []

    def person(username, **kw) -> Person:
        p = Person(browser, base, username, **kw)
        people.append(p)
        return p

    try:
        # --- 1. the synced visit, the review queue, to the panel ---------------------------------
        tablet = token(base, "investigator1")
        office = person("office1")
        with step("1. review queue → panel", office):
            case = waiting_case(base, tablet)
            case_id, head = case["id"], case["household"]["head_name"]
            _vid, r = put_visit(base, tablet, real_visit(base, tablet, case_id))
            assert r.status_code == 201 and r.json()["state"] == "in_review", r.text

            page = office.page
            office.nav("/review")
            row = page.locator(f'tr[data-case="{case_id}"]')
            expect(row).to_contain_text(head)
            number = row.locator("a").first.inner_text().strip()
            row.locator("a").first.click()
            expect(page.locator("h1")).to_contain_text(f"案件 {number}")
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["submitted"])
            expect(page.locator("#visits tbody tr")).to_have_count(1)
            amount = amount_in(page.get_by_test_id("computation").locator(".verdict").inner_text())
            page.click('form[action$="/start-review"] button[type=submit]')
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["in_review"])
            page.get_by_test_id("to-panel").click()
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["panel"])
            expect(page.get_by_test_id("panel-section")).to_contain_text("本案件没有民主评议结果记录。")

        # --- 2. the first panel session: passed, posted -----------------------------------------
        members = {u: person(u, tablet=True) for u in USERNAMES.values()}
        with step("2. first panel session", office, *members.values()):
            first = schedule_and_pass(office, members, case_id, number, FIRST_PANEL, FIRST_BALLOTS)
            page.click(f'li.agenda-item[data-case="{number}"] .item-head a')
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["publicity"])
            votes = page.get_by_test_id("panel-vote")
            expect(votes).to_have_count(1)
            expect(votes.first).to_have_attribute("data-session", first)
            expect_panel_row(votes.first, FIRST_BALLOTS, present=4)
            section = page.get_by_test_id("panel-section")
            assert not any(u in section.inner_text() for u in list(USERNAMES) + list(USERNAMES.values())), \
                "the panel section names no member"
            notice = page.locator('#publicity [data-testid^="case-notice-"]')
            expect(notice).to_have_count(1)
            expect(notice).to_contain_text(f"{masked(head)}，2 人，每月 {amount} 元")

        # --- 3. the public page, an objection, back to the panel, posted again -------------------
        public = person(None)
        with step("3a. public page, signed out", public):
            rows = public_notice_rows(public, seeded["community"])
            mine = rows.filter(has_text=masked(head)).filter(has_text=amount)
            expect(mine).to_have_count(1)
            expect(mine.locator("td.num").first).to_have_text("2")  # household size
            today = local_today()  # seven days, both ends included
            expect(mine.locator("td").nth(3)).to_have_text(today.isoformat())
            expect(mine.locator("td").nth(4)).to_have_text((today + dt.timedelta(days=6)).isoformat())
            body = public.page.locator("body").inner_text()
            assert head not in body and number not in body, "the public page shows the masked name only"

        with step("3b. objection answered by a return to the panel", office):
            page.locator("#publicity a").first.click()
            expect(page.get_by_test_id("name-shown")).to_have_text(masked(head))
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["publicity"])
            page.select_option("#channel", "in_person")
            page.fill("#content", "邻居反映该户儿子在县城开店，收入较高，申报情况不实。")
            page.get_by_test_id("record-objection").click()
            expect(page.locator(".messages")).to_contain_text("异议已登记")
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["objection"])
            objection = page.locator("article.objection.open")
            objection.locator('input[value="return_to_panel"]').check()
            objection.locator("textarea[name=response]").fill("经核实该店铺为他人经营，提请民主评议重新评议。")
            objection.locator("button[type=submit]").click()
            expect(page.locator(".messages")).to_contain_text("异议已答复。")
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["panel"])
            expect(page.get_by_test_id("notice-state")).to_contain_text(NOTICE["withdrawn"])

        public = person(None)
        with step("3c. the notice is down while the panel looks again", public):
            rows = public_notice_rows(public, seeded["community"])
            expect(rows.filter(has_text=masked(head)).filter(has_text=amount)).to_have_count(0)

        with step("3d. second panel session: passed, posted again", office, *members.values()):
            second = schedule_and_pass(office, members, case_id, number, SECOND_PANEL, SECOND_BALLOTS)
            page.click(f'li.agenda-item[data-case="{number}"] .item-head a')
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["publicity"])
            votes = page.get_by_test_id("panel-vote")
            expect(votes).to_have_count(2)
            expect(votes.nth(1)).to_have_attribute("data-session", second)
            expect_panel_row(votes.nth(0), FIRST_BALLOTS, present=4)
            expect_panel_row(votes.nth(1), SECOND_BALLOTS, present=3)
            notices = page.locator('#publicity [data-testid^="case-notice-"]')
            expect(notices).to_have_count(2)
            expect(page.locator("#publicity .notice-state-withdrawn")).to_have_count(1)
            posted = page.locator("#publicity .notice-state-posted")
            expect(posted).to_have_count(1)
            expect(posted).to_contain_text(f"{masked(head)}，2 人，每月 {amount} 元")
            notice_id = int(posted.get_attribute("data-testid").rsplit("-", 1)[1])

        public = person(None)
        with step("3e. public page lists the new notice", public):
            rows = public_notice_rows(public, seeded["community"])
            expect(rows.filter(has_text=masked(head)).filter(has_text=amount)).to_have_count(1)

        # --- 4. the posting ends; to the county -------------------------------------------------
        with step("4. end of posting → county", office):
            page.locator(f'#publicity [data-testid="case-notice-{notice_id}"] a').click()
            expect(page.get_by_test_id("end-posting")).to_have_count(0)  # the posting is not over
            last = end_the_posting(app, notice_id)
            page.reload()
            page.get_by_test_id("end-posting").click()
            expect(page.locator(".messages")).to_contain_text("公示结束，案件已报县级审批。")
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["county_review"])
            expect(page.get_by_test_id("notice-state")).to_contain_text(NOTICE["ended"])
            assert last.isoformat() in page.locator("body").inner_text()
            public = person(None)
            rows = public_notice_rows(public, seeded["community"])
            expect(rows.filter(has_text=masked(head)).filter(has_text=amount)).to_have_count(0)

        # --- 5. the county approves; the letter -------------------------------------------------
        county = person("county1")
        with step("5. county decision and letter", county):
            cpage = county.page
            county.nav("/decisions")
            row = cpage.locator(f'table.queue tr[data-case="{case_id}"]')
            expect(row).to_contain_text(amount)
            row.locator("a").first.click()
            expect(cpage.get_by_test_id("case-state")).to_have_text(STATE["county_review"])
            expect(cpage.get_by_test_id("panel-result")).to_have_text(RESULT["passed"])
            expect(cpage.get_by_test_id("verdict")).to_contain_text(amount)
            cpage.get_by_test_id("approve").click()
            expect(cpage.get_by_test_id("flash")).to_contain_text("已批准，保障金已安排发放。")
            expect(cpage.get_by_test_id("case-state")).to_have_text(STATE["active"])
            expect(cpage.get_by_test_id("decision-allowance").last).to_have_text(amount)
            cpage.get_by_test_id("letter-link").last.click()
            expect(cpage.get_by_test_id("letter-title")).to_have_text("最低生活保障审核确认决定通知书")
            expect(cpage.get_by_test_id("letter-amount")).to_contain_text(amount)
            expect(cpage.locator(".case-number")).to_contain_text(number)
            cpage.click(f'.letter-tools a[href$="/decisions/{case_id}"]')  # back to the decision
            expect(cpage.get_by_test_id("case-state")).to_have_text(STATE["active"])

        # --- 6. the first re-check ----------------------------------------------------------------
        with step("6a. the re-check falls due and is started", office):
            recheck_falls_due(app, case_id)
            office.nav("/rechecks")
            expect(page.locator(f'[data-testid="rechecks-due"] tr[data-case="{case_id}"]')).to_contain_text(amount)
            page.get_by_test_id("start-rechecks").click()
            expect(page.locator(".messages")).to_contain_text(number)
            expect(page.locator(f'[data-testid="rechecks-waiting"] tr[data-case="{case_id}"]')).to_contain_text(
                STATE["recheck"])

        with step("6b. the team's tablet sends the re-check visit"):
            feed = requests.get(base + "/api/v1/sync/assignments", headers=tablet)
            assert feed.status_code == 200, feed.text
            mine = [c for c in feed.json()["cases"] if c["id"] == case_id]
            assert mine and mine[0]["state"] == "recheck", "the re-check reaches the team's tablet"
            _vid, r = put_visit(base, tablet, real_visit(base, tablet, case_id, kind="recheck"))
            assert r.status_code == 201, r.text

        with step("6c. the county continues the allowance", county):
            county.nav("/rechecks")
            cpage.locator(f'[data-testid="rechecks-visited"] tr[data-case="{case_id}"] a').click()
            expect(cpage.get_by_test_id("case-state")).to_have_text(STATE["recheck"])
            expect(cpage.get_by_test_id("visit-arrived")).to_be_visible()
            expect(cpage.get_by_test_id("paid-now")).to_have_text(amount)
            cpage.check("#outcome-continue")
            cpage.get_by_test_id("end-recheck").click()
            expect(cpage.get_by_test_id("flash")).to_contain_text("继续发放保障金。")
            expect(cpage.get_by_test_id("case-state")).to_have_text(STATE["active"])

        with step("6d. the case file: approved, continued", county):
            page = cpage
            page.click(f'a[href="/cases/{case_id}"]')
            expect(page.get_by_test_id("case-state")).to_have_text(STATE["active"])
            rows = page.locator("#decisions [data-testid=decision-row]")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_have_attribute("data-outcome", "approved")
            expect(rows.nth(0)).to_contain_text(OUTCOME["approved"])
            expect(rows.nth(1)).to_have_attribute("data-outcome", "continued")
            expect(rows.nth(1)).to_contain_text(OUTCOME["continued"])
            for i in range(2):
                expect(rows.nth(i).get_by_test_id("decision-allowance")).to_have_text(amount)
            expect(page.get_by_test_id("current-allowance")).to_contain_text(amount)
            expect(page.get_by_test_id("panel-vote")).to_have_count(2)
    finally:
        for p in people:
            p.close()
