"""The chat ports: what delivery asks of a chat (Slack, Teams, the shell's printer), and what
`dutybot run` asks of the chat adapter the config names (bot.app.chat_adapter)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.kernel.config import Config, TeamConfig
from bot.kernel.message import Message
from bot.kernel.roles import GroupLookup
from bot.people.directory import Profiles
from bot.tasks.cards import CardView

if TYPE_CHECKING:
    from bot.app import DutyBot
    from bot.ops.runner import Runner
    from bot.ops.status import Probe


@dataclass(frozen=True)
class CardRef:
    channel: str
    ts: str


class ChatUnavailable(Exception):
    """The chat service can't be reached now; try again later, nothing is lost."""


class ChatRefused(Exception):
    """The chat service said no to this one thing; trying again won't help.

    ``gone``: the card (or its thread) no longer exists, e.g. someone deleted it.
    ``reason``: the service's own short code, for the log (never message content).
    """

    def __init__(self, reason: str, *, gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.gone = gone


class Chat(Protocol):
    def post_card(self, team: TeamConfig, card: CardView) -> CardRef: ...

    def find_card(self, team: TeamConfig, task_id: int) -> CardRef | None:
        """A card for ``task_id`` already in the channel (posted before a crash), if any."""
        ...

    def update_card(self, team: TeamConfig, ref: CardRef, card: CardView) -> None: ...

    # ``key`` identifies one queued message, so that find_message can spot it after a failure.
    # Each returns where the message went (None if the chat can't say), for a later edit.

    def reply_in_thread(
        self, team: TeamConfig, ref: CardRef, message: Message, key: int | None = None
    ) -> CardRef | None: ...

    def send_dm(
        self,
        team: TeamConfig,
        user_id: str,
        message: Message,
        card: CardRef | None,
        key: int | None = None,
    ) -> CardRef | None: ...

    def post_to_channel(
        self, team: TeamConfig, channel: str, message: Message, key: int | None = None
    ) -> CardRef | None: ...

    def edit_message(self, team: TeamConfig, ref: CardRef, message: Message) -> None:
        """Rewrite a message the bot posted (a purge takes out the content it quoted)."""
        ...

    def find_message(
        self, team: TeamConfig, channel: str, thread: CardRef | None, key: int
    ) -> bool:
        """Is the message ``key`` already in ``thread`` (or in ``channel`` if no thread)?"""
        ...


class ChatSetupError(Exception):
    """The chat can't start (a token missing or refused, a port taken); the message is one
    plain sentence saying what to do."""


class ChatService(Protocol):
    """A chat adapter, started: it delivers through ``runner`` and serves until told to stop."""

    runner: Runner

    def serve(self, stop: threading.Event) -> None:
        """Take the chat's requests until ``stop`` is set (raises ChatSetupError)."""
        ...

    def close(self) -> None: ...


class ChatAdapter(Protocol):
    """What `dutybot run` and `dutybot status` ask of the chat the config names."""

    def groups(self, config: Config) -> GroupLookup | None:
        """How to read a user group's members in this chat, if it has groups."""
        ...

    def probe(self, config: Config) -> Probe | None:
        """Is the chat service there and does it take our credentials?"""
        ...

    def profiles(self, config: Config) -> Profiles | None:
        """People's mailboxes and statuses as this chat knows them, if it does."""
        ...

    def start(self, config: Config, bot: DutyBot) -> ChatService:
        """Connect, ready to serve (raises ChatSetupError)."""
        ...
