"""Sync under bad conditions: the connection drops in the middle of uploads (after the
server has the bytes, before the tablet hears back), and the office revokes the tablet's
sign-in while a visit waits. Nothing is lost, nothing is stored twice."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.pwa import steps


def quick_visit(page, tmp_path, tag: str) -> str:
    """A visit with two photos and two signed testimonies, finished and left to sync."""
    case_id = steps.pick_case(page)
    visit_id = steps.start_visit(page, case_id)
    page.fill("#f-investigators-1", "investigator2" if tag != "revoked" else "investigator4")
    steps.add_photo(page, "exterior", steps.photo(tmp_path, f"{tag}-out.jpg", seed=11, orientation=3))
    steps.add_photo(page, "kitchen", steps.photo(tmp_path, f"{tag}-kitchen.jpg", seed=12, orientation=8))
    steps.add_testimony(page, 0, "周邻居")
    steps.add_testimony(page, 1, "吴干部")
    page.fill("#f-conclusion", f"{tag}: 情况属实")
    return visit_id


def server_visits(pwa_server, case_id: str):
    from server.visits.models import Visit

    with pwa_server.app.app_context():
        session = pwa_server.db().session
        rows = session.execute(sa.select(Visit.id, Visit.state).where(Visit.case_id == uuid.UUID(case_id))).all()
        session.rollback()
        return [(str(i), s) for i, s in rows]


def stored_photos(pwa_server, hashes):
    from server.photos.models import Photo

    with pwa_server.app.app_context():
        session = pwa_server.db().session
        n = session.scalar(sa.select(sa.func.count()).select_from(Photo).where(Photo.sha256.in_(hashes)))
        session.rollback()
        return n


def test_connection_cut_mid_upload_is_retried_until_synced_without_duplicates(tablet, pwa_server, tmp_path):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    steps.sign_in(page, "investigator1")
    steps.wait_until_offline_ready(page)
    visit_id = quick_visit(page, tmp_path, "cut")

    seen = {"photo_puts": 0, "visit_puts": 0, "heads": 0}

    def photos(route):
        request = route.request
        if request.method == "HEAD":
            seen["heads"] += 1
            route.continue_()
            return
        seen["photo_puts"] += 1
        if seen["photo_puts"] == 1:
            route.fetch()  # the server receives and stores the whole photo…
            route.abort("connectionreset")  # …and the tablet never hears back
        elif seen["photo_puts"] == 2:
            route.abort("connectionreset")  # cut before the server got anything
        else:
            route.continue_()

    def visits(route):
        seen["visit_puts"] += 1
        if seen["visit_puts"] == 1:
            route.fetch()  # stored on the server; the answer is lost
            route.abort("connectionreset")
        else:
            route.continue_()

    tablet.context.route("**/api/v1/photos/*", photos)
    tablet.context.route("**/api/v1/visits/*", visits)
    steps.finish(page)
    # Retried by itself (backing off) until the server's 2xx.
    steps.wait_for_status(page, visit_id, "synced", timeout=90)
    record = steps.visit_record(page, visit_id)
    assert record["answer"]["state"] == "in_review"
    assert seen["visit_puts"] == 2 and seen["photo_puts"] >= 3
    named = [p["sha256"] for p in record["body"]["photos"]] + [t["signature"] for t in record["body"]["testimonies"]]
    assert len(set(named)) == 4
    assert stored_photos(pwa_server, named) == 4
    assert server_visits(pwa_server, record["case_id"]) == [(visit_id, "in_review")]
    # Nothing left the device before it was acknowledged, and nothing is left waiting.
    expect(page.locator("[data-testid=badge]")).to_be_hidden()
    assert page.evaluate("() => window.doorstep.store.db.images.count()") == 4


def test_revoked_sign_in_during_sync_asks_for_the_password_then_completes(tablet, pwa_server, tmp_path):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    steps.sign_in(page, "investigator3")
    steps.wait_until_offline_ready(page)
    tablet.context.set_offline(True)
    visit_id = quick_visit(page, tmp_path, "revoked")
    steps.finish(page)
    case_id = steps.visit_record(page, visit_id)["case_id"]

    # Meanwhile the office revokes this tablet's token (as from the admin's device list).
    token = page.evaluate("() => window.doorstep.session.token")
    status, _ = pwa_server.api("DELETE", "/api/v1/auth/token", token)
    assert status == 204

    tablet.context.set_offline(False)
    page.click("[data-testid=sync]")
    # 401 token-revoked: the app asks to sign in again and keeps the outbox.
    expect(page.locator("[data-testid=signin-again]")).to_contain_text("撤销")
    expect(page.locator("[data-testid=signin-again]")).to_contain_text("1 次调查已保留")
    expect(page.locator("#username")).to_have_value("investigator3")
    assert steps.visit_record(page, visit_id)["status"] == "waiting"
    assert server_visits(pwa_server, case_id) == []

    page.fill("#password", "demo1234")
    page.click("form.signin button[type=submit]")
    steps.wait_for_status(page, visit_id, "synced")
    assert server_visits(pwa_server, case_id) == [(visit_id, "in_review")]
    # The new token works and the old one stays refused.
    status, problem = pwa_server.api("GET", "/api/v1/sync/assignments", token)
    assert status == 401 and problem["type"].endswith("/token-revoked")
