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
from bot.people.directory import AccountKind, Status
from handlers.slack.chat import slack_answer

PROFILE_SECONDS = 30.0  # one users.info answers both the email and the status asked together
NOT_A_USER = ("user_not_found", "users_not_found", "user_not_visible")


class SlackProfiles:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._seen: dict[str, tuple[float, dict[str, Any] | Exception | None]] = {}
        self._asking: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._team: str | None = None  # this workspace's id (auth.test), asked once

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

    def kind_of(self, user: str) -> AccountKind | None:
        """The account's kind, from Slack's own flags on it (users.info): a guest (multi- or
        single-channel), someone from another organisation (a shared channel's, or a bot or a
        deleted account), or one of the workspace's own people."""
        person = self._user(user)
        if person is None or person.get("deleted"):
            return "gone"
        if person.get("is_bot"):
            return "outside"
        if person.get("is_restricted") or person.get("is_ultra_restricted"):
            return "guest"
        if person.get("is_stranger") or person.get("team_id") not in (None, self._team_id()):
            return "outside"
        return "member"

    def _team_id(self) -> str | None:
        if self._team is None:
            self._team = str(self.client.auth_test().get("team_id") or "") or None
        return self._team

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
        person = self._user(user)
        if person is None or person.get("deleted"):
            return None
        return dict(person.get("profile") or {})

    def _user(self, user: str) -> dict[str, Any] | None:
        """The account (users.info), asked once for the email, the status and the kind asked
        together (a failure too: the next question shouldn't wait out a slow Slack again)."""
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
                found = dict(self.client.users_info(user=user).get("user") or {})
            except SlackApiError as exc:
                found = None if slack_answer(exc)[1] in NOT_A_USER else exc
            except Exception as exc:  # Slack unreachable or too slow
                found = exc
            with self._lock:
                self._seen[user] = (time.monotonic(), found)
        if isinstance(found, Exception):
            raise found
        return found
