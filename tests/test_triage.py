"""Triage (seeds/000, 004): money and housing requests marked for the duty manager's
oversight, and words that hint at safeguarding or urgency, which a person then decides on."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from pathlib import Path

from sqlalchemy import select

from bot.app import DutyBot
from bot.chat.calls import Place, Reply
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.mail.intake import take_in
from bot.tasks.triage import found as words_in
from bot.tasks.triage import sorter, triage
from storage.db import Database
from storage.models import Event, Task
from tests.mail import make_email, raw
from tests.slack_harness import ALEX, JO, PRIYA, SAM, SlackHarness, buttons, card_text
from tests.test_handover import dms, drain, jobs_of, london, make_bot
from tests.test_shell import shell, write_config

WEEK = {d: {"manager": "jo", "pa1": "sam", "pa2": "alex", "backup": "priya"}
        for d in ("mon", "tue", "wed", "thu", "fri")}  # fmt: skip
_ids = count(1)

OVERDOSE = (
    "URGENT safeguarding - care leaver discharged today",
    "Jamie was discharged from A&E this morning after an overdose and is back at the flat alone.",
)


def mail_in(bot: DutyBot, subject: str, body: str) -> int:
    """An email taken in as the watcher takes it in: sorted by the team's words."""
    team = bot.team()
    now = bot.clock.now()
    n = next(_ids)
    message = raw(f"t{n}", make_email(subject, body, message_id=f"<t{n}-{now.timestamp()}@x>"))
    message = type(message)(item_id=message.item_id, mime=message.mime, received_at=now)
    return take_in(team.tasks.db, team.cfg.name, message, now, sort=sorter(team.cfg)).task_number


def safeguarding(sent: list[tuple[str, str, str]]) -> list[str]:
    return [m for m in dms(sent) if m.startswith("Safeguarding")]


def task(db: Database, number: int) -> Task:
    with db.session() as s:
        found = s.scalars(select(Task).where(Task.number == number)).one()
        s.expunge(found)
        return found


def test_categories_come_from_the_whole_email_and_only_their_names_are_kept(
    db: Database,
) -> None:
    bot = make_bot(db, ManualClock(london(2026, 11, 23, 9, 0)), rota=WEEK)
    n = mail_in(bot, "Help please", "My Universal Credit was cut and I owe my landlord £420.")
    found = task(db, n)
    assert found.categories == ["financial", "accommodation"]
    assert found.hints == {}
    team = bot.team()
    assert team.command("sam", "/duty list financial").plain() == (
        f"Open financial tasks (1):\n#{n} Help please (unclaimed)"
    )
    other = mail_in(bot, "School trip", "Can Mia go on the trip on Friday?")
    assert task(db, other).categories == []
    assert team.command("sam", f"/duty tag {other} financial").plain() == (
        f"#{other} is now financial."
    )
    assert team.command("sam", f"/duty untag {n} accommodation").plain() == (
        f"#{n} is no longer accommodation."
    )
    assert task(db, n).categories == ["financial"]
    assert team.command("sam", f"/duty tag {n} housing").plain() == (
        "'housing' isn't a category here; use financial or accommodation."
    )
    assert team.command("sam", "/duty list done").plain().startswith("'done' isn't a list.")
    with db.session() as s:
        kinds = [e.kind for e in s.scalars(select(Event).order_by(Event.id))]
    assert kinds.count("tagged") == 1 and kinds.count("untagged") == 1


def test_each_new_money_or_housing_request_tells_todays_duty_manager_once(
    db: Database,
) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 0))
    bot = make_bot(db, clock, rota=WEEK)
    drain(db)
    n = mail_in(bot, "Rent arrears", "I am behind with my rent.")
    mail_in(bot, "School trip", "Can Mia go on the trip?")
    jobs_of(bot).run_due()
    jobs_of(make_bot(db, clock, rota=WEEK)).run_due()  # a restart: nothing twice
    assert dms(drain(db), "jo") == [f"New financial request: #{n} Rent arrears"]
    # Jo logging a phone call about a deposit is Jo's own action: no DM about it.
    bot.team().command("jo", "/duty new phone Landlord wants the deposit by Friday")
    jobs_of(bot).run_due()
    assert dms(drain(db), "jo") == []


def test_a_request_tagged_later_or_left_for_another_manager_is_still_told(db: Database) -> None:
    # The scheduler's pass skips the oversight look while today's mail is as it was when
    # everything was told; a later tag, or another manager on the rota, must still be told.
    clock = ManualClock(london(2026, 11, 23, 10, 0))
    bot = make_bot(db, clock, rota=WEEK, managers=["jo", "kim"])
    jobs = jobs_of(bot)

    def next_pass() -> list[str]:
        clock.advance(timedelta(minutes=1))
        jobs.run_due()
        return dms(drain(db))

    n = mail_in(bot, "Rent arrears", "I am behind with my rent.")
    other = mail_in(bot, "School trip", "Can Mia go on the trip?")
    assert next_pass() == [f"New financial request: #{n} Rent arrears"]
    assert next_pass() == []  # nothing new: nothing twice
    assert (
        "now accommodation" in bot.team().command("sam", f"/duty tag {other} accommodation").plain()
    )
    assert next_pass() == [f"New accommodation request: #{other} School trip"]
    said = bot.team().command("jo", "/duty new phone Landlord wants the deposit by Friday")
    deposit = int(said.plain().split("#")[1].split(" ")[0])
    assert next_pass() == []  # Jo's own call: not told to Jo
    assert "Rota set" in bot.team().command("jo", "/duty rota set 2026-11-23 manager @kim").plain()
    drain(db)
    assert next_pass() == [
        f"New accommodation request: #{deposit} Landlord wants the deposit by Friday"
    ]


def test_words_make_a_hint_not_a_flag_and_its_clock_runs_from_arrival(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 5))
    bot = make_bot(db, clock, rota=WEEK)
    n = mail_in(bot, *OVERDOSE)
    found = task(db, n)
    assert not found.safeguarding and not found.urgent
    assert found.hints == {
        "safeguarding": ["safeguarding", "a&e", "overdose"],
        "urgent": ["urgent", "overdose"],
    }
    shown = bot.team().command("sam", f"/duty show {n}").plain()
    assert f"#{n} URGENT safeguarding - care leaver discharged today" in shown
    drain(db)
    clock.set(london(2026, 11, 23, 10, 14))
    jobs_of(bot).run_due()
    assert safeguarding(drain(db)) == []
    clock.set(london(2026, 11, 23, 10, 15))  # 10 minutes after it came in, not after a flag
    jobs_of(bot).run_due()
    told = safeguarding(drain(db))
    assert sorted(told) == sorted([told[0]] * 2) and len(told) == 2  # duty manager, back-up
    assert told[0].startswith("Safeguarding tasks nobody has claimed yet:\n")
    assert "possible safeguarding: safeguarding, a&e, overdose" in told[0]


def test_a_person_decides_and_the_decision_is_an_event(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 5))
    bot = make_bot(db, clock, rota=WEEK)
    n = mail_in(bot, *OVERDOSE)
    team = bot.team()
    assert team.command("sam", f"/duty dismiss {n} urgent").plain() == f"#{n} is marked not urgent."
    assert team.command("sam", f"/duty dismiss {n} urgent").plain() == (
        f"#{n} has no urgent hint to clear."
    )
    assert (
        team.command("sam", f"/duty flag {n} safeguarding")
        .plain()
        .startswith(f"#{n} is flagged safeguarding.")
    )
    found = task(db, n)
    assert found.safeguarding and found.hints == {}
    with db.session() as s:
        decided = {e.kind: e.data for e in s.scalars(select(Event)) if e.actor == "sam"}
    assert decided["hint_dismissed"] == {"flag": "urgent", "hint": ["urgent", "overdose"]}
    assert decided["flagged"]["hint"] == ["safeguarding", "a&e", "overdose"]


def test_not_safeguarding_stops_the_safeguarding_clock(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 5))
    bot = make_bot(db, clock, rota=WEEK)
    n = mail_in(bot, "Police called", "The police found Jo's bike; nobody is hurt.")
    assert bot.team().command("jo", f"/duty dismiss {n} safeguarding").plain() == (
        f"#{n} is marked not safeguarding."
    )
    drain(db)
    clock.set(london(2026, 11, 23, 10, 16))
    jobs_of(bot).run_due()
    assert safeguarding(drain(db)) == []


def test_slack_card_shows_the_hint_and_its_two_buttons(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 5))
    with SlackHarness(db, clock=clock) as h:
        n = take_in(
            h.db, h.team.name, raw("s1", make_email(*OVERDOSE, message_id="<s1@x>")),
            clock.now(), sort=sorter(h.team),
        )  # fmt: skip
        number = n.task_number
        h.drain()
        card = h.card(number)
        shown = card_text(card)
        assert "Possible safeguarding (safeguarding, a&amp;e, overdose)" in shown
        assert "Possible urgent (urgent, overdose)" in shown
        found = buttons(card)
        assert found["Flag safeguarding"]["value"] == f"{h.team.name}:{number} safeguarding"
        press = found["Not safeguarding"]
        h.click(press["action_id"], number, value=press["value"])
        h.drain()
        after = buttons(h.card(number))
        assert "Not safeguarding" not in after and "Flag safeguarding" not in after
        assert "Not urgent" in after  # that one is still to decide
        assert "Not safeguarding, decided by @Sam." in [m["text"] for m in h.thread(number)]


def test_a_logged_contact_is_sorted_too(db: Database) -> None:
    bot = make_bot(db, ManualClock(london(2026, 11, 23, 9, 0)), rota=WEEK)
    reply = bot.calls.command("sam", Place("shell", "C0DUTY"), "/duty new phone Tenant evicted")
    assert isinstance(reply, Reply) and reply.message.plain() == "Logged #1 (phone call)."
    assert task(db, 1).categories == ["accommodation"]


def test_a_reply_can_raise_a_hint_on_its_task(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 9, 0))
    bot = make_bot(db, clock, rota=WEEK)
    team = bot.team()
    first = make_email("Bus pass", "Can you help with a bus pass?", message_id="<root@x>")
    take_in(db, team.cfg.name, raw("r1", first), clock.now(), sort=sorter(team.cfg))
    later = make_email("Re: Bus pass", "She has gone missing since last night.",
                       message_id="<r2@x>", in_reply_to="<root@x>")  # fmt: skip
    clock.advance(timedelta(hours=1))
    got = take_in(db, team.cfg.name, raw("r2", later), clock.now(), sort=sorter(team.cfg))
    assert got.outcome == "reply"
    assert task(db, 1).hints == {"safeguarding": ["missing"], "urgent": ["gone missing"]}


def test_notifications_say_what_they_are_and_nothing_personal(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 5))
    rota = {d: {"manager": JO, "pa1": SAM, "pa2": ALEX, "backup": PRIYA} for d in WEEK}
    with SlackHarness(db, clock=clock, team={"rota": rota}) as h:
        n = h.email("Welfare check for Callum Reeve", "Please call.")
        h.drain()
        h.command(f"flag {n} safeguarding", user=SAM)
        h.drain()
        clock.set(london(2026, 11, 23, 10, 16))
        jobs_of(h.bot).run_due()
        h.drain()
        texts = [m["text"] for who in (JO, PRIYA) for m in h.dms(who)]
        assert texts.count("Safeguarding: duty task #1 was flagged") == 2
        assert texts.count("Safeguarding: duty task #1 is unclaimed") == 2
        assert not [t for t in texts if "Callum" in t]  # never a subject on a lock screen
        assert h.card(n)["text"] == "Safeguarding: duty task #1"  # the card, redrawn


def test_a_managers_app_home_shows_todays_money_and_housing_requests(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 10, 5))
    with SlackHarness(db, clock=clock) as h:
        take_in(
            h.db, h.team.name, raw("m1", make_email("Rent", "I owe £420 rent.",
                                                    message_id="<m1@x>")),
            clock.now(), sort=sorter(h.team),
        )  # fmt: skip
        h.open_home(JO)
        (view,) = h.fake.wait_for(lambda: h.fake.views_published(JO))
        headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
        assert headers[1] == "Financial and accommodation requests today"
        assert "#1 Rent (unclaimed)" in card_text(view)
        h.open_home(SAM)
        (mine,) = h.fake.wait_for(lambda: h.fake.views_published(SAM))
        assert "Financial and accommodation requests today" not in card_text(mine)


def test_the_shell_shows_the_oversight_dm(tmp_path: Path) -> None:
    out = shell(
        write_config(tmp_path),
        "/duty clock 2026-12-08 10:00\n/duty new phone Landlord says the rent is two months"
        " behind\n",
    )
    assert "Logged #9 (phone call)." in out
    assert "  @ DM to @Jo: New financial and accommodation request: #9 Landlord says the rent " \
        "is two months behind" in out  # fmt: skip


def test_the_matchers_small_rules() -> None:
    # Not-words take a phrase out first: its words don't count there, but do elsewhere.
    assert words_in("Police checks for my job", ["police"], ["police checks"]) == []
    said = "Police checks done; then the police came round"
    assert words_in(said, ["police"], ["police checks"]) == ["police"]
    assert words_in("the flat-pack", ["flat"], ["flat-pack"]) == []
    # "*" ending a word takes any ending; "*" alone is one word; apostrophes as typed.
    assert words_in("She was evicted", ["evict*"]) == ["evicted"]
    assert words_in("thoughts of ending his life", ["ending * life"]) == ["ending his life"]
    for typed in ("don't", "don’t", "dont"):
        assert words_in(f"I {typed} want to be here", ["don’t want to be here"]) != []
    assert words_in("anything", ["", "  "], [""]) == []  # a blank entry matches nothing


def test_a_teams_own_not_words_come_from_the_config() -> None:
    team = parse_config(
        {"teams": [{"name": "t", "channel": "C", "managers": ["jo"],
                    "categories": [{"name": "money", "words": ["pay"],
                                    "not_words": ["pay a visit"]}],
                    "hints": {"not_words": {"urgent": ["no rush"]}}}]}
    ).team()  # fmt: skip
    assert triage("Could you pay a visit?", team).categories == ()
    assert triage("Could you pay my gas?", team).categories == ("money",)
    # The team's urgent not-words replace the default ones; the safeguarding ones stay.
    assert triage("No rush, it's not urgent", team).hints == {"urgent": ["urgent"]}
    assert triage("Police checks for a job", team).hints == {}
