"""What a team's domain objects (its rota, its case register) work with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.kernel.roles import Roster
from storage.db import Database


@dataclass
class TeamPart:
    """A team's database, config, roster, working calendar and clock."""

    db: Database
    team: TeamConfig
    roster: Roster
    cal: WorkingCalendar
    clock: Clock

    @property
    def name(self) -> str:
        return self.team.name

    def today(self) -> date:
        """Today in the team's time zone."""
        return self.clock.now().astimezone(self.team.tz).date()
