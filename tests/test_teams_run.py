"""`dutybot run` as a real process with chat = "teams", against the fake Bot Connector and
Microsoft's sign-in hosts served locally (through an HTTPS proxy and CA, so the SDK checks
tokens and signs in for real). Runs on SQLite and PostgreSQL, as the Slack run tests do."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from storage.db import Database
from tests.bot_process import TeamsBotProcess, tasks, until
from tests.conftest import ROOT
from tests.fakes.bot_connector import FakeBotConnector, Post
from tests.fakes.microsoft_login import MicrosoftLogin
from tests.teams_harness import APP_ID, CHANNEL, SAM, TENANT, card_text, invoke_card


@pytest.fixture
def login() -> Iterator[MicrosoftLogin]:
    with MicrosoftLogin(app_id=APP_ID, tenant_id=TENANT) as issuer:
        yield issuer


@pytest.fixture
def fake(login: MicrosoftLogin) -> Iterator[FakeBotConnector]:
    with FakeBotConnector(issued=login.issued) as server:
        yield server


def cards(fake: FakeBotConnector) -> list[Post]:
    return [p for p in fake.posts(CHANNEL) if "task" in ((p.card or {}).get("dutybot") or {})]


def test_run_serves_teams_and_its_status_beside_it(
    db: Database, fake: FakeBotConnector, login: MicrosoftLogin, tmp_path: Path,
    bots: list[TeamsBotProcess],
) -> None:  # fmt: skip
    bot = TeamsBotProcess(db, fake, login, tmp_path)
    bots.append(bot.start())
    bot.mail("Rent arrears")
    (card,) = until(lambda: cards(fake), what="the card")
    assert card.activity["summary"] == "New duty task #1"
    answer = invoke_card(bot.press("claim", 1, SAM))
    assert "Claimed by @Sam" in card_text(answer)
    until(lambda: "Claimed by @Sam" in card_text(fake.post(card.id).card), what="the update")
    forged = requests.post(f"{bot.base}/api/messages", json={"type": "message"}, timeout=10,
                           headers={"Authorization": "Bearer forged.token.here"})  # fmt: skip
    assert forged.status_code == 401
    assert requests.get(f"{bot.base}/metrics", timeout=10).status_code == 200
    health = requests.get(f"{bot.base}/healthz", timeout=10).json()
    assert health["slack"] is None and "msteams" in health
    status = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "status", "--config", str(bot.config)],
        env=bot._env(), capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert "Teams: reachable (Microsoft signed the bot in)." in status.stdout, status.stdout
    assert bot.stop(signal.SIGTERM) == 0
    assert "Exception caught" not in bot.output()


def test_killed_mid_post_and_restarted_leaves_exactly_one_card(
    db: Database, fake: FakeBotConnector, login: MicrosoftLogin, tmp_path: Path,
    bots: list[TeamsBotProcess],
) -> None:  # fmt: skip
    fake.slow_seconds = 60  # Teams takes the card, and the answer never comes
    fake.fail_next(1, "hang-after-post")
    first = TeamsBotProcess(db, fake, login, tmp_path)
    bots.append(first.start())
    first.mail("Rent arrears")
    until(lambda: cards(fake), what="Teams to hold the card")
    (waiting,) = tasks(db)
    assert waiting.card_state == "posting"  # still waiting for Teams' answer
    first.stop(signal.SIGKILL)

    second = TeamsBotProcess(db, fake, login, tmp_path)
    bots.append(second.start())
    until(lambda: tasks(db)[0].card_state == "posted", what="the card to be found")
    (card,) = cards(fake)
    assert tasks(db)[0].card_ts == card.id
    invoke_card(second.press("claim", 1, SAM))
    until(lambda: "Claimed by @Sam" in card_text(fake.post(card.id).card), what="the update")
    assert len(cards(fake)) == 1
    assert second.stop() == 0


@pytest.mark.slow
def test_a_20_percent_fault_rate_and_a_kill_lose_and_double_nothing(
    db: Database, fake: FakeBotConnector, login: MicrosoftLogin, tmp_path: Path,
    bots: list[TeamsBotProcess],
) -> None:  # fmt: skip
    fake.slow_seconds = 12  # longer than a call may take: the bot gives up, the post stands
    fake.fault_rate(0.2, ("429", "503", "500", "500-after-post", "hang-after-post"))
    first = TeamsBotProcess(db, fake, login, tmp_path)
    bots.append(first.start())
    for i in range(12):
        first.mail(f"Email {i}")
    until(lambda: len(cards(fake)) >= 5, 60, what="some cards, through the faults")
    first.stop(signal.SIGKILL)  # mid-delivery, as it may be

    second = TeamsBotProcess(db, fake, login, tmp_path)
    bots.append(second.start())
    until(lambda: len(tasks(db)) == 12 and all(t.card_state == "posted" for t in tasks(db)),
          120, what="every card, through the faults")  # fmt: skip
    fake.fault_rate(0)
    posted = {t.id: t.card_ts for t in tasks(db)}
    per_task: dict[int, int] = {}
    for card in cards(fake):
        task_id = card.card["dutybot"]["task"]
        per_task[task_id] = per_task.get(task_id, 0) + 1
        assert posted[task_id] == card.id
    assert per_task == {task_id: 1 for task_id in posted}
    assert [c for c in fake.calls if c.fault]  # the faults really happened
    assert second.stop() == 0
