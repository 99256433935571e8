"""The contact verbs: `/duty new` logs a phone call, text, visit or other contact as a task
(also from App Home's "New contact" button and Slack's "Log as duty task" shortcut); `/duty
ack` acknowledges an email to its sender (also from a card's Acknowledge button, whose form
shows the text to edit before it goes); `/duty worker` records the young person's allocated
worker; `/duty whois` says whether someone is in today and who their team leader is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.chat.catalogue import Field, Form, FormValues, Verb
from bot.chat.words import Bad, Words, show
from bot.contacts.ack import Acks
from bot.contacts.log import Contacts
from bot.contacts.worker import Workers
from bot.kernel.config import TeamConfig
from bot.kernel.message import Message
from bot.kernel.roles import members
from bot.people.directory import People
from bot.people.words import whois_message

GROUP = "Tasks"
MEMBERS = members("Only members of the duty team can do that. Ask a duty manager to add you.")
_CHANNELS = {"phone": "phone", "call": "phone", "text": "text", "sms": "text", "visit": "visit",
             "other": "other"}  # fmt: skip


@dataclass(frozen=True)
class NewContact:
    channel: str  # phone | text | visit | other
    summary: str
    urgent: bool = False
    safeguarding: bool = False


@dataclass(frozen=True)
class SetWorker:
    number: int
    user: str


@dataclass(frozen=True)
class Whois:
    user: str


def _worker(w: Words) -> SetWorker:
    number = w.number()
    who = w.person("the allocated worker")
    w.done()
    return SetWorker(number, who)


def _whois(w: Words) -> Whois:
    who = w.person()
    w.done()
    return Whois(who)


def _answer_whois(people: People, actor: str, a: Whois) -> Message:
    return whois_message(people.whois(a.user), people.tz, people.clock.now())


def _read(w: Words) -> NewContact:
    if not w:
        raise w.needs("how it came and what it is about")
    word = w.take()
    channel = _CHANNELS.get(word.lower())
    if channel is None:
        raise Bad(f"'{show(word)}' isn't phone, text, visit or other. {w.use}")
    return NewContact(channel, w.needs_text("what it is about"))


def new_form(team: TeamConfig, args: str) -> Form:
    return Form(
        title="Log a contact",
        submit="Log it",
        fields=(
            Field(
                "channel",
                "How did it come?",
                "choice",
                required=True,
                options=(
                    ("phone", "Phone call"),
                    ("text", "Text message"),
                    ("visit", "Visit"),
                    ("other", "Other"),
                ),
            ),  # fmt: skip
            Field("summary", "What is it about?", "long_text", required=True, longest=300),
            Field(
                "flags",
                "Flags",
                "checks",
                options=(("urgent", "Urgent"), ("safeguarding", "Safeguarding")),
            ),  # fmt: skip
        ),
    )


def _from_form(args: str, values: FormValues) -> NewContact:
    flags = set(values.get("flags") or [])
    channel = str(values.get("channel") or "")
    summary = str(values.get("summary") or "")
    return NewContact(channel, summary, "urgent" in flags, "safeguarding" in flags)


@dataclass(frozen=True)
class Ack:
    number: int
    words: str | None = None  # the text as edited in the form; None: the team's template


def _read_ack(w: Words) -> Ack:
    number = w.number()
    w.done()
    return Ack(number)


ACK_LONGEST = 3000  # characters of acknowledgement a form takes


def ack_form(team: TeamConfig, args: str) -> Form:
    number = int(args)  # a button's own words; anything else is an out-of-date button
    cfg = team.acknowledgement
    return Form(
        title=f"Acknowledge #{number}",
        submit="Send",
        fields=(
            Field("text", "The reply to the sender, from the duty inbox", "long_text",
                  required=True, longest=ACK_LONGEST, initial=cfg.filled(number)[:ACK_LONGEST]),
        ),
    )  # fmt: skip


def _ack_from_form(args: str, values: FormValues) -> Ack:
    return Ack(int(args), str(values.get("text") or ""))


VERBS: list[Verb[Any, Any]] = [
    Verb(
        name="new", syntax="/duty new phone|text|visit|other SUMMARY",
        does="log a contact that didn't come by email as a task",
        example="/duty new phone Mum of a care leaver rang about a missed payment",
        group=GROUP, who=MEMBERS, on=Contacts, read=_read,
        run=lambda c, actor, a: c.log(actor, a.channel, a.summary, a.urgent, a.safeguarding),
        form=new_form, from_form=_from_form,
    ),
    Verb(
        name="ack", syntax="/duty ack N",
        does="acknowledge task N's email: a reply to its sender saying it arrived (once)",
        example="/duty ack 42", group=GROUP, who=MEMBERS, on=Acks, read=_read_ack,
        run=lambda a, actor, x: a.ack(actor, x.number, x.words),
        form=ack_form, from_form=_ack_from_form,
    ),
    Verb(
        name="worker", syntax="/duty worker N @person",
        does="record the young person's allocated worker on task N (with their team leader)",
        example="/duty worker 42 @kim", group=GROUP, who=MEMBERS, on=Workers, read=_worker,
        run=lambda w, actor, a: w.set(actor, a.number, a.user),
    ),
    Verb(
        name="whois", syntax="/duty whois @person",
        does="is someone in: automatic reply, free/busy today, status and team leader",
        example="/duty whois @kim", group="Day", who=MEMBERS, on=People, read=_whois,
        run=_answer_whois,
    ),
]  # fmt: skip
