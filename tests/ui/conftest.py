"""A live Doorstep on loopback, with its own demo database, driven by headless Chromium.
Chromium is part of the project: if it is missing the launch fails and the run with it."""
from __future__ import annotations

import threading

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import fresh_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    from waitress.server import create_server

    from server import create_app
    from server.core.migrate import upgrade
    from server.demo import build_demo

    url = fresh_database(tmp_path_factory, "ui")
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "ui-test", "TESTING": False,
                      "PHOTO_STORE": str(tmp_path_factory.mktemp("ui_photos"))})
    with app.app_context():
        db = app.extensions["doorstep_db"]
        build_demo(db.session, households=40)
        db.session.commit()
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    app.extensions["doorstep_db"].engine.dispose()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    yield page
    context.close()
