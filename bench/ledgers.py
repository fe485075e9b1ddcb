"""Ledgers and the dashboard at 100,000 households: the monthly payment list (first page
and a later one), the ledger of active households, the dashboard, for the community
office and the whole county, and the exports, on SQLite and PostgreSQL, served whole by
the app in process.

    python -m bench.ledgers                     both databases, 100,000 households
    python -m bench.ledgers --households 20000  smaller
    python -m bench.ledgers --only sqlite       one database
    python -m bench.ledgers --rebuild           build the data again

The data is the office bench's (bench/office_queue.py: the demo county, kept between runs
in instance/bench/office_queue_<n>.sqlite and the database doorstep_bench_office), so the
two benchmarks build it once. In the demo county nearly every household is a recipient:
at 100,000 households the county's payment list has about 90,000 rows, office1's
community about 36,000.

Each page is requested `--runs` times after one warm-up; the table shows p50 and p95 of
the whole request, the p95 of this process's CPU time (steadier than wall-clock time on a
shared machine; SQLite's work is in it, PostgreSQL's is not), the statements per
request and the rows. Exports are requested `--export-runs` times. Nothing here asserts a
time."""
from __future__ import annotations

import argparse
import os
import platform
import re
import time

import sqlalchemy as sa

from bench.office_queue import Timer, build

MONTH = "2026-11"
NEWLINE, FEATURE = b"\n", b'"Feature"'


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _rows(label: str, body: bytes, mimetype: str) -> str:
    if "csv" in mimetype:
        return f"{body.count(NEWLINE) - 2:,}"  # less the header and the totals
    if "geo+json" in mimetype:
        return f"{body.count(FEATURE):,}"
    if "spreadsheetml" in mimetype:
        import io
        import zipfile

        sheet = zipfile.ZipFile(io.BytesIO(body)).read("xl/worksheets/sheet1.xml")
        return f"{sheet.count(b'<row ') - 2:,}"  # less the header and the totals
    text = body.decode("utf-8", "replace")
    m = re.search(r'data-total="(households|cases)">(\d+)<', text)
    return f"{int(m.group(2)):,} total" if m else ""


def measure(kind: str, url: str, runs: int, export_runs: int) -> list[dict]:
    from server import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    engine = app.extensions["doorstep_db"].engine
    pages = [
        ("office1", "payment list", f"/ledgers/payments?month={MONTH}", runs),
        ("office1", "payment list, page 20", f"/ledgers/payments?month={MONTH}&page=20", runs),
        ("county1", "payment list", f"/ledgers/payments?month={MONTH}", runs),
        ("county1", "payment list, 1 community", f"/ledgers/payments?month={MONTH}&community=COMMUNITY", runs),
        ("office1", "active households", "/ledgers/active", runs),
        ("county1", "active households", "/ledgers/active", runs),
        ("office1", "dashboard", "/dashboard", runs),
        ("county1", "dashboard", "/dashboard", runs),
        ("office1", "export payments CSV", f"/ledgers/payments.csv?month={MONTH}", export_runs),
        ("office1", "export payments XLSX", f"/ledgers/payments.xlsx?month={MONTH}", export_runs),
        ("county1", "export payments CSV", f"/ledgers/payments.csv?month={MONTH}", export_runs),
        ("county1", "export active CSV", "/ledgers/active.csv", export_runs),
        ("county1", "export visits GeoJSON", "/ledgers/visits.geojson", export_runs),
    ]
    with app.app_context():
        from server.accounts.models import User

        session = app.extensions["doorstep_db"].Session()
        office = session.scalar(sa.select(User).where(User.username == "office1"))
        community = office.jurisdiction_id
        session.close()
    out = []
    clients = {}
    for username, label, path, n in pages:
        if n <= 0:
            continue
        path = path.replace("COMMUNITY", str(community))
        if username not in clients:
            client = app.test_client()
            r = client.post("/login", data={"username": username, "password": "demo1234"})
            assert r.status_code == 303, r.status_code
            clients[username] = client
        client = clients[username]
        times, cpu, statements = [], [], 0
        rows = ""
        for i in range(n + 1):
            with Timer(engine) as t:
                started, cpu_started = time.perf_counter(), time.process_time()
                r = client.get(path)
                body = r.get_data()
                elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
            assert r.status_code == 200, (path, r.status_code, body[:300])
            if i >= 1 or n == 1:  # one warm-up request (not for a single export run)
                times.append(elapsed * 1000)
                cpu.append(cpu_used * 1000)
                statements = max(statements, t.statements)
            rows = _rows(label, body, r.mimetype or "")
        out.append({"database": kind, "who": username, "page": label, "p50": _percentile(times, 50),
                    "p95": _percentile(times, 95), "cpu_p95": _percentile(cpu, 95), "statements": statements,
                    "rows": rows})
    engine.dispose()
    return out


def print_table(rows: list[dict], households: int) -> None:
    print(f"\nledgers and dashboard, {households:,} households (the demo county), whole requests in process")
    head = f"{'database':<11}{'who':<9}{'page':<28}{'p50 ms':>9}{'p95 ms':>9}{'cpu p95':>9}{'stmts':>7}  rows"
    print(head)
    print("-" * (len(head) + 12))
    for r in rows:
        print(f"{r['database']:<11}{r['who']:<9}{r['page']:<28}{r['p50']:9.0f}{r['p95']:9.0f}{r['cpu_p95']:9.0f}"
              f"{r['statements']:7d}  {r['rows']}")
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print("cpu p95: this process's CPU time per request (the app's work, and SQLite's, which runs in it;\n"
          "PostgreSQL's runs in its server). Statements per request do not grow with the list.")


def run(households: int = 100_000, runs: int = 10, export_runs: int = 1, only: str | None = None,
        rebuild: bool = False) -> list[dict]:
    rows = []
    for kind in ("sqlite", "postgresql"):
        if only and kind != only:
            continue
        url = build(kind, households, rebuild)
        rows += measure(kind, url, runs, export_runs)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledgers")
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--export-runs", type=int, default=1)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print_table(run(args.households, args.runs, args.export_runs, args.only, args.rebuild), args.households)


if __name__ == "__main__":
    main()
