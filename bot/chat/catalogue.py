"""The catalogue: every interaction, declared once, in its domain's commands file.

An entry (a `Verb`) says the verb, its syntax, what it does, one example, its help group, who
may use it, how its words are read and what runs it; a verb with a form also says the form.
`/duty` lines, buttons and form submissions from every chat all become a call on an entry
(see bot/chat/calls.py), and `/duty help` and the README's command list come from here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

from bot.chat.words import FALLBACK, Bad, Words, show, tokens
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message, text
from bot.kernel.roles import ANYONE, Allowed

S = TypeVar("S")  # the team's domain object a verb runs on (its tasks, its rota, ...)
A = TypeVar("A")  # the verb's arguments, as read from its words or its form

# "note": a line the form shows and takes nothing from (its text is ``initial``)
FieldKind = Literal["text", "long_text", "choice", "checks", "date", "people", "note"]
FormValues = Mapping[str, Any]  # field name -> str | list[str] | None


@dataclass(frozen=True)
class Field:
    """One input of a form. Adapters draw it; its value comes back under ``name``."""

    name: str
    label: str
    kind: FieldKind
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()  # (value, label), for choice and checks
    most: int = 10  # people: how many may be picked
    longest: int = 2000  # text: how many characters
    initial: str = ""  # text: what it starts with


@dataclass(frozen=True)
class Form:
    title: str
    submit: str
    fields: tuple[Field, ...]

    def filled(self, initial: Mapping[str, str]) -> Form:
        """This form with text fields started from ``initial`` (cut to fit)."""
        fields = tuple(
            replace(f, initial=initial[f.name][: f.longest]) if f.name in initial else f
            for f in self.fields
        )
        return replace(self, fields=fields)


@dataclass(frozen=True, kw_only=True)
class Verb(Generic[S, A]):
    name: str  # "claim", "case add"
    syntax: str  # "/duty claim N"
    does: str  # "take task N"
    example: str  # "/duty claim 42"
    group: str  # "Tasks"
    who: Allowed
    on: type[S]
    read: Callable[[Words], A]
    run: Callable[[S, str, A], Message]  # (domain object, actor, arguments) -> reply
    aliases: tuple[str, ...] = ()
    only_in: Literal["shell"] | None = None  # the one place it works, if it has one
    elsewhere: str = ""  # the refusal anywhere else
    form: Callable[[TeamConfig, str], Form] | None = None  # what a button opens (args: "42")
    fill: Callable[[S, str, Form], Form] | None = None  # the form with what the team knows
    from_form: Callable[[str, FormValues], A] | None = None
    quiet_button: bool = False  # from a card's button or form, the redrawn card is the answer
    needs: tuple[str, ...] = ()  # lines a manager runs first so the example works (its test)
    listed: bool = True  # in /duty help

    @property
    def usage(self) -> str:
        return f"{self.syntax} — {self.does}"

    def words(self, words: Sequence[str]) -> Words:
        return Words(self.name, self.example, words)


@dataclass(frozen=True)
class Call:
    """A verb with its arguments, ready to run."""

    verb: Verb[Any, Any]
    args: Any


@dataclass(frozen=True)
class Invalid:
    """Text that is not a command. ``message`` is one line: the problem and what to type."""

    message: str


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass
class Catalogue:
    """Every verb, in help order. ``topics`` are extra names for help topics ("tasks")."""

    verbs: Sequence[Verb[Any, Any]]
    topics: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.verbs = (*self.verbs, self._help_verb())
        self._by_name: dict[str, Verb[Any, Any]] = {}
        for verb in self.verbs:
            for name in (verb.name, *verb.aliases):
                if name in self._by_name:
                    raise ValueError(f"two verbs are called '{name}'")
                self._by_name[name] = verb
        self.groups: dict[str, list[Verb[Any, Any]]] = {}
        for verb in self.listed():
            self.groups.setdefault(verb.group, []).append(verb)

    def listed(self) -> list[Verb[Any, Any]]:
        return [v for v in self.verbs if v.listed]

    def verb(self, name: str) -> Verb[Any, Any] | None:
        return self._by_name.get(" ".join(name.lower().split()))

    # ---- reading a line ---------------------------------------------------------------

    def read(self, line: str) -> Call | Invalid:
        """Read `/duty ...` text (with or without "/duty"). Never raises: anything unreadable
        comes back as ``Invalid`` with a one-line message."""
        try:
            if not isinstance(line, str):
                return Invalid(FALLBACK)
            words = tokens(line)
            if words and words[0].lower() == "/duty":
                words = words[1:]
            verb, rest = self._find(words)
            return Call(verb, verb.read(verb.words(rest)))
        except Bad as bad:
            return Invalid(" ".join(str(bad).split()) or FALLBACK)
        except Exception:  # a bug must not break the chat; the message carries no user text
            return Invalid(FALLBACK)

    def _find(self, words: Sequence[str]) -> tuple[Verb[Any, Any], list[str]]:
        """The verb the words start with (the longest name that fits), and the words after."""
        if not words:
            return self.verbs[-1], []  # nothing typed: help
        low = [w.lower() for w in words]
        for n in range(min(3, len(low)), 0, -1):
            verb = self._by_name.get(" ".join(low[:n]))
            if verb is not None:
                return verb, list(words[n:])
        first = low[0]
        under = [v.name for v in self.listed() if v.name.startswith(first + " ")]
        if under:  # "case" alone, or "case" with a word no case verb has
            group = self._by_name[under[0]].group.lower()
            if len(words) == 1:
                raise Bad(f"'/duty {first}' needs what to do. Try: /duty help {group}")
            raise Bad(self._unknown(f"{first} {low[1]}", under, f"{first} {words[1]}"))
        tops = [v.name for v in self.listed() if " " not in v.name]
        raise Bad(self._unknown(first, tops, words[0]))

    def _unknown(self, word: str, candidates: Sequence[str], shown: str) -> str:
        """'I don't know X' plus the closest command, if one is close enough."""
        match = difflib.get_close_matches(word, candidates, n=1)
        hint = f"Did you mean: {self._by_name[match[0]].syntax}" if match else "Try: /duty help"
        return f"I don't know '{show(shown)}'. {hint}"

    # ---- help -------------------------------------------------------------------------

    def topic(self, asked: str | None) -> str | None:
        """A help topic as a verb name or a group name, or None if there is no such topic."""
        if asked is None:
            return None
        words = asked.lower().split()
        if words and words[0] == "/duty":
            words = words[1:]
        key = " ".join(words)
        key = self.topics.get(key, key)
        verb = self._by_name.get(key)
        if verb is not None and verb.listed:
            return verb.name
        groups = {g.lower(): g for g in self.groups}
        return groups.get(key)

    def help_text(self, asked: str | None = None) -> str:
        """Plain help: every command grouped, one group, or one command. Never raises."""
        key = self.topic(asked)
        verb = self._by_name.get(key or "")
        if verb is not None and key not in self.groups:
            return f"{verb.usage}\nFor example: {verb.example}"
        groups = [key] if key in self.groups else list(self.groups)
        lines = ["Duty bot commands. N is a task number (42 or #42); REF is a case reference."]
        for group in groups:
            lines += ["", f"{group}:", *(f"  {v.usage}" for v in self.groups[group])]
        return "\n".join(lines)

    def _read_help(self, words: Words) -> Help:
        if not words:
            return Help(None)
        asked = words.text()
        key = self.topic(asked)
        if key is not None:
            return Help(key.lower() if key in self.groups else key)
        names = [v.name for v in self.listed()]
        match = difflib.get_close_matches(asked.lower(), names, n=1)
        hint = f"Did you mean: /duty help {match[0]}" if match else "Try: /duty help"
        raise Bad(f"I don't have help on '{show(asked)}'. {hint}")

    def _help_verb(self) -> Verb[Catalogue, Help]:
        return Verb(
            name="help", syntax="/duty help [command]", does="this list, or help on one command",
            example="/duty help claim", group="Day", who=ANYONE, on=Catalogue,
            read=self._read_help, run=lambda cat, actor, a: text(cat.help_text(a.topic)),
            aliases=("?",),
        )  # fmt: skip


def catalogue_of(domains: Iterable[Sequence[Verb[Any, Any]]], **topics: str) -> Catalogue:
    return Catalogue([v for verbs in domains for v in verbs], topics)
