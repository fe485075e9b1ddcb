"""Issue "Prove it", item 2 (headers and sessions): every answer carries the security
headers; the Content-Security-Policy runs scripts from this site only (no inline script
or handler anywhere, in the templates, the served pages or the tablet app) and pages,
Leaflet maps and the tablet app still work under it in Chromium; HSTS only over TLS
(believed from a proxy only when told to); sign-out clears the browser's data; browser
sessions end when idle and after their lifetime; device tokens end when they expire."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.core.security import content_security_policy, _tile_source
from tests.conftest import PASSWORD, live_app

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options")


def _csp(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def assert_secure_headers(response, what: str):
    for name in REQUIRED:
        assert name in response.headers, f"{what}: no {name}"
    assert response.headers["X-Content-Type-Options"] == "nosniff", what
    assert response.headers["Referrer-Policy"] == "same-origin", what
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"], what  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert csp["frame-ancestors"] == ["'none'"], what
    assert csp["object-src"] == ["'none'"], what
    assert "'unsafe-inline'" not in csp["style-src"], what
    assert "Strict-Transport-Security" not in response.headers, f"{what}: HSTS over plain HTTP"


# --- every answer --------------------------------------------------------------------------


def test_every_route_answers_with_the_security_headers(app, client, make_user, sign_in):
    """Every rule of the app, signed out and signed in, whatever the answer (a page, a
    redirect, a 401/403/404 problem, a static file, the tablet app, an error page)."""
    seen = set()
    for signed_in in (False, True):
        if signed_in:
            make_user("admin-h", roles=("admin",))
            assert sign_in("admin-h").status_code == 303
        for rule in app.url_map.iter_rules():
            path = re.sub(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>", "1", rule.rule)
            for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
                r = client.open(path, method=method)
                assert_secure_headers(r, f"{method} {rule.rule} -> {r.status_code}")
                seen.add(r.status_code // 100)
    for path in ("/no/such/page", "/api/v1/no/such/thing"):
        assert_secure_headers(client.get(path), path)
    assert_secure_headers(client.delete("/login"), "405")
    assert {2, 3, 4} <= seen


def test_an_unexpected_error_answers_with_the_headers_too(database_url, tmp_path):
    from server import create_app

    app = create_app({"DATABASE_URL": database_url, "TESTING": False, "SECRET_KEY": "x", "PHOTO_STORE": str(tmp_path)})

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    assert_secure_headers(r, "500")


def test_the_policy_allows_the_configured_map_tiles_and_nothing_else():
    plain = content_security_policy()
    assert "tile" not in plain and "img-src 'self' data: blob:;" in plain
    assert _tile_source("https://tile.example.org/{z}/{x}/{y}.png") == "https://tile.example.org"
    assert _tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert _tile_source("javascript:alert(1)") is None
    with_tiles = content_security_policy("https://tile.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://tile.example.org;" in with_tiles
    assert "script-src 'self';" in with_tiles


def test_signed_in_pages_are_not_kept_in_caches(client, make_user, sign_in):
    make_user("office-h", roles=("office",))
    sign_in("office-h")
    assert client.get("/").headers["Cache-Control"] == "no-store"
    # The tablet app's own files keep their caching (the service worker relies on it).
    assert client.get("/app/sw.js").headers["Cache-Control"] == "no-cache"


# --- no inline script anywhere ---------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def _inline_code(html: str) -> list[str]:
    found = INLINE_SCRIPT.findall(html) + INLINE_HANDLER.findall(html) + JS_URL.findall(html)
    # A JSON data island (type="application/json") is data, not code.
    return [f for f in found if "application/json" not in f and "application/ld+json" not in f]


def test_no_template_has_an_inline_script_or_event_handler():
    templates = sorted((ROOT / "server").rglob("templates/**/*.html"))
    assert len(templates) > 20
    offenders = {str(t.relative_to(ROOT)): found for t in templates if (found := _inline_code(t.read_text()))}
    assert offenders == {}


def test_the_tablet_app_shell_as_served_has_no_inline_script(client):
    for source in (ROOT / "pwa" / "index.html", ROOT / "pwa" / "dist" / "index.html"):
        assert _inline_code(source.read_text()) == [], source
    r = client.get("/app/")
    assert r.status_code == 200
    assert _inline_code(r.get_data(as_text=True)) == []
    assert_secure_headers(r, "/app/")
    built = sorted((ROOT / "pwa" / "dist" / "assets").glob("*.js"))
    assert built
    for script in built:  # the bundle builds no code from strings (blocked without 'unsafe-eval')
        text = script.read_text()
        assert "new Function(" not in text and not re.search(r"(?<![\w.])eval\(", text), script.name


# --- HSTS, the proxy ---------------------------------------------------------------------------


def test_hsts_only_when_the_request_came_over_tls(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://doorstep.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # Without DOORSTEP_PROXY_FIX, a client's own X-Forwarded-Proto is not believed.
    spoofed = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_behind_a_trusted_proxy_its_word_on_tls_is_believed(database_url, tmp_path, monkeypatch):
    from server import create_app

    monkeypatch.setenv("DOORSTEP_PROXY_FIX", "1")
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "x", "PHOTO_STORE": str(tmp_path)})
    assert app.config["PROXY_FIX"] == "1"
    c = app.test_client()
    r = c.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in c.get("/login", headers={"X-Forwarded-Proto": "http"}).headers


# --- sign-out clears the browser --------------------------------------------------------------


def test_sign_out_clears_the_site_data_of_the_browser(client, make_user, sign_in):
    make_user("office-s", roles=("office",))
    sign_in("office-s")
    page = client.get("/").get_data(as_text=True)
    assert "Clear-Site-Data" not in client.get("/").headers
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303
    assert r.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert client.get("/").status_code == 302  # signed out


def test_revoking_the_device_token_clears_the_site_data(client, make_user, token_for):
    make_user("inv-s", roles=("investigator",))
    headers = token_for("inv-s")
    assert "Clear-Site-Data" not in client.get("/api/v1/sync/assignments", headers=headers).headers
    r = client.delete("/api/v1/auth/token", headers=headers)
    assert r.status_code == 204
    assert r.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    again = client.delete("/api/v1/auth/token", headers=headers)  # no longer signed in: nothing to clear
    assert again.status_code == 401 and "Clear-Site-Data" not in again.headers


# --- browser sessions end ---------------------------------------------------------------------


class Clock:
    """The clock server.core.auth reads, moved by the test."""

    def __init__(self):
        import time

        self.now = time.time()

    def time(self):
        return self.now

    def advance(self, **delta):
        self.now += dt.timedelta(**delta).total_seconds()


@pytest.fixture()
def clock(monkeypatch):
    import server.core.auth

    c = Clock()
    monkeypatch.setattr(server.core.auth, "time", c)
    return c


def test_session_cookie_lives_as_long_as_the_configured_lifetime(app, client, make_user, sign_in):
    make_user("office-c", roles=("office",))
    r = sign_in("office-c")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    expires = dt.datetime.strptime(re.search(r"Expires=([^;]+)", cookie).group(1), "%a, %d %b %Y %H:%M:%S GMT")
    lifetime = app.permanent_session_lifetime
    assert lifetime == dt.timedelta(hours=12)
    left = expires.replace(tzinfo=dt.timezone.utc) - dt.datetime.now(dt.timezone.utc)
    assert lifetime - dt.timedelta(minutes=1) < left <= lifetime


def test_an_idle_session_ends(app, client, make_user, sign_in, clock):
    make_user("office-i", roles=("office",))
    sign_in("office-i")
    idle = app.config["SESSION_IDLE_MINUTES"]
    clock.advance(minutes=idle - 1)
    assert client.get("/").status_code == 200  # used in time: still signed in, and the clock restarts
    clock.advance(minutes=idle - 1)
    assert client.get("/").status_code == 200
    clock.advance(minutes=idle + 1)
    r = client.get("/review")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/", headers={"HX-Request": "true"}).status_code == 401  # and stays ended


def test_a_busy_session_ends_after_its_lifetime(app, client, make_user, sign_in, clock):
    make_user("office-l", roles=("office",))
    sign_in("office-l")
    lifetime = app.permanent_session_lifetime
    step = dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] // 2)
    used = dt.timedelta()
    while used + step < lifetime:
        clock.advance(seconds=step.total_seconds())
        used += step
        assert client.get("/").status_code == 200, used
    clock.advance(seconds=(lifetime - used).total_seconds() + 60)
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_session_cookie_without_its_clocks_is_not_accepted(app, client, make_user):
    """A cookie made before sessions had clocks (or by anything but the sign-in) is not a
    session: it cannot escape the expiry."""
    user = make_user("office-o", roles=("office",))
    with client.session_transaction() as s:
        s["uid"], s["sv"] = user.id, user.session_version
    assert client.get("/").status_code == 302


# --- device tokens end ------------------------------------------------------------------------


def test_an_expired_token_is_401_token_expired(client, db_session, make_user, token_for):
    from server.accounts.models import DeviceToken

    make_user("inv-e", roles=("investigator",))
    headers = token_for("inv-e")
    assert client.get("/api/v1/sync/assignments", headers=headers).status_code == 200
    token = db_session.scalar(sa.select(DeviceToken).order_by(DeviceToken.id.desc()).limit(1))
    token.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    db_session.flush()
    r = client.get("/api/v1/sync/assignments", headers=headers)
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.get_json()["type"] == "/problems/token-expired"
    # Whatever the endpoint, and before the body is read.
    r = client.put("/api/v1/visits/00000000-0000-0000-0000-000000000000", json={"not": "a visit"}, headers=headers)
    assert r.status_code == 401 and r.get_json()["type"] == "/problems/token-expired"


def test_a_token_lives_as_long_as_configured(app, client, make_user):
    make_user("inv-d", roles=("investigator",))
    r = client.post("/api/v1/auth/token", json={"username": "inv-d", "password": PASSWORD, "device_name": "pad"})
    expires = dt.datetime.fromisoformat(r.get_json()["expires_at"])
    days = dt.timedelta(days=app.config["TOKEN_DAYS"])
    assert days - dt.timedelta(minutes=1) < expires - dt.datetime.now(dt.timezone.utc) <= days


def test_the_api_without_a_token_is_401_before_its_body_is_read(client):
    """Deny by default: a stranger learns nothing of what an endpoint expects."""
    for method, path in (("PUT", "/api/v1/visits/00000000-0000-0000-0000-000000000000"),
                         ("POST", "/api/v1/policy/evaluate"), ("GET", "/api/v1/sync/assignments?limit=-1")):
        r = client.open(path, method=method, json={"bad": True})
        assert r.status_code == 401, path
        assert r.get_json()["type"] == "/problems/unauthorized"
        assert "errors" not in r.get_json()
    assert client.post("/api/v1/auth/token", json={}).status_code == 422  # signing in needs no token
    assert client.get("/api/v1/openapi.json").status_code == 200


# --- in Chromium: nothing the policy blocks, and everything still works -------------------------


@pytest.fixture(scope="module")
def csp_server(tmp_path_factory):
    from server.demo import build_demo

    with live_app(tmp_path_factory, "csp", threads=4, seed=lambda s: build_demo(s, households=30)) as (base, app, _s):
        yield base, app


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.effectiveDirective + " blocked " + (e.blockedURI || "inline")
                    + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


class Watched:
    """A browser page that records every CSP violation and every script error."""

    def __init__(self, browser, base):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        self.context.add_init_script(WATCH_CSP)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" or "Content Security Policy" in m.text else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))

    def visit(self, path: str):
        r = self.page.goto(self.base + path, wait_until="load")  # deferred scripts have run
        self.problems += [f"{path}: {v}" for v in self.page.evaluate("window.__csp")]
        return r

    def sign_in(self, username: str):
        self.visit("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", "demo1234")
        self.page.click("button[type=submit].primary")
        self.page.wait_for_load_state("networkidle")


def _page_routes(app) -> list[str]:
    """Every page of the app a browser opens without an object in its URL."""
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.rule.startswith(("/api/", "/app", "/static")):
            continue
        if rule.rule in ("/login",) or re.search(r"\.(pdf|csv|xlsx|geojson)$", rule.rule) or "static" in rule.endpoint:
            continue
        out.append(rule.rule)
    return sorted(out)


def _object_pages(app) -> dict[str, list[str]]:
    """Pages of one object each, for the demo user who may open them: a case file with its
    map, an application, a notice and its print page, a decision letter, a panel session,
    its minutes and a signature pad, a member's ballot, a county decision, admin pages."""
    from server.accounts.models import User
    from server.cases.models import Case, Decision
    from server.panel.models import AgendaItem, PanelMember, PanelSession
    from server.publicity.models import Notice
    from server.visits.models import Visit

    with app.app_context():
        s = app.extensions["doorstep_db"].session
        user = {u.username: u for u in s.scalars(sa.select(User))}
        mine = user["office1"].jurisdiction_id
        first = lambda q: s.scalar(q.limit(1))  # noqa: E731
        case = first(sa.select(Case.id).join(Visit, Visit.case_id == Case.id).where(Case.community_id == mine))
        notice = first(sa.select(Notice.id).where(Notice.community_id == mine))
        decision = first(sa.select(Decision.id).join(Case, Case.id == Decision.case_id)
                         .where(Case.community_id == mine))
        ps = first(sa.select(PanelSession).where(PanelSession.community_id == mine))
        seat = first(sa.select(PanelMember).join(PanelSession, PanelSession.id == PanelMember.session_id)
                     .where(PanelMember.user_id == user["panel1"].id, PanelSession.state != "cancelled"))
        item = first(sa.select(AgendaItem.id).where(AgendaItem.session_id == seat.session_id)) if seat else None
        review = first(sa.select(Case.id).where(Case.state == "county_review"))
        pages = {
            "office1": [f"/cases/{case}", f"/applications/{case}", f"/publicity/notices/{notice}",
                        f"/publicity/notices/{notice}/print", f"/decisions/letters/{decision}",
                        f"/panel/sessions/{ps.id}", f"/panel/sessions/{ps.id}/minutes",
                        f"/panel/sessions/{ps.id}/members/{ps.members[0].id}/sign"],
            "county1": [f"/decisions/{review}", f"/cases/{case}", f"/decisions/letters/{decision}"],
            "panel1": [f"/panel/my/{seat.session_id}", f"/panel/my/{seat.session_id}/cases/{item}",
                       f"/panel/my/{seat.session_id}/sign"],
            "admin": [f"/admin/users/{user['office1'].id}", f"/admin/users/{user['office1'].id}/edit",
                      "/admin/calendar/2026"],
        }
    assert all("None" not in p for paths in pages.values() for p in paths), pages
    return pages


def test_pages_break_no_rule_of_the_policy_in_chromium(csp_server, chromium):
    """Signed in as each demo role, every page without an object in its URL and a page of
    each kind of object: no CSP violation, no script error; the Leaflet maps drawn and the
    intake map taking a click; the signature pad drawing."""
    base, app = csp_server
    pages = _page_routes(app)
    objects = _object_pages(app)
    for username in ("office1", "county1", "admin", "panel1", "investigator1"):
        w = Watched(chromium, base)
        try:
            w.sign_in(username)
            for path in pages + objects.get(username, []):
                r = w.visit(path)
                if path in objects.get(username, []):
                    assert r.status == 200, (username, path, r.status)
                if path.startswith("/cases/"):
                    assert w.page.locator("#case-map.leaflet-container").count() == 1
                if path.endswith("/sign") and username == "office1":
                    canvas = w.page.locator("canvas").first.bounding_box()
                    w.page.mouse.move(canvas["x"] + 20, canvas["y"] + 20)
                    w.page.mouse.down()
                    w.page.mouse.move(canvas["x"] + 120, canvas["y"] + 60, steps=5)
                    w.page.mouse.up()
            if username == "office1":
                w.visit("/applications/new")
                assert w.page.locator("#pick-map.leaflet-container").count() == 1
                box = w.page.locator("#pick-map").bounding_box()
                w.page.mouse.click(box["x"] + box["width"] / 3, box["y"] + box["height"] / 3)
                assert w.page.input_value("#lat") and w.page.input_value("#lon")  # the picker took the click
            w.visit("/api/v1/docs")
            w.problems += [f"after: {v}" for v in w.page.evaluate("window.__csp")]
        finally:
            w.context.close()
        # 4xx answers for pages a role may not open are expected; script trouble is not.
        problems = [p for p in w.problems if "Failed to load resource" not in p]
        assert problems == [], f"{username}: {problems}"


def test_the_tablet_app_runs_under_the_policy_in_chromium(csp_server, chromium):
    base, _app = csp_server
    w = Watched(chromium, base)
    try:
        w.visit("/app/")
        w.page.wait_for_selector("#username", timeout=20_000)  # the sign-in screen: the module ran
        w.page.fill("#username", "investigator1")
        w.page.fill("#password", "demo1234")
        w.page.click("form.signin button[type=submit]")
        # Signed in (a token from the API) and synced: the team's cases are listed.
        w.page.wait_for_selector("a.case", timeout=20_000)
        # The service worker installed and controls the page: the app works offline.
        w.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
        w.problems += [f"/app/: {v}" for v in w.page.evaluate("window.__csp")]
    finally:
        w.context.close()
    assert [p for p in w.problems if "Failed to load resource" not in p] == []
