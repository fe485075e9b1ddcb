"""An investigator signs in once online, then does a whole home visit with no network:
nothing is lost across a reload, and back online the visit reaches the office's queue
exactly once, with its photos upright."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.photos_helpers import assert_no_metadata, assert_upright
from tests.pwa import steps

ID_NUMBER = "330122195103021529"  # GB 11643-valid: born 1951-03-02, female


def test_a_whole_visit_offline_survives_a_reload_and_syncs_once(tablet, pwa_server, tmp_path):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    steps.sign_in(page, "investigator1")
    steps.wait_until_offline_ready(page)
    case_id = steps.pick_case(page)
    assert page.evaluate("navigator.storage.persisted()") is True

    # No network from here on: the app opens from the service worker's cache.
    tablet.context.set_offline(True)
    page.reload()
    page.click("[data-testid=sync]")
    expect(page.locator("#net")).to_have_text("离线")
    expect(page.locator(f"a.case[data-case='{case_id}']")).to_be_visible()
    visit_id = steps.start_visit(page, case_id)

    # Header: the team, GPS recorded with its accuracy.
    page.fill("#f-investigators-1", "investigator2")
    expect(page.locator("[data-testid=gps-recorded]")).to_contain_text("±9")
    # Members from the application are there; the ID number fills birth date and sex.
    members = page.locator("[data-testid=member]")
    n_members = members.count()
    assert n_members >= 1
    page.fill("#f-members-0-id_number", "330122195103021527")  # wrong check digit
    expect(page.locator("#f-members-0-id_number-error")).to_contain_text("校验位")
    page.fill("#f-members-0-id_number", ID_NUMBER)
    expect(page.locator("#f-members-0-id_number-error")).to_be_empty()
    expect(page.locator("#f-members-0-birth_date")).to_have_value("1951-03-02")
    expect(page.locator("#f-members-0-sex")).to_have_value("F")
    page.select_option("#f-members-0-health", "chronic")
    # Income: the running per-capita income counts pensions, not special-care pensions.
    page.click("[data-testid=add-income]")
    page.select_option("#f-income-0-kind", "pension")
    page.fill("#f-income-0-monthly_amount", "620")
    page.click("[data-testid=add-income]")
    page.select_option("#f-income-1-kind", "special_care")
    page.fill("#f-income-1-monthly_amount", "500.00")
    pci = f"{62000 // n_members // 100}."
    expect(page.locator("[data-testid=pci]")).to_contain_text(f"¥{pci}")
    expect(page.locator("[data-testid=pci]")).to_contain_text("不计入 ¥500.00")
    page.click("[data-testid=add-expenditure]")
    page.select_option("#f-expenditure-0-kind", "medical")
    page.fill("#f-expenditure-0-monthly_amount", "300")
    page.select_option("#f-housing-tenure", "owned")
    page.fill("#f-housing-area_m2", "48")
    page.select_option("#f-housing-condition", "poor")
    page.click("[data-testid=add-asset]")
    page.select_option("#f-assets-0-category", "vehicle")
    page.fill("#f-assets-0-description", "电动三轮车")
    page.fill("#f-assets-0-value", "2000")
    # Two photos from the camera, read, downscaled and hashed on the device.
    steps.add_photo(page, "exterior", steps.photo(tmp_path, "outside.jpg", seed=1))
    steps.add_photo(page, "interior", steps.photo(tmp_path, "inside.jpg", seed=2))
    expect(page.locator("[data-testid=photo]").first).to_contain_text("2026")  # EXIF capture time
    steps.add_testimony(page, 0, "王邻居")
    steps.add_testimony(page, 1, "李网格员")
    page.select_option("#f-testimonies-1-role", "grid_worker")
    steps.add_signature(page, "family_member", "张桂英")
    steps.add_signature(page, "investigator", "investigator1")
    page.fill("#f-conclusion", "家庭困难属实，建议纳入低保。")

    # Everything is already on the device, before it is finished: a reload loses nothing.
    steps.wait_until_saved(page)
    page.reload()
    expect(page.locator("#f-conclusion")).to_have_value("家庭困难属实，建议纳入低保。")
    expect(page.locator("[data-testid=photo]")).to_have_count(2)
    expect(page.locator("#f-testimonies-1-witness_name")).to_have_value("李网格员")
    steps.finish(page)
    expect(page.locator("[data-testid=badge]")).to_have_text("1")
    expect(page.locator(f"[data-visit='{visit_id}'] [data-testid=visit-status]")).to_have_attribute("data-status", "waiting")

    # A closed tab and a restarted browser, still offline: all still there.
    tablet.close()
    page = tablet.open()
    tablet.context.set_offline(True)
    page.goto(pwa_server.url + "/app/")
    expect(page.locator(f"[data-visit='{visit_id}'] [data-testid=visit-status]")).to_have_attribute("data-status", "waiting")
    stored = steps.visit_record(page, visit_id)
    assert [t["witness_name"] for t in stored["body"]["testimonies"]] == ["王邻居", "李网格员"]
    assert len(stored["body"]["photos"]) == 2 and len(stored["body"]["signatures"]) == 2
    images = page.evaluate("() => window.doorstep.store.db.images.count()")
    assert images == 6  # two photos, two testimony signatures, two signatures

    # Back online: it syncs by itself.
    tablet.context.set_offline(False)
    steps.wait_for_status(page, visit_id, "synced")
    expect(page.locator("[data-testid=badge]")).to_be_hidden()
    answer = steps.visit_record(page, visit_id)["answer"]
    assert answer["state"] == "in_review" and answer["missing_photos"] == []

    from server.cases.models import Case
    from server.visits.models import Visit
    from server.core.storage import current_store
    from server.photos import queries as photo_queries
    with pwa_server.app.app_context():
        session = pwa_server.db().session
        visits = session.scalars(sa.select(Visit).where(Visit.case_id == uuid.UUID(case_id))).all()
        assert [str(v.id) for v in visits] == [visit_id]
        visit = visits[0]
        assert visit.state == "in_review"
        assert session.get(Case, visit.case_id).state == "submitted"
        body = visit.body
        assert body["investigators"] == ["investigator1", "investigator2"]
        assert body["members"][0]["id_number"] == ID_NUMBER and body["members"][0]["birth_date"] == "1951-03-02"
        assert [(i["kind"], i["monthly_amount"]) for i in body["income"]] == [("pension", "620.00"), ("special_care", "500.00")]
        assert [t["witness_name"] for t in body["testimonies"]] == ["王邻居", "李网格员"]
        assert all(t["signature"] for t in body["testimonies"])
        assert {p["kind"] for p in body["photos"]} == {"exterior", "interior"}
        assert all(p["taken_at"].startswith("2026-11-20T09:15:00") for p in body["photos"])
        assert body["location"]["accuracy_m"] == 9.0
        store = current_store()
        for p in body["photos"]:
            display = store.get(photo_queries.display_key(p["sha256"]))
            assert_upright(display)
            assert_no_metadata(display)
        session.rollback()
