"""The investigators' tablet app (pwa/, built into pwa/dist by `make run` / `make test`),
served at /app/. Every route of the app is its index.html (the route lives in the URL's
hash); the service worker is never cached by HTTP, so a deployment is noticed at once;
the build's hashed assets are immutable and cached for a year."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, send_from_directory

from server.core.errors import Problem
from server.core.i18n import N_

DIST = Path(__file__).resolve().parents[1] / "pwa" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

bp = Blueprint("app_shell", __name__)


class AppNotBuilt(Problem):
    status, code, title = 503, "app-not-built", N_("The tablet app is not built")


def _dist() -> Path:
    return Path(current_app.config.get("PWA_DIST") or DIST)


def _send(dist: Path, name: str):
    response = send_from_directory(dist, name, max_age=0)
    if name.startswith("assets/"):
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        response.headers["Cache-Control"] = NO_CACHE
    if name == "sw.js":
        response.headers["Service-Worker-Allowed"] = "/app/"
    if name.endswith(".webmanifest"):
        response.mimetype = "application/manifest+json"
    return response


@bp.route("/app")
def app_root():
    return redirect("/app/", code=308)


@bp.route("/app/", defaults={"name": "index.html"})
@bp.route("/app/<path:name>")
def app_file(name: str):
    dist = _dist()
    if not (dist / "index.html").is_file():
        raise AppNotBuilt(N_("Run `make run` (or `make test`) to build the tablet app, then reload this page."))
    target = (dist / name).resolve()
    if target.is_relative_to(dist.resolve()) and target.is_file():
        return _send(dist, name)
    if "." in name.rsplit("/", 1)[-1]:
        abort(404)  # a missing file, not a route of the app
    return _send(dist, "index.html")
