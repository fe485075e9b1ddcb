"""Issue "Prove it", item 2 (sensitive data): national ID numbers show in full only in the
case file of a role that may see it, and that read is on record; everywhere else (lists,
the queue, search results, exports, the audit log viewer, every other page and document,
error messages, logs) they are masked as 330102********1234. No log line, whoever writes
it (our code, SQLAlchemy, werkzeug's or waitress's servers), holds a full ID number, a
bearer token or a password, even at DEBUG."""
from __future__ import annotations

import datetime as dt
import io
import logging
import re
import subprocess
import threading
import uuid

import pytest
import requests
import sqlalchemy as sa

from server.core.audit import AuditEvent
from server.core.security import mask_id_number, mask_ids, scrub
from server.core.validators import make_id_number
from tests.access_table import OK, TABLE
from tests.api.test_access_matrix import STAFF_ID, _fill, _params, route_keys, world  # noqa: F401 - fixture
from tests.conftest import PASSWORD, live_app, password_hash
from tests.review_fixtures import bearer, team, visit_body  # noqa: F401 - fixtures

ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])")
# Where a full ID number belongs: the case file (and its conflict page, which compares the
# two versions of a visit field by field), and the team's tablets, which carry the case
# file offline. Each is a read on record.
FULL_ID_ALLOWED = {"GET /cases/<uuid:case_id>", "GET /cases/<uuid:case_id>/conflicts/<int:conflict_id>",
                   "GET /api/v1/sync/assignments"}
IN_SCOPE_ROLES = ("investigator", "office", "county", "panel", "admin")


# --- the masks themselves -------------------------------------------------------------------


def test_an_id_number_is_masked_to_its_region_and_last_four():
    assert mask_id_number("330102199001011234") == "330102********1234"
    assert mask_id_number("33010219900101123X") == "330102********123X"
    assert mask_id_number("12345") == "*2345"
    assert mask_id_number(None) == ""
    text = 'a 330102199001011234, b "33010219900101123x" c'
    assert mask_ids(text) == 'a 330102********1234, b "330102********123x" c'
    # Not a part of a longer run: a SHA-256 or a 19-digit number is left alone.
    sha = "ab" + "3" * 18 + "cd" + "0" * 42
    assert mask_ids(sha) == sha and mask_ids("1" * 19) == "1" * 19


def test_a_log_line_loses_tokens_and_passwords():
    line = ('GET /x?token=abcDEF123_-xyz&password=hunter22&q=1 Authorization: Bearer abcDEF123_-xyz.more '
            '{"password": "hunter22", "username": "a"} 330102199001011234')
    cleaned = scrub(line)
    assert "abcDEF123" not in cleaned and "hunter22" not in cleaned and "199001011" not in cleaned
    assert "q=1" in cleaned and '"username": "a"' in cleaned and "330102********1234" in cleaned


# --- every page, list, export and document -----------------------------------------------------


def _text_of(r) -> str:
    """What an answer says, whatever its format (HTML, JSON, CSV, XLSX, PDF)."""
    mimetype = r.mimetype or ""
    if mimetype == "application/pdf":
        out = subprocess.run(["pdftotext", "-", "-"], input=r.data, capture_output=True)
        return out.stdout.decode() if out.returncode == 0 else r.data.decode("latin-1")  # a scan, not a document
    if "spreadsheetml" in mimetype:
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(r.data), read_only=True)
        return "\n".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
                         if v is not None)
    if mimetype.startswith("image/"):
        return ""
    return r.get_data(as_text=True)


@pytest.fixture()
def sensitive(world, db_session, client, case_factory):
    """The matrix's world, with ID numbers in every place one could leak from: household
    members, the visit's members, a staff member's own number, the relatives register (its
    audit event), a correction of a member's number (before and after in the log), and a
    household receiving the allowance (the ledgers and their exports list it)."""
    from decimal import Decimal

    from server.cases.models import Decision
    from server.visits.models import VisitMember

    w = world
    today = dt.date.today()
    receiving = case_factory(state="active", allowance=Decimal("640.00"), payment_from=today.replace(day=1))
    db_session.add(Decision(case_id=receiving.id, outcome="approved", reason="", decided_by_id=w.users["county"].id,
                            decision_date=today, policy_version_id=w.policy.id, standard=Decimal("1100.00"),
                            allowance=Decimal("640.00"), payment_from=today.replace(day=1), evaluation={}))
    db_session.flush()
    admin, office = w.clients["admin"], w.clients["office"]
    relative = make_id_number("330122", dt.date(1970, 5, 6), 77, "M")
    r = admin.post("/admin/relations", data={
        "csrf_token": w.csrf["admin"], "jurisdiction": str(w.community.id), "staff_name": "周某",
        "staff_role": "office", "relative_name": "周某某", "relative_id_number": relative, "relation": "sibling"})
    assert r.status_code == 303, r.get_data(as_text=True)
    member = db_session.scalar(sa.select(VisitMember).where(VisitMember.visit_id == w.visit_id,
                                                             VisitMember.position == 1))
    corrected = make_id_number("330122", dt.date(1958, 7, 9), 88, "M")
    r = office.post(f"/cases/{w.case.id}/correct", data={
        "csrf_token": w.csrf["office"], "field": "members.1.id_number", "value": corrected,
        "reason": "身份证复印件核对", "form_id": uuid.uuid4().hex})
    assert r.status_code == 303, r.get_data(as_text=True)
    db_session.expire_all()
    numbers = {m.id_number for m in w.case.household.members} | {m["id_number"] for m in w.visit_body["members"]}
    numbers |= {m.id_number for m in receiving.household.members}
    numbers |= {relative, corrected, w.target.id_number, member.id_number}
    assert all(ID_PATTERN.fullmatch(n) for n in numbers) and len(numbers) >= 6
    events = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action.in_(
        ("relation.added", "review.correct", "visit.corrected")))).all()
    assert any(relative in str(e.after) for e in events)  # the log keeps them; its viewer must not show them
    return w, numbers


def test_no_page_list_export_or_document_shows_a_full_id_number_but_the_case_file(app, db_session, sensitive):
    w, numbers = sensitive
    endpoints = {f"{m} {r.rule}": r.endpoint for r in app.url_map.iter_rules() for m in r.methods}
    leaks, checked = [], 0
    searched = sorted(numbers)[0]
    for key in sorted(route_keys(app) & TABLE.keys()):
        method, rule = key.split(" ", 1)
        if method != "GET" or key in FULL_ID_ALLOWED or "static" in endpoints[key]:
            continue
        row = TABLE[key]
        for role in IN_SCOPE_ROLES:
            if row.expect[role] != OK:
                continue
            path = _fill(rule, _params(w, rule, endpoints[key], row))
            client = w.clients["api"] if path.startswith("/api/") else w.clients[role]
            headers = w.token(role) if path.startswith("/api/") else {}
            for query in (row.query, {**row.query, "q": searched}):  # search results too
                for hx in (False, True):  # the page and its htmx fragment
                    r = client.get(path, query_string=query, headers={**headers, **({"HX-Request": "true"} if hx
                                                                                  else {})})
                    if r.status_code >= 400:
                        continue
                    checked += 1
                    text = _text_of(r)
                    # The search box keeps the term typed in it; what it finds must not show numbers.
                    shown = numbers - {searched} if "q" in query else numbers
                    found = sorted(n for n in shown if n in text or n.lower() in text)
                    if found:
                        leaks.append(f"{key} as {role}{' (htmx)' if hx else ''}{' ?q=' if 'q' in query else ''}: "
                                     f"{found}")
    assert checked > 100
    assert leaks == []
    # The ledgers did list the receiving household, with its head's number masked.
    active = w.clients["office"].get("/ledgers/active.csv").get_data(as_text=True)
    assert any(mask_id_number(n) in active for n in numbers)


def test_the_audit_log_viewer_and_its_export_show_masked_numbers(db_session, sensitive):
    w, numbers = sensitive
    admin = w.clients["admin"]
    page = admin.get("/admin/audit").get_data(as_text=True)
    export = admin.get("/admin/audit.csv").get_data(as_text=True)
    for text in (page, export):
        assert not [n for n in numbers if n in text]
    relative = next(n for n in numbers if mask_id_number(n) in page and "relative_id_number" in page)
    assert mask_id_number(relative) in export


def test_the_case_file_shows_full_numbers_to_who_may_see_it_and_the_read_is_on_record(db_session, sensitive):
    w, numbers = sensitive
    for role in ("investigator", "office", "county", "panel"):
        last = db_session.scalar(sa.select(sa.func.max(AuditEvent.id)))
        r = w.clients[role].get(f"/cases/{w.case.id}")
        assert r.status_code == 200
        shown = [m["id_number"] for m in w.visit_body["members"] if m["id_number"] in r.get_data(as_text=True)]
        read = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.id > last, AuditEvent.action == "read",
                                                              AuditEvent.case_id == w.case.id)).all()
        assert shown, role
        assert len(read) == 1 and "members.id_number" in read[0].after["fields"]
        assert read[0].actor_name == w.users[role].username
    # The application page of the same case masks them (its own read names no ID numbers).
    r = w.clients["office"].get(f"/applications/{w.case.id}").get_data(as_text=True)
    member = w.case.household.members[0].id_number
    assert member not in r and mask_id_number(member) in r


def test_the_user_form_keeps_a_staff_number_without_showing_it(db_session, sensitive):
    w, _numbers = sensitive
    admin, target = w.clients["admin"], w.target
    page = admin.get(f"/admin/users/{target.id}/edit").get_data(as_text=True)
    assert target.id_number not in page and mask_id_number(target.id_number) in page
    form = {"csrf_token": w.csrf["admin"], "display_name": "改了名", "roles": ["office"],
            "jurisdiction": str(target.jurisdiction_id), "phone": "", "id_number": ""}
    assert admin.post(f"/admin/users/{target.id}/edit", data=form).status_code == 303
    db_session.expire_all()
    assert target.id_number == STAFF_ID and target.display_name == "改了名"  # kept
    form["remove_id_number"] = "1"
    assert admin.post(f"/admin/users/{target.id}/edit", data=form).status_code == 303
    db_session.expire_all()
    assert target.id_number is None


# --- error messages ------------------------------------------------------------------------------


def test_error_answers_do_not_repeat_an_id_number(client, db_session, case_factory, team, bearer, policy,
                                                  community, make_user, sign_in):
    number = make_id_number("330122", dt.date(1961, 3, 2), 17, "F")
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")  # a bad check digit
    case = case_factory(state="investigating", team=team)
    headers = bearer("inv-1")
    body = visit_body(case.id)
    body["members"][0]["id_number"] = wrong
    body["members"][1]["unknown"] = number
    answers = [
        client.put(f"/api/v1/visits/{uuid.uuid4()}", json=body, headers=headers),
        client.post("/api/v1/policy/evaluate", headers=headers, json={
            "community": community.code, "on": "2026-11-20", "members": [{"id_number": wrong}, {"x": number}]}),
        client.get(f"/api/v1/cases/{number}", headers=headers),
        client.get(f"/api/v1/sync/assignments?since={number}", headers=headers),
        client.get(f"/api/v1/visits/{number}", headers={"Authorization": f"Bearer {number}"}),
    ]
    make_user("office-e", roles=("office",))
    sign_in("office-e")
    # (A form sent back with errors keeps what was typed in its fields, by design; these
    # are the messages themselves.)
    answers += [client.get(f"/cases/{number}"), client.get(f"/applications/{number}"),
                client.get(f"/no/such/{number}"),
                client.post("/applications/new", data={"m-0-id_number": number})]  # no CSRF token: 400
    assert {a.status_code for a in answers} <= {400, 401, 404, 422}
    assert 422 in {a.status_code for a in answers}
    for a in answers:
        text = a.get_data(as_text=True)
        assert number not in text and wrong not in text, (a.status_code, text[:300])


# --- logs ------------------------------------------------------------------------------------------


def _secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


def test_an_exception_logged_with_an_id_number_in_its_text_is_masked(caplog):
    """A database error quotes its statement's parameters: the traceback is scrubbed too."""
    number = make_id_number("330122", dt.date(1961, 3, 2), 17, "F")
    caplog.set_level(logging.DEBUG)
    try:
        raise sa.exc.IntegrityError("INSERT INTO members (id_number) VALUES (?)", (number,), Exception("UNIQUE"))
    except sa.exc.IntegrityError:
        logging.getLogger("doorstep.errors").exception("database error")
    logging.getLogger("doorstep.test").info("member %s token=%s", number, "s3cr3t-token-value")
    assert number not in caplog.text and "s3cr3t-token-value" not in caplog.text
    assert mask_id_number(number) in caplog.text and "IntegrityError" in caplog.text


@pytest.fixture()
def debug_logs(caplog):
    """DEBUG everywhere, SQLAlchemy's statements, parameters and rows included (its logger
    stays at WARNING unless told), set before the test's database connection is made:
    SQLAlchemy decides when a connection opens whether to log."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    return caplog


def test_a_representative_flow_logs_no_id_number_token_or_password(debug_logs, client, db_session, make_user, sign_in,
                                                                 case_factory, team, community, policy):
    """Sign-in (one failed), a device token, a visit with its members' IDs, intake with the
    ID checked as typed (the number in a query string), the case file, bad requests — all
    at DEBUG, SQLAlchemy's statements and parameters included."""
    from tests.api.test_intake import APPLICANT_ID, SPOUSE_ID, intake_form

    caplog = debug_logs
    make_user("office-f", roles=("office",))
    wrong_password = "not the password 7"
    assert sign_in("office-f", wrong_password).status_code == 401
    assert sign_in("office-f").status_code == 303
    r = client.post("/api/v1/auth/token", json={"username": "inv-1", "password": PASSWORD, "device_name": "pad"})
    token = r.get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    case = case_factory(state="investigating", team=team)
    body = visit_body(case.id)
    assert client.put(f"/api/v1/visits/{uuid.uuid4()}", json=body, headers=auth).status_code == 201
    check = client.get("/applications/new", headers={"HX-Request": "true"}, query_string={
        "check": "m-0-id_number", "m-0-id_number": APPLICANT_ID, "m-0-name": "王秀英"})
    assert check.status_code == 200
    assert client.post("/applications/new", data=intake_form(client)).status_code == 303
    assert client.get(f"/cases/{case.id}").status_code == 200
    bad = visit_body(case.id)
    bad["members"][0]["id_number"] = bad["members"][0]["id_number"][:-1] + "Z"
    assert client.put(f"/api/v1/visits/{uuid.uuid4()}", json=bad, headers=auth).status_code == 422
    assert client.get(f"/api/v1/nothing?token={token}&password={PASSWORD}", headers=auth).status_code == 404
    assert client.delete("/api/v1/auth/token", headers=auth).status_code == 204
    assert client.get("/api/v1/sync/assignments", headers=auth).status_code == 401

    secrets = [token, PASSWORD, wrong_password, APPLICANT_ID, SPOUSE_ID] + [m["id_number"] for m in body["members"]]
    secrets += [m.id_number for m in case.household.members]
    assert len(caplog.records) > 50  # DEBUG really was on: statements, parameters, rows
    assert _secrets_in(caplog.text, secrets) == []
    assert _secrets_in("\n".join(r.getMessage() for r in caplog.records), secrets) == []
    assert "330122********" in caplog.text  # the numbers were there, masked


def _seed_live(session):
    """A community with an office worker and a team of two, and a case to visit."""
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.cases.models import Case, Household, Member
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction

    county = Jurisdiction(code="330122", name="桐庐县", kind="county")
    community = Jurisdiction(code="C99001", name="迎春社区", kind="community", parent=county,
                             location=point_wkt(29.797, 119.691))
    session.add_all([county, community])
    session.flush()
    users = {}
    for name, role in (("office-l", "office"), ("inv-1", "investigator"), ("inv-2", "investigator")):
        users[name] = User(username=name, display_name=name, password_hash=password_hash(),
                           jurisdiction_id=community.id, role_rows=[UserRole(role=role)])
    session.add_all(users.values())
    session.flush()
    team_ = Team(community_id=community.id, name="一组",
                 members=[TeamMember(user_id=users["inv-1"].id), TeamMember(user_id=users["inv-2"].id)])
    session.add(team_)
    session.flush()
    household = Household(community_id=community.id, head_name="王秀英", address="迎春路 1 号",
                          location=point_wkt(29.797, 119.691))
    household.members.append(Member(position=0, name="王秀英", relation="self", sex="F",
                                    id_number=make_id_number("330122", dt.date(1955, 4, 4), 31, "F"),
                                    birth_date=dt.date(1955, 4, 4)))
    case = Case(number="C99001-2026-1", household=household, community_id=community.id, state="investigating",
                team_id=team_.id)
    session.add(case)
    session.flush()
    return {"case_id": case.id, "member_id": household.members[0].id_number}


def _live_flow(base: str, seeded: dict) -> list[str]:
    """The flow over HTTP, as browsers and tablets send it; returns what must not be logged."""
    browser = requests.Session()
    page = browser.get(base + "/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    wrong = "wrong horse 13"
    assert browser.post(base + "/login", data={"username": "office-l", "password": wrong, "csrf_token": csrf},
                        allow_redirects=False).status_code == 401
    assert browser.post(base + "/login", data={"username": "office-l", "password": PASSWORD, "csrf_token": csrf},
                        allow_redirects=False).status_code == 303
    r = requests.post(base + "/api/v1/auth/token", json={"username": "inv-1", "password": PASSWORD,
                                                         "device_name": "pad"})
    token = r.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    body = visit_body(seeded["case_id"], tag=uuid.uuid4().hex[:6])
    assert requests.put(f"{base}/api/v1/visits/{uuid.uuid4()}", json=body, headers=auth).status_code in (201, 409)
    typed = make_id_number("330122", dt.date(1961, 3, 2), 41, "F")
    assert browser.get(base + "/applications/new", headers={"HX-Request": "true"}, params={
        "check": "m-0-id_number", "m-0-id_number": typed, "m-0-name": "王秀英"}).status_code == 200
    assert browser.get(f"{base}/applications?q={seeded['member_id']}").status_code == 200
    assert browser.get(f"{base}/cases/{seeded['case_id']}").status_code == 200
    bad = dict(body, members=[dict(body["members"][0], id_number=typed[:-1] + "Z")])
    assert requests.put(f"{base}/api/v1/visits/{uuid.uuid4()}", json=bad, headers=auth).status_code == 422
    assert requests.get(f"{base}/api/v1/nothing?token={token}&password={PASSWORD}",
                        headers=auth).status_code == 404
    assert requests.delete(base + "/api/v1/auth/token", headers=auth).status_code == 204
    return [token, PASSWORD, wrong, typed, seeded["member_id"]] + [m["id_number"] for m in body["members"]]


def test_the_servers_access_and_error_logs_hold_no_id_number_token_or_password(tmp_path_factory, caplog):
    """Over HTTP: waitress (what `make run` serves with) and werkzeug's development server,
    whose access log writes each request line, query string included."""
    from werkzeug.serving import make_server

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    with live_app(tmp_path_factory, "logs", threads=2, seed=_seed_live) as (base, app, seeded):
        secrets = _live_flow(base, seeded)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            secrets += _live_flow(f"http://127.0.0.1:{server.server_port}", seeded)
        finally:
            server.shutdown()
    access = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/applications/new?check=m-0-id_number" in line for line in access)  # the access log ran
    assert any("330122********" in line for line in access)  # and the typed number was masked in it
    assert _secrets_in(caplog.text, secrets) == []
    assert _secrets_in("\n".join(r.getMessage() for r in caplog.records), secrets) == []
