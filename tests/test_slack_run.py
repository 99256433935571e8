"""`dutybot run` as a real process, in Slack HTTP mode against the fake Slack Web API.

It must start the chat adapter (waitress serving /slack/events), the mailbox watcher and the
scheduler; survive SIGKILL in the middle of posting a card; and hold tasks while Slack is down.
Runs on SQLite and PostgreSQL: the process and the test share the ``db`` fixture's database.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from bot.ops.lease import team_lease_name
from storage import leases as leases_db
from storage.db import Database
from tests.bot_process import CHANNEL, TEAM, BotProcess, cards, tasks, until
from tests.fakes.slack_api import FakeSlack


def test_run_serves_slack_watches_the_mailbox_and_runs_the_clocks(
    db: Database, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    bot = BotProcess(db, slack, tmp_path)
    bots.append(bot.start())
    bot.mail("Rent arrears")  # the mailbox watcher picks it up and the card is posted
    (card,) = until(lambda: cards(slack), what="the card")
    assert card["text"] == "New duty task #1"

    def holder() -> str | None:
        with db.session() as s:
            return leases_db.lease_holder(s, team_lease_name(TEAM), datetime.now(UTC))

    assert f":{bot.proc.pid}:" in until(holder, what="the team's lease")  # type: ignore[union-attr]

    reply = bot.duty("claim 1")
    assert reply.status_code == 200 and reply.json()["text"] == "You've claimed #1."
    until(lambda: slack.calls_to("chat.update"), what="the card update")
    assert "Claimed by @Sam" in str(slack.message(CHANNEL, card["ts"]))

    forged = requests.post(
        f"{bot.base}/slack/events",
        data="command=/duty&text=claim+1",
        headers={"X-Slack-Signature": "v0=forged", "X-Slack-Request-Timestamp": "1"},
        timeout=10,
    )
    assert forged.status_code == 401

    assert bot.stop(signal.SIGTERM) == 0
    assert holder() is None  # a clean stop hands the lease back


def test_killed_mid_post_and_restarted_leaves_exactly_one_card(
    db: Database, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    slack.hang_seconds = 60  # Slack takes the card, and the answer never comes
    slack.fail_next(1, "hang-after-post", method="chat.postMessage")
    first = BotProcess(db, slack, tmp_path)
    bots.append(first.start())
    first.mail("Rent arrears")
    until(lambda: cards(slack), what="Slack to hold the card")
    (waiting,) = tasks(db)
    assert waiting.card_state == "posting"  # the bot is still waiting for Slack's answer
    first.stop(signal.SIGKILL)

    second = BotProcess(db, slack, tmp_path)
    bots.append(second.start())
    until(lambda: tasks(db)[0].card_state == "posted", what="the card to be found")
    (card,) = cards(slack)
    assert tasks(db)[0].card_ts == card["ts"]
    assert second.duty("claim 1").json()["text"] == "You've claimed #1."
    until(lambda: slack.calls_to("chat.update"), what="the card update")
    assert len(cards(slack)) == 1
    assert second.stop() == 0


def test_while_slack_is_down_tasks_wait_and_post_when_it_is_back(
    db: Database, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    slack.failure_rate = 1.0  # down from the start: every call fails
    slack.failure_kinds = ["503", "reset"]
    bot = BotProcess(db, slack, tmp_path)
    bots.append(bot.start())
    for subject in ("One", "Two", "Three"):
        bot.mail(subject)
    until(lambda: len(tasks(db)) == 3, what="the three tasks")
    until(lambda: slack.calls_to("chat.postMessage"), what="a post to fail")
    until(lambda: len(slack.calls) >= 6, what="Slack to be tried again and again")
    assert cards(slack) == []
    assert {t.card_state for t in tasks(db)} <= {"pending", "posting"}

    slack.failure_rate = 0.0  # Slack is back
    until(lambda: len(cards(slack)) == 3, what="the three cards")
    time.sleep(3)  # a few more delivery rounds: nothing may be posted twice
    assert sorted(c["text"] for c in cards(slack)) == [f"New duty task #{n}" for n in (1, 2, 3)]
    assert {t.card_state for t in tasks(db)} == {"posted"}
    assert bot.stop() == 0


def test_a_bot_token_slack_refuses_stops_the_bot_with_one_plain_sentence(
    db: Database, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    slack.refused_tokens = {"xoxb-run-test"}  # revoked, or copied wrong
    bot = BotProcess(db, slack, tmp_path)
    bots.append(bot.start(wait=False))
    assert bot.proc is not None and bot.proc.wait(30) == 1
    assert bot.output().strip().splitlines()[-1] == (
        "Error: Slack refused the bot token (invalid_auth). "
        "Check the SLACK_BOT_TOKEN environment variable."
    )
    assert "Traceback" not in bot.output()
