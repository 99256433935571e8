"""Build signed requests the way Slack sends them to an app (slash commands, interactivity).

Bodies are form-encoded strings exactly as Slack posts them; sign them with signed_headers()
and post body + headers to the app (e.g. Bolt's request handler). Pass a response_url served by
FakeSlack (``fake.response_url()``) so the app's respond() calls land somewhere observable.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

__all__ = [
    "block_actions_body",
    "block_actions_payload",
    "signed_headers",
    "slash_command_body",
    "slash_command_payload",
    "view_submission_body",
]

DEFAULT_TEAM_ID = "T1"
DEFAULT_TEAM_DOMAIN = "dutyteam"
DEFAULT_APP_ID = "ADUTYBOT"
DEFAULT_TRIGGER_ID = "1337.42.f00dface"
# Not reachable on purpose: tests that exercise respond() should pass fake.response_url().
DEFAULT_RESPONSE_URL = "https://hooks.slack.invalid/commands/T1/1/fake"


def signed_headers(
    signing_secret: str, body: bytes | str, timestamp: int | None = None
) -> dict[str, str]:
    """X-Slack-Request-Timestamp and X-Slack-Signature (v0 HMAC-SHA256) for body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    if signature is None:  # only when timestamp is None, which cannot happen here
        raise ValueError("could not sign the request")
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def slash_command_body(*args: Any, **kwargs: Any) -> str:
    """The form body Slack posts for a slash command (arguments as slash_command_payload)."""
    return urlencode(slash_command_payload(*args, **kwargs))


def slash_command_payload(
    command: str = "/duty",
    text: str = "",
    user_id: str = "U1",
    channel_id: str = "C1",
    team_id: str = DEFAULT_TEAM_ID,
    trigger_id: str = DEFAULT_TRIGGER_ID,
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    user_name: str | None = None,
    channel_name: str = "duty",
) -> dict[str, str]:
    """A slash command's fields: posted as a form in HTTP mode, a Socket Mode payload."""
    return {
        "token": "verification-token-unused",
        "team_id": team_id,
        "team_domain": DEFAULT_TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": DEFAULT_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_actions_body(*args: Any, **kwargs: Any) -> str:
    """The form body (payload=JSON) Slack posts when a button on a message is clicked
    (arguments as block_actions_payload)."""
    return urlencode({"payload": json.dumps(block_actions_payload(*args, **kwargs))})


def block_actions_payload(
    action_id: str,
    value: str = "",
    user_id: str = "U1",
    channel_id: str = "C1",
    message_ts: str = "1700000000.000100",
    trigger_id: str = DEFAULT_TRIGGER_ID,
    *,
    block_id: str = "actions",
    team_id: str = DEFAULT_TEAM_ID,
    response_url: str = DEFAULT_RESPONSE_URL,
    message: dict[str, Any] | None = None,
    action_type: str = "button",
    state_values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What Slack sends when a button on a message is clicked (HTTP mode: as payload=JSON).

    message: the message the button sits on (e.g. from fake.message()); a bare one by default.
    """
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["value"] = value
        action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
    else:
        action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    return {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": DEFAULT_APP_ID,
        "token": "verification-token-unused",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": DEFAULT_TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "duty"},
        "message": message or {"type": "message", "text": "", "ts": message_ts},
        "state": {"values": state_values or {}},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission_body(
    callback_id: str,
    private_metadata: str = "",
    state_values: dict[str, Any] | None = None,
    user_id: str = "U1",
    *,
    team_id: str = DEFAULT_TEAM_ID,
    view_id: str = "V0000000001",
    trigger_id: str = DEFAULT_TRIGGER_ID,
) -> str:
    """The form body (payload=JSON) Slack posts when a modal is submitted.

    state_values: {block_id: {action_id: {"type": ..., "value": ...}}}, as in view.state.values.
    """
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": DEFAULT_TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": DEFAULT_APP_ID,
        "token": "verification-token-unused",
        "trigger_id": trigger_id,
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state_values or {}},
            "hash": f"{time.time():.6f}.hash",
            "title": {"type": "plain_text", "text": "Duty"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit"},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": DEFAULT_APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": "BBOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def _user(user_id: str, team_id: str) -> dict[str, str]:
    name = user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}
