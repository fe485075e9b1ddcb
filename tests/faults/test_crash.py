"""The server killed in the middle of a sync ("Prove it", item 4b): Doorstep runs as a
process of its own (waitress), two tablets push their outboxes, and the test kills the
server with SIGKILL several times at random moments while requests are in flight, starting
it again each time. Whatever each kill interrupted (a photo half stored, a visit between
its INSERTs and its commit, an answer not yet sent), every visit and every photo ends up
stored exactly once, complete."""
from __future__ import annotations

import random
import threading
import time

from tests.faults.conftest import (
    INVESTIGATORS, after_requests, assert_clean_failures, assert_exactly_once, seed_field, server_process,
)
from tests.faults.device import Device, make_workload, run_devices

VISITS = 40
DEVICES = 2
KILLS = 3


def test_visits_and_photos_survive_the_server_killed_mid_sync(tmp_path_factory, fault_seed):
    seed = fault_seed
    with server_process(tmp_path_factory, "faults_kill",
                        seed=lambda s: seed_field(s, cases=VISITS, devices=DEVICES)) as (server, engine, store, field):
        work = make_workload(field.case_ids, INVESTIGATORS, seed=seed)
        devices = [Device(server.base, token, share, seed, name=f"tablet-{i}")
                   for i, (token, share) in enumerate(zip(field.tokens, work.split(DEVICES)))]
        rng = random.Random(f"kills:{seed}")
        done = threading.Event()
        restarts: list[float] = []

        def killer():
            for _ in range(KILLS):
                # Somewhere in the next stretch of the push (~280 requests in all).
                if not after_requests(devices, rng.randrange(15, 60), done):
                    return
                server.kill()
                began = time.monotonic()
                server.start()
                restarts.append(time.monotonic() - began)

        thread = threading.Thread(target=killer, name="killer")
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
        counts = assert_exactly_once(engine, store, work, devices, seed=seed, crashed=True)
        print(f"{server.kills} kills (restarts took {', '.join(f'{r:.1f} s' for r in restarts)}); "
              f"{len(work.visits)} visits, {len(work.images)} photos in {took:.1f} s: {counts}")
        assert server.kills == KILLS, f"the push ended before every kill (replay with DOORSTEP_FAULT_SEED={seed})"
        # The kills hit the tablets mid-request, and no answer was ever a server error
        # (a killed server answers nothing at all).
        assert sum(d.stats["connection errors"] for d in devices) >= 1
        assert_clean_failures(devices, seed=seed, allowed=set())
