"""Slack end to end: the bot in HTTP mode (waitress + bolt) against the fake Slack Web API.

Every request is signed and sent over real HTTP as Slack sends it; every answer the bot gives
Slack is read back from the fake. Runs on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.kernel.clock import ManualClock
from handlers.pacing import Pacer
from storage import tasks as q
from storage.db import Database
from tests.slack_harness import (
    ALEX,
    CHANNEL,
    JO,
    OUTSIDER,
    PRIYA,
    SAM,
    SlackHarness,
    buttons,
    card_text,
)

EVIL = "<!channel> <@U123> <https://evil|click>"
EVIL_ESCAPED = "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|click&gt;"


def events(h: SlackHarness, number: int, kind: str | None = None) -> list[Any]:
    with h.db.session() as s:
        found = q.events_of_task(s, h.task_id(number))
        return [e for e in found if kind is None or e.kind == kind]


def task(h: SlackHarness, number: int) -> Any:
    with h.db.session() as s:
        return q.task_by_number(s, h.team.name, number)


def sent(h: SlackHarness, method: str = "chat.postMessage") -> list[Any]:
    """Calls that Slack answered normally (faulted attempts left out)."""
    return [c for c in h.fake.calls_to(method) if c.fault is None]


def wait_ephemeral(h: SlackHarness, user: str) -> str:
    found = h.fake.wait_for(lambda: h.ephemerals(user))
    return str(found[-1]["text"])


def all_texts(message: dict[str, Any]) -> str:
    return str(message.get("text", "")) + "\n" + card_text(message)


# ---- security: escaping and signatures -------------------------------------------------


def test_outside_text_reaches_slack_as_literal_text(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email(subject=EVIL, sender=f"{EVIL} <x@example.org>", body=f"Hi {EVIL} & bye")
        h.drain()
        card = h.card(n)
        shown = card_text(card)
        assert EVIL_ESCAPED in shown  # the subject, the sender and the preview
        assert shown.count(EVIL_ESCAPED) == 3
        assert "<!channel>" not in json.dumps(card) and "<@U123>" not in json.dumps(card)
        assert "<https://evil" not in json.dumps(card)

        h.resolve(n, note="Rang back <!here> & <@U999>")
        h.drain()
        reply = h.thread(n)[-1]["text"]
        assert "&lt;!here&gt; &amp; &lt;@U999&gt;" in reply and "<!here>" not in reply
        assert "&lt;!here&gt;" in card_text(h.card(n))
        for call in h.fake.calls_to("chat.postMessage") + h.fake.calls_to("chat.update"):
            assert "link_names" not in call.params and "parse" not in call.params


def test_forged_and_stale_signatures_get_401_and_change_nothing(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        from tests.fakes.slack_signing import slash_command_body

        body = slash_command_body("/duty", f"claim {n}", user_id=SAM, channel_id=CHANNEL)
        forged = h.post(body, secret="not-the-signing-secret")
        stale = h.post(body, timestamp=int(time.time()) - 6 * 60)
        unsigned = h.post(body, sign=False)
        assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
        assert task(h, n).state == "open"
        assert h.post(body).status_code == 200  # the same request, properly signed, works
        assert task(h, n).state == "claimed"


# ---- roles and places -----------------------------------------------------------------


def test_a_non_members_claim_is_refused_with_a_plain_sentence(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        assert h.click("duty_claim", n, user=OUTSIDER).status_code == 200
        said = wait_ephemeral(h, OUTSIDER)
        assert said == "Only members of the duty team can do that. Ask a duty manager to add you."
        reply = h.command(f"claim {n}", user=OUTSIDER).json()
        assert reply["response_type"] == "ephemeral"
        assert "Only members of the duty team" in reply["text"]
        h.drain()
        assert task(h, n).state == "open" and not events(h, n, "claimed")
        assert not sent(h, "chat.update")


def test_task_actions_only_from_the_team_channel_a_dm_or_app_home(db: Database) -> None:
    with SlackHarness(db) as h:
        one, two, three = h.email(), h.email(), h.email()
        h.drain()
        h.click("duty_claim", one, channel="C0ELSEWHERE")
        assert wait_ephemeral(h, SAM).startswith("Use /duty in the duty channel")
        reply = h.command(f"claim {one}", channel="C0ELSEWHERE").json()
        assert reply["text"].startswith("Use /duty in the duty channel")
        assert task(h, one).state == "open"

        h.command(f"claim {one}", channel=f"D{SAM}")  # a DM with the bot
        h.click("duty_claim", two, user=ALEX, container="home")
        h.click("duty_claim", three, user=PRIYA, channel=CHANNEL)
        assert [task(h, n).claimed_by for n in (one, two, three)] == [SAM, ALEX, PRIYA]


def test_group_membership_is_looked_up_once_and_cached(db: Database) -> None:
    worker = "UGROUP0001"
    with SlackHarness(db, team={"members": [], "member_group": "S0DUTYTEAM"}) as h:
        h.fake.usergroups["S0DUTYTEAM"] = [worker, SAM]
        a, b = h.email(), h.email()
        h.drain()
        h.click("duty_claim", a, user=worker)
        h.command(f"claim {b}", user=SAM)
        h.click("duty_claim", b, user=OUTSIDER)
        assert task(h, a).claimed_by == worker and task(h, b).claimed_by == SAM
        assert "Only members" in wait_ephemeral(h, OUTSIDER)
        lookups = h.fake.calls_to("usergroups.users.list")
        assert [c.params["usergroup"] for c in lookups] == ["S0DUTYTEAM"]


# ---- claims ----------------------------------------------------------------------------


def test_a_double_clicked_claim_makes_one_event_and_one_card_update(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        first = h.click("duty_claim", n)
        second = h.click("duty_claim", n)
        assert first.status_code == second.status_code == 200
        h.drain()
        assert len(events(h, n, "claimed")) == 1
        assert [r["text"] for r in h.thread(n)] == ["Claimed by @Sam."]
        assert len(sent(h, "chat.update")) == 1
        assert wait_ephemeral(h, SAM) == f"You already have #{n}."


def test_two_concurrent_claims_have_one_winner(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        start = threading.Barrier(2)

        def claim(user: str) -> int:
            start.wait()
            return h.click("duty_claim", n, user=user).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(claim, [SAM, ALEX]))
        assert codes == [200, 200]
        h.drain()
        claims = events(h, n, "claimed")
        assert len(claims) == 1
        winner = claims[0].actor
        loser = ALEX if winner == SAM else SAM
        assert task(h, n).claimed_by == winner
        assert wait_ephemeral(h, loser).startswith(f"#{n} is already claimed by @")
        assert len(h.thread(n)) == 1


# ---- the card through its life -----------------------------------------------------------


def test_claim_resolve_reopen_each_update_the_card_and_add_one_quiet_reply(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        ts = h.card(n)["ts"]
        assert set(buttons(h.card(n))) == {"Claim", "Resolve", "Alert", "Acknowledge"}

        h.click("duty_claim", n)
        h.drain()
        assert "Claimed by @Sam at 10:00" in card_text(h.card(n))
        assert set(buttons(h.card(n))) == {"Resolve", "Alert", "Acknowledge"}

        h.resolve(n, note="Recorded on Mosaic")
        h.drain()
        assert "Resolved by @Sam: Recorded on Mosaic" in card_text(h.card(n))
        assert set(buttons(h.card(n))) == {"Reopen"}

        h.click("duty_reopen", n, user=ALEX)
        h.drain()
        assert "Open: nobody has claimed this yet" in card_text(h.card(n))

        updates = sent(h, "chat.update")
        assert len(updates) == 3 and {c.params["ts"] for c in updates} == {ts}
        assert len(h.cards()) == 1  # updated in place, never re-posted
        replies = [r["text"] for r in h.thread(n)]
        assert replies == [
            "Claimed by @Sam.",
            "Resolved by @Sam: Recorded on Mosaic",
            "Reopened by @Alex.",
        ]
        assert not any("<@" in r or "<!" in r for r in replies)  # pings nobody


def test_the_resolve_modal_checklist_is_stored_in_the_event(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        h.click("duty_resolve", n)
        modal = h.fake.wait_for(h.fake.views_opened)[-1]["view"]
        labels = json.dumps(modal["blocks"])
        for item in (
            "Recorded as a case note on Mosaic/LCS",
            "Allocated worker and team leader alerted",
            "Follow-up agreed",
        ):
            assert item in labels
        assert "Not yet" in labels  # shown, not ticked: no alert has reached them
        assert json.loads(modal["private_metadata"])["args"] == str(n)

        # A tick for "alerted" sent anyway (a forged form) counts for nothing.
        r = h.resolve(n, "Advice given", ("case_note", "alerted"), follow_up="2026-11-25")
        assert r.status_code == 200 and r.text == ""
        (ev,) = events(h, n, "resolved")
        assert ev.note == "Advice given"
        assert ev.data["checklist"] == {
            "case_note": True,
            "alerted": False,
            "follow_up": True,
            "follow_up_date": "2026-11-25",
        }
        with h.db.session() as s:
            (fu,) = q.follow_ups_of_task(s, h.task_id(n))
            assert fu.owner == SAM and fu.due_at.isoformat().startswith("2026-11-25T09:00")
        h.drain()
        assert h.thread(n)[-1]["text"] == (
            "Resolved by @Sam: Advice given Follow-up agreed for Wed 25 Nov 09:00."
        )


def test_a_resolve_without_a_note_is_sent_back_to_the_form(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        r = h.resolve(n, "")
        assert r.json()["response_action"] == "errors"
        assert "say what was done" in r.json()["errors"]["note"]
        past = h.resolve(n, "Done", follow_up="2026-11-20")
        assert "already passed" in past.json()["errors"]["follow_up_date"]
        assert task(h, n).state == "open"


def test_an_alert_dms_each_person_with_a_permalink_and_pings_only_them(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email(subject="Rent arrears")
        h.drain()
        h.click("duty_alert", n)
        modal = h.fake.wait_for(h.fake.views_opened)[-1]["view"]
        assert modal["callback_id"] == "duty_alert"
        assert h.alert(n, [ALEX, PRIYA], "rang about rent").status_code == 200
        h.drain()
        card_ts = h.card(n)["ts"].replace(".", "")
        for person in (ALEX, PRIYA):
            (dm,) = h.dms(person)
            shown = card_text(dm)
            assert "@Sam alerted you to duty task #1: Rent arrears" in shown
            assert "rang about rent" in shown
            assert f"https://dutyteam.slack.com/archives/{CHANNEL}/p{card_ts}" in shown
            # The notification says what it is, and nothing personal (no subject, no note).
            assert dm["text"] == "Alert about duty task #1"
        assert h.dms(SAM) == []
        reply = h.thread(n)[-1]["text"]
        assert reply == f"<@{ALEX}>, <@{PRIYA}> alerted by @Sam: rang about rent"


def test_flagging_safeguarding_dms_the_days_duty_manager(db: Database) -> None:
    rota = {"mon": {"manager": JO, "pa1": SAM, "backup": PRIYA}}
    with SlackHarness(db, team={"rota": rota}) as h:
        n = h.email()
        h.drain()
        reply = h.command(f"flag {n} safeguarding").json()["text"]
        assert reply == f"#{n} is flagged safeguarding. The duty manager has been told."
        h.drain()
        for person in (JO, PRIYA):  # today's duty manager and back-up
            (dm,) = h.dms(person)
            assert "Safeguarding: @Sam flagged duty task #1" in card_text(dm)
            assert "call 999" in card_text(dm)
        assert h.dms(ALEX) == []
        assert "SAFEGUARDING" in card_text(h.card(n))


# ---- what Slack shows -------------------------------------------------------------------


def test_notifications_are_generic_and_nothing_unfurls(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email(subject="Child at risk: Jordan Smith, 12 Acacia Road")
        h.drain()
        h.click("duty_claim", n)
        h.alert(n, [ALEX], "see https://example.org/case")
        h.drain()
        posts = sent(h)
        card_post = next(c for c in posts if c.json("metadata"))
        assert card_post.params["text"] == f"New duty task #{n}"
        assert sent(h, "chat.update")[0].params["text"] == f"Duty task #{n}"
        assert "Jordan" not in json.dumps([c.params.get("text") for c in posts])
        for call in posts:  # the card, the thread replies and the DM
            assert call.params["unfurl_links"] is False
            assert call.params["unfurl_media"] is False


def test_cards_stay_within_slacks_limits(db: Database) -> None:
    with SlackHarness(db, config={"privacy": {"preview": "full"}}) as h:
        n = h.email(subject="&<>" * 2000, body=("A very long line & more " * 400 + "\n") * 5)
        h.drain()
        card = h.card(n)
        assert card is not None and len(card["blocks"]) <= 50
        for block in card["blocks"]:
            for text in _texts(block):
                assert len(text) <= 3000
        head = card["blocks"][0]["text"]["text"]
        assert head.endswith("…") and "&amp;&lt;&gt;" in head
        assert not head.removesuffix("…").endswith(("&", "&a", "&am", "&amp", "&l", "&lt"))


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def test_open_in_outlook_appears_only_with_a_web_link(db: Database) -> None:
    link = "https://outlook.office365.com/owa/?ItemID=AAMk%2Fx&exvsurl=1&viewmodel=ReadMessageItem"
    with SlackHarness(db) as h:
        with_link = h.email(web_link=link)
        without = h.email()
        h.drain()
        button = buttons(h.card(with_link))["Open in Outlook"]
        assert button["url"] == link
        assert "Open in Outlook" not in buttons(h.card(without))
        assert h.click("duty_outlook", with_link).status_code == 200


# ---- App Home and event retries ----------------------------------------------------------


def test_app_home_shows_my_tasks_open_tasks_overdue_and_todays_rota(db: Database) -> None:
    clock = ManualClock(time_at("2026-11-23T09:00:00+00:00"))
    rota = {"mon": {"manager": JO, "pa1": SAM, "pa2": ALEX, "backup": PRIYA}}
    with SlackHarness(db, clock=clock, team={"rota": rota}) as h:
        mine, waiting = h.email("Mine"), h.email("Waiting")
        h.drain()
        h.command(f"claim {mine}")
        h.command(f"followup {mine} today 10:00 ring the school")
        clock.advance(timedelta(hours=2))  # 11:00: the follow-up is an hour late
        fresh = h.email("Fresh")  # arrives just now
        h.drain()
        h.open_home(SAM)
        (view,) = h.fake.wait_for(lambda: h.fake.views_published(SAM))
        blocks = view["blocks"]
        headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
        assert headers == [
            "Log a contact",  # its "New contact" button: tests/test_contacts.py
            "My claimed tasks",
            "Open tasks nobody has claimed",
            "Overdue",
            "Today's rota, Mon 23 Nov",
        ]
        text = card_text(view)
        assert f"#{mine} Mine (@Sam)" in text
        assert f"#{waiting} Waiting (unclaimed)" in text
        assert f"Follow-up on #{mine} was due Mon 23 Nov 10:00 (@Sam)" in text
        assert f"#{waiting} unclaimed since Mon 23 Nov 09:00" in text  # arrived at 09:00
        assert f"#{fresh} unclaimed" not in text
        for line in ("Duty manager: @Jo", "PA 1: @Sam", "PA 2: @Alex", "Back-up: @Priya"):
            assert line in text
        claim_buttons = [
            b["accessory"]["value"]
            for b in blocks
            if (b.get("accessory") or {}).get("action_id") == "duty_claim"
        ]
        assert f"{h.team.name}:{waiting}" in claim_buttons

        h.click("duty_claim", waiting, container="home")  # claimed from App Home
        assert task(h, waiting).claimed_by == SAM
        redrawn = h.fake.wait_for(lambda: h.fake.views_published(SAM)[1:])
        assert f"#{waiting} Waiting (@Sam)" in card_text(redrawn[-1])

        h.open_home(OUTSIDER)
        (theirs,) = h.fake.wait_for(lambda: h.fake.views_published(OUTSIDER))
        assert "not on a duty team" in card_text(theirs)


def time_at(iso: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(iso)


def test_a_retried_event_is_handled_once(db: Database) -> None:
    with SlackHarness(db) as h:
        first = h.open_home(SAM, event_id="Ev0ONE")
        h.fake.wait_for(lambda: h.fake.views_published(SAM))
        again = h.open_home(SAM, event_id="Ev0ONE", retry_num=1)
        twice = h.open_home(SAM, event_id="Ev0ONE", retry_num=2)
        assert first.status_code == again.status_code == twice.status_code == 200
        # A retry of a delivery we never got is handled, once.
        h.open_home(SAM, event_id="Ev0LOST", retry_num=1)
        h.fake.wait_for(lambda: len(h.fake.views_published(SAM)) >= 2)
        h.slack.close()  # let every lazy listener finish
        assert len(h.fake.views_published(SAM)) == 2


# ---- exactly-once cards under faults -----------------------------------------------------


def test_a_429_storm_ends_with_every_card_posted_once(db: Database) -> None:
    with SlackHarness(db) as h:
        h.fake.retry_after = 0
        numbers = [h.email(subject=f"Email {i}") for i in range(6)]
        h.fake.rate_limit_per_channel = 4.0  # Slack's per-channel limit, and on top of it
        h.fake.fail_next(8, "429", method="chat.postMessage")  # a storm of 429s
        for _ in range(10):
            if not h.drain().waiting:
                break
        for n in numbers:
            assert len(h.cards_of(n)) == 1
            assert task(h, n).card_state == "posted"
        throttled = [c for c in h.fake.calls_to("chat.postMessage") if c.fault]
        assert len(throttled) >= 8


@pytest.mark.parametrize("fault", ["500-after-post", "hang-after-post"])
def test_a_post_lost_on_the_way_back_is_found_not_posted_again(db: Database, fault: str) -> None:
    """Slack stored the card but the answer never came: the restarted bot finds it."""
    fake = None
    with SlackHarness(db) as h:
        fake = h.fake
        fake.hang_seconds = 1.0
        n = h.email()
        fake.fail_next(1, fault, method="chat.postMessage")
        assert h.drain().waiting
        assert task(h, n).card_state == "posting"
        assert len(h.cards_of(n)) == 1  # Slack has it; the database doesn't know
    restarted = SlackHarness(db, fake=fake)  # a new process on the same database
    with restarted as h2:
        h2.drain()
        assert len(h2.cards_of(n)) == 1
        found = task(h2, n)
        assert (found.card_state, found.card_ts) == ("posted", h2.card(n)["ts"])
        h2.click("duty_claim", n)
        h2.drain()
        assert "Claimed by @Sam" in card_text(h2.card(n))
        assert len(h2.cards()) == 1


def test_while_slack_is_down_tasks_wait_and_post_when_it_is_back(db: Database) -> None:
    with SlackHarness(db) as h:
        h.fake.failure_rate = 1.0
        h.fake.failure_kinds = ["503", "reset", "500"]
        numbers = [h.email(subject=f"Email {i}") for i in range(3)]
        assert h.drain().waiting
        assert all(task(h, n).card_state in ("pending", "posting") for n in numbers)
        h.fake.failure_rate = 0.0
        h.drain()
        assert [len(h.cards_of(n)) for n in numbers] == [1, 1, 1]


def test_posts_to_one_channel_are_paced_from_when_the_last_went_through() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(1.0, clock=lambda: now[0], sleep=sleep)
    with pacer.paced("C1"):
        pass  # the first post goes at once
    with pacer.paced("C2"):
        pass  # another channel does not wait
    with pacer.paced("C1"):
        now[0] += 5.0  # this post waited out a 429 for 5 s
    with pacer.paced("C1"):
        pass
    assert slept == [1.0, 1.0]


def test_a_channel_at_slacks_posting_limit_takes_cards_and_replies_without_429s(
    db: Database,
) -> None:
    with SlackHarness(db, pace_seconds=1.0) as h:
        h.fake.rate_limit_per_channel = 1.0  # Slack: about one message a second a channel
        numbers = [h.email(subject=f"Email {i}") for i in range(4)]
        h.drain()
        for n in numbers[:2]:
            h.click("duty_claim", n)
        h.drain()
        limited = [c for c in h.fake.calls_to("chat.postMessage") if c.fault == "ratelimited"]
        assert limited == []
        assert [len(h.cards_of(n)) for n in numbers] == [1, 1, 1, 1]
        assert [len(h.thread(n)) for n in numbers] == [1, 1, 0, 0]


# ---- Slack says no -----------------------------------------------------------------------


def test_a_card_deleted_in_slack_is_posted_again_on_its_next_change(db: Database) -> None:
    with SlackHarness(db) as h:
        n, other = h.email(), h.email()
        h.drain()
        old = h.card(n)
        slack = WebClient(token="xoxb-someone", base_url=h.fake.url)
        slack.chat_delete(channel=CHANNEL, ts=old["ts"])  # someone deleted the card
        h.click("duty_claim", n)
        h.click("duty_claim", other, user=ALEX)
        h.drain()
        (card,) = h.cards_of(n)
        assert card["ts"] != old["ts"] and "Claimed by @Sam" in card_text(card)
        assert [r["text"] for r in h.thread(n)] == ["Claimed by @Sam."]
        assert "Claimed by @Alex" in card_text(h.card(other))  # the others were not held up


def test_a_dm_slack_refuses_is_dropped_without_holding_up_the_rest(db: Database) -> None:
    gone = "UGONE00001"  # an account Slack won't open a DM with (closed since it was checked)
    with SlackHarness(db) as h:
        h.fake.users[gone] = {"real_name": "Gone Person"}
        n = h.email()
        h.drain()
        h.fake.undmable_users.add(gone)
        h.alert(n, [gone, ALEX], "rang about rent")
        h.click("duty_claim", n)
        h.drain()
        assert h.dms(gone) == [] and len(h.dms(ALEX)) == 1
        assert "Claimed by @Sam" in card_text(h.card(n))
        with h.db.session() as s:
            assert q.pending_messages(s, h.team.name) == []


def test_a_channel_the_bot_is_not_in_holds_the_cards_until_it_is_invited(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with SlackHarness(db, team={"channel": "C0NOTIN"}) as h:
        h.fake.not_in_channels.add("C0NOTIN")
        n = h.email()
        assert h.drain().waiting
        assert task(h, n).card_state in ("pending", "posting")
        assert "invite the bot" in caplog.text
        h.fake.not_in_channels.clear()
        h.drain()
        assert len(h.cards_of(n)) == 1


def test_the_stale_claim_buttons_in_a_dm_work(db: Database) -> None:
    """The nudge DM's "Still on it" and "Release" carry only the task number."""
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        h.click("duty_claim", n)
        dm = f"D{SAM}"
        h.click("duty_still_on_it", n, channel=dm, value=str(n))
        assert wait_ephemeral(h, SAM) == f"Thanks. #{n} stays with you."
        assert len(events(h, n, "still_on_it")) == 1
        h.click("duty_release", n, channel=dm, value=str(n))
        h.drain()
        assert task(h, n).state == "open"
        assert "Open: nobody has claimed this yet" in card_text(h.card(n))
        h.click("duty_still_on_it", n, user=ALEX, channel=f"D{ALEX}", value=str(n))
        assert "isn't claimed by you" in wait_ephemeral(h, ALEX)


def test_a_click_during_a_long_delivery_pass_is_not_held_up_by_it(db: Database) -> None:
    with SlackHarness(db) as h:
        n = h.email(subject="Rent arrears")
        h.drain()
        # A delivery pass under way, as while a backlog of cards goes out at 1 a second.
        with h.runner._locks[h.team.name]:  # noqa: SLF001
            assert h.click("duty_claim", n, container="home").status_code == 200
            h.fake.wait_for(lambda: h.fake.views_published(SAM), timeout=10)  # App Home redrawn
        h.drain()  # the pass after it takes the change
        assert "Claimed by @Sam" in card_text(h.card(n))


def test_a_reply_shows_in_the_cards_thread_with_a_link_to_it_in_outlook(db: Database) -> None:
    from bot.mail.intake import take_in
    from bot.mail.mailbox import RawMessage
    from tests.mail import make_email

    with SlackHarness(db) as h:
        n = h.email("Rent arrears", message_id="<root@example.org>")
        h.drain()
        link = "https://outlook.office.com/mail/inbox/id/AAMk-reply"
        reply = make_email(
            "Re: Rent arrears",
            "I can pay £50 on Friday. <!channel>",
            message_id="<r@example.org>",
            in_reply_to="<root@example.org>",
        )
        take_in(h.db, h.team.name, RawMessage("r", reply, web_link=link), h.clock.now())
        h.drain()
        (said,) = [m for m in h.thread(n) if m["text"].startswith("A new email arrived")]
        assert "Re: Rent arrears" in said["text"] and "I can pay £50 on Friday." in said["text"]
        assert "<!channel>" not in json.dumps(said)  # escaped, as on a card
        assert buttons(said)["Open in Outlook"]["url"] == link
