"""End of posting (M21 Art 19): after the whole posting period, with no objection open, the
case goes to the county (publicity → county_review), which starts the county's 10 working
days; before that, nothing moves — and a county decision on a case still in posting is
refused by the lifecycle."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from server.cases import lifecycle
from server.core.audit import AuditEvent
from server.core.workdays import Calendar
from server.publicity import operations
from tests.publicity_fixtures import *  # noqa: F401,F403

DAY = dt.date(2026, 11, 24)  # a Tuesday
LAST = DAY + dt.timedelta(days=6)


def test_a_finished_posting_goes_to_the_county_with_its_deadline(db_session, posted, office):
    case, notice = posted(on=DAY)
    operations.end_posting(db_session, notice, office, today=LAST + dt.timedelta(days=1))
    assert case.state == "county_review" and notice.state == "ended" and notice.closed_at is not None
    assert case.decision_due == Calendar.load(db_session).add_working_days(LAST + dt.timedelta(days=1), 10)
    event = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "notice.end"))
    assert event.entity_id == str(notice.id) and event.actor_id == office.id


@pytest.mark.parametrize("on", [DAY, LAST])
def test_sending_before_the_end_of_posting_is_refused(db_session, posted, office, on):
    case, notice = posted(on=DAY)
    with pytest.raises(operations.PostingNotFinished) as err:
        operations.end_posting(db_session, notice, office, today=on)
    assert err.value.status == 409 and err.value.code == "posting-not-finished"
    assert case.state == "publicity" and notice.state == "posted" and case.decision_due is None


def test_a_posting_with_an_open_objection_is_not_sent(db_session, posted, office):
    case, notice = posted(on=DAY)
    operations.record_objection(db_session, notice, office, channel="online", content="有异议", today=DAY)
    with pytest.raises(operations.PostingNotFinished):
        operations.end_posting(db_session, notice, office, today=LAST + dt.timedelta(days=3))
    assert case.state == "objection" and notice.state == "posted"


def test_end_finished_postings_sends_only_the_finished_ones(db_session, posted, office):
    done_case, done = posted(on=DAY)
    running_case, running = posted(on=DAY + dt.timedelta(days=3))
    held_case, held = posted(on=DAY)
    operations.record_objection(db_session, held, office, channel="phone", content="有异议", today=DAY)
    ended = operations.end_finished_postings(db_session, LAST + dt.timedelta(days=1), office)
    assert [n.id for n in ended] == [done.id]
    assert (done_case.state, running_case.state, held_case.state) == ("county_review", "publicity", "objection")
    # a second run finds nothing more to send
    assert operations.end_finished_postings(db_session, LAST + dt.timedelta(days=1), office) == []


def test_end_finished_postings_leaves_other_communities_alone(db_session, posted, office, make_community, make_user,
                                                              visited_case):
    from tests.publicity_fixtures import move

    elsewhere = make_community("东风社区", "Dongfeng Community")
    other_office = make_user("office-x", roles=("office",), jurisdiction=elsewhere)
    case, visit_id, _body = visited_case(community_=elsewhere)
    move(db_session, case, ("in_review", "panel", "publicity"), other_office)
    notice = operations.post_notice(db_session, case, other_office, today=DAY)
    mine, my_notice = posted(on=DAY)
    ended = operations.end_finished_postings(db_session, LAST + dt.timedelta(days=1), office)
    assert [n.id for n in ended] == [my_notice.id]
    assert case.state == "publicity" and notice.state == "posted"


def test_the_county_cannot_decide_a_case_still_in_posting(db_session, posted, make_user, county):
    county_user = make_user("county-a", roles=("county",), jurisdiction=county)
    case, notice = posted(on=DAY)
    for to_state in ("approved", "rejected"):
        with pytest.raises(lifecycle.IllegalTransition) as err:
            lifecycle.transition(db_session, case, to_state, county_user, "理由")
        assert err.value.status == 409
    assert case.state == "publicity"


def test_the_countys_decision_function_refuses_a_case_still_in_posting(db_session, posted, make_user, county):
    from server.core.errors import Problem
    from server.decisions import operations as decisions

    county_user = make_user("county-b", roles=("county",), jurisdiction=county)
    case, notice = posted(on=DAY)
    with pytest.raises(Problem) as err:
        decisions.decide(db_session, case, county_user, "approve", None, stability=None, today=LAST)
    assert err.value.status == 409
    assert case.state == "publicity" and notice.state == "posted"
