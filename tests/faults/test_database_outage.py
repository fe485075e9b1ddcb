"""The database away in the middle of a sync ("Prove it", item 4c). Tablets push their
outboxes while the database becomes unreachable twice for a few seconds:

- PostgreSQL: the app reaches it through a proxy, which cuts every connection and refuses
  new ones for the outage (a restart or a network partition, seen from the app; the
  machine's PostgreSQL itself is shared and left alone), then lets them through again;
  the app's pool must recover by itself.
- SQLite: another process holds the database's write lock for longer than the app's busy
  timeout.

Meanwhile every failed request is a 503 problem+json of a stable type (database-
unavailable, or busy for the lock), never a 500 and never half a visit; the tablets retry
and everything arrives exactly once."""
from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import threading
import time

import sqlalchemy as sa

from tests.conftest import DB_KIND, PG_URL, live_app
from tests.faults.conftest import (
    INVESTIGATORS, after_requests, assert_clean_failures, assert_exactly_once, seed_field,
)
from tests.faults.device import Device, make_workload, run_devices
from tests.faults.proxy import FaultyProxy

VISITS = 40
DEVICES = 2
OUTAGES = 2
OUTAGE_S = 3.0
SQLITE_BUSY_TIMEOUT_MS = 300  # the lock below is held ten times as long

_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")  # in WAL mode: the write lock, which every request of the app takes first
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


class SqliteLock:
    """Another process holding the database's write lock."""

    def __init__(self, path: str):
        self.path = path
        self.proc: subprocess.Popen | None = None

    def begin(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, self.path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def end(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=30) == 0


@contextlib.contextmanager
def field_office(tmp_path_factory, seed: int):
    """A live Doorstep and a way to take its database away: yields (base URL, app, field,
    outage with begin() and end(), the problem types a failed request may answer)."""
    def seed_it(session):
        return seed_field(session, cases=VISITS, devices=DEVICES)

    name = "faults_db"
    if DB_KIND == "postgresql":
        direct = sa.engine.make_url(PG_URL)
        with FaultyProxy((direct.host or "127.0.0.1", direct.port or 5432), seed=seed, name="postgres") as proxy:
            through = direct.set(database=f"{direct.database}_{name}", host="127.0.0.1", port=proxy.port)
            with live_app(tmp_path_factory, name, threads=8, seed=seed_it,
                          DATABASE_URL=through.render_as_string(hide_password=False)) as (base, app, field):
                yield base, app, field, _Outage(proxy.block, proxy.unblock, proxy.stats.line), {"database-unavailable"}
    else:
        with live_app(tmp_path_factory, name, threads=8, seed=seed_it,
                      SQLITE_BUSY_TIMEOUT_MS=SQLITE_BUSY_TIMEOUT_MS) as (base, app, field):
            lock = SqliteLock(sa.engine.make_url(app.config["DATABASE_URL"]).database)
            yield base, app, field, _Outage(lock.begin, lock.end, lambda: "the write lock held by another process"), \
                {"busy"}


class _Outage:
    def __init__(self, begin, end, describe):
        self.begin, self.end, self.describe = begin, end, describe


def test_visits_and_photos_survive_the_database_going_away_mid_sync(tmp_path_factory, fault_seed):
    seed = fault_seed
    with field_office(tmp_path_factory, seed) as (base, app, field, outage, problem_types):
        work = make_workload(field.case_ids, INVESTIGATORS, seed=seed)
        devices = [Device(base, token, share, seed, name=f"tablet-{i}")
                   for i, (token, share) in enumerate(zip(field.tokens, work.split(DEVICES)))]
        rng = random.Random(f"outages:{seed}")
        done = threading.Event()
        outages: list[float] = []

        def take_it_away():
            for _ in range(OUTAGES):
                if not after_requests(devices, rng.randrange(20, 80), done):
                    return
                outage.begin()
                began = time.monotonic()
                time.sleep(OUTAGE_S)
                outage.end()
                outages.append(time.monotonic() - began)

        thread = threading.Thread(target=take_it_away, name="outage")
        started = time.monotonic()
        thread.start()
        try:
            run_devices(devices, deadline=started + 150)
        finally:
            done.set()
            thread.join()
        took = time.monotonic() - started
        for d in devices:
            print(f"{d.name}: {dict(d.stats)}")
        counts = assert_exactly_once(app.extensions["doorstep_db"].engine, app.config["PHOTO_STORE"], work, devices,
                                     seed=seed)
        print(f"database: {outage.describe()}")
        print(f"{len(outages)} outages of {OUTAGE_S} s; {len(work.visits)} visits, {len(work.images)} photos in "
              f"{took:.1f} s: {counts}")
        assert len(outages) == OUTAGES, f"the push ended before every outage (replay with DOORSTEP_FAULT_SEED={seed})"
        met = assert_clean_failures(devices, seed=seed, allowed=problem_types)
        assert met, "no request met the outage"
        print(f"answers met during the outages: {len(met)}, all 503 {sorted(problem_types)}")
