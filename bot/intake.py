"""Intake: one raw message becomes a new task, or joins the task it replies to.

Parse, dedupe on Message-ID, thread (In-Reply-To, References, conversation id), redact,
then store the email, task and event in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.email_parse import ParsedEmail, parse_email
from bot.mailbox.base import RawMessage
from bot.message import say, text
from bot.redaction import PreviewMode, card_preview, card_subject, tidy
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Task

log = logging.getLogger(__name__)

PREVIEW_SOURCE_CHARS = 2_000  # only this much of a body is ever looked at for the card


@dataclass(frozen=True)
class Intake:
    """What happened to one message."""

    outcome: str  # new | reply | duplicate
    task_number: int
    reopened: bool = False


def sender_of(mail: ParsedEmail) -> str:
    name = tidy(mail.from_name).strip()
    addr = mail.from_addr
    if name and addr:
        return f"{name} <{addr}>"
    return name or addr or "(unknown sender)"


def take_in(
    db: Database, team: str, raw: RawMessage, now: datetime, preview: PreviewMode = "redacted"
) -> Intake:
    """Store one message. Safe to call again with the same message: it is a duplicate then."""
    mail = parse_email(raw.mime)
    try:
        with db.session() as s:
            return _store(s, team, raw, mail, now, preview)
    except IntegrityError:
        # Another process stored the same Message-ID between our check and our insert.
        with db.session() as s:
            existing = q.email_by_message_id(s, team, mail.message_id)
            if existing is None:
                raise
            task = s.get(Task, existing.task_id)
            return Intake("duplicate", task.number if task else 0)


def _store(
    s: Session, team: str, raw: RawMessage, mail: ParsedEmail, now: datetime, mode: PreviewMode
) -> Intake:
    existing = q.email_by_message_id(s, team, mail.message_id)
    if existing is not None:
        if raw.item_id and existing.item_id != raw.item_id:
            existing.item_id = raw.item_id  # the same mail, seen under a new id (moved, resynced)
        task = s.get(Task, existing.task_id)
        return Intake("duplicate", task.number if task else 0)

    parent = _thread_parent(s, team, mail, raw.conversation_id)
    if parent is not None:
        reopened = _join(s, team, parent, now)
        task = parent
        outcome = "reply"
    else:
        task = _new_task(s, team, raw, mail, now, mode)
        reopened = False
        outcome = "new"

    s.add(
        Email(
            team=team,
            task_id=task.id,
            message_id=mail.message_id,
            in_reply_to=mail.in_reply_to,
            conversation_id=raw.conversation_id,
            item_id=raw.item_id,
            web_link=raw.web_link,
            subject=mail.subject,
            from_name=mail.from_name,
            from_addr=mail.from_addr,
            sent_at=mail.sent_at,
            received_at=received_time(raw, mail, now),
            attachments=[[a.name, a.size] for a in mail.attachments],
            problems=list(mail.problems),
            # A reply to a finished task goes straight to Done with the rest of its thread.
            move_state="pending" if task.state == "resolved" else "",
        )
    )
    s.flush()
    log.info("intake: %s task #%s", outcome, task.number)  # never the content
    return Intake(outcome, task.number, reopened)


def _thread_parent(
    s: Session, team: str, mail: ParsedEmail, conversation_id: str | None
) -> Task | None:
    ids: list[str] = []
    if mail.in_reply_to:
        ids.append(mail.in_reply_to)
    ids += [r for r in reversed(mail.references) if r not in ids]  # newest reference first
    task = q.task_for_message_ids(s, team, ids)
    if task is None and conversation_id:
        task = q.task_for_conversation(s, team, conversation_id)
    return task


def _join(s: Session, team: str, task: Task, now: datetime) -> bool:
    """A reply arrived for ``task``: note it, and reopen the task if it was resolved."""
    reopened = q.reopen_if_resolved(s, task.id)
    if reopened:
        msg = text("A new email arrived on this resolved task, so it is open again.")
        kind = "reopened_by_email"
    else:
        q.transition(s, task.id, [], {})
        msg = say("A new email arrived on this task.")
        kind = "email_received"
    q.add_event(s, team=team, task_id=task.id, actor="mailbox", kind=kind, at=now)
    q.queue_message(s, team=team, kind="thread", task_id=task.id, body=msg.to_json(), at=now)
    s.refresh(task)
    return reopened


def received_time(raw: RawMessage, mail: ParsedEmail, now: datetime) -> datetime:
    """When it reached the inbox: the mailbox's word, else the Date header, never the future."""
    when = raw.received_at or mail.sent_at or now
    return min(when, now)


def _new_task(
    s: Session, team: str, raw: RawMessage, mail: ParsedEmail, now: datetime, mode: PreviewMode
) -> Task:
    task = Task(
        team=team,
        number=q.next_task_number(s, team),
        state="open",
        subject=card_subject(mail.subject, mode),
        sender=sender_of(mail),
        preview=card_preview(mail.body_text[:PREVIEW_SOURCE_CHARS], mode),
        attachments=[[a.name, a.size] for a in mail.attachments],
        web_link=raw.web_link,
        received_at=received_time(raw, mail, now),
        last_event_at=now,
    )
    s.add(task)
    s.flush()
    q.add_event(
        s,
        team=team,
        task_id=task.id,
        actor="mailbox",
        kind="received",
        at=now,
        data={"problems": list(mail.problems)} if mail.problems else None,
    )
    return task
