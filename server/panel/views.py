"""The evaluation panel's pages: sessions, attendance, recusals, scoring and anonymous voting, minutes."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("panel", __name__, template_folder="templates")
