"""What the case-lifecycle browser test does more than once: a person signed in in a
browser context of their own (Chinese, the users' language), a step that says where it
stopped when a page fails, a panel member's ballot, and the two dates the pages cannot
move (the end of a posting, a re-check falling due)."""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

PASSWORD = "demo1234"
TIMEZONE = "Asia/Shanghai"  # the app's default; "today" on every page is the date there

# State names as the users read them (server/cases/labels.py, in Chinese).
STATE = {"submitted": "已提交", "in_review": "审核中", "panel": "民主评议", "publicity": "公示中",
         "objection": "公示异议", "county_review": "县级审核", "active": "享受保障", "recheck": "复核中"}
SESSION = {"scheduled": "已安排", "open": "会议进行中", "closed": "已结束"}
ITEM = {"voting": "表决中", "closed": "已表决"}
RESULT = {"passed": "通过", "failed": "未通过"}
NOTICE = {"withdrawn": "因异议撤回", "ended": "已结束，已报县级审批"}
OUTCOME = {"approved": "已批准", "continued": "继续享受"}


class Person:
    """One user in a browser context of their own; every answer of 500 or more is kept,
    so a step can say which page failed."""

    def __init__(self, browser, base: str, username: str, *, tablet: bool = False):
        size = {"width": 820, "height": 1180} if tablet else {"width": 1280, "height": 900}
        self.context = browser.new_context(viewport=size, locale="zh-CN", has_touch=tablet)
        self.page = self.context.new_page()
        self.base, self.username, self.failures = base, username, []
        self.page.on("response", self._watch)
        self.page.on("pageerror", lambda exc: self.failures.append(f"script error: {exc}"))
        if username:
            self.sign_in()

    def _watch(self, response) -> None:
        if response.status >= 500:
            self.failures.append(f"{response.request.method} {response.url} answered {response.status}")

    def sign_in(self) -> None:
        page = self.page
        page.goto(self.base + "/login")
        page.fill("#username", self.username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("header.topbar .who")).to_be_visible()

    def nav(self, path: str) -> None:
        """Follow a link of the top bar, as a person does."""
        self.page.click(f'header.topbar a[href="{path}"]')

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def step(name: str, *people: Person):
    """Run one step of the story; a failure names the step, and any page that answered
    with a server error or threw a script error during it."""
    for p in people:
        p.failures.clear()
    try:
        yield
    except (AssertionError, PlaywrightError) as exc:
        seen = [f for p in people for f in p.failures]
        where = f" [{'; '.join(seen)}]" if seen else ""
        urls = ", ".join(f"{p.username or 'signed out'} at {p.page.url}" for p in people)
        raise AssertionError(f"step '{name}' stopped ({urls}){where}: {exc}") from None
    seen = [f for p in people for f in p.failures]
    assert not seen, f"step '{name}': {'; '.join(seen)}"


def masked(name: str) -> str:
    """The head's name as a notice shows it (M21 Art 19, 24): first and last character
    kept, the rest starred; two characters keep the first."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def amount_in(text: str) -> str:
    found = re.search(r"(\d+\.\d{2})", text)
    assert found, f"no amount in {text!r}"
    return found.group(1)


def local_today() -> dt.date:
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date()


def cast_ballot(member: Person, session_id: str, number: str, scores: dict[str, str], choice: str) -> None:
    """A panel member opens the session on their own screen, scores the case and votes."""
    page = member.page
    member.nav("/panel/")
    page.click(f'.session-card[data-session="{session_id}"] h2 a')
    item = page.locator(f'li.agenda-item[data-case="{number}"]')
    item.get_by_test_id("vote-now").click()
    expect(page.locator("h1")).to_contain_text(number)
    fields = page.locator("input[id^=score-]")
    assert sorted(f.get_attribute("id")[len("score-"):] for f in fields.all()) == sorted(scores), \
        "the scoring sheet has the policy's criteria"
    for code, value in scores.items():
        page.fill(f"#score-{code}", value)
    page.check(f"input[name=choice][value={choice}]")
    page.click("#cast-vote")
    expect(page.locator(".messages")).to_contain_text("您的投票已匿名记录。")
    expect(page.locator(f'li.agenda-item[data-case="{number}"] [data-testid=voted]')).to_be_visible()
    member.nav("/panel/")  # the session page polls every 5 s; the list of sessions does not


def end_the_posting(app, notice_id: int) -> dt.date:
    """The seven days of posting pass: the notice's dates move back a week (the pages take
    today's date from the clock, and no page changes a notice's dates). Returns its new
    last day."""
    from server.publicity.models import Notice

    today = local_today()
    first, last = today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    engine = app.extensions["doorstep_db"].engine
    with engine.begin() as conn:
        done = conn.execute(sa.update(Notice.__table__).where(Notice.__table__.c.id == notice_id)
                            .values(posted_from=first, posted_until=last))
        assert done.rowcount == 1
    return last


def recheck_falls_due(app, case_id: str) -> dt.date:
    """The re-check's date arrives: the case's next_recheck_due becomes today (the
    re-checks page starts what is due by today's date)."""
    from server.cases.models import Case

    today = local_today()
    table = Case.__table__
    engine = app.extensions["doorstep_db"].engine
    with engine.begin() as conn:
        done = conn.execute(sa.update(table).where(table.c.id == _uuid(case_id)).values(next_recheck_due=today))
        assert done.rowcount == 1
    return today


def _uuid(value: str):
    import uuid

    return uuid.UUID(value)
