"""The database: engine (SQLite + SpatiaLite or PostgreSQL + PostGIS), the session of a
request, and the column types every domain uses (UTC time, money, WGS 84 points)."""
from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import uuid
from decimal import Decimal

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context
from geoalchemy2 import Geometry
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger("doorstep.db")

# SQLite: a transaction that reads before it writes must take the write lock at BEGIN, or a
# concurrent writer makes it fail with "database is locked" instead of waiting.
sqlite_begin = contextvars.ContextVar("sqlite_begin", default="BEGIN IMMEDIATE")

SQLITE_BUSY_TIMEOUT_MS = 30_000

naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=naming_convention)


class UTCDateTime(sa.TypeDecorator):
    """Aware datetimes in, aware UTC out; stored as UTC on both databases."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def Money():  # noqa: N802 - reads like a type
    """Yuan with two decimals, always Decimal in Python."""
    return sa.Numeric(14, 2, asdecimal=True)


def Point():  # noqa: N802
    return Geometry("POINT", srid=4326, spatial_index=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


def point_wkt(lat: float | Decimal, lon: float | Decimal) -> str:
    return f"SRID=4326;POINT({float(lon)} {float(lat)})"


# PostgreSQL out of reach: a connection attempt gives up after this long, so a request
# answers 503 database-unavailable instead of hanging on a host that does not answer.
PG_CONNECT_TIMEOUT_S = 5


def make_engine(url: str, echo: bool = False, *, busy_timeout_ms: int | None = None) -> sa.Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo, busy_timeout_ms or SQLITE_BUSY_TIMEOUT_MS)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # pool_pre_ping: a pooled connection the server (or the network) dropped is noticed and
    # replaced at checkout; the first failed use of one also empties the pool of its peers.
    # hide_parameters: a database error or the SQL echo never carries the values (names,
    # ID numbers, addresses) into a log line.
    return sa.create_engine(url, echo=echo, plugins=["geoalchemy2"], pool_pre_ping=True, hide_parameters=True,
                            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})


def _sqlite_engine(url: str, echo: bool, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> sa.Engine:
    import pysqlite3.dbapi2 as sqlite3  # the stdlib module here cannot load extensions

    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    sa_url = sa.engine.make_url(url)
    if sa_url.database and sa_url.database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(sa_url.database)), exist_ok=True)
    # Only the WGS 84 systems: the full EPSG list costs 15 s on first connect.
    sa_url = sa_url.update_query_dict(
        {"geoalchemy2_connect_sqlite_init_mode": "WGS84", "geoalchemy2_connect_sqlite_transaction": "true"}
    )
    engine = sa.create_engine(
        sa_url,
        echo=echo,
        hide_parameters=True,
        module=sqlite3,
        plugins=["geoalchemy2"],
        connect_args={"check_same_thread": False, "isolation_level": None},
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        # Runs after the plugin's listener: loading SpatiaLite resets busy_timeout to 5 s.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # pysqlite's own transaction handling is off (isolation_level=None) so that
        # SAVEPOINTs work; we say BEGIN ourselves, IMMEDIATE unless told otherwise.
        conn.exec_driver_sql(sqlite_begin.get())

    return engine


class DatabaseState:
    """One app's engine and session factory (tests swap `Session` to roll back)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.Session = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def session(self) -> Session:
        if not has_app_context():
            raise RuntimeError("db.session needs an app context")
        if "db_session" not in g:
            g.db_session = self.Session()
        return g.db_session


class Database:
    """The extension: each app keeps its own DatabaseState in app.extensions, so two apps
    in one process (tests, benchmarks) never share an engine."""

    def init_app(self, app: Flask) -> None:
        state = DatabaseState(make_engine(app.config["DATABASE_URL"], app.config.get("DATABASE_ECHO", False),
                                          busy_timeout_ms=app.config.get("SQLITE_BUSY_TIMEOUT_MS")))
        app.extensions["doorstep_db"] = state
        app.after_request(self._commit_response)
        app.teardown_appcontext(self._teardown)

    @staticmethod
    def _state() -> DatabaseState:
        return current_app.extensions["doorstep_db"]

    @property
    def engine(self) -> sa.Engine:
        return self._state().engine

    @property
    def dialect(self) -> str:
        return self._state().dialect

    @property
    def session(self) -> Session:
        return self._state().session

    def _commit_response(self, response):
        """A request commits once, before its answer leaves: an error answer rolls back,
        and a failed commit becomes an error answer instead of a lost write."""
        session: Session | None = g.get("db_session")
        if session is None:
            return response
        if response.status_code >= 400 and not g.get("db_keep_on_error"):
            _quietly(session.rollback)
            return response
        try:
            session.commit()
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            # The database went away (or was busy) at the last moment: the client is told so
            # (503) and sends again, instead of getting a 500 or a success that was not kept.
            from server.core import errors

            problem = errors.database_problem(exc)
            log.warning("commit failed, answered as %s: %s", problem.code, getattr(exc, "orig", None) or exc,
                        exc_info=problem.code == "internal-error")
            _quietly(session.rollback)
            return current_app.make_response(errors.problem_response(problem))
        return response

    def keep_on_error(self) -> None:
        """Commit this request's writes even though it answers with an error: a failed
        sign-in still counts towards the lock-out, and a refused access is still logged."""
        g.db_keep_on_error = True

    def _teardown(self, exc):
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return
        # Whatever after_request did not commit is not kept. On a connection the database
        # dropped, rolling back can fail too; the answer has already gone, so say it and go on.
        _quietly(session.rollback)
        _quietly(session.close)


def _quietly(step) -> None:
    try:
        step()
    except Exception:  # noqa: BLE001 - cleanup after the answer; the error is logged
        log.warning("database cleanup failed", exc_info=True)
