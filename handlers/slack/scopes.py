"""What the bot asks of Slack: its slash command, and each Web API method it calls with the
bot scopes that method needs. slack-app-manifest.yml must ask for exactly these (a test checks),
so an IT admin grants no more than the bot uses."""

from __future__ import annotations

from typing import Final

COMMAND: Final = "/duty"

# Web API method -> bot scopes it needs (none for some). conversations.history needs the
# history scope of the duty channel's kind: channels:history (public) or groups:history
# (private), so both are asked for.
API_SCOPES: Final[dict[str, tuple[str, ...]]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),  # cards, thread replies, DMs, handovers
    "chat.update": ("chat:write",),  # the card, in place, after every change
    "chat.postEphemeral": ("chat:write",),  # private replies to a button press
    "chat.getPermalink": (),  # the link to the card in an alert DM
    "conversations.open": ("im:write",),  # the DM with a person
    "conversations.history": ("channels:history", "groups:history"),  # a card left mid-post
    "conversations.replies": ("channels:history", "groups:history"),  # a reply tried before
    "views.open": (),  # the Resolve and Alert forms
    "views.publish": (),  # App Home
    "usergroups.users.list": ("usergroups:read",),  # team members from a user group
    "users.info": ("users:read", "users:read.email"),  # names on cards; mailbox, status
    "users.lookupByEmail": ("users:read.email",),  # a team leader's Slack account
}

EVENTS: Final = ("app_home_opened",)

# Message shortcuts: callback id -> the name people see in a message's "More actions" menu.
SHORTCUTS: Final = {"duty_new": "Log as duty task"}


def bot_scopes() -> set[str]:
    """Every bot scope the bot needs: the methods' scopes and the slash command's."""
    return {"commands"} | {scope for scopes in API_SCOPES.values() for scope in scopes}
