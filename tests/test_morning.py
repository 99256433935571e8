"""The start of the working day: claims held by people who aren't on today's rota go to
today's duty manager in one message, a button per task giving it to today's PA 1. With the
real jobs and a clock, in the shell's calls, and in Slack through the harness."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import DutyBot
from bot.chat.calls import Place, Reply
from bot.kernel.clock import ManualClock
from bot.kernel.message import Action, Message
from storage import tasks as q
from storage.db import Database
from storage.models import JobRun, Outbox
from tests.slack_harness import ALEX, JO, PRIYA, SAM, SlackHarness, buttons, card_text
from tests.test_handover import arrive, dms, drain, jobs_of, london, make_bot
from tests.test_shell import shell, write_config

MON = {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
TUE = {"manager": "jo", "pa1": "alex", "pa2": "priya", "backup": "kim"}  # Sam is off
ROTA = {"mon": MON, "tue": TUE, "wed": MON, "thu": MON, "fri": MON}
TEAM: dict[str, Any] = {
    "members": ["sam", "alex", "priya", "kim"],
    "names": {"jo": "Jo", "alex": "Alex"},
    "rota": ROTA,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 10, 0))  # Monday


def bot_of(db: Database, clock: ManualClock, **team: Any) -> DutyBot:
    return make_bot(db, clock, **{**TEAM, **team})


def morning_dms(out: list[tuple[str, str, str]], to: str = "jo") -> list[str]:
    return [m for m in dms(out, to) if m.startswith("Good morning.")]


def the_buttons(db: Database, to: str = "jo") -> list[Action]:
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.target == to).order_by(Outbox.id)).all()
    return [a for r in rows for a in Message.from_json(r.body).actions()]


def test_claims_of_people_off_todays_rota_go_to_the_duty_manager_once(
    db: Database, clock: ManualClock
) -> None:
    bot = bot_of(db, clock)
    team = bot.team()
    jobs = jobs_of(bot)
    n1, n2, n3, n4 = (arrive(jobs, s) for s in ("Rent arrears", "Bus pass", "Passport", "Keys"))
    team.command("sam", f"/duty claim {n1}")
    team.command("alex", f"/duty claim {n2}")  # Alex is on Tuesday's rota: not listed
    team.command("sam", f"/duty claim {n4}")
    team.command("sam", f"/duty resolve {n4} done")  # resolved: not listed
    assert n3  # open: not listed
    drain(db)

    clock.set(london(2026, 11, 24, 8, 59))
    assert jobs.run_due().morning is None
    clock.set(london(2026, 11, 24, 9, 0))
    assert jobs.run_due().morning == "sent"
    assert jobs.run_due().morning is None
    assert jobs_of(bot_of(db, clock)).run_due().morning is None  # after a restart too
    out = drain(db)
    assert morning_dms(out) == [
        "Good morning. These tasks are still claimed by people who aren't on today's rota:\n"
        f"  #{n1} Rent arrears (@sam, since Mon 23 Nov 10:00)\n"
        "Give each to today's PA 1, @alex, with its button, or to someone else with "
        "/duty assign N @name.\n"
        f"[Give #{n1} to @Alex]"
    ]
    # One message, to the duty manager alone (the other DMs are the day's stale-claim nudges).
    assert [(kind, who) for kind, who, m in out if m.startswith("Good morning")] == [("dm", "jo")]

    # The button runs `/duty assign N @alex`, read by assign's own reader.
    (give,) = the_buttons(db)
    assert (give.verb, give.args) == ("assign", f"{n1} @alex")
    value = f"care-experienced:{give.args}"  # as a chat's button carries it
    pressed = bot.calls.press("jo", Place("dm", "Djo"), give.verb, value)
    assert isinstance(pressed, Reply) and not pressed.refused
    assert pressed.message.plain() == f"#{n1} is now with @alex."
    with db.session() as s:
        held = q.task_by_number(s, "care-experienced", n1)
        assert held is not None and held.claimed_by == "alex"
    # A member pressing it is refused as /duty assign refuses them.
    pressed = bot.calls.press("sam", Place("dm", "Dsam"), give.verb, value)
    assert isinstance(pressed, Reply) and pressed.refused

    # Wednesday: everyone holding a claim is on the rota, so nobody is told anything.
    clock.set(london(2026, 11, 25, 9, 0))
    assert jobs.run_due().morning == "nothing"
    assert morning_dms(drain(db)) == []
    with db.session() as s:
        runs = s.scalars(select(JobRun.run_key).where(JobRun.job == "morning")).all()
    assert sorted(runs) == ["2026-11-24", "2026-11-25"]


def test_two_processes_at_nine_send_one_message(db: Database, clock: ManualClock) -> None:
    bot = bot_of(db, clock)
    n = arrive(jobs_of(bot))
    bot.team().command("sam", f"/duty claim {n}")
    drain(db)
    clock.set(london(2026, 11, 24, 9, 0))
    one, two = jobs_of(bot), jobs_of(bot_of(db, clock))
    start = threading.Barrier(2)
    said: list[str | None] = []

    def run(jobs: Any) -> None:
        start.wait()
        said.append(jobs.run_due().morning)

    runs = [threading.Thread(target=run, args=(j,)) for j in (one, two)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert sorted(said, key=str) == [None, "sent"]
    assert len(morning_dms(drain(db))) == 1


def test_many_claims_no_pa1_and_when_it_is_not_sent(db: Database, clock: ManualClock) -> None:
    bot = bot_of(db, clock)
    jobs = jobs_of(bot)
    numbers = [arrive(jobs, f"Task {i}") for i in range(7)]
    for n in numbers:
        bot.team().command("sam", f"/duty claim {n}")
    drain(db)
    # The bot was down at 09:00: it sends when it starts, within office hours.
    clock.set(london(2026, 11, 24, 11, 15))
    assert jobs.run_due().morning == "sent"
    (body,) = morning_dms(drain(db))
    assert body.count("(@sam, since Mon 23 Nov 10:00)") == 7
    assert "(Buttons for the first 5: give the others with /duty assign N @name.)" in body
    assert [a.args for a in the_buttons(db)] == [f"{n} @alex" for n in numbers[:5]]
    # No PA 1 today: no buttons, and the sentence says so. Started after office hours: no
    # message that day; and none at the weekend.
    other = bot_of(db, clock, rota={**ROTA, "wed": {"manager": "jo", "pa2": "alex"}})
    clock.set(london(2026, 11, 25, 9, 0))
    assert jobs_of(other).run_due().morning == "sent"
    (body,) = morning_dms(drain(db))
    assert body.endswith("Nobody is PA 1 today: give each with /duty assign N @name.")
    assert "[" not in body
    clock.set(london(2026, 11, 26, 17, 0))
    assert jobs.run_due().morning is None
    clock.set(london(2026, 11, 28, 9, 0))
    assert jobs.run_due().morning is None
    assert morning_dms(drain(db)) == []


def test_the_morning_buttons_in_slack_give_the_task_to_pa1(db: Database) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # Monday, GMT
    rota = {"mon": {"manager": JO, "pa1": SAM, "pa2": ALEX}, "tue": {"manager": JO, "pa1": ALEX,
            "pa2": PRIYA}}  # fmt: skip
    with SlackHarness(db, clock=clock, team={"rota": rota}) as h:
        n = h.email(subject="Rent arrears")
        h.drain()
        h.click("duty_claim", n, user=SAM)
        h.drain()
        clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
        assert h.bot.run_due(h.team.name).morning == "sent"
        h.drain()
        (dm,) = h.dms(JO)
        assert "still claimed by people who aren't on today's rota" in card_text(dm)
        assert f"#{n} Rent arrears (@Sam, since Mon 23 Nov 10:00)" in card_text(dm)
        give = buttons(dm)[f"Give #{n} to @Alex"]
        assert (give["action_id"], give["value"]) == ("duty_assign", f"{h.team.name}:{n} @{ALEX}")
        assert h.click("duty_assign", n, user=JO, channel=h.fake.dm_channel(JO),
                       value=give["value"]).status_code == 200  # fmt: skip
        found = h.fake.wait_for(lambda: h.ephemerals(JO))
        assert found[-1]["text"] == f"#{n} is now with @Alex."
        h.drain()
        with h.db.session() as s:
            held = q.task_by_number(s, h.team.name, n)
            assert held is not None and held.claimed_by == ALEX
        assert "Claimed by @Alex" in card_text(h.card(n))
        assert "Assigned to @Alex by @Jo." in [r["text"] for r in h.thread(n)]


def test_the_morning_message_in_the_shell(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    # Sam is off on Tuesdays here, so Monday's claim is still Sam's on Tuesday morning.
    tue = 'tue = { manager = "jo", pa1 = "alex", pa2 = "priya", backup = "sam" }'
    text = cfg.read_text()
    assert tue in text
    cfg.write_text(text.replace(tue, 'tue = { manager = "jo", pa1 = "alex", pa2 = "priya" }'))
    out = shell(
        cfg,
        "/duty clock 2026-12-07 10:00\n/duty claim 1\n/duty clock 2026-12-08 08:30\n"
        "/duty clock +30m\n/duty clock +1h\n",
    )
    assert out.count("Good morning.") == 1
    at = out.index("The clock is now Tue 08 Dec 09:00.")
    assert out.index("  @ DM to @Jo: Good morning. These tasks are still claimed") > at
    assert "  #1 Help with rent arrears (@Sam, since Mon 07 Dec 10:00)" in out
    assert "[Give #1 to @Alex]" in out
