"""Recusals (M21 Art 11; issue: panel, item 1): a member related to a household steps aside
from its case, declared by the member or recorded by the office, or proposed from the
register of staff relatives and confirmed. Voting on a case waits until each proposal is
decided; a recused member neither votes nor scores on it."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from server.accounts.relations import add_relation
from server.core.validators import make_id_number
from server.panel.models import AgendaItem, Recusal, RecusalProposal
from tests.api.test_panel_fixtures import *  # noqa: F401,F403 - fixtures
from tests.api.test_panel_fixtures import items, members, opened
from tests.api.test_panel_sessions import SCORES, vote_as

# The visit's head of household (tests.api.test_visits.visit_body).
HEAD_NUMBER = make_id_number("330122", dt.date(1961, 3, 2), 17, "F")


def register(db_session, community, office, *, staff_user=None, staff_name=""):
    rel, _flagged = add_relation(db_session, jurisdiction=community, staff_user=staff_user, staff_name=staff_name,
                                 staff_role="panel", relative_name="王秀英", relative_id_number=HEAD_NUMBER,
                                 relation="sibling", actor=office)
    db_session.flush()
    return rel


def test_the_register_proposes_the_office_confirms_and_the_member_does_not_vote(
        browser_, db_session, community, office, panelists, panel_case, make_session):
    register(db_session, community, office, staff_user=panelists[2])
    case = panel_case()
    ps = opened(db_session, make_session([case]), office)
    (item,) = items(db_session, ps)
    seat = members(db_session, ps)[2]
    (proposal,) = db_session.scalars(sa.select(RecusalProposal).where(RecusalProposal.agenda_item_id == item.id))
    assert (proposal.panel_member_id, proposal.by_account, proposal.state) == (seat.id, True, "proposed")

    browser_.as_(office)
    page = browser_.get(f"/panel/sessions/{ps.id}")
    assert "Proposed recusal: 申屠美琴. The register of staff relatives names 王秀英, of this household, as sibling" \
        in page
    # Voting waits for the decision.
    r = browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start")
    assert r.status_code == 409 and "Confirm or dismiss the 1 proposed recusal(s)" in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(AgendaItem, item.id).state == "pending"
    # The register names the member's own account: it cannot be waved away.
    r = browser_.post(f"/panel/sessions/{ps.id}/proposals/{proposal.id}", {"decision": "dismiss"})
    assert r.status_code == 409 and "cannot be dismissed" in r.get_data(as_text=True)
    assert browser_.post(f"/panel/sessions/{ps.id}/proposals/{proposal.id}", {"decision": "confirm"}).status_code == 303
    rec = db_session.scalar(sa.select(Recusal).where(Recusal.agenda_item_id == item.id))
    assert (rec.panel_member_id, rec.source) == (seat.id, "register") and "王秀英" in rec.reason
    # A second click on the same proposal does nothing twice.
    assert browser_.post(f"/panel/sessions/{ps.id}/proposals/{proposal.id}", {"decision": "confirm"}).status_code == 303
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Recusal)
                             .where(Recusal.agenda_item_id == item.id)) == 1

    assert browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start").status_code == 303
    r = vote_as(browser_, panelists[2], ps, item, "for")
    assert r.status_code == 403 and "recused" in r.get_data(as_text=True)


def test_a_match_by_name_only_can_be_dismissed(browser_, db_session, community, office, panelists, panel_case,
                                              make_session):
    register(db_session, community, office, staff_name=panelists[3].display_name)
    case = panel_case()
    ps = opened(db_session, make_session([case]), office)
    (item,) = items(db_session, ps)
    (proposal,) = db_session.scalars(sa.select(RecusalProposal).where(RecusalProposal.agenda_item_id == item.id))
    assert proposal.by_account is False
    browser_.as_(panelists[3])
    assert "the office will confirm your recusal" in browser_.get(f"/panel/my/{ps.id}")
    browser_.as_(office)
    assert "(matched by name only)" in browser_.get(f"/panel/sessions/{ps.id}")
    assert browser_.post(f"/panel/sessions/{ps.id}/proposals/{proposal.id}", {"decision": "dismiss"}).status_code == 303
    db_session.expire_all()
    assert db_session.get(RecusalProposal, proposal.id).state == "dismissed"
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start").status_code == 303
    assert vote_as(browser_, panelists[3], ps, item, "for").status_code == 303


def test_the_office_records_a_recusal_and_a_voter_cannot_recuse_afterwards(
        browser_, db_session, office, panelists, panel_case, make_session):
    ps = opened(db_session, make_session([panel_case()]), office)
    (item,) = items(db_session, ps)
    seats = members(db_session, ps)
    browser_.as_(office)
    r = browser_.post(f"/panel/sessions/{ps.id}/recusals", {"member": str(seats[4].id), "item": str(item.id),
                                                             "reason": ""})
    assert r.status_code == 422 and "Say how the member is related" in r.get_data(as_text=True)
    r = browser_.post(f"/panel/sessions/{ps.id}/recusals", {"member": str(seats[4].id), "item": str(item.id),
                                                             "reason": "与户主系邻居兼远亲"})
    assert r.status_code == 303
    assert browser_.post(f"/panel/sessions/{ps.id}/items/{item.id}/start").status_code == 303
    assert vote_as(browser_, panelists[0], ps, item, "for", SCORES).status_code == 303
    browser_.as_(panelists[0])
    r = browser_.post(f"/panel/my/{ps.id}/cases/{item.id}/recuse", {"reason": "想起来是亲戚"})
    assert r.status_code == 409 and "a vote cannot be taken back" in r.get_data(as_text=True)
    recused = db_session.scalars(sa.select(Recusal.panel_member_id).where(Recusal.agenda_item_id == item.id)).all()
    assert recused == [seats[4].id]
    browser_.as_(office)
    page = browser_.get(f"/panel/sessions/{ps.id}")
    assert "5 members able to vote" in page  # six present, one recused
