"""Issue "Prove it", item 1: the access matrix. Every route of `app.url_map` (pages and
API, every method) is called by every kind of user against tests/access_table.py, with
real objects in the URL (a case in and out of scope, its photo, visit, attachment,
conflict; a user, a token, a policy version, a calendar day…) and a minimal request.

What is proved, for each route and role:
- an allowed request is answered (2xx/3xx; a write may be refused for its content with
  400/409/422, never for its sender);
- a refused one gets exactly the table's 401/403/404 (a signed-out browser goes to the
  sign-in page), a case out of scope is a 404 and the attempt is in the audit log as
  `access.denied`;
- a refused request changes nothing: no row counted differently, no case version moved,
  no user or token changed, no audit event but `access.denied`;
- lists show the case to those in scope and not to the others;
- the table and the app agree: a route added without a row (or a row left for a route
  that is gone) fails this test.

Forms are sent with a real CSRF token (taken from a page, as a browser would), so the
matrix runs with the app's CSRF protection on; the API with real device tokens."""
from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.accounts.models import DeviceToken, StaffRelation, Team, TeamMember, User
from server.cases.models import Attachment, Case, Decision
from server.core.audit import AuditEvent
from server.core.db import Base
from server.core.models import CalendarDay, Jurisdiction
from server.core.validators import make_id_number
from server.panel.models import AgendaItem, PanelMember, PanelSession, RecusalProposal
from server.publicity.models import Notice, Objection
from server.visits.models import VisitConflict
from tests.access_table import (DENIED, FORBIDDEN, HIDDEN, LOGIN, OK, ROLES, SCOPE, SKIPPED, TABLE, Row)
from tests.conftest import PASSWORD
from tests.photos_helpers import camera_jpeg, sha
from tests.review_fixtures import bearer, store_photos, team, visit_body  # noqa: F401 - fixtures

# Signing out ends the role's session or token: those rows run last.
SIGN_OUT = ("POST /logout", "DELETE /api/v1/auth/token")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
STAFF_ID = make_id_number("330122", dt.date(1990, 1, 1), 5, "M")
RELATIVE_ID = make_id_number("330122", dt.date(1988, 8, 8), 6, "F")
# Answers that refuse a request for its content, which an allowed sender may get.
CONTENT_REFUSALS = {400, 409, 422}


def route_keys(app) -> set[str]:
    """"METHOD rule" for every route: HEAD only where a view defines it (otherwise it is
    GET's), OPTIONS never (Flask answers it without running a view)."""
    keys = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        explicit_head = hasattr(getattr(view, "view_class", None), "head")
        for method in rule.methods - {"OPTIONS"} - (set() if explicit_head else {"HEAD"}):
            keys.add(f"{method} {rule.rule}")
    return keys


def _fill(rule: str, values: dict) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>", lambda m: str(values[m.group(1)]), rule)


def _variables(rule: str) -> list[str]:
    return re.findall(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>", rule)


@dataclass
class World:
    """The objects the matrix points at, and a signed-in browser and a token per role."""

    app: object
    session: object
    users: dict
    case: Case
    other_case: Case
    team: Team
    team_b: Team
    team_c: Team
    community: Jurisdiction
    visit_id: uuid.UUID
    visit_body: dict
    photo_sha: str
    attachment: Attachment
    conflict: VisitConflict
    target: User
    target_token: DeviceToken
    policy: object
    panel_session: PanelSession
    other_panel_session: PanelSession
    notice: Notice
    objection: Objection
    decision: Decision
    clients: dict = field(default_factory=dict)
    csrf: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    issue: object = None
    _days: itertools.count = field(default_factory=lambda: itertools.count(1))
    _fresh: tuple = ()

    @property
    def item(self) -> AgendaItem:
        return next(i for i in self.panel_session.agenda if i.case_id == self.case.id)

    def seat(self, ps: PanelSession, user_id) -> PanelMember:
        return next(m for m in ps.members if m.user_id == user_id)

    def fresh_panel_session(self) -> PanelSession:
        """A session of community A of its own, for an action that may end or change it:
        the panel member sits on it, with a member without an account, and the case."""
        ps = PanelSession(community_id=self.community.id, created_by_id=self.users["office"].id,
                          scheduled_for=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2),
                          members=[PanelMember(user_id=self.users["panel"].id, name="评议员甲", category="resident_rep"),
                                   PanelMember(user_id=None, name="居民代表丙", category="resident_rep")],
                          agenda=[AgendaItem(case_id=self.case.id)])
        self.session.add(ps)
        self.session.flush()
        self._fresh = (ps, ps.agenda[0])
        return ps

    def fresh_proposal(self) -> RecusalProposal:
        ps, item = self._fresh
        proposal = RecusalProposal(agenda_item_id=item.id, panel_member_id=self.seat(ps, self.users["panel"].id).id,
                                   details={"relative_name": "某亲属", "relation": "sibling"})
        self.session.add(proposal)
        self.session.flush()
        return proposal

    def token(self, role: str) -> dict:
        if role not in self.tokens:
            self.tokens[role] = self.issue(self.users[role].username)
        return self.tokens[role]

    def fresh_day(self) -> dt.date:
        day = dt.date(2026, 1, 1) + dt.timedelta(days=next(self._days))
        self.session.add(CalendarDay(day=day, working=False, name="matrix"))
        self.session.flush()
        return day

    def fresh_relation(self) -> StaffRelation:
        rel = StaffRelation(jurisdiction_id=self.community.id, staff_name=f"员工{next(self._days)}", staff_role="office",
                            relative_name="某亲属", relative_id_number=RELATIVE_ID, relation="sibling")
        self.session.add(rel)
        self.session.flush()
        return rel

    def static_file(self, endpoint: str) -> str:
        """A file that exists in the static folder behind `endpoint`."""
        if endpoint == "static":
            folder = self.app.static_folder
        else:
            folder = self.app.blueprints[endpoint.rsplit(".", 1)[0]].static_folder
        files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
        assert files, f"{endpoint}: an empty static folder"
        return files[0].relative_to(folder).as_posix()


# URL variables by name: what to put in them.
PARAMS = {
    "case_id": lambda w: w.case.id,
    "visit_id": lambda w: w.visit_id,
    "sha256": lambda w: w.photo_sha,
    "attachment_id": lambda w: w.attachment.id,
    "conflict_id": lambda w: w.conflict.id,
    "user_id": lambda w: w.target.id,
    "token_id": lambda w: w.target_token.id,
    "relation_id": lambda w: w.fresh_relation().id,
    "version_id": lambda w: w.policy.id,
    "community_id": lambda w: w.community.id,
    "session_id": lambda w: w.panel_session.id,
    "item_id": lambda w: w.item.id,
    "member_id": lambda w: w.seat(w.panel_session, w.users["panel"].id).id,
    "proxy_member": lambda w: w.seat(w.panel_session, None).id,
    "fresh_session": lambda w: w.fresh_panel_session().id,
    "fresh_item": lambda w: w._fresh[1].id,
    "fresh_proposal": lambda w: w.fresh_proposal().id,
    "notice_id": lambda w: w.notice.id,
    "objection_id": lambda w: w.objection.id,
    "decision_id": lambda w: w.decision.id,
    "year": lambda w: 2026,
    "day": lambda w: w.fresh_day().isoformat(),
    "app_file": lambda w: "manifest.webmanifest",
}

# Request bodies by name: (world, role) -> body.
BODIES = {
    "same_visit": lambda w, role: w.visit_body,
    "not_a_photo": lambda w, role: b"these bytes are not the photo the name says",
    "evaluate": lambda w, role: {"community": w.community.code, "on": "2026-11-20",
                                 "members": [{"name": "甲", "birth_date": "1961-03-02"}],
                                 "income": [{"member": 0, "kind": "pension", "monthly_amount": "620.00"}]},
    # Each office its own team; the case is team A's, community A's.
    "assign": lambda w, role: {"case": str(w.case.id),
                               "team": str((w.team_c if role == "office_other" else w.team).id)},
    "bulk": lambda w, role: {"case": f"{w.case.id}:0", "action": "start_review", "form_id": uuid.uuid4().hex},
    "community_a": lambda w, role: {"community": str(w.community.id)},
    # A version no case has: an allowed action is refused as stale (409) and changes nothing.
    "stale": lambda w, role: {"version": "0", "form_id": uuid.uuid4().hex},
}

# Texts a list must show to the roles in scope and hide from the others.
SHOWS = {
    "case_number": lambda w: w.case.number,
    "case_id": lambda w: str(w.case.id),
    "target_username": lambda w: w.target.username,
}


def _resolve(value, w: World, role: str):
    if isinstance(value, str):
        return BODIES[value](w, role)
    return value


def _params(w: World, rule: str, endpoint: str, row: Row) -> dict:
    values = {}
    for name in _variables(rule):
        if name in row.params:
            source = row.params[name]
            values[name] = PARAMS[source](w) if source in PARAMS else source
        elif name == "filename" and endpoint.endswith("static"):
            values[name] = w.static_file(endpoint)
        else:
            values[name] = PARAMS[name](w)
    return values


def _query(w: World, row: Row) -> dict:
    """The row's query string, a value naming a URL variable filled like one."""
    return {k: (PARAMS[v](w) if isinstance(v, str) and v in PARAMS else v) for k, v in row.query.items()}


def _send(w: World, role: str, method: str, path: str, row: Row):
    headers, kwargs = {}, {"query_string": _query(w, row)}
    if path.startswith("/api/"):
        client = w.clients["api"]
        if role != "anonymous":
            headers.update(w.token(role))
        if row.json is not None:
            kwargs["json"] = _resolve(row.json, w, role)
        if row.body is not None:
            kwargs["data"] = _resolve(row.body, w, role)
            headers["Content-Type"] = row.content_type
    else:
        client = w.clients[role]
        if method in WRITES:
            data = dict(_resolve(row.data, w, role) or {})
            data["csrf_token"] = w.csrf[role]
            kwargs["data"] = data
    return client.open(path, method=method, headers=headers, **kwargs)


def _fingerprint(session) -> tuple:
    """Everything a refused request might have changed: each table's row count (but the
    audit log's, checked by its actions), cases' versions, users' sessions and status,
    revoked tokens."""
    tables = [t for t in Base.metadata.sorted_tables if t.name != "audit_events"]
    users, tokens, cases = User.__table__, DeviceToken.__table__, Case.__table__
    columns = [sa.select(sa.func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables]
    columns += [
        sa.select(sa.func.coalesce(sa.func.sum(cases.c.version), 0)).scalar_subquery(),
        sa.select(sa.func.coalesce(sa.func.sum(users.c.session_version), 0)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(users).where(users.c.active.is_(True)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(tokens).where(tokens.c.revoked_at.is_not(None)).scalar_subquery(),
    ]
    return tuple(session.execute(sa.select(*columns)).one())


def _last_event(session) -> int:
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


def _judge(outcome: str, r, key: str, events: list) -> str | None:
    """What is wrong with answer `r` for `outcome`, or None."""
    method, path = key.split(" ", 1)
    status = r.status_code
    denied = [e for e in events if e == "access.denied"]
    if outcome == OK:
        to_sign_in = status in (301, 302, 303, 307, 308) and "/login" in r.headers.get("Location", "")
        if status < 400 and (not to_sign_in or key in SIGN_OUT):
            return None
        if method in WRITES and status in CONTENT_REFUSALS and "csrf-failed" not in r.get_data(as_text=True):
            return None
        return f"allowed, but answered {status}"
    if outcome == LOGIN:
        if path.startswith("/api/"):
            return None if status == 401 else f"expected 401, got {status}"
        location = r.headers.get("Location", "")
        return None if status in (302, 303) and "/login" in location else \
            f"expected a redirect to the sign-in page, got {status} {location}"
    expected = {FORBIDDEN: 403, HIDDEN: 404, SCOPE: 404, DENIED: 403, SKIPPED: 303}[outcome]
    if status != expected:
        return f"expected {expected}, got {status}"
    if outcome in (SCOPE, DENIED, SKIPPED) and not denied:
        return "refused, but no access.denied in the audit log"
    return None


def _sign_in(app, username: str | None):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    if username is None:
        return client, token
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, (username, r.status_code)
    home = client.get("/").get_data(as_text=True)
    return client, re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)


@pytest.fixture()
def world(app, client, db_session, county, community, make_community, make_user, case_factory, team, bearer,
          policy):
    from server.cases.operations import store_attachment
    from server.accounts.operations import issue_token

    # County B, with its own reviewer and administrator; community B in county A.
    county_b = Jurisdiction(code="339999", name="淳安县", name_en="Chun'an County", kind="county")
    db_session.add(county_b)
    db_session.flush()
    community_b = make_community(name="白云源社区", name_en="Baiyunyuan Community")

    users = {
        "investigator": db_session.scalar(sa.select(User).where(User.username == "inv-1")),
        "investigator_other": make_user("inv-9", roles=("investigator",)),
        "office": make_user("office-a", roles=("office",)),
        "office_other": make_user("office-b", roles=("office",), jurisdiction=community_b),
        "county": make_user("county-a", roles=("county",), jurisdiction=county),
        "county_other": make_user("county-b", roles=("county",), jurisdiction=county_b),
        "panel": make_user("panel-a", roles=("panel",)),
        "panel_other": make_user("panel-b", roles=("panel",)),
        "admin": make_user("admin-a", roles=("admin",), jurisdiction=county),
        "admin_other": make_user("admin-b", roles=("admin",), jurisdiction=county_b),
    }
    team_b = Team(community_id=community.id, name="迎春社区调查二组",
                  members=[TeamMember(user_id=users["investigator_other"].id)])
    team_c = Team(community_id=community_b.id, name="白云源社区调查组",
                  members=[TeamMember(user_id=make_user("inv-c", roles=("investigator",),
                                                        jurisdiction=community_b).id)])
    db_session.add_all([team_b, team_c])
    target = make_user("target-a", roles=("office",), id_number=STAFF_ID)
    _raw, target_token = issue_token(db_session, target, "target tablet", 30)

    # The case: team A's, its visit sent through the API with a real photo among stubs.
    case = case_factory(state="investigating", team=team)
    other_case = case_factory(state="panel")
    inv = bearer("inv-1")
    photo = camera_jpeg()
    photo_sha = sha(photo)
    r = client.put(f"/api/v1/photos/{photo_sha}", data=photo, headers={**inv, "Content-Type": "image/jpeg"})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = visit_body(case.id, tag=uuid.uuid4().hex[:8])
    body["photos"][0]["sha256"] = photo_sha
    from server.visits.queries import named_hashes

    store_photos(db_session, [h for h in named_hashes(body) if h != photo_sha])
    visit_id = uuid.uuid4()
    r = client.put(f"/api/v1/visits/{visit_id}", json=body, headers=inv)
    assert r.status_code == 201, r.get_data(as_text=True)
    r = client.put(f"/api/v1/visits/{visit_id}", json={**body, "notes": "第二个版本"}, headers=inv)
    assert r.status_code == 409, r.get_data(as_text=True)
    conflict = db_session.scalar(sa.select(VisitConflict).where(VisitConflict.visit_id == visit_id))

    pdf = b"%PDF-1.4\n% an ID card scan\n"
    with app.app_context():
        pdf_sha = store_attachment(pdf, "application/pdf")
    attachment = Attachment(case_id=case.id, sha256=pdf_sha, filename="id.pdf",
                            content_type="application/pdf", kind="id_card", uploaded_by_id=users["office"].id)
    db_session.add(attachment)

    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    panel_session = PanelSession(community_id=community.id, scheduled_for=when, created_by_id=users["office"].id,
                                 members=[PanelMember(user_id=users["panel"].id, name="评议员甲",
                                                      category="resident_rep")],
                                 agenda=[AgendaItem(case_id=case.id)])
    other_panel_session = PanelSession(community_id=community.id, scheduled_for=when,
                                       created_by_id=users["office"].id,
                                       members=[PanelMember(user_id=users["panel_other"].id, name="评议员乙",
                                                            category="resident_rep")],
                                       agenda=[AgendaItem(case_id=other_case.id)])
    panel_session.members.append(PanelMember(user_id=None, name="居民代表丙", category="resident_rep"))
    db_session.add_all([panel_session, other_panel_session])
    db_session.flush()
    # Made minutes, in the store, for the download.
    from server.core.storage import current_store
    from server.panel.operations import minutes_key

    minutes = b"%PDF-1.4\n% the signed minutes\n"
    panel_session.minutes_sha256 = sha(minutes)
    with app.app_context():
        current_store().put(minutes_key(panel_session.minutes_sha256), minutes, "application/pdf")

    # Community C of county B, so that county B's users have a slice of their own.
    db_session.add(Jurisdiction(code="C99999", name="千岛湖社区", kind="community", parent=county_b))
    today = dt.date.today()
    notice = Notice(case_id=case.id, community_id=community.id, head_name_shown="张*三", household_size=2,
                    amount=Decimal("800.00"), posted_from=today, posted_until=today + dt.timedelta(days=7),
                    created_by_id=users["office"].id)
    db_session.add(notice)
    db_session.flush()
    objection = Objection(notice_id=notice.id, case_id=case.id, objector_name="李四", contact="13900000000",
                          channel="phone", content="他家有车", received_by_id=users["office"].id)
    decision = Decision(case_id=case.id, outcome="approved", reason="", decided_by_id=users["county"].id,
                        decision_date=today, policy_version_id=policy.id, standard=Decimal("1100.00"),
                        allowance=Decimal("860.00"), payment_from=today.replace(day=1), evaluation={})
    db_session.add_all([objection, decision])
    db_session.flush()
    db_session.expire_all()

    w = World(app=app, session=db_session, users=users, case=db_session.get(Case, case.id), other_case=other_case,
              team=team, team_b=team_b, team_c=team_c, community=community, visit_id=visit_id, visit_body=body,
              photo_sha=photo_sha, attachment=attachment, conflict=conflict, target=target,
              target_token=target_token, policy=policy, panel_session=panel_session,
              other_panel_session=other_panel_session, notice=notice, objection=objection, decision=decision,
              issue=bearer)
    w.clients["api"] = app.test_client()
    for role in ROLES[1:]:
        w.token(role)
    for role in ROLES:
        w.clients[role], w.csrf[role] = _sign_in(app, None if role == "anonymous" else users[role].username)
    return w


# A session's agenda item removed by a request may leave its id to the next one (SQLite).
@pytest.mark.filterwarnings("ignore:Identity map already had an identity")
def test_every_route_answers_every_role_as_the_access_table_says(app, db_session, world):
    keys = route_keys(app)
    missing, stale = sorted(keys - TABLE.keys()), sorted(TABLE.keys() - keys)
    endpoints = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods:
            endpoints[f"{method} {rule.rule}"] = rule.endpoint

    failures: list[str] = []
    ordered = sorted(keys & TABLE.keys(), key=lambda k: (k in SIGN_OUT, k))
    for key in ordered:
        method, rule = key.split(" ", 1)
        row = TABLE[key]
        # Refusals first: an allowed write may change what the next role meets.
        roles = sorted(ROLES, key=lambda role: row.expect[role] == OK)
        for role in roles:
            outcome = row.expect[role]
            path = _fill(rule, _params(world, rule, endpoints[key], row))
            before = _fingerprint(db_session) if outcome != OK and method in WRITES else None
            last = _last_event(db_session)
            r = _send(world, role, method, path, row)
            events = list(db_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.id > last)))
            problem = _judge(outcome, r, key, events)
            if outcome != OK and problem is None:
                if set(events) - {"access.denied"}:
                    problem = f"refused, but wrote audit events {sorted(set(events))}"
                elif before is not None and _fingerprint(db_session) != before:
                    problem = "refused, but the database changed"
            if problem is None and outcome == OK and row.shows and method == "GET":
                text, body = SHOWS[row.shows](world), r.get_data(as_text=True)
                if role.endswith("_other") and text in body:
                    problem = f"shows {row.shows} to a role out of its scope"
                elif not role.endswith("_other") and text not in body:
                    problem = f"does not show {row.shows} to a role in scope"
            if problem:
                failures.append(f"{key} as {role} ({outcome}): {problem}")
            if key == "DELETE /api/v1/auth/token" and r.status_code == 204:
                world.tokens.pop(role, None)

    report = []
    if missing:
        report.append("routes missing from tests/access_table.py:\n  " + "\n  ".join(missing))
    if stale:
        report.append("rows for routes the app no longer has:\n  " + "\n  ".join(stale))
    if failures:
        report.append(f"{len(failures)} answers differ from the table:\n  " + "\n  ".join(failures))
    assert not report, "\n".join(report)


def test_the_matrix_sees_a_refusal_that_changed_something(db_session, world):
    """The matrix's own check: a write slipped into a refused request is noticed."""
    before = _fingerprint(db_session)
    world.case.version += 1
    db_session.flush()
    assert _fingerprint(db_session) != before
