"""The start page after sign-in: what waits for this person."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from server.cases import queries
from server.cases.lifecycle import local_today
from server.core.auth import login_required
from server.extensions import db

bp = Blueprint("cases", __name__, template_folder="templates")


@bp.route("/")
@login_required
def home():
    today = local_today()
    summary = queries.home_summary(db.session, g.user, today)
    return render_template("cases/home.html", summary=summary, today=today)
