"""The audit log is append-only and hash-chained; verify-audit finds the first broken link."""
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from server.core import audit
from server.core.audit import AuditEvent


def _write_events(db_session, n=5):
    return [audit.record(db_session, "test.event", "thing", i, before={"v": i}, after={"v": i + 1, "money": "12.30"})
            for i in range(n)]


def test_events_chain_each_to_the_previous(db_session):
    events = _write_events(db_session)
    for prev, ev in zip(events, events[1:]):
        assert ev.prev_hash == prev.hash
    report = audit.verify(db_session)
    assert report.ok and report.checked >= 5 and report.last_good_id == events[-1].id


def _drop_guards(db_session):
    """What someone with direct database access could do first: remove the triggers."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        db_session.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        db_session.execute(sa.text("DROP TRIGGER audit_events_no_delete"))


def test_the_database_refuses_to_change_or_delete_an_event(db_session):
    ev = _write_events(db_session, 1)[0]
    with pytest.raises(DBAPIError):
        with db_session.begin_nested():
            db_session.execute(sa.update(AuditEvent).where(AuditEvent.id == ev.id).values(action="forged"))
    with pytest.raises(DBAPIError):
        with db_session.begin_nested():
            db_session.execute(sa.delete(AuditEvent).where(AuditEvent.id == ev.id))


def test_verify_finds_a_tampered_row(db_session):
    events = _write_events(db_session)
    _drop_guards(db_session)
    db_session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[2].id)
                       .values(after={"v": 999, "money": "99999.00"}))
    db_session.expire_all()
    report = audit.verify(db_session)
    assert not report.ok
    assert report.broken_id == events[2].id
    assert report.last_good_id == events[1].id
    assert "hash" in report.problem


def test_verify_finds_a_removed_row(db_session):
    events = _write_events(db_session)
    _drop_guards(db_session)
    db_session.execute(sa.delete(AuditEvent).where(AuditEvent.id == events[1].id))
    db_session.expire_all()
    report = audit.verify(db_session)
    assert not report.ok and report.broken_id == events[2].id


def test_verify_audit_command_reports_the_broken_link(app, connection, db_session):
    events = _write_events(db_session)
    _drop_guards(db_session)
    db_session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[3].id).values(actor_name="mallory"))
    db_session.flush()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["doorstep", "verify-audit"])
    assert result.exit_code == 1
    assert f"BROKEN at event {events[3].id}" in result.output


def test_verify_audit_command_passes_an_intact_log(app, connection, db_session):
    _write_events(db_session, 3)
    db_session.flush()
    result = app.test_cli_runner().invoke(args=["doorstep", "verify-audit"])
    assert result.exit_code == 0 and "intact" in result.output


def test_reading_sensitive_fields_is_an_event_in_the_chain(db_session, make_user):
    viewer = make_user("office-r", roles=("office",))
    ev = audit.record(db_session, "read", "member", 42, after={"fields": ["id_number", "health"]}, actor=viewer)
    again = audit.record_read(db_session, "visit", "v-1", ["income", "id_number"])
    assert ev.actor_name == "office-r" and again.after == {"fields": ["id_number", "income"]}
    assert again.prev_hash == ev.hash and audit.verify(db_session).ok


def test_system_actor_is_named_system(db_session):
    ev = audit.record(db_session, "case.transition", "case", "x", actor=None)
    assert ev.actor_id is None and ev.actor_name == "system"
