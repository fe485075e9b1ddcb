"""Quality flags: what the office should look at in a synced visit (DESIGN "Quality flags",
issue 4 item 7), computed when a visit or its last photo arrives.

`refresh_flags(session, visit)` computes every flag with the thresholds of the policy in
force for the case's community on the visit's (local) date, replaces the visit's open
flags with the new ones and keeps the dismissed ones: a flag identical to a dismissed one
(same code and params) is not raised again. A picture that reappears in another
household's case is flagged on both visits.

A flag stores its code, severity and params (JSON data only: numbers, strings, lists);
`Flag.reason` is the zh_CN text, the users' language, and `flag_text` renders any flag
in either locale from its params.

Writes, but only flags (and `Case.related_to_staff`); flushes, never commits.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context
from geoalchemy2 import Geography, Geometry
from sqlalchemy.orm import Session

from server.accounts.models import StaffRelation
from server.cases.lifecycle import DEFAULT_TIMEZONE, local_today
from server.cases.models import Case, Household, Member
from server.core import audit
from server.core.db import utcnow
from server.photos.models import Photo, PhotoHashBand
from server.policy import engine
from server.policy.queries import version_in_force
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, merge_defaults
from server.review.models import Flag
from server.visits.models import Asset, Signature, Testimony, Visit, VisitInvestigator, VisitPhoto

# Every code, in the order flags are computed, returned and listed.
CODES = (
    "gps_missing",
    "gps_far_from_home",
    "gps_inaccurate",
    "visit_too_short",
    "too_few_investigators",
    "missing_photo_kinds",
    "photo_outside_visit",
    "photos_pending",
    "duplicate_photo",
    "too_few_testimonies",
    "testimony_contradicts",
    "disqualifying_asset",
    "pci_above_standard",
    "household_not_evaluated",
    "related_to_staff",
)

# error: the office must look at it before the case goes on; warning: worth a look;
# info: nothing wrong yet (photos still on their way).
SEVERITY = {
    "gps_missing": "warning",
    "gps_far_from_home": "error",
    "gps_inaccurate": "warning",
    "visit_too_short": "warning",
    "too_few_investigators": "error",
    "missing_photo_kinds": "warning",
    "photo_outside_visit": "warning",
    "photos_pending": "info",
    "duplicate_photo": "error",
    "too_few_testimonies": "warning",
    "testimony_contradicts": "error",
    "disqualifying_asset": "error",
    "pci_above_standard": "error",
    "household_not_evaluated": "warning",
    "related_to_staff": "error",
}
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

FLAG_TEXTS: dict[str, dict[str, str]] = {
    "gps_missing": {
        "zh_CN": "走访记录没有 GPS 定位，无法核实是否入户",
        "en": "The visit has no GPS location, so the home visit cannot be checked",
    },
    "gps_far_from_home": {
        "zh_CN": "走访定位距家庭登记地址 {distance_m} 米，超过 {limit_m} 米",
        "en": "The visit was located {distance_m} m from the household's registered address, more than {limit_m} m",
    },
    "gps_inaccurate": {
        "zh_CN": "走访定位精度为 {accuracy_m} 米，低于要求的 {limit_m} 米",
        "en": "The visit's GPS accuracy is {accuracy_m} m, worse than the required {limit_m} m",
    },
    "visit_too_short": {
        "zh_CN": "入户走访仅用时 {minutes} 分钟，少于 {min_minutes} 分钟",
        "en": "The visit lasted only {minutes} minute(s), less than {min_minutes}",
    },
    "too_few_investigators": {
        "zh_CN": "入户调查人员 {count} 人，少于 {min} 人",
        "en": "{count} investigator(s) made the visit; at least {min} are required",
    },
    "missing_photo_kinds": {
        "zh_CN": "缺少以下照片：{kinds_label}",
        "en": "Photos missing: {kinds_label}",
    },
    "photo_outside_visit": {
        "zh_CN": "照片（{photo_kind_label}，{sha_short}）{detail}",
        "en": "Photo ({photo_kind_label}, {sha_short}) {detail}",
    },
    "photos_pending": {
        "zh_CN": "还有 {count} 张照片尚未上传",
        "en": "{count} photo(s) not yet uploaded",
    },
    "duplicate_photo": {
        "zh_CN": "照片 {sha_short} 与另一户家庭（案件 {other_case}）的照片 {other_sha_short} 相同或几乎相同"
                 "（差异 {distance} 位）",
        "en": "Photo {sha_short} is the same as, or nearly the same as, photo {other_sha_short} of another "
              "household (case {other_case}; {distance} bit(s) apart)",
    },
    "too_few_testimonies": {
        "zh_CN": "邻里访问 {count} 份，少于 {min} 份",
        "en": "{count} neighbour testimony(ies); at least {min} are required",
    },
    "testimony_contradicts": {
        "zh_CN": "{role_label} {witness_name} 表示家庭情况与申报不符",
        "en": "{role_label} {witness_name} says the household's situation does not match the declaration",
    },
    "disqualifying_asset": {
        "zh_CN": "财产状况不符合低保条件：{disqualifier_text}",
        "en": "Assets rule the household out: {disqualifier_text}",
    },
    "pci_above_standard": {
        "zh_CN": "家庭人均月收入 {pci} 元不低于保障标准 {standard} 元",
        "en": "Per-capita monthly income of {pci} yuan is not below the standard of {standard} yuan",
    },
    "household_not_evaluated": {
        "zh_CN": "无法按低保政策核算本次走访记录的家庭收入和财产（{field}：{message}）",
        "en": "The household's income and assets in this visit cannot be evaluated under the policy "
              "({field}: {message})",
    },
    "related_to_staff": {
        "zh_CN": "家庭成员 {member_name} 是{staff_role_label} {staff_name} 的{relation_label}，需单独登记备案",
        "en": "Household member {member_name} is the {relation_label} of {staff_role_label} {staff_name}; "
              "the case must be registered separately",
    },
}

# Sentences inside a text, chosen by a param (photo_outside_visit's "aspect").
_DETAIL_TEXTS: dict[str, dict[str, str]] = {
    "time": {
        "zh_CN": "拍摄于 {taken_at_local}，不在走访时间 {started_at_local}–{ended_at_local} 前后 {margin_minutes} 分钟内",
        "en": "was taken at {taken_at_local}, outside the visit ({started_at_local}–{ended_at_local}) "
              "give or take {margin_minutes} minutes",
    },
    "location": {
        "zh_CN": "拍摄地点距走访定位 {distance_m} 米，超过 {limit_m} 米",
        "en": "was taken {distance_m} m from where the visit was located, more than {limit_m} m",
    },
}

_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "photo_kind": {
        "exterior": {"zh_CN": "房屋外景", "en": "exterior"},
        "interior": {"zh_CN": "室内", "en": "interior"},
        "kitchen": {"zh_CN": "厨房", "en": "kitchen"},
        "documents": {"zh_CN": "证件材料", "en": "documents"},
        "document": {"zh_CN": "证件材料", "en": "documents"},
        "asset": {"zh_CN": "财产", "en": "asset"},
    },
    "role": {
        "neighbour": {"zh_CN": "邻居", "en": "Neighbour"},
        "cadre": {"zh_CN": "村（居）干部", "en": "Cadre"},
        "grid_worker": {"zh_CN": "网格员", "en": "Grid worker"},
    },
    "relation": {
        "spouse": {"zh_CN": "配偶", "en": "spouse"},
        "parent": {"zh_CN": "父母", "en": "parent"},
        "child": {"zh_CN": "子女", "en": "child"},
        "sibling": {"zh_CN": "兄弟姐妹", "en": "sibling"},
        "grandparent": {"zh_CN": "祖父母或外祖父母", "en": "grandparent"},
        "grandchild": {"zh_CN": "孙子女或外孙子女", "en": "grandchild"},
    },
    "staff_role": {
        "caseworker": {"zh_CN": "经办人员", "en": "caseworker"},
        "investigator": {"zh_CN": "调查人员", "en": "investigator"},
        "office": {"zh_CN": "社区工作人员", "en": "office staff member"},
        "panel": {"zh_CN": "评议小组成员", "en": "panel member"},
        "panel_member": {"zh_CN": "评议小组成员", "en": "panel member"},
        "cadre": {"zh_CN": "村（居）干部", "en": "cadre"},
        "county": {"zh_CN": "县级审核人员", "en": "county reviewer"},
    },
}
_LIST_SEPARATOR = {"zh_CN": "、", "en": ", "}


# --- texts ---------------------------------------------------------------------------


def flag_text(flag_or_code: Flag | str, params: Mapping | None = None, locale: str | None = "zh_CN") -> str:
    """A flag's reason in zh_CN or en ("zh-CN", "en_US" and the like are accepted): pass a
    Flag, or a code and its params."""
    if isinstance(flag_or_code, str):
        code, params = flag_or_code, dict(params or {})
    else:
        code, params = flag_or_code.code, dict(flag_or_code.params if params is None else params)
    loc = _locale(locale)
    values = dict(params)
    for name, labels in _LABELS.items():
        value = params.get(name)
        if isinstance(value, str):
            values[f"{name}_label"] = labels.get(value, {}).get(loc, value)
    for name in ("sha256", "other_sha256"):
        if isinstance(params.get(name), str):
            values[name.replace("sha256", "sha_short")] = params[name][:8]
    for name in ("taken_at", "started_at", "ended_at"):
        if isinstance(params.get(name), str):
            values[f"{name}_local"] = _local_time(params[name])
    if "kinds" in params:
        values["kinds_label"] = _LIST_SEPARATOR[loc].join(
            _LABELS["photo_kind"].get(k, {}).get(loc, k) for k in params["kinds"])
    if code == "photo_outside_visit":
        values["detail"] = _DETAIL_TEXTS[params["aspect"]][loc].format_map(values)
    if code == "disqualifying_asset":
        values["disqualifier_text"] = engine.reason_text(
            engine.Reason(params["disqualifier"], dict(params.get("detail", {}))), loc)
    return FLAG_TEXTS[code][loc].format_map(values)


def _locale(locale: str | None) -> str:
    tag = (locale or "").replace("-", "_").lower()
    return "en" if tag.startswith("en") else "zh_CN"  # the users' language is the fallback


def _local_time(iso: str) -> str:
    tz = current_app.config.get("TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE
    return dt.datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


# --- distance ------------------------------------------------------------------------


def distance_sql(dialect: str, a, b) -> sa.ColumnElement:
    """Geodesic distance in metres between two WGS 84 geometry expressions, computed by the
    database: SpatiaLite answers in degrees unless asked for the geodesic form."""
    if dialect == "postgresql":
        return sa.func.ST_Distance(sa.cast(a, Geography(srid=4326)), sa.cast(b, Geography(srid=4326)))
    return sa.func.ST_Distance(a, b, 1)


def distance_m(session: Session, geom_a, geom_b) -> float | None:
    """Metres between two points (column expressions, WKB/WKT elements or EWKT strings such
    as core.db.point_wkt gives), measured in the database; None when either is missing."""
    if geom_a is None or geom_b is None:
        return None
    value = session.scalar(sa.select(distance_sql(_dialect(session), _geometry(geom_a), _geometry(geom_b))))
    return None if value is None else float(value)


def _geometry(value):
    if isinstance(value, sa.ColumnElement):
        return value
    return sa.bindparam(None, value, type_=Geometry("POINT", srid=4326))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# --- computing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A flag before it is a row: what it says, and about which photo."""

    code: str
    params: dict = field(default_factory=dict)
    photo_sha256: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.code, canonical(self.params)


def canonical(params: Mapping) -> str:
    """Params as one string, for "the same flag" (keys sorted, as the database's JSON may
    reorder them)."""
    return json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


LatLon = tuple[float, float]


@dataclass(frozen=True)
class PhotoRef:
    """A photo as the visit names it: its kind, and the time and place the tablet gave."""

    sha256: str
    kind: str
    taken_at: dt.datetime | None
    point: LatLon | None


@dataclass(frozen=True)
class KnownPhoto:
    """A photo whose bytes have arrived: what its own EXIF says, and its perceptual hash."""

    exif_taken_at: dt.datetime | None
    exif_point: LatLon | None
    phash: str | None


@dataclass(frozen=True)
class Facts:
    """What one visit says, as the flags need it. Read back from the database for a stored
    visit (`facts_from_visit`), or taken from the body just parsed for a visit arriving
    (`facts_from_body`): both give the same facts, so both give the same flags."""

    visit_id: uuid.UUID
    started_at: dt.datetime
    ended_at: dt.datetime
    point: LatLon | None
    accuracy_m: Decimal | None
    investigators: int
    household: engine.HouseholdIn
    id_numbers: tuple[tuple[str, str], ...]  # (ID number, name) of each member found, in order
    testimonies: tuple[tuple[str, str, str | None], ...]  # (witness, role, matches_declaration)
    photos: tuple[PhotoRef, ...]
    named: frozenset[str]  # every image the visit names: photos, asset photos, signatures


def settings_for_visit(session: Session, case: Case, visit: Visit) -> PolicySettings:
    """The policy in force for the case's community on the day of the visit (local date);
    the defaults where none is. A version stored before a setting existed gets its default."""
    version = version_in_force(session, case.community, local_today(visit.started_at))
    return settings_from(version.settings if version else None)


def settings_from(stored: dict | None) -> PolicySettings:
    """A version's stored settings as PolicySettings (None: the defaults)."""
    return PolicySettings.from_dict(merge_defaults(stored) if stored is not None else DEFAULT_SETTINGS)


def refresh_flags(session: Session, visit: Visit) -> list[Flag]:
    """Recompute every flag of a stored `visit`: its open flags are replaced, dismissed ones
    kept and not raised again. A duplicate photo also flags the other household's visit.
    Returns the visit's new flags in CODES order (deterministic)."""
    session.flush()  # the visit and its parts must be visible to the queries below
    case = session.get(Case, visit.case_id)
    settings = settings_for_visit(session, case, visit)
    facts = facts_from_visit(session, visit)
    return _store(session, case, facts, settings, known_photos(session, facts.named), replace=True)


def flag_new_visit(session: Session, case: Case, facts: Facts, settings: PolicySettings,
                   known: Mapping[str, KnownPhoto]) -> list[Flag]:
    """The flags of a visit stored in this transaction, from what its body said: nothing is
    read back, and a new visit has no flags to replace. `known` is `known_photos` of its
    named images, as the caller already read them."""
    return _store(session, case, facts, settings, known, replace=False)


def _store(session: Session, case: Case, facts: Facts, settings: PolicySettings,
           known: Mapping[str, KnownPhoto], replace: bool) -> list[Flag]:
    found, mirrors = _compute(session, case, facts, settings, known)
    dismissed: set = set()
    if replace:
        session.execute(
            sa.delete(Flag).where(Flag.visit_id == facts.visit_id, Flag.dismissed_at.is_(None)),
            execution_options={"synchronize_session": "fetch"},
        )
        dismissed = _keys(session, facts.visit_id, dismissed_only=True)
    flags = [_row(case.id, facts.visit_id, f) for f in found if f.key not in dismissed]
    if replace:
        session.add_all(flags)
    elif flags:
        # A new visit's flags in one multi-row INSERT; the objects returned stay detached
        # (the caller reads their code, severity and reason for its answer).
        now = utcnow()
        session.connection().execute(Flag.__table__.insert(), [
            {"case_id": f.case_id, "visit_id": f.visit_id, "photo_sha256": f.photo_sha256, "code": f.code,
             "severity": f.severity, "reason": f.reason, "params": f.params, "created_at": now,
             "dismissed_at": None} for f in flags])

    # The other side of a duplicate: unless the same flag is already there (open or dismissed).
    known_keys: dict = {}
    for other_case_id, other_visit_id, f in mirrors:
        if other_visit_id not in known_keys:
            known_keys[other_visit_id] = _keys(session, other_visit_id, dismissed_only=False)
        if f.key not in known_keys[other_visit_id]:
            known_keys[other_visit_id].add(f.key)
            session.add(_row(other_case_id, other_visit_id, f))

    if any(f.code == "related_to_staff" for f in found) and not case.related_to_staff:
        # M21 Art 11: the case is registered separately.
        case.related_to_staff = True
        audit.record(session, "case.related_to_staff", "case", case.id, before={"related_to_staff": False},
                     after={"related_to_staff": True, "visit_id": facts.visit_id}, case_id=case.id, actor=None)
    session.flush()
    return flags


def _row(case_id, visit_id, f: Found) -> Flag:
    return flag_row(case_id, visit_id, f)


def flag_row(case_id, visit_id, f: Found) -> Flag:
    """A found flag as a row (not yet added): its zh_CN reason, its severity."""
    return Flag(case_id=case_id, visit_id=visit_id, photo_sha256=f.photo_sha256, code=f.code,
                severity=SEVERITY[f.code], reason=flag_text(f.code, f.params, "zh_CN"), params=f.params)


def _keys(session: Session, visit_id, dismissed_only: bool) -> set[tuple[str, str]]:
    q = sa.select(Flag.code, Flag.params).where(Flag.visit_id == visit_id)
    if dismissed_only:
        q = q.where(Flag.dismissed_at.is_not(None))
    return {(code, canonical(params or {})) for code, params in session.execute(q)}


# --- the facts of a visit ----------------------------------------------------------------


def _lat_lon(column) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    return sa.func.ST_Y(column), sa.func.ST_X(column)


def _point(lat, lon) -> LatLon | None:
    return None if lat is None or lon is None else (float(lat), float(lon))


# The statements every arriving visit runs, built once and bound per call.
_HOME = sa.select(*_lat_lon(Household.location)).where(Household.id == sa.bindparam("household_id"))
_KNOWN_PHOTOS = sa.select(Photo.sha256, Photo.exif_taken_at, *_lat_lon(Photo.exif_location), Photo.phash) \
    .where(Photo.sha256.in_(sa.bindparam("hashes", expanding=True)))
_RELATIVE_NUMBER = sa.func.upper(StaffRelation.relative_id_number)
_RELATIVES = (
    sa.select(StaffRelation)
    .where(sa.or_(
        _RELATIVE_NUMBER.in_(sa.select(sa.func.upper(Member.id_number))
                             .where(Member.household_id == sa.bindparam("household_id"),
                                    Member.id_number.is_not(None))),
        _RELATIVE_NUMBER.in_(sa.bindparam("numbers", expanding=True))))
    .order_by(StaffRelation.relative_id_number, StaffRelation.staff_name, StaffRelation.id))


def facts_from_visit(session: Session, visit: Visit) -> Facts:
    """A stored visit's facts, read from its rows (flushed)."""
    lat, lon = session.execute(sa.select(*_lat_lon(Visit.location)).where(Visit.id == visit.id)).one()
    investigators = session.scalar(
        sa.select(sa.func.count()).select_from(VisitInvestigator).where(VisitInvestigator.visit_id == visit.id))
    testimonies = session.execute(
        sa.select(Testimony.witness_name, Testimony.role, Testimony.matches_declaration)
        .where(Testimony.visit_id == visit.id).order_by(Testimony.id)).all()
    photos = [PhotoRef(r.sha256, r.kind, r.taken_at, _point(r.lat, r.lon)) for r in session.execute(
        sa.select(VisitPhoto.sha256, VisitPhoto.kind, VisitPhoto.taken_at,
                  *(c.label(n) for c, n in zip(_lat_lon(VisitPhoto.location), ("lat", "lon"))))
        .where(VisitPhoto.visit_id == visit.id).order_by(VisitPhoto.id))]
    named = {p.sha256 for p in photos}
    for hashes in session.scalars(sa.select(Asset.photo_hashes).where(Asset.visit_id == visit.id)):
        named.update(h for h in hashes or () if isinstance(h, str))
    named.update(session.scalars(sa.select(Signature.image_sha256).where(Signature.visit_id == visit.id)))
    named.update(session.scalars(sa.select(Testimony.signature_sha256)
                                 .where(Testimony.visit_id == visit.id, Testimony.signature_sha256.is_not(None))))
    named.discard(None)
    members = sorted(visit.members, key=lambda m: m.position)
    return Facts(
        visit_id=visit.id, started_at=visit.started_at, ended_at=visit.ended_at, point=_point(lat, lon),
        accuracy_m=visit.location_accuracy_m, investigators=investigators, household=household_in(visit),
        id_numbers=tuple((m.id_number, m.name) for m in members if m.id_number),
        testimonies=tuple((t.witness_name, t.role, t.matches_declaration) for t in testimonies),
        photos=tuple(photos), named=frozenset(named))


def facts_from_body(visit_id: uuid.UUID, data: Mapping) -> Facts:
    """A visit's facts from its parsed body (server.visits.schemas.VisitIn), as the rows
    that store it will hold them: money to the cent, accuracy to 0.1 m."""
    members = data.get("members") or []
    n = len(members)
    location = data.get("location")
    household = engine.HouseholdIn(
        members=tuple(engine.MemberIn(
            name=m["name"], birth_date=m.get("birth_date"), relation=m.get("relation"),
            counted=m.get("counted", True), klass=m.get("klass"), health=m.get("health"),
            disability_grade=m.get("disability_grade"), student=bool(m.get("student"))) for m in members),
        income=tuple(engine.IncomeIn(
            member=None if x.get("member") is None else (x["member"] if 0 <= x["member"] < n else -1),
            kind=x["kind"], monthly_amount=_cents(x["monthly_amount"])) for x in data.get("income") or []),
        assets=tuple(engine.AssetIn(
            category=a["category"], value=None if a.get("value") is None else _cents(a["value"]),
            count=a.get("count", 1), disqualifying=a.get("disqualifying", False),
            disability_mobility=a.get("disability_mobility", False), description=a.get("description") or "")
            for a in data.get("assets") or [] if a.get("count", 1) > 0),
        expenditure=tuple(engine.ExpenditureIn(kind=e["kind"], monthly_amount=_cents(e["monthly_amount"]))
                          for e in data.get("expenditure") or []),
    )
    named = {p["sha256"] for p in data.get("photos") or ()}
    for asset in data.get("assets") or ():
        named.update(asset.get("photos") or ())
    named.update(t["signature"] for t in data.get("testimonies") or () if t.get("signature"))
    named.update(s["image"] for s in data.get("signatures") or ())
    return Facts(
        visit_id=visit_id, started_at=data["started_at"], ended_at=data["ended_at"],
        point=_point(location["lat"], location["lon"]) if location else None,
        accuracy_m=None if not location or location.get("accuracy_m") is None
        else Decimal(str(location["accuracy_m"])).quantize(Decimal("0.1")),
        investigators=len(data["investigators"]), household=household,
        id_numbers=tuple((m["id_number"], m["name"]) for m in members if m.get("id_number")),
        testimonies=tuple((t["witness_name"], t["role"], (t.get("answers") or {}).get("matches_declaration"))
                          for t in data.get("testimonies") or []),
        photos=tuple(PhotoRef(p["sha256"], p["kind"], p.get("taken_at"),
                              _point(p["location"]["lat"], p["location"]["lon"]) if p.get("location") else None)
                     for p in data.get("photos") or []),
        named=frozenset(named))


def _cents(value) -> Decimal:
    return Decimal(value).quantize(engine.CENT)


def known_photos(session: Session, hashes: Iterable[str]) -> dict[str, KnownPhoto]:
    """The photos among `hashes` whose bytes have arrived, with their EXIF time and place
    and their perceptual hash: one query."""
    hashes = sorted(set(hashes))
    if not hashes:
        return {}
    rows = session.execute(_KNOWN_PHOTOS, {"hashes": hashes})
    return {sha: KnownPhoto(taken, _point(y, x), phash) for sha, taken, y, x, phash in rows}


# --- the checks -----------------------------------------------------------------------


def _compute(session: Session, case: Case, facts: Facts, settings: PolicySettings,
             known: Mapping[str, KnownPhoto]) -> tuple[list[Found], list[tuple]]:
    th = settings.flags
    found: list[Found] = []

    # --- where and how long ---
    if facts.point is None:
        found.append(Found("gps_missing"))
    else:
        home = _point(*session.execute(_HOME, {"household_id": case.household_id}).one())
        far = geodesic_m(facts.point, home) if home is not None else None
        if far is not None and far > th.gps_distance_m:
            found.append(Found("gps_far_from_home", {"distance_m": round(far), "limit_m": th.gps_distance_m}))
        if facts.accuracy_m is not None and facts.accuracy_m > th.gps_accuracy_m:
            found.append(Found("gps_inaccurate", {"accuracy_m": _number(facts.accuracy_m),
                                                  "limit_m": th.gps_accuracy_m}))
    length = facts.ended_at - facts.started_at
    if length < dt.timedelta(minutes=th.min_visit_minutes):
        found.append(Found("visit_too_short", {"minutes": int(length.total_seconds() // 60),
                                               "min_minutes": th.min_visit_minutes}))

    # M21 Art 15-16: a home visit needs at least two investigators.
    if facts.investigators < th.min_investigators:
        found.append(Found("too_few_investigators", {"count": facts.investigators, "min": th.min_investigators}))

    # --- photos ---
    kinds = {p.kind for p in facts.photos}
    missing = [k for k in th.required_photo_kinds if k not in kinds]
    if missing:
        found.append(Found("missing_photo_kinds", {"kinds": missing}))
    found.extend(_photos_outside(facts, known, th))
    pending = sorted(facts.named - known.keys())
    if pending:
        found.append(Found("photos_pending", {"count": len(pending), "sha256s": pending}))
    duplicates, mirrors = _duplicates(session, case, facts, known, th.duplicate_photo_max_distance)
    found.extend(duplicates)

    # --- what the neighbours say ---
    if len(facts.testimonies) < th.min_testimonies:
        found.append(Found("too_few_testimonies", {"count": len(facts.testimonies), "min": th.min_testimonies}))
    for witness, role, matches in facts.testimonies:
        if (matches or "").strip().lower() == "no":
            found.append(Found("testimony_contradicts", {"witness_name": witness, "role": role}))

    # --- money: the policy engine on what the visit found ---
    found.extend(_evaluation(facts, settings))

    # --- M21 Art 11: relatives of staff ---
    found.extend(_staff_relatives(session, facts, case.household_id))

    order = {code: i for i, code in enumerate(CODES)}
    found.sort(key=lambda f: order[f.code])  # stable: each check already ordered its own
    return found, mirrors


def _photos_outside(facts: Facts, known: Mapping[str, KnownPhoto], th) -> list[Found]:
    """Each photo's best known time and place: its own EXIF once its bytes have arrived (the
    device's clock and GPS at capture), else what the visit says."""
    margin = dt.timedelta(minutes=th.photo_time_margin_minutes)
    out: list[Found] = []
    seen: set[str] = set()
    for p in facts.photos:
        if p.sha256 in seen:
            continue
        seen.add(p.sha256)
        exif = known.get(p.sha256)
        taken_at = (exif.exif_taken_at if exif else None) or p.taken_at
        where = (exif.exif_point if exif else None) or p.point
        distance = geodesic_m(where, facts.point) if where is not None and facts.point is not None else None
        if taken_at is not None and not (facts.started_at - margin <= taken_at <= facts.ended_at + margin):
            out.append(Found("photo_outside_visit", {
                "sha256": p.sha256, "photo_kind": p.kind, "aspect": "time", "taken_at": _iso(taken_at),
                "started_at": _iso(facts.started_at), "ended_at": _iso(facts.ended_at),
                "margin_minutes": th.photo_time_margin_minutes}, p.sha256))
        if distance is not None and distance > th.gps_distance_m:
            out.append(Found("photo_outside_visit", {
                "sha256": p.sha256, "photo_kind": p.kind, "aspect": "location", "distance_m": round(distance),
                "limit_m": th.gps_distance_m}, p.sha256))
    return out


# WGS 84, the datum of every point stored (SRID 4326).
_A = 6378137.0
_F = 1 / 298.257223563
_B = _A * (1 - _F)


def geodesic_m(a: LatLon, b: LatLon) -> float:
    """Metres between two (lat, lon) points on the WGS 84 ellipsoid (Vincenty's inverse
    formula: sub-millimetre, as the databases' geodesic distance). Computed here rather than
    by a query: a visit's checks measure a dozen distances."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    if lat1 == lat2 and lon1 == lon2:
        return 0.0
    u1 = math.atan((1 - _F) * math.tan(lat1))
    u2 = math.atan((1 - _F) * math.tan(lat2))
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = diff = lon2 - lon1
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha ** 2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = _F / 16 * cos2_alpha * (4 + _F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = diff + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm ** 2)))
        if abs(lam - previous) < 1e-12:
            break
    else:  # nearly antipodal: no household is that far from its visit; the sphere will do
        return 6371008.8 * math.acos(max(-1.0, min(1.0, math.sin(lat1) * math.sin(lat2)
                                                   + math.cos(lat1) * math.cos(lat2) * math.cos(diff))))
    u_sq = cos2_alpha * (_A ** 2 - _B ** 2) / _B ** 2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta = big_b * sin_sigma * (cos_2sm + big_b / 4 * (
        cos_sigma * (-1 + 2 * cos_2sm ** 2) - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma ** 2) * (-3 + 4 * cos_2sm ** 2)))
    return _B * big_a * (sigma - delta)


def hash_bands(phash: str) -> list[tuple[int, int]]:
    """(band, value) of a 16-hex-digit hash: band i is byte i, most significant first."""
    return [(i, int(phash[2 * i:2 * i + 2], 16)) for i in range(8)]


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _duplicates(session: Session, case: Case, facts: Facts, known: Mapping[str, KnownPhoto],
                max_distance: int) -> tuple[list[Found], list[tuple]]:
    """Photos of this visit within `max_distance` bits of a photo attached to a visit of
    another household's case. Candidates share at least one band exactly (pigeonhole over
    8 bands when the distance is at most 7); the exact distance is then counted here."""
    mine = sorted({(p.sha256, known[p.sha256].phash.lower()) for p in facts.photos
                   if p.sha256 in known and _is_phash(known[p.sha256].phash)})
    if not mine:
        return [], []
    # The bands as stored by the photo pipeline, and as this module reads the hash: the
    # same when both cut byte i into band i, and nothing is missed if they ever differ.
    pairs = {pair for _, phash in mine for pair in hash_bands(phash)}
    pairs.update((band, value) for band, value in session.execute(
        sa.select(PhotoHashBand.band, PhotoHashBand.value).where(PhotoHashBand.sha256.in_([s for s, _ in mine]))))
    band_match = sa.or_(*(sa.and_(PhotoHashBand.band == b, PhotoHashBand.value == v) for b, v in sorted(pairs)))
    candidates = sa.select(PhotoHashBand.sha256).where(band_match).distinct()
    others = session.execute(
        sa.select(Photo.sha256, Photo.phash, Visit.id, Case.id, Case.number)
        .join(VisitPhoto, VisitPhoto.sha256 == Photo.sha256)
        .join(Visit, Visit.id == VisitPhoto.visit_id)
        .join(Case, Case.id == Visit.case_id)
        .where(Photo.sha256.in_(candidates), Photo.phash.is_not(None),
               Case.household_id != case.household_id, Visit.id != facts.visit_id)
        .distinct()
    ).all()
    found: list[Found] = []
    mirrors: list[tuple] = []
    for sha, phash in mine:
        matches = []
        for other_sha, other_phash, other_visit_id, other_case_id, other_number in others:
            if not _is_phash(other_phash):
                continue
            d = hamming(phash, other_phash.lower())
            if d <= max_distance:
                matches.append((d, other_number, other_sha, str(other_visit_id), other_visit_id, other_case_id))
        for d, other_number, other_sha, _, other_visit_id, other_case_id in sorted(matches, key=lambda m: m[:4]):
            found.append(Found("duplicate_photo", {"other_case": other_number, "distance": d, "sha256": sha,
                                                   "other_sha256": other_sha}, sha))
            mirrors.append((other_case_id, other_visit_id, Found(
                "duplicate_photo", {"other_case": case.number, "distance": d, "sha256": other_sha,
                                    "other_sha256": sha}, other_sha)))
    # One flag per pair of pictures and other case, even when the other case has several visits.
    return _unique(found), mirrors


def _unique(found: Iterable[Found]) -> list[Found]:
    seen, out = set(), []
    for f in found:
        if f.key not in seen:
            seen.add(f.key)
            out.append(f)
    return out


def _is_phash(value) -> bool:
    if not isinstance(value, str) or len(value) != 16:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def _evaluation(facts: Facts, settings: PolicySettings) -> list[Found]:
    """Disqualifying assets and PCI ≥ S, by the policy engine on the visit's own findings."""
    household = facts.household
    try:
        result = engine.evaluate(settings, household, local_today(facts.started_at))
    except engine.PolicyInputError as exc:
        # Still show what the investigators marked themselves.
        out = [Found("household_not_evaluated", {"field": exc.field, "message": exc.message})]
        flagged = sum(1 for a in household.assets if a.disqualifying)
        if flagged:
            out.append(Found("disqualifying_asset", {"disqualifier": "flagged_asset", "detail": {"count": flagged}}))
        return out
    out = []
    details = {r.code: r.params for r in result.reasons}
    for code in result.disqualifiers:
        out.append(Found("disqualifying_asset", {"disqualifier": code, "detail": dict(details.get(code, {}))}))
    # PCI < S compared as income < S x n, as the engine does, so no division rounds the boundary.
    if result.counted_income >= result.standard * result.counted_members:
        out.append(Found("pci_above_standard", {"pci": _money(result.per_capita_income),
                                                "standard": _money(result.standard)}))
    return out


def household_in(visit: Visit) -> engine.HouseholdIn:
    """A stored visit's findings as the policy engine's input (members by position, items
    in the order they were stored)."""
    members = sorted(visit.members, key=lambda m: m.position)
    index = {m.position: i for i, m in enumerate(members)}
    return engine.HouseholdIn(
        members=tuple(engine.MemberIn(
            name=m.name, birth_date=m.birth_date, relation=m.relation, counted=m.counted, klass=m.klass,
            health=m.health, disability_grade=m.disability_grade, student=bool(m.student)) for m in members),
        # An item naming no known member stays unattached (-1 is refused by the engine, as it should be).
        income=tuple(engine.IncomeIn(
            member=None if item.member_position is None else index.get(item.member_position, -1),
            kind=item.kind, monthly_amount=item.monthly_amount)
            for item in sorted(visit.income, key=lambda i: i.id)),
        assets=tuple(engine.AssetIn(
            category=a.category, value=a.value, count=a.count, disqualifying=a.disqualifying,
            disability_mobility=a.disability_mobility, description=a.description)
            for a in sorted(visit.assets, key=lambda a: (a.position, a.id)) if a.count > 0),
        expenditure=tuple(engine.ExpenditureIn(kind=e.kind, monthly_amount=e.monthly_amount)
                          for e in sorted(visit.expenditure, key=lambda e: e.id)),
    )


def _staff_relatives(session: Session, facts: Facts, household_id: uuid.UUID) -> list[Found]:
    return staff_relatives(session, facts.id_numbers, household_id)


def staff_relatives(session: Session, id_numbers: Iterable[tuple[str, str]],
                    household_id: uuid.UUID | None) -> list[Found]:
    """M21 Art 11: the register of staff relatives against (ID number, name) pairs found by a
    visit or typed at intake, and against the household's registered members (when
    `household_id` is given). One query; the pairs' names win over the registered ones.
    Intake, the register's re-matching and the flags of a visit all use this one match."""
    id_numbers = tuple(id_numbers)
    found_numbers = sorted({number.upper() for number, _ in id_numbers})
    relations = session.scalars(_RELATIVES, {"household_id": household_id, "numbers": found_numbers}).all()
    if not relations:
        return []
    names: dict[str, str] = {}
    for member_number, name in session.execute(
            sa.select(Member.id_number, Member.name).where(Member.household_id == household_id)
            .order_by(Member.position)):
        if member_number:
            names.setdefault(member_number.upper(), name)
    for member_number, name in id_numbers:
        names[member_number.upper()] = name  # the visit's own record wins
    return [Found("related_to_staff", {"member_name": names[r.relative_id_number.upper()], "staff_name": r.staff_name,
                                       "staff_role": r.staff_role, "relation": r.relation})
            for r in relations]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat()


def _number(value) -> int | str:
    """A measured number as JSON keeps it exactly: whole numbers as int, else a decimal string."""
    return int(value) if value == int(value) else format(value, "f")


def _money(value) -> str:
    return format(value.quantize(engine.CENT), "f")
