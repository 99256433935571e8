"""The task lifecycle and every refusal, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import Config
from bot.kernel.errors import Refused
from bot.kernel.roles import Roster
from bot.mail.intake import take_in
from bot.tasks.actions import Tasks
from storage import tasks as q
from storage.db import Database
from storage.models import Event, FollowUp, Outbox, Task
from tests.mail import make_email, raw


@pytest.fixture
def tasks(db: Database, config: Config, clock: ManualClock) -> Tasks:
    team = config.team()
    with db.session() as s:
        q.ensure_team(s, team.name)
    return Tasks(db, team, Roster(team), clock)


def new_task(tasks: Tasks, n: int = 1) -> int:
    got = take_in(
        tasks.db, tasks.name, raw(f"i{n}", make_email(message_id=f"<m{n}@x>")), tasks.clock.now()
    )
    return got.task_number


def task(tasks: Tasks, number: int) -> Task:
    with tasks.db.session() as s:
        t = q.task_by_number(s, tasks.name, number)
        assert t is not None
        return t


def kinds(tasks: Tasks) -> list[str]:
    with tasks.db.session() as s:
        return [e.kind for e in s.scalars(select(Event).order_by(Event.id))]


def refusal(fn, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused) as exc:
        fn(*args)
    return exc.value.reply.plain()


def test_claim_then_someone_else_is_told_who_and_since_when(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert tasks.claim("sam", n).plain() == f"You've claimed #{n}."
    assert task(tasks, n).state == "claimed"
    assert refusal(tasks.claim, "alex", n) == f"#{n} is already claimed by @sam since 10:00."
    assert refusal(tasks.claim, "sam", n) == f"You already have #{n}."
    assert kinds(tasks) == ["received", "claimed"]


def command(tasks: Tasks, who: str, line: str) -> str:
    """A /duty line as the team's chat runs it: who may use each verb is checked there."""
    bot = DutyBot(Config(teams=[tasks.team]), clock=tasks.clock, db=tasks.db)
    return bot.start(with_mailboxes=False).team().command(who, line).plain()


def test_strangers_and_unknown_numbers_are_refused(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert "Only members of the duty team" in command(tasks, "mallory", f"/duty claim {n}")
    assert refusal(tasks.claim, "sam", 99) == (
        "There is no task #99. Try /duty list to see open tasks."
    )


def sent_since(tasks: Tasks, after: int) -> list[tuple[str, str, str]]:
    """Queued messages after outbox id ``after``, as (kind, target, plain text)."""
    from bot.kernel.message import Message

    with tasks.db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.id > after).order_by(Outbox.id))
        return [(o.kind, o.target, Message.from_json(o.body).plain()) for o in rows]


def last_outbox_id(tasks: Tasks) -> int:
    with tasks.db.session() as s:
        return max(s.scalars(select(Outbox.id)).all(), default=0)


def test_releasing_or_resolving_someone_elses_task_names_them_and_tells_them(
    tasks: Tasks,
) -> None:
    n, m = new_task(tasks, 1), new_task(tasks, 2)
    assert "isn't claimed" in refusal(tasks.unclaim, "sam", n)
    tasks.claim("sam", n)
    tasks.claim("sam", m)
    before = last_outbox_id(tasks)
    assert tasks.unclaim("alex", n).plain() == (
        f"#{n} was @sam's; it is open again, and @sam has been told."
    )
    assert (task(tasks, n).state, task(tasks, n).claimed_by) == ("open", None)
    assert tasks.resolve("priya", m, "rang back, sorted").plain() == (
        f"#{m} was @sam's; it is resolved, and @sam has been told. Its email will move to Done."
    )
    assert sent_since(tasks, before) == [
        ("thread", "", "Released by @alex (it was @sam's)."),
        ("dm", "sam", f"@alex released #{n} (Rent arrears), which you had claimed. It is open "
                      "again."),
        ("thread", "", "Resolved by @priya (it was @sam's): rang back, sorted"),
        ("dm", "sam", f"@priya resolved #{m} (Rent arrears), which you had claimed: rang back, "
                      "sorted"),
    ]  # fmt: skip
    # Their own, or one nobody held: as before, and nobody else is told.
    tasks.claim("sam", n)
    before = last_outbox_id(tasks)
    assert tasks.unclaim("sam", n).plain() == f"You've released #{n}. It is open again."
    assert tasks.resolve("jo", n, "done").plain() == (
        f"#{n} is resolved. Its email will move to Done."
    )
    assert [kind for kind, _, _ in sent_since(tasks, before)] == ["thread", "thread"]


def test_a_resolve_that_crosses_a_new_claim_says_it_changed(
    tasks: Tasks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reply names whoever held it: if someone claims it between the read and the write,
    # the resolve doesn't go through on a stale idea of who that was.
    n = new_task(tasks)
    real = q.transition

    def claimed_meanwhile(s, task_id, conditions, values):  # type: ignore[no-untyped-def]
        s.execute(update(Task).where(Task.id == task_id).values(claimed_by="alex"))
        s.execute(update(Task).where(Task.id == task_id).values(state="claimed"))
        return real(s, task_id, conditions, values)

    monkeypatch.setattr(q, "transition", claimed_meanwhile)
    assert refusal(tasks.resolve, "sam", n, "done") == (
        f"#{n} changed just now. Check it with /duty show {n}."
    )
    monkeypatch.undo()
    assert (task(tasks, n).state, task(tasks, n).claimed_by) == ("open", None)  # rolled back


def test_assign_is_for_managers_and_only_to_team_members(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert command(tasks, "sam", f"/duty assign {n} @alex") == (
        "Only a duty manager can assign tasks."
    )
    assert "isn't on the duty team" in refusal(tasks.assign, "jo", n, "stranger")
    tasks.assign("jo", n, "alex")
    t = task(tasks, n)
    assert (t.state, t.claimed_by) == ("claimed", "alex")


def test_resolve_needs_a_note_then_moves_email_and_cannot_repeat(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert "Please say what was done" in refusal(tasks.resolve, "sam", n, "  ")
    tasks.resolve("sam", n, "Recorded on Mosaic", {"case_note": True})
    t = task(tasks, n)
    assert (t.state, t.resolved_by, t.resolve_note) == ("resolved", "sam", "Recorded on Mosaic")
    assert "already resolved by @sam" in refusal(tasks.resolve, "alex", n, "again")
    assert "already resolved" in refusal(tasks.claim, "alex", n)
    with tasks.db.session() as s:
        assert [e.move_state for e in q.emails_of_task(s, t.id)] == ["pending"]
        ev = s.scalars(select(Event).where(Event.kind == "resolved")).one()
        # what was ticked, and whether an alert really reached the worker and team leader
        assert ev.data == {"checklist": {"case_note": True, "alerted": False}}


def test_resolve_note_optional_when_configured(db: Database, clock: ManualClock) -> None:
    from tests.conftest import make_config

    team = make_config(resolve_note_required=False).team()
    with db.session() as s:
        q.ensure_team(s, team.name)
    d = Tasks(db, team, Roster(team), clock)
    n = new_task(d)
    d.resolve("sam", n, "")
    assert task(d, n).state == "resolved"


def test_reopen(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert "isn't resolved" in refusal(tasks.reopen, "sam", n, "")
    tasks.resolve("sam", n, "done")
    tasks.reopen("alex", n, "she rang again")
    t = task(tasks, n)
    assert (t.state, t.resolved_by, t.claimed_by) == ("open", None, None)


def test_alert_queues_a_dm_per_person_and_pings_only_them(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert "Say who to alert" in refusal(tasks.alert, "sam", n, [], "")
    tasks.alert("sam", n, ["U0PA", "U0TL", "U0PA"], "rang about rent")
    with tasks.db.session() as s:
        out = list(s.scalars(select(Outbox).order_by(Outbox.id)))
    dms = [o for o in out if o.kind == "dm"]
    assert sorted(o.target for o in dms) == ["U0PA", "U0TL"]
    thread = [o for o in out if o.kind == "thread"][-1]
    pinged = [v for k, v in thread.body if k == "ping"]
    assert pinged == ["U0PA", "U0TL"]


def test_safeguarding_flag_tells_the_duty_manager(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert "isn't a flag" in refusal(tasks.flag, "sam", n, "spicy", True)
    tasks.flag("sam", n, "safeguarding", True)
    assert task(tasks, n).safeguarding
    assert "already flagged" in refusal(tasks.flag, "sam", n, "safeguarding", True)
    with tasks.db.session() as s:
        dms = list(s.scalars(select(Outbox).where(Outbox.kind == "dm")))
    assert [d.target for d in dms] == ["jo"]
    tasks.flag("sam", n, "safeguarding", False)
    assert not task(tasks, n).safeguarding


def test_notes_and_follow_ups(tasks: Tasks) -> None:
    n = new_task(tasks)
    assert "Write the note" in refusal(tasks.note, "sam", n, " ")
    tasks.note("sam", n, "Left a voicemail")
    assert "couldn't read" in refusal(tasks.follow_up, "sam", n, "tomorow 10", "")
    assert "already passed" in refusal(tasks.follow_up, "sam", n, "2026-11-01 09:00", "")
    reply = tasks.follow_up("sam", n, "tomorrow 10:00", "ring the landlord")
    assert reply.plain() == f"Follow-up for #{n} set for Tue 24 Nov 10:00. I'll remind you then."
    with tasks.db.session() as s:
        fu = s.scalars(select(FollowUp)).one()
    assert fu.due_at == tasks.clock.now() + timedelta(days=1)
    assert kinds(tasks)[-2:] == ["noted", "follow_up_set"]


def test_every_action_writes_an_event(tasks: Tasks) -> None:
    n = new_task(tasks)
    tasks.claim("sam", n)
    tasks.note("sam", n, "n")
    tasks.alert("sam", n, ["alex"], "")
    tasks.flag("sam", n, "urgent", True)
    tasks.follow_up("sam", n, "in 2 hours", "")
    tasks.unclaim("sam", n)
    tasks.assign("jo", n, "alex")
    tasks.resolve("alex", n, "done")
    tasks.reopen("alex", n, "")
    assert kinds(tasks) == [
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


def test_claim_race_has_exactly_one_winner(tasks: Tasks) -> None:
    for round_ in range(15):
        n = new_task(tasks, 100 + round_)
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
                results[who] = tasks.claim(who, number).plain()
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
        with tasks.db.session() as s:
            claims = s.scalars(
                select(Event).where(Event.kind == "claimed", Event.task_id == task(tasks, n).id)
            ).all()
        assert len(claims) == 1


def test_workers_text_is_cleaned_as_email_text_is(tasks: Tasks) -> None:
    """A right-to-left override or a control character typed in a note never reaches the
    chat or the handover email: workers' text is cleaned as an email's is."""
    n = new_task(tasks)
    sneaky = "rang back \u202eexe.gpj\u202c, left \u0007a message\u200b ok"
    command(tasks, "sam", f"/duty note {n} {sneaky}")
    command(tasks, "sam", f"/duty resolve {n} done \u2066quietly\u2069")
    with tasks.db.session() as s:
        notes = [e.note for e in s.scalars(select(Event)) if e.note]
        bodies = [json.dumps(o.body, ensure_ascii=False) for o in s.scalars(select(Outbox))]
    assert notes == ["rang back exe.gpj, left a message ok", "done quietly"]
    for said in [*notes, *bodies]:
        assert not any(c in said for c in "\u202e\u202c\u0007\u200b\u2066\u2069")
