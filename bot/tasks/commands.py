"""The task verbs: list, show, claim, unclaim, assign, resolve, reopen, alert, flag, unflag,
note and followup, with the Resolve and Alert forms their buttons open."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from bot.chat.catalogue import Field, Form, FormValues, Verb
from bot.chat.words import Bad, Words, show
from bot.kernel.config import TeamConfig
from bot.kernel.errors import Refused
from bot.kernel.message import Message
from bot.kernel.roles import managers, members
from bot.kernel.when import WhenError, split_when
from bot.tasks.actions import Tasks

ListScope = str  # open, mine, all, or a category name
FlagName = Literal["urgent", "safeguarding"]

GROUP = "Tasks"
CATEGORY = re.compile(r"[a-z][a-z0-9-]{0,30}")
MEMBERS = members("Only members of the duty team can do that. Ask a duty manager to add you.")
FOLLOW_UP_HOUR = time(9, 0)  # a follow-up picked as a date (in a form) is due at 09:00 that day
RESOLVE_CHECKLIST = (
    ("case_note", "Recorded as a case note on Mosaic/LCS"),
    ("follow_up", "Follow-up agreed"),
)
# Not a tick box: the form shows whether an alert really reached them (Tasks.alert_state),
# and the stored checklist records that (Tasks.resolve).
ALERTED = "Allocated worker and team leader alerted"


@dataclass(frozen=True)
class List:
    scope: ListScope = "open"
    page: int = 1  # a full inbox's first start can leave thousands open: 50 to a page


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
    checklist: dict[str, Any] | None = None  # from the form
    follow_up: str | None = None  # from the form: the agreed day, YYYY-MM-DD


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
class Tag:
    number: int
    category: str
    on: bool = True


@dataclass(frozen=True)
class Dismiss:
    number: int
    flag: FlagName


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
    when: str  # still text: read with bot.kernel.when.parse_when at run time, on the clock
    note: str = ""


# ---- reading the words -------------------------------------------------------------------


def _number_only(w: Words) -> int:
    number = w.number()
    w.done()
    return number


def _list(w: Words) -> List:
    scope = "open"
    if w:
        word = w.take()
        scope = word.lower()
        if not CATEGORY.fullmatch(scope):
            raise Bad(f"'{show(word)}' isn't a list. Use: /duty list open, mine or all")
    page = 1
    if w.peek().isdigit():
        word = w.take()
        page = int(word) if len(word) <= 6 else 0
        if page < 1:
            raise Bad(f"'{show(word)}' isn't a page number. Use: /duty list open 2")
    w.done()
    return List(scope, page)  # open, mine, all, or a category (checked when it runs)


def _assign(w: Words) -> Assign:
    number = w.number()
    user = w.person()
    w.done()
    return Assign(number, user)


def _alert(w: Words) -> Alert:
    number = w.number()  # nobody named: the allocated worker and their team leader
    return Alert(number, tuple(w.people()), w.text())


_FLAGS: dict[str, FlagName] = {
    "urgent": "urgent", "safeguarding": "safeguarding", "safeguard": "safeguarding",
    "sg": "safeguarding",
}  # fmt: skip


def _flag(on: bool) -> Any:
    def read(w: Words) -> Flag:
        number = w.number()
        if not w:
            raise w.needs("urgent or safeguarding")
        word = w.take()
        flag = _FLAGS.get(word.lower())
        if flag is None:
            raise Bad(f"'{show(word)}' isn't a flag; use urgent or safeguarding. {w.use}")
        w.done()
        return Flag(number, flag, on)

    return read


def _tag(on: bool) -> Any:
    def read(w: Words) -> Tag:
        number = w.number()
        if not w:
            raise w.needs("a category")
        word = w.take().lower()
        if not CATEGORY.fullmatch(word):
            raise Bad(f"'{show(word)}' isn't a category. {w.use}")
        w.done()
        return Tag(number, word, on)

    return read


def _dismiss(w: Words) -> Dismiss:
    flagged = _flag(True)(w)
    return Dismiss(flagged.number, flagged.flag)


def _followup(w: Words) -> FollowUp:
    number = w.number()
    if not w:
        raise w.needs("a time")
    try:
        when, note = split_when(w.rest)
    except WhenError as err:
        raise Bad(str(err)) from None
    return FollowUp(number, when, note)


# ---- the forms ---------------------------------------------------------------------------


def _form_number(args: str) -> int:
    number = int(args)
    if number < 1:
        raise ValueError(args)
    return number


def resolve_form(team: TeamConfig, args: str) -> Form:
    return Form(
        title=f"Resolve #{_form_number(args)}",
        submit="Resolve",
        fields=(
            Field("note", "What was done?", "long_text", required=team.resolve_note_required),
            Field("alerted", ALERTED, "note"),
            Field("checklist", "Checklist", "checks", options=RESOLVE_CHECKLIST),
            Field("follow_up_date", "Follow-up date, if one was agreed", "date"),
        ),
    )


def _resolved(args: str, values: FormValues) -> Resolve:
    chosen = set(values.get("checklist") or [])
    day = values.get("follow_up_date") or None
    checklist = {
        "case_note": "case_note" in chosen,
        "follow_up": "follow_up" in chosen or bool(day),
        "follow_up_date": day,
    }
    return Resolve(_form_number(args), values.get("note") or "", checklist, day)


def alert_form(team: TeamConfig, args: str) -> Form:
    return Form(
        title=f"Alert about #{_form_number(args)}",
        submit="Send alert",
        fields=(
            Field(
                "people", "Who to alert (nobody: the allocated worker and team leader)", "people"
            ),  # fmt: skip
            Field("note", "Note", "long_text"),
        ),
    )


def _alerted(args: str, values: FormValues) -> Alert:
    people = tuple(values.get("people") or ())
    return Alert(_form_number(args), people, values.get("note") or "")


def _resolve_filled(tasks: Tasks, args: str, form: Form) -> Form:
    """The resolve form with what really happened about the alert."""
    return form.filled({"alerted": tasks.alert_state(_form_number(args))})


def follow_up_time(day: str, team: TeamConfig) -> datetime:
    """A follow-up day picked in a form, at FOLLOW_UP_HOUR in the team's time zone."""
    try:
        picked = date.fromisoformat(day)
    except ValueError:
        raise Refused(
            "That follow-up date isn't a date. Pick one from the calendar.",
            field="follow_up_date",
        ) from None
    return datetime.combine(picked, FOLLOW_UP_HOUR, tzinfo=team.tz)


def _resolve(tasks: Tasks, actor: str, a: Resolve) -> Message:
    when = follow_up_time(a.follow_up, tasks.team) if a.follow_up else None
    return tasks.resolve(actor, a.number, a.note, a.checklist, follow_up_at=when)


# ---- the verbs ---------------------------------------------------------------------------

VERBS: list[Verb[Tasks, Any]] = [
    Verb(
        name="list", syntax="/duty list [open|mine|all|CATEGORY [PAGE]]",
        does="list tasks (open ones by default, or one category's), 50 to a page",
        example="/duty list mine", group=GROUP, who=MEMBERS, on=Tasks, read=_list,
        run=lambda t, actor, a: t.list_tasks(actor, a.scope, a.page),
    ),
    Verb(
        name="show", syntax="/duty show N", does="show task N", example="/duty show 42",
        group=GROUP, who=MEMBERS, on=Tasks, read=lambda w: Show(_number_only(w)),
        run=lambda t, actor, a: t.show(actor, a.number),
    ),
    Verb(
        name="claim", syntax="/duty claim N", does="take task N", example="/duty claim 42",
        group=GROUP, who=MEMBERS, on=Tasks, read=lambda w: Claim(_number_only(w)),
        run=lambda t, actor, a: t.claim(actor, a.number), quiet_button=True,
    ),
    Verb(
        name="unclaim", syntax="/duty unclaim N", does="put task N back as open",
        example="/duty unclaim 42", group=GROUP, who=MEMBERS, on=Tasks,
        read=lambda w: Unclaim(_number_only(w)), run=lambda t, actor, a: t.unclaim(actor, a.number),
        aliases=("release",), needs=("/duty assign 42 @sam",),
    ),
    Verb(
        name="assign", syntax="/duty assign N @person", does="give task N to someone",
        example="/duty assign 42 @sam", group=GROUP,
        who=managers("Only a duty manager can assign tasks."), on=Tasks, read=_assign,
        run=lambda t, actor, a: t.assign(actor, a.number, a.user),
    ),
    Verb(
        name="resolve", syntax="/duty resolve N [note]", does="mark task N done",
        example="/duty resolve 42 called back, all sorted", group=GROUP, who=MEMBERS, on=Tasks,
        read=lambda w: Resolve(w.number(), w.text()), run=_resolve,
        form=resolve_form, fill=_resolve_filled, from_form=_resolved, quiet_button=True,
    ),
    Verb(
        name="reopen", syntax="/duty reopen N [why]", does="reopen a resolved task",
        example="/duty reopen 42 family rang again", group=GROUP, who=MEMBERS, on=Tasks,
        read=lambda w: Reopen(w.number(), w.text()),
        run=lambda t, actor, a: t.reopen(actor, a.number, a.why), quiet_button=True,
        needs=("/duty resolve 42 passed to the allocated worker",),
    ),
    Verb(
        name="alert", syntax="/duty alert N [@person…] [note]",
        does="alert people about task N (nobody named: the allocated worker and team leader)",
        example="/duty alert 42 @sam please call the carer",
        group=GROUP, who=MEMBERS, on=Tasks, read=_alert,
        run=lambda t, actor, a: t.alert(actor, a.number, a.users, a.note),
        form=alert_form, from_form=_alerted, quiet_button=True,
    ),
    Verb(
        name="flag", syntax="/duty flag N urgent|safeguarding", does="flag task N",
        example="/duty flag 42 urgent", group=GROUP, who=MEMBERS, on=Tasks, read=_flag(True),
        run=lambda t, actor, a: t.flag(actor, a.number, a.flag, a.on), quiet_button=True,
    ),
    Verb(
        name="unflag", syntax="/duty unflag N urgent|safeguarding",
        does="take a flag off task N", example="/duty unflag 42 urgent", group=GROUP,
        who=MEMBERS, on=Tasks, read=_flag(False),
        run=lambda t, actor, a: t.flag(actor, a.number, a.flag, a.on),
        needs=("/duty flag 42 urgent",),
    ),
    Verb(
        name="dismiss", syntax="/duty dismiss N safeguarding|urgent",
        does="say task N isn't safeguarding (or urgent): its hint goes",
        example="/duty dismiss 48 urgent", group=GROUP, who=MEMBERS, on=Tasks, read=_dismiss,
        run=lambda t, actor, a: t.dismiss(actor, a.number, a.flag), quiet_button=True,
    ),
    Verb(
        name="tag", syntax="/duty tag N CATEGORY",
        does="put task N in a category (financial, accommodation, …)",
        example="/duty tag 44 accommodation", group=GROUP, who=MEMBERS, on=Tasks, read=_tag(True),
        run=lambda t, actor, a: t.tag(actor, a.number, a.category, a.on),
    ),
    Verb(
        name="untag", syntax="/duty untag N CATEGORY", does="take task N out of a category",
        example="/duty untag 42 financial", group=GROUP, who=MEMBERS, on=Tasks, read=_tag(False),
        run=lambda t, actor, a: t.tag(actor, a.number, a.category, a.on),
    ),
    Verb(
        name="note", syntax="/duty note N text", does="add a note to task N",
        example="/duty note 42 left a voicemail", group=GROUP, who=MEMBERS, on=Tasks,
        read=lambda w: Note(w.number(), w.needs_text("some text")),
        run=lambda t, actor, a: t.note(actor, a.number, a.text),
    ),
    Verb(
        name="followup", syntax="/duty followup N WHEN [note]",
        does="agree a follow-up (WHEN: tomorrow 10:00, in 3 days, fri 14:00, 2026-12-01 09:30)",
        example="/duty followup 42 tomorrow 10:00 call the landlord back", group=GROUP,
        who=MEMBERS, on=Tasks, read=_followup, aliases=("follow-up", "follow up"),
        run=lambda t, actor, a: t.follow_up(actor, a.number, a.when, a.note),
    ),
]  # fmt: skip
