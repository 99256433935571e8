"""Unallocated cases: the register, its RAY ratings, its due dates and the weekly report.

A child or young person waiting for a worker is "worked on duty" until allocated
(seeds/001, 002, 003). Managers add, rate, review, allocate and close cases; any team
member lists them, shows one, and records letters, contacts and visits. Every change
writes an event. Chat only ever sees the case reference, never a name, and never the free
text of a note (notes stay in the audit trail).

Due dates (policy numbers come from `CaseRules`, see bot.config):
- calendar-day clocks (reviews, RAY ratings, first contact and visit, the oversight note)
  land on the working day on or before the date, so the cadence is never exceeded;
- working-day clocks (letter, case summary) use `WorkingCalendar.add_working_days`, where
  the day the case became unallocated does not count; 0 means that day itself (or the next
  working day if it isn't one).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, TextIO

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import commands as c
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import Clock
from bot.kernel.config import CaseRules, TeamConfig
from bot.kernel.message import Message, lines, say, text, user
from bot.kernel.roles import Roster
from bot.kernel.words import count
from bot.ops.audit import safe_cell
from bot.tasks.actions import Refused
from bot.tasks.cards import local_time
from storage import cases as cases_db
from storage import tasks as tq
from storage.db import Database
from storage.models import Case, Event

RAYS: Final = ("red", "amber", "yellow")
ROLE_NAMES: Final = {
    "service_manager": "service manager",
    "group_manager": "group manager",
    "head_of_service": "head of service",
}


def day_text(d: date) -> str:
    return d.strftime("%a %d %b")


def ray_text(ray: str | None) -> str:
    return ray.upper() if ray else "NOT RATED"


def days_word(n: int) -> str:
    return count(n, "day")


def event_text(ev: Event) -> str:
    """What a case event did, in a few words (never its note)."""
    data = ev.data or {}
    on = f" of {day_text(date.fromisoformat(data['on']))}" if data.get("on") else ""
    match ev.kind:
        case "case_readded":
            return "back on the register"
        case "case_rated":
            return f"rated {ray_text(data.get('ray'))}"
        case "case_summary":
            return "case summary recorded"
        case "case_seen":
            return f"{data.get('what', 'contact')}{on} recorded"
        case "case_letter":
            return f"letter{on} recorded"
        case "case_escalated":
            return f"escalated to the {ROLE_NAMES.get(data.get('role', ''), 'manager')}"
    return ev.kind.removeprefix("case_").replace("_", " ")


# ---- due dates -----------------------------------------------------------------------------


def on_or_before(cal: WorkingCalendar, d: date) -> date:
    """The last working day on or before ``d``."""
    return cal.previous_working_day(d + timedelta(days=1))


def within_days(cal: WorkingCalendar, start: date, days: int) -> date:
    """A "within N days" date: ``start`` + N calendar days, back to a working day if need be,
    but never before ``start``'s own first working day."""
    due = on_or_before(cal, start + timedelta(days=days))
    first = cal.add_working_days(start, 0)
    return due if due >= first else first


def review_due(cal: WorkingCalendar, rules: CaseRules, base: date) -> date:
    return within_days(cal, base, rules.review_days)


def rating_due(cal: WorkingCalendar, rules: CaseRules, base: date) -> date | None:
    return None if rules.ray_review_days is None else within_days(cal, base, rules.ray_review_days)


def next_review(case: Case, rules: CaseRules, cal: WorkingCalendar, team: TeamConfig) -> date:
    """Counted from the last review, or from the day the case became unallocated."""
    return review_due(cal, rules, _local(case.last_review_at, team) or case.unallocated_since)


def next_rating(
    case: Case, rules: CaseRules, cal: WorkingCalendar, team: TeamConfig
) -> date | None:
    """Counted from the last RAY rating, or from the day the case became unallocated; None
    when the policy has no rating reviews."""
    return rating_due(cal, rules, _local(case.ray_rated_at, team) or case.unallocated_since)


@dataclass(frozen=True)
class Deadline:
    """One thing that must be done by a date: a letter, a contact, a visit, a summary, the
    oversight note or the next RAY rating review."""

    key: str  # letter | contact | visit | summary | oversight | rating
    label: str  # "Letter to the family and agencies"
    short: str  # "letter", as listed under "overdue"
    due: date
    done: date | None
    how: str  # the command that records it

    def overdue(self, today: date) -> bool:
        return self.done is None and today > self.due


def _local(when: datetime | None, team: TeamConfig) -> date | None:
    return None if when is None else when.astimezone(team.tz).date()


def deadlines(
    case: Case, rules: CaseRules, cal: WorkingCalendar, team: TeamConfig
) -> list[Deadline]:
    """The policy's deadlines for this case, in the order the team meets them."""
    since, ref = case.unallocated_since, case.ref
    out: list[Deadline] = []

    def add(key: str, label: str, short: str, due: date, done: date | None, how: str) -> None:
        out.append(Deadline(key, label, short, due, done, how))

    if rules.letter_working_days is not None:
        due = cal.add_working_days(since, rules.letter_working_days)
        add("letter", "Letter to the family and agencies", "letter", due, case.letter_on,
            f"/duty case letter {ref}")  # fmt: skip
    if rules.summary_working_days is not None:
        due = cal.add_working_days(since, rules.summary_working_days)
        add("summary", "Case summary", "summary", due, _local(case.summary_at, team),
            f"/duty case summary {ref}")  # fmt: skip
    if rules.contact_days is not None:
        add("contact", "First contact with the child", "contact",
            within_days(cal, since, rules.contact_days), case.contact_on,
            f"/duty case seen {ref} contact")  # fmt: skip
    if rules.oversight_note_days is not None:
        add("oversight", "Management oversight note", "oversight note",
            within_days(cal, since, rules.oversight_note_days),
            _local(case.oversight_note_at, team), f"/duty case review {ref} note")  # fmt: skip
    if rules.visit_days is not None:
        add("visit", "First visit", "visit", within_days(cal, since, rules.visit_days),
            case.visit_on, f"/duty case seen {ref} visit")  # fmt: skip
    rating = next_rating(case, rules, cal, team)
    if rating is not None:
        add("rating", "RAY rating review", "RAY rating", rating, None,
            f"/duty case rate {ref} red|amber|yellow")  # fmt: skip
    return out


def overdue_items(
    case: Case, rules: CaseRules, cal: WorkingCalendar, team: TeamConfig, today: date
) -> list[str]:
    """What is overdue on ``today``, review first."""
    items = ["review"] if today > next_review(case, rules, cal, team) else []
    return items + [d.short for d in deadlines(case, rules, cal, team) if d.overdue(today)]


def days_unallocated(case: Case, today: date) -> int:
    return max(0, (today - case.unallocated_since).days)


# ---- the weekly report ------------------------------------------------------------------------


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
            last_review=_local(case.last_review_at, team),
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


# ---- the commands ------------------------------------------------------------------------------


@dataclass
class CaseDesk:
    """One team's case register: the `/duty case ...` commands."""

    db: Database
    team: TeamConfig
    roster: Roster
    cal: WorkingCalendar
    clock: Clock

    @property
    def name(self) -> str:
        return self.team.name

    @property
    def rules(self) -> CaseRules:
        return self.team.cases.rules()

    def today(self) -> date:
        return self.clock.now().astimezone(self.team.tz).date()

    def actions(self) -> dict[type, Callable[[str, Any], Message]]:
        """Each case command and what runs it (the Desk hands these over)."""
        return {
            c.CaseAdd: self.add, c.CaseRate: self.rate, c.CaseReview: self.review,
            c.CaseSummary: self.summary, c.CaseAllocate: self.allocate, c.CaseClose: self.close,
            c.CaseList: self.list_cases, c.CaseShow: self.show, c.CaseSeen: self.seen,
            c.CaseLetter: self.letter,
        }  # fmt: skip

    # ---- helpers --------------------------------------------------------------------------

    def _member(self, actor: str) -> None:
        if not self.roster.is_member(actor):
            raise Refused("Only members of the duty team can see or record cases.")

    def _manager(self, actor: str, what: str) -> None:
        if not self.roster.is_manager(actor):
            raise Refused(f"Only a manager can {what}.")

    def _case(self, s: Session, ref: str) -> Case:
        case = cases_db.case_by_ref(s, self.name, ref)
        if case is None:
            raise Refused(f"There is no case {ref} on the register. /duty case list shows them.")
        return case

    def _open(self, s: Session, ref: str) -> Case:
        case = self._case(s, ref)
        if case.state != cases_db.OPEN:
            raise Refused(f"{ref} is {case.state}, so it is no longer on the unallocated register.")
        return case

    def _event(
        self, s: Session, case: Case, actor: str, kind: str, note: str = "", **data: object
    ) -> None:
        tq.add_event(
            s, team=self.name, task_id=None, case_id=case.id, actor=actor, kind=kind,
            at=self.clock.now(), note=note, data=dict(data),
        )  # fmt: skip

    def _change(self, s: Session, case: Case, values: dict[str, object]) -> None:
        """Change an open case; a case allocated or closed a moment ago is refused."""
        if not cases_db.change_case(s, case.id, [Case.state == cases_db.OPEN], values):
            raise Refused(f"{case.ref} changed just now. Check it with /duty case show {case.ref}")

    def _day(self, case: Case, given: str | None, what: str) -> date:
        """The date something happened: today if not given, never ahead, never before the case."""
        today = self.today()
        day = date.fromisoformat(given) if given else today
        if day > today:
            raise Refused(f"{day_text(day)} is in the future; record the {what} once it is done.")
        if day < case.unallocated_since:
            raise Refused(
                f"{case.ref} became unallocated on {day_text(case.unallocated_since)}; "
                f"give a date from then on."
            )
        return day

    # ---- managers --------------------------------------------------------------------------

    def add(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseAdd)
        self._manager(actor, "add cases")
        today, now, rules = self.today(), self.clock.now(), self.rules
        since = date.fromisoformat(cmd.since) if cmd.since else today
        if since > today:
            raise Refused("A case can't become unallocated in the future; give an earlier date.")
        manager = cmd.manager or actor
        if not self.roster.is_manager(manager):
            raise Refused(
                say(user(manager), " isn't a manager on this team, so can't be its team manager.")
            )
        values: dict[str, object] = {
            "state": cases_db.OPEN, "ray": cmd.ray, "ray_rated_at": now if cmd.ray else None,
            "team_manager": manager, "unallocated_since": since, "added_at": now,
            "last_review_at": None, "summary_at": None, "oversight_note_at": None,
            "letter_on": None, "contact_on": None, "visit_on": None, "allocated_to": None,
        }  # fmt: skip
        try:
            with self.db.session() as s:
                case = cases_db.case_by_ref(s, self.name, cmd.ref)
                if case is not None and case.state == cases_db.OPEN:
                    raise Refused(
                        f"{cmd.ref} is already on the register, unallocated since "
                        f"{day_text(case.unallocated_since)}."
                    )
                if case is None:
                    case = cases_db.add_case(
                        s, Case(team=self.name, ref=cmd.ref, spell=1, **values)
                    )
                    kind = "case_added"
                else:  # allocated or closed before, and waiting for a worker again
                    values["spell"] = case.spell + 1
                    if not cases_db.change_case(s, case.id, [Case.state != cases_db.OPEN], values):
                        raise Refused(f"{cmd.ref} was added just now by someone else.")
                    kind = "case_readded"
                self._event(
                    s, case, actor, kind, ray=cmd.ray, since=since.isoformat(),
                    team_manager=manager,
                )  # fmt: skip
        except IntegrityError:
            raise Refused(f"{cmd.ref} was added just now by someone else.") from None
        added = Case(team=self.name, ref=cmd.ref, **values)  # as stored: no need to read it back
        due = [f"First review due {day_text(next_review(added, rules, self.cal, self.team))}"]
        due += [
            f"{d.short} due {day_text(d.due)}" for d in deadlines(added, rules, self.cal, self.team)
        ]
        return say(
            f"{cmd.ref} is on the register: {ray_text(cmd.ray)}, unallocated since "
            f"{day_text(since)}, team manager ",
            user(manager),
            f". {'; '.join(due)}.",
        )

    def rate(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseRate)
        self._manager(actor, "rate cases")
        nxt = rating_due(self.cal, self.rules, self.today())
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            before = case.ray
            now = self.clock.now()
            self._change(s, case, {"ray": cmd.ray, "ray_rated_at": now})
            self._event(s, case, actor, "case_rated", cmd.why, before=before, ray=cmd.ray)
        if before == cmd.ray:
            reply = f"{cmd.ref} stays {ray_text(cmd.ray)}; the rating review is recorded."
        else:
            reply = f"{cmd.ref} is now {ray_text(cmd.ray)} (was {ray_text(before)})."
        return text(reply + (f" Next RAY review due {day_text(nxt)}." if nxt else ""))

    def review(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseReview)
        self._manager(actor, "record case reviews")
        nxt = review_due(self.cal, self.rules, self.today())
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            now = self.clock.now()
            self._change(
                s, case,
                {"last_review_at": now,
                 # A manager's review is the management oversight note the policy asks for.
                 "oversight_note_at": case.oversight_note_at or now},
            )  # fmt: skip
            self._event(s, case, actor, "case_reviewed", cmd.note, next_due=nxt.isoformat())
        return text(f"Review of {cmd.ref} recorded. Next review due {day_text(nxt)}.")

    def summary(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseSummary)
        self._manager(actor, "record case summaries")
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            self._change(s, case, {"summary_at": self.clock.now()})
            self._event(s, case, actor, "case_summary")
        return text(f"Case summary for {cmd.ref} recorded.")

    def allocate(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseAllocate)
        self._manager(actor, "allocate cases")
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            self._change(s, case, {"state": "allocated", "allocated_to": cmd.user})
            self._event(s, case, actor, "case_allocated", to=cmd.user)
        return say(
            f"{cmd.ref} is allocated to ",
            user(cmd.user),
            " and off the unallocated register. Its reminders have stopped.",
        )

    def close(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseClose)
        self._manager(actor, "close cases")
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            self._change(s, case, {"state": "closed"})
            self._event(s, case, actor, "case_closed", cmd.why)
        return text(f"{cmd.ref} is closed and off the unallocated register. "
                    "Its reminders have stopped.")  # fmt: skip

    # ---- any member -------------------------------------------------------------------------

    def seen(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseSeen)
        self._member(actor)
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            day = self._day(case, cmd.date, cmd.what)
            # A visit is also contact with the child.
            values: dict[str, object] = {"contact_on": max(case.contact_on or day, day)}
            if cmd.what == "visit":
                values["visit_on"] = max(case.visit_on or day, day)
            self._change(s, case, values)
            self._event(s, case, actor, "case_seen", what=cmd.what, on=day.isoformat())
        return text(f"{cmd.what.capitalize()} for {cmd.ref} on {day_text(day)} recorded.")

    def letter(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseLetter)
        self._member(actor)
        with self.db.session() as s:
            case = self._open(s, cmd.ref)
            day = self._day(case, cmd.date, "letter")
            self._change(s, case, {"letter_on": max(case.letter_on or day, day)})
            self._event(s, case, actor, "case_letter", on=day.isoformat())
        return text(f"Letter for {cmd.ref} sent {day_text(day)} recorded.")

    def list_cases(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseList)
        self._member(actor)
        today = self.today()
        with self.db.session() as s:
            report = build_report(s, self.team, self.cal, today)
        rows = list(report.rows)
        match cmd.filter:
            case "red" | "amber" | "yellow":
                rows = [r for r in rows if r.ray == cmd.filter]
            case "overdue":
                rows = [r for r in rows if r.overdue]
            case "mine":
                rows = [r for r in rows if r.team_manager == actor]
        which = {None: "", "mine": " of yours", "overdue": " with something overdue"}.get(
            cmd.filter, f" rated {cmd.filter}"
        )
        if not rows:
            return text(f"No unallocated cases{which}.")
        head = text(f"Unallocated cases{which} ({len(rows)}), red first, then longest waiting:")
        return lines([head, *(self._line(r) for r in rows)])

    def _line(self, r: ReportRow) -> Message:
        overdue = f"; overdue: {', '.join(r.overdue)}" if r.overdue else ""
        return say(
            f"{r.ref} {ray_text(r.ray)}, {days_word(r.days)}, ",
            user(r.team_manager),
            f", review due {day_text(r.next_review_due)}{overdue}",
        )

    def show(self, actor: str, cmd: c.Command) -> Message:
        assert isinstance(cmd, c.CaseShow)
        self._member(actor)
        today, rules, tz = self.today(), self.rules, self.team.tz
        with self.db.session() as s:
            case = self._case(s, cmd.ref)
            history = cases_db.events_of_case(s, case.id, limit=15)
        rows = [
            say(
                f"{case.ref} {ray_text(case.ray)}, {case.state}. Unallocated since "
                f"{day_text(case.unallocated_since)}",
                f" ({days_word(days_unallocated(case, today))})" if case.state == "open" else "",
                ". Team manager ",
                user(case.team_manager),
                f". Policy: {rules.policy}.",
            )
        ]
        if case.state == "allocated" and case.allocated_to:
            rows.append(say("Allocated to ", user(case.allocated_to), "."))
        last = _local(case.last_review_at, self.team)
        review = f"Review: last {day_text(last)}" if last else "Review: none yet"
        due = next_review(case, rules, self.cal, self.team)
        flag = " (OVERDUE)" if case.state == "open" and today > due else ""
        rows.append(text(f"{review}; next due {day_text(due)}{flag}."))
        for d in deadlines(case, rules, self.cal, self.team):
            if d.done is not None:
                status = f"done {day_text(d.done)}"
            else:
                late = case.state == "open" and d.overdue(today)
                status = f"due {day_text(d.due)}" + (" (OVERDUE)" if late else "")
            rows.append(text(f"{d.label}: {status}."))
        if history:
            rows.append(text("History (notes stay in the record, not in chat):"))
            for ev in history:
                who = text("the bot") if ev.actor == "scheduler" else user(ev.actor)
                rows.append(say(f"  {local_time(ev.at, tz)} {event_text(ev)} by ", who))
        return lines(rows)
