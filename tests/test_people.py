"""The people directory, seen from the chat: `/duty whois`, `/duty worker`, `/duty alert N`
with nobody named, the card's allocated worker line and the resolve form's alert line, on
the config's table and a people file (the shell's sources); and its cache and one wait,
which keep a slow or failing source from holding a command up. Exchange and Slack have
their own tests (test_people_exchange.py, test_people_slack.py)."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import DutyBot, StartupError
from bot.chat.calls import FormView, Place
from bot.kernel.clock import ManualClock
from bot.kernel.config import ConfigError, parse_config
from bot.people.adapters.config import Entry, TableBook
from bot.people.directory import Busy, Colleague, People, Today, today
from storage.db import Database
from storage.models import Event
from tests.conftest import TEAM
from tests.test_handover import dms, drain, london
from tests.test_shell import shell, write_config

LONDON = ZoneInfo("Europe/London")
MONDAY_10AM = london(2026, 11, 23, 10, 0)
TABLE = {
    "kim": {"email": "kim@council.example", "name": "Kim", "team_leader": "rita"},
    "rita": {"email": "rita@council.example", "name": "Rita"},
    "lee": {"email": "lee@council.example", "name": "Lee"},  # no team leader known
}


def people_file(path: Path, **kim: Any) -> Path:
    facts = {"automatic_reply": "false", "busy": '["09:30-11:00", "14:00-15:30"]', **kim}
    lines = "\n".join(f"{k} = {v}" for k, v in facts.items())
    path.write_text(
        '[people.kim]\nemail = "kim@council.example"\nteam_leader = "rita"\n'
        f'status = "Working from home"\n{lines}\n\n'
        '[people.rita]\nemail = "rita@council.example"\nbusy = ["12:00-13:00"]\n'
    )
    return path


def bot_with(db: Database, clock: ManualClock, **people: Any) -> DutyBot:
    team = {**TEAM, "names": {}, "people": {"table": TABLE, **people}}
    return DutyBot(parse_config({"teams": [team]}), clock=clock, db=db).start(with_mailboxes=False)


def said(bot: DutyBot, line: str, who: str = "sam") -> str:
    return bot.team().command(who, line).plain()


# ---- /duty whois ---------------------------------------------------------------------------


def test_whois_says_reply_free_busy_status_and_team_leader_in_one_line(
    db: Database, tmp_path: Path
) -> None:
    clock = ManualClock(MONDAY_10AM)
    until = "2026-11-27T17:00:00"
    path = people_file(tmp_path / "people.toml", automatic_reply="true",
                       automatic_reply_until=until)  # fmt: skip
    bot = bot_with(db, clock, source="file", availability="file", file=str(path))
    try:
        assert said(bot, "/duty whois @kim") == (
            "@kim: automatic reply on until Fri 27 Nov 17:00; busy now, free from 11:00; "
            'status "Working from home"; team leader @rita.'
        )
        assert said(bot, "/duty whois @rita") == (
            "@rita: automatic reply off; free now, busy from 12:00; no status set; "
            "team leader not known."
        )
        assert said(bot, "/duty whois @priya") == (
            "@priya: email address not known, so automatic reply and free/busy not known; "
            "status not known; team leader not known."
        )
        clock.set(london(2026, 11, 23, 15, 45))  # the cache keeps answers, not the time
        assert "free for the rest of the day" in said(bot, "/duty whois @kim")
    finally:
        bot.close()


def test_a_people_file_is_read_again_when_it_changes(db: Database, tmp_path: Path) -> None:
    path = people_file(tmp_path / "people.toml")
    bot = bot_with(db, ManualClock(MONDAY_10AM), source="file", availability="file",
                   file=str(path), cache_minutes=0.001)  # fmt: skip
    try:
        assert "automatic reply off" in said(bot, "/duty whois @kim")
        people_file(path, automatic_reply="true")
        os.utime(path, (time.time() + 5, time.time() + 5))
        time.sleep(0.1)  # past the (tiny) cache
        assert "automatic reply on;" in said(bot, "/duty whois @kim")
        path.write_text("[people.kim]\ncolour = 'blue'\n")  # broken: the last good one stays
        os.utime(path, (time.time() + 10, time.time() + 10))
        time.sleep(0.1)
        assert "automatic reply on;" in said(bot, "/duty whois @kim")
    finally:
        bot.close()


def test_a_broken_people_file_stops_the_start_with_one_line(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "people.toml"
    path.write_text('[people.kim]\nemail = "kim@council.example"\nbusy = ["11:00-10:00"]\n')
    with pytest.raises(StartupError) as err:
        bot_with(db, ManualClock(MONDAY_10AM), source="file", file=str(path))
    assert str(err.value) == f'{path}: people.kim.busy: "11:00-10:00" ends before it starts'
    with pytest.raises(StartupError, match="can't be read"):
        bot_with(db, ManualClock(MONDAY_10AM), source="file", file=str(tmp_path / "none.toml"))


def test_the_config_says_in_one_line_what_a_source_needs() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"teams": [{**TEAM, "people": {"source": "ews"}}]})
    assert err.value.problems == [
        'teams[0]: people.source = "ews" asks Exchange through the duty mailbox; '
        'expected [teams.mailbox] kind = "ews"'
    ]
    with pytest.raises(ConfigError) as err:
        parse_config({"teams": [{**TEAM, "people": {"availability": "file"}}]})
    assert err.value.problems == [
        'teams[0].people: the "file" source needs file = "path/to/people.toml"'
    ]
    slack = {"chat": "slack", "teams": [{**TEAM, "members": ["U0SAM0001"], "managers": ["U0JO0001"],
                                          "names": {}, "people": {"table": TABLE}}]}  # fmt: skip
    with pytest.raises(ConfigError) as err:
        parse_config(slack)
    assert any('people.table: "kim" is not a Slack user id' in p for p in err.value.problems)


# ---- the allocated worker, alerts and the resolve form --------------------------------------


def test_worker_alert_and_resolve_reach_the_worker_and_team_leader(db: Database) -> None:
    bot = bot_with(db, ManualClock(MONDAY_10AM))
    team = bot.team()
    try:
        said(bot, "/duty new phone Carer rang about Callum")
        assert said(bot, "/duty alert 1 please call") == (
            "Say who to alert, like: /duty alert 1 @alex rang about rent, or set the allocated "
            "worker first: /duty worker 1 @kim"
        )
        form = team.calls.press("sam", Place("shell"), "resolve", "1")
        assert isinstance(form, FormView)
        shown = {f.name: f for f in form.form.fields}
        assert shown["alerted"].kind == "note" and shown["alerted"].initial.startswith("Not yet")

        assert said(bot, "/duty worker 1 @kim") == (
            "@kim is the allocated worker for #1 (team leader @rita)."
        )
        assert "Allocated worker: @kim (team leader @rita)" in said(bot, "/duty show 1")
        assert said(bot, "/duty worker 1 @kim") == "@kim is already the allocated worker for #1."
        drain(db)
        assert said(bot, "/duty alert 1 please call the carer") == (
            "Alert sent about #1 to @kim, @rita."
        )
        sent = drain(db)
        assert dms(sent, "kim") == [
            "@sam alerted you to duty task #1: Carer rang about Callum\nNote: please call the carer"
        ]
        assert dms(sent, "rita") == [
            "@sam alerted you to duty task #1, as team leader of @kim: Carer rang about Callum"
            "\nNote: please call the carer"
        ]
        form = team.calls.press("sam", Place("shell"), "resolve", "1")
        assert isinstance(form, FormView)
        assert {f.name: f for f in form.form.fields}["alerted"].initial.startswith("Done")
        reply = team.calls.submit("sam", "resolve", team.cfg.name, "1",
                                  {"note": "Sorted", "checklist": ["case_note"]})  # fmt: skip
        assert not reply.refused
        with db.session() as s:
            ev = s.scalars(select(Event).where(Event.kind == "resolved")).one()
        assert ev.data["checklist"]["alerted"] is True
    finally:
        bot.close()


def test_an_alert_that_missed_the_team_leader_does_not_tick_the_checklist(db: Database) -> None:
    bot = bot_with(db, ManualClock(MONDAY_10AM))
    team = bot.team()
    try:
        said(bot, "/duty new phone Carer rang")
        said(bot, "/duty worker 1 @lee")  # Lee's team leader isn't known
        assert said(bot, "/duty alert 1") == (
            "Alert sent about #1 to @lee. @lee's team leader isn't known, so tell them another way."
        )
        said(bot, "/duty worker 1 @kim")
        said(bot, "/duty alert 1 @rita")  # Kim's team leader, but not Kim with her
        reply = team.calls.submit("sam", "resolve", team.cfg.name, "1",
                                  {"note": "done", "checklist": ["case_note"]})  # fmt: skip
        assert not reply.refused
        with db.session() as s:
            ev = s.scalars(select(Event).where(Event.kind == "resolved")).one()
        assert ev.data["checklist"] == {"case_note": True, "follow_up": False,
                                        "follow_up_date": None, "alerted": False}  # fmt: skip
    finally:
        bot.close()


def test_naming_a_worker_from_outside_the_team_brings_in_their_team_leader(
    db: Database,
) -> None:
    bot = bot_with(db, ManualClock(MONDAY_10AM))
    try:
        said(bot, "/duty new phone Carer rang")
        # Alex is on the duty team: a colleague, not a worker with a team leader to tell.
        assert said(bot, "/duty alert 1 @alex @kim see the card") == (
            "Alert sent about #1 to @alex, @kim, @rita."
        )
        with db.session() as s:
            (ev,) = s.scalars(select(Event).where(Event.kind == "alerted"))
        assert ev.data == {"people": ["alex", "kim", "rita"], "worker": "kim",
                           "team_leader": "rita"}  # fmt: skip
    finally:
        bot.close()


def test_a_worker_who_is_away_is_said_so_at_once_with_their_team_leader(
    db: Database, tmp_path: Path
) -> None:
    path = people_file(tmp_path / "people.toml", automatic_reply="true")
    bot = bot_with(db, ManualClock(MONDAY_10AM), availability="file", file=str(path))
    try:
        said(bot, "/duty new phone Carer rang")
        away = (
            "@kim's automatic reply is on, so they may be away. "
            "Their team leader @rita may pick it up."
        )
        assert said(bot, "/duty worker 1 @kim") == (
            f"@kim is the allocated worker for #1 (team leader @rita). {away}"
        )
        assert said(bot, "/duty alert 1") == f"Alert sent about #1 to @kim, @rita. {away}"
    finally:
        bot.close()


def test_the_shell_shows_kim_away_and_rita_her_team_leader(tmp_path: Path) -> None:
    out = shell(
        write_config(tmp_path),
        "/duty whois @kim\n/duty worker 3 @kim\n/duty alert 3 rang about Callum\n/duty show 3\n",
    )
    assert "@Kim: automatic reply on; " in out and 'status "On leave"; team leader @Rita.' in out
    assert (
        "@Kim is the allocated worker for #3 (team leader @Rita). "
        "@Kim's automatic reply is on, so they may be away." in out
    )
    lines = out.splitlines()
    card = "  ~ card #3 now: Open: nobody has claimed this yet · Allocated worker: @Kim (team "
    assert card + "leader @Rita)" in lines
    assert "Allocated worker: @Kim (team leader @Rita)" in lines  # /duty show
    assert "Alert sent about #3 to @Kim, @Rita." in out
    assert "  @ DM to @Rita: @Sam alerted you to duty task #3, as team leader of @Kim" in out


# ---- the cache and the one wait ------------------------------------------------------------


class SlowLeaders:
    """A directory that takes its time, counts the questions, and can fail."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.asked = 0
        self.failing = False
        self.lock = threading.Lock()

    def team_leader(self, email: str) -> Colleague | None:
        with self.lock:
            self.asked += 1
        time.sleep(self.seconds)
        if self.failing:
            raise ConnectionError("directory down")
        return Colleague("rita@council.example", "Rita")


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def directory(slow: SlowLeaders, **kw: Any) -> People:
    book = TableBook({"kim": Entry("kim@council.example"), "rita": Entry("rita@council.example")})
    return People(clock=ManualClock(MONDAY_10AM), tz=LONDON, profiles=[book], directory=slow,
                  **kw)  # fmt: skip


def test_a_slow_directory_answers_not_known_in_time_and_keeps_the_late_answer() -> None:
    slow = SlowLeaders(0.8)
    people = directory(slow, wait_seconds=0.2)
    try:
        started = time.monotonic()
        assert people.whois("kim").leader is None  # not known yet
        assert time.monotonic() - started < 0.5
        until = time.monotonic() + 5
        while (leader := people.whois("kim").leader) is None and time.monotonic() < until:
            time.sleep(0.1)
        assert leader == Colleague("rita@council.example", "Rita", "rita")
        assert slow.asked == 1  # asked once; the late answer was kept
    finally:
        people.close()


def test_answers_are_kept_for_the_cache_time_and_failures_asked_again_sooner() -> None:
    slow, ticks = SlowLeaders(0), Ticks()
    people = directory(slow, cache_seconds=300, monotonic=ticks)
    try:
        assert people.whois("kim").leader is not None
        ticks.now += 299
        people.whois("kim")
        assert slow.asked == 1
        ticks.now += 2
        slow.failing = True
        assert people.whois("kim").leader is None  # asked again, failed: not known
        assert slow.asked == 2
        ticks.now += 10
        people.whois("kim")
        assert slow.asked == 2  # a failure isn't asked again on every command...
        ticks.now += 25
        slow.failing = False
        assert people.whois("kim").leader is not None  # ...but after 30 seconds it is
        assert slow.asked == 3
    finally:
        people.close()


@pytest.mark.parametrize(
    ("spells", "at", "expected"),
    [
        ([], "10:00", Today(False, None)),
        ([("09:00", "10:30"), ("10:30", "11:00")], "10:00", Today(True, "11:00")),  # touching
        ([("09:00", "10:30"), ("10:00", "12:00")], "09:15", Today(True, "12:00")),  # overlapping
        ([("11:00", "12:00")], "10:00", Today(False, "11:00")),
        ([("08:00", "09:00")], "10:00", Today(False, None)),  # over
        ([("16:00", "02:00+1")], "17:00", Today(True, None)),  # busy past midnight
    ],
)
def test_busy_or_free_now_and_when_that_changes_today(
    spells: list[tuple[str, str]], at: str, expected: Today
) -> None:
    def when(hhmm: str) -> datetime:
        later = hhmm.endswith("+1")
        hours, minutes = map(int, hhmm.removesuffix("+1").split(":"))
        return london(2026, 11, 23, hours, minutes) + timedelta(days=1 if later else 0)

    found = today([Busy(when(a), when(b)) for a, b in spells], when(at), when("00:00+1"))
    changes = expected.changes_at
    assert found == Today(expected.busy, when(changes) if isinstance(changes, str) else None)
