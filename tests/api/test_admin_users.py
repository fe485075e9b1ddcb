"""Users and devices in the browser: an admin creates, edits, deactivates users and resets
passwords; deactivating signs every device out; bad input keeps what was typed; every
change is audited with before and after; others get 404."""
from __future__ import annotations

import sqlalchemy as sa

from server.accounts.models import DeviceToken, User
from server.core.audit import AuditEvent
from tests.admin_fixtures import csrf
from tests.conftest import PASSWORD


def _admin(client, make_user, sign_in, county):
    admin = make_user("admin-u1", roles=("admin",), jurisdiction=county)
    sign_in("admin-u1")
    return admin


def test_create_a_user_who_can_then_sign_in(client, make_user, sign_in, county, community, db_session, app):
    _admin(client, make_user, sign_in, county)
    page = client.get("/admin/users/new").get_data(as_text=True)
    r = client.post("/admin/users/new", data={
        "csrf_token": csrf(page), "username": "inv-new", "display_name": "新调查员", "roles": ["investigator"],
        "jurisdiction": str(community.id), "phone": "13800000000", "id_number": "",
        "password": "long enough 1", "password2": "long enough 1"})
    assert r.status_code == 303
    user = db_session.scalar(sa.select(User).where(User.username == "inv-new"))
    assert user.roles == {"investigator"} and user.jurisdiction_id == community.id
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.created",
                                                       AuditEvent.entity_id == str(user.id)))
    assert ev.after["roles"] == ["investigator"]
    other = app.test_client()
    token = csrf(other.get("/login").get_data(as_text=True))
    assert other.post("/login", data={"username": "inv-new", "password": "long enough 1",
                                      "csrf_token": token}).status_code == 303


def test_bad_input_keeps_what_was_typed(client, make_user, sign_in, county, community, db_session):
    _admin(client, make_user, sign_in, county)
    make_user("taken-name")
    page = client.get("/admin/users/new").get_data(as_text=True)
    r = client.post("/admin/users/new?lang=en", data={
        "csrf_token": csrf(page), "username": "taken-name", "display_name": "张三", "roles": [],
        "jurisdiction": str(community.id), "id_number": "330122199001011235", "password": "short",
        "password2": "short"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Choose at least one role." in html and "At least 8 characters." in html
    assert "Not a valid 18-character ID number" in html
    assert 'value="taken-name"' in html and 'value="张三"' in html and 'value="330122199001011235"' in html
    page = client.get("/admin/users/new").get_data(as_text=True)
    r = client.post("/admin/users/new?lang=en", data={
        "csrf_token": csrf(page), "username": "taken-name", "display_name": "张三", "roles": ["office"],
        "jurisdiction": str(community.id), "password": "long enough 1", "password2": "long enough 1"})
    assert r.status_code == 422 and "This username is taken." in r.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(User).where(User.display_name == "张三")) == 0


def test_edit_roles_and_scope_audited_and_ends_the_users_sessions(client, make_user, sign_in, county, community,
                                                                  make_community, db_session, app):
    _admin(client, make_user, sign_in, county)
    target = make_user("office-e", roles=("office",))
    theirs = app.test_client()
    token = csrf(theirs.get("/login").get_data(as_text=True))
    theirs.post("/login", data={"username": "office-e", "password": PASSWORD, "csrf_token": token})
    assert theirs.get("/").status_code == 200
    other = make_community(name="白云源社区")
    page = client.get(f"/admin/users/{target.id}/edit").get_data(as_text=True)
    r = client.post(f"/admin/users/{target.id}/edit", data={
        "csrf_token": csrf(page), "display_name": "改名", "roles": ["office", "panel"],
        "jurisdiction": str(other.id), "phone": "", "id_number": ""})
    assert r.status_code == 303
    db_session.refresh(target)
    assert target.roles == {"office", "panel"} and target.jurisdiction_id == other.id
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.updated"))
    assert ev.before["roles"] == ["office"] and ev.after["roles"] == ["office", "panel"]
    assert ev.before["jurisdiction"] == community.code and ev.after["jurisdiction"] == other.code
    assert theirs.get("/").status_code == 302  # signed out: new rights apply at once


def test_reset_password(client, make_user, sign_in, county, db_session, app):
    _admin(client, make_user, sign_in, county)
    target = make_user("inv-pw", roles=("investigator",))
    page = client.get(f"/admin/users/{target.id}/password").get_data(as_text=True)
    r = client.post(f"/admin/users/{target.id}/password?lang=en", data={
        "csrf_token": csrf(page), "password": "new password 9", "password2": "different"})
    assert r.status_code == 422 and "The two passwords differ." in r.get_data(as_text=True)
    r = client.post(f"/admin/users/{target.id}/password", data={
        "csrf_token": csrf(page), "password": "new password 9", "password2": "new password 9"})
    assert r.status_code == 303
    other = app.test_client()
    token = csrf(other.get("/login").get_data(as_text=True))
    assert other.post("/login", data={"username": "inv-pw", "password": PASSWORD,
                                      "csrf_token": token}).status_code == 401
    assert other.post("/login", data={"username": "inv-pw", "password": "new password 9",
                                      "csrf_token": token}).status_code == 303
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.password_reset"))
    assert "password" not in str(ev.after).replace("password_reset", "")


def test_deactivating_revokes_every_token_and_blocks_sign_in(client, make_user, sign_in, county, token_for,
                                                             db_session):
    target = make_user("inv-gone", roles=("investigator",))
    tablet = token_for("inv-gone", device_name="平板A")
    token_for("inv-gone", device_name="平板B")
    _admin(client, make_user, sign_in, county)
    page = client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    r = client.post(f"/admin/users/{target.id}/deactivate", data={"csrf_token": csrf(page)})
    assert r.status_code == 303
    db_session.refresh(target)
    assert not target.active
    assert all(db_session.scalars(sa.select(DeviceToken.revoked_at).where(DeviceToken.user_id == target.id)))
    assert client.get("/api/v1/sync/assignments", headers=tablet).status_code == 401
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.deactivated"))
    assert ev.before == {"active": True} and ev.after["tokens_revoked"] == 2
    shown = client.get(f"/admin/users/{target.id}?lang=en").get_data(as_text=True)
    assert "Reactivate" in shown and "revoked" in shown


def test_an_admin_cannot_deactivate_themself(client, make_user, sign_in, county, db_session):
    admin = _admin(client, make_user, sign_in, county)
    page = client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    client.post(f"/admin/users/{admin.id}/deactivate", data={"csrf_token": csrf(page)})
    db_session.refresh(admin)
    assert admin.active


def test_other_roles_get_404(client, make_user, sign_in, county):
    target = make_user("inv-x", roles=("investigator",))
    make_user("county-x", roles=("county",), jurisdiction=county)
    sign_in("county-x")
    for url in ("/admin/users/new", f"/admin/users/{target.id}/edit", f"/admin/users/{target.id}/password",
                "/admin/relations", "/admin/audit", "/admin/audit.csv", "/admin/calendar/2026"):
        assert client.get(url).status_code == 404, url
