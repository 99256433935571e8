"""Unallocated cases: the register, and what the `/duty case ...` verbs do to it.

A child or young person waiting for a worker is "worked on duty" until allocated
(seeds/001, 002, 003). Managers add, rate, review, allocate and close cases; any team
member lists them, shows one, and records letters, contacts and visits. Every change
writes an event. Chat only ever sees the case reference, never a name, and never the free
text of a note (notes stay in the audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.cases.policy import (
    day_text,
    days_unallocated,
    days_word,
    deadlines,
    event_text,
    local_day,
    next_review,
    rating_due,
    ray_text,
    review_due,
)
from bot.cases.report import ReportRow, build_report
from bot.kernel.config import CaseRules
from bot.kernel.errors import Refused
from bot.kernel.message import Message, lines, say, text, user
from bot.kernel.team import TeamPart
from bot.tasks.cards import local_time
from storage import cases as cases_db
from storage import tasks as tq
from storage.models import Case


@dataclass
class Register(TeamPart):
    """One team's register of unallocated cases: what the `/duty case ...` verbs do."""

    @property
    def rules(self) -> CaseRules:
        return self.team.cases.rules()

    # ---- helpers --------------------------------------------------------------------------

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

    def add(
        self, actor: str, ref: str, ray: str | None, manager: str | None, given: str | None
    ) -> Message:
        """``given``: the day the case became unallocated (YYYY-MM-DD), today if None."""
        today, now, rules = self.today(), self.clock.now(), self.rules
        since = date.fromisoformat(given) if given else today
        if since > today:
            raise Refused("A case can't become unallocated in the future; give an earlier date.")
        manager = manager or actor
        if not self.roster.is_manager(manager):
            raise Refused(
                say(user(manager), " isn't a manager on this team, so can't be its team manager.")
            )
        values: dict[str, object] = {
            "state": cases_db.OPEN, "ray": ray, "ray_rated_at": now if ray else None,
            "team_manager": manager, "unallocated_since": since, "added_at": now,
            "last_review_at": None, "summary_at": None, "oversight_note_at": None,
            "letter_on": None, "contact_on": None, "visit_on": None, "allocated_to": None,
        }  # fmt: skip
        try:
            with self.db.session() as s:
                case = cases_db.case_by_ref(s, self.name, ref)
                if case is not None and case.state == cases_db.OPEN:
                    raise Refused(
                        f"{ref} is already on the register, unallocated since "
                        f"{day_text(case.unallocated_since)}."
                    )
                if case is None:
                    case = cases_db.add_case(s, Case(team=self.name, ref=ref, spell=1, **values))
                    kind = "case_added"
                else:  # allocated or closed before, and waiting for a worker again
                    values["spell"] = case.spell + 1
                    if not cases_db.change_case(s, case.id, [Case.state != cases_db.OPEN], values):
                        raise Refused(f"{ref} was added just now by someone else.")
                    kind = "case_readded"
                self._event(
                    s, case, actor, kind, ray=ray, since=since.isoformat(),
                    team_manager=manager,
                )  # fmt: skip
        except IntegrityError:
            raise Refused(f"{ref} was added just now by someone else.") from None
        added = Case(team=self.name, ref=ref, **values)  # as stored: no need to read it back
        due = [f"First review due {day_text(next_review(added, rules, self.cal, self.team))}"]
        due += [
            f"{d.short} due {day_text(d.due)}" for d in deadlines(added, rules, self.cal, self.team)
        ]
        return say(
            f"{ref} is on the register: {ray_text(ray)}, unallocated since "
            f"{day_text(since)}, team manager ",
            user(manager),
            f". {'; '.join(due)}.",
        )

    def rate(self, actor: str, ref: str, ray: str, why: str) -> Message:
        nxt = rating_due(self.cal, self.rules, self.today())
        with self.db.session() as s:
            case = self._open(s, ref)
            before = case.ray
            now = self.clock.now()
            self._change(s, case, {"ray": ray, "ray_rated_at": now})
            self._event(s, case, actor, "case_rated", why, before=before, ray=ray)
        if before == ray:
            reply = f"{ref} stays {ray_text(ray)}; the rating review is recorded."
        else:
            reply = f"{ref} is now {ray_text(ray)} (was {ray_text(before)})."
        return text(reply + (f" Next RAY review due {day_text(nxt)}." if nxt else ""))

    def review(self, actor: str, ref: str, note: str) -> Message:
        nxt = review_due(self.cal, self.rules, self.today())
        with self.db.session() as s:
            case = self._open(s, ref)
            now = self.clock.now()
            self._change(
                s, case,
                {"last_review_at": now,
                 # A manager's review is the management oversight note the policy asks for.
                 "oversight_note_at": case.oversight_note_at or now},
            )  # fmt: skip
            self._event(s, case, actor, "case_reviewed", note, next_due=nxt.isoformat())
        return text(f"Review of {ref} recorded. Next review due {day_text(nxt)}.")

    def summary(self, actor: str, ref: str) -> Message:
        with self.db.session() as s:
            case = self._open(s, ref)
            self._change(s, case, {"summary_at": self.clock.now()})
            self._event(s, case, actor, "case_summary")
        return text(f"Case summary for {ref} recorded.")

    def allocate(self, actor: str, ref: str, to: str) -> Message:
        with self.db.session() as s:
            case = self._open(s, ref)
            self._change(s, case, {"state": "allocated", "allocated_to": to})
            self._event(s, case, actor, "case_allocated", to=to)
        return say(
            f"{ref} is allocated to ",
            user(to),
            " and off the unallocated register. Its reminders have stopped.",
        )

    def close(self, actor: str, ref: str, why: str) -> Message:
        with self.db.session() as s:
            case = self._open(s, ref)
            self._change(s, case, {"state": "closed"})
            self._event(s, case, actor, "case_closed", why)
        return text(f"{ref} is closed and off the unallocated register. "
                    "Its reminders have stopped.")  # fmt: skip

    # ---- any member -------------------------------------------------------------------------

    def seen(self, actor: str, ref: str, what: str, on: str | None) -> Message:
        with self.db.session() as s:
            case = self._open(s, ref)
            day = self._day(case, on, what)
            # A visit is also contact with the child.
            values: dict[str, object] = {"contact_on": max(case.contact_on or day, day)}
            if what == "visit":
                values["visit_on"] = max(case.visit_on or day, day)
            self._change(s, case, values)
            self._event(s, case, actor, "case_seen", what=what, on=day.isoformat())
        return text(f"{what.capitalize()} for {ref} on {day_text(day)} recorded.")

    def letter(self, actor: str, ref: str, on: str | None) -> Message:
        with self.db.session() as s:
            case = self._open(s, ref)
            day = self._day(case, on, "letter")
            self._change(s, case, {"letter_on": max(case.letter_on or day, day)})
            self._event(s, case, actor, "case_letter", on=day.isoformat())
        return text(f"Letter for {ref} sent {day_text(day)} recorded.")

    def list_cases(self, actor: str, which: str | None) -> Message:
        today = self.today()
        with self.db.session() as s:
            report = build_report(s, self.team, self.cal, today)
        rows = list(report.rows)
        match which:
            case "red" | "amber" | "yellow":
                rows = [r for r in rows if r.ray == which]
            case "overdue":
                rows = [r for r in rows if r.overdue]
            case "mine":
                rows = [r for r in rows if r.team_manager == actor]
        which = {None: "", "mine": " of yours", "overdue": " with something overdue"}.get(
            which, f" rated {which}"
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

    def show(self, actor: str, ref: str) -> Message:
        today, rules, tz = self.today(), self.rules, self.team.tz
        with self.db.session() as s:
            case = self._case(s, ref)
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
        last = local_day(case.last_review_at, self.team)
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
