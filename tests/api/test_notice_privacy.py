"""THE PRIVACY PROOF (M21 Art 19, 24): a public notice shows the head's name (masked where
the policy says so), the household size and the amount, and nothing else. On the demo
county, every community's public page (both languages), every notice's print page and
the text of its PDF are searched for every sensitive value held anywhere in the
database: ID numbers, addresses, phones, income amounts, health, disability, birth dates
and full names. None may appear."""
from __future__ import annotations

import re
import subprocess

import pytest
import sqlalchemy as sa

from server.cases.models import Household, Member
from server.core.models import Jurisdiction
from server.publicity.models import Notice, Objection
from server.visits.models import IncomeItem, VisitMember
from server.visits.models import Testimony as WitnessStatement

# What a page may say about health or disability: nothing. These words (and the codes)
# would only be there if a member's record leaked.
HEALTH_WORDS = ("chronic", "serious_illness", "serious illness", "healthy", "慢性病", "大病", "重病", "健康",
                "disabilit", "残疾", "伤残")


@pytest.fixture()
def demo(db_session):
    from server.demo import build_demo

    build_demo(db_session)
    db_session.flush()
    return db_session


def _sensitive(session) -> dict[str, set[str]]:
    """Every sensitive value in the database, as text a page could show."""
    values: dict[str, set[str]] = {k: set() for k in ("id_number", "address", "phone", "income", "birth_date", "name")}
    for number, name, birth in session.execute(sa.select(Member.id_number, Member.name, Member.birth_date)):
        values["id_number"].add(number)
        values["name"].add(name)
        values["birth_date"] |= {birth.isoformat(), f"{birth.year}年{birth.month}月{birth.day}日"}
    for number, name, birth in session.execute(sa.select(VisitMember.id_number, VisitMember.name,
                                                         VisitMember.birth_date)):
        if number:
            values["id_number"].add(number)
        values["name"].add(name)
        if birth:
            values["birth_date"] |= {birth.isoformat(), f"{birth.year}年{birth.month}月{birth.day}日"}
    for head, address, phone in session.execute(sa.select(Household.head_name, Household.address, Household.phone)):
        values["name"].add(head)
        values["address"].add(address)
        if phone:
            values["phone"].add(phone)
    for contact, witness in session.execute(sa.select(WitnessStatement.contact, WitnessStatement.witness_name)):
        if contact:
            values["phone"].add(contact)
    for name, contact in session.execute(sa.select(Objection.objector_name, Objection.contact)):
        if name:
            values["name"].add(name)
        if contact:
            values["phone"].add(contact)
    for (amount,) in session.execute(sa.select(IncomeItem.monthly_amount)):
        values["income"].add(f"{amount:.2f}")
    return {k: {v for v in vs if v and v.strip()} for k, vs in values.items()}


def _leaks(text: str, sensitive: dict[str, set[str]], shown: set[str]) -> list[str]:
    """The sensitive values found in `text`. Money is matched as a whole number (620.00 is
    not found inside 1620.00); a value equal to one the notice itself shows (an amount or
    a date that happens to be the same) is the notice's, not a leak."""
    found = []
    for kind, vs in sensitive.items():
        for v in vs:
            if v in shown:
                continue
            if kind == "income":
                if re.search(rf"(?<![\d.]){re.escape(v)}(?!\d)", text):
                    found.append(f"{kind}: {v}")
            elif v in text:
                found.append(f"{kind}: {v}")
    lowered = text.lower()
    found += [f"health/disability word: {w}" for w in HEALTH_WORDS if w in lowered]
    return found


def _pdf_text(data: bytes, tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def _shown(notices) -> set[str]:
    out = set()
    for n in notices:
        out |= {n.head_name_shown, f"{n.amount:.2f}", n.posted_from.isoformat(), n.posted_until.isoformat()}
    return out


def test_nothing_sensitive_on_any_public_page_print_or_pdf(client, demo, sign_in, tmp_path):
    session = demo
    sensitive = _sensitive(session)
    assert all(sensitive.values()), {k: len(v) for k, v in sensitive.items()}  # the proof needs data to find
    notices = session.scalars(sa.select(Notice).order_by(Notice.id)).all()
    assert notices and any(n.state == "posted" for n in notices)
    # Masking is on in the demo policy: no notice shows a full name.
    assert all("*" in n.head_name_shown for n in notices)
    shown = _shown(notices)
    checked_public = 0

    # The public page of every community, in both languages, signed out.
    communities = session.scalars(sa.select(Jurisdiction).where(Jurisdiction.kind == "community")).all()
    for c in communities:
        for lang in ("zh_CN", "en"):
            r = client.get(f"/notices?community={c.code}&lang={lang}")
            assert r.status_code == 200
            html = r.get_data(as_text=True)
            assert _leaks(html, sensitive, shown) == [], (c.code, lang)
            checked_public += html.count('data-testid="public-notice"')
    assert checked_public > 0  # some notices were on the pages searched

    # Every notice's print page and its PDF, and each community's batch, as the county reads them.
    assert sign_in("county1", "demo1234").status_code == 303
    for n in notices:
        html = client.get(f"/publicity/notices/{n.id}/print").get_data(as_text=True)
        assert n.head_name_shown in html
        assert _leaks(html, sensitive, shown) == [], n.id
        r = client.get(f"/publicity/notices/{n.id}/print.pdf")
        assert r.status_code == 200
        text = _pdf_text(r.data, tmp_path, f"n{n.id}")
        # The text layer is readable (so the search below means something) …
        assert n.head_name_shown in text and f"{n.amount:.2f}" in text
        # … and holds nothing sensitive.
        assert _leaks(text, sensitive, shown) == [], n.id
    for c in communities:
        html = client.get(f"/publicity/print?community={c.id}").get_data(as_text=True)
        assert _leaks(html, sensitive, shown) == [], c.code
        text = _pdf_text(client.get(f"/publicity/print.pdf?community={c.id}").data, tmp_path, f"c{c.id}")
        assert _leaks(text, sensitive, shown) == [], c.code


def test_the_leak_search_finds_what_it_looks_for(demo):
    """The search above is not blind: a page with one member's data on it is caught."""
    member = demo.scalars(sa.select(Member).where(Member.health.is_not(None))).first()
    sensitive = _sensitive(demo)
    page = f"<td>{member.id_number}</td><td>{member.birth_date.isoformat()}</td><td>{member.name}</td>"
    found = _leaks(page, sensitive, set())
    assert any(f.startswith("id_number") for f in found) and any(f.startswith("birth_date") for f in found)
    assert any(f.startswith("name") for f in found)
    income = next(iter(sensitive["income"]))
    assert _leaks(f"<td>{income}</td>", sensitive, set())
    assert not _leaks(f"<td>9{income}</td>", {"income": {income}}, set())
    assert _leaks("慢性病", {}, set())
