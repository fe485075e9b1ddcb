"""The migrations build the whole model from an empty database, match the models exactly
and come down again, on the database of this run (SpatiaLite or PostGIS)."""
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.core.db import make_engine
from server.core.migrate import alembic_config
from server.core.registry import load_models
from tests.conftest import fresh_database

SPATIAL_TABLES = {"households", "jurisdictions", "visits", "visit_photos", "testimonies", "photos"}


def _tables(engine):
    return set(sa.inspect(engine).get_table_names())


def _spatial_index_tables(engine):
    """The spatial indexes, as each database keeps them."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(sa.text("SELECT f_table_name FROM geometry_columns WHERE spatial_index_enabled = 1"))
        else:
            rows = conn.execute(sa.text(
                "SELECT t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gist'"))
        return {r[0].lower() for r in rows}


def test_upgrade_to_head_matches_the_models_and_downgrades_to_base(tmp_path_factory):
    url = fresh_database(tmp_path_factory, "migrations")
    metadata = load_models()
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    try:
        assert set(metadata.tables) <= _tables(engine)
        assert SPATIAL_TABLES <= _spatial_index_tables(engine)
        with engine.connect() as conn:
            from geoalchemy2 import alembic_helpers

            def include(obj, name, type_, reflected, compare_to):
                if type_ == "table" and reflected and name not in metadata.tables:
                    return False
                return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)

            ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})
            diff = compare_metadata(ctx, metadata)
        assert diff == [], diff
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT value FROM counters WHERE name = 'sync'")) == 0
        command.downgrade(cfg, "base")
        left = _tables(engine) & set(metadata.tables)
        assert left == set()
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                leftovers = conn.execute(sa.text(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'idx_%'")).all()
            assert leftovers == []  # spatial index tables go with their tables
        command.upgrade(cfg, "head")  # and up again from base
        assert set(metadata.tables) <= _tables(engine)
    finally:
        engine.dispose()
