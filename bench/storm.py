"""A reconnect storm (issue "Prove it", item 5): a county's tablets come back online at the
same moment, say after a district-wide network outage, and all send their outboxes at once.

    python -m bench.storm                          200 tablets, 5 visits and 15 photos each
    python -m bench.storm --devices 20 --seconds 120   a smaller storm

The server runs as in production, in processes of its own: gunicorn, 4 workers (gthread),
on PostgreSQL + PostGIS (a fresh database, `<DOORSTEP_BENCH_PG_URL>_storm`) and a local
photo folder, on loopback. The database holds what the tablets were given: one county,
communities, teams of two investigators, and ten cases under investigation per team,
five for each of its two tablets; each tablet has its own device token and made its
last full sync of assignments before going offline (not timed: that is its cursor).

When the storm starts, every tablet does what the PWA's outbox does (pwa/src/outbox.js),
over one keep-alive connection: for each finished visit, HEAD each photo, PUT the ones
the server lacks, then PUT the visit; at the end it refreshes its assignments from its
cursor. A failed request is counted as an error and retried after a pause, as the PWA
would. Visits are realistic (five members, income, expenditure, housing, an asset, two
testimonies) and name three photos each. The photos are real, distinct JPEGs of a phone
photo already downscaled on the tablet to 2048 px on its long edge (300-600 KB; the
canvas re-encode on the tablet leaves no EXIF); they are made once and kept in
instance/bench/.

A hard stop (10 minutes by default) bounds the run; the table says what finished. Server
memory is the peak of the summed resident memory (VmRSS) of gunicorn's master and workers,
sampled from /proc every 0.2 s. Figures go to bench/results/ and are compared with
bench/baseline.json when it has them (`python -m bench --save-baseline` keeps them).
Nothing here asserts a time.

Targets: no errors; every visit and photo stored exactly once, every visit in review."""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = Path(__file__).resolve().parent / "baseline.json"
PG_URL = os.environ.get("DOORSTEP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench")
PHOTO_CACHE = ROOT / "instance" / "bench" / "storm-photos-v1"

DEVICES, VISITS, PHOTOS_PER_VISIT = 200, 5, 3
WORKERS, THREADS = 4, 4
HARD_STOP_SECONDS = 600.0
KINDS = ("assignments", "photo HEAD", "photo PUT", "visit PUT")
# What each kind of request answers when all is well (HEAD: 404 means "send it").
EXPECTED = {"assignments": {200}, "photo HEAD": {200, 404}, "photo PUT": {200, 201}, "visit PUT": {200, 201}}
RETRIES = 3


# --- the photos -----------------------------------------------------------------------------

PHOTO_SIZE = (2048, 1536)
_layers: dict = {}


def phone_photo(seed: int) -> bytes:
    """A 2048 x 1536 JPEG at quality 80 as the tablet's downscale writes it: a scene of its
    own (so no two share a perceptual hash), texture and sensor grain taken at a random
    offset from shared layers (so making one costs ~0.1 s), three texture strengths and two
    grain levels (so sizes spread over 400-600 KB)."""
    from PIL import Image, ImageChops

    w, h = PHOTO_SIZE
    if not _layers:
        _layers["texture"] = [Image.effect_noise((w // 4 + 64, h // 4 + 64), s)
                              .resize((w + 256, h + 256), Image.Resampling.BILINEAR) for s in (10, 16, 24)]
        _layers["grain"] = [Image.effect_noise((w + 64, h + 64), s) for s in (1.5, 2.5)]
    rnd = random.Random(seed)
    scene = Image.frombytes("RGB", (40, 30), rnd.randbytes(40 * 30 * 3)).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    ox, oy, gx, gy = rnd.randrange(256), rnd.randrange(256), rnd.randrange(64), rnd.randrange(64)
    texture = _layers["texture"][seed % 3].crop((ox, oy, ox + w, oy + h))
    grain = _layers["grain"][(seed // 3) % 2].crop((gx, gy, gx + w, gy + h))
    img = Image.merge("RGB", [ImageChops.add(ImageChops.add(c, texture, 1.0, -128), grain, 1.0, -128)
                              for c in scene.split()])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def _make_photo(i: int) -> None:
    path = PHOTO_CACHE / f"{i:05d}.jpg"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(phone_photo(i))
    os.replace(tmp, path)  # a run stopped half-way leaves no half photo


def photo_set(n: int, progress=print) -> list[Path]:
    """n distinct photos from the cache, making the missing ones (two processes)."""
    PHOTO_CACHE.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(n) if not (PHOTO_CACHE / f"{i:05d}.jpg").exists()]
    if missing:
        progress(f"making {len(missing)} phone photos in {PHOTO_CACHE.relative_to(ROOT)} (once) ...")
        started = time.monotonic()
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(_make_photo, missing, chunksize=16))
        progress(f"  made in {time.monotonic() - started:.0f} s")
    return [PHOTO_CACHE / f"{i:05d}.jpg" for i in range(n)]


# --- the county the tablets work in ---------------------------------------------------------

@dataclass
class Device:
    token: str
    username: str
    partner: str
    case_ids: list
    cursor: str = ""
    visits: list = field(default_factory=list)  # (visit id, body bytes, [photo paths])


def _database() -> str:
    from sqlalchemy.engine import make_url

    from server.core.migrate import recreate_postgres_database, upgrade

    base = make_url(PG_URL)
    url = recreate_postgres_database(base.set(database=base.database + "_storm").render_as_string(hide_password=False))
    upgrade(url)
    return url


def _seed(url: str, devices: int, visits: int) -> list[Device]:
    """One county; a community per 20 tablets; teams of two investigators, one tablet each;
    `visits` cases under investigation per tablet, all assigned to its team."""
    from server import create_app
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.accounts.operations import issue_token
    from server.cases.models import Case, Household, Member
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction
    from server.core.validators import make_id_number
    from server.policy.models import PolicyVersion
    from server.policy.settings import DEFAULT_SETTINGS

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    db = app.extensions["doorstep_db"]
    out: list[Device] = []
    with app.app_context():
        s = db.session
        county = Jurisdiction(code="330122", name="桐庐县", kind="county", location=point_wkt(29.797, 119.691))
        s.add(county)
        s.flush()
        s.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2026, 1, 1), settings=DEFAULT_SETTINGS,
                            note="bench"))
        communities = []
        for c in range((devices + 19) // 20):
            communities.append(Jurisdiction(code=f"330122{c + 1:03d}001", name=f"社区{c + 1}", kind="community",
                                            parent=county, location=point_wkt(29.79 + c * 0.01, 119.68)))
        s.add_all(communities)
        s.flush()
        n = 0
        for t in range((devices + 1) // 2):
            community = communities[(2 * t) // 20]
            pair = []
            for k in range(2):
                user = User(username=f"inv{2 * t + k + 1:03d}", display_name=f"调查员{2 * t + k + 1}",
                            password_hash="-", jurisdiction_id=community.id)
                user.role_rows = [UserRole(role="investigator")]
                pair.append(user)
            s.add_all(pair)
            s.flush()
            team = Team(community_id=community.id, name=f"调查{t + 1}组",
                        members=[TeamMember(user_id=u.id) for u in pair])
            s.add(team)
            s.flush()
            for k, user in enumerate(pair):
                if len(out) == devices:
                    break
                cases = []
                for _ in range(visits):
                    n += 1
                    household = Household(community_id=community.id, head_name=f"户主{n}", address=f"迎春路{n}号",
                                          location=point_wkt(29.7971, 119.6912))
                    for i, (relation, sex, year) in enumerate((("self", "F", 1961), ("spouse", "M", 1958),
                                                               ("child", "M", 1988))):
                        birth = dt.date(year, 1 + i, 1 + n % 28)
                        household.members.append(Member(position=i, name=f"成员{n}-{i}", relation=relation, sex=sex,
                                                        birth_date=birth,
                                                        id_number=make_id_number("330122", birth, n % 900, sex)))
                    cases.append(Case(number=f"S-{n:05d}", household=household, community_id=community.id,
                                      state="investigating", team_id=team.id))
                s.add_all(cases)
                s.flush()
                raw, _ = issue_token(s, user, f"storm tablet {len(out) + 1}", 30)
                out.append(Device(raw, user.username, pair[1 - k].username, [c.id for c in cases]))
        s.commit()
    db.engine.dispose()
    return out


def _visits(devices: list[Device], photos: list[Path]) -> None:
    """Each tablet's outbox: its visits, each naming three of its photos."""
    from bench.sync_api import realistic_visit

    for d, device in enumerate(devices):
        for v, case_id in enumerate(device.case_ids):
            n = d * len(device.case_ids) + v
            body = realistic_visit(case_id, n, investigators=(device.username, device.partner))
            mine = photos[n * PHOTOS_PER_VISIT:(n + 1) * PHOTOS_PER_VISIT]
            body["photos"] = [{"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "kind": kind,
                               "taken_at": body["started_at"][:11] + f"09:{10 + i:02d}:00+08:00",
                               "location": body["location"]}
                              for i, (p, kind) in enumerate(zip(mine, ("exterior", "interior", "kitchen")))]
            body["assets"][0]["photos"] = []
            body["signatures"] = []  # drawn on the screen: not part of this load (see module doc)
            for testimony in body["testimonies"]:
                testimony.pop("signature", None)
            body["device_id"] = f"storm-tablet-{d + 1}"
            device.visits.append((str(uuid.uuid4()), json.dumps(body, ensure_ascii=False).encode(),
                                  [(ref["sha256"], p) for ref, p in zip(body["photos"], mine)]))


# --- the server -----------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(url: str, folder: str, workers: int, threads: int) -> tuple[subprocess.Popen, int, str]:
    port = _free_port()
    env = {**os.environ, "DOORSTEP_DATABASE_URL": url, "DOORSTEP_SECRET_KEY": "bench",
           "DOORSTEP_INSTANCE_PATH": folder, "DOORSTEP_PHOTO_STORE": f"{folder}/photos"}
    for name in ("DOORSTEP_S3_BUCKET", "DOORSTEP_S3_ENDPOINT_URL"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
           "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--keep-alive", "75", "--timeout", "120",
           "--log-level", "warning", "server:create_app()"]
    log = open(Path(folder) / "gunicorn.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn did not start: " + (Path(folder) / "gunicorn.log").read_text()[-2000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                # Every worker boots on its own; wait until all have (their RSS is the idle figure).
                if len(_server_pids(proc.pid)) >= workers + 1:
                    return proc, port, f"gunicorn, {workers} workers (gthread, {threads} threads each)"
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("gunicorn did not answer within 90 s")


def _server_pids(master: int) -> list[int]:
    """gunicorn's master and every process below it."""
    pids, todo = [], [master]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return pids


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat fields 14, 15)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """Summed VmRSS of the server's processes every `every` seconds; keeps the peak, and
    the CPU time each process has used (so what the server spent is known however busy the
    machine is with other work)."""

    def __init__(self, master: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.master, self.every = master, every
        self.peak_kb = self.last_kb = 0
        self.peak_processes = 0
        self.cpu: dict[int, float] = {}
        self.stop = threading.Event()

    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def sample(self) -> int:
        pids = _server_pids(self.master)
        for p in pids:
            self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_seconds(p))
        total = sum(_rss_kb(p) for p in pids)
        self.last_kb = total
        if total > self.peak_kb:
            self.peak_kb, self.peak_processes = total, len(pids)
        return total

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)


# --- the tablets ----------------------------------------------------------------------------

@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (connection failed or timed out)
    seconds: float
    ended: float  # perf_counter at the end
    nbytes: int = 0


class Tablet(threading.Thread):
    def __init__(self, port: int, device: Device, start: threading.Barrier, deadline: float):
        super().__init__(daemon=True)
        self.port, self.device, self.start_barrier, self.deadline = port, device, start, deadline
        self.samples: list[Sample] = []
        self.visits_sent = 0
        self.finished = False
        self.conn = None
        self.headers = {"Authorization": "Bearer " + device.token}

    def _connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def request(self, kind: str, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> int:
        """One request, retried like the PWA does on a failure; every failure is counted."""
        headers = dict(self.headers)
        if ctype:
            headers["Content-Type"] = ctype
        for attempt in range(RETRIES):
            if time.monotonic() > self.deadline:
                raise TimeoutError
            began = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                self._connect()
                status = 0
            self.samples.append(Sample(kind, status, time.perf_counter() - began, time.perf_counter(),
                                       len(body) if body else 0))
            if status in EXPECTED[kind]:
                return status
            if attempt < RETRIES - 1:
                time.sleep(0.5 * 2 ** attempt)
        return status

    def run(self):
        self._connect()
        self.start_barrier.wait()
        try:
            for visit_id, payload, photos in self.device.visits:
                for sha, path in photos:
                    if self.request("photo HEAD", "HEAD", f"/api/v1/photos/{sha}") == 404:
                        self.request("photo PUT", "PUT", f"/api/v1/photos/{sha}", path.read_bytes(), "image/jpeg")
                if self.request("visit PUT", "PUT", f"/api/v1/visits/{visit_id}", payload,
                                "application/json") in (200, 201):
                    self.visits_sent += 1
            self.request("assignments", "GET", f"/api/v1/sync/assignments?since={self.device.cursor}")
            self.finished = True
        except TimeoutError:
            pass
        finally:
            self.conn.close()


def _full_sync(port: int, device: Device) -> None:
    """The tablet's last sync before it went offline: all its cases, and the cursor."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    since = ""
    while True:
        conn.request("GET", f"/api/v1/sync/assignments?since={since}",
                     headers={"Authorization": "Bearer " + device.token})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"assignments answered {resp.status}: {answer}")
        since = answer["cursor"]
        if not answer.get("more"):
            break
    conn.close()
    device.cursor = since


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))]


def _stored(url: str) -> dict:
    """What the database holds after the storm."""
    import sqlalchemy as sa

    from server.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        visits = dict(conn.execute(sa.text("SELECT state, count(*) FROM visits GROUP BY state")).all())
        out = {"visits_stored": sum(visits.values()), "visits_in_review": visits.get("in_review", 0),
               "visits_awaiting_photos": visits.get("awaiting_photos", 0),
               "photos_stored": conn.scalar(sa.text("SELECT count(*) FROM photos")),
               "photos_processed": conn.scalar(sa.text("SELECT count(*) FROM photos WHERE derived_ready")),
               "cases_submitted": conn.scalar(sa.text("SELECT count(*) FROM cases WHERE state = 'submitted'")),
               "visit_conflicts": conn.scalar(sa.text("SELECT count(*) FROM visit_conflicts"))}
    engine.dispose()
    return out


def run(devices: int = DEVICES, visits: int = VISITS, seconds: float = HARD_STOP_SECONDS, workers: int = WORKERS,
        threads: int = THREADS, progress=print) -> dict:
    photos = photo_set(devices * visits * PHOTOS_PER_VISIT, progress)
    with tempfile.TemporaryDirectory(prefix="doorstep-storm-") as folder:
        progress("storm: fresh PostgreSQL database, seeding ...")
        url = _database()
        county = _seed(url, devices, visits)
        _visits(county, photos)
        proc, port, label = _start_server(url, folder, workers, threads)
        sampler = MemorySampler(proc.pid)
        try:
            progress(f"storm: {label}; the tablets' last full sync ...")
            for device in county:
                _full_sync(port, device)
            idle_kb = sampler.sample()
            idle_cpu, client_cpu, load_before = sampler.cpu_seconds(), time.process_time(), os.getloadavg()[0]
            sampler.peak_kb = 0
            sampler.start()
            start = threading.Barrier(devices + 1)
            began_mono = time.monotonic()
            tablets = [Tablet(port, d, start, began_mono + seconds + 60) for d in county]  # reset below
            for t in tablets:
                t.start()
            progress(f"storm: {devices} tablets online at once (hard stop {seconds:.0f} s) ...")
            start.wait()
            began = time.perf_counter()
            deadline = time.monotonic() + seconds
            for t in tablets:
                t.deadline = deadline
            for t in tablets:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
            stopped = any(t.is_alive() for t in tablets)
            sampler.stop.set()
            sampler.join()
            sampler.sample()
            server_cpu, client_cpu = sampler.cpu_seconds() - idle_cpu, time.process_time() - client_cpu
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for t in tablets:
            t.join(timeout=10)
        server_log = (Path(folder) / "gunicorn.log").read_text(errors="replace")
        stored = _stored(url)
    samples = [s for t in tablets for s in t.samples]
    cut = began + seconds
    done = [s for s in samples if s.ended <= cut]
    ends = [s.ended for s in done]
    wall = (max(ends) - began) if ends else 0.0
    kinds = {}
    for kind in KINDS:
        mine = [s for s in done if s.kind == kind]
        ok = [s.seconds for s in mine if s.status in EXPECTED[kind]]
        kinds[kind] = {"requests": len(mine), "errors": len(mine) - len(ok),
                       "p50_ms": _percentile(ok, 50) * 1000, "p95_ms": _percentile(ok, 95) * 1000,
                       "p99_ms": _percentile(ok, 99) * 1000}
    created = {kind: sum(1 for s in done if s.kind == kind and s.status == 201) for kind in ("photo PUT", "visit PUT")}
    uploaded = sum(s.nbytes for s in done if s.kind == "photo PUT" and s.status in (200, 201))
    result = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "server": label, "database": "postgresql", "devices": devices, "visits_per_device": visits,
        "photos_per_device": visits * PHOTOS_PER_VISIT, "hard_stop_seconds": seconds,
        "stopped_by_hard_stop": stopped, "devices_finished": sum(t.finished for t in tablets),
        "visits_acknowledged": sum(t.visits_sent for t in tablets),
        "visits_expected": devices * visits, "photos_expected": devices * visits * PHOTOS_PER_VISIT,
        "errors": sum(k["errors"] for k in kinds.values()),
        # Requests still at work when the hard stop came (answered or failed while the server
        # shut down): left out of every figure, counted here.
        "late_requests": len(samples) - len(done),
        "kinds": kinds, "wall_seconds": wall,
        "visits_per_second": created["visit PUT"] / wall if wall else 0.0,
        "photos_per_second": created["photo PUT"] / wall if wall else 0.0,
        "upload_mb_per_second": uploaded / 1e6 / wall if wall else 0.0,
        "photo_mb_total": sum(p.stat().st_size for p in photos) / 1e6,
        "server_idle_rss_mb": idle_kb / 1024, "server_peak_rss_mb": sampler.peak_kb / 1024,
        "server_processes": sampler.peak_processes,
        "server_cpu_seconds": server_cpu, "client_cpu_seconds": client_cpu,
        "server_cpu_ms_per_visit": server_cpu * 1000 / created["visit PUT"] if created["visit PUT"] else float("nan"),
        "server_log_errors": sum(1 for line in server_log.splitlines() if "[ERROR]" in line or "Traceback" in line),
        "load_average_before": load_before, "load_average": os.getloadavg()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        **stored,
    }
    return result


# --- figures --------------------------------------------------------------------------------

def figures(r: dict) -> dict[str, tuple[str, float]]:
    """The run's figures for the benchmark table and the baseline (key: (label, value))."""
    out = {
        "storm_errors": ("storm: errors (target 0)", float(r["errors"])),
        "storm_wall_seconds": (f"storm: {r['devices']} tablets, wall time (s)", r["wall_seconds"]),
        "storm_visits_per_second": ("storm: visits per second", r["visits_per_second"]),
        "storm_photos_per_second": ("storm: photos per second", r["photos_per_second"]),
        "storm_peak_rss_mb": ("storm: server peak RSS, master + workers (MB)", r["server_peak_rss_mb"]),
    }
    for kind in KINDS:
        key = kind.replace(" ", "_").lower()
        for p in ("p50", "p95", "p99"):
            out[f"storm_{key}_{p}_ms"] = (f"storm: {kind} {p} (ms)", r["kinds"][kind][f"{p}_ms"])
    return out


def save(r: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"storm-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n")
    return path


def print_table(r: dict, baseline: dict | None = None) -> None:
    if baseline is None:
        baseline = json.loads(BASELINE.read_text()).get("figures", {}) if BASELINE.exists() else {}
    print(f"\nreconnect storm: {r['devices']} tablets at once, {r['visits_per_device']} visits and "
          f"{r['photos_per_device']} photos each ({r['photo_mb_total']:.0f} MB of photos)")
    print(f"server: {r['server']}, PostgreSQL + PostGIS, local photo folder, loopback")
    print(f"finished: {r['devices_finished']}/{r['devices']} tablets; visits acknowledged "
          f"{r['visits_acknowledged']}/{r['visits_expected']}"
          + (f"; STOPPED by the {r['hard_stop_seconds']:.0f} s hard stop ({r['late_requests']} requests in "
             f"flight then, left out of the figures)" if r["stopped_by_hard_stop"] else ""))
    print(f"stored: {r['visits_stored']} visits ({r['visits_in_review']} in review, {r['visits_awaiting_photos']} "
          f"awaiting photos, {r['visit_conflicts']} conflicts), {r['photos_stored']}/{r['photos_expected']} photos "
          f"({r['photos_processed']} processed), {r['cases_submitted']} cases submitted")
    print()
    print(f"{'request':<14}{'count':>8}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for kind in KINDS:
        k = r["kinds"][kind]
        print(f"{kind:<14}{k['requests']:>8}{k['errors']:>8}{k['p50_ms']:>10.1f}{k['p95_ms']:>10.1f}{k['p99_ms']:>10.1f}")
    print()
    rows = figures(r)
    rows["storm_upload"] = ("storm: photo upload (MB/s)", r["upload_mb_per_second"])
    rows["storm_idle_rss_mb"] = ("storm: server RSS before the storm (MB)", r["server_idle_rss_mb"])
    rows["storm_server_cpu_seconds"] = ("storm: server CPU time, all processes (s)", r["server_cpu_seconds"])
    rows["storm_server_cpu_ms_per_visit"] = ("storm: server CPU per visit with its 3 photos (ms)",
                                             r["server_cpu_ms_per_visit"])
    rows["storm_client_cpu_seconds"] = (f"storm: the {r['devices']} simulated tablets' CPU time (s)",
                                        r["client_cpu_seconds"])
    width = max(len(label) for label, _ in rows.values())
    print(f"{'figure':<{width}}  {'this run':>10}  {'baseline':>10}  {'ratio':>6}")
    for key, (label, value) in rows.items():
        if "_p50_" in key or "_p95_" in key or "_p99_" in key:
            continue  # in the table above
        base = baseline.get(key)
        print(f"{label:<{width}}  {value:10.2f}  " + (f"{base:10.2f}  {value / base:6.2f}" if base else
                                                       f"{'—':>10}  {'—':>6}"))
    print(f"\nmachine: {r['machine']}; load average {r.get('load_average_before', float('nan')):.1f} before the "
          f"storm, {r['load_average']:.1f} at the end (the server's CPU time above is its own, however busy); "
          f"server log errors: {r['server_log_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storm")
    parser.add_argument("--devices", type=int, default=DEVICES)
    parser.add_argument("--visits", type=int, default=VISITS, help="visits per tablet (3 photos each)")
    parser.add_argument("--seconds", type=float, default=HARD_STOP_SECONDS, help="hard stop")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args()
    result = run(args.devices, args.visits, args.seconds, args.workers, args.threads)
    print_table(result)
    print(f"figures saved to {save(result).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
