"""The shell's clock: `/duty clock` moves it, and the nudges and the handover then happen,
as a user sees them in a terminal (a subprocess with commands piped in). `run` never moves it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import DutyBot
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import SystemClock
from bot.kernel.config import parse_config
from storage.db import Database
from tests.conftest import TEAM
from tests.test_shell import shell, write_config

LONDON = ZoneInfo("Europe/London")
OPEN_TASKS = 8  # the sample inbox makes eight tasks


def segments(out: str) -> dict[str, list[str]]:
    """The output after each clock move, keyed by the time the clock was moved to."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in out.splitlines():
        if line.startswith("The clock is now "):
            current = found.setdefault(line.removeprefix("The clock is now ").rstrip("."), [])
        else:
            current.append(line)
    return found


def reminded(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith("  > thread #") and "Still unclaimed" in ln]


def test_moving_the_shell_clock_makes_nudges_and_the_handover_happen(tmp_path: Path) -> None:
    cal = WorkingCalendar("ENG")
    # Two working days ahead of the real date, so the jump is always forwards.
    day = cal.add_working_days(datetime.now(LONDON).date(), 2)
    nxt = cal.next_working_day(day)
    d = f"{day:%a %d %b}"
    cfg = write_config(tmp_path)
    out = shell(
        cfg,
        f"/duty clock {day.isoformat()} 09:00\n/duty clock +2h\n/duty claim 1\n"
        "/duty clock +6h\n/duty clock +1h\n",
    )
    seen = segments(out)
    assert list(seen) == [f"{d} 09:00", f"{d} 11:00", f"{d} 17:00", f"{d} 18:00"]

    # 11:00: every open task has waited, so each gets one reminder, and the duty manager a DM.
    at_11 = seen[f"{d} 11:00"]
    assert len(reminded(at_11)) == OPEN_TASKS
    assert len({ln.split(":")[0] for ln in reminded(at_11)}) == OPEN_TASKS
    assert at_11.count("  @ DM to @Jo: Unclaimed for over 30 minutes:") == 1
    assert "You've claimed #1." in at_11

    # 17:00: the clock passed 16:30, so that day's handover came out, on time, once.
    at_17 = seen[f"{d} 17:00"]
    heading = f"Duty handover for {d}, to {nxt:%a %d %b} (duty manager @Jo)"
    assert at_17.count(heading) == 2  # in the channel, and in the DM below
    assert f"  @ DM to @Jo: You're duty manager on {nxt:%a %d %b}." in at_17
    assert not any(ln.startswith("(Late") for ln in at_17)
    start = at_17.index(heading)
    assert at_17[start + 1 : start + 3] == ["Came in today: 0", "Resolved today: 0"]
    assert "Claimed, not yet resolved (1):" in at_17
    assert "    #1 Help with rent arrears" in at_17
    # At 16:30 sam's claim from 11:00 had 4 quiet office hours: sam is asked about it.
    assert any(ln.startswith("  @ DM to @Sam: You claimed #1 (Help with rent") for ln in at_17)
    assert len(reminded(at_17)) == OPEN_TASKS - 1  # the hourly reminders, not for #1

    # 18:00: out of office hours, and the handover is done: nothing.
    assert seen[f"{d} 18:00"] == []

    sent = list((tmp_path / "inbox" / "Outbox").glob("*.eml"))
    subjects = [ln for f in sent for ln in f.read_text().splitlines() if ln.startswith("Subject:")]
    assert f"Subject: Duty handover for {day:%a %d %b %Y}" in subjects

    # A restart, then the clock set straight to the next day's 16:30: that handover, once;
    # the earlier day's is not posted again.
    again = shell(cfg, f"/duty clock {nxt.isoformat()} 16:30\n", who="jo")
    then = segments(again)[f"{nxt:%a %d %b} 16:30"]
    after = cal.next_working_day(nxt)
    head = f"Duty handover for {nxt:%a %d %b}, to {after:%a %d %b} (duty manager @Jo)"
    assert then.count(head) == 2
    assert heading not in again


def test_no_handover_when_the_clock_moves_onto_a_bank_holiday(tmp_path: Path) -> None:
    cal = WorkingCalendar("ENG")
    today = datetime.now(LONDON).date()
    holiday = next(
        d
        for d in (today + timedelta(days=i) for i in range(2, 400))
        if d.weekday() < 5 and not cal.is_working_day(d) and cal.previous_working_day(d) > today
    )
    before = cal.previous_working_day(holiday)
    cfg = write_config(tmp_path)
    out = shell(cfg, f"/duty clock {before.isoformat()} 17:00\n/duty clock {holiday} 17:00\n")
    seen = segments(out)
    on_before, on_holiday = f"{before:%a %d %b} 17:00", f"{holiday:%a %d %b} 17:00"
    assert list(seen) == [on_before, on_holiday]
    handovers = [ln for ln in seen[on_before] if ln.startswith("Duty handover for")]
    assert handovers[0].startswith(
        f"Duty handover for {before:%a %d %b}, to {cal.next_working_day(holiday):%a %d %b}"
    )
    assert not any(ln.startswith("Duty handover") for ln in seen[on_holiday])


def test_the_clock_never_moves_in_run(tmp_path: Path) -> None:
    """`dutybot run` builds the bot on the real clock; `/duty clock` is refused there."""
    db = Database(f"sqlite:///{tmp_path / 'duty.db'}")
    team = {**TEAM, "members": ["USAM00001"], "managers": ["UJO000001"], "names": {}}
    bot = DutyBot(parse_config({"chat": "slack", "teams": [team]}), db=db).start(
        with_mailboxes=False
    )
    try:
        reply = bot.team().command("UJO000001", "/duty clock 2030-01-01 16:30").plain()
        assert reply == "The clock can only be moved in shell mode (dutybot shell)."
        assert isinstance(bot.clock, SystemClock)
        assert bot.clock.now().date() != date(2030, 1, 1)
    finally:
        bot.close()
