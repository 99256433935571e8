"""The rota: who is duty manager, PA 1, PA 2 and back-up on each working day.

For each role on a day, the first of these that names someone wins:
1. a date set with `/duty rota set 2026-12-01 ...` (or `mon`..`fri`: the coming one);
2. the weekly pattern set with `/duty rota set weekly mon ...`;
3. the weekly pattern in config (`[teams.rota] mon = {manager = "jo", ...}`);
4. for the duty manager only: the first manager in config, so someone always hears.
The rota decides who gets the handover DM and the nudges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, Literal

from sqlalchemy.orm import Session

from bot.kernel.errors import Refused
from bot.kernel.message import Message, lines, say, text, user
from bot.kernel.team import TeamPart
from storage import rota as rota_db

ROLES: Final = ("manager", "pa1", "pa2", "backup")
ROLE_NAMES: Final = {"manager": "Duty manager", "pa1": "PA 1", "pa2": "PA 2", "backup": "Back-up"}
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri")

Source = Literal["day", "weekly", "config", "fallback"]


@dataclass(frozen=True)
class DayRota:
    day: date
    people: dict[str, str] = field(default_factory=dict)  # role -> user id
    sources: dict[str, Source] = field(default_factory=dict)

    @property
    def manager(self) -> str | None:
        return self.people.get("manager")

    @property
    def is_set(self) -> bool:
        """True when the rota (not the first-manager fallback) names a duty manager."""
        return self.sources.get("manager") not in (None, "fallback")

    def on_duty(self, user_id: str) -> bool:
        return user_id in self.people.values()


@dataclass
class Rota(TeamPart):
    """One team's rota: who holds each duty role on a day."""

    # ---- reading ------------------------------------------------------------------------

    def of_day(self, s: Session, day: date) -> DayRota:
        layers: list[tuple[Source, dict[str, str]]] = [
            ("day", rota_db.rota_of_day(s, self.name, day)),
            ("weekly", rota_db.rota_of_weekday(s, self.name, day.weekday())),
            ("config", self.team.rota.of_weekday(day.weekday())),
        ]
        people: dict[str, str] = {}
        sources: dict[str, Source] = {}
        for role in ROLES:
            for source, found in layers:
                if role in found:
                    people[role], sources[role] = found[role], source
                    break
        if "manager" not in people:
            managers = self.roster.managers()
            if managers:
                people["manager"], sources["manager"] = managers[0], "fallback"
        return DayRota(day, people, sources)

    def day(self, day: date) -> DayRota:
        with self.db.session() as s:
            return self.of_day(s, day)

    def duty_manager(self, day: date) -> str | None:
        return self.day(day).manager

    def safeguarding_contacts(self) -> list[str]:
        """Today's duty manager and back-up: who hears of a safeguarding flag at once."""
        today = self.day(self.today())
        found = [today.people.get("manager"), today.people.get("backup")]
        return list(dict.fromkeys(u for u in found if u))

    # ---- commands -----------------------------------------------------------------------

    def show(self, actor: str, cover: Message | None = None) -> Message:
        """`/duty rota`: today (then ``cover``, who has the phone now) and the next working
        day."""
        today = self.today()
        nxt = self.cal.next_working_day(today)
        rows: list[Message] = []
        with self.db.session() as s:
            if self.cal.is_working_day(today):
                rows += self._day_rows("Today", self.of_day(s, today))
                rows += [cover] if cover is not None else []
            else:
                why = self.cal.holiday_name(today) or "the weekend"
                rows.append(text(f"Today ({today:%a %d %b}) is not a working day ({why})."))
            rows += self._day_rows("Next working day", self.of_day(s, nxt))
        return lines(rows)

    def _day_rows(self, title: str, rota: DayRota) -> list[Message]:
        rows = [text(f"{title}, {rota.day:%a %d %b}:")]
        for role in ROLES:
            who = rota.people.get(role)
            if who is None:
                rows.append(text(f"  {ROLE_NAMES[role]}: not set"))
                continue
            note = " (no rota set; first manager)" if rota.sources[role] == "fallback" else ""
            rows.append(say(f"  {ROLE_NAMES[role]}: ", user(who), note))
        return rows

    def set(self, actor: str, when: str, assignments: Sequence[tuple[str, str]]) -> Message:
        """`/duty rota set DAY|weekly DAY role @person ...`."""
        for role, who in assignments:
            if not self.roster.is_member(who):
                raise Refused(
                    say(user(who), f" isn't on the duty team, so can't be {ROLE_NAMES[role]}.")
                )
        now = self.clock.now()
        roles = list(assignments)
        if when.startswith("weekly "):
            weekday = WEEKDAYS.index(when.split()[1])
            names = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays")[weekday]
            with self.db.session() as s:
                standing = {
                    **self.team.rota.of_weekday(weekday),
                    **rota_db.rota_of_weekday(s, self.name, weekday),
                }
                _one_role_each(standing, roles, names)
                rota_db.set_rota_weekday(s, self.name, weekday, roles, actor, now)
            return self._confirm(f"Rota set for {names} every week: ", roles)
        day = self._day_of(when)
        if not self.cal.is_working_day(day):
            why = self.cal.holiday_name(day) or "a weekend"
            raise Refused(f"{day:%a %d %b} is not a working day ({why}), so it has no rota.")
        if day < self.today():
            raise Refused(f"{day:%a %d %b} has passed. Set the rota for today or a later day.")
        with self.db.session() as s:
            was = self.of_day(s, day)
            set_by_someone = {r: u for r, u in was.people.items() if was.sources[r] != "fallback"}
            _one_role_each(set_by_someone, roles, f"{day:%a %d %b}")
            rota_db.set_rota_day(s, self.name, day, roles, actor, now)
        return self._confirm(f"Rota set for {day:%a %d %b}: ", roles)

    def _day_of(self, when: str) -> date:
        """A date from "2026-12-01", "today", "tomorrow", or "mon".."fri" meaning the coming one
        (today counts)."""
        today = self.today()
        if when in ("today", "tomorrow"):
            return today + timedelta(days=1 if when == "tomorrow" else 0)
        if when in WEEKDAYS:
            return today + timedelta(days=(WEEKDAYS.index(when) - today.weekday()) % 7)
        return date.fromisoformat(when)

    def _confirm(self, head: str, roles: list[tuple[str, str]]) -> Message:
        out = text(head)
        for i, (role, who) in enumerate(roles):
            out = out + (", " if i else "") + f"{ROLE_NAMES[role]} " + user(who)
        return out + "."


def _one_role_each(before: dict[str, str], roles: Sequence[tuple[str, str]], when: str) -> None:
    """Refuse a change that leaves one person in two roles on a day. The roles the line
    doesn't name keep what the day, the weekly pattern or config give them, so the check is
    on the day as it would be, not on the line alone."""
    named = dict(roles)
    after = {**before, **named}
    for role, who in roles:
        for other in ROLES:
            if other == role or after.get(other) != who:
                continue
            if other in named:
                first, second = sorted((other, role), key=ROLES.index)
                raise Refused(
                    say(user(who), f" can't be both {ROLE_NAMES[first]} and ")
                    + f"{ROLE_NAMES[second]} on {when}."
                )
            raise Refused(
                say(user(who), f" is already {ROLE_NAMES[other]} on {when}, so can't also be ")
                + f"{ROLE_NAMES[role]}; name a new {ROLE_NAMES[other]} in the same line."
            )
