"""The API describing itself: the problem+json shape every error has, and a readable page
at /api/v1/docs rendered on the server from the OpenAPI document, so it works on an
office network with no internet (no CDN, no script)."""
from __future__ import annotations

from flask import Flask, Response, render_template
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

from server.core import errors

DOCS_PATH = "/api/v1/docs"

# Problem types raised with a code of their own rather than a Problem subclass.
EXTRA_PROBLEMS = {
    "token-revoked": (401, "The device's token was revoked: sign in again"),
    "token-expired": (401, "The device's token expired: sign in again"),
    "no-policy": (404, "No policy is in force there on that date"),
    "busy": (503, "The database is busy; retry after `retry_after` seconds"),
    "csrf-failed": (400, "CSRF check failed (browser forms only)"),
}


class ProblemOut(Schema):
    """application/problem+json (RFC 9457). Problems may carry further members (e.g.
    `state`, `allowed`, `visit_id`)."""

    type = fields.String(metadata={"description": "/problems/<code>: stable, for the device to act on"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "422 only: each bad field by path (`members.0.id_number`)"})


def problem_catalogue() -> list[dict]:
    """Every problem type the API answers with: code, status, title."""
    found: dict[str, tuple[int, str]] = {}
    for status, code in errors._HTTP_CODES.items():
        found.setdefault(code, (status, code.replace("-", " ").capitalize()))
    stack = [errors.Problem]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        found[cls.code] = (cls.status, cls.title)
    found.update(EXTRA_PROBLEMS)
    return [{"code": code, "type": errors.PROBLEM_BASE + code, "status": status, "title": title}
            for code, (status, title) in sorted(found.items(), key=lambda kv: (kv[1][0], kv[0]))]


blp = Blueprint("api_docs", __name__, url_prefix="/api/v1", description="This documentation")


@blp.route("/docs")
class Docs(MethodView):
    @blp.response(200, content_type="text/html", description="The OpenAPI document as a readable page")
    def get(self):
        """The API documentation as an HTML page (no internet needed)."""
        from server.extensions import api

        spec = api.spec.to_dict()
        html = render_template("api_docs.html", spec=spec, operations=_operations(spec),
                               problems=problem_catalogue(), docs_path=DOCS_PATH)
        return Response(html, mimetype="text/html")


def init_app(app: Flask, api: Api) -> None:
    """Register the page and point the OpenAPI document at it. Call it before the other
    blueprints: the field types below must be known when their schemas are described."""
    from server.core.fields import Money

    api.register_field(Money, "string", "decimal")  # "1200.00": money is a decimal string
    api.register_blueprint(blp)
    api.spec.options["externalDocs"] = {"description": "Readable documentation (HTML)", "url": DOCS_PATH}
    info = api.spec.options.setdefault("info", {})
    info["description"] = (info.get("description", "") + f"\n\nReadable documentation: {DOCS_PATH}").strip()


# --- the OpenAPI document as rows for the template -------------------------------------

_METHODS = ("get", "head", "post", "put", "patch", "delete")


def _operations(spec: dict) -> list[dict]:
    components = spec.get("components", {})
    out = []
    for path, item in sorted(spec.get("paths", {}).items()):
        shared = item.get("parameters", [])
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [_resolve(p, components) for p in shared + op.get("parameters", [])]
            body = op.get("requestBody")
            request = None
            if body:
                body = _resolve(body, components)
                content = body.get("content", {})
                media, schema = next(iter(content.items()), (None, {}))
                request = {"media": media, "rows": _rows((schema or {}).get("schema", {}), components)}
            responses = []
            for status, resp in sorted(op.get("responses", {}).items()):
                resp = _resolve(resp, components)
                content = resp.get("content", {})
                media, schema = next(iter(content.items()), (None, {}))
                responses.append({"status": status, "description": resp.get("description", ""), "media": media,
                                  "schema": _ref_name((schema or {}).get("schema", {})),
                                  "rows": _rows((schema or {}).get("schema", {}), components)})
            out.append({"path": path, "method": method.upper(), "summary": op.get("summary", ""),
                        "description": op.get("description", ""), "tags": op.get("tags", []),
                        "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                        "parameters": [{"name": p.get("name"), "in": p.get("in"), "required": p.get("required", False),
                                        "type": _type(p.get("schema", {}), components),
                                        "description": p.get("description") or p.get("schema", {}).get("description", "")}
                                       for p in params],
                        "request": request, "responses": responses})
    return out


def _unwrap(obj: dict) -> dict:
    """A nullable nested schema is {"allOf": [{"$ref": …}], "nullable": true} in OAS 3.0."""
    if isinstance(obj, dict) and len(obj.get("allOf", ())) == 1 and "$ref" in obj["allOf"][0]:
        return {**obj["allOf"][0], **{k: v for k, v in obj.items() if k != "allOf"}}
    return obj


def _resolve(obj: dict, components: dict) -> dict:
    obj = _unwrap(obj)
    ref = obj.get("$ref") if isinstance(obj, dict) else None
    if not ref:
        return obj
    _, _, kind, name = ref.split("/", 3)
    return components.get(kind, {}).get(name, {})


def _ref_name(schema: dict) -> str | None:
    schema = _unwrap(schema)
    ref = schema.get("$ref") or (schema.get("items") or {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def _type(schema: dict, components: dict) -> str:
    schema = _unwrap(schema)
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " | ".join(kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}), components)}"
    if schema.get("format"):
        kind += f" ({schema['format']})"
    return kind


def _rows(schema: dict, components: dict, prefix: str = "", depth: int = 0, seen: frozenset = frozenset()) -> list[dict]:
    """A schema as one row per field, nested fields by dotted path (`members[].name`)."""
    schema = _unwrap(schema)
    name = _ref_name(schema)
    if name in seen or depth > 6:
        return []
    resolved = _resolve(schema, components)
    if resolved.get("type") == "array" and "properties" not in resolved:
        return _rows(resolved.get("items", {}), components, prefix + "[]", depth + 1,
                     seen | ({name} if name else set()))
    rows = []
    required = set(resolved.get("required", []))
    for field, sub in resolved.get("properties", {}).items():
        path = f"{prefix}.{field}" if prefix else field
        sub = _unwrap(sub)
        sub_resolved = _resolve(sub, components)
        notes = []
        if sub_resolved.get("enum"):
            notes.append("one of: " + ", ".join(str(v) for v in sub_resolved["enum"] if v is not None))
        for key, label in (("minimum", "min"), ("maximum", "max"), ("minLength", "min length"),
                           ("maxLength", "max length"), ("pattern", "pattern"), ("maxItems", "at most")):
            if key in sub_resolved:
                notes.append(f"{label} {sub_resolved[key]}")
        if sub.get("nullable") or sub_resolved.get("nullable"):
            notes.append("may be null")
        rows.append({"name": path, "type": _type(sub, components), "required": field in required,
                     "description": sub_resolved.get("description", ""), "notes": "; ".join(notes)})
        inner = sub_resolved.get("items", {}) if sub_resolved.get("type") == "array" else sub
        if "$ref" in inner or _resolve(inner, components).get("properties"):
            rows.extend(_rows(inner, components, path + ("[]" if inner is not sub else ""), depth + 1,
                              seen | ({name} if name else set())))
    return rows
