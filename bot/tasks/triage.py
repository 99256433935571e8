"""Triage: which categories a new task is in (financial, accommodation, ...) and whether its
words hint at safeguarding or urgency. Read from the whole email (or a logged contact's
summary) before redaction; only the category names and the hint words are kept.

A hint is not a flag: the card says "Possible safeguarding (overdose)" and a person decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from bot.kernel.config import TeamConfig

HINT_FLAGS = ("safeguarding", "urgent")
MONEY = r"£\s?\d[\d,]*(?:\.\d+)?"  # "£" in a word list stands for an amount: £45, £ 420


@dataclass(frozen=True)
class Triage:
    categories: tuple[str, ...] = ()
    hints: dict[str, list[str]] = field(default_factory=dict)  # flag -> the words found


Sorter = Callable[[str], Triage]  # text -> its categories and hints


def _piece(word: str) -> str:
    """One word of a phrase as a pattern. "*" alone is any one word ("end * life"); a word
    ending in "*" takes any ending ("bruis*": bruise, bruising), so one entry covers a word's
    forms. An apostrophe may be straight, curly or left out, as people type it."""
    if word == "*":
        return r"[\w'’-]+"
    stem, any_ending = (word[:-1], r"\w*") if word.endswith("*") else (word, "")
    return re.escape(stem).replace("'", "['’]?") + any_ending


@lru_cache(maxsize=256)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words or phrases, any case, any spacing; "£" for an amount of money."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        if word.strip() == "£":
            parts.append(MONEY)
        else:
            parts.append(r"\s+".join(_piece(w) for w in word.replace("’", "'").split()))
    return re.compile(rf"(?<![\w£])(?:{'|'.join(parts)})(?![\w])", re.IGNORECASE)


def found(text: str, words: list[str], not_words: list[str] | None = None) -> list[str]:
    """The words of ``words`` in ``text``, each once, in the order they first appear.

    A phrase of ``not_words`` is taken out of the text first, so the words inside it don't
    count there: with "police checks" a not-word, "police checks for my new job" hints at
    nothing, while "the police came round" still does."""
    words = [w for w in words if w.strip()]  # a blank entry would match everywhere
    if not words or not text:
        return []
    if unsaid := [w for w in not_words or () if w.strip()]:
        text = _pattern(tuple(unsaid)).sub(" ", text)
    seen: dict[str, None] = {}
    for m in _pattern(tuple(words)).finditer(text):
        said = " ".join(m.group(0).lower().replace("’", "'").split())
        seen.setdefault("£" if said.startswith("£") else said, None)
    return list(seen)


def sorter(team: TeamConfig) -> Sorter:
    return lambda text: triage(text, team)


def triage(text: str, team: TeamConfig) -> Triage:
    categories = tuple(c.name for c in team.categories if found(text, c.words, c.not_words))
    unsaid = team.hints.not_words
    hints = {
        flag: words
        for flag in HINT_FLAGS
        if (words := found(text, getattr(team.hints, flag), getattr(unsaid, flag)))
    }
    return Triage(categories, hints)
