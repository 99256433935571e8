"""Task actions: claim, unclaim, assign, resolve, reopen, alert, flag, note, follow up.

Each changes state with a conditional update, writes an event and queues the thread reply,
all in one transaction. Replies are short plain sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.kernel.clean import tidy
from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.kernel.errors import Refused
from bot.kernel.message import Message, lines, ping, say, text, user
from bot.kernel.roles import Roster
from bot.kernel.when import WhenError, parse_when
from bot.people.directory import About, Colleague, People, not_ours
from bot.people.words import away_words
from bot.tasks.cards import card_view, clock_time, leader_on_record, local_time
from storage import tasks as q
from storage.db import Database
from storage.models import Task

LIST_PAGE = 50  # tasks to a page of /duty list


@dataclass(frozen=True)
class _AlertPlan:
    people: list[str]  # who gets the alert, in order
    worker: str | None  # the worker among them, if any
    leader: Colleague | None  # the worker's team leader, if known
    notes: Message  # what the reply adds: a team leader not known, someone away


@dataclass
class Tasks:
    """One team's tasks: the actions on them, bound to its database, roster and clock. Who may
    do each is checked before (bot/tasks/commands.py); these check the task's own state."""

    db: Database
    team: TeamConfig
    roster: Roster
    clock: Clock
    safeguarding_contacts: Any = field(default=None)  # callable -> list of user ids (the rota)
    people: People | None = None  # the directory: team leaders, who is away

    @property
    def name(self) -> str:
        return self.team.name

    # ---- helpers ----------------------------------------------------------------------

    def _task(self, s: Session, number: int) -> Task:
        task = q.task_by_number(s, self.name, number)
        if task is None:
            raise Refused(f"There is no task #{number}. Try /duty list to see open tasks.")
        return task

    def _record(
        self,
        s: Session,
        task: Task,
        actor: str,
        kind: str,
        thread: Message,
        note: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        now = self.clock.now()
        q.add_event(
            s, team=self.name, task_id=task.id, actor=actor, kind=kind, at=now, note=note, data=data
        )
        q.queue_message(
            s, team=self.name, kind="thread", task_id=task.id, body=thread.to_json(), at=now
        )

    def _since(self, when: datetime | None) -> str:
        if when is None:
            return ""
        now_local = self.clock.now().astimezone(self.team.tz).date()
        if when.astimezone(self.team.tz).date() == now_local:
            return clock_time(when, self.team.tz)
        return local_time(when, self.team.tz)

    def _held_by(self, task: Task, actor: str) -> Message:
        if task.claimed_by == actor:
            return text(f"You already have #{task.number}.")
        return say(
            f"#{task.number} is already claimed by ",
            user(task.claimed_by or "someone"),
            f" since {self._since(task.claimed_at)}.",
        )

    # ---- actions ----------------------------------------------------------------------

    def claim(self, actor: str, number: int) -> Message:
        with self.db.session() as s:
            task = self._task(s, number)
            now = self.clock.now()
            won = q.transition(
                s,
                task.id,
                [q.Task.state == "open"],
                {"state": "claimed", "claimed_by": actor, "claimed_at": now},
            )
            if not won:
                s.refresh(task)
                if task.state == "resolved":
                    raise Refused(
                        f"#{number} is already resolved. Use /duty reopen {number} to reopen it."
                    )
                raise Refused(self._held_by(task, actor))
            self._record(s, task, actor, "claimed", say("Claimed by ", user(actor), "."))
        return text(f"You've claimed #{number}.")

    def unclaim(self, actor: str, number: int) -> Message:
        """Anyone on the team may release a task; someone else's is named back, in the
        thread, and to them (they may be mid-call on it)."""
        with self.db.session() as s:
            task = self._task(s, number)
            if task.state != "claimed":
                raise Refused(f"#{number} isn't claimed, so there is nothing to release.")
            holder = task.claimed_by if task.claimed_by != actor else None
            won = q.transition(
                s,
                task.id,
                [q.Task.state == "claimed", q.Task.claimed_by == task.claimed_by],
                {"state": "open", "claimed_by": None, "claimed_at": None},
            )
            if not won:
                raise Refused(f"#{number} changed just now. Check it with /duty show {number}.")
            was = say(" (it was ", user(holder), "'s)") if holder else Message()
            self._record(s, task, actor, "unclaimed", say("Released by ", user(actor), was, "."))
            if holder:
                told = say(user(actor), f" released #{number} ({task.subject}), which you had ")
                self._tell_holder(s, task, holder, told + "claimed. It is open again.")
        if holder:
            return say(
                f"#{number} was ", user(holder), "'s; it is open again, and ", user(holder),
                " has been told.",
            )  # fmt: skip
        return text(f"You've released #{number}. It is open again.")

    def _tell_holder(self, s: Session, task: Task, holder: str, body: Message) -> None:
        """A DM to whoever had claimed a task someone else has just released or resolved."""
        at, body_json = self.clock.now(), body.to_json()
        q.queue_message(
            s, team=self.name, kind="dm", target=holder, task_id=task.id, body=body_json, at=at
        )

    def assign(self, actor: str, number: int, to: str) -> Message:
        if not self.roster.is_member(to):
            raise Refused(
                say(user(to), " isn't on the duty team, so #", str(number), " can't go to them.")
            )
        with self.db.session() as s:
            task = self._task(s, number)
            if task.state == "resolved":
                raise Refused(f"#{number} is resolved. Reopen it first: /duty reopen {number}")
            won = q.transition(
                s,
                task.id,
                [q.Task.state != "resolved"],
                {"state": "claimed", "claimed_by": to, "claimed_at": self.clock.now()},
            )
            if not won:
                raise Refused(f"#{number} was resolved just now, so it wasn't assigned.")
            self._record(
                s,
                task,
                actor,
                "assigned",
                say("Assigned to ", user(to), " by ", user(actor), "."),
                data={"to": to},
            )
        return say(f"#{number} is now with ", user(to), ".")

    def resolve(
        self,
        actor: str,
        number: int,
        note: str,
        checklist: dict[str, Any] | None = None,
        follow_up_at: datetime | None = None,
    ) -> Message:
        """Resolve; ``follow_up_at`` books the agreed follow-up in the same transaction."""
        note = note.strip()
        if self.team.resolve_note_required and not note:
            raise Refused(
                f"Please say what was done, like: /duty resolve {number} "
                "recorded on Mosaic and alerted the PA"
            )
        now = self.clock.now()
        if follow_up_at is not None and follow_up_at <= now:
            raise Refused(
                "The follow-up date has already passed. Pick a later day.", field="follow_up_date"
            )
        with self.db.session() as s:
            task = self._task(s, number)
            had = task.claimed_by
            holder = had if task.state == "claimed" and had != actor else None
            # Only if nobody claimed it since we looked, so the holder named is the right one.
            same = q.Task.claimed_by.is_(None) if had is None else q.Task.claimed_by == had
            won = q.transition(
                s,
                task.id,
                [q.Task.state != "resolved", same],
                {
                    "state": "resolved",
                    "resolved_by": actor,
                    "resolved_at": self.clock.now(),
                    "resolve_note": note or None,
                },
            )
            if not won:
                s.refresh(task)
                if task.state != "resolved":
                    raise Refused(f"#{number} changed just now. Check it with /duty show {number}.")
                raise Refused(
                    say(f"#{number} is already resolved by ", user(task.resolved_by or ""), ".")
                )
            q.mark_emails_for_done(s, task.id)
            suffix = f": {note}" if note else "."
            if checklist is not None:  # the alert is what really happened, never a tick box
                checklist = {**checklist, "alerted": self.alerted_both(s, task)}
            data: dict[str, Any] = {"checklist": checklist} if checklist else {}
            was = say(" (it was ", user(holder), "'s)") if holder else Message()
            reply = say("Resolved by ", user(actor), was, suffix)
            if follow_up_at is not None:
                q.add_follow_up(
                    s,
                    team=self.name,
                    task_id=task.id,
                    owner=actor,
                    due_at=follow_up_at,
                    note="agreed on resolve",
                    at=now,
                )
                data["follow_up_at"] = follow_up_at.isoformat()
                reply = reply + f" Follow-up agreed for {local_time(follow_up_at, self.team.tz)}."
            self._record(s, task, actor, "resolved", reply, note=note, data=data or None)
            if holder:
                told = say(user(actor), f" resolved #{number} ({task.subject}), ")
                self._tell_holder(s, task, holder, told + f"which you had claimed{suffix}")
        moves = " Its email will move to Done." if task.channel == "email" else ""
        if holder:
            return say(
                f"#{number} was ", user(holder), "'s; it is resolved, and ", user(holder),
                f" has been told.{moves}",
            )  # fmt: skip
        return text(f"#{number} is resolved.{moves}")

    def reopen(self, actor: str, number: int, why: str) -> Message:
        with self.db.session() as s:
            task = self._task(s, number)
            won = q.reopen_if_resolved(s, task.id)
            if not won:
                raise Refused(f"#{number} isn't resolved, so it can't be reopened.")
            suffix = f": {why}" if why else "."
            self._record(s, task, actor, "reopened", say("Reopened by ", user(actor), suffix), why)
        return text(f"#{number} is open again.")

    def alert(self, actor: str, number: int, people: Sequence[str], note: str) -> Message:
        """Alert people about a task by DM. With nobody named: the allocated worker and their
        team leader (seeds/000: "alert their allocated worker and Team Leader"). Anyone named
        from outside the duty team is taken for a worker: their team leader is alerted too."""
        named = list(dict.fromkeys(people))
        with self.db.session() as s:
            task = self._task(s, number)
            worker, on_record = task.worker, leader_on_record(s, task.id)
        if not named and not worker:
            raise Refused(
                f"Say who to alert, like: /duty alert {number} @alex rang about rent, "
                f"or set the allocated worker first: /duty worker {number} @kim"
            )
        plan = self._plan_alert(worker, on_record, named or [worker or ""])
        self._only_ours([p for p in plan.people if not self.roster.is_member(p)])
        with self.db.session() as s:
            task = self._task(s, number)
            now = self.clock.now()
            who = Message()
            for i, p in enumerate(plan.people):
                who = who + (text(", ") if i else Message()) + ping(p)
            suffix = f": {note}" if note else "."
            data: dict[str, Any] = {"people": plan.people}
            if plan.worker and plan.leader and plan.leader.user in plan.people:
                data |= {"worker": plan.worker, "team_leader": plan.leader.user}
            self._record(
                s, task, actor, "alerted", say(who, " alerted by ", user(actor), suffix),
                note=note, data=data,
            )  # fmt: skip
            for p in plan.people:
                role = say(", as team leader of ", user(plan.worker or "")) if (
                    plan.leader and p == plan.leader.user and p != plan.worker
                ) else Message()  # fmt: skip
                dm = say(
                    user(actor),
                    f" alerted you to duty task #{number}",
                    role,
                    f": {task.subject}",
                    f"\nNote: {note}" if note else "",
                ).with_fallback(f"{_kind(task)}lert about duty task #{number}")
                q.queue_message(
                    s, team=self.name, kind="dm", target=p, task_id=task.id, body=dm.to_json(),
                    at=now,
                )  # fmt: skip
        return say(f"Alert sent about #{number} to ", who, ".") + plan.notes

    def _only_ours(self, users: list[str]) -> None:
        """Duty work goes only to the organisation's own people (and the team's alert group,
        if it has one): refuse, in one sentence, before anything is sent."""
        if not users:
            return
        group = self.roster.group(self.team.alert_group) if self.team.alert_group else None
        said = not_ours(self.people, users, group)
        if said is not None:
            raise Refused(said)

    def _plan_alert(
        self, worker: str | None, on_record: Colleague | None, named: list[str]
    ) -> _AlertPlan:
        """Who an alert goes to, and what to say about the worker's team leader and whether
        the worker is in. The directory is asked outside any transaction, within its wait."""
        outsiders = [p for p in named if p == worker or not self.roster.is_member(p)]
        found = self.people.about(outsiders) if self.people and outsiders else {}
        recipients, notes = list(named), Message()
        the_worker = worker if worker in named else (outsiders[0] if outsiders else None)
        the_leader: Colleague | None = None
        for p in outsiders:
            about = found.get(p, About(None, None))
            leader = about.leader or (on_record if p == worker else None)
            if p == the_worker:
                the_leader = leader
            if leader is None:
                notes += say(" ", user(p), "'s team leader isn't known, so tell them another way.")
            elif leader.user is None:
                notes += say(
                    " ", user(p), f"'s team leader, {tidy(leader.name or leader.email or '')}, "
                    "isn't in the chat: tell them another way.",
                )  # fmt: skip
            elif leader.user not in recipients:
                recipients.append(leader.user)
            now = self.clock.now()
            notes += away_words(p, about.reply, leader, self.team.tz, now)
        return _AlertPlan(recipients, the_worker, the_leader, notes)

    def alerted_both(self, s: Session, task: Task) -> bool:
        """Has an alert reached the allocated worker and their team leader together? (With
        no worker set, an alert to a worker and their team leader counts.)"""
        for ev in q.events_of_kinds(s, task.id, ["alerted"]):
            data = ev.data or {}
            reached = bool(data.get("worker") and data.get("team_leader"))
            if reached and (not task.worker or data["worker"] == task.worker):
                return True
        return False

    def alert_state(self, number: int) -> str:
        """What the resolve form says about the alert: done or not, never typed in."""
        with self.db.session() as s:
            task = self._task(s, number)
            done = self.alerted_both(s, task)
        if done:
            return "Done: an alert reached the allocated worker and their team leader."
        return (
            "Not yet. Alert them with the card's Alert button (or /duty alert "
            f"{number}) before resolving, or say in the note why not."
        )

    def flag(self, actor: str, number: int, flag: str, on: bool = True) -> Message:
        if flag not in ("urgent", "safeguarding"):
            raise Refused(f"'{flag}' isn't a flag. Use urgent or safeguarding.")
        with self.db.session() as s:
            task = self._task(s, number)
            if getattr(task, flag) == on:
                state = "already" if on else "not"
                raise Refused(f"#{number} is {state} flagged {flag}.")
            hints = {k: v for k, v in (task.hints or {}).items() if k != flag}  # decided now
            q.transition(s, task.id, [], {flag: on, "hints": hints})
            kind = "flagged" if on else "unflagged"
            verb = "Flagged" if on else "Unflagged"
            self._record(
                s,
                task,
                actor,
                kind,
                say(f"{verb} {flag} by ", user(actor), "."),
                data={"flag": flag, **({"hint": task.hints[flag]} if flag in task.hints else {})},
            )
            told = self._tell_safeguarding(s, task, actor) if on and flag == "safeguarding" else ""
        return text(f"#{number} is {'flagged' if on else 'no longer flagged'} {flag}.{told}")

    def dismiss(self, actor: str, number: int, flag: str) -> Message:
        """A person decided the words only looked like safeguarding (or urgency)."""
        with self.db.session() as s:
            task = self._task(s, number)
            words = (task.hints or {}).get(flag)
            if not words:
                raise Refused(f"#{number} has no {flag} hint to clear.")
            hints = {k: v for k, v in task.hints.items() if k != flag}
            q.transition(s, task.id, [], {"hints": hints})
            said = say(f"Not {flag}, decided by ", user(actor), ".")
            self._record(s, task, actor, "hint_dismissed", said, data={"flag": flag, "hint": words})
        return text(f"#{number} is marked not {flag}.")

    def tag(self, actor: str, number: int, category: str, on: bool = True) -> Message:
        """Put a task in a category by hand (or take it out)."""
        known = [c.name for c in self.team.categories]
        if category not in known:
            raise Refused(f"'{category}' isn't a category here; use {' or '.join(known)}.")
        with self.db.session() as s:
            task = self._task(s, number)
            have = list(task.categories or [])
            if (category in have) == on:
                raise Refused(f"#{number} is {'already' if on else 'not'} {category}.")
            have = [*have, category] if on else [c for c in have if c != category]
            q.transition(s, task.id, [], {"categories": have})
            kind, said = ("tagged", "Marked") if on else ("untagged", "Unmarked")
            self._record(
                s, task, actor, kind, say(f"{said} {category} by ", user(actor), "."),
                data={"category": category},
            )  # fmt: skip
        return text(f"#{number} is {'now' if on else 'no longer'} {category}.")

    def _tell_safeguarding(self, s: Session, task: Task, actor: str) -> str:
        """DM today's duty manager and back-up (never the flagger: it is their own action);
        the words to add to the reply about who was told."""
        contacts = (
            self.safeguarding_contacts()
            if self.safeguarding_contacts
            else self.roster.managers()[:1]
        )
        manager = contacts[0] if contacts else None
        contacts = [who for who in contacts if who != actor]
        body = say(
            "Safeguarding: ",
            user(actor),
            f" flagged duty task #{task.number} ({task.subject}). "
            "If anyone is in immediate danger, call 999.",
        ).with_fallback(f"Safeguarding: duty task #{task.number} was flagged")
        for who in contacts:
            q.queue_message(
                s,
                team=self.name,
                kind="dm",
                target=who,
                task_id=task.id,
                body=body.to_json(),
                at=self.clock.now(),
            )
        if not contacts:
            return ""
        return (
            " The duty manager has been told."
            if manager in contacts
            else (" The back-up has been told.")
        )

    def note(self, actor: str, number: int, note: str) -> Message:
        note = note.strip()
        if not note:
            raise Refused(f"Write the note after the number, like: /duty note {number} rang back")
        with self.db.session() as s:
            task = self._task(s, number)
            q.transition(s, task.id, [], {})
            self._record(s, task, actor, "noted", say("Note from ", user(actor), f": {note}"), note)
        return text(f"Note added to #{number}.")

    def follow_up(self, actor: str, number: int, when: str, note: str) -> Message:
        now = self.clock.now()
        try:
            due = parse_when(when, now, self.team.tz)
        except WhenError as exc:
            raise Refused(str(exc)) from None
        if due <= now:
            raise Refused(f"{local_time(due, self.team.tz)} has already passed. Pick a later time.")
        with self.db.session() as s:
            task = self._task(s, number)
            q.add_follow_up(
                s, team=self.name, task_id=task.id, owner=actor, due_at=due, note=note, at=now
            )
            q.transition(s, task.id, [], {})
            shown = local_time(due, self.team.tz)
            self._record(
                s,
                task,
                actor,
                "follow_up_set",
                say(
                    "Follow-up set by ", user(actor), f" for {shown}", f": {note}" if note else "."
                ),
                note=note,
                data={"due_at": due.isoformat()},
            )
        return text(f"Follow-up for #{number} set for {shown}. I'll remind you then.")

    # ---- reading ----------------------------------------------------------------------

    def list_tasks(self, actor: str, scope: str, page: int = 1) -> Message:
        if scope not in ("open", "mine", "all"):
            return self._list_category(scope, page)
        mine = actor if scope == "mine" else None
        states, title = {
            "mine": (["claimed"], "Your claimed tasks"),
            "all": (["open", "claimed", "resolved"], "All tasks"),
            "open": (["open", "claimed"], "Open tasks"),
        }[scope]
        with self.db.session() as s:
            total = q.count_tasks(s, self.name, states, claimed_by=mine)
            if not total:
                empty = "You have no claimed tasks." if scope == "mine" else "Nothing open. "
                return text(empty if scope == "mine" else empty + "The inbox is clear.")
            tasks = q.list_tasks(
                s, self.name, states, claimed_by=mine, limit=LIST_PAGE,
                offset=(page - 1) * LIST_PAGE,
            )  # fmt: skip
            return self._page(title, scope, page, total, [self.summary_line(t) for t in tasks])

    def _list_category(self, category: str, page: int = 1) -> Message:
        """`/duty list financial`: the open and claimed tasks in one category."""
        known = [c.name for c in self.team.categories]
        if category not in known:
            lists = ", ".join(["open", "mine", "all", *known])
            raise Refused(f"'{category}' isn't a list. Use: /duty list {lists}")
        with self.db.session() as s:
            found = [
                t for t in q.list_tasks(s, self.name, ["open", "claimed"], limit=500)
                if category in (t.categories or [])
            ]  # fmt: skip
            if not found:
                return text(f"No open {category} tasks.")
            shown = found[(page - 1) * LIST_PAGE : page * LIST_PAGE]
            rows = [self.summary_line(t) for t in shown]
            return self._page(f"Open {category} tasks", category, page, len(found), rows)

    def _page(self, title: str, scope: str, page: int, total: int, rows: list[Message]) -> Message:
        """One page of a list: all of it under "Title (N):", or a page of a long one with
        where it is in the whole and how to see the next."""
        last_page = (total + LIST_PAGE - 1) // LIST_PAGE
        if not rows:
            return text(f"{title}: there are only {last_page} pages. Use: /duty list {scope}")
        if total <= LIST_PAGE:
            return lines([text(f"{title} ({total}):"), *rows])
        first = (page - 1) * LIST_PAGE + 1
        head = text(f"{title} ({first:,} to {first + len(rows) - 1:,} of {total:,}):")
        more = [text(f"More: /duty list {scope} {page + 1}")] if page < last_page else []
        return lines([head, *rows, *more])

    def summary_line(self, task: Task) -> Message:
        flags = "".join(f"[{f.upper()}] " for f in ("safeguarding", "urgent") if getattr(task, f))
        if task.state == "claimed":
            who = say(" (", user(task.claimed_by or ""), ")")
        elif task.state == "resolved":
            who = text(" (resolved)")
        else:
            who = text(" (unclaimed)")
        return say(f"#{task.number} {flags}{task.subject}", who)

    def show(self, actor: str, number: int) -> Message:
        with self.db.session() as s:
            task = self._task(s, number)
            card = card_view(task, self.team.tz, leader_on_record(s, task.id))
            rows = [
                text(f"#{task.number} {card.subject}"),
                card.origin + f", {card.received}",
                card.state_line,
            ]
            if card.worker.parts:
                rows.append(card.worker)
            if card.flags:
                rows.append(text("Flags: " + ", ".join(card.flags)))
            if card.preview:
                rows.append(text(card.preview))
            if card.attachments:
                rows.append(text(card.attachments))
            for fu in q.follow_ups_of_task(s, task.id):
                status = "done" if fu.done_at else "due"
                rows.append(
                    say(
                        f"Follow-up {status} {local_time(fu.due_at, self.team.tz)} (",
                        user(fu.owner),
                        f"){': ' + fu.note if fu.note else ''}",
                    )
                )
            history = q.events_of_task(s, task.id, limit=20)
            if history:
                rows.append(text("History:"))
                for ev in history:
                    note = f": {ev.note}" if ev.note else ""
                    rows.append(
                        say(
                            f"  {local_time(ev.at, self.team.tz)} {ev.kind.replace('_', ' ')} by ",
                            user(ev.actor) if ev.actor != "mailbox" else text("the inbox"),
                            note,
                        )
                    )
            if card.web_link:
                rows.append(text(f"Open in Outlook: {card.web_link}"))
        return lines(rows)


def _kind(task: Task) -> str:
    """The start of a notification: "Safeguarding: a" for a safeguarding task, else "A"."""
    return "Safeguarding: a" if task.safeguarding else "A"
