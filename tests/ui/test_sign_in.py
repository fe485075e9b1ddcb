"""A new user opens Doorstep, signs in in Chinese, sees what waits, switches to English."""
import re

from playwright.sync_api import expect


def test_sign_in_in_chinese_see_waiting_work_and_switch_language(live_server, page):
    page.goto(live_server + "/")
    # Signed out: the sign-in page, in Chinese even though the browser asks for English.
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("h1")).to_have_text("登录")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.fill("#username", "office1")
    page.fill("#password", "demo1234")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("您好")
    waiting = page.locator("[data-testid=waiting] .count")
    assert waiting.count() >= 3
    total = sum(int(n) for n in page.locator("[data-testid=waiting] .n").all_inner_texts())
    assert total > 0  # the demo county has work waiting for the office
    page.click("text=English")
    expect(page.locator("#waiting-h")).to_have_text("Waiting for you")
    page.reload()  # the choice is remembered
    expect(page.locator("#waiting-h")).to_have_text("Waiting for you")
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(re.compile(r"/login"))


def test_wrong_password_shows_an_error_and_keeps_the_username(live_server, page):
    page.goto(live_server + "/login")
    page.fill("#username", "investigator1")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_have_text("用户名或密码错误。")
    expect(page.locator("#username")).to_have_value("investigator1")
