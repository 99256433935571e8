"""Delivery of what the database says is waiting: new cards, changed
cards, thread replies and DMs. Crash-safe: a card left mid-post is looked for before re-posting,
and so is a thread reply or channel post tried before (the try may have reached the chat even
though its answer never came back). A DM tried before is sent again when the chat can't say:
twice is better than never for an alert."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from bot.chat.port import CardRef, Chat, ChatRefused, ChatUnavailable
from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message, Part, TaskLink
from bot.ops import metrics
from bot.tasks.cards import CardView, card_view, leader_on_record
from storage import tasks as q
from storage.db import Database
from storage.models import Task

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
        out.posted = _post_cards(db, team, chat, limit, clock, stopping)
        out.updated = _update_cards(db, team, chat, limit, stopping)
        out.messages = _send_messages(db, team, chat, clock, limit, stopping)
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


def _post_cards(
    db: Database, team: TeamConfig, chat: Chat, limit: int, clock: Clock, stop: StopSignal
) -> int:
    with db.session() as s:
        waiting = q.cards_to_post(s, team.name, limit)
    posted = 0
    for task in waiting:
        if stop.is_set():
            break
        # "posting" means a crash may have come after Slack took it: look before posting again.
        ref = chat.find_card(team, task.id) if task.card_state == "posting" else None
        shown = 0  # a card found after a crash is refreshed by the next update pass
        if ref is None:
            with db.session() as s:
                q.set_card(s, task.id, card_state="posting")
            view = _view(db, team, task)
            ref = chat.post_card(team, view)
            shown = task.card_version
            metrics.card_posted(team.name, task.received_at, clock.now())
        with db.session() as s:
            q.set_card(
                s,
                task.id,
                card_state="posted",
                card_channel=ref.channel,
                card_ts=ref.ts,
                card_shown_version=shown,
            )
        posted += 1
    return posted


def _update_cards(db: Database, team: TeamConfig, chat: Chat, limit: int, stop: StopSignal) -> int:
    with db.session() as s:
        changed = q.cards_to_update(s, team.name, limit)
    updated = 0
    for task in changed:
        if stop.is_set():
            break
        assert task.card_channel and task.card_ts
        try:
            chat.update_card(team, CardRef(task.card_channel, task.card_ts), _view(db, team, task))
        except ChatRefused as exc:
            _card_refused(db, team, task.id, task.card_version, exc)
            updated += 1  # handled: posted again or let go
            continue
        with db.session() as s:
            q.mark_card_shown(s, task.id, task.card_version)
        updated += 1
    return updated


def _view(db: Database, team: TeamConfig, task: Task) -> CardView:
    """The card, with the allocated worker's team leader as recorded, if it has a worker."""
    if not task.worker:
        return card_view(task, team.tz)
    with db.session() as s:
        return card_view(task, team.tz, leader_on_record(s, task.id))


def card_now(db: Database, team: TeamConfig, number: int) -> CardView | None:
    """Task ``number``'s card as it stands, for a chat that redraws it for the person who
    pressed a button (Teams' Universal Actions) before delivery updates it for everyone."""
    with db.session() as s:
        task = q.task_by_number(s, team.name, number)
    return _view(db, team, task) if task is not None else None


def _card_refused(
    db: Database, team: TeamConfig, task_id: int, version: int, exc: ChatRefused
) -> None:
    """A card that is gone is posted afresh (its thread follows it); any other refusal would
    repeat forever, so that version of the card is let go."""
    with db.session() as s:
        if exc.gone:
            log.warning(
                "card for task %s in %s is gone (%s); posting it again",
                task_id,
                team.name,
                exc.reason,
            )
            q.set_card(s, task_id, card_state="pending", card_channel=None, card_ts=None)
        else:
            log.error("card for task %s in %s refused (%s)", task_id, team.name, exc.reason)
            q.mark_card_shown(s, task_id, version)


def _with_cards(db: Database, team: TeamConfig, msg: Message) -> Message:
    """Add where each task named in ``msg`` has its card, so a chat can link to it."""
    named = [TaskLink.of(p.value).number for p in msg.parts if p.kind == "task"]
    if not named:
        return msg
    with db.session() as s:
        cards = q.card_refs_by_number(s, team.name, named)
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


def _send_messages(
    db: Database, team: TeamConfig, chat: Chat, clock: Clock, limit: int, stop: StopSignal
) -> int:
    with db.session() as s:
        waiting = q.pending_messages(s, team.name, limit)
        refs = q.card_refs(s, (m.task_id for m in waiting if m.task_id))
    sent = 0
    for item in waiting:
        if stop.is_set():
            break
        ref = CardRef(*refs[item.task_id]) if item.task_id in refs else None
        msg = _with_cards(db, team, Message.from_json(item.body))
        if item.kind == "thread" and ref is None:
            break  # its card isn't posted yet; keep the order and wait
        posted = (
            CardRef(item.posted_channel, item.posted_ts)
            if item.posted_channel and item.posted_ts
            else None
        )
        went: CardRef | None = None
        try:
            if not (
                item.attempts and _already_sent(team, chat, item.kind, item.target, ref, item.id)
            ):
                with db.session() as s:
                    q.note_send_attempt(s, item.id)  # before: the try may land, its answer not
                went = _send_one(team, chat, item.kind, item.target, msg, ref, item.id, posted)
        except ChatRefused as exc:
            if item.kind == "thread" and exc.gone and item.task_id is not None:
                _card_refused(db, team, item.task_id, 0, exc)  # post the card again, then reply
                break
            # e.g. a DM to a deactivated account: it can never go, and must not block the rest
            log.error(
                "a %s message for %s was refused (%s); dropped", item.kind, team.name, exc.reason
            )
        with db.session() as s:
            q.mark_message_sent(s, item.id, clock.now(), (went.channel, went.ts) if went else None)
        sent += 1
    return sent
