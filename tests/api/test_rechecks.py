"""Re-checks of recipients (DESIGN "The case lifecycle": stable households yearly,
unstable income every 6 months, a policy setting): the schedule a decision sets, the
due ones started by the command, the button or `start_due_rechecks` (idempotent, and
on the team's tablets at their next sync), the re-check visit through the visit API, and
the county's outcome — continue, adjust or stop — recorded as a Decision."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from server.cases.lifecycle import local_today
from server.cases.models import Case, Decision
from server.decisions import operations
from server.policy import engine
from server.policy.settings import PolicySettings, merge_defaults
from server.review.flags import household_in
from server.visits.models import Visit
from server.visits.queries import named_hashes
from tests.api.test_decisions import (add_version, awaiting_decision, county_user, decisions_of,  # noqa: F401
                                      events, moves_of, open_page)
from tests.review_fixtures import bearer, form_of, office, store_photos, team, visit_body, visited_case  # noqa: F401


@pytest.fixture()
def recipient(awaiting_decision, db_session, county_user):
    """A case approved by the county (through the real decision), receiving its allowance."""

    def make(stability="stable", today=None, **visit_changes):
        case = awaiting_decision(**visit_changes)
        operations.decide(db_session, case, county_user, "approve", "", stability=stability,
                          today=today or local_today())
        return case

    return make


def due(db_session, case, days_ago=1) -> Case:
    case.next_recheck_due = local_today() - dt.timedelta(days=days_ago)
    db_session.flush()
    return case


def feed(client, headers, since=None) -> dict:
    r = client.get("/api/v1/sync/assignments", query_string={"since": since} if since else {}, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def csrf(client) -> str:
    return form_of(client.get("/?lang=en").get_data(as_text=True), "/logout")["csrf_token"]


def recheck_form(client, case, outcome, **fields) -> dict:
    form = form_of(open_page(client, f"/rechecks/{case.id}?lang=en"), f"/rechecks/{case.id}")
    return {**form, "outcome": outcome, **fields}


def send_recheck_visit(client, db_session, bearer, case, **changes) -> uuid.UUID:
    body = visit_body(case.id, kind="recheck", **changes)
    store_photos(db_session, named_hashes(body))
    visit_id = uuid.uuid4()
    r = client.put(f"/api/v1/visits/{visit_id}", json=body, headers=bearer("inv-1"))
    assert r.status_code == 201, r.get_data(as_text=True)
    db_session.expire_all()
    return visit_id


# --- the schedule ---------------------------------------------------------------------


def test_the_first_recheck_follows_stability_and_the_policy(db_session, recipient, county):
    day = dt.date(2026, 6, 10)
    stable, unstable = recipient("stable", today=day), recipient("unstable", today=day)
    assert stable.payment_from == unstable.payment_from == dt.date(2026, 7, 1)
    assert stable.next_recheck_due == dt.date(2027, 7, 1)  # yearly
    assert unstable.next_recheck_due == dt.date(2027, 1, 1)  # every 6 months

    add_version(db_session, county, dt.date(2027, 1, 1), recheck_months={"stable": 12, "unstable": 3})
    quarterly = recipient("unstable", today=dt.date(2027, 3, 10))
    assert quarterly.payment_from == dt.date(2027, 4, 1) and quarterly.next_recheck_due == dt.date(2027, 7, 1)


# --- starting the due re-checks -------------------------------------------------------


def test_due_rechecks_start_once_and_reach_the_teams_tablets(client, db_session, recipient, case_factory, team,
                                                            bearer, county_user):
    today = local_today()
    overdue, due_today, later = recipient(), recipient(), recipient()
    due(db_session, overdue, 10)
    due(db_session, due_today, 0)
    later.next_recheck_due = today + dt.timedelta(days=1)
    adjusted = case_factory("adjusted", team=team, next_recheck_due=today - dt.timedelta(days=2),
                            allowance=Decimal("300.00"), stability="unstable")
    rejected = case_factory("rejected", team=team, next_recheck_due=today - dt.timedelta(days=2))
    db_session.flush()
    tablet = bearer("inv-1")
    cursor = feed(client, tablet)["cursor"]

    started = operations.start_due_rechecks(db_session, today)
    assert {c.id for c in started} == {overdue.id, due_today.id, adjusted.id}
    assert {c.state for c in started} == {"recheck"} and later.state == "active" and rejected.state == "rejected"
    assert moves_of(db_session, overdue)[-1] == ("active", "recheck", None)  # the system's move
    assert moves_of(db_session, adjusted)[-1] == ("adjusted", "recheck", None)
    assert all(c.team_id == team.id for c in started)  # the case stays with its team
    assert operations.start_due_rechecks(db_session, today) == []  # idempotent
    assert len(events(db_session, overdue.id, "recheck.started")) == 1

    answer = feed(client, tablet, since=cursor)
    seen = {c["id"]: c for c in answer["cases"]}
    assert set(seen) == {str(overdue.id), str(due_today.id), str(adjusted.id)}
    assert {c["state"] for c in seen.values()} == {"recheck"}
    assert seen[str(overdue.id)]["previous_visits"]  # what was found last time comes with it
    assert feed(client, tablet, since=answer["cursor"])["cases"] == []


def test_the_rechecks_command_starts_what_is_due_by_a_given_day(app, db_session, recipient):
    case = recipient()
    case.next_recheck_due = dt.date(2027, 5, 1)
    db_session.flush()
    runner = app.test_cli_runner()
    early = runner.invoke(args=["doorstep", "rechecks", "--today", "2027-04-30"])
    assert early.exit_code == 0, early.output
    assert "0 re-check(s) started" in early.output
    result = runner.invoke(args=["doorstep", "rechecks", "--today", "2027-05-01"])
    assert result.exit_code == 0, result.output
    assert "1 re-check(s) started" in result.output and case.number in result.output
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "recheck"
    again = runner.invoke(args=["doorstep", "rechecks", "--today", "2027-05-01"])
    assert "0 re-check(s) started" in again.output
    assert runner.invoke(args=["doorstep", "rechecks", "--today", "May 1"]).exit_code != 0


def test_the_button_starts_the_due_rechecks_in_the_users_scope(client, sign_in, db_session, recipient, make_user,
                                                              make_community, case_factory, office):
    mine = due(db_session, recipient())
    elsewhere = case_factory("active", community_=make_community("远山社区", "Yuanshan"),
                             next_recheck_due=local_today() - dt.timedelta(days=1))
    sign_in(office.username)  # the community office may start its own community's
    page = open_page(client, "/rechecks?lang=en")
    assert mine.number in page and elsewhere.number not in page
    r = client.post("/rechecks/start", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert r.status_code == 200 and "1 re-check(s) started" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Case, mine.id).state == "recheck"
    assert db_session.get(Case, elsewhere.id).state == "active"
    [event] = events(db_session, mine.id, "recheck.started")
    assert event.actor_id == office.id
    r = client.post("/rechecks/start", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert "No re-check is due" in r.get_data(as_text=True)

    investigator = make_user("inv-rc", roles=("investigator",))
    client.post("/logout", data={"csrf_token": csrf(client)})
    sign_in(investigator.username)
    assert client.get("/rechecks").status_code == 403
    assert client.post("/rechecks/start", data={"csrf_token": csrf(client)}).status_code == 403


# --- the re-check visit and the county's outcome --------------------------------------


def test_the_recheck_visit_arrives_through_the_visit_api_and_the_queue_shows_it(client, sign_in, db_session,
                                                                               recipient, bearer, county_user):
    case = due(db_session, recipient())
    operations.start_due_rechecks(db_session, local_today())
    sign_in(county_user.username)
    page = open_page(client, "/rechecks?lang=en")
    waiting = page.split('data-testid="rechecks-waiting"')[1].split("</table>")[0]
    assert case.number in waiting
    assert 'data-testid="no-visit"' in open_page(client, f"/rechecks/{case.id}?lang=en")

    send_recheck_visit(client, db_session, bearer, case)
    assert db_session.get(Case, case.id).state == "recheck"  # the county ends a re-check, not the visit
    page = open_page(client, "/rechecks?lang=en")
    visited = page.split('data-testid="rechecks-visited"')[1].split("</table>")[0]
    assert case.number in visited
    assert 'data-testid="visit-arrived"' in open_page(client, f"/rechecks/{case.id}?lang=en")


def test_continue_keeps_the_amount_and_schedules_the_next_recheck(client, sign_in, db_session, recipient, bearer,
                                                                 county_user):
    case = due(db_session, recipient("stable"))
    paid = case.allowance
    operations.start_due_rechecks(db_session, local_today())
    send_recheck_visit(client, db_session, bearer, case)
    sign_in(county_user.username)
    r = client.post(f"/rechecks/{case.id}", data=recheck_form(client, case, "continue", stability="unstable"))
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    today = local_today()
    last = decisions_of(db_session, case)[-1]
    assert (last.outcome, last.allowance, last.decision_date) == ("continued", paid, today)
    assert case.state == "active" and case.allowance == paid and case.stability == "unstable"
    assert case.next_recheck_due == operations.add_months(operations.first_of_next_month(today), 6)
    assert moves_of(db_session, case)[-1] == ("recheck", "active", county_user.id)
    # The decision stands on the re-check visit, which is now accepted.
    recheck_visit = db_session.scalar(sa.select(Visit).where(Visit.case_id == case.id, Visit.kind == "recheck"))
    assert last.evaluation["visit_id"] == str(recheck_visit.id) and recheck_visit.state == "accepted"


def test_adjust_needs_a_reason_and_pays_the_amount_computed_with_the_policy_in_force(client, sign_in, db_session,
                                                                                   recipient, bearer, county_user,
                                                                                   county):
    case = due(db_session, recipient())
    before_amount, before_version = case.allowance, case.version
    operations.start_due_rechecks(db_session, local_today())
    today = local_today()
    raised = add_version(db_session, county, today, monthly_standard="1300.00")
    send_recheck_visit(client, db_session, bearer, case,
                       income=[{"member": 0, "kind": "pension", "monthly_amount": "900.00"}])
    sign_in(county_user.username)
    next_month = operations.first_of_next_month(today)
    no_reason = recheck_form(client, case, "adjust", from_month=next_month.strftime("%Y-%m"), reason="")
    r = client.post(f"/rechecks/{case.id}", data=no_reason)
    assert r.status_code == 422 and 'id="err-reason"' in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "recheck" and len(decisions_of(db_session, case)) == 1

    far = recheck_form(client, case, "adjust", from_month="2099-01", reason="养老金上调")
    r = client.post(f"/rechecks/{case.id}", data=far)
    assert r.status_code == 422 and 'id="err-from_month"' in r.get_data(as_text=True)

    form = recheck_form(client, case, "adjust", from_month=next_month.strftime("%Y-%m"),
                        reason="复核发现养老金上调，按新标准重新核定。")
    assert client.post(f"/rechecks/{case.id}", data=form).status_code == 303
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    last = decisions_of(db_session, case)[-1]
    visit = db_session.scalar(sa.select(Visit).where(Visit.case_id == case.id, Visit.kind == "recheck"))
    expected = engine.evaluate(PolicySettings.from_dict(merge_defaults(raised.settings)), household_in(visit),
                               today).allowance
    assert (last.outcome, last.policy_version_id, last.standard) == ("adjusted", raised.id, Decimal("1300.00"))
    assert last.allowance == expected != before_amount and last.payment_from == next_month
    assert last.reason == "复核发现养老金上调，按新标准重新核定。"
    assert case.state == "adjusted" and case.allowance == expected and case.payment_from == next_month
    assert case.next_recheck_due == operations.add_months(next_month, 12) and case.version > before_version
    letter = open_page(client, f"/decisions/letters/{last.id}?lang=en")
    assert f"changed to {expected} yuan a month" in letter and f"It was {before_amount} yuan" in letter


def test_stop_needs_a_reason_and_ends_the_payment_from_a_month(client, sign_in, db_session, recipient, bearer,
                                                              county_user):
    case = due(db_session, recipient())
    operations.start_due_rechecks(db_session, local_today())
    send_recheck_visit(client, db_session, bearer, case,
                       income=[{"member": 0, "kind": "wage", "monthly_amount": "5200.00"}])
    sign_in(county_user.username)
    page = open_page(client, f"/rechecks/{case.id}?lang=en")
    assert "Computed now: not eligible." in page
    month = operations.first_of_next_month(local_today()).strftime("%Y-%m")
    r = client.post(f"/rechecks/{case.id}", data=recheck_form(client, case, "stop", from_month=month, reason=" "))
    assert r.status_code == 422
    # Adjusting to nothing is refused: the county stops the allowance instead.
    r = client.post(f"/rechecks/{case.id}", data=recheck_form(client, case, "adjust", from_month=month,
                                                               reason="收入增加"))
    assert r.status_code == 422 and "stop the allowance instead" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "recheck"

    reason = "复核发现家庭成员已稳定就业，人均收入高于保障标准。"
    r = client.post(f"/rechecks/{case.id}", data=recheck_form(client, case, "stop", from_month=month, reason=reason))
    assert r.status_code == 303
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    last = decisions_of(db_session, case)[-1]
    assert (last.outcome, last.allowance, last.reason) == ("stopped", Decimal("0.00"), reason)
    assert last.payment_from.strftime("%Y-%m") == month
    assert case.state == "stopped" and case.allowance == Decimal("0.00") and case.next_recheck_due is None
    history = open_page(client, f"/rechecks/{case.id}?lang=en")
    assert [o for o in ("approved", "stopped") if f'data-outcome="{o}"' in history] == ["approved", "stopped"]


def test_a_recheck_outcome_for_a_case_not_in_recheck_is_refused(client, sign_in, db_session, recipient,
                                                                county_user):
    case = recipient()
    before = (case.state, case.version, len(decisions_of(db_session, case)))
    sign_in(county_user.username)
    page = open_page(client, f"/rechecks/{case.id}?lang=en")
    assert 'data-testid="not-waiting"' in page and 'id="recheck-form"' not in page
    r = client.post(f"/rechecks/{case.id}", data={"csrf_token": csrf(client), "outcome": "continue",
                                                  "version": str(case.version)})
    assert r.status_code == 409 and "not being re-checked" in r.get_data(as_text=True)
    db_session.expire_all()
    case = db_session.get(Case, case.id)
    assert (case.state, case.version, len(decisions_of(db_session, case))) == before


def test_recheck_pages_follow_the_access_rules(client, sign_in, db_session, recipient, make_user, office):
    from server.core.models import Jurisdiction

    case = due(db_session, recipient())
    operations.start_due_rechecks(db_session, local_today())
    sign_in(office.username)
    assert client.get("/rechecks").status_code == 200
    assert client.get(f"/rechecks/{case.id}").status_code == 403  # the county ends a re-check
    client.post("/logout", data={"csrf_token": csrf(client)})
    elsewhere = Jurisdiction(code="339998", name="淳安县", name_en="Chun'an", kind="county")
    db_session.add(elsewhere)
    db_session.flush()
    stranger = make_user("county-far", roles=("county",), jurisdiction=elsewhere)
    sign_in(stranger.username)
    assert case.number not in open_page(client, "/rechecks?lang=en")
    assert client.get(f"/rechecks/{case.id}").status_code == 404
    assert client.post(f"/rechecks/{case.id}", data={"csrf_token": csrf(client), "outcome": "continue"}
                       ).status_code == 404
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "recheck"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Decision)
                             .where(Decision.case_id == case.id)) == 1
