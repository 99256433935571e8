"""The audit trail as CSV: every event (who did what to which task or case, when, with what
note).

Cells are protected against CSV injection: a spreadsheet runs a cell starting with
= + - @ (or a tab or carriage return) as a formula, so such a cell gets a leading quote.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, date
from typing import TextIO

from bot.handover.view import day_bounds
from bot.kernel.config import TeamConfig
from storage import retention as rq
from storage.db import Database

HEADER = ("team", "task", "case", "when_local", "when_utc", "who", "who_name", "what", "note")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The value as text a spreadsheet will show, never run."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def audit_rows(db: Database, team: TeamConfig, since: date, until: date) -> Iterator[list[str]]:
    start, _ = day_bounds(since, team)
    _, end = day_bounds(until, team)
    with db.session() as s:
        for ev, number, case in rq.audit_events(s, team.name, start, end):
            yield [
                team.name,
                "" if number is None else str(number),
                case or "",
                ev.at.astimezone(team.tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
                ev.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ev.actor,
                team.display_name(ev.actor) if ev.actor in team.names else "",
                ev.kind.replace("_", " "),
                ev.note,
            ]


def write_audit(
    out: TextIO, db: Database, teams: Iterable[TeamConfig], since: date, until: date
) -> int:
    """Write the header and every team's events in the range; returns how many events."""
    writer = csv.writer(out)
    writer.writerow(HEADER)
    rows = 0
    for team in teams:
        for row in audit_rows(db, team, since, until):
            writer.writerow([safe_cell(cell) for cell in row])
            rows += 1
    return rows
