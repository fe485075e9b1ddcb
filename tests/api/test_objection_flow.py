"""Objections during the public notice (M21 Art 19): recorded only while the notice is up,
they hold the case (publicity → objection) until each is answered in writing by a
re-investigation (→ investigating, back on the team's tablets) or a return to the panel;
then the notice is withdrawn, and a later pass posts a new one."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from server.cases.models import CaseTransition
from server.core.audit import AuditEvent
from server.publicity import operations
from server.publicity.models import Notice, Objection
from tests.publicity_fixtures import *  # noqa: F401,F403

DAY = dt.date(2026, 11, 24)


def _object(db_session, notice, office, on=DAY, **fields):
    data = {"channel": "phone", "content": "他家儿子在城里开店，收入不低", **fields}
    return operations.record_objection(db_session, notice, office, today=on, **data)


def test_an_objection_holds_the_case_with_the_objection_as_reason(db_session, posted, office):
    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office, on=DAY + dt.timedelta(days=2), objector_name="赵先生",
                        contact="13900000000")
    assert case.state == "objection"
    assert objection.received_by_id == office.id and objection.resolution is None
    last = db_session.scalar(sa.select(CaseTransition).where(CaseTransition.case_id == case.id)
                             .order_by(CaseTransition.id.desc()).limit(1))
    assert (last.from_state, last.to_state) == ("publicity", "objection")
    assert "开店" in last.reason
    assert "赵先生" not in last.reason and "13900000000" not in last.reason  # the objector stays off the history
    assert notice.state == "posted"  # still up until an answer sends it back


def test_an_anonymous_objection_is_recorded_without_a_name(db_session, posted, office):
    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office, channel="letter")
    assert objection.objector_name is None and objection.contact is None and objection.channel == "letter"
    event = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "objection.record"))
    assert event.after["anonymous"] is True


@pytest.mark.parametrize("on", [DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=7)])
def test_an_objection_outside_the_posting_period_is_refused(db_session, posted, office, on):
    case, notice = posted(on=DAY)
    with pytest.raises(operations.ObjectionNotAllowed) as err:
        _object(db_session, notice, office, on=on)
    assert err.value.status == 409 and err.value.code == "objection-not-allowed"
    assert case.state == "publicity"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 0


def test_objections_on_the_first_and_last_day_are_taken(db_session, posted, office):
    case, notice = posted(on=DAY)
    _object(db_session, notice, office, on=DAY)
    _object(db_session, notice, office, on=DAY + dt.timedelta(days=6))
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 2


@pytest.mark.parametrize("fields, field", [
    ({"channel": "fax"}, "channel"), ({"content": "  "}, "content"), ({"content": "x" * 4001}, "content"),
    ({"objector_name": "名" * 101}, "objector_name"),
])
def test_an_objection_needs_a_channel_and_what_was_said(db_session, posted, office, fields, field):
    from server.core.errors import ValidationProblem

    case, notice = posted(on=DAY)
    with pytest.raises(ValidationProblem) as err:
        _object(db_session, notice, office, **fields)
    assert field in err.value.extra["errors"]
    assert case.state == "publicity"


def test_the_same_objection_form_twice_records_one_objection(db_session, posted, office):
    case, notice = posted(on=DAY)
    first = _object(db_session, notice, office, form_id="f-1")
    with pytest.raises(operations.AlreadyDone) as err:
        _object(db_session, notice, office, form_id="f-1")
    assert err.value.entity_id == first.id
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Objection)) == 1


def test_reinvestigation_sends_the_case_back_to_its_team_and_withdraws_the_notice(db_session, posted, office):
    from server.review.models import CaseReturn

    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office, objector_name="赵先生", contact="13900000000")
    operations.answer_objection(db_session, objection, office, resolution="reinvestigate",
                                response="安排调查组重新入户核实经营情况", today=DAY + dt.timedelta(days=1))
    assert case.state == "investigating"
    assert notice.state == "withdrawn" and notice.closed_at is not None
    assert (objection.resolution, objection.resolved_by_id) == ("reinvestigate", office.id)
    ret = db_session.scalar(sa.select(CaseReturn).where(CaseReturn.case_id == case.id))
    assert ret is not None and ret.closed_at is None
    assert any("开店" in r for r in ret.reasons) and "安排调查组重新入户核实经营情况" in ret.reasons
    assert not any("赵先生" in r or "13900000000" in r for r in ret.reasons)
    last = db_session.scalar(sa.select(CaseTransition).where(CaseTransition.case_id == case.id)
                             .order_by(CaseTransition.id.desc()).limit(1))
    assert (last.from_state, last.to_state, last.reason) == ("objection", "investigating", "安排调查组重新入户核实经营情况")
    withdraw = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "notice.withdraw"))
    assert withdraw.entity_id == str(notice.id)


def test_reinvestigated_case_reaches_the_teams_tablet_with_the_reasons(client, db_session, posted, office, bearer):
    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office)
    operations.answer_objection(db_session, objection, office, resolution="reinvestigate", response="重新核实",
                                today=DAY)
    db_session.flush()
    r = client.get("/api/v1/sync/assignments", headers=bearer("inv-1"))
    assert r.status_code == 200
    mine = [c for c in r.get_json()["cases"] if c["id"] == str(case.id)]
    assert mine and mine[0]["state"] == "investigating"
    reasons = [r for ret in mine[0]["returned_reasons"] for r in ret["reasons"]]
    assert "重新核实" in reasons and any("开店" in r for r in reasons)


def test_return_to_panel_puts_the_case_back_before_the_panel(db_session, posted, office):
    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office)
    operations.answer_objection(db_session, objection, office, resolution="return_to_panel",
                                response="提交民主评议重新评议", today=DAY)
    assert case.state == "panel" and notice.state == "withdrawn"


def test_the_case_waits_until_every_objection_is_answered(db_session, posted, office):
    case, notice = posted(on=DAY)
    first = _object(db_session, notice, office)
    second = _object(db_session, notice, office, channel="in_person", content="他家有车")
    assert case.state == "objection"
    operations.answer_objection(db_session, first, office, resolution="return_to_panel", response="评议", today=DAY)
    assert case.state == "objection" and notice.state == "posted"
    operations.answer_objection(db_session, second, office, resolution="reinvestigate", response="核实车辆",
                                today=DAY)
    assert case.state == "investigating"  # a re-investigation asked for wins over a return to the panel
    assert notice.state == "withdrawn"


def test_an_answer_needs_a_resolution_and_a_written_response(db_session, posted, office):
    from server.core.errors import ValidationProblem

    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office)
    with pytest.raises(ValidationProblem) as err:
        operations.answer_objection(db_session, objection, office, resolution="dismissed", response="")
    assert set(err.value.extra["errors"]) == {"resolution", "response"}
    assert case.state == "objection" and objection.resolution is None


def test_an_answered_objection_is_not_answered_again(db_session, posted, office):
    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office)
    operations.answer_objection(db_session, objection, office, resolution="return_to_panel", response="评议",
                                form_id="a-1")
    with pytest.raises(operations.AlreadyDone):
        operations.answer_objection(db_session, objection, office, resolution="reinvestigate", response="再查",
                                    form_id="a-1")
    with pytest.raises(operations.ObjectionAnswered) as err:
        operations.answer_objection(db_session, objection, office, resolution="reinvestigate", response="再查",
                                    form_id="a-2")
    assert err.value.status == 409
    assert objection.resolution == "return_to_panel" and case.state == "panel"


def test_a_withdrawn_notice_takes_no_more_objections(db_session, posted, office):
    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office)
    operations.answer_objection(db_session, objection, office, resolution="return_to_panel", response="评议",
                                today=DAY)
    with pytest.raises(operations.ObjectionNotAllowed):
        _object(db_session, notice, office, on=DAY + dt.timedelta(days=1))


def test_a_later_pass_posts_a_new_notice(db_session, posted, office):
    from tests.publicity_fixtures import move

    case, notice = posted(on=DAY)
    objection = _object(db_session, notice, office)
    operations.answer_objection(db_session, objection, office, resolution="return_to_panel", response="评议",
                                today=DAY)
    move(db_session, case, ("publicity",), office)
    again = operations.post_notice(db_session, case, office, today=DAY + dt.timedelta(days=3))
    assert again.id != notice.id and again.state == "posted"
    assert again.posted_from == DAY + dt.timedelta(days=3)
    states = dict(db_session.execute(sa.select(Notice.id, Notice.state).where(Notice.case_id == case.id)).all())
    assert states == {notice.id: "withdrawn", again.id: "posted"}
