"""The nudges' own verb: "Still on it", the answer to "are you still on it?" (the other
answer, "Release", is `/duty unclaim`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.chat.catalogue import Verb
from bot.chat.words import Words
from bot.kernel.errors import Refused
from bot.kernel.message import Message, say, text, user
from bot.kernel.roles import members
from bot.tasks.actions import Tasks
from storage import tasks as q


@dataclass(frozen=True)
class StillOnIt:
    number: int


def _read(w: Words) -> StillOnIt:
    number = w.number()
    w.done()
    return StillOnIt(number)


def still_on_it(tasks: Tasks, actor: str, number: int) -> Message:
    """An event on the task, which restarts its stale-claim clock."""
    with tasks.db.session() as s:
        task = q.task_by_number(s, tasks.name, number)
        if task is None:
            raise Refused(f"There is no task #{number}.")
        if task.state != "claimed" or task.claimed_by != actor:
            raise Refused(f"#{number} isn't claimed by you any more, so there is nothing to do.")
        now = tasks.clock.now()
        q.add_event(s, team=tasks.name, task_id=task.id, actor=actor, kind="still_on_it", at=now)
        body = say("Still on it: ", user(actor), ".")
        q.queue_message(
            s, team=tasks.name, kind="thread", task_id=task.id, body=body.to_json(), at=now
        )
    return text(f"Thanks. #{number} stays with you.")


VERBS: list[Verb[Tasks, Any]] = [
    Verb(
        name="still on it", syntax="/duty still on it N",
        does="say you still have task N (its reminder starts again)",
        example="/duty still on it 42", group="Tasks",
        who=members("Only members of the duty team can do that."), on=Tasks, read=_read,
        run=lambda tasks, actor, a: still_on_it(tasks, actor, a.number),
        needs=("/duty assign 42 @sam",), listed=False,
    ),
]  # fmt: skip
