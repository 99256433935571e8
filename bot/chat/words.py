"""Reading the words of a `/duty` line. Each domain's commands file reads its own verb's words
with these; any problem is one plain line naming the verb and its example."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from bot.kernel.clean import tidy
from bot.kernel.when import WhenError, read_date

T = TypeVar("T")

FALLBACK = "Sorry, I couldn't read that. Try /duty help"
MAX_TASK_NUMBER = 10**9

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^<>]*)?>", re.ASCII)
_AT_NAME = re.compile(r"@([\w.\-]+(?:@[\w\-]+(?:\.[\w\-]+)+)?)")  # @sam, @sam@council.example
_SLACK_ID = re.compile(r"[UW][A-Z0-9]{6,}", re.ASCII)
_TASK_NUMBER = re.compile(r"#?([0-9]{1,12})", re.ASCII)
_CASE_REF = re.compile(r"#?([A-Za-z0-9][A-Za-z0-9/_.\-]{0,39})", re.ASCII)
_TOKENS = re.compile(r"<@[A-Za-z0-9]+\|[^<>\r\n]*>|\S+")


class Bad(Exception):
    """Words that don't make a command; the message is the one line to answer with."""


def show(text: str, limit: int = 40) -> str:
    """User text to quote back in a message: one line, not too long."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def tokens(text: str) -> list[str]:
    """Split on whitespace, keeping a Slack mention such as <@U1|sam smith> as one word."""
    return [" ".join(t.split()) for t in _TOKENS.findall(text)]


def person_of(word: str) -> str | None:
    """A Slack user id, @name or @work-email (Teams may name people so) from one word, or
    None if the word isn't a person."""
    word = word.rstrip(",;:")
    if m := _MENTION.fullmatch(word):
        return m[1]
    if m := _AT_NAME.fullmatch(word):
        return m[1]
    # A bare id must contain a digit, so a shouted word like "URGENTLY" is not a person.
    if _SLACK_ID.fullmatch(word) and any(c.isdigit() for c in word):
        return word
    return None


def iso_date(word: str, use: str) -> str:
    """A date as YYYY-MM-DD; ``use`` is the "Use: ..." hint added to a complaint."""
    try:
        return read_date(word).isoformat()
    except WhenError as err:
        raise Bad(f"{err} {use}") from None


class Words:
    """The words after a verb, taken from the left."""

    def __init__(self, verb: str, example: str, words: Sequence[str]) -> None:
        self.verb = verb
        self.example = example
        self.rest = list(words)

    @property
    def use(self) -> str:
        return f"Use: {self.example}"

    def __bool__(self) -> bool:
        return bool(self.rest)

    def peek(self) -> str:
        return self.rest[0] if self.rest else ""

    def take(self) -> str:
        return self.rest.pop(0)

    def needs(self, what: str) -> Bad:
        return Bad(f"'/duty {self.verb}' needs {what}, like: {self.example}")

    def number(self) -> int:
        """The task number that must come next."""
        if not self.rest:
            raise self.needs("a task number")
        word = self.take()
        m = _TASK_NUMBER.fullmatch(word)
        number = int(m[1]) if m else 0
        if not 1 <= number <= MAX_TASK_NUMBER:
            raise Bad(f"'{show(word)}' isn't a task number. {self.use}")
        return number

    def ref(self) -> str:
        """The case reference that must come next, upper-cased."""
        if not self.rest:
            raise self.needs("a case reference")
        word = self.take()
        m = _CASE_REF.fullmatch(word)
        if not m or person_of(word) is not None:
            raise Bad(f"'{show(word)}' isn't a case reference. {self.use}")
        if not any(ch.isdigit() for ch in m[1]):
            # Not echoed back: it may be a child's name, and only references belong in chat.
            raise Bad(f"A case reference has a number in it (never a name). {self.use}")
        return m[1].upper()

    def person(self, what: str = "a person") -> str:
        """A person (after an optional "to") that must come next."""
        if self.peek().lower() == "to":
            self.take()
        if not self.rest:
            raise self.needs(what)
        word = self.take()
        user = person_of(word)
        if user is None:
            raise Bad(f"'{show(word)}' isn't a person; mention them with @. {self.use}")
        return user

    def people(self) -> list[str]:
        """The people that come next, each once, in order (maybe none)."""
        found: list[str] = []
        while self.rest and (user := person_of(self.rest[0])) is not None:
            if user not in found:
                found.append(user)
            self.take()
        return found

    def text(self) -> str:
        """The rest, as the user wrote it (spaces tidied, control and direction characters
        gone, as from an email); "" if nothing is left."""
        out = " ".join(tidy(" ".join(self.rest)).split())
        self.rest = []
        return out

    def needs_text(self, what: str) -> str:
        if not self.rest:
            raise self.needs(what)
        return self.text()

    def date(self) -> str:
        return iso_date(self.take(), self.use)

    def choice(self, options: dict[str, T], what: str) -> T:
        """The next word, one of ``options`` (lower-cased keys)."""
        word = self.take()
        value = options.get(word.lower())
        if value is None:
            raise Bad(f"'{show(word)}' isn't {what}. {self.use}")
        return value

    def done(self) -> None:
        """Nothing more may follow."""
        if self.rest:
            raise Bad(f"'/duty {self.verb}' doesn't take '{show(' '.join(self.rest))}'. {self.use}")
