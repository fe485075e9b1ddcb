"""The field sync API under load (issue 4 "Speed"): visit PUTs per second and their
latency, SQLite and PostgreSQL side by side.

    python -m bench.sync_api                  both databases, printed as a table
    python -m bench.sync_api --devices 16     more tablets at once

The API runs as it does in production, in its own process: gunicorn with one worker
(gthread) on 127.0.0.1, or waitress where gunicorn is not installed (the table says
which). N simulated tablets (threads, each one keep-alive connection) push realistic
visits: five members, income, expenditure, housing, an asset, two testimonies, six photo
references and two signatures; the photos never come, so every visit is a full insert
that ends awaiting photos. Bounded by a count and a time limit; nothing here asserts.

Target (issue 4): at least 300 visit PUTs per second and p95 at most 50 ms on SQLite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("DOORSTEP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench")
TARGET = {"puts_per_second": 300, "p95_ms": 50}


def realistic_visit(case_id, n: int, investigators=("investigator1", "investigator2")) -> dict:
    """One home visit as a tablet sends it (DESIGN "The wire format")."""
    from server.core.validators import make_id_number

    def sha(label):
        return hashlib.sha256(f"{n}:{label}".encode()).hexdigest()

    tz = dt.timezone(dt.timedelta(hours=8))
    start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=tz) + dt.timedelta(minutes=n % 300)
    at = lambda minutes: (start + dt.timedelta(minutes=minutes)).isoformat()  # noqa: E731
    point = {"lat": 29.7971 + (n % 50) * 1e-5, "lon": 119.6912, "accuracy_m": 8.0}
    people = [("王秀英", "self", "F", 1961, "chronic"), ("李建国", "spouse", "M", 1958, "serious_illness"),
              ("李明", "child", "M", 1988, "healthy"), ("张丽", "child_in_law", "F", 1990, "healthy"),
              ("李小雨", "grandchild", "F", 2015, "healthy")]
    members = []
    for i, (name, relation, sex, year, health) in enumerate(people):
        birth = dt.date(year, 1 + i, 1 + n % 28)
        members.append({"name": name, "id_number": make_id_number("330122", birth, (n + i) % 500, sex),
                        "relation": relation, "sex": sex, "birth_date": birth.isoformat(), "health": health,
                        "disability_grade": 2 if i == 1 else None, "labour_ability": "full" if 2 <= i <= 3 else "none",
                        "work_status": "employed" if 2 <= i <= 3 else "none", "student": i == 4,
                        "class": "B" if i == 0 else None})
    photos = [{"sha256": sha(kind), "kind": kind, "taken_at": at(10 + i), "location": point}
              for i, kind in enumerate(("exterior", "interior", "kitchen", "documents", "asset", "other"))]
    return {
        "case_id": str(case_id), "kind": "initial", "started_at": at(0), "ended_at": at(46),
        "investigators": list(investigators), "location": point, "device_id": f"bench-pad-{n % 16}",
        "members": members,
        "income": [{"member": 0, "kind": "pension", "monthly_amount": "620.00"},
                   {"member": 2, "kind": "wage", "monthly_amount": "2100.00"},
                   {"member": 3, "kind": "wage", "monthly_amount": "1800.00"},
                   {"member": 1, "kind": "special_care", "monthly_amount": "300.00"}],
        "expenditure": [{"kind": "medical", "monthly_amount": "300.00"}, {"kind": "education", "monthly_amount": "80.00"}],
        "housing": {"tenure": "owned", "area_m2": "48", "condition": "poor"},
        "assets": [{"category": "vehicle", "description": "电动三轮车", "value": "3000", "count": 1,
                    "photos": [photos[4]["sha256"]]}],
        "testimonies": [
            {"witness_name": "赵大妈", "role": "neighbour", "contact": "13800000000",
             "answers": {"lives_here": "五口人", "work_and_income": "儿子儿媳打零工", "matches_declaration": "yes"},
             "statement": "老两口身体不好，常年吃药", "location": point, "at": at(30), "signature": sha("w1")},
            {"witness_name": "钱书记", "role": "cadre", "answers": {"matches_declaration": "unsure"},
             "statement": "情况基本属实", "at": at(40), "signature": sha("w2")},
        ],
        "photos": photos,
        "signatures": [{"role": "investigator", "name": "调查员一", "image": sha("s1")},
                       {"role": "family_member", "name": "王秀英", "image": sha("s2")}],
        "conclusion": "家庭人均收入低于标准，建议纳入", "notes": "",
    }


def _database(kind: str, folder: str) -> str:
    from server.core.migrate import recreate_postgres_database, upgrade

    if kind == "sqlite":
        url = f"sqlite:///{folder}/bench_sync.sqlite"
    else:
        from sqlalchemy.engine import make_url

        base = make_url(PG_URL)
        url = recreate_postgres_database(base.set(database=base.database + "_sync").render_as_string(hide_password=False))
    upgrade(url)
    return url


def _seed(url: str, cases: int, devices: int) -> tuple[list[uuid.UUID], list[str]]:
    """A county, a team of two investigators, `cases` cases under investigation, and one
    device token per simulated tablet."""
    from server import create_app
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.accounts.operations import issue_token
    from server.cases.models import Case, Household
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction
    from server.policy.models import PolicyVersion
    from server.policy.settings import DEFAULT_SETTINGS

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    db = app.extensions["doorstep_db"]
    with app.app_context():
        s = db.session
        county = Jurisdiction(code="330122", name="桐庐县", kind="county", location=point_wkt(29.797, 119.691))
        community = Jurisdiction(code="330122001001", name="迎春社区", kind="community", parent=county,
                                 location=point_wkt(29.8005, 119.685))
        s.add_all([county, community])
        s.flush()
        s.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2026, 1, 1), settings=DEFAULT_SETTINGS,
                            note="bench"))
        users = []
        for name in ("investigator1", "investigator2"):
            user = User(username=name, display_name=name, password_hash="-", jurisdiction_id=community.id)
            user.role_rows = [UserRole(role="investigator")]
            users.append(user)
        s.add_all(users)
        s.flush()
        team = Team(community_id=community.id, name="调查一组", members=[TeamMember(user_id=u.id) for u in users])
        s.add(team)
        s.flush()
        rows = []
        for i in range(cases):
            household = Household(community_id=community.id, head_name=f"户主{i}", address=f"迎春路{i}号",
                                  location=point_wkt(29.7971, 119.6912))
            rows.append(Case(number=f"B-{i:05d}", household=household, community_id=community.id,
                             state="investigating", team_id=team.id))
        s.add_all(rows)
        s.flush()
        tokens = [issue_token(s, users[i % 2], f"bench tablet {i}", 30)[0] for i in range(devices)]
        case_ids = [c.id for c in rows]
        s.commit()
    db.engine.dispose()
    return case_ids, tokens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(url: str, folder: str, threads: int) -> tuple[subprocess.Popen, int, str]:
    port = _free_port()
    env = {**os.environ, "DOORSTEP_DATABASE_URL": url, "DOORSTEP_SECRET_KEY": "bench",
           "DOORSTEP_INSTANCE_PATH": folder, "DOORSTEP_PHOTO_STORE": f"{folder}/photos"}
    if importlib.util.find_spec("gunicorn") is not None:
        cmd = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread",
               "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
               "--keep-alive", "30", "server:create_app()"]
        label = f"gunicorn, 1 worker (gthread, {threads} thread{'s' if threads > 1 else ''})"
    else:
        cmd = [sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}", f"--threads={threads}",
               "--call", "server:create_app"]
        label = f"waitress, 1 process, {threads} thread{'s' if threads > 1 else ''} (gunicorn not installed)"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port, label
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer within 60 s")


def _device(port: int, token: str, jobs: list[tuple[str, bytes]], deadline: float, out: list, start: threading.Barrier):
    """One tablet: PUT its visits one after another over one keep-alive connection."""
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start.wait()
    for visit_id, payload in jobs:
        if time.monotonic() > deadline:
            break
        began = time.perf_counter()
        try:
            conn.request("PUT", f"/api/v1/visits/{visit_id}", body=payload, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status = 0
        out.append((status, time.perf_counter() - began, time.perf_counter()))
    conn.close()


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


# Server threads in the one worker. SQLite takes one writer at a time and its busy handler
# waits in steps of up to 100 ms, so more threads only add latency there; PostgreSQL
# overlaps one request's database round trips with another's work.
DEFAULT_THREADS = {"sqlite": 1, "postgresql": 4}


def run_one(kind: str, devices: int = 8, puts: int = 1200, seconds: float = 60, threads: int | None = None,
            cases: int = 50) -> dict:
    threads = threads or DEFAULT_THREADS[kind]
    with tempfile.TemporaryDirectory() as folder:
        url = _database(kind, folder)
        case_ids, tokens = _seed(url, cases, devices)
        proc, port, label = _start_server(url, folder, threads)
        try:
            per_device = max(1, puts // devices)
            warmup = [(str(uuid.uuid4()), json.dumps(realistic_visit(case_ids[i % cases], 10**6 + i)).encode())
                      for i in range(10)]
            _device(port, tokens[0], warmup, time.monotonic() + 30, [], threading.Barrier(1))
            jobs = [[(str(uuid.uuid4()), json.dumps(realistic_visit(case_ids[(d * per_device + k) % cases],
                                                                      d * per_device + k),
                                                      ensure_ascii=False).encode())
                     for k in range(per_device)] for d in range(devices)]
            results: list = []
            start = threading.Barrier(devices + 1)
            deadline = time.monotonic() + seconds
            workers = [threading.Thread(target=_device, args=(port, tokens[d], jobs[d], deadline, results, start))
                       for d in range(devices)]
            for w in workers:
                w.start()
            start.wait()
            began = time.perf_counter()
            for w in workers:
                w.join()
            wall = max((r[2] for r in results), default=began) - began
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    ok = [r[1] for r in results if r[0] == 201]
    return {"database": kind, "server": label, "devices": devices, "puts": len(results), "created": len(ok),
            "errors": len(results) - len(ok), "seconds": wall,
            "puts_per_second": len(ok) / wall if wall > 0 else 0.0,
            "p50_ms": _percentile(ok, 50) * 1000, "p95_ms": _percentile(ok, 95) * 1000,
            "p99_ms": _percentile(ok, 99) * 1000}


def run(kinds=("sqlite", "postgresql"), **kwargs) -> list[dict]:
    """One row per database (see run_one for the knobs)."""
    return [run_one(kind, **kwargs) for kind in kinds]


def print_table(rows: list[dict]) -> None:
    print(f"\nvisit PUTs from {rows[0]['devices']} simulated devices")
    for r in rows:
        print(f"  {r['database']}: {r['server']}")
    print()
    cols = [("", 28), *[(r["database"], 12) for r in rows]]
    print("".join(f"{name:<{w}}" if i == 0 else f"{name:>{w}}" for i, (name, w) in enumerate(cols)))
    lines = [("PUTs (201 / all)", lambda r: f"{r['created']}/{r['puts']}"),
             ("seconds", lambda r: f"{r['seconds']:.2f}"),
             (f"PUTs per second (≥ {TARGET['puts_per_second']})", lambda r: f"{r['puts_per_second']:.1f}"),
             ("p50 latency, ms", lambda r: f"{r['p50_ms']:.1f}"),
             (f"p95 latency, ms (≤ {TARGET['p95_ms']})", lambda r: f"{r['p95_ms']:.1f}"),
             ("p99 latency, ms", lambda r: f"{r['p99_ms']:.1f}"),
             ("errors", lambda r: str(r["errors"]))]
    for label, value in lines:
        print(f"{label:<28}" + "".join(f"{value(r):>12}" for r in rows))
    print(f"\nmachine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end "
          f"(targets are for SQLite; PostgreSQL is shown beside it)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_api")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--puts", type=int, default=1200, help="at most this many PUTs per database")
    parser.add_argument("--seconds", type=float, default=60, help="and at most this long per database")
    parser.add_argument("--threads", type=int, default=None,
                        help="server threads in the one worker (default: 1 on SQLite, 4 on PostgreSQL)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    print_table(run(kinds, devices=args.devices, puts=args.puts, seconds=args.seconds, threads=args.threads))


if __name__ == "__main__":
    main()
