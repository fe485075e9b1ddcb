"""Alembic environment for both SQLite + SpatiaLite and PostgreSQL + PostGIS.

GeoAlchemy2's helpers make spatial columns and indexes migrate the same way on both;
tables SpatiaLite keeps for itself are not ours and are left out of comparisons."""
from __future__ import annotations

import os

from alembic import context
from geoalchemy2 import alembic_helpers

from server.core.db import make_engine
from server.core.registry import load_models

config = context.config
target_metadata = load_models()


def _include_object(obj, name, obj_type, reflected, compare_to):
    if obj_type == "table" and reflected and name not in target_metadata.tables:
        return False  # SpatialIndex, KNN, ElementaryGeometries, spatial_ref_sys, … are not ours
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


def _render_item(type_, obj, autogen_context):
    from server.core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return alembic_helpers.render_item(type_, obj, autogen_context)


def _configure(connection):
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DOORSTEP_DATABASE_URL")
    if not url:
        from server.config import from_environment

        url = from_environment()["DATABASE_URL"]
    engine = make_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Doorstep migrations run online only (SpatiaLite needs a live connection).")
run_migrations_online()
