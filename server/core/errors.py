"""Errors as application/problem+json (RFC 9457) with a stable `type` the PWA can act on.

Domain code raises a `Problem`; handlers here turn it, and every HTTP error flask or
webargs raises, into one shape. Browsers asking for HTML get a page with the same facts."""
from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, json, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load
from sqlalchemy import exc as sa_exc
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


class ProblemSchema(Schema):
    """application/problem+json (RFC 9457) in the OpenAPI document. A problem may carry
    further members of its own (`state`, `allowed`, `visit_id`, `required_roles`, …), so
    the shape is open: what is declared here is what every problem has, or may have."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, metadata={"description": "/problems/<code>: stable, for the device to act on"})
    title = fields.String(required=True)
    status = fields.Integer(required=True, metadata={"description": "The HTTP status again"})
    detail = fields.String(metadata={"description": "What happened, for a person"})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "validation-error only: each bad field by path "
                                                  "(`members.0.id_number`)"})
    retry_after = fields.Integer(metadata={"description": "busy / database-unavailable: seconds to wait before "
                                                          "sending the same request again"})


def nul_paths(value, prefix: str = "") -> list[str]:
    """Where a NUL character hides in parsed input ("members.0.name", or "_schema" for a
    key): no text a person typed contains one, and PostgreSQL cannot store it."""
    found: list[str] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append(prefix or "_schema")
    elif isinstance(value, Mapping):  # a JSON object, or the query string's MultiDict
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, str) and "\x00" in key:
                found.append(prefix or "_schema")
            else:
                found.extend(nul_paths(item, name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found.extend(nul_paths(item, f"{prefix}.{i}" if prefix else str(i)))
    return found


class InputSchema(Schema):
    """Every input of the API: no NUL character anywhere in it, refused by name (422)
    before any field is read, the same on both databases."""

    @pre_load
    def _no_nul(self, data, **kwargs):
        bad = nul_paths(data)
        if bad:
            raise ValidationError({path: ["Text cannot contain a NUL character."] for path in bad})
        return data


# Any request that reaches the database may meet it busy or away; the device retries.
UNAVAILABLE_DOC = ("The database is busy (busy) or out of reach (database-unavailable): send the same request "
                   "again after `retry_after` seconds")


def problem_docs(blp, responses: dict[int, str]):
    """Declare an operation's error answers in the OpenAPI document, each as
    application/problem+json of the Problem shape, with what it means."""

    def decorate(view):
        for status, description in responses.items():
            view = blp.alt_response(status, schema=ProblemSchema, content_type=PROBLEM_JSON,
                                    description=description)(view)
        return view

    return decorate


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
    if problem.status == 503:
        headers["Retry-After"] = str(problem.extra.get("retry_after", 1))
    return body, problem.status, headers


class DatabaseBusy(Problem):
    status, code, title = 503, "busy", "Busy"


class DatabaseUnavailable(Problem):
    status, code, title = 503, "database-unavailable", "The database is out of reach"


class InvalidValue(Problem):
    status, code, title = 422, "invalid-value", "A value the database cannot store"


def database_problem(exc: Exception) -> Problem:
    """What a database error means for the client. Busy (a lock, a serialisation failure,
    a deadlock, no free connection) and out of reach (connection refused, dropped,
    the server restarting) are 503s: the transaction did not commit (or, lost at COMMIT,
    the client cannot know; the sync's writes are idempotent), and the same request sent
    again later succeeds. A value the database refuses is the input's fault (422).
    Anything else is ours (500)."""
    msg = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, sa_exc.TimeoutError) or "locked" in msg or "could not serialize" in msg or "deadlock" in msg:
        return DatabaseBusy("The database is busy; send the same request again.", retry_after=1)
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated
                                        or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))):
        return DatabaseUnavailable("The database cannot be reached just now; send the same request again.",
                                   retry_after=2)
    if isinstance(exc, sa_exc.DataError):
        return InvalidValue("A value in the request cannot be stored.")
    return Problem(None, status=500, code="internal-error", title="Internal error")


def init_app(app: Flask) -> None:
    # Every API operation declares its own problem answers (problem_docs); flask-smorest's
    # generic "default" error response (plain JSON of another shape) would describe none
    # of them, and would make any undeclared status look documented.
    from server.extensions import api

    api.DEFAULT_ERROR_RESPONSE_NAME = None

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
    @app.errorhandler(sa_exc.TimeoutError)
    def _db(exc: Exception):
        problem = database_problem(exc)
        if problem.code == "internal-error":
            log.exception("database error")
        else:  # expected now and then: said in one line, the client retries or corrects
            log.warning("database error answered as %s: %s", problem.code, getattr(exc, "orig", None) or exc)
        return problem_response(problem)

    @app.errorhandler(Exception)
    def _any(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http(exc)
        log.exception("unhandled error")
        return problem_response(Problem(None, status=500, code="internal-error", title="Internal error"))
