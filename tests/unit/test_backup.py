"""`flask doorstep backup` / `restore` (issue "Prove it", item 7): a demo county with photos
goes into one archive and comes back into a fresh database and photo folder with every
row, every photo byte and an audit chain that verifies; a damaged archive is refused with
nothing restored; a restore never writes into an installation that has data. The
archive's form belongs to neither database, so SQLite → PostgreSQL → SQLite round-trips."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from server.core.backup import list_keys
from server.core.storage import LocalStore
from tests import photos_helpers as ph
from server.core.migrate import recreate_postgres_database
from tests.conftest import DB_KIND, PG_URL, fresh_database


def make_app(url: str, photos: Path):
    from server import create_app

    return create_app({"DATABASE_URL": url, "SECRET_KEY": "backup-test", "TESTING": False,
                       "PHOTO_STORE": str(photos)})


def cli(app, *args):
    """`flask doorstep …` against this app; the result's output has stdout and stderr."""
    return app.test_cli_runner().invoke(args=["doorstep", *args])


def fill(app) -> None:
    """The demo county, three photos (one with a GPS fix in its EXIF: a geometry in the
    photos table) and a stored object that is not a photo (as a signed PDF would be)."""
    from server.accounts.models import User
    from server.core.storage import current_store
    from server.demo import build_demo
    from server.extensions import db
    from server.photos.operations import ingest

    with app.app_context():
        s = db.session
        build_demo(s)
        uploader = s.scalar(sa.select(User).where(User.username == "investigator1"))
        for data in (ph.camera_jpeg(6, ph.textured((640, 480), seed=71)), ph.png_bytes(ph.textured((320, 240), 72)),
                     ph.webp_bytes(ph.textured((200, 150), 73))):
            ingest(s, current_store(), ph.sha(data), data, uploader)
        pdf = b"%PDF-1.4\n% minutes of the panel\n%%EOF\n"
        current_store().put(f"minutes/{ph.sha(pdf)}.pdf", pdf, "application/pdf")
        s.commit()


def _app_tables():
    from server.core.registry import load_models

    return load_models().sorted_tables


def snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, as Python values (geometries as full-precision WKT)."""
    from geoalchemy2.shape import to_shape
    from geoalchemy2.types import _GISType

    engine = app.extensions["doorstep_db"].engine
    out = {}
    with engine.connect() as conn:
        for table in _app_tables():
            geo = [isinstance(c.type, _GISType) for c in table.columns]
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa.select(table).order_by(*order)).all()
            out[table.name] = [tuple(to_shape(v).wkt if g and v is not None else v for g, v in zip(geo, row))
                               for row in rows]
    return out


def objects(app) -> dict[str, str]:
    with app.app_context():
        from server.core.storage import current_store

        store = current_store()
        return {key: hashlib.sha256(store.get(key)).hexdigest() for key, _ in list_keys(store)}


def assert_same_installation(restored: dict, original: dict, extra_events: int = 1) -> None:
    assert set(restored) == set(original)
    for name, rows in original.items():
        if name == "audit_events":
            assert restored[name][:len(rows)] == rows
            assert len(restored[name]) == len(rows) + extra_events
        else:
            assert restored[name] == rows, name


def audit_actions(app) -> list[str]:
    from server.core.audit import AuditEvent

    with app.extensions["doorstep_db"].engine.connect() as conn:
        return conn.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from server.core.migrate import upgrade

    url = fresh_database(tmp_path_factory, "bk_src")
    upgrade(url)
    app = make_app(url, tmp_path_factory.mktemp("bk_src_photos"))
    fill(app)
    yield app
    app.extensions["doorstep_db"].engine.dispose()


@pytest.fixture(scope="module")
def archive(source, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bk_archive") / "doorstep.tar"
    result = cli(source, "backup", str(path))
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def original(source, archive):
    """The source as it was backed up (nothing writes to it after the backup)."""
    return snapshot(source), objects(source)


@pytest.fixture()
def empty(tmp_path_factory):
    """A new installation: a database with no tables yet and an empty photo folder."""
    apps = []

    def make(name="bk_dst"):
        app = make_app(fresh_database(tmp_path_factory, name), tmp_path_factory.mktemp(f"{name}_photos"))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["doorstep_db"].engine.dispose()


@pytest.fixture(scope="module")
def restored(archive, original, tmp_path_factory):
    app = make_app(fresh_database(tmp_path_factory, "bk_restored"), tmp_path_factory.mktemp("bk_restored_photos"))
    result = cli(app, "restore", str(archive))
    assert result.exit_code == 0, result.output
    yield app
    app.extensions["doorstep_db"].engine.dispose()


def row_count(app, table_name: str) -> int:
    engine = app.extensions["doorstep_db"].engine
    with engine.connect() as conn:
        if table_name not in sa.inspect(conn).get_table_names():
            return 0
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table_name}"))


def assert_nothing_restored(app) -> None:
    for table in _app_tables():
        if table.name != "counters":
            assert row_count(app, table.name) == 0, table.name
    root = Path(app.config["PHOTO_STORE"])
    assert not [p for p in root.rglob("*") if p.is_file()]


# --- the round trip ---------------------------------------------------------------------------

def test_the_manifest_lists_every_table_and_every_object_with_checksums(archive, original):
    rows, stored = original
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        members = {m.name for m in tar.getmembers()}
        for entry in manifest["objects"]:
            data = tar.extractfile(entry["file"]).read()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == {name: len(r) for name, r in rows.items()}
    assert {o["key"]: o["sha256"] for o in manifest["objects"]} == stored
    assert members == {"manifest.json"} | {e["file"] for e in manifest["tables"] + manifest["objects"]}
    # Foreign-key order: a table comes after every table it refers to.
    position = {t["name"]: i for i, t in enumerate(manifest["tables"])}
    for table in _app_tables():
        for fk in table.foreign_keys:
            if fk.column.table is not table:
                assert position[fk.column.table.name] < position[table.name], (table.name, fk.column.table.name)
    assert any(k.startswith("originals/") for k in stored) and any(k.startswith("minutes/") for k in stored)


def test_rows_are_kept_in_a_form_neither_database_owns(archive):
    """UUIDs, times, dates and money as text, points as EWKT: nothing a driver made."""
    import gzip

    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        files = {t["name"]: t["file"] for t in manifest["tables"]}
        households = [json.loads(line) for line in gzip.open(tar.extractfile(files["households"]))]
        cases = [json.loads(line) for line in gzip.open(tar.extractfile(files["cases"]))]
    assert re.fullmatch(r"SRID=4326;POINT \(-?\d+\.\d+ -?\d+\.\d+\)", households[0]["location"])
    active = next(c for c in cases if c["allowance"] is not None)
    assert re.fullmatch(r"\d+\.\d\d", active["allowance"])
    assert re.fullmatch(r"[0-9a-f-]{36}", active["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", active["applied_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", active["case_due"])


def test_a_restored_copy_has_every_row_every_photo_and_an_intact_audit_log(restored, original):
    rows, stored = original
    assert_same_installation(snapshot(restored), rows)
    assert objects(restored) == stored
    for key, digest in stored.items():
        if key.startswith("originals/"):
            assert key == f"originals/{digest}"  # the evidence is byte for byte what the tablet sent
    result = cli(restored, "verify-audit")
    assert result.exit_code == 0 and "audit log intact" in result.output, result.output
    assert audit_actions(restored)[-1] == "restore"


def test_taking_a_backup_is_on_the_audit_record(source, archive, restored):
    assert "backup" in audit_actions(source)
    assert "backup" in audit_actions(restored)  # the event is inside the archive it speaks of


def test_the_restored_installation_takes_new_work(restored):
    """New rows get new ids (PostgreSQL's sequences continue after the restored ones): a
    tablet signs in and syncs, the office signs in and sees its queue."""
    with restored.test_client() as http:
        r = http.post("/api/v1/auth/token", json={"username": "investigator1", "password": "demo1234",
                                                  "device_name": "after restore"})
        assert r.status_code == 201, r.get_data(as_text=True)
        r = http.get("/api/v1/sync/assignments", headers={"Authorization": "Bearer " + r.get_json()["token"]})
        assert r.status_code == 200 and len(r.get_json()["cases"]) >= 5
        page = http.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert http.post("/login", data={"username": "office1", "password": "demo1234",
                                         "csrf_token": token}).status_code in (302, 303)
        assert http.get("/review").status_code == 200
    assert cli(restored, "verify-audit").exit_code == 0


# --- what restore refuses ----------------------------------------------------------------------

def _damage(archive: Path, to: Path, member_prefix: str) -> str:
    """A copy of the archive with one byte changed inside the first member under the prefix."""
    shutil.copy(archive, to)
    with tarfile.open(to) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith(member_prefix) and m.size > 100)
    with open(to, "r+b") as f:
        f.seek(member.offset_data + member.size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    return member.name


@pytest.mark.parametrize("part", ["objects/originals/", "tables/"])
def test_a_damaged_archive_is_refused_and_nothing_is_restored(archive, empty, tmp_path, part):
    damaged = _damage(archive, tmp_path / "damaged.tar", part)
    app = empty()
    result = cli(app, "restore", str(tmp_path / "damaged.tar"))
    assert result.exit_code != 0
    assert "failed its checksums" in result.output and f"{damaged} is damaged" in result.output, result.output
    assert_nothing_restored(app)
    check = cli(app, "restore", "--check", str(tmp_path / "damaged.tar"))
    assert check.exit_code != 0 and damaged in check.output


def test_a_cut_archive_is_refused(archive, empty, tmp_path):
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    app = empty()
    result = cli(app, "restore", str(cut))
    assert result.exit_code != 0 and "nothing was restored" in result.output, result.output
    assert_nothing_restored(app)


def test_check_reads_a_sound_archive_and_changes_nothing(archive, empty):
    app = empty()
    result = cli(app, "restore", "--check", str(archive))
    assert result.exit_code == 0 and "every checksum matches" in result.output, result.output
    assert_nothing_restored(app)


def _rewrite_manifest(archive: Path, to: Path, change) -> None:
    with tarfile.open(archive) as src, tarfile.open(to, "w", format=tarfile.PAX_FORMAT) as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def test_a_restore_that_fails_half_way_leaves_no_rows(archive, empty, tmp_path):
    """The manifest promises one row more in the last table than the archive holds: every
    table before it went in, and all of it is rolled back."""
    def change(manifest):
        manifest["tables"][-1]["rows"] += 1

    _rewrite_manifest(archive, tmp_path / "short.tar", change)
    app = empty()
    result = cli(app, "restore", str(tmp_path / "short.tar"))
    assert result.exit_code != 0 and "nothing was restored" in result.output, result.output
    assert_nothing_restored(app)


def test_a_store_failing_half_way_leaves_no_rows_and_no_objects(archive, empty):
    class FailingStore(LocalStore):
        def __init__(self, folder):
            super().__init__(folder)
            self.puts = 0

        def put(self, key, data, content_type):
            self.puts += 1
            if self.puts == 4:
                raise OSError(28, "No space left on device")
            return super().put(key, data, content_type)

    app = empty()
    app.extensions["doorstep_store"] = FailingStore(app.config["PHOTO_STORE"])
    result = cli(app, "restore", str(archive))
    assert result.exit_code != 0 and app.extensions["doorstep_store"].puts == 4
    assert_nothing_restored(app)


def test_restore_refuses_an_installation_that_has_data(source, archive, original):
    rows, stored = original
    result = cli(source, "restore", str(archive))
    assert result.exit_code != 0 and "not empty" in result.output, result.output
    assert snapshot(source) == rows and objects(source) == stored


def test_restore_refuses_a_store_holding_other_bytes_under_an_archived_key(archive, original, empty):
    _, stored = original
    app = empty()
    key = next(k for k in stored if k.startswith("display/"))
    LocalStore(app.config["PHOTO_STORE"]).put(key, b"other bytes", "image/jpeg")
    result = cli(app, "restore", str(archive))
    assert result.exit_code != 0 and "different bytes" in result.output, result.output
    for table in _app_tables():
        if table.name != "counters":
            assert row_count(app, table.name) == 0


def test_a_backup_never_overwrites_a_file(source, tmp_path):
    path = tmp_path / "there.tar"
    path.write_bytes(b"keep me")
    result = cli(source, "backup", str(path))
    assert result.exit_code != 0 and "already exists" in result.output
    assert path.read_bytes() == b"keep me"


# --- across stores and databases ----------------------------------------------------------------

def test_a_store_in_s3_is_backed_up_and_restored_into_another_bucket(archive, original, empty, monkeypatch):
    """The production store: every object listed from the bucket, and restored into a new
    one with its content type (the originals keep theirs: image/png, image/webp, …)."""
    _, stored = original
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ph.S3_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ph.S3_CREDENTIALS["aws_secret_access_key"])
    with ph.moto_server() as endpoint:
        s3 = {"S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1", "S3_CREATE_BUCKET": True}
        first = empty("bk_s3_first")
        first.config.update(S3_BUCKET="doorstep-first", **s3)
        assert cli(first, "restore", str(archive)).exit_code == 0
        assert objects(first) == stored
        again = Path(archive).with_name("from_s3.tar")
        result = cli(first, "backup", str(again))
        assert result.exit_code == 0, result.output

        second = empty("bk_s3_second")
        second.config.update(S3_BUCKET="doorstep-second", **s3)
        result = cli(second, "restore", str(again))
        assert result.exit_code == 0, result.output
        assert objects(second) == stored
        with second.app_context():
            from server.core.storage import current_store
            from server.photos.models import Photo

            client = current_store().client
            with second.extensions["doorstep_db"].engine.connect() as conn:
                for key, content_type in conn.execute(sa.select(Photo.original_key, Photo.content_type)):
                    assert client.head_object(Bucket="doorstep-second", Key=key)["ContentType"] == content_type
        assert_same_installation(snapshot(second), snapshot(first))  # and the event of this restore

def test_sqlite_to_postgresql_and_back(tmp_path_factory):
    """Runs in both runs: PostgreSQL + PostGIS is a part every test run has."""
    from server.core.migrate import upgrade

    folder = tmp_path_factory.mktemp("bk_cross")
    apps = []
    try:
        lite = make_app(f"sqlite:///{folder}/source.sqlite", folder / "source_photos")
        apps.append(lite)
        upgrade(lite.config["DATABASE_URL"])
        fill(lite)
        assert cli(lite, "backup", str(folder / "from_sqlite.tar")).exit_code == 0
        rows, stored = snapshot(lite), objects(lite)

        base = sa.engine.make_url(PG_URL)
        pg_url = recreate_postgres_database(
            base.set(database=f"{base.database}_bk_cross_{DB_KIND}").render_as_string(hide_password=False))
        pg = make_app(pg_url, folder / "pg_photos")
        apps.append(pg)
        result = cli(pg, "restore", str(folder / "from_sqlite.tar"))
        assert result.exit_code == 0, result.output
        assert pg.extensions["doorstep_db"].dialect == "postgresql"
        assert_same_installation(snapshot(pg), rows)
        assert objects(pg) == stored
        assert cli(pg, "verify-audit").exit_code == 0

        assert cli(pg, "backup", str(folder / "from_postgresql.tar")).exit_code == 0
        back = make_app(f"sqlite:///{folder}/back.sqlite", folder / "back_photos")
        apps.append(back)
        result = cli(back, "restore", str(folder / "from_postgresql.tar"))
        assert result.exit_code == 0, result.output
        # Two more events on the way: the restore into PostgreSQL and the backup there; then this restore.
        assert_same_installation(snapshot(back), rows, extra_events=3)
        assert objects(back) == stored
        verified = cli(back, "verify-audit")
        assert verified.exit_code == 0 and "audit log intact" in verified.output
    finally:
        for app in apps:
            app.extensions["doorstep_db"].engine.dispose()
