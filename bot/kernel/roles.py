"""Who may do what. Members claim, resolve, alert and follow up; managers may also assign,
set the rota and manage cases. Readers (the people in the team's case escalation roles:
service manager, group manager, head of service) may read the case register. Roles come
from config, as user ids and/or a user group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.kernel.config import TeamConfig

Role = Literal["member", "manager", "reader"]
GroupLookup = Callable[[str], set[str]]  # user group id -> its members


class Roster:
    def __init__(
        self, team: TeamConfig, groups: GroupLookup | None = None, ttl: float = 300.0
    ) -> None:
        self.team = team
        self._groups = groups
        self._ttl = ttl
        self._cache: dict[str, tuple[float, set[str]]] = {}
        self._lock = threading.Lock()

    def _group(self, group_id: str | None) -> set[str]:
        if not group_id or self._groups is None:
            return set()
        with self._lock:
            hit = self._cache.get(group_id)
            if hit and time.monotonic() - hit[0] < self._ttl:
                return hit[1]
        try:
            users = set(self._groups(group_id))
        except Exception:  # the chat service is down: keep the last answer we had
            return hit[1] if hit else set()
        with self._lock:
            self._cache[group_id] = (time.monotonic(), users)
        return users

    def group(self, group_id: str) -> set[str]:
        """A user group's members (the last answer if the chat is away)."""
        return self._group(group_id)

    def managers(self) -> list[str]:
        return list(
            dict.fromkeys([*self.team.managers, *sorted(self._group(self.team.manager_group))])
        )

    def role_of(self, user_id: str) -> Role | None:
        if user_id in self.team.managers or user_id in self._group(self.team.manager_group):
            return "manager"
        if user_id in self.team.members or user_id in self._group(self.team.member_group):
            return "member"
        if user_id in self.readers():
            return "reader"
        return None

    def readers(self) -> set[str]:
        """The people in the case escalation roles (seeds/003: the unallocated tray is
        "accessible by the ... service manager, Head of Service")."""
        people = self.team.cases.people
        return {who for who in (people.service_manager, people.group_manager,
                                people.head_of_service) if who}  # fmt: skip

    def is_member(self, user_id: str) -> bool:
        return self.role_of(user_id) in ("member", "manager")

    def knows(self, user_id: str) -> bool:
        """On the team, or one of its readers."""
        return self.role_of(user_id) is not None

    def is_manager(self, user_id: str) -> bool:
        return self.role_of(user_id) == "manager"


@dataclass(frozen=True)
class Allowed:
    """Who may use an interaction, and the plain sentence that refuses anyone else."""

    role: Literal["anyone", "reader", "member", "manager"]
    refusal: str = ""
    for_readers: str = ""  # the refusal for a reader, if it should say more

    def refusal_for(self, roster: Roster, user_id: str) -> str:
        if self.for_readers and roster.role_of(user_id) == "reader":
            return self.for_readers
        return self.refusal

    def permits(self, roster: Roster, user_id: str) -> bool:
        if self.role == "manager":
            return roster.is_manager(user_id)
        if self.role == "reader":
            return roster.knows(user_id)
        return self.role == "anyone" or roster.is_member(user_id)


ANYONE = Allowed("anyone")


def members(refusal: str) -> Allowed:
    return Allowed("member", refusal)


def readers(refusal: str) -> Allowed:
    """Members, and the people who may read the case register."""
    return Allowed("reader", refusal)


def managers(refusal: str) -> Allowed:
    return Allowed("manager", refusal)
