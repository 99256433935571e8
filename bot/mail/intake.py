"""Intake: one raw message becomes a new task, or joins the task it replies to.

Parse, dedupe on Message-ID, thread (In-Reply-To, References, conversation id), redact,
then store the email, task and event in one transaction.

A second email with a Message-ID we already hold is not stored again. If its content is the
same (a resend, the same email saved twice, or an item read again just as it moved) and it
is another item in the mailbox, that item is recorded as a copy (storage.tasks.copy_key): it
goes to Done with its task and the purge finds it there, and a poll that meets it again
knows it. The first email's row keeps its own item; a copy never takes it over. If its
content differs (a broken or hostile sender reusing ids) it is still not stored, but the task
of the first one gets a "message_id_clash" event and a thread note, once per distinct
content, so the team knows to look in the inbox. Content is compared by a digest recorded in
the event data of each email's arrival. Once the purge has taken the digests (or for emails
from before digests existed) it can't be told: such an email is neither noted nor made a
copy, and stays in the inbox where people see it.

An email with nothing readable in it (zero bytes, a bounce with no report text, headers
only) is a task of its own like any other, titled NOTHING_READABLE; with no Message-ID its id
is a hash of its raw bytes (bot.mail.parse.generated_id), so it never merges with another.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.kernel.message import Action, Message, button, lines, text
from bot.mail.mailbox import RawMessage
from bot.mail.parse import ParsedEmail, parse_email
from bot.mail.redaction import PreviewMode, card_preview, card_subject, organisation, tidy
from bot.ops import metrics
from bot.tasks.triage import Sorter, Triage
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Event, Task

log = logging.getLogger(__name__)

PREVIEW_SOURCE_CHARS = 2_000  # only this much of a body is ever looked at for the card


@dataclass(frozen=True)
class Intake:
    """What happened to one message."""

    outcome: str  # new | reply | duplicate
    task_number: int
    reopened: bool = False
    clash: bool = False  # a duplicate Message-ID with different content, noted on the task


# Events marking one email's arrival on a task; their data carries that email's digest.
ARRIVAL_EVENTS = ("received", "email_received", "reopened_by_email", "message_id_clash")
CLASH_NOTE = (
    "An email arrived with the same Message-ID as this task's email but different content, "
    "so it was not added. Please look for it in the duty inbox."
)
NOTHING_READABLE = "(an email with nothing readable in it)"  # its subject line, in every mode


def content_digest(mail: ParsedEmail) -> str:
    """A short fingerprint of what a person would read, to tell a resend from a clash."""
    h = hashlib.sha256()
    for part in (mail.subject, mail.from_name, mail.from_addr, mail.body_text):
        h.update(part.encode("utf-8", "replace") + b"\x00")
    for a in mail.attachments:
        h.update(f"{a.name}\x00{a.size}\x00".encode("utf-8", "replace"))
    return h.hexdigest()[:32]


NAME_CHARS = 400  # the sender columns' size; a longer From name is cut, never refused


def _fit(text: str, limit: int = NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sender_of(mail: ParsedEmail) -> str:
    name = tidy(mail.from_name).strip()
    addr = _fit(mail.from_addr, NAME_CHARS // 2)
    if name and addr:
        return f"{_fit(name, NAME_CHARS - len(addr) - 3)} <{addr}>"
    return _fit(name or addr or "(unknown sender)")


@dataclass(frozen=True)
class _Arrival:
    """One email read from the mailbox and parsed, ready to store."""

    raw: RawMessage
    mail: ParsedEmail
    found: Triage  # its categories and hints, from the whole email before redaction
    digest: str
    backlog: bool  # in the inbox before the bot's first start

    def thread_ids(self) -> list[str]:
        """The ids it may reply to, the likeliest first: In-Reply-To, then the newest
        reference."""
        ids = [self.mail.in_reply_to] if self.mail.in_reply_to else []
        return ids + [r for r in reversed(self.mail.references) if r not in ids]


def _read(raw: RawMessage, backlog: bool, sort: Sorter | None) -> _Arrival:
    mail = parse_email(raw.mime)
    found = sort(f"{mail.subject}\n{mail.body_text}") if sort else Triage()
    return _Arrival(raw, mail, found, content_digest(mail), backlog)


def take_in(
    db: Database,
    team: str,
    raw: RawMessage,
    now: datetime,
    preview: PreviewMode = "redacted",
    sort: Sorter | None = None,
    backlog: bool = False,
) -> Intake:
    """Store one message. Safe to call again with the same message: it is a duplicate then.
    ``sort`` reads the whole email (before redaction) for its categories and hints.
    ``backlog``: it was in the inbox before the bot's first start, so a new task from it waits
    without a card (bot.mail.watcher gives the newest few theirs once all are in)."""
    arrival = _read(raw, backlog, sort)
    try:
        with db.session() as s:
            got = _store(s, team, arrival, now, preview)
        if got.outcome == "new":  # counted once it is committed
            metrics.task_received(team)
        return got
    except IntegrityError:
        # Another process stored the same Message-ID between our check and our insert.
        with db.session() as s:
            existing = q.email_by_message_id(s, team, arrival.mail.message_id)
            if existing is None:
                raise
            task = s.get(Task, existing.task_id)
            return Intake("duplicate", task.number if task else 0)


STORE_TOGETHER = 50  # emails stored in one transaction by take_in_all


def take_in_all(
    db: Database,
    team: str,
    raws: Sequence[tuple[RawMessage, bool]],
    now: datetime,
    preview: PreviewMode = "redacted",
    sort: Sorter | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> list[tuple[RawMessage, Intake]]:
    """``take_in`` for a page of mail, each with its ``backlog`` flag, up to STORE_TOGETHER
    emails a transaction: a full inbox's first start then does not wait for the database once
    an email, and a transaction never holds the team's task numbers for long. An item on record
    already is a duplicate without being read. If another process stored one of them meanwhile,
    that transaction is taken back and its emails are taken in one at a time. Stops before the
    next email once ``stop()`` says so; what it returns is stored."""
    done: list[tuple[RawMessage, Intake]] = []
    for start in range(0, len(raws), STORE_TOGETHER):
        chunk = raws[start : start + STORE_TOGETHER]
        try:
            stored = _store_together(db, team, chunk, now, preview, sort, stop)
        except IntegrityError:
            stored = []
            for raw, backlog in chunk:
                if stop():
                    break
                stored.append((raw, take_in(db, team, raw, now, preview, sort, backlog)))
        else:
            for _, got in stored:  # counted once committed (take_in counts its own)
                if got.outcome == "new":
                    metrics.task_received(team)
        done += stored
        if len(stored) < len(chunk):
            break
    return done


def _store_together(
    db: Database,
    team: str,
    chunk: Sequence[tuple[RawMessage, bool]],
    now: datetime,
    preview: PreviewMode,
    sort: Sorter | None,
    stop: Callable[[], bool],
) -> list[tuple[RawMessage, Intake]]:
    with db.session() as s:
        known = q.known_items(s, team, [raw.item_id for raw, _ in chunk if raw.item_id])
        read: list[tuple[RawMessage, _Arrival | None]] = []  # None: on record, not read
        for raw, backlog in chunk:
            if stop():
                break
            read.append((raw, None if raw.item_id in known else _read(raw, backlog, sort)))
        stored = iter(_store_page(s, team, [a for _, a in read if a], now, preview))
        return [(raw, next(stored) if a else Intake("duplicate", 0)) for raw, a in read]


def _store_page(
    s: Session, team: str, arrivals: Sequence[_Arrival], now: datetime, mode: PreviewMode
) -> list[Intake]:
    """Store ``arrivals`` in order, as ``_store`` would one by one, in a few statements: one
    look for every id the page names, and the plainly new emails (no id or conversation on
    record, nor earlier in the page) inserted together. Any other email (a repeat, a reply)
    goes through ``_store`` after the new ones before it are in, so it sees them."""
    ids = {i for a in arrivals for i in (a.mail.message_id, *a.thread_ids())}
    talks = {a.raw.conversation_id for a in arrivals if a.raw.conversation_id}
    held_ids = q.held_message_ids(s, team, ids)
    held_talks = q.held_conversations(s, team, talks)
    got: list[Intake] = []
    fresh: list[_Arrival] = []
    for a in arrivals:
        if _plainly_new(a, held_ids, held_talks):
            fresh.append(a)
        else:
            got += _store_new(s, team, fresh, now, mode)
            fresh = []
            got.append(_store(s, team, a, now, mode))
        held_ids.add(a.mail.message_id)  # what comes later in the page may name it
        if a.raw.conversation_id:
            held_talks.add(a.raw.conversation_id)
    return got + _store_new(s, team, fresh, now, mode)


def _plainly_new(a: _Arrival, held_ids: set[str], held_talks: set[str]) -> bool:
    """Neither a repeat nor a reply of anything on record: a new task for sure."""
    named = (a.mail.message_id, *a.thread_ids())
    talk = a.raw.conversation_id
    return not any(i in held_ids for i in named) and not (talk and talk in held_talks)


def _store(s: Session, team: str, a: _Arrival, now: datetime, mode: PreviewMode) -> Intake:
    raw, mail, digest = a.raw, a.mail, a.digest
    existing = q.email_by_message_id(s, team, mail.message_id)
    if existing is not None:
        task = s.get(Task, existing.task_id)
        assert task is not None
        verdict = _compare(s, task, digest)
        if verdict == "clash":
            _note_clash(s, team, task, digest, now)
        elif verdict == "same" and raw.item_id and existing.item_id != raw.item_id:
            _keep_copy(s, team, task, existing, raw, mail, now)
        # "unknown": it may be another email, so it is not moved to Done unseen; it stays
        return Intake("duplicate", task.number, clash=verdict in ("clash", "seen"))

    parent = _thread_parent(s, team, a)
    if parent is None:
        return _store_new(s, team, [a], now, mode)[0]
    reopened = _join(s, team, parent, now, digest, reply_preview(raw, mail, mode))
    _add_triage(parent, a.found)  # a reply can bring a new worry; nothing is taken away
    s.add(_email_row(team, parent, a, now))
    s.flush()
    log.info("intake: reply task #%s", parent.number)  # never the content
    return Intake("reply", parent.number, reopened)


def _store_new(
    s: Session, team: str, arrivals: Sequence[_Arrival], now: datetime, mode: PreviewMode
) -> list[Intake]:
    """Each of ``arrivals`` a new task, with its "received" event and its email row: one
    statement for the numbers and one a table, however many there are."""
    if not arrivals:
        return []
    numbers = q.next_task_numbers(s, team, len(arrivals))
    tasks = [_new_task(team, a, n, now, mode) for a, n in zip(arrivals, numbers, strict=True)]
    s.add_all(tasks)
    s.flush()  # their ids, for the rows that point at them
    for a, task in zip(arrivals, tasks, strict=True):
        s.add(_received(team, task, a, now))
        s.add(_email_row(team, task, a, now))
    s.flush()
    for task in tasks:
        log.info("intake: new task #%s", task.number)  # never the content
    return [Intake("new", task.number) for task in tasks]


def _email_row(team: str, task: Task, a: _Arrival, now: datetime) -> Email:
    mail, raw = a.mail, a.raw
    return Email(
        team=team,
        task_id=task.id,
        message_id=mail.message_id,
        in_reply_to=mail.in_reply_to,
        conversation_id=raw.conversation_id,
        item_id=raw.item_id,
        web_link=raw.web_link,
        subject=mail.subject,
        from_name=_fit(mail.from_name),
        from_addr=_fit(mail.from_addr),
        sent_at=mail.sent_at,
        received_at=received_time(raw, mail, now),
        attachments=[[att.name, att.size] for att in mail.attachments],
        problems=list(mail.problems),
        # A reply to a finished task goes straight to Done with the rest of its thread.
        move_state="pending" if task.state == "resolved" else "",
    )


def _keep_copy(
    s: Session,
    team: str,
    task: Task,
    first: Email,
    raw: RawMessage,
    mail: ParsedEmail,
    now: datetime,
) -> None:
    """Record ``raw`` as another copy of ``first``. Pointing ``first`` at it instead would lose
    a copy: its twin's after the twin moved, or the Done one when a poll read the item just
    before it moved (the row went back to the old name)."""
    key = q.copy_key(first.message_id, raw.item_id)
    if q.email_by_message_id(s, team, key) is not None:
        return  # this copy is on record already (it has moved since it was read)
    s.add(
        Email(
            team=team,
            task_id=task.id,
            message_id=key,
            item_id=raw.item_id,
            received_at=received_time(raw, mail, now),  # its own age, for the purge
            move_state="pending" if task.state == "resolved" else "",
        )
    )
    s.flush()
    log.info("intake: another copy of an email of task #%s", task.number)


def _thread_parent(s: Session, team: str, a: _Arrival) -> Task | None:
    task = q.task_for_message_ids(s, team, a.thread_ids())
    if task is None and a.raw.conversation_id:
        task = q.task_for_conversation(s, team, a.raw.conversation_id)
    return task


def _compare(s: Session, task: Task, digest: str) -> str:
    """Is a repeated Message-ID on ``task`` the "same" email, a new "clash", a "seen" one, or
    "unknown" (the digests are gone)?"""
    emails: list[str] = []
    clashes: set[str] = set()
    for ev in q.events_of_kinds(s, task.id, ARRIVAL_EVENTS):
        found = ev.data.get("digest") if isinstance(ev.data, dict) else None
        if found and ev.kind == "message_id_clash":
            clashes.add(found)
        elif found:
            emails.append(found)
    if digest in emails:
        return "same"
    if digest in clashes:
        return "seen"
    if len(emails) < len(q.emails_of_task(s, task.id)):
        return "unknown"  # an email from before digests (or purged): can't tell, not a clash
    return "clash"


def _note_clash(s: Session, team: str, task: Task, digest: str, now: datetime) -> None:
    q.add_event(
        s, team=team, task_id=task.id, actor="mailbox", kind="message_id_clash", at=now,
        data={"digest": digest},
    )  # fmt: skip
    q.queue_message(
        s, team=team, kind="thread", task_id=task.id, body=text(CLASH_NOTE).to_json(), at=now
    )
    log.info("intake: a different email reused the Message-ID of task #%s", task.number)


NEW_EMAIL = "A new email arrived"  # how a thread line showing a reply starts (retention finds it)


def _join(s: Session, team: str, task: Task, now: datetime, digest: str, news: Message) -> bool:
    """A reply arrived for ``task``: show it in the thread (``news``, at the card's privacy
    setting), and reopen the task if it was resolved."""
    reopened = q.reopen_if_resolved(s, task.id)
    if reopened:
        msg = text(f"{NEW_EMAIL} on this resolved task, so it is open again.\n") + news
        kind = "reopened_by_email"
    else:
        q.transition(s, task.id, [], {})
        msg = text(f"{NEW_EMAIL} on this task.\n") + news
        kind = "email_received"
    q.add_event(
        s, team=team, task_id=task.id, actor="mailbox", kind=kind, at=now, data={"digest": digest}
    )
    q.queue_message(s, team=team, kind="thread", task_id=task.id, body=msg.to_json(), at=now)
    s.refresh(task)
    return reopened


def _add_triage(task: Task, found: Triage) -> None:
    """Add the categories and hints ``found`` that the task doesn't have yet. A hint for a flag
    the task already has, or one a person has already decided on, is not raised again."""
    if found.categories:
        task.categories = list(dict.fromkeys([*(task.categories or []), *found.categories]))
    hints = dict(task.hints or {})
    for flag, words in found.hints.items():
        if not getattr(task, flag) and flag not in hints:
            hints[flag] = words
    if hints != (task.hints or {}):
        task.hints = hints


def reply_preview(raw: RawMessage, mail: ParsedEmail, mode: PreviewMode) -> Message:
    """A reply's own card-level lines for the thread: who, its subject and preview, masked
    as a card is, and a link to it in Outlook when there is a safe one."""
    if mode == "minimal":
        rows = [text(f"From {organisation(mail.from_addr)}")]
    else:
        rows = [text(f"From {sender_of(mail)}: {subject_line(mail, mode)}")]
    preview = card_preview(mail.body_text[:PREVIEW_SOURCE_CHARS], mode)
    if preview:
        rows.append(text(preview))
    found = lines(rows)
    if raw.web_link and raw.web_link.startswith("https://"):
        found = found + "\n" + button(Action("Open in Outlook", url=raw.web_link))
    return found.with_fallback("A new email on a duty task")


def subject_line(mail: ParsedEmail, mode: PreviewMode) -> str:
    """The subject as a card shows it; an email with nothing readable says so instead of
    "(no subject)", so no one wonders what was cut."""
    return NOTHING_READABLE if mail.nothing_readable else card_subject(mail.subject, mode)


def received_time(raw: RawMessage, mail: ParsedEmail, now: datetime) -> datetime:
    """When it reached the inbox: the mailbox's word, else the Date header, never the future."""
    when = raw.received_at or mail.sent_at or now
    return min(when, now)


def _new_task(team: str, a: _Arrival, number: int, now: datetime, mode: PreviewMode) -> Task:
    """The task row for a new email (not yet added), with its categories and hints; old mail
    from before the first start waits without a card."""
    raw, mail = a.raw, a.mail
    minimal = mode == "minimal"  # no subject, no names, no preview: the organisation only
    who = organisation(mail.from_addr)
    subject = subject_line(mail, mode)
    if minimal and not mail.nothing_readable:  # with nothing readable there is nothing to hide
        subject = f"Email from {who}"
    return Task(
        team=team,
        number=number,
        state="open",
        subject=subject,
        sender=who if minimal else sender_of(mail),
        preview=card_preview(mail.body_text[:PREVIEW_SOURCE_CHARS], mode),
        # tidied: a right-to-left override makes "photo\u202egpj.exe" look like a .jpg
        attachments=[
            ["" if minimal else _fit(tidy(att.name)), att.size] for att in mail.attachments
        ],
        web_link=raw.web_link,
        received_at=received_time(raw, mail, now),
        last_event_at=now,
        backlog=a.backlog,
        card_state="held" if a.backlog else "pending",
        # as _add_triage on a task with no flags yet: every category and hint found
        categories=list(dict.fromkeys(a.found.categories)),
        hints=dict(a.found.hints),
    )


def _received(team: str, task: Task, a: _Arrival, now: datetime) -> Event:
    """The new task's first event; its data keeps the email's digest (see _compare)."""
    problems = {"problems": list(a.mail.problems)} if a.mail.problems else {}
    return Event(
        team=team,
        task_id=task.id,
        actor="mailbox",
        kind="received",
        at=now,
        data={"digest": a.digest, **problems},
    )
