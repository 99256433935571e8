"""The bot's first start on a mailbox that already holds mail ([teams.mailbox] first_sync), on
each kind of mailbox: a folder, EWS (tests/fakes/ews_server.py) and Graph
(tests/fakes/graph_server.py), through the real watcher, intake, delivery and fake Slack."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.kernel.clock import ManualClock
from bot.kernel.config import FirstSync
from bot.mail.adapters.ews import EwsMailbox, EwsSettings
from bot.mail.mailbox import Batch
from bot.mail.watcher import sync_once
from storage import tasks as q
from storage.db import Database
from storage.models import MailboxState, Task
from tests.conftest import TEAM
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.mail import email_message, make_email
from tests.slack_harness import SlackHarness, card_text

NAME = TEAM["name"]
DAY = timedelta(days=1)
LAST_WEEK = "Mon, 16 Nov 2026 09:30:00 +0000"


@dataclass
class Inbox:
    """One mailbox kind: its [teams.mailbox] keys, and how mail lands in it and grows old."""

    mailbox: dict[str, Any]
    put: Callable[[bytes], object]
    age: Callable[[timedelta], None]  # every email in it arrived that much earlier


def folder_inbox(tmp_path: Path) -> Inbox:
    path = tmp_path / "inbox"
    path.mkdir()

    def put(mime: bytes) -> None:
        (path / f"{time.time_ns()}.eml").write_bytes(mime)

    def age(delta: timedelta) -> None:
        for f in path.glob("*.eml"):
            when = f.stat().st_mtime - delta.total_seconds()
            os.utime(f, (when, when))

    return Inbox({"kind": "folder", "path": str(path)}, put, age)


@pytest.fixture(params=["folder", "ews", "graph"])
def inbox(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Inbox]:
    if request.param == "folder":
        yield folder_inbox(tmp_path)
    elif request.param == "ews":
        with FakeEws() as ews:
            monkeypatch.setenv("FIRST_EWS_PASSWORD", ews.password)
            yield Inbox(
                {"kind": "ews", "address": ews.address, "endpoint": ews.endpoint, "auth": "basic",
                 "username": ews.username, "password_env": "FIRST_EWS_PASSWORD"},
                ews.deliver, ews.age,
            )  # fmt: skip
    else:
        with FakeGraph() as graph:
            monkeypatch.setenv("FIRST_GRAPH_SECRET", graph.client_secret)
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph.ca_bundle)  # trust the fake's CA
            yield Inbox(
                {"kind": "graph", "address": graph.address, "tenant_id": graph.tenant_id,
                 "client_id": graph.client_id, "client_secret_env": "FIRST_GRAPH_SECRET",
                 "authority_host": graph.authority_host, "graph_url": graph.graph_url},
                graph.deliver, graph.age,
            )  # fmt: skip


def mail(n: int, subject: str = "Old query") -> bytes:
    return make_email(f"{subject} {n}", message_id=f"<first-{n}@example.org>")


def harness(db: Database, inbox: Inbox, **keys: Any) -> SlackHarness:
    return SlackHarness(db, team={"mailbox": {**inbox.mailbox, **keys}}, with_mailboxes=True)


def subjects(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Task.subject).order_by(Task.number)))


def posts(h: SlackHarness) -> list[str]:
    """What the channel shows, oldest first: each card's text, or a message's."""
    return [card_text(m) or str(m.get("text")) for m in h.fake.messages(h.team.channel)]


def test_all_takes_in_everything_with_one_summary_and_cards_for_the_newest(
    db: Database, inbox: Inbox
) -> None:
    for n in range(1, 8):
        inbox.put(mail(n))
        inbox.age(timedelta(hours=1))  # each one an hour older than the next
    with harness(db, inbox, first_sync="all", first_sync_cards=3) as h:
        h.check_mail()
        h.drain()
        assert len(subjects(db)) == 7  # every email is a task
        shown = posts(h)
        assert len(shown) == 4  # the newest three cards and one summary
        assert [n for n in range(1, 8) if any(f"Old query {n}" in p for p in shown)] == [5, 6, 7]
        assert shown[-1] == (
            "Took in 7 emails that were already in the inbox. The newest 3 have cards here; "
            "see the rest with /duty list."
        )
        listed = h.command("list")
        assert "Old query 1" in listed.text  # the rest are reachable
        assert h.card(1) is None
        h.command("claim 1")  # something happens on one without a card: it gets its card
        h.drain()
        assert "Old query 1" in card_text(h.card(1))
        assert any("claimed" in str(m).lower() for m in h.thread(1))
        h.command("unclaim 1")  # let go again: now it is chased like any other
        h.drain()

        inbox.put(mail(8, "New query"))  # after the first start: an ordinary card
        h.check_mail()
        h.drain()
        assert "New query 8" in posts(h)[-1]

        h.clock.advance(timedelta(hours=2))  # nothing old is chased as unclaimed
        h.bot.run_due(NAME)
        h.drain()
        reminded = [n for n in range(1, 9) if any("Still unclaimed" in str(m) for m in h.thread(n))]
        assert reminded == [1, 8]


def test_new_leaves_old_mail_and_takes_what_arrives_as_it_starts_and_after(
    db: Database, inbox: Inbox
) -> None:
    for n in range(1, 4):
        inbox.put(mail(n))
    inbox.age(DAY)
    inbox.put(mail(4, "Arriving now"))  # lands while the bot starts
    with harness(db, inbox, first_sync="new") as h:
        h.check_mail()
        h.drain()
        assert subjects(db) == ["Arriving now 4"]
        inbox.put(mail(5, "Later"))
        h.check_mail()
        h.drain()
        assert subjects(db) == ["Arriving now 4", "Later 5"]
        assert len(h.cards()) == 2
        assert not any("Took in" in p for p in posts(h))  # nothing hidden: no summary


def test_since_takes_in_what_arrived_from_that_day(db: Database, inbox: Inbox) -> None:
    for n in (1, 2):
        inbox.put(mail(n, "Last month"))
    inbox.age(20 * DAY)
    for n in (3, 4):
        inbox.put(mail(n, "This week"))
    inbox.age(2 * DAY)
    day = time.gmtime(time.time() - 5 * 86400)  # five days ago
    with harness(db, inbox, first_sync=time.strftime("since %Y-%m-%d", day)) as h:
        h.check_mail()
        h.drain()
        assert subjects(db) == ["This week 3", "This week 4"]
        assert len(h.cards()) == 2


def test_a_mailbox_synced_before_has_started_already(db: Database, tmp_path: Path) -> None:
    """An existing deployment upgrading: its sync state has no first start on record, so
    first_sync = "new" neither hides old mail nor holds back cards."""
    inbox = folder_inbox(tmp_path)
    inbox.put(mail(1))
    with harness(db, inbox, first_sync="all") as h:
        h.check_mail()
    with db.session() as s:  # as a bot from before first_sync left it
        row = s.get(MailboxState, NAME)
        assert row is not None
        row.started_at = row.take_from = row.caught_up_at = None
    inbox.put(mail(2))
    inbox.age(DAY)  # both from yesterday
    with harness(db, inbox, first_sync="new") as h:
        h.check_mail()
        h.drain()
        assert subjects(db) == ["Old query 1", "Old query 2"]
        assert len(h.cards()) == 2


def test_a_first_start_cut_short_carries_on_with_the_same_plan(
    db: Database, tmp_path: Path
) -> None:
    inbox = folder_inbox(tmp_path)
    for n in range(1, 5):
        inbox.put(mail(n))
    inbox.age(DAY)
    with harness(db, inbox, first_sync="all", first_sync_cards=1) as h:
        h.bot.check_mail(NAME, stop=_StopsSoon(3))  # type: ignore[arg-type]
    with db.session() as s:
        assert 1 <= (s.scalar(select(func.count()).select_from(Task)) or 0) < 4
    with harness(db, inbox, first_sync="new", first_sync_cards=1) as h:  # config changed
        h.check_mail()
        h.drain()
        assert len(subjects(db)) == 4  # the first start's plan ("all") still holds
        assert len(h.cards()) == 1
        assert posts(h)[-1].startswith("Took in 4 emails")


class _StopsSoon:
    """A stop signal that is set from its ``n``th asking on (the watcher asks before each
    email): the process is stopping partway through the first start."""

    def __init__(self, n: int) -> None:
        self.asked, self.n = 0, n

    def is_set(self) -> bool:
        self.asked += 1
        return self.asked >= self.n


class LandsAfterFirstPage:
    """The EWS mailbox, with one email landing in it just after the first page is read: mail
    that arrives while a first start reads the inbox."""

    def __init__(self, ews: FakeEws, box: EwsMailbox) -> None:
        self.ews, self.box, self.landed = ews, box, False

    def poll(self, checkpoint: str | None, since: datetime | None = None) -> Batch:
        batch = self.box.poll(checkpoint, since)
        if not self.landed:
            self.landed = bool(self.ews.deliver(mail(6, "Landed meanwhile")))
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.box, name)


def ews_settings(ews: FakeEws) -> EwsSettings:
    return EwsSettings(address=ews.address, endpoint=ews.endpoint, auth="basic",
                       username=ews.username, password=ews.password)  # fmt: skip


def test_mail_arriving_while_a_first_start_reads_the_inbox_is_new_mail(
    db: Database, ews: FakeEws, clock: ManualClock
) -> None:
    """Read two at a time, an inbox of five old emails; a sixth lands after the first page.
    With "new" the old five stay put, and the sixth is taken in with its card."""
    for n in range(1, 6):
        ews.deliver(mail(n))
    ews.age(DAY)
    with db.session() as s:
        q.ensure_team(s, NAME)
    with EwsMailbox(ews_settings(ews), page_size=2) as box:
        arriving = LandsAfterFirstPage(ews, box)
        got = sync_once(db, NAME, arriving, clock, first=FirstSync("new"))  # type: ignore[arg-type]
        assert got.new == [1] and got.caught_up == 0
        assert first_start_cards(db) == {"Landed meanwhile 6": "pending"}
        # a later start has started already: "all" now changes nothing
        assert sync_once(db, NAME, box, clock, first=FirstSync("all")).new == []


def test_mail_arriving_while_a_first_start_takes_all_in_gets_its_card_at_once(
    db: Database, ews: FakeEws, clock: ManualClock
) -> None:
    for n in range(1, 6):
        ews.deliver(mail(n))
    ews.age(DAY)
    with db.session() as s:
        q.ensure_team(s, NAME)
    with EwsMailbox(ews_settings(ews), page_size=2) as box:
        arriving = LandsAfterFirstPage(ews, box)
        got = sync_once(db, NAME, arriving, clock, first=FirstSync("all", cards=1))  # type: ignore[arg-type]
    assert sorted(got.new) == [1, 2, 3, 4, 5, 6] and got.caught_up == 5
    cards = first_start_cards(db)
    assert cards.pop("Landed meanwhile 6") == "pending"  # new mail: its card at once
    assert sorted(cards.values()) == ["held"] * 4 + ["pending"]  # the newest old one's card


def first_start_cards(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {
            subject: state for subject, state in s.execute(select(Task.subject, Task.card_state))
        }


def test_the_handover_sums_up_old_mail_without_cards_in_one_line(
    db: Database, tmp_path: Path
) -> None:
    inbox = folder_inbox(tmp_path)
    for n in range(1, 15):  # written last week
        old = email_message(f"Old query {n}", "x", sender="a@example.org",
                            message_id=f"<first-{n}@example.org>", date=LAST_WEEK)  # fmt: skip
        inbox.put(bytes(old))
    inbox.age(DAY)
    with harness(db, inbox, first_sync="all", first_sync_cards=3) as h:
        h.check_mail()
        h.drain()
        inbox.put(mail(15, "Today's"))
        h.check_mail()
        h.drain()
        said = json.loads(h.command("handover").text)["text"]
    assert "Open and unclaimed (4):" in said  # the three old ones with cards, and today's
    assert "Today's 15" in said and "Old query 14" in said
    assert "Came in today: 1" in said
    assert "Old query 1 " not in said and "Old query 11" not in said
    assert said.endswith(
        "*Open from before the bot started, without cards: 11*\n  See them with /duty list."
    )


def test_the_list_of_a_full_inbox_goes_a_page_at_a_time(db: Database, tmp_path: Path) -> None:
    inbox = folder_inbox(tmp_path)
    for n in range(1, 61):
        inbox.put(mail(n))
    inbox.age(DAY)
    with harness(db, inbox, first_sync="all") as h:
        h.check_mail()
        h.drain()
        assert posts(h)[-1].startswith("Took in 60 emails")
        first = json.loads(h.command("list").text)["text"]
        assert first.startswith("Open tasks (1 to 50 of 60):\n#1 Old query 1 (unclaimed)")
        assert first.endswith("#50 Old query 50 (unclaimed)\nMore: /duty list open 2")
        second = json.loads(h.command("list open 2").text)["text"]
        assert second.startswith("Open tasks (51 to 60 of 60):\n#51 Old query 51")
        assert "More:" not in second
        third = json.loads(h.command("list open 3").text)["text"]
        assert third == "Open tasks: there are only 2 pages. Use: /duty list open"
