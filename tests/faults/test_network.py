"""A bad network between the tablets and the server ("Prove it", item 4a): four tablets
push 200 visits naming 600 photos through a proxy that cuts connections at random byte
offsets, in both directions (so some requests never fully arrive, and some answers are
lost after the server acted on them), and adds latency. Every visit and photo arrives
exactly once."""
from __future__ import annotations

import time

from tests.conftest import live_app
from tests.faults.conftest import INVESTIGATORS, assert_clean_failures, assert_exactly_once, seed_field
from tests.faults.device import Device, make_workload, run_devices
from tests.faults.proxy import FaultyProxy

VISITS = 200
DEVICES = 4
# A connection is cut after ~this many bytes on average, each way: a few dozen cuts of
# requests and of answers over the run (~1.5 MB in, ~1.1 MB out), anywhere in them.
UP_CUT_BYTES = 30_000
DOWN_CUT_BYTES = 20_000
MAX_DELAY_S = 0.004  # before each chunk, drawn per connection


def test_visits_and_photos_through_a_cutting_proxy_arrive_exactly_once(tmp_path_factory, fault_seed):
    seed = fault_seed
    with live_app(tmp_path_factory, "faults_net", threads=8,
                  seed=lambda s: seed_field(s, cases=VISITS, devices=DEVICES)) as (base, app, field):
        work = make_workload(field.case_ids, INVESTIGATORS, seed=seed)
        port = int(base.rsplit(":", 1)[1])
        with FaultyProxy(("127.0.0.1", port), seed=seed, up_cut_bytes=UP_CUT_BYTES,
                         down_cut_bytes=DOWN_CUT_BYTES, max_delay_s=MAX_DELAY_S,
                         name="tablets") as proxy:
            devices = [Device(f"http://127.0.0.1:{proxy.port}", token, share, seed, name=f"tablet-{i}")
                       for i, (token, share) in enumerate(zip(field.tokens, work.split(DEVICES)))]
            started = time.monotonic()
            run_devices(devices, deadline=started + 150)
            took = time.monotonic() - started
        print(f"proxy: {proxy.stats.line()}")
        for d in devices:
            print(f"{d.name}: {dict(d.stats)}")
        counts = assert_exactly_once(app.extensions["doorstep_db"].engine, app.config["PHOTO_STORE"], work, devices,
                                     seed=seed)
        print(f"{len(work.visits)} visits, {len(work.images)} photos in {took:.1f} s: {counts}")
        assert_clean_failures(devices, seed=seed, allowed=set())
        # The faults really happened, both ways, and the tablets really had to retry.
        assert proxy.stats.cut_upstream > 0 and proxy.stats.cut_downstream > 0, proxy.stats.line()
        assert sum(d.stats["connection errors"] for d in devices) > 0
