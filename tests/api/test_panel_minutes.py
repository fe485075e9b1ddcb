"""Signed minutes (issue: panel, item 4): members sign on the screen (a PNG kept in the
store), the office makes the minutes PDF from the same template as the printable A4 page,
kept in the store by its SHA-256 and audited; the office, the county and the session's
members download it, nobody else. The PDF's text is read back with pdftotext and a page
is rendered with pdftoppm."""
from __future__ import annotations

import base64
import hashlib
import io
import subprocess

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw

from server.core.audit import AuditEvent
from server.core.storage import current_store as _current_store
from server.panel import operations
from server.panel.models import PanelMember, PanelSession
from tests.api.test_panel_fixtures import *  # noqa: F401,F403 - fixtures
from tests.api.test_panel_fixtures import items, members, opened

BALLOTS = ("for", "for", "for", "for", "against", "abstain")


@pytest.fixture()
def store(app):
    """The app's photo/object store (the same object the requests write to)."""
    with app.app_context():
        return _current_store()


def signature_png(seed: int = 0, blank: bool = False) -> bytes:
    img = Image.new("RGB", (600, 200), "white")
    if not blank:
        draw = ImageDraw.Draw(img)
        draw.line([(40, 150), (160 + seed * 7, 40), (300, 140), (420, 60 + seed * 5), (560, 120)], fill="black",
                  width=5)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def decided_session(db_session, office, panelists, panel_case, make_session):
    """A closed session: six present, one case passed 4–1–1, its vote closed, the session closed."""
    ps = opened(db_session, make_session([panel_case()]), office)
    (item,) = items(db_session, ps)
    seats = members(db_session, ps)
    operations.start_voting(db_session, item, office)
    for user, seat, choice in zip(panelists, seats, BALLOTS):
        operations.cast_vote(db_session, item, seat, user, choice,
                             {"need": "24", "housing": "16", "health": "15", "labour": "9", "testimony": "11"})
    operations.close_item(db_session, item, office)
    operations.close_session(db_session, ps, office)
    db_session.flush()
    return ps, item, seats


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "minutes.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True).stdout.decode()


def test_signatures_then_minutes_stored_audited_and_readable(browser_, db_session, office, panelists, panel_case,
                                                             make_session, make_user, make_community, county,
                                                             tmp_path, store):
    ps, item, seats = decided_session(db_session, office, panelists, panel_case, make_session)

    # The office's tablet goes round the table; one member signs on their own device.
    browser_.as_(office)
    for n, seat in enumerate(seats[:5]):
        r = browser_.post(f"/panel/sessions/{ps.id}/members/{seat.id}/sign", {"signature": data_url(signature_png(n))})
        assert r.status_code == 303, r.get_data(as_text=True)[:500]
    browser_.as_(panelists[5])
    assert "Sign the minutes" in browser_.get(f"/panel/my/{ps.id}")
    html = browser_.get(f"/panel/my/{ps.id}/sign")
    assert "data-signature-pad" in html and "signature.js" in html and "<script>" not in html
    assert browser_.post(f"/panel/my/{ps.id}/sign", {"signature": data_url(signature_png(9))}).status_code == 303
    db_session.expire_all()
    for seat in seats:
        sha = db_session.get(PanelMember, seat.id).signature_sha256
        assert sha and store.get(operations.signature_key(sha))[:8] == b"\x89PNG\r\n\x1a\n"

    # The printable page says what the PDF will.
    browser_.as_(office)
    page = browser_.get(f"/panel/sessions/{ps.id}/minutes")
    for seat in seats:
        assert seat.name in page
    assert "Minutes of the evaluation panel" in page and "<script" not in page

    r = browser_.post(f"/panel/sessions/{ps.id}/minutes")
    assert r.status_code == 303
    db_session.expire_all()
    sha = db_session.get(PanelSession, ps.id).minutes_sha256
    stored = store.get(operations.minutes_key(sha))
    assert hashlib.sha256(stored).hexdigest() == sha and stored.startswith(b"%PDF")
    event = db_session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "panel.minutes"))
    assert event.after["minutes_sha256"] == sha and len(event.after["signed"]) == 6

    text = pdf_text(stored, tmp_path)
    for seat in seats:
        assert seat.name in text
    case_number = db_session.scalar(sa.select(sa.text("number")).select_from(sa.table("cases"))
                                    .where(sa.column("id") == item.case_id))
    assert case_number in text
    assert "Minutes of the evaluation panel" in text and "Passed" in text
    row = next(line for line in text.splitlines() if case_number in line)
    assert row.split()[-7:-1] == ["6", "4", "1", "1", "4", "75.00"]  # present, for, against, abstain, needed, average
    images = subprocess.run(["pdfimages", "-list", "-"], input=stored, capture_output=True).stdout.decode()
    assert len([line for line in images.splitlines()[2:] if line.strip()]) >= 6  # the six signatures

    # One page rendered: a real page, not a blank sheet.
    (tmp_path / "m.pdf").write_bytes(stored)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(tmp_path / "m.pdf"),
                    str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    with Image.open(png) as im:
        gray = im.convert("L")
        assert 380 <= gray.width <= 440 and 550 <= gray.height <= 600  # A4 at 50 dpi
        inked = sum(gray.histogram()[:128])
        assert inked > 1500

    # Who may download: the office, the county above, the session's members; nobody else.
    download = f"/panel/sessions/{ps.id}/minutes.pdf"
    for user in (office, make_user("county-a", roles=("county",), jurisdiction=county), panelists[0]):
        browser_.as_(user)
        r = browser_.client.get(download)
        assert r.status_code == 200 and r.data == stored and r.mimetype == "application/pdf"
    downloads = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "panel.minutes_downloaded")).all()
    assert len(downloads) == 3
    stranger = make_user("office-b", roles=("office",), jurisdiction=make_community(name="春江社区"))
    outsider = make_user("panel-x", roles=("panel",))
    for user in (stranger, outsider):
        browser_.as_(user)
        assert browser_.client.get(download).status_code == 404


def test_the_minutes_in_chinese(browser_, db_session, office, panelists, panel_case, make_session, tmp_path, store):
    ps, _item, seats = decided_session(db_session, office, panelists, panel_case, make_session)
    browser_.as_(office)
    browser_.client.get("/?lang=zh_CN")
    r = browser_.client.post(f"/panel/sessions/{ps.id}/minutes", data={"csrf_token": browser_.csrf()})
    assert r.status_code == 303
    db_session.expire_all()
    text = pdf_text(store.get(operations.minutes_key(db_session.get(PanelSession, ps.id).minutes_sha256)),
                    tmp_path)
    assert "民主评议" in text and "通过" in text and seats[0].name in text


def test_a_blank_or_false_signature_and_early_minutes_are_refused(browser_, db_session, office, panelists, panel_case,
                                                                  make_session):
    ps = opened(db_session, make_session([panel_case()]), office)
    seat = members(db_session, ps)[0]
    browser_.as_(office)
    for bad in (data_url(signature_png(blank=True)), "data:image/png;base64,not-base64!",
                "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode(), ""):
        r = browser_.post(f"/panel/sessions/{ps.id}/members/{seat.id}/sign", {"signature": bad})
        assert r.status_code == 422 and "Sign in the box first." in r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(PanelMember, seat.id).signature_sha256 is None
    # The minutes wait for the close.
    r = browser_.post(f"/panel/sessions/{ps.id}/minutes")
    assert r.status_code == 409 and "once the session is closed" in r.get_data(as_text=True)
    assert db_session.get(PanelSession, ps.id).minutes_sha256 is None
    assert browser_.client.get(f"/panel/sessions/{ps.id}/minutes.pdf").status_code == 404
