"""Phone cover: `/duty out` hands the duty phone to the next on today's rota, `/duty back`
takes it back, reminders meant for someone out go to whoever has it, and an hour after the
time they gave, both hear once. On SQLite and PostgreSQL, with the real jobs and a clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import DutyBot
from bot.chat.calls import Place, Reply
from bot.kernel.clock import ManualClock
from bot.kernel.message import Message
from storage.db import Database
from storage.models import Cover, Outbox
from tests.test_handover import arrive, dms, drain, jobs_of, london, make_bot, posts
from tests.test_shell import shell, write_config

DAY = {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
WEEK = {d: DAY for d in ("mon", "tue", "wed", "thu", "fri")}
MEMBERS = ["sam", "alex", "priya", "kim"]  # kim is on the team, not on the rota


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(london(2026, 11, 23, 10, 0))  # Monday


def at(clock: ManualClock, hh: int, mm: int = 0, day: int = 23) -> None:
    clock.set(london(2026, 11, day, hh, mm))


def bot_of(db: Database, clock: ManualClock, **team: Any) -> DutyBot:
    return make_bot(db, clock, **{"rota": WEEK, "members": MEMBERS, **team})


def cover_line(bot: DutyBot, who: str = "sam") -> str:
    """The phone cover line of `/duty rota`."""
    shown = bot.team().command(who, "/duty rota").plain().splitlines()
    return next(line for line in shown if "Phone cover now" in line)


def test_going_out_hands_the_phone_on_down_the_rota_and_back_takes_it_back(
    db: Database, clock: ManualClock
) -> None:
    bot = bot_of(db, clock)
    team = bot.team()
    drain(db)
    assert cover_line(bot) == "  Phone cover now: @sam (PA 1)"

    assert team.command("sam", "/duty out until 14:00 home visit to Callum").plain() == (
        "You're out until 14:00. The duty phone is with @alex (PA 2). Say /duty back when "
        "you're back."
    )
    out = drain(db)
    assert posts(out) == [
        "@sam is out until 14:00: home visit to Callum. The duty phone is with @alex (PA 2)."
    ]
    assert (
        dms(out)
        == dms(out, "alex")
        == [
            "@sam is out until 14:00: home visit to Callum. You have the duty phone now (check it "
            "is diverted to you), and reminders meant for @sam come to you until they are back."
        ]
    )
    assert cover_line(bot) == "  Phone cover now: @alex (PA 1 @sam is out until 14:00)"

    # PA 2 goes out too: the back-up, skipping PA 1, who is still out.
    assert team.command("alex", "/duty out").plain() == (
        "You're out. The duty phone is with @priya (Back-up). Say /duty back when you're back."
    )
    assert dms(drain(db), "priya") != []
    assert cover_line(bot) == (
        "  Phone cover now: @priya (PA 1 @sam is out until 14:00; PA 2 @alex is out)"
    )
    assert team.command("priya", "/duty out").plain() == (
        "Nobody else on today's rota is in to take the duty phone, so it stays with you. Ask "
        "the duty manager."
    )

    # PA 1 back: the phone comes back to them, and the back-up is told.
    at(clock, 11, 30)
    assert team.command("sam", "/duty back").plain() == (
        "Welcome back. You have the duty phone again."
    )
    out = drain(db)
    assert posts(out) == ["@sam is back and has the duty phone again."]
    assert (
        dms(out)
        == dms(out, "priya")
        == ["@sam is back, so the duty phone goes back to @sam. Thank you for covering."]
    )
    assert cover_line(bot) == "  Phone cover now: @sam (PA 2 @alex is out)"
    assert team.command("alex", "/duty back").plain() == (
        "Welcome back. The duty phone stays with @sam (PA 1)."
    )
    out = drain(db)
    assert posts(out) == ["@alex is back. The duty phone stays with @sam."] and dms(out) == []
    assert cover_line(bot) == "  Phone cover now: @sam (PA 1)"
    with db.session() as s:
        spells = s.scalars(select(Cover).order_by(Cover.id)).all()
        assert [(c.person, c.holder, c.note) for c in spells] == [
            ("sam", "alex", "home visit to Callum"),
            ("alex", "priya", ""),
        ]
        assert all(c.ended_at is not None for c in spells)


def test_who_may_go_out_and_the_sentence_for_everyone_else(
    db: Database, clock: ManualClock
) -> None:
    team = bot_of(db, clock).team()

    def run(who: str, line: str) -> str:
        return team.command(who, line).plain()

    assert (
        run("mallory", "/duty out") == "Only members of the duty team can hand the duty phone on."
    )
    assert run("alex", "/duty out") == "The duty phone is with @sam (PA 1), not you."
    assert run("kim", "/duty out") == (
        "You're not on today's rota, so the duty phone isn't yours to hand on. @sam (PA 1) has it."
    )
    assert run("jo", "/duty out") == "The duty phone is with @sam (PA 1), not you."
    assert run("alex", "/duty out @sam") == (
        "Only a duty manager can send someone else out. To go out: /duty out"
    )
    assert run("sam", "/duty back") == "You're not out, so there is nothing to take back."
    assert run("sam", "/duty out until 09:30") == (
        "'09:30' isn't later today. Say a time later today, or leave it out and say /duty back "
        "when you're back."
    )
    assert run("sam", "/duty out until tomorrow 10:00") == (
        "'tomorrow 10:00' isn't later today. Say a time later today, or leave it out and say "
        "/duty back when you're back."
    )
    assert run("sam", "/duty out until teatime") == (
        "I couldn't read 'teatime' as a time. Try 'tomorrow 10:00', 'in 3 days', 'fri 14:00' or "
        "'2026-12-01 09:30'. Use: /duty out until 14:00 home visit"
    )
    assert run("sam", "/duty out until in 2 hours").startswith("You're out until 12:00.")
    assert (
        run("sam", "/duty out") == "You're already out (since 10:00). Say /duty back when you are."
    )
    assert run("alex", "/duty back @sam") == "Only a duty manager can say someone else is back."
    at(clock, 10, 0, day=28)  # a Saturday
    assert run("sam", "/duty out") == (
        "Today isn't a working day, so there is no duty phone to hand on."
    )
    with db.session() as s:
        assert len(s.scalars(select(Cover)).all()) == 1


def test_a_duty_manager_can_say_it_for_someone(db: Database, clock: ManualClock) -> None:
    team = bot_of(db, clock).team()
    drain(db)
    assert team.command("jo", "/duty out @alex").plain() == (
        "@alex doesn't have the duty phone: @sam (PA 1)."
    )
    assert team.command("jo", "/duty out @sam until 12:00 stuck at a visit").plain() == (
        "@sam is out until 12:00. The duty phone is with @alex (PA 2)."
    )
    out = drain(db)
    assert dms(out, "sam") == [
        "@jo has put you down as out until 12:00. The duty phone is with @alex (PA 2). Say "
        "/duty back when you're back."
    ]
    assert len(dms(out, "alex")) == 1
    assert team.command("jo", "/duty back @sam").plain() == (
        "@sam is back and has the duty phone again."
    )
    out = drain(db)
    assert dms(out, "sam") == ["@jo has said you're back. You have the duty phone again."]
    assert dms(out, "alex") == [
        "@sam is back, so the duty phone goes back to @sam. Thank you for covering."
    ]
    assert team.command("jo", "/duty back @sam").plain() == "@sam isn't out."


def test_two_at_once_one_wins(db: Database, clock: ManualClock) -> None:
    """A double press, or PA 1 and the duty manager both saying it: one spell, one post."""
    bot = bot_of(db, clock)
    team = bot.team()
    for _ in range(8):
        start = threading.Barrier(2)
        said: dict[str, str] = {}

        def go(
            who: str, line: str, start: threading.Barrier = start, said: dict[str, str] = said
        ) -> None:
            start.wait()
            said[who] = team.command(who, line).plain()

        runs = [threading.Thread(target=go, args=a) for a in
                (("sam", "/duty out"), ("jo", "/duty out @sam"))]  # fmt: skip
        for t in runs:
            t.start()
        for t in runs:
            t.join()
        won = [w for w, r in said.items() if "The duty phone is with @alex" in r]
        assert len(won) == 1, said
        lost = said["jo" if won == ["sam"] else "sam"]
        assert "already out" in lost, said
        assert len(posts(drain(db))) == 1
        with db.session() as s:
            assert len(s.scalars(select(Cover).where(Cover.ended_at.is_(None))).all()) == 1
        assert team.command("sam", "/duty back").plain().startswith("Welcome back")
        drain(db)


def test_reminders_meant_for_someone_out_go_to_whoever_has_the_phone(
    db: Database, clock: ManualClock
) -> None:
    bot = bot_of(db, clock)
    team = bot.team()
    n = arrive(jobs_of(bot), "Rent arrears")
    team.command("sam", f"/duty claim {n}")
    team.command("sam", f"/duty followup {n} today 11:00 ring the landlord")
    team.command("sam", "/duty out until 15:00")
    drain(db)
    at(clock, 11, 0)
    jobs_of(bot).run_due()
    out = drain(db)
    assert dms(out, "sam") == []
    assert dms(out, "alex") == [
        f"Follow-up due 11:00 on #{n} (Rent arrears), agreed by @sam, who is out until 15:00: "
        "ring the landlord"
    ]
    # A claim gone quiet: whoever has the phone may release it (and the claimer is told).
    at(clock, 14, 0)
    jobs_of(bot).run_due()
    out = drain(db)
    assert dms(out, "sam") == []
    assert dms(out, "alex") == [
        f"@sam, who is out until 15:00, claimed #{n} (Rent arrears) and nothing has been "
        "recorded on it since 10:00. If it can't wait, release it and take it on.\n[Release]"
    ]
    pressed = bot.calls.press("alex", Place("dm", "Dalex"), "unclaim", f"care-experienced:{n}")
    assert isinstance(pressed, Reply) and not pressed.refused
    assert pressed.message.plain() == f"#{n} was @sam's; it is open again, and @sam has been told."
    # Back: their own reminders come to them again.
    team.command("sam", "/duty back")
    team.command("sam", f"/duty followup {n} today 14:30 ring again")
    drain(db)
    at(clock, 14, 30)
    jobs_of(bot).run_due()
    out = drain(db)
    assert dms(out, "sam") == [f"Follow-up due 14:30 on #{n} (Rent arrears): ring again"]
    assert dms(out, "alex") == []


def test_the_duty_managers_nudge_goes_to_the_phone_while_they_are_out(
    db: Database, clock: ManualClock
) -> None:
    # A small team's config may make the duty manager PA 1 as well.
    both = {"manager": "jo", "pa1": "jo", "pa2": "alex"}
    bot = bot_of(db, clock, rota={d: both for d in WEEK})
    at(clock, 9, 0)
    n = arrive(jobs_of(bot), "Rent arrears")
    bot.team().command("jo", "/duty out until 12:00")
    drain(db)
    at(clock, 9, 30)
    jobs_of(bot).run_due()
    out = drain(db)
    assert dms(out, "jo") == []
    assert dms(out, "alex") == [
        f"For @jo, who is out until 12:00:\nUnclaimed for over 30 minutes:\n"
        f"  #{n} Rent arrears (since 09:00)"
    ]


def test_the_time_they_gave_passing_keeps_them_out_and_both_hear_an_hour_on(
    db: Database, clock: ManualClock
) -> None:
    bot = bot_of(db, clock)
    bot.team().command("sam", "/duty out until 11:00 visiting Callum")
    drain(db)
    at(clock, 11, 59)
    jobs_of(bot).run_due()
    assert drain(db) == []
    assert cover_line(bot) == "  Phone cover now: @alex (PA 1 @sam is out until 11:00)"
    at(clock, 12, 0)
    jobs_of(bot).run_due()
    jobs_of(bot_of(db, clock)).run_due()  # again, as after a restart: told once
    out = drain(db)
    assert dms(out, "alex") == [
        "@sam said they'd be back by 11:00 and hasn't said they're back yet. You still have "
        "the duty phone. If you can't reach them, tell the duty manager."
    ]
    assert dms(out, "sam") == [
        "You said you'd be back by 11:00. When you are, say /duty back so the duty phone comes "
        "back to you. [I'm back]"
    ]
    with db.session() as s:
        body = s.scalars(select(Outbox).where(Outbox.target == "sam")).one().body
    (action,) = Message.from_json(body).actions()
    at(clock, 15, 0)
    jobs_of(bot).run_due()
    assert drain(db) == []
    assert cover_line(bot) == "  Phone cover now: @alex (PA 1 @sam is out until 11:00)"
    pressed = bot.calls.press(
        "sam", Place("dm", "Dsam"), action.verb, f"care-experienced:{action.args}"
    )
    assert isinstance(pressed, Reply)
    assert pressed.message.plain() == "Welcome back. You have the duty phone again."
    assert cover_line(bot) == "  Phone cover now: @sam (PA 1)"


def test_a_spell_ends_with_the_day(db: Database, clock: ManualClock) -> None:
    tue = {**DAY, "pa1": "alex", "pa2": "sam"}
    bot = bot_of(db, clock, rota={**WEEK, "tue": tue})
    bot.team().command("sam", "/duty out")
    at(clock, 9, 0, day=24)
    assert cover_line(bot) == "  Phone cover now: @alex (PA 1)"
    assert bot.team().command("sam", "/duty back").plain() == (
        "You're not out, so there is nothing to take back."
    )


def test_app_home_shows_who_has_the_phone(db: Database, clock: ManualClock) -> None:
    bot = bot_of(db, clock)
    bot.team().command("sam", "/duty out until 14:00")
    (rota,) = [s for s in bot.team().home("priya") if s.title.startswith("Today's rota")]
    assert [r.line.plain() for r in rota.rows][-1] == (
        "Phone cover now: @alex (PA 1 @sam is out until 14:00)"
    )


def test_going_out_and_back_in_the_shell(tmp_path: Any) -> None:
    cfg = write_config(tmp_path)
    out = shell(
        cfg,
        "/duty clock 2026-12-07 10:00\n/duty out until 14:00 home visit\n/duty rota\n"
        "/as alex\n/duty rota\n/as sam\n/duty back\n",
    ).splitlines()
    assert "You're out until 14:00. The duty phone is with @Alex (PA 2). Say /duty back when " \
        "you're back." in out  # fmt: skip
    assert "@Sam is out until 14:00: home visit. The duty phone is with @Alex (PA 2)." in out
    assert (
        "  @ DM to @Alex: @Sam is out until 14:00: home visit. You have the duty phone now "
        "(check it is diverted to you), and reminders meant for @Sam come to you until they "
        "are back."
    ) in out
    assert out.count("  Phone cover now: @Alex (PA 1 @Sam is out until 14:00)") == 2
    assert "Welcome back. You have the duty phone again." in out
    assert "  @ DM to @Alex: @Sam is back, so the duty phone goes back to @Sam. Thank you for " \
        "covering." in out  # fmt: skip
