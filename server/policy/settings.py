"""The policy document: every number the rules use, as data (STYLE habit 8).

A jurisdiction's policy is a JSON document (money and percentages as decimal strings, the
wire convention). `PolicySettings.from_dict` checks it strictly and turns it into frozen,
typed values (money and percentages as `Decimal`, never float); `to_dict` gives the same
document back, so a stored `PolicyVersion` survives a round trip unchanged.

Pure: no Flask, no database.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

# DESIGN "Money" and the seed documents: the defaults of a new jurisdiction.
DEFAULT_SETTINGS: dict = {
    "monthly_standard": "1100.00",
    "single_person_increment": "15.00",
    "class_topup_percent": {"A": "30", "B": "20"},
    "hardship_amounts": {
        "elderly": "50.00",
        "severe_disability": "100.00",
        "serious_illness": "100.00",
        "student": "50.00",
        "single_parent": "50.00",
    },
    "elderly_age": 60,
    "severe_disability_grades": [1, 2],
    "counted_income_kinds": ["wage", "business", "property", "maintenance", "pension", "unemployment", "other"],
    "excluded_income_kinds": [
        "special_care", "family_planning_award", "scholarship", "heroism_reward", "government_assistance",
    ],
    "deduct_rigid_expenditure": False,
    "rigid_expenditure_kinds": ["medical", "disability"],
    "disqualifiers": {
        "vehicle_value_limit": "30000.00",
        "max_homes": 1,
        "business_registration": True,
        "financial_assets_months": 24,
        "luxury_goods": True,
    },
    "near_dibao_factor": "1.5",
    "rounding": {"quantum": "0.01", "mode": "half_up"},
    "funding_split": {"municipal": "60", "district": "40"},
    "flags": {
        "gps_distance_m": 300,
        "gps_accuracy_m": 50,
        "min_visit_minutes": 10,
        "min_investigators": 2,
        "min_testimonies": 2,
        "required_photo_kinds": ["exterior", "interior", "kitchen"],
        "photo_time_margin_minutes": 30,
        "duplicate_photo_max_distance": 6,
    },
    "deadlines": {
        "investigation_start_wd": 3,
        "county_decision_wd": 10,
        "case_total_wd": 30,
        "case_total_special_wd": 45,
    },
    "publicity_days": 7,
    "recheck_months": {"stable": 12, "unstable": 6},
    "mask_names": True,
    "panel": {
        "attendance_ratio": "0.6667",
        "residents_ratio": "0.6667",
        "pass_ratio": "0.6667",
        "criteria": {"need": 30, "housing": 20, "health": 20, "labour": 15, "testimony": 15},
    },
    "photo_limits": {"max_bytes": 26214400, "max_pixels": 50000000},
}

ROUNDING_MODES: dict[str, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}

# The income kinds of the wire format (DESIGN "Money"). The wire format is fixed, so every
# one of them must be either counted or excluded, or a valid survey could not be evaluated.
WIRE_INCOME_KINDS = (
    "wage", "business", "property", "maintenance", "pension", "unemployment", "other",
    "special_care", "family_planning_award", "scholarship", "heroism_reward", "government_assistance",
)

# The engine recognises these categories and has a reason text for each; a new one needs code.
HARDSHIP_CATEGORIES = ("elderly", "severe_disability", "serious_illness", "student", "single_parent")
MEMBER_CLASSES = ("A", "B")
DISABILITY_GRADES = (1, 2, 3, 4)

# The perceptual hash is indexed as 8 bands of 8 bits (server.photos.models.PhotoHashBand).
MAX_DUPLICATE_PHOTO_DISTANCE = 7
MAX_PHOTO_TIME_MARGIN_MINUTES = 24 * 60

_DECIMAL = re.compile(r"^[+-]?\d+(\.\d+)?$")


class PolicySettingsError(ValueError):
    """The document is not a valid policy; `errors` maps each bad field path to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {', '.join(msgs)}" for path, msgs in sorted(errors.items())))


class FrozenMap(Mapping):
    """A read-only, hashable mapping, so the settings stay frozen all the way down."""

    def __init__(self, items: Mapping | None = None):
        self._data = dict(items or {})

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True)
class Rounding:
    quantum: Decimal
    mode: str

    @property
    def decimal_mode(self) -> str:
        return ROUNDING_MODES[self.mode]


@dataclass(frozen=True)
class Disqualifiers:
    """Asset rules (DESIGN "Money"); None or False switches a rule off."""

    vehicle_value_limit: Decimal | None
    max_homes: int | None
    business_registration: bool
    financial_assets_months: int | None
    luxury_goods: bool


@dataclass(frozen=True)
class FlagThresholds:
    gps_distance_m: int
    gps_accuracy_m: int
    min_visit_minutes: int
    min_investigators: int
    min_testimonies: int
    required_photo_kinds: tuple[str, ...]
    photo_time_margin_minutes: int  # a photo's time may fall this far outside the visit
    duplicate_photo_max_distance: int  # bits of perceptual-hash difference still "the same picture"


@dataclass(frozen=True)
class Deadlines:
    """Working days (M21): start of investigation, county decision, whole case, special case."""

    investigation_start_wd: int
    county_decision_wd: int
    case_total_wd: int
    case_total_special_wd: int


@dataclass(frozen=True)
class RecheckMonths:
    stable: int
    unstable: int


@dataclass(frozen=True)
class PanelRules:
    attendance_ratio: Decimal
    residents_ratio: Decimal
    pass_ratio: Decimal
    criteria: FrozenMap  # criterion code -> weight (points), the weights sum to 100


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class PolicySettings:
    monthly_standard: Decimal
    single_person_increment: Decimal
    class_topup_percent: FrozenMap  # "A"/"B" -> Decimal percent of the household standard
    hardship_amounts: FrozenMap  # category -> Decimal yuan per month
    elderly_age: int
    severe_disability_grades: tuple[int, ...]
    counted_income_kinds: tuple[str, ...]
    excluded_income_kinds: tuple[str, ...]
    deduct_rigid_expenditure: bool
    rigid_expenditure_kinds: tuple[str, ...]
    disqualifiers: Disqualifiers
    near_dibao_factor: Decimal
    rounding: Rounding
    funding_split: FrozenMap  # share name -> Decimal percent, in ledger order
    flags: FlagThresholds
    deadlines: Deadlines
    publicity_days: int
    recheck_months: RecheckMonths
    mask_names: bool
    panel: PanelRules
    photo_limits: PhotoLimits

    @classmethod
    def from_dict(cls, d: Any) -> PolicySettings:
        """Check the whole document, then build; every bad field is reported at once."""
        v = _Validator()
        top = v.exact_keys(d, "", DEFAULT_SETTINGS.keys())
        if top is None:
            raise PolicySettingsError(v.errors)

        monthly_standard = v.money(top, "monthly_standard")
        single_person_increment = v.money(top, "single_person_increment")
        class_topup = v.fixed_map(top, "class_topup_percent", MEMBER_CLASSES, v.percent)
        hardship = v.fixed_map(top, "hardship_amounts", HARDSHIP_CATEGORIES, v.money)
        elderly_age = v.integer(top, "elderly_age", 0, 150)
        grades = v.string_or_int_list(top, "severe_disability_grades", int, DISABILITY_GRADES)
        counted = v.string_or_int_list(top, "counted_income_kinds", str)
        excluded = v.string_or_int_list(top, "excluded_income_kinds", str)
        if counted is not None and excluded is not None:
            # M21 Art 13: a kind is either counted or not; both would make the rule ambiguous.
            for kind in counted:
                if kind in excluded:
                    v.add("counted_income_kinds", f"{kind!r} is also excluded")
                    v.add("excluded_income_kinds", f"{kind!r} is also counted")
            for kind in WIRE_INCOME_KINDS:
                if kind not in counted and kind not in excluded:
                    v.add("counted_income_kinds", f"income kind {kind!r} must be counted or excluded")
        deduct = v.boolean(top, "deduct_rigid_expenditure")
        rigid_kinds = v.string_or_int_list(top, "rigid_expenditure_kinds", str)

        dq = v.exact_keys(top.get("disqualifiers"), "disqualifiers", DEFAULT_SETTINGS["disqualifiers"].keys())
        disqualifiers = None
        if dq is not None:
            disqualifiers = Disqualifiers(
                vehicle_value_limit=v.money(dq, "vehicle_value_limit", "disqualifiers", nullable=True),
                max_homes=v.integer(dq, "max_homes", 0, None, "disqualifiers", nullable=True),
                business_registration=v.boolean(dq, "business_registration", "disqualifiers"),
                financial_assets_months=v.integer(dq, "financial_assets_months", 0, None, "disqualifiers",
                                                  nullable=True),
                luxury_goods=v.boolean(dq, "luxury_goods", "disqualifiers"),
            )

        # Near-dibao is "PCI < factor x S" for households already above S, so factor >= 1.
        near_dibao_factor = v.decimal(top, "near_dibao_factor", low=Decimal(1))

        rd = v.exact_keys(top.get("rounding"), "rounding", DEFAULT_SETTINGS["rounding"].keys())
        rounding = None
        if rd is not None:
            quantum = v.decimal(rd, "quantum", "rounding", low=Decimal(0), low_open=True)
            mode = rd.get("mode")
            if mode not in ROUNDING_MODES:
                v.add("rounding.mode", f"unknown rounding mode {mode!r}; one of {', '.join(ROUNDING_MODES)}")
            rounding = Rounding(quantum=quantum, mode=mode)

        funding = v.open_map(top, "funding_split", v.percent)
        if funding is not None and funding and all(p is not None for p in funding.values()):
            total = sum(funding.values(), Decimal(0))
            if total != 100:
                v.add("funding_split", f"shares must sum to 100, not {total}")

        fl = v.exact_keys(top.get("flags"), "flags", DEFAULT_SETTINGS["flags"].keys())
        flags = None
        if fl is not None:
            flags = FlagThresholds(
                gps_distance_m=v.integer(fl, "gps_distance_m", 0, None, "flags"),
                gps_accuracy_m=v.integer(fl, "gps_accuracy_m", 0, None, "flags"),
                min_visit_minutes=v.integer(fl, "min_visit_minutes", 0, None, "flags"),
                min_investigators=v.integer(fl, "min_investigators", 1, None, "flags"),
                min_testimonies=v.integer(fl, "min_testimonies", 0, None, "flags"),
                required_photo_kinds=v.string_or_int_list(fl, "required_photo_kinds", str, parent="flags"),
                photo_time_margin_minutes=v.integer(fl, "photo_time_margin_minutes", 0, MAX_PHOTO_TIME_MARGIN_MINUTES,
                                                    "flags"),
                # Candidates come from 8 bands of 8 bits: only a distance of at most 7
                # guarantees a shared band (pigeonhole), so a larger one would miss pairs.
                duplicate_photo_max_distance=v.integer(fl, "duplicate_photo_max_distance", 0,
                                                       MAX_DUPLICATE_PHOTO_DISTANCE, "flags"),
            )

        dl = v.exact_keys(top.get("deadlines"), "deadlines", DEFAULT_SETTINGS["deadlines"].keys())
        deadlines = None
        if dl is not None:
            deadlines = Deadlines(**{k: v.integer(dl, k, 1, None, "deadlines") for k in DEFAULT_SETTINGS["deadlines"]})

        publicity_days = v.integer(top, "publicity_days", 1, None)
        rc = v.exact_keys(top.get("recheck_months"), "recheck_months", DEFAULT_SETTINGS["recheck_months"].keys())
        recheck = None
        if rc is not None:
            recheck = RecheckMonths(stable=v.integer(rc, "stable", 1, None, "recheck_months"),
                                    unstable=v.integer(rc, "unstable", 1, None, "recheck_months"))
        mask_names = v.boolean(top, "mask_names")

        pn = v.exact_keys(top.get("panel"), "panel", DEFAULT_SETTINGS["panel"].keys())
        panel = None
        if pn is not None:
            ratios = {k: v.decimal(pn, k, "panel", low=Decimal(0), low_open=True, high=Decimal(1))
                      for k in ("attendance_ratio", "residents_ratio", "pass_ratio")}
            criteria = v.open_map(pn, "criteria", lambda m, k, p: v.integer(m, k, 0, 100, p), parent="panel")
            if criteria and all(w is not None for w in criteria.values()) and sum(criteria.values()) != 100:
                v.add("panel.criteria", f"weights must sum to 100, not {sum(criteria.values())}")
            panel = PanelRules(criteria=criteria, **ratios)

        pl = v.exact_keys(top.get("photo_limits"), "photo_limits", DEFAULT_SETTINGS["photo_limits"].keys())
        photo_limits = None
        if pl is not None:
            photo_limits = PhotoLimits(max_bytes=v.integer(pl, "max_bytes", 1, None, "photo_limits"),
                                       max_pixels=v.integer(pl, "max_pixels", 1, None, "photo_limits"))

        if v.errors:
            raise PolicySettingsError(v.errors)
        return cls(
            monthly_standard=monthly_standard,
            single_person_increment=single_person_increment,
            class_topup_percent=class_topup,
            hardship_amounts=hardship,
            elderly_age=elderly_age,
            severe_disability_grades=grades,
            counted_income_kinds=counted,
            excluded_income_kinds=excluded,
            deduct_rigid_expenditure=deduct,
            rigid_expenditure_kinds=rigid_kinds,
            disqualifiers=disqualifiers,
            near_dibao_factor=near_dibao_factor,
            rounding=rounding,
            funding_split=funding,
            flags=flags,
            deadlines=deadlines,
            publicity_days=publicity_days,
            recheck_months=recheck,
            mask_names=mask_names,
            panel=panel,
            photo_limits=photo_limits,
        )

    def to_dict(self) -> dict:
        """The JSON document again: money and percentages as decimal strings."""
        dq = self.disqualifiers
        return {
            "monthly_standard": _text(self.monthly_standard),
            "single_person_increment": _text(self.single_person_increment),
            "class_topup_percent": {k: _text(p) for k, p in self.class_topup_percent.items()},
            "hardship_amounts": {k: _text(a) for k, a in self.hardship_amounts.items()},
            "elderly_age": self.elderly_age,
            "severe_disability_grades": list(self.severe_disability_grades),
            "counted_income_kinds": list(self.counted_income_kinds),
            "excluded_income_kinds": list(self.excluded_income_kinds),
            "deduct_rigid_expenditure": self.deduct_rigid_expenditure,
            "rigid_expenditure_kinds": list(self.rigid_expenditure_kinds),
            "disqualifiers": {
                "vehicle_value_limit": None if dq.vehicle_value_limit is None else _text(dq.vehicle_value_limit),
                "max_homes": dq.max_homes,
                "business_registration": dq.business_registration,
                "financial_assets_months": dq.financial_assets_months,
                "luxury_goods": dq.luxury_goods,
            },
            "near_dibao_factor": _text(self.near_dibao_factor),
            "rounding": {"quantum": _text(self.rounding.quantum), "mode": self.rounding.mode},
            "funding_split": {k: _text(p) for k, p in self.funding_split.items()},
            "flags": {
                "gps_distance_m": self.flags.gps_distance_m,
                "gps_accuracy_m": self.flags.gps_accuracy_m,
                "min_visit_minutes": self.flags.min_visit_minutes,
                "min_investigators": self.flags.min_investigators,
                "min_testimonies": self.flags.min_testimonies,
                "required_photo_kinds": list(self.flags.required_photo_kinds),
                "photo_time_margin_minutes": self.flags.photo_time_margin_minutes,
                "duplicate_photo_max_distance": self.flags.duplicate_photo_max_distance,
            },
            "deadlines": {
                "investigation_start_wd": self.deadlines.investigation_start_wd,
                "county_decision_wd": self.deadlines.county_decision_wd,
                "case_total_wd": self.deadlines.case_total_wd,
                "case_total_special_wd": self.deadlines.case_total_special_wd,
            },
            "publicity_days": self.publicity_days,
            "recheck_months": {"stable": self.recheck_months.stable, "unstable": self.recheck_months.unstable},
            "mask_names": self.mask_names,
            "panel": {
                "attendance_ratio": _text(self.panel.attendance_ratio),
                "residents_ratio": _text(self.panel.residents_ratio),
                "pass_ratio": _text(self.panel.pass_ratio),
                "criteria": dict(self.panel.criteria),
            },
            "photo_limits": {"max_bytes": self.photo_limits.max_bytes, "max_pixels": self.photo_limits.max_pixels},
        }


def merge_defaults(partial: Mapping, base: Mapping | None = None) -> dict:
    """`partial` laid over `base` (DEFAULT_SETTINGS unless given): objects merge key by key,
    anything else (numbers, strings, lists) is replaced whole. Neither input is changed;
    the result is not checked — pass it to `PolicySettings.from_dict`."""
    return _merge(copy.deepcopy(dict(DEFAULT_SETTINGS if base is None else base)), partial)


def _merge(into: dict, over: Mapping) -> dict:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def _text(d: Decimal) -> str:
    # Fixed-point, never exponent form ("1E+3"), so the stored document reads as money.
    return format(d, "f")


class _Validator:
    """Collects every error by field path instead of stopping at the first."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    @staticmethod
    def path(parent: str, key: str) -> str:
        return f"{parent}.{key}" if parent else key

    def exact_keys(self, d: Any, path: str, keys) -> dict | None:
        if not isinstance(d, Mapping):
            self.add(path or "$", "must be an object")
            return None
        keys = list(keys)
        for key in d:
            if key not in keys:
                self.add(self.path(path, str(key)), "unknown setting")
        for key in keys:
            if key not in d:
                self.add(self.path(path, key), "missing")
        return dict(d)

    def _present(self, m: Mapping, key: str, parent: str) -> bool:
        # A missing key is already reported by exact_keys.
        return key in m

    def decimal(self, m: Mapping, key: str, parent: str = "", *, low: Decimal | None = None,
                low_open: bool = False, high: Decimal | None = None, nullable: bool = False,
                what: str = "number") -> Decimal | None:
        if not self._present(m, key, parent):
            return None
        path, value = self.path(parent, key), m[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) or isinstance(value, float):
            # Floats cannot hold money exactly (STYLE habit 8).
            self.add(path, f"must be a decimal string such as \"1100.00\", not {type(value).__name__}")
            return None
        if isinstance(value, int):
            d = Decimal(value)
        elif isinstance(value, Decimal) and value.is_finite():
            d = value
        elif isinstance(value, str) and _DECIMAL.match(value):
            d = Decimal(value)
        else:
            self.add(path, f"must be a decimal string such as \"1100.00\", not {value!r}")
            return None
        if low is not None and (d <= low if low_open else d < low):
            self.add(path, "must not be negative" if low == 0 and not low_open and d < 0
                     else f"must be {'greater than' if low_open else 'at least'} {low}")
            return None
        if high is not None and d > high:
            self.add(path, f"must be at most {high}")
            return None
        return d

    def money(self, m: Mapping, key: str, parent: str = "", nullable: bool = False) -> Decimal | None:
        return self.decimal(m, key, parent, low=Decimal(0), nullable=nullable)

    def percent(self, m: Mapping, key: str, parent: str = "") -> Decimal | None:
        return self.decimal(m, key, parent, low=Decimal(0), high=Decimal(100))

    def integer(self, m: Mapping, key: str, low: int | None, high: int | None, parent: str = "",
                nullable: bool = False) -> int | None:
        if not self._present(m, key, parent):
            return None
        path, value = self.path(parent, key), m[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"must be a whole number, not {value!r}")
            return None
        if low is not None and value < low:
            self.add(path, f"must be at least {low}")
            return None
        if high is not None and value > high:
            self.add(path, f"must be at most {high}")
            return None
        return value

    def boolean(self, m: Mapping, key: str, parent: str = "") -> bool | None:
        if not self._present(m, key, parent):
            return None
        value = m[key]
        if not isinstance(value, bool):
            self.add(self.path(parent, key), f"must be true or false, not {value!r}")
            return None
        return value

    def string_or_int_list(self, m: Mapping, key: str, item_type: type, allowed=None,
                           parent: str = "") -> tuple | None:
        if not self._present(m, key, parent):
            return None
        path, value = self.path(parent, key), m[key]
        if not isinstance(value, (list, tuple)):
            self.add(path, "must be a list")
            return None
        ok = True
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, item_type) or (item_type is str and not item):
                self.add(f"{path}.{i}", f"must be a {'non-empty string' if item_type is str else 'whole number'}")
                ok = False
            elif allowed is not None and item not in allowed:
                self.add(f"{path}.{i}", f"must be one of {', '.join(map(str, allowed))}")
                ok = False
        if ok and len(set(value)) != len(value):
            self.add(path, "must not repeat an entry")
            ok = False
        return tuple(value) if ok else None

    def fixed_map(self, m: Mapping, key: str, keys, check) -> FrozenMap | None:
        if not self._present(m, key, ""):
            return None
        inner = self.exact_keys(m[key], key, keys)
        if inner is None:
            return None
        values = {k: check(inner, k, key) for k in keys if k in inner}
        return FrozenMap(values)

    def open_map(self, m: Mapping, key: str, check, parent: str = "") -> FrozenMap | None:
        if not self._present(m, key, parent):
            return None
        path, value = self.path(parent, key), m[key]
        if not isinstance(value, Mapping) or not value:
            self.add(path, "must be a non-empty object")
            return None
        for k in value:
            if not isinstance(k, str) or not k:
                self.add(path, f"names must be non-empty strings, not {k!r}")
                return None
        return FrozenMap({k: check(value, k, path) for k in value})
