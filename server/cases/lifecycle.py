"""The case state machine, in one place: which state may follow which, who may move a
case along each edge, which edges need a written reason, and the M21 deadlines that
acceptance and the hand-over to the county start.

Measures for the Review and Confirmation of Minimum Living Security (民发〔2021〕57号,
"M21"); the article numbers below are those DESIGN.md gives. Every number is a policy
setting, passed in as `deadlines`; the defaults here are M21's.

Nothing else changes `Case.state`: operations call `transition()`, pages and the API
offer `allowed_transitions()`. Which *cases* a user may act on is `access.py`'s question;
this module answers which *moves* a role may make.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases.models import Case, CaseTransition
from server.core import audit
from server.core.db import utcnow
from server.core.errors import Conflict, Forbidden, Problem, ValidationProblem
from server.core.workdays import Calendar
from server.sync import operations as sync

SYSTEM = "system"  # the role of a move nobody clicked: a synced visit, a due date reached
DEFAULT_TIMEZONE = "Asia/Shanghai"

# M21 default deadlines, in working days (DESIGN.md "The case lifecycle"); the policy's
# `deadlines` setting overrides them per jurisdiction.
DEFAULT_DEADLINES: Mapping[str, int] = {
    "investigation_start_wd": 3,   # M21 Art 15: investigation starts within 3 working days of acceptance
    "case_total_wd": 30,           # M21: the whole case within 30 working days of acceptance …
    "case_total_special_wd": 45,   # … or 45 in special cases (Case.special)
    "county_decision_wd": 10,      # M21: the county decides within 10 working days
}

# A case in one of these states has had the county's decision; only undecided cases can
# miss the whole-case deadline.
DECIDED = frozenset({"approved", "rejected", "active", "recheck", "adjusted", "stopped"})
# Recipients: a re-check is due on `next_recheck_due` (yearly if stable, every 6 months if
# income is unstable and members can work; a policy setting).
RECEIVING = frozenset({"active", "adjusted"})


@dataclass(frozen=True)
class Rule:
    name: str
    roles: frozenset[str]
    reason_required: bool = False


def _rule(name: str, *roles: str, reason: bool = False) -> Rule:
    return Rule(name=name, roles=frozenset(roles), reason_required=reason)


# (from_state, to_state) -> Rule. The admin role appears nowhere: who runs the system
# does not do case work (separation of duties).
TRANSITIONS: Mapping[tuple[str, str], Rule] = {
    # Intake: the community office accepts the application, or refuses it at the counter
    # with a reason the applicant is told.
    ("application", "accepted"): _rule("accept", "office"),
    ("application", "rejected"): _rule("refuse", "office", reason=True),
    # The office hands the case to an investigation team (≥ 2 investigators, M21 Art 15–16).
    ("accepted", "investigating"): _rule("assign", "office"),
    # The team's visit arrives: the investigator submits, or the sync does it for them.
    ("investigating", "submitted"): _rule("submit", "investigator", SYSTEM),
    # All the visit's photos have arrived: it enters the office's review queue.
    ("submitted", "in_review"): _rule("start_review", SYSTEM, "office"),
    # The office sends the survey back for a re-visit, saying what is wrong.
    ("in_review", "returned"): _rule("return", "office", reason=True),
    ("returned", "investigating"): _rule("revisit", "office", SYSTEM),
    ("in_review", "panel"): _rule("to_panel", "office"),
    # The evaluation panel (M12 Art 22–24): a passed vote goes to public notice …
    ("panel", "publicity"): _rule("panel_passed", "office", "panel"),
    # … a failed vote goes up to the county with a recommendation to reject.
    ("panel", "county_review"): _rule("panel_failed", "office", reason=True),
    # Public notice for 7 days (M21 Art 19); with no open objection the case goes to the county.
    ("publicity", "county_review"): _rule("publicity_ended", "office"),
    ("publicity", "objection"): _rule("object", "office", reason=True),
    # An objection is looked into again, or put back to the panel.
    ("objection", "investigating"): _rule("reinvestigate", "office", reason=True),
    ("objection", "panel"): _rule("re_panel", "office", reason=True),
    # The county decides; a rejection carries a written reason (M21).
    ("county_review", "approved"): _rule("approve", "county"),
    ("county_review", "rejected"): _rule("reject", "county", reason=True),
    ("approved", "active"): _rule("start_payment", "county", SYSTEM),
    # Re-checks of recipients on the policy's schedule.
    ("active", "recheck"): _rule("recheck_due", "office", SYSTEM),
    ("adjusted", "recheck"): _rule("recheck_due_adjusted", "office", SYSTEM),
    ("recheck", "active"): _rule("continue", "county"),
    ("recheck", "adjusted"): _rule("adjust", "county", reason=True),
    ("recheck", "stopped"): _rule("stop", "county", reason=True),
}


class IllegalTransition(Problem):
    """No edge from the case's state to the one asked for (e.g. a stale page)."""

    status, code, title = 409, "illegal-transition", "Illegal transition"


class TransitionForbidden(Forbidden):
    """The edge exists, but none of the actor's roles may take it."""

    code, title = "transition-forbidden", "Transition not allowed for your role"


class CaseNotAssigned(Conflict):
    code, title = "case-not-assigned", "Case has no team"


def roles_of(actor: User | None) -> frozenset[str]:
    """The actor's roles; `None` is the system, with the role "system" only."""
    if actor is None:
        return frozenset({SYSTEM})
    return frozenset(actor.roles)


def allowed_transitions(case_state: str, actor_roles: Iterable[str] | None) -> list[str]:
    """The states the holder of `actor_roles` may move a case in `case_state` to, in the
    order of TRANSITIONS. `None` means the system."""
    roles = frozenset({SYSTEM}) if actor_roles is None else frozenset(actor_roles)
    return [to for (frm, to), rule in TRANSITIONS.items() if frm == case_state and rule.roles & roles]


def local_today(now: dt.datetime | None = None, tz: str | None = None) -> dt.date:
    """Today's date where the office is: deadlines count local working days, while the
    database keeps UTC (01:00 in Beijing is still yesterday in UTC)."""
    if tz is None:
        tz = current_app.config.get("TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE
    return (now or utcnow()).astimezone(ZoneInfo(tz)).date()


def _deadline_settings(deadlines) -> dict[str, int]:
    if deadlines is None:
        return dict(DEFAULT_DEADLINES)
    if dataclasses.is_dataclass(deadlines):  # policy.settings.Deadlines
        deadlines = dataclasses.asdict(deadlines)
    return {**DEFAULT_DEADLINES, **deadlines}


def transition(session: Session, case: Case, to_state: str, actor: User | None, reason: str | None = None, *,
               today: dt.date | None = None, calendar: Calendar | None = None,
               deadlines: Mapping[str, int] | None = None) -> CaseTransition:
    """Move `case` to `to_state` on behalf of `actor` (None: the system), or raise.

    Records a CaseTransition and an audit event, puts the case in its team's sync feed,
    and flushes; the request commits. The case's `version` makes a concurrent change of
    the same case fail at flush instead of overwriting it.
    """
    from_state = case.state
    roles = roles_of(actor)
    allowed = allowed_transitions(from_state, roles)
    rule = TRANSITIONS.get((from_state, to_state))
    if rule is None:
        raise IllegalTransition(
            _("A case in state %(from_state)s cannot move to %(to_state)s.", from_state=from_state, to_state=to_state),
            from_state=from_state, to_state=to_state, allowed=allowed)
    if not rule.roles & roles:
        raise TransitionForbidden(
            _("Your role may not move a case from %(from_state)s to %(to_state)s.",
              from_state=from_state, to_state=to_state),
            from_state=from_state, to_state=to_state, allowed=allowed)
    reason = reason.strip() if reason else None
    reason = reason or None
    if rule.reason_required and reason is None:
        raise ValidationProblem({"reason": [_("A reason is required for this step.")]})
    if rule.name == "assign" and case.team_id is None:
        # An investigating case with no team is on nobody's tablet.
        raise CaseNotAssigned(_("Assign the case to an investigation team first."),
                              from_state=from_state, to_state=to_state)

    now = utcnow()
    if today is None:
        today = local_today(now)
    if to_state in ("accepted", "county_review"):
        calendar = calendar if calendar is not None else Calendar.load(session)
        limits = _deadline_settings(deadlines)
        if to_state == "accepted":
            case.accepted_at = now
            # M21 Art 15: the investigation starts within 3 working days of acceptance;
            # the whole case takes 30 working days, 45 in special cases.
            case.investigation_due = calendar.add_working_days(today, limits["investigation_start_wd"])
            total = limits["case_total_special_wd"] if case.special else limits["case_total_wd"]
            case.case_due = calendar.add_working_days(today, total)
        else:
            # M21: the county decides within 10 working days of receiving the case.
            case.decision_due = calendar.add_working_days(today, limits["county_decision_wd"])

    if case.id is None:  # a case made in this transaction: it needs its id for the rows below
        session.add(case)
        session.flush()
    case.state = to_state
    case.state_changed_at = now
    row = CaseTransition(case_id=case.id, from_state=from_state, to_state=to_state,
                         actor_id=actor.id if actor is not None else None, reason=reason, at=now)
    session.add(row)
    audit.record(session, "case.transition", "case", case.id,
                 before={"state": from_state}, after={"state": to_state, "reason": reason},
                 case_id=case.id, actor=actor)
    sync.case_changed(session, case.id, case.team_id)
    session.flush()
    return row


def overdue(case: Case, today: dt.date, calendar: Calendar | None = None) -> list[str]:
    """Codes of the deadlines `case` has missed as of `today`.

    The deadlines are dates fixed when they started (acceptance, hand-over to the county),
    so `calendar` is not needed to judge them; it is accepted so callers can pass what
    they have. `overdue_clause()` is the same rule in SQL; a test keeps them equal.
    """
    codes = []
    if case.state == "accepted" and case.investigation_due is not None and today > case.investigation_due:
        codes.append("investigation_start")  # M21 Art 15: 3 working days
    if case.state not in DECIDED and case.case_due is not None and today > case.case_due:
        codes.append("case_total")  # M21: 30 (45) working days
    if case.state == "county_review" and case.decision_due is not None and today > case.decision_due:
        codes.append("county_decision")  # M21: 10 working days
    if case.state in RECEIVING and case.next_recheck_due is not None and case.next_recheck_due < today:
        codes.append("recheck")
    return codes


def overdue_clauses(today: dt.date) -> dict[str, sa.ColumnElement[bool]]:
    """Each rule of `overdue()` as a SQL boolean over Case's columns, by code, so a page
    can count each kind. Each is true or false, never NULL, so it can be negated."""
    return {
        "investigation_start": sa.and_(Case.state == "accepted", Case.investigation_due.is_not(None),
                                       Case.investigation_due < today),
        "case_total": sa.and_(Case.state.not_in(sorted(DECIDED)), Case.case_due.is_not(None),
                              Case.case_due < today),
        "county_decision": sa.and_(Case.state == "county_review", Case.decision_due.is_not(None),
                                   Case.decision_due < today),
        "recheck": sa.and_(Case.state.in_(sorted(RECEIVING)), Case.next_recheck_due.is_not(None),
                           Case.next_recheck_due < today),
    }


def overdue_clause(today: dt.date) -> sa.ColumnElement[bool]:
    """True for the cases `overdue(case, today)` names anything for."""
    return sa.or_(*overdue_clauses(today).values())
