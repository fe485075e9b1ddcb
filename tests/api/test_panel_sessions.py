"""The panel session through the office's and the members' pages (issue: panel, items 1–3
and 5): schedule, take attendance, open only with a quorum, one case at a time to an
anonymous vote with a scoring sheet, close each vote (passed → public notice, not passed
→ the county with the tally), close the session. Refusals say why, with the numbers, and
change nothing."""
from __future__ import annotations

import re

import sqlalchemy as sa

from server.cases.models import Case, CaseTransition
from server.core.audit import AuditEvent
from server.panel.models import AgendaItem, PanelSession, Recusal, Score, Vote, VoteReceipt
from server.publicity.models import Notice
from tests.api.test_panel_fixtures import *  # noqa: F401,F403 - fixtures
from tests.api.test_panel_fixtures import attend, items, members, opened

SCORES = {"score.need": "25", "score.housing": "15", "score.health": "18", "score.labour": "10",
          "score.testimony": "12"}


def vote_as(browser_, user, ps, item, choice, scores=SCORES):
    browser_.as_(user)
    return browser_.post(f"/panel/my/{ps.id}/cases/{item.id}/vote", {"choice": choice, **scores})


def counts(db_session, item_id):
    return (db_session.scalar(sa.select(sa.func.count()).select_from(Vote).where(Vote.agenda_item_id == item_id)),
            db_session.scalar(sa.select(sa.func.count()).select_from(VoteReceipt)
                              .where(VoteReceipt.agenda_item_id == item_id)),
            db_session.scalar(sa.select(sa.func.count()).select_from(Score).join(Vote, Vote.id == Score.vote_id)
                              .where(Vote.agenda_item_id == item_id)))


def test_office_schedules_a_session_through_the_form(browser_, office, panelists, panel_case, db_session):
    case = panel_case()
    browser_.as_(office)
    html = browser_.get("/panel/sessions/new")
    assert case.number in html and panelists[0].display_name in html
    form = {"scheduled_for": "2026-11-25T14:30", "place": "迎春社区二楼会议室", "case": [str(case.id)],
            "member": [str(u.id) for u in panelists]}
    for u, cat in zip(panelists, ("cadre", "police", "resident_rep", "resident_rep", "resident_rep", "resident_rep")):
        form[f"category.{u.id}"] = cat
    form["form_id"] = re.search(r'name="form_id" value="([^"]+)"', html).group(1)
    r = browser_.post("/panel/sessions/new", form)
    assert r.status_code == 303, r.get_data(as_text=True)[:1500]
    ps = db_session.scalar(sa.select(PanelSession).order_by(PanelSession.id.desc()))
    # The same form sent twice (a double click): one session.
    assert browser_.post("/panel/sessions/new", form).status_code == 303
    assert db_session.scalar(sa.select(sa.func.count()).select_from(PanelSession)) == 1
    assert r.headers["Location"].endswith(f"/panel/sessions/{ps.id}")
    assert ps.state == "scheduled" and ps.place == "迎春社区二楼会议室"
    assert ps.scheduled_for.hour == 6 and ps.scheduled_for.minute == 30  # 14:30 in Beijing is 06:30 UTC
    assert sorted(m.category for m in members(db_session, ps)).count("resident_rep") == 4
    assert [i.case_id for i in items(db_session, ps)] == [case.id]
    page = browser_.get(f"/panel/sessions/{ps.id}")
    assert case.number in page and "Attendance is not recorded for 6 member(s)." in page


def test_the_form_says_what_is_wrong_and_keeps_what_was_typed(browser_, office, panelists, panel_case, db_session):
    case = panel_case()
    browser_.as_(office)
    form = {"scheduled_for": "2026-11-25T14:30", "place": "会议室甲", "case": [str(case.id)],
            "member": [str(u.id) for u in panelists[:3]]}
    for u, cat in zip(panelists[:3], ("cadre", "police", "resident_rep")):
        form[f"category.{u.id}"] = cat
    before = db_session.scalar(sa.select(sa.func.count()).select_from(PanelSession))
    r = browser_.post("/panel/sessions/new", form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "Residents&#39; representatives must be at least ⅔ of the panel: 1 of 3, at least 2 needed." in html
    assert 'value="会议室甲"' in html and f'value="{case.id}" checked' in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(PanelSession)) == before


def test_a_session_without_quorum_does_not_open_and_says_which_rule_fails(browser_, office, panel_case, make_session,
                                                                            db_session):
    ps = make_session([panel_case()])
    # 3 of 6 present: fewer than ⅔ of the members (4 needed).
    attend(db_session, ps, office, [True, True, True, False, False, False])
    browser_.as_(office)
    r = browser_.post(f"/panel/sessions/{ps.id}/open")
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "Attendance: 3 of 6 members present; at least 4 are needed" in html
    # Cadre and police present with two representatives: 2 of 4 present are representatives (3 needed).
    attend(db_session, ps, office, [True, True, True, True, False, False])
    r = browser_.post(f"/panel/sessions/{ps.id}/open")
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "Residents&#39; representatives: 2 of the 4 present; at least 3 are needed" in html
    db_session.expire_all()
    assert db_session.get(PanelSession, ps.id).state == "scheduled"
    assert not db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "panel.opened")).all()
    # The police officer leaves the table, a representative comes: 4 present, 3 representatives.
    attend(db_session, ps, office, [True, False, True, True, True, False])
    r = browser_.post(f"/panel/sessions/{ps.id}/open")
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(PanelSession, ps.id).state == "open"


def test_a_whole_session_passes_one_case_and_sends_one_to_the_county(browser_, office, panelists, panel_case,
                                                                     make_session, db_session):
    passing, failing = panel_case(), panel_case()
    ps = make_session([passing, failing])
    browser_.as_(office)
    attendance = {f"present.{m.id}": "1" for m in members(db_session, ps)}
    attendance[f"present.{members(db_session, ps)[1].id}"] = "0"  # five of six come; the police officer cannot
    voters = [panelists[0]] + panelists[2:]
    assert browser_.post(f"/panel/sessions/{ps.id}/attendance", attendance).status_code == 303
    assert browser_.post(f"/panel/sessions/{ps.id}/open").status_code == 303
    first, second = items(db_session, ps)

    # One case at a time: the second cannot open while the first is being voted on.
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{first.id}/start").status_code == 303
    r = browser_.post(f"/panel/sessions/{ps.id}/items/{second.id}/start")
    assert r.status_code == 409 and "Close the vote on case" in r.get_data(as_text=True)

    # The member's screen: the case file beside the scoring sheet, without ID numbers.
    browser_.as_(panelists[0])
    page = browser_.get(f"/panel/my/{ps.id}/cases/{first.id}")
    assert "王秀英" in page and "Scoring sheet and vote" in page and 'name="score.need"' in page
    from server.cases.models import Member
    for number in db_session.scalars(sa.select(Member.id_number).where(Member.household_id == passing.household_id)):
        assert number not in page
    assert "330122" not in page  # nor the visit's members' numbers

    # 4 of the 5 present vote for: ≥ ⅔ (4 needed of 5), passed.
    for user, choice in zip(voters, ("for", "for", "against", "for", "for")):
        r = vote_as(browser_, user, ps, first, choice)
        assert r.status_code == 303, r.get_data(as_text=True)[:1000]
    browser_.as_(panelists[0])
    mine = browser_.get(f"/panel/my/{ps.id}")
    assert "Your vote is recorded." in mine
    assert "votes-for" not in mine  # no tally before the close

    browser_.as_(office)
    live = browser_.get(f"/panel/sessions/{ps.id}")
    assert "5 of 5 members able to vote have voted." in live and "votes-for" not in live
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{first.id}/close").status_code == 303
    db_session.expire_all()
    it = db_session.get(AgendaItem, first.id)
    assert (it.state, it.result, it.votes_for, it.votes_against, it.votes_abstain, it.present_count) == \
        ("closed", "passed", 4, 1, 0, 5)
    assert it.average_score == 80  # 25 + 15 + 18 + 10 + 12 on every ballot
    assert db_session.get(Case, passing.id).state == "publicity"
    notice = db_session.scalar(sa.select(Notice).where(Notice.case_id == passing.id))
    assert notice is not None and notice.state == "posted"

    # The second case: 3 for, 1 against, 1 abstains: 3 of 5 is less than ⅔, not passed.
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{second.id}/start").status_code == 303
    for user, choice in zip(voters, ("for", "against", "for", "abstain", "for")):
        assert vote_as(browser_, user, ps, second, choice).status_code == 303
    browser_.as_(office)
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{second.id}/close").status_code == 303
    db_session.expire_all()
    it = db_session.get(AgendaItem, second.id)
    assert (it.result, it.votes_for, it.votes_against, it.votes_abstain) == ("failed", 3, 1, 1)
    case = db_session.get(Case, failing.id)
    assert case.state == "county_review" and case.decision_due is not None
    move = db_session.scalar(sa.select(CaseTransition).where(CaseTransition.case_id == failing.id)
                             .order_by(CaseTransition.id.desc()).limit(1))
    assert "3 for, 1 against, 1 abstaining, of 5 present and not recused; 4 votes for were needed" in move.reason

    page = browser_.get(f"/panel/sessions/{ps.id}")
    assert re.search(r'data-testid="votes-for">4<', page) and re.search(r'data-testid="votes-for">3<', page)
    assert "Average score per criterion" in page
    assert browser_.post(f"/panel/sessions/{ps.id}/close").status_code == 303
    db_session.expire_all()
    assert db_session.get(PanelSession, ps.id).state == "closed"


def test_four_of_six_is_two_thirds_and_passes(browser_, office, panelists, panel_case, make_session, db_session):
    case = panel_case()
    ps = opened(db_session, make_session([case]), office)
    (item,) = items(db_session, ps)
    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start")
    for user, choice in zip(panelists, ("for", "for", "for", "for", "against", "abstain")):
        assert vote_as(browser_, user, ps, item, choice).status_code == 303
    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/close")
    db_session.expire_all()
    assert db_session.get(AgendaItem, item.id).result == "passed"


def test_refusals_change_nothing(browser_, office, panelists, make_user, panel_case, make_session, db_session):
    case = panel_case()
    ps = opened(db_session, make_session([case], n=5, categories=("cadre",) + ("resident_rep",) * 4), office, present=5)
    (item,) = items(db_session, ps)

    # Before the vote is opened.
    r = vote_as(browser_, panelists[0], ps, item, "for")
    assert r.status_code == 409 and "has not been put to the vote yet" in r.get_data(as_text=True)
    assert counts(db_session, item.id) == (0, 0, 0)

    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start")
    assert vote_as(browser_, panelists[0], ps, item, "for").status_code == 303
    assert counts(db_session, item.id) == (1, 1, 5)
    events = db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    # A second vote by the same member.
    r = vote_as(browser_, panelists[0], ps, item, "against")
    assert r.status_code == 409 and "already recorded" in r.get_data(as_text=True)
    # A panel member who does not sit on this session: the session is not theirs to know.
    assert vote_as(browser_, panelists[5], ps, item, "for").status_code == 404
    # An office user is not a panel member.
    assert vote_as(browser_, office, ps, item, "for").status_code == 403
    # Bad ballots: out-of-range score, no choice.
    r = vote_as(browser_, panelists[1], ps, item, "for", {**SCORES, "score.need": "31"})
    assert r.status_code == 422 and "Give a score from 0 to 30." in r.get_data(as_text=True)
    r = vote_as(browser_, panelists[1], ps, item, "")
    assert r.status_code == 422 and "Choose for, against or abstain." in r.get_data(as_text=True)
    assert counts(db_session, item.id) == (1, 1, 5)

    # After the close.
    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/close")
    r = vote_as(browser_, panelists[1], ps, item, "for")
    assert r.status_code == 409 and "Voting on this case has closed." in r.get_data(as_text=True)
    assert counts(db_session, item.id) == (1, 1, 5)
    # Refusals are not audited as votes; only the access denial of the outsider is on record.
    actions = db_session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id).offset(events)).all()
    assert "panel.voted" not in actions


def test_a_recused_member_neither_votes_nor_sees_the_file(browser_, office, panelists, panel_case, make_session,
                                                          db_session):
    case = panel_case()
    ps = opened(db_session, make_session([case]), office)
    (item,) = items(db_session, ps)
    seat = members(db_session, ps)[2]
    browser_.as_(panelists[2])
    r = browser_.post(f"/panel/my/{ps.id}/cases/{item.id}/recuse", {"reason": "户主是我表姐"})
    assert r.status_code == 303
    rec = db_session.scalar(sa.select(Recusal).where(Recusal.agenda_item_id == item.id))
    assert (rec.panel_member_id, rec.source, rec.reason) == (seat.id, "declared", "户主是我表姐")
    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start")
    r = vote_as(browser_, panelists[2], ps, item, "for")
    assert r.status_code == 403 and "You have recused yourself" in r.get_data(as_text=True)
    page = browser_.get(f"/panel/my/{ps.id}/cases/{item.id}")
    assert "王秀英" not in page
    assert counts(db_session, item.id) == (0, 0, 0)
    # The other five vote; the pass mark counts the five: 4 for passes.
    for user, choice in zip(panelists[:2] + panelists[3:], ("for", "for", "for", "for", "against")):
        assert vote_as(browser_, user, ps, item, choice).status_code == 303
    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/close")
    db_session.expire_all()
    it = db_session.get(AgendaItem, item.id)
    assert (it.present_count, it.votes_for, it.result) == (5, 4, "passed")


def test_pages_are_out_of_scope_for_others(browser_, make_user, make_community, office, panel_case, make_session,
                                           db_session):
    ps = make_session([panel_case()])
    other = make_user("office-elsewhere", roles=("office",), jurisdiction=make_community(name="春江社区"))
    browser_.as_(other)
    browser_.get(f"/panel/sessions/{ps.id}", status=404)
    r = browser_.post(f"/panel/sessions/{ps.id}/open")
    assert r.status_code == 404
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                             AuditEvent.entity == "panel_session")).all()
    assert denied
    admin = make_user("admin-x", roles=("admin",))
    browser_.as_(admin)
    browser_.get("/panel/sessions", status=403)
    browser_.get(f"/panel/my/{ps.id}", status=403)


def test_a_member_without_an_account_votes_on_the_office_tablet(browser_, office, panelists, panel_case, make_session,
                                                                db_session):
    from server.panel.models import PanelMember

    ps = make_session([panel_case()])
    ps.members.append(PanelMember(user_id=None, name="金德明", category="resident_rep"))
    db_session.flush()
    ps = opened(db_session, ps, office, present=7)
    (item,) = items(db_session, ps)
    paper = next(m for m in members(db_session, ps) if m.user_id is None)
    browser_.as_(office)
    browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start")
    page = browser_.get(f"/panel/sessions/{ps.id}")
    assert f"/items/{item.id}/ballot/{paper.id}" in page and "Ballot of 金德明" in page
    ballot = browser_.get(f"/panel/sessions/{ps.id}/items/{item.id}/ballot/{paper.id}")
    assert "hand it to them to vote alone" in ballot and 'name="score.need"' in ballot
    r = browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/ballot/{paper.id}", {"choice": "for", **SCORES})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/panel/sessions/{ps.id}#item-{item.id}")
    assert counts(db_session, item.id) == (1, 1, 5)
    assert db_session.scalar(sa.select(VoteReceipt.panel_member_id).where(VoteReceipt.agenda_item_id == item.id)) \
        == paper.id
    # Once, and only for members without an account: the others vote on their own devices.
    r = browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/ballot/{paper.id}", {"choice": "for", **SCORES})
    assert r.status_code == 409
    seat = members(db_session, ps)[0]
    browser_.get(f"/panel/sessions/{ps.id}/items/{item.id}/ballot/{seat.id}", status=404)
    browser_.as_(panelists[0])
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/ballot/{paper.id}",
                         {"choice": "for", **SCORES}).status_code == 403
    assert counts(db_session, item.id) == (1, 1, 5)


def test_the_office_changes_a_scheduled_session_then_it_is_fixed(browser_, office, panelists, panel_case,
                                                                 make_session, db_session):
    first, second, third = panel_case(), panel_case(), panel_case()
    ps = make_session([first, second])
    browser_.as_(office)
    html = browser_.get(f"/panel/sessions/{ps.id}/edit")
    assert f'value="{first.id}" checked' in html and third.number in html
    form = {"scheduled_for": "2026-11-26T09:00", "place": "社区议事厅", "case": [str(second.id), str(third.id)],
            "member": [str(u.id) for u in panelists[:5]]}
    for u, cat in zip(panelists[:5], ("cadre", "resident_rep", "resident_rep", "resident_rep", "resident_rep")):
        form[f"category.{u.id}"] = cat
    assert browser_.post(f"/panel/sessions/{ps.id}/edit", form).status_code == 303
    db_session.expire_all()
    assert [i.case_id for i in items(db_session, ps)] == [second.id, third.id]
    assert len(members(db_session, ps)) == 5 and db_session.get(PanelSession, ps.id).place == "社区议事厅"
    # The case taken off waits for another session: it is offered again.
    assert first.number in browser_.get("/panel/sessions/new")

    # Open: the agenda is fixed, except for taking a case not yet voted on off it.
    ps = opened(db_session, db_session.get(PanelSession, ps.id), office, present=5)
    r = browser_.post(f"/panel/sessions/{ps.id}/edit", form)
    assert r.status_code == 409 and "Only a scheduled session can be changed" in r.get_data(as_text=True)
    assert browser_.post(f"/panel/sessions/{ps.id}/cancel").status_code == 409
    later = items(db_session, ps)[1]
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{later.id}/remove").status_code == 303
    assert [i.case_id for i in items(db_session, ps)] == [second.id]
    # The session cannot close with a case undecided.
    r = browser_.post(f"/panel/sessions/{ps.id}/close")
    assert r.status_code == 409 and "1 case(s) on the agenda are not decided" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(PanelSession, ps.id).state == "open"


def test_a_scheduled_session_can_be_cancelled_and_frees_its_cases(browser_, office, panel_case, make_session,
                                                                  db_session):
    case = panel_case()
    ps = make_session([case])
    browser_.as_(office)
    assert case.number not in browser_.get("/panel/sessions/new")  # on an agenda already
    assert browser_.post(f"/panel/sessions/{ps.id}/cancel").status_code == 303
    assert browser_.post(f"/panel/sessions/{ps.id}/cancel").status_code == 303  # twice: nothing more
    db_session.expire_all()
    assert db_session.get(PanelSession, ps.id).state == "cancelled"
    assert case.number in browser_.get("/panel/sessions/new")
    assert len(db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "panel.cancelled")).all()) == 1
