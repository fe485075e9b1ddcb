"""What the fault tests share: the seed (printed, and DOORSTEP_FAULT_SEED replays a run),
a field office seeded into a fresh database (a team, its cases waiting for a visit, one
device token per tablet), a Doorstep served from a subprocess that a test may kill, and
the exactly-once check every fault test ends with."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.faults.device import Device, Workload

ROOT = Path(__file__).resolve().parents[2]
INVESTIGATORS = ["fault-inv-1", "fault-inv-2"]


@pytest.fixture()
def fault_seed(request) -> int:
    """The run's seed: DOORSTEP_FAULT_SEED to replay one, else a fresh one. Printed, and
    named in every assertion message, so a failure can be run again exactly."""
    seed = int(os.environ.get("DOORSTEP_FAULT_SEED") or random.SystemRandom().randrange(1, 10**9))
    print(f"\n{request.node.name}: DOORSTEP_FAULT_SEED={seed}")
    return seed


@dataclass
class Field:
    case_ids: list
    tokens: list[str]


def seed_field(session: Session, *, cases: int, devices: int) -> Field:
    """One community with its policy, a team of two investigators, `cases` cases in
    investigation (each waiting for its one visit) and a token per tablet."""
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.accounts.operations import issue_token
    from server.cases.models import Case, Household, Member
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction
    from server.core.validators import make_id_number
    from server.policy.models import PolicyVersion
    from server.policy.settings import DEFAULT_SETTINGS

    county = Jurisdiction(code="330122", name="桐庐县", kind="county")
    community = Jurisdiction(code="330122001001", name="迎春社区", kind="community", parent=county,
                             location=point_wkt(29.797, 119.691))
    session.add_all([county, community])
    session.flush()
    session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2020, 1, 1),
                              settings=DEFAULT_SETTINGS, note="faults"))
    users = []
    for name in INVESTIGATORS:
        user = User(username=name, display_name=name, password_hash="-", jurisdiction_id=community.id)
        user.role_rows = [UserRole(role="investigator")]
        users.append(user)
    session.add_all(users)
    session.flush()
    team = Team(community_id=community.id, name="调查一组", members=[TeamMember(user_id=u.id) for u in users])
    session.add(team)
    session.flush()
    rows = []
    for i in range(cases):
        birth = dt.date(1950 + i % 40, 1 + i % 12, 1 + i % 28)
        household = Household(community_id=community.id, head_name=f"户主{i}", address=f"迎春路{i}号",
                              location=point_wkt(29.797, 119.691))
        household.members.append(Member(position=0, name=f"户主{i}", relation="self", sex="F", birth_date=birth,
                                        id_number=make_id_number("330122", birth, i % 500, "F")))
        rows.append(Case(number=f"F-{i:04d}", household=household, community_id=community.id, state="investigating",
                         team_id=team.id))
    session.add_all(rows)
    session.flush()
    tokens = [issue_token(session, users[i % len(users)], f"fault tablet {i}", 30)[0] for i in range(devices)]
    return Field([c.id for c in rows], tokens)


# --- a server that can be killed -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """Doorstep under waitress in a process of its own, on a fixed loopback port, so it
    can be killed with SIGKILL and started again where the tablets expect it."""

    def __init__(self, database_url: str, photo_store: str, log_path: Path, *, threads: int = 4):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "DOORSTEP_DATABASE_URL": database_url, "DOORSTEP_PHOTO_STORE": photo_store,
                    "DOORSTEP_SECRET_KEY": "faults-test", "DOORSTEP_INSTANCE_PATH": str(log_path.parent),
                    "PYTHONPATH": str(ROOT)}
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self, timeout_s: float = 60) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{self.port}", f"--threads={self.threads}",
             "--call", "server:create_app"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # Any answer will do (401: no token): the server is listening and serving.
                requests.get(self.base + "/api/v1/sync/assignments", timeout=2)
                return
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer within {timeout_s} s; see {self.log_path}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer would."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def server_process(tmp_path_factory, name: str, *, seed, threads: int = 4):
    """A fresh migrated database seeded by `seed(session)` (what it returns is yielded),
    served by a ServerProcess; yields (server, engine, photo store folder, seeded)."""
    from server.core.db import make_engine
    from server.core.migrate import upgrade
    from tests.conftest import fresh_database

    url = fresh_database(tmp_path_factory, name)
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        seeded = seed(session)
        session.commit()
    folder = tmp_path_factory.mktemp(f"{name}_run")
    store = folder / "photos"
    server = ServerProcess(url, str(store), folder / "server.log", threads=threads)
    server.start()
    try:
        yield server, engine, store, seeded
    finally:
        server.stop()
        engine.dispose()


def sent(devices: list[Device]) -> int:
    return sum(d.stats["requests"] for d in devices)


def after_requests(devices: list[Device], n: int, done) -> bool:
    """Wait until the tablets have sent `n` more requests (so a fault lands in the middle
    of the push however fast the machine is); False if the push ended first."""
    target = sent(devices) + n
    while sent(devices) < target:
        if done.wait(0.005):
            return False
    return True


# --- exactly once -------------------------------------------------------------------------


def assert_exactly_once(engine: sa.Engine, store_root, work: Workload, devices: list[Device], *, seed: int,
                        crashed: bool = False) -> dict:
    """Every visit and every image arrived once: none lost, none doubled, nothing half
    written. Counts the visits and each of their parts against what the tablets held,
    the photos in the database and in the store, conflicts (none), audit events (one per
    arrival) and the audit chain; every visit is in review with no photo missing, its
    case submitted. Returns the counts, for the test's printout."""
    from server.cases.models import Case
    from server.core import audit
    from server.photos.models import Photo, PhotoHashBand
    from server.visits import models as vm

    where = f"(replay with DOORSTEP_FAULT_SEED={seed})"
    bodies = [v.body for v in work.visits]
    expected = {
        "visits": len(bodies),
        "visit_members": sum(len(b["members"]) for b in bodies),
        "income_items": sum(len(b["income"]) for b in bodies),
        "expenditures": sum(len(b["expenditure"]) for b in bodies),
        "assets": sum(len(b["assets"]) for b in bodies),
        "testimonies": sum(len(b["testimonies"]) for b in bodies),
        "visit_photos": sum(len(b["photos"]) for b in bodies),
        "signatures": sum(len(b.get("signatures", [])) for b in bodies),
        "visit_investigators": sum(len(b["investigators"]) for b in bodies),
        "visit_conflicts": 0,
        "photos": len(work.images),
        "photo_hash_bands": 8 * len(work.images),
    }
    tables = {"visits": vm.Visit, "visit_members": vm.VisitMember, "income_items": vm.IncomeItem,
              "expenditures": vm.Expenditure, "assets": vm.Asset, "testimonies": vm.Testimony,
              "visit_photos": vm.VisitPhoto, "signatures": vm.Signature, "visit_investigators": vm.VisitInvestigator,
              "visit_conflicts": vm.VisitConflict, "photos": Photo, "photo_hash_bands": PhotoHashBand}
    with Session(engine) as session:
        counts = {name: session.scalar(sa.select(sa.func.count()).select_from(model)) for name, model in tables.items()}
        assert counts == expected, f"rows in the database differ from what the tablets sent {where}"
        assert set(session.scalars(sa.select(vm.Visit.id))) == {v.id for v in work.visits}, where
        assert set(session.scalars(sa.select(Photo.sha256))) == set(work.images), where
        states = dict(session.execute(sa.select(vm.Visit.state, sa.func.count()).group_by(vm.Visit.state)).all())
        assert states == {"in_review": len(bodies)}, f"visit states {states} {where}"
        assert session.scalar(sa.select(sa.func.count()).select_from(vm.Visit)
                              .where(vm.Visit.complete_at.is_(None))) == 0, where
        case_ids = [b["case_id"] for b in bodies]
        cases = dict(session.execute(sa.select(Case.state, sa.func.count()).group_by(Case.state)).all())
        assert cases == {"submitted": len(case_ids)}, f"case states {cases} {where}"
        events = dict(session.execute(sa.select(audit.AuditEvent.action, sa.func.count())
                                      .where(audit.AuditEvent.action.in_(["visit.received", "photo.received",
                                                                          "visit.conflict"]))
                                      .group_by(audit.AuditEvent.action)).all())
        assert events == {"visit.received": len(bodies), "photo.received": len(work.images)}, \
            f"audit events {events} {where}"
        chain = audit.verify(session)
        assert chain.ok, f"audit chain broken at {chain.broken_id}: {chain.problem} {where}"
        counts["audit_events_checked"] = chain.checked

    root = Path(store_root)
    stray = sorted(p.name for p in root.rglob(".tmp-*"))
    for folder, name in (("originals", "{}"), ("display", "{}.jpg"), ("thumbs", "{}.jpg")):
        files = {p.name for p in (root / folder).iterdir() if not p.name.startswith(".tmp-")}
        assert files == {name.format(h) for h in work.images}, f"{folder}/ in the photo store {where}"
    for sha256, data in work.images.items():
        assert (root / "originals" / sha256).read_bytes() == data, f"original {sha256} {where}"
    # A killed writer may leave a temporary file behind (storage.py says so); nothing else may.
    assert crashed or not stray, f"temporary files left in the store: {stray[:5]} {where}"
    counts["stray_temporary_files"] = len(stray)

    for device in devices:
        assert not device.outbox, f"{device.name} still holds {len(device.outbox)} visits {where}"
        assert not device.conflicts, f"{device.name} met conflicts {device.conflicts} {where}"
        assert set(device.acknowledged) == {v.id for v in device.work.visits}, where
        assert all(a["state"] == "in_review" and not a["missing_photos"] for a in device.acknowledged.values()), where
    return counts


def assert_clean_failures(devices: list[Device], *, seed: int, allowed: set[str]) -> list:
    """Every error answer the tablets met was a 503 problem+json of an `allowed` type:
    no 500, no 4xx (a fault must never look like the device's mistake)."""
    met = [e for d in devices for e in d.errors]
    bad = [e for e in met if not (e.status == 503 and e.content_type.startswith("application/problem+json")
                                  and (e.problem_type in allowed or e.method == "HEAD"))]  # HEAD: no body
    assert not bad, f"unclean answers during the fault: {bad[:5]} (replay with DOORSTEP_FAULT_SEED={seed})"
    return met
