"""Nobody can tell who voted how (issue: panel, item 2). A ballot has no member and no
time; the audit log says that a member voted, never how; and once the item is closed,
neither the rows' physical order (SQLite rowid, PostgreSQL ctid) nor PostgreSQL's xmin
links a receipt to a ballot. Before the close they do, which is why the close rewrites
them (the test shows both)."""
from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa

from server.core.audit import AuditEvent
from server.panel import operations
from server.panel.models import Score, Vote, VoteReceipt
from tests.api.test_panel_fixtures import *  # noqa: F401,F403 - fixtures
from tests.api.test_panel_fixtures import items, members, opened

ORDER = {"for": 0, "against": 1, "abstain": 2}
# Six ballots, told apart by their "need" score, cast in an order that is not their content order.
BALLOTS = [("against", 7), ("for", 29), ("abstain", 12), ("for", 21), ("against", 3), ("for", 25)]


def scores(need: int) -> dict[str, str]:
    return {"need": str(need), "housing": "10", "health": "10", "labour": "10", "testimony": "10"}


def physical(db_session, table: str, columns: str, item_id: int) -> list[tuple]:
    """Rows of one item in the order they lie in the table: rowid (SQLite), ctid (PostgreSQL)."""
    conn = db_session.connection()
    order = "rowid" if conn.dialect.name == "sqlite" else "ctid"
    where = "agenda_item_id = :item" if table != "scores" else \
        "vote_id IN (SELECT id FROM votes WHERE agenda_item_id = :item)"
    return [tuple(r) for r in conn.execute(sa.text(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order}"),
                                           {"item": item_id})]


def xmins(db_session, table: str, item_id: int) -> list[str]:
    where = "agenda_item_id = :item" if table != "scores" else \
        "vote_id IN (SELECT id FROM votes WHERE agenda_item_id = :item)"
    return [r[0] for r in db_session.connection().execute(
        sa.text(f"SELECT xmin::text FROM {table} WHERE {where} ORDER BY ctid"), {"item": item_id})]


def cast_all(db_session, ps, item, users, seats, ballots):
    for (choice, need), user, seat in zip(ballots, users, seats):
        with db_session.begin_nested():  # each vote its own request, as on the server
            operations.cast_vote(db_session, item, seat, user, choice, scores(need))


def test_the_close_unlinks_ballots_from_receipts(db_session, office, panelists, panel_case, make_session):
    ps = opened(db_session, make_session([panel_case()]), office)
    (item,) = items(db_session, ps)
    seats = members(db_session, ps)
    operations.start_voting(db_session, item, office)
    cast_all(db_session, ps, item, panelists, seats, BALLOTS)
    pg = db_session.connection().dialect.name == "postgresql"

    # While voting is open, the rows betray the voter to someone reading the database's internals.
    before_votes = physical(db_session, "votes", "id, choice", item.id)
    before_receipts = physical(db_session, "vote_receipts", "panel_member_id", item.id)
    assert [c for _id, c in before_votes] == [c for c, _n in BALLOTS]  # insertion order = voting order
    assert [m for (m,) in before_receipts] == [s.id for s in seats]
    if pg:
        # Each ballot's transaction id sits next to its receipt's: the n-th ballot is the n-th voter's.
        v, r = ([int(x) for x in xmins(db_session, t, item.id)] for t in ("votes", "vote_receipts"))
        assert len(set(v)) == len(set(r)) == 6
        assert all(abs(a - b) <= 1 for a, b in zip(v, r)) and v == sorted(v)

    operations.close_item(db_session, item, office)
    db_session.flush()

    # After the close: fresh ids, ballots in content order, receipts in member order.
    after_votes = physical(db_session, "votes", "id, choice", item.id)
    assert {i for i, _c in after_votes}.isdisjoint({i for i, _c in before_votes})
    need_of = {}
    for vid, criterion, value in physical(db_session, "scores", "vote_id, criterion, value", item.id):
        if criterion == "need":
            need_of[str(vid)] = int(Decimal(str(value)))
    lying = [(c, need_of[str(i)]) for i, c in after_votes]
    assert lying == sorted(BALLOTS, key=lambda b: (ORDER[b[0]], b[1]))
    assert lying != BALLOTS
    assert [m for (m,) in physical(db_session, "vote_receipts", "panel_member_id", item.id)] == \
        sorted(s.id for s in seats)
    # The scores lie in the order of their ballots, so they tell no more than the ballots.
    score_votes = list(dict.fromkeys(str(v) for v, in physical(db_session, "scores", "vote_id", item.id)))
    assert score_votes == [str(i) for i, _c in after_votes]
    if pg:
        # Every live row of the item was written by the closing transaction.
        assert len(set(xmins(db_session, "votes", item.id) + xmins(db_session, "scores", item.id)
                       + xmins(db_session, "vote_receipts", item.id))) == 1


def test_the_order_after_the_close_depends_on_the_ballots_alone(db_session, office, panelists, panel_case,
                                                               make_session):
    """The same ballots cast in two different orders lie in the same order once closed."""
    ps = opened(db_session, make_session([panel_case(), panel_case()]), office)
    first, second = items(db_session, ps)
    seats = members(db_session, ps)
    results = []
    for item, ballots in ((first, BALLOTS), (second, list(reversed(BALLOTS)))):
        operations.start_voting(db_session, item, office)
        cast_all(db_session, ps, item, panelists, seats, ballots)
        operations.close_item(db_session, item, office)
        db_session.flush()
        need_of = {str(v): int(Decimal(str(val))) for v, c, val in physical(
            db_session, "scores", "vote_id, criterion, value", item.id) if c == "need"}
        results.append([(c, need_of[str(i)]) for i, c in physical(db_session, "votes", "id, choice", item.id)])
    assert results[0] == results[1]


def test_no_column_or_log_holds_a_choice_with_a_member(db_session, office, panelists, panel_case, make_session):
    ps = opened(db_session, make_session([panel_case()]), office)
    (item,) = items(db_session, ps)
    seats = members(db_session, ps)
    operations.start_voting(db_session, item, office)
    cast_all(db_session, ps, item, panelists, seats, BALLOTS)
    operations.close_item(db_session, item, office)
    db_session.flush()

    # The tables: a ballot names no member and no time; a receipt holds no choice.
    assert {c.name for c in Vote.__table__.columns} == {"id", "agenda_item_id", "choice"}
    assert {c.name for c in Score.__table__.columns} == {"vote_id", "criterion", "value"}
    assert {c.name for c in VoteReceipt.__table__.columns} == {"agenda_item_id", "panel_member_id"}
    insp = sa.inspect(db_session.connection())
    assert {c["name"] for c in insp.get_columns("votes")} == {"id", "agenda_item_id", "choice"}
    assert {c["name"] for c in insp.get_columns("vote_receipts")} == {"agenda_item_id", "panel_member_id"}

    # The audit log: that each member voted, and the totals at the close; no choice with a member.
    events = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == item.case_id)
                                .order_by(AuditEvent.id)).all()
    voted = [e for e in events if e.action == "panel.voted"]
    assert sorted(e.after["panel_member_id"] for e in voted) == sorted(s.id for s in seats)
    for e in voted:
        assert set(e.after) == {"panel_member_id"} and e.before is None
    for e in events:
        if e.action == "panel.item_closed":
            continue  # the totals, for everyone in the session to see
        text = json.dumps([e.before, e.after], ensure_ascii=False)
        assert '"choice"' not in text and '"against"' not in text and '"abstain"' not in text
    closed = next(e for e in events if e.action == "panel.item_closed")
    assert (closed.after["for"], closed.after["against"], closed.after["abstain"]) == (3, 2, 1)
    assert "panel_member_id" not in json.dumps(closed.after)
