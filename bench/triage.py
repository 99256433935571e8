"""How well triage's words do: the safeguarding and urgent hints and the categories, on the
sample inbox (examples/inbox, 8 tasks) and on the made-up duty emails (tests/triage_set.py),
against the labels a duty worker gave them.

For each hint and category it prints right (true positives), missed (false negatives), false
(false positives) and right-nothing (true negatives), with the missed and false ones by short
name. Triage reads subject and body as intake does; a reply's words count for its task.

The goal, set before the word lists were tuned: no safeguarding task missed in either set,
and a false safeguarding hint on at most 1 in 5 of the tasks that are not safeguarding (a
person decides each hint, but a hint on every other email would be ignored).

    .venv/bin/python bench/triage.py [--config FILE]   # FILE: measure its first team's words
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, exit_code, header, verdict  # noqa: E402
from bot.kernel.config import TeamConfig, load_config  # noqa: E402
from bot.mail.parse import parse_email  # noqa: E402
from bot.tasks.triage import HINT_FLAGS, Triage, triage  # noqa: E402
from tests.triage_set import MADE_UP, SAMPLE, Labels  # noqa: E402

INBOX = ROOT / "examples" / "inbox"
MOST_FALSE_SAFEGUARDING = 0.2  # of the tasks that are not safeguarding

Case = tuple[str, Labels, Triage]  # short name, the truth, what triage found


@dataclass
class Score:
    """One hint or category over a set: the names in each box."""

    right: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)
    nothing: list[str] = field(default_factory=list)  # right to say nothing

    def add(self, name: str, truth: bool, said: bool) -> None:
        if truth:
            (self.right if said else self.missed).append(name)
        else:
            (self.false if said else self.nothing).append(name)


def default_team() -> TeamConfig:
    return TeamConfig(name="care-experienced", channel="C0DUTY", managers=["jo"])


def sample_cases(team: TeamConfig, inbox: Path = INBOX) -> list[Case]:
    """The sample inbox as tasks: a reply's triage is added to its first email's, as intake
    adds it to the task."""
    found: dict[str, Triage] = {}
    name_of: dict[str, str] = {}  # Message-ID -> the task's name
    for path in sorted(inbox.glob("*.eml")):
        mail = parse_email(path.read_bytes())
        got = triage(f"{mail.subject}\n{mail.body_text}", team)
        name = name_of.get(mail.in_reply_to or "", path.stem)
        name_of[mail.message_id] = name
        before = found.get(name, Triage())
        found[name] = Triage(
            tuple(dict.fromkeys(before.categories + got.categories)),
            {**got.hints, **before.hints},
        )
    assert set(found) == set(SAMPLE), f"label every sample task: {sorted(set(found) ^ set(SAMPLE))}"
    return [(name, SAMPLE[name], found[name]) for name in found]


def made_up_cases(team: TeamConfig) -> list[Case]:
    return [(e.name, e.truth, triage(e.text, team)) for e in MADE_UP]


def measure(cases: Iterable[Case], categories: Iterable[str]) -> dict[str, Score]:
    """A Score for each hint, then each category."""
    categories = list(categories)
    scores = {key: Score() for key in (*HINT_FLAGS, *categories)}
    for name, truth, got in cases:
        for flag in HINT_FLAGS:
            scores[flag].add(name, getattr(truth, flag), flag in got.hints)
        for cat in categories:
            scores[cat].add(name, cat in truth.categories, cat in got.categories)
    return scores


def exactly_right(cases: Iterable[Case]) -> tuple[int, int]:
    """(tasks whose categories are exactly the labelled ones, tasks)."""
    cases = list(cases)
    good = sum(set(got.categories) == set(truth.categories) for _, truth, got in cases)
    return good, len(cases)


def report(title: str, cases: list[Case], categories: list[str]) -> dict[str, Score]:
    scores = measure(cases, categories)
    print(f"{title} ({len(cases)} tasks):")
    for key, s in scores.items():
        print(
            f"  {key:<14} right {len(s.right):>2}  missed {len(s.missed):>2}  "
            f"false {len(s.false):>2}  right-nothing {len(s.nothing):>2}"
        )
        print(f"    missed: {', '.join(s.missed) or '-'}; false: {', '.join(s.false) or '-'}")
    good, n = exactly_right(cases)
    print(f"  categories exactly right: {good} of {n} ({good / n:.0%})")
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, help="measure this config's first team's words")
    args = ap.parse_args()
    team = load_config(args.config).team() if args.config else default_team()
    categories = [c.name for c in team.categories]

    header("triage: hints and categories against a duty worker's labels")
    words = "the config's words" if args.config else "the default words"
    print(f"with {words}; {len(MADE_UP)} made-up emails, {len(SAMPLE)} sample tasks")
    t0 = time.perf_counter()
    sample, made_up = sample_cases(team), made_up_cases(team)
    ms = (time.perf_counter() - t0) * 1000
    print(f"triage of both sets took {ms:.0f} ms (parsing the sample emails included)")
    scores = [
        report("sample inbox", sample, categories),
        report("made-up set", made_up, categories),
    ]

    missed = sum(len(s["safeguarding"].missed) for s in scores)
    false = sum(len(s["safeguarding"].false) for s in scores)
    others = sum(len(s["safeguarding"].false) + len(s["safeguarding"].nothing) for s in scores)
    met = verdict(
        "no safeguarding task missed; false safeguarding hints on at most 1 in 5 of the others",
        missed == 0 and false <= MOST_FALSE_SAFEGUARDING * others,
        f"{missed} missed, {false} false of {others}",
    )
    return exit_code(met)


if __name__ == "__main__":
    sys.exit(main())
