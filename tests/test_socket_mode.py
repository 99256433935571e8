"""`dutybot run` in Socket Mode, the default, as a real process against a fake Socket Mode
WebSocket and the fake Slack Web API.

slack_sdk's own Socket Mode client and bolt's adapter do the work: the bot asks
``apps.connections.open`` (with the xapp- token) for the socket, Slack pushes slash commands,
button clicks and events down it, and the bot acknowledges each envelope on it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import Database
from tests.bot_process import (
    CHANNEL,
    JO,
    SAM,
    TEAM,
    BotProcess,
    cards,
    sqlite_database,
    tasks,
    until,
)
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import block_actions_payload, slash_command_payload
from tests.fakes.socket_mode import FakeSocketMode


@pytest.fixture
def socket() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        yield server


@pytest.fixture
def fake(socket: FakeSocketMode) -> Iterator[FakeSlack]:
    with FakeSlack(socket_mode_url=socket.url) as server:
        yield server


@pytest.fixture
def bot(db: Database, fake: FakeSlack, tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(db, fake, tmp_path, socket_mode=True)
    yield process
    process.kill()


def duty(socket: FakeSocketMode, fake: FakeSlack, text: str, user: str = SAM) -> dict:
    """/duty TEXT sent down the socket; the bot's acknowledgement."""
    payload = slash_command_payload(
        "/duty", text, user_id=user, channel_id=CHANNEL, response_url=fake.response_url()
    )
    return socket.ack(socket.send("slash_commands", payload))


def test_socket_mode_posts_cards_and_takes_commands_and_clicks_down_the_socket(
    socket: FakeSocketMode, fake: FakeSlack, bot: BotProcess
) -> None:
    bot.start()
    socket.wait_connected()
    (opened,) = fake.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == "Bearer xapp-run-test"

    bot.mail("Rent arrears")
    (card,) = until(lambda: cards(fake), what="the card")
    assert card["text"] == "New duty task #1"

    ack = duty(socket, fake, "claim 1")
    assert ack["payload"]["text"] == "You've claimed #1."
    until(lambda: "Claimed by @Sam" in str(fake.message(CHANNEL, card["ts"])), what="the update")

    ack = duty(socket, fake, "claim 99")
    assert "#99" in ack["payload"]["text"]  # one plain sentence, on the socket

    assert (
        duty(socket, fake, "unclaim 1")["payload"]["text"]
        == "You've released #1. It is open again."
    )
    click = block_actions_payload(
        "duty_claim",
        f"{TEAM}:1",
        user_id=JO,
        channel_id=CHANNEL,
        message_ts=card["ts"],
        response_url=fake.response_url(),
        message=fake.message(CHANNEL, card["ts"]),
    )
    socket.ack(socket.send("interactive", click))
    until(lambda: "Claimed by @Jo" in str(fake.message(CHANNEL, card["ts"])), what="Jo's claim")

    home = {
        "type": "event_callback",
        "team_id": fake.team_id,
        "api_app_id": fake.app_id,
        "event_id": "Ev0001",
        "event_time": 1,
        "event": {"type": "app_home_opened", "user": SAM, "channel": "DSAM", "tab": "home"},
    }
    socket.ack(socket.send("events_api", home, response_payload=False))
    until(lambda: fake.views_published(SAM), what="App Home")

    assert bot.stop(signal.SIGTERM) == 0
    assert "stopped cleanly" in bot.output()


def test_when_slack_asks_for_a_new_socket_the_bot_reconnects_and_carries_on(
    socket: FakeSocketMode, fake: FakeSlack, bot: BotProcess
) -> None:
    bot.start()
    socket.wait_connected()
    bot.mail("Rent arrears")
    until(lambda: cards(fake), what="the card")

    socket.refresh()  # Slack does this every few hours
    socket.wait_connected(2)
    assert len(fake.calls_to("apps.connections.open")) >= 2  # a fresh URL for each socket
    assert duty(socket, fake, "claim 1")["payload"]["text"] == "You've claimed #1."
    assert bot.stop() == 0


@pytest.mark.slow
def test_when_the_socket_drops_without_a_word_the_bot_reconnects_and_carries_on(
    socket: FakeSocketMode, fake: FakeSlack, tmp_path: Path
) -> None:
    # slack_sdk's own staleness check finds the dead socket (about a minute); the database
    # plays no part, so this runs once, on SQLite.
    with sqlite_database(tmp_path) as db:
        bot = BotProcess(db, fake, tmp_path, socket_mode=True)
        try:
            _drop_and_reconnect(socket, fake, bot)
        finally:
            bot.kill()


def _drop_and_reconnect(socket: FakeSocketMode, fake: FakeSlack, bot: BotProcess) -> None:
    bot.start()
    socket.wait_connected()
    bot.mail("Rent arrears")
    until(lambda: cards(fake), what="the card")

    socket.drop()  # a network fault: slack_sdk notices on its next check of the socket
    socket.wait_connected(2, timeout=90)
    assert duty(socket, fake, "claim 1")["payload"]["text"] == "You've claimed #1."
    assert bot.stop() == 0


def test_an_app_token_slack_refuses_stops_the_bot_with_one_plain_sentence(
    fake: FakeSlack, bot: BotProcess
) -> None:
    fake.socket_mode_url = None  # Slack: this token can't open a socket (Socket Mode is off)
    bot.start(wait=False)
    assert bot.proc is not None
    assert bot.proc.wait(30) == 1
    last = bot.output().strip().splitlines()[-1]
    assert last == (
        "Error: Slack refused the app-level token (not_allowed_token_type). Check the "
        "SLACK_APP_TOKEN environment variable holds the app's xapp- token with "
        "connections:write, and that Socket Mode is on in the app's settings."
    )
    assert "Traceback" not in bot.output()


def test_while_slack_is_down_at_start_up_mail_is_taken_in_and_the_socket_opens_when_it_is_back(
    db: Database, socket: FakeSocketMode, fake: FakeSlack, bot: BotProcess
) -> None:
    fake.failure_rate = 1.0  # down from the start: every call fails
    fake.failure_kinds = ["503", "reset"]
    bot.start()  # /healthz answers: the bot runs without Slack
    bot.mail("Rent arrears")
    until(lambda: tasks(db), what="the task")
    retrying = "Slack can't be reached for Socket Mode; trying again in 5 s"
    until(lambda: retrying in bot.output(), what="the bot to say it will try again")
    assert socket.connections == 0

    fake.failure_rate = 0.0  # Slack is back
    socket.wait_connected(timeout=60)
    until(lambda: cards(fake), what="the card")
    assert duty(socket, fake, "claim 1")["payload"]["text"] == "You've claimed #1."
    assert bot.stop() == 0


def test_healthz_says_when_the_socket_is_down_though_slack_answers(
    socket: FakeSocketMode, fake: FakeSlack, bot: BotProcess
) -> None:
    fake.failure_rate = 1.0  # only the socket fails: posting cards still works
    fake.failure_kinds = ["503"]
    fake.failure_methods = {"apps.connections.open"}
    bot.start()
    bot.mail("Rent arrears")
    until(lambda: cards(fake), what="the card, posted without the socket")
    down = {"ok": False, "detail": "Slack answers, but the Socket Mode connection is down"}
    assert until(lambda: bot.health()["slack"] == down, what="/healthz to say the socket is down")

    fake.failure_rate = 0.0
    socket.wait_connected(timeout=60)
    until(lambda: bot.health()["slack"]["ok"], what="/healthz to see the socket")
    assert duty(socket, fake, "claim 1")["payload"]["text"] == "You've claimed #1."
    assert bot.stop() == 0
