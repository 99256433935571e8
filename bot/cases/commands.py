"""The case verbs: `/duty case ...` for the register of unallocated cases. Managers add, rate,
review, allocate and close; any member lists, shows and records letters, contacts and visits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.cases.register import Register
from bot.chat.catalogue import Verb
from bot.chat.words import Bad, Words, person_of, show
from bot.kernel.roles import Allowed, managers, members, readers

Ray = Literal["red", "amber", "yellow"]
CaseFilter = Literal["red", "amber", "yellow", "overdue", "mine"]
SeenWhat = Literal["contact", "visit"]

GROUP = "Cases"
READ_ONLY = "You can read the case register, but only the duty team can change it."
MEMBERS = replace(members("Only members of the duty team can see or record cases."),
                  for_readers=READ_ONLY)  # fmt: skip
READERS = readers("Only members of the duty team can see or record cases.")


def _managers(refusal: str) -> Allowed:
    return replace(managers(refusal), for_readers=READ_ONLY)


_RAYS: dict[str, Ray] = {
    "red": "red", "r": "red", "amber": "amber", "a": "amber", "yellow": "yellow", "y": "yellow",
}  # fmt: skip


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


# ---- reading the words -------------------------------------------------------------------


def _add(w: Words) -> CaseAdd:
    ref = w.ref()
    ray: Ray | None = None
    manager: str | None = None
    since: str | None = None
    while w:
        word = w.take()
        low = word.lower()
        if low in _RAYS and ray is None:
            ray = _RAYS[low]
        elif (user := person_of(word)) is not None and manager is None:
            manager = user
        elif low == "since" and since is None:
            if not w:
                raise Bad(f"'since' needs a date, like: since 2026-11-02. {w.use}")
            since = w.date()
        elif since is None and any(c.isdigit() for c in word):
            w.rest.insert(0, word)
            since = w.date()
        else:
            raise Bad(f"'/duty case add' doesn't take '{show(word)}'. {w.use}")
    return CaseAdd(ref, ray, manager, since)


def _rate(w: Words) -> CaseRate:
    ref = w.ref()
    if not w:
        raise w.needs("red, amber or yellow")
    ray = w.choice(_RAYS, "a RAY rating (red, amber, yellow)")
    return CaseRate(ref, ray, w.text())


def _list(w: Words) -> CaseList:
    if not w:
        return CaseList(None)
    word = w.take()
    w.done()
    filters: dict[str, CaseFilter] = {
        "red": "red", "amber": "amber", "yellow": "yellow", "overdue": "overdue", "mine": "mine",
    }  # fmt: skip
    chosen = filters.get(word.lower())
    if chosen is None:
        raise Bad(
            f"'{show(word)}' isn't a case list; use red, amber, yellow, overdue or mine. {w.use}"
        )
    return CaseList(chosen)


def _seen(w: Words) -> CaseSeen:
    ref = w.ref()
    if not w:
        raise w.needs("contact or visit")
    what = w.choice({"contact": "contact", "visit": "visit"}, "contact or visit")
    day = w.date() if w else None
    w.done()
    return CaseSeen(ref, what, day)  # type: ignore[arg-type]


def _letter(w: Words) -> CaseLetter:
    ref = w.ref()
    day = w.date() if w else None
    w.done()
    return CaseLetter(ref, day)


def _ref_only(w: Words) -> str:
    ref = w.ref()
    w.done()
    return ref


def _allocate(w: Words) -> CaseAllocate:
    ref = w.ref()
    user = w.person("a worker")
    w.done()
    return CaseAllocate(ref, user)


# ---- the verbs ---------------------------------------------------------------------------


def _case(
    name: str,
    syntax: str,
    does: str,
    example: str,
    who: Allowed,
    read: Any,
    run: Any,
    needs: tuple[str, ...] = ("/duty case add C1234 amber @jo since 2026-11-02",),
) -> Verb[Register, Any]:
    """A case verb; "cases ..." works as well as "case ..."."""
    return Verb(
        name=f"case {name}", syntax=f"/duty case {syntax}", does=does, example=example,
        group=GROUP, who=who, on=Register, read=read, run=run, aliases=(f"cases {name}",),
        needs=needs,
    )  # fmt: skip


VERBS: list[Verb[Register, Any]] = [
    _case(
        "add", "add REF [red|amber|yellow] [@manager] [since DATE]",
        "add an unallocated case", "/duty case add C1234 amber @jo since 2026-11-02",
        _managers("Only a manager can add cases."), _add,
        lambda r, actor, a: r.add(actor, a.ref, a.ray, a.manager, a.since), needs=(),
    ),
    _case(
        "list", "list [red|amber|yellow|overdue|mine]", "list unallocated cases",
        "/duty case list overdue", READERS, _list,
        lambda r, actor, a: r.list_cases(actor, a.filter),
    ),
    _case(
        "show", "show REF", "show a case", "/duty case show C1234", READERS,
        lambda w: CaseShow(_ref_only(w)), lambda r, actor, a: r.show(actor, a.ref),
    ),
    _case(
        "rate", "rate REF red|amber|yellow [why]", "set or review the RAY rating",
        "/duty case rate C1234 red missed two visits",
        _managers("Only a manager can rate cases."), _rate,
        lambda r, actor, a: r.rate(actor, a.ref, a.ray, a.why),
    ),
    _case(
        "review", "review REF note", "record a manager review",
        "/duty case review C1234 plan agreed with school",
        _managers("Only a manager can record case reviews."),
        lambda w: CaseReview(w.ref(), w.needs_text("a note")),
        lambda r, actor, a: r.review(actor, a.ref, a.note),
    ),
    _case(
        "summary", "summary REF", "record that the case summary is done",
        "/duty case summary C1234", _managers("Only a manager can record case summaries."),
        lambda w: CaseSummary(_ref_only(w)), lambda r, actor, a: r.summary(actor, a.ref),
    ),
    _case(
        "seen", "seen REF contact|visit [DATE]", "record a contact or visit (today if no date)",
        "/duty case seen C1234 visit 2026-12-01", MEMBERS, _seen,
        lambda r, actor, a: r.seen(actor, a.ref, a.what, a.date),
    ),
    _case(
        "letter", "letter REF [DATE]",
        "record the letter to family and agencies (today if no date)",
        "/duty case letter C1234 2026-12-01", MEMBERS, _letter,
        lambda r, actor, a: r.letter(actor, a.ref, a.date),
    ),
    _case(
        "allocate", "allocate REF @worker", "allocate the case to a worker",
        "/duty case allocate C1234 @jo", _managers("Only a manager can allocate cases."),
        _allocate, lambda r, actor, a: r.allocate(actor, a.ref, a.user),
    ),
    _case(
        "close", "close REF why", "close the case", "/duty case close C1234 moved out of area",
        _managers("Only a manager can close cases."),
        lambda w: CaseClose(w.ref(), w.needs_text("a reason")),
        lambda r, actor, a: r.close(actor, a.ref, a.why),
    ),
]  # fmt: skip
