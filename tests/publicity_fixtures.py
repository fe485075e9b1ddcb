"""What the notice tests share: a case whose visit came through the real API, reviewed and
passed by the panel (state publicity), and an office worker of its community."""
from __future__ import annotations

import datetime as dt

import pytest

from server.cases import lifecycle
from tests.review_fixtures import *  # noqa: F401,F403  (team, office, bearer, visited_case, form_of)

__all__ = ["team", "office", "bearer", "visited_case", "form_of", "passed_case", "posted", "move"]


def move(db_session, case, states, actor):
    for state in states:
        reason = "测试理由" if lifecycle.TRANSITIONS[(case.state, state)].reason_required else None
        lifecycle.transition(db_session, case, state, actor, reason)


@pytest.fixture()
def passed_case(db_session, visited_case, office, policy):
    """A case the panel passed: submitted → in_review → panel → publicity, no notice yet."""

    def make(**changes):
        case, visit_id, body = visited_case(**changes)
        move(db_session, case, ("in_review", "panel", "publicity"), office)
        return case

    return make


@pytest.fixture()
def posted(db_session, passed_case, office):
    """A passed case and its notice, posted on `on` (default: today)."""
    from server.publicity import operations

    def make(on: dt.date | None = None, **changes):
        case = passed_case(**changes)
        notice = operations.post_notice(db_session, case, office, today=on)
        return case, notice

    return make
