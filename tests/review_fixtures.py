"""What the review tests share: a team of two, an office worker, and cases whose visit
arrived through the real API (PUT /api/v1/visits) with its photos already stored, so the
case is submitted and flagged as it would be in the office's queue."""
from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from server.accounts.models import Team, TeamMember, User
from server.photos.models import Photo

__all__ = ["team", "office", "bearer", "visited_case", "form_of", "store_photos", "visit_body", "QueryCounter"]


def visit_body(case_id, *, tag="a", **changes) -> dict:
    from tests.api.test_visits import visit_body as base

    return base(case_id, tag=tag, **changes)


def store_photos(db_session, hashes):
    for h in hashes:
        if db_session.get(Photo, h) is None:
            db_session.add(Photo(sha256=h, content_type="image/jpeg", size_bytes=1234, derived_ready=True))
    db_session.flush()


@pytest.fixture()
def team(db_session, community, make_user):
    users = [make_user(name, roles=("investigator",)) for name in ("inv-1", "inv-2")]
    team = Team(community_id=community.id, name="迎春社区调查一组")
    team.members = [TeamMember(user_id=u.id) for u in users]
    db_session.add(team)
    db_session.flush()
    return team


@pytest.fixture()
def office(make_user):
    return make_user("office-r", roles=("office",))


@pytest.fixture()
def bearer(db_session):
    from server.accounts.operations import issue_token

    def make(username, device_name="test tablet"):
        user = db_session.scalar(sa.select(User).where(User.username == username))
        raw, _token = issue_token(db_session, user, device_name, 30)
        db_session.flush()
        return {"Authorization": "Bearer " + raw}

    return make


@pytest.fixture()
def visited_case(client, db_session, case_factory, team, bearer):
    """A case whose visit came through the API with every photo present: state
    submitted, the visit in review, its flags computed."""
    from server.visits.queries import named_hashes

    headers = {}

    def make(tag=None, community_=None, with_photos=True, **changes):
        if "h" not in headers:
            headers["h"] = bearer("inv-1")
        tag = tag or uuid.uuid4().hex[:8]
        case = case_factory(state="investigating", team=team, community_=community_)
        body = visit_body(case.id, tag=tag, **changes)
        if with_photos:
            store_photos(db_session, named_hashes(body))
        visit_id = uuid.uuid4()
        r = client.put(f"/api/v1/visits/{visit_id}", json=body, headers=headers["h"])
        assert r.status_code == 201, r.get_data(as_text=True)
        db_session.expire_all()
        return case, visit_id, body

    return make


def form_of(html: str, action_fragment: str) -> dict:
    """The hidden fields of the form whose action contains `action_fragment`."""
    m = re.search(r'<form[^>]*action="[^"]*' + re.escape(action_fragment) + r'"[^>]*>(.*?)</form>', html, re.S)
    assert m, f"no form for {action_fragment}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', m.group(1)))


class QueryCounter:
    """Counts the SQL statements an engine runs (a before_cursor_execute listener)."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.statements.append(statement)

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._hook)

    @property
    def count(self) -> int:
        return len(self.statements)
