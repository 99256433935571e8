"""The `/duty` command language, shared by the Slack slash command and the shell chat.

This module only turns text into typed command objects. It does not run them, check roles
or touch the database, and it never raises: anything it cannot read becomes ``Invalid``
with one plain line saying what was wrong and what to type instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from bot.kernel.when import WhenError, read_date, split_when

__all__ = [
    "Alert", "Assign", "CaseAdd", "CaseAllocate", "CaseClose", "CaseLetter", "CaseList",
    "CaseRate", "CaseReview", "CaseSeen", "CaseShow", "CaseSummary", "Claim", "Clock", "Command",
    "Flag", "FollowUp", "Handover", "Help", "Invalid", "List", "Note", "Reopen", "Resolve",
    "Rota", "RotaSet", "Show", "Unclaim", "USAGE", "help_text", "parse_command",
]  # fmt: skip

ListScope = Literal["open", "mine", "all"]
FlagName = Literal["urgent", "safeguarding"]
Role = Literal["manager", "pa1", "pa2", "backup"]
Ray = Literal["red", "amber", "yellow"]
CaseFilter = Literal["red", "amber", "yellow", "overdue", "mine"]
SeenWhat = Literal["contact", "visit"]

MAX_TASK_NUMBER = 10**9


# --- commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class List:
    scope: ListScope = "open"


@dataclass(frozen=True)
class Show:
    number: int


@dataclass(frozen=True)
class Claim:
    number: int


@dataclass(frozen=True)
class Unclaim:
    number: int


@dataclass(frozen=True)
class Assign:
    number: int
    user: str


@dataclass(frozen=True)
class Resolve:
    number: int
    note: str = ""


@dataclass(frozen=True)
class Reopen:
    number: int
    why: str = ""


@dataclass(frozen=True)
class Alert:
    number: int
    users: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Flag:
    number: int
    flag: FlagName
    on: bool = True


@dataclass(frozen=True)
class Note:
    number: int
    text: str


@dataclass(frozen=True)
class FollowUp:
    number: int
    when: str  # still text: the executor reads it with bot.when.parse_when at run time
    note: str = ""


@dataclass(frozen=True)
class Handover:
    post: bool = False


@dataclass(frozen=True)
class Rota:
    pass


@dataclass(frozen=True)
class RotaSet:
    when: str  # "2026-12-01", "mon".."fri" or "weekly mon"
    assignments: tuple[tuple[Role, str], ...]  # in role order: manager, pa1, pa2, backup


@dataclass(frozen=True)
class Clock:
    spec: str  # "+2h", "+30m", "+1d" or "2026-12-24 16:30"


@dataclass(frozen=True)
class CaseAdd:
    ref: str
    ray: Ray | None = None
    manager: str | None = None
    since: str | None = None  # ISO date


@dataclass(frozen=True)
class CaseRate:
    ref: str
    ray: Ray
    why: str = ""


@dataclass(frozen=True)
class CaseReview:
    ref: str
    note: str


@dataclass(frozen=True)
class CaseSummary:
    ref: str


@dataclass(frozen=True)
class CaseAllocate:
    ref: str
    user: str


@dataclass(frozen=True)
class CaseClose:
    ref: str
    why: str


@dataclass(frozen=True)
class CaseList:
    filter: CaseFilter | None = None


@dataclass(frozen=True)
class CaseShow:
    ref: str


@dataclass(frozen=True)
class CaseSeen:
    ref: str
    what: SeenWhat
    date: str | None = None  # ISO date; None means today


@dataclass(frozen=True)
class CaseLetter:
    ref: str
    date: str | None = None  # ISO date; None means today


@dataclass(frozen=True)
class Invalid:
    """Text that is not a command. ``message`` is one line: the problem and what to type."""

    message: str


Command: TypeAlias = (
    Help | List | Show | Claim | Unclaim | Assign | Resolve | Reopen | Alert | Flag | Note
    | FollowUp | Handover | Rota | RotaSet | Clock | CaseAdd | CaseRate | CaseReview
    | CaseSummary | CaseAllocate | CaseClose | CaseList | CaseShow | CaseSeen | CaseLetter
)  # fmt: skip


# --- usage and help -----------------------------------------------------------------------

USAGE: dict[str, str] = {
    "list": "/duty list [open|mine|all] — list tasks (open ones by default)",
    "show": "/duty show N — show task N",
    "claim": "/duty claim N — take task N",
    "unclaim": "/duty unclaim N — put task N back as open",
    "assign": "/duty assign N @person — give task N to someone",
    "resolve": "/duty resolve N [note] — mark task N done",
    "reopen": "/duty reopen N [why] — reopen a resolved task",
    "alert": "/duty alert N @person [@person…] [note] — alert people about task N",
    "flag": "/duty flag N urgent|safeguarding — flag task N",
    "unflag": "/duty unflag N urgent|safeguarding — take a flag off task N",
    "note": "/duty note N text — add a note to task N",
    "followup": "/duty followup N WHEN [note] — agree a follow-up "
    "(WHEN: tomorrow 10:00, in 3 days, fri 14:00, 2026-12-01 09:30)",
    "handover": "/duty handover [post] — preview today's handover, or post it",
    "rota": "/duty rota — show today's rota",
    "rota set": "/duty rota set DAY manager @a pa1 @b pa2 @c backup @d — set the rota "
    "(DAY: 2026-12-01, mon…fri or weekly mon)",
    "clock": "/duty clock +2h|+30m|+1d|2026-12-24 16:30 — move the clock (shell and demo only)",
    "help": "/duty help [command] — this list, or help on one command",
    "case add": "/duty case add REF [red|amber|yellow] [@manager] [since DATE] "
    "— add an unallocated case",
    "case rate": "/duty case rate REF red|amber|yellow [why] — set or review the RAY rating",
    "case review": "/duty case review REF note — record a manager review",
    "case summary": "/duty case summary REF — record that the case summary is done",
    "case allocate": "/duty case allocate REF @worker — allocate the case to a worker",
    "case close": "/duty case close REF why — close the case",
    "case list": "/duty case list [red|amber|yellow|overdue|mine] — list unallocated cases",
    "case show": "/duty case show REF — show a case",
    "case seen": "/duty case seen REF contact|visit [DATE] — record a contact or visit "
    "(today if no date)",
    "case letter": "/duty case letter REF [DATE] — record the letter to family and agencies "
    "(today if no date)",
}

# A filled-in example for each command, used in error messages.
_EXAMPLE: dict[str, str] = {
    "list": "/duty list mine",
    "show": "/duty show 42",
    "claim": "/duty claim 42",
    "unclaim": "/duty unclaim 42",
    "assign": "/duty assign 42 @sam",
    "resolve": "/duty resolve 42 called back, all sorted",
    "reopen": "/duty reopen 42 family rang again",
    "alert": "/duty alert 42 @sam please call the carer",
    "flag": "/duty flag 42 urgent",
    "unflag": "/duty unflag 42 urgent",
    "note": "/duty note 42 left a voicemail",
    "followup": "/duty followup 42 tomorrow 10:00 call the landlord back",
    "handover": "/duty handover post",
    "rota": "/duty rota",
    "rota set": "/duty rota set mon manager @sam pa1 @jo pa2 @kim backup @lee",
    "clock": "/duty clock +2h",
    "help": "/duty help claim",
    "case add": "/duty case add C1234 amber @sam since 2026-11-02",
    "case rate": "/duty case rate C1234 red missed two visits",
    "case review": "/duty case review C1234 plan agreed with school",
    "case summary": "/duty case summary C1234",
    "case allocate": "/duty case allocate C1234 @jo",
    "case close": "/duty case close C1234 moved out of area",
    "case list": "/duty case list overdue",
    "case show": "/duty case show C1234",
    "case seen": "/duty case seen C1234 visit 2026-12-01",
    "case letter": "/duty case letter C1234 2026-12-01",
}

_GROUPS: dict[str, tuple[str, ...]] = {
    "Tasks": (
        "list", "show", "claim", "unclaim", "assign", "resolve", "reopen", "alert", "flag",
        "unflag", "note", "followup",
    ),
    "Day": ("handover", "rota", "rota set", "clock", "help"),
    "Cases": (
        "case add", "case list", "case show", "case rate", "case review", "case summary",
        "case seen", "case letter", "case allocate", "case close",
    ),
}  # fmt: skip

_TOPIC_ALIASES = {
    "follow-up": "followup",
    "tasks": "Tasks",
    "task": "Tasks",
    "day": "Day",
    "case": "Cases",
    "cases": "Cases",
}


def _topic_key(topic: str | None) -> str | None:
    """A help topic as a USAGE key or a group name, or None if we don't know it."""
    if topic is None:
        return None
    words = topic.lower().split()
    if words and words[0] == "/duty":
        words = words[1:]
    key = " ".join(words)
    key = _TOPIC_ALIASES.get(key, key)
    return key if key in USAGE or key in _GROUPS else None


def help_text(topic: str | None = None) -> str:
    """Plain help: every command grouped, one group, or one command. Never raises."""
    key = _topic_key(topic)
    if key in USAGE:
        return f"{USAGE[key]}\nFor example: {_EXAMPLE[key]}"
    groups = [key] if key in _GROUPS else list(_GROUPS)
    lines = ["Duty bot commands. N is a task number (42 or #42); REF is a case reference."]
    for group in groups:
        lines.append("")
        lines.append(f"{group}:")
        lines.extend(f"  {USAGE[verb]}" for verb in _GROUPS[group])
    return "\n".join(lines)


# --- reading words ----------------------------------------------------------------------------


class _Bad(Exception):
    """Raised inside the parser; becomes Invalid(message)."""


_FALLBACK = "Sorry, I couldn't read that. Try /duty help"
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^<>]*)?>", re.ASCII)
_AT_NAME = re.compile(r"@([\w.\-]+)")
_SLACK_ID = re.compile(r"[UW][A-Z0-9]{6,}", re.ASCII)
_TASK_NUMBER = re.compile(r"#?([0-9]{1,12})", re.ASCII)
_CASE_REF = re.compile(r"#?([A-Za-z0-9][A-Za-z0-9/_.\-]{0,39})", re.ASCII)
_TOKENS = re.compile(r"<@[A-Za-z0-9]+\|[^<>\r\n]*>|\S+")
_RAYS: dict[str, Ray] = {
    "red": "red", "r": "red", "amber": "amber", "a": "amber", "yellow": "yellow", "y": "yellow",
}  # fmt: skip
_ROLES: dict[str, Role] = {
    "manager": "manager", "dm": "manager", "pa1": "pa1", "pa2": "pa2", "backup": "backup",
    "back-up": "backup",
}  # fmt: skip
_ROLE_ORDER: tuple[Role, ...] = ("manager", "pa1", "pa2", "backup")
_ROTA_DAYS = {
    "mon": "mon", "monday": "mon", "tue": "tue", "tues": "tue", "tuesday": "tue",
    "wed": "wed", "wednesday": "wed", "thu": "thu", "thur": "thu", "thurs": "thu",
    "thursday": "thu", "fri": "fri", "friday": "fri",
}  # fmt: skip
_CLOCK_STEP = re.compile(r"\+([0-9]{1,5})([mhd])", re.ASCII)
_CLOCK_AT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ t]([0-9]{1,2}):([0-9]{2})", re.ASCII)


def _show(text: str, limit: int = 40) -> str:
    """User text to quote back in a message: one line, not too long."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _tokens(text: str) -> list[str]:
    """Split on whitespace, keeping a Slack mention such as <@U1|sam smith> as one word."""
    return [" ".join(t.split()) for t in _TOKENS.findall(text)]


def _user(word: str) -> str | None:
    """A Slack user id or @name from one word, or None if the word isn't a person."""
    word = word.rstrip(",;:")
    if m := _MENTION.fullmatch(word):
        return m[1]
    if m := _AT_NAME.fullmatch(word):
        return m[1]
    # A bare id must contain a digit, so a shouted word like "URGENTLY" is not a person.
    if _SLACK_ID.fullmatch(word) and any(c.isdigit() for c in word):
        return word
    return None


def _syntax(key: str) -> str:
    return USAGE[key].split(" — ")[0]


def _use(key: str) -> str:
    return f"Use: {_EXAMPLE[key]}"


def _number(args: Sequence[str], key: str) -> tuple[int, list[str]]:
    """The task number that must come first in ``args``, and the words after it."""
    if not args:
        raise _Bad(f"'/duty {key}' needs a task number, like: {_EXAMPLE[key]}")
    m = _TASK_NUMBER.fullmatch(args[0])
    number = int(m[1]) if m else 0
    if not 1 <= number <= MAX_TASK_NUMBER:
        raise _Bad(f"'{_show(args[0])}' isn't a task number. {_use(key)}")
    return number, list(args[1:])


def _ref(args: Sequence[str], key: str) -> tuple[str, list[str]]:
    """The case reference that must come first in ``args`` (upper-cased), and the rest."""
    if not args:
        raise _Bad(f"'/duty {key}' needs a case reference, like: {_EXAMPLE[key]}")
    m = _CASE_REF.fullmatch(args[0])
    if not m or _user(args[0]) is not None:
        raise _Bad(f"'{_show(args[0])}' isn't a case reference. {_use(key)}")
    if not any(ch.isdigit() for ch in m[1]):
        # Not echoed back: it may be a child's name, and only references belong in chat.
        raise _Bad(f"A case reference has a number in it (never a name). {_use(key)}")
    return m[1].upper(), list(args[1:])


def _nothing_more(rest: Sequence[str], key: str) -> None:
    if rest:
        raise _Bad(f"'/duty {key}' doesn't take '{_show(' '.join(rest))}'. {_use(key)}")


def _needs_text(rest: Sequence[str], key: str, what: str) -> str:
    if not rest:
        raise _Bad(f"'/duty {key}' needs {what}, like: {_EXAMPLE[key]}")
    return " ".join(rest)


def _person(args: Sequence[str], key: str, what: str = "a person") -> tuple[str, list[str]]:
    """A person (after an optional "to") at the start of ``args``, and the rest."""
    if args and args[0].lower() == "to":
        args = args[1:]
    if not args:
        raise _Bad(f"'/duty {key}' needs {what}, like: {_EXAMPLE[key]}")
    user = _user(args[0])
    if user is None:
        raise _Bad(f"'{_show(args[0])}' isn't a person; mention them with @. {_use(key)}")
    return user, list(args[1:])


def _iso_date(word: str, key: str) -> str:
    try:
        return read_date(word).isoformat()
    except WhenError as err:
        raise _Bad(f"{err} {_use(key)}") from None


def _choice(word: str, options: dict[str, str], key: str, what: str) -> str:
    value = options.get(word.lower())
    if value is None:
        raise _Bad(f"'{_show(word)}' isn't {what}. {_use(key)}")
    return value


# --- task commands --------------------------------------------------------------------------


def _help(args: Sequence[str]) -> Command:
    if not args:
        return Help(None)
    topic = " ".join(args)
    key = _topic_key(topic)
    if key is not None:
        return Help(key.lower() if key in _GROUPS else key)
    match = difflib.get_close_matches(topic.lower(), list(USAGE), n=1)
    hint = f"Did you mean: /duty help {match[0]}" if match else "Try: /duty help"
    raise _Bad(f"I don't have help on '{_show(topic)}'. {hint}")


def _list(args: Sequence[str]) -> Command:
    if not args:
        return List("open")
    _nothing_more(args[1:], "list")
    scopes: dict[str, ListScope] = {"open": "open", "mine": "mine", "all": "all"}
    scope = scopes.get(args[0].lower())
    if scope is None:
        raise _Bad(f"'{_show(args[0])}' isn't a list. Use: /duty list open, mine or all")
    return List(scope)


def _just_number(cls: Callable[[int], Command], key: str) -> Callable[[Sequence[str]], Command]:
    def parse(args: Sequence[str]) -> Command:
        number, rest = _number(args, key)
        _nothing_more(rest, key)
        return cls(number)

    return parse


def _assign(args: Sequence[str]) -> Command:
    number, rest = _number(args, "assign")
    user, rest = _person(rest, "assign")
    _nothing_more(rest, "assign")
    return Assign(number, user)


def _resolve(args: Sequence[str]) -> Command:
    number, rest = _number(args, "resolve")
    return Resolve(number, " ".join(rest))


def _reopen(args: Sequence[str]) -> Command:
    number, rest = _number(args, "reopen")
    return Reopen(number, " ".join(rest))


def _alert(args: Sequence[str]) -> Command:
    number, rest = _number(args, "alert")
    users: list[str] = []
    while rest and (user := _user(rest[0])) is not None:
        if user not in users:
            users.append(user)
        rest = rest[1:]
    if not users:
        raise _Bad(f"'/duty alert' needs at least one @person, like: {_EXAMPLE['alert']}")
    return Alert(number, tuple(users), " ".join(rest))


_FLAGS: dict[str, FlagName] = {
    "urgent": "urgent", "safeguarding": "safeguarding", "safeguard": "safeguarding",
    "sg": "safeguarding",
}  # fmt: skip


def _flag_parser(on: bool) -> Callable[[Sequence[str]], Command]:
    key = "flag" if on else "unflag"

    def parse(args: Sequence[str]) -> Command:
        number, rest = _number(args, key)
        if not rest:
            raise _Bad(f"'/duty {key}' needs urgent or safeguarding, like: {_EXAMPLE[key]}")
        flag = _FLAGS.get(rest[0].lower())
        if flag is None:
            raise _Bad(f"'{_show(rest[0])}' isn't a flag; use urgent or safeguarding. {_use(key)}")
        _nothing_more(rest[1:], key)
        return Flag(number, flag, on)

    return parse


def _note(args: Sequence[str]) -> Command:
    number, rest = _number(args, "note")
    return Note(number, _needs_text(rest, "note", "some text"))


def _followup(args: Sequence[str]) -> Command:
    number, rest = _number(args, "followup")
    if not rest:
        raise _Bad(f"'/duty followup' needs a time, like: {_EXAMPLE['followup']}")
    try:
        when, note = split_when(rest)
    except WhenError as err:
        raise _Bad(str(err)) from None
    return FollowUp(number, when, note)


# --- day commands ----------------------------------------------------------------------------


def _handover(args: Sequence[str]) -> Command:
    if not args:
        return Handover(post=False)
    _nothing_more(args[1:], "handover")
    word = args[0].lower()
    if word in ("post", "send"):
        return Handover(post=True)
    if word in ("preview", "show"):
        return Handover(post=False)
    raise _Bad(f"'/duty handover' doesn't take '{_show(args[0])}'. {_use('handover')}")


def _rota(args: Sequence[str]) -> Command:
    if args and args[0].lower() == "set":
        return _rota_set(args[1:])
    _nothing_more(args, "rota")
    return Rota()


def _rota_day(args: Sequence[str]) -> tuple[str, list[str]]:
    key = "rota set"
    if not args:
        raise _Bad(f"'/duty rota set' needs a day, like: {_EXAMPLE[key]}")
    first = args[0].lower()
    if first == "weekly":
        if len(args) < 2 or args[1].lower() not in _ROTA_DAYS:
            raise _Bad(f"'weekly' needs a weekday from mon to fri. {_use(key)}")
        return f"weekly {_ROTA_DAYS[args[1].lower()]}", list(args[2:])
    if first in _ROTA_DAYS:
        return _ROTA_DAYS[first], list(args[1:])
    if first in ("sat", "saturday", "sun", "sunday"):
        raise _Bad(f"The rota covers working days, mon to fri. {_use(key)}")
    return _iso_date(args[0], key), list(args[1:])


def _rota_set(args: Sequence[str]) -> Command:
    key = "rota set"
    when, rest = _rota_day(args)
    found: dict[Role, str] = {}
    while rest:
        word = rest.pop(0)
        # "manager @sam" or "manager=@sam"
        name, sep, value = word.replace(":", "=").partition("=")
        role = _ROLES.get(name.lower())
        if role is None:
            roles = "manager, pa1, pa2, backup"
            raise _Bad(f"'{_show(word)}' isn't a rota role ({roles}). {_use(key)}")
        if not (sep and value):
            if not rest:
                raise _Bad(f"'{name}' needs a person, like: {name} @sam")
            value = rest.pop(0)
        user = _user(value)
        if user is None:
            raise _Bad(f"'{_show(value)}' isn't a person; mention them with @. {_use(key)}")
        if role in found:
            raise _Bad(f"'{role}' is given twice. {_use(key)}")
        found[role] = user
    if not found:
        raise _Bad(f"'/duty rota set' needs at least one role and person, like: {_EXAMPLE[key]}")
    return RotaSet(when, tuple((r, found[r]) for r in _ROLE_ORDER if r in found))


def _clock(args: Sequence[str]) -> Command:
    if not args:
        raise _Bad(f"'/duty clock' needs a step or a time, like: {_EXAMPLE['clock']}")
    text = " ".join(args).lower()
    if (m := _CLOCK_STEP.fullmatch(text)) and int(m[1]) > 0:
        return Clock(f"+{int(m[1])}{m[2]}")
    if m := _CLOCK_AT.fullmatch(text):
        hour, minute = int(m[2]), int(m[3])
        day = _iso_date(m[1], "clock")
        if hour > 23 or minute > 59:
            raise _Bad(f"'{_show(text)}' isn't a real time. Use: /duty clock 2026-12-24 16:30")
        return Clock(f"{day} {hour:02d}:{minute:02d}")
    raise _Bad(f"I couldn't read '{_show(text)}' as a clock step or time. {_use('clock')}")


# --- case commands ---------------------------------------------------------------------------


def _case_add(args: Sequence[str]) -> Command:
    key = "case add"
    ref, rest = _ref(args, key)
    ray: Ray | None = None
    manager: str | None = None
    since: str | None = None
    while rest:
        word = rest.pop(0)
        low = word.lower()
        if low in _RAYS and ray is None:
            ray = _RAYS[low]
        elif (user := _user(word)) is not None and manager is None:
            manager = user
        elif low == "since" and since is None:
            if not rest:
                raise _Bad(f"'since' needs a date, like: since 2026-11-02. {_use(key)}")
            since = _iso_date(rest.pop(0), key)
        elif since is None and any(c.isdigit() for c in word):
            since = _iso_date(word, key)
        else:
            raise _Bad(f"'/duty case add' doesn't take '{_show(word)}'. {_use(key)}")
    return CaseAdd(ref, ray, manager, since)


def _case_rate(args: Sequence[str]) -> Command:
    key = "case rate"
    ref, rest = _ref(args, key)
    if not rest:
        raise _Bad(f"'/duty case rate' needs red, amber or yellow, like: {_EXAMPLE[key]}")
    ray = _RAYS.get(rest[0].lower())
    if ray is None:
        raise _Bad(f"'{_show(rest[0])}' isn't a RAY rating (red, amber, yellow). {_use(key)}")
    return CaseRate(ref, ray, " ".join(rest[1:]))


def _case_review(args: Sequence[str]) -> Command:
    ref, rest = _ref(args, "case review")
    return CaseReview(ref, _needs_text(rest, "case review", "a note"))


def _case_summary(args: Sequence[str]) -> Command:
    ref, rest = _ref(args, "case summary")
    _nothing_more(rest, "case summary")
    return CaseSummary(ref)


def _case_allocate(args: Sequence[str]) -> Command:
    ref, rest = _ref(args, "case allocate")
    user, rest = _person(rest, "case allocate", "a worker")
    _nothing_more(rest, "case allocate")
    return CaseAllocate(ref, user)


def _case_close(args: Sequence[str]) -> Command:
    ref, rest = _ref(args, "case close")
    return CaseClose(ref, _needs_text(rest, "case close", "a reason"))


def _case_list(args: Sequence[str]) -> Command:
    if not args:
        return CaseList(None)
    _nothing_more(args[1:], "case list")
    filters: dict[str, CaseFilter] = {
        "red": "red", "amber": "amber", "yellow": "yellow", "overdue": "overdue", "mine": "mine",
    }  # fmt: skip
    chosen = filters.get(args[0].lower())
    if chosen is None:
        raise _Bad(
            f"'{_show(args[0])}' isn't a case list; use red, amber, yellow, overdue or mine. "
            f"{_use('case list')}"
        )
    return CaseList(chosen)


def _case_show(args: Sequence[str]) -> Command:
    ref, rest = _ref(args, "case show")
    _nothing_more(rest, "case show")
    return CaseShow(ref)


def _case_seen(args: Sequence[str]) -> Command:
    key = "case seen"
    ref, rest = _ref(args, key)
    if not rest:
        raise _Bad(f"'/duty case seen' needs contact or visit, like: {_EXAMPLE[key]}")
    whats: dict[str, SeenWhat] = {"contact": "contact", "visit": "visit"}
    what = whats.get(rest[0].lower())
    if what is None:
        raise _Bad(f"'{_show(rest[0])}' isn't contact or visit. {_use(key)}")
    rest = rest[1:]
    day = _iso_date(rest[0], key) if rest else None
    _nothing_more(rest[1:], key)
    return CaseSeen(ref, what, day)


def _case_letter(args: Sequence[str]) -> Command:
    key = "case letter"
    ref, rest = _ref(args, key)
    day = _iso_date(rest[0], key) if rest else None
    _nothing_more(rest[1:], key)
    return CaseLetter(ref, day)


_Parser = Callable[[Sequence[str]], Command]

_CASE_PARSERS: dict[str, _Parser] = {
    "add": _case_add,
    "rate": _case_rate,
    "review": _case_review,
    "summary": _case_summary,
    "allocate": _case_allocate,
    "close": _case_close,
    "list": _case_list,
    "show": _case_show,
    "seen": _case_seen,
    "letter": _case_letter,
}


def _case(args: Sequence[str]) -> Command:
    if not args:
        raise _Bad("'/duty case' needs what to do, like: /duty case list. Try: /duty help cases")
    sub = args[0].lower()
    parse = _CASE_PARSERS.get(sub)
    if parse is None:
        raise _Bad(_unknown(f"case {sub}", [f"case {s}" for s in _CASE_PARSERS], f"case {args[0]}"))
    return parse(args[1:])


_PARSERS: dict[str, _Parser] = {
    "help": _help,
    "list": _list,
    "show": _just_number(Show, "show"),
    "claim": _just_number(Claim, "claim"),
    "unclaim": _just_number(Unclaim, "unclaim"),
    "assign": _assign,
    "resolve": _resolve,
    "reopen": _reopen,
    "alert": _alert,
    "flag": _flag_parser(on=True),
    "unflag": _flag_parser(on=False),
    "note": _note,
    "followup": _followup,
    "handover": _handover,
    "rota": _rota,
    "clock": _clock,
    "case": _case,
}
_VERB_ALIASES = {"follow-up": "followup", "cases": "case", "?": "help"}


def _unknown(word: str, candidates: Sequence[str], shown: str) -> str:
    """'I don't know X' plus the closest command, if one is close enough."""
    match = difflib.get_close_matches(word, candidates, n=1)
    hint = f"Did you mean: {_syntax(match[0])}" if match else "Try: /duty help"
    return f"I don't know '{_show(shown)}'. {hint}"


def _parse(text: str) -> Command:
    words = _tokens(text)
    if words and words[0].lower() == "/duty":
        words = words[1:]
    if not words:
        return Help(None)
    verb, args = words[0].lower(), words[1:]
    if verb == "follow" and args and args[0].lower() == "up":
        verb, args = "followup", args[1:]
    verb = _VERB_ALIASES.get(verb, verb)
    parse = _PARSERS.get(verb)
    if parse is None:
        raise _Bad(_unknown(verb, [k for k in USAGE if " " not in k], words[0]))
    return parse(args)


def parse_command(text: str) -> Command | Invalid:
    """Read `/duty ...` text (with or without the leading "/duty") into a command.

    Never raises: anything unreadable comes back as ``Invalid`` with a one-line message.
    """
    try:
        if not isinstance(text, str):
            return Invalid(_FALLBACK)
        return _parse(text)
    except _Bad as bad:
        return Invalid(" ".join(str(bad).split()) or _FALLBACK)
    except Exception:  # a bug must not break the chat; the message carries no user text
        return Invalid(_FALLBACK)
