"""Mailbox sync: pull new mail into intake, save the checkpoint only after it is all stored,
and move resolved emails to Done (retrying later if the mailbox is down)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.kernel.clock import Clock
from bot.kernel.config import FIRST_SYNC_CARDS, FirstSync
from bot.kernel.message import text
from bot.mail.intake import take_in_all
from bot.mail.mailbox import Batch, CheckpointExpired, ItemGone, Mailbox, MailboxError, RawMessage
from bot.mail.redaction import PreviewMode
from bot.tasks.triage import Sorter
from storage import tasks as q
from storage.db import Database

log = logging.getLogger(__name__)


# first_sync = "new" takes in what arrived this long before the first start too: a bot clock
# a little ahead of the mailbox's must not lose the mail that came in as it started.
NEW_MAIL_GRACE = timedelta(minutes=2)


@dataclass
class SyncResult:
    new: list[int] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)
    duplicates: int = 0
    error: str | None = None
    caught_up: int = 0  # tasks taken in from mail already in the inbox at the first start


@dataclass(frozen=True)
class _Plan:
    since: datetime | None  # mail that arrived before this stays in the inbox, untouched
    started: datetime | None  # while catching up after the first start: when it began


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _plan(db: Database, team: str, first: FirstSync | None, wall: datetime) -> _Plan:
    """What this sync takes in. The first start on a mailbox records its plan, so a restart
    halfway through carries on with the same one; ``first`` is read only then."""
    # Exchange keeps the time received to the second: mail in the start's own second is new.
    wall = wall.replace(microsecond=0)
    with db.session() as s:
        if first is None:
            row = q.mailbox_state(s, team)
        else:
            take_from = {"new": wall - NEW_MAIL_GRACE, "since": first.since, "all": None}
            row = q.begin_first_sync(s, team, wall, take_from[first.mode])
        if row is None:
            return _Plan(None, None)
        catching_up = row.started_at is not None and row.caught_up_at is None
        return _Plan(row.take_from, row.started_at if catching_up else None)


def _old(raw: RawMessage, plan: _Plan) -> bool:
    """Was it in the inbox before the first start (while that start is catching up)?"""
    if plan.started is None:
        return False
    return raw.arrived_at is None or raw.arrived_at < plan.started


def _poll(mailbox: Mailbox, checkpoint: str | None, since: datetime | None) -> Batch:
    return mailbox.poll(checkpoint, since) if since else mailbox.poll(checkpoint)


def _caught_up(db: Database, team: str, cards: int, clock: Clock) -> int:
    """All the mail that was in the inbox at the first start is in: the newest few get their
    cards, and if the rest get none the channel gets one line saying where they are."""
    with db.session() as s:
        taken, shown = q.finish_first_sync(s, team, cards, clock.now())
        if taken > shown:
            q.queue_message(
                s, team=team, kind="channel", body=text(caught_up_note(taken, shown)).to_json(),
                at=clock.now(),
            )  # fmt: skip
    if taken:
        log.info("mailbox %s: took in %d emails already in the inbox", team, taken)
    return taken


def first_start_plan(first: FirstSync, total: int, taken: int, *, started: bool) -> str:
    """For `dutybot check --mailbox`: what the first start will do with the ``total`` emails
    in the Inbox, ``taken`` of them in its reach (all of them, or those since the date)."""
    if started:
        return (
            f"The Inbox holds {_emails(total)}. The bot has started on this mailbox before, so "
            "first_sync no longer applies: it takes in mail as it arrives."
        )
    if first.mode == "new" or not taken:
        left = "leaves them there and " if total else ""
        return (
            f"The Inbox holds {_emails(total)}. The first start {left}takes in only mail that "
            "arrives from then on."
        )
    day = f"{first.day.day} {first.day:%b %Y}" if first.day else ""
    which = "them all" if first.mode == "all" else f"the {taken:,} from {day} on"
    holds = f"The Inbox holds {_emails(total)}."
    if taken <= first.cards:
        return f"{holds} The first start takes in {which}, each with its card."
    return (
        f"{holds} The first start takes in {which} without unclaimed "
        f"reminders: cards for the newest {first.cards} and one summary message; the rest are "
        "in /duty list."
    )


def _emails(n: int) -> str:
    return f"{n:,} email{'' if n == 1 else 's'}"


def caught_up_note(taken: int, shown: int) -> str:
    were = "email that was" if taken == 1 else "emails that were"
    said = f"Took in {taken:,} {were} already in the inbox."
    if not shown:
        return f"{said} See them with /duty list."
    newest = "newest one has a card" if shown == 1 else f"newest {shown} have cards"
    return f"{said} The {newest} here; see the rest with /duty list."


def sync_once(
    db: Database,
    team: str,
    mailbox: Mailbox,
    clock: Clock,
    preview: PreviewMode = "redacted",
    max_batches: int = 20,
    categorise: bool = False,
    stop: threading.Event | None = None,
    sort: Sorter | None = None,
    first: FirstSync | None = None,
    wall: Callable[[], datetime] = _wall_clock,
) -> SyncResult:
    """Fetch and store everything new. Never raises for mailbox trouble; see ``error``.
    With ``categorise``, each new task's email gets the Outlook category "Duty #N".
    Once ``stop`` is set it stops after the email in hand: the checkpoint stays where it
    was, so the next run reads that batch again and skips what is already stored.

    ``first``: what the bot's first start on this mailbox does with the mail already in the
    inbox (see FirstSync); a mailbox synced before has started already and ignores it. Until
    that mail is all in, the sync goes on past ``max_batches``. The first start's time is the
    ``wall`` clock's: it is compared with the mailbox's own times, never the bot's clock
    (which the shell and tests move)."""
    sync = _Sync(db, team, mailbox, clock, preview, categorise, sort, stop or threading.Event())
    plan = _plan(db, team, first, wall())
    with db.session() as s:
        checkpoint = q.mailbox_checkpoint(s, team)
    with _Pages(mailbox, plan.since, ahead=plan.started is not None) as pages:
        batches = 0
        while batches < max_batches or plan.started is not None:
            batches += 1
            if sync.stop.is_set():
                break
            try:
                batch = pages.get(checkpoint)
            except CheckpointExpired:
                log.warning("mailbox %s: checkpoint expired, resyncing from the start", team)
                checkpoint = None
                continue
            except MailboxError as exc:
                sync.result.error = str(exc)
                _note_error(db, team, checkpoint, clock, str(exc))
                break
            if batch.more:
                pages.read_ahead(batch.checkpoint)
            if not sync.store(batch, plan):
                break  # stopped: the checkpoint stays, and the rest is read again
            checkpoint = batch.checkpoint
            with db.session() as s:  # only now: every message the checkpoint covers is stored
                q.save_mailbox_checkpoint(s, team, checkpoint, clock.now())
            if not batch.more:
                if plan.started is not None:
                    cards = first.cards if first else FIRST_SYNC_CARDS
                    sync.result.caught_up = _caught_up(db, team, cards, clock)
                break
    return sync.result


@dataclass
class _Sync:
    """One sync's doings: what it stores with, and what it found."""

    db: Database
    team: str
    mailbox: Mailbox
    clock: Clock
    preview: PreviewMode
    categorise: bool
    sort: Sorter | None
    stop: threading.Event
    result: SyncResult = field(default_factory=SyncResult)

    def store(self, batch: Batch, plan: _Plan) -> bool:
        """Take in a page of mail; False if it stopped partway."""
        todo = [(raw, _old(raw, plan)) for raw in batch.messages]
        done = take_in_all(
            self.db, self.team, todo, self.clock.now(), self.preview, self.sort, self.stop.is_set
        )
        for raw, got in done:
            if got.outcome == "new":
                self.result.new.append(got.task_number)
                if self.categorise:
                    _tag(self.mailbox, raw.item_id, f"Duty #{got.task_number}")
            elif got.outcome == "reply":
                self.result.replies.append(got.task_number)
            else:
                self.result.duplicates += 1
        return len(done) == len(todo)


class _Pages:
    """The mailbox's pages in turn. While a first start catches up, the next page is read on
    a thread of its own while this one is stored: reading waits on the network, storing on
    the CPU. A page read ahead and not used (the sync stopped) is dropped: the next sync reads
    it again from the saved checkpoint."""

    def __init__(self, mailbox: Mailbox, since: datetime | None, *, ahead: bool) -> None:
        self.mailbox, self.since = mailbox, since
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mail-ahead") if ahead else None
        self._ahead: tuple[str | None, Future[Batch]] | None = None

    def get(self, checkpoint: str | None) -> Batch:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == checkpoint:
            return ahead[1].result()
        return _poll(self.mailbox, checkpoint, self.since)

    def read_ahead(self, checkpoint: str | None) -> None:
        if self._pool is not None:
            reading = self._pool.submit(_poll, self.mailbox, checkpoint, self.since)
            self._ahead = (checkpoint, reading)

    def __enter__(self) -> _Pages:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _tag(mailbox: Mailbox, item_id: str, category: str) -> None:
    """Best effort: a missing category costs nothing, so a failure is logged, not retried."""
    set_category = getattr(mailbox, "set_category", None)
    if set_category is None:
        return
    try:
        set_category(item_id, category)
    except MailboxError as exc:
        log.warning("mailbox: could not set the category %r: %s", category, exc)


def _note_error(db: Database, team: str, checkpoint: str | None, clock: Clock, err: str) -> None:
    log.error("mailbox %s: %s", team, err)
    with db.session() as s:
        q.save_mailbox_checkpoint(s, team, checkpoint, clock.now(), error=err)


def move_resolved(db: Database, team: str, mailbox: Mailbox) -> int:
    """Move the emails of resolved tasks to Done. Left pending if the mailbox is down; one
    that is no longer there (moved or deleted in Outlook) is marked gone, not retried."""
    from storage.models import Email

    moved = 0
    with db.session() as s:
        pending = [(e.id, e.item_id) for e in q.emails_to_move(s, team)]
    for email_id, item_id in pending:
        if not item_id:
            continue
        try:
            new_id = mailbox.move_to_done(item_id)
        except ItemGone as exc:
            log.warning("mailbox %s: not moving an email to Done: %s", team, exc)
            with db.session() as s:
                row = s.get(Email, email_id)
                if row is not None and row.move_state == "pending":
                    row.move_state = "gone"
            continue
        except MailboxError as exc:
            log.warning("mailbox %s: move to Done failed, will retry: %s", team, exc)
            break
        with db.session() as s:
            row = s.get(Email, email_id)
            if row is not None:
                row.item_id = new_id
                row.move_state = "moved"
        moved += 1
    return moved
