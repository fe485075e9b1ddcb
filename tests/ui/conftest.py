"""A live Doorstep on loopback, with its own demo database, driven by headless Chromium.
Chromium is part of the project: if it is missing the launch fails and the run with it."""
from __future__ import annotations


import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import live_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    from server.demo import build_demo

    demo = lambda s: build_demo(s, households=40)  # noqa: E731
    with live_app(tmp_path_factory, "ui", threads=4, seed=demo) as (base, _app, _seeded):
        yield base


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
