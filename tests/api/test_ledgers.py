"""The monthly payment list and the ledger of active households (DESIGN "Money"): who is
paid in a month is what the Decision rows say took effect by the month's first day; the
amounts and the funding split add up per row and in total; IDs are masked; an office
sees its own community, the county its communities, other roles nothing.

The fixtures here (recipients with their decisions) are shared by test_exports.py and
test_dashboard.py."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from server.cases.models import Decision
from server.core.audit import AuditEvent
from server.ledgers import access, queries
from server.policy.models import PolicyVersion
from server.policy.settings import DEFAULT_SETTINGS

NOV = dt.date(2026, 11, 1)
DEC = dt.date(2026, 12, 1)


def evaluation(base: str, topups: list[tuple[str, str]]) -> dict:
    """A decision's computation as the engine answers it (only what the ledgers read)."""
    allowance = Decimal(base) + sum((Decimal(a) for _c, a in topups), Decimal(0))
    return {"base_allowance": base, "topups": [{"code": c, "member": 0, "amount": a} for c, a in topups],
            "allowance": str(allowance)}


@pytest.fixture()
def county_user(make_user, county):
    return make_user("county-l", roles=("county",), jurisdiction=county)


@pytest.fixture()
def office_l(make_user, community):
    return make_user("office-l", roles=("office",), jurisdiction=community)


@pytest.fixture()
def other_community(make_community):
    return make_community("白云源社区", "Baiyunyuan Community", lat=29.785, lon=119.708)


@pytest.fixture()
def other_office(make_user, other_community):
    return make_user("office-o", roles=("office",), jurisdiction=other_community)


@pytest.fixture()
def recipient(db_session, case_factory, county_user):
    """A case with its decisions: each (outcome, allowance, payment_from[, evaluation]),
    decided the month before it takes effect. Classes are given per member."""

    def make(decisions, state="active", community_=None, classes=(), members=2, **fields):
        last_amount = next((Decimal(a) for o, a, *_ in reversed(decisions) if o != "stopped"), None)
        case = case_factory(state=state, community_=community_, members=members, stability="stable",
                            allowance=last_amount, payment_from=decisions[-1][2] if decisions else None,
                            next_recheck_due=dt.date(2027, 10, 1), **fields)
        for member, klass in zip(case.household.members, classes):
            member.klass = klass
        for outcome, amount, pay_from, *rest in decisions:
            ev = rest[0] if rest else evaluation(amount, [])
            db_session.add(Decision(case_id=case.id, outcome=outcome, reason="" if outcome in ("approved", "continued")
                                    else "复核结果", decided_by_id=county_user.id,
                                    decision_date=pay_from - dt.timedelta(days=10),
                                    allowance=Decimal(amount), payment_from=pay_from, evaluation=ev))
        db_session.flush()
        return case

    return make


def scope_of(db_session, user, community=None):
    return access.scope_for(db_session, user, community)


def numbers(pl) -> list[str]:
    return [r.number for r in pl.rows]


# --- who is paid in a month --------------------------------------------------------------


def test_payment_from_next_month_is_not_listed_yet(db_session, policy, county_user, recipient):
    case = recipient([("approved", "1500.00", DEC)])
    scope = scope_of(db_session, county_user)
    assert case.number not in numbers(queries.payment_list(db_session, scope, NOV, per_page=500))
    assert case.number in numbers(queries.payment_list(db_session, scope, DEC, per_page=500))
    # Later months too, until something else is decided.
    assert case.number in numbers(queries.payment_list(db_session, scope, dt.date(2027, 3, 1), per_page=500))


def test_stopped_from_a_month_is_listed_before_it_and_not_from_it(db_session, policy, county_user, recipient):
    case = recipient([("approved", "1200.00", dt.date(2026, 6, 1)), ("stopped", "0.00", NOV)], state="stopped")
    scope = scope_of(db_session, county_user)
    october = queries.payment_list(db_session, scope, dt.date(2026, 10, 1), per_page=500)
    assert case.number in numbers(october)
    assert next(r for r in october.rows if r.number == case.number).amount == Decimal("1200.00")
    for month in (NOV, DEC):
        assert case.number not in numbers(queries.payment_list(db_session, scope, month, per_page=500))


def test_a_stop_under_recheck_takes_effect_from_its_month(db_session, policy, county_user, recipient):
    """A case whose stop is decided but whose state still reads as being re-checked."""
    case = recipient([("approved", "900.00", dt.date(2026, 3, 1)), ("stopped", "0.00", DEC)], state="recheck")
    scope = scope_of(db_session, county_user)
    assert case.number in numbers(queries.payment_list(db_session, scope, NOV, per_page=500))
    assert case.number not in numbers(queries.payment_list(db_session, scope, DEC, per_page=500))


def test_adjusted_amount_is_paid_from_its_month(db_session, policy, county_user, recipient):
    case = recipient([("approved", "1000.00", dt.date(2026, 5, 1)), ("adjusted", "750.50", NOV)], state="adjusted")
    scope = scope_of(db_session, county_user)

    def amount(month):
        pl = queries.payment_list(db_session, scope, month, per_page=500)
        return next(r.amount for r in pl.rows if r.number == case.number)

    assert amount(dt.date(2026, 10, 1)) == Decimal("1000.00")
    assert amount(NOV) == Decimal("750.50")
    assert amount(DEC) == Decimal("750.50")


def test_states_not_yet_paying_are_not_listed(db_session, policy, county_user, recipient, case_factory):
    approved_only = recipient([("approved", "800.00", dt.date(2026, 5, 1))], state="approved")
    in_review = case_factory(state="in_review", allowance=Decimal("500.00"), payment_from=dt.date(2026, 1, 1))
    scope = scope_of(db_session, county_user)
    listed = numbers(queries.payment_list(db_session, scope, NOV, per_page=500))
    assert approved_only.number not in listed and in_review.number not in listed


def test_a_case_without_decisions_falls_back_on_its_own_amount(db_session, policy, county_user, case_factory):
    case = case_factory(state="active", allowance=Decimal("640.00"), payment_from=dt.date(2026, 10, 1))
    later = case_factory(state="active", allowance=Decimal("640.00"), payment_from=DEC)
    scope = scope_of(db_session, county_user)
    pl = queries.payment_list(db_session, scope, NOV, per_page=500)
    assert case.number in numbers(pl) and later.number not in numbers(pl)


# --- the money adds up -------------------------------------------------------------------


def test_rows_carry_base_topups_classes_and_a_split_that_adds_up(db_session, policy, county_user, recipient):
    ev = evaluation("1066.00", [("topup_class_a", "330.00"), ("topup_elderly", "50.00")])
    case = recipient([("approved", "1446.00", dt.date(2026, 9, 1), ev)], classes=("A", None))
    pl = queries.payment_list(db_session, scope_of(db_session, county_user), NOV)
    row = next(r for r in pl.rows if r.number == case.number)
    assert (row.base, row.topups, row.amount) == (Decimal("1066.00"), Decimal("380.00"), Decimal("1446.00"))
    assert (row.size, row.class_a, row.class_b) == (2, 1, 0)
    assert row.topup_codes == ["topup_class_a", "topup_elderly"]
    # Seed 000: 60 % municipal, 40 % district.
    assert row.shares == {"municipal": Decimal("867.60"), "district": Decimal("578.40")}
    assert sum(row.shares.values()) == row.amount
    assert pl.share_names == ["municipal", "district"]


def test_shares_add_up_per_row_and_in_total_whatever_the_cents(db_session, policy, county_user, recipient):
    amounts = ["1000.01", "1000.03", "999.99", "0.05", "1234.57", "2222.22", "17.77", "1.01"]
    for a in amounts:
        recipient([("approved", a, dt.date(2026, 10, 1))])
    pl = queries.payment_list(db_session, scope_of(db_session, county_user), NOV, per_page=500)
    assert pl.totals.households == len(amounts)
    assert pl.totals.amount == sum(Decimal(a) for a in amounts)
    for row in pl.rows:
        assert sum(row.shares.values()) == row.amount
        assert all(v >= 0 for v in row.shares.values())
    # The database's totals equal the sums of the rows, share by share.
    for name in pl.share_names:
        assert pl.totals.shares[name] == sum(r.shares[name] for r in pl.rows)
    assert sum(pl.totals.shares.values()) == pl.totals.amount
    assert pl.totals.persons == sum(r.size for r in pl.rows)


def test_split_follows_the_policy_in_force_that_month_with_its_rounding(db_session, policy, county, county_user,
                                                                       recipient):
    # From December the county pays a third (rounded to whole jiao, half to even) and the city the rest.
    doc = {**DEFAULT_SETTINGS, "funding_split": {"city": "66.67", "county": "33.33"},
           "rounding": {"quantum": "0.1", "mode": "half_even"}}
    db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=DEC, settings=doc, note="test"))
    for a in ("1000.00", "1234.50", "333.30", "0.30", "77.70"):
        recipient([("approved", a, dt.date(2026, 10, 1))])
    db_session.flush()
    scope = scope_of(db_session, county_user)
    nov = queries.payment_list(db_session, scope, NOV, per_page=500)
    dec = queries.payment_list(db_session, scope, DEC, per_page=500)
    assert nov.share_names == ["municipal", "district"] and dec.share_names == ["city", "county"]
    row = next(r for r in dec.rows if r.amount == Decimal("1000.00"))
    assert row.shares == {"city": Decimal("666.70"), "county": Decimal("333.30")}
    for pl in (nov, dec):
        for r in pl.rows:
            assert sum(r.shares.values()) == r.amount
        for name in pl.share_names:
            assert pl.totals.shares[name] == sum(r.shares[name] for r in pl.rows)
    # Rounded to the policy's quantum (whole jiao) on the running total.
    assert all((r.shares["city"] * 10) % 1 == 0 for r in dec.rows)


def test_split_amount_matches_the_engine_with_the_default_policy():
    from server.policy import engine
    from server.policy.settings import PolicySettings

    settings = PolicySettings.from_dict(DEFAULT_SETTINGS)
    for cents in list(range(0, 400)) + [123457, 99999, 100001]:
        amount = Decimal(cents) / 100
        assert queries.split_amount(amount, settings.funding_split, settings.rounding) == \
            engine.split_funding(amount, settings.funding_split)


def test_totals_are_the_same_on_every_page(db_session, policy, county_user, recipient):
    for i in range(7):
        recipient([("approved", f"{100 + i}.10", dt.date(2026, 10, 1))])
    scope = scope_of(db_session, county_user)
    pages = [queries.payment_list(db_session, scope, NOV, page=p, per_page=3) for p in (1, 2, 3, 4)]
    assert [len(p.rows) for p in pages] == [3, 3, 1, 0]
    assert len({(p.totals.households, p.totals.amount, tuple(p.totals.shares.values())) for p in pages}) == 1
    assert pages[0].pages == 3
    seen = [r.number for p in pages for r in p.rows]
    assert seen == sorted(seen) and len(set(seen)) == 7


def test_id_numbers_are_masked(db_session, policy, county_user, recipient):
    case = recipient([("approved", "1000.00", dt.date(2026, 10, 1))])
    head = case.household.members[0].id_number
    row = queries.payment_list(db_session, scope_of(db_session, county_user), NOV).rows[0]
    assert row.id_masked == head[:6] + "********" + head[-4:]
    assert queries.mask_id("330102199001011234") == "330102********1234"
    assert queries.mask_id(None) == "" and queries.mask_id("1234") == "****"


# --- the ledger of active households -------------------------------------------------------


def test_ledger_lists_receiving_households_with_since_and_recheck(db_session, policy, county_user, recipient):
    ev = evaluation("900.00", [("topup_class_b", "220.00")])
    case = recipient([("approved", "1000.00", dt.date(2025, 3, 1)), ("adjusted", "1120.00", dt.date(2026, 4, 1), ev)],
                     state="adjusted", classes=(None, "B"))
    stopped = recipient([("approved", "700.00", dt.date(2025, 3, 1)), ("stopped", "0.00", dt.date(2026, 9, 1))],
                        state="stopped")
    led = queries.ledger(db_session, scope_of(db_session, county_user), dt.date(2026, 11, 23))
    rows = {r.number: r for r in led.rows}
    assert stopped.number not in rows
    row = rows[case.number]
    assert row.since == dt.date(2025, 3, 1)  # since the approval took effect, not the adjustment
    assert (row.amount, row.topups, row.topup_codes) == (Decimal("1120.00"), Decimal("220.00"), ["topup_class_b"])
    assert (row.class_a, row.class_b, row.stability) == (0, 1, "stable")
    assert row.next_recheck_due == dt.date(2027, 10, 1)
    assert led.totals.households == 1 and led.totals.amount == Decimal("1120.00") and led.totals.persons == 2


# --- pages and scope ---------------------------------------------------------------------


def test_payment_page_shows_rows_and_totals(client, sign_in, db_session, policy, office_l, recipient):
    recipient([("approved", "1500.00", dt.date(2026, 10, 1))])
    recipient([("approved", "500.50", dt.date(2026, 10, 1))])
    sign_in(office_l.username)
    r = client.get("/ledgers/payments?month=2026-11&lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert len(re.findall(r'<tr data-case="', html)) == 2
    assert re.search(r'data-total="amount">2,000.50<', html)
    assert re.search(r'data-total="municipal">1,200.30<', html)
    assert re.search(r'data-total="district">800.20<', html)
    assert "payments.xlsx?month=2026-11" in html


def test_payment_page_refuses_a_bad_month_by_its_field(client, sign_in, policy, office_l):
    sign_in(office_l.username)
    r = client.get("/ledgers/payments?month=2026-13&lang=en")
    assert r.status_code == 422
    assert "Enter a month as YYYY-MM." in r.get_data(as_text=True)


def test_htmx_request_gets_the_results_fragment(client, sign_in, policy, office_l):
    sign_in(office_l.username)
    r = client.get("/ledgers/payments?month=2026-11", headers={"HX-Request": "true"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="ledger-results">') and "<html" not in html


def test_office_sees_only_its_own_community(client, sign_in, db_session, policy, office_l, other_office,
                                           other_community, recipient):
    mine = recipient([("approved", "1000.00", dt.date(2026, 10, 1))])
    theirs = recipient([("approved", "1000.00", dt.date(2026, 10, 1))], community_=other_community)
    sign_in(other_office.username)
    html = client.get("/ledgers/payments?month=2026-11").get_data(as_text=True)
    assert theirs.number in html and mine.number not in html
    html = client.get("/ledgers/active").get_data(as_text=True)
    assert theirs.number in html and mine.number not in html
    # Asking for the other community by its id is a 404, and the attempt is on record.
    r = client.get(f"/ledgers/payments?month=2026-11&community={mine.community_id}")
    assert r.status_code == 404
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                            AuditEvent.entity == "jurisdiction")).all()
    assert [e.entity_id for e in denied] == [str(mine.community_id)]
    assert client.get(f"/ledgers/payments.csv?month=2026-11&community={mine.community_id}").status_code == 404


def test_county_sees_its_communities_and_may_narrow_to_one(client, sign_in, policy, county_user, other_community,
                                                           recipient, community):
    a = recipient([("approved", "1000.00", dt.date(2026, 10, 1))])
    b = recipient([("approved", "1000.00", dt.date(2026, 10, 1))], community_=other_community)
    sign_in(county_user.username)
    html = client.get("/ledgers/payments?month=2026-11").get_data(as_text=True)
    assert a.number in html and b.number in html
    html = client.get(f"/ledgers/payments?month=2026-11&community={other_community.id}").get_data(as_text=True)
    assert b.number in html and a.number not in html
    assert client.get("/ledgers/payments?community=abc").status_code == 404


def test_county_of_another_county_sees_nothing_of_this_one(client, sign_in, db_session, policy, make_user,
                                                          recipient):
    from server.core.models import Jurisdiction

    elsewhere = Jurisdiction(code="339999", name="别县", kind="county")
    db_session.add(elsewhere)
    db_session.flush()
    stranger = make_user("county-x", roles=("county",), jurisdiction=elsewhere)
    case = recipient([("approved", "1000.00", dt.date(2026, 10, 1))])
    sign_in(stranger.username)
    html = client.get("/ledgers/payments?month=2026-11").get_data(as_text=True)
    assert case.number not in html
    assert client.get(f"/ledgers/payments?community={case.community_id}").status_code == 404


@pytest.mark.parametrize("roles", [("investigator",), ("panel",), ("admin",)])
@pytest.mark.parametrize("path", ["/ledgers", "/ledgers/payments", "/ledgers/active", "/dashboard",
                                  "/ledgers/payments.xlsx", "/ledgers/active.csv", "/ledgers/visits.geojson"])
def test_other_roles_may_not_use_the_ledgers(client, sign_in, make_user, roles, path):
    user = make_user(f"u-{roles[0]}", roles=roles)
    sign_in(user.username)
    assert client.get(path).status_code == 403


def test_signed_out_browser_goes_to_sign_in(client):
    r = client.get("/ledgers/payments")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
