"""What the panel tests share: six panel members (a cadre, the community police and four
residents' representatives, so representatives are ⅔ of the panel), cases that reached
the panel through a synced visit and the office's review, a session made through the
office's own operations, and a browser that signs in as one user after another and
posts the pages' own forms."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from server.cases import lifecycle
from server.cases.models import Case
from server.panel import operations
from server.panel.models import AgendaItem, PanelMember, PanelSession
from tests.review_fixtures import *  # noqa: F401,F403 - fixtures

CATEGORIES = ("cadre", "police", "resident_rep", "resident_rep", "resident_rep", "resident_rep")
WHEN = dt.datetime(2026, 11, 25, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture()
def panelists(make_user):
    """Six users with the panel role in the community: 评议员一 … 评议员六."""
    names = ("俞国平", "叶卫东", "申屠美琴", "钱永康", "何桂芳", "陈秀兰")
    return [make_user(f"panel-{i + 1}", roles=("panel",), display_name=name) for i, name in enumerate(names)]


@pytest.fixture()
def panel_case(visited_case, office, db_session):
    """A case whose visit came in through the API and that the office sent to the panel."""

    def make(**changes):
        case, _visit_id, body = visited_case(**changes)
        case = db_session.get(Case, case.id)
        if case.state == "submitted":
            lifecycle.transition(db_session, case, "in_review", office)
        lifecycle.transition(db_session, case, "panel", office)
        db_session.flush()
        return case

    return make


@pytest.fixture()
def make_session(db_session, community, office, panelists):
    """A scheduled session of the first `n` panelists with the given cases on its agenda."""

    def make(cases, n=6, categories=CATEGORIES):
        seats = [(u.id, categories[i]) for i, u in enumerate(panelists[:n])]
        ps = operations.schedule(db_session, community, office, when=WHEN, place="迎春社区二楼会议室", seats=seats,
                                 case_ids=[c.id for c in cases])
        db_session.flush()
        return ps

    return make


def members(db_session, ps) -> list[PanelMember]:
    return list(db_session.scalars(sa.select(PanelMember).where(PanelMember.session_id == ps.id)
                                   .order_by(PanelMember.id)))


def items(db_session, ps) -> list[AgendaItem]:
    return list(db_session.scalars(sa.select(AgendaItem).where(AgendaItem.session_id == ps.id)
                                   .order_by(AgendaItem.position)))


def attend(db_session, ps, office, present: int | list[bool]):
    """Record attendance: the first `present` members there, or a flag per member."""
    seats = members(db_session, ps)
    flags = present if isinstance(present, list) else [i < present for i in range(len(seats))]
    operations.record_attendance(db_session, ps, {m.id: f for m, f in zip(seats, flags)}, office)
    db_session.flush()


def opened(db_session, ps, office, present=6):
    attend(db_session, ps, office, present)
    operations.open_session(db_session, ps, office)
    db_session.flush()
    return ps


class Browser:
    """The test client as one person at a time: signs in, reads a page, posts its form."""

    def __init__(self, client, sign_in):
        self.client, self._sign_in = client, sign_in

    def as_(self, user):
        home = self.client.get("/")
        if home.status_code == 200:  # someone is signed in: sign them out first
            self.client.post("/logout", data={"csrf_token": self.csrf()})
        r = self._sign_in(user.username)
        assert r.status_code in (302, 303), r.status_code
        return self

    def get(self, url, status=200):
        r = self.client.get(url + ("&" if "?" in url else "?") + "lang=en")
        assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:800])
        return r.get_data(as_text=True)

    def csrf(self):
        html = self.client.get("/").get_data(as_text=True)
        m = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert m, "no csrf token on the home page"
        return m.group(1)

    def post(self, url, data=None):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf())
        return self.client.post(url + "?lang=en", data=data)


@pytest.fixture()
def browser_(client, sign_in):
    return Browser(client, sign_in)
