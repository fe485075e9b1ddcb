"""Quality flags of a synced visit (DESIGN.md "Quality flags", issue 4 item 7), on the real
database: each rule raised when broken and quiet when it holds, with thresholds read from
the policy in force (a community policy with non-default numbers), distances measured by
the database in metres, a picture re-used for another household flagged on both visits,
dismissed flags not raised again, and every text in both languages."""
import datetime as dt
import hashlib
import itertools
import math
import random
import string
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from server.accounts.models import StaffRelation
from server.core.audit import AuditEvent
from server.core.db import point_wkt, utcnow
from server.core.validators import make_id_number
from server.photos.models import Photo, PhotoHashBand
from server.policy.models import PolicyVersion
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings, PolicySettingsError, merge_defaults
from server.review import flags as flagging
from server.review.flags import CODES, FLAG_TEXTS, SEVERITY, distance_m, flag_text, hamming, refresh_flags
from server.review.models import Flag
from server.review.queries import flags_for_case, open_flag_counts
from server.visits.models import Testimony as NeighbourTestimony  # a "Test…" name would be collected by pytest
from server.visits.models import (
    Asset,
    IncomeItem,
    Visit,
    VisitInvestigator,
    VisitMember,
    VisitPhoto,
)

CST = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 11, 20, 9, 12, tzinfo=CST)
END = dt.datetime(2026, 11, 20, 9, 58, tzinfo=CST)
HOME = (29.797, 119.691)  # case_factory's registered location

# Every number differs from the default, so a test that passes here read the policy.
STRICT = {
    "monthly_standard": "900.00",
    "disqualifiers": {"vehicle_value_limit": "20000.00"},
    "flags": {
        "gps_distance_m": 200,
        "gps_accuracy_m": 30,
        "min_visit_minutes": 20,
        "min_investigators": 3,
        "min_testimonies": 3,
        "required_photo_kinds": ["exterior", "kitchen", "documents"],
        "photo_time_margin_minutes": 15,
        "duplicate_photo_max_distance": 4,
    },
}

_seq = itertools.count(1)


# --- geometry without the database, to check the database against ---------------------

WGS84_A, WGS84_F = 6378137.0, 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)


def north_of(point, metres):
    """The point `metres` due north (meridian arc of the WGS 84 ellipsoid, good to mm here)."""
    lat, lon = point
    phi = math.radians(lat)
    per_degree = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    return lat + metres / per_degree, lon


def east_of(point, metres):
    lat, lon = point
    phi = math.radians(lat)
    per_degree = math.pi / 180 * WGS84_A * math.cos(phi) / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)
    return lat, lon + metres / per_degree


def wkt(point):
    return point_wkt(*point)


# --- building visits the way the sync API will store them ------------------------------


def sha(label) -> str:
    return hashlib.sha256(f"{label}-{next(_seq)}".encode()).hexdigest()


def random_phash(rng) -> str:
    return f"{rng.getrandbits(64):016x}"


def flip_bits(phash: str, bits) -> str:
    value = int(phash, 16)
    for b in bits:
        value ^= 1 << b
    return f"{value:016x}"


@pytest.fixture()
def add_photo(db_session):
    """A photo that has arrived: its row with EXIF time and place, its hash and the 8 bands."""

    def add(sha256, *, phash=None, taken_at=START + dt.timedelta(minutes=8), where=HOME):
        photo = Photo(sha256=sha256, content_type="image/jpeg", size_bytes=123456, width=4000, height=3000,
                      exif_taken_at=taken_at, exif_location=None if where is None else wkt(where), phash=phash)
        db_session.add(photo)
        if phash is not None:
            db_session.add_all(PhotoHashBand(sha256=sha256, band=i, value=int(phash[2 * i:2 * i + 2], 16))
                               for i in range(8))
        db_session.flush()
        return photo

    return add


@pytest.fixture()
def investigators(make_user):
    return [make_user(roles=("investigator",)) for _ in range(3)]


@pytest.fixture()
def strict_policy(db_session, community):
    version = PolicyVersion(jurisdiction_id=community.id, effective_from=dt.date(2026, 1, 1),
                            settings=merge_defaults(STRICT), note="strict test policy")
    db_session.add(version)
    db_session.flush()
    return version


@pytest.fixture()
def make_visit(db_session, case_factory, investigators, add_photo):
    """A visit that breaks no rule of STRICT; keyword arguments break one."""
    rng = random.Random(4)

    def make(case=None, *, started_at=START, ended_at=END, location=HOME, accuracy_m=Decimal("8.0"),
             n_investigators=3, members=None, income=None, assets=None, testimonies=None, photos=None,
             photo_rows=True):
        case = case or case_factory(state="investigating")
        visit = Visit(id=uuid.uuid4(), case_id=case.id, kind="initial", state="in_review", started_at=started_at,
                      ended_at=ended_at, location=None if location is None else wkt(location),
                      location_accuracy_m=accuracy_m, device_id="tablet-1", submitted_by_id=investigators[0].id,
                      body={}, body_hash="0" * 64)
        visit.investigators = [VisitInvestigator(user_id=u.id) for u in investigators[:n_investigators]]
        n = next(_seq)
        visit.members = members if members is not None else [
            VisitMember(position=0, name="张三", relation="self", sex="M", birth_date=dt.date(1961, 3, 2),
                        id_number=make_id_number("330127", dt.date(1961, 3, 2), n % 500, "M")),
            VisitMember(position=1, name="李四", relation="spouse", sex="F", birth_date=dt.date(1963, 5, 6),
                        id_number=make_id_number("330127", dt.date(1963, 5, 6), n % 500, "F")),
        ]
        visit.income = income if income is not None else [
            IncomeItem(member_position=0, kind="pension", monthly_amount=Decimal("620.00"), counted=True)]
        visit.assets = assets if assets is not None else [
            Asset(position=0, category="vehicle", description="电动三轮车", value=Decimal("8000.00"), count=1)]
        visit.testimonies = testimonies if testimonies is not None else [
            NeighbourTestimony(witness_name=f"邻居{i}", role="neighbour", matches_declaration="yes",
                      answers={"matches_declaration": "yes"}) for i in range(3)]
        if photos is None:
            photos = [VisitPhoto(sha256=sha(kind), kind=kind, taken_at=START + dt.timedelta(minutes=8),
                                 location=wkt(HOME)) for kind in ("exterior", "interior", "kitchen", "documents")]
        visit.photos = photos
        if photo_rows:
            for p in photos:
                if db_session.get(Photo, p.sha256) is None:
                    add_photo(p.sha256, phash=random_phash(rng))
        db_session.add(visit)
        db_session.flush()
        return visit

    return make


def codes(flags):
    return [f.code for f in flags]


def only(flags, code):
    found = [f for f in flags if f.code == code]
    assert len(found) == 1, codes(flags)
    return found[0]


# --- the clean visit, and what every flag row carries ----------------------------------


def test_a_visit_that_keeps_every_rule_has_no_flags(db_session, strict_policy, make_visit):
    visit = make_visit()
    assert refresh_flags(db_session, visit) == []
    assert db_session.scalars(sa.select(Flag).where(Flag.case_id == visit.case_id)).all() == []


def test_flag_rows_carry_case_visit_severity_reason_and_params(db_session, strict_policy, make_visit):
    visit = make_visit(n_investigators=2)
    flag = only(refresh_flags(db_session, visit), "too_few_investigators")
    stored = db_session.scalars(sa.select(Flag).where(Flag.visit_id == visit.id)).one()
    assert stored is flag
    assert (flag.case_id, flag.severity, flag.params) == (visit.case_id, "error", {"count": 2, "min": 3})
    assert flag.reason == "入户调查人员 2 人，少于 3 人"
    assert flag_text(flag, locale="en") == "2 investigator(s) made the visit; at least 3 are required"


# --- where the visit was ---------------------------------------------------------------


def test_gps_missing(db_session, strict_policy, make_visit):
    flags = refresh_flags(db_session, make_visit(location=None))
    assert codes(flags) == ["gps_missing"] and flags[0].severity == "warning"
    assert "gps_missing" not in codes(refresh_flags(db_session, make_visit()))


@pytest.mark.parametrize("metres, flagged", [(250, False), (350, True)])
def test_gps_far_from_home_is_measured_in_metres(db_session, policy, make_visit, metres, flagged):
    """Default policy (300 m) at latitude 29.8: 250 m passes, 350 m is flagged. In degrees
    both would be 0.003 and pass, so a flag here means the database measured metres."""
    visit = make_visit(location=north_of(HOME, metres))
    flags = refresh_flags(db_session, visit)
    if flagged:
        flag = only(flags, "gps_far_from_home")
        assert flag.severity == "error"
        assert flag.params == {"distance_m": 350, "limit_m": 300}
    else:
        assert "gps_far_from_home" not in codes(flags)


def test_gps_far_from_home_uses_the_policy_distance(db_session, strict_policy, make_visit):
    flags = refresh_flags(db_session, make_visit(location=north_of(HOME, 250)))
    assert only(flags, "gps_far_from_home").params == {"distance_m": 250, "limit_m": 200}
    assert "gps_far_from_home" not in codes(refresh_flags(db_session, make_visit(location=east_of(HOME, 150))))


@pytest.mark.parametrize("move", [north_of, east_of])
@pytest.mark.parametrize("metres", [250, 350, 5000])
def test_distance_m_is_geodesic_metres_on_this_database(db_session, move, metres):
    there = move(HOME, metres)
    assert distance_m(db_session, wkt(HOME), wkt(there)) == pytest.approx(metres, abs=0.5)
    assert distance_m(db_session, wkt(HOME), None) is None


def test_distance_m_takes_stored_geometries(db_session, case_factory):
    case = case_factory()
    db_session.expire(case.household, ["location"])
    stored = case.household.location  # as the database gives it back (WKB)
    assert distance_m(db_session, stored, wkt(north_of(HOME, 350))) == pytest.approx(350, abs=0.5)


def test_gps_inaccurate(db_session, strict_policy, make_visit):
    """40 m would pass the default 50 m; the policy asks for 30 m."""
    flags = refresh_flags(db_session, make_visit(accuracy_m=Decimal("40.0")))
    flag = only(flags, "gps_inaccurate")
    assert (flag.severity, flag.params) == ("warning", {"accuracy_m": 40, "limit_m": 30})
    assert "gps_inaccurate" not in codes(refresh_flags(db_session, make_visit(accuracy_m=Decimal("30.0"))))
    assert only(refresh_flags(db_session, make_visit(accuracy_m=Decimal("30.5"))),
                "gps_inaccurate").params["accuracy_m"] == "30.5"


# --- how long, and who ------------------------------------------------------------------


def test_visit_too_short(db_session, strict_policy, make_visit):
    """15 minutes would pass the default 10; the policy asks for 20."""
    visit = make_visit(ended_at=START + dt.timedelta(minutes=15))
    flag = only(refresh_flags(db_session, visit), "visit_too_short")
    assert (flag.severity, flag.params) == ("warning", {"minutes": 15, "min_minutes": 20})
    visit.ended_at = START + dt.timedelta(minutes=20)
    assert refresh_flags(db_session, visit) == []
    assert db_session.scalars(sa.select(Flag).where(Flag.visit_id == visit.id)).all() == []


def test_too_few_investigators(db_session, strict_policy, make_visit):
    """M21 Art 15-16; two would pass the default, the policy asks for three."""
    visit = make_visit(n_investigators=2)
    assert only(refresh_flags(db_session, visit), "too_few_investigators").params == {"count": 2, "min": 3}
    assert "too_few_investigators" not in codes(refresh_flags(db_session, make_visit(n_investigators=3)))


def test_too_few_investigators_default_is_two(db_session, policy, make_visit):
    assert only(refresh_flags(db_session, make_visit(n_investigators=1)), "too_few_investigators").params == {
        "count": 1, "min": 2}
    assert "too_few_investigators" not in codes(refresh_flags(db_session, make_visit(n_investigators=2)))


# --- photos -----------------------------------------------------------------------------


def test_missing_photo_kinds_lists_what_the_policy_requires(db_session, strict_policy, make_visit):
    """The policy wants exterior, kitchen and documents (not interior)."""
    photos = [VisitPhoto(sha256=sha(k), kind=k, taken_at=START, location=wkt(HOME)) for k in ("interior", "kitchen")]
    flag = only(refresh_flags(db_session, make_visit(photos=photos)), "missing_photo_kinds")
    assert (flag.severity, flag.params) == ("warning", {"kinds": ["exterior", "documents"]})
    assert flag.reason == "缺少以下照片：房屋外景、证件材料"
    assert flag_text(flag, locale="en") == "Photos missing: exterior, documents"
    photos = [VisitPhoto(sha256=sha(k), kind=k, taken_at=START, location=wkt(HOME))
              for k in ("exterior", "kitchen", "documents")]
    assert "missing_photo_kinds" not in codes(refresh_flags(db_session, make_visit(photos=photos)))


def test_photo_outside_visit_time_prefers_the_photos_own_exif(db_session, strict_policy, make_visit, add_photo):
    """Margin 15 minutes (the default would be 30). The visit's record of a photo's time is
    the device's word; the EXIF of the bytes wins once they have arrived."""
    early, fine, exif_late, not_arrived = (sha(x) for x in ("early", "fine", "exif", "pending"))
    add_photo(early, taken_at=START - dt.timedelta(minutes=20))
    add_photo(fine, taken_at=START - dt.timedelta(minutes=10))
    add_photo(exif_late, taken_at=END + dt.timedelta(minutes=16))  # the visit says 09:30
    photos = [
        VisitPhoto(sha256=early, kind="exterior", taken_at=START, location=wkt(HOME)),
        VisitPhoto(sha256=fine, kind="kitchen", taken_at=START, location=wkt(HOME)),
        VisitPhoto(sha256=exif_late, kind="documents", taken_at=START + dt.timedelta(minutes=18), location=wkt(HOME)),
        VisitPhoto(sha256=not_arrived, kind="interior", taken_at=END + dt.timedelta(minutes=14), location=wkt(HOME)),
    ]
    flags = [f for f in refresh_flags(db_session, make_visit(photos=photos, photo_rows=False))
             if f.code == "photo_outside_visit"]
    assert [f.photo_sha256 for f in flags] == [early, exif_late]
    assert {f.severity for f in flags} == {"warning"}
    assert flags[0].params == {
        "sha256": early, "photo_kind": "exterior", "aspect": "time", "taken_at": "2026-11-20T00:52:00+00:00",
        "started_at": "2026-11-20T01:12:00+00:00", "ended_at": "2026-11-20T01:58:00+00:00", "margin_minutes": 15}
    assert flags[0].reason == (f"照片（房屋外景，{early[:8]}）拍摄于 2026-11-20 08:52，"
                               "不在走访时间 2026-11-20 09:12–2026-11-20 09:58 前后 15 分钟内")


def test_photo_outside_visit_place(db_session, strict_policy, make_visit, add_photo):
    """A photo's place (its EXIF GPS, else the visit's record) more than the policy's 200 m
    from the visit's point."""
    far_exif, near, far_recorded = sha("far"), sha("near"), sha("recorded")
    add_photo(far_exif, where=east_of(HOME, 250))
    add_photo(near, where=east_of(HOME, 150))
    add_photo(far_recorded, where=None)  # no GPS in its EXIF: the visit's record counts
    photos = [
        VisitPhoto(sha256=far_exif, kind="exterior", taken_at=START, location=wkt(HOME)),
        VisitPhoto(sha256=near, kind="kitchen", taken_at=START, location=wkt(east_of(HOME, 900))),
        VisitPhoto(sha256=far_recorded, kind="documents", taken_at=START, location=wkt(north_of(HOME, 260))),
    ]
    flags = [f for f in refresh_flags(db_session, make_visit(photos=photos, photo_rows=False))
             if f.code == "photo_outside_visit"]
    assert [(f.photo_sha256, f.params["distance_m"]) for f in flags] == [(far_exif, 250), (far_recorded, 260)]
    assert flags[0].params == {"sha256": far_exif, "photo_kind": "exterior", "aspect": "location",
                               "distance_m": 250, "limit_m": 200}
    assert flag_text(flags[0], locale="en") == (
        f"Photo (exterior, {far_exif[:8]}) was taken 250 m from where the visit was located, more than 200 m")


def test_photos_pending_counts_every_named_image_not_yet_arrived(db_session, strict_policy, make_visit, add_photo):
    visit = make_visit()
    assert "photos_pending" not in codes(refresh_flags(db_session, visit))
    missing_asset_photo, missing_photo = sha("asset"), sha("kitchen2")
    visit.assets[0].photo_hashes = [missing_asset_photo]
    visit.photos.append(VisitPhoto(sha256=missing_photo, kind="kitchen", taken_at=START, location=wkt(HOME)))
    flag = only(refresh_flags(db_session, visit), "photos_pending")
    assert flag.severity == "info"
    assert flag.params == {"count": 2, "sha256s": sorted([missing_asset_photo, missing_photo])}
    assert flag.reason == "还有 2 张照片尚未上传"
    add_photo(missing_photo)
    assert only(refresh_flags(db_session, visit), "photos_pending").params["count"] == 1
    add_photo(missing_asset_photo)
    assert "photos_pending" not in codes(refresh_flags(db_session, visit))


# --- the same picture in another household's case ---------------------------------------


def test_duplicate_photo_is_flagged_on_both_households_and_not_within_one(
        db_session, strict_policy, make_visit, case_factory):
    rng = random.Random(7)
    original = random_phash(rng)
    first_case, other_case = case_factory(state="investigating"), case_factory(state="investigating")
    first = make_visit(first_case)

    # The first household: its exterior photo has this hash; the other household's photo
    # differs in 4 bits, one in each of four different bytes (the policy allows 4).
    exterior = next(p for p in first.photos if p.kind == "exterior")
    db_session.get(Photo, exterior.sha256).phash = original
    db_session.execute(sa.delete(PhotoHashBand).where(PhotoHashBand.sha256 == exterior.sha256))
    db_session.add_all(PhotoHashBand(sha256=exterior.sha256, band=i, value=int(original[2 * i:2 * i + 2], 16))
                       for i in range(8))
    near = flip_bits(original, [0, 17, 34, 51])
    assert hamming(original, near) == 4

    # An earlier visit of the *same* household with a near-identical photo: never a duplicate.
    same_household_earlier = make_visit(first_case, started_at=START - dt.timedelta(days=60),
                                        ended_at=END - dt.timedelta(days=60))
    earlier_photo = same_household_earlier.photos[0]
    db_session.get(Photo, earlier_photo.sha256).phash = flip_bits(original, [1])
    _rewrite_bands(db_session, earlier_photo.sha256)

    second = make_visit(other_case)
    second_photo = next(p for p in second.photos if p.kind == "exterior")
    db_session.get(Photo, second_photo.sha256).phash = near
    _rewrite_bands(db_session, second_photo.sha256)
    db_session.flush()

    flags = refresh_flags(db_session, second)
    flag = only(flags, "duplicate_photo")
    assert flag.severity == "error" and flag.case_id == other_case.id and flag.photo_sha256 == second_photo.sha256
    assert flag.params == {"other_case": first_case.number, "distance": 4, "sha256": second_photo.sha256,
                           "other_sha256": exterior.sha256}
    assert first_case.number in flag.reason

    # ... and on the first household's visit too, pointing back.
    mirror = db_session.scalars(sa.select(Flag).where(Flag.visit_id == first.id)).one()
    assert (mirror.code, mirror.case_id, mirror.severity, mirror.photo_sha256) == (
        "duplicate_photo", first_case.id, "error", exterior.sha256)
    assert mirror.params == {"other_case": other_case.number, "distance": 4, "sha256": exterior.sha256,
                             "other_sha256": second_photo.sha256}
    # The same household's earlier visit (1 bit from the first photo, 5 from the second) is
    # not flagged: 1 bit is the same household, 5 bits is beyond the policy's 4.
    assert db_session.scalars(sa.select(Flag).where(Flag.visit_id == same_household_earlier.id)).all() == []

    # Refreshing the first visit finds the same pair from its side: one flag, not two.
    again = refresh_flags(db_session, first)
    assert codes(again) == ["duplicate_photo"] and again[0].params == mirror.params
    assert len(db_session.scalars(sa.select(Flag).where(Flag.code == "duplicate_photo",
                                                        Flag.visit_id == second.id)).all()) == 1
    # ... and refreshing the earlier visit of the first household flags nothing.
    assert "duplicate_photo" not in codes(refresh_flags(db_session, same_household_earlier))


def test_duplicate_photo_threshold_comes_from_the_policy(db_session, strict_policy, make_visit, case_factory):
    rng = random.Random(11)
    original = random_phash(rng)
    first, second = make_visit(), make_visit()
    _set_phash(db_session, first.photos[0].sha256, original)
    _set_phash(db_session, second.photos[0].sha256, flip_bits(original, [3, 12, 24, 40, 60]))  # 5 bits
    assert "duplicate_photo" not in codes(refresh_flags(db_session, second))
    _set_phash(db_session, second.photos[0].sha256, flip_bits(original, [3, 12, 24, 40]))  # 4 bits
    assert only(refresh_flags(db_session, second), "duplicate_photo").params["distance"] == 4


def test_the_very_same_photo_in_two_households_is_a_duplicate_at_distance_0(
        db_session, policy, make_visit, add_photo):
    reused = sha("reused")
    add_photo(reused, phash="0123456789abcdef")
    first = make_visit(photos=[VisitPhoto(sha256=reused, kind="exterior", taken_at=START, location=wkt(HOME))],
                       photo_rows=False)
    second = make_visit(photos=[VisitPhoto(sha256=reused, kind="exterior", taken_at=START, location=wkt(HOME))],
                        photo_rows=False)
    flag = only(refresh_flags(db_session, second), "duplicate_photo")
    assert flag.params["distance"] == 0 and flag.params["sha256"] == flag.params["other_sha256"] == reused
    assert only(db_session.scalars(sa.select(Flag).where(Flag.visit_id == first.id)).all(), "duplicate_photo")


def _set_phash(session, sha256, phash):
    session.get(Photo, sha256).phash = phash
    _rewrite_bands(session, sha256)


def _rewrite_bands(session, sha256):
    phash = session.get(Photo, sha256).phash
    session.execute(sa.delete(PhotoHashBand).where(PhotoHashBand.sha256 == sha256))
    session.add_all(PhotoHashBand(sha256=sha256, band=i, value=int(phash[2 * i:2 * i + 2], 16)) for i in range(8))
    session.flush()


# --- what the neighbours say -------------------------------------------------------------


def test_too_few_testimonies(db_session, strict_policy, make_visit):
    """Two would pass the default; the policy asks for three."""
    two = [NeighbourTestimony(witness_name=f"邻居{i}", role="neighbour", matches_declaration="yes") for i in range(2)]
    flag = only(refresh_flags(db_session, make_visit(testimonies=two)), "too_few_testimonies")
    assert (flag.severity, flag.params) == ("warning", {"count": 2, "min": 3})
    assert "too_few_testimonies" not in codes(refresh_flags(db_session, make_visit()))


def test_testimony_contradicts(db_session, strict_policy, make_visit):
    testimonies = [
        NeighbourTestimony(witness_name="王五", role="neighbour", matches_declaration="yes"),
        NeighbourTestimony(witness_name="赵六", role="grid_worker", matches_declaration="no"),
        NeighbourTestimony(witness_name="钱七", role="cadre", matches_declaration="unsure"),
    ]
    flag = only(refresh_flags(db_session, make_visit(testimonies=testimonies)), "testimony_contradicts")
    assert (flag.severity, flag.params) == ("error", {"witness_name": "赵六", "role": "grid_worker"})
    assert flag.reason == "网格员 赵六 表示家庭情况与申报不符"
    assert flag_text(flag, locale="en") == (
        "Grid worker 赵六 says the household's situation does not match the declaration")


# --- money: the policy engine on what the visit found -----------------------------------


def test_disqualifying_asset_marked_by_the_investigators(db_session, strict_policy, make_visit):
    assets = [Asset(position=0, category="other", description="大型农机", value=Decimal("5000.00"), count=1,
                    disqualifying=True)]
    flag = only(refresh_flags(db_session, make_visit(assets=assets)), "disqualifying_asset")
    assert (flag.severity, flag.params) == ("error", {"disqualifier": "flagged_asset", "detail": {"count": 1}})
    assert flag.reason == "财产状况不符合低保条件：调查人员认定 1 项财产不符合低保条件"


def test_disqualifying_asset_named_by_the_policy_engine(db_session, strict_policy, make_visit):
    """A ¥25,000 car: under the default limit (¥30,000), over this policy's ¥20,000."""
    car = [Asset(position=0, category="vehicle", description="轿车", value=Decimal("25000.00"), count=1)]
    flag = only(refresh_flags(db_session, make_visit(assets=car)), "disqualifying_asset")
    assert flag.params == {"disqualifier": "vehicle_value", "detail": {"value": "25000.00", "limit": "20000.00"}}
    assert flag_text(flag, locale="en") == (
        "Assets rule the household out: Owns a vehicle worth 25000.00 yuan, above the limit of 20000.00 yuan "
        "(disability mobility vehicles are exempt)")
    cheaper = [Asset(position=0, category="vehicle", description="轿车", value=Decimal("20000.00"), count=1)]
    assert "disqualifying_asset" not in codes(refresh_flags(db_session, make_visit(assets=cheaper)))
    mobility = [Asset(position=0, category="vehicle", value=Decimal("25000.00"), count=1, disability_mobility=True)]
    assert "disqualifying_asset" not in codes(refresh_flags(db_session, make_visit(assets=mobility)))


def test_pci_above_standard(db_session, strict_policy, make_visit):
    """Standard 900 here (1100 by default): two members with 1800 a month are at S."""
    at_standard = [IncomeItem(member_position=0, kind="wage", monthly_amount=Decimal("1800.00"), counted=True)]
    flag = only(refresh_flags(db_session, make_visit(income=at_standard)), "pci_above_standard")
    assert (flag.severity, flag.params) == ("error", {"pci": "900.00", "standard": "900.00"})
    assert flag.reason == "家庭人均月收入 900.00 元不低于保障标准 900.00 元"
    below = [IncomeItem(member_position=0, kind="wage", monthly_amount=Decimal("1799.99"), counted=True),
             IncomeItem(member_position=1, kind="scholarship", monthly_amount=Decimal("500.00"), counted=False)]
    assert "pci_above_standard" not in codes(refresh_flags(db_session, make_visit(income=below)))


def test_a_household_the_engine_cannot_evaluate_is_flagged_not_an_error(db_session, strict_policy, make_visit):
    assets = [Asset(position=0, category="other", value=Decimal("1.00"), count=1, disqualifying=True)]
    flags = refresh_flags(db_session, make_visit(members=[], assets=assets))
    assert codes(flags) == ["disqualifying_asset", "household_not_evaluated"]
    assert flags[1].params == {"field": "members", "message": "a household has at least one member"}


# --- M21 Art 11: relatives of staff -------------------------------------------------------


def test_related_to_staff_through_the_visits_members(db_session, strict_policy, make_visit, community, make_user):
    visit = make_visit()
    case = db_session.get(flagging.Case, visit.case_id)
    assert "related_to_staff" not in codes(refresh_flags(db_session, visit)) and case.related_to_staff is False
    staff = make_user(roles=("office",), display_name="刘主任")
    db_session.add(StaffRelation(jurisdiction_id=community.id, staff_user_id=staff.id, staff_name="刘主任",
                                 staff_role="caseworker", relative_name="李四",
                                 relative_id_number=visit.members[1].id_number, relation="sibling"))
    db_session.flush()
    flag = only(refresh_flags(db_session, visit), "related_to_staff")
    assert (flag.severity, flag.params) == ("error", {"member_name": "李四", "staff_name": "刘主任",
                                                      "staff_role": "caseworker", "relation": "sibling"})
    assert flag.reason == "家庭成员 李四 是经办人员 刘主任 的兄弟姐妹，需单独登记备案"
    assert case.related_to_staff is True
    event = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                           AuditEvent.action == "case.related_to_staff")).one()
    assert event.actor_name == "system" and event.after["related_to_staff"] is True


def test_related_to_staff_through_the_registered_household(db_session, strict_policy, make_visit, community):
    visit = make_visit()
    case = db_session.get(flagging.Case, visit.case_id)
    registered = case.household.members[0]
    db_session.add(StaffRelation(jurisdiction_id=community.id, staff_name="陈委员", staff_role="panel",
                                 relative_name=registered.name, relative_id_number=registered.id_number,
                                 relation="parent"))
    db_session.flush()
    flag = only(refresh_flags(db_session, visit), "related_to_staff")
    assert flag.params["member_name"] == registered.name and case.related_to_staff is True


# --- policy in force, replacing and dismissing ------------------------------------------


def test_thresholds_come_from_the_policy_in_force_on_the_visit_date(db_session, community, county, policy,
                                                                    make_visit):
    """The county's default policy; a stricter community policy from 1 December does not
    yet apply to a visit on 20 November, and does to one on 2 December."""
    db_session.add(PolicyVersion(jurisdiction_id=community.id, effective_from=dt.date(2026, 12, 1),
                                 settings=merge_defaults(STRICT)))
    db_session.flush()
    november = make_visit(n_investigators=2)
    assert "too_few_investigators" not in codes(refresh_flags(db_session, november))
    december = make_visit(n_investigators=2, started_at=START + dt.timedelta(days=12),
                          ended_at=END + dt.timedelta(days=12))
    assert "too_few_investigators" in codes(refresh_flags(db_session, december))


def test_defaults_apply_where_no_policy_is_in_force(db_session, make_visit):
    flags = refresh_flags(db_session, make_visit(ended_at=START + dt.timedelta(minutes=9)))
    assert only(flags, "visit_too_short").params == {"minutes": 9, "min_minutes": 10}


def test_a_stored_policy_without_the_newer_flag_settings_gets_their_defaults(db_session, community, make_visit):
    doc = merge_defaults({})
    del doc["flags"]["photo_time_margin_minutes"], doc["flags"]["duplicate_photo_max_distance"]
    db_session.add(PolicyVersion(jurisdiction_id=community.id, effective_from=dt.date(2026, 1, 1), settings=doc))
    db_session.flush()
    photos = [VisitPhoto(sha256=sha(k), kind=k, taken_at=START - dt.timedelta(minutes=25), location=wkt(HOME))
              for k in ("exterior", "interior", "kitchen")]
    assert "photo_outside_visit" not in codes(refresh_flags(db_session, make_visit(photos=photos,
                                                                                   photo_rows=False)))


def test_refresh_replaces_open_flags_and_is_deterministic(db_session, strict_policy, make_visit):
    visit = make_visit(location=None, ended_at=START + dt.timedelta(minutes=5), n_investigators=1,
                       testimonies=[NeighbourTestimony(witness_name="甲", role="neighbour", matches_declaration="no")])
    first = [(f.code, f.params) for f in refresh_flags(db_session, visit)]
    second = [(f.code, f.params) for f in refresh_flags(db_session, visit)]
    assert first == second
    assert [c for c, _ in first] == ["gps_missing", "visit_too_short", "too_few_investigators",
                                     "too_few_testimonies", "testimony_contradicts"]
    stored = db_session.scalars(sa.select(Flag).where(Flag.visit_id == visit.id).order_by(Flag.id)).all()
    assert [(f.code, f.params) for f in stored] == second


def test_dismissed_flags_are_kept_and_not_raised_again(db_session, strict_policy, make_visit, office_user):
    visit = make_visit(n_investigators=2, ended_at=START + dt.timedelta(minutes=15))
    flags = refresh_flags(db_session, visit)
    short = only(flags, "visit_too_short")
    short.dismissed_at, short.dismissed_by_id, short.dismissed_reason = utcnow(), office_user.id, "户主行动不便，已电话核实"
    db_session.flush()

    again = refresh_flags(db_session, visit)
    assert codes(again) == ["too_few_investigators"]
    remaining = db_session.scalars(sa.select(Flag).where(Flag.visit_id == visit.id).order_by(Flag.id)).all()
    assert [(f.code, f.dismissed_at is not None) for f in remaining] == [
        ("visit_too_short", True), ("too_few_investigators", False)]
    assert remaining[0].id == short.id

    # The same rule broken differently (a shorter visit) is a new flag.
    visit.ended_at = START + dt.timedelta(minutes=12)
    assert codes(refresh_flags(db_session, visit)) == ["visit_too_short", "too_few_investigators"]


def test_a_dismissed_duplicate_is_not_raised_again_on_the_other_side(db_session, policy, make_visit, add_photo,
                                                                     office_user):
    reused = sha("reused")
    add_photo(reused, phash="fedcba9876543210")
    photo = lambda: [VisitPhoto(sha256=reused, kind="exterior", taken_at=START, location=wkt(HOME))]  # noqa: E731
    first = make_visit(photos=photo(), photo_rows=False)
    second = make_visit(photos=photo(), photo_rows=False)
    refresh_flags(db_session, second)
    mirror = db_session.scalars(sa.select(Flag).where(Flag.visit_id == first.id)).one()
    mirror.dismissed_at, mirror.dismissed_by_id = utcnow(), office_user.id
    db_session.flush()
    refresh_flags(db_session, second)
    assert db_session.scalars(sa.select(Flag).where(Flag.visit_id == first.id)).all() == [mirror]
    assert "duplicate_photo" not in codes(refresh_flags(db_session, first))


# --- reading them back -------------------------------------------------------------------


def test_flags_for_case_and_open_counts(db_session, strict_policy, make_visit, case_factory, office_user):
    visit = make_visit(ended_at=START + dt.timedelta(minutes=15), n_investigators=2, photo_rows=False)
    quiet = case_factory()
    flags = refresh_flags(db_session, visit)
    assert codes(flags) == ["visit_too_short", "too_few_investigators", "photos_pending"]
    short = only(flags, "visit_too_short")
    short.dismissed_at, short.dismissed_by_id = utcnow(), office_user.id
    db_session.flush()

    listed = flags_for_case(db_session, visit.case_id)
    assert codes(listed) == ["too_few_investigators", "photos_pending", "visit_too_short"]
    assert codes(flags_for_case(db_session, visit.case_id, include_dismissed=False)) == [
        "too_few_investigators", "photos_pending"]
    assert open_flag_counts(db_session, [visit.case_id, quiet.id]) == {
        visit.case_id: {"error": 1, "warning": 0, "info": 1},
        quiet.id: {"error": 0, "warning": 0, "info": 0},
    }
    assert open_flag_counts(db_session, []) == {}


# --- texts -------------------------------------------------------------------------------

SAMPLE_PARAMS = {
    "gps_missing": {},
    "gps_far_from_home": {"distance_m": 350, "limit_m": 300},
    "gps_inaccurate": {"accuracy_m": "62.5", "limit_m": 50},
    "visit_too_short": {"minutes": 7, "min_minutes": 10},
    "too_few_investigators": {"count": 1, "min": 2},
    "missing_photo_kinds": {"kinds": ["kitchen", "documents"]},
    "photo_outside_visit": {"sha256": "ab" * 32, "photo_kind": "interior", "aspect": "time",
                            "taken_at": "2026-11-19T23:00:00+00:00", "started_at": "2026-11-20T01:12:00+00:00",
                            "ended_at": "2026-11-20T01:58:00+00:00", "margin_minutes": 30},
    "photos_pending": {"count": 3, "sha256s": ["a" * 64, "b" * 64, "c" * 64]},
    "duplicate_photo": {"other_case": "T-000042", "distance": 2, "sha256": "ab" * 32, "other_sha256": "cd" * 32},
    "too_few_testimonies": {"count": 1, "min": 2},
    "testimony_contradicts": {"witness_name": "王五", "role": "neighbour"},
    "disqualifying_asset": {"disqualifier": "multiple_homes", "detail": {"homes": 2, "limit": 1}},
    "pci_above_standard": {"pci": "1200.00", "standard": "1100.00"},
    "household_not_evaluated": {"field": "income.0.kind", "message": "unknown income kind 'gift'"},
    "related_to_staff": {"member_name": "李四", "staff_name": "刘主任", "staff_role": "caseworker",
                         "relation": "spouse"},
}


def test_every_code_has_a_severity_and_texts_in_both_languages():
    assert set(FLAG_TEXTS) == set(SEVERITY) == set(CODES) == set(SAMPLE_PARAMS)
    assert set(SEVERITY.values()) <= {"info", "warning", "error"}
    for code in CODES:
        assert set(FLAG_TEXTS[code]) == {"zh_CN", "en"}, code


@pytest.mark.parametrize("code", CODES)
def test_every_text_renders_in_both_languages(code):
    zh = flag_text(code, SAMPLE_PARAMS[code], "zh_CN")
    en = flag_text(code, SAMPLE_PARAMS[code], "en")
    for text in (zh, en):
        assert text and "{" not in text and "}" not in text
    assert zh != en
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)  # Chinese
    assert all(ch in string.printable or ch in "–×≥" or "\u4e00" <= ch <= "\u9fff" for ch in en
               if ch not in "王五李四刘主任"), en
    assert flag_text(code, SAMPLE_PARAMS[code], "zh-CN") == zh
    assert flag_text(code, SAMPLE_PARAMS[code], "en_US") == en
    assert flag_text(code, SAMPLE_PARAMS[code], None) == zh  # the users' language is the fallback


def test_photo_outside_visit_renders_local_time_and_both_aspects():
    params = SAMPLE_PARAMS["photo_outside_visit"]
    assert flag_text("photo_outside_visit", params, "en") == (
        "Photo (interior, abababab) was taken at 2026-11-20 07:00, outside the visit "
        "(2026-11-20 09:12–2026-11-20 09:58) give or take 30 minutes")
    where = {"sha256": "ab" * 32, "photo_kind": "selfie", "aspect": "location", "distance_m": 420, "limit_m": 300}
    assert flag_text("photo_outside_visit", where, "zh_CN") == "照片（selfie，abababab）拍摄地点距走访定位 420 米，超过 300 米"


# --- the settings this module adds --------------------------------------------------------


def test_new_flag_settings_have_defaults_and_round_trip():
    flags = PolicySettings.from_dict(DEFAULT_SETTINGS).flags
    assert (flags.photo_time_margin_minutes, flags.duplicate_photo_max_distance) == (30, 6)
    doc = merge_defaults(STRICT)
    assert PolicySettings.from_dict(doc).to_dict() == doc


@pytest.mark.parametrize("key, value", [
    ("duplicate_photo_max_distance", 8),  # beyond what 8 bands of 8 bits can find
    ("duplicate_photo_max_distance", -1),
    ("duplicate_photo_max_distance", "6"),
    ("photo_time_margin_minutes", -5),
    ("photo_time_margin_minutes", 24 * 60 + 1),
    ("photo_time_margin_minutes", 2.5),
])
def test_new_flag_settings_are_range_checked(key, value):
    with pytest.raises(PolicySettingsError) as exc:
        PolicySettings.from_dict(merge_defaults({"flags": {key: value}}))
    assert list(exc.value.errors) == [f"flags.{key}"]


@pytest.mark.parametrize("key", ["duplicate_photo_max_distance", "photo_time_margin_minutes"])
def test_new_flag_settings_are_required_in_a_new_document(key):
    doc = merge_defaults({})
    del doc["flags"][key]
    with pytest.raises(PolicySettingsError) as exc:
        PolicySettings.from_dict(doc)
    assert list(exc.value.errors) == [f"flags.{key}"]


def test_duplicate_candidates_come_from_the_band_index(db_session, policy, make_visit, add_photo):
    """A photo is a candidate only through a shared (band, value) row: the index the photo
    pipeline fills is what makes the search fast, so a photo without bands is not seen."""
    first, second = sha("first"), sha("second")
    add_photo(first, phash="00112233445566ff")
    add_photo(second, phash="00112233445566fe")
    make_visit(photos=[VisitPhoto(sha256=first, kind="exterior", taken_at=START, location=wkt(HOME))],
               photo_rows=False)
    visit = make_visit(photos=[VisitPhoto(sha256=second, kind="exterior", taken_at=START, location=wkt(HOME))],
                       photo_rows=False)
    assert only(refresh_flags(db_session, visit), "duplicate_photo").params["distance"] == 1
    db_session.execute(sa.delete(PhotoHashBand).where(PhotoHashBand.sha256 == first))
    db_session.execute(sa.delete(Flag))
    assert "duplicate_photo" not in codes(refresh_flags(db_session, visit))
