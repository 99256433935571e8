"""How the bot says who someone is and whether they are in: short plain English, names as
chat people, and "not known" wherever a source couldn't say."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.kernel.clean import tidy
from bot.kernel.message import Message, say, text, user
from bot.people.directory import AutoReply, Colleague, Status, Today, Whois

STATUS_LIMIT = 100  # a chat status is short; anything longer is cut


def _when(at: datetime, tz: ZoneInfo, now: datetime) -> str:
    local, today = at.astimezone(tz), now.astimezone(tz).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    return local.strftime("%a %d %b %H:%M")


def reply_words(reply: AutoReply | None, tz: ZoneInfo, now: datetime) -> str:
    if reply is None:
        return "automatic reply not known"
    if not reply.on:
        return "automatic reply off"
    return (
        f"automatic reply on until {_when(reply.until, tz, now)}"
        if reply.until
        else ("automatic reply on")
    )


def today_words(found: Today | None, tz: ZoneInfo, now: datetime) -> str:
    if found is None:
        return "free/busy not known"
    if found.busy:
        if found.changes_at is None:
            return "busy for the rest of the day"
        return f"busy now, free from {_when(found.changes_at, tz, now)}"
    if found.changes_at is None:
        return "free for the rest of the day"
    return f"free now, busy from {_when(found.changes_at, tz, now)}"


def status_words(status: Status | None) -> str:
    if status is None:
        return "status not known"
    shown = " ".join(tidy(status.text).split())
    if not shown:
        return "no status set"
    if len(shown) > STATUS_LIMIT:
        shown = shown[: STATUS_LIMIT - 1] + "…"
    return f'status "{shown}"'


def leader_words(leader: Colleague | None) -> Message:
    """ "team leader @rita", by name if they have no chat account, or "not known"."""
    if leader is None:
        return text("team leader not known")
    if leader.user:
        return say("team leader ", user(leader.user))
    return text(f"team leader {tidy(leader.name or leader.email or 'not known')}")


def whois_message(found: Whois, tz: ZoneInfo, now: datetime) -> Message:
    """One short answer: automatic reply, free/busy today, chat status, team leader."""
    if found.email is None:
        mailbox = "email address not known, so automatic reply and free/busy not known"
    else:
        mailbox = f"{reply_words(found.reply, tz, now)}; {today_words(found.today, tz, now)}"
    return say(
        user(found.user), f": {mailbox}; {status_words(found.status)}; ",
        leader_words(found.leader), ".",
    )  # fmt: skip


def away_words(
    worker: str, reply: AutoReply | None, leader: Colleague | None, tz: ZoneInfo, now: datetime
) -> Message:
    """For someone whose automatic reply is on: say so, and point to their team leader
    (seeds/004 §5: a practitioner who isn't available gets a message, and someone who
    knows when they will be back is asked). Nothing if they seem to be in."""
    if reply is None or not reply.on:
        return Message()
    until = f" until {_when(reply.until, tz, now)}" if reply.until else ""
    head = say(" ", user(worker), f"'s automatic reply is on{until}, so they may be away.")
    if leader is None:
        return head + " Their team leader isn't known: ask a duty manager who covers."
    return head + say(" Their ", leader_words(leader), " may pick it up.")
