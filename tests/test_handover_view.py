"""The handover worth reading (seeds/000): the day's money and housing requests with their
state and outcome, each task linking to its card in Slack, a busy day split over messages
in order, and the same sections in the email to the duty inbox."""

from __future__ import annotations

import json
from pathlib import Path

from bot.kernel.clock import ManualClock
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.intake import take_in
from bot.tasks.triage import sorter
from storage.db import Database
from tests.mail import make_email, raw
from tests.slack_harness import SlackHarness
from tests.test_handover import drain, jobs_of, london, make_bot, posts
from tests.test_triage import WEEK, mail_in


def test_the_days_money_and_housing_requests_have_their_own_section(
    db: Database, tmp_path: Path
) -> None:
    clock = ManualClock(london(2026, 11, 23, 9, 30))
    bot = make_bot(db, clock, rota=WEEK)
    jobs = jobs_of(bot)
    jobs.handover.mailbox = FolderMailbox(tmp_path)
    rent = mail_in(bot, "Rent arrears", "I owe my landlord £420.")
    bursary = mail_in(bot, "Bursary", "My bursary payment is late.")
    grant = mail_in(bot, "Grant form", "Can I apply for the leaving care grant?")
    mail_in(bot, "School trip", "Can Mia go on the trip?")
    team = bot.team()
    team.command("sam", f"/duty resolve {rent} agreed a payment plan with the landlord")
    team.command("alex", f"/duty claim {bursary}")
    team.command("alex", f"/duty note {bursary} chased the college")
    clock.set(london(2026, 11, 23, 16, 30))
    jobs.run_due()
    (post,) = posts(drain(db))
    section = post.split("Financial and accommodation requests today (3):\n")[1].splitlines()
    assert section[:3] == [
        f"  #{rent} Rent arrears, resolved by @sam: agreed a payment plan with the landlord",
        f"  #{bursary} Bursary, with @alex (last note: chased the college)",
        f"  #{grant} Grant form, open and unclaimed",
    ]
    jobs.run_due()  # the email, the same sections in plain text
    (sent,) = (tmp_path / "Outbox").glob("*.eml")
    body = sent.read_text()
    assert "Financial and accommodation requests today (3):" in body
    assert "agreed a payment plan with the landlord" in body


def test_in_slack_the_handover_has_headers_and_each_task_links_to_its_card(
    db: Database,
) -> None:
    clock = ManualClock(london(2026, 11, 23, 9, 30))
    with SlackHarness(db, clock=clock) as h:
        n = take_in(
            h.db, h.team.name, raw("h1", make_email("Rent arrears", "I owe £420.",
                                                    message_id="<h1@x>")),
            clock.now(), sort=sorter(h.team),
        ).task_number  # fmt: skip
        h.drain()
        clock.set(london(2026, 11, 23, 16, 30))
        jobs_of(h.bot).run_due()
        h.drain()
        (post,) = [m for m in h.fake.messages(h.team.channel) if "metadata" in m
                   and m["metadata"]["event_type"] == "duty_message"]  # fmt: skip
        assert post["text"] == "Duty handover for Mon 23 Nov: 1 open, 0 resolved"
        headers = [b["text"]["text"] for b in post["blocks"] if b["type"] == "header"]
        assert headers == [
            "Came in today: 1",
            "Resolved today: 0",
            "Financial and accommodation requests today (1)",
            "Open and unclaimed (1)",
        ]
        card_ts = h.card(n)["ts"].replace(".", "")
        link = f"<https://dutyteam.slack.com/archives/{h.team.channel}/p{card_ts}|#{n}>"
        assert json.dumps(post["blocks"]).count(link.replace("|", "|")) >= 3


def test_a_busy_day_goes_as_several_messages_in_order_each_inside_slacks_limits(
    db: Database,
) -> None:
    clock = ManualClock(london(2026, 11, 23, 9, 30))
    with SlackHarness(db, clock=clock) as h:
        for i in range(260):
            h.email(f"Request {i:03d} " + "x" * 120)
        clock.set(london(2026, 11, 23, 16, 30))
        jobs_of(h.bot).run_due()
        h.drain(rounds=200)
        pages = [m for m in h.fake.messages(h.team.channel)
                 if (m.get("metadata") or {}).get("event_type") == "duty_message"]  # fmt: skip
        assert len(pages) == 5  # 1 + 260 came in + 1 + 1 + 260 open = 523 lines, 120 a page
        firsts = [p["blocks"][0]["text"]["text"].splitlines()[0] for p in pages]
        assert firsts[0].startswith("Duty handover for Mon 23 Nov, to Tue 24 Nov")
        assert [f.endswith(f"(part {i} of 5)") for i, f in enumerate(firsts, 1)] == [True] * 5
        for page in pages:
            assert len(page["blocks"]) <= 50
            assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in page["blocks"])
        shown = "\n".join(json.dumps(p["blocks"]) for p in pages)
        for i in range(260):  # every task, once among the open ones, in order
            assert shown.count(f"Request {i:03d} ") == 2
        assert shown.index("Request 000 ") < shown.index("Request 259 ")
