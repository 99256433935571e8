"""What a person's home page shows (Slack's App Home): their claimed tasks, open unclaimed
tasks, what is overdue, and today's rota. Chat-neutral: adapters draw the rows and buttons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.handover.view import day_bounds
from bot.kernel.message import Action, Message, say, text, user
from bot.rota.cover import PhoneCover
from bot.rota.rota import ROLE_NAMES, ROLES, Rota
from bot.tasks.actions import Tasks
from bot.tasks.cards import local_time
from storage import tasks as q

ROWS_PER_SECTION = 15  # App Home allows 100 blocks; four sections of this size fit
SINCE_EVER = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class HomeRow:
    line: Message
    action: Action | None = None  # the button beside the row, if it has one


@dataclass(frozen=True)
class HomeSection:
    title: str
    rows: list[HomeRow] = field(default_factory=list)
    empty: str = "Nothing here."


def home(
    tasks: Tasks,
    rota: Rota | None,
    actor: str,
    unclaimed_minutes: int,
    cover: PhoneCover | None = None,
) -> list[HomeSection]:
    """The sections, for a member of the team (callers check membership first)."""
    now = tasks.clock.now()
    with tasks.db.session() as s:  # one read of the open tasks serves both sections
        waiting = q.open_tasks_since(s, tasks.name)
    sections = [
        _log(),
        _mine(tasks, actor),
        _open(tasks, waiting),
        _overdue(tasks, now, unclaimed_minutes, waiting),
        _rota(rota, cover),
    ]
    if tasks.roster.is_manager(actor):  # seeds/000: the duty manager's oversight
        sections.insert(1, _watched(tasks, now))
    return sections


def _watched(tasks: Tasks, now: datetime) -> HomeSection:
    """Today's requests in the categories a duty manager oversees, with each one's state."""
    watched = [c.name for c in tasks.team.categories if c.oversight]
    start, end = day_bounds(now.astimezone(tasks.team.tz).date(), tasks.team)
    with tasks.db.session() as s:
        found = [
            t for t in q.tasks_received_between(s, tasks.name, start, end)
            if set(t.categories or []) & set(watched)
        ]  # fmt: skip
        rows = [HomeRow(tasks.summary_line(t)) for t in found]
    title = " and ".join(watched).capitalize() + " requests today"
    return HomeSection(title, _capped(rows, "See /duty handover"), "None yet today.")


def _claim(number: int) -> Action:
    return Action("Claim", "claim", str(number))


def _resolve(number: int) -> Action:
    return Action("Resolve", "resolve", str(number))


def _log() -> HomeSection:
    """The button for a contact that didn't come by email (/duty new)."""
    row = HomeRow(
        text("A phone call, text or visit for the duty team?"), Action("New contact", "new")
    )
    return HomeSection("Log a contact", [row])


def _capped(rows: list[HomeRow], more: str) -> list[HomeRow]:
    if len(rows) <= ROWS_PER_SECTION:
        return rows
    extra = len(rows) - ROWS_PER_SECTION
    return [*rows[:ROWS_PER_SECTION], HomeRow(text(f"…and {extra} more. {more}"))]


def _mine(tasks: Tasks, actor: str) -> HomeSection:
    with tasks.db.session() as s:
        held = q.list_tasks(s, tasks.name, ["claimed"], claimed_by=actor)
        rows = [HomeRow(tasks.summary_line(t), _resolve(t.number)) for t in held]
    return HomeSection(
        "My claimed tasks", _capped(rows, "See /duty list mine"), "You have no claimed tasks."
    )


def _open(tasks: Tasks, waiting: list[q.OpenTask]) -> HomeSection:
    first = sorted((w.task for w in waiting), key=lambda t: (not t.safeguarding, not t.urgent))
    rows = [HomeRow(tasks.summary_line(t), _claim(t.number)) for t in first]
    return HomeSection(
        "Open tasks nobody has claimed",
        _capped(rows, "See /duty list"),
        "Nothing unclaimed. The inbox is clear.",
    )


def _overdue(
    tasks: Tasks, now: datetime, unclaimed_minutes: int, waiting: list[q.OpenTask]
) -> HomeSection:
    """Follow-ups past their agreed time, and tasks left unclaimed too long (since they last
    became open, as the nudges count)."""
    tz = tasks.team.tz
    rows: list[HomeRow] = []
    with tasks.db.session() as s:
        for fu in q.follow_ups_due_between(s, tasks.name, SINCE_EVER, now):
            task = s.get(q.Task, fu.task_id)  # resolved ones too: the follow-up still stands
            if task is None:
                continue
            rows.append(
                HomeRow(
                    say(
                        f"Follow-up on #{task.number} was due {local_time(fu.due_at, tz)} (",
                        user(fu.owner),
                        ")",
                    ),
                )
            )
    cutoff = now - timedelta(minutes=unclaimed_minutes)
    for w in waiting:
        old_mail = w.task.backlog and w.spells == 1  # not chased, as the nudges don't
        if w.open_since <= cutoff and not old_mail:
            since = local_time(w.open_since, tz)
            rows.append(
                HomeRow(text(f"#{w.task.number} unclaimed since {since}"), _claim(w.task.number))
            )
    return HomeSection("Overdue", _capped(rows, "See /duty list"), "Nothing overdue.")


def _rota(rota: Rota | None, cover: PhoneCover | None = None) -> HomeSection:
    if rota is None:
        return HomeSection("Today's rota", [], "No rota is kept for this team.")
    today = rota.today()
    if not rota.cal.is_working_day(today):
        why = rota.cal.holiday_name(today) or "the weekend"
        return HomeSection("Today's rota", [HomeRow(text(f"Not a working day ({why})."))])
    day = rota.day(today)
    rows = []
    for role in ROLES:
        who = day.people.get(role)
        shown = user(who) if who else text("not set")
        rows.append(HomeRow(say(f"{ROLE_NAMES[role]}: ", shown)))
    if cover is not None:
        rows.append(HomeRow(cover.today().line()))
    return HomeSection(f"Today's rota, {today:%a %d %b}", rows)
