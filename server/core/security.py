"""What every answer carries and what no log line may: security headers, the Content
Security Policy (scripts from this site only; no inline script anywhere), HSTS over TLS,
Clear-Site-Data on sign-out, the proxy's word on TLS when told to trust it, and the
masking of national ID numbers, bearer tokens and passwords.

ID numbers are personal data (PIPL Art 28: sensitive personal information). They show in
full only in the case file of a role that may see it, and that read is audited; every
other page, export, log line and error message shows them masked: 330102********1234.
"""
from __future__ import annotations

import logging
import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from markupsafe import Markup

# --- masking ------------------------------------------------------------------------------

# An 18-character ID number (GB 11643: 17 digits and a digit or X) standing alone: not
# part of a longer run of letters and digits such as a SHA-256 or a UUID.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
MASK = "********"


def mask_id_number(value) -> str:
    """330102199001011234 -> 330102********1234; anything shorter keeps only its last
    four characters (a mistyped number is still someone's number); None -> ""."""
    if value is None:
        return ""
    text = str(value).strip()
    if len(text) == 18:
        return text[:6] + MASK + text[-4:]
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def mask_ids(text):
    """Every ID number inside a free text (a log line, a JSON document) masked."""
    if text is None:
        return text
    masked = _ID_NUMBER.sub(lambda m: m.group(1) + MASK + m.group(2), str(text))
    return Markup(masked) if isinstance(text, Markup) else masked


# Secrets that may reach a log line: a bearer token in a header echoed by some library,
# passwords and tokens in a query string or a JSON/form body quoted in an error.
_SECRETS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [hidden]"),
    (re.compile(r"(?i)\b((?:password|password2|passwd|token|csrf_token|secret)=)[^&\s\"']+"), r"\1[hidden]"),
    (re.compile(r"(?i)([\"'](?:password|password2|passwd|token|secret)[\"']\s*:\s*[\"'])[^\"']*"), r"\1[hidden]"),
)


def scrub(text: str) -> str:
    """A log line as it may be written: ID numbers masked, tokens and passwords hidden."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return mask_ids(text)


def _install_log_scrubber() -> None:
    """Every log record, whoever writes it (our code, werkzeug's and gunicorn's access
    logs, waitress, SQLAlchemy's echo of statement parameters), is scrubbed as it is made,
    so no handler anywhere sees the raw text. Installed once per process."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "doorstep_scrubs", False):
        return

    def make_record(*args, **kwargs):
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it for logging to report
            return record
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # An exception's text (a database error quotes its parameters) is formatted
            # now, scrubbed, and kept: handlers use exc_text when it is there.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return record

    make_record.doorstep_scrubs = True
    logging.setLogRecordFactory(make_record)


# --- headers ------------------------------------------------------------------------------

# Sign-out answers tell the browser to forget this site's cache, cookies and storage
# (a shared office computer, a tablet handed to a colleague).
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'
SIGN_OUT_ENDPOINTS = {("accounts.logout", "POST"), ("auth.TokenResource", "DELETE")}
HSTS = "max-age=31536000; includeSubDomains"


def csp_nonce() -> str:
    """This answer's nonce, for the rare <style> block a page cannot do without."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def _tile_source(url: str) -> str | None:
    """The origin of the map tile server (MAP_TILE_URL), as a CSP source: Leaflet loads
    its tiles as images. A {s} subdomain template becomes a wildcard."""
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "tiles"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc
    if "{s}" in url.split("//", 1)[-1].split("/", 1)[0]:
        host = "*." + host.split(".", 1)[1] if "." in host else host
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url: str = "", nonce: str | None = None) -> str:
    images = ["'self'", "data:", "blob:"]  # data: signatures on printed pages; blob: the tablet's photo previews
    tiles = _tile_source(tile_url)
    if tiles:
        images.append(tiles)
    styles = ["'self'"] + ([f"'nonce-{nonce}'"] if nonce else [])
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],  # no 'unsafe-inline', no 'unsafe-eval': scripts are files of this site
        "style-src": styles,
        "img-src": images,
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],  # the tablet app's service worker and photo worker
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _headers(response):
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        current_app.config.get("MAP_TILE_URL") or "", g.get("csp_nonce"))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"  # frame-ancestors for browsers that predate it
    # same-origin, not no-referrer: Flask-WTF checks the Referer of forms sent over HTTPS.
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    # The tablet app takes photos and a GPS fix; nothing here needs a microphone or payments.
    headers["Permissions-Policy"] = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()"
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    if (request.endpoint, request.method) in SIGN_OUT_ENDPOINTS and response.status_code < 400:
        headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    if g.get("user") is not None and "Cache-Control" not in headers:
        # A signed-in answer holds personal data: no shared or back-button copy of it.
        headers["Cache-Control"] = "no-store"
    return response


def _proxy_hops(value) -> int:
    if value in (None, "", False):
        return 0
    if isinstance(value, bool):
        return 1 if value else 0
    text = str(value).strip().lower()
    if text in ("true", "yes", "on"):
        return 1
    if text in ("false", "no", "off"):
        return 0
    return max(0, int(text))


def init_app(app: Flask) -> None:
    _install_log_scrubber()
    hops = _proxy_hops(app.config.get("PROXY_FIX"))
    if hops:
        # Behind a reverse proxy that terminates TLS: believe its X-Forwarded-* headers
        # (only as many hops as are ours), so request.is_secure and remote_addr are true.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.after_request(_headers)
    app.add_template_global(csp_nonce)
    app.add_template_filter(mask_id_number, "mask_id")
    app.add_template_filter(mask_ids, "mask_ids")
