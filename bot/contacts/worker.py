"""The young person's allocated worker on a task (`/duty worker 42 @kim`): recorded with the
team leader the directory knows for them, shown on the card, and alerted together by
`/duty alert 42`. Setting a worker who is away says so at once and points to their team
leader (seeds/004 §5)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.kernel.clock import Clock
from bot.kernel.config import TeamConfig
from bot.kernel.errors import Refused
from bot.kernel.message import Message, say, user
from bot.kernel.roles import Roster
from bot.people.directory import People, not_ours
from bot.people.words import away_words, leader_words
from bot.tasks.cards import WORKER_SET
from storage import tasks as q
from storage.db import Database


@dataclass
class Workers:
    """One team's allocated workers."""

    db: Database
    team: TeamConfig
    clock: Clock
    people: People
    roster: Roster

    def set(self, actor: str, number: int, worker: str) -> Message:
        group = self.roster.group(self.team.alert_group) if self.team.alert_group else None
        said = not_ours(self.people, [worker], group)
        if said is not None:  # a worker's name goes on the card and their DMs: ours only
            raise Refused(said)
        # The directory first, outside the transaction, within its short wait.
        about = self.people.about([worker])[worker]
        leader = about.leader
        now = self.clock.now()
        with self.db.session() as s:
            task = q.task_by_number(s, self.team.name, number)
            if task is None:
                raise Refused(f"There is no task #{number}. Try /duty list to see open tasks.")
            if task.worker == worker:
                raise Refused(say(user(worker), f" is already the allocated worker for #{number}."))
            q.transition(s, task.id, [], {"worker": worker})
            data = {
                "worker": worker,
                "team_leader": leader.user if leader else None,
                "team_leader_name": leader.name if leader else None,
            }
            q.add_event(
                s, team=self.team.name, task_id=task.id, actor=actor, kind=WORKER_SET, at=now,
                data=data,
            )  # fmt: skip
            thread = say(
                "Allocated worker ", user(worker), " (", leader_words(leader), "), set by ",
                user(actor), ".",
            )  # fmt: skip
            q.queue_message(
                s, team=self.team.name, kind="thread", task_id=task.id, body=thread.to_json(),
                at=now,
            )  # fmt: skip
        reply = say(
            user(worker), f" is the allocated worker for #{number} (", leader_words(leader), ")."
        )
        return reply + away_words(worker, about.reply, leader, self.team.tz, now)
