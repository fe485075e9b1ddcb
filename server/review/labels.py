"""Words the review pages show for codes (states, flags, severities, survey values),
translated once per page: a Jinja macro that builds its table on every call costs a
gettext per entry per call, which at fifty rows is most of a page's time."""
from __future__ import annotations

from types import SimpleNamespace

from flask_babel import lazy_gettext as _l

from server.cases.labels import OVERDUE, STATES

FLAGS = {
    "gps_missing": _l("No GPS"), "gps_far_from_home": _l("GPS far from home"), "gps_inaccurate": _l("GPS inaccurate"),
    "visit_too_short": _l("Visit too short"), "too_few_investigators": _l("Too few investigators"),
    "missing_photo_kinds": _l("Photos missing"), "photo_outside_visit": _l("Photo outside the visit"),
    "photos_pending": _l("Photos not yet uploaded"), "duplicate_photo": _l("Duplicate photo"),
    "too_few_testimonies": _l("Too few testimonies"), "testimony_contradicts": _l("Testimony contradicts"),
    "disqualifying_asset": _l("Disqualifying asset"), "pci_above_standard": _l("Income above the standard"),
    "household_not_evaluated": _l("Not evaluated"), "related_to_staff": _l("Related to staff"),
}
SEVERITIES = {"error": _l("Must check"), "warning": _l("Worth a look"), "info": _l("Note")}
SORTS = {"waiting": _l("Waiting longest first"), "newest": _l("Newest first"),
         "deadline": _l("Deadline soonest first"), "number": _l("Case number")}
WORDS = {
    "healthy": _l("healthy"), "chronic": _l("chronic illness"), "serious_illness": _l("serious illness"),
    "owned": _l("owned"), "rented": _l("rented"), "other": _l("other"),
    "neighbour": _l("neighbour"), "cadre": _l("community cadre"), "grid_worker": _l("grid worker"),
    "investigator": _l("investigator"), "family_member": _l("family member"),
    "self": _l("applicant"), "spouse": _l("spouse"), "child": _l("child"), "parent": _l("parent"),
    "grandchild": _l("grandchild"), "grandparent": _l("grandparent"), "sibling": _l("sibling"),
    "child_in_law": _l("child-in-law"),
    "vehicle": _l("vehicle"), "home": _l("home"), "business": _l("business"), "financial": _l("financial assets"),
    "luxury": _l("high-end goods"),
    "yes": _l("yes"), "no": _l("no"), "unsure": _l("unsure"),
    "initial": _l("first visit"), "revisit": _l("re-visit"), "recheck": _l("re-check"),
    "awaiting_photos": _l("awaiting photos"), "in_review": _l("in review"), "accepted": _l("accepted"),
    "returned": _l("returned"), "superseded": _l("superseded"),
    "kept_stored": _l("stored version kept"), "took_new": _l("received version taken"), "merged": _l("combined"),
    "full": _l("full"), "partial": _l("partial"), "none": _l("none"),
    "employed": _l("employed"), "unemployed": _l("unemployed"),
    "medical": _l("medical"), "education": _l("education"), "utilities": _l("utilities"), "rent": _l("rent"),
}


class _Table(dict):
    """A code's label, or the code itself when it has none (data from a newer tablet)."""

    def __missing__(self, key):
        return "—" if key is None else key


def translated(*groups: str) -> SimpleNamespace:
    """The named tables (state, overdue, flag, severity, sort, word), translated now."""
    tables = {"state": STATES, "overdue": OVERDUE, "flag": FLAGS, "severity": SEVERITIES, "sort": SORTS,
              "word": WORDS}
    return SimpleNamespace(**{g: _Table({k: str(v) for k, v in tables[g].items()}) for g in groups})
