"""The API fuzzed from its own description ("Prove it", item 3): schemathesis reads
/api/v1/openapi.json of a live Doorstep (waitress, its own committed database) and throws
generated requests at every operation, valid and invalid, as a signed-in investigator and
with no credentials at all. Whatever arrives: never a 5xx, every status is one the
operation declares, every body has the declared shape, and every error is
application/problem+json with a stable type.

Generated ids would never name a stored case or visit, so some requests are steered onto
the seeded ones (a real case, its team's investigators, a stored photo): the fuzzed
members, incomes and testimonies then reach the database, not only the parser.
A failure prints the request as a curl command, which replays it."""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import os
import random
import uuid

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import live_app

# Per operation and run: the whole fuzz (two runs of ~13 operations) stays well under two
# minutes on either database. DOORSTEP_FUZZ_EXAMPLES raises it for a longer hunt.
MAX_EXAMPLES = int(os.environ.get("DOORSTEP_FUZZ_EXAMPLES", "25"))
# Signing in verifies an argon2 hash (slow by design) even for a user that does not exist.
SLOW_OPERATIONS = {("POST", "/api/v1/auth/token"): 6}
# Hypothesis draws from this seed: printed, and DOORSTEP_FUZZ_SEED replays a run.
FUZZ_SEED = int(os.environ.get("DOORSTEP_FUZZ_SEED") or random.SystemRandom().randrange(1, 10**9))

PROBLEM_JSON = "application/problem+json"


class Seeded:
    """What the live app was seeded with (filled in by the `fuzz_live` fixture)."""

    case_ids: list[str] = []
    visit_ids: list[str] = []
    photo: str = ""
    investigators = ["fz-inv-1", "fz-inv-2"]
    community = ""


def _jpeg(shade: int) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (48, 32), (shade % 256, 90, 160))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def _seed(session):
    from server.accounts.models import Team, TeamMember, User, UserRole
    from server.accounts.operations import issue_token
    from server.cases.models import Case, Household, Member
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction
    from server.core.validators import make_id_number
    from server.policy.models import PolicyVersion
    from server.policy.settings import DEFAULT_SETTINGS
    from tests.conftest import password_hash

    county = Jurisdiction(code="330122", name="桐庐县", kind="county")
    community = Jurisdiction(code="330122001001", name="迎春社区", kind="community", parent=county,
                             location=point_wkt(29.797, 119.691))
    session.add_all([county, community])
    session.flush()
    session.add(PolicyVersion(jurisdiction_id=county.id, effective_from=dt.date(2020, 1, 1),
                              settings=DEFAULT_SETTINGS, note="fuzz"))
    users = []
    for name, role in [(n, "investigator") for n in Seeded.investigators] + [("fz-office", "office")]:
        user = User(username=name, display_name=name, password_hash=password_hash(), jurisdiction_id=community.id)
        user.role_rows = [UserRole(role=role)]
        users.append(user)
    session.add_all(users)
    session.flush()
    team = Team(community_id=community.id, name="调查一组",
                members=[TeamMember(user_id=u.id) for u in users[:2]])
    session.add(team)
    session.flush()
    cases = []
    for i in range(8):
        household = Household(community_id=community.id, head_name=f"户主{i}", address=f"迎春路{i}号",
                              location=point_wkt(29.797, 119.691))
        household.members.append(Member(position=0, name=f"成员{i}", relation="self", sex="F",
                                         birth_date=dt.date(1961, 3, 2),
                                         id_number=make_id_number("330122", dt.date(1961, 3, 2), i, "F")))
        cases.append(Case(number=f"FZ-{i}", household=household, community_id=community.id,
                          state="investigating", team_id=team.id))
    session.add_all(cases)
    session.flush()
    raw, _token = issue_token(session, users[0], "fuzz tablet", 30)
    Seeded.case_ids = [str(c.id) for c in cases]
    Seeded.community = community.code
    data = _jpeg(7)
    Seeded.photo = hashlib.sha256(data).hexdigest()
    return raw, data


@pytest.fixture(scope="module")
def fuzz_live(tmp_path_factory):
    with live_app(tmp_path_factory, "fuzz", threads=4, seed=_seed) as (base, app, (raw, photo_bytes)):
        import requests

        headers = {"Authorization": "Bearer " + raw}
        # One photo and one visit through the API itself, so GETs of them can succeed.
        r = requests.put(f"{base}/api/v1/photos/{Seeded.photo}", data=photo_bytes,
                         headers={**headers, "Content-Type": "image/jpeg"}, timeout=30)
        assert r.status_code == 201, r.text
        visit_id = str(uuid.uuid4())
        r = requests.put(f"{base}/api/v1/visits/{visit_id}", json=_visit(Seeded.case_ids[0]), headers=headers,
                         timeout=30)
        assert r.status_code == 201, r.text
        Seeded.visit_ids = [visit_id]
        yield {"base": base, "app": app, "headers": headers}


def _visit(case_id: str) -> dict:
    point = {"lat": 29.7971, "lon": 119.6912, "accuracy_m": 8.0}
    return {"case_id": case_id, "kind": "initial", "started_at": "2026-11-20T09:12:00+08:00",
            "ended_at": "2026-11-20T09:58:00+08:00", "investigators": list(Seeded.investigators),
            "location": point, "members": [{"name": "王秀英", "relation": "self"}],
            "photos": [{"sha256": Seeded.photo, "kind": "exterior"}]}


def _steer(value, key, choices):
    """Half the time, replace a generated id by a seeded one."""
    if not isinstance(value, dict) or key not in value or not choices:
        return st.just(value)
    return st.one_of(st.just(value), st.sampled_from(choices).map(lambda c: {**value, key: c}))


def _register_hooks(schema):
    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if "visit_id" in (path_parameters or {}):
            return _steer(path_parameters, "visit_id", Seeded.visit_ids + [str(uuid.uuid4())])
        if "case_id" in (path_parameters or {}):
            return _steer(path_parameters, "case_id", Seeded.case_ids)
        if "sha256" in (path_parameters or {}):
            return _steer(path_parameters, "sha256", [Seeded.photo])
        return st.just(path_parameters)

    @schema.hook
    def flatmap_body(context, body):
        if not isinstance(body, dict):
            return st.just(body)
        if "case_id" in body:  # a visit: a real case of the team, its real investigators
            return st.one_of(st.just(body), st.sampled_from(Seeded.case_ids).map(lambda c: _deliverable(body, c)))
        if "community" in body:  # a policy evaluation where a policy is in force
            return st.one_of(st.just(body), st.just(_consistent({**body, "community": Seeded.community})))
        return st.just(body)

    @schema.hook
    def flatmap_case(context, case):
        # Photo bytes named by their own hash: the pipeline itself meets the fuzzed bytes.
        data = getattr(case.body, "data", case.body)  # image bytes come wrapped
        if case.method.upper() == "PUT" and "sha256" in (case.path_parameters or {}) \
                and isinstance(data, (bytes, bytearray)):
            named = hashlib.sha256(bytes(data)).hexdigest()
            return st.booleans().map(lambda rename: _renamed(case, named) if rename else case)
        return st.just(case)


def _renamed(case, sha256: str):
    case.path_parameters = {**case.path_parameters, "sha256": sha256}
    return case


def _consistent(body: dict) -> dict:
    """What the schema cannot say, made true: members' ID numbers pass their check digit
    (none given), income names an existing member, the visit ends after it starts."""
    body = copy.deepcopy(body)
    members = body.get("members")
    if isinstance(members, list):
        for m in members:
            if isinstance(m, dict):
                m.pop("id_number", None)
    income = body.get("income")
    if isinstance(income, list):
        for item in income:
            if isinstance(item, dict):
                item["member"] = None
    if "started_at" in body:
        body["ended_at"] = body["started_at"]
    return body


def _deliverable(body: dict, case_id: str) -> dict:
    return _consistent({**body, "case_id": case_id, "investigators": list(Seeded.investigators)})


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_live):
    config = schemathesis.Config.from_dict({
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_url(fuzz_live["base"] + "/api/v1/openapi.json", config=config)
    _register_hooks(schema)
    return schema


def _checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance, negative_data_rejection, response_headers_conformance,
        response_schema_conformance, status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
            response_schema_conformance, negative_data_rejection, problem_json]


def problem_json(ctx, response, case):
    """Every error is application/problem+json whose `status` is the answer's."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    media = response.headers.get("content-type", [""])
    media = (media[0] if isinstance(media, list) else media).split(";")[0].strip()
    assert media == PROBLEM_JSON, f"{response.status_code} answered as {media!r}, not {PROBLEM_JSON}"
    body = response.json()
    assert body.get("status") == response.status_code, body
    assert isinstance(body.get("type"), str) and body["type"].startswith("/problems/"), body
    assert isinstance(body.get("title"), str), body
    return None


def _fresh_token(app) -> str:
    """A token of its own for a case that signs its device out (DELETE /auth/token)."""
    from server.accounts.models import User
    from server.accounts.operations import issue_token

    db = app.extensions["doorstep_db"]
    with db.Session() as session:
        user = session.scalar(sa.select(User).where(User.username == Seeded.investigators[1]))
        raw, _token = issue_token(session, user, "fuzz throwaway", 1)
        session.commit()
    return raw


def _steered(case) -> bool:
    """A body the hooks above rewrote onto the seeded case or community."""
    body = case.body if isinstance(case.body, dict) else {}
    return (body.get("case_id") in Seeded.case_ids and body.get("investigators") == list(Seeded.investigators)) \
        or ("community" in body and body.get("community") == Seeded.community)


def fuzz_every_operation(schema, headers_for) -> tuple[list[str], int]:
    """Run each operation's positive and negative cases; return the failures (one per
    operation, the first found, with its curl command) and how many requests were sent."""
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import negative_data_rejection

    failures: list[str] = []
    sent = [0]
    seen: dict[str, dict[int, int]] = {}
    checks = _checks()
    for number, result in enumerate(schema.get_all_operations()):
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(operation.as_strategy(generation_mode=mode))
            except Exception:  # nothing to make invalid (no parameters, no body)
                continue
        examples = SLOW_OPERATIONS.get((operation.method.upper(), operation.path), MAX_EXAMPLES)

        @seed(FUZZ_SEED + number)
        @given(case=st.one_of(*strategies))
        @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
        def run(case):
            sent[0] += 1
            used = checks
            if _steered(case) and case.meta is not None and case.meta.generation.mode == GenerationMode.NEGATIVE:
                # Steering rewrites the fields it steers (case, investigators, ID numbers…),
                # which may be the very ones made invalid: the request may be valid again.
                used = [c for c in checks if c is not negative_data_rejection]
            response = case.call_and_validate(headers=headers_for(case), checks=used, timeout=60)
            statuses = seen.setdefault(label, {})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - fuzz every operation, report all
            failures.append(f"{label} (replay with DOORSTEP_FUZZ_SEED={FUZZ_SEED}): {exc}")
    for label, statuses in seen.items():
        print(f"  {label:45} " + " ".join(f"{k}×{v}" for k, v in sorted(statuses.items())))
    return failures, sent[0]


def test_the_api_as_an_investigator_never_fails_and_says_what_it_documents(fuzz_live, fuzz_schema):
    def headers_for(case):
        if case.method.upper() == "DELETE" and case.path.endswith("/auth/token"):
            return {"Authorization": "Bearer " + _fresh_token(fuzz_live["app"])}
        return dict(fuzz_live["headers"])

    failures, sent = fuzz_every_operation(fuzz_schema, headers_for)
    print(f"fuzzed as an investigator: {sent} requests, DOORSTEP_FUZZ_SEED={FUZZ_SEED}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_the_api_without_credentials_never_fails_and_says_what_it_documents(fuzz_live, fuzz_schema):
    failures, sent = fuzz_every_operation(fuzz_schema, lambda case: {})
    print(f"fuzzed without credentials: {sent} requests, DOORSTEP_FUZZ_SEED={FUZZ_SEED}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


# --- what the fuzzing found, pinned down ---------------------------------------------------


def test_every_error_answer_is_documented_as_problem_json_and_every_operation_may_be_unavailable(fuzz_live):
    """The document says what the answers are: each error status an operation declares is
    application/problem+json of the Problem shape (open: problems carry members of their
    own), and every operation that reads the database declares 503 for it being away."""
    import requests

    spec = requests.get(fuzz_live["base"] + "/api/v1/openapi.json", timeout=30).json()
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"} and problem["additionalProperties"] is True
    wrong, without_503 = [], []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path == "/api/v1/docs" or method not in ("get", "head", "post", "put", "patch", "delete"):
                continue
            for status, answer in op["responses"].items():
                content = answer.get("content")
                if int(status) >= 400 and content is not None and (
                        set(content) != {PROBLEM_JSON}
                        or not content[PROBLEM_JSON]["schema"]["$ref"].endswith("/Problem")):
                    wrong.append(f"{method.upper()} {path} {status}: {sorted(content)}")
            if "503" not in op["responses"]:
                without_503.append(f"{method.upper()} {path}")
    assert wrong == [] and without_503 == []


def test_a_nul_character_is_refused_by_name_the_same_on_both_databases(fuzz_live):
    """PostgreSQL cannot store a NUL in text (a 500 before); no person types one. It is a
    422 naming the field, before anything is looked up, on SQLite as on PostgreSQL."""
    import requests

    base, headers = fuzz_live["base"], fuzz_live["headers"]
    body = _visit(Seeded.case_ids[1])
    body["members"][0]["name"] = "王\x00秀英"
    r = requests.put(f"{base}/api/v1/visits/{uuid.uuid4()}", json=body, headers=headers, timeout=30)
    assert r.status_code == 422 and r.headers["Content-Type"] == PROBLEM_JSON
    assert r.json()["errors"] == {"members.0.name": ["Text cannot contain a NUL character."]}
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": "fz-inv-1\x00", "password": "x",
                                                         "device_name": "pad"}, timeout=30)
    assert r.status_code == 422 and set(r.json()["errors"]) == {"username"}
    r = requests.get(f"{base}/api/v1/sync/assignments", params={"since": "a\x00b"}, headers=headers, timeout=30)
    assert r.status_code == 422 and set(r.json()["errors"]) == {"since"}
    r = requests.head(f"{base}/api/v1/photos/%00", headers=headers, timeout=30)
    assert r.status_code == 404
    r = requests.get(f"{base}/api/v1/photos/%00/thumb", headers=headers, timeout=30)
    assert r.status_code == 404 and r.json()["type"] == "/problems/not-found"
