"""The people table in the config (`[teams.people.table]`): each chat id's mailbox, name and
team leader. It answers who a team leader is, and maps chat ids to mailboxes both ways (the
shell's only way; in Slack, the profile's email comes first)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.people.directory import Colleague, Status


@dataclass(frozen=True)
class Entry:
    email: str | None = None
    name: str | None = None
    team_leader: str | None = None  # a chat id in the same table, or an email address


class TableBook:
    """Directory and Profiles over a fixed table of people."""

    def __init__(self, people: Mapping[str, Entry]) -> None:
        self.people = dict(people)
        self._by_email = {e.email.lower(): u for u, e in self.people.items() if e.email}

    def email_of(self, user: str) -> str | None:
        entry = self.people.get(user)
        return entry.email if entry else None

    def user_of(self, email: str) -> str | None:
        return self._by_email.get(email.lower())

    def status_of(self, user: str) -> Status | None:
        return None  # a table has no status: the chat's, or a people file's

    def team_leader(self, email: str) -> Colleague | None:
        user = self.user_of(email)
        entry = self.people.get(user) if user else None
        if entry is None or not entry.team_leader:
            return None
        named = entry.team_leader
        if "@" in named:  # a mailbox: maybe someone in the table too
            found = self.user_of(named)
            leader = self.people.get(found) if found else None
            return Colleague(named, leader.name if leader else None, found)
        leader = self.people.get(named)
        return Colleague(leader.email if leader else None, leader.name if leader else None, named)
