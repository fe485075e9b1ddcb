"""Posting a passed case's public notice (M21 Art 19, 24): what it shows, for how long,
and which cases are refused."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from server.core.audit import AuditEvent
from server.publicity import operations
from server.publicity.models import Notice
from tests.publicity_fixtures import *  # noqa: F401,F403


@pytest.mark.parametrize("name, shown", [
    ("张三", "张*"), ("张小三", "张*三"), ("欧阳小明", "欧**明"), ("王", "王"), (" 李四 ", "李*"), ("", ""),
])
def test_mask_name_keeps_first_and_last_character(name, shown):
    assert operations.mask_name(name) == shown


def test_demo_data_masks_names_with_the_same_function():
    from server import demo

    assert demo.mask_name("张小三") == operations.mask_name("张小三")


def test_notice_of_a_passed_case_shows_masked_head_size_and_amount(db_session, passed_case, office):
    from server.review.queries import computation
    from server.visits.models import Visit

    case = passed_case()
    notice = operations.post_notice(db_session, case, office, today=dt.date(2026, 11, 24))
    visit = db_session.scalar(sa.select(Visit).where(Visit.case_id == case.id))
    expected = computation(db_session, case, visit).evaluation.allowance
    head = case.household.head_name
    assert notice.head_name_shown == operations.mask_name(head) != head
    assert notice.household_size == 2
    assert notice.amount == expected and isinstance(notice.amount, Decimal) and notice.amount > 0
    assert notice.community_id == case.community_id and notice.state == "posted"


def test_posting_lasts_publicity_days_from_the_day_of_posting(db_session, passed_case, office):
    case = passed_case()
    notice = operations.post_notice(db_session, case, office, today=dt.date(2026, 11, 24))
    assert (notice.posted_from, notice.posted_until) == (dt.date(2026, 11, 24), dt.date(2026, 11, 30))


def test_posting_length_and_masking_follow_the_policy_in_force(db_session, passed_case, office, policy, county):
    from server.policy.models import PolicyVersion
    from server.policy.settings import merge_defaults

    db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2026, 11, 1),
                                 settings=merge_defaults({"publicity_days": 10, "mask_names": False}), note="t"))
    db_session.flush()
    case = passed_case()
    notice = operations.post_notice(db_session, case, office, today=dt.date(2026, 11, 24))
    assert notice.posted_until == dt.date(2026, 12, 3)
    assert notice.head_name_shown == case.household.head_name


def test_default_posting_date_is_the_local_today(db_session, passed_case, office):
    from server.cases.lifecycle import local_today

    notice = operations.post_notice(db_session, passed_case(), office)
    assert notice.posted_from == local_today()
    assert notice.posted_until == local_today() + dt.timedelta(days=6)


def test_second_post_returns_the_notice_already_up(db_session, passed_case, office):
    case = passed_case()
    first = operations.post_notice(db_session, case, office)
    again = operations.post_notice(db_session, case, office)
    assert again.id == first.id
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Notice).where(Notice.case_id == case.id)) == 1


def test_posting_is_audited(db_session, passed_case, office):
    case = passed_case()
    notice = operations.post_notice(db_session, case, office)
    event = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "notice.post",
                                                           AuditEvent.entity_id == str(notice.id)))
    assert event is not None and event.actor_id == office.id and event.case_id == case.id
    assert event.after["head_name_shown"] == notice.head_name_shown


@pytest.mark.parametrize("state", ["in_review", "panel", "county_review", "objection", "approved"])
def test_a_case_that_did_not_pass_is_not_posted(db_session, case_factory, office, state):
    case = case_factory(state=state)
    with pytest.raises(operations.NoticeNotAllowed) as err:
        operations.post_notice(db_session, case, office)
    assert err.value.status == 409 and err.value.code == "notice-not-allowed"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Notice).where(Notice.case_id == case.id)) == 0


def test_a_case_with_no_reviewed_visit_is_not_posted(db_session, case_factory, office):
    case = case_factory(state="publicity")
    with pytest.raises(operations.NoticeNotAllowed):
        operations.post_notice(db_session, case, office)
