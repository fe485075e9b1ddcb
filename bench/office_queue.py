"""The office's review pages at 100,000 cases (issue 6 "Speed"): the review queue,
unfiltered and filtered, and the case file, on SQLite and PostgreSQL, served whole
(routing, session, queries, templates, the request's commit) by the app in process.

    python -m bench.office_queue                     both databases, 100,000 households
    python -m bench.office_queue --households 20000  smaller
    python -m bench.office_queue --only sqlite       one database
    python -m bench.office_queue --rebuild           build the data again

The data is the demo county (server.demo.build_demo), plus quality flags on the visits of
the cases under review (the demo makes visits but no flags): one to three per visit, of
the codes the office filters on. Building 100,000 households takes minutes, so the data
is kept between runs: SQLite in instance/bench/office_queue_<n>.sqlite, PostgreSQL in
the database doorstep_bench_office; either is rebuilt when its size or its migration
differs.

Each page is requested `--runs` times after two warm-up requests; the table shows p50
and p95 of the whole request, the database's share of the p95 request (its statements,
caught with SQLAlchemy's cursor events, replayed on a raw connection and fetched to the
last row; see `database_ms`), the p95 of this process's CPU time per request, and the
number of statements. Targets (issue 6): queue p95 ≤ 100 ms, case file p95 ≤ 150 ms. Nothing
here asserts a time."""
from __future__ import annotations

import argparse
import os
import platform
import random
import re
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("DOORSTEP_BENCH_OFFICE_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_office")
TARGET_MS = {"queue": 100.0, "case file": 150.0}
FLAG_CODES = ("gps_far_from_home", "visit_too_short", "too_few_testimonies", "testimony_contradicts",
              "missing_photo_kinds", "pci_above_standard")


def _head() -> str:
    from alembic.script import ScriptDirectory

    from server.core.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _ready(url: str, households: int) -> bool:
    """The database holds this run's data at the newest migration (a marker row says so)."""
    from server.core.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            n = conn.execute(sa.text("SELECT count(*) FROM households")).scalar()
            flagged = conn.execute(sa.text("SELECT count(*) FROM flags")).scalar()
        return version == _head() and n >= households and flagged > 0
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def build(kind: str, households: int, rebuild: bool, say=print) -> str:
    from server import create_app
    from server.core.migrate import recreate_postgres_database, upgrade
    from server.demo import build_demo

    if kind == "sqlite":
        path = ROOT / "instance" / "bench" / f"office_queue_{households}.sqlite"
        url = f"sqlite:///{path}"
        if not rebuild and path.exists() and _ready(url, households):
            return url
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        url = PG_URL
        if not rebuild and _ready(url, households):
            return url
        recreate_postgres_database(url)
    say(f"{kind}: building {households:,} households (kept for later runs)…")
    started = time.perf_counter()
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db = app.extensions["doorstep_db"]
        build_demo(db.session, households=households)
        add_flags(db.session)
        db.session.commit()
        if kind == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
    app.extensions["doorstep_db"].engine.dispose()
    say(f"{kind}: built in {time.perf_counter() - started:.0f} s")
    return url


def add_flags(session) -> int:
    """Flags on the visits of cases under review, as refresh_flags would leave them."""
    from server.cases.models import Case
    from server.review.flags import SEVERITY, flag_text
    from server.review.models import Flag
    from server.visits.models import Visit

    rnd = random.Random(6)
    rows = []
    visits = session.execute(sa.select(Visit.id, Visit.case_id).join(Case, Case.id == Visit.case_id)
                             .where(Case.state.in_(("submitted", "in_review", "returned", "panel", "objection")))
                             .order_by(Visit.id)).all()
    params_of = {
        "gps_far_from_home": lambda: {"distance_m": rnd.randint(301, 2000), "limit_m": 300},
        "visit_too_short": lambda: {"minutes": rnd.randint(3, 9), "min_minutes": 10},
        "too_few_testimonies": lambda: {"count": 1, "min": 2},
        "testimony_contradicts": lambda: {"role": "neighbour", "witness_name": "赵大妈"},
        "missing_photo_kinds": lambda: {"kinds": ["kitchen"]},
        "pci_above_standard": lambda: {"pci": "1320.00", "standard": "1100.00"},
    }
    for visit_id, case_id in visits:
        for code in rnd.sample(FLAG_CODES, rnd.randint(0, 3)):
            params = params_of[code]()
            rows.append({"case_id": case_id, "visit_id": visit_id, "code": code, "severity": SEVERITY[code],
                         "reason": flag_text(code, params, "zh_CN"), "params": params})
    if rows:
        session.execute(sa.insert(Flag), rows)
    return len(rows)


def _is_select(statement: str) -> bool:
    head = statement.lstrip()[:12].upper()
    return head.startswith("SELECT") or head.startswith("WITH")


class Timer:
    """The statements of a request: each SELECT with its parameters (to replay), and the
    time inside execution of the others (writes: the audited read, the commit's rows)."""

    def __init__(self, engine):
        self.engine, self.selects, self.write_seconds, self.statements, self._t = engine, [], 0.0, 0, []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._t.append(time.perf_counter())
        if _is_select(statement) and not executemany:
            self.selects.append((statement, parameters))

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - self._t.pop()
        if not _is_select(statement) or executemany:
            self.write_seconds += elapsed
        self.statements += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._before)
        sa.event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._before)
        sa.event.remove(self.engine, "after_cursor_execute", self._after)


def database_ms(engine, timer: Timer, repeat: int = 5) -> float:
    """The database's own time for a request: its SELECTs replayed on a raw connection,
    executed and fetched to the last row (SQLite computes rows while they are fetched, so
    timing execute alone would miss most of it), median of `repeat`, plus its writes as
    they were timed."""
    raw = engine.raw_connection()
    try:
        totals = []
        for _ in range(repeat):
            started = time.perf_counter()
            for statement, parameters in timer.selects:
                cur = raw.cursor()
                cur.execute(statement, parameters)
                cur.fetchall()
                cur.close()
            totals.append(time.perf_counter() - started)
        raw.rollback()
    finally:
        raw.close()
    return (sorted(totals)[len(totals) // 2] + timer.write_seconds) * 1000


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(kind: str, url: str, runs: int) -> list[dict]:
    from server import create_app
    from server.cases.models import Case

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    engine = app.extensions["doorstep_db"].engine
    out = []
    with app.app_context():
        session = app.extensions["doorstep_db"].Session()
        from server.accounts.models import User

        office = session.scalar(sa.select(User).where(User.username == "office1"))
        cases = list(session.scalars(
            sa.select(Case.id).where(Case.community_id == office.jurisdiction_id, Case.state == "in_review")
            .order_by(Case.id).limit(20)))
        session.close()
    for username, label, path_of in (
        ("office1", "queue, unfiltered", lambda i: "/review"),
        ("office1", "queue, 200 a page", lambda i: "/review?per_page=200"),
        ("office1", "queue, filtered", lambda i: "/review?state=in_review&flag=gps_far_from_home&sort=deadline"),
        ("office1", "queue, overdue + dates", lambda i: "/review?overdue=1&received_from=2026-01-01"
                                                        "&received_to=2026-12-31&sort=newest"),
        ("county1", "queue, county-wide", lambda i: "/review"),
        ("office1", "queue, next page", None),
        ("office1", "case file", lambda i: f"/cases/{cases[i % len(cases)]}"),
    ):
        client = app.test_client()
        r = client.post("/login", data={"username": username, "password": "demo1234"})
        assert r.status_code == 303, r.status_code
        if path_of is None:
            first = client.get("/review?per_page=20").get_data(as_text=True)
            m = re.search(r'href="([^"]+)" rel="next"', first)
            nxt = m.group(1).replace("&amp;", "&") if m else "/review?per_page=20"
            path_of = lambda i, nxt=nxt: nxt  # noqa: E731
        times, cpu, timers = [], [], []
        for i in range(runs + 2):
            path = path_of(i)
            with Timer(engine) as t:
                started, cpu_started = time.perf_counter(), time.process_time()
                r = client.get(path)
                elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
            assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])
            if i >= 2:  # two warm-up requests: compiled statements, caches, connections
                times.append(elapsed * 1000)
                cpu.append(cpu_used * 1000)
                timers.append(t)
        order = sorted(range(len(times)), key=lambda k: times[k])
        p95_at = order[min(len(order) - 1, int(round(0.95 * (len(order) - 1))))]
        db_ms = database_ms(engine, timers[p95_at])
        page = "case file" if label == "case file" else "queue"
        out.append({"database": kind, "page": label, "p50": _percentile(times, 50), "p95": times[p95_at],
                    "cpu_p95": _percentile(cpu, 95),
                    "db_ms": db_ms, "db_share": min(1.0, db_ms / times[p95_at]) if times[p95_at] else 0,
                    "statements": max(t.statements for t in timers), "target": TARGET_MS[page]})
    engine.dispose()
    return out


def print_table(rows: list[dict], households: int) -> None:
    print(f"\noffice review pages, {households:,} households (the demo county), whole requests in process")
    head = (f"{'database':<11}{'page':<26}{'p50 ms':>8}{'p95 ms':>8}{'cpu p95':>9}{'db ms':>8}{'db share':>10}"
            f"{'stmts':>7}{'target':>8}  ok")
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "yes" if r["p95"] <= r["target"] else "NO"
        print(f"{r['database']:<11}{r['page']:<26}{r['p50']:8.1f}{r['p95']:8.1f}{r['cpu_p95']:9.1f}{r['db_ms']:8.1f}"
              f"{r['db_share']:10.0%}{r['statements']:7d}{r['target']:8.0f}  {ok}")
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print("cpu p95: this process's CPU time per request (the app's own work, and SQLite's, which runs in it;\n"
          "PostgreSQL's runs in its server); on a busy machine it is steadier than the wall-clock columns.")


def run(households: int = 100_000, runs: int = 40, only: str | None = None, rebuild: bool = False) -> list[dict]:
    rows = []
    for kind in ("sqlite", "postgresql"):
        if only and kind != only:
            continue
        url = build(kind, households, rebuild)
        rows += measure(kind, url, runs)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.office_queue")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print_table(run(args.households, args.runs, args.only, args.rebuild), args.households)


if __name__ == "__main__":
    main()
