"""The start page after sign-in shows what waits for that person, scoped to them."""
import datetime as dt
import re


def _count(html, state):
    m = re.search(rf'data-state="{state}"><div class="n">(\d+)</div>', html)
    return int(m.group(1)) if m else None


def test_office_sees_its_community_waiting_counts_and_overdue(client, make_user, sign_in, case_factory,
                                                              make_community):
    make_user("office-h", roles=("office",))
    for _ in range(3):
        case_factory("in_review")
    case_factory("accepted", investigation_due=dt.date(2026, 1, 5), case_due=dt.date(2026, 2, 20))
    other = make_community("白云源社区", "Baiyunyuan")
    case_factory("in_review", community_=other)  # not theirs
    sign_in("office-h")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert _count(html, "in_review") == 3
    assert _count(html, "accepted") == 1
    assert re.search(r'data-testid="overdue-total"><strong>1</strong>', html)
    assert "Investigation not started in time" in html


def test_investigator_sees_only_the_teams_cases(client, make_user, sign_in, case_factory, db_session, community):
    from server.accounts.models import Team, TeamMember

    inv = make_user("inv-h", roles=("investigator",))
    team = Team(community_id=community.id, name="一组")
    team.members = [TeamMember(user_id=inv.id)]
    db_session.add(team)
    db_session.flush()
    case_factory("investigating", team=team)
    case_factory("investigating", team=team)
    case_factory("investigating")  # no team: not on this tablet
    sign_in("inv-h")
    html = client.get("/").get_data(as_text=True)
    assert _count(html, "investigating") == 2
    assert "待您处理" in html


def test_signed_out_browser_goes_to_sign_in(client):
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_unknown_page_is_a_problem_or_a_page(client):
    r = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"
    r = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert r.status_code == 404 and "404" in r.get_data(as_text=True)
    r = client.put("/api/v1/auth/token")
    assert r.status_code == 405 and r.get_json()["type"].endswith("/method-not-allowed")
