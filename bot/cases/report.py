"""The unallocated-cases report: the weekly post, `/duty case list`, and `dutybot report
unallocated` (printed, or as CSV)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, TextIO

from sqlalchemy.orm import Session

from bot.cases.policy import (
    RAYS,
    day_text,
    days_unallocated,
    days_word,
    local_day,
    next_review,
    overdue_items,
    ray_text,
)
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message, lines, say, text, user
from bot.ops.audit import safe_cell
from storage import cases as cases_db
from storage.db import Database


@dataclass(frozen=True)
class ReportRow:
    ref: str
    ray: str | None
    team_manager: str
    since: date
    days: int
    last_review: date | None
    next_review_due: date
    overdue: tuple[str, ...]


@dataclass(frozen=True)
class CaseReport:
    team: str
    day: date
    rows: tuple[ReportRow, ...]  # red first, then the longest waiting first

    @property
    def counts(self) -> dict[str, int]:
        found = {ray: 0 for ray in (*RAYS, "not rated")}
        for row in self.rows:
            found[row.ray or "not rated"] += 1
        return found

    @property
    def longest(self) -> ReportRow | None:
        return max(self.rows, key=lambda r: (r.days, r.ref), default=None)

    def headline(self) -> str:
        counts = ", ".join(f"{k} {n}" for k, n in self.counts.items() if n or k in RAYS)
        head = f"Unallocated cases, {self.day:%a %d %b %Y}: {len(self.rows)} open ({counts})."
        if (top := self.longest) is not None:
            head += f" Longest wait: {top.ref}, {days_word(top.days)}."
        return head

    def row_message(self, row: ReportRow) -> Message:
        last = day_text(row.last_review) if row.last_review else "none"
        overdue = ", ".join(row.overdue) if row.overdue else "nothing"
        return say(
            f"{row.ref} {ray_text(row.ray)}, {days_word(row.days)} unallocated "
            f"(since {day_text(row.since)}), team manager ",
            user(row.team_manager),
            f". Last review: {last}. Next review due {day_text(row.next_review_due)}. "
            f"Overdue: {overdue}.",
        )

    def message(self) -> Message:
        if not self.rows:
            return text(
                f"Unallocated cases, {self.day:%a %d %b %Y}: none. Every case is allocated."
            )
        return lines([text(self.headline()), *(self.row_message(r) for r in self.rows)])

    def csv_rows(self, names: dict[str, str] | None = None) -> list[list[str]]:
        """The rows under `CSV_COLUMNS`; team managers by display name."""
        names = names or {}
        return [
            [self.team, r.ref, r.ray or "", names.get(r.team_manager, r.team_manager),
             r.since.isoformat(), str(r.days), r.last_review.isoformat() if r.last_review else "",
             r.next_review_due.isoformat(), "; ".join(r.overdue)]
            for r in self.rows
        ]  # fmt: skip


CSV_COLUMNS: Final = (
    "team", "ref", "ray", "team_manager", "unallocated_since", "days_unallocated",
    "last_review", "next_review_due", "overdue",
)  # fmt: skip


def write_csv(out: TextIO, reports: list[tuple[CaseReport, dict[str, str]]]) -> int:
    """Every team's report as one CSV; returns how many cases it holds."""
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    rows = [row for report, names in reports for row in report.csv_rows(names)]
    w.writerows([safe_cell(cell) for cell in row] for row in rows)  # names come from config
    return len(rows)


def report_order(row: ReportRow) -> tuple[int, int, str]:
    return (0 if row.ray == "red" else 1, -row.days, row.ref)


def build_report(s: Session, team: TeamConfig, cal: WorkingCalendar, today: date) -> CaseReport:
    rules = team.cases.rules()
    rows = [
        ReportRow(
            ref=case.ref,
            ray=case.ray,
            team_manager=case.team_manager,
            since=case.unallocated_since,
            days=days_unallocated(case, today),
            last_review=local_day(case.last_review_at, team),
            next_review_due=next_review(case, rules, cal, team),
            overdue=tuple(overdue_items(case, rules, cal, team, today)),
        )
        for case in cases_db.open_cases(s, team.name)
    ]
    return CaseReport(team.name, today, tuple(sorted(rows, key=report_order)))


def unallocated_reports(db: Database, teams: list[TeamConfig], now: datetime) -> list[CaseReport]:
    """Each team's report as it stands at ``now`` (`dutybot report unallocated`)."""
    with db.session() as s:
        return [
            build_report(s, t, WorkingCalendar(t.nation, t.closures), now.astimezone(t.tz).date())
            for t in teams
        ]
