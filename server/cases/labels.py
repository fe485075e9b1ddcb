"""The names of a case's states and of its deadlines, in both languages: one table each,
for the office's pages and for messages written in Python."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATES = {
    "application": _l("Application"), "accepted": _l("Accepted"), "investigating": _l("Investigating"),
    "submitted": _l("Submitted"), "in_review": _l("In review"), "returned": _l("Returned for re-visit"),
    "panel": _l("Evaluation panel"), "publicity": _l("Public notice"), "objection": _l("Objection"),
    "county_review": _l("County review"), "approved": _l("Approved"), "rejected": _l("Rejected"),
    "active": _l("Receiving allowance"), "recheck": _l("Re-check"), "adjusted": _l("Adjusted"), "stopped": _l("Stopped"),
}
OVERDUE = {
    "investigation_start": _l("Investigation not started in time"), "case_total": _l("Whole case past its deadline"),
    "county_decision": _l("County decision overdue"), "recheck": _l("Re-check overdue"),
}
