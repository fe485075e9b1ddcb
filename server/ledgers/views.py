"""Ledgers and exports (payment list, active households, visits as GeoJSON) and the county dashboard."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ledgers", __name__, template_folder="templates")
