"""Content-addressed photos (issue 4, items 4–6 and "Bad input"): PUT/HEAD/GET
/api/v1/photos/<sha256> on both databases, with camera-like photos made in the tests.
The last part runs a live server on its own database, for concurrent uploads."""
from __future__ import annotations

import datetime as dt
import http.client
import io
import itertools
import json
import os
import threading
import time
import urllib.request
from decimal import Decimal

import pytest
import sqlalchemy as sa
from PIL import Image

from server.core.audit import AuditEvent
from server.core.db import point_wkt
from server.core.storage import LocalStore, S3Store, current_store
from server.photos.models import Photo, PhotoHashBand
from server.policy.models import PolicyVersion
from server.policy.settings import merge_defaults
from tests import photos_helpers as ph
from tests.conftest import PASSWORD, live_app

_n = itertools.count(1)


def new_photo(orientation: int = 1, **kwargs) -> bytes:
    """A camera JPEG no other test uploads (its capture second differs)."""
    n = next(_n)
    kwargs.setdefault("taken_at", f"2026:11:20 {9 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}")
    return ph.camera_jpeg(orientation, **kwargs)


def store_of(app):
    with app.app_context():
        return current_store()


@pytest.fixture()
def bearer(db_session):
    """A device token for a user, issued as sign-in issues it (sign-in itself, with its
    deliberately slow password check, is tested in test_auth.py)."""
    from server.accounts.operations import issue_token

    def issue(user):
        raw, _token = issue_token(db_session, user, "photo tablet", 30)
        return {"Authorization": "Bearer " + raw}

    return issue


@pytest.fixture()
def inv(make_user, bearer):
    return bearer(make_user("photo-inv", roles=("investigator",)))


@pytest.fixture()
def office(make_user, bearer):
    return bearer(make_user("photo-office", roles=("office",)))


def put(client, data: bytes, headers: dict, name: str | None = None, content_type: str = "image/jpeg"):
    return client.put(f"/api/v1/photos/{name or ph.sha(data)}", data=data,
                      headers={**headers, "Content-Type": content_type})


def assert_problem(r, status: int, code: str):
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.get_json()["type"] == f"/problems/{code}"


# --- upload ------------------------------------------------------------------------------


def test_new_photo_is_201_repeat_is_200_and_nothing_is_rewritten(app, client, inv, db_session):
    data = new_photo(6)
    name = ph.sha(data)
    assert client.head(f"/api/v1/photos/{name}", headers=inv).status_code == 404

    r = put(client, data, inv)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["sha256"] == name and body["content_type"] == "image/jpeg" and body["size_bytes"] == len(data)
    assert (body["width"], body["height"]) == ph.UPRIGHT_SIZE
    assert body["taken_at"] == "2026-11-20T01:" + body["taken_at"][14:19] + "+00:00"
    assert body["location"] == {"lat": pytest.approx(30.2741, abs=1e-6), "lon": pytest.approx(120.1551, abs=1e-6),
                                "accuracy_m": 8.0}
    head = client.head(f"/api/v1/photos/{name}", headers=inv)
    assert head.status_code == 200 and head.get_data() == b""

    store = store_of(app)
    keys = [f"originals/{name}", f"display/{name}.jpg", f"thumbs/{name}.jpg"]
    before = {k: os.stat(store.path(k)) for k in keys}
    assert store.get(keys[0]) == data  # the evidence, byte for byte

    again = put(client, data, inv)
    assert again.status_code == 200 and again.get_json() == body
    after = {k: os.stat(store.path(k)) for k in keys}
    assert all((before[k].st_ino, before[k].st_mtime_ns) == (after[k].st_ino, after[k].st_mtime_ns) for k in keys)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Photo).where(Photo.sha256 == name)) == 1
    events = db_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_id == name)).all()
    assert events == ["photo.received"]


def test_bytes_that_do_not_hash_to_the_name_are_422_and_nothing_is_stored(app, client, inv, db_session):
    data = new_photo()
    wrong = ph.sha(data + b"!")
    r = put(client, data, inv, name=wrong)
    assert_problem(r, 422, "hash-mismatch")
    assert r.get_json()["sha256"] == ph.sha(data)
    store = store_of(app)
    for name in (wrong, ph.sha(data)):
        assert not store.exists(f"originals/{name}") and not store.exists(f"display/{name}.jpg")
        assert client.head(f"/api/v1/photos/{name}", headers=inv).status_code == 404
    assert db_session.get(Photo, wrong) is None and db_session.get(Photo, ph.sha(data)) is None


def test_a_cut_upload_is_a_hash_mismatch(client, inv):
    data = new_photo()
    assert_problem(put(client, data[:-1000], inv, name=ph.sha(data)), 422, "hash-mismatch")


@pytest.mark.parametrize("name", ["A" * 64, "a" * 63, "a" * 65, "g" * 64, "not-a-hash", "a" * 64 + "%0A"])
def test_a_name_that_is_not_a_sha256_is_422_for_put_and_404_for_reads(client, inv, name):
    assert_problem(put(client, b"\xff\xd8\xff", inv, name=name), 422, "invalid-photo-name")
    assert client.head(f"/api/v1/photos/{name}", headers=inv).status_code == 404
    assert_problem(client.get(f"/api/v1/photos/{name}/display", headers=inv), 404, "not-found")


@pytest.mark.parametrize("content_type", ["image/gif", "application/octet-stream", "text/plain", "image/avif", ""])
def test_other_content_types_are_415(client, inv, content_type):
    data = new_photo()
    r = put(client, data, inv, content_type=content_type)
    assert_problem(r, 415, "unsupported-media-type")
    assert "image/heic" in r.get_json()["accepted"]


def test_content_type_parameters_are_ignored(client, inv):
    assert put(client, new_photo(), inv, content_type="image/jpeg; name=x.jpg").status_code == 201


def test_more_bytes_than_the_policy_allows_is_413(app, client, inv, db_session, county):
    settings = merge_defaults({"photo_limits": {"max_bytes": 4000, "max_pixels": 50_000_000}})
    db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2020, 1, 1),
                                 settings=settings, note="small photos"))
    db_session.flush()
    data = new_photo(upright=ph.textured((400, 300), seed=25))
    assert len(data) > 4000
    r = put(client, data, inv)
    assert_problem(r, 413, "too-large")
    assert r.get_json()["max_bytes"] == 4000
    assert not store_of(app).exists(f"originals/{ph.sha(data)}")
    assert put(client, ph.one_pixel(), inv).status_code == 201  # under the limit is fine


def test_more_than_the_default_25_mb_is_413(client, inv, policy):
    data = b"\xff\xd8\xff" + os.urandom(25 * 1024 * 1024 - 2)  # 1 byte over 25 MiB
    r = put(client, data, inv)
    assert_problem(r, 413, "too-large")
    assert r.get_json()["max_bytes"] == 26214400


def test_the_pixel_limit_is_the_policys(client, inv, db_session, county):
    settings = merge_defaults({"photo_limits": {"max_bytes": 26214400, "max_pixels": 5000}})
    db_session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2020, 1, 1),
                                 settings=settings, note="small pictures"))
    db_session.flush()
    r = put(client, ph.png_bytes(ph.textured((100, 60))), inv, content_type="image/png")
    assert_problem(r, 422, "too-many-pixels")
    assert put(client, ph.png_bytes(ph.textured((70, 70), seed=24)), inv, content_type="image/png").status_code == 201


@pytest.mark.parametrize("make,content_type,code", [
    (ph.random_bytes, "image/jpeg", "not-an-image"),
    (lambda: b"GIF89a" + b"\x00" * 200, "image/png", "not-an-image"),
    (ph.truncated_jpeg, "image/jpeg", "corrupt-image"),
    (lambda: ph.jpeg_claiming(9000, 6000), "image/jpeg", "too-many-pixels"),
], ids=["random", "gif", "truncated", "jpeg-claims-54MP"])
def test_bad_images_are_422_and_nothing_is_stored(app, client, inv, make, content_type, code):
    data = make()
    assert_problem(put(client, data, inv, content_type=content_type), 422, code)
    assert not store_of(app).exists(f"originals/{ph.sha(data)}")
    assert client.head(f"/api/v1/photos/{ph.sha(data)}", headers=inv).status_code == 404


def test_a_decompression_bomb_is_refused_at_once(app, client, inv):
    bomb = ph.bomb_png()  # 20,000 × 20,000
    started = time.perf_counter()
    r = put(client, bomb, inv, content_type="image/png")
    elapsed = time.perf_counter() - started
    assert_problem(r, 422, "too-many-pixels")
    assert elapsed < 2.0
    assert not store_of(app).exists(f"originals/{ph.sha(bomb)}")


def test_png_webp_heic_and_a_one_pixel_image_are_photos(client, inv, db_session):
    for data, content_type, stored_type in [
        (ph.png_bytes(ph.textured((120, 80), seed=21)), "image/png", "image/png"),
        (ph.webp_bytes(ph.textured((120, 80), seed=22)), "image/webp", "image/webp"),
        (ph.heic_bytes(6, taken_at="2026:11:21 10:00:00"), "image/heic", "image/heic"),
        (ph.heic_bytes(1, taken_at="2026:11:21 10:00:01"), "image/heif", "image/heic"),
        (ph.one_pixel("PNG"), "image/png", "image/png"),
    ]:
        r = put(client, data, inv, content_type=content_type)
        assert r.status_code == 201, r.get_data(as_text=True)
        assert r.get_json()["content_type"] == stored_type
    heic = db_session.get(Photo, ph.sha(ph.heic_bytes(6, taken_at="2026:11:21 10:00:00")))
    assert (heic.width, heic.height) == ph.UPRIGHT_SIZE


def test_the_bytes_decide_the_type_not_the_header(client, inv):
    r = put(client, ph.png_bytes(ph.textured((50, 40), seed=23)), inv, content_type="image/jpeg")
    assert r.status_code == 201 and r.get_json()["content_type"] == "image/png"


# --- the row -----------------------------------------------------------------------------


def test_exif_time_gps_size_and_perceptual_hash_are_in_the_row(client, inv, db_session):
    data = new_photo(8, taken_at="2026:11:20 09:58:07", offset=None, gps=(29.7971, 119.6912, 12.5))
    name = ph.sha(data)
    assert put(client, data, inv).status_code == 201
    photo = db_session.get(Photo, name)
    assert photo.exif_taken_at == dt.datetime(2026, 11, 20, 1, 58, 7, tzinfo=dt.timezone.utc)  # Asia/Shanghai
    assert (photo.width, photo.height) == ph.UPRIGHT_SIZE
    assert photo.exif_accuracy_m == Decimal("12.5")
    lat, lon = db_session.execute(sa.select(sa.func.ST_Y(Photo.exif_location), sa.func.ST_X(Photo.exif_location))
                                  .where(Photo.sha256 == name)).one()
    assert (lat, lon) == (pytest.approx(29.7971, abs=1e-6), pytest.approx(119.6912, abs=1e-6))
    assert photo.content_type == "image/jpeg" and photo.size_bytes == len(data)
    assert photo.derived_ready is True and photo.original_key == f"originals/{name}"
    assert photo.uploaded_by_id is not None and photo.received_at is not None
    assert len(photo.phash) == 16 and int(photo.phash, 16) >= 0
    bands = db_session.execute(sa.select(PhotoHashBand.band, PhotoHashBand.value)
                               .where(PhotoHashBand.sha256 == name).order_by(PhotoHashBand.band)).all()
    assert [b for b, _ in bands] == list(range(8))
    assert bytes(v for _, v in bands).hex() == photo.phash  # band i is byte i of the hash


def test_a_photo_without_exif_has_no_time_or_place(client, inv, db_session):
    data = ph.png_bytes(ph.textured((64, 64), seed=31))
    assert put(client, data, inv, content_type="image/png").status_code == 201
    photo = db_session.get(Photo, ph.sha(data))
    assert photo.exif_taken_at is None and photo.exif_location is None and photo.exif_accuracy_m is None


# --- served copies ---------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_served_copies_are_upright_for_every_exif_orientation(client, inv, orientation):
    data = new_photo(orientation)
    assert put(client, data, inv).status_code == 201
    for variant in ("display", "thumb"):
        r = client.get(f"/api/v1/photos/{ph.sha(data)}/{variant}", headers=inv)
        assert r.status_code == 200 and r.mimetype == "image/jpeg"
        ph.assert_upright(r.get_data())


def test_served_copies_have_no_metadata_and_the_right_long_edges(client, inv):
    data = new_photo(6, upright=ph.textured((3000, 2250), seed=41), quality=85)
    name = ph.sha(data)
    assert put(client, data, inv).status_code == 201
    edges = {}
    for variant in ("display", "thumb"):
        r = client.get(f"/api/v1/photos/{name}/{variant}", headers=inv)
        assert r.status_code == 200 and r.mimetype == "image/jpeg"
        served = r.get_data()
        ph.assert_no_metadata(served)  # no EXIF, no GPS, no XMP, no ICC, no comment
        ph.assert_upright(served)
        with Image.open(io.BytesIO(served)) as img:
            edges[variant] = img.size
        assert r.headers["ETag"] == f'"{name}-{variant}"'
        assert "private" in r.headers["Cache-Control"] and "max-age=31536000" in r.headers["Cache-Control"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        not_modified = client.get(f"/api/v1/photos/{name}/{variant}",
                                  headers={**inv, "If-None-Match": r.headers["ETag"]})
        assert not_modified.status_code == 304 and not_modified.get_data() == b""
        other = client.get(f"/api/v1/photos/{name}/{variant}", headers={**inv, "If-None-Match": '"other"'})
        assert other.status_code == 200
    assert edges == {"display": (2048, 1536), "thumb": (320, 240)}


def test_a_photo_from_another_county_is_not_found(client, inv, db_session, make_user, bearer, township, case_factory):
    from server.core.models import Jurisdiction

    data = new_photo()
    assert put(client, data, inv).status_code == 201
    ph.name_in_visit(db_session, case_factory(state="in_review"), ph.sha(data))
    far_county = Jurisdiction(code="FAR-C", name="远县", kind="county")
    far_community = Jurisdiction(code="FAR-1", name="远社区", kind="community", parent=far_county,
                                 location=point_wkt(30.0, 120.0))
    db_session.add_all([far_county, far_community])
    db_session.flush()
    far = bearer(make_user("far-office", roles=("office",), jurisdiction=far_community))
    for variant in ("display", "thumb", "original"):
        assert_problem(client.get(f"/api/v1/photos/{ph.sha(data)}/{variant}", headers=far), 404, "not-found")
    # Nor in the same county, from another community: a photo is seen through its case.
    near_community = Jurisdiction(code="NEAR-1", name="近社区", kind="community", parent=township,
                                  location=point_wkt(29.8, 119.7))
    db_session.add(near_community)
    db_session.flush()
    near = bearer(make_user("near-office", roles=("office",), jurisdiction=near_community))
    assert_problem(client.get(f"/api/v1/photos/{ph.sha(data)}/thumb", headers=near), 404, "not-found")
    # The case's own office does, and the county above it.
    assert client.get(f"/api/v1/photos/{ph.sha(data)}/thumb",
                      headers=bearer(make_user("case-office", roles=("office",)))).status_code == 200
    denied = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                            AuditEvent.entity_id == ph.sha(data))).all()
    assert len(denied) == 4 and {e.actor_name for e in denied} == {"far-office", "near-office"}


def test_a_photo_no_visit_names_yet_is_its_uploaders_alone(client, inv, office, make_user, bearer):
    """Photos come before their visit: until the visit arrives nobody else may see them."""
    data = new_photo(2)
    assert put(client, data, inv).status_code == 201
    assert client.get(f"/api/v1/photos/{ph.sha(data)}/thumb", headers=inv).status_code == 200
    teammate = bearer(make_user("photo-inv-2", roles=("investigator",)))
    for who in (office, teammate):
        assert_problem(client.get(f"/api/v1/photos/{ph.sha(data)}/thumb", headers=who), 404, "not-found")


# --- the original ------------------------------------------------------------------------


def test_the_original_is_served_to_office_and_each_read_is_audited(client, inv, office, db_session, case_factory):
    data = new_photo(3)
    name = ph.sha(data)
    assert put(client, data, inv).status_code == 201
    ph.name_in_visit(db_session, case_factory(state="in_review"), name)
    for _ in range(2):
        r = client.get(f"/api/v1/photos/{name}/original", headers=office)
        assert r.status_code == 200
        assert r.get_data() == data  # the evidence, EXIF and all
        assert r.mimetype == "image/jpeg" and int(r.headers["Content-Length"]) == len(data)
        assert "no-store" in r.headers["Cache-Control"]
    reads = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "photo.original_read",
                                                           AuditEvent.entity_id == name)).all()
    assert len(reads) == 2 and {(e.entity, e.actor_name) for e in reads} == {("photo", "photo-office")}


def test_the_county_reads_originals_too(client, inv, make_user, bearer, county, db_session, case_factory):
    data = new_photo()
    assert put(client, data, inv).status_code == 201
    ph.name_in_visit(db_session, case_factory(state="in_review"), ph.sha(data))
    county_user = bearer(make_user("photo-county", roles=("county",), jurisdiction=county))
    assert client.get(f"/api/v1/photos/{ph.sha(data)}/original", headers=county_user).status_code == 200


def test_an_investigator_may_not_read_the_original(client, inv, db_session):
    data = new_photo()
    name = ph.sha(data)
    assert put(client, data, inv).status_code == 201
    r = client.get(f"/api/v1/photos/{name}/original", headers=inv)
    assert_problem(r, 403, "forbidden")
    assert b"Exif" not in r.get_data()
    events = db_session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_id == name)).all()
    assert "photo.original_read" not in events and "access.denied" in events


def test_everything_needs_a_token(client):
    data = new_photo()
    name = ph.sha(data)
    assert_problem(client.put(f"/api/v1/photos/{name}", data=data, content_type="image/jpeg"), 401, "unauthorized")
    head = client.head(f"/api/v1/photos/{name}")
    assert head.status_code == 401 and head.get_data() == b""
    for variant in ("display", "thumb", "original"):
        assert_problem(client.get(f"/api/v1/photos/{name}/{variant}"), 401, "unauthorized")
    bad = {"Authorization": "Bearer not-a-token"}
    assert_problem(client.put(f"/api/v1/photos/{name}", data=data, content_type="image/jpeg", headers=bad),
                   401, "unauthorized")


def test_openapi_documents_the_photo_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    put_doc = paths["/api/v1/photos/{sha256}"]["put"]
    assert {"200", "201", "401", "413", "415", "422"} <= set(put_doc["responses"])
    assert set(put_doc["requestBody"]["content"]) == {"image/jpeg", "image/png", "image/webp", "image/heic",
                                                      "image/heif"}
    assert {"200", "401", "404"} <= set(paths["/api/v1/photos/{sha256}"]["head"]["responses"])
    for variant in ("display", "thumb"):
        assert {"200", "304", "401", "404"} <= set(paths[f"/api/v1/photos/{{sha256}}/{variant}"]["get"]["responses"])
    assert {"200", "401", "403", "404"} <= set(paths["/api/v1/photos/{sha256}/original"]["get"]["responses"])


# --- the same through the S3 store -------------------------------------------------------


@pytest.fixture()
def s3_app(app):
    with ph.moto_server() as url:
        s3 = S3Store("doorstep-api-test", endpoint_url=url, **ph.S3_CREDENTIALS)
        s3.ensure_bucket()
        previous = app.extensions.get("doorstep_store")
        app.extensions["doorstep_store"] = s3
        try:
            yield s3
        finally:
            app.extensions["doorstep_store"] = previous


def test_photos_go_to_s3_when_it_is_the_store(s3_app, client, inv, office, db_session, case_factory):
    data = new_photo(6)
    name = ph.sha(data)
    assert put(client, data, inv).status_code == 201
    assert put(client, data, inv).status_code == 200
    ph.name_in_visit(db_session, case_factory(state="in_review"), name)
    assert s3_app.get(f"originals/{name}") == data
    assert s3_app.exists(f"display/{name}.jpg") and s3_app.exists(f"thumbs/{name}.jpg")
    display = client.get(f"/api/v1/photos/{name}/display", headers=inv)
    assert display.status_code == 200
    ph.assert_upright(display.get_data())
    ph.assert_no_metadata(display.get_data())
    original = client.get(f"/api/v1/photos/{name}/original", headers=office)
    assert original.status_code == 200 and original.get_data() == data


# --- a live server: concurrent uploads -----------------------------------------------------


class Live:
    def __init__(self, base: str, app, store_dir, tokens: dict):
        self.base, self.app, self.store_dir, self.tokens = base, app, store_dir, tokens
        self.port = int(base.rsplit(":", 1)[1])

    def put(self, data: bytes, user: str = "inv", name: str | None = None, chunked: bool = False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            headers = {"Authorization": "Bearer " + self.tokens[user], "Content-Type": "image/jpeg"}
            body = data
            if chunked:
                body = (data[i:i + 65536] for i in range(0, len(data), 65536))
            conn.request("PUT", f"/api/v1/photos/{name or ph.sha(data)}", body=body, headers=headers,
                         encode_chunked=chunked)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            conn.close()

    def head(self, name: str, user: str = "inv") -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("HEAD", f"/api/v1/photos/{name}", headers={"Authorization": "Bearer " + self.tokens[user]})
            return conn.getresponse().status
        finally:
            conn.close()

    def count(self, model, **where) -> int:
        engine = self.app.extensions["doorstep_db"].engine
        with engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(model)
            for column, value in where.items():
                q = q.where(getattr(model, column) == value)
            return conn.scalar(q)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from server.accounts.models import User, UserRole
    from server.core.auth import hash_password
    from server.core.models import Jurisdiction

    def seed(session):
        county = Jurisdiction(code="LIVE-C", name="测试县", kind="county")
        community = Jurisdiction(code="LIVE-1", name="测试社区", kind="community", parent=county,
                                 location=point_wkt(29.797, 119.691))
        tight_county = Jurisdiction(code="TIGHT-C", name="小县", kind="county")
        tight = Jurisdiction(code="TIGHT-1", name="小社区", kind="community", parent=tight_county)
        session.add_all([county, community, tight_county, tight])
        session.flush()
        session.add(PolicyVersion(jurisdiction_id=tight_county.id, effective_from=dt.date(2020, 1, 1),
                                  settings=merge_defaults({"photo_limits": {"max_bytes": 50_000,
                                                                            "max_pixels": 50_000_000}}),
                                  note="small photos"))
        hashed = hash_password(PASSWORD)
        for username, place in (("live-inv", community), ("tight-inv", tight)):
            user = User(username=username, display_name=username, password_hash=hashed, jurisdiction_id=place.id)
            user.role_rows = [UserRole(role="investigator")]
            session.add(user)

    store_dir = tmp_path_factory.mktemp("photos_live_store")
    with live_app(tmp_path_factory, "photos_live", threads=24, seed=seed,
                  PHOTO_STORE=str(store_dir)) as (base, app, _):
        tokens = {}
        for key, username in (("inv", "live-inv"), ("tight", "tight-inv")):
            req = urllib.request.Request(base + "/api/v1/auth/token", method="POST",
                                         data=json.dumps({"username": username, "password": PASSWORD,
                                                          "device_name": "tablet"}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                tokens[key] = json.loads(r.read())["token"]
        yield Live(base, app, store_dir, tokens)


def _all_at_once(n: int, work):
    results, barrier = [None] * n, threading.Barrier(n)

    def run(i):
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_twenty_concurrent_puts_of_one_photo_store_one_row_and_one_object(live):
    data = ph.camera_jpeg(6, ph.textured((1600, 1200), seed=51), quality=90)
    name = ph.sha(data)
    assert live.head(name) == 404
    # One successful request first, so the token's "last used" is fresh and the twenty do
    # not queue on updating it: they meet where it matters, at the photo's row.
    assert live.put(ph.one_pixel("PNG"))[0] in (200, 201)
    results = _all_at_once(20, lambda i: live.put(data))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] * 19 + [201], [(s, b[:200]) for s, _, b in results if s not in (200, 201)]
    bodies = {json.dumps(json.loads(body), sort_keys=True) for _, _, body in results}
    assert len(bodies) == 1  # every answer describes the same stored photo
    assert live.count(Photo, sha256=name) == 1
    assert live.count(PhotoHashBand, sha256=name) == 8
    assert live.count(AuditEvent, action="photo.received", entity_id=name) == 1
    for folder, expected in (("originals", name), ("display", f"{name}.jpg"), ("thumbs", f"{name}.jpg")):
        files = [p.name for p in (live.store_dir / folder).iterdir()]
        assert [f for f in files if f.startswith(name)] == [expected]
        assert not [f for f in files if f.startswith(".tmp")]  # no half-written leftovers
    assert LocalStore(live.store_dir).get(f"originals/{name}") == data


def test_concurrent_puts_of_different_photos_all_arrive(live):
    photos = [ph.camera_jpeg(1, ph.textured((400, 300), seed=60 + i)) for i in range(12)]
    results = _all_at_once(12, lambda i: live.put(photos[i]))
    assert [status for status, _, _ in results] == [201] * 12, [b[:200] for _, _, b in results]
    for data in photos:
        assert live.count(Photo, sha256=ph.sha(data)) == 1


def test_a_chunked_upload_over_the_limit_is_413_as_it_arrives(live):
    data = ph.camera_jpeg(1, ph.textured((800, 600), seed=70), quality=95)
    assert len(data) > 50_000
    status, content_type, body = live.put(data, user="tight", chunked=True)
    assert status == 413 and content_type == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/too-large"
    assert live.count(Photo, sha256=ph.sha(data)) == 0
    small = ph.one_pixel("JPEG")
    assert live.put(small, user="tight", chunked=True)[0] == 201  # chunked under the limit is fine
