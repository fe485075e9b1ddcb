"""The office's actions on a case (issue 6 item 5 and "Bad input"): send to the panel,
return for a re-visit with reasons that reach the tablet, correct a field with a reason,
comment, resolve a conflict, act on a selection. Each is an allowed move of the state
machine and lands in the audit log; a stale page gets a clear message, a double submit
does nothing twice, a bad form comes back with the errors by the fields."""
from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from server.cases.models import Case, CaseTransition
from server.core.audit import AuditEvent
from server.review.models import CaseReturn, Comment, Correction
from server.visits.models import IncomeItem, Visit, VisitConflict
from tests.review_fixtures import *  # noqa: F401,F403 - fixtures
from tests.review_fixtures import form_of, store_photos, visit_body


def open_case(client, case_id, lang="en"):
    r = client.get(f"/cases/{case_id}?lang={lang}")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


def events(db_session, case_id, action):
    return db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                          AuditEvent.action == action)).all()


def test_send_to_panel_moves_through_review_and_is_audited(client, sign_in, office, visited_case, db_session):
    case, _v, _b = visited_case()
    sign_in(office.username)
    html = open_case(client, case.id)
    r = client.post(f"/cases/{case.id}/to-panel", data=form_of(html, "/to-panel"))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/cases/{case.id}")
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "panel"
    moves = [(t.from_state, t.to_state) for t in db_session.scalars(
        sa.select(CaseTransition).where(CaseTransition.case_id == case.id).order_by(CaseTransition.id))]
    assert moves[-2:] == [("submitted", "in_review"), ("in_review", "panel")]
    assert len(events(db_session, case.id, "review.to_panel")) == 1
    assert "Sent to the evaluation panel" in client.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)


def test_return_reaches_the_tablet_and_the_next_visit_closes_it(client, sign_in, office, visited_case, db_session,
                                                              bearer):
    case, _v, _b = visited_case()
    sign_in(office.username)
    html = open_case(client, case.id)
    form = form_of(html, "/return")
    form["reasons"] = "缺少厨房照片\n请补充务工收入证明\n"
    form["chosen"] = [re.search(r'name="chosen" value="([^"]+)"', html).group(1)]
    r = client.post(f"/cases/{case.id}/return", data=form)
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "returned"
    ret = db_session.scalar(sa.select(CaseReturn).where(CaseReturn.case_id == case.id))
    assert ret.reasons[1:] == ["缺少厨房照片", "请补充务工收入证明"] and ret.closed_at is None

    # The team's tablet finds the case again, with the reasons, at its next sync.
    tablet = bearer("inv-2")
    sync = client.get("/api/v1/sync/assignments", headers=tablet).get_json()
    mine = next(c for c in sync["cases"] if c["id"] == str(case.id))
    assert mine["state"] == "returned"
    assert mine["returned_reasons"][0]["reasons"] == ret.reasons

    # The re-visit arrives: the case is back in the queue and the return is answered.
    body = visit_body(case.id, tag="revisit", kind="revisit")
    from server.visits.queries import named_hashes

    store_photos(db_session, named_hashes(body))
    r = client.put(f"/api/v1/visits/{uuid.uuid4()}", json=body, headers=tablet)
    assert r.status_code == 201, r.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "submitted"
    assert db_session.get(CaseReturn, ret.id).closed_at is not None


def test_return_without_reasons_comes_back_with_the_error_by_the_field(client, sign_in, office, visited_case,
                                                                     db_session):
    case, _v, _b = visited_case()
    sign_in(office.username)
    form = form_of(open_case(client, case.id), "/return")
    form["reasons"] = "   \n"
    r = client.post(f"/cases/{case.id}/return?lang=en", data=form)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="err-reasons"' in html and 'aria-invalid="true"' in html
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "submitted"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CaseReturn)
                             .where(CaseReturn.case_id == case.id)) == 0


def test_a_stale_page_gets_a_clear_message_and_changes_nothing(client, sign_in, office, visited_case, db_session):
    case, _v, _b = visited_case()
    sign_in(office.username)
    stale = form_of(open_case(client, case.id), "/return")
    # Someone else starts the review meanwhile: the case moved on.
    client.post(f"/cases/{case.id}/start-review", data=form_of(open_case(client, case.id), "/start-review"))
    stale["reasons"] = "缺少厨房照片"
    r = client.post(f"/cases/{case.id}/return?lang=en", data=stale)
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert "changed since you opened it" in html
    assert "缺少厨房照片" in html  # what was typed is still there
    db_session.expire_all()
    assert db_session.get(Case, case.id).state == "in_review"
    assert not db_session.scalars(sa.select(CaseReturn).where(CaseReturn.case_id == case.id)).all()


def test_a_double_submitted_form_does_nothing_twice(client, sign_in, office, visited_case, db_session):
    case, _v, _b = visited_case()
    sign_in(office.username)
    html = open_case(client, case.id)
    panel = form_of(html, "/to-panel")
    assert client.post(f"/cases/{case.id}/to-panel", data=panel).status_code == 303
    again = client.post(f"/cases/{case.id}/to-panel", data=panel)
    assert again.status_code == 303
    assert "already sent" in client.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    db_session.expire_all()
    assert len(events(db_session, case.id, "review.to_panel")) == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CaseTransition).where(
        CaseTransition.case_id == case.id, CaseTransition.to_state == "panel")) == 1

    comment = form_of(html, "/comment")
    comment["text"] = "电话核实了赡养情况"
    for _ in range(2):
        assert client.post(f"/cases/{case.id}/comment", data=comment).status_code == 303
    assert len(db_session.scalars(sa.select(Comment).where(Comment.case_id == case.id)).all()) == 1


def test_correct_a_field_with_a_reason_is_kept_and_audited(client, sign_in, office, visited_case, db_session):
    case, visit_id, _b = visited_case()
    sign_in(office.username)
    form = form_of(open_case(client, case.id), "/correct")
    form.update({"field": "income.0.monthly_amount", "value": "720", "reason": "养老金证明显示为720元"})
    r = client.post(f"/cases/{case.id}/correct", data=form)
    assert r.status_code == 303, r.get_data(as_text=True)[:800]
    db_session.expire_all()
    item = db_session.scalars(sa.select(IncomeItem).where(IncomeItem.visit_id == visit_id).order_by(IncomeItem.id)).first()
    assert str(item.monthly_amount) == "720.00"
    fix = db_session.scalar(sa.select(Correction).where(Correction.visit_id == visit_id))
    assert (fix.field, fix.before, fix.after, fix.reason) == (
        "income.0.monthly_amount", {"value": "620.00"}, {"value": "720.00"}, "养老金证明显示为720元")
    assert fix.by_id == office.id
    ev = events(db_session, case.id, "review.correction")[0]
    assert ev.actor_name == office.username and ev.before["value"] == "620.00" and ev.after["value"] == "720.00"
    # The submitted body stays as it came: it is the evidence.
    assert db_session.get(Visit, visit_id).body["income"][0]["monthly_amount"] == "620.00"
    html = open_case(client, case.id)
    assert 'data-testid="correction"' in html and "养老金证明显示为720元" in html


def test_a_bad_correction_keeps_what_was_typed(client, sign_in, office, visited_case, db_session):
    case, visit_id, _b = visited_case()
    sign_in(office.username)
    form = form_of(open_case(client, case.id), "/correct")
    form.update({"field": "members.0.birth_date", "value": "1961-02-30", "reason": ""})
    r = client.post(f"/cases/{case.id}/correct?lang=en", data=form)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="err-value"' in html and 'id="err-reason"' in html
    assert 'value="1961-02-30"' in html
    assert re.search(r'<option value="members.0.birth_date" selected>', html)
    assert not db_session.scalars(sa.select(Correction).where(Correction.visit_id == visit_id)).all()


def test_conflict_resolved_part_by_part(client, sign_in, office, visited_case, db_session, bearer):
    case, visit_id, body = visited_case()
    changed = dict(body, notes="第二次填写的备注", conclusion="建议暂缓")
    assert client.put(f"/api/v1/visits/{visit_id}", json=changed, headers=bearer("inv-1")).status_code == 409
    conflict = db_session.scalar(sa.select(VisitConflict).where(VisitConflict.visit_id == visit_id))
    sign_in(office.username)
    html = open_case(client, case.id)
    assert 'data-testid="open-conflict"' in html
    page = client.get(f"/cases/{case.id}/conflicts/{conflict.id}?lang=en").get_data(as_text=True)
    assert 'data-section="notes"' in page and 'data-section="conclusion"' in page
    assert 'data-section="members"' not in page  # only what differs is to be chosen
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))

    # Nothing chosen: the choices are asked for by name.
    r = client.post(f"/cases/{case.id}/conflicts/{conflict.id}?lang=en", data=form)
    assert r.status_code == 422 and 'id="err-choice-notes"' in r.get_data(as_text=True)

    r = client.post(f"/cases/{case.id}/conflicts/{conflict.id}",
                    data=dict(form, **{"choice.notes": "received", "choice.conclusion": "stored"}))
    assert r.status_code == 303
    db_session.expire_all()
    visit = db_session.get(Visit, visit_id)
    assert visit.notes == "第二次填写的备注" and visit.conclusion == "家庭困难，建议纳入"
    assert visit.body["notes"] == "第二次填写的备注"
    conflict = db_session.get(VisitConflict, conflict.id)
    assert conflict.resolution == "merged" and conflict.resolved_by_id == office.id
    assert len(events(db_session, case.id, "review.conflict_resolved")) == 1
    # Sent again, the same form does nothing.
    r = client.post(f"/cases/{case.id}/conflicts/{conflict.id}",
                    data=dict(form, **{"choice.notes": "stored", "choice.conclusion": "stored"}))
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(Visit, visit_id).notes == "第二次填写的备注"


def test_bulk_sends_the_selection_and_skips_a_case_that_moved(client, sign_in, office, visited_case, db_session):
    a, _v, _b = visited_case()
    b, _v2, _b2 = visited_case()
    sign_in(office.username)
    html = client.get("/review").get_data(as_text=True)
    values = re.findall(r'name="case" value="([^"]+)"', html)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                           html.split('action="/review/bulk"')[1].split("</form>")[0]))
    # b moves on in another tab before the selection is sent.
    client.post(f"/cases/{b.id}/start-review", data=form_of(open_case(client, b.id), "/start-review"))
    r = client.post("/review/bulk", data={**form, "case": values, "action": "to_panel"})
    assert r.status_code == 303
    db_session.expire_all()
    assert db_session.get(Case, a.id).state == "panel"
    assert db_session.get(Case, b.id).state == "in_review"
    page = client.get("/review?lang=en").get_data(as_text=True)
    assert "changed since the queue was shown" in page and "1 case(s)" in page


def test_bulk_return_needs_reasons(client, sign_in, office, visited_case, db_session):
    a, _v, _b = visited_case()
    sign_in(office.username)
    html = client.get("/review").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                           html.split('action="/review/bulk"')[1].split("</form>")[0]))
    value = re.findall(r'name="case" value="([^"]+)"', html)
    assert client.post("/review/bulk", data={**form, "case": value, "action": "return"}).status_code == 303
    db_session.expire_all()
    assert db_session.get(Case, a.id).state == "submitted"
    r = client.post("/review/bulk", data={**form, "case": value, "action": "return", "reasons": "缺少厨房照片"})
    db_session.expire_all()
    assert db_session.get(Case, a.id).state == "returned"


def test_an_illegal_move_is_a_message_not_a_crash(client, sign_in, office, case_factory, db_session):
    case = case_factory(state="panel")
    sign_in(office.username)
    html = open_case(client, case.id)
    assert "/to-panel" not in html
    r = client.post(f"/cases/{case.id}/to-panel?lang=en",
                    data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                          "version": str(case.version), "form_id": "x1"})
    assert r.status_code == 409 and "does not fit" in r.get_data(as_text=True)
