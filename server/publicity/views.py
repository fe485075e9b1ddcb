"""Public notice of passed cases (printable and at /notices, no sign-in) and objections."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("publicity", __name__, template_folder="templates")
