"""Fixtures against real parts: the database named by DOORSTEP_TEST_DB (sqlite: a
SpatiaLite file; postgresql: a PostGIS database made fresh for the run), migrated to head
once per run, each test inside a transaction that is rolled back."""
from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from server.core.db import make_engine  # noqa: F401
from server.core.migrate import recreate_postgres_database as fresh_postgres

DB_KIND = os.environ.get("DOORSTEP_TEST_DB", "sqlite")
PG_URL = os.environ.get("DOORSTEP_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_test")
PASSWORD = "correct horse 42"


def fresh_database(tmp_path_factory, name: str) -> str:
    if DB_KIND == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp(name) / 'doorstep.sqlite'}"
    if DB_KIND == "postgresql":
        base = sa.engine.make_url(PG_URL)
        suffix = "" if name == "main" else "_" + name
        return fresh_postgres(base.set(database=base.database + suffix).render_as_string(hide_password=False))
    raise pytest.UsageError(f"DOORSTEP_TEST_DB must be sqlite or postgresql, not {DB_KIND!r}")


@contextlib.contextmanager
def live_app(tmp_path_factory, name: str, *, threads: int, seed=None, **config):
    """A Doorstep served by waitress on loopback, with a migrated database of its own whose
    writes commit for real (a rolled-back test transaction would serialise concurrent
    requests itself). `seed(session)` fills it first and may return something; yields
    (base URL, app, what seed returned). `config` overrides the app's settings."""
    from waitress.server import create_server

    from server import create_app
    from server.core.migrate import upgrade

    url = fresh_database(tmp_path_factory, name)
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": f"{name}-test", "TESTING": False,
                      "PHOTO_STORE": str(tmp_path_factory.mktemp(f"{name}_photos")), **config})
    db = app.extensions["doorstep_db"]
    seeded = None
    if seed is not None:
        with app.app_context():
            seeded = seed(db.session)
            db.session.commit()
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", app, seeded
    finally:
        server.close()
        db.engine.dispose()


def compile_translations() -> None:
    """The .mo files are build output; make them when a .po is newer (as `make` does)."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[1] / "server" / "translations"
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as f:
                catalog = read_po(f)
            with mo.open("wb") as f:
                write_mo(f, catalog)


def pytest_report_header(config):
    return f"doorstep database: {DB_KIND}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    from server.core.migrate import upgrade

    url = fresh_database(tmp_path_factory, "main")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from server import create_app

    compile_translations()
    app = create_app({
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "PHOTO_STORE": str(tmp_path_factory.mktemp("photos")),
    })
    yield app
    app.extensions["doorstep_db"].engine.dispose()


@pytest.fixture()
def connection(app):
    """One connection in one outer transaction: everything a test and its requests write
    is rolled back at the end."""
    db = app.extensions["doorstep_db"]
    conn = db.engine.connect()
    outer = conn.begin()
    original = db.Session
    db.Session = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield conn
    db.Session = original
    if outer.is_active:
        outer.rollback()
    conn.close()


@pytest.fixture()
def db_session(connection) -> Session:
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()


@pytest.fixture()
def client(app, connection):
    return app.test_client()


_seq = itertools.count(1)


@pytest.fixture()
def county(db_session):
    from server.core.models import Jurisdiction

    county = Jurisdiction(code=f"33{next(_seq):04d}", name="桐庐县", name_en="Tonglu County", kind="county")
    db_session.add(county)
    db_session.flush()
    return county


@pytest.fixture()
def township(db_session, county):
    from server.core.models import Jurisdiction

    node = Jurisdiction(code=f"T{next(_seq):05d}", name="桐君街道", name_en="Tongjun Street", kind="township",
                        parent=county)
    db_session.add(node)
    db_session.flush()
    return node


@pytest.fixture()
def make_community(db_session, township):
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction

    def make(name="迎春社区", name_en="Yingchun Community", lat=29.797, lon=119.691):
        node = Jurisdiction(code=f"C{next(_seq):05d}", name=name, name_en=name_en, kind="community",
                            parent=township, location=point_wkt(lat, lon))
        db_session.add(node)
        db_session.flush()
        return node

    return make


@pytest.fixture()
def community(make_community):
    return make_community()


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    """One argon2 hash of PASSWORD per run: hashing takes 0.4 s by design."""
    from server.core.auth import hash_password

    return hash_password(PASSWORD)


@pytest.fixture()
def make_user(db_session, community):
    from server.accounts.models import User, UserRole

    hashed = password_hash()

    def make(username=None, roles=("office",), jurisdiction=None, display_name=None, **fields):
        username = username or f"user{next(_seq)}"
        user = User(username=username, display_name=display_name or username, password_hash=hashed,
                    jurisdiction_id=(jurisdiction or community).id, **fields)
        user.role_rows = [UserRole(role=r) for r in roles]
        db_session.add(user)
        db_session.flush()
        return user

    return make


@pytest.fixture()
def investigator(make_user):
    return make_user("inv-a", roles=("investigator",))


@pytest.fixture()
def office_user(make_user):
    return make_user("office-a", roles=("office",))


@pytest.fixture()
def case_factory(db_session, community):
    from server.cases.models import Case, Household, Member
    from server.core.db import point_wkt
    from server.core.validators import make_id_number
    import datetime as dt

    def make(state="application", community_=None, members=2, team=None, **fields):
        comm = community_ or community
        n = next(_seq)
        household = Household(community_id=comm.id, head_name=f"张{n}三", address=f"迎春路{n}号",
                              location=point_wkt(29.797, 119.691))
        for i in range(members):
            sex = "F" if i % 2 else "M"
            birth = dt.date(1960 + i, 1 + i % 12, 1 + n % 28)
            household.members.append(Member(
                position=i, name=f"成员{n}-{i}", id_number=make_id_number("330122", birth, n % 500, sex),
                relation="self" if i == 0 else "spouse", sex=sex, birth_date=birth))
        case = Case(number=f"T-{n:06d}-{uuid.uuid4().hex[:4]}", household=household, community_id=comm.id,
                    state=state, team_id=team.id if team else None, **fields)
        db_session.add(case)
        db_session.flush()
        return case

    return make


@pytest.fixture()
def sign_in(client):
    """Sign a browser in through the real form (CSRF token and all)."""

    def do(username, password=PASSWORD):
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    return do


@pytest.fixture()
def token_for(client):
    """A device bearer token through the real API; returns the Authorization header."""

    def do(username, password=PASSWORD, device_name="test tablet"):
        r = client.post("/api/v1/auth/token", json={"username": username, "password": password,
                                                    "device_name": device_name})
        assert r.status_code == 201, r.get_data(as_text=True)
        return {"Authorization": "Bearer " + r.get_json()["token"]}

    return do


@pytest.fixture()
def policy(db_session, county):
    """The default policy in force at the county from 2026-01-01 (standard 1100.00)."""
    import datetime as dt

    from server.policy.models import PolicyVersion
    from server.policy.settings import DEFAULT_SETTINGS

    version = PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2026, 1, 1),
                            settings=DEFAULT_SETTINGS, note="test")
    db_session.add(version)
    db_session.flush()
    return version
