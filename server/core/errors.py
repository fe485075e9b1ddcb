"""Errors as application/problem+json (RFC 9457) with a stable `type` the PWA can act on.

Domain code raises a `Problem`; handlers here turn it, and every HTTP error flask or
webargs raises, into one shape. Browsers asking for HTML get a page with the same facts."""
from __future__ import annotations

import logging

from flask import Flask, json, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("doorstep.errors")

PROBLEM_BASE = "/problems/"
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, status: int | None = None, code: str | None = None,
                 title: str | None = None, **extra):
        super().__init__(detail or title or self.title)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.extra = extra

    def body(self) -> dict:
        out = {"type": PROBLEM_BASE + self.code, "title": self.title, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        out.update(self.extra)
        return out


class NotFound(Problem):
    status, code, title = 404, "not-found", "Not found"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Forbidden"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Sign-in required"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class ValidationProblem(Problem):
    """422 naming each bad field: errors = {"field.path": ["message", …]}."""

    status, code, title = 422, "validation-error", "Invalid input"

    def __init__(self, errors: dict, detail: str | None = None):
        super().__init__(detail or "; ".join(sorted(errors)), errors=errors)


class TooLarge(Problem):
    status, code, title = 413, "too-large", "Too large"


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages -> {"members.0.id_number": [...]}"""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict,)):
                out.update(flatten_errors(value, name))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                out[name] = list(value)
            else:
                out.update(flatten_errors(value, name))
    elif isinstance(messages, list):
        if all(isinstance(v, str) for v in messages):
            out[prefix or "_schema"] = list(messages)
        else:
            for i, value in enumerate(messages):
                out.update(flatten_errors(value, f"{prefix}.{i}" if prefix else str(i)))
    elif messages is not None:
        out[prefix or "_schema"] = [str(messages)]
    return out


_HTTP_CODES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 411: "length-required",
    412: "precondition-failed", 413: "too-large", 415: "unsupported-media-type",
    422: "validation-error", 428: "precondition-required", 429: "too-many-requests",
    500: "internal-error", 503: "unavailable",
}


def problem_from_http(exc: HTTPException) -> Problem:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages is not None:  # webargs/marshmallow validation from flask-smorest
        errors: dict[str, list[str]] = {}
        for _location, msgs in messages.items():
            errors.update(flatten_errors(msgs))
        return ValidationProblem(errors)
    extra = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        extra["allowed_methods"] = sorted(exc.valid_methods)
    return Problem(exc.description if status < 500 else None, status=status,
                   code=_HTTP_CODES.get(status, "http-%d" % status), title=exc.name, **extra)


def wants_html() -> bool:
    if request.path.startswith("/api/"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", PROBLEM_JSON, "text/html"])
    return best == "text/html"


def problem_response(problem: Problem):
    if problem.status >= 500:
        log.error("problem %s: %s", problem.code, problem.detail)
    if wants_html():
        try:
            html = render_template("error.html", problem=problem.body())
        except Exception:  # the error page itself must never fail the answer
            log.exception("error page failed")
            html = "<h1>%d %s</h1>" % (problem.status, problem.title)
        return html, problem.status, {"Content-Type": "text/html; charset=utf-8"}
    body = json.dumps(problem.body(), ensure_ascii=False)
    headers = {"Content-Type": PROBLEM_JSON}
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="doorstep"'
    return body, problem.status, headers


def init_app(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem):
        return problem_response(exc)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return problem_response(Problem(_("The form expired or was sent from elsewhere; reload the page and try again."),
                                        status=400, code="csrf-failed", title="CSRF check failed"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return problem_response(problem_from_http(exc))

    @app.errorhandler(DBAPIError)
    def _db(exc: DBAPIError):
        log.exception("database error")
        msg = str(getattr(exc, "orig", exc)).lower()
        if "locked" in msg or "could not serialize" in msg or "deadlock" in msg:
            return problem_response(Problem("The database is busy; try again.", status=503,
                                            code="busy", title="Busy", retry_after=1))
        return problem_response(Problem(None, status=500, code="internal-error", title="Internal error"))

    @app.errorhandler(Exception)
    def _any(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http(exc)
        log.exception("unhandled error")
        return problem_response(Problem(None, status=500, code="internal-error", title="Internal error"))
