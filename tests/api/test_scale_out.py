"""Two servers, one database, one photo store (DESIGN "Architecture": stateless, so it
scales out behind a load balancer; issue "Prove it", item 6).

Two app servers run as separate processes (gunicorn, as in production; each with its own
instance folder and local photo folder, which must stay empty) on different loopback
ports. They share ONE database (the PostgreSQL database of the run, or on SQLite the one
SpatiaLite file) and ONE S3-compatible store (moto's server on loopback). A tablet whose
requests alternate between the two, as a load balancer would send them, syncs exactly
once: a token from one works on the other, photos sent to one complete a visit sent to
the other, resends to the other one are recognised, the sync cursor from one is read by
the other, and the office sees the same queue on both."""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from server.core.storage import S3Store
from tests import photos_helpers as ph
from tests.api.test_visits import hashes_of, visit_body
from tests.conftest import PASSWORD, fresh_database, password_hash

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "doorstep-scale-out"
SECRET = "scale-out-shared-secret"
CASES = 10


def _seed(url: str) -> dict:
    """A community with a team of two investigators, an office worker, the policy, and
    CASES cases under investigation for the team."""
    from server import create_app
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.cases.models import Case, Household
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction
    from server.policy.models import PolicyVersion
    from server.policy.settings import DEFAULT_SETTINGS

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "TESTING": False})
    db = app.extensions["doorstep_db"]
    with app.app_context():
        s = db.session
        county = Jurisdiction(code="330122", name="桐庐县", kind="county")
        community = Jurisdiction(code="330122001001", name="迎春社区", kind="community", parent=county,
                                 location=point_wkt(29.797, 119.691))
        s.add_all([county, community])
        s.flush()
        s.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2026, 1, 1), settings=DEFAULT_SETTINGS,
                            note="test"))
        people = {}
        for name, role in (("inv-1", "investigator"), ("inv-2", "investigator"), ("office-1", "office")):
            user = User(username=name, display_name=name, password_hash=password_hash(), jurisdiction_id=community.id)
            user.role_rows = [UserRole(role=role)]
            people[name] = user
        s.add_all(people.values())
        s.flush()
        team = Team(community_id=community.id, name="调查一组",
                    members=[TeamMember(user_id=people[n].id) for n in ("inv-1", "inv-2")])
        s.add(team)
        s.flush()
        cases = []
        for i in range(CASES):
            household = Household(community_id=community.id, head_name=f"户主{i}", address=f"迎春路{i}号",
                                  location=point_wkt(29.797, 119.691))
            cases.append(Case(number=f"SO-{i:02d}", household=household, community_id=community.id,
                              state="investigating", team_id=team.id))
        s.add_all(cases)
        s.commit()
        case_ids = [str(c.id) for c in cases]
    db.engine.dispose()
    return {"cases": case_ids}


def _start(url: str, s3: str, folder: Path) -> tuple[subprocess.Popen, str]:
    port = ph.free_port()
    env = {**os.environ, "DOORSTEP_DATABASE_URL": url, "DOORSTEP_SECRET_KEY": SECRET,
           "DOORSTEP_INSTANCE_PATH": str(folder), "DOORSTEP_PHOTO_STORE": str(folder / "photos"),
           "DOORSTEP_S3_ENDPOINT_URL": s3, "DOORSTEP_S3_BUCKET": BUCKET,
           "AWS_ACCESS_KEY_ID": ph.S3_CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": ph.S3_CREDENTIALS["aws_secret_access_key"],
           "AWS_DEFAULT_REGION": ph.S3_CREDENTIALS["region_name"]}
    if importlib.util.find_spec("gunicorn"):
        cmd = [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "server:create_app()"]
    else:  # waitress is a dependency of the app itself
        cmd = [sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}", "--threads=4",
               "--call", "server:create_app"]
    log = open(folder / "server.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server did not start: " + (folder / "server.log").read_text()[-3000:])
        try:
            if requests.get(base + "/api/v1/openapi.json", timeout=2).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not answer within 60 s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from server.core.migrate import upgrade

    with ph.moto_server() as s3:
        store = S3Store(BUCKET, endpoint_url=s3, **ph.S3_CREDENTIALS)
        store.ensure_bucket()
        url = fresh_database(tmp_path_factory, "scaleout")
        upgrade(url)
        seeded = _seed(url)
        servers, folders = [], []
        try:
            for name in ("a", "b"):
                folder = tmp_path_factory.mktemp(f"scaleout_{name}")
                folders.append(folder)
                servers.append(_start(url, s3, folder))
            from server.core.db import make_engine

            engine = make_engine(url)
            yield {"a": servers[0][1], "b": servers[1][1], "store": store, "engine": engine, "folders": folders,
                   **seeded}
            engine.dispose()
        finally:
            for proc, _ in servers:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


class Tablet:
    """One tablet; each call names the server it happens to reach."""

    def __init__(self, cluster, via: str, username: str = "inv-1"):
        self.cluster = cluster
        r = requests.post(cluster[via] + "/api/v1/auth/token",
                          json={"username": username, "password": PASSWORD, "device_name": f"tablet of {username}"},
                          timeout=30)
        assert r.status_code == 201, r.text
        self.headers = {"Authorization": "Bearer " + r.json()["token"]}

    def call(self, via: str, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(method, self.cluster[via] + "/api/v1" + path, headers=headers, timeout=60, **kwargs)

    def sync(self, via: str, since: str = "") -> dict:
        r = self.call(via, "GET", "/sync/assignments", params={"since": since} if since else {})
        assert r.status_code == 200, r.text
        return r.json()

    def put_photo(self, via: str, data: bytes) -> int:
        return self.call(via, "PUT", f"/photos/{ph.sha(data)}", data=data,
                         headers={"Content-Type": "image/png"}).status_code

    def put_visit(self, via: str, visit_id, body: dict) -> requests.Response:
        return self.call(via, "PUT", f"/visits/{visit_id}", json=body)


def visit_with_images(case_id: str, tag: str) -> tuple[dict, list[bytes]]:
    """A visit whose every named image (photos, asset photo, signatures) is a real PNG."""
    body = visit_body(case_id, tag=tag)
    named = hashes_of(body)
    images = [ph.png_bytes(ph.textured((96, 72), seed=int(hashlib.sha256(f"{tag}{i}".encode()).hexdigest()[:6], 16)))
              for i in range(len(named))]
    text = json.dumps(body, ensure_ascii=False)
    for old, data in zip(named, images):
        text = text.replace(old, ph.sha(data))
    return json.loads(text), images


def scalar(cluster, sql: str, **params):
    with cluster["engine"].connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def s3_keys(cluster) -> list[str]:
    pages = cluster["store"].client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_a_tablet_alternating_between_two_servers_syncs_exactly_once(cluster):
    tablet = Tablet(cluster, "a")  # the token comes from one server ...
    first = tablet.sync("b")  # ... and works on the other
    assert sorted(c["id"] for c in first["cases"]) == sorted(cluster["cases"])
    assert sorted(c["id"] for c in tablet.sync("a")["cases"]) == sorted(cluster["cases"])

    # Visit 1: its photos go to alternate servers, each sees what the other stored; then the visit.
    one, one_images = visit_with_images(cluster["cases"][0], "so1")
    for i, data in enumerate(one_images):
        assert tablet.put_photo("ab"[i % 2], data) == 201
        assert tablet.call("ba"[i % 2], "HEAD", f"/photos/{ph.sha(data)}").status_code == 200
    one_id = uuid.uuid4()
    r = tablet.put_visit("a", one_id, one)
    assert r.status_code == 201 and r.json()["state"] == "in_review" and r.json()["missing_photos"] == [], r.text

    # Visit 2 arrives at B before its photos, which then arrive at A: the visit completes.
    two, two_images = visit_with_images(cluster["cases"][1], "so2")
    two_id = uuid.uuid4()
    r = tablet.put_visit("b", two_id, two)
    assert r.status_code == 201 and r.json()["state"] == "awaiting_photos"
    assert sorted(r.json()["missing_photos"]) == sorted(ph.sha(d) for d in two_images)
    for data in two_images:
        assert tablet.put_photo("a", data) == 201
    status = tablet.call("b", "GET", f"/visits/{two_id}").json()
    assert status["state"] == "in_review" and status["missing_photos"] == [], status

    # Resends, each to the other server: recognised, nothing stored twice.
    stored_one = tablet.put_visit("b", one_id, one)
    assert stored_one.status_code == 200 and stored_one.json()["id"] == str(one_id)
    assert tablet.put_visit("a", two_id, two).status_code == 200
    assert {tablet.put_photo("b", data) for data in one_images + two_images} == {200}

    # Exactly once, in the one database and the one store.
    for visit_id in (one_id, two_id):
        assert scalar(cluster, "SELECT count(*) FROM visits WHERE id = :id", id=_db_uuid(cluster, visit_id)) == 1
        assert scalar(cluster, "SELECT count(*) FROM audit_events WHERE action = 'visit.received' "
                               "AND entity_id = :id", id=str(visit_id)) == 1
    assert scalar(cluster, "SELECT count(*) FROM visit_conflicts") == 0
    images = one_images + two_images
    assert scalar(cluster, "SELECT count(*) FROM photos") == len({ph.sha(d) for d in images})
    keys = s3_keys(cluster)
    for data in images:
        assert keys.count(f"originals/{ph.sha(data)}") == 1
        assert cluster["store"].get(f"originals/{ph.sha(data)}") == data
    # Nothing was kept on either server's own disk: both use the shared store.
    for folder in cluster["folders"]:
        assert not [p for p in (folder / "photos").rglob("*") if p.is_file()]

    # The served copies come from the shared store on both servers.
    sha = ph.sha(one_images[0])
    thumbs = [tablet.call(via, "GET", f"/photos/{sha}/thumb") for via in "ab"]
    assert [t.status_code for t in thumbs] == [200, 200] and thumbs[0].content == thumbs[1].content


def test_one_visit_sent_to_both_servers_at_once_is_stored_once(cluster):
    """A tablet that gave up waiting resends through the other server while the first
    request is still at work: ten PUTs of one complete visit, five to each server, at the
    same moment. One stores it (201); every other one is told it is stored (200), also
    those that waited for the case while the first moved it on to submitted."""
    tablet = Tablet(cluster, "a")
    body, images = visit_with_images(cluster["cases"][2], "so3")
    for data in images:
        assert tablet.put_photo("b", data) == 201
    visit_id, start, answers = uuid.uuid4(), threading.Barrier(10), []

    def send(via):
        start.wait()
        answers.append(tablet.put_visit(via, visit_id, body))

    threads = [threading.Thread(target=send, args=("ab"[i % 2],)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 9 + [201], [a.text for a in answers if a.status_code not in (200, 201)][:2]
    assert len({a.text for a in answers}) == 1  # every request is told the same thing
    assert scalar(cluster, "SELECT count(*) FROM visits WHERE id = :id", id=_db_uuid(cluster, visit_id)) == 1
    assert scalar(cluster, "SELECT count(*) FROM audit_events WHERE action = 'visit.received' "
                           "AND entity_id = :id", id=str(visit_id)) == 1
    assert scalar(cluster, "SELECT count(*) FROM visit_conflicts") == 0


def _db_uuid(cluster, value: uuid.UUID) -> str:
    # SQLite keeps a UUID as 32 hex digits, PostgreSQL as a uuid.
    return value.hex if cluster["engine"].dialect.name == "sqlite" else str(value)


def test_the_sync_cursor_from_one_server_works_on_the_other(cluster):
    tablet = Tablet(cluster, "b", "inv-2")
    cursor = tablet.sync("a")["cursor"]
    # Nothing changed since: the same empty answer from both, with the same cursor.
    quiet = [tablet.sync(via, cursor) for via in "ab"]
    assert quiet[0] == quiet[1] and quiet[0]["cases"] == [] and quiet[0]["removed"] == []

    # A change made through B ...
    case_id = cluster["cases"][4]
    body, images = visit_with_images(case_id, "so-cursor")
    for data in images:
        assert tablet.put_photo("b", data) == 201
    assert tablet.put_visit("b", uuid.uuid4(), body).status_code == 201
    # ... is what both servers give for the cursor A handed out, and nothing else.
    after = [tablet.sync(via, cursor) for via in "ab"]
    assert after[0] == after[1], (after[0]["cursor"], after[1]["cursor"])
    assert [c["id"] for c in after[0]["cases"]] == [case_id]
    assert after[0]["cases"][0]["state"] == "submitted" and after[0]["cases"][0]["previous_visits"]
    # The new cursor, from B, read by A: nothing more.
    assert tablet.sync("a", after[1]["cursor"])["cases"] == []


def _queue(http: requests.Session, base: str) -> dict:
    r = http.get(base + "/review", timeout=60)
    assert r.status_code == 200, r.text[:500]
    page = r.text
    return {"rows": re.findall(r'<tr data-case="([^"]+)" data-state="([^"]+)"', page),
            "counts": dict(re.findall(r'data-testid="count-([a-z_]+)">(\d+)<', page)),
            "total": re.search(r'data-testid="total">([^<]+)<', page).group(1)}


def test_the_office_sees_one_queue_on_both_servers(cluster):
    tablet = Tablet(cluster, "a")
    case_id = cluster["cases"][6]
    body, images = visit_with_images(case_id, "so-office")
    for i, data in enumerate(images):
        tablet.put_photo("ab"[i % 2], data)
    assert tablet.put_visit("b", uuid.uuid4(), body).status_code == 201

    with requests.Session() as http:  # one browser; the load balancer picks a server per request
        page = http.get(cluster["a"] + "/login", timeout=30).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        r = http.post(cluster["a"] + "/login", data={"username": "office-1", "password": PASSWORD,
                                                     "csrf_token": token}, allow_redirects=False, timeout=30)
        assert r.status_code in (302, 303), r.text[:500]
        # Signed in on A, the same browser session is good on B: no session lives in a process.
        queues = [_queue(http, cluster[via]) for via in "ab"]
    assert queues[0] == queues[1]
    rows = dict(queues[0]["rows"])
    assert case_id in rows and rows[case_id] in ("submitted", "in_review")
    waiting = scalar(cluster, "SELECT count(*) FROM cases WHERE state IN ('submitted', 'in_review')")
    assert int(queues[0]["counts"]["default"]) == waiting >= 1
