"""The task lifecycle and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.kernel.clock import ManualClock
from bot.kernel.config import Config
from bot.kernel.roles import Roster
from bot.mail.intake import take_in
from bot.tasks.actions import Duty, Refused
from storage import tasks as q
from storage.db import Database
from storage.models import Event, FollowUp, Outbox, Task
from tests.mail import make_email, raw


@pytest.fixture
def duty(db: Database, config: Config, clock: ManualClock) -> Duty:
    team = config.team()
    with db.session() as s:
        q.ensure_team(s, team.name)
    return Duty(db, team, Roster(team), clock)


def new_task(duty: Duty, n: int = 1) -> int:
    got = take_in(
        duty.db, duty.name, raw(f"i{n}", make_email(message_id=f"<m{n}@x>")), duty.clock.now()
    )
    return got.task_number


def task(duty: Duty, number: int) -> Task:
    with duty.db.session() as s:
        t = q.task_by_number(s, duty.name, number)
        assert t is not None
        return t


def kinds(duty: Duty) -> list[str]:
    with duty.db.session() as s:
        return [e.kind for e in s.scalars(select(Event).order_by(Event.id))]


def refusal(fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused) as exc:
        fn(*args)
    return exc.value.reply.plain()


def test_claim_then_someone_else_is_told_who_and_since_when(duty: Duty) -> None:
    n = new_task(duty)
    assert duty.claim("sam", n).plain() == f"You've claimed #{n}."
    assert task(duty, n).state == "claimed"
    assert refusal(duty.claim, "alex", n) == f"#{n} is already claimed by @sam since 10:00."
    assert refusal(duty.claim, "sam", n) == f"You already have #{n}."
    assert kinds(duty) == ["received", "claimed"]


def test_strangers_and_unknown_numbers_are_refused(duty: Duty) -> None:
    n = new_task(duty)
    assert "Only members of the duty team" in refusal(duty.claim, "mallory", n)
    assert refusal(duty.claim, "sam", 99) == (
        "There is no task #99. Try /duty list to see open tasks."
    )


def test_unclaim_only_by_claimer_or_manager(duty: Duty) -> None:
    n = new_task(duty)
    assert "isn't claimed" in refusal(duty.unclaim, "sam", n)
    duty.claim("sam", n)
    assert "Only they or a duty manager" in refusal(duty.unclaim, "alex", n)
    duty.unclaim("jo", n)
    assert task(duty, n).state == "open"
    assert task(duty, n).claimed_by is None


def test_assign_is_for_managers_and_only_to_team_members(duty: Duty) -> None:
    n = new_task(duty)
    assert refusal(duty.assign, "sam", n, "alex") == "Only a duty manager can assign tasks."
    assert "isn't on the duty team" in refusal(duty.assign, "jo", n, "stranger")
    duty.assign("jo", n, "alex")
    t = task(duty, n)
    assert (t.state, t.claimed_by) == ("claimed", "alex")


def test_resolve_needs_a_note_then_moves_email_and_cannot_repeat(duty: Duty) -> None:
    n = new_task(duty)
    assert "Please say what was done" in refusal(duty.resolve, "sam", n, "  ")
    duty.resolve("sam", n, "Recorded on Mosaic", {"case_note": True})
    t = task(duty, n)
    assert (t.state, t.resolved_by, t.resolve_note) == ("resolved", "sam", "Recorded on Mosaic")
    assert "already resolved by @sam" in refusal(duty.resolve, "alex", n, "again")
    assert "already resolved" in refusal(duty.claim, "alex", n)
    with duty.db.session() as s:
        assert [e.move_state for e in q.emails_of_task(s, t.id)] == ["pending"]
        ev = s.scalars(select(Event).where(Event.kind == "resolved")).one()
        assert ev.data == {"checklist": {"case_note": True}}


def test_resolve_note_optional_when_configured(db: Database, clock: ManualClock) -> None:
    from tests.conftest import make_config

    team = make_config(resolve_note_required=False).team()
    with db.session() as s:
        q.ensure_team(s, team.name)
    d = Duty(db, team, Roster(team), clock)
    n = new_task(d)
    d.resolve("sam", n, "")
    assert task(d, n).state == "resolved"


def test_reopen(duty: Duty) -> None:
    n = new_task(duty)
    assert "isn't resolved" in refusal(duty.reopen, "sam", n, "")
    duty.resolve("sam", n, "done")
    duty.reopen("alex", n, "she rang again")
    t = task(duty, n)
    assert (t.state, t.resolved_by, t.claimed_by) == ("open", None, None)


def test_alert_queues_a_dm_per_person_and_pings_only_them(duty: Duty) -> None:
    n = new_task(duty)
    assert "Say who to alert" in refusal(duty.alert, "sam", n, [], "")
    duty.alert("sam", n, ["U0PA", "U0TL", "U0PA"], "rang about rent")
    with duty.db.session() as s:
        out = list(s.scalars(select(Outbox).order_by(Outbox.id)))
    dms = [o for o in out if o.kind == "dm"]
    assert sorted(o.target for o in dms) == ["U0PA", "U0TL"]
    thread = [o for o in out if o.kind == "thread"][-1]
    pinged = [v for k, v in thread.body if k == "ping"]
    assert pinged == ["U0PA", "U0TL"]


def test_safeguarding_flag_tells_the_duty_manager(duty: Duty) -> None:
    n = new_task(duty)
    assert "isn't a flag" in refusal(duty.flag, "sam", n, "spicy", True)
    duty.flag("sam", n, "safeguarding", True)
    assert task(duty, n).safeguarding
    assert "already flagged" in refusal(duty.flag, "sam", n, "safeguarding", True)
    with duty.db.session() as s:
        dms = list(s.scalars(select(Outbox).where(Outbox.kind == "dm")))
    assert [d.target for d in dms] == ["jo"]
    duty.flag("sam", n, "safeguarding", False)
    assert not task(duty, n).safeguarding


def test_notes_and_follow_ups(duty: Duty) -> None:
    n = new_task(duty)
    assert "Write the note" in refusal(duty.note, "sam", n, " ")
    duty.note("sam", n, "Left a voicemail")
    assert "couldn't read" in refusal(duty.follow_up, "sam", n, "tomorow 10", "")
    assert "already passed" in refusal(duty.follow_up, "sam", n, "2026-11-01 09:00", "")
    reply = duty.follow_up("sam", n, "tomorrow 10:00", "ring the landlord")
    assert reply.plain() == f"Follow-up for #{n} set for Tue 24 Nov 10:00. I'll remind you then."
    with duty.db.session() as s:
        fu = s.scalars(select(FollowUp)).one()
    assert fu.due_at == duty.clock.now() + timedelta(days=1)
    assert kinds(duty)[-2:] == ["noted", "follow_up_set"]


def test_every_action_writes_an_event(duty: Duty) -> None:
    n = new_task(duty)
    duty.claim("sam", n)
    duty.note("sam", n, "n")
    duty.alert("sam", n, ["alex"], "")
    duty.flag("sam", n, "urgent", True)
    duty.follow_up("sam", n, "in 2 hours", "")
    duty.unclaim("sam", n)
    duty.assign("jo", n, "alex")
    duty.resolve("alex", n, "done")
    duty.reopen("alex", n, "")
    assert kinds(duty) == [
        "received",
        "claimed",
        "noted",
        "alerted",
        "flagged",
        "follow_up_set",
        "unclaimed",
        "assigned",
        "resolved",
        "reopened",
    ]


def test_claim_race_has_exactly_one_winner(duty: Duty) -> None:
    for round_ in range(15):
        n = new_task(duty, 100 + round_)
        results: dict[str, str] = {}
        start = threading.Barrier(2)

        def go(
            who: str,
            number: int = n,
            results: dict[str, str] = results,
            start: threading.Barrier = start,
        ) -> None:
            start.wait()
            try:
                results[who] = duty.claim(who, number).plain()
            except Refused as no:
                results[who] = no.reply.plain()

        threads = [threading.Thread(target=go, args=(w,)) for w in ("sam", "alex")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [w for w, r in results.items() if r.startswith("You've claimed")]
        assert len(winners) == 1, results
        loser = "alex" if winners == ["sam"] else "sam"
        assert results[loser] == f"#{n} is already claimed by @{winners[0]} since 10:00."
        with duty.db.session() as s:
            claims = s.scalars(
                select(Event).where(Event.kind == "claimed", Event.task_id == task(duty, n).id)
            ).all()
        assert len(claims) == 1
