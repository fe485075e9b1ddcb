"""Policy versions in the browser: only an admin reaches them; a new version is validated
field by field with what was typed kept; its impact is previewed before saving, with the
households behind each number; saving never edits a version in force and is audited."""
from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from server.cases.lifecycle import local_today
from server.core.audit import AuditEvent
from server.policy.models import PolicyVersion
from tests.admin_fixtures import *  # noqa: F401,F403 - fixtures
from tests.admin_fixtures import form_values


def _admin(make_user, sign_in, county):
    make_user("admin-p", roles=("admin",), jurisdiction=county)
    sign_in("admin-p")


def _next_month() -> dt.date:
    today = local_today()
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def _form(client, county):
    page = client.get(f"/admin/policy/new?jurisdiction={county.id}")
    assert page.status_code == 200
    return form_values(page.get_data(as_text=True))


def test_other_roles_get_404(client, make_user, sign_in, county, policy):
    make_user("county-p", roles=("county",), jurisdiction=county)
    sign_in("county-p")
    for url in ("/admin/policy/", f"/admin/policy/{policy.id}", "/admin/policy/new"):
        assert client.get(url).status_code == 404
    assert client.post("/admin/policy/new", data={}).status_code in (400, 404)  # no CSRF token, or 404


def test_versions_list_and_one_version(client, make_user, sign_in, county, policy):
    _admin(make_user, sign_in, county)
    listing = client.get("/admin/policy/?lang=en").get_data(as_text=True)
    assert f'data-version="{policy.id}"' in listing and "in force" in listing
    page = client.get(f"/admin/policy/{policy.id}?lang=en").get_data(as_text=True)
    assert "1100.00" in page and "never edited" in page


def test_create_a_version_audited_with_before_and_after(client, make_user, sign_in, county, policy, db_session):
    _admin(make_user, sign_in, county)
    data = _form(client, county)
    assert data["monthly_standard"] == "1100.00"  # starts from the version in force
    data.update(monthly_standard="1180", effective_from=_next_month().isoformat(), note="2027 standard",
                action="save")
    r = client.post("/admin/policy/new", data=data)
    assert r.status_code == 303
    created = db_session.scalar(sa.select(PolicyVersion).where(PolicyVersion.jurisdiction_id == county.id,
                                                               PolicyVersion.effective_from == _next_month()))
    assert created.settings["monthly_standard"] == "1180.00"
    assert r.headers["Location"].endswith(f"/admin/policy/{created.id}")
    # The version in force is unchanged: a new one was made.
    db_session.refresh(policy)
    assert policy.settings["monthly_standard"] == "1100.00"
    ev = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "policy.version_created"))
    assert ev.before["settings"]["monthly_standard"] == "1100.00"
    assert ev.after["settings"]["monthly_standard"] == "1180.00"
    page = client.get(f"/admin/policy/{created.id}?lang=en").get_data(as_text=True)
    assert "monthly_standard" in page  # the change from the version before is listed


def test_bad_values_come_back_next_to_their_fields_and_nothing_is_stored(client, make_user, sign_in, county,
                                                                         policy, db_session):
    _admin(make_user, sign_in, county)
    data = _form(client, county)
    data.update({"monthly_standard": "-5", "class_topup_percent.A": "130", "panel.pass_ratio": "1.5",
                 "elderly_age": "sixty", "effective_from": _next_month().isoformat(), "note": "typed note",
                 "action": "save"})
    r = client.post("/admin/policy/new?lang=en", data=data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Must not be negative." in html
    assert "A percentage is between 0 and 100." in html
    assert "A share is more than 0 and at most 1." in html
    assert "Enter a whole number." in html
    # What was typed is kept.
    assert 'value="-5"' in html and 'value="130"' in html and 'value="sixty"' in html and 'value="typed note"' in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(PolicyVersion)
                             .where(PolicyVersion.jurisdiction_id == county.id)) == 1


def test_funding_shares_must_add_up_to_100(client, make_user, sign_in, county, policy):
    _admin(make_user, sign_in, county)
    data = _form(client, county)
    data.update({"funding_split.municipal": "70", "effective_from": _next_month().isoformat(), "action": "save"})
    r = client.post("/admin/policy/new?lang=en", data=data)
    assert r.status_code == 422 and "The funding shares must add up to 100." in r.get_data(as_text=True)


def test_a_second_version_on_the_same_date_is_refused(client, make_user, sign_in, county, policy):
    _admin(make_user, sign_in, county)
    data = _form(client, county)
    data.update(effective_from=policy.effective_from.isoformat(), action="save")
    r = client.post("/admin/policy/new?lang=en", data=data)
    assert r.status_code == 422 and "already takes effect on that date" in r.get_data(as_text=True)


def test_a_past_date_is_refused_when_it_would_change_payments_already_made(client, make_user, sign_in, county,
                                                                           policy, receiving, db_session):
    _admin(make_user, sign_in, county)
    receiving(members=[{"birth_date": dt.date(1980, 1, 1)}], income=[{"member": 0, "kind": "wage",
                                                                      "amount": "500.00"}])
    past = local_today() - dt.timedelta(days=40)
    data = _form(client, county)
    data.update(monthly_standard="1300.00", effective_from=past.isoformat(), action="save")
    r = client.post("/admin/policy/new?lang=en", data=data)
    assert r.status_code == 422 and "payments from that date have already been made" in r.get_data(as_text=True)
    assert 'value="1300.00"' in r.get_data(as_text=True)
    # A past date is fine for a change that pays nobody differently (a flag threshold).
    data.update(monthly_standard="1100.00", **{"flags.gps_distance_m": "500"})
    assert client.post("/admin/policy/new", data=data).status_code == 303


def test_preview_shows_per_community_counts_and_the_households_behind_them(client, make_user, sign_in, county,
                                                                           policy, receiving, community,
                                                                           db_session):
    _admin(make_user, sign_in, county)
    cases = [receiving(members=[{"birth_date": dt.date(1980, 1, 1)}],
                       income=[{"member": 0, "kind": "wage", "amount": f"{100 + i}.00"}]) for i in range(55)]
    data = _form(client, county)
    data.update(monthly_standard="1200.00", effective_from=_next_month().isoformat(), action="preview")
    r = client.post("/admin/policy/new?lang=en", data=data)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    row = re.search(rf'<tr data-community="{community.code}">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-category="gain"><button[^>]*>55</button>', row)
    assert "+5500.00" in row  # 55 households, 100 yuan more each
    # Nothing was stored by the preview.
    assert db_session.scalar(sa.select(sa.func.count()).select_from(PolicyVersion)
                             .where(PolicyVersion.jurisdiction_id == county.id)) == 1
    # The list behind the number, 50 a page.
    data["show"] = f"{community.id}:gain:1"
    first = client.post("/admin/policy/new?lang=en", data=data).get_data(as_text=True)
    listed = re.findall(r"/admin/policy/households/([0-9a-f-]+)", first)
    assert len(listed) == 50 and "Page 1 of 2" in first
    data["show"] = f"{community.id}:gain:2"
    second = client.post("/admin/policy/new?lang=en", data=data).get_data(as_text=True)
    assert len(re.findall(r"/admin/policy/households/([0-9a-f-]+)", second)) == 5
    # htmx asks for the preview only.
    frag = client.post("/admin/policy/new?lang=en", data=data, headers={"HX-Request": "true", "HX-Target": "impact"})
    assert frag.get_data(as_text=True).lstrip().startswith('<section id="impact"')


def test_a_households_allowance_changes_from_the_effective_month(client, make_user, sign_in, county, policy,
                                                                  receiving):
    _admin(make_user, sign_in, county)
    case = receiving(members=[{"birth_date": dt.date(1980, 1, 1)}, {"birth_date": dt.date(1982, 1, 1)}],
                     income=[{"member": 0, "kind": "wage", "amount": "1000.00"}])
    effective = _next_month()
    data = _form(client, county)
    data.update(monthly_standard="1200.00", effective_from=effective.isoformat(), action="save")
    assert client.post("/admin/policy/new", data=data).status_code == 303
    page = client.get(f"/admin/policy/households/{case.id}?lang=en").get_data(as_text=True)
    months = dict(re.findall(r'<tr data-month="([\d-]+)">.*?<td class="num allowance">([\d.—]+)</td>', page, re.S))
    before = (effective - dt.timedelta(days=1)).strftime("%Y-%m")
    assert months[before] == "1200.00"  # 2 x 1100 - 1000
    assert months[effective.strftime("%Y-%m")] == "1400.00"  # 2 x 1200 - 1000


def test_households_of_another_county_are_404(client, make_user, sign_in, county, db_session, receiving):
    from server.core.models import Jurisdiction

    case = receiving()
    elsewhere = Jurisdiction(code="339901", name="建德市", kind="county")
    db_session.add(elsewhere)
    db_session.flush()
    make_user("admin-q", roles=("admin",), jurisdiction=elsewhere)
    sign_in("admin-q")
    assert client.get(f"/admin/policy/households/{case.id}").status_code == 404
    assert client.get("/admin/policy/households/not-a-uuid").status_code == 404
