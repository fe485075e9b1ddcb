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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context
from geoalchemy2 import Geography, Geometry
from sqlalchemy.orm import Session

from server.accounts.models import StaffRelation
from server.cases.lifecycle import DEFAULT_TIMEZONE, local_today
from server.cases.models import Case, Household, Member
from server.core import audit
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


def settings_for_visit(session: Session, case: Case, visit: Visit) -> PolicySettings:
    """The policy in force for the case's community on the day of the visit (local date);
    the defaults where none is. A version stored before a setting existed gets its default."""
    version = version_in_force(session, case.community, local_today(visit.started_at))
    return PolicySettings.from_dict(merge_defaults(version.settings) if version else DEFAULT_SETTINGS)


def refresh_flags(session: Session, visit: Visit) -> list[Flag]:
    """Recompute every flag of `visit`: its open flags are replaced, dismissed ones kept and
    not raised again. A duplicate photo also flags the other household's visit. Returns the
    visit's new flags in CODES order (deterministic)."""
    session.flush()  # the visit and its parts must be visible to the queries below
    case = session.get(Case, visit.case_id)
    settings = settings_for_visit(session, case, visit)
    found, mirrors = _compute(session, case, visit, settings)

    session.execute(
        sa.delete(Flag).where(Flag.visit_id == visit.id, Flag.dismissed_at.is_(None)),
        execution_options={"synchronize_session": "fetch"},
    )
    dismissed = _keys(session, visit.id, dismissed_only=True)
    flags = []
    for f in found:
        if f.key in dismissed:
            continue
        flag = _row(case.id, visit.id, f)
        session.add(flag)
        flags.append(flag)

    # The other side of a duplicate: unless the same flag is already there (open or dismissed).
    known: dict = {}
    for other_case_id, other_visit_id, f in mirrors:
        if other_visit_id not in known:
            known[other_visit_id] = _keys(session, other_visit_id, dismissed_only=False)
        if f.key not in known[other_visit_id]:
            known[other_visit_id].add(f.key)
            session.add(_row(other_case_id, other_visit_id, f))

    if any(f.code == "related_to_staff" for f in found) and not case.related_to_staff:
        # M21 Art 11: the case is registered separately.
        case.related_to_staff = True
        audit.record(session, "case.related_to_staff", "case", case.id, before={"related_to_staff": False},
                     after={"related_to_staff": True, "visit_id": visit.id}, case_id=case.id, actor=None)
    session.flush()
    return flags


def _row(case_id, visit_id, f: Found) -> Flag:
    return Flag(case_id=case_id, visit_id=visit_id, photo_sha256=f.photo_sha256, code=f.code,
                severity=SEVERITY[f.code], reason=flag_text(f.code, f.params, "zh_CN"), params=f.params)


def _keys(session: Session, visit_id, dismissed_only: bool) -> set[tuple[str, str]]:
    q = sa.select(Flag.code, Flag.params).where(Flag.visit_id == visit_id)
    if dismissed_only:
        q = q.where(Flag.dismissed_at.is_not(None))
    return {(code, canonical(params or {})) for code, params in session.execute(q)}


def _compute(session: Session, case: Case, visit: Visit,
             settings: PolicySettings) -> tuple[list[Found], list[tuple]]:
    th = settings.flags
    household = session.get(Household, case.household_id)
    dialect = _dialect(session)
    found: list[Found] = []

    # --- where and how long ---
    if visit.location is None:
        found.append(Found("gps_missing"))
    else:
        far = session.scalar(
            sa.select(distance_sql(dialect, Visit.location, Household.location))
            .join(Case, Case.id == Visit.case_id).join(Household, Household.id == Case.household_id)
            .where(Visit.id == visit.id, Household.location.is_not(None)))
        if far is not None and far > th.gps_distance_m:
            found.append(Found("gps_far_from_home", {"distance_m": round(far), "limit_m": th.gps_distance_m}))
        if visit.location_accuracy_m is not None and visit.location_accuracy_m > th.gps_accuracy_m:
            found.append(Found("gps_inaccurate", {"accuracy_m": _number(visit.location_accuracy_m),
                                                  "limit_m": th.gps_accuracy_m}))
    length = visit.ended_at - visit.started_at
    if length < dt.timedelta(minutes=th.min_visit_minutes):
        found.append(Found("visit_too_short", {"minutes": int(length.total_seconds() // 60),
                                               "min_minutes": th.min_visit_minutes}))

    # M21 Art 15-16: a home visit needs at least two investigators.
    investigators = session.scalar(
        sa.select(sa.func.count()).select_from(VisitInvestigator).where(VisitInvestigator.visit_id == visit.id))
    if investigators < th.min_investigators:
        found.append(Found("too_few_investigators", {"count": investigators, "min": th.min_investigators}))

    # --- photos ---
    photos = _photos(session, visit, dialect)
    kinds = {p.kind for p in photos}
    missing = [k for k in th.required_photo_kinds if k not in kinds]
    if missing:
        found.append(Found("missing_photo_kinds", {"kinds": missing}))
    found.extend(_photos_outside(visit, photos, th))
    pending = _pending(session, visit)
    if pending:
        found.append(Found("photos_pending", {"count": len(pending), "sha256s": pending}))
    duplicates, mirrors = _duplicates(session, case, visit, th.duplicate_photo_max_distance)
    found.extend(duplicates)

    # --- what the neighbours say ---
    testimonies = session.scalars(
        sa.select(Testimony).where(Testimony.visit_id == visit.id).order_by(Testimony.id)).all()
    if len(testimonies) < th.min_testimonies:
        found.append(Found("too_few_testimonies", {"count": len(testimonies), "min": th.min_testimonies}))
    for t in testimonies:
        if (t.matches_declaration or "").strip().lower() == "no":
            found.append(Found("testimony_contradicts", {"witness_name": t.witness_name, "role": t.role}))

    # --- money: the policy engine on what the visit found ---
    found.extend(_evaluation(session, visit, settings))

    # --- M21 Art 11: relatives of staff ---
    found.extend(_staff_relatives(session, visit, household))

    order = {code: i for i, code in enumerate(CODES)}
    found.sort(key=lambda f: order[f.code])  # stable: each check already ordered its own
    return found, mirrors


@dataclass(frozen=True)
class _PhotoSeen:
    sha256: str
    kind: str
    arrived: bool
    taken_at: dt.datetime | None
    distance_m: float | None  # from the visit's point


def _photos(session: Session, visit: Visit, dialect: str) -> list[_PhotoSeen]:
    """The visit's photos with the best time and place known: the photo's own EXIF once it
    has arrived (the device's clock and GPS at capture), else what the visit says."""
    where = sa.func.coalesce(Photo.exif_location, VisitPhoto.location)
    rows = session.execute(
        sa.select(VisitPhoto.sha256, VisitPhoto.kind, VisitPhoto.taken_at, Photo.sha256.label("arrived"),
                  Photo.exif_taken_at, distance_sql(dialect, where, Visit.location).label("distance"))
        .join(Visit, Visit.id == VisitPhoto.visit_id)
        .outerjoin(Photo, Photo.sha256 == VisitPhoto.sha256)
        .where(VisitPhoto.visit_id == visit.id)
        .order_by(VisitPhoto.id)
    ).all()
    return [_PhotoSeen(r.sha256, r.kind, r.arrived is not None, r.exif_taken_at or r.taken_at,
                       None if r.distance is None else float(r.distance)) for r in rows]


def _photos_outside(visit: Visit, photos: list[_PhotoSeen], th) -> list[Found]:
    margin = dt.timedelta(minutes=th.photo_time_margin_minutes)
    out: list[Found] = []
    seen: set[str] = set()
    for p in photos:
        if p.sha256 in seen:
            continue
        seen.add(p.sha256)
        if p.taken_at is not None and not (visit.started_at - margin <= p.taken_at <= visit.ended_at + margin):
            out.append(Found("photo_outside_visit", {
                "sha256": p.sha256, "photo_kind": p.kind, "aspect": "time", "taken_at": _iso(p.taken_at),
                "started_at": _iso(visit.started_at), "ended_at": _iso(visit.ended_at),
                "margin_minutes": th.photo_time_margin_minutes}, p.sha256))
        if p.distance_m is not None and p.distance_m > th.gps_distance_m:
            out.append(Found("photo_outside_visit", {
                "sha256": p.sha256, "photo_kind": p.kind, "aspect": "location", "distance_m": round(p.distance_m),
                "limit_m": th.gps_distance_m}, p.sha256))
    return out


def _pending(session: Session, visit: Visit) -> list[str]:
    """Every image the visit names by hash (photos, asset photos, signatures) whose bytes
    have not arrived, sorted."""
    named = set(session.scalars(sa.select(VisitPhoto.sha256).where(VisitPhoto.visit_id == visit.id)))
    for hashes in session.scalars(sa.select(Asset.photo_hashes).where(Asset.visit_id == visit.id)):
        named.update(h for h in hashes or () if isinstance(h, str))
    named.update(session.scalars(sa.select(Signature.image_sha256).where(Signature.visit_id == visit.id)))
    named.update(session.scalars(sa.select(Testimony.signature_sha256)
                                 .where(Testimony.visit_id == visit.id, Testimony.signature_sha256.is_not(None))))
    named.discard(None)
    if not named:
        return []
    arrived = set(session.scalars(sa.select(Photo.sha256).where(Photo.sha256.in_(sorted(named)))))
    return sorted(named - arrived)


def hash_bands(phash: str) -> list[tuple[int, int]]:
    """(band, value) of a 16-hex-digit hash: band i is byte i, most significant first."""
    return [(i, int(phash[2 * i:2 * i + 2], 16)) for i in range(8)]


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _duplicates(session: Session, case: Case, visit: Visit, max_distance: int) -> tuple[list[Found], list[tuple]]:
    """Photos of this visit within `max_distance` bits of a photo attached to a visit of
    another household's case. Candidates share at least one band exactly (pigeonhole over
    8 bands when the distance is at most 7); the exact distance is then counted here."""
    mine = session.execute(
        sa.select(Photo.sha256, Photo.phash).join(VisitPhoto, VisitPhoto.sha256 == Photo.sha256)
        .where(VisitPhoto.visit_id == visit.id, Photo.phash.is_not(None))
        .distinct().order_by(Photo.sha256)
    ).all()
    mine = [(sha, phash.lower()) for sha, phash in mine if _is_phash(phash)]
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
               Case.household_id != case.household_id, Visit.id != visit.id)
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


def _evaluation(session: Session, visit: Visit, settings: PolicySettings) -> list[Found]:
    """Disqualifying assets and PCI ≥ S, by the policy engine on the visit's own findings."""
    household = _household_in(visit)
    try:
        result = engine.evaluate(settings, household, local_today(visit.started_at))
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


def _household_in(visit: Visit) -> engine.HouseholdIn:
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


def _staff_relatives(session: Session, visit: Visit, household: Household) -> list[Found]:
    """M21 Art 11: a member (as the visit found them, or as registered) whose ID number is in
    the register of staff relatives."""
    names: dict[str, str] = {}
    for number, name in session.execute(
            sa.select(Member.id_number, Member.name).where(Member.household_id == household.id)
            .order_by(Member.position)):
        names.setdefault(number.upper(), name)
    for m in sorted(visit.members, key=lambda m: m.position):
        if m.id_number:
            names[m.id_number.upper()] = m.name  # the visit's own record wins
    if not names:
        return []
    relations = session.scalars(
        sa.select(StaffRelation)
        .where(sa.func.upper(StaffRelation.relative_id_number).in_(sorted(names)))
        .order_by(StaffRelation.relative_id_number, StaffRelation.staff_name, StaffRelation.id)
    ).all()
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
