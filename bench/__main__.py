"""`make bench`: every benchmark, each printing its table. The foundation's figures are
compared with a committed baseline run; photo ingest and the sync API carry their own
baseline inside the run (a naive pipeline, and both databases side by side).

    python -m bench                  run every benchmark, compare with bench/baseline.json
    python -m bench --save-baseline  run and keep the figures as the new baseline
    python -m bench --households N   scale of the database benchmarks (default 20000)

The baseline is a committed run of the same benchmarks on a machine of the project's
kind; the ratio column is this run ÷ baseline (for times, below 1 is faster). Each
benchmark says its target where an issue gives one. Nothing here asserts a time."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline.json"
PG_URL = os.environ.get("DOORSTEP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench")


def bench_policy_engine(n: int) -> dict:
    """The policy engine over n random households (impact preview's inner loop;
    issue target: 100,000 households in under 5 s including the database read)."""
    from server.policy import engine
    from server.policy.settings import DEFAULT_SETTINGS, PolicySettings

    settings = PolicySettings.from_dict(DEFAULT_SETTINGS)
    rnd = random.Random(1)
    kinds = ["wage", "pension", "special_care", "maintenance", "scholarship"]
    households = []
    for _ in range(n):
        size = rnd.randint(1, 5)
        members = tuple(engine.MemberIn(name=None, birth_date=dt.date(rnd.randint(1940, 2015), 1, 1), relation=None,
                                        klass=rnd.choice([None, None, "A", "B"])) for _ in range(size))
        income = tuple(engine.IncomeIn(member=rnd.randrange(size), kind=rnd.choice(kinds),
                                       monthly_amount=Decimal(rnd.randint(0, 300000)) / 100) for _ in range(rnd.randint(0, 3)))
        assets = tuple(engine.AssetIn(category="vehicle", value=Decimal(rnd.randint(0, 60000))) for _ in range(rnd.randint(0, 1)))
        households.append(engine.HouseholdIn(members=members, income=income, assets=assets))
    on = dt.date(2026, 11, 20)
    started = time.perf_counter()
    for h in households:
        engine.evaluate(settings, h, on)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "per_second": n / seconds}


def _fresh(kind: str, folder: str) -> str:
    from server.core.migrate import recreate_postgres_database as fresh_postgres

    if kind == "sqlite":
        return f"sqlite:///{folder}/bench.sqlite"
    return fresh_postgres(PG_URL)


def bench_database(kind: str, households: int) -> dict:
    """Demo generation at scale (issue target: 100,000 households in under ten minutes)
    and the office's start page query against it."""
    from server import create_app
    from server.accounts.models import User
    from server.cases import queries
    from server.core.migrate import upgrade
    from server.demo import build_demo

    with tempfile.TemporaryDirectory() as folder:
        url = _fresh(kind, folder)
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
        out = {}
        with app.app_context():
            db = app.extensions["doorstep_db"]
            started = time.perf_counter()
            build_demo(db.session, households=households)
            db.session.commit()
            out["demo_seconds"] = time.perf_counter() - started
            office = db.session.scalar(sa.select(User).where(User.username == "office1"))
            county = db.session.scalar(sa.select(User).where(User.username == "county1"))
            for name, user in (("office", office), ("county", county)):
                runs = []
                for _ in range(5):
                    started = time.perf_counter()
                    queries.home_summary(db.session, user, dt.date(2026, 11, 23))
                    runs.append(time.perf_counter() - started)
                out[f"home_{name}_ms"] = sorted(runs)[len(runs) // 2] * 1000
            db.session.close()
        db.engine.dispose()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--households", type=int, default=20000)
    parser.add_argument("--engine-households", type=int, default=100000)
    parser.add_argument("--save-baseline", action="store_true")
    args = parser.parse_args()

    figures: dict[str, float] = {}
    labels: dict[str, str] = {}
    pe = bench_policy_engine(args.engine_households)
    figures["policy_engine_seconds"] = pe["seconds"]
    labels["policy_engine_seconds"] = f"policy engine, {args.engine_households:,} households (s)"
    figures["policy_engine_per_second"] = pe["per_second"]
    labels["policy_engine_per_second"] = "policy engine, households per second"
    for kind in ("sqlite", "postgresql"):
        db = bench_database(kind, args.households)
        figures[f"{kind}_demo_seconds"] = db["demo_seconds"]
        labels[f"{kind}_demo_seconds"] = f"{kind}: demo data, {args.households:,} households (s)"
        figures[f"{kind}_demo_projected_100k_seconds"] = db["demo_seconds"] * 100000 / args.households
        labels[f"{kind}_demo_projected_100k_seconds"] = f"{kind}: demo data, projected to 100,000 (s; target < 600)"
        for role in ("office", "county"):
            figures[f"{kind}_home_{role}_ms"] = db[f"home_{role}_ms"]
            labels[f"{kind}_home_{role}_ms"] = f"{kind}: {role} start page query, median of 5 (ms)"

    from bench import photo_ingest, sync_api

    print("\n== photo ingest (bench/photo_ingest.py) ==")
    photo_ingest.print_table(photo_ingest.run())
    print("\n== sync API (bench/sync_api.py) ==")
    sync_api.print_table(sync_api.run())
    # --- impact preview (bench/policy_impact.py): 100,000 households, target < 5 s; the
    # demo databases are built once and kept (instance/bench_admin.sqlite, doorstep_bench_admin) ---
    from bench import policy_impact

    print("\n== impact preview (bench/policy_impact.py) ==")
    policy_impact.print_table(policy_impact.run(reuse=True))
    # --- end impact preview ---
    # --- office review pages (bench/office_queue.py, issue 6): queue and case file at 100,000 cases ---
    from bench import office_queue

    print("\n== office review pages (bench/office_queue.py) ==")
    office_queue.print_table(office_queue.run(households=100_000), 100_000)
    # --- end office review pages ---
    # --- tablet app (bench/pwa.py): sizes, Lighthouse, on-device photo downscale ---
    from bench import pwa

    print("\n== tablet app (bench/pwa.py) ==")
    pwa.print_table(pwa.run())
    # --- end tablet app ---
    # --- ledgers and dashboard (bench/ledgers.py, issue 7): payment list, ledger, exports and
    # the dashboard at 100,000 households, the demo databases built once and kept ---
    from bench import ledgers

    print("\n== ledgers and dashboard (bench/ledgers.py) ==")
    ledgers.print_table(ledgers.run(households=100_000), 100_000)
    # --- end ledgers ---
    # --- reconnect storm (bench/storm.py, "Prove it" item 5): 200 tablets online at once against
    # gunicorn (4 workers) on PostgreSQL; hard stop 10 minutes; its figures join the baseline table ---
    from bench import storm

    print("\n== reconnect storm (bench/storm.py) ==")
    storm_result = storm.run()
    storm.print_table(storm_result)
    print(f"figures saved to {storm.save(storm_result).relative_to(HERE.parent)}")
    for key, (label, value) in storm.figures(storm_result).items():
        figures[key], labels[key] = value, label
    # --- end reconnect storm ---

    baseline = json.loads(BASELINE.read_text())["figures"] if BASELINE.exists() else {}
    width = max(len(v) for v in labels.values())
    print(f"\n{'benchmark':<{width}}  {'this run':>12}  {'baseline':>12}  {'ratio':>7}")
    print("-" * (width + 39))
    for key, value in figures.items():
        base = baseline.get(key)
        ratio = f"{value / base:7.2f}" if base else "      —"
        base_text = f"{base:12.2f}" if base is not None else f"{'—':>12}"
        print(f"{labels[key]:<{width}}  {value:12.2f}  {base_text}  {ratio}")
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.save_baseline:
        BASELINE.write_text(json.dumps({"households": args.households, "figures": figures}, indent=2) + "\n")
        print(f"baseline saved to {BASELINE.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
