"""Queries and conditional updates for tasks, emails, events, follow-ups and the outbox."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, true, union, update
from sqlalchemy.orm import Session

from storage.models import (
    Email,
    Event,
    FollowUp,
    MailboxState,
    Outbox,
    Person,
    Task,
    Team,
)

# ---- teams and people ------------------------------------------------------------------


def ensure_team(s: Session, name: str) -> None:
    if s.get(Team, name) is None:
        s.add(Team(name=name, last_task_number=0))
        s.flush()


def sync_people(s: Session, team: str, people: Iterable[tuple[str, str, str]]) -> None:
    """Make the people table match config: (user_id, name, role) rows."""
    wanted = {uid: (name, role) for uid, name, role in people}
    existing = {p.user_id: p for p in s.scalars(select(Person).where(Person.team == team))}
    for uid, (name, role) in wanted.items():
        row = existing.get(uid)
        if row is None:
            s.add(Person(team=team, user_id=uid, name=name, role=role))
        else:
            row.name, row.role = name, role
    for uid, row in existing.items():
        if uid not in wanted:
            s.delete(row)


def next_task_number(s: Session, team: str) -> int:
    """Hand out the team's next short number; the row update serialises concurrent intakes."""
    return next_task_numbers(s, team, 1)[0]


def next_task_numbers(s: Session, team: str, count: int) -> range:
    """Hand out the team's next ``count`` short numbers at once, in order."""
    stmt = (
        update(Team)
        .where(Team.name == team)
        .values(last_task_number=Team.last_task_number + count)
        .returning(Team.last_task_number)
    )
    last = int(s.execute(stmt).scalar_one())
    return range(last - count + 1, last + 1)


# ---- tasks -------------------------------------------------------------------------------


def task_by_number(s: Session, team: str, number: int) -> Task | None:
    return s.scalar(select(Task).where(Task.team == team, Task.number == number))


def transition(
    s: Session, task_id: int, conditions: Sequence[ColumnElement[bool]], values: dict[str, Any]
) -> bool:
    """A conditional update: True only if the task still matched ``conditions``.

    Two people claiming at once both run this; the database lets exactly one match.
    """
    stmt = (
        update(Task)
        .where(Task.id == task_id, *conditions)
        .values(**values, card_version=Task.card_version + 1)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def reopen_if_resolved(s: Session, task_id: int) -> bool:
    """Back to open, unclaimed, if it was resolved (by a worker or by a new email)."""
    return transition(
        s,
        task_id,
        [Task.state == "resolved"],
        {
            "state": "open",
            "claimed_by": None,
            "claimed_at": None,
            "resolved_by": None,
            "resolved_at": None,
            "resolve_note": None,
        },
    )


def list_tasks(
    s: Session,
    team: str,
    states: Sequence[str],
    *,
    claimed_by: str | None = None,
    limit: int = 50,
    offset: int = 0,
    with_cards: bool = False,
) -> list[Task]:
    """``with_cards``: only tasks that have (or wait for) a card, not old mail held without."""
    q = select(Task).where(Task.team == team, Task.state.in_(states))
    if claimed_by is not None:
        q = q.where(Task.claimed_by == claimed_by)
    if with_cards:
        q = q.where(Task.card_state != "held")
    q = q.order_by(Task.safeguarding.desc(), Task.urgent.desc(), Task.number)
    return list(s.scalars(q.limit(limit).offset(offset)))


def count_tasks(
    s: Session, team: str, states: Sequence[str], *, claimed_by: str | None = None
) -> int:
    q = select(func.count()).select_from(Task).where(Task.team == team, Task.state.in_(states))
    if claimed_by is not None:
        q = q.where(Task.claimed_by == claimed_by)
    return int(s.scalar(q) or 0)


def tasks_received_between(s: Session, team: str, start: datetime, end: datetime) -> list[Task]:
    q = select(Task).where(Task.team == team, Task.received_at >= start, Task.received_at < end)
    return list(s.scalars(q.order_by(Task.number)))


def tasks_resolved_between(s: Session, team: str, start: datetime, end: datetime) -> list[Task]:
    q = select(Task).where(
        Task.team == team,
        Task.state == "resolved",
        Task.resolved_at >= start,
        Task.resolved_at < end,
    )
    return list(s.scalars(q.order_by(Task.number)))


# ---- emails ------------------------------------------------------------------------------


# A second copy of an email already held (the same Message-ID and content under another item
# id: saved or delivered twice, or read just before it moved) has a row of its own, so it goes
# to Done with its task and the purge finds it there. Its key stands in for a Message-ID: a
# hash of the email's id and the item's, after a space that no parsed Message-ID can hold.
COPY_MARK = "copy "


def copy_key(message_id: str, item_id: str) -> str:
    digest = hashlib.sha256(f"{message_id}\n{item_id}".encode("utf-8", "replace")).hexdigest()
    return f"{COPY_MARK}{digest[:32]}"


def is_copy() -> ColumnElement[bool]:
    """An email row that is only another copy of an email of its task."""
    return Email.message_id.startswith(COPY_MARK, autoescape=True)


def email_by_message_id(s: Session, team: str, message_id: str) -> Email | None:
    return s.scalar(select(Email).where(Email.team == team, Email.message_id == message_id))


def known_item(s: Session, team: str, item_id: str) -> bool:
    q = select(Email.id).where(Email.team == team, Email.item_id == item_id).limit(1)
    return s.scalar(q) is not None


def known_items(s: Session, team: str, item_ids: Sequence[str]) -> set[str]:
    """Which of ``item_ids`` are on record: one query for a page of mail."""
    if not item_ids:
        return set()
    q = select(Email.item_id).where(Email.team == team, Email.item_id.in_(list(item_ids)))
    return {item_id for item_id in s.scalars(q) if item_id}


def held_message_ids(s: Session, team: str, message_ids: Iterable[str]) -> set[str]:
    """Which of ``message_ids`` the team holds an email with: one query for a page of mail."""
    wanted = list(set(message_ids))
    if not wanted:
        return set()
    q = select(Email.message_id).where(Email.team == team, Email.message_id.in_(wanted))
    return set(s.scalars(q))


def held_conversations(s: Session, team: str, conversation_ids: Iterable[str]) -> set[str]:
    """Which of ``conversation_ids`` the team holds an email of."""
    wanted = list(set(conversation_ids))
    if not wanted:
        return set()
    q = select(Email.conversation_id).where(Email.team == team, Email.conversation_id.in_(wanted))
    return {c for c in s.scalars(q.distinct()) if c}


def task_for_message_ids(s: Session, team: str, message_ids: Sequence[str]) -> Task | None:
    """The task of the first id (in the order given) that we already hold."""
    if not message_ids:
        return None
    rows = s.execute(
        select(Email.message_id, Email.task_id).where(
            Email.team == team, Email.message_id.in_(list(message_ids))
        )
    ).all()
    by_id = {mid: tid for mid, tid in rows}
    for mid in message_ids:
        if mid in by_id:
            return s.get(Task, by_id[mid])
    return None


def task_for_conversation(s: Session, team: str, conversation_id: str) -> Task | None:
    q = (
        select(Email.task_id)
        .where(Email.team == team, Email.conversation_id == conversation_id)
        .order_by(Email.id.desc())
        .limit(1)
    )
    task_id = s.scalar(q)
    return s.get(Task, task_id) if task_id is not None else None


def emails_of_task(s: Session, task_id: int) -> list[Email]:
    """The emails of a task as they came, without the extra copies of them."""
    q = select(Email).where(Email.task_id == task_id, ~is_copy()).order_by(Email.id)
    return list(s.scalars(q))


def mark_emails_for_done(s: Session, task_id: int) -> None:
    s.execute(
        update(Email)
        .where(Email.task_id == task_id, Email.move_state != "moved")
        .values(move_state="pending")
        .execution_options(synchronize_session=False)
    )


def emails_to_move(s: Session, team: str, limit: int = 50) -> list[Email]:
    q = select(Email).where(Email.team == team, Email.move_state == "pending").limit(limit)
    return list(s.scalars(q.order_by(Email.id)))


# ---- events ------------------------------------------------------------------------------


def add_event(
    s: Session,
    *,
    team: str,
    task_id: int | None,
    actor: str,
    kind: str,
    at: datetime,
    note: str = "",
    data: dict[str, Any] | None = None,
    case_id: int | None = None,
) -> Event:
    """Append one event to the audit trail (of a task, a case or neither), and mark its task
    as touched ``at``."""
    ev = Event(
        team=team,
        task_id=task_id,
        case_id=case_id,
        actor=actor,
        kind=kind,
        at=at,
        note=note,
        data=data or {},
    )
    s.add(ev)
    if task_id is not None:
        s.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(last_event_at=at)
            .execution_options(synchronize_session=False)
        )
    return ev


def events_of_task(s: Session, task_id: int, limit: int = 100) -> list[Event]:
    q = select(Event).where(Event.task_id == task_id).order_by(Event.at, Event.id).limit(limit)
    return list(s.scalars(q))


def events_of_kinds(s: Session, task_id: int, kinds: Sequence[str]) -> list[Event]:
    q = select(Event).where(Event.task_id == task_id, Event.kind.in_(kinds))
    return list(s.scalars(q.order_by(Event.id)))


def last_events_of_kind(s: Session, task_ids: Sequence[int], kind: str) -> dict[int, Event]:
    """The newest event of ``kind`` for each of ``task_ids`` that has one, in one query."""
    if not task_ids:
        return {}
    q = select(Event).where(Event.task_id.in_(list(task_ids)), Event.kind == kind)
    return {ev.task_id: ev for ev in s.scalars(q.order_by(Event.id)) if ev.task_id is not None}


def last_notes(s: Session, task_ids: Sequence[int]) -> dict[int, Event]:
    """The newest event with a note for each task, in one query (the handover lists many)."""
    if not task_ids:
        return {}
    q = (
        select(Event)
        .where(Event.task_id.in_(list(task_ids)), Event.note != "")
        .order_by(Event.at, Event.id)
    )
    return {ev.task_id: ev for ev in s.scalars(q) if ev.task_id is not None}  # newest wins


def events_between(
    s: Session, team: str, kinds: Sequence[str], start: datetime, end: datetime
) -> list[Event]:
    q = select(Event).where(
        Event.team == team, Event.kind.in_(kinds), Event.at >= start, Event.at < end
    )
    return list(s.scalars(q.order_by(Event.at, Event.id)))


# ---- follow-ups --------------------------------------------------------------------------


def add_follow_up(
    s: Session, *, team: str, task_id: int, owner: str, due_at: datetime, note: str, at: datetime
) -> FollowUp:
    fu = FollowUp(team=team, task_id=task_id, owner=owner, due_at=due_at, note=note, created_at=at)
    s.add(fu)
    return fu


def follow_ups_of_task(s: Session, task_id: int) -> list[FollowUp]:
    q = select(FollowUp).where(FollowUp.task_id == task_id).order_by(FollowUp.due_at)
    return list(s.scalars(q))


def follow_ups_due_between(s: Session, team: str, start: datetime, end: datetime) -> list[FollowUp]:
    q = select(FollowUp).where(
        FollowUp.team == team,
        FollowUp.done_at.is_(None),
        FollowUp.due_at >= start,
        FollowUp.due_at < end,
    )
    return list(s.scalars(q.order_by(FollowUp.due_at)))


# ---- outbox and cards --------------------------------------------------------------------


def queue_message(
    s: Session,
    *,
    team: str,
    kind: str,
    body: list[Any],
    at: datetime,
    task_id: int | None = None,
    target: str = "",
    posted: tuple[str, str] | None = None,
) -> None:
    """Queue a chat message; ``posted`` (channel, ts) is the message an "edit" rewrites."""
    channel, ts = posted or (None, None)
    s.add(
        Outbox(
            team=team, kind=kind, body=body, created_at=at, task_id=task_id, target=target,
            posted_channel=channel, posted_ts=ts,
        )
    )  # fmt: skip


def pending_messages(s: Session, team: str, limit: int = 50) -> list[Outbox]:
    q = select(Outbox).where(Outbox.team == team, Outbox.sent_at.is_(None))
    return list(s.scalars(q.order_by(Outbox.id).limit(limit)))


def pending_messages_and_cards(
    s: Session, team: str, limit: int = 50
) -> tuple[list[Outbox], dict[int, tuple[str, str]]]:
    """``pending_messages``, and where each one's task has its card (channel, ts) if it is
    posted: one query for what a delivery round sends."""
    q = (
        select(Outbox, Task.card_channel, Task.card_ts)
        .outerjoin(Task, and_(Task.id == Outbox.task_id, Task.card_state == "posted"))
        .where(Outbox.team == team, Outbox.sent_at.is_(None))
        .order_by(Outbox.id)
        .limit(limit)
    )
    rows = s.execute(q).all()
    refs = {m.task_id: (ch, ts) for m, ch, ts in rows if m.task_id is not None and ch and ts}
    return [m for m, _, _ in rows], refs


def cards_to_post(s: Session, team: str, limit: int = 50) -> list[Task]:
    q = select(Task).where(Task.team == team, Task.card_state.in_(("pending", "posting")))
    return list(s.scalars(q.order_by(Task.id).limit(limit)))


def cards_to_update(s: Session, team: str, limit: int = 50) -> list[Task]:
    # "= true" on purpose: an index on the expression (team, card_state, (card_version >
    # card_shown_version), id) serves it on SQLite and PostgreSQL; the bare comparison, never.
    q = select(Task).where(
        Task.team == team,
        Task.card_state == "posted",
        (Task.card_version > Task.card_shown_version) == true(),
    )
    return list(s.scalars(q.order_by(Task.id).limit(limit)))


def teams_waiting(s: Session, teams: Sequence[str]) -> set[str]:
    """Which of ``teams`` have a card to post or update, or a message to send: one look for
    every team, so an idle bot asks the database once a round rather than thrice a team."""
    if not teams:
        return set()
    to_post = select(Task.team).where(
        Task.team.in_(teams), Task.card_state.in_(("pending", "posting"))
    )
    to_update = select(Task.team).where(
        Task.team.in_(teams),
        Task.card_state == "posted",
        (Task.card_version > Task.card_shown_version) == true(),  # as cards_to_update
    )
    to_send = select(Outbox.team).where(Outbox.team.in_(teams), Outbox.sent_at.is_(None))
    return set(s.scalars(union(to_post, to_update, to_send)))


# ---- mailbox state -----------------------------------------------------------------------


def mailbox_checkpoint(s: Session, team: str) -> str | None:
    row = s.get(MailboxState, team)
    return row.checkpoint if row else None


def mailbox_state(s: Session, team: str) -> MailboxState | None:
    return s.get(MailboxState, team)


def begin_first_sync(
    s: Session, team: str, started_at: datetime, take_from: datetime | None
) -> MailboxState:
    """The team's sync state, made now if this is the bot's first start on the mailbox. A
    team that has emails already started before this state was kept: it gets a row without
    ``started_at``, so nothing is hidden or taken in again."""
    row = s.get(MailboxState, team)
    if row is not None:
        return row
    has_mail = s.scalar(select(Email.id).where(Email.team == team).limit(1)) is not None
    row = MailboxState(team=team)
    if not has_mail:
        row.started_at, row.take_from = started_at, take_from
    s.add(row)
    s.flush()
    return row


def finish_first_sync(s: Session, team: str, cards: int, at: datetime) -> tuple[int, int]:
    """The first start has taken in all the mail that was in the inbox: give the newest
    ``cards`` of it their cards and mark the sync state caught up. If that is all of it,
    nothing is hidden, so it is ordinary mail after all. Returns (taken in, cards given)."""
    row = s.get(MailboxState, team)
    if row is None or row.started_at is None or row.caught_up_at is not None:
        return 0, 0
    held = list(
        s.scalars(
            select(Task.id)
            .where(Task.team == team, Task.card_state == "held")
            .order_by(Task.received_at.desc(), Task.id.desc())
        )
    )
    taken = s.scalar(select(func.count()).where(Task.team == team, Task.backlog)) or 0
    shown = held[:cards]
    if shown:
        s.execute(update(Task).where(Task.id.in_(shown)).values(card_state="pending"))
    if taken <= cards:
        s.execute(update(Task).where(Task.team == team, Task.backlog).values(backlog=False))
    row.caught_up_at = at
    return taken, len(shown)


def count_held(s: Session, team: str) -> int:
    """Open tasks from old mail that have no card (see finish_first_sync)."""
    held = (Task.team == team, Task.state == "open", Task.card_state == "held")
    return int(s.scalar(select(func.count()).select_from(Task).where(*held)) or 0)


def release_card(s: Session, task_id: int) -> bool:
    """A task taken in without a card (old mail) gets one now: something happened on it."""
    stmt = update(Task).where(Task.id == task_id, Task.card_state == "held")
    return bool(s.execute(stmt.values(card_state="pending")).rowcount)  # type: ignore[attr-defined]


def save_mailbox_checkpoint(
    s: Session, team: str, checkpoint: str | None, at: datetime, error: str | None = None
) -> None:
    row = s.get(MailboxState, team)
    if row is None:
        row = MailboxState(team=team)
        s.add(row)
    row.checkpoint = checkpoint
    row.synced_at = at
    row.last_error = error


def set_card(s: Session, task_id: int, **values: Any) -> None:
    """Record card delivery state; unlike ``transition`` this doesn't count as a change."""
    s.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def mark_card_shown(s: Session, task_id: int, version: int) -> None:
    s.execute(
        update(Task)
        .where(Task.id == task_id, Task.card_shown_version < version)
        .values(card_shown_version=version)
        .execution_options(synchronize_session=False)
    )


def card_refs_by_number(
    s: Session, team: str, numbers: Iterable[int]
) -> dict[int, tuple[str, str]]:
    """Where each task's card is (channel, ts), by task number, for the posted ones."""
    wanted = list(set(numbers))
    if not wanted:
        return {}
    rows = s.execute(
        select(Task.number, Task.card_channel, Task.card_ts).where(
            Task.team == team, Task.number.in_(wanted), Task.card_state == "posted"
        )
    ).all()
    return {n: (ch, ts) for n, ch, ts in rows if ch and ts}


def note_send_attempt(s: Session, message_id: int) -> None:
    """Count a try at sending before it is made: a message tried before may be in Slack."""
    s.execute(
        update(Outbox)
        .where(Outbox.id == message_id)
        .values(attempts=Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )


def mark_message_sent(
    s: Session, message_id: int, at: datetime, posted: tuple[str, str] | None = None
) -> None:
    """Sent; ``posted`` is where it went (kept, so a purge can rewrite it)."""
    values: dict[str, Any] = {"sent_at": at}
    if posted is not None:
        values["posted_channel"], values["posted_ts"] = posted
    s.execute(
        update(Outbox)
        .where(Outbox.id == message_id, Outbox.sent_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


# ---- what the clocks look at -------------------------------------------------------------

OPENING_EVENTS = ("received", "unclaimed", "reopened", "reopened_by_email")


@dataclass(frozen=True)
class OpenTask:
    task: Task
    open_since: datetime  # when it last became open (arrived, released, reopened)
    spells: int = 1  # how many times it became open: 1 while it waits since it arrived


def open_tasks_since(s: Session, team: str) -> list[OpenTask]:
    """Open tasks with the time each last became open, oldest first."""
    # Only the open tasks' events: grouping every event of the team's history costs
    # seconds a pass once the history is long.
    open_ids = select(Task.id).where(Task.team == team, Task.state == "open")
    opened = (
        select(Event.task_id, func.max(Event.at).label("since"), func.count().label("spells"))
        .where(Event.task_id.in_(open_ids), Event.kind.in_(OPENING_EVENTS))
        .group_by(Event.task_id)
        .subquery()
    )
    q = (
        select(Task, opened.c.since, opened.c.spells)
        .outerjoin(opened, opened.c.task_id == Task.id)
        .where(Task.team == team, Task.state == "open")
    )
    # Sorted here, not by SQL: told to, SQLite walks the team's whole (team, number) index
    # rather than the (team, state) one; the open tasks are few.
    rows = sorted(s.execute(q).all(), key=lambda row: row[0].number)
    return [OpenTask(task, since or task.received_at, spells or 1) for task, since, spells in rows]


def claimed_tasks(s: Session, team: str) -> list[Task]:
    """The team's claimed tasks, by number (sorted here, as open_tasks_since explains)."""
    q = select(Task).where(Task.team == team, Task.state == "claimed")
    return sorted(s.scalars(q), key=lambda t: t.number)


def follow_ups_due(s: Session, team: str, now: datetime, limit: int = 100) -> list[FollowUp]:
    """Follow-ups that have come due and nobody has been reminded of yet."""
    q = select(FollowUp).where(
        FollowUp.team == team,
        FollowUp.done_at.is_(None),
        FollowUp.notified_at.is_(None),
        FollowUp.due_at <= now,
    )
    return list(s.scalars(q.order_by(FollowUp.due_at, FollowUp.id).limit(limit)))


def mark_follow_up_notified(s: Session, follow_up_id: int, at: datetime) -> bool:
    stmt = (
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.notified_at.is_(None))
        .values(notified_at=at)
        .execution_options(synchronize_session=False)
    )
    return s.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
