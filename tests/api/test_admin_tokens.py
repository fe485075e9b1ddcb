"""An admin lists a user's device tokens and revokes one or all (a lost tablet is one click)."""
import re

import sqlalchemy as sa

from server.accounts.models import DeviceToken
from server.core.audit import AuditEvent


def _csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_admin_sees_tokens_and_revokes_all(client, make_user, sign_in, token_for, county, db_session):
    inv = make_user("inv-t", roles=("investigator",))
    h1 = token_for("inv-t", device_name="平板一号")
    token_for("inv-t", device_name="平板二号")
    make_user("admin-t", roles=("admin",), jurisdiction=county)
    sign_in("admin-t")
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "inv-t" in listing
    page = client.get(f"/admin/users/{inv.id}").get_data(as_text=True)
    assert "平板一号" in page and "平板二号" in page
    r = client.post(f"/admin/users/{inv.id}/tokens/revoke-all", data={"csrf_token": _csrf(page)})
    assert r.status_code == 303
    assert client.delete("/api/v1/auth/token", headers=h1).status_code == 401
    revoked = db_session.scalars(sa.select(DeviceToken.revoked_at).where(DeviceToken.user_id == inv.id)).all()
    assert len(revoked) == 2 and all(revoked)
    actions = db_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action == "token.revoked")).all()
    assert len(actions) == 2


def test_admin_revokes_one_token(client, make_user, sign_in, token_for, county):
    inv = make_user("inv-u", roles=("investigator",))
    lost = token_for("inv-u", device_name="lost")
    kept = token_for("inv-u", device_name="kept")
    make_user("admin-u", roles=("admin",), jurisdiction=county)
    sign_in("admin-u")
    page = client.get(f"/admin/users/{inv.id}").get_data(as_text=True)
    token_id = re.search(r'<tr data-token="(\d+)">\s*<td>lost</td>', page).group(1)
    client.post(f"/admin/users/{inv.id}/tokens/{token_id}/revoke", data={"csrf_token": _csrf(page)})
    assert client.delete("/api/v1/auth/token", headers=lost).status_code == 401
    assert client.delete("/api/v1/auth/token", headers=kept).status_code == 204


def test_other_roles_get_404_for_administration(client, make_user, sign_in):
    inv = make_user("inv-v", roles=("investigator",))
    make_user("office-v", roles=("office",))
    sign_in("office-v")
    assert client.get("/admin/users").status_code == 404
    assert client.get(f"/admin/users/{inv.id}").status_code == 404


def test_admin_of_another_county_cannot_see_the_user(client, make_user, sign_in, db_session):
    from server.core.models import Jurisdiction

    inv = make_user("inv-w", roles=("investigator",))
    elsewhere = Jurisdiction(code="339999", name="建德市", kind="county")
    db_session.add(elsewhere)
    db_session.flush()
    make_user("admin-w", roles=("admin",), jurisdiction=elsewhere)
    sign_in("admin-w")
    assert "inv-w" not in client.get("/admin/users").get_data(as_text=True)
    assert client.get(f"/admin/users/{inv.id}").status_code == 404
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [e.entity_id for e in denied] == [str(inv.id)]
