"""The rota verbs: `/duty rota` shows it, `/duty rota set` changes it; `/duty out` and
`/duty back` hand the duty phone on and take it back (bot/rota/cover.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.chat.catalogue import Verb
from bot.chat.words import Bad, Words, person_of, show
from bot.kernel.roles import managers, members
from bot.kernel.when import WhenError, split_when
from bot.rota.cover import PhoneCover
from bot.rota.rota import Rota

Role = Literal["manager", "pa1", "pa2", "backup"]

GROUP = "Day"
_ROLES: dict[str, Role] = {
    "manager": "manager", "dm": "manager", "pa1": "pa1", "pa2": "pa2", "backup": "backup",
    "back-up": "backup",
}  # fmt: skip
_ROLE_ORDER: tuple[Role, ...] = ("manager", "pa1", "pa2", "backup")
_DAYS = {
    "today": "today", "tomorrow": "tomorrow",
    "mon": "mon", "monday": "mon", "tue": "tue", "tues": "tue", "tuesday": "tue",
    "wed": "wed", "wednesday": "wed", "thu": "thu", "thur": "thu", "thurs": "thu",
    "thursday": "thu", "fri": "fri", "friday": "fri",
}  # fmt: skip
_WEEKDAYS = {k: v for k, v in _DAYS.items() if v not in ("today", "tomorrow")}


@dataclass(frozen=True)
class ShowRota:
    pass


@dataclass(frozen=True)
class RotaSet:
    when: str  # "2026-12-01", "today", "tomorrow", "mon".."fri" or "weekly mon"
    assignments: tuple[tuple[Role, str], ...]  # in role order: manager, pa1, pa2, backup


@dataclass(frozen=True)
class Out:
    person: str | None  # a duty manager naming who is out; None: the one typing
    until: str  # "14:00", "in 2 hours": read on the clock when it runs; "" if not said
    note: str


@dataclass(frozen=True)
class Back:
    person: str | None


def _show(w: Words) -> ShowRota:
    w.done()
    return ShowRota()


def _day(w: Words) -> str:
    if not w:
        raise w.needs("a day")
    first = w.peek().lower()
    if first in _DAYS or first == "weekly" or first in ("sat", "saturday", "sun", "sunday"):
        w.take()
    if first == "weekly":
        if w.peek().lower() not in _WEEKDAYS:
            raise Bad(f"'weekly' needs a weekday from mon to fri. {w.use}")
        return f"weekly {_WEEKDAYS[w.take().lower()]}"
    if first in _DAYS:
        return _DAYS[first]
    if first in ("sat", "saturday", "sun", "sunday"):
        raise Bad(f"The rota covers working days, mon to fri. {w.use}")
    return w.date()


def _set(w: Words) -> RotaSet:
    when = _day(w)
    found: dict[Role, str] = {}
    while w:
        word = w.take()
        # "manager @sam" or "manager=@sam"
        name, sep, value = word.replace(":", "=").partition("=")
        role = _ROLES.get(name.lower())
        if role is None:
            raise Bad(f"'{show(word)}' isn't a rota role (manager, pa1, pa2, backup). {w.use}")
        if not (sep and value):
            if not w:
                raise Bad(f"'{name}' needs a person, like: {name} @sam")
            value = w.take()
        user = person_of(value)
        if user is None:
            raise Bad(f"'{show(value)}' isn't a person; mention them with @. {w.use}")
        if role in found:
            raise Bad(f"'{role}' is given twice. {w.use}")
        found[role] = user
    if not found:
        raise w.needs("at least one role and person")
    return RotaSet(when, tuple((r, found[r]) for r in _ROLE_ORDER if r in found))


def _someone(w: Words) -> str | None:
    """A person first, if the line starts with one."""
    if w and person_of(w.peek()) is not None:
        return person_of(w.take())
    return None


def _out(w: Words) -> Out:
    person = _someone(w)
    if w.peek().lower() not in ("until", "till", "til"):
        return Out(person, "", w.text())
    w.take()
    if not w:
        raise w.needs("a time after 'until'")
    try:
        until, note = split_when(w.rest)
    except WhenError as err:
        raise Bad(f"{err} {w.use}") from None
    w.text()
    return Out(person, until, note)


def _back(w: Words) -> Back:
    person = _someone(w)
    w.done()
    return Back(person)


COVER = members("Only members of the duty team can hand the duty phone on.")

VERBS: list[Verb[Any, Any]] = [
    Verb(
        name="rota", syntax="/duty rota", does="show today's rota and who has the duty phone",
        example="/duty rota", group=GROUP,
        who=members("Only members of the duty team can see the rota."), on=PhoneCover,
        read=_show, run=lambda cover, actor, a: cover.show_rota(actor),
    ),
    Verb(
        name="rota set",
        syntax="/duty rota set DAY manager @a pa1 @b pa2 @c backup @d",
        does="set the rota (DAY: 2026-12-01, today, tomorrow, mon…fri or weekly mon)",
        example="/duty rota set mon manager @jo pa1 @sam pa2 @alex backup @priya", group=GROUP,
        who=managers("Only a duty manager can set the rota."), on=Rota, read=_set,
        run=lambda rota, actor, a: rota.set(actor, a.when, a.assignments),
    ),
    Verb(
        name="out", syntax="/duty out [@person] [until TIME] [note]",
        does="go out: the phone goes to the next on today's rota (@person: a manager, for them)",
        example="/duty out until 14:00 home visit", group=GROUP, who=COVER, on=PhoneCover,
        read=_out, run=lambda cover, actor, a: cover.out(actor, a.person, a.until, a.note),
    ),
    Verb(
        name="back", syntax="/duty back [@person]",
        does="take the duty phone back (@person: a manager, for them)",
        example="/duty back", group=GROUP, who=COVER, on=PhoneCover, read=_back,
        run=lambda cover, actor, a: cover.back(actor, a.person),
        needs=("/duty out @sam until 14:00",),
    ),
]  # fmt: skip
