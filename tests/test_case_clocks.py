"""The case clocks over seven weeks, for each policy preset: every due date, every reminder at
the right time and once, every escalation exactly once, and the weekly report.

Each simulation runs from Monday 23 March to Sunday 10 May 2026 on the real wiring
(DutyBot, TeamJobs.run_due), ticking at 09:00, 14:00 and 18:00 every day and running each
tick twice. The window holds Good Friday (3 Apr), Easter Monday (6 Apr) and the early May
bank holiday (4 May), and the clocks going forward (29 Mar).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.message import Message
from storage.db import Database
from storage.models import Case, Event, JobRun, Outbox
from tests.test_handover import make_bot

LONDON = ZoneInfo("Europe/London")
START = date(2026, 3, 23)  # a Monday
DUTY_DAY = {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
WEEK = {d: DUTY_DAY for d in ("mon", "tue", "wed", "thu", "fri")}  # no "rota missing" nudges
PEOPLE = {"service_manager": "sm", "group_manager": "gm", "head_of_service": "hos"}
TICKS = (9, 14, 18)

Log = list[tuple[str, str, str]]  # (local time, to: a user id, "channel" or "reply", text)


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hh, mm, tzinfo=LONDON).astimezone(UTC)


def d(month: int, day: int) -> date:
    return date(2026, month, day)


def case_bot(db: Database, clock: ManualClock, **cases: object) -> DutyBot:
    return make_bot(db, clock, rota=WEEK, managers=["jo", "kim"], cases={"people": PEOPLE, **cases})


def drain(db: Database) -> list[tuple[str, str]]:
    """Waiting chat messages as (to, text); a channel post is ("channel", its first line)."""
    with db.session() as s:
        rows = list(s.scalars(select(Outbox).where(Outbox.sent_at.is_(None)).order_by(Outbox.id)))
        out = []
        for r in rows:
            body = Message.from_json(r.body).plain()
            out.append(
                ("channel", body.splitlines()[0]) if r.kind == "channel" else (r.target, body)
            )
            r.sent_at = datetime.now(UTC)
    return out


@dataclass
class Sim:
    db: Database
    policy: str
    script: dict[tuple[date, int], list[tuple[str, str]]]  # (day, hour) -> [(who, command)]
    log: Log = field(default_factory=list)

    def run(self, days: int = 49) -> Log:
        clock = ManualClock(at(START, 8))
        bot = case_bot(self.db, clock, policy=self.policy)
        jobs = bot.team().jobs
        assert jobs is not None
        for n in range(days):
            day = START + timedelta(days=n)
            steps: list[tuple[int, str, str]] = [(hh, "", "tick") for hh in TICKS]
            for (when, hh), commands in self.script.items():
                steps += [(hh, who, line) for who, line in commands if when == day]
            for hh, who, line in sorted(steps, key=lambda s: s[0]):
                clock.set(at(day, hh))
                stamp = f"{day:%a %d %b} {hh:02d}:00"
                if line == "tick":
                    jobs.run_due()
                    jobs.run_due()  # a second pass (or a second process) adds nothing
                else:
                    reply = bot.team().command(who, line).plain()
                    self.log.append((stamp, "reply", reply))
                self.log += [(stamp, to, body) for to, body in drain(self.db)]
        return self.log


def sent(log: Log) -> Log:
    """What the bot sent by itself (DMs and channel posts), not the replies to commands."""
    return [row for row in log if row[1] != "reply"]


def replies(log: Log) -> list[str]:
    return [body for _, to, body in log if to == "reply"]


def report(day: str, open_: int, counts: str, longest: str) -> tuple[str, str, str]:
    return (
        f"{day} 09:00",
        "channel",
        f"Unallocated cases, {day} 2026: {open_} open ({counts}). Longest wait: {longest}.",
    )


# ---- practice-guide (seeds/003): review every 10 days, letter in 5 working days,
# ---- the service manager at once, the head of service on day 10 ----------------------------

PRACTICE_GUIDE = {
    (d(3, 23), 10): [("jo", "/duty case add P1 red"), ("jo", "/duty case add P2 amber")],
    (d(3, 31), 10): [("jo", "/duty case allocate P2 @alex")],
    (d(4, 1), 10): [("sam", "/duty case letter P1")],
    (d(4, 8), 10): [("jo", "/duty case review P1 plan agreed with school")],
    (d(4, 17), 10): [("kim", "/duty case review P1 school monitoring")],
}


def review_overdue(when: str, ref: str, due: str, days: int) -> tuple[str, str, str]:
    late = "1 working day" if days == 1 else f"{days} working days"
    return (
        f"{when} 09:00",
        "jo",
        f"{ref}: review was due {due} and is {late} overdue. "
        f"/duty case review {ref.split()[0]} note",
    )


def test_practice_guide_over_seven_weeks(db: Database) -> None:
    log = Sim(db, "practice-guide", PRACTICE_GUIDE).run()
    assert replies(log) == [
        # Review 10 days on (Thu 2 Apr); letter 5 working days on, not counting the Monday.
        "P1 is on the register: RED, unallocated since Mon 23 Mar, team manager @jo. "
        "First review due Thu 02 Apr; letter due Mon 30 Mar.",
        "P2 is on the register: AMBER, unallocated since Mon 23 Mar, team manager @jo. "
        "First review due Thu 02 Apr; letter due Mon 30 Mar.",
        "P2 is allocated to @alex and off the unallocated register. Its reminders have stopped.",
        "Letter for P1 sent Wed 01 Apr recorded.",
        # Reviewed Wed 8 Apr: 10 days on is Saturday 18th, so Friday 17th.
        "Review of P1 recorded. Next review due Fri 17 Apr.",
        "Review of P1 recorded. Next review due Mon 27 Apr.",
    ]
    p1, p2 = "P1 (RED)", "P2 (AMBER)"
    letter = "Letter to the family and agencies"
    assert sent(log) == [
        # The service manager hears as soon as each case is unallocated: at the next pass.
        ("Mon 23 Mar 14:00", "sm", f"Escalation to you as service manager: {p1} became "
         "unallocated today, Mon 23 Mar. Last review: none. Overdue: nothing. Team manager: @jo."),
        ("Mon 23 Mar 14:00", "sm", f"Escalation to you as service manager: {p2} became "
         "unallocated today, Mon 23 Mar. Last review: none. Overdue: nothing. Team manager: @jo."),
        report("Mon 30 Mar", 2, "red 1, amber 1, yellow 0", "P2, 7 days"),
        ("Mon 30 Mar 09:00", "jo", f"Unallocated cases:\n{p1}: {letter} due today. "
         f"/duty case letter P1\n{p2}: {letter} due today. /duty case letter P2"),
        ("Tue 31 Mar 09:00", "jo", f"Unallocated cases:\n{p1}: {letter} was due Mon 30 Mar and "
         f"isn't recorded. /duty case letter P1\n{p2}: {letter} was due Mon 30 Mar and isn't "
         "recorded. /duty case letter P2"),
        # P2 was allocated on Tuesday: nothing more about it, not even its head of service day.
        ("Wed 01 Apr 09:00", "jo", f"{p1}: review due Thu 02 Apr. /duty case review P1 note"),
        ("Thu 02 Apr 09:00", "hos", f"Escalation to you as head of service: {p1} has been "
         "unallocated for 10 days, since Mon 23 Mar. Last review: none. Overdue: nothing. "
         "Team manager: @jo."),
        # Good Friday and Easter Monday: the overdue review waits for Tuesday, and so does
        # the report.
        report("Tue 07 Apr", 1, "red 1, amber 0, yellow 0", "P1, 15 days"),
        review_overdue("Tue 07 Apr", p1, "Thu 02 Apr", 1),
        review_overdue("Wed 08 Apr", p1, "Thu 02 Apr", 2),
        report("Mon 13 Apr", 1, "red 1, amber 0, yellow 0", "P1, 21 days"),
        ("Thu 16 Apr 09:00", "jo", f"{p1}: review due Fri 17 Apr. /duty case review P1 note"),
        report("Mon 20 Apr", 1, "red 1, amber 0, yellow 0", "P1, 28 days"),
        ("Fri 24 Apr 09:00", "jo", f"{p1}: review due Mon 27 Apr. /duty case review P1 note"),
        report("Mon 27 Apr", 1, "red 1, amber 0, yellow 0", "P1, 35 days"),
        review_overdue("Tue 28 Apr", p1, "Mon 27 Apr", 1),
        review_overdue("Wed 29 Apr", p1, "Mon 27 Apr", 2),
        review_overdue("Thu 30 Apr", p1, "Mon 27 Apr", 3),
        review_overdue("Fri 01 May", p1, "Mon 27 Apr", 4),
        # Monday 4 May is a bank holiday: no reminder, and the report comes on Tuesday.
        report("Tue 05 May", 1, "red 1, amber 0, yellow 0", "P1, 43 days"),
        review_overdue("Tue 05 May", p1, "Mon 27 Apr", 5),
        review_overdue("Wed 06 May", p1, "Mon 27 Apr", 6),
        review_overdue("Thu 07 May", p1, "Mon 27 Apr", 7),
        review_overdue("Fri 08 May", p1, "Mon 27 Apr", 8),
    ]  # fmt: skip
    assert escalations(db) == [
        ("P1", "head_of_service"), ("P1", "service_manager"), ("P2", "service_manager"),
    ]  # fmt: skip


# ---- targeted-family-support (seeds/001): review every 14 days, RAY reviewed every 7,
# ---- summary in 3 working days, oversight note after 7 days, contact in 7, visit in 14,
# ---- the service manager at 4 weeks, the head of service at 6 --------------------------

TARGETED = {
    (d(3, 23), 10): [("jo", "/duty case add T1 amber"), ("sam", "/duty case show T1")],
    (d(3, 25), 10): [("jo", "/duty case summary T1")],
    (d(3, 27), 10): [("priya", "/duty case seen T1 contact")],
    (d(3, 30), 10): [("jo", "/duty case rate T1 red missed school twice")],
    (d(4, 2), 10): [("jo", "/duty case review T1 plan agreed")],
    (d(4, 7), 10): [("sam", "/duty case seen T1 visit"), ("jo", "/duty case rate T1 red")],
    (d(4, 14), 10): [("jo", "/duty case rate T1 red")],
    (d(4, 16), 10): [("jo", "/duty case review T1 plan holding")],
}


def test_targeted_family_support_over_seven_weeks(db: Database) -> None:
    log = Sim(db, "targeted-family-support", TARGETED).run()
    assert replies(log) == [
        # 14 days on is Easter Monday, so the review is due the Thursday before; 3 working
        # days for the summary; 7 days to contact and for the oversight note; 14 to visit.
        "T1 is on the register: AMBER, unallocated since Mon 23 Mar, team manager @jo. "
        "First review due Thu 02 Apr; summary due Thu 26 Mar; contact due Mon 30 Mar; "
        "oversight note due Mon 30 Mar; visit due Thu 02 Apr; RAY rating due Mon 30 Mar.",
        "T1 AMBER, open. Unallocated since Mon 23 Mar (0 days). Team manager @jo. "
        "Policy: targeted-family-support.\n"
        "Review: none yet; next due Thu 02 Apr.\n"
        "Case summary: due Thu 26 Mar.\n"
        "First contact with the child: due Mon 30 Mar.\n"
        "Management oversight note: due Mon 30 Mar.\n"
        "First visit: due Thu 02 Apr.\n"
        "RAY rating review: due Mon 30 Mar.\n"
        "History (notes stay in the record, not in chat):\n"
        "  Mon 23 Mar 10:00 added by @jo",
        "Case summary for T1 recorded.",
        "Contact for T1 on Fri 27 Mar recorded.",
        # Re-rated Monday: 7 days on is Easter Monday, so Thursday.
        "T1 is now RED (was AMBER). Next RAY review due Thu 02 Apr.",
        "Review of T1 recorded. Next review due Thu 16 Apr.",
        "Visit for T1 on Tue 07 Apr recorded.",
        "T1 stays RED; the rating review is recorded. Next RAY review due Tue 14 Apr.",
        "T1 stays RED; the rating review is recorded. Next RAY review due Tue 21 Apr.",
        "Review of T1 recorded. Next review due Thu 30 Apr.",
    ]
    t1a, t1 = "T1 (AMBER)", "T1 (RED)"
    rate = "/duty case rate T1 red|amber|yellow"
    assert sent(log) == [
        report("Mon 30 Mar", 1, "red 0, amber 1, yellow 0", "T1, 7 days"),
        # The summary (Wed) and the contact (Fri) were in time: no reminders for them.
        ("Mon 30 Mar 09:00", "jo", f"Unallocated cases:\n{t1a}: Management oversight note "
         f"due today. /duty case review T1 note\n{t1a}: RAY rating review due today. {rate}"),
        ("Tue 31 Mar 09:00", "jo", f"{t1}: Management oversight note was due Mon 30 Mar and "
         "isn't recorded. /duty case review T1 note"),
        ("Wed 01 Apr 09:00", "jo", f"{t1}: review due Thu 02 Apr. /duty case review T1 note"),
        ("Thu 02 Apr 09:00", "jo", f"Unallocated cases:\n{t1}: First visit due today. "
         f"/duty case seen T1 visit\n{t1}: RAY rating review due today. {rate}"),
        # The review on Thursday was also the oversight note. After Easter:
        report("Tue 07 Apr", 1, "red 1, amber 0, yellow 0", "T1, 15 days"),
        ("Tue 07 Apr 09:00", "jo", f"Unallocated cases:\n{t1}: First visit was due Thu 02 Apr "
         f"and isn't recorded. /duty case seen T1 visit\n{t1}: RAY rating review was due "
         f"Thu 02 Apr and isn't recorded. {rate}"),
        report("Mon 13 Apr", 1, "red 1, amber 0, yellow 0", "T1, 21 days"),
        ("Tue 14 Apr 09:00", "jo", f"{t1}: RAY rating review due today. {rate}"),
        ("Wed 15 Apr 09:00", "jo", f"{t1}: review due Thu 16 Apr. /duty case review T1 note"),
        report("Mon 20 Apr", 1, "red 1, amber 0, yellow 0", "T1, 28 days"),
        ("Mon 20 Apr 09:00", "sm", f"Escalation to you as service manager: {t1} has been "
         "unallocated for 28 days, since Mon 23 Mar. Last review: Thu 16 Apr. "
         "Overdue: nothing. Team manager: @jo."),
        ("Tue 21 Apr 09:00", "jo", f"{t1}: RAY rating review due today. {rate}"),
        ("Wed 22 Apr 09:00", "jo", f"{t1}: RAY rating review was due Tue 21 Apr and isn't "
         f"recorded. {rate}"),
        report("Mon 27 Apr", 1, "red 1, amber 0, yellow 0", "T1, 35 days"),
        ("Wed 29 Apr 09:00", "jo", f"{t1}: review due Thu 30 Apr. /duty case review T1 note"),
        review_overdue("Fri 01 May", t1, "Thu 30 Apr", 1),
        # Day 42 is the bank holiday Monday: the head of service hears on Tuesday, day 43.
        report("Tue 05 May", 1, "red 1, amber 0, yellow 0", "T1, 43 days"),
        ("Tue 05 May 09:00", "hos", f"Escalation to you as head of service: {t1} has been "
         "unallocated for 43 days, since Mon 23 Mar. Last review: Thu 16 Apr. "
         "Overdue: review, RAY rating. Team manager: @jo."),
        review_overdue("Tue 05 May", t1, "Thu 30 Apr", 2),
        review_overdue("Wed 06 May", t1, "Thu 30 Apr", 3),
        review_overdue("Thu 07 May", t1, "Thu 30 Apr", 4),
        review_overdue("Fri 08 May", t1, "Thu 30 Apr", 5),
    ]  # fmt: skip
    assert escalations(db) == [("T1", "head_of_service"), ("T1", "service_manager")]


# ---- walsall (seeds/002): reviewed weekly, letters when unallocated, the group manager at
# ---- 4 weeks --------------------------------------------------------------------------------

WALSALL = {
    (d(3, 23), 10): [("jo", "/duty case add W1"), ("jo", "/duty case add W2 red")],
    (d(3, 23), 15): [("sam", "/duty case letter W1")],
    (d(3, 25), 10): [("jo", "/duty case close W2 moved out of area")],
    **{
        (day, 10): [("jo", "/duty case review W1 MDR recorded")]
        for day in (d(3, 30), d(4, 2), d(4, 14), d(4, 21), d(4, 28), d(5, 5))
    },
}


def test_walsall_over_seven_weeks(db: Database) -> None:
    log = Sim(db, "walsall", WALSALL).run()
    assert replies(log) == [
        "W1 is on the register: NOT RATED, unallocated since Mon 23 Mar, team manager @jo. "
        "First review due Mon 30 Mar; letter due Mon 23 Mar.",
        "W2 is on the register: RED, unallocated since Mon 23 Mar, team manager @jo. "
        "First review due Mon 30 Mar; letter due Mon 23 Mar.",
        "Letter for W1 sent Mon 23 Mar recorded.",
        "W2 is closed and off the unallocated register. Its reminders have stopped.",
        # Reviewed Mon 30 Mar: a week on is Easter Monday, so Thursday 2 Apr.
        "Review of W1 recorded. Next review due Thu 02 Apr.",
        "Review of W1 recorded. Next review due Thu 09 Apr.",
        "Review of W1 recorded. Next review due Tue 21 Apr.",
        "Review of W1 recorded. Next review due Tue 28 Apr.",
        "Review of W1 recorded. Next review due Tue 05 May.",
        "Review of W1 recorded. Next review due Tue 12 May.",
    ]
    w1, w2 = "W1 (NOT RATED)", "W2 (RED)"
    letter = "Letter to the family and agencies"
    review_soon = "/duty case review W1 note"
    assert sent(log) == [
        # Letters are due the day the case becomes unallocated.
        ("Mon 23 Mar 14:00", "jo", f"Unallocated cases:\n{w1}: {letter} due today. "
         f"/duty case letter W1\n{w2}: {letter} due today. /duty case letter W2"),
        ("Tue 24 Mar 09:00", "jo", f"{w2}: {letter} was due Mon 23 Mar and isn't recorded. "
         "/duty case letter W2"),
        ("Fri 27 Mar 09:00", "jo", f"{w1}: review due Mon 30 Mar. {review_soon}"),
        report("Mon 30 Mar", 1, "red 0, amber 0, yellow 0, not rated 1", "W1, 7 days"),
        ("Wed 01 Apr 09:00", "jo", f"{w1}: review due Thu 02 Apr. {review_soon}"),
        report("Tue 07 Apr", 1, "red 0, amber 0, yellow 0, not rated 1", "W1, 15 days"),
        ("Wed 08 Apr 09:00", "jo", f"{w1}: review due Thu 09 Apr. {review_soon}"),
        review_overdue("Fri 10 Apr", w1, "Thu 09 Apr", 1),
        report("Mon 13 Apr", 1, "red 0, amber 0, yellow 0, not rated 1", "W1, 21 days"),
        review_overdue("Mon 13 Apr", w1, "Thu 09 Apr", 2),
        review_overdue("Tue 14 Apr", w1, "Thu 09 Apr", 3),
        report("Mon 20 Apr", 1, "red 0, amber 0, yellow 0, not rated 1", "W1, 28 days"),
        ("Mon 20 Apr 09:00", "gm", f"Escalation to you as group manager: {w1} has been "
         "unallocated for 28 days, since Mon 23 Mar. Last review: Tue 14 Apr. "
         "Overdue: nothing. Team manager: @jo."),
        ("Mon 20 Apr 09:00", "jo", f"{w1}: review due Tue 21 Apr. {review_soon}"),
        report("Mon 27 Apr", 1, "red 0, amber 0, yellow 0, not rated 1", "W1, 35 days"),
        ("Mon 27 Apr 09:00", "jo", f"{w1}: review due Tue 28 Apr. {review_soon}"),
        # Friday, because the next working day after it is Tuesday (4 May is a bank holiday).
        ("Fri 01 May 09:00", "jo", f"{w1}: review due Tue 05 May. {review_soon}"),
        report("Tue 05 May", 1, "red 0, amber 0, yellow 0, not rated 1", "W1, 43 days"),
    ]  # fmt: skip
    assert escalations(db) == [("W1", "group_manager")]


def escalations(db: Database) -> list[tuple[str, str]]:
    """Every escalation event, as (case, role), in case order."""
    with db.session() as s:
        rows = s.execute(
            select(Case.ref, Event.data)
            .join(Case, Case.id == Event.case_id)
            .where(Event.kind == "case_escalated")
        ).all()
    return sorted((ref, data["role"]) for ref, data in rows)


# ---- stopping, restarting, and who hears --------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(START, 10))


def tick_days(db: Database, clock: ManualClock, days: int) -> Iterator[list[tuple[str, str]]]:
    """Each day's 09:00 and 14:00 passes, each with a freshly started bot (as after a restart)."""
    for n in range(1, days + 1):
        for hh in (9, 14):
            clock.set(at(START + timedelta(days=n), hh))
            jobs = case_bot(db, clock, policy="targeted-family-support").team().jobs
            assert jobs is not None
            jobs.run_due()
        yield drain(db)


def test_allocating_or_closing_stops_every_reminder_and_escalation(
    db: Database, clock: ManualClock
) -> None:
    bot = case_bot(db, clock, policy="targeted-family-support")
    team = bot.team()
    for ref in ("A1", "A2", "A3"):
        team.command("jo", f"/duty case add {ref} red since 2026-02-01")  # long overdue already
    clock.set(at(START, 11))
    jobs = bot.team().jobs
    assert jobs is not None
    jobs.run_due()
    first = drain(db)
    about = {ref: [m for _, m in first if ref in m] for ref in ("A1", "A2", "A3")}
    # Each has its overdue review, missed deadlines and both escalations (50 days unallocated).
    for ref in ("A1", "A2", "A3"):
        assert any("review was due" in m for m in about[ref])
        assert sum(m.startswith("Escalation to you") for m in about[ref]) == 2
    team.command("jo", "/duty case allocate A1 @alex")
    team.command("jo", "/duty case close A2 family moved to Wales")
    later = [m for day in tick_days(db, clock, 49) for _, m in day]
    assert later, "A3 is still open, so its overdue review is still sent each working day"
    assert all("A3" in m for m in later)
    assert not any("A1" in m or "A2" in m for m in later)


def test_a_restart_sends_nothing_twice(db: Database, clock: ManualClock) -> None:
    bot = case_bot(db, clock, policy="targeted-family-support")
    bot.team().command("jo", "/duty case add R1 amber since 2026-02-01")
    days = list(tick_days(db, clock, 3))
    # Day 1 (Tue): the first pass sends everything due; the 14:00 pass nothing more.
    assert len(days[0]) >= 3
    # Days 2 and 3: only the overdue review, once each working day.
    assert [len(day) for day in days[1:]] == [1, 1]
    assert all("review was due" in m for day in days[1:] for _, m in day)
    assert escalations(db) == [("R1", "head_of_service"), ("R1", "service_manager")]


def test_an_escalation_with_nobody_in_the_role_goes_to_the_team_manager(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock, managers=["jo", "kim"], rota=WEEK, cases={"policy": "walsall"})
    bot.team().command("jo", "/duty case add G1 amber @kim since 2026-02-20")
    clock.set(at(START, 14))
    jobs = bot.team().jobs
    assert jobs is not None
    jobs.run_due()
    out = [m for to, m in drain(db) if to == "kim" and "escalation" in m]
    assert out == [
        "G1 (AMBER) has been unallocated for 31 days, since Fri 20 Feb. It has reached the "
        "group manager escalation, but no group manager is set in the config "
        "([teams.cases.people]), so please tell them. Last review: none. "
        "Overdue: review, letter."
    ]


def test_a_case_back_on_the_register_starts_its_clocks_again(
    db: Database, clock: ManualClock
) -> None:
    bot = case_bot(db, clock)  # practice-guide: the service manager hears at once
    team = bot.team()
    team.command("jo", "/duty case add B1 yellow")
    clock.set(at(START, 14))
    jobs = bot.team().jobs
    assert jobs is not None
    jobs.run_due()
    assert [to for to, m in drain(db) if "Escalation" in m] == ["sm"]
    team.command("jo", "/duty case allocate B1 @alex")
    clock.set(at(d(4, 20), 10))  # the worker left; B1 waits again
    reply = team.command("jo", "/duty case add B1 red").plain()
    assert reply.startswith("B1 is on the register: RED, unallocated since Mon 20 Apr")
    clock.set(at(d(4, 20), 14))
    jobs.run_due()
    assert [to for to, m in drain(db) if "Escalation" in m] == ["sm"]
    with db.session() as s:
        found = select(Event.kind).where(Event.case_id.is_not(None)).order_by(Event.id)
        kinds = list(s.scalars(found))
    assert kinds == [
        "case_added",
        "case_escalated",
        "case_allocated",
        "case_readded",
        "case_escalated",
    ]


def test_reminders_wait_for_office_hours_on_a_working_day(db: Database, clock: ManualClock) -> None:
    bot = case_bot(db, clock, policy="walsall")
    bot.team().command("jo", "/duty case add H1 amber since 2026-03-02")  # review overdue
    jobs = bot.team().jobs
    assert jobs is not None

    def due_at(when: datetime) -> list[str]:
        clock.set(when)
        jobs.run_due()
        return [to for to, _ in drain(db)]

    assert due_at(at(d(3, 23), 17, 30)) == []  # the evening
    assert due_at(at(d(3, 24), 8, 59)) == []  # before office hours
    assert due_at(at(d(3, 24), 9)) == ["jo"]  # the overdue review and the missed letter
    assert due_at(at(d(4, 2), 9)) == ["gm", "jo"]  # 31 days: the group manager, then jo
    assert due_at(at(d(4, 3), 10)) == []  # Good Friday
    assert due_at(at(d(4, 4), 10)) == []  # Saturday
    assert due_at(at(d(4, 7), 9)) == ["channel", "jo"]  # and the report, after Easter Monday


# ---- the weekly report ------------------------------------------------------------------------


def report_runs(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.scalars(select(JobRun).where(JobRun.job == "case_report").order_by(JobRun.id))
        return [(r.run_key, r.outcome) for r in rows]


def test_the_weekly_report_goes_once_at_its_configured_time_and_channel(
    db: Database, clock: ManualClock
) -> None:
    clock.set(at(d(3, 20), 10))  # a Friday
    weekly = {"day": "wed", "time": "13:30:00", "channel": "C0MANAGERS"}
    bot = make_bot(db, clock, cases={"weekly_report": weekly})
    bot.team().command("jo", "/duty case add C1 amber")
    jobs = bot.team().jobs
    assert jobs is not None
    for when in (at(d(3, 23), 9), at(d(3, 25), 13, 29)):
        clock.set(when)
        jobs.run_due()
        assert [k for k, _ in drain_kinds(db) if k == "channel"] == []
    clock.set(at(d(3, 25), 13, 30))
    jobs.run_due()
    jobs.run_due()
    with db.session() as s:
        posted = list(s.scalars(select(Outbox).where(Outbox.kind == "channel")))
    assert [p.target for p in posted] == ["C0MANAGERS"]
    assert report_runs(db) == [("2026-W13", "done")]
    clock.set(at(d(3, 27), 13, 30))
    jobs.run_due()
    assert report_runs(db) == [("2026-W13", "done")]


def drain_kinds(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = list(s.scalars(select(Outbox).where(Outbox.sent_at.is_(None))))
        for r in rows:
            r.sent_at = datetime.now(UTC)
        return [(r.kind, r.target) for r in rows]


def test_a_report_missed_while_the_bot_was_down_comes_late_and_says_so(
    db: Database, clock: ManualClock
) -> None:
    bot = make_bot(db, clock)
    bot.team().command("jo", "/duty case add C1 amber")
    jobs = bot.team().jobs
    assert jobs is not None
    clock.set(at(d(3, 30), 9))
    jobs.run_due()
    drain(db)
    clock.set(at(d(4, 14), 11, 15))  # down from Easter until Tuesday 14th
    jobs.run_due()
    posts = [m for to, m in drain(db) if to == "channel"]
    assert posts == ["(Late: posted Tue 14 Apr 11:15, because the bot was not running at "
                     "Mon 13 Apr 09:00.)"]  # fmt: skip
    assert report_runs(db) == [("2026-W14", "done"), ("2026-W16", "late")]


def test_no_report_for_a_team_without_cases_or_with_it_turned_off(
    db: Database, clock: ManualClock
) -> None:
    jobs = make_bot(db, clock).team().jobs
    assert jobs is not None
    clock.set(at(d(3, 30), 9))
    jobs.run_due()  # nothing on the register yet: no report
    off = make_bot(db, clock, cases={"weekly_report": {"enabled": False}})
    off.team().command("jo", "/duty case add C1 amber")
    clock.set(at(d(4, 7), 9))
    jobs = off.team().jobs
    assert jobs is not None
    jobs.run_due()
    assert report_runs(db) == []
    assert [m for to, m in drain(db) if to == "channel"] == []
