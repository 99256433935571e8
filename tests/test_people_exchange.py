"""The people directory on Exchange, end to end: the bot's own wiring from config, real
exchangelib against the fake EWS server and real HTTP (msal, requests) against the fake
Graph server. Team leaders, automatic replies and free/busy are asked as the duty mailbox;
the reply's text and meeting subjects never come back out; a slow or broken Exchange gives
"not known" inside Slack's 3 seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from storage.db import Database
from tests.conftest import TEAM
from tests.fakes.directory import FakeDirectory, Meeting
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.test_handover import dms, drain, london

LONDON = ZoneInfo("Europe/London")
MONDAY_10AM = london(2026, 11, 23, 10, 0)
SECRET_ENV = "DUTYBOT_TEST_PEOPLE_SECRET"
TABLE = {  # the shell's way from a chat id to a mailbox (Slack has the profile's email)
    "kim": {"email": "kim@council.example"},
    "rita": {"email": "rita@council.example"},
}
REPLY_TEXT = "I am on leave until Friday. For urgent matters call 01632 960000."


def people(directory: FakeDirectory) -> None:
    directory.add("rita@council.example", "Rita Jones")
    directory.add("dev@council.example", "Dev Okafor")  # not in the chat
    directory.add(
        "kim@council.example", "Kim Lee", manager="rita@council.example", reply=REPLY_TEXT,
        reply_end=datetime(2026, 11, 27, 17, 0, tzinfo=UTC),
        calendar=[
            Meeting(london(2026, 11, 23, 9, 0), london(2026, 11, 23, 10, 30)),
            Meeting(london(2026, 11, 23, 10, 30), london(2026, 11, 23, 11, 0), "tentative"),
            Meeting(london(2026, 11, 23, 14, 0), london(2026, 11, 23, 15, 0), "free"),
        ],
    )  # fmt: skip
    directory.add("lee@council.example", "Lee", manager="dev@council.example")


def ews_config(ews: FakeEws) -> dict[str, Any]:
    return {"kind": "ews", "address": ews.address, "endpoint": ews.endpoint, "auth": "basic",
            "username": ews.username, "password_env": SECRET_ENV}  # fmt: skip


def graph_config(graph: FakeGraph) -> dict[str, Any]:
    return {"kind": "graph", "address": graph.address, "tenant_id": graph.tenant_id,
            "client_id": graph.client_id, "client_secret_env": SECRET_ENV,
            "authority_host": graph.authority_host, "graph_url": graph.graph_url}  # fmt: skip


@pytest.fixture(params=["ews", "graph"])
def exchange(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FakeDirectory, dict[str, Any]]]:
    """(kind, the fake's directory, the mailbox config) for each way to Exchange."""
    if request.param == "ews":
        with FakeEws() as ews:
            monkeypatch.setenv(SECRET_ENV, ews.password)
            people(ews.directory)
            yield "ews", ews.directory, ews_config(ews)
        return
    with FakeGraph() as graph:
        monkeypatch.setenv(SECRET_ENV, graph.client_secret)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph.ca_bundle)  # the fake's own CA
        people(graph.directory)
        yield "graph", graph.directory, graph_config(graph)


def bot_on(db: Database, kind: str, mailbox: dict[str, Any], **extra: Any) -> DutyBot:
    team = {**TEAM, "names": {}, "mailbox": mailbox,
            "people": {"source": kind, "availability": kind, "table": TABLE, **extra}}  # fmt: skip
    return DutyBot(parse_config({"teams": [team]}), clock=ManualClock(MONDAY_10AM), db=db).start(
        with_mailboxes=False
    )


def whois(bot: DutyBot, who: str) -> tuple[str, float]:
    started = time.monotonic()
    said = bot.team().command("sam", f"/duty whois @{who}").plain()
    return said, time.monotonic() - started


def test_whois_asks_exchange_and_shows_no_reply_text_and_no_subjects(
    db: Database, exchange: tuple[str, FakeDirectory, dict[str, Any]]
) -> None:
    kind, directory, mailbox = exchange
    bot = bot_on(db, kind, mailbox)
    try:
        said, _ = whois(bot, "kim")
        assert said == (
            "@kim: automatic reply on until Fri 27 Nov 17:00; busy now, free from 11:00; "
            "status not known; team leader @rita."
        )
        assert "leave" not in said and "01632" not in said and "Core group" not in said
        # The manager's mailbox, not just a display name: Rita is reached in the chat.
        assert "Rita Jones" not in said
        said, _ = whois(bot, "rita")
        assert said == (
            "@rita: automatic reply off; free for the rest of the day; status not known; "
            "team leader not known."
        )
        if kind == "ews":
            assert set(directory.views) == {"FreeBusy"}  # never a view with subjects
    finally:
        bot.close()


def test_what_exchange_says_about_people_never_reaches_the_logs(
    db: Database,
    exchange: tuple[str, FakeDirectory, dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kind, _, mailbox = exchange
    caplog.set_level(logging.DEBUG)  # every library at its most talkative
    bot = bot_on(db, kind, mailbox)
    try:
        assert "automatic reply on" in whois(bot, "kim")[0]
    finally:
        bot.close()
    assert caplog.records  # the libraries did log
    for secret in ("on leave", "01632 960000", "Core group", "Rita Jones"):
        assert secret not in caplog.text


def test_a_team_leader_outside_the_chat_is_named_and_the_alert_says_so(
    db: Database, exchange: tuple[str, FakeDirectory, dict[str, Any]]
) -> None:
    kind, _, mailbox = exchange
    table = {**TABLE, "lee": {"email": "lee@council.example"}}
    bot = bot_on(db, kind, mailbox, table=table)
    team = bot.team()
    try:
        assert whois(bot, "lee")[0].endswith("team leader Dev Okafor.")
        team.command("sam", "/duty new phone Carer rang")
        team.command("sam", "/duty worker 1 @lee")
        assert team.command("sam", "/duty alert 1").plain() == (
            "Alert sent about #1 to @lee. @lee's team leader, Dev Okafor, isn't in the chat: "
            "tell them another way."
        )
        assert team.command("sam", "/duty worker 1 @kim").plain() == (
            "@kim is the allocated worker for #1 (team leader @rita). @kim's automatic reply is "
            "on until Fri 27 Nov 17:00, so they may be away. Their team leader @rita may pick "
            "it up."
        )
        drain(db)
        team.command("sam", "/duty alert 1 rang about rent")
        sent = drain(db)
        assert len(dms(sent, "kim")) == 1 and len(dms(sent, "rita")) == 1
    finally:
        bot.close()


def test_a_slow_exchange_answers_not_known_within_slacks_three_seconds(
    db: Database, exchange: tuple[str, FakeDirectory, dict[str, Any]]
) -> None:
    kind, directory, mailbox = exchange
    # Every directory request takes longer than Slack waits (but less than the bot's own
    # 5-second timeout, so the answers do come in the end).
    directory.delay = 4.5
    bot = bot_on(db, kind, mailbox)
    team = bot.team()
    try:
        team.command("sam", "/duty new phone Carer rang")
        started = time.monotonic()
        assert team.command("sam", "/duty worker 1 @kim").plain() == (
            "@kim is the allocated worker for #1 (team leader not known)."
        )
        assert time.monotonic() - started < 2.5
        said, took = whois(bot, "rita")  # questions of its own, just sent
        assert took < 2.5, took
        assert said == (
            "@rita: automatic reply not known; free/busy not known; status not known; "
            "team leader not known."
        )
        # The late answers are kept: once Exchange has answered, the bot knows.
        directory.delay = 0
        deadline = time.monotonic() + 20
        said = ""
        while "team leader @rita" not in said and time.monotonic() < deadline:
            time.sleep(0.5)
            said, _ = whois(bot, "kim")
        assert "automatic reply on" in said and "team leader @rita" in said
    finally:
        bot.close()


def test_an_exchange_that_fails_answers_not_known(
    db: Database, exchange: tuple[str, FakeDirectory, dict[str, Any]]
) -> None:
    kind, directory, mailbox = exchange
    directory.down = True
    bot = bot_on(db, kind, mailbox)
    try:
        said, took = whois(bot, "kim")
        assert said == (
            "@kim: automatic reply not known; free/busy not known; status not known; "
            "team leader not known."
        )
        assert took < 2.5
        assert directory.asked  # it was asked, and failed: not a crash, not a wait
    finally:
        bot.close()
