"""The intake form: what the office types at the counter, parsed and checked field by field.

A plain parser rather than a form library: member, income and asset rows are added and
removed in the browser (htmx), so their indices have gaps, and every error must land next
to the field it is about with everything typed kept. `IntakeForm` holds the raw values for
the re-render and, when valid, `data` for operations.register_application.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server.core.validators import parse_id_number
from server.policy.engine import ASSET_CATEGORIES
from server.policy.settings import WIRE_INCOME_KINDS

RELATIONS = ("self", "spouse", "child", "parent", "sibling", "grandparent", "grandchild", "other")
HEALTH = ("healthy", "chronic", "serious_illness")
HUKOU = ("urban", "rural")
ATTACHMENT_KINDS = ("id_card", "hukou_book", "income_proof", "medical", "disability", "other")
ATTACHMENT_TYPES = {"application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic"}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ROWS = 30
MAX_MONEY = Decimal("100000000")

# Labels shown in selects; the values are the stored codes.
LABELS = {
    "relation": {"self": _l("Applicant"), "spouse": _l("Spouse"), "child": _l("Child"), "parent": _l("Parent"),
                 "sibling": _l("Sibling"), "grandparent": _l("Grandparent"), "grandchild": _l("Grandchild"),
                 "other": _l("Other relative")},
    "health": {"healthy": _l("Healthy"), "chronic": _l("Chronic illness"), "serious_illness": _l("Serious illness")},
    "hukou": {"urban": _l("Non-agricultural"), "rural": _l("Agricultural")},
    "income_kind": {"wage": _l("Wages"), "business": _l("Business (net)"), "property": _l("Property or rent (net)"),
                    "maintenance": _l("Maintenance received"), "pension": _l("Pension"),
                    "unemployment": _l("Unemployment benefit"), "other": _l("Other income"),
                    "special_care": _l("Special-care pension"), "family_planning_award": _l("Family-planning award"),
                    "scholarship": _l("Scholarship"), "heroism_reward": _l("Heroism reward"),
                    "government_assistance": _l("Government assistance")},
    "asset_category": {"vehicle": _l("Vehicle"), "home": _l("Home"), "business": _l("Business"),
                       "financial": _l("Savings and investments"), "luxury": _l("High-end goods"),
                       "other": _l("Other asset")},
    "attachment_kind": {"id_card": _l("ID card"), "hukou_book": _l("Hukou book"),
                        "income_proof": _l("Proof of income"), "medical": _l("Medical records"),
                        "disability": _l("Disability certificate"), "other": _l("Other document")},
}

_ROW = re.compile(r"^(m|inc|as|kept)-(\d{1,4})-([a-z_0-9]+)$")


def id_number_error(value: str) -> str | None:
    """The GB 11643 check, in the user's language."""
    try:
        parse_id_number(value)
    except ValueError as exc:
        text = str(exc)
        if "17 digits" in text:
            return _("An ID number has 17 digits and a final digit or X.")
        if "not a real date" in text:
            return _("The birth date inside the ID number is not a real date.")
        if "out of range" in text:
            return _("The birth date inside the ID number is out of range.")
        return _("The check digit of the ID number is wrong (GB 11643).")
    return None


@dataclass
class IntakeForm:
    values: dict[str, str] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)
    income: list[int] = field(default_factory=list)
    assets: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    @classmethod
    def blank(cls) -> IntakeForm:
        return cls(values={"case_id": str(uuid.uuid4()), "m-0-relation": "self"}, members=[0], income=[0], assets=[0])

    @classmethod
    def from_request(cls, form) -> IntakeForm:
        values = {k: v.strip() if isinstance(v, str) else v for k, v in form.items()}
        rows: dict[str, set[int]] = {"m": set(), "inc": set(), "as": set(), "kept": set()}
        for key in values:
            m = _ROW.match(key)
            if m:
                rows[m.group(1)].add(int(m.group(2)))
        out = cls(values=values, members=sorted(rows["m"]), income=sorted(rows["inc"]), assets=sorted(rows["as"]),
                  kept=sorted(rows["kept"]))
        return out

    def v(self, name: str) -> str:
        return self.values.get(name, "") or ""

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def next_index(self, kind: str) -> int:
        taken = {"m": self.members, "inc": self.income, "as": self.assets}[kind]
        return max(taken, default=-1) + 1

    # --- row editing without JavaScript: the same form, one row more or less ---------------

    def add_row(self, kind: str) -> None:
        rows = {"m": self.members, "inc": self.income, "as": self.assets}[kind]
        if len(rows) < MAX_ROWS:
            rows.append(self.next_index(kind))

    def remove_row(self, kind: str, index: int) -> None:
        rows = {"m": self.members, "inc": self.income, "as": self.assets}[kind]
        if index in rows:
            rows.remove(index)
            prefix = f"{kind}-{index}-"
            self.values = {k: v for k, v in self.values.items() if not k.startswith(prefix)}

    # --- checking ----------------------------------------------------------------------------

    def validate(self) -> bool:
        """Check every field; errors found earlier (an uploaded file refused) are kept."""
        data: dict = {}
        try:
            data["case_id"] = uuid.UUID(self.v("case_id"))
        except ValueError:
            self.values["case_id"] = str(uuid.uuid4())
            self.error("_form", _("The form was damaged; check it and send it again."))
        data["address"] = self._text("address", 300, required=True)
        data["phone"] = self._text("phone", 32)
        if data["phone"] and not re.fullmatch(r"[0-9+\- ]{5,32}", data["phone"]):
            self.error("phone", _("A phone number has digits only."))
        data["reason"] = self._text("reason", 2000, required=True)
        data["special"] = self.v("special") in ("1", "on", "true", "y")
        data["lat"], data["lon"] = self._point()
        data["members"] = self._members()
        count = len(data["members"])
        data["income"] = self._income(count)
        data["assets"] = self._assets()
        data["attachments"] = self._kept()
        self.data = data
        return not self.errors

    def _text(self, name: str, max_len: int, required: bool = False) -> str:
        value = self.v(name)
        if required and not value:
            self.error(name, _("This field is required."))
        elif len(value) > max_len:
            self.error(name, _("At most %(n)s characters.", n=max_len))
        return value

    def _point(self) -> tuple[float | None, float | None]:
        lat_s, lon_s = self.v("lat"), self.v("lon")
        if not lat_s and not lon_s:
            self.error("lat", _("Pick the home on the map, or type its latitude and longitude."))
            return None, None
        try:
            lat = float(lat_s)
            if not -90 <= lat <= 90:
                raise ValueError
        except ValueError:
            self.error("lat", _("A latitude is a number between -90 and 90."))
            lat = None
        try:
            lon = float(lon_s)
            if not -180 <= lon <= 180:
                raise ValueError
        except ValueError:
            self.error("lon", _("A longitude is a number between -180 and 180."))
            lon = None
        return lat, lon

    def _members(self) -> list[dict]:
        out, seen = [], {}
        for i in self.members:
            p = f"m-{i}-"
            name, number = self.v(p + "name"), self.v(p + "id_number").upper()
            relation, health, hukou = self.v(p + "relation"), self.v(p + "health"), self.v(p + "hukou_type")
            if not name and not number and len(self.members) > 1 and relation != "self":
                continue  # an empty extra row is ignored
            row = {"index": i, "name": name, "id_number": number, "relation": relation,
                   "health": health or None, "hukou_type": hukou or None}
            if not name:
                self.error(p + "name", _("This field is required."))
            elif len(name) > 100:
                self.error(p + "name", _("At most %(n)s characters.", n=100))
            if not number:
                self.error(p + "id_number", _("This field is required."))
            else:
                problem = id_number_error(number)
                if problem:
                    self.error(p + "id_number", problem)
                elif number in seen:
                    self.error(p + "id_number", _("The same ID number is entered twice in this household."))
                else:
                    seen[number] = i
                    row["birth_date"], row["sex"] = parse_id_number(number)
            if relation not in RELATIONS:
                self.error(p + "relation", _("Choose how this person is related to the applicant."))
            if health and health not in HEALTH:
                self.error(p + "health", _("Choose a value from the list."))
            if hukou and hukou not in HUKOU:
                self.error(p + "hukou_type", _("Choose a value from the list."))
            out.append(row)
        if not out:
            self.error("members", _("Enter at least the applicant."))
        applicants = [r for r in out if r["relation"] == "self"]
        if out and len(applicants) != 1:
            self.error("members", _("Exactly one member is the applicant."))
        return out

    def _money(self, name: str, required: bool = True) -> Decimal | None:
        raw = self.v(name).replace(",", "")
        if not raw:
            if required:
                self.error(name, _("This field is required."))
            return None
        try:
            value = Decimal(raw)
            if not value.is_finite() or value < 0 or value >= MAX_MONEY or value != value.quantize(Decimal("0.01")):
                raise InvalidOperation
        except InvalidOperation:
            self.error(name, _("An amount in yuan, like 1200 or 1200.50."))
            return None
        return value.quantize(Decimal("0.01"))

    def _income(self, members: int) -> list[dict]:
        out = []
        for i in self.income:
            p = f"inc-{i}-"
            kind, member = self.v(p + "kind"), self.v(p + "member")
            if not self.v(p + "amount") and not kind:
                continue
            if kind not in WIRE_INCOME_KINDS:
                self.error(p + "kind", _("Choose a value from the list."))
            amount = self._money(p + "amount")
            row = {"kind": kind, "monthly_amount": amount, "member": None}
            if member:
                if not member.isdigit() or not 1 <= int(member) <= members:
                    self.error(p + "member", _("The number of a member listed above (1 to %(n)s).", n=members))
                else:
                    row["member"] = int(member) - 1
            out.append(row)
        return out

    def _assets(self) -> list[dict]:
        out = []
        for i in self.assets:
            p = f"as-{i}-"
            category, description = self.v(p + "category"), self.v(p + "description")
            if not category and not description and not self.v(p + "value"):
                continue
            if category not in ASSET_CATEGORIES:
                self.error(p + "category", _("Choose a value from the list."))
            if len(description) > 300:
                self.error(p + "description", _("At most %(n)s characters.", n=300))
            value = self._money(p + "value")
            count_s = self.v(p + "count") or "1"
            if not count_s.isdigit() or not 1 <= int(count_s) <= 999:
                self.error(p + "count", _("A whole number from 1 to 999."))
                count = 1
            else:
                count = int(count_s)
            out.append({"category": category, "description": description, "value": value, "count": count})
        return out

    def _kept(self) -> list[dict]:
        """Files already stored by an earlier send of this form: the browser cannot re-send them."""
        out = []
        for i in self.kept:
            p = f"kept-{i}-"
            sha = self.v(p + "sha256").lower()
            if not re.fullmatch(r"[0-9a-f]{64}", sha):
                continue
            kind = self.v(p + "kind")
            out.append({"sha256": sha, "filename": self.v(p + "filename")[:200] or sha[:12],
                        "content_type": self.v(p + "content_type")[:100],
                        "kind": kind if kind in ATTACHMENT_KINDS else "other"})
        return out

    def keep_file(self, sha256: str, filename: str, content_type: str, kind: str) -> None:
        """Carry an uploaded file on through a re-rendered form (hidden fields)."""
        i = max(self.kept, default=-1) + 1
        self.kept.append(i)
        self.values.update({f"kept-{i}-sha256": sha256, f"kept-{i}-filename": filename,
                            f"kept-{i}-content_type": content_type, f"kept-{i}-kind": kind})


def birth_and_sex(id_number: str) -> tuple[dt.date, str] | None:
    try:
        return parse_id_number(id_number)
    except ValueError:
        return None
