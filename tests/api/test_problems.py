"""Every error is application/problem+json with a stable type; the API describes itself."""


def test_openapi_describes_the_api(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert {"/api/v1/auth/token", "/api/v1/policy/evaluate"} <= set(spec["paths"])
    assert "201" in spec["paths"]["/api/v1/auth/token"]["post"]["responses"]


def test_oversized_body_is_413_problem(client, app):
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    r = client.post("/api/v1/auth/token", data=big, content_type="application/json")
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.get_json()["type"].endswith("/too-large")


def test_json_body_that_is_not_an_object_is_422(client):
    r = client.post("/api/v1/auth/token", json=["a", "b"])
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"


def test_wrong_content_type_is_a_problem(client):
    r = client.post("/api/v1/auth/token", data="username=a", content_type="application/x-www-form-urlencoded")
    assert 400 <= r.status_code < 500 and r.headers["Content-Type"] == "application/problem+json"
