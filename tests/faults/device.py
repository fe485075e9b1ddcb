"""A simulated tablet: what the PWA's outbox does (pwa/src/outbox.js), in Python.

For each finished visit, in order: each image it names, HEAD first and PUT only if the
server lacks it; then PUT the visit under its UUID with the body frozen when the visit was
finished (a resend is byte for byte the same). A connection error, a timeout, a cut
answer, a 5xx or a 429 is retried with exponential backoff and jitter; a visit leaves the
outbox only on a 2xx that lists no missing photo, or on a 409 visit-conflict (kept aside
for the investigator, as the PWA does). Anything else stops the device: the test fails
with what the server said.

The device also keeps every error answer it met, so a test can say what those were
(a 503 problem+json with a stable type, never a 500)."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

PHOTO_KINDS = ("exterior", "kitchen")


class DeviceStopped(AssertionError):
    """The server answered something the device cannot act on by retrying."""


@dataclass
class FinishedVisit:
    id: uuid.UUID
    wire: bytes  # frozen JSON: the same bytes on every resend
    images: list[str]  # every SHA-256 the body names

    @property
    def body(self) -> dict:
        return json.loads(self.wire)


@dataclass
class ErrorAnswer:
    method: str
    path: str
    status: int
    content_type: str
    problem_type: str | None


@dataclass
class Workload:
    visits: list[FinishedVisit]
    images: dict[str, bytes]

    def split(self, parts: int) -> list[Workload]:
        """One tablet's share each: the visits dealt round, each with its own images."""
        out = []
        for i in range(parts):
            visits = self.visits[i::parts]
            named = {h for v in visits for h in v.images}
            out.append(Workload(visits, {h: b for h, b in self.images.items() if h in named}))
        return out


def jpeg(rng: random.Random, size=(64, 48)) -> bytes:
    """A small real JPEG of random blocks: distinct per draw, a few kilobytes."""
    from PIL import Image

    w, h = size
    small = Image.frombytes("RGB", (8, 6), rng.randbytes(8 * 6 * 3))
    img = small.resize((w, h), Image.Resampling.NEAREST)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def make_workload(case_ids: list, investigators: list[str], *, seed: int, photos_per_visit: int = 3) -> Workload:
    """One finished visit per case, as the tablet records it: a household of two or
    three, incomes, an expense, an asset with its photo, two testimonies, and
    `photos_per_visit` images in all (the asset's photo among them). Every image is new."""
    from server.core.validators import make_id_number

    rng = random.Random(f"workload:{seed}")
    visits, images = [], {}
    start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    point = {"lat": 29.7971, "lon": 119.6912, "accuracy_m": 8.0}
    for n, case_id in enumerate(case_ids):
        shots = [jpeg(rng) for _ in range(photos_per_visit)]
        hashes = [hashlib.sha256(b).hexdigest() for b in shots]
        images.update(zip(hashes, shots))
        began = start + dt.timedelta(minutes=rng.randrange(0, 600))
        members = []
        for i in range(2 + rng.randrange(2)):
            birth = dt.date(1940 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28))
            sex = rng.choice("FM")
            members.append({"name": f"成员{n}-{i}", "id_number": make_id_number("330122", birth, rng.randrange(500), sex),
                            "relation": "self" if i == 0 else rng.choice(["spouse", "child", "parent"]), "sex": sex,
                            "birth_date": birth.isoformat(), "health": rng.choice(["healthy", "chronic"]),
                            "labour_ability": rng.choice(["full", "partial", "none"])})
        body = {
            "case_id": str(case_id), "kind": "initial",
            "started_at": began.isoformat(), "ended_at": (began + dt.timedelta(minutes=40)).isoformat(),
            "investigators": list(investigators), "location": point, "device_id": f"fault-pad-{seed}",
            "members": members,
            "income": [{"member": 0, "kind": "pension", "monthly_amount": f"{rng.randrange(300, 900)}.00"},
                       {"member": len(members) - 1, "kind": "wage", "monthly_amount": str(rng.randrange(0, 2000))}],
            "expenditure": [{"kind": "medical", "monthly_amount": f"{rng.randrange(0, 500)}.50"}],
            "housing": {"tenure": "owned", "area_m2": str(rng.randrange(20, 120)), "condition": "poor"},
            "assets": [{"category": "vehicle", "description": "电动三轮车", "value": str(rng.randrange(1000, 9000)),
                        "count": 1, "photos": hashes[photos_per_visit - 1:]}],
            "testimonies": [{"witness_name": f"邻居{n}", "role": "neighbour", "answers": {"matches_declaration": "yes"},
                             "statement": "情况属实", "at": (began + dt.timedelta(minutes=30)).isoformat()},
                            {"witness_name": f"书记{n}", "role": "cadre", "answers": {"matches_declaration": "yes"},
                             "statement": "", "at": (began + dt.timedelta(minutes=35)).isoformat()}],
            "photos": [{"sha256": h, "kind": PHOTO_KINDS[i % len(PHOTO_KINDS)],
                        "taken_at": (began + dt.timedelta(minutes=5 + i)).isoformat(), "location": point}
                       for i, h in enumerate(hashes[:photos_per_visit - 1])],
            "conclusion": "家庭困难，建议纳入", "notes": f"fault workload {seed}/{n}",
        }
        visit_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        visits.append(FinishedVisit(visit_id, json.dumps(body, ensure_ascii=False).encode(), sorted(set(hashes))))
    return Workload(visits, images)


@dataclass
class Device:
    """One tablet with its outbox. `run()` sends until the outbox is empty or `deadline`."""

    base_url: str
    token: str
    work: Workload
    seed: int
    name: str = "tablet"
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 20.0
    base_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    outbox: dict = field(init=False)
    uploaded: set = field(default_factory=set, init=False)
    acknowledged: dict = field(default_factory=dict, init=False)  # visit id -> the server's answer
    conflicts: dict = field(default_factory=dict, init=False)
    errors: list = field(default_factory=list, init=False)  # ErrorAnswer for each 5xx (and 429) met
    stats: Counter = field(default_factory=Counter, init=False)

    def __post_init__(self):
        self.outbox = {v.id: v for v in self.work.visits}
        self._rng = random.Random(f"device:{self.seed}:{self.name}")
        self._http = requests.Session()
        self._http.headers["Authorization"] = "Bearer " + self.token
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, deadline: float) -> None:
        try:
            while self.outbox:
                if time.monotonic() > deadline:
                    raise DeviceStopped(f"{self.name}: {len(self.outbox)} visits still in the outbox at the deadline "
                                        f"({dict(self.stats)})")
                for visit in list(self.outbox.values()):
                    self._send(visit, deadline)
        finally:
            self._http.close()

    # --- the outbox ----------------------------------------------------------------------

    def _send(self, visit: FinishedVisit, deadline: float) -> None:
        for sha256 in visit.images:
            if sha256 in self.uploaded:
                continue
            head = self._request("HEAD", f"/api/v1/photos/{sha256}", deadline)
            if head.status_code == 404:
                put = self._request("PUT", f"/api/v1/photos/{sha256}", deadline, data=self.work.images[sha256],
                                    headers={"Content-Type": "image/jpeg"})
                self._expect(put, (200, 201))
                self.stats[f"photo {put.status_code}"] += 1
            else:
                self._expect(head, (200,))
                self.stats["photo already there"] += 1
            self.uploaded.add(sha256)
        answer = self._request("PUT", f"/api/v1/visits/{visit.id}", deadline, data=visit.wire,
                               headers={"Content-Type": "application/json"})
        if answer.status_code == 409 and _problem_type(answer) == "visit-conflict":
            self.conflicts[visit.id] = answer.json()
            del self.outbox[visit.id]
            return
        self._expect(answer, (200, 201))
        self.stats[f"visit {answer.status_code}"] += 1
        body = answer.json()
        if body["missing_photos"]:
            # The server lacks an image it should have: send it again next round (as the PWA does).
            self.uploaded.difference_update(body["missing_photos"])
            self.stats["missing photos answered"] += 1
            return
        self.acknowledged[visit.id] = body
        del self.outbox[visit.id]

    def _expect(self, response: requests.Response, statuses: tuple[int, ...]) -> None:
        if response.status_code not in statuses:
            raise DeviceStopped(f"{self.name}: {response.request.method} {response.request.path_url} answered "
                                f"{response.status_code}: {response.text[:500]}")

    # --- HTTP with retries -------------------------------------------------------------

    def _request(self, method: str, path: str, deadline: float, **kwargs) -> requests.Response:
        attempt = 0
        while True:
            if self._stop.is_set():
                raise DeviceStopped(f"{self.name}: stopped")
            if time.monotonic() > deadline:
                raise DeviceStopped(f"{self.name}: {method} {path} still failing at the deadline ({dict(self.stats)})")
            self.stats["requests"] += 1
            try:
                response = self._http.request(method, self.base_url + path,
                                              timeout=(self.connect_timeout_s, self.read_timeout_s), **kwargs)
            except requests.Timeout:
                self.stats["timeouts"] += 1
            except requests.RequestException:
                # Refused, reset, or an answer cut short: the request may or may not have
                # been acted on; sending it again is safe (PUTs are idempotent).
                self.stats["connection errors"] += 1
            else:
                if not _readable(response):
                    # The answer was cut after its status line: http.client takes the end of
                    # the stream for the end of the headers and hands over an empty body.
                    # Whatever the server did, the request is sent again.
                    self.stats["cut answers"] += 1
                    self.stats["retries"] += 1
                    time.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                if response.status_code >= 500 or response.status_code == 429:
                    self.errors.append(ErrorAnswer(method, path, response.status_code,
                                                   response.headers.get("Content-Type", ""), _problem_type(response)))
                if response.status_code == 401:
                    raise DeviceStopped(f"{self.name}: signed out by the server: {response.text[:300]}")
                if response.status_code < 500 and response.status_code != 429:
                    return response
                self.stats[f"answer {response.status_code}"] += 1
            self.stats["retries"] += 1
            time.sleep(self._backoff(attempt))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """pwa/src/backoff.js with a shorter base and cap: half the step, plus up to half again."""
        step = min(self.max_backoff_s, self.base_backoff_s * 2 ** attempt)
        return step / 2 + self._rng.random() * step / 2


def _readable(response: requests.Response) -> bool:
    """An answer with a body (anything but HEAD and 204) carries JSON, whole."""
    if response.request.method == "HEAD" or response.status_code == 204:
        return True
    try:
        response.json()
    except ValueError:
        return False
    return True


def _problem_type(response: requests.Response) -> str | None:
    if not response.headers.get("Content-Type", "").startswith("application/problem+json"):
        return None
    try:
        return str(response.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        return None


def run_devices(devices: list[Device], deadline: float) -> None:
    """Every device in its own thread, as tablets are; re-raises the first failure."""
    failures: list[BaseException] = []

    def one(device: Device) -> None:
        try:
            device.run(deadline)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the others stopped
            failures.append(exc)
            for other in devices:
                other.stop()

    threads = [threading.Thread(target=one, args=(d,), name=d.name) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
