"""`flask doorstep backup` and `flask doorstep restore`: the database and the photo store in
one archive, with checksums.

The archive is a plain tar (photos are already compressed):

    tables/NNN-<table>.jsonl.gz   one JSON object per row, tables in foreign-key order
    objects/<key>                 every object of the photo store, under its store key
    manifest.json                 (last) every table's columns, row count, sha256 and size;
                                  every object's sha256, size and content type; the schema
                                  revision and where the backup came from

Rows are written in a form that belongs to neither database: UUIDs, dates and times
(ISO 8601, UTC with offset) and decimals as text, geometries as EWKT
(`SRID=4326;POINT (lon lat)`, full precision), JSON as JSON. So a backup made on SQLite
restores into PostgreSQL and back.

Backup reads the database in one snapshot (REPEATABLE READ on PostgreSQL, one read
transaction on SQLite's WAL), so a running installation can be backed up; taking a
backup is itself an audited export.

Restore goes into an EMPTY installation only: a database with no rows (a freshly
migrated one; a database with no tables at all is migrated first) and a photo store with
nothing that differs from the archive. There is no --force: restoring never deletes or
overwrites anything; to replace an installation, restore into a new database and store
and switch over. Before anything is written, every checksum is checked; then all rows go
in inside one transaction, PostgreSQL's sequences are moved past the restored ids, the
restored audit chain is verified, the objects are stored, and only then is the
transaction committed. Any failure rolls the database back and removes the objects this
restore wrote: nothing is ever half-restored."""
from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import io
import json
import mimetypes
import os
import re
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from geoalchemy2.types import _GISType
from sqlalchemy.orm import Session

FORMAT = "doorstep-backup"
VERSION = 1
MANIFEST = "manifest.json"
BATCH = 1000
_CHUNK = 1 << 20
# Rows a fresh migration writes (the sync feed's counter, at 0): the archive's rows replace them.
MIGRATION_ROWS = {"counters"}
# Tables of the databases' spatial extensions and of Alembic, not of Doorstep.
_NOT_OURS = re.compile(r"alembic_version|spatial_ref_sys.*|.*geometry_columns.*|idx_.*|spatialite_history|"
                       r"sql_statements_log|SpatialIndex|KNN2?|ElementaryGeometries|data_licenses|sqlite_.*|"
                       r"geom_cols_ref_sys", re.IGNORECASE)


class BackupError(click.ClickException):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


# --- rows to and from text -------------------------------------------------------------------

def _kind(column: sa.Column) -> str:
    t = column.type
    if isinstance(t, _GISType):
        return "geometry"
    if isinstance(t, sa.JSON):
        return "json"
    affinity = t._type_affinity
    for kind, types in (("uuid", (sa.Uuid,)), ("datetime", (sa.DateTime,)), ("date", (sa.Date,)),
                        ("time", (sa.Time,)), ("decimal", (sa.Numeric,)), ("binary", (sa.LargeBinary,)),
                        ("plain", (sa.Integer, sa.String, sa.Boolean, sa.Enum))):
        if affinity is not None and issubclass(affinity, types):
            if kind == "decimal" and issubclass(affinity, sa.Float):
                return "plain"
            return kind
    raise BackupError(f"column {column.table.name}.{column.name} has a type the backup does not know ({t!r})")


def _encode(kind: str, value):
    if value is None:
        return None
    if kind == "geometry":
        import shapely
        from geoalchemy2.shape import to_shape

        return f"SRID={value.srid if value.srid and value.srid > 0 else 4326};" + \
            shapely.to_wkt(to_shape(value), rounding_precision=-1, trim=True)
    if kind in ("uuid", "decimal"):
        return str(value)
    if kind in ("datetime", "date", "time"):
        return value.isoformat()
    if kind == "binary":
        return base64.b64encode(value).decode()
    return value


def _decode(kind: str, value):
    if value is None:
        return None
    if kind == "uuid":
        return uuid.UUID(value)
    if kind == "decimal":
        return decimal.Decimal(value)
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "time":
        return dt.time.fromisoformat(value)
    if kind == "binary":
        return base64.b64decode(value)
    return value  # plain, json; geometry stays EWKT (GeoAlchemy2 binds it with ST_GeomFromEWKT)


# --- what is backed up ----------------------------------------------------------------------

def _metadata() -> sa.MetaData:
    from server.core.registry import load_models

    return load_models()


def _tables(metadata: sa.MetaData) -> list[sa.Table]:
    """Every table in foreign-key order (parents first)."""
    return list(metadata.sorted_tables)


def _check_schema(conn: sa.Connection, metadata: sa.MetaData) -> None:
    names = set(sa.inspect(conn).get_table_names())
    unknown = sorted(n for n in names - set(metadata.tables) if not _NOT_OURS.fullmatch(n))
    missing = sorted(set(metadata.tables) - names)
    if unknown or missing:
        raise BackupError(
            "the database does not match this version of Doorstep"
            + (f"; tables it does not know: {', '.join(unknown)}" if unknown else "")
            + (f"; tables missing: {', '.join(missing)}" if missing else "")
            + ". Run `flask doorstep init` with the code that belongs to this database.")


def _revision(conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _head(url: str) -> str:
    from alembic.script import ScriptDirectory

    from server.core.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def list_keys(store) -> Iterator[tuple[str, str | None]]:
    """Every key in the store, with its content type where the store keeps one."""
    from server.core.storage import LocalStore, S3Store, Store

    if isinstance(store, LocalStore):
        for folder, dirs, files in os.walk(store.root):
            dirs.sort()
            for name in sorted(files):
                key = PurePosixPath(Path(folder, name).relative_to(store.root)).as_posix()
                try:
                    Store.check_key(key)
                except ValueError:
                    continue  # a writer's temporary file (".tmp-…"): no object under a key
                yield key, None
    elif isinstance(store, S3Store):
        pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"], None
    else:
        raise BackupError(f"backup does not know how to list the objects of {store!r}")


class _Hashing(io.RawIOBase):
    """Reads through to `raw`, hashing what passes (so an object is read once)."""

    def __init__(self, raw):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha.update(data)
        self.size += n
        return n


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


# --- backup -----------------------------------------------------------------------------------

def _snapshot(engine: sa.Engine) -> sa.Connection:
    from server.core.db import sqlite_begin

    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        conn.begin()
        return conn
    token = sqlite_begin.set("BEGIN")  # a read transaction: WAL keeps its snapshot, writers go on
    try:
        conn = engine.connect()
        conn.begin()
        conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()  # the snapshot starts here
    finally:
        sqlite_begin.reset(token)
    return conn


def backup(engine: sa.Engine, store, archive: Path, progress: Callable[[str], None] = lambda m: None) -> dict:
    """Write the database and every stored object to `archive` (a new file). Returns the manifest."""
    archive = Path(archive)
    if archive.exists():
        raise BackupError(f"{archive} already exists; a backup never overwrites a file")
    metadata = _metadata()
    tables = _tables(metadata)
    manifest = {"format": FORMAT, "version": VERSION, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                "source": {"dialect": engine.dialect.name, "revision": None}, "tables": [], "objects": [],
                "warnings": []}
    part = archive.with_name(archive.name + ".part")
    content_types: dict[str, str] = {}
    try:
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar, tempfile.TemporaryDirectory() as spool:
            conn = _snapshot(engine)
            try:
                _check_schema(conn, metadata)
                manifest["source"]["revision"] = _revision(conn)
                for i, table in enumerate(tables):
                    entry = _dump_table(conn, table, Path(spool) / f"{i:03d}.jsonl.gz", f"tables/{i:03d}-{table.name}.jsonl.gz")
                    _add_file(tar, entry["file"], Path(spool) / f"{i:03d}.jsonl.gz")
                    os.unlink(Path(spool) / f"{i:03d}.jsonl.gz")
                    manifest["tables"].append(entry)
                    progress(f"  {table.name}: {entry['rows']} rows")
                if "photos" in metadata.tables:
                    photos = metadata.tables["photos"]
                    content_types = dict(conn.execute(sa.select(photos.c.original_key, photos.c.content_type)
                                                      .where(photos.c.original_key.is_not(None))).all())
            finally:
                conn.rollback()
                conn.close()
            # After the snapshot: every object a backed-up row names is in the store by now
            # (objects are stored before their rows commit, and never removed).
            for key, content_type in list_keys(store):
                entry = _add_object(tar, store, key, content_type or content_types.get(key))
                if key.startswith("originals/") and entry["sha256"] != key.rsplit("/", 1)[1]:
                    manifest["warnings"].append(f"{key}: the stored bytes do not hash to the name")
                manifest["objects"].append(entry)
                if len(manifest["objects"]) % 500 == 0:
                    progress(f"  {len(manifest['objects'])} objects")
            data = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        os.replace(part, archive)
    finally:
        if part.exists():
            part.unlink()
    return manifest


def _dump_table(conn: sa.Connection, table: sa.Table, path: Path, name: str) -> dict:
    columns = list(table.columns)
    kinds = [_kind(c) for c in columns]
    order = list(table.primary_key.columns) or columns
    rows = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        result = conn.execution_options(yield_per=2000).execute(sa.select(*columns).order_by(*order))
        for row in result:
            record = {c.name: _encode(k, v) for c, k, v in zip(columns, kinds, row)}
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            rows += 1
    return {"name": table.name, "file": name, "columns": [c.name for c in columns], "rows": rows,
            "sha256": _sha256_file(path), "bytes": path.stat().st_size}


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = path.stat().st_size, int(time.time()), 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)


def _add_object(tar: tarfile.TarFile, store, key: str, content_type: str | None) -> dict:
    from server.core.storage import LocalStore

    if isinstance(store, LocalStore):
        size, body = store.path(key).stat().st_size, store.open(key)
    else:
        obj = store._get_object(key)
        size, body = obj["ContentLength"], obj["Body"]
        content_type = content_type or obj.get("ContentType")
    content_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
    info = tarfile.TarInfo("objects/" + key)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o644
    reader = _Hashing(body)
    try:
        tar.addfile(info, io.BufferedReader(reader, _CHUNK))
    finally:
        body.close()
    if reader.size != size:
        raise BackupError(f"object {key} changed size while it was read")
    return {"key": key, "file": info.name, "sha256": reader.sha.hexdigest(), "bytes": size,
            "content_type": content_type}


# --- checking an archive ----------------------------------------------------------------------

def verify_archive(archive: Path) -> dict:
    """Read the whole archive once: every member's sha256 and size against the manifest.
    Returns the manifest; raises BackupError naming every damaged or missing part."""
    try:
        tar = tarfile.open(archive, "r:")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{archive} is not a Doorstep backup (not a readable tar archive: {exc})") from None
    seen: dict[str, tuple[str, int]] = {}
    manifest_bytes = None
    try:
        with tar:
            for member in tar:
                if not member.isfile():
                    continue
                f = tar.extractfile(member)
                sha, size = hashlib.sha256(), 0
                chunks = [] if member.name == MANIFEST else None
                while chunk := f.read(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    if chunks is not None:
                        chunks.append(chunk)
                seen[member.name] = (sha.hexdigest(), size)
                if chunks is not None:
                    manifest_bytes = b"".join(chunks)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{archive} is damaged: it cannot be read to the end ({exc}); nothing was restored") \
            from None
    if manifest_bytes is None:
        raise BackupError(f"{archive} has no {MANIFEST}: it is not a complete Doorstep backup; nothing was restored")
    try:
        manifest = json.loads(manifest_bytes)
        assert manifest.get("format") == FORMAT
    except (ValueError, AssertionError):
        raise BackupError(f"{archive}: {MANIFEST} is damaged or not a Doorstep manifest; nothing was restored") \
            from None
    if manifest.get("version") != VERSION:
        raise BackupError(f"{archive} is a backup of format version {manifest.get('version')}; this Doorstep "
                          f"reads version {VERSION}")
    problems = []
    listed = set()
    for entry in manifest["tables"] + manifest["objects"]:
        listed.add(entry["file"])
        got = seen.get(entry["file"])
        if got is None:
            problems.append(f"{entry['file']} is missing")
        elif got != (entry["sha256"], entry["bytes"]):
            problems.append(f"{entry['file']} is damaged (sha256 {got[0][:12]}…, {got[1]} bytes; "
                            f"expected {entry['sha256'][:12]}…, {entry['bytes']} bytes)")
    problems += [f"{name} is not in the manifest" for name in sorted(set(seen) - listed - {MANIFEST})]
    if problems:
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise BackupError(f"{archive} failed its checksums, so nothing was restored:\n  " + "\n  ".join(shown))
    return manifest


# --- restore ----------------------------------------------------------------------------------

def _row_counts(conn: sa.Connection, tables: list[sa.Table]) -> dict[str, int]:
    return {t.name: conn.scalar(sa.select(sa.func.count()).select_from(t)) for t in tables}


def _prepare_database(engine: sa.Engine, url: str, manifest: dict, progress) -> None:
    """Migrate a database with no tables; refuse one at another revision or with rows."""
    from server.core.migrate import upgrade

    head = _head(url)
    if manifest["source"]["revision"] != head:
        raise BackupError(f"the archive's database is at schema revision {manifest['source']['revision']}, this "
                          f"Doorstep's is {head}: restore it with the Doorstep that made it, then upgrade")
    with engine.connect() as conn:
        revision = _revision(conn)
        names = set(sa.inspect(conn).get_table_names())
    metadata = _metadata()
    if revision is None and not (names & set(metadata.tables)):
        progress("the database is empty: migrating it first")
        upgrade(url)
    elif revision != head:
        raise BackupError(f"the database is at schema revision {revision}, not {head}: run `flask doorstep init` "
                          f"(restore goes into an empty installation)")
    with engine.connect() as conn:
        _check_schema(conn, metadata)
        counts = _row_counts(conn, _tables(metadata))
    full = {name: n for name, n in counts.items() if n and name not in MIGRATION_ROWS}
    if full:
        listed = ", ".join(f"{name} ({n})" for name, n in sorted(full.items())[:8])
        raise BackupError(f"the database is not empty ({listed}{', …' if len(full) > 8 else ''}); restore goes "
                          f"into a new, empty installation and never overwrites one")


def _check_store(store, manifest: dict) -> set[str]:
    """Keys already in the store with the archive's bytes (skipped); refuse any that differ."""
    present, clashes = set(), []
    for entry in manifest["objects"]:
        if not store.exists(entry["key"]):
            continue
        if hashlib.sha256(store.get(entry["key"])).hexdigest() == entry["sha256"]:
            present.add(entry["key"])
        else:
            clashes.append(entry["key"])
    if clashes:
        raise BackupError(f"the photo store already holds different bytes under {len(clashes)} of the archive's "
                          f"keys (e.g. {clashes[0]}); restore into an empty store")
    return present


def _rows(tar: tarfile.TarFile, entry: dict, table: sa.Table) -> Iterator[dict]:
    kinds = {c.name: _kind(c) for c in table.columns}
    with gzip.open(tar.extractfile(entry["file"]), "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            yield {name: _decode(kinds[name], value) for name, value in record.items()}


def _parents_first(table: sa.Table, rows: list[dict]) -> list[dict]:
    """A table that refers to itself (a jurisdiction's parent): each row after its parent."""
    links = [(fk.parent.name, fk.column.name) for fk in table.foreign_keys if fk.column.table is table]
    key = [c.name for c in table.primary_key.columns]
    if not links or len(key) != 1:
        return rows
    placed, out, pending = set(), [], list(rows)
    while pending:
        ready = [r for r in pending if all(r[col] is None or r[col] in placed or r[col] == r[key[0]]
                                           for col, _ in links)]
        if not ready:
            raise BackupError(f"{table.name}: rows refer to parents that are not in the archive")
        for r in ready:
            placed.add(r[key[0]])
        out += ready
        ids = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in ids]
    return out


def _reset_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """PostgreSQL: each serial/identity column's sequence continues after the largest restored id."""
    if conn.dialect.name != "postgresql":
        return  # SQLite takes max(rowid) + 1 (and keeps sqlite_sequence up to date itself)
    for table in tables:
        for column in table.columns:
            if not issubclass(column.type._type_affinity or type(None), sa.Integer):
                continue
            seq = conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                              {"t": table.name, "c": column.name})
            if seq is None and isinstance(column.default, sa.Sequence):
                seq = column.default.name
            if seq is None:
                continue
            top = conn.scalar(sa.select(sa.func.max(column)))
            conn.execute(sa.text("SELECT setval(CAST(:s AS regclass), :v, false)"), {"s": seq, "v": (top or 0) + 1})


def restore(engine: sa.Engine, url: str, store, archive: Path,
            progress: Callable[[str], None] = lambda m: None) -> dict:
    """Bring `archive` back into an empty installation (see the module doc). Returns the manifest."""
    from server.core import audit

    archive = Path(archive)
    progress(f"checking every checksum in {archive.name} ...")
    manifest = verify_archive(archive)
    _prepare_database(engine, url, manifest, progress)
    present = _check_store(store, manifest)
    metadata = _metadata()
    by_name = {t.name: t for t in _tables(metadata)}
    order = [e["name"] for e in manifest["tables"]]
    if set(order) != set(by_name):
        raise BackupError("the archive's tables are not this Doorstep's: "
                          + ", ".join(sorted(set(order) ^ set(by_name))))
    written: list[str] = []
    try:
        with engine.begin() as conn, tarfile.open(archive, "r:") as tar:
            for name in MIGRATION_ROWS & set(order):
                conn.execute(by_name[name].delete())
            for entry in manifest["tables"]:
                table = by_name[entry["name"]]
                if entry["columns"] != [c.name for c in table.columns]:
                    raise BackupError(f"{table.name}: the archive's columns differ from this Doorstep's")
                rows = _rows(tar, entry, table)
                if any(fk.column.table is table for fk in table.foreign_keys):
                    rows = iter(_parents_first(table, list(rows)))
                count, batch = 0, []
                for row in rows:
                    batch.append(row)
                    if len(batch) == BATCH:
                        conn.execute(table.insert(), batch)
                        count, batch = count + len(batch), []
                if batch:
                    conn.execute(table.insert(), batch)
                    count += len(batch)
                if count != entry["rows"] or conn.scalar(sa.select(sa.func.count()).select_from(table)) != count:
                    raise BackupError(f"{table.name}: {count} rows restored, the manifest says {entry['rows']}; "
                                      f"nothing was restored")
                progress(f"  {table.name}: {count} rows")
            _reset_sequences(conn, list(by_name.values()))
            session = Session(bind=conn)
            report = audit.verify(session)
            if not report.ok:
                raise BackupError(f"the archive's audit log does not verify (event {report.broken_id}: "
                                  f"{report.problem}); nothing was restored")
            audit.record(session, "restore", "installation", manifest["created_at"], actor=None,
                         after={"archive": archive.name, "archive_created_at": manifest["created_at"],
                                "source": manifest["source"], "tables": len(manifest["tables"]),
                                "rows": sum(e["rows"] for e in manifest["tables"]),
                                "objects": len(manifest["objects"])})
            session.close()
            for entry in manifest["objects"]:
                if entry["key"] in present:
                    continue
                data = tar.extractfile(entry["file"]).read()
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:  # changed since the check
                    raise BackupError(f"{entry['file']} changed while it was restored; nothing was restored")
                if store.put(entry["key"], data, entry["content_type"]):
                    written.append(entry["key"])
                if len(written) % 500 == 0 and written:
                    progress(f"  {len(written)} objects")
    except BaseException:
        for key in written:
            store.delete(key)
        raise
    return manifest


# --- the commands -----------------------------------------------------------------------------

def _echo(message: str) -> None:
    click.echo(message, err=True)


@click.command("backup")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(archive: Path):
    """Write the database and the photo store, with checksums, to ARCHIVE (a new .tar file)."""
    from server.core import audit
    from server.core.storage import current_store
    from server.extensions import db

    # Taking everything out is an export like any other: on the record before it starts.
    audit.record(db.session, "backup", "installation", archive.name, actor=None,
                 after={"archive": archive.name})
    db.session.commit()
    started = time.monotonic()
    manifest = backup(db.engine, current_store(), archive, _echo)
    rows = sum(e["rows"] for e in manifest["tables"])
    size = sum(e["bytes"] for e in manifest["objects"])
    for warning in manifest["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"backup written to {archive} in {time.monotonic() - started:.1f} s: {len(manifest['tables'])} "
               f"tables, {rows} rows, {len(manifest['objects'])} objects ({size / 1e6:.1f} MB); "
               f"archive sha256 {_sha256_file(archive)}")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the archive's checksums; change nothing.")
@with_appcontext
def restore_command(archive: Path, check: bool):
    """Restore ARCHIVE (from `flask doorstep backup`) into this EMPTY installation: checks
    every checksum first; refuses a database with rows or a store with other bytes."""
    from server.core.storage import current_store
    from server.extensions import db

    started = time.monotonic()
    if check:
        manifest = verify_archive(archive)
        click.echo(f"{archive}: every checksum matches ({len(manifest['tables'])} tables, "
                   f"{sum(e['rows'] for e in manifest['tables'])} rows, {len(manifest['objects'])} objects; "
                   f"made {manifest['created_at']} on {manifest['source']['dialect']})")
        return
    manifest = restore(db.engine, current_app.config["DATABASE_URL"], current_store(), archive, _echo)
    click.echo(f"restored {archive} in {time.monotonic() - started:.1f} s: {len(manifest['tables'])} tables, "
               f"{sum(e['rows'] for e in manifest['tables'])} rows, {len(manifest['objects'])} objects; "
               f"the audit log verifies")


commands: list = [backup_command, restore_command]
