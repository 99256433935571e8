"""The Chat port on Slack's Web API.

Posting is not idempotent, so posts only retry on 429 (Slack did nothing then). A post that
fails any other way leaves the card "posting"; next time ``find_card`` looks for it by its
metadata before posting again. Thread replies and channel posts carry metadata too (the
queued message's key), so ``find_message`` can tell whether a failed try got through.
Idempotent calls also retry on server and connection errors.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.chat.port import CardRef, ChatRefused, ChatUnavailable
from bot.kernel.config import TeamConfig
from bot.kernel.message import CHANNEL_FALLBACK, DM_FALLBACK, Message
from bot.tasks.cards import CardView
from handlers.pacing import Pacer
from handlers.slack.render import (
    CardUrl,
    card_blocks,
    message_blocks,
    mrkdwn,
    permalink_block,
)

log = logging.getLogger(__name__)

METADATA_TYPE = "duty_task"
MESSAGE_METADATA_TYPE = "duty_message"  # thread replies, DMs, channel posts
TRANSIENT = (
    "ratelimited",
    "fatal_error",
    "internal_error",
    "service_unavailable",
    "request_timeout",
)
GONE = ("message_not_found", "thread_not_found")  # the card was deleted
HISTORY_PAGES = 5  # how far back to look for a card posted just before a crash


def slack_answer(exc: SlackApiError) -> tuple[int, str]:
    """(HTTP status, Slack's error code) of a failed call; (0, "") if no answer came."""
    response = exc.response
    if response is None:
        return 0, ""
    return response.status_code, str(response.get("error", ""))


def is_transient(status: int, error: str) -> bool:
    """Slack is busy or failing for now: worth trying again later."""
    return status == 429 or status >= 500 or error in TRANSIENT


def make_clients(token: str, base_url: str, timeout: int = 10) -> tuple[WebClient, WebClient]:
    """(safe, posting): the first retries everything, the second only rate limits."""
    safe = WebClient(token=token, base_url=base_url, timeout=timeout)
    safe.retry_handlers = [
        RateLimitErrorRetryHandler(max_retry_count=5),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]
    posting = WebClient(token=token, base_url=base_url, timeout=timeout)
    posting.retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=5)]
    return safe, posting


class SlackChat:
    def __init__(self, safe: WebClient, posting: WebClient, *, pace_seconds: float = 1.0) -> None:
        self.safe = safe
        self.posting = posting
        self.pacer = Pacer(pace_seconds)
        self._names: dict[str, str] = {}
        self._dm: dict[str, str] = {}
        self._workspace: str | None = None  # https://council.slack.com/, for card links

    # ---- helpers ----------------------------------------------------------------------

    def _call(self, client: WebClient, method: str, **kwargs: Any) -> Any:
        try:
            return client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            status, error = slack_answer(exc)
            error = error or "error"
            if is_transient(status, error):
                raise ChatUnavailable(f"Slack answered {status} ({error})") from None
            raise ChatRefused(error, gone=error in GONE) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise ChatUnavailable(f"Slack can't be reached ({type(exc).__name__})") from None

    def name_of(self, team: TeamConfig) -> Any:
        def lookup(user_id: str) -> str:
            if user_id in team.names:
                return team.names[user_id]
            if user_id not in self._names:
                try:
                    info = self.safe.users_info(user=user_id)
                    profile = info["user"].get("profile", {})
                    self._names[user_id] = (
                        profile.get("display_name") or info["user"].get("real_name") or user_id
                    )
                except (SlackClientError, OSError, KeyError):
                    return user_id
            return self._names[user_id]

        return lookup

    def card_url(self) -> CardUrl | None:
        """How to link to a card: the workspace's address (asked once) and Slack's own
        permalink shape; None while Slack can't say, so a task shows as plain "#42"."""
        if self._workspace is None:
            try:
                url = str(self._call(self.safe, "auth.test").get("url") or "")
            except (ChatUnavailable, ChatRefused):
                return None
            if not url.startswith("https://"):
                return None
            self._workspace = url if url.endswith("/") else url + "/"
        base = self._workspace
        return lambda channel, ts: f"{base}archives/{channel}/p{ts.replace('.', '')}"

    # ---- the Chat port ----------------------------------------------------------------

    def post_card(self, team: TeamConfig, card: CardView) -> CardRef:
        blocks = card_blocks(team.name, card, self.name_of(team))
        with self.pacer.paced(team.channel):
            resp = self._call(
                self.posting,
                "chat.postMessage",
                channel=team.channel,
                text=card.fallback,  # lock screens show only this: no personal data
                blocks=blocks,
                metadata=_metadata(METADATA_TYPE, team.name, "task_id", card.task_id),
                unfurl_links=False,
                unfurl_media=False,
            )
        return CardRef(resp["channel"], resp["ts"])

    def find_card(self, team: TeamConfig, task_id: int) -> CardRef | None:
        msg = self._find_tagged(team.channel, None, METADATA_TYPE, team.name, "task_id", task_id)
        return CardRef(team.channel, msg["ts"]) if msg else None

    def _find_tagged(
        self,
        channel: str,
        thread: CardRef | None,
        event_type: str,
        team: str,
        field: str,
        value: int,
    ) -> dict[str, Any] | None:
        """The newest message (in the channel, or a card's thread) whose metadata names
        ``team`` and ``field`` = ``value``; a few pages back, no further."""
        kwargs: dict[str, Any] = {"channel": channel, "limit": 200, "include_all_metadata": True}
        if thread is not None:
            kwargs["ts"] = thread.ts
        method = "conversations.replies" if thread is not None else "conversations.history"
        for _ in range(HISTORY_PAGES):
            resp = self._call(self.safe, method, **kwargs)
            for msg in resp.get("messages", []):
                meta = msg.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (
                    meta.get("event_type") == event_type
                    and payload.get("team") == team
                    and str(payload.get(field)) == str(value)
                ):
                    return dict(msg)
            kwargs["cursor"] = (resp.get("response_metadata") or {}).get("next_cursor")
            if not kwargs["cursor"]:
                break
        return None

    def update_card(self, team: TeamConfig, ref: CardRef, card: CardView) -> None:
        self._call(
            self.safe,
            "chat.update",
            channel=ref.channel,
            ts=ref.ts,
            text=card.fallback_changed,
            blocks=card_blocks(team.name, card, self.name_of(team)),
        )

    def reply_in_thread(
        self, team: TeamConfig, ref: CardRef, message: Message, key: int | None = None
    ) -> CardRef | None:
        text = mrkdwn(message, self.name_of(team), self.card_url())
        extra: dict[str, Any] = {}
        if message.actions():  # buttons (an "Open in Outlook" link) need blocks
            extra["blocks"] = message_blocks(
                message, self.name_of(team), team.name, self.card_url()
            )
        with self.pacer.paced(ref.channel):
            resp = self._call(
                self.posting,
                "chat.postMessage",
                channel=ref.channel,
                thread_ts=ref.ts,
                text=text,
                unfurl_links=False,
                unfurl_media=False,
                **extra,
                **_message_metadata(team, key),
            )
        return _where(resp)

    def find_message(
        self, team: TeamConfig, channel: str, thread: CardRef | None, key: int
    ) -> bool:
        """Look for a thread reply or channel post by its metadata. DMs aren't looked for:
        that would need the im:history scope."""
        tagged = self._find_tagged(channel, thread, MESSAGE_METADATA_TYPE, team.name, "key", key)
        return tagged is not None

    def send_dm(
        self,
        team: TeamConfig,
        user_id: str,
        message: Message,
        card: CardRef | None,
        key: int | None = None,
    ) -> CardRef | None:
        blocks = message_blocks(message, self.name_of(team), team.name, self.card_url())
        if card is not None:
            link = self._call(
                self.safe, "chat.getPermalink", channel=card.channel, message_ts=card.ts
            )
            permalink = str(link["permalink"])
            if permalink.startswith("https://"):  # Slack's own link; anything else is dropped
                at = len(blocks) - 1 if blocks[-1]["type"] == "actions" else len(blocks)
                blocks.insert(at, permalink_block(permalink))
        resp = self._call(
            self.posting,
            "chat.postMessage",
            channel=self.dm_channel(user_id),
            text=message.fallback or DM_FALLBACK,  # lock screens show only this
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            **_message_metadata(team, key),
        )
        return _where(resp)

    def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel with a person (opened once, then remembered)."""
        channel = self._dm.get(user_id)
        if channel is None:
            opened = self._call(self.safe, "conversations.open", users=user_id)
            channel = str(opened["channel"]["id"])
            self._dm[user_id] = channel
        return channel

    def post_to_channel(
        self, team: TeamConfig, channel: str, message: Message, key: int | None = None
    ) -> CardRef | None:
        blocks = message_blocks(message, self.name_of(team), team.name, self.card_url())
        with self.pacer.paced(channel):
            resp = self._call(
                self.posting,
                "chat.postMessage",
                channel=channel,
                text=message.fallback or CHANNEL_FALLBACK,  # notifications show only this
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
                **_message_metadata(team, key),
            )
        return _where(resp)

    def edit_message(self, team: TeamConfig, ref: CardRef, message: Message) -> None:
        name_of = self.name_of(team)
        self._call(
            self.safe,
            "chat.update",
            channel=ref.channel,
            ts=ref.ts,
            text=message.fallback or mrkdwn(message, name_of),
            blocks=message_blocks(message, name_of, team.name, self.card_url()),
        )


def _where(resp: Any) -> CardRef | None:
    """Where chat.postMessage put a message."""
    channel, ts = resp.get("channel"), resp.get("ts")
    return CardRef(str(channel), str(ts)) if channel and ts else None


def _metadata(event_type: str, team: str, field: str, value: int) -> dict[str, Any]:
    """Slack message metadata naming a card or queued message: a team and a number, no content."""
    return {"event_type": event_type, "event_payload": {"team": team, field: value}}


def _message_metadata(team: TeamConfig, key: int | None) -> dict[str, Any]:
    if key is None:
        return {}
    return {"metadata": _metadata(MESSAGE_METADATA_TYPE, team.name, "key", key)}
