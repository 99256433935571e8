"""Two bot processes on one database (two replicas, or a restart overlapping the old process):
only the holder of a team's lease posts its cards, so every card is posted exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot.ops.lease import team_lease_name
from storage import leases as leases_db
from storage.db import Database
from tests.bot_process import until
from tests.fakes.slack_api import FakeSlack
from tests.slack_harness import SlackHarness


def deliver_together(*harnesses: SlackHarness, rounds: int = 5) -> None:
    """Each harness delivers from its own thread at the same moment, a few rounds."""
    start = threading.Barrier(len(harnesses))
    failures: list[BaseException] = []

    def run(h: SlackHarness) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                h.runner.deliver(h.team.name)
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(h,)) for h in harnesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


def card_task_ids(h: SlackHarness) -> list[int]:
    return sorted(c["metadata"]["event_payload"]["task_id"] for c in h.cards())


def test_two_replicas_post_each_card_once_and_the_standby_takes_over(db: Database) -> None:
    with FakeSlack() as fake, SlackHarness(db, fake=fake) as a, SlackHarness(db, fake=fake) as b:
        numbers = [a.email(subject=f"Rent arrears {i}") for i in range(30)]
        deliver_together(a, b)
        ids = card_task_ids(a)
        assert len(ids) == 30 and len(set(ids)) == 30  # every task, each once

        # A claim that reaches the standby is saved, and the holder updates the card.
        team = a.team.name
        holder, standby = (a, b) if a.runner.holding(team) else (b, a)
        assert not standby.runner.holding(team)
        standby.click("duty_claim", numbers[0], user="UALEX0001")
        assert standby.runner.deliver(standby.team.name).updated == 0
        holder.drain()
        assert "Claimed by" in str(holder.card(numbers[0])["blocks"])

        # The holder stops cleanly: the standby takes over within a second or two.
        holder.runner.shutdown(timeout=5)
        later = standby.email(subject="Missed payment")
        until(lambda: standby.runner.holding(team), 5, "the standby to take the team")
        standby.drain()
        assert len(standby.cards_of(later)) == 1
        assert len(card_task_ids(standby)) == 31


def test_a_holder_on_another_machine_is_waited_for_until_its_lease_runs_out(
    db: Database,
) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        now = datetime.now(UTC)
        with db.session() as s:
            leases_db.take_lease(
                s, team_lease_name(h.team.name), "other-host:4242:ab12", now, timedelta(seconds=2)
            )
        assert h.runner.deliver(h.team.name).posted == 0
        assert h.cards() == []
        # Still held by the other machine for a moment; once it runs out, this one delivers.
        deadline = now + timedelta(seconds=10)
        while not h.runner.holding(h.team.name) and datetime.now(UTC) < deadline:
            threading.Event().wait(0.2)
        h.drain()
        assert len(h.cards_of(n)) == 1


def test_a_dead_holder_on_this_machine_is_taken_over_at_once(db: Database) -> None:
    import socket

    with SlackHarness(db) as h:
        n = h.email()
        dead = f"{socket.gethostname()}:{_dead_pid()}:ab12"
        with db.session() as s:
            name = team_lease_name(h.team.name)
            leases_db.take_lease(s, name, dead, datetime.now(UTC), timedelta(minutes=5))
        h.drain()
        assert len(h.cards_of(n)) == 1


def _dead_pid() -> int:
    """The pid of a process that has finished."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)
