"""Contacts that don't come by email (seeds/000: phone, text, in person): logged with
`/duty new`, the App Home "New contact" button or the "Log as duty task" shortcut, they are
tasks like any other: a number, a card, in lists, nudges and the handover."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.kernel.clock import ManualClock
from storage.db import Database
from storage.models import Outbox, Task
from tests.slack_harness import SAM, SlackHarness, buttons, card_text
from tests.test_handover import jobs_of, london, make_bot
from tests.test_shell import shell, write_config


def contact(db: Database, number: int) -> Task:
    with db.session() as s:
        task = s.scalars(select(Task).where(Task.number == number)).one()
        s.expunge(task)
        return task


def test_a_phone_call_is_logged_as_a_task_like_any_other(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 9, 0))
    bot = make_bot(db, clock)
    team = bot.team()
    reply = team.command("sam", "/duty new phone Mum rang on 07700 900123 about the rent")
    assert reply.plain() == "Logged #1 (phone call)."
    task = contact(db, 1)
    assert (task.channel, task.logged_by, task.state) == ("phone", "sam", "open")
    assert task.subject == "Mum rang on [phone] about the rent"  # masked as a subject is
    assert (
        "#1 Mum rang on [phone] about the rent (unclaimed)"
        in team.command("alex", "/duty list").plain()
    )
    assert "Phone call, logged by @sam" in team.command("alex", "/duty show 1").plain()
    clock.advance(timedelta(minutes=31))
    jobs_of(bot).run_due()
    with db.session() as s:
        nudged = [o for o in s.scalars(select(Outbox)) if o.kind == "thread"]
    assert nudged, "an unclaimed phone call is chased like an email"
    preview = team.command("jo", "/duty handover").plain().splitlines()
    assert preview[preview.index("Open and unclaimed (1):") + 1] == (
        "  #1 Mum rang on [phone] about the rent"
    )
    assert team.command("sam", "/duty claim 1").plain() == "You've claimed #1."
    assert team.command("sam", "/duty resolve 1 rang back, sorted").plain() == "#1 is resolved."


def test_a_text_visit_or_other_says_how_it_came(db: Database) -> None:
    team = make_bot(db, ManualClock(london(2026, 11, 23, 9, 0))).team()
    said = [team.command("sam", f"/duty new {how} hello").plain() for how in
            ("text", "SMS", "visit", "other", "call")]  # fmt: skip
    assert said == [
        "Logged #1 (text message).",
        "Logged #2 (text message).",
        "Logged #3 (visit).",
        "Logged #4 (contact).",
        "Logged #5 (phone call).",
    ]


def test_bad_contacts_are_refused_in_one_line_and_nothing_is_stored(db: Database) -> None:
    team = make_bot(db, ManualClock(london(2026, 11, 23, 9, 0))).team()
    assert team.command("sam", "/duty new").plain() == (
        "'/duty new' needs how it came and what it is about, like: "
        "/duty new phone Mum of a care leaver rang about a missed payment"
    )
    assert (
        team.command("sam", "/duty new fax hello")
        .plain()
        .startswith("'fax' isn't phone, text, visit or other.")
    )
    assert (
        team.command("sam", "/duty new phone")
        .plain()
        .startswith("'/duty new' needs what it is about")
    )
    assert (
        team.command("mallory", "/duty new phone hi")
        .plain()
        .startswith("Only members of the duty team")
    )
    with db.session() as s:
        assert s.scalars(select(Task)).all() == []


def test_the_shell_prints_the_contact_card(tmp_path: Path) -> None:
    out = shell(write_config(tmp_path), "/duty new visit Callum came in, lost his keys\n")
    assert "Logged #9 (visit)." in out
    assert "+-- #9 Callum came in, lost his keys" in out
    assert "| Visit, logged by @Sam" in out


def test_slack_home_button_and_form_log_a_contact(db: Database) -> None:
    with SlackHarness(db) as h:
        h.open_home(SAM)
        (home,) = h.fake.wait_for(lambda: h.fake.views_published(SAM))
        button = buttons(home)["New contact"]
        h.click(button["action_id"], 0, container="home", value=button["value"])
        modal = h.fake.wait_for(h.fake.views_opened)[-1]["view"]
        assert modal["callback_id"] == "duty_new"
        assert [b["block_id"] for b in modal["blocks"]] == ["channel", "summary", "flags"]
        values = {
            "channel": {"value": {"type": "radio_buttons", "selected_option": {"value": "phone"}}},
            "summary": {"value": {"type": "plain_text_input", "value": "Landlord rang"}},
            "flags": {
                "value": {"type": "checkboxes", "selected_options": [{"value": "safeguarding"}]}
            },  # fmt: skip
        }
        assert h.submit("duty_new", 0, values).status_code == 200
        h.drain()
        task = contact(db, 1)
        assert (task.channel, task.safeguarding, task.subject) == ("phone", True, "Landlord rang")
        card = h.card(1)
        assert card["text"] == "Safeguarding: new duty task #1 (phone call)"  # no content
        assert "Phone call, logged by @Sam" in card_text(card)
        (said,) = h.fake.wait_for(lambda: h.ephemerals(SAM))
        assert said["text"] == "Logged #1 (phone call)."


def test_the_slack_shortcut_logs_a_message_from_anywhere(db: Database) -> None:
    with SlackHarness(db) as h:
        h.shortcut("duty_new", "Text from Kim\u202e: Callum &lt;safe&gt;, call back")
        modal = h.fake.wait_for(h.fake.views_opened)[-1]["view"]
        summary = next(b for b in modal["blocks"] if b["block_id"] == "summary")
        # The message starts the summary: cleaned of direction overrides, Slack's escapes undone.
        assert summary["element"]["initial_value"] == "Text from Kim: Callum <safe>, call back"
        h.shortcut("duty_new", "hello", user="UOUTSIDER1")
        assert h.fake.wait_for(lambda: h.ephemerals("UOUTSIDER1"))[-1]["text"] == (
            "You're not on a duty team I look after. Ask a duty manager to add you."
        )
