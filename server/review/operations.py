"""The office's actions on a case under review. Each is an allowed move of the state
machine (server.cases.lifecycle, through cases.operations.move) or a recorded change, and
each writes its own audit event naming the form it came from, so the same form sent
twice is recognised and does nothing the second time. Flushes, never commits."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from server.accounts.models import User
from server.cases import operations as case_operations
from server.cases.lifecycle import IllegalTransition, TransitionForbidden
from server.cases.models import HEALTH, Case
from server.core import audit
from server.core.audit import AuditEvent
from server.core.db import utcnow
from server.core.errors import Conflict, ValidationProblem
from server.core.validators import validate_id_number
from server.policy.settings import WIRE_INCOME_KINDS
from server.review.flags import refresh_flags
from server.review.models import CaseReturn, Comment, Correction
from server.visits.models import Visit, VisitConflict

# The audit actions of this module: each carries the form's id in `after`.
ACTIONS = ("review.start", "review.to_panel", "review.return", "review.comment", "review.correction",
           "review.conflict_resolved")
MAX_TEXT = 4000
MAX_REASONS = 20


class AlreadyDone(Exception):
    """This very form was handled before (a double submit): nothing is done again."""


class ConflictAlreadyResolved(Conflict):
    code, title = "conflict-resolved", "The conflict was already resolved"


def already_done(session: Session, case_id: uuid.UUID, form_id: str | None) -> bool:
    """Was a form with this id already handled for this case? The case's own review
    events are few, so they are read and compared here rather than searched as JSON."""
    if not form_id:
        return False
    rows = session.scalars(sa.select(AuditEvent.after).where(AuditEvent.case_id == case_id,
                                                              AuditEvent.action.in_(ACTIONS)))
    return any(isinstance(after, dict) and after.get("form_id") == form_id for after in rows)


def _guard(session: Session, case: Case, form_id: str | None) -> None:
    if already_done(session, case.id, form_id):
        raise AlreadyDone()


def _review(session: Session, case: Case, actor: User, seen_version: int | None) -> None:
    """A case whose visit has just arrived (submitted) enters review on the office's first
    decision about it: the office has looked at it (lifecycle: start_review)."""
    if case.state == "submitted":
        case_operations.move(session, case, "in_review", actor, seen_version=seen_version)


def start_review(session: Session, case: Case, actor: User, seen_version: int | None, form_id: str | None) -> None:
    _guard(session, case, form_id)
    before = case.state
    case_operations.move(session, case, "in_review", actor, seen_version=seen_version)
    audit.record(session, "review.start", "case", case.id, case_id=case.id, actor=actor,
                 before={"state": before}, after={"state": case.state, "form_id": form_id})


def send_to_panel(session: Session, case: Case, actor: User, seen_version: int | None, form_id: str | None) -> None:
    """The survey is good enough: the case goes to the evaluation panel (lifecycle: to_panel)."""
    _guard(session, case, form_id)
    before = case.state
    if case.state == "submitted":
        _review(session, case, actor, seen_version)
        seen_version = case.version
    case_operations.move(session, case, "panel", actor, seen_version=seen_version)
    audit.record(session, "review.to_panel", "case", case.id, case_id=case.id, actor=actor,
                 before={"state": before}, after={"state": case.state, "form_id": form_id})


def parse_reasons(text: str | None, chosen: list[str] | None = None) -> list[str]:
    """One reason per line, plus the flag reasons ticked; blank lines and repeats dropped."""
    out: list[str] = []
    for line in list(chosen or []) + (text or "").splitlines():
        line = line.strip()
        if line and line not in out:
            out.append(line[:500])
    return out


def return_for_revisit(session: Session, case: Case, actor: User, reasons: list[str], seen_version: int | None,
                       form_id: str | None) -> CaseReturn:
    """Back to the team for a re-visit, saying what is wrong (lifecycle: return). The open
    return's reasons reach the team's tablets at their next sync (`returned_reasons`); the
    next visit that arrives closes it."""
    _guard(session, case, form_id)
    if not reasons:
        raise ValidationProblem({"reasons": [_("Say what the investigators should check again.")]})
    if len(reasons) > MAX_REASONS:
        raise ValidationProblem({"reasons": [_("At most %(n)s reasons.", n=MAX_REASONS)]})
    before = case.state
    if case.state == "submitted":
        _review(session, case, actor, seen_version)
        seen_version = case.version
    visit = session.scalar(sa.select(Visit).where(Visit.case_id == case.id)
                           .order_by(Visit.received_at.desc(), Visit.id).limit(1))
    # The return row first, then the move: the move puts the case in the team's sync feed,
    # and the tablet must find the reasons there when it reads it.
    ret = CaseReturn(case_id=case.id, visit_id=visit.id if visit else None, reasons=reasons,
                     returned_by_id=actor.id, returned_at=utcnow())
    session.add(ret)
    case_operations.move(session, case, "returned", actor, "；".join(reasons), seen_version=seen_version)
    if visit is not None and visit.state == "in_review":
        visit.state = "returned"
    session.flush()
    audit.record(session, "review.return", "case", case.id, case_id=case.id, actor=actor,
                 before={"state": before},
                 after={"state": case.state, "reasons": reasons, "return_id": ret.id, "form_id": form_id})
    return ret


def add_comment(session: Session, case: Case, actor: User, text: str | None, form_id: str | None) -> Comment:
    _guard(session, case, form_id)
    text = (text or "").strip()
    if not text:
        raise ValidationProblem({"text": [_("Write a comment first.")]})
    if len(text) > MAX_TEXT:
        raise ValidationProblem({"text": [_("At most %(n)s characters.", n=MAX_TEXT)]})
    comment = Comment(case_id=case.id, author_id=actor.id, text=text, at=utcnow())
    session.add(comment)
    session.flush()
    audit.record(session, "review.comment", "comment", comment.id, case_id=case.id, actor=actor,
                 after={"text": text, "form_id": form_id})
    return comment


# --- corrections ---------------------------------------------------------------------

TENURES = ("owned", "rented", "other")
MEMBER_FIELDS = ("name", "id_number", "birth_date", "health", "disability_grade", "labour_ability", "work_status",
                 "class", "counted")
INCOME_FIELDS = ("kind", "monthly_amount")
ASSET_FIELDS = ("value", "count", "disqualifying")
VISIT_FIELDS = ("housing.tenure", "housing.area_m2", "housing.condition", "conclusion", "notes")
_VISIT_ATTR = {"housing.tenure": "housing_tenure", "housing.area_m2": "housing_area_m2",
               "housing.condition": "housing_condition", "conclusion": "conclusion", "notes": "notes"}
_MEMBER_ATTR = {"class": "klass"}


@dataclass
class Target:
    """A correctable field of a visit: its wire-style path, the row and attribute."""

    path: str
    row: object
    attr: str
    kind: str  # text, decimal, date, int, bool, choice
    choices: tuple = ()


def _kind(field: str) -> tuple[str, tuple]:
    return {
        "housing.tenure": ("choice", TENURES), "housing.area_m2": ("decimal", ()), "birth_date": ("date", ()),
        "health": ("choice", HEALTH), "disability_grade": ("int", (1, 4)), "class": ("choice", ("A", "B")),
        "counted": ("bool", ()), "kind": ("choice", WIRE_INCOME_KINDS), "monthly_amount": ("decimal", ()),
        "value": ("decimal", ()), "count": ("int", (0, 1000)), "disqualifying": ("bool", ()),
        "id_number": ("id_number", ()),
    }.get(field, ("text", ()))


def correctable_fields(visit: Visit) -> list[Target]:
    """Every field of `visit` the office may correct, in the order the case file shows them."""
    out = []
    for path in VISIT_FIELDS:
        kind, choices = _kind(path)
        out.append(Target(path, visit, _VISIT_ATTR[path], kind, choices))
    for m in sorted(visit.members, key=lambda m: m.position):
        for f in MEMBER_FIELDS:
            kind, choices = _kind(f)
            out.append(Target(f"members.{m.position}.{f}", m, _MEMBER_ATTR.get(f, f), kind, choices))
    for i, item in enumerate(sorted(visit.income, key=lambda x: x.id)):
        for f in INCOME_FIELDS:
            kind, choices = _kind(f)
            out.append(Target(f"income.{i}.{f}", item, f, kind, choices))
    for a in sorted(visit.assets, key=lambda a: (a.position, a.id)):
        for f in ASSET_FIELDS:
            kind, choices = _kind(f)
            out.append(Target(f"assets.{a.position}.{f}", a, f, kind, choices))
    return out


def shown(value) -> str | None:
    """A stored value as the correction records and the form shows it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _parse(target: Target, text: str):
    text = (text or "").strip()
    k = target.kind
    if text == "":
        if k in ("text",) and target.attr in ("conclusion", "notes", "labour_ability", "work_status",
                                              "housing_condition"):
            return "" if target.attr in ("conclusion", "notes") else None
        if k in ("choice", "int", "decimal") and target.attr in ("housing_tenure", "klass", "disability_grade",
                                                                  "health", "value", "housing_area_m2"):
            return None
        raise ValueError(_("Enter the corrected value."))
    if k == "text":
        if len(text) > (MAX_TEXT if target.attr in ("conclusion", "notes") else 100):
            raise ValueError(_("Too long."))
        return text
    if k == "id_number":
        try:
            validate_id_number(text.upper())
        except Exception:  # noqa: BLE001 - the validator's own error type is marshmallow's
            raise ValueError(_("Not a valid national ID number.")) from None
        return text.upper()
    if k == "choice":
        if text not in target.choices:
            raise ValueError(_("Choose one of: %(choices)s", choices=", ".join(target.choices)))
        return text
    if k == "decimal":
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("Enter an amount such as 620.00.")) from None
        if not value.is_finite() or value < 0 or value >= Decimal("1e11"):
            raise ValueError(_("Enter an amount such as 620.00."))
        return value.quantize(Decimal("0.01"))
    if k == "int":
        lo, hi = target.choices
        if not text.isdigit() or not lo <= int(text) <= hi:
            raise ValueError(_("Enter a whole number from %(lo)s to %(hi)s.", lo=lo, hi=hi))
        return int(text)
    if k == "bool":
        if text not in ("true", "false"):
            raise ValueError(_("Choose yes or no."))
        return text == "true"
    if k == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None
    raise ValueError(text)


def correct_field(session: Session, case: Case, visit: Visit, actor: User, field: str | None, value: str | None,
                  reason: str | None, form_id: str | None) -> Correction:
    """Correct one field of a visit's findings, with a reason: the row changes, the
    submitted body stays as evidence, and the correction (who, what, before, after) is
    kept and audited. The flags are computed again on the corrected findings."""
    _guard(session, case, form_id)
    errors: dict[str, list[str]] = {}
    targets = {t.path: t for t in correctable_fields(visit)}
    target = targets.get(field or "")
    if target is None:
        errors["field"] = [_("Choose the field to correct.")]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why the field is corrected.")]
    elif len(reason) > MAX_TEXT:
        errors["reason"] = [_("At most %(n)s characters.", n=MAX_TEXT)]
    new = None
    if target is not None:
        try:
            new = _parse(target, value or "")
        except ValueError as exc:
            errors["value"] = [str(exc)]
    if errors:
        raise ValidationProblem(errors)
    old = getattr(target.row, target.attr)
    if shown(old) == shown(new):
        raise ValidationProblem({"value": [_("That is the value already recorded.")]})
    setattr(target.row, target.attr, new)
    if target.attr == "kind":  # M21 Art 13: whether income counts follows its kind
        target.row.counted = new in counted_income_kinds(session, case)
    row = Correction(visit_id=visit.id, field=target.path, before={"value": shown(old)}, after={"value": shown(new)},
                     reason=reason, by_id=actor.id, at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session, "review.correction", "visit", visit.id, case_id=case.id, actor=actor,
                 before={"field": target.path, "value": shown(old)},
                 after={"field": target.path, "value": shown(new), "reason": reason, "correction_id": row.id,
                        "form_id": form_id})
    refresh_flags(session, visit)
    return row


# --- conflicts -----------------------------------------------------------------------


def resolve_conflict(session: Session, case: Case, conflict: VisitConflict, actor: User, choices: dict[str, str],
                     form_id: str | None) -> str:
    """Settle a visit sent twice with different bodies: for each part that differs the
    office chose the stored or the received version. The visit becomes the chosen body
    (its parts rebuilt, its flags computed again); both bodies stay on record. Returns the
    resolution: kept_stored, took_new or merged."""
    from server.review.queries import conflict_sections
    from server.visits.models import (
        Asset, Expenditure, IncomeItem, Signature, Testimony, VisitInvestigator, VisitMember, VisitPhoto,
    )
    from server.visits.schemas import VISIT_IN, body_hash, canonical_body

    _guard(session, case, form_id)
    if conflict.resolved_at is not None:
        raise ConflictAlreadyResolved(_("This conflict was already resolved."))
    visit = session.get(Visit, conflict.visit_id)
    stored, received = visit.body, conflict.body
    sections = conflict_sections(stored, received)
    missing = {f"choice.{s}": [_("Choose a version.")] for s in sections if choices.get(s) not in ("stored", "received")}
    if missing:
        raise ValidationProblem(missing)
    merged = {}
    for key in list(stored) + [k for k in received if k not in stored]:
        source = received if choices.get(key) == "received" else stored
        if key in source:
            merged[key] = source[key]
    picked = {choices[s] for s in sections}
    resolution = "kept_stored" if picked <= {"stored"} else "took_new" if picked == {"received"} else "merged"
    if merged.get("case_id") != stored.get("case_id"):
        raise ValidationProblem({"choice.case_id": [_("A visit cannot move to another case.")]})

    before_hash = visit.body_hash
    if resolution != "kept_stored":
        try:
            data = VISIT_IN.load(merged)
        except Exception as exc:  # noqa: BLE001 - marshmallow's ValidationError
            messages = getattr(exc, "messages", {"_schema": [str(exc)]})
            raise ValidationProblem({f"choice.{k}": [_("The combination is not a valid visit.")]
                                     for k in (messages if isinstance(messages, dict) else {"_schema": 1})}) from None
        body = canonical_body(data)
        names = data["investigators"]
        ids = dict(session.execute(sa.select(User.username, User.id).where(User.username.in_(names))).all())
        if any(n not in ids for n in names):
            raise ValidationProblem({"choice.investigators": [_("An investigator of this version is unknown.")]})
        for model in (VisitInvestigator, VisitMember, IncomeItem, Expenditure, Asset, Testimony, VisitPhoto, Signature):
            session.execute(sa.delete(model).where(model.visit_id == visit.id),
                            execution_options={"synchronize_session": "fetch"})
        session.expire(visit)
        _apply_body(session, case, visit, data, body, [ids[n] for n in names])
        session.flush()
        session.expire(visit)
    conflict.resolved_at = utcnow()
    conflict.resolved_by_id = actor.id
    conflict.resolution = resolution
    session.flush()
    audit.record(session, "review.conflict_resolved", "visit", visit.id, case_id=case.id, actor=actor,
                 before={"body_hash": before_hash, "conflict_id": conflict.id},
                 after={"body_hash": visit.body_hash, "resolution": resolution,
                        "choices": {s: choices[s] for s in sections}, "form_id": form_id})
    if resolution != "kept_stored":
        refresh_flags(session, visit)
    return resolution


def counted_income_kinds(session: Session, case: Case) -> frozenset[str]:
    """M21 Art 13: the income kinds that count, by the policy in force for the case today."""
    from server.cases.lifecycle import local_today
    from server.policy.queries import version_in_force
    from server.policy.settings import DEFAULT_SETTINGS

    version = version_in_force(session, case.community, local_today())
    settings = version.settings if version is not None else DEFAULT_SETTINGS
    return frozenset(settings.get("counted_income_kinds", DEFAULT_SETTINGS["counted_income_kinds"]))


def _accuracy(point: dict | None) -> Decimal | None:
    if not point or point.get("accuracy_m") is None:
        return None
    return Decimal(str(point["accuracy_m"])).quantize(Decimal("0.1"))


def _apply_body(session: Session, case: Case, visit: Visit, data: dict, body: dict, user_ids: list[int]) -> None:
    """The visit's header and parts made anew from a parsed body (as a tablet's PUT makes them)."""
    from server.core.db import point_wkt
    from server.visits.models import (
        Asset, Expenditure, IncomeItem, Signature, Testimony, VisitInvestigator, VisitMember, VisitPhoto,
    )

    def point(p):
        return point_wkt(p["lat"], p["lon"]) if p else None

    location, housing = data.get("location"), data.get("housing") or {}
    visit.kind = data["kind"]
    visit.started_at, visit.ended_at = data["started_at"], data["ended_at"]
    visit.location, visit.location_accuracy_m = point(location), _accuracy(location)
    visit.device_id = data.get("device_id")
    visit.housing_tenure, visit.housing_area_m2 = housing.get("tenure"), housing.get("area_m2")
    visit.housing_condition = housing.get("condition")
    visit.conclusion, visit.notes = data.get("conclusion") or "", data.get("notes") or ""
    visit.body, visit.body_hash = body, body_hash_of(body)
    counted = counted_income_kinds(session, case)
    vid = visit.id
    session.add_all([VisitInvestigator(visit_id=vid, user_id=uid) for uid in user_ids])
    session.add_all([VisitMember(
        visit_id=vid, position=i, name=m["name"], id_number=m.get("id_number"), relation=m.get("relation"),
        sex=m.get("sex"), birth_date=m.get("birth_date"), hukou_type=m.get("hukou_type"),
        education=m.get("education"), health=m.get("health"), disability_grade=m.get("disability_grade"),
        labour_ability=m.get("labour_ability"), work_status=m.get("work_status"), student=bool(m.get("student")),
        special_identity=m.get("special_identity"), klass=m.get("klass"), counted=m.get("counted", True))
        for i, m in enumerate(data["members"])])
    session.add_all([IncomeItem(visit_id=vid, member_position=x.get("member"), kind=x["kind"],
                                monthly_amount=x["monthly_amount"], counted=x["kind"] in counted)
                     for x in data["income"]])
    session.add_all([Expenditure(visit_id=vid, kind=x["kind"], monthly_amount=x["monthly_amount"])
                     for x in data["expenditure"]])
    session.add_all([Asset(visit_id=vid, position=i, category=a["category"], description=a.get("description") or "",
                           value=a.get("value"), count=a.get("count", 1), disqualifying=a.get("disqualifying", False),
                           disability_mobility=a.get("disability_mobility", False),
                           photo_hashes=list(a.get("photos") or [])) for i, a in enumerate(data["assets"])])
    session.add_all([Testimony(visit_id=vid, witness_name=t["witness_name"], role=t["role"], contact=t.get("contact"),
                               answers=body["testimonies"][i]["answers"],
                               matches_declaration=(t.get("answers") or {}).get("matches_declaration"),
                               statement=t.get("statement") or "", location=point(t.get("location")),
                               location_accuracy_m=_accuracy(t.get("location")), at=t.get("at"),
                               signature_sha256=t.get("signature")) for i, t in enumerate(data["testimonies"])])
    session.add_all([VisitPhoto(visit_id=vid, sha256=p["sha256"], kind=p["kind"], taken_at=p.get("taken_at"),
                                location=point(p.get("location")), location_accuracy_m=_accuracy(p.get("location")))
                     for p in data["photos"]])
    session.add_all([Signature(visit_id=vid, role=x["role"], name=x["name"], image_sha256=x["image"])
                     for x in data["signatures"]])


def body_hash_of(body: dict) -> str:
    from server.visits.schemas import body_hash

    return body_hash(body)


# --- bulk ----------------------------------------------------------------------------

BULK_ACTIONS = {"start_review": _l("Start review"), "to_panel": _l("Send to the panel"),
                "return": _l("Return for a re-visit")}


@dataclass
class BulkResult:
    case: Case
    ok: bool
    message: str = ""


def bulk(session: Session, items: list[tuple[Case, int]], action: str, actor: User, reasons: list[str],
         form_id: str | None) -> list[BulkResult]:
    """One action on each case of a selection, each with the version the queue showed: a
    case that moved on since, or that the action does not fit, is skipped and said so;
    the others are done. Each case's form id is the bulk form's, so a resend skips them."""
    if action not in BULK_ACTIONS:
        raise ValidationProblem({"action": [_("Choose an action.")]})
    if action == "return" and not reasons:
        raise ValidationProblem({"reasons": [_("Say what the investigators should check again.")]})
    out = []
    for case, version in items:
        try:
            with session.begin_nested():
                if action == "start_review":
                    start_review(session, case, actor, version, form_id)
                elif action == "to_panel":
                    send_to_panel(session, case, actor, version, form_id)
                else:
                    return_for_revisit(session, case, actor, reasons, version, form_id)
            out.append(BulkResult(case, True))
        except AlreadyDone:
            out.append(BulkResult(case, False, _("already done")))
        except case_operations.StaleCase:
            session.refresh(case)
            out.append(BulkResult(case, False, _("changed since the queue was shown")))
        except (IllegalTransition, TransitionForbidden):
            session.refresh(case)
            out.append(BulkResult(case, False, _("this action does not fit its state")))
    return out
