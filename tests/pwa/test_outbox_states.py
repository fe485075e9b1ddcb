"""What the investigator sees when the office already holds a different version of a
visit, and what signing out does to a device that still holds unsent work."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.pwa import steps


def test_a_conflict_is_shown_as_the_offices_version_and_sign_out_warns_then_wipes(tablet, pwa_server, tmp_path):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    steps.sign_in(page, "investigator2")
    steps.wait_until_offline_ready(page)
    tablet.context.set_offline(True)
    case_id = steps.pick_case(page)
    visit_id = steps.start_visit(page, case_id)
    page.fill("#f-investigators-1", "investigator1")
    steps.add_testimony(page, 0, "郑邻居", sign=False)
    page.fill("#f-conclusion", "平板上的结论")
    steps.finish(page)
    wire = steps.visit_record(page, visit_id)["wire"]

    # Another device already sent a different body under the same visit id.
    status, answer = pwa_server.api("POST", "/api/v1/auth/token", body={
        "username": "investigator2", "password": steps.PASSWORD, "device_name": "the other tablet"})
    assert status == 201
    other = {**wire, "conclusion": "另一台平板上的结论"}
    status, _ = pwa_server.api("PUT", f"/api/v1/visits/{visit_id}", answer["token"], other)
    assert status == 201

    tablet.context.set_offline(False)
    page.click("[data-testid=sync]")
    steps.wait_for_status(page, visit_id, "conflict")
    row = page.locator(f"[data-visit='{visit_id}']")
    expect(row).to_contain_text("社区已有这次调查的不同版本")
    expect(page.locator("[data-testid=badge]")).to_be_hidden()  # nothing more to send: the office resolves it

    from server.visits.models import Visit, VisitConflict
    with pwa_server.app.app_context():
        session = pwa_server.db().session
        visit = session.get(Visit, uuid.UUID(visit_id))
        assert visit.conclusion == "另一台平板上的结论"
        kept = session.scalars(sa.select(VisitConflict).where(VisitConflict.visit_id == visit.id)).all()
        assert len(kept) == 1 and kept[0].body["conclusion"] == "平板上的结论"
        session.rollback()

    # A draft that was never sent: signing out says so before it wipes the device.
    tablet.context.set_offline(True)
    steps.start_visit(page, steps.pick_case(page))
    page.fill("#f-notes", "还没写完")
    steps.wait_until_saved(page)
    page.goto(pwa_server.url + "/app/#/")
    token = page.evaluate("() => window.doorstep.session.token")
    tablet.context.set_offline(False)
    page.click("#signout")
    expect(page.locator("dialog.confirm")).to_contain_text("1 次调查没有同步")
    page.click("dialog.confirm button.secondary")  # cancel: nothing happens
    assert page.evaluate("() => window.doorstep.store.db.visits.count()") == 2
    page.click("#signout")
    page.click("[data-testid=confirm-ok]")
    expect(page.locator("form.signin h1")).to_have_text("登录")
    assert page.evaluate("""async () => {
        const {db} = window.doorstep.store;
        return [await db.visits.count(), await db.cases.count(), await db.images.count(), await db.meta.count()];
    }""") == [0, 0, 0, 0]
    status, problem = pwa_server.api("GET", "/api/v1/sync/assignments", token)
    assert status == 401 and problem["type"].endswith("/token-revoked")


def test_a_refused_visit_shows_the_servers_reason_and_is_sent_again_once_corrected(tablet, pwa_server):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    steps.sign_in(page, "investigator1")
    steps.wait_until_offline_ready(page)
    tablet.context.set_offline(True)
    visit_id = steps.start_visit(page, steps.pick_case(page))
    page.fill("#f-investigators-1", "investigator9")  # no such user: only the server knows
    page.fill("#f-conclusion", "属实")
    steps.finish(page)
    tablet.context.set_offline(False)
    page.click("[data-testid=sync]")
    record = steps.wait_for_status(page, visit_id, "error")
    assert record["error"]["status"] == 422 and "investigators.1" in record["error"]["errors"]
    row = page.locator(f"[data-visit='{visit_id}']")
    expect(row).to_contain_text("服务器拒绝")
    expect(row).to_contain_text("investigators.1")
    expect(page.locator("[data-testid=badge]")).to_have_text("1")  # still waiting for the investigator

    row.locator("a").click()
    page.fill("#f-investigators-1", "investigator2")
    steps.finish(page)
    record = steps.wait_for_status(page, visit_id, "synced")
    assert record["wire"]["investigators"] == ["investigator1", "investigator2"]
    expect(page.locator("[data-testid=badge]")).to_be_hidden()
