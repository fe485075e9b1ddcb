"""Helpers for the administration tests: households receiving the allowance, with the visit
their allowance was decided on, and a form reader for the policy page."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest

from server.core.validators import make_id_number

_seq = iter(range(1, 10**6))


@pytest.fixture()
def receiving(db_session, case_factory, make_user):
    """receiving(members=[dict], income=[dict], assets=[dict], expenditure=[dict], state="active", community_=…)
    -> Case, with one accepted visit holding those facts (the survey the allowance was decided on)."""
    from server.visits.models import Asset, Expenditure, IncomeItem, Visit, VisitMember

    submitter = make_user(f"inv-r{next(_seq)}", roles=("investigator",))

    def make(members=None, income=(), assets=(), expenditure=(), state="active", allowance="0.00", **kw):
        members = members or [{"birth_date": dt.date(1970, 1, 1)}]
        case = case_factory(state=state, members=len(members), allowance=Decimal(allowance), **kw)
        n = next(_seq)
        started = dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=n)
        visit = Visit(id=uuid.uuid4(), case_id=case.id, kind="initial", state="accepted", started_at=started,
                      ended_at=started + dt.timedelta(minutes=40), submitted_by_id=submitter.id,
                      received_at=started + dt.timedelta(hours=1), body={}, body_hash=uuid.uuid4().hex)
        for pos, m in enumerate(members):
            birth = m.get("birth_date", dt.date(1970, 1, 1))
            visit.members.append(VisitMember(
                position=pos, name=m.get("name", f"成员{n}-{pos}"),
                id_number=m.get("id_number", make_id_number("330122", birth, (n * 7 + pos) % 500, "M")),
                relation="self" if pos == 0 else "child", sex="M", birth_date=birth, health=m.get("health"),
                disability_grade=m.get("disability_grade"), student=m.get("student", False),
                klass=m.get("class"), counted=m.get("counted", True)))
        for item in income:
            visit.income.append(IncomeItem(member_position=item.get("member"), kind=item["kind"],
                                           monthly_amount=Decimal(item["amount"]), counted=True))
        for item in expenditure:
            visit.expenditure.append(Expenditure(kind=item["kind"], monthly_amount=Decimal(item["amount"])))
        for pos, a in enumerate(assets):
            visit.assets.append(Asset(position=pos, category=a["category"], description="",
                                      value=None if a.get("value") is None else Decimal(a["value"]),
                                      count=a.get("count", 1), disqualifying=a.get("disqualifying", False),
                                      disability_mobility=a.get("disability_mobility", False)))
        db_session.add(visit)
        db_session.flush()
        return case

    return make


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def form_values(html: str) -> dict:
    """What a browser would send for the policy form as shown (inputs, selects, checkboxes)."""
    form = html[html.index('<form method="post" action="/admin/policy/new"'):]
    form = form[:form.index("</form>")]
    data = {}
    for m in re.finditer(r'<input([^>]*)>', form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', m.group(1)))
        if "name" not in attrs:
            continue
        if attrs.get("type") == "checkbox":
            if re.search(r"\bchecked\b", m.group(1)):
                data[attrs["name"]] = "on"
            continue
        data[attrs["name"]] = attrs.get("value", "")
    for m in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)"\s+selected', m.group(2))
        first = re.search(r'<option value="([^"]*)"', m.group(2))
        data[m.group(1)] = (chosen or first).group(1)
    return data
