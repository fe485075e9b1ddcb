"""Writes of the county's decision and of re-checks. Each decision is a lifecycle move
(server.cases.lifecycle) plus a Decision row that keeps the policy version it used and
the engine's whole answer, so what was paid and why can be read back years later.
Flushes, never commits; every write goes into the audit log with the form it came from,
so the same form sent twice does nothing the second time.

DESIGN.md "The case lifecycle" and "Money": the allowance is computed with the policy in
force on the decision date; payment starts on the first day of the following month;
re-checks follow the policy's `recheck_months` (stable households yearly, unstable income
of members able to work every 6 months by default).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import operations as case_operations
from server.cases.lifecycle import RECEIVING, transition
from server.cases.models import STABILITY, Case, CaseTransition, Decision
from server.core import audit
from server.core.audit import AuditEvent
from server.core.db import utcnow
from server.core.errors import Conflict, ValidationProblem
from server.policy import engine
from server.policy.models import PolicyVersion
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults
from server.visits.models import Visit

# The audit actions of this module; each carries the form's id in `after`.
ACTIONS = ("decision.made", "recheck.ended")
DECISIONS = ("approve", "reject")
RECHECK_OUTCOMES = {"continue": ("active", "continued"), "adjust": ("adjusted", "adjusted"),
                    "stop": ("stopped", "stopped")}
# Labour ability that counts as "able to work" (the survey's codes).
ABLE_TO_WORK = ("full", "partial")
# Income that comes and goes with work (DESIGN "The case lifecycle": unstable income).
UNSTABLE_INCOME_KINDS = ("wage", "business")
MAX_REASON = 4000
# How far ahead a re-check's change may be dated.
MAX_MONTHS_AHEAD = 12


class AlreadyDone(Exception):
    """This very form was handled before (a double submit): nothing is done again."""


class NotInCountyReview(Conflict):
    code, title = "case-not-in-county-review", "The case is not waiting for the county's decision"


class NotInRecheck(Conflict):
    code, title = "case-not-in-recheck", "The case is not being re-checked"


class NoPolicy(Conflict):
    code, title = "no-policy", "No policy in force"


# --- dates ----------------------------------------------------------------------------


def first_of_next_month(day: dt.date) -> dt.date:
    """Payment starts on the first day of the month after the decision."""
    return dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months; a day the target month lacks becomes its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def parse_month(text: str | None) -> dt.date | None:
    """"2026-12" (an <input type=month>) or "2026-12-01" as the first day of that month."""
    text = (text or "").strip()
    try:
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return day.replace(day=1)


# --- the computation ------------------------------------------------------------------


@dataclass
class Computation:
    """The policy engine on a visit's findings with the policy in force on `on`."""

    on: dt.date
    version: PolicyVersion | None  # None: no version in force (the defaults are shown)
    settings: PolicySettings
    visit: Visit | None
    evaluation: engine.Evaluation | None = None
    error: str | None = None

    @property
    def eligible(self) -> bool:
        return self.evaluation is not None and self.evaluation.eligible


def settings_of(version: PolicyVersion | None) -> PolicySettings:
    return PolicySettings.from_dict(merge_defaults(version.settings) if version is not None else DEFAULT_SETTINGS)


def compute(session: Session, case: Case, visit: Visit | None, on: dt.date) -> Computation:
    """The allowance the visit's findings give under the policy in force for the case's
    community on `on` (DESIGN "Money": a case is computed with the policy in force on its
    decision date)."""
    from server.review.flags import household_in

    version = version_in_force(session, case.community, on)
    settings = settings_of(version)
    if visit is None:
        return Computation(on, version, settings, None, error=_("No visit has arrived for this case."))
    try:
        result = engine.evaluate(settings, household_in(visit), on)
    except engine.PolicyInputError as exc:
        return Computation(on, version, settings, visit, error=f"{exc.field}: {exc.message}")
    return Computation(on, version, settings, visit, evaluation=result)


def evaluation_json(c: Computation) -> dict:
    """The engine's whole answer as POST /api/v1/policy/evaluate gives it (money as
    strings), with the day and the visit it was computed for. Reason texts are kept in
    the users' language; pages re-word them from code and params in the reader's."""
    r = c.evaluation
    if r is None:
        return {"on": c.on.isoformat(), "error": c.error, "visit_id": str(c.visit.id) if c.visit else None}
    return {
        "on": c.on.isoformat(), "visit_id": str(c.visit.id) if c.visit else None,
        "standard": str(r.standard), "local_standard": str(r.local_standard),
        "counted_members": r.counted_members, "counted_income": str(r.counted_income),
        "excluded_income": str(r.excluded_income), "deductions": str(r.deductions),
        "per_capita_income": str(r.per_capita_income), "eligible": r.eligible, "near_dibao": r.near_dibao,
        "base_allowance": str(r.base_allowance),
        "topups": [{"code": code, "member": m, "amount": str(a)} for code, m, a in r.topups],
        "allowance": str(r.allowance), "funding": {k: str(v) for k, v in r.funding.items()},
        "disqualifiers": list(r.disqualifiers),
        "reasons": [{"code": x.code, "text": engine.reason_text(x, "zh_CN"), "params": x.params} for x in r.reasons],
        "policy_version": None if c.version is None else {
            "id": c.version.id, "jurisdiction": c.version.jurisdiction.code,
            "effective_from": c.version.effective_from.isoformat()},
    }


def proposed_stability(visit: Visit | None) -> tuple[str, list[str]]:
    """"unstable" when a member able to work has wage or business income (their names
    come back as the why), else "stable"."""
    if visit is None:
        return "stable", []
    able = {m.position: m.name for m in visit.members if m.labour_ability in ABLE_TO_WORK}
    who: list[str] = []
    for item in sorted(visit.income, key=lambda i: i.id):
        if item.kind not in UNSTABLE_INCOME_KINDS or not item.monthly_amount:
            continue
        if item.member_position in able:
            name = able[item.member_position]
        elif item.member_position is None and able:  # household income while someone can work
            name = next(iter(able.values()))
        else:
            continue
        if name not in who:
            who.append(name)
    return ("unstable" if who else "stable"), who


def recheck_due(settings: PolicySettings, stability: str, payment_from: dt.date) -> dt.date:
    months = settings.recheck_months.stable if stability == "stable" else settings.recheck_months.unstable
    return add_months(payment_from, months)


def basis_visit(session: Session, case: Case, *, recheck_since: dt.datetime | None = None) -> Visit | None:
    """The visit a decision stands on: the newest visit the office did not send back. In
    a re-check, the re-check visit received since the re-check began, if one has."""
    q = (sa.select(Visit).where(Visit.case_id == case.id, Visit.state.not_in(("returned", "superseded")))
         .order_by(Visit.received_at.desc(), Visit.id.desc()).limit(1))
    if recheck_since is not None:
        found = session.scalars(q.where(Visit.kind == "recheck", Visit.received_at >= recheck_since)).first()
        if found is not None:
            return found
    return session.scalars(q).first()


def recheck_started_at(session: Session, case: Case) -> dt.datetime | None:
    """When the case last entered `recheck`."""
    return session.scalar(sa.select(sa.func.max(CaseTransition.at))
                          .where(CaseTransition.case_id == case.id, CaseTransition.to_state == "recheck"))


# --- guards ---------------------------------------------------------------------------


def already_done(session: Session, case_id: uuid.UUID, form_id: str | None) -> bool:
    if not form_id:
        return False
    rows = session.scalars(sa.select(AuditEvent.after).where(AuditEvent.case_id == case_id,
                                                              AuditEvent.action.in_(ACTIONS)))
    return any(isinstance(after, dict) and after.get("form_id") == form_id for after in rows)


def _check_common(session: Session, case: Case, seen_version: int | None, form_id: str | None) -> None:
    if already_done(session, case.id, form_id):
        raise AlreadyDone()
    if seen_version is not None and seen_version != case.version:
        raise case_operations.StaleCase("Reload the case and try again.", current_version=case.version,
                                        state=case.state)


def _reason(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_REASON:
        raise ValidationProblem({"reason": [_("At most %(n)s characters.", n=MAX_REASON)]})
    return text


def _stability(value: str | None, default: str) -> str:
    value = (value or "").strip() or default
    if value not in STABILITY:
        raise ValidationProblem({"stability": [_("Choose from the list.")]})
    return value


def _accept_visit(session: Session, visit: Visit | None) -> None:
    """The findings a decision stands on are accepted (what the policy impact preview
    and the next re-check read as the household's facts)."""
    if visit is not None and visit.state == "in_review":
        visit.state = "accepted"


# --- the county's decision ------------------------------------------------------------


def decide(session: Session, case: Case, actor: User, choice: str, reason: str | None, *, stability: str | None,
           today: dt.date, seen_version: int | None = None, form_id: str | None = None) -> Decision:
    """Approve or reject a case in county review (lifecycle: approve / reject).

    Approval computes the allowance with the policy in force on `today`, schedules the
    payment from the first of next month and the first re-check, and starts the payment
    (approved → active, the system's move, in the same transaction). A rejection needs a
    written reason (M21; lifecycle refuses it without). A decision after the deadline is
    made all the same, and recorded as late."""
    _check_common(session, case, seen_version, form_id)
    if choice not in DECISIONS:
        raise ValidationProblem({"decision": [_("Choose approve or reject.")]})
    if case.state != "county_review":
        raise NotInCountyReview(_("This case is not waiting for the county's decision; nothing was done."),
                                state=case.state)
    reason = _reason(reason)
    visit = basis_visit(session, case)
    c = compute(session, case, visit, today)
    late = case.decision_due is not None and today > case.decision_due
    if choice == "approve":
        if c.version is None:
            raise NoPolicy(_("No policy is in force for this community on %(date)s; the allowance cannot be "
                             "computed. Nothing was done.", date=today.isoformat()))
        if c.evaluation is None:
            raise ValidationProblem({"decision": [_("The allowance cannot be computed: %(why)s", why=c.error)]})
        if not c.eligible:
            raise ValidationProblem({"decision": [_(
                "Under the policy in force today the household is not eligible (allowance 0); reject the case "
                "with a written reason instead.")]})
        stability = _stability(stability, proposed_stability(visit)[0])
        before = _snapshot(case)
        case_operations.move(session, case, "approved", actor, reason or None)
        payment_from = first_of_next_month(today)
        decision = _record(session, case, actor, "approved", reason, today, c, c.evaluation.allowance, payment_from)
        case.allowance = c.evaluation.allowance
        case.payment_from = payment_from
        case.stability = stability
        case.next_recheck_due = recheck_due(c.settings, stability, payment_from)
        # The payment is scheduled: the case starts receiving by itself (lifecycle: start_payment).
        transition(session, case, "active", None, today=today)
    else:
        before = _snapshot(case)
        # lifecycle.transition refuses a rejection without a written reason (422 on "reason").
        case_operations.move(session, case, "rejected", actor, reason)
        decision = _record(session, case, actor, "rejected", reason, today, c, engine.ZERO, None)
    _accept_visit(session, visit)
    session.flush()
    audit.record(session, "decision.made", "decision", decision.id, case_id=case.id, actor=actor, before=before,
                 after={**_snapshot(case), "outcome": decision.outcome, "late": late, "form_id": form_id,
                        "policy_version_id": decision.policy_version_id,
                        "visit_id": str(visit.id) if visit else None})
    return decision


def _snapshot(case: Case) -> dict:
    return {"state": case.state, "allowance": case.allowance, "payment_from": case.payment_from,
            "stability": case.stability, "next_recheck_due": case.next_recheck_due}


def _record(session: Session, case: Case, actor: User, outcome: str, reason: str, today: dt.date, c: Computation,
            allowance, payment_from: dt.date | None) -> Decision:
    decision = Decision(
        case_id=case.id, outcome=outcome, reason=reason, decided_by_id=actor.id, decided_at=utcnow(),
        decision_date=today, policy_version_id=c.version.id if c.version is not None else None,
        standard=c.evaluation.standard if c.evaluation is not None else None, allowance=allowance,
        payment_from=payment_from, evaluation=evaluation_json(c))
    session.add(decision)
    session.flush()
    return decision


# --- re-checks ------------------------------------------------------------------------


def due_rechecks_query(today: dt.date, scope: sa.ColumnElement[bool] | None = None) -> sa.Select:
    q = (sa.select(Case).where(Case.state.in_(sorted(RECEIVING)), Case.next_recheck_due.is_not(None),
                               Case.next_recheck_due <= today)
         .order_by(Case.next_recheck_due, Case.id))
    return q if scope is None else q.where(scope)


def start_due_rechecks(session: Session, today: dt.date, *, scope: sa.ColumnElement[bool] | None = None,
                       actor: User | None = None) -> list[Case]:
    """Move every receiving case (active or adjusted) whose re-check is due by `today` to
    `recheck`: the system's move, so the case stays with its team and reaches their
    tablets at the next sync as a re-check. Running it again moves nothing more.
    `scope` limits it to the cases a user may see; `actor` is who asked (audit only)."""
    cases = list(session.scalars(due_rechecks_query(today, scope).with_for_update()))
    for case in cases:
        due = case.next_recheck_due
        transition(session, case, "recheck", None, today=today)
        audit.record(session, "recheck.started", "case", case.id, case_id=case.id, actor=actor,
                     after={"due": due, "today": today, "team_id": case.team_id})
    return cases


def end_recheck(session: Session, case: Case, actor: User, choice: str, reason: str | None, *,
                from_month: dt.date | None, stability: str | None, today: dt.date,
                seen_version: int | None = None, form_id: str | None = None) -> Decision:
    """The county ends a re-check: continue (the same amount), adjust (a new amount
    computed with the policy in force on `today`, paid from `from_month`) or stop (from
    `from_month`). Adjust and stop need a written reason. The next re-check is scheduled
    for continue and adjust."""
    _check_common(session, case, seen_version, form_id)
    if choice not in RECHECK_OUTCOMES:
        raise ValidationProblem({"outcome": [_("Choose continue, adjust or stop.")]})
    if case.state != "recheck":
        raise NotInRecheck(_("This case is not being re-checked; nothing was done."), state=case.state)
    to_state, outcome = RECHECK_OUTCOMES[choice]
    reason = _reason(reason)
    visit = basis_visit(session, case, recheck_since=recheck_started_at(session, case))
    c = compute(session, case, visit, today)
    errors: dict[str, list[str]] = {}
    if choice in ("adjust", "stop") and not reason:
        errors["reason"] = [_("A reason is required for this step.")]
    if choice == "continue":
        payment_from = first_of_next_month(today)
    else:
        payment_from = from_month
        earliest, latest = today.replace(day=1), add_months(today.replace(day=1), MAX_MONTHS_AHEAD)
        if from_month is None:
            errors["from_month"] = [_("Enter a month as YYYY-MM.")]
        elif not earliest <= from_month <= latest:
            errors["from_month"] = [_("From %(first)s to %(last)s.", first=earliest.strftime("%Y-%m"),
                                      last=latest.strftime("%Y-%m"))]
    if choice == "adjust":
        if c.version is None:
            raise NoPolicy(_("No policy is in force for this community on %(date)s; the allowance cannot be "
                             "computed. Nothing was done.", date=today.isoformat()))
        if c.evaluation is None:
            errors["outcome"] = [_("The allowance cannot be computed: %(why)s", why=c.error)]
        elif not c.eligible:
            errors["outcome"] = [_("Under the policy in force today the household is no longer eligible; stop the "
                                   "allowance instead.")]
    if choice != "stop":
        stability = _stability(stability, case.stability or proposed_stability(visit)[0])
    if errors:
        raise ValidationProblem(errors)

    before = _snapshot(case)
    case_operations.move(session, case, to_state, actor, reason or None)
    if choice == "continue":
        allowance = case.allowance if case.allowance is not None else engine.ZERO
        decision = _record(session, case, actor, outcome, reason, today, c, allowance, payment_from)
    elif choice == "adjust":
        allowance = c.evaluation.allowance
        decision = _record(session, case, actor, outcome, reason, today, c, allowance, payment_from)
        case.allowance, case.payment_from = allowance, payment_from
    else:
        decision = _record(session, case, actor, outcome, reason, today, c, engine.ZERO, payment_from)
        case.allowance, case.payment_from = engine.ZERO, payment_from
        case.next_recheck_due = None
    if choice != "stop":
        case.stability = stability
        case.next_recheck_due = recheck_due(c.settings, stability, payment_from)
    _accept_visit(session, visit)
    session.flush()
    audit.record(session, "recheck.ended", "decision", decision.id, case_id=case.id, actor=actor, before=before,
                 after={**_snapshot(case), "outcome": outcome, "form_id": form_id,
                        "policy_version_id": decision.policy_version_id,
                        "visit_id": str(visit.id) if visit else None,
                        "recheck_visit": bool(visit is not None and visit.kind == "recheck")})
    return decision


def letter_generated(session: Session, decision: Decision, sha256: str, size: int, actor: User) -> None:
    """A decision letter was made as a PDF (every export is on record)."""
    audit.record(session, "decision.letter_pdf", "decision", decision.id, case_id=decision.case_id, actor=actor,
                 after={"sha256": sha256, "bytes": size, "outcome": decision.outcome})
