"""Intake on SQLite and PostgreSQL: dedupe, threading, reopening, redaction, odd emails."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from bot.kernel.clock import ManualClock
from bot.kernel.message import Message
from bot.mail.intake import take_in, take_in_all
from bot.mail.mailbox import RawMessage
from bot.tasks.triage import Triage
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Event, Outbox, Task
from tests.mail import make_email, raw

TEAM = "care-experienced"


@pytest.fixture
def team_db(db: Database) -> Database:
    with db.session() as s:
        q.ensure_team(s, TEAM)
    return db


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def only_task(db: Database) -> Task:
    with db.session() as s:
        return s.scalars(select(Task)).one()


def thread_texts(db: Database) -> list[str]:
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind == "thread").order_by(Outbox.id))
        return [Message.from_json(r.body).plain() for r in rows]


def test_new_email_becomes_task_one_and_a_repeat_is_ignored(
    team_db: Database, clock: ManualClock
) -> None:
    mime = make_email(
        subject="Rent arrears", body="Please ring me on 07700 900123 or 07911 123456."
    )
    first = take_in(team_db, TEAM, raw("a", mime), clock.now())
    again = take_in(team_db, TEAM, raw("a", mime), clock.now())
    assert (first.outcome, first.task_number) == ("new", 1)
    assert (again.outcome, again.task_number) == ("duplicate", 1)
    assert count(team_db, Task) == 1 and count(team_db, Email) == 1
    t = only_task(team_db)
    assert t.subject == "Rent arrears"
    assert "07700" not in t.preview and "07911" not in t.preview and "[phone]" in t.preview
    assert t.card_state == "pending"


def test_numbers_count_up_per_team(team_db: Database, clock: ManualClock) -> None:
    with team_db.session() as s:
        q.ensure_team(s, "other-team")
    for i in range(3):
        take_in(team_db, TEAM, raw(f"x{i}", make_email(message_id=f"<n{i}@x>")), clock.now())
    other = take_in(team_db, "other-team", raw("o", make_email(message_id="<n0@x>")), clock.now())
    assert other.task_number == 1  # same Message-ID, other team: its own task #1
    with team_db.session() as s:
        assert [t.number for t in q.list_tasks(s, TEAM, ["open"])] == [1, 2, 3]


@pytest.mark.parametrize("how", ["in-reply-to", "references", "conversation"])
def test_replies_thread_onto_the_first_task(
    team_db: Database, clock: ManualClock, how: str
) -> None:
    take_in(team_db, TEAM, raw("a", make_email(message_id="<root@x>"), "conv-1"), clock.now())
    reply = {
        "in-reply-to": make_email("Re: Rent", message_id="<r@x>", in_reply_to="<root@x>"),
        "references": make_email("Re: Rent", message_id="<r@x>", references="<zz@y> <root@x>"),
        "conversation": make_email("Re: Rent", message_id="<r@x>"),
    }[how]
    got = take_in(team_db, TEAM, raw("b", reply, "conv-1"), clock.now())
    assert (got.outcome, got.task_number, got.reopened) == ("reply", 1, False)
    assert count(team_db, Task) == 1 and count(team_db, Email) == 2
    # The thread shows the reply itself, as a card would (tests/test_triage.py: masking).
    assert thread_texts(team_db) == [
        "A new email arrived on this task.\n"
        "From Casey Example <casey@example.org>: Re: Rent\n"
        "Hello, I need help with my rent."
    ]


def test_a_reply_to_a_resolved_task_reopens_it_and_says_so(
    team_db: Database, clock: ManualClock
) -> None:
    take_in(team_db, TEAM, raw("a", make_email(message_id="<root@x>")), clock.now())
    with team_db.session() as s:
        t = s.scalars(select(Task)).one()
        q.transition(s, t.id, [], {"state": "resolved", "resolved_by": "sam"})
    got = take_in(
        team_db, TEAM, raw("b", make_email(message_id="<r@x>", in_reply_to="<root@x>")), clock.now()
    )
    assert got.reopened
    t = only_task(team_db)
    assert (t.state, t.resolved_by) == ("open", None)
    assert thread_texts(team_db) == [
        "A new email arrived on this resolved task, so it is open again.\n"
        "From Casey Example <casey@example.org>: Rent arrears\n"
        "Hello, I need help with my rent."
    ]
    with team_db.session() as s:
        assert "reopened_by_email" in [e.kind for e in s.scalars(select(Event))]


def test_missing_message_id_dedupes_on_the_raw_message(
    team_db: Database, clock: ManualClock
) -> None:
    mime = make_email(message_id=None, subject="No id here")
    take_in(team_db, TEAM, raw("a", mime), clock.now())
    take_in(team_db, TEAM, raw("b", mime), clock.now())
    other = make_email(message_id=None, subject="A different one")
    take_in(team_db, TEAM, raw("c", other), clock.now())
    assert count(team_db, Task) == 2


def test_id_less_emails_that_differ_only_outside_the_usual_headers_are_two_tasks(
    team_db: Database, clock: ManualClock
) -> None:
    # e.g. two messages from one form, told apart only by a header the old hash left out
    mime = make_email(message_id=None, subject="Referral form")
    first = take_in(team_db, TEAM, raw("a", b"X-Form-Entry: 101\r\n" + mime), clock.now())
    second = take_in(team_db, TEAM, raw("b", b"X-Form-Entry: 102\r\n" + mime), clock.now())
    assert (first.outcome, second.outcome) == ("new", "new")
    assert count(team_db, Task) == 2


BOUNCE = (
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
    b"--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
    b"\r\nFinal-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\n--R--\r\n"
)  # no Message-ID, From, Subject or Date, and no text
NOTHING = [("bounce", BOUNCE), ("empty", b""), ("headers", b"MIME-Version: 1.0\r\nX-Mailer: x")]


@pytest.mark.parametrize("order", [NOTHING, NOTHING[::-1]], ids=["bounce-first", "bounce-last"])
def test_each_email_with_nothing_readable_is_a_task_of_its_own_and_says_so(
    team_db: Database, clock: ManualClock, order: list[tuple[str, bytes]]
) -> None:
    got = [take_in(team_db, TEAM, raw(name, mime), clock.now()) for name, mime in order]
    assert [g.outcome for g in got] == ["new", "new", "new"]
    with team_db.session() as s:
        subjects = [t.subject for t in s.scalars(select(Task).order_by(Task.number))]
    assert subjects == ["(an email with nothing readable in it)"] * 3
    again = take_in(team_db, TEAM, raw("again", order[0][1]), clock.now())
    assert (again.outcome, again.task_number) == ("duplicate", 1)  # the same one: not doubled


def test_a_minimal_card_says_nothing_readable_too_and_a_reply_shows_it_in_the_thread(
    team_db: Database, clock: ManualClock
) -> None:
    take_in(team_db, TEAM, raw("a", b""), clock.now(), "minimal")
    take_in(team_db, TEAM, raw("b", make_email(message_id="<root@x>")), clock.now(), "minimal")
    take_in(team_db, TEAM, raw("c", b"In-Reply-To: <root@x>\r\n"), clock.now())
    with team_db.session() as s:
        subjects = [t.subject for t in s.scalars(select(Task).order_by(Task.number))]
    assert subjects == ["(an email with nothing readable in it)", "Email from example.org"]
    assert thread_texts(team_db) == [
        "A new email arrived on this task.\n"
        "From (unknown sender): (an email with nothing readable in it)"
    ]


def test_odd_emails_still_become_tasks(team_db: Database, clock: ManualClock) -> None:
    big = make_email(message_id="<big@x>", body="word " * 420_000)  # about 2 MB
    html = make_email(
        message_id="<html@x>", html="<p>Hello<br>please <b>call</b> me</p><script>x()</script>"
    )
    nosubj = make_email(message_id="<ns@x>", subject="")
    many = EmailMessage()
    many["Message-ID"] = "<many@x>"
    many["Subject"] = "Documents"
    many.set_content("See attached.")
    for i in range(60):
        many.add_attachment(b"x" * 100, maintype="application", subtype="pdf", filename=f"d{i}.pdf")
    latin = (
        b"Message-ID: <latin@x>\r\nSubject: =?iso-8859-1?q?Caf=E9_=A3_rent?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nIt costs \xa3500.\r\n"
    )
    for i, mime in enumerate([big, html, nosubj, bytes(many), latin]):
        take_in(team_db, TEAM, raw(f"o{i}", mime), clock.now())
    with team_db.session() as s:
        tasks = {t.number: t for t in s.scalars(select(Task))}
    assert len(tasks[1].preview) <= 300 and tasks[1].preview.endswith("…")
    assert "call" in tasks[2].preview and "x()" not in tasks[2].preview
    assert tasks[3].subject == "(no subject)"
    assert len(tasks[4].attachments) == 60 and tasks[4].attachments[0] == ["d0.pdf", 100]
    assert tasks[5].subject == "Café £ rent" and "£500" in tasks[5].preview


def test_the_channel_ping_subject_is_stored_as_plain_text(
    team_db: Database, clock: ManualClock
) -> None:
    take_in(team_db, TEAM, raw("a", make_email(subject="<!channel> URGENT call me")), clock.now())
    assert only_task(team_db).subject == "<!channel> URGENT call me"  # escaped by each chat


@pytest.mark.parametrize(
    ("mode", "shown"),
    [
        ("redacted", "From Casey Example <casey@example.org>: Re: Rent\nCall me on [phone]."),
        ("subject-only", "From Casey Example <casey@example.org>: Re: Rent"),
    ],
)
def test_a_reply_shows_in_the_thread_masked_as_its_card_would_be(
    team_db: Database, clock: ManualClock, mode: str, shown: str
) -> None:
    take_in(team_db, TEAM, raw("a", make_email(message_id="<root@x>")), clock.now(), mode)
    reply = make_email("Re: Rent", "Call me on 07700 900123.", message_id="<r@x>",
                       in_reply_to="<root@x>")  # fmt: skip
    take_in(team_db, TEAM, raw("b", reply), clock.now(), mode)
    assert thread_texts(team_db) == [f"A new email arrived on this task.\n{shown}"]


def _sort(text: str) -> Triage:
    """Rent is a financial matter, and "bruising" a safeguarding hint."""
    found = ("financial",) if "rent" in text.lower() else ()
    hints = {"safeguarding": ["bruising"]} if "bruising" in text else {}
    return Triage(found, hints)


def _mixed_page() -> list[tuple[RawMessage, bool]]:
    """Old mail and new in one page: new emails, replies to ones earlier in the page (by
    In-Reply-To, References and conversation), a reply to mail taken in before the page, the
    same email saved twice, one reusing a Message-ID with other content, and one with no
    Message-ID at all."""
    root = make_email("Rent arrears", message_id="<root@x>")
    return [
        (raw("p1", root, "conv-a"), True),
        (raw("p2", make_email("School worry", "She had bruising.", message_id="<s@x>")), True),
        (raw("p3", make_email("Re: Rent", message_id="<r1@x>", in_reply_to="<root@x>")), True),
        (raw("p4", make_email("Bus pass", message_id="<bus@x>"), "conv-b"), False),
        (raw("p5", make_email("Re: Bus pass", message_id="<r2@x>"), "conv-b"), False),
        (raw("p6", root, "conv-a"), True),  # the same email, another item
        (raw("p7", make_email("Other", message_id="<root@x>")), False),  # id reused
        (raw("p8", make_email("Re: Before", message_id="<r3@x>", references="<before@x>")), True),
        (raw("p9", make_email("Re: Re: Rent", message_id="<r4@x>", references="<r1@x>")), True),
        (raw("p10", make_email("No id, rent", message_id=None)), False),
        (raw("p11", make_email("Last new one", message_id="<last@x>")), False),
    ]


def _what_the_team_sees(db: Database, team: str) -> list[object]:
    """Each task as the team would meet it, its emails, events and thread lines."""
    with db.session() as s:
        tasks = s.scalars(select(Task).where(Task.team == team).order_by(Task.number))
        seen: list[object] = []
        for t in tasks:
            emails = s.scalars(select(Email.message_id).where(Email.task_id == t.id))
            events = s.scalars(select(Event.kind).where(Event.task_id == t.id).order_by(Event.id))
            notes = s.scalars(select(Outbox.body).where(Outbox.task_id == t.id))
            seen.append(
                (t.number, t.state, t.subject, t.preview, t.categories, t.hints, t.backlog,
                 t.card_state, sorted(emails), list(events), list(notes))
            )  # fmt: skip
        return seen


@pytest.mark.parametrize("repeats", [True, False], ids=["with-repeats", "no-repeats"])
def test_a_page_of_mail_stored_together_is_what_one_at_a_time_would_store(
    team_db: Database, clock: ManualClock, repeats: bool
) -> None:
    """The first start stores 50 emails a transaction, the plainly new ones together: every
    reply, repeat and clash in the page still lands as if each came on its own. (Without
    repeats, nothing in the page would trip the database's own check on Message-IDs.)"""
    with team_db.session() as s:
        q.ensure_team(s, "one-at-a-time")
    for team in (TEAM, "one-at-a-time"):  # mail taken in before this page
        take_in(
            team_db, team, raw("b0", make_email("Before", message_id="<before@x>")), clock.now()
        )
    page = [(r, old) for r, old in _mixed_page() if repeats or r.item_id not in ("p6", "p7")]
    together = take_in_all(team_db, TEAM, page, clock.now(), sort=_sort)
    alone = [
        take_in(team_db, "one-at-a-time", r, clock.now(), sort=_sort, backlog=old)
        for r, old in page
    ]
    assert [got for _, got in together] == alone
    outcomes = ["new", "new", "reply", "new", "reply", "duplicate", "duplicate", "reply", "reply",
                "new", "new"]  # fmt: skip
    if not repeats:
        outcomes = outcomes[:5] + outcomes[7:]
    assert [got.outcome for got in alone] == outcomes
    assert _what_the_team_sees(team_db, TEAM) == _what_the_team_sees(team_db, "one-at-a-time")
    again = take_in_all(team_db, TEAM, page, clock.now(), sort=_sort)  # read again: all known
    assert {got.outcome for _, got in again} == {"duplicate"}
    assert _what_the_team_sees(team_db, TEAM) == _what_the_team_sees(team_db, "one-at-a-time")
