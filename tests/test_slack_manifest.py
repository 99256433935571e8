"""slack-app-manifest.yml: it parses, and it asks Slack for exactly what the code uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from handlers.slack.scopes import API_SCOPES, COMMAND, EVENTS, SHORTCUTS, bot_scopes
from storage.db import Database
from tests.slack_harness import ALEX, JO, OUTSIDER, SAM, SlackHarness

MANIFEST = Path(__file__).resolve().parent.parent / "slack-app-manifest.yml"


def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_manifest_names_the_command_the_bot_answers() -> None:
    (command,) = manifest()["features"]["slash_commands"]
    assert command["command"] == COMMAND == "/duty"
    assert command["should_escape"] is True  # @mentions arrive as <@U…|name>, as parsed


def test_the_manifest_declares_the_shortcuts_the_bot_answers() -> None:
    declared = {s["callback_id"]: s for s in manifest()["features"]["shortcuts"]}
    assert {k: s["name"] for k, s in declared.items()} == SHORTCUTS
    assert all(s["type"] == "message" for s in declared.values())


def test_the_manifest_asks_for_exactly_the_scopes_the_code_needs() -> None:
    asked = manifest()["oauth_config"]["scopes"]["bot"]
    assert len(asked) == len(set(asked))
    assert set(asked) == bot_scopes()
    assert "user" not in manifest()["oauth_config"]["scopes"]  # no user token is wanted


def test_the_manifest_turns_on_app_home_interactivity_socket_mode_and_events() -> None:
    data = manifest()
    home = data["features"]["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False  # /duty works in the DM
    settings = data["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert tuple(settings["event_subscriptions"]["bot_events"]) == EVENTS


def test_every_web_api_method_the_bot_calls_is_covered_by_the_manifest(db: Database) -> None:
    """Drive every feature, then check each method Slack was asked for is in API_SCOPES."""
    team = {"member_group": "S0DUTY", "names": {SAM: "Sam", JO: "Jo"}}
    with SlackHarness(db, team=team) as h:
        worker = "UGROUPWORK1"  # on the team through the user group; named by users.info
        h.fake.usergroups["S0DUTY"] = [SAM, worker]
        h.fake.users[worker] = "Gabi"
        h.fake.fail_next(1, "500-after-post", method="chat.postMessage")
        n = h.email()
        h.drain()  # the post is lost on the way back...
        h.drain()  # ...and found in the channel's history
        h.click("duty_claim", n, user=OUTSIDER)  # a group lookup, then a refusal
        h.click("duty_claim", n, user=worker)
        h.drain()
        assert "Claimed by @Gabi" in str(h.card(n))
        h.click("duty_resolve", n)
        h.click("duty_alert", n)
        h.alert(n, [ALEX], "see the card")
        h.command(f"flag {n} safeguarding")
        h.resolve(n, "Done")
        h.open_home(SAM)
        h.open_home(OUTSIDER)
        h.drain()
        h.slack.close()
        called = {c.method for c in h.fake.calls if c.method != "response_url"}
    assert called <= set(API_SCOPES), called - set(API_SCOPES)
    for method in (
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.getPermalink",
        "conversations.open",
        "conversations.history",
        "views.open",
        "views.publish",
        "usergroups.users.list",
        "users.info",
    ):
        assert method in called, method
