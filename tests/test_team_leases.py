"""Teams shared across processes: one lease per team, so each team's mail, cards and clocks are
held by one `dutybot run` at a time, the teams spread across the processes, a killed process's
teams are taken over and a cleanly stopped one's at once. Every email is still exactly one task
and one card.

The lease logic on its own (TeamLeases, two holders on other machines) first; then real
processes on PostgreSQL, several teams, the fake Slack, a SIGKILL mid-post and a clean stop.
The processes run on this machine, so a killed one's teams are taken at once (it is seen to
be gone); on another machine they wait for the leases to run out, as the first test shows.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from bot.kernel.clock import SystemClock
from bot.ops.lease import TeamLeases, team_lease_name
from storage import leases as leases_db
from storage import tasks as q
from storage.db import Database
from storage.models import Email, Task
from tests.bot_process import CHANNEL, JO, SAM, SECRET, TEAM, BotProcess, cards, until
from tests.fakes.ews_server import FakeEws
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import signed_headers, slash_command_body
from tests.mail import make_email
from tests.slack_harness import SlackHarness

# ---- the leases on their own ---------------------------------------------------------------

NAMES = sorted(["north", "south", "east", "west", "central"])


def leases(db: Database, holder: str, ttl: float = 3.0) -> TeamLeases:
    return TeamLeases(db, SystemClock(), NAMES, timedelta(seconds=ttl), holder=holder)


def holders(db: Database) -> dict[str, str]:
    """team -> the holder of its lease, for leases not run out."""
    now = datetime.now(UTC)
    with db.session() as s:
        rows = leases_db.leases_named(s, "team:")
    return {name.removeprefix("team:"): h for name, h, expires in rows if expires > now}


def settle(*processes: TeamLeases, rounds: int = 10) -> None:
    """Each process looks at the leases a few times, as its loops would every few seconds."""
    for _ in range(rounds):
        for p in processes:
            p.refresh()


def test_the_teams_spread_across_processes_and_a_dead_ones_are_taken_when_they_run_out(
    db: Database,
) -> None:
    a = leases(db, "host-a:101:aaaa1111")
    a.refresh()
    assert a.held() == NAMES  # alone, it acts for every team

    b = leases(db, "host-b:202:bbbb2222")
    settle(a, b)
    assert sorted(a.held() + b.held()) == NAMES  # every team held, and by one process
    assert sorted([len(a.held()), len(b.held())]) == [2, 3]
    assert set(holders(db).values()) == {a.holder, b.holder}

    # b dies (another machine: nothing can tell at once). Its teams wait until the leases
    # run out, and a, renewing its own meanwhile, then takes them all.
    of_b = b.held()
    a.refresh()
    assert not set(of_b) & set(a.held())
    deadline = time.monotonic() + 10
    while a.held() != NAMES and time.monotonic() < deadline:
        time.sleep(0.3)
        a.refresh()
    assert a.held() == NAMES
    assert set(holders(db).values()) == {a.holder}


def test_a_clean_stop_hands_its_teams_over_at_once_but_not_while_work_is_in_hand(
    db: Database,
) -> None:
    a = leases(db, "host-a:101:aaaa1111", ttl=60)
    b = leases(db, "host-b:202:bbbb2222", ttl=60)
    settle(a, b)
    mine = a.held()
    assert mine and b.held()
    busy = threading.Event()
    done = threading.Event()

    def card_in_hand() -> None:
        with a.acting(mine[0]) as ours:
            assert ours
            busy.set()
            done.wait(10)

    worker = threading.Thread(target=card_in_hand)
    worker.start()
    busy.wait(5)
    stopping = threading.Thread(target=a.release_all)
    stopping.start()
    time.sleep(0.5)
    # The team with a card in hand is still a's; the others are free already.
    assert holders(db).get(mine[0]) == a.holder
    assert not any(h == a.holder for t, h in holders(db).items() if t != mine[0])
    assert not a.holds(mine[1] if len(mine) > 1 else mine[0])  # nothing new is started
    done.set()
    worker.join(5)
    stopping.join(5)
    assert a.holder not in holders(db).values()
    # b holds its share, so its own next look is 20 s off; its delivery scan (every 2 s)
    # sees teams with no holder and makes it look at once.
    b.keep_up()
    assert len(b.held()) < len(NAMES)
    with db.session() as s:
        assert b.notice_free(s)
    b.keep_up()
    assert b.held() == NAMES
    with db.session() as s:
        assert not b.notice_free(s)  # all held: the scan asks nothing more of the leases


# ---- a team's mailbox is watched only where its lease is held ------------------------------


def ews_team(ews: FakeEws, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("LEASES_EWS_PASSWORD", ews.password)
    mailbox = {
        "kind": "ews", "address": ews.address, "endpoint": ews.endpoint, "auth": "basic",
        "username": ews.username, "password_env": "LEASES_EWS_PASSWORD", "streaming": True,
    }  # fmt: skip
    return {"mailbox": mailbox}


def referral(n: int) -> bytes:
    return make_email(f"Referral {n}", "Please call back.", message_id=f"<watch-{n}@example.org>")


def test_a_process_watches_a_teams_mailbox_only_while_it_holds_the_team_and_catches_up_on_taking_it(
    db: Database, ews: FakeEws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the team: this one opens no stream to its mailbox, and mail that
    comes meanwhile waits. Once the team comes free this one takes it, takes that mail in at
    once (before any new mail wakes a stream) and streams from then on."""
    team = ews_team(ews, monkeypatch)
    name = team_lease_name("care-experienced")
    with db.session() as s:
        leases_db.take_lease(
            s, name, "other-host:4242:ab12", datetime.now(UTC), timedelta(minutes=5)
        )
    with SlackHarness(db, team=team, with_mailboxes=True) as h:
        h.runner.start()
        ews.deliver(referral(1))
        time.sleep(3)  # a round of the lease scan, and more
        assert ews.open_streams() == 0
        assert h.cards() == []
        with db.session() as s:  # the other process stops cleanly
            leases_db.drop_lease(s, name, "other-host:4242:ab12", datetime.now(UTC))
        until(h.cards, 15, "the card of the email that came while the other held the team")
        assert ews.wait_for_streams(1)
        ews.deliver(referral(2))
        until(lambda: len(h.cards()) == 2, 15, "the card of an email that came after")
        assert ews.open_streams() == 1


def test_of_two_processes_only_the_holder_streams_and_the_other_takes_over_on_a_clean_stop(
    db: Database, ews: FakeEws, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = ews_team(ews, monkeypatch)
    with (
        FakeSlack() as slack,
        SlackHarness(db, fake=slack, team=team, with_mailboxes=True) as a,
        SlackHarness(db, fake=slack, team=team, with_mailboxes=True) as b,
    ):
        a.runner.start()
        b.runner.start()
        assert ews.wait_for_streams(1)
        time.sleep(3)  # a round of each one's lease scan, and more: still one stream
        assert ews.open_streams() == 1
        holder, other = (a, b) if a.runner.holding("care-experienced") else (b, a)
        ews.deliver(referral(1))
        until(lambda: len(slack.messages(CHANNEL)) == 1, 15, "the holder's card")

        holder.runner.shutdown(timeout=5)  # its stream ends; the other takes the team over
        ews.deliver(referral(2))
        until(lambda: other.runner.holding("care-experienced"), 10, "the other to take over")
        until(lambda: len(slack.messages(CHANNEL)) == 2, 15, "the card of the email in between")
        assert ews.wait_for_streams(1)
        ews.deliver(referral(3))
        until(lambda: len(slack.messages(CHANNEL)) == 3, 15, "the card of the next email")
        time.sleep(1)
        assert ews.open_streams() == 1
        assert len(slack.messages(CHANNEL)) == 3  # every email one card


# ---- real processes --------------------------------------------------------------------------

# (name, channel) of the teams beyond tests/bot_process.py's own
MORE = [("adults-north", "C0NORTH"), ("adults-south", "C0SOUTH"), ("children-east", "C0EAST")]
ALL = [(TEAM, CHANNEL), *MORE]


class Teams:
    """Four teams with their own inbox folders and channels, shared by every process."""

    def __init__(self, db: Database, slack: FakeSlack, tmp: Path) -> None:
        self.db, self.slack, self.tmp = db, slack, tmp
        self.inboxes = {name: tmp / "mail" / name for name, _ in ALL}
        for path in self.inboxes.values():
            path.mkdir(parents=True)
        self.sent: dict[str, str] = {}  # Message-ID -> team
        self._n = 0
        self._lock = threading.Lock()

    def process(self, label: str) -> BotProcess:
        home = self.tmp / label
        home.mkdir()
        extra = "".join(
            f"""
[[teams]]
name = "{name}"
channel = "{channel}"
members = ["{SAM}"]
managers = ["{JO}"]
names = {{ {SAM} = "Sam", {JO} = "Jo" }}
{folder(self.inboxes[name])}"""
            for name, channel in MORE
        )
        return BotProcess(
            self.db, self.slack, home, mailbox=folder(self.inboxes[TEAM]), extra=extra
        )

    def mail(self, team: str) -> str:
        """One email into the team's inbox (written aside, then renamed: atomic)."""
        with self._lock:
            self._n += 1
            n = self._n
        mid = f"lease-{n}@example.org"
        mime = make_email(f"Referral {n}", f"Please call back about {n}.", message_id=f"<{mid}>")
        part = self.inboxes[team] / f".{n}.part"
        part.write_bytes(mime)
        part.rename(self.inboxes[team] / f"{n:05d}.eml")
        self.sent[mid] = team
        return mid

    def feed(self, count: int, every: float = 0.05) -> threading.Thread:
        """``count`` emails at a steady rate, round the teams, from a thread."""

        def run() -> None:
            for i in range(count):
                self.mail(ALL[i % len(ALL)][0])
                time.sleep(every)

        t = threading.Thread(target=run, name="mail-feed")
        t.start()
        return t

    def held_by(self) -> dict[str, int]:
        """team -> the pid of the process holding its lease."""
        return {team: int(h.split(":")[1]) for team, h in holders(self.db).items()}

    def problems(self) -> list[str]:
        """Everything not exactly once: each email one task, each task one card in its
        team's channel, the task pointing at it."""
        found: list[str] = []
        with self.db.session() as s:
            emails = Counter(
                s.execute(select(Email.message_id, Email.team).where(~q.is_copy())).all()
            )
            rows = s.execute(select(Task.id, Task.team, Task.card_state, Task.card_ts)).all()
        want = Counter(self.sent.items())
        if emails != want:
            missing = sum((want - emails).values())
            found.append(f"{missing} email(s) missing, {sum((emails - want).values())} extra")
        if len(rows) != len(self.sent):
            found.append(f"{len(rows)} tasks for {len(self.sent)} emails")
        posted: Counter[tuple[str, int]] = Counter()
        ts: dict[int, str] = {}
        for _, channel in ALL:
            for card in cards(self.slack, channel):
                payload = card["metadata"]["event_payload"]
                posted[(channel, payload["task_id"])] += 1
                ts[payload["task_id"]] = card["ts"]
        channel_of = dict(ALL)
        for task_id, team, state, card_ts in rows:
            n = posted.get((channel_of[team], task_id), 0)
            if state != "posted" or n != 1 or ts.get(task_id) != card_ts:
                found.append(f"task {task_id} of {team}: {state}, {n} card(s)")
        if sum(posted.values()) != len(rows):
            found.append(f"{sum(posted.values())} cards for {len(rows)} tasks")
        return found


def folder(path: Path) -> str:
    return f"""
[teams.mailbox]
kind = "folder"
path = "{path.as_posix()}"
poll_seconds = 0.3
"""


def nothing_waiting(db: Database) -> bool:
    """No card to post or update, no thread note to send, for any team."""
    with db.session() as s:
        return not q.teams_waiting(s, [name for name, _ in ALL])


def all_carded(teams: Teams) -> bool:
    return not teams.problems()


def duty(bot: BotProcess, text: str, channel: str) -> str:
    """`/duty TEXT` in ``channel``, through this process; its answer."""
    body = slash_command_body(
        "/duty", text, user_id=SAM, channel_id=channel, response_url=bot.fake.response_url()
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(SECRET, body)}
    reply = requests.post(f"{bot.base}/slack/events", data=body, headers=headers, timeout=10)
    return str(reply.json()["text"])


def test_two_processes_share_the_teams_and_survive_a_kill_and_a_clean_stop(
    pg: Database, slack: FakeSlack, tmp_path: Path, bots: list[BotProcess]
) -> None:
    teams = Teams(pg, slack, tmp_path)
    a = teams.process("a")
    bots.append(a.start())
    assert a.proc is not None
    until(lambda: set(teams.held_by().values()) == {a.proc.pid} and len(teams.held_by()) == 4,
          what="the first process to hold every team")  # fmt: skip

    # A second process joins: the teams spread, two each.
    b = teams.process("b")
    bots.append(b.start())
    assert b.proc is not None

    def spread(*pids: int) -> bool:
        held = Counter(teams.held_by().values())
        return sum(held.values()) == 4 and all(held[p] == 2 for p in pids)

    until(lambda: spread(a.proc.pid, b.proc.pid), what="the teams to spread across both")
    teams.feed(40).join()
    until(lambda: all_carded(teams), what="every email carded once", timeout=60)

    # Either process answers /duty for any team; the holder updates the card.
    team, channel = ALL[1]
    other = a if teams.held_by()[team] == b.proc.pid else b
    assert duty(other, "claim 2", channel) == "You've claimed #2."
    with pg.session() as s:
        ts = s.scalar(select(Task.card_ts).where(Task.team == team, Task.number == 2))
    until(lambda: "Claimed by" in str((slack.message(channel, str(ts)) or {}).get("blocks")),
          what="the holder to update the card")  # fmt: skip

    # SIGKILL b while Slack holds a card of one of its teams and has not answered yet, with
    # mail arriving for every team: a takes b's teams over and nothing is lost or doubled.
    b_team = next(t for t, pid in teams.held_by().items() if pid == b.proc.pid)
    until(lambda: nothing_waiting(pg), what="the claim's thread note")  # the next post: a card
    slack.hang_seconds = 60
    slack.fail_next(1, "hang-after-post", method="chat.postMessage")
    before = sum(len(cards(slack, c)) for _, c in ALL)
    mid = teams.mail(b_team)
    until(lambda: sum(len(cards(slack, c)) for _, c in ALL) > before,
          what="Slack to hold the card")  # fmt: skip
    with pg.session() as s:
        state = s.scalar(
            select(Task.card_state)
            .join(Email, Email.task_id == Task.id)
            .where(Email.message_id == mid)
        )
    assert state == "posting"  # b still waits for Slack's answer
    feeding = teams.feed(40)
    b.stop(signal.SIGKILL)
    until(lambda: set(teams.held_by().values()) == {a.proc.pid} and len(teams.held_by()) == 4,
          what="the survivor to take over every team")  # fmt: skip
    feeding.join()
    until(lambda: all_carded(teams), what="every email carded once", timeout=90)

    # b comes back (a restart); then a stops cleanly: c takes every team over at once.
    c = teams.process("c")
    bots.append(c.start())
    assert c.proc is not None
    until(lambda: spread(a.proc.pid, c.proc.pid), what="the teams to spread again")
    feeding = teams.feed(20)
    assert a.stop(signal.SIGTERM) == 0
    assert a.proc.pid not in teams.held_by().values()  # released, not left to run out
    until(lambda: len(teams.held_by()) == 4 and set(teams.held_by().values()) == {c.proc.pid},
          timeout=10, what="the other process to take every team")  # fmt: skip
    feeding.join()
    until(lambda: all_carded(teams), what="every email carded once", timeout=60)
    time.sleep(3)  # a few more rounds of delivery: nothing may be posted twice
    assert teams.problems() == []
    assert len(teams.sent) == 101
    assert c.stop() == 0
    assert holders(pg) == {}


def test_status_says_which_process_holds_each_team_and_names_a_team_nobody_holds(
    db: Database,
) -> None:
    from bot.kernel.config import parse_config
    from bot.ops.status import build_status
    from tests.conftest import TEAM as TEAM_TABLE

    config = parse_config(
        {"teams": [TEAM_TABLE, {**TEAM_TABLE, "name": "adults-north", "channel": "C0NORTH"}]}
    )
    a = TeamLeases(
        db, SystemClock(), ["care-experienced"], timedelta(seconds=60), holder="host-a:1:aa"
    )
    a.refresh()
    status = build_status(config, db, datetime.now(UTC))
    assert status.problems() == [
        "adults-north: no dutybot run holds the team's lease, so its mail, cards and clocks "
        "wait. Look at the log of each dutybot run."
    ]
    lines = status.lines()
    assert lines[2] == (
        "Duty teams: run by host-a:1:aa (1 team); each team's lease is renewed while its "
        "process runs."
    )
    assert lines[lines.index("Team care-experienced:") + 1] == "  Held by host-a:1:aa."
    assert lines[lines.index("Team adults-north:") + 1] == "  Held by no process."

    b = TeamLeases(db, SystemClock(), ["adults-north"], timedelta(seconds=60), holder="host-b:2:bb")
    b.refresh()
    health = build_status(config, db, datetime.now(UTC)).to_json()
    assert health["status"] == "ok" and health["problems"] == []
    assert [t["held_by"] for t in health["teams"]] == ["host-a:1:aa", "host-b:2:bb"]

    a.release_all()
    b.release_all()
    after = build_status(config, db, datetime.now(UTC))
    assert any("Nobody is running the clocks" in p for p in after.problems())
