"""The API describes itself (issue 4 item 1): every route under /api/v1 is in openapi.json,
so none can be added undocumented, and /api/v1/docs shows it all with no internet."""
from __future__ import annotations

import re

from server.core.docs import problem_catalogue

# The description itself is served by flask-smorest and is not a path of the API.
SPEC_ROUTES = {"/api/v1/openapi.json"}
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def api_routes(app) -> dict[str, set[str]]:
    """{OpenAPI path: methods} of every Flask route under /api/v1."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in SPEC_ROUTES:
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        methods = set(rule.methods) - {"OPTIONS", "HEAD"}
        if view_class is not None and hasattr(view_class, "head"):
            methods.add("HEAD")  # an explicit HEAD is part of the contract (photos)
        routes.setdefault(_CONVERTER.sub(r"{\1}", rule.rule), set()).update(methods)
    return routes


def test_every_api_route_is_in_the_openapi_document(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    routes = api_routes(app)
    assert {"/api/v1/sync/assignments", "/api/v1/visits/{visit_id}", "/api/v1/auth/token"} <= set(routes)
    missing = {f"{m} {path}" for path, methods in routes.items() for m in methods
               if m.lower() not in spec["paths"].get(path, {})}
    assert missing == set()


def test_each_operation_declares_one_success_status_and_its_problems(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    put = spec["paths"]["/api/v1/visits/{visit_id}"]["put"]
    assert {"201", "200", "401", "403", "404", "409", "422"} <= set(put["responses"])
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/VisitIn")
    visit_in = spec["components"]["schemas"]["VisitIn"]
    assert visit_in["properties"]["kind"]["enum"] == ["initial", "revisit", "recheck"]
    assert set(visit_in["required"]) >= {"case_id", "kind", "started_at", "ended_at", "investigators"}
    sync = spec["paths"]["/api/v1/sync/assignments"]["get"]
    assert {p["name"] for p in sync["parameters"]} == {"since", "limit"}
    assert "422" in sync["responses"]
    money = spec["components"]["schemas"]["IncomeIn"]["properties"]["monthly_amount"]
    assert money["type"] == "string"  # money is a decimal string on the wire


def test_the_openapi_info_links_the_readable_docs(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["externalDocs"]["url"] == "/api/v1/docs"
    assert "/api/v1/docs" in spec["info"]["description"]


def test_the_docs_page_shows_every_path_method_and_problem_type_with_nothing_from_outside(app, client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    for path, methods in api_routes(app).items():
        for method in methods:
            assert re.search(rf'<span class="method">{method}</span> <code>{re.escape(path)}</code>', html), \
                f"{method} {path}"
    for field in ("members[].id_number", "testimonies[].answers.matches_declaration", "photos[].sha256"):
        assert f"<code>{field}</code>" in html
    for problem in ("visit-conflict", "case-not-visitable", "token-revoked", "token-expired", "validation-error"):
        assert f'id="problem-{problem}"' in html
    # No CDN, no script: it works on an office network with no internet.
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<script" not in html


def test_the_problem_catalogue_has_one_status_per_type():
    codes = [p["code"] for p in problem_catalogue()]
    assert len(codes) == len(set(codes))
    statuses = {p["code"]: p["status"] for p in problem_catalogue()}
    assert statuses["visit-conflict"] == 409 and statuses["token-revoked"] == 401
