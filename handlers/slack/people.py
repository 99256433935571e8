"""Slack's side of the people directory (bot.people.directory.Profiles): a person's mailbox
from their profile's email (users.info, which needs users:read.email), who has a mailbox
(users.lookupByEmail), and their custom status. A short timeout and no retries: a slow
Slack means "not known" now; bot.people keeps the answers a few minutes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.kernel.config import Config, secret
from bot.people.directory import Status
from handlers.slack.chat import slack_answer

PROFILE_SECONDS = 30.0  # one users.info answers both the email and the status asked together
NOT_A_USER = ("user_not_found", "users_not_found", "user_not_visible")


class SlackProfiles:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._seen: dict[str, tuple[float, dict[str, Any] | Exception | None]] = {}
        self._asking: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, config: Config, timeout: int = 2) -> SlackProfiles:
        client = WebClient(token=secret(config.slack.bot_token_env), base_url=config.slack.api_url,
                           timeout=timeout)  # fmt: skip
        client.retry_handlers = []  # the caller has stopped waiting long before a retry
        return cls(client)

    def email_of(self, user: str) -> str | None:
        profile = self._profile(user) or {}
        return str(profile.get("email") or "") or None

    def user_of(self, email: str) -> str | None:
        try:
            found = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if slack_answer(exc)[1] in NOT_A_USER:
                return None
            raise
        person = found.get("user") or {}
        # Alerts go only to the organisation's own people: never a guest account.
        unfit = ("deleted", "is_bot", "is_restricted", "is_ultra_restricted", "is_stranger")
        if any(person.get(flag) for flag in unfit):
            return None
        return str(person.get("id") or "") or None

    def status_of(self, user: str) -> Status | None:
        profile = self._profile(user)
        if profile is None:
            return None
        ends = int(profile.get("status_expiration") or 0)
        until = datetime.fromtimestamp(ends, UTC) if ends else None
        if until is not None and until <= datetime.now(UTC):
            return Status("")  # Slack clears it on its own schedule; it has run out
        return Status(str(profile.get("status_text") or ""), until)

    def _profile(self, user: str) -> dict[str, Any] | None:
        """The person's profile, asked once for the email and the status asked together
        (a failure too: the second question shouldn't wait out a slow Slack again)."""
        with self._lock:
            asking = self._asking.setdefault(user, threading.Lock())
        with asking:
            with self._lock:
                seen = self._seen.get(user)
            if seen is not None and time.monotonic() - seen[0] < PROFILE_SECONDS:
                if isinstance(seen[1], Exception):
                    raise seen[1]
                return seen[1]
            found: dict[str, Any] | Exception | None
            try:
                info = self.client.users_info(user=user)
                person = info.get("user") or {}
                found = None if person.get("deleted") else dict(person.get("profile") or {})
            except SlackApiError as exc:
                found = None if slack_answer(exc)[1] in NOT_A_USER else exc
            except Exception as exc:  # Slack unreachable or too slow
                found = exc
            with self._lock:
                self._seen[user] = (time.monotonic(), found)
        if isinstance(found, Exception):
            raise found
        return found
