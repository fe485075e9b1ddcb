"""Sign-in for browsers and devices: tokens, lock-out, sessions, CSRF (issue: Accounts)."""
import hashlib

import sqlalchemy as sa

from server.accounts.models import DeviceToken
from server.core.audit import AuditEvent
from tests.conftest import PASSWORD


def test_device_token_is_issued_stored_hashed_and_revocable(client, make_user, db_session):
    make_user("inv1", roles=("investigator",))
    r = client.post("/api/v1/auth/token", json={"username": "inv1", "password": PASSWORD, "device_name": "平板 A"})
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"]["username"] == "inv1" and body["user"]["roles"] == ["investigator"]
    assert "code" in body["user"]["community"]
    raw = body["token"]
    assert len(raw) >= 43  # 32 random bytes, url-safe base64: 256 bits
    stored = db_session.scalars(sa.select(DeviceToken)).all()
    assert [t.token_hash for t in stored] == [hashlib.sha256(raw.encode()).hexdigest()]  # never the raw token
    headers = {"Authorization": "Bearer " + raw}
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    again = client.delete("/api/v1/auth/token", headers=headers)
    assert again.status_code == 401
    assert again.headers["Content-Type"] == "application/problem+json"
    assert again.get_json()["type"].endswith("/token-revoked")  # the device knows to sign in again


def test_wrong_password_is_401_problem_and_locks_after_repeated_failures(client, make_user, db_session):
    user = make_user("inv2", roles=("investigator",))
    for _ in range(4):
        r = client.post("/api/v1/auth/token", json={"username": "inv2", "password": "wrong", "device_name": "x"})
        assert r.status_code == 401 and r.get_json()["type"].endswith("/invalid-credentials")
    r = client.post("/api/v1/auth/token", json={"username": "inv2", "password": "wrong", "device_name": "x"})
    assert r.status_code == 401
    # Locked now: even the right password is refused until the lock ends.
    r = client.post("/api/v1/auth/token", json={"username": "inv2", "password": PASSWORD, "device_name": "x"})
    assert r.status_code == 403 and r.get_json()["type"].endswith("/account-locked")
    db_session.expire_all()
    assert db_session.get(type(user), user.id).locked_until is not None
    actions = db_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_id == str(user.id))).all()
    assert actions.count("auth.failed") == 5 and "auth.refused_locked" in actions
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DeviceToken)) == 0


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    r = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x", "device_name": "x"})
    assert r.status_code == 401 and r.get_json()["type"].endswith("/invalid-credentials")


def test_token_request_with_unknown_or_missing_fields_is_422_naming_them(client):
    r = client.post("/api/v1/auth/token", json={"username": "a", "password": "b", "device_name": "c", "admin": True})
    assert r.status_code == 422
    assert "admin" in r.get_json()["errors"]
    r = client.post("/api/v1/auth/token", json={"username": "a"})
    assert r.status_code == 422 and {"password", "device_name"} <= set(r.get_json()["errors"])
    r = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert r.status_code in (400, 422) and r.headers["Content-Type"] == "application/problem+json"


def test_browser_session_cookie_is_httponly_samesite_and_ends_on_sign_out(client, make_user, sign_in):
    make_user("office9", roles=("office",))
    r = sign_in("office9")
    assert r.status_code == 303
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").status_code == 200
    page = client.get("/").get_data(as_text=True)
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302  # back to sign-in


def test_form_without_csrf_token_is_refused(client, make_user):
    make_user("office8", roles=("office",))
    r = client.post("/login", data={"username": "office8", "password": PASSWORD},
                    headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["type"].endswith("/csrf-failed")


def test_browser_sign_in_with_wrong_password_keeps_the_username(client, make_user, sign_in):
    make_user("office7", roles=("office",))
    r = sign_in("office7", "nope")
    assert r.status_code == 401
    html = r.get_data(as_text=True)
    assert 'value="office7"' in html and 'role="alert"' in html


def test_api_ignores_the_browser_cookie(client, make_user, sign_in):
    """The API takes bearer tokens only, so a cross-site form cannot act with a cookie."""
    make_user("office6", roles=("office",))
    sign_in("office6")
    r = client.post("/api/v1/policy/evaluate", json={})
    assert r.status_code in (401, 422)
    r = client.delete("/api/v1/auth/token")
    assert r.status_code == 401


def test_deactivated_user_token_stops_working(client, make_user, db_session, token_for):
    user = make_user("inv3", roles=("investigator",))
    headers = token_for("inv3")
    user.active = False
    db_session.flush()
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 401


def test_sign_in_redirect_stays_on_this_site(client, make_user, sign_in):
    make_user("office5", roles=("office",))
    page = client.get("/login?next=https://evil.example/")
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/login", data={"username": "office5", "password": PASSWORD, "csrf_token": token,
                                    "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["Location"] == "/"
