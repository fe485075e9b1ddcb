"""The review queue /review (issue 6 item 3): synced visits and cases waiting for the
office, filtered, sorted, keyset-paged, counted per state, each with its open flags and
deadline badges; office staff see their own community only; the page costs a fixed
number of queries whatever its size."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from server.accounts.models import User
from tests.review_fixtures import *  # noqa: F401,F403 - fixtures
from tests.review_fixtures import QueryCounter


def case_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-case="([0-9a-f-]{36})"', html)


def count(html: str, key: str) -> int:
    return int(re.search(rf'data-testid="count-{key}">(\d+)<', html).group(1))


def test_queue_lists_synced_visits_with_their_flags_and_reasons(client, sign_in, office, visited_case):
    case, _visit_id, _body = visited_case()
    sign_in(office.username)
    r = client.get("/review?lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert case_ids(html) == [str(case.id)]
    row = html.split(f'data-case="{case.id}"')[1].split("</tr>")[0]
    # The testimony that says the declaration does not match, in words, at a glance.
    assert 'data-code="testimony_contradicts"' in row
    assert "does not match" in row or "not match" in row
    assert count(html, "submitted") == 1 and count(html, "default") == 1


def test_queue_is_chinese_by_default(client, sign_in, office, visited_case):
    visited_case()
    sign_in(office.username)
    html = client.get("/review").get_data(as_text=True)
    assert "审核队列" in html and 'lang="zh-CN"' in html


def test_office_sees_only_its_own_community(client, sign_in, office, visited_case, make_community, case_factory):
    mine, _v, _b = visited_case()
    elsewhere = make_community("白云源社区", "Baiyunyuan")
    theirs = case_factory(state="in_review", community_=elsewhere)
    sign_in(office.username)
    html = client.get("/review?state=in_review").get_data(as_text=True)
    assert str(theirs.id) not in html
    html = client.get("/review").get_data(as_text=True)
    assert case_ids(html) == [str(mine.id)]
    assert str(theirs.id) not in html


def test_county_sees_every_community_of_its_county(client, sign_in, make_user, county, visited_case,
                                                  make_community, case_factory):
    mine, _v, _b = visited_case()
    elsewhere = make_community("白云源社区", "Baiyunyuan")
    theirs = case_factory(state="submitted", community_=elsewhere)
    reviewer = make_user("county-r", roles=("county",), jurisdiction=county)
    sign_in(reviewer.username)
    html = client.get("/review").get_data(as_text=True)
    assert set(case_ids(html)) == {str(mine.id), str(theirs.id)}
    html = client.get(f"/review?community={elsewhere.id}").get_data(as_text=True)
    assert case_ids(html) == [str(theirs.id)]


def test_investigators_and_panel_members_have_no_queue(client, sign_in, make_user, team):
    sign_in("inv-1")
    assert client.get("/review").status_code == 403


def test_filters_by_state_flag_investigator_dates_and_overdue(client, sign_in, office, visited_case, case_factory,
                                                             db_session, make_user):
    flagged, _v, _b = visited_case()
    in_review = case_factory(state="in_review", case_due=dt.date(2020, 1, 10))  # long overdue, no visit
    returned = case_factory(state="returned")
    sign_in(office.username)

    html = client.get("/review?state=in_review").get_data(as_text=True)
    assert case_ids(html) == [str(in_review.id)]
    assert 'data-testid="overdue"' in html
    html = client.get("/review?state=returned").get_data(as_text=True)
    assert case_ids(html) == [str(returned.id)]

    html = client.get("/review?flag=testimony_contradicts").get_data(as_text=True)
    assert case_ids(html) == [str(flagged.id)]
    html = client.get("/review?flag=duplicate_photo").get_data(as_text=True)
    assert case_ids(html) == []

    inv = db_session.scalar(sa.select(User).where(User.username == "inv-2"))
    html = client.get(f"/review?investigator={inv.id}").get_data(as_text=True)
    assert case_ids(html) == [str(flagged.id)]
    other = make_user("inv-x", roles=("investigator",))
    assert case_ids(client.get(f"/review?investigator={other.id}").get_data(as_text=True)) == []

    today = dt.date.today()
    html = client.get(f"/review?received_from={(today - dt.timedelta(days=1)).isoformat()}"
                      f"&received_to={(today + dt.timedelta(days=1)).isoformat()}").get_data(as_text=True)
    assert case_ids(html) == [str(flagged.id)]
    html = client.get("/review?received_to=2020-01-01").get_data(as_text=True)
    assert case_ids(html) == []

    html = client.get("/review?overdue=1").get_data(as_text=True)
    assert case_ids(html) == [str(in_review.id)]


def test_bad_filter_values_are_named_and_kept(client, sign_in, office, visited_case):
    visited_case()
    sign_in(office.username)
    r = client.get("/review?received_from=2026-13-45&state=nonsense&per_page=9999&lang=en")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'value="2026-13-45"' in html and 'id="err-received_from"' in html
    assert 'id="err-state"' in html and 'id="err-per_page"' in html
    # The rest of the page still works: the default queue is shown.
    assert len(case_ids(html)) == 1


@pytest.mark.parametrize("sort", ["waiting", "newest", "deadline", "number"])
def test_keyset_pages_walk_every_case_once_in_order(client, sign_in, office, case_factory, sort):
    made = []
    for i in range(7):
        made.append(case_factory(state="in_review", case_due=dt.date(2026, 12, 1 + i % 3) if i % 4 else None))
    sign_in(office.username)
    seen, url = [], f"/review?state=in_review&per_page=3&sort={sort}"
    pages = 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += case_ids(html)
        m = re.search(r'href="([^"]+)" rel="next"', html)
        url = m.group(1).replace("&amp;", "&") if m else None
        assert "offset" not in (url or "")
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(str(c.id) for c in made) and len(seen) == 7
    whole = case_ids(client.get(f"/review?state=in_review&per_page=50&sort={sort}").get_data(as_text=True))
    assert seen == whole  # the pages, joined, are the one long list


def test_a_tampered_page_link_starts_again_at_the_first_page(client, sign_in, office, case_factory):
    case_factory(state="in_review")
    sign_in(office.username)
    r = client.get("/review?state=in_review&after=garbage")
    assert r.status_code == 422
    assert len(case_ids(r.get_data(as_text=True))) == 1


def test_htmx_request_gets_only_the_results(client, sign_in, office, visited_case):
    visited_case()
    sign_in(office.username)
    html = client.get("/review", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="queue-results">') and "<html" not in html


def test_queue_query_count_does_not_grow_with_the_page(client, sign_in, office, visited_case, app):
    for _ in range(6):
        visited_case()
    sign_in(office.username)
    engine = app.extensions["doorstep_db"].engine
    counts = {}
    for per_page in (1, 6):
        with QueryCounter(engine) as q:
            html = client.get(f"/review?per_page={per_page}").get_data(as_text=True)
        assert len(case_ids(html)) == per_page
        counts[per_page] = q.count
    assert counts[1] == counts[6], counts
    assert counts[6] <= 15, counts


def test_cases_with_a_conflicting_resend_are_marked(client, sign_in, office, visited_case, bearer):
    case, visit_id, body = visited_case()
    changed = dict(body, notes="改过的备注")
    r = client.put(f"/api/v1/visits/{visit_id}", json=changed, headers=bearer("inv-1"))
    assert r.status_code == 409
    sign_in(office.username)
    html = client.get("/review").get_data(as_text=True)
    assert 'data-testid="conflict"' in html
