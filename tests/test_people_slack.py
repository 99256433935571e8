"""The people directory in Slack, end to end: the bot in HTTP mode against the fake Slack
(a person's mailbox from their profile's email, their status from their profile, a team
leader's Slack account from their email) and real exchangelib against the fake EWS server
(the team leader, the automatic reply, free/busy). Every answer inside Slack's 3 seconds,
even when Slack or Exchange is slow."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from storage import tasks as q
from storage.db import Database
from tests.fakes.ews_server import FakeEws
from tests.slack_harness import CHANNEL, SAM, SlackHarness, card_text
from tests.test_people_exchange import SECRET_ENV, ews_config, people

KIM, RITA = "UKIM00001", "URITA0001"


@pytest.fixture
def ews(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEws]:
    with FakeEws() as server:
        monkeypatch.setenv(SECRET_ENV, server.password)
        people(server.directory)
        yield server


def harness(db: Database, ews: FakeEws) -> SlackHarness:
    team = {"mailbox": ews_config(ews), "people": {"source": "ews", "availability": "ews"}}
    h = SlackHarness(db, team=team).start()
    h.fake.users[KIM] = {"real_name": "Kim Lee", "display_name": "Kim",
                         "email": "kim@council.example", "status_text": "Working from home",
                         "status_emoji": ":house:"}  # fmt: skip
    h.fake.users[RITA] = {"real_name": "Rita Jones", "display_name": "Rita",
                          "email": "rita@council.example"}  # fmt: skip
    return h


def whois(h: SlackHarness, who: str) -> tuple[str, float]:
    started = time.monotonic()
    reply = h.command(f"whois <@{who}|someone>", user=SAM, channel=CHANNEL)
    took = time.monotonic() - started
    assert reply.status_code == 200
    return str(reply.json()["text"]), took


def test_whois_in_slack_reads_the_profile_and_asks_exchange(db: Database, ews: FakeEws) -> None:
    with harness(db, ews) as h:
        said, _ = whois(h, KIM)
        assert said == (
            "@Kim: automatic reply on until Fri 27 Nov 17:00; busy now, free from 11:00; "
            'status "Working from home"; team leader @Rita.'
        )
        assert "<@" not in said  # names, not pings: nobody is notified by a question
        asked = h.fake.calls_to("users.lookupByEmail")
        assert [c.params.get("email") for c in asked] == ["rita@council.example"]


def test_in_slack_the_worker_and_team_leader_are_alerted_and_the_form_knows(
    db: Database, ews: FakeEws
) -> None:
    with harness(db, ews) as h:
        n = h.email()
        h.drain()
        said = h.command(f"worker {n} <@{KIM}|kim>").json()["text"]
        assert said.startswith(f"@Kim is the allocated worker for #{n} (team leader @Rita).")
        assert "automatic reply is on until Fri 27 Nov 17:00" in said
        h.drain()
        assert "Allocated worker: @Kim (team leader @Rita)" in card_text(h.card(n))

        h.click("duty_resolve", n)
        modal = h.fake.wait_for(h.fake.views_opened)[-1]["view"]
        assert "Not yet" in json.dumps(modal["blocks"])

        assert (
            h.command(f"alert {n} please call the carer")
            .json()["text"]
            .startswith(f"Alert sent about #{n} to <@{KIM}>, <@{RITA}>.")
        )
        h.drain()
        assert "alerted you to duty task" in card_text(h.dms(KIM)[-1])
        assert "as team leader of @Kim: Rent arrears" in card_text(h.dms(RITA)[-1])

        h.click("duty_resolve", n)
        modal = h.fake.wait_for(lambda: h.fake.views_opened()[1:])[-1]["view"]
        assert "Done: an alert reached the allocated worker and their team leader." in (
            json.dumps(modal["blocks"])
        )
        assert h.resolve(n, "Advice given", ("case_note",)).status_code == 200
        with h.db.session() as s:
            (ev,) = q.events_of_kinds(s, h.task_id(n), ["resolved"])
        assert ev.data["checklist"]["alerted"] is True


def test_a_team_leader_with_a_guest_account_is_named_not_alerted(
    db: Database, ews: FakeEws
) -> None:
    with harness(db, ews) as h:
        h.fake.users[RITA] = {"real_name": "Rita Jones", "email": "rita@council.example",
                              "is_restricted": True}  # fmt: skip
        said, _ = whois(h, KIM)
        assert said.endswith("; team leader Rita Jones.")


@pytest.mark.parametrize("slow", ["slack", "exchange"])
def test_a_slow_slack_or_exchange_still_answers_in_time(
    db: Database, ews: FakeEws, slow: str
) -> None:
    with harness(db, ews) as h:
        if slow == "slack":
            h.fake.hang_seconds = 4.0
            h.fake.fail_next(1, "hang", method="users.info")  # the profile never comes
        else:
            ews.directory.delay = 4.0
        said, took = whois(h, KIM)
        assert took < 3.0, took
        if slow == "slack":
            assert said.endswith(
                "email address not known, so automatic reply and free/busy not known; "
                "status not known; team leader not known."
            )
        else:
            assert said == (
                "@Kim: automatic reply not known; free/busy not known; "
                'status "Working from home"; team leader not known.'
            )
