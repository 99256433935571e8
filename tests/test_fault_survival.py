"""Fault survival of `dutybot run`: Slack failing a fifth of its calls, Exchange busy, its
stream dropped and its sync state lost, and the database away for a while.

The bot runs as a real child process in Slack HTTP mode (tests/bot_process.py) against the
in-process fakes: real slack_sdk against tests/fakes/slack_api.py, real exchangelib against
tests/fakes/ews_server.py, and PostgreSQL behind tests/fakes/tcp_proxy.py when the database
is taken away. Each test ends the same way: one task per email and one card per task,
counted from the card metadata in the fake Slack.
"""

from __future__ import annotations

import logging
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.ops.outage import DatabaseWatch, database_unreachable
from storage.db import Database
from storage.models import Task
from tests.bot_process import (
    CHANNEL,
    BotProcess,
    Tally,
    database_url,
    ews_mailbox_toml,
    sqlite_database,
    tally,
    until,
)
from tests.fakes.ews_server import FakeEws
from tests.fakes.slack_api import FakeSlack
from tests.fakes.tcp_proxy import TcpProxy
from tests.mail import make_email
from tests.slack_harness import SlackHarness


def message_id(n: int) -> str:
    return f"fault{n}@school.example.org"


def email(n: int) -> bytes:
    return make_email(
        f"Referral {n}", f"Please call back about {n}.", message_id=f"<{message_id(n)}>"
    )


def settled(db: Database, fake: FakeSlack, count: int) -> Tally | None:
    found = tally(db, fake)
    return None if found.problems({message_id(n) for n in range(count)}) else found


def exactly_once(db: Database, fake: FakeSlack, count: int, timeout: float = 120) -> None:
    """Wait until every email so far is one task with one card, then make sure it stays so
    through a few more delivery rounds."""
    until(lambda: settled(db, fake, count), timeout, f"{count} emails to be {count} cards")
    time.sleep(3)
    assert tally(db, fake).problems({message_id(n) for n in range(count)}) == []


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(seed=7) as server:
        yield server


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Database]:
    with sqlite_database(tmp_path) as database:
        yield database


def task_numbers(db: Database) -> dict[int, int]:
    """Task id -> its number (#N)."""
    with db.session() as s:
        return {tid: number for tid, number in s.execute(select(Task.id, Task.number))}


def ews_bot(db: Database, fake: FakeSlack, ews: FakeEws, tmp: Path, **kw: object) -> BotProcess:
    return BotProcess(
        db,
        fake,
        tmp,
        mailbox=ews_mailbox_toml(ews, streaming=True, poll_seconds=2),
        slack="pace_seconds = 0",
        ews_password=ews.password,
        **kw,  # type: ignore[arg-type]
    )


# -- Slack ----------------------------------------------------------------------------------

FAULTS = ["429", "500", "503", "hang", "500-after-post", "hang-after-post"]


def claimed_notes(fake: FakeSlack, ts: str) -> int:
    return sum("Claimed by" in str(r.get("text")) for r in fake.replies(CHANNEL, ts))


@pytest.mark.slow
def test_with_slack_failing_a_fifth_of_calls_every_card_is_posted_exactly_once(
    sqlite: Database, fake: FakeSlack, ews: FakeEws, tmp_path: Path, bots: list[BotProcess]
) -> None:
    db = sqlite
    bot = ews_bot(db, fake, ews, tmp_path)
    bots.append(bot.start())
    fake.retry_after = 1
    fake.hang_seconds = 1.0  # holds the call, then closes it without a word
    for kind in FAULTS:  # each kind hits a card post at least once, the rest at random
        fake.fail_next(1, kind, method="chat.postMessage")
    fake.failure_kinds = FAULTS
    fake.failure_rate = 0.2
    for n in range(60):
        ews.deliver(email(n))
    exactly_once(db, fake, 60)

    # Claims under the same faults: each card is updated, and its thread gets one note.
    for number in range(1, 21):
        assert bot.duty(f"claim {number}").json()["text"] == f"You've claimed #{number}."
    refs = {t: ts for t, (_, ts) in tally(db, fake).tasks.items() if ts}
    numbers = task_numbers(db)
    claimed = [refs[t] for t, n in numbers.items() if n <= 20]

    def all_claimed() -> bool:
        return all(
            "Claimed by @Sam" in str(fake.message(CHANNEL, ts)) and claimed_notes(fake, ts)
            for ts in claimed
        )

    until(all_claimed, 120, "the 20 claims to show")
    time.sleep(3)
    assert [claimed_notes(fake, ts) for ts in claimed] == [1] * 20
    assert tally(db, fake).problems({message_id(n) for n in range(60)}) == []
    faults = [c.fault for c in fake.calls if c.fault]
    assert bot.stop(signal.SIGTERM) == 0

    assert set(faults) == set(FAULTS) and len(faults) >= 20  # they really happened
    assert "Traceback" not in bot.output()


@pytest.mark.parametrize("fault", ["500-after-post", "hang-after-post"])
def test_a_thread_note_lost_on_the_way_back_is_found_not_sent_again(
    db: Database, fault: str
) -> None:
    """Slack stored the note but its answer never came: the next round finds it by its
    metadata instead of posting it again."""
    with SlackHarness(db) as h:
        h.fake.hang_seconds = 1.0
        n = h.email()
        h.drain()
        h.fake.fail_next(1, fault, method="chat.postMessage")
        assert h.command(f"claim {n}").status_code == 200
        h.drain()
        h.drain()
        notes = [r for r in h.thread(n) if "Claimed by" in str(r.get("text"))]
        assert len(notes) == 1
        assert [c.fault for c in h.fake.calls_to("chat.postMessage")].count(fault) == 1
        assert h.fake.calls_to("conversations.replies")  # it looked before sending again


# -- Exchange -------------------------------------------------------------------------------


@pytest.mark.slow
def test_exchange_busy_a_dropped_stream_and_a_lost_sync_state_lose_and_double_nothing(
    pg: Database, fake: FakeSlack, ews: FakeEws, tmp_path: Path, bots: list[BotProcess]
) -> None:
    bot = ews_bot(pg, fake, ews, tmp_path)
    bots.append(bot.start())
    assert ews.wait_for_streams(1, timeout=30)

    # Busy, asking for a longer back-off than the bot waits (5 s), right as an email arrives,
    # and no more mail after it to wake the bot up again. Then busy with short back-offs,
    # which exchangelib waits out by itself.
    ews.busy_next(3, backoff_ms=8000)
    ews.deliver(email(0))
    exactly_once(pg, fake, 1, timeout=60)
    assert "Exchange at 127.0.0.1 is busy" in bot.output()  # it did give up at least once
    ews.busy_next(6, backoff_ms=500)
    for n in range(1, 30):
        ews.deliver(email(n))
    exactly_once(pg, fake, 30)

    # The stream dropped again and again while mail arrives.
    for n in range(30, 60):
        ews.deliver(email(n))
        if n % 5 == 0:
            ews.drop_stream()
            time.sleep(0.3)
    exactly_once(pg, fake, 60)

    # Exchange forgets every sync state: the bot reads the inbox from the start again, and
    # recognises the 60 emails it already holds.
    ews.invalidate_sync_states()
    for n in range(60, 90):
        ews.deliver(email(n))
    exactly_once(pg, fake, 90)
    # (not counting the handover's copy, which lands there when this runs after 16:30)
    assert len([i for i in ews.inbox_items() if i.subject.startswith("Referral")]) == 90

    # All three at once.
    ews.invalidate_sync_states()
    ews.busy_next(8, backoff_ms=1000)
    for n in range(90, 120):
        ews.deliver(email(n))
        if n % 10 == 0:
            ews.drop_stream()
    exactly_once(pg, fake, 120)
    assert bot.stop(signal.SIGTERM) == 0
    assert "Traceback" not in bot.output()


# -- the database ---------------------------------------------------------------------------


SAID = r"The database can't be reached \(.*\) while "


def health(bot: BotProcess) -> dict[str, Any]:
    """What /healthz says (it answers 503 while the database is away)."""
    return dict(requests.get(f"{bot.base}/healthz", timeout=10).json())


def db_ok(bot: BotProcess) -> bool:
    return bool(health(bot)["database"]["ok"])


@pytest.mark.slow
def test_database_away_for_a_while_is_said_once_shown_in_healthz_and_nothing_is_lost(
    pg: Database, fake: FakeSlack, ews: FakeEws, tmp_path: Path, bots: list[BotProcess]
) -> None:
    url = make_url(pg.engine.url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        direct = database_url(pg)
        via_proxy = direct.replace(f":{url.port or 5432}/", f":{proxy.port}/", 1)
        assert via_proxy != direct
        bot = ews_bot(pg, fake, ews, tmp_path, db_url=via_proxy)
        bots.append(bot.start())
        for n in range(20):
            ews.deliver(email(n))
        exactly_once(pg, fake, 20)
        assert db_ok(bot) is True

        proxy.cut()  # the database goes away
        for n in range(20, 40):  # mail keeps coming meanwhile
            ews.deliver(email(n))
        until(lambda: "The database can't be reached" in bot.output(), 30, "the log to say so")
        time.sleep(12)  # several rounds of every loop (delivery, mail, clocks) while away
        status = health(bot)
        meanwhile = bot.duty("claim 1")  # someone on duty carries on meanwhile
        down_log = bot.output()

        proxy.restore()  # it is back
        exactly_once(pg, fake, 40)
        until(lambda: "The database is reachable again" in bot.output(), 30, "the log to say so")
        assert db_ok(bot) is True
        assert bot.duty("claim 1").json()["text"] == "You've claimed #1."
        assert bot.stop(signal.SIGTERM) == 0

    assert status["database"]["ok"] is False
    assert status["status"] == "down"
    assert meanwhile.status_code == 200
    assert meanwhile.json()["text"].startswith("I can't reach my database just now")
    said = [line for line in down_log.splitlines() if re.search(SAID, line)]
    assert len(said) == 1, said  # once, however many rounds failed
    assert " ERROR " in said[0]
    # refused to new connections, or cut under a query that was under way when it went
    assert re.search(r"Connection refused|server closed the connection", said[0]), said[0]
    assert "Traceback" not in down_log


def test_a_database_outage_is_said_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    watch = DatabaseWatch(timer=lambda: now[0])
    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError("Connection refused"))
    with caplog.at_level(logging.DEBUG, logger="bot.ops.outage"):
        for doing in ("delivering cards", "checking the mailbox", "delivering cards"):
            watch.failed(refused, doing)
        assert not watch.reachable
        now[0] += 42
        watch.worked()
        watch.worked()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert said == [
        (
            "ERROR",
            "The database can't be reached (Connection refused) while delivering cards. Emails "
            "and cards wait; the bot carries on by itself when the database is back.",
        ),
        ("WARNING", "The database is reachable again after 42 s; carrying on."),
    ]
    assert watch.reachable
    assert database_unreachable(refused)
    assert not database_unreachable(IntegrityError("INSERT", {}, ValueError("duplicate")))
