"""Who is asking: a browser session (signed cookie) for pages, a device bearer token for
the API. Passwords are argon2 hashes; tokens are 256 random bits stored as SHA-256."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import time

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, g, redirect, request, session, url_for

from server.core.errors import Forbidden, Unauthorized

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("doorstep-no-such-user")
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=5)
# A session notes its last use at most this often (seconds): each note is a new cookie.
SESSION_TOUCH_SECONDS = 60
# The API takes a bearer token everywhere but here (deny by default: a new endpoint is
# closed until it is listed). The photo copies an office page shows in <img> also take the
# browser session; see _cookie_readable.
PUBLIC_API_ENDPOINTS = {("auth.TokenResource", "POST"), ("api-docs.openapi_json", "GET"),
                        ("api-docs.openapi_json", "HEAD"), ("api_docs.Docs", "GET"), ("api_docs.Docs", "HEAD")}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> tuple[str, str]:
    raw = secrets.token_urlsafe(32)
    return raw, token_digest(raw)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenRevoked(Unauthorized):
    code, title = "token-revoked", "Token revoked"


class TokenExpired(Unauthorized):
    code, title = "token-expired", "Token expired"


def current_user():
    return g.get("user")


def _load_user() -> None:
    from server.accounts.models import DeviceToken, User
    from server.extensions import db

    g.user = None
    g.token = None
    g.auth_problem = None
    now = dt.datetime.now(dt.timezone.utc)
    if request.path.startswith("/api/"):
        # The API takes bearer tokens only: no cookie, so no cross-site request can act.
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            if _cookie_readable():
                _load_session_user(db, User)
            return
        raw = header[7:].strip()
        if not raw or len(raw) > 200:
            return
        # One query: the token, its user and the user's roles (every API request asks).
        tok = db.session.scalar(sa.select(DeviceToken).where(DeviceToken.token_hash == token_digest(raw))
                                .options(joinedload(DeviceToken.user).joinedload(User.role_rows)))
        if tok is None or not tok.user.active:
            return
        if tok.revoked_at is not None:
            g.auth_problem = TokenRevoked("This device was signed out; sign in again.")
            return
        if tok.expires_at <= now:
            g.auth_problem = TokenExpired("The sign-in on this device has expired; sign in again.")
            return
        g.user, g.token = tok.user, tok
        return
    _load_session_user(db, User)


def _cookie_readable() -> bool:
    """The served copies of a photo may also be read with a signed-in browser session:
    office pages show them in <img>, which sends no bearer token. Reading only (GET,
    HEAD), and nothing else under /api/, so the API's writes still take tokens only."""
    if request.method not in ("GET", "HEAD"):
        return False
    parts = request.path.split("/")  # ["", "api", "v1", "photos", sha, "thumb"|"display"]
    return len(parts) == 6 and parts[1:4] == ["api", "v1", "photos"] and parts[5] in ("thumb", "display")


def start_session(user) -> None:
    """A fresh browser session for `user` (no fixation), with its clocks: signed in at,
    last used at (seconds since the epoch, inside the signed cookie)."""
    now = int(time.time())
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["sv"] = user.session_version
    session["t0"] = session["seen"] = now


def session_expired(now: int | None = None) -> bool:
    """A session ends PERMANENT_SESSION_LIFETIME after sign-in whatever its use, and
    SESSION_IDLE_MINUTES after its last use (an office computer left signed in)."""
    now = int(time.time()) if now is None else now
    started, seen = session.get("t0"), session.get("seen")
    if not isinstance(started, int) or not isinstance(seen, int):
        return True
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    idle = current_app.config.get("SESSION_IDLE_MINUTES", 60) * 60
    return now - started > lifetime or now - seen > idle or seen > now + SESSION_TOUCH_SECONDS


def _load_session_user(db, User) -> None:  # noqa: N803 - the model class, passed to avoid an import cycle
    uid = session.get("uid")
    if uid is None:
        return
    now = int(time.time())
    if session_expired(now):
        session.clear()
        return
    user = db.session.get(User, uid)
    if user is None or not user.active or session.get("sv") != user.session_version:
        session.clear()
        return
    if now - session["seen"] >= SESSION_TOUCH_SECONDS:
        session["seen"] = now
    g.user = user


def login_required(view):
    """Pages: a signed-out browser goes to the sign-in page; the API answers 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            if g.get("auth_problem") is not None:
                raise g.auth_problem  # a token was presented: say why it no longer works
            if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                raise Unauthorized("Sign in first.")
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: str):
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not g.user.has_role(*roles):
                raise Forbidden("This needs one of the roles: " + ", ".join(roles), required_roles=list(roles))
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _touch_token(response):
    """Note a token's last use, at most every few minutes and only on a successful answer:
    a device's burst of requests (HEADs that answer 404 among them) must not queue up on
    its token's row. Runs before the request's commit (after_request runs in reverse)."""
    tok = g.get("token")
    if tok is None or response.status_code >= 400:
        return response
    now = dt.datetime.now(dt.timezone.utc)
    if tok.last_used_at is None or now - tok.last_used_at > TOKEN_TOUCH_INTERVAL:
        tok.last_used_at = now
        tok.last_ip = request.remote_addr
    return response


def _api_needs_token():
    """Deny by default: an API request without a valid token is a 401 before its body is
    even read (no schema error tells a stranger what an endpoint expects)."""
    if (not request.path.startswith("/api/") or request.url_rule is None or g.get("user") is not None
            or (request.endpoint, request.method) in PUBLIC_API_ENDPOINTS or request.method == "OPTIONS"):
        return None
    if g.get("auth_problem") is not None:
        raise g.auth_problem
    raise Unauthorized("Sign in first.")


def init_app(app: Flask) -> None:
    app.before_request(_load_user)
    app.before_request(_api_needs_token)
    app.after_request(_touch_token)
