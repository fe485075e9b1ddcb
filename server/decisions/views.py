"""The county's decision on a case, the decision letter, and re-checks of recipients."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("decisions", __name__, template_folder="templates")
