"""Mailbox faults end to end through the watcher and the database (SQLite and PostgreSQL).

Each fault is injected into the fake Exchange (EWS) or fake Microsoft Graph server, and each
test ends the same way: every email is stored exactly once, keyed by Message-ID, and the
mailbox checkpoint only moves on once what it covers is stored.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.mail.adapters.ews import EwsMailbox, EwsSettings
from bot.mail.adapters.graph import GraphMailbox
from bot.mail.mailbox import Mailbox, OutgoingEmail
from bot.mail.watcher import sync_once
from bot.ops.jobs import TeamJobs
from storage import tasks as q
from storage.db import Database
from storage.models import Email, MailboxState, Task
from tests.bot_process import until
from tests.conftest import TEAM
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.mail import make_email

NAME = str(TEAM["name"])
CREDENTIALS_SENTENCE = (
    "Exchange rejected the credentials for duty@council.example. Check the username/password "
    "or app registration, then restart."
)


def mail(n: int) -> bytes:
    return make_email(f"Referral {n}", f"Body {n}", message_id=f"<fault{n}@school.example.org>")


# -- what the database holds -------------------------------------------------------------------


def stored(db: Database) -> Counter[str]:
    """How many times each Message-ID is stored (a second copy of an email is not)."""
    with db.session() as s:
        rows = s.scalars(select(Email.message_id).where(Email.team == NAME, ~q.is_copy()))
        return Counter(rows)


def tasks(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Task)) or 0)


def exactly_once(db: Database, *numbers: int) -> bool:
    """Every mail(n) stored once, nothing else stored, one task each."""
    wanted = Counter(f"fault{n}@school.example.org" for n in numbers)
    return stored(db) == wanted and tasks(db) == len(numbers)


def checkpoint(db: Database) -> str | None:
    with db.session() as s:
        return q.mailbox_checkpoint(s, NAME)


def last_error(db: Database) -> str | None:
    with db.session() as s:
        row = s.get(MailboxState, NAME)
        return row.last_error if row else None


def move_states(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Email.move_state).order_by(Email.id)))


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def team_db(db: Database) -> Database:
    with db.session() as s:
        q.ensure_team(s, NAME)
    return db


def ews_box(fake: FakeEws, **changes: Any) -> EwsMailbox:
    settings = dict(
        address=fake.address,
        endpoint=fake.endpoint,
        auth="basic",
        username=fake.username,
        password=fake.password,
        max_retry_seconds=2,
    )
    return EwsMailbox(EwsSettings(**{**settings, **changes}))  # type: ignore[arg-type]


def graph_box(fake: FakeGraph, sleeps: list[float] | None = None, **changes: Any) -> GraphMailbox:
    settings = fake.settings(**changes)
    return GraphMailbox(settings, sleep=(sleeps.append if sleeps is not None else time.sleep))


def bot_on(db: Database, clock: ManualClock, mailbox: Mailbox) -> DutyBot:
    """The real wiring (DutyBot) on the test database, with ``mailbox`` as the team's inbox."""
    bot = DutyBot(parse_config({"teams": [TEAM]}), clock=clock, db=db).start(with_mailboxes=False)
    bot.teams[NAME].mailbox = mailbox
    jobs = bot.teams[NAME].jobs
    assert jobs is not None
    jobs.handover.mailbox = mailbox
    return bot


def sync(db: Database, box: Mailbox, clock: ManualClock) -> Any:
    return sync_once(db, NAME, box, clock)


# -- EWS: ErrorServerBusy with BackOffMilliseconds ---------------------------------------------


def test_ews_server_busy_is_waited_out_and_every_mail_is_stored_once(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    for n in (1, 2, 3):
        ews.deliver(mail(n))
    with ews_box(ews) as box:
        ews.busy_next(2, backoff_ms=100)
        first = sync(team_db, box, clock)

        ews.deliver(mail(4))
        ews.busy_next(1, backoff_ms=300_000)  # longer than the bot may wait
        saved = checkpoint(team_db)
        busy = sync(team_db, box, clock)

        assert busy.error is not None and "busy" in busy.error
        assert checkpoint(team_db) == saved  # nothing skipped over
        assert last_error(team_db) == busy.error
        later = sync(team_db, box, clock)

    assert (first.new, first.error) == ([1, 2, 3], None)
    assert later.new == [4]
    assert last_error(team_db) is None
    assert exactly_once(team_db, 1, 2, 3, 4)


# -- EWS: a dropped stream ---------------------------------------------------------------------


def test_ews_dropped_stream_reconnects_and_mail_sent_meanwhile_arrives_once(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    stop = threading.Event()
    with ews_box(ews) as box:
        watcher = threading.Thread(
            target=box.watch,
            args=(stop, lambda: sync(team_db, box, clock)),
            kwargs={"poll_interval": 0.2},
        )
        watcher.start()
        try:
            assert ews.wait_for_streams(1)
            ews.deliver(mail(1))
            until(lambda: tasks(team_db) == 1, 10, "task 1")

            ews.drop_stream()
            ews.deliver(mail(2))  # while the bot is reconnecting
            until(lambda: tasks(team_db) == 2, 10, "task 2")
            until(lambda: ews.count("GetStreamingEvents") >= 2, 10, "a new stream")
            ews.deliver(mail(3))  # on the new stream
            until(lambda: tasks(team_db) == 3, 10, "task 3")
        finally:
            stop.set()
            watcher.join(timeout=5)

    assert not watcher.is_alive()
    assert ews.count("GetStreamingEvents") >= 2
    assert exactly_once(team_db, 1, 2, 3)


# -- EWS: 401 ----------------------------------------------------------------------------------


def test_ews_401_stores_nothing_says_why_and_loses_nothing_once_fixed(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    ews.deliver(mail(1))
    with ews_box(ews, max_retry_seconds=60) as box:
        assert sync(team_db, box, clock).new == [1]
        saved = checkpoint(team_db)

        ews.reject_auth = True  # e.g. the service account's password was changed
        ews.deliver(mail(2))
        before = ews.http_requests
        refused = sync(team_db, box, clock)

        assert refused.error == CREDENTIALS_SENTENCE
        assert ews.http_requests - before == 1  # fails fast: no retry loop on a 401
        assert checkpoint(team_db) == saved
        assert last_error(team_db) == CREDENTIALS_SENTENCE

        ews.reject_auth = False
        fixed = sync(team_db, box, clock)

    assert fixed.new == [2]
    assert exactly_once(team_db, 1, 2)


# -- EWS: invalid sync state -------------------------------------------------------------------


def test_ews_invalid_sync_state_resyncs_from_scratch_without_doubling(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    for n in (1, 2):
        ews.deliver(mail(n))
    with ews_box(ews) as box:
        bot = bot_on(team_db, clock, box)
        assert sync(team_db, box, clock).new == [1, 2]
        bot.team().tasks.resolve("sam", 1, "done")
        assert bot.move_done(NAME) == 1  # mail 1 now in Duty/Done under a new id

        ews.invalidate_sync_states()
        ews.deliver(mail(3))
        resync = sync(team_db, box, clock)
        again = sync(team_db, box, clock)

    assert resync.error is None
    assert resync.new == [3]
    assert resync.duplicates == 1  # mail 2, still in the inbox, recognised by Message-ID
    assert again.new == [] and again.duplicates == 0
    assert exactly_once(team_db, 1, 2, 3)


# -- Graph: 410 Gone ---------------------------------------------------------------------------


def test_graph_410_resyncs_from_scratch_without_doubling(
    team_db: Database, clock: ManualClock, graph: FakeGraph
) -> None:
    for n in (1, 2, 3):
        graph.deliver(mail(n))
    with graph_box(graph, page_size=2) as box:
        assert sync(team_db, box, clock).new == [1, 2, 3]
        graph.expire_delta_tokens()
        graph.deliver(mail(4))

        resync = sync(team_db, box, clock)
        again = sync(team_db, box, clock)

    assert (resync.error, resync.new, resync.duplicates) == (None, [4], 3)
    assert again.new == [] and again.duplicates == 0
    assert exactly_once(team_db, 1, 2, 3, 4)


# -- Graph: 429 Retry-After --------------------------------------------------------------------


def test_graph_429_waits_as_asked_and_every_mail_is_stored_once(
    team_db: Database, clock: ManualClock, graph: FakeGraph
) -> None:
    sleeps: list[float] = []
    for n in (1, 2):
        graph.deliver(mail(n))
    with graph_box(graph, sleeps, max_total_wait=60.0) as box:
        graph.throttle_next(2, retry_after=7)
        first = sync(team_db, box, clock)
        assert sleeps == [7.0, 7.0]  # Retry-After honoured, each time

        graph.deliver(mail(3))
        graph.throttle_next(1, retry_after=3600)  # beyond what one poll may wait
        saved = checkpoint(team_db)
        throttled = sync(team_db, box, clock)
        assert throttled.error is not None and "slow down" in throttled.error
        assert checkpoint(team_db) == saved
        assert sleeps == [7.0, 7.0]  # gave up rather than sleep an hour in the sync

        later = sync(team_db, box, clock)

    assert first.new == [1, 2]
    assert later.new == [3]
    assert exactly_once(team_db, 1, 2, 3)


# -- moving to Done while Exchange is down -----------------------------------------------------


def test_ews_down_during_move_to_done_is_retried_later_and_nothing_is_lost(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    for n in (1, 2):
        ews.deliver(mail(n))
    with ews_box(ews) as box:
        bot = bot_on(team_db, clock, box)
        assert bot.check_mail(NAME).new == [1, 2]
        ews.down = True
        bot.team().tasks.resolve("sam", 1, "recorded on Mosaic")

        assert bot.move_done(NAME) == 0
        down = bot.check_mail(NAME)  # the watcher's own pass fails too, and says so
        assert down.error is not None and "not working" in down.error
        assert move_states(team_db) == ["pending", ""]

        ews.down = False
        ews.deliver(mail(3))
        back = bot.check_mail(NAME)  # new mail, then the waiting move
        assert bot.move_done(NAME) == 0  # nothing left to do

    assert back.new == [3]
    assert move_states(team_db) == ["moved", "", ""]
    assert [i.mime for i in ews.folder_items("Duty/Done")] == [mail(1)]
    assert sorted(i.mime for i in ews.inbox_items()) == [mail(2), mail(3)]
    assert ews.count("MoveItem") == 1
    assert exactly_once(team_db, 1, 2, 3)


def test_graph_down_during_move_to_done_is_retried_later(
    team_db: Database, clock: ManualClock, graph: FakeGraph
) -> None:
    graph.deliver(mail(1))
    with graph_box(graph, [], max_retries=1) as box:
        bot = bot_on(team_db, clock, box)
        assert bot.check_mail(NAME).new == [1]
        bot.team().tasks.resolve("sam", 1, "done")
        graph.fail_next(2, status=503)  # the first try and its one retry

        assert bot.move_done(NAME) == 0
        assert move_states(team_db) == ["pending"]
        assert [m.mime for m in graph.inbox()] == [mail(1)]

        assert bot.move_done(NAME) == 1  # Graph is back

    assert move_states(team_db) == ["moved"]
    assert [m.mime for m in graph.folder("Duty/Done")] == [mail(1)]
    assert graph.inbox() == []
    assert exactly_once(team_db, 1)


def test_an_email_delivered_twice_goes_to_done_twice_and_neither_copy_is_lost(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    ews.deliver(mail(1))
    ews.deliver(mail(1))  # the same email twice (sent To and Cc, say): two items, one email
    with ews_box(ews) as box:
        bot = bot_on(team_db, clock, box)
        got = bot.check_mail(NAME)
        assert (got.new, got.duplicates) == ([1], 1)
        bot.team().tasks.resolve("sam", 1, "done")
        assert bot.move_done(NAME) == 2
        again = bot.check_mail(NAME)

    assert (again.new, again.duplicates) == ([], 0)
    assert ews.inbox_items() == []
    assert [i.mime for i in ews.folder_items("Duty/Done")] == [mail(1), mail(1)]
    assert move_states(team_db) == ["moved", "moved"]
    assert exactly_once(team_db, 1)


def test_an_email_moved_by_hand_does_not_hold_up_the_others(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    first = ews.deliver(mail(1))
    ews.deliver(mail(2))
    with ews_box(ews) as box:
        bot = bot_on(team_db, clock, box)
        bot.check_mail(NAME)
        bot.team().tasks.resolve("sam", 1, "done")
        bot.team().tasks.resolve("sam", 2, "done")
        with ews_box(ews) as outlook:  # someone tidies mail 1 away first, so its id changes
            outlook.move_to_done(first)

        assert bot.move_done(NAME) == 1
        assert bot.move_done(NAME) == 0  # the gone one is not tried again and again

    assert move_states(team_db) == ["gone", "moved"]
    assert sorted(i.mime for i in ews.folder_items("Duty/Done")) == [mail(1), mail(2)]
    assert ews.count("MoveItem") == 3  # by hand, the failed try, mail 2


# -- optional category -------------------------------------------------------------------------


def test_new_tasks_get_their_number_as_an_outlook_category_when_asked(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    ews.deliver(mail(1))
    with ews_box(ews) as box:
        first = sync_once(team_db, NAME, box, clock, categorise=True)
        second = sync_once(team_db, NAME, box, clock, categorise=True)  # the edit is not new mail

    assert (first.new, second.new) == ([1], [])
    assert [i.categories for i in ews.inbox_items()] == [("Duty #1",)]
    assert exactly_once(team_db, 1)


# -- the handover email ------------------------------------------------------------------------


def london_handover_time() -> datetime:
    return datetime(2026, 11, 23, 16, 31, tzinfo=UTC)  # Monday; London is on GMT


def jobs_of(bot: DutyBot) -> TeamJobs:
    jobs = bot.team().jobs
    assert jobs is not None
    return jobs


def test_ews_handover_email_goes_once_with_text_html_and_a_saved_copy(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    ews.deliver(mail(1))
    with ews_box(ews) as box:
        bot = bot_on(team_db, clock, box)
        bot.check_mail(NAME)
        clock.set(london_handover_time())
        ews.down = True
        assert jobs_of(bot).run_due().emails == 0  # Exchange down: it waits
        ews.down = False
        assert jobs_of(bot).run_due().emails == 1
        assert jobs_of(bot).run_due().emails == 0  # and goes once
        after = bot.check_mail(NAME)

    [sent] = ews.sent()
    assert sent.subject == "Duty handover for Mon 23 Nov 2026"
    assert sent.to == (ews.address,)
    assert sent.text is not None and "#1 Referral 1" in sent.text
    assert sent.html is not None and "#1 Referral 1" in sent.html
    assert [i.subject for i in ews.folder_items("sentitems")] == [sent.subject]
    # The copy that lands in the duty inbox is for people: it is not a new task.
    assert sent.subject in [i.subject for i in ews.inbox_items()]
    assert after.new == []
    assert exactly_once(team_db, 1)


def test_graph_handover_email_goes_once_with_text_html_and_a_saved_copy(
    team_db: Database, clock: ManualClock, graph: FakeGraph
) -> None:
    graph.deliver(mail(1))
    with graph_box(graph, []) as box:
        bot = bot_on(team_db, clock, box)
        bot.check_mail(NAME)
        clock.set(london_handover_time())
        assert jobs_of(bot).run_due().emails == 1
        assert jobs_of(bot).run_due().emails == 0
        after = bot.check_mail(NAME)

    [sent] = graph.sent()
    assert sent.message["Subject"] == "Duty handover for Mon 23 Nov 2026"
    assert sent.to == (graph.address,)
    assert sent.save_to_sent_items
    plain = sent.message.get_body(preferencelist=("plain",))
    html = sent.message.get_body(preferencelist=("html",))
    assert plain is not None and "#1 Referral 1" in plain.get_content()
    assert html is not None and "#1 Referral 1" in html.get_content()
    assert [m.internet_message_id for m in graph.folder("Sent Items")] == [
        sent.message["Message-ID"]
    ]
    assert after.new == []  # its copy in the inbox is not a task
    assert exactly_once(team_db, 1)


def test_a_copied_handover_header_does_not_hide_a_real_email(
    team_db: Database, clock: ManualClock, ews: FakeEws
) -> None:
    with ews_box(ews) as box:
        box.send(OutgoingEmail(subject="Handover", text="All quiet.", html="<p>All quiet.</p>"))
        [own] = ews.inbox_items()
        mark = message_from_bytes(own.mime, policy=policy.default)["X-Dutybot-Handover"]
        forged = mail(1).replace(b"Subject:", f"X-Dutybot-Handover: {mark}\r\nSubject:".encode())
        ews.deliver(forged)
        result = sync(team_db, box, clock)

    assert result.new == [1]
    assert exactly_once(team_db, 1)
