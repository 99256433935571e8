"""Crash survival: `dutybot run` killed again and again while 1,000 emails come in through
the fake Exchange, and stopped with SIGTERM in the middle of a run.

The bot runs as a real child process in Slack HTTP mode (tests/bot_process.py): real
exchangelib against tests/fakes/ews_server.py (streaming), real slack_sdk against
tests/fakes/slack_api.py. The fakes live in this test process, so they outlive every kill.
Each run ends with exactly one task per email and exactly one card per task, counted from the
card metadata in the fake Slack: none lost, none doubled.

To keep the suite short, the long SIGKILL run uses SQLite and the SIGTERM run PostgreSQL
(tests/test_fault_survival.py shares them out the same way). Run the SIGKILL run on
PostgreSQL with DUTYBOT_CRASH_DB=postgresql (about the same time again).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Task
from tests.bot_process import (
    TEAM,
    BotProcess,
    Tally,
    ews_mailbox_toml,
    sqlite_database,
    tally,
    until,
)
from tests.conftest import pg_database
from tests.fakes.ews_server import FakeEws
from tests.fakes.slack_api import FakeSlack
from tests.mail import make_email

EMAILS = 1000
KILLS = 20  # at random moments
SEED = 20261124


def message_id(n: int) -> str:
    return f"crash{n}@school.example.org"


def email(n: int) -> bytes:
    return make_email(
        f"Referral {n}", f"Please call back about {n}.", message_id=f"<{message_id(n)}>"
    )


@pytest.fixture
def crash_db(tmp_path: Path) -> Iterator[Database]:
    """SQLite, or PostgreSQL with DUTYBOT_CRASH_DB=postgresql."""
    kind = os.environ.get("DUTYBOT_CRASH_DB", "sqlite")
    if kind not in ("sqlite", "postgresql"):
        raise ValueError(f"DUTYBOT_CRASH_DB={kind!r}; expected sqlite or postgresql")
    with sqlite_database(tmp_path) if kind == "sqlite" else pg_database() as database:
        yield database


def progress(db: Database) -> tuple[int, int, int]:
    """(tasks stored, cards posted, cards caught in the middle of posting)."""
    with db.session() as s:
        rows = dict(
            s.execute(
                select(Task.card_state, func.count())
                .where(Task.team == TEAM)
                .group_by(Task.card_state)
            ).all()
        )
    return sum(rows.values()), rows.get("posted", 0), rows.get("posting", 0)


def kill_at_a_random_moment(
    bot: BotProcess, db: Database, rng: random.Random, before: tuple[int, int], batch: int
) -> None:
    """SIGKILL now and then after a random time, mostly at a random point of the batch's
    progress: once a random number of its emails are stored, or of its cards posted."""
    mode = rng.choice(["time", "intake", "cards", "cards"])
    if mode == "time":
        time.sleep(rng.uniform(0.1, 3.0))
    else:
        which = 0 if mode == "intake" else 1
        target = before[which] + rng.randint(1, max(1, batch - 1))
        deadline = time.monotonic() + 30
        while progress(db)[which] < target and time.monotonic() < deadline:
            time.sleep(0.02)
    bot.stop(signal.SIGKILL)


def settled(db: Database, slack: FakeSlack, wanted: set[str]) -> Tally | None:
    found = tally(db, slack)
    return None if found.problems(wanted) else found


@pytest.mark.slow
def test_1000_emails_through_20_sigkills_leave_exactly_1000_tasks_and_cards(
    crash_db: Database, ews: FakeEws, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    rng = random.Random(SEED)
    bot = BotProcess(
        crash_db,
        slack,
        tmp_path,
        mailbox=ews_mailbox_toml(ews, streaming=True, poll_seconds=2),
        slack="pace_seconds = 0",
        ews_password=ews.password,
    )
    bots.append(bot)
    delivered = 0
    busy_kills = 0  # kills that left emails not yet taken in, or cards not yet posted
    mid_post = 0  # kills with a card marked "posting": Slack may have it, the database not
    began = time.monotonic()
    for kill in range(KILLS):
        early = kill > 0 and rng.random() < 0.15  # now and then, kill it while it starts up
        bot.start(wait=not early)
        stored, posted, _ = progress(crash_db)
        batch = min(EMAILS - delivered, rng.randint(30, 70))
        for n in range(delivered, delivered + batch):
            ews.deliver(email(n))
        delivered += batch
        if early:
            time.sleep(rng.uniform(1.0, 3.0))
            bot.stop(signal.SIGKILL)
        else:
            kill_at_a_random_moment(bot, crash_db, rng, (stored, posted), batch)
        stored, posted, posting = progress(crash_db)
        busy_kills += stored < delivered or posted < stored
        mid_post += posting > 0
    for n in range(delivered, EMAILS):  # whatever the kills left undelivered
        ews.deliver(email(n))
    bot.start()
    wanted = {message_id(n) for n in range(EMAILS)}
    until(
        lambda: settled(crash_db, slack, wanted),
        300,
        "every email to become one task with one card",
    )
    time.sleep(3)  # a few more rounds of delivery: nothing may be posted twice
    final = tally(crash_db, slack)
    assert bot.stop(signal.SIGTERM) == 0

    assert final.problems(wanted) == []
    assert len(final.tasks) == EMAILS and sum(final.cards.values()) == EMAILS
    assert busy_kills >= KILLS // 2, f"only {busy_kills} of {KILLS} kills caught work in hand"
    print(
        f"\n{EMAILS} emails, {KILLS} SIGKILLs ({busy_kills} with work in hand, {mid_post} "
        "with a card mid-post), "
        f"{len(final.tasks)} tasks, {sum(final.cards.values())} cards, "
        f"{time.monotonic() - began:.0f} s on {crash_db.engine.dialect.name}"
    )


def test_sigterm_mid_run_finishes_what_is_in_hand_and_the_restart_makes_the_totals_exact(
    pg: Database, ews: FakeEws, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    bot = BotProcess(
        pg,
        slack,
        tmp_path,
        mailbox=ews_mailbox_toml(ews, streaming=True, poll_seconds=2),
        slack="pace_seconds = 0.05",  # slow enough to be caught in the middle
        ews_password=ews.password,
    )
    bots.append(bot.start())
    for n in range(120):
        ews.deliver(email(n))
    until(lambda: sum(tally(pg, slack).cards.values()) >= 10, 60, "the first cards")
    for n in range(120, 200):  # more mail while it is busy posting
        ews.deliver(email(n))
    time.sleep(0.5)
    assert bot.stop(signal.SIGTERM) == 0

    log = bot.output()
    assert "stopping: finishing what is in hand" in log
    assert "INFO dutybot: stopped cleanly" in log, log[-2000:]
    assert "Traceback" not in log
    stopped = tally(pg, slack)
    states = Counter(state for state, _ in stopped.tasks.values())
    assert states["posting"] == 0  # no card left half-posted: the one in hand was finished
    assert 0 < states["posted"] < 200  # it really was stopped in the middle
    assert sum(stopped.cards.values()) == states["posted"]
    assert all(n == 1 for n in stopped.cards.values())

    bot.start()
    wanted = {message_id(n) for n in range(200)}
    until(lambda: settled(pg, slack, wanted), 120, "every email to become one task with one card")
    time.sleep(2)
    assert tally(pg, slack).problems(wanted) == []
    assert bot.stop(signal.SIGTERM) == 0
