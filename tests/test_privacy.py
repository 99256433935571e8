"""Minimum necessary (seeds/004 §4, Caldicott): the "minimal" card shows no personal data:
the task number, how it came in, its categories, flags and hints, the sender's organisation
(their email domain, or "a personal address"), when it arrived and how many attachments.
Lists, handovers, DMs, nudges and App Home follow the same setting."""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path

from bot.kernel.clock import ManualClock
from bot.mail.intake import take_in
from bot.mail.redaction import organisation
from storage.db import Database
from tests.conftest import ROOT
from tests.mail import make_email, raw
from tests.slack_harness import SlackHarness
from tests.test_handover import jobs_of, london
from tests.test_shell import shell, write_config

TEAM_NAMES = {"Priya"}  # a team member's name, which the bot may show


def personal_words() -> set[str]:
    """Every subject, and every word of every sender's name, in the sample inbox."""
    found: set[str] = set()
    for path in sorted((ROOT / "examples" / "inbox").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=default)
        subject = str(msg["subject"] or "").removeprefix("Re: ").strip()
        found.add(subject)
        name = msg["from"].addresses[0].display_name if msg["from"] else ""
        found |= {w for w in name.replace(",", " ").split() if len(w) > 3}
    return found - TEAM_NAMES


def test_the_organisation_is_the_domain_or_a_personal_address() -> None:
    assert organisation("dsl@oakfield-primary.example.org") == "oakfield-primary.example.org"
    assert organisation("Jo.Bloggs@Gmail.com") == "a personal address"
    assert organisation("someone@hotmail.co.uk") == "a personal address"
    assert organisation("") == "an unknown sender"


def test_minimal_cards_lists_and_the_handover_show_no_personal_data(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    cfg.write_text(cfg.read_text().replace('preview = "redacted"', 'preview = "minimal"'))
    out = shell(cfg, "/duty list\n/duty show 3\n/duty handover\n/duty claim 4\n", who="jo")
    for word in personal_words():
        assert word not in out, f"{word!r} shown in minimal mode"
    assert "+-- #3 Email from police.example.gov.uk" in out
    assert "| From police.example.gov.uk" in out
    assert "+-- #1 Email from example.com" in out
    assert "| 1 attachment" in out  # #4 has one; its name isn't shown
    assert "| Financial, accommodation" in out  # what a worker needs to pick it up


def test_minimal_in_slack_puts_no_subject_or_name_in_any_payload(db: Database) -> None:
    clock = ManualClock(london(2026, 11, 23, 9, 0))
    with SlackHarness(db, clock=clock, config={"privacy": {"preview": "minimal"}}) as h:
        mime = make_email("Welfare check - Callum Reeve", "Callum's sister rang 07700 900123.",
                          sender="PC Dana Whitfield <dana@police.example.gov.uk>",
                          message_id="<p1@x>")  # fmt: skip
        n = take_in(h.db, h.team.name, raw("p1", mime), clock.now(), "minimal").task_number
        h.drain()
        h.command(f"show {n}")
        h.command("list")
        clock.set(london(2026, 11, 23, 16, 30))
        jobs_of(h.bot).run_due()
        h.drain()
        sent = json.dumps([c.params for c in h.fake.calls], ensure_ascii=False)
        for word in ("Callum", "Reeve", "Dana", "Whitfield", "Welfare check", "07700"):
            assert word not in sent
        assert "Email from police.example.gov.uk" in sent


def test_an_aged_purge_leaves_no_message_in_slack_quoting_a_subject(db: Database) -> None:
    """Cards, DMs, reminders, handover posts and the thread lines showing a reply: after the
    content is purged, nothing the bot posted still quotes it (the chat's own edit call)."""
    from tests.slack_harness import ALEX, JO, PRIYA, SAM
    from tests.test_triage import WEEK

    rota = {d: {"manager": JO, "pa1": SAM, "pa2": ALEX, "backup": PRIYA} for d in WEEK}
    clock = ManualClock(london(2026, 11, 23, 9, 0))
    with SlackHarness(db, clock=clock, team={"rota": rota}) as h:
        subjects = ["Zebracorn rent arrears", "Quillfeather welfare check", "Brambleton bursary"]
        numbers = [h.email(sub, f"About {sub}.", message_id=f"<q{i}@x>")
                   for i, sub in enumerate(subjects)]  # fmt: skip
        reply = make_email("Re: Zebracorn rent arrears", "Marigold will pay on Friday.",
                           message_id="<q9@x>", in_reply_to="<q0@x>")  # fmt: skip
        take_in(h.db, h.team.name, raw("q9", reply), clock.now())
        h.drain()
        h.command(f"alert {numbers[0]} <@{ALEX}> please call")
        h.command(f"flag {numbers[1]} safeguarding", user=ALEX)
        h.command(f"claim {numbers[2]}")
        clock.set(london(2026, 11, 23, 9, 45))
        jobs_of(h.bot).run_due()  # unclaimed and safeguarding reminders
        clock.set(london(2026, 11, 23, 16, 30))
        jobs_of(h.bot).run_due()  # the handover
        h.drain()
        before = json.dumps(h.fake.all_messages(), ensure_ascii=False)
        assert all(sub in before for sub in subjects) and "Marigold" in before
        clock.set(london(2026, 12, 24, 9, 0))  # more than 30 days on
        assert jobs_of(h.bot).run_due().purged == 3
        h.drain()
        after = json.dumps(h.fake.all_messages(), ensure_ascii=False)
        for word in (*subjects, "Zebracorn", "Quillfeather", "Brambleton", "Marigold"):
            assert word not in after, f"{word!r} still in Slack after the purge"
        assert "which was removed after 30 days" in after


GUEST, SINGLE, STRANGER, STAFF = "UGUEST0001", "USINGLE001", "USTRANGE01", "USTAFF0001"


def test_alerts_and_workers_go_only_to_the_councils_own_people(db: Database) -> None:
    from sqlalchemy import select

    from storage.models import Outbox

    with SlackHarness(db) as h:
        h.fake.users.update({
            GUEST: {"real_name": "Gus Guest", "is_restricted": True},
            SINGLE: {"real_name": "Sally Single", "is_restricted": True,
                     "is_ultra_restricted": True},
            STRANGER: {"real_name": "Otto Other", "team_id": "T0OTHERORG"},
            STAFF: {"real_name": "Stella Staff"},
        })  # fmt: skip
        n = h.email("Rent arrears")
        h.drain()
        said = {
            who: h.command(f"alert {n} <@{who}> please call").json()["text"]
            for who in (GUEST, SINGLE, STRANGER)
        }
        assert said[GUEST] == (
            "@Gus Guest is a guest in this workspace, so duty work can't go to them. "
            "Choose someone from the council."
        )
        assert said[SINGLE].startswith("@Sally Single is a guest in this workspace")
        assert said[STRANGER] == (
            "@Otto Other is from outside the council, so duty work can't go to them."
        )
        assert (
            h.command(f"worker {n} <@{GUEST}>")
            .json()["text"]
            .startswith("@Gus Guest is a guest in this workspace")
        )
        # The Alert form refuses the same way, in the form.
        refused = h.alert(n, [STAFF, STRANGER], "please call").json()
        assert refused["response_action"] == "errors"
        assert "from outside the council" in refused["errors"]["people"]
        with db.session() as s:
            assert [o.target for o in s.scalars(select(Outbox).where(Outbox.kind == "dm"))] == []
        assert (
            h.command(f"alert {n} <@{STAFF}> please call")
            .json()["text"]
            .startswith(f"Alert sent about #{n} to <@{STAFF}>.")
        )


def test_when_slack_cant_say_who_someone_is_nothing_is_sent(db: Database) -> None:
    with SlackHarness(db) as h:
        h.fake.users[STAFF] = {"real_name": "Stella Staff"}
        n = h.email("Rent arrears")
        h.drain()
        h.fake.fail_next(5, "500", method="users.info")
        said = h.command(f"alert {n} <@{STAFF}>").json()["text"]
        assert said == (
            f"I can't check just now that <@{STAFF}> is one of the council's own people, so "
            "nothing was sent. Try again in a minute."
        ) or said.startswith("I can't check just now that @")


def test_a_team_can_keep_alerts_to_one_user_group(db: Database) -> None:
    with SlackHarness(db, team={"alert_group": "S0ALERTS"}) as h:
        h.fake.users.update({STAFF: {"real_name": "Stella Staff"},
                             "UOTHER0001": {"real_name": "Olly Other"}})  # fmt: skip
        h.fake.usergroups["S0ALERTS"] = [STAFF]
        n = h.email("Rent arrears")
        h.drain()
        assert h.command(f"alert {n} <@UOTHER0001>").json()["text"] == (
            "@Olly Other isn't in the group duty alerts may go to. Ask a duty manager to add them."
        )
        assert h.command(f"alert {n} <@{STAFF}>").json()["text"].startswith("Alert sent")


def test_minimal_in_teams_puts_no_subject_or_name_in_any_payload(db: Database) -> None:
    from tests.teams_harness import SAM as T_SAM
    from tests.teams_harness import TeamsHarness

    clock = ManualClock(london(2026, 11, 23, 9, 0))
    with TeamsHarness(db, clock=clock, config={"privacy": {"preview": "minimal"}}) as h:
        mime = make_email("Welfare check - Callum Reeve", "Callum's sister rang 07700 900123.",
                          sender="PC Dana Whitfield <dana@police.example.gov.uk>",
                          message_id="<p1@x>")  # fmt: skip
        n = take_in(h.db, h.team.name, raw("p1", mime), clock.now(), "minimal").task_number
        h.drain()
        h.say(f"show {n}", user=T_SAM)
        h.say("list", user=T_SAM, where="dm")
        h.press("claim", n, user=T_SAM)
        clock.set(london(2026, 11, 23, 16, 30))
        jobs_of(h.bot).run_due()
        h.drain()
        h.fake.wait_for(lambda: len(h.dms(T_SAM)) >= 2)
        sent = json.dumps([c.body for c in h.fake.calls], ensure_ascii=False)
        for word in ("Callum", "Reeve", "Dana", "Whitfield", "Welfare check", "07700"):
            assert word not in sent
        assert "Email from police" in sent


def test_an_aged_purge_leaves_no_message_in_teams_quoting_a_subject(db: Database) -> None:
    """As in Slack: cards, DMs, reminders, handover posts and thread lines, rewritten in
    place (update activity) once the content is purged."""
    from tests.teams_harness import ALEX, JO, PRIYA, SAM, TeamsHarness
    from tests.test_triage import WEEK

    rota = {d: {"manager": JO, "pa1": SAM, "pa2": ALEX, "backup": PRIYA} for d in WEEK}
    clock = ManualClock(london(2026, 11, 23, 9, 0))
    with TeamsHarness(db, clock=clock, team={"rota": rota}) as h:
        subjects = ["Zebracorn rent arrears", "Quillfeather welfare check", "Brambleton bursary"]
        numbers = [h.email(sub, f"About {sub}.", message_id=f"<q{i}@x>")
                   for i, sub in enumerate(subjects)]  # fmt: skip
        reply = make_email("Re: Zebracorn rent arrears", "Marigold will pay on Friday.",
                           message_id="<q9@x>", in_reply_to="<q0@x>")  # fmt: skip
        take_in(h.db, h.team.name, raw("q9", reply), clock.now())
        h.drain()
        h.say(f"alert {numbers[0]} please call", user=SAM, where="dm")
        h.say(f"flag {numbers[1]} safeguarding", user=ALEX, where="dm")
        h.say(f"claim {numbers[2]}", user=SAM, where="dm")
        clock.set(london(2026, 11, 23, 9, 45))
        jobs_of(h.bot).run_due()  # unclaimed and safeguarding reminders
        clock.set(london(2026, 11, 23, 16, 30))
        jobs_of(h.bot).run_due()  # the handover
        h.drain()

        def everything() -> str:
            return json.dumps([p.activity for p in h.fake.all_posts()], ensure_ascii=False)

        before = everything()
        assert all(sub in before for sub in subjects) and "Marigold" in before
        clock.set(london(2026, 12, 24, 9, 0))  # more than 30 days on
        assert jobs_of(h.bot).run_due().purged == 3
        h.drain()
        after = everything()
        for word in (*subjects, "Zebracorn", "Quillfeather", "Brambleton", "Marigold"):
            assert word not in after, f"{word!r} still in Teams after the purge"
        assert "which was removed after 30 days" in after
