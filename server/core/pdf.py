"""Printable documents as PDF: the same Jinja template that prints from the browser as A4
HTML is rendered to PDF by WeasyPrint, so the paper and the file say the same thing.

Nothing is fetched from the network while rendering: images must be `data:` URIs or the
app's own static files (read from disk). Chinese text needs a CJK font installed on the
machine (Noto Sans/Serif CJK, which `make` installs); the font is embedded (subset) in
the file, so the PDF reads the same anywhere.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
from pathlib import Path

from flask import current_app, render_template

# The page and the type for every printed document; templates add their own rules.
PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
        @bottom-center { content: counter(page) " / " counter(pages); font-size: 9pt; color: #555; } }
html { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; font-size: 11pt; line-height: 1.5;
       color: #000; }
h1 { font-size: 17pt; text-align: center; margin: 0 0 6mm; }
h2 { font-size: 13pt; margin: 5mm 0 2mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 0.6pt solid #333; padding: 1.5mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.noprint, nav, .actions { display: none !important; }
img.signature { height: 14mm; }
"""

# WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process when imported,
# which would let a truncated photo through the photo pipeline padded with grey. Import it
# here, once, when the app loads, and turn that back off: the only images a document of
# ours embeds are our own PNG signatures.
import weasyprint  # noqa: E402,F401
from PIL import ImageFile  # noqa: E402

ImageFile.LOAD_TRUNCATED_IMAGES = False

log = logging.getLogger(__name__)
# WeasyPrint reports every layout step at INFO; a server log wants none of it.
for _name in ("weasyprint", "weasyprint.progress", "fontTools"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class PdfFetchRefused(ValueError):
    """A document asked for something outside the app (rendering never goes online)."""


def _local_file(url: str) -> tuple[bytes, str | None] | None:
    """The bytes of one of the app's own static files named by `url`, if it is one."""
    static_prefix = "/static/"
    path = url.split("://", 1)[-1]
    path = path[path.find("/"):] if "://" in url else path
    if path.startswith(static_prefix):
        root = Path(current_app.static_folder).resolve()
        file = (root / path[len(static_prefix):]).resolve()
        if root in file.parents and file.is_file():
            return file.read_bytes(), mimetypes.guess_type(file.name)[0]
    return None


def _fetcher():
    """WeasyPrint's URL fetcher (a URLFetcher since WeasyPrint 68) that answers `data:`
    URIs and the app's static files, and refuses everything else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LocalOnly(URLFetcher):
        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            found = _local_file(url)
            if found is not None:
                body, mime = found
                return URLFetcherResponse(url, body, {"Content-Type": mime or "application/octet-stream"})
            raise PdfFetchRefused(f"not fetched while rendering a PDF: {url[:80]}")

    return LocalOnly(allowed_protocols=("data",))


def html_to_pdf(html: str) -> bytes:
    """The PDF of a whole HTML document (A4, the print stylesheet above first)."""
    from weasyprint import CSS, HTML

    document = HTML(string=html, base_url="/", url_fetcher=_fetcher())
    return document.write_pdf(stylesheets=[CSS(string=PRINT_CSS)])


def render_pdf(template: str, **context) -> bytes:
    """Render a Jinja template (with `for_pdf=True` in its context) to PDF bytes."""
    return html_to_pdf(render_template(template, for_pdf=True, **context))


def data_uri(content: bytes, mime_type: str) -> str:
    """An image for a PDF or a printed page, inline (e.g. a signature from the photo store)."""
    return f"data:{mime_type};base64,{base64.b64encode(content).decode('ascii')}"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
