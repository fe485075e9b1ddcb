"""The tablet app in a real headless Chromium against a live Doorstep with its own demo
database. Each test gets a persistent browser profile (a tablet): IndexedDB and the
service worker survive restarts there, and installability can be checked only there."""
from __future__ import annotations

import gc
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error as PlaywrightError, expect, sync_playwright

from tests.conftest import live_app
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

DIST = Path(__file__).resolve().parents[2] / "pwa" / "dist"
PASSWORD = "demo1234"  # the demo users'
# Near the demo households' registered locations (Tonglu county).
HOME = {"latitude": 29.7975, "longitude": 119.6912, "accuracy": 9}



@pytest.fixture(scope="package", autouse=True)
def _patient_expect():
    """Photos are decoded and synced in the browser: give expectations 20 s here, and put
    Playwright's default (5 s) back for the packages that run after this one."""
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


@dataclass
class Server:
    url: str
    app: object

    def db(self):
        return self.app.extensions["doorstep_db"]

    def api(self, method: str, path: str, token: str | None = None, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


@pytest.fixture(scope="session")
def pwa_server(tmp_path_factory):
    from server.demo import build_demo

    if not (DIST / "index.html").is_file():
        pytest.fail("pwa/dist is missing: build the tablet app first (make test does; or: cd pwa && npm run build)")
    demo = lambda s: build_demo(s, households=40)  # noqa: E731
    with live_app(tmp_path_factory, "pwa", threads=6, seed=demo) as (base, app, _):
        yield Server(base, app)


@pytest.fixture(scope="package")
def chromium():
    """Chromium's BrowserType. Playwright's sync API runs once per thread: this package
    starts its own and stops it when its tests are done (tests/ui starts another later);
    if one is already running (another package's session browser), it is borrowed."""
    try:
        pw = sync_playwright().start()
    except PlaywrightError:
        running = [o for o in gc.get_objects() if isinstance(o, Browser) and o.is_connected()]
        if not running:
            raise
        yield running[0].browser_type
        return
    yield pw.chromium
    pw.stop()


class Tablet:
    """A persistent browser profile: open it, close it, open it again (a restart)."""

    def __init__(self, chromium, folder: Path, server: Server):
        self.chromium, self.folder, self.server = chromium, folder, server
        self.context = None
        self.page = None

    def open(self):
        self.context = self.chromium.launch_persistent_context(
            str(self.folder), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 800, "height": 1280}, locale="zh-CN", timezone_id="Asia/Shanghai",
            geolocation=HOME, permissions=["geolocation"], service_workers="allow")
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        cdp = self.context.new_cdp_session(self.page)
        # Headless Chromium answers persist() with false until the permission is granted.
        cdp.send("Browser.grantPermissions", {"origin": self.server.url,
                                               "permissions": ["durableStorage", "geolocation"]})
        self.cdp = cdp
        return self.page

    def close(self):
        if self.context is not None:
            self.context.close()
        self.context = self.page = None


@pytest.fixture()
def tablet(chromium, pwa_server, tmp_path):
    t = Tablet(chromium, tmp_path / "profile", pwa_server)
    yield t
    t.close()
