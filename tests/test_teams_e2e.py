"""Teams end to end: the bot behind /api/messages (the Agents SDK's aiohttp hosting) against
the fake Bot Connector, with every token validated for real.

Each activity goes over real HTTP with a Bot Framework token the local issuer signed; the SDK
fetches the keys from login.botframework.com and signs the bot in at login.microsoftonline.com
through a local HTTPS proxy and CA. What the bot sent Teams is read back from the fake. Runs
on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.teams.server import teams_probe
from storage.db import Database
from tests.duty_harness import events, task
from tests.teams_harness import (
    ALEX,
    APP_ID,
    CHANNEL,
    JO,
    OUTSIDER,
    PRIYA,
    SAM,
    TeamsHarness,
    actions,
    card_text,
    invoke_card,
)

EVIL = "[click](https://evil.example) <at>Jo</at> **now**"


def posts_made(h: TeamsHarness) -> int:
    """Posts Teams took (answered 201), card or message, across every conversation."""
    return len([c for c in h.fake.calls if c.method == "POST" and "/activities" in c.path
                and c.fault in (None, "500-after-post")])  # fmt: skip


def texts(posts: list[Any]) -> list[str]:
    return [card_text(p.card) for p in posts]


# ---- an email becomes one card ---------------------------------------------------------------


def test_an_email_becomes_one_card_with_its_buttons_and_no_markdown_from_outside(
    db: Database,
) -> None:
    with TeamsHarness(db) as h:
        n = h.email(subject=EVIL, body=EVIL)
        assert h.drain().posted == 1
        (post,) = h.cards()
        card = post.card
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
        assert set(actions(card)) == {"Claim", "Resolve", "Alert", "Acknowledge"}
        assert {a["type"] for a in card["actions"]} == {"Action.Execute"}
        shown = card_text(card)
        assert f"#{n}" in shown
        # No link, mention, emphasis, heading or list can come from the email.
        assert "\\[click\\](https://evil.example)" in shown
        assert "\\<at\\>Jo\\</at\\>" in shown and "\\*\\*now\\*\\*" in shown
        assert "msteams" not in card  # no mention entities at all
        # The notification says only that a task came.
        assert post.activity["summary"] == f"New duty task #{n}"
        assert h.drain().posted == 0 and len(h.cards()) == 1


def test_forged_stale_and_wrong_audience_tokens_get_401_and_change_nothing(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.drain()
        url = h.fake.url
        bad = {
            "forged": h.login.bot_token(service_url=url, key=h.login.stranger_key),
            "stale": h.login.bot_token(service_url=url, issued_at=time.time() - 7200, lifetime=600),
            "wrong audience": h.login.bot_token(
                service_url=url, audience="11111111-2222-4333-8444-555555555555"
            ),
            "none": "",
        }
        for why, token in bad.items():
            activity = h.activity("invoke", SAM, name="adaptiveCard/action", value={
                "action": {"type": "Action.Execute", "verb": "claim",
                           "data": {"team": h.team.name, "args": str(n)}}})  # fmt: skip
            r = h.send(activity, token=token)
            assert r.status_code == 401, why
        assert events(h, n, "claimed") == []
        assert task(h, n).state == "open"
        # A good token still works after all that.
        assert invoke_card(h.press("claim", n))


# ---- buttons: Universal Actions -------------------------------------------------------------


def test_claim_answers_with_the_refreshed_card_then_updates_it_in_place(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.drain()
        post_id = h.card(n).id
        mine = invoke_card(h.press("claim", n, user=SAM))
        assert "Claimed by @Sam at 10:00" in card_text(mine)
        assert set(actions(mine)) == {"Resolve", "Alert", "Acknowledge"}
        h.drain()
        assert h.fake.wait_for(lambda: "Claimed by @Sam" in card_text(h.card(n).card))
        assert h.card(n).id == post_id and len(h.cards()) == 1  # updated, never re-posted
        assert h.fake.wait_for(lambda: texts(h.thread(n))) == ["Claimed by @Sam."]


def test_two_claims_at_once_have_one_winner_and_both_see_who_won(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.drain()
        start = threading.Barrier(2)

        def claim(user: str) -> dict[str, Any]:
            start.wait()
            return invoke_card(h.press("claim", n, user=user))

        with ThreadPoolExecutor(2) as pool:
            cards = dict(zip((SAM, ALEX), pool.map(claim, [SAM, ALEX]), strict=True))
        (won,) = events(h, n, "claimed")
        winner = "Sam" if won.actor == SAM else "Alex"
        loser = ALEX if won.actor == SAM else SAM
        for card in cards.values():
            assert f"Claimed by @{winner} at 10:00" in card_text(card)
        assert f"already claimed by @{winner}" in card_text(cards[loser])
        h.drain()
        assert len(h.fake.wait_for(lambda: h.thread(n))) == 1


def test_the_resolve_form_with_its_checklist_runs_resolve(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.drain()
        form = invoke_card(h.press("resolve", n))
        ids = {e.get("id"): e for e in form["body"] if "id" in e}
        assert ids["note"]["type"] == "Input.Text"
        checklist = ids["checklist"]
        assert checklist["type"] == "Input.ChoiceSet" and checklist["isMultiSelect"]
        assert "Follow-up agreed" in {c["title"] for c in checklist["choices"]}
        assert "Not yet" in card_text(form)  # no alert has reached anyone

        # A note is needed: the form comes back with the note's error on it.
        again = invoke_card(h.submit(form, {"note": "", "checklist": "case_note"}))
        note = next(e for e in again["body"] if e.get("id") == "note")
        assert "say what was done" in note["errorMessage"]
        assert task(h, n).state == "open"

        done = invoke_card(
            h.submit(
                form,
                {
                    "note": "Advice given",
                    "checklist": "case_note,alerted,follow_up",
                    "follow_up_date": "2026-11-25",
                },
            )  # fmt: skip
        )
        assert "Resolved by @Sam: Advice given" in card_text(done)
        (ev,) = events(h, n, "resolved")
        assert ev.data["checklist"] == {"case_note": True, "alerted": False, "follow_up": True,
                                        "follow_up_date": "2026-11-25"}  # fmt: skip
        h.drain()
        assert set(actions(h.card(n).card)) == {"Reopen"}


def test_an_alert_goes_to_each_persons_1_1_chat_with_a_mention_only_there(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email(subject="Rent arrears")
        h.drain()
        form = invoke_card(h.press("alert", n))
        people = next(e for e in form["body"] if e.get("id") == "people")
        assert people["choices.data"]["dataset"] == "graph.microsoft.com/users"
        invoke_card(h.submit(form, {"people": f"{ALEX},{PRIYA}", "note": "rang about rent"}))
        h.drain()
        for person in (ALEX, PRIYA):
            (dm,) = h.fake.wait_for(lambda p=person: h.dms(p))
            shown = card_text(dm.card)
            assert "@Sam alerted you to duty task #1: Rent arrears" in shown
            assert "rang about rent" in shown
            link = actions(dm.card)["Open the card"]
            assert link["url"].startswith("https://teams.microsoft.com/l/message/")
            assert dm.activity["summary"] == "Alert about duty task #1"
        assert h.dms(SAM) == []
        # The thread reply pings the two, with Teams mention entities made by the bot only.
        reply = h.fake.wait_for(lambda: h.thread(n))[-1].card
        mentioned = {e["mentioned"]["id"] for e in reply["msteams"]["entities"]}
        assert mentioned == {ALEX, PRIYA}


def test_the_handover_is_a_card_in_the_channel_and_a_1_1_to_the_next_manager(
    db: Database,
) -> None:
    rota = {"tue": {"manager": PRIYA}}
    with TeamsHarness(db, team={"rota": rota}) as h:
        n = h.email(subject="Rent arrears")
        h.drain()
        h.say("handover post", user=JO, where="dm")
        h.drain()
        handover = [p for p in h.fake.posts(CHANNEL) if "Duty handover" in card_text(p.card)]
        assert len(handover) == 1
        assert f"#{n} Rent arrears" in card_text(handover[0].card)
        assert h.fake.wait_for(
            lambda: [p for p in h.dms(PRIYA) if "Duty handover" in card_text(p.card)]
        )


# ---- typed commands -------------------------------------------------------------------------


def test_commands_in_the_channel_and_the_1_1_chat_run_the_same_catalogue(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.drain()
        assert h.say(f"claim {n}", user=SAM).status_code == 202
        assert task(h, n).claimed_by == SAM
        # In the channel, the answer is a targeted message: only the sender sees it.
        (answer,) = h.fake.targeted_to(f"29:{SAM}")
        assert "claimed" in card_text(answer.card) and h.dms(SAM) == []
        # A tenant without targeted messages: the answer goes to the sender's 1:1 chat.
        h.fake.targeted = False
        h.say(f"show {n}", user=ALEX)
        assert f"#{n}" in card_text(h.fake.wait_for(lambda: h.dms(ALEX))[-1].card)
        assert h.fake.targeted_to(f"29:{ALEX}") == []
        h.say("help", where="dm", user=ALEX)
        helped = card_text(h.fake.wait_for(lambda: h.dms(ALEX)[1:])[-1].card)
        assert "claim N" in helped and "resolve N" in helped
        h.say(f"claim {n}", user=OUTSIDER, where="dm")
        refused = card_text(h.fake.wait_for(lambda: h.dms(OUTSIDER))[-1].card)
        assert "not on a duty team" in refused
        seen_by_all = [p for p in h.fake.posts(CHANNEL) if p.targeted_to is None]
        assert not [p for p in seen_by_all if "claim N" in card_text(p.card)]
        # Chat in the channel that doesn't mention the bot is not for it: no answer at all.
        talk = h.activity("message", PRIYA, text="claim the parking space, anyone?")
        assert h.send(talk).status_code == 202
        assert h.dms(PRIYA) == []
        assert not [c for c in h.fake.calls if PRIYA in json.dumps(c.body or {})]


def test_a_failure_never_shows_exception_caught_or_a_trace(db: Database) -> None:
    with TeamsHarness(db) as h:
        # An invoke whose action is no Action.Execute makes the SDK's handler refuse it...
        h.send(h.activity("invoke", SAM, name="adaptiveCard/action", value={"action": {}}))
        # ...and a message whose turn fails (the connector refuses the bot's reply).
        h.fake.gone(f"a:{SAM}")
        h.say("help", where="dm")
        for call in h.fake.calls:
            said = str(call.body)
            assert "Exception caught" not in said and "Traceback" not in said


# ---- reliability ----------------------------------------------------------------------------


def test_a_post_lost_on_the_way_back_is_found_not_posted_again(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.fake.fail_next(1, "500-after-post")
        assert h.drain().waiting
        assert task(h, n).card_state == "posting"
        h.drain()
        assert len(h.cards_of(n)) == 1
        assert task(h, n).card_ts == h.card(n).id


def test_429_and_5xx_are_retried_after_retry_after(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email()
        h.drain()
        h.fake.fail_next(1, "429")
        h.fake.fail_next(1, "503")
        invoke_card(h.press("claim", n))
        h.drain()
        assert h.fake.wait_for(lambda: "Claimed by @Sam" in card_text(h.card(n).card))
        faulted = [c for c in h.fake.calls if c.fault in ("429", "503")]
        assert len(faulted) == 2
        assert len(h.cards()) == 1 and len(h.thread(n)) == 1


@pytest.mark.slow
def test_a_20_percent_fault_rate_loses_and_doubles_nothing(db: Database) -> None:
    with TeamsHarness(db, retry_seconds=3) as h:
        numbers = [h.email(subject=f"Email {i}") for i in range(8)]
        h.fake.fault_rate(0.2, ("429", "503", "500", "500-after-post"))
        for n in numbers[:4]:
            h.press("claim", n)  # the claim stands whatever Teams answers the card update
        for _ in range(60):
            got = h.runner.deliver(h.team.name)
            if not got.waiting and not (got.posted or got.updated or got.messages):
                break
        h.fake.fault_rate(0)
        h.drain()
        for n in numbers:
            assert len(h.cards_of(n)) == 1, f"#{n}"
        for n in numbers[:4]:
            assert texts(h.thread(n)) == ["Claimed by @Sam."], f"#{n}"
            assert "Claimed by @Sam" in card_text(h.card(n).card)
        assert [c for c in h.fake.calls if c.fault]  # faults really happened


def test_a_conversation_the_bot_was_removed_from_is_one_log_line_and_a_status_problem(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with TeamsHarness(db) as h:
        h.fake.gone(f"a:{ALEX}")
        n = h.email()
        h.drain()
        form = invoke_card(h.press("alert", n))
        invoke_card(h.submit(form, {"people": ALEX, "note": ""}))
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                h.drain()
        said = [r for r in caplog.records if "can't post in conversation" in r.getMessage()]
        assert len(said) == 1
        found = teams_probe(h.config, h.chat)()  # what /healthz and `dutybot status` show
        assert not found.ok and f"Teams refused the conversation a:{ALEX}" in found.detail


def test_the_1_1_chat_has_a_home_page_and_the_new_contact_form(db: Database) -> None:
    with TeamsHarness(db) as h:
        n = h.email(subject="Rent arrears")
        h.drain()
        h.say("home", where="dm")
        home = h.fake.wait_for(lambda: h.dms(SAM))[-1].card
        shown = card_text(home)
        assert "Log a contact" in shown and f"#{n}" in shown
        h.say("new", where="dm")
        form = h.fake.wait_for(lambda: h.dms(SAM)[1:])[-1].card
        inputs = {e["id"]: e for e in form["body"] if "id" in e}
        assert "summary" in inputs
        kinds = next(a for a in form["actions"] if a["verb"] == "submit")["data"]["kinds"]
        values = {name: "" for name in kinds} | {"summary": "Mum rang about a missed payment"}
        for name, kind in kinds.items():
            if kind == "choice":
                values[name] = next(e for e in form["body"] if e.get("id") == name)["choices"][0][
                    "value"
                ]
        answer = invoke_card(h.submit(form, values))
        assert f"#{n + 1}" in card_text(answer)
        h.drain()
        assert len(h.cards()) == 2


def test_people_named_by_work_email_act_and_get_dms_as_themselves(db: Database) -> None:
    team = {
        "members": [SAM, "Alex.Lee@council.example"],
        "names": {SAM: "Sam", JO: "Jo", "Alex.Lee@council.example": "Alex"},
        "rota": {"tue": {"manager": "priya@council.example"}},
        "managers": [JO],
    }
    with TeamsHarness(db, team=team) as h:
        h.fake.members[CHANNEL] = [
            {"id": f"29:{ALEX}", "aadObjectId": ALEX, "name": "Alex Lee",
             "email": "alex.lee@council.example", "userPrincipalName": "alex.lee@council.example"},
            {"id": f"29:{PRIYA}", "aadObjectId": PRIYA, "name": "Priya Shah",
             "email": "priya@council.example", "userPrincipalName": "priya@council.example"},
        ]  # fmt: skip
        n = h.email()
        h.drain()
        card = invoke_card(h.press("claim", n, user=ALEX))
        assert "Claimed by @Alex at 10:00" in card_text(card)
        assert task(h, n).claimed_by == "Alex.Lee@council.example"
        # In the 1:1 chat, where nobody else can be mentioned, a work email after @ will do.
        h.fake.users = {ALEX: {"id": ALEX, "mail": "alex.lee@council.example",
                               "userType": "Member", "accountEnabled": True}}  # fmt: skip
        h.say(f"worker {n} @Alex.Lee@council.example", user=SAM, where="dm")
        said = card_text(h.fake.wait_for(lambda: h.dms(SAM))[-1].card)
        assert task(h, n).worker == "Alex.Lee@council.example", said
        refused = invoke_card(h.press("claim", n + 0, user=OUTSIDER))
        assert "not on a duty team" in card_text(refused) or "Only" in card_text(refused)
        h.say("handover post", user=JO, where="dm")
        h.drain()
        assert h.fake.wait_for(
            lambda: [p for p in h.dms(PRIYA) if "Duty handover" in card_text(p.card)]
        )


def test_roles_from_a_microsoft_365_group_and_no_alert_to_a_guest(db: Database) -> None:
    group = "9a9a9a9a-0000-4000-8000-00000000aaaa"
    guest = "6e6e6e6e-0000-4000-8000-00000000beef"
    with TeamsHarness(db, team={"members": [SAM], "member_group": group}) as h:
        h.fake.users = {
            ALEX: {"id": ALEX, "mail": "alex@council.example", "userType": "Member",
                   "accountEnabled": True},
            PRIYA: {"id": PRIYA, "mail": "priya@council.example", "userType": "Member",
                    "accountEnabled": True},
            guest: {"id": guest, "mail": "gus@partner.example", "userType": "Guest",
                    "accountEnabled": True},
        }  # fmt: skip
        h.fake.groups = {group: [ALEX]}
        n = h.email()
        h.drain()
        assert "Claimed by @Alex" in card_text(invoke_card(h.press("claim", n, user=ALEX)))
        refused = card_text(invoke_card(h.press("resolve", n, user=PRIYA)))
        assert "Claimed by @Alex" in refused and task(h, n).state == "claimed"
        form = invoke_card(h.press("alert", n, user=ALEX))
        again = invoke_card(h.submit(form, {"people": guest, "note": ""}, user=ALEX))
        people = next(e for e in again["body"] if e.get("id") == "people")
        assert "is a guest" in people["errorMessage"]
        h.drain()
        assert h.dms(guest) == []


def mention(h: TeamsHarness, words: str, who: str, name: str, *, user: str = SAM) -> None:
    """ "@dutybot WORDS" in the channel, where "{who}" in WORDS is an @mention of ``who``, as
    Teams sends one: the mention's text and Teams' own id (29:…), not their Entra id."""
    at_bot, at_them = "<at>dutybot</at>", f"<at>{name}</at>"
    entities = [
        {"type": "mention", "text": at_bot, "mentioned": {"id": f"28:{APP_ID}", "name": "dutybot"}},
        {"type": "mention", "text": at_them, "mentioned": {"id": f"29:{who}", "name": name}},
    ]
    said = f"{at_bot} {words.format(who=at_them)}"
    assert h.send(h.activity("message", user, text=said, entities=entities)).status_code == 202


def answers(h: TeamsHarness, user: str = SAM) -> list[str]:
    """The answers only ``user`` saw in the channel (targeted messages), oldest first."""
    return [card_text(p.card) for p in h.fake.targeted_to(f"29:{user}")]


def test_a_person_mentioned_in_a_command_is_that_person_and_whois_gives_their_teams_status(
    db: Database,
) -> None:
    with TeamsHarness(db) as h:
        h.fake.members[CHANNEL] = [
            {"id": f"29:{ALEX}", "aadObjectId": ALEX, "name": "Alex Lee",
             "email": "alex@council.example", "userPrincipalName": "alex@council.example"},
        ]  # fmt: skip
        h.fake.users = {ALEX: {"id": ALEX, "mail": "alex@council.example", "userType": "Member",
                               "accountEnabled": True}}  # fmt: skip
        later = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.0000000")
        h.fake.presence[ALEX] = {
            "availability": "Busy", "activity": "InAMeeting",
            "statusMessage": {"message": {"content": "<p>Back at <b>3</b></p>",
                                          "contentType": "html"},
                              "expiryDateTime": {"dateTime": later, "timeZone": "UTC"}},
        }  # fmt: skip
        n = h.email()
        h.drain()
        mention(h, f"worker {n} {{who}}", ALEX, "Alex Lee")
        assert h.fake.wait_for(lambda: answers(h))
        assert task(h, n).worker == ALEX
        mention(h, "whois {who}", ALEX, "Alex Lee")
        said = h.fake.wait_for(lambda: answers(h)[1:])[-1]
        assert 'status "In a meeting: Back at 3"' in said, said
        # Someone Teams doesn't know in this channel: said plainly, nothing recorded.
        mention(h, f"worker {n} {{who}}", PRIYA, "Priya Shah")
        refused = h.fake.wait_for(lambda: answers(h)[2:])[-1]
        assert refused == (
            "I can't find Priya Shah among this conversation's members: mention someone in "
            "the duty channel, or type their work email after @."
        )
        assert task(h, n).worker == ALEX


def test_without_presence_read_all_whois_says_status_not_known_and_asks_graph_once(
    db: Database,
) -> None:
    with TeamsHarness(db) as h:
        h.fake.users = {ALEX: {"id": ALEX, "mail": "alex@council.example", "userType": "Member",
                               "accountEnabled": True}}  # fmt: skip
        h.fake.presence_granted = False
        for _ in range(2):
            h.say(f"whois @{ALEX}", where="dm")
        said = [card_text(p.card) for p in h.fake.wait_for(lambda: h.dms(SAM)[1:])]
        assert all("status not known" in s for s in said), said
        asked = [c for c in h.fake.calls if c.path.endswith("/presence")]
        assert len(asked) == 1  # not granted: not asked again for an hour


def test_a_channel_the_bot_was_removed_from_holds_the_cards_quietly_until_it_is_back(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with TeamsHarness(db) as h:
        h.fake.gone(CHANNEL)
        n = h.email()
        with caplog.at_level(logging.WARNING):
            for _ in range(4):
                assert h.drain().waiting
        assert task(h, n).card_state in ("pending", "posting")
        assert len([r for r in caplog.records if "can't post in conversation" in r.message]) == 1
        assert len([r for r in caplog.records if "invite the bot" in r.message]) == 1
        posts = [c for c in h.fake.calls if c.path.endswith("/activities")]
        assert len(posts) == 1  # asked once, not on every round
        assert not teams_probe(h.config, h.chat)().ok
        h.fake._gone.clear()  # the app is added to the team again...
        h.say("help", user=SAM)  # ...and the bot hears from the channel
        h.drain()
        assert len(h.cards_of(n)) == 1
        assert teams_probe(h.config, h.chat)().ok


def test_a_retry_after_longer_than_the_bot_waits_is_still_honoured_next_round(
    db: Database,
) -> None:
    with TeamsHarness(db, retry_seconds=1) as h:
        n = h.email()
        h.fake.retry_after = 120  # longer than the bot keeps trying in one round
        h.fake.fail_next(1, "429")
        assert h.drain().waiting

        def connector_calls() -> int:  # Graph's reads (looking for the card) aside
            return len([c for c in h.fake.calls if c.path.startswith("/v3/")])

        asked = connector_calls()
        assert h.drain().waiting  # the next round doesn't ask Teams before it said to
        assert connector_calls() == asked
        assert task(h, n).card_state in ("pending", "posting") and h.cards() == []


def test_adding_the_app_for_yourself_opens_with_your_home_page(db: Database) -> None:
    with TeamsHarness(db) as h:
        added = h.activity("conversationUpdate", SAM, "dm",
                           membersAdded=[{"id": f"28:{h.config.teams_app.app_id}"},
                                         {"id": f"29:{SAM}", "aadObjectId": SAM}])  # fmt: skip
        assert h.send(added).status_code == 202
        (home,) = h.fake.wait_for(lambda: h.dms(SAM))
        assert "My claimed tasks" in card_text(home.card) and "Log a contact" in card_text(
            home.card
        )
