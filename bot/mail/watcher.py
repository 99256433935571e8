"""Mailbox sync: pull new mail into intake, save the checkpoint only after it is all stored,
and move resolved emails to Done (retrying later if the mailbox is down)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from bot.kernel.clock import Clock
from bot.mail.intake import take_in
from bot.mail.mailbox import CheckpointExpired, ItemGone, Mailbox, MailboxError
from bot.mail.redaction import PreviewMode
from bot.tasks.triage import Sorter
from storage import tasks as q
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    new: list[int] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)
    duplicates: int = 0
    error: str | None = None


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
) -> SyncResult:
    """Fetch and store everything new. Never raises for mailbox trouble; see ``error``.
    With ``categorise``, each new task's email gets the Outlook category "Duty #N".
    Once ``stop`` is set it stops after the email in hand: the checkpoint stays where it
    was, so the next run reads that batch again and skips what is already stored."""
    result = SyncResult()
    stopping = stop or threading.Event()
    with db.session() as s:
        checkpoint = q.mailbox_checkpoint(s, team)
    for _ in range(max_batches):
        if stopping.is_set():
            break
        try:
            batch = mailbox.poll(checkpoint)
        except CheckpointExpired:
            log.warning("mailbox %s: checkpoint expired, resyncing from the start", team)
            checkpoint = None
            continue
        except MailboxError as exc:
            result.error = str(exc)
            _note_error(db, team, checkpoint, clock, str(exc))
            return result
        for raw in batch.messages:
            if stopping.is_set():
                return result
            with db.session() as s:
                if raw.item_id and q.known_item(s, team, raw.item_id):
                    result.duplicates += 1
                    continue
            got = take_in(db, team, raw, clock.now(), preview, sort)
            if got.outcome == "new":
                result.new.append(got.task_number)
                if categorise:
                    _tag(mailbox, raw.item_id, f"Duty #{got.task_number}")
            elif got.outcome == "reply":
                result.replies.append(got.task_number)
            else:
                result.duplicates += 1
        checkpoint = batch.checkpoint
        with db.session() as s:  # only now: every message the checkpoint covers is stored
            q.save_mailbox_checkpoint(s, team, checkpoint, clock.now())
        if not batch.more:
            break
    return result


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
