"""The panel's rules, directly (M12 Art 22–24, local rules; DESIGN "The case lifecycle"):
attendance ≥ ⅔ of the members, residents' representatives ≥ ⅔ of those present, a case
passes with ≥ ⅔ of those present and not recused voting for. Each ratio is a policy
setting; policies write ⅔ as 0.6667, which must still let exactly ⅔ through."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from server.panel.models import PanelMember
from server.panel.queries import needed, passes, quorum, ratio
from server.policy.settings import DEFAULT_SETTINGS, PolicySettings

RULES = PolicySettings.from_dict(DEFAULT_SETTINGS).panel


def panel(*seats: tuple[str, bool | None]) -> list[PanelMember]:
    return [PanelMember(id=i + 1, name=f"m{i}", category=c, present=p) for i, (c, p) in enumerate(seats)]


@pytest.mark.parametrize("written, exact", [
    ("0.6667", Fraction(2, 3)), ("0.667", Fraction(2, 3)), ("0.66667", Fraction(2, 3)), ("0.5", Fraction(1, 2)),
    ("0.75", Fraction(3, 4)), ("0.3333", Fraction(1, 3)), ("0.51", Fraction(51, 100)), ("0.8", Fraction(4, 5)),
    ("0.66", Fraction(66, 100)), ("1", Fraction(1)),
])
def test_a_ratio_as_policies_write_it_is_read_as_the_fraction_it_means(written, exact):
    assert ratio(Decimal(written)) == exact


@pytest.mark.parametrize("count, share, want", [
    (6, "0.6667", 4), (5, "0.6667", 4), (3, "0.6667", 2), (7, "0.6667", 5), (9, "0.6667", 6), (1, "0.6667", 1),
    (0, "0.6667", 0), (4, "0.5", 2), (5, "0.51", 3), (10, "0.66", 7),
])
def test_needed_is_the_least_count_reaching_the_share(count, share, want):
    assert needed(count, Decimal(share)) == want


@pytest.mark.parametrize("votes_for, eligible, result", [
    (4, 6, True),    # exactly ⅔
    (3, 6, False),
    (4, 5, True), (3, 5, False),
    (2, 3, True), (1, 3, False),
    (6, 9, True), (5, 9, False),
    (1, 1, True), (0, 1, False),
    (0, 0, False),   # nobody could vote: no decision of the panel
])
def test_a_case_passes_with_two_thirds_of_those_present_voting_for(votes_for, eligible, result):
    assert passes(votes_for, eligible, RULES) is result


def test_quorum_holds_with_two_thirds_present_and_two_thirds_of_them_representatives():
    q = quorum(panel(("cadre", True), ("police", False), ("resident_rep", True), ("resident_rep", True),
                     ("resident_rep", True), ("resident_rep", False)), RULES)
    assert q.ok and (q.present, q.present_needed, q.residents_present, q.residents_needed) == (4, 4, 3, 3)


def test_too_few_present_is_refused_with_the_numbers():
    q = quorum(panel(("cadre", True), ("police", True), ("resident_rep", True), ("resident_rep", False),
                     ("resident_rep", False), ("resident_rep", False)), RULES)
    assert not q.ok
    assert ("attendance", {"present": 3, "members": 6, "needed": 4}) in q.failures


def test_too_few_representatives_among_those_present_is_refused():
    q = quorum(panel(("cadre", True), ("police", True), ("resident_rep", True), ("resident_rep", True),
                     ("resident_rep", False), ("resident_rep", False)), RULES)
    assert q.failures == [("residents", {"residents": 2, "present": 4, "needed": 3})]


def test_attendance_not_taken_is_refused():
    q = quorum(panel(("cadre", True), ("resident_rep", None), ("resident_rep", True)), RULES)
    assert ("attendance_unrecorded", {"n": 1}) in q.failures
    assert not quorum([], RULES).ok


def test_the_rules_follow_the_policy():
    doc = {**DEFAULT_SETTINGS, "panel": {**DEFAULT_SETTINGS["panel"], "attendance_ratio": "0.5",
                                         "pass_ratio": "0.75"}}
    rules = PolicySettings.from_dict(doc).panel
    seats = panel(("cadre", True), ("resident_rep", True), ("resident_rep", True), ("resident_rep", False),
                  ("resident_rep", False), ("resident_rep", False))
    assert not quorum(seats, RULES).ok and quorum(seats, rules).ok  # 3 of 6 is half, not ⅔
    assert passes(4, 6, RULES) and not passes(4, 6, rules)  # ⅔ is not ¾
