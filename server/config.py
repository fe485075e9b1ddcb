"""Settings from DOORSTEP_* environment variables, with safe defaults for one machine."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

INSTANCE = Path(os.environ.get("DOORSTEP_INSTANCE_PATH", Path(__file__).resolve().parent.parent / "instance"))


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """A stable key for the embedded default: made once and kept in instance/."""
    key = os.environ.get("DOORSTEP_SECRET_KEY")
    if key:
        return key
    path = INSTANCE / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        INSTANCE.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        return key


def from_environment() -> dict:
    env = os.environ.get
    return {
        "SECRET_KEY": _secret_key(),
        "DATABASE_URL": env("DOORSTEP_DATABASE_URL", f"sqlite:///{INSTANCE / 'doorstep.sqlite'}"),
        "DATABASE_ECHO": _bool(env("DOORSTEP_DATABASE_ECHO"), False),
        "PHOTO_STORE": env("DOORSTEP_PHOTO_STORE", str(INSTANCE / "photos")),
        "S3_ENDPOINT_URL": env("DOORSTEP_S3_ENDPOINT_URL"),
        "S3_BUCKET": env("DOORSTEP_S3_BUCKET"),
        "TOKEN_DAYS": int(env("DOORSTEP_TOKEN_DAYS", "30")),
        "LOGIN_MAX_FAILURES": int(env("DOORSTEP_LOGIN_MAX_FAILURES", "5")),
        "LOGIN_LOCK_MINUTES": int(env("DOORSTEP_LOGIN_LOCK_MINUTES", "15")),
        "MAX_CONTENT_LENGTH": int(env("DOORSTEP_MAX_CONTENT_LENGTH", str(30 * 1024 * 1024))),
        "SESSION_COOKIE_SECURE": _bool(env("DOORSTEP_SECURE_COOKIES"), False),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A browser session ends this long after sign-in, however busy (absolute)…
        "PERMANENT_SESSION_LIFETIME": int(env("DOORSTEP_SESSION_HOURS", "12")) * 3600,
        # …and this long after its last request (an office computer left signed in).
        "SESSION_IDLE_MINUTES": int(env("DOORSTEP_SESSION_IDLE_MINUTES", "60")),
        # SQLite only: how long a request waits for the write lock before answering 503 busy.
        "SQLITE_BUSY_TIMEOUT_MS": int(env("DOORSTEP_SQLITE_BUSY_TIMEOUT_MS", "30000")),
        # Behind a reverse proxy that terminates TLS: how many proxies to believe the
        # X-Forwarded-For/-Proto/-Host of (0, the default: none; the app faces clients).
        "PROXY_FIX": env("DOORSTEP_PROXY_FIX", "0"),
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": env("DOORSTEP_TIMEZONE", "Asia/Shanghai"),
        "LOCALES": ["zh_CN", "en"],
        "TIMEZONE": env("DOORSTEP_TIMEZONE", "Asia/Shanghai"),
        # The case file's map: a tile server URL such as https://tile.example.org/{z}/{x}/{y}.png;
        # none (the default) draws the points on a blank background, which works offline.
        "MAP_TILE_URL": env("DOORSTEP_MAP_TILE_URL", ""),
        "MAP_TILE_ATTRIBUTION": env("DOORSTEP_MAP_TILE_ATTRIBUTION", ""),
        "WTF_CSRF_TIME_LIMIT": None,
        # flask-smorest / OpenAPI
        "API_TITLE": "Doorstep",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
