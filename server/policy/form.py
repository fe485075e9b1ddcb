"""The policy version form: every setting of the policy document as a form field, read
back into a document with a clear message per field (what was typed is kept)."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server.policy.settings import (
    DISABILITY_GRADES, ROUNDING_MODES, WIRE_INCOME_KINDS, PolicySettings, PolicySettingsError,
)

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_INTEGER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Field:
    path: str  # dotted path in the policy document; also the form field's name
    kind: str  # money, percent, int, ratio, factor, quantum, bool, mode, list, grades
    label: object
    nullable: bool = False  # empty switches the rule off
    low: int = 0
    high: int | None = None


def _f(path, kind, label, **kw) -> Field:
    return Field(path, kind, label, **kw)


SECTIONS: list[tuple[object, list[Field]]] = [
    (_l("Standard and top-ups"), [
        _f("monthly_standard", "money", _l("Monthly standard per person (yuan)")),
        _f("single_person_increment", "money", _l("Single-person household increment (yuan)")),
        _f("class_topup_percent.A", "percent", _l("Class A top-up (per cent of the standard)")),
        _f("class_topup_percent.B", "percent", _l("Class B top-up (per cent of the standard)")),
        _f("hardship_amounts.elderly", "money", _l("Elderly top-up (yuan)")),
        _f("hardship_amounts.severe_disability", "money", _l("Severe disability top-up (yuan)")),
        _f("hardship_amounts.serious_illness", "money", _l("Serious illness top-up (yuan)")),
        _f("hardship_amounts.student", "money", _l("Student top-up (yuan)")),
        _f("hardship_amounts.single_parent", "money", _l("Single-parent top-up (yuan)")),
        _f("elderly_age", "int", _l("Elderly from age"), high=150),
        _f("severe_disability_grades", "grades", _l("Severe disability grades")),
    ]),
    (_l("Income"), [
        _f("income_kinds", "income_kinds", _l("Income kinds counted")),
        _f("deduct_rigid_expenditure", "bool", _l("Deduct rigid medical and disability costs from income")),
        _f("rigid_expenditure_kinds", "list", _l("Expenditure kinds that are rigid (comma-separated)")),
    ]),
    (_l("Asset disqualifiers"), [
        _f("disqualifiers.vehicle_value_limit", "money", _l("Vehicle value limit (yuan; empty: no limit)"),
           nullable=True),
        _f("disqualifiers.max_homes", "int", _l("Most homes allowed (empty: no limit)"), nullable=True),
        _f("disqualifiers.business_registration", "bool", _l("A registered business disqualifies")),
        _f("disqualifiers.financial_assets_months", "int",
           _l("Financial assets per person above this many months of the standard disqualify (empty: no limit)"),
           nullable=True),
        _f("disqualifiers.luxury_goods", "bool", _l("High-end goods disqualify")),
    ]),
    (_l("Near-dibao, rounding and funding"), [
        _f("near_dibao_factor", "factor", _l("Near-dibao below this many times the standard")),
        _f("rounding.quantum", "quantum", _l("Round the allowance to (yuan)")),
        _f("rounding.mode", "mode", _l("Rounding")),
        _f("funding_split.*", "percent", _l("Funding share (%)")),
    ]),
    (_l("Quality flags"), [
        _f("flags.gps_distance_m", "int", _l("Visit farther than this from the registered address (m)")),
        _f("flags.gps_accuracy_m", "int", _l("GPS accuracy worse than (m)")),
        _f("flags.min_visit_minutes", "int", _l("Visit shorter than (minutes)")),
        _f("flags.min_investigators", "int", _l("Fewest investigators"), low=1),
        _f("flags.min_testimonies", "int", _l("Fewest testimonies")),
        _f("flags.required_photo_kinds", "list", _l("Required photo kinds (comma-separated)")),
        _f("flags.photo_time_margin_minutes", "int", _l("Photo time may fall outside the visit by (minutes)"),
           high=1440),
        _f("flags.duplicate_photo_max_distance", "int", _l("Duplicate photo: at most this many bits apart"),
           high=7),
    ]),
    (_l("Deadlines and schedules"), [
        _f("deadlines.investigation_start_wd", "int", _l("Investigation starts within (working days)"), low=1),
        _f("deadlines.county_decision_wd", "int", _l("County decides within (working days)"), low=1),
        _f("deadlines.case_total_wd", "int", _l("Whole case within (working days)"), low=1),
        _f("deadlines.case_total_special_wd", "int", _l("Special case within (working days)"), low=1),
        _f("recheck_months.stable", "int", _l("Re-check stable households every (months)"), low=1),
        _f("recheck_months.unstable", "int", _l("Re-check unstable households every (months)"), low=1),
        _f("publicity_days", "int", _l("Public notice lasts (days)"), low=1),
        _f("mask_names", "bool", _l("Mask names on the public notice")),
    ]),
    (_l("Evaluation panel"), [
        _f("panel.attendance_ratio", "ratio", _l("Attendance at least (share of members, 0–1)")),
        _f("panel.residents_ratio", "ratio", _l("Residents' representatives at least (share present, 0–1)")),
        _f("panel.pass_ratio", "ratio", _l("Passes with at least (share present, 0–1)")),
        _f("panel.criteria.*", "int", _l("Criterion weight (points)"), high=100),
    ]),
    (_l("Photos"), [
        _f("photo_limits.max_bytes", "int", _l("Largest photo (bytes)"), low=1),
        _f("photo_limits.max_pixels", "int", _l("Largest photo (pixels)"), low=1),
    ]),
]

MODE_LABELS = {"half_up": _l("half up"), "half_even": _l("half to even"), "down": _l("down"), "up": _l("up")}
CRITERIA_LABELS = {"need": _l("need"), "housing": _l("housing"), "health": _l("health"), "labour": _l("labour"),
                   "testimony": _l("testimony")}
SHARE_LABELS = {"municipal": _l("municipal"), "district": _l("district"), "county": _l("county"),
                "province": _l("province")}
INCOME_KIND_LABELS = {
    "wage": _l("Wages"), "business": _l("Net business income"), "property": _l("Net property income"),
    "maintenance": _l("Maintenance received"), "pension": _l("Pension"), "unemployment": _l("Unemployment benefit"),
    "other": _l("Other income"), "special_care": _l("Special-care pension"),
    "family_planning_award": _l("Family-planning award"), "scholarship": _l("Scholarship"),
    "heroism_reward": _l("Heroism reward"), "government_assistance": _l("Government assistance"),
}


def _get(doc: dict, path: str):
    node = doc
    for part in path.split("."):
        node = node[part]
    return node


def _set(doc: dict, path: str, value) -> None:
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def expand(base: dict) -> list[tuple[object, list[tuple[Field, str, object]]]]:
    """The sections with concrete fields: (field, name, label) — open maps (funding shares,
    panel criteria) become one field per key of the base document."""
    out = []
    for title, fields in SECTIONS:
        rows = []
        for f in fields:
            if f.path.endswith(".*"):
                parent = f.path[:-2]
                names = CRITERIA_LABELS if parent == "panel.criteria" else SHARE_LABELS
                for key in _get(base, parent):
                    label = f"{f.label}: {names[key] if key in names else key}"
                    rows.append((f, f"{parent}.{key}", label))
            elif f.kind == "income_kinds":
                for kind in WIRE_INCOME_KINDS:
                    rows.append((f, f"income.{kind}", INCOME_KIND_LABELS[kind]))
            else:
                rows.append((f, f.path, f.label))
        out.append((title, rows))
    return out


def values_from(doc: dict) -> dict[str, str]:
    """The form's text for each field, from a policy document."""
    values: dict[str, str] = {}
    for _title, rows in expand(doc):
        for f, name, _label in rows:
            if f.kind == "income_kinds":
                kind = name.split(".", 1)[1]
                values[name] = "counted" if kind in doc["counted_income_kinds"] else "excluded"
                continue
            value = _get(doc, name)
            if f.kind == "bool":
                values[name] = "on" if value else ""
            elif f.kind in ("list", "grades"):
                values[name] = ", ".join(str(v) for v in value)
            else:
                values[name] = "" if value is None else str(value)
    return values


def values_from_form(base: dict, form) -> dict[str, str]:
    values = {}
    for _title, rows in expand(base):
        for f, name, _label in rows:
            values[name] = "on" if (f.kind == "bool" and form.get(name)) else (form.get(name, "") or "").strip()
    return values


def document(base: dict, values: dict[str, str]) -> tuple[dict | None, dict[str, str]]:
    """The policy document the form describes, or None and a message per field name."""
    doc = copy.deepcopy(base)
    errors: dict[str, str] = {}
    counted, excluded = [], []
    for _title, rows in expand(base):
        for f, name, _label in rows:
            raw = values.get(name, "")
            if f.kind == "income_kinds":
                kind = name.split(".", 1)[1]
                (counted if raw == "counted" else excluded).append(kind)
                continue
            value, message = _parse(f, raw)
            if message:
                errors[name] = message
            else:
                _set(doc, name, value)
    doc["counted_income_kinds"], doc["excluded_income_kinds"] = counted, excluded
    if errors:
        return None, errors
    for parent, what in (("funding_split", _("The funding shares must add up to 100.")),
                         ("panel.criteria", _("The criterion weights must add up to 100."))):
        shares = _get(doc, parent)
        if sum(Decimal(str(v)) for v in shares.values()) != 100:
            errors[f"{parent}.{next(iter(shares))}"] = what
    if errors:
        return None, errors
    try:
        PolicySettings.from_dict(doc)
    except PolicySettingsError as exc:  # anything the field checks above did not catch
        for path, messages in exc.errors.items():
            errors[path if path in values else next(iter(values))] = "; ".join(messages)
        return None, errors
    return doc, {}


def _parse(f: Field, raw: str):
    if f.kind == "bool":
        return raw == "on", None
    if raw == "" and f.nullable:
        return None, None
    if f.kind in ("money", "percent", "ratio", "factor", "quantum"):
        text = raw.replace(",", "").replace("，", "")
        if text.startswith("-"):
            return None, _("Must not be negative.")
        if not _NUMBER.match(text):
            return None, _("Enter a number such as 1100.00.")
        try:
            d = Decimal(text)
        except InvalidOperation:
            return None, _("Enter a number such as 1100.00.")
        if f.kind == "money":
            if d.as_tuple().exponent < -2:
                return None, _("At most two decimal places.")
            return format(d.quantize(Decimal("0.01")), "f"), None
        if f.kind == "percent" and d > 100:
            return None, _("A percentage is between 0 and 100.")
        if f.kind == "ratio" and not (0 < d <= 1):
            return None, _("A share is more than 0 and at most 1.")
        if f.kind == "factor" and d < 1:
            return None, _("Must be at least 1.")
        if f.kind == "quantum" and d <= 0:
            return None, _("Must be more than 0.")
        return text, None
    if f.kind == "int":
        if raw.startswith("-"):
            return None, _("Must not be negative.")
        if not _INTEGER.match(raw):
            return None, _("Enter a whole number.")
        n = int(raw)
        if n < f.low:
            return None, _("Must be at least %(n)s.", n=f.low)
        if f.high is not None and n > f.high:
            return None, _("Must be at most %(n)s.", n=f.high)
        return n, None
    if f.kind == "mode":
        if raw not in ROUNDING_MODES:
            return None, _("Choose a rounding.")
        return raw, None
    if f.kind == "grades":
        parts = [p for p in re.split(r"[,，\s]+", raw) if p]
        if not all(p.isdigit() and int(p) in DISABILITY_GRADES for p in parts):
            return None, _("Grades are 1 to 4, separated by commas.")
        grades = sorted({int(p) for p in parts})
        return grades, None
    if f.kind == "list":
        parts = [p for p in re.split(r"[,，\s]+", raw) if p]
        return list(dict.fromkeys(parts)), None
    raise ValueError(f.kind)


def changed(before: dict, after: dict, prefix: str = "") -> dict[str, tuple]:
    """Setting path -> (before, after), for what a new version changes."""
    out: dict[str, tuple] = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(changed(a, b, path + "."))
        elif a != b:
            out[path] = (a, b)
    return out
