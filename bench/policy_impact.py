"""Impact preview at scale: a draft policy over every household receiving the allowance,
against the version in force, on the demo county with 100,000 households (issue target:
under 5 s), on SQLite + SpatiaLite and on PostgreSQL + PostGIS.

    python -m bench.policy_impact                   build both databases, then measure
    python -m bench.policy_impact --households N    another scale
    python -m bench.policy_impact --reuse           keep and reuse the databases between runs
                                                    (instance/bench_admin.sqlite and doorstep_bench_admin)
    python -m bench.policy_impact --only sqlite     one database

Each figure is the median of five runs of the whole preview (the read, both evaluations,
the per-community sums) with a warm database, and its parts: the read of the households
(SQL and fetch), turning rows into facts, one evaluation pass. CPU seconds are shown next
to wall seconds: on a shared machine the difference is time spent waiting for a core.
Nothing here asserts a time."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("DOORSTEP_BENCH_ADMIN_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_admin")
SQLITE_PATH = Path(os.environ.get("DOORSTEP_BENCH_ADMIN_SQLITE", ROOT / "instance" / "bench_admin.sqlite"))
TARGET_SECONDS = 5.0
RUNS = 5


def _database(kind: str, households: int, reuse: bool) -> tuple[str, float | None]:
    """The URL of a demo database of `households`; built unless `reuse` finds one."""
    from server import create_app
    from server.core.migrate import recreate_postgres_database, upgrade
    from server.demo import build_demo

    url = f"sqlite:///{SQLITE_PATH}" if kind == "sqlite" else PG_URL
    if reuse and _has_demo(url, households):
        return url, None
    if kind == "sqlite":
        SQLITE_PATH.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)
    else:
        recreate_postgres_database(url)
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db = app.extensions["doorstep_db"]
        started = time.perf_counter()
        build_demo(db.session, households=households)
        db.session.commit()
        seconds = time.perf_counter() - started
        if kind == "postgresql":
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        db.session.close()
    app.extensions["doorstep_db"].engine.dispose()
    return url, seconds


def _has_demo(url: str, households: int) -> bool:
    from server.core.db import make_engine

    if url.startswith("sqlite") and not SQLITE_PATH.exists():
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM households")).scalar() >= households
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def measure(url: str) -> dict:
    from server import create_app
    from server.cases.lifecycle import local_today
    from server.core.models import Jurisdiction
    from server.policy import impact
    from server.policy.models import PolicyVersion
    from server.policy.settings import PolicySettings, merge_defaults

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    out: dict = {}
    with app.app_context():
        session = app.extensions["doorstep_db"].session
        county = session.scalar(sa.select(Jurisdiction).where(Jurisdiction.kind == "county"))
        current = session.scalar(sa.select(PolicyVersion).where(PolicyVersion.jurisdiction_id == county.id)
                                 .order_by(PolicyVersion.effective_from.desc()).limit(1))
        doc = merge_defaults(current.settings)
        # A typical yearly change: the standard up by 80 yuan, class A's top-up from 30 % to 35 %.
        draft = PolicySettings.from_dict(merge_defaults({
            "monthly_standard": format(PolicySettings.from_dict(doc).monthly_standard + 80, "f"),
            "class_topup_percent": {"A": "35", "B": doc["class_topup_percent"]["B"]}}, doc))
        today = local_today()
        on = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        communities = [c.id for c in impact.communities_under(session, county)]
        impact.compute(session, county, draft, on)  # warm: the database's cache, not ours
        session.rollback()
        walls, cpus = [], []
        for _ in range(RUNS):
            c0, t0 = time.process_time(), time.perf_counter()
            result = impact.compute(session, county, draft, on)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            session.rollback()
        out["households"] = sum(c.households for c in result.communities)
        out["gain"] = result.count("gain")
        out["change"] = result.change
        out["wall"], out["cpu"] = statistics.median(walls), statistics.median(cpus)
        out["best"] = min(walls)
        # The parts, once each, as compute runs them (without the cyclic collector).
        with impact._no_cyclic_gc():
            t0 = time.perf_counter()
            rows = list(impact.household_rows(session, communities, expenditure=False))
            t1 = time.perf_counter()
            facts = impact.facts_from_rows(rows)
            t2 = time.perf_counter()
            prepared = impact.Prepared(draft, on)
            for f in facts:
                impact.evaluate_facts(prepared, f, on)
            t3 = time.perf_counter()
        out["read"], out["facts"], out["evaluate"] = t1 - t0, t2 - t1, t3 - t2
        session.rollback()
        session.close()
    app.extensions["doorstep_db"].engine.dispose()
    return out


def run(households: int = 100_000, reuse: bool = False, only: str | None = None) -> list[dict]:
    results = []
    for kind in ("sqlite", "postgresql"):
        if only and kind != only:
            continue
        url, built = _database(kind, households, reuse)
        figures = measure(url)
        figures.update(kind=kind, built=built)
        results.append(figures)
    return results


def print_table(results: list[dict]) -> None:
    print(f"{'database':<11} {'households':>10} {'preview s':>10} {'cpu s':>7} {'best s':>7} {'target':>7}  "
          f"{'read s':>7} {'facts s':>8} {'1 eval s':>8}  verdict")
    for r in results:
        verdict = "under target" if r["wall"] < TARGET_SECONDS else "OVER target"
        print(f"{r['kind']:<11} {r['households']:>10,} {r['wall']:>10.2f} {r['cpu']:>7.2f} {r['best']:>7.2f} "
              f"{TARGET_SECONDS:>7.1f}  {r['read']:>7.2f} {r['facts']:>8.2f} {r['evaluate']:>8.2f}  {verdict}")
    for r in results:
        if r["built"] is not None:
            print(f"{r['kind']}: demo database built in {r['built']:.0f} s")
        print(f"{r['kind']}: the draft raises {r['gain']:,} allowances; monthly total {r['change']:+,.2f} yuan")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, "
          f"Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.policy_impact")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    print_table(run(args.households, args.reuse, args.only))


if __name__ == "__main__":
    main()
