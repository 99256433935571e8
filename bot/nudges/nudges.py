"""Nudges: reminders the database drives, sent only in office hours on working days.

Each pass looks at the database and sends whatever is due at ``now``:
- a task unclaimed for `unclaimed_minutes` of office time: a thread reminder and a DM to
  today's duty manager, repeated at most every `unclaimed_repeat_minutes`;
- a safeguarding task unclaimed for `safeguarding_minutes`: a DM to the duty manager and
  the back-up, repeated at most every `safeguarding_repeat_minutes`;
- a claimed task with no event for `stale_claim_hours` working hours: a DM to its claimer
  with "Still on it" and "Release" buttons (again after as long, if nothing happens);
- a follow-up that has come due: a DM to its owner, or to today's PA 1 if the owner is not
  on today's rota; one out of hours goes at the next office-hours pass;
- no duty manager on the rota for the next working day by `rota_missing_by`: a DM to the
  managers, once.
A DM meant for someone who is out (`/duty out`) goes to whoever has the duty phone until
they are back (bot/rota/cover.py), saying who it was for.

Each nudge records when it was last sent (the `nudges` table) in the same transaction as
its chat messages, so a restart neither repeats nor misses one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.kernel.calendar import WorkingCalendar, day_began
from bot.kernel.config import NudgesConfig, OfficeHoursConfig
from bot.kernel.message import Action, Message, button, lines, say, text, user
from bot.kernel.words import count
from bot.rota.cover import CoverNow, PhoneCover
from bot.rota.rota import Rota
from bot.tasks.actions import Tasks
from bot.tasks.cards import clock_time, local_time
from storage import nudges as nudges_db
from storage import tasks as q
from storage.due import TeamDue
from storage.models import Task

log = logging.getLogger(__name__)


# ---- office time -------------------------------------------------------------------------


def in_office_hours(
    now: datetime, tz: ZoneInfo, cal: WorkingCalendar, hours: OfficeHoursConfig
) -> bool:
    local = now.astimezone(tz)
    return cal.is_working_day(local.date()) and hours.start <= local.time() < hours.end


def office_time_between(
    a: datetime,
    b: datetime,
    tz: ZoneInfo,
    cal: WorkingCalendar,
    hours: OfficeHoursConfig,
    cap: timedelta | None = None,
) -> timedelta:
    """Office time (working days, within office hours) from ``a`` to ``b``.

    Stops counting once ``cap`` is reached: callers only ask "at least this long?".
    """
    total = timedelta(0)
    if b <= a:
        return total
    day, last = a.astimezone(tz).date(), b.astimezone(tz).date()
    while day <= last:
        if cal.is_working_day(day):
            start = datetime.combine(day, hours.start, tzinfo=tz)
            end = datetime.combine(day, hours.end, tzinfo=tz)
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += hi - lo
            if cap is not None and total >= cap:
                return total
        day += timedelta(days=1)
    return total


# ---- the buttons -------------------------------------------------------------------------


def _waiting(items: list[q.OpenTask], one: str, many: str) -> str:
    """ "Duty task #8 is unclaimed" or "3 duty tasks are unclaimed": no personal data."""
    if len(items) == 1:
        return f"duty task #{items[0].task.number} {one} unclaimed"
    return f"{len(items)} duty tasks {many} unclaimed"


def _old_mail(item: q.OpenTask) -> bool:
    return item.task.backlog and item.spells == 1


def possibly_safeguarding(task: Task) -> bool:
    """Flagged, or its words hint at it and nobody has decided yet: the 10-minute clock runs."""
    return task.safeguarding or "safeguarding" in (task.hints or {})


def _hinted(task: Task) -> str:
    words = (task.hints or {}).get("safeguarding")
    return f", possible safeguarding: {', '.join(words)}" if words and not task.safeguarding else ""


def stale_buttons(number: int) -> Message:
    """ "Still on it" and "Release", for the claimer asked whether they still have a task."""
    value = str(number)
    return say(
        button(Action("Still on it", "still on it", value)),
        " ",
        button(Action("Release", "unclaim", value)),
    )


# ---- the nudges --------------------------------------------------------------------------


@dataclass
class Nudger:
    tasks: Tasks
    cal: WorkingCalendar
    rota: Rota
    hours: OfficeHoursConfig
    rules: NudgesConfig
    cover: PhoneCover | None = None  # who is out, and who has the phone meanwhile
    # Today's mail as storage.due last saw it when every oversight DM it called for was sent:
    # the same again means nothing new to tell (a new task or a new category changes it).
    _told_mail: tuple[date, tuple[int, int]] | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.tasks.name

    @property
    def tz(self) -> ZoneInfo:
        return self.tasks.team.tz

    def run(self, now: datetime) -> int:
        """Send every nudge that is due at ``now``; returns how many went out."""
        return sum(send() for _, send in self.parts(now))

    def parts(
        self, now: datetime, due: TeamDue | None = None
    ) -> list[tuple[str, Callable[[], int]]]:
        """Each kind of nudge due at ``now`` as (name, send), in the order `run` sends them,
        so the scheduler can guard each on its own; ``send()`` returns how many went out.
        None out of office hours (held: the next pass in office hours sends what is due).
        ``due`` (storage.due, for many teams at once) lets a kind that can have nothing due
        yet skip its own question."""
        if not in_office_hours(now, self.tz, self.cal, self.hours):
            return []
        day = now.astimezone(self.tz).date()
        read: list[CoverNow] = []

        def today() -> CoverNow:
            # Read by the first kind that needs it and kept for the others (with many teams,
            # each pass reading it once a team counts); a failed read fails that kind alone,
            # and the next kind reads again.
            if not read:
                if self.cover is None:
                    read.append(CoverNow(self.rota.day(day), self.tz))
                else:
                    read.append(self.cover.of_day(day))
            return read[0]

        return [
            # Each kind reads today's cover only once it has something to send (idle passes
            # of many teams then cost one cheap question a kind).
            ("unclaimed", lambda: self._unclaimed(now, today, due)),  # safeguarding too
            ("stale_claims", lambda: self._stale_claims(now, today, due)),
            ("follow_ups", lambda: self._follow_ups(now, today, due)),
            ("rota_missing", lambda: self._rota_missing(now)),
            ("oversight", lambda: self._oversight(now, today, due)),
        ]

    @staticmethod
    def _too_soon(since: datetime | None, now: datetime, minutes: float) -> bool:
        """Nothing since then, or not even ``minutes`` of any time since (office time is
        never more than the time on the clock)."""
        return since is None or now - since < timedelta(minutes=minutes)

    def _office(self, since: datetime, now: datetime, cap: timedelta) -> bool:
        return office_time_between(since, now, self.tz, self.cal, self.hours, cap) >= cap

    def _since(self, when: datetime, now: datetime) -> str:
        same_day = when.astimezone(self.tz).date() == now.astimezone(self.tz).date()
        return clock_time(when, self.tz) if same_day else local_time(when, self.tz)

    def _send(
        self,
        kind: str,
        subject: str,
        previous: datetime | None,
        now: datetime,
        write: Callable[[Session], None],
    ) -> int:
        """Record the nudge and queue its messages in one transaction; 0 if another won."""
        try:
            with self.tasks.db.session() as s:
                if not nudges_db.record_nudge(
                    s, team=self.name, kind=kind, subject=subject, at=now, previous=previous
                ):
                    return 0
                write(s)
        except IntegrityError:
            return 0  # another process sent this one first
        return 1

    def _dm_for(
        self, s: Session, who: str, body: Message, now: datetime, task: Task | None, c: CoverNow
    ) -> None:
        """A DM to ``who``, or while they are out to whoever has the phone, saying whose."""
        to = c.forward(who)
        if to != who:
            body = say("For ", user(who), ", who", c.out_until(who), ":\n", body)
        self._dm(s, to, body, now, task)

    def _dm(self, s: Session, who: str, body: Message, now: datetime, task: Task | None) -> None:
        q.queue_message(
            s,
            team=self.name,
            kind="dm",
            target=who,
            task_id=task.id if task else None,
            body=body.to_json(),
            at=now,
        )

    # -- unclaimed, and unclaimed safeguarding --

    def _unclaimed(
        self, now: datetime, today: Callable[[], CoverNow], due: TeamDue | None = None
    ) -> int:
        r = self.rules
        first = min(r.unclaimed_minutes, r.safeguarding_minutes)
        if due is not None and self._too_soon(due.oldest_open, now, first):
            return 0
        with self.tasks.db.session() as s:
            # Mail already in the inbox at the first start is not chased while it waits.
            waiting = [w for w in q.open_tasks_since(s, self.name) if not _old_mail(w)]
            if not waiting:
                return 0  # nothing waiting: no reminders to look up
            sent_plain = nudges_db.last_nudges(s, self.name, "unclaimed")
            sent_sg = nudges_db.last_nudges(s, self.name, "safeguarding")
        plain = [
            w for w in waiting
            if self._due(w, now, sent_plain, r.unclaimed_minutes, r.unclaimed_repeat_minutes)
        ]  # fmt: skip
        urgent = [
            w for w in waiting if possibly_safeguarding(w.task)
            and self._due(w, now, sent_sg, r.safeguarding_minutes, r.safeguarding_repeat_minutes)
        ]  # fmt: skip
        if not plain and not urgent:
            return 0
        cover = today()
        return self._send_unclaimed(plain, sent_plain, now, cover) + self._send_safeguarding(
            urgent, sent_sg, now, cover
        )

    def _due(
        self,
        item: q.OpenTask,
        now: datetime,
        sent: dict[str, datetime],
        after: int,
        repeat: int,
    ) -> bool:
        if not self._office(item.open_since, now, timedelta(minutes=after)):
            return False
        last = sent.get(str(item.task.id))
        # A reminder from before the task last became open belongs to an earlier spell.
        return last is None or last < item.open_since or now - last >= timedelta(minutes=repeat)

    def _claim_all(
        self,
        s: Session,
        kind: str,
        items: list[q.OpenTask],
        sent: dict[str, datetime],
        now: datetime,
    ) -> list[q.OpenTask]:
        """Record each nudge; keep the ones no other process recorded since we looked."""
        return [
            w for w in items
            if nudges_db.record_nudge(
                s, team=self.name, kind=kind, subject=str(w.task.id), at=now,
                previous=sent.get(str(w.task.id)),
            )
        ]  # fmt: skip

    def _send_unclaimed(
        self, items: list[q.OpenTask], sent: dict[str, datetime], now: datetime, today: CoverNow
    ) -> int:
        """A reminder in each task's thread, and one DM listing them to the duty manager."""
        if not items:
            return 0
        try:
            with self.tasks.db.session() as s:
                won = self._claim_all(s, "unclaimed", items, sent, now)
                rows = []
                for w in won:
                    shown = self._since(w.open_since, now)
                    body = text(
                        f"Still unclaimed (open since {shown}). Who can take it? "
                        f"/duty claim {w.task.number}"
                    )
                    q.queue_message(
                        s, team=self.name, kind="thread", task_id=w.task.id,
                        body=body.to_json(), at=now,
                    )  # fmt: skip
                    rows.append(text(f"  #{w.task.number} {w.task.subject} (since {shown})"))
                if won and today.day.manager:
                    over = count(self.rules.unclaimed_minutes, "minute")
                    head = text(f"Unclaimed for over {over}:")
                    task = won[0].task if len(won) == 1 else None
                    said = lines([head, *rows]).with_fallback(
                        _waiting(won, "is", "are").capitalize()
                    )
                    self._dm_for(s, today.day.manager, said, now, task, today)
        except IntegrityError:
            return 0  # another process sent these first
        return len(won)

    def _send_safeguarding(
        self, items: list[q.OpenTask], sent: dict[str, datetime], now: datetime, today: CoverNow
    ) -> int:
        """One DM to the duty manager and the back-up, listing every such task (to whoever
        has the phone instead of either who is out; one DM each person)."""
        if not items:
            return 0
        people = [today.day.people.get("manager"), today.day.people.get("backup")]
        people = [today.forward(p) for p in people if p]
        try:
            with self.tasks.db.session() as s:
                won = self._claim_all(s, "safeguarding", items, sent, now)
                rows = [
                    text(
                        f"  #{w.task.number} {w.task.subject} "
                        f"(since {self._since(w.open_since, now)}){_hinted(w.task)}"
                    )
                    for w in won
                ]
                body = lines(
                    [
                        text("Safeguarding tasks nobody has claimed yet:"),
                        *rows,
                        text(
                            "Please make sure someone takes each one now. "
                            "If anyone is in immediate danger, call 999."
                        ),
                    ]
                ).with_fallback("Safeguarding: " + _waiting(won, "is", "are"))
                task = won[0].task if len(won) == 1 else None
                for who in dict.fromkeys(p for p in people if p) if won else ():
                    self._dm(s, who, body, now, task)
        except IntegrityError:
            return 0
        return len(won)

    # -- stale claims --

    def _stale_claims(
        self, now: datetime, today: Callable[[], CoverNow], due: TeamDue | None = None
    ) -> int:
        quiet = 60 * self.rules.stale_claim_hours  # since its last event at the earliest
        if due is not None and self._too_soon(due.oldest_claim, now, quiet):
            return 0
        with self.tasks.db.session() as s:
            held = q.claimed_tasks(s, self.name)
            if not held:
                return 0  # no claims: no reminders to look up
            last_sent = nudges_db.last_nudges(s, self.name, "stale")
        cap = timedelta(hours=self.rules.stale_claim_hours)
        sent = 0
        cover: CoverNow | None = None  # read only once a claim has gone quiet
        for task in held:
            key = str(task.id)
            previous = last_sent.get(key)
            # Quiet since the last event, or since we last asked (no answer: ask again later).
            since = max(task.last_event_at, previous) if previous else task.last_event_at
            if task.claimed_by and self._office(since, now, cap):
                cover = cover or today()
                sent += self._send(
                    "stale", key, previous, now,
                    lambda s, t=task, c=cover: self._write_stale(s, t, now, c),
                )  # fmt: skip
        return sent

    def _write_stale(self, s: Session, task: Task, now: datetime, today: CoverNow) -> None:
        assert task.claimed_by
        since = self._since(task.last_event_at, now)
        to = today.forward(task.claimed_by)
        if to != task.claimed_by:
            # They are out, maybe on this very task: whoever has the phone may release it.
            body = say(
                user(task.claimed_by), ", who", today.out_until(task.claimed_by),
                f", claimed #{task.number} ({task.subject}) and nothing has been recorded on "
                f"it since {since}. If it can't wait, release it and take it on.\n",
                button(Action("Release", "unclaim", str(task.number))),
            )  # fmt: skip
            self._dm(s, to, body, now, task)
            return
        body = say(
            f"You claimed #{task.number} ({task.subject}) and nothing has been recorded on it "
            f"since {since}. Are you still on it?\n",
            stale_buttons(task.number),
        ).with_fallback(f"Are you still on duty task #{task.number}?")
        self._dm(s, task.claimed_by, body, now, task)

    # -- follow-ups --

    def _follow_ups(
        self, now: datetime, today: Callable[[], CoverNow], due: TeamDue | None = None
    ) -> int:
        if due is not None and (due.next_follow_up is None or due.next_follow_up > now):
            return 0
        with self.tasks.db.session() as s:
            come_due = q.follow_ups_due(s, self.name, now)
        if not come_due:
            return 0
        cover = today()
        sent = 0
        for fu in come_due:
            try:
                with self.tasks.db.session() as s:
                    if not q.mark_follow_up_notified(s, fu.id, now):
                        continue  # another process reminded them
                    nudges_db.record_nudge(
                        s, team=self.name, kind="follow_up", subject=str(fu.id), at=now,
                        previous=None,
                    )  # fmt: skip
                    self._write_follow_up(s, fu.task_id, fu.owner, fu.note, fu.due_at, now, cover)
                sent += 1
            except IntegrityError:
                continue
        return sent

    def _write_follow_up(
        self,
        s: Session,
        task_id: int,
        owner: str,
        note: str,
        due_at: datetime,
        now: datetime,
        today: CoverNow,
    ) -> None:
        task = s.get(Task, task_id)
        number = task.number if task else "?"
        subject = task.subject if task else ""
        what = f"Follow-up due {self._since(due_at, now)} on #{number} ({subject})"
        tail = f": {note}" if note else "."
        to = owner
        # Today's rota decides: an owner who is off duty has it covered by PA 1, and anyone
        # out (`/duty out`) by whoever has the phone.
        rota = today.day
        if rota.people and not rota.on_duty(owner):
            to = rota.people.get("pa1") or rota.people.get("manager") or owner
        if today.forward(to) == owner:
            body = text(what + tail)
        elif to != owner:
            body = say(what, ", agreed by ", user(owner), ", who isn't on duty today", tail)
        else:
            body = say(what, ", agreed by ", user(owner), ", who", today.out_until(owner), tail)
        body = body.with_fallback(f"Follow-up due on duty task #{number}")
        self._dm(s, today.forward(to), body, now, task)

    # -- the duty manager's oversight of money and housing requests (seeds/000) --

    def _oversight(
        self, now: datetime, today: Callable[[], CoverNow], due: TeamDue | None = None
    ) -> int:
        """One short DM to today's duty manager for each new task in a category marked for
        oversight (financial and accommodation by default); never about their own contact."""
        watched = {c.name for c in self.tasks.team.categories if c.oversight}
        if not watched:
            return 0
        seen = (now.astimezone(self.tz).date(), due.mail_today) if due is not None else None
        if seen is not None and seen == self._told_mail:
            return 0  # no task came or changed since everything called for was told
        sent, settled = self._tell_oversight(now, today, watched)
        if settled:
            self._told_mail = seen
        return sent

    def _tell_oversight(
        self, now: datetime, today: Callable[[], CoverNow], watched: set[str]
    ) -> tuple[int, bool]:
        """How many DMs went, and whether today's tasks are settled: none left untold for a
        reason that may change (no manager on the rota yet, or it was the manager's own)."""
        start = day_began(now, self.tz)
        with self.tasks.db.session() as s:
            fresh = q.tasks_received_between(s, self.name, start, now + timedelta(seconds=1))
        fresh = [t for t in fresh if any(c in watched for c in t.categories or [])]
        if not fresh:
            return 0, True  # nothing new today: no need to know who manages
        manager = today().day.manager
        if not manager:
            return 0, False
        with self.tasks.db.session() as s:
            told = nudges_db.last_nudges(s, self.name, "oversight")
        sent, settled = 0, True
        for task in fresh:
            kinds = [c for c in task.categories or [] if c in watched]
            if str(task.id) in told:
                continue
            if task.logged_by == manager:
                settled = False  # another manager on the rota would be told
                continue
            body = text(f"New {' and '.join(kinds)} request: #{task.number} {task.subject}")
            body = body.with_fallback(
                f"New {' and '.join(kinds)} request: duty task #{task.number}"
            )
            sent += self._send(
                "oversight", str(task.id), None, now,
                lambda s, t=task, b=body: self._dm(s, manager, b, now, t),
            )  # fmt: skip
        return sent, settled

    # -- the rota for the next working day --

    def _rota_missing(self, now: datetime) -> int:
        local = now.astimezone(self.tz)
        if local.time() < self.rules.rota_missing_by:
            return 0
        nxt: date = self.cal.next_working_day(local.date())
        if self.rota.day(nxt).is_set:
            return 0
        key = nxt.isoformat()
        with self.tasks.db.session() as s:
            if nudges_db.last_nudge(s, self.name, "rota_missing", key) is not None:
                return 0
        body = text(
            f"Nobody is on the rota as duty manager for {nxt:%a %d %b} yet. Set it with: "
            f"/duty rota set {key} manager @name pa1 @name pa2 @name backup @name"
        ).with_fallback(f"No duty manager on the rota for {nxt:%a %d %b} yet")

        def write(s: Session) -> None:
            for who in self.tasks.roster.managers():
                self._dm(s, who, body, now, None)

        return self._send("rota_missing", key, None, now, write)
