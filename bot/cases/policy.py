"""Unallocated cases: the policy's clocks. When each review, rating, letter, contact, visit
and summary is due, and what is overdue (policy numbers come from `CaseRules`, bot.kernel.config):
- calendar-day clocks (reviews, RAY ratings, first contact and visit, the oversight note)
  land on the working day on or before the date, so the cadence is never exceeded;
- working-day clocks (letter, case summary) use `WorkingCalendar.add_working_days`, where
  the day the case became unallocated does not count; 0 means that day itself (or the next
  working day if it isn't one).
Chat only ever sees the case reference, never a name, and never the free text of a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from bot.kernel.calendar import WorkingCalendar
from bot.kernel.config import CaseRules, TeamConfig
from bot.kernel.words import count
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
    return review_due(cal, rules, local_day(case.last_review_at, team) or case.unallocated_since)


def next_rating(
    case: Case, rules: CaseRules, cal: WorkingCalendar, team: TeamConfig
) -> date | None:
    """Counted from the last RAY rating, or from the day the case became unallocated; None
    when the policy has no rating reviews."""
    return rating_due(cal, rules, local_day(case.ray_rated_at, team) or case.unallocated_since)


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


def local_day(when: datetime | None, team: TeamConfig) -> date | None:
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
        add("summary", "Case summary", "summary", due, local_day(case.summary_at, team),
            f"/duty case summary {ref}")  # fmt: skip
    if rules.contact_days is not None:
        add("contact", "First contact with the child", "contact",
            within_days(cal, since, rules.contact_days), case.contact_on,
            f"/duty case seen {ref} contact")  # fmt: skip
    if rules.oversight_note_days is not None:
        add("oversight", "Management oversight note", "oversight note",
            within_days(cal, since, rules.oversight_note_days),
            local_day(case.oversight_note_at, team), f"/duty case review {ref} note")  # fmt: skip
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
