"""The triage measurement (bench/triage.py) holds its line: the default words on the sample
inbox and the made-up duty emails (tests/triage_set.py) do at least as well as when they were
tuned. A change that misses a safeguarding email, or hints on more of the others, fails here.

The limits are the figures reached, not padded; lower one when a change does better.
"""

from __future__ import annotations

import pytest

from bench.triage import Score, default_team, exactly_right, made_up_cases, measure, sample_cases
from tests.triage_set import MADE_UP, SAMPLE

CATEGORIES = ["financial", "accommodation"]

# (most missed, most false) for each hint and category, and the share of tasks whose
# categories are exactly right.
MADE_UP_LIMITS = {
    "safeguarding": (0, 5),  # 22 found; false: out-of-office, newsletter, training, ...
    "urgent": (6, 0),
    "financial": (0, 3),
    "accommodation": (0, 7),  # a flat named only as where someone lives counts
}
MADE_UP_EXACT = 0.90  # 85 of 94
SAMPLE_LIMITS = {
    "safeguarding": (0, 0),
    "urgent": (0, 0),
    "financial": (0, 1),  # 05: "budgeting sessions" are support, not a money request
    "accommodation": (0, 1),  # 07: a café placement is work, "stayed put" is background
}
SAMPLE_EXACT = 0.75  # 6 of 8


def worse(scores: dict[str, Score], limits: dict[str, tuple[int, int]]) -> list[str]:
    """One line for each hint or category past its limit, naming the emails."""
    out = []
    for key, (most_missed, most_false) in limits.items():
        s = scores[key]
        if len(s.missed) > most_missed:
            out.append(f"{key}: {len(s.missed)} missed (at most {most_missed}): {s.missed}")
        if len(s.false) > most_false:
            out.append(f"{key}: {len(s.false)} false (at most {most_false}): {s.false}")
    return out


def test_the_made_up_set_is_big_enough_and_well_formed() -> None:
    assert len(MADE_UP) >= 40
    names = [e.name for e in MADE_UP]
    assert len(set(names)) == len(names), "each email needs its own short name"
    for e in MADE_UP:
        assert set(e.truth.categories) <= set(CATEGORIES), e.name
        assert "example.org" in e.sender or "example." in e.sender, e.name  # fictional only
    assert sum(e.truth.safeguarding for e in MADE_UP) >= 15  # enough to measure misses on
    assert len(SAMPLE) == 8


def test_no_made_up_safeguarding_email_is_missed_and_few_others_hint() -> None:
    cases = made_up_cases(default_team())
    assert worse(measure(cases, CATEGORIES), MADE_UP_LIMITS) == []
    good, n = exactly_right(cases)
    assert good / n >= MADE_UP_EXACT, f"categories exactly right on {good} of {n}"


def test_the_sample_inbox_holds_its_line() -> None:
    cases = sample_cases(default_team())
    assert worse(measure(cases, CATEGORIES), SAMPLE_LIMITS) == []
    good, n = exactly_right(cases)
    assert good / n >= SAMPLE_EXACT, f"categories exactly right on {good} of {n}"


@pytest.mark.parametrize(
    ("name", "flag"),
    [("police-checks-new-job", "safeguarding"), ("missing-my-appointment", "safeguarding"),
     ("emergency-contact-update", "urgent"), ("catering-knife-kit", "safeguarding")],
)  # fmt: skip
def test_what_only_looks_alarming_makes_no_hint(name: str, flag: str) -> None:
    # The not-words at work: each of these once made a false hint.
    (case,) = [c for c in made_up_cases(default_team()) if c[0] == name]
    assert flag not in case[2].hints


def test_flat_pack_and_work_placement_are_not_homes() -> None:
    got = {name: found for name, _, found in made_up_cases(default_team())}
    assert "accommodation" not in got["flat-pack-wardrobe"].categories
    assert got["work-placement-boots"].categories == ("financial",)
