"""Delivery of what the database says is waiting: new cards, changed
cards, thread replies and DMs. Crash-safe: a card left mid-post is looked for before re-posting,
and so is a thread reply or channel post tried before (the try may have reached the chat even
though its answer never came back). A DM tried before is sent again when the chat can't say:
twice is better than never for an alert."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from bot.chat.port import CardRef, Chat, ChatRefused, ChatUnavailable
from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message, Part, TaskLink
from bot.ops import metrics
from bot.people.directory import Colleague
from bot.tasks.cards import CardView, card_view, leader_on_record, leaders_on_record
from storage import tasks as q
from storage.db import Database
from storage.models import Outbox, Task

log = logging.getLogger(__name__)


class StopSignal(Protocol):
    """Asked before each card or message: True means finish the one in hand and stop (the
    process is stopping, or another process now does the delivering)."""

    def is_set(self) -> bool: ...


@dataclass
class Delivered:
    posted: int = 0
    updated: int = 0
    messages: int = 0
    waiting: bool = False  # the chat was down; some things still wait
    resolved: int = 0  # cards of resolved tasks among those posted or updated: mail for Done


def deliver(
    db: Database,
    team: TeamConfig,
    chat: Chat,
    clock: Clock,
    limit: int = 50,
    stop: StopSignal | None = None,
) -> Delivered:
    """Send whatever is waiting, oldest first. Safe to run twice. Once ``stop`` is set, the
    card or message in hand is finished and recorded, and the rest waits for the next run."""
    out = Delivered()
    stopping = stop or threading.Event()
    said = (team.name, id(chat))  # what was said is this chat's own, for this team
    try:
        released = _one_round(_look(db, team, limit), chat, clock, stopping, out)
        if released:  # old mail's card, for a thread message waiting on it: post both now
            _one_round(_look(db, team, limit), chat, clock, stopping, out)
    except ChatUnavailable as exc:
        _say_once(said, logging.WARNING, "chat unavailable for %s, will retry: %s",
                  team.name, exc)  # fmt: skip
        out.waiting = True
    except ChatRefused as exc:  # only posting cards gets here: the channel itself is wrong
        _say_once(
            said,
            logging.ERROR,
            "cards for %s can't be posted in %s (%s); invite the bot to the channel, or check "
            "the team's channel id. They will be posted once it can.",
            team.name,
            team.channel,
            exc.reason,
        )
        out.waiting = True
    else:
        _all_clear(said)
    return out


def _one_round(rnd: _Round, chat: Chat, clock: Clock, stop: StopSignal, out: Delivered) -> bool:
    """Post, update, send; True if a thread message released its task's card (old mail)."""
    out.resolved += sum(t.state == "resolved" for t in (*rnd.to_post, *rnd.to_update))
    try:
        out.posted += _post_cards(rnd, chat, clock, stop)
        out.updated += _update_cards(rnd, chat, stop)
        sent, released = _send_messages(rnd, chat, clock, stop)
        out.messages += sent
    finally:  # what went is recorded, even when the chat went away part way
        rnd.flush()
    return released


# What was last said about each team's chat being away: the same again is not said again on
# every round (every few seconds), only when it changes or after the chat has come back.
_said: dict[tuple[str, int], str] = {}
_said_lock = threading.Lock()


def _say_once(key: tuple[str, int], level: int, msg: str, *args: object) -> None:
    said = msg % args
    with _said_lock:
        if _said.get(key) == said:
            return
        _said[key] = said
    log.log(level, msg, *args)


def _all_clear(key: tuple[str, int]) -> None:
    with _said_lock:
        _said.pop(key, None)


@dataclass
class _Round:
    """One delivery round: what waits, read in one session at its start, and the writes it
    holds back until its next commit. A write is held back only if losing it in a crash is
    safe: a card marked shown is at worst updated again; a message marked sent had its try
    counted (committed) before it went, so it is looked for as the top of this module says."""

    db: Database
    team: TeamConfig
    to_post: list[Task]
    to_update: list[Task]
    messages: list[Outbox]
    refs: dict[int, CardRef]  # task id -> its posted card, kept up to date through the round
    leaders: dict[int, Colleague | None]  # task id -> its worker's team leader on record
    held_back: list[Callable[[Session], None]] = field(default_factory=list)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction that first makes the writes held back."""
        with self.db.session() as s:
            held, self.held_back = self.held_back, []
            for write in held:
                write(s)
            yield s

    def later(self, write: Callable[[Session], None]) -> None:
        self.held_back.append(write)

    def flush(self) -> None:
        if self.held_back:
            with self.session():
                pass

    def view(self, task: Task) -> CardView:
        return card_view(task, self.team.tz, self.leaders.get(task.id))


def _look(db: Database, team: TeamConfig, limit: int) -> _Round:
    """Everything a round needs, in one session (each session costs a connection check-out,
    BEGIN and COMMIT: most of a small query's CPU on PostgreSQL)."""
    with db.session() as s:
        to_post = q.cards_to_post(s, team.name, limit)
        to_update = q.cards_to_update(s, team.name, limit)
        messages, refs = q.pending_messages_and_cards(s, team.name, limit)
        leaders = leaders_on_record(s, [t.id for t in (*to_post, *to_update) if t.worker])
    cards = {tid: CardRef(*ref) for tid, ref in refs.items()}
    return _Round(db, team, to_post, to_update, messages, cards, leaders)


def _post_cards(rnd: _Round, chat: Chat, clock: Clock, stop: StopSignal) -> int:
    posted = 0
    for task in rnd.to_post:
        if stop.is_set():
            break
        # "posting" means a crash may have come after Slack took it: look before posting again.
        ref = chat.find_card(rnd.team, task.id) if task.card_state == "posting" else None
        shown = 0  # a card found after a crash is refreshed by the next update pass
        if ref is None:
            with rnd.session() as s:
                q.set_card(s, task.id, card_state="posting")
            ref = chat.post_card(rnd.team, rnd.view(task))
            shown = task.card_version
            metrics.card_posted(rnd.team.name, task.received_at, clock.now())
        with rnd.session() as s:
            q.set_card(
                s,
                task.id,
                card_state="posted",
                card_channel=ref.channel,
                card_ts=ref.ts,
                card_shown_version=shown,
            )
        rnd.refs[task.id] = ref  # its thread replies may follow it this round
        posted += 1
    return posted


def _update_cards(rnd: _Round, chat: Chat, stop: StopSignal) -> int:
    updated = 0
    for task in rnd.to_update:
        if stop.is_set():
            break
        assert task.card_channel and task.card_ts
        try:
            chat.update_card(rnd.team, CardRef(task.card_channel, task.card_ts), rnd.view(task))
        except ChatRefused as exc:
            _card_refused(rnd, task.id, task.card_version, exc)
            updated += 1  # handled: posted again or let go
            continue
        rnd.later(functools.partial(q.mark_card_shown, task_id=task.id, version=task.card_version))
        updated += 1
    return updated


def card_now(db: Database, team: TeamConfig, number: int) -> CardView | None:
    """Task ``number``'s card as it stands, for a chat that redraws it for the person who
    pressed a button (Teams' Universal Actions) before delivery updates it for everyone."""
    with db.session() as s:
        task = q.task_by_number(s, team.name, number)
        leader = leader_on_record(s, task.id) if task is not None and task.worker else None
    return card_view(task, team.tz, leader) if task is not None else None


def _card_refused(rnd: _Round, task_id: int, version: int, exc: ChatRefused) -> None:
    """A card that is gone is posted afresh (its thread follows it); any other refusal would
    repeat forever, so that version of the card is let go."""
    with rnd.session() as s:
        if exc.gone:
            log.warning(
                "card for task %s in %s is gone (%s); posting it again",
                task_id,
                rnd.team.name,
                exc.reason,
            )
            q.set_card(s, task_id, card_state="pending", card_channel=None, card_ts=None)
            rnd.refs.pop(task_id, None)  # its thread waits for the new card
        else:
            log.error("card for task %s in %s refused (%s)", task_id, rnd.team.name, exc.reason)
            q.mark_card_shown(s, task_id, version)


def _with_cards(rnd: _Round, msg: Message) -> Message:
    """Add where each task named in ``msg`` has its card, so a chat can link to it."""
    named = [TaskLink.of(p.value).number for p in msg.parts if p.kind == "task"]
    if not named:
        return msg
    with rnd.session() as s:
        cards = q.card_refs_by_number(s, rnd.team.name, named)
    parts = tuple(
        Part("task", TaskLink(n, *cards[n]).value())
        if p.kind == "task" and (n := TaskLink.of(p.value).number) in cards
        else p
        for p in msg.parts
    )
    return Message(parts)


def _send_one(
    team: TeamConfig,
    chat: Chat,
    kind: str,
    target: str,
    msg: Message,
    ref: CardRef | None,
    key: int,
    posted: CardRef | None,
) -> CardRef | None:
    """Send one queued message; where it went, if the chat says."""
    if kind == "thread":
        assert ref is not None
        return chat.reply_in_thread(team, ref, msg, key=key)
    if kind == "dm":
        return chat.send_dm(team, target, msg, ref, key=key)
    if kind == "edit":
        if posted is not None:  # the message to rewrite
            chat.edit_message(team, posted, msg)
        return None
    return chat.post_to_channel(team, target or team.channel, msg, key=key)


def _already_sent(
    team: TeamConfig, chat: Chat, kind: str, target: str, ref: CardRef | None, key: int
) -> bool:
    """After an earlier try whose answer never came: did that try reach the chat?"""
    if kind == "thread":
        return chat.find_message(team, ref.channel if ref else team.channel, ref, key)
    if kind == "channel":
        return chat.find_message(team, target or team.channel, None, key)
    return False  # a DM: the chat can't look, so it goes again


def _send_messages(rnd: _Round, chat: Chat, clock: Clock, stop: StopSignal) -> tuple[int, bool]:
    """How many went, and whether a task without a card (old mail) was given one to post,
    so a thread message can follow it."""
    released = False
    sent = 0
    for item in rnd.messages:
        if stop.is_set():
            break
        ref = rnd.refs.get(item.task_id) if item.task_id is not None else None
        msg = _with_cards(rnd, Message.from_json(item.body))
        if item.kind == "thread" and ref is None:
            if item.task_id is not None:
                with rnd.session() as s:  # old mail without a card gets one now, then this
                    released = q.release_card(s, item.task_id)
            break  # its card isn't posted yet; keep the order and wait
        went: CardRef | None = None
        try:
            went = _try_send(rnd, chat, item, msg, ref)
        except ChatRefused as exc:
            if item.kind == "thread" and exc.gone and item.task_id is not None:
                _card_refused(rnd, item.task_id, 0, exc)  # post the card again, then reply
                break
            # e.g. a DM to a deactivated account: it can never go, and must not block the rest
            log.error(
                "a %s message for %s was refused (%s); dropped",
                item.kind,
                rnd.team.name,
                exc.reason,
            )
        rnd.later(_marked_sent(item.id, clock.now(), went))
        sent += 1
    return sent, released


def _marked_sent(message_id: int, at: datetime, went: CardRef | None) -> Callable[[Session], None]:
    where = (went.channel, went.ts) if went else None
    return lambda s: q.mark_message_sent(s, message_id, at, where)


def _try_send(
    rnd: _Round, chat: Chat, item: Outbox, msg: Message, ref: CardRef | None
) -> CardRef | None:
    """Send ``item`` unless an earlier try reached the chat; where it went, if the chat says.
    Its try is counted, and what went before it recorded, before it goes."""
    if item.attempts:
        rnd.flush()  # nothing held back while the chat is asked
        if _already_sent(rnd.team, chat, item.kind, item.target, ref, item.id):
            return None
    with rnd.session() as s:
        q.note_send_attempt(s, item.id)  # before: the try may land, its answer not
    posted = (
        CardRef(item.posted_channel, item.posted_ts)
        if item.posted_channel and item.posted_ts
        else None
    )
    return _send_one(rnd.team, chat, item.kind, item.target, msg, ref, item.id, posted)
