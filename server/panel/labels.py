"""Words the panel pages show for codes: member categories, choices, states, results,
scoring criteria. Translated when a page asks (`translated()`), once per page."""
from __future__ import annotations

from types import SimpleNamespace

from flask_babel import lazy_gettext as _l

CATEGORIES = {"cadre": _l("Community cadre"), "police": _l("Community police"),
              "resident_rep": _l("Residents' representative")}
CHOICES = {"for": _l("For"), "against": _l("Against"), "abstain": _l("Abstain")}
SESSION_STATES = {"scheduled": _l("Scheduled"), "open": _l("In session"), "closed": _l("Closed"),
                  "cancelled": _l("Cancelled")}
ITEM_STATES = {"pending": _l("Waiting"), "voting": _l("Voting open"), "closed": _l("Decided")}
RESULTS = {"passed": _l("Passed"), "failed": _l("Not passed")}
# The criteria of the default policy; a policy may name others, shown by their code.
CRITERIA = {"need": _l("Need"), "housing": _l("Housing"), "health": _l("Health"),
            "labour": _l("Labour ability"), "testimony": _l("Consistency of testimonies")}
SOURCES = {"declared": _l("declared"), "register": _l("register of staff relatives")}
PROPOSAL_STATES = {"proposed": _l("proposed"), "confirmed": _l("confirmed"), "dismissed": _l("dismissed")}

# Survey words the review's table does not have yet (work status), for the case summary.
EXTRA_WORDS = {"retired": _l("retired"), "student": _l("student"), "farming": _l("farming"),
               "flexible": _l("flexible work")}


class _Table(dict):
    def __missing__(self, key):
        return "—" if key is None else key


def translated() -> SimpleNamespace:
    tables = {"category": CATEGORIES, "choice": CHOICES, "session": SESSION_STATES, "item": ITEM_STATES,
              "result": RESULTS, "criterion": CRITERIA, "source": SOURCES, "proposal": PROPOSAL_STATES}
    return SimpleNamespace(**{name: _Table({k: str(v) for k, v in table.items()}) for name, table in tables.items()})


def relation_label(code: str | None) -> str:
    from server.review.labels import WORDS

    return str(WORDS[code]) if code in WORDS else (code or "—")


def criterion_label(code: str) -> str:
    return str(CRITERIA[code]) if code in CRITERIA else code

