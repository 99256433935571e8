"""The handover verbs: `/duty handover` previews today's to the asker; `/duty handover post`
posts it now (a manager's early handover; the scheduled one then sees it was done)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.chat.catalogue import Verb
from bot.chat.words import Words
from bot.handover.post import HANDOVER, Handover
from bot.kernel.errors import Refused
from bot.kernel.message import Message, say, text, user
from bot.kernel.roles import managers, members
from bot.tasks.cards import local_time
from storage import jobs as jobs_db

GROUP = "Day"


@dataclass(frozen=True)
class HandoverCall:
    post: bool = False


def _preview_words(w: Words) -> HandoverCall:
    if w.peek().lower() in ("preview", "show"):
        w.take()
    w.done()
    return HandoverCall(post=False)


def _post_words(w: Words) -> HandoverCall:
    w.done()
    return HandoverCall(post=True)


def preview(handover: Handover, actor: str) -> Message:
    now = handover.tasks.clock.now()
    return text("Preview (only you can see this):\n") + handover.preview(now).view.message


def post(handover: Handover, actor: str) -> Message:
    tasks = handover.tasks
    now = tasks.clock.now()
    today = now.astimezone(tasks.team.tz).date()
    posted = handover.post(today, now, actor=actor)
    if posted is None:
        with tasks.db.session() as s:
            run = jobs_db.job_run(s, tasks.name, HANDOVER, today.isoformat())
        when = f" at {local_time(run.ran_at, tasks.team.tz)}" if run else ""
        raise Refused(
            f"Today's handover was already posted{when}. /duty handover shows it as it is now."
        )
    reply = text("Handover posted to the channel")
    next_day = f"{posted.view.next_day:%a %d %b}"
    if posted.manager and posted.manager != actor:
        reply = reply + say(", sent to ", user(posted.manager), f" (duty manager {next_day})")
    if handover.config.handover.email:
        reply = reply + " and emailed to the duty inbox"
    reply = reply + "."
    if posted.manager == actor:
        reply = reply + f" You're duty manager on {next_day} too."
    return reply


VERBS: list[Verb[Handover, Any]] = [
    Verb(
        name="handover", syntax="/duty handover", does="preview today's handover (only you see it)",
        example="/duty handover", group=GROUP,
        who=members("Only members of the duty team can see the handover."), on=Handover,
        read=_preview_words, run=lambda h, actor, a: preview(h, actor),
    ),
    Verb(
        name="handover post", syntax="/duty handover post",
        does="post today's handover to the channel now", example="/duty handover post",
        group=GROUP, who=managers("Only a duty manager can post the handover."), on=Handover,
        read=_post_words, run=lambda h, actor, a: post(h, actor), aliases=("handover send",),
    ),
]  # fmt: skip
