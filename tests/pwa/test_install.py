"""The tablet app installs like an app, updates cleanly and speaks both languages."""
from __future__ import annotations

import urllib.request

from playwright.sync_api import expect

from tests.pwa import steps


def test_manifest_passes_chromiums_installability_checks(tablet, pwa_server):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
    assert tablet.cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = tablet.cdp.send("Page.getAppManifest")
    assert not manifest.get("errors"), manifest.get("errors")
    # The cache is named after the build, and only the app shell is in it.
    names = page.evaluate("caches.keys()")
    assert len(names) == 1 and names[0].startswith("doorstep-")
    cached = page.evaluate("async (n) => (await (await caches.open(n)).keys()).map((r) => new URL(r.url).pathname)", names[0])
    assert "/app/" in cached and "/app/manifest.webmanifest" in cached
    assert all(p.startswith("/app/") for p in cached)


def test_shell_headers_and_routes(pwa_server):
    def get(path):
        with urllib.request.urlopen(pwa_server.url + path) as resp:
            return resp.status, resp.headers, resp.read()

    status, headers, body = get("/app/sw.js")
    assert status == 200 and headers["Service-Worker-Allowed"] == "/app/"
    assert headers["Cache-Control"] == "no-cache" and "javascript" in headers["Content-Type"]
    assert b"doorstep-" in body
    status, headers, body = get("/app/")
    assert headers["Cache-Control"] == "no-cache" and b'<main id="view"' in body
    asset = next(p for p in body.decode().split('"') if p.startswith("/app/assets/") and p.endswith(".js"))
    status, headers, _ = get(asset)
    assert "immutable" in headers["Cache-Control"] and "max-age=31536000" in headers["Cache-Control"]
    status, headers, _ = get("/app/manifest.webmanifest")
    assert headers["Content-Type"].startswith("application/manifest+json")
    status, _, again = get("/app/case/some-route")  # any route of the app is the shell
    assert b'<main id="view"' in again
    try:
        get("/app/assets/no-such-file.js")
        raise AssertionError("a missing asset must be a 404")
    except urllib.error.HTTPError as err:
        assert err.code == 404


def test_without_a_build_the_page_says_how_to_make_it(app, client, tmp_path):
    app.config["PWA_DIST"] = str(tmp_path)  # an empty folder: nothing built
    try:
        response = client.get("/app/", headers={"Accept": "text/html"})
    finally:
        app.config.pop("PWA_DIST")
    assert response.status_code == 503
    assert "make run" in response.get_data(as_text=True)


def test_both_languages_and_wrong_password(tablet, pwa_server):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("form.signin h1")).to_have_text("登录")
    steps.sign_in(page, "investigator1", "wrong-password")
    expect(page.locator("#signin-error")).to_have_text("用户名或密码错误。")
    page.click("[data-testid=lang]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("form.signin h1")).to_have_text("Sign in")
    steps.sign_in(page, "investigator1")
    steps.wait_until_offline_ready(page)
    expect(page.locator("main h1")).to_have_text("My home visits")
    page.reload()  # the choice is kept
    expect(page.locator("main h1")).to_have_text("My home visits")
    page.fill("#search", "no-such-household-xyz")
    expect(page.locator("[data-testid=cases] .empty")).to_have_text("No case matches.")


def test_a_new_deployment_is_offered_and_replaces_the_old_cache(tablet, pwa_server, tmp_path):
    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
    (old,) = page.evaluate("caches.keys()")
    expect(page.locator("#update")).to_be_hidden()

    # The server now has another build: the same files, a service worker with a new hash.
    import shutil
    next_build = tmp_path / "dist"
    shutil.copytree(steps_dist(), next_build)
    sw = next_build / "sw.js"
    sw.write_text(sw.read_text().replace(old.removeprefix("doorstep-"), "nextbuild0001"))
    pwa_server.app.config["PWA_DIST"] = str(next_build)
    try:
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        expect(page.locator("#update")).to_be_visible()
        expect(page.locator("#update-text")).to_have_text("有新版本可用。")
        with page.expect_event("load"):
            page.click("#update-reload")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.wait_for_function("() => caches.keys().then((k) => k.length === 1 && k[0] === 'doorstep-nextbuild0001')")
    finally:
        pwa_server.app.config.pop("PWA_DIST")


def steps_dist():
    from tests.pwa.conftest import DIST

    return DIST


def test_the_visit_screens_have_no_serious_accessibility_violations(tablet, pwa_server):
    from axe_playwright_python.sync_playwright import Axe

    def serious():
        results = Axe().run(page)
        return [f'{v["id"]}: {v["help"]} ({len(v["nodes"])})' for v in results.response["violations"]
                if v.get("impact") in ("serious", "critical")]

    page = tablet.open()
    page.goto(pwa_server.url + "/app/")
    assert serious() == []
    steps.sign_in(page, "investigator4")
    steps.wait_until_offline_ready(page)
    assert serious() == []
    case_id = steps.pick_case(page)
    home = page.evaluate("async (id) => (await window.doorstep.store.getCase(id)).household.location", case_id)
    tablet.context.set_geolocation({"latitude": home["lat"], "longitude": home["lon"] + 0.0005, "accuracy": 9})
    page.click(f"a.case[data-case='{case_id}']")
    assert serious() == []
    page.click("[data-testid=start-visit]")
    expect(page.locator("[data-testid=gps-recorded]")).to_contain_text("±9")
    expect(page.locator("[data-testid=gps-far]")).to_be_hidden()
    # Far from the registered address: said on screen before anything is recorded there.
    tablet.context.set_geolocation({"latitude": home["lat"] + 0.02, "longitude": home["lon"], "accuracy": 80})
    expect(page.locator("[data-testid=gps-accuracy]")).to_contain_text("±80")
    expect(page.locator("[data-testid=gps-accept]")).to_have_text("照样记录当前位置")
    page.click("[data-testid=gps-accept]")
    expect(page.locator("[data-testid=gps-far]")).to_be_visible()
    page.click("[data-testid=add-income]")
    page.click("[data-testid=add-expenditure]")
    page.click("[data-testid=add-asset]")
    page.click("[data-testid=add-testimony]")
    page.click("[data-testid=finish]")  # the witness's name is missing: the error summary shows
    expect(page.locator("[data-testid=problems] .errors")).to_be_visible()
    expect(page.locator("[data-testid=problems] .errors")).to_contain_text("证人姓名")
    assert serious() == []
    page.click("[data-testid=lang]")
    expect(page.locator("[data-testid=problems]")).to_be_empty()
    assert serious() == []
