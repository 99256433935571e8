"""Chat-neutral messages: text parts and people, so each chat adapter escapes and names safely.

Outside text (subjects, notes) only ever sits in "text" parts, which adapters escape; a
person is a separate part, so no email can smuggle in a mention.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# ping: a mention that notifies (alerts only); fallback: what a lock screen shows instead;
# heading: a section's title; task: "#42", which a chat may link to the task's card
PartKind = Literal["text", "user", "ping", "button", "fallback", "heading", "task"]

DM_FALLBACK = "A message from dutybot about duty work"  # when a message names none
CHANNEL_FALLBACK = "A message from dutybot"


@dataclass(frozen=True)
class Part:
    kind: PartKind
    value: str


@dataclass(frozen=True)
class Message:
    parts: tuple[Part, ...] = ()

    def __add__(self, other: Message | str) -> Message:
        other_msg = other if isinstance(other, Message) else text(other)
        return Message(self.parts + other_msg.parts)

    def to_json(self) -> list[list[str]]:
        return [[p.kind, p.value] for p in self.parts]

    @classmethod
    def from_json(cls, data: Iterable[Iterable[str]]) -> Message:
        return cls(tuple(Part(k, v) for k, v in data))  # type: ignore[arg-type]

    def plain(self, name: dict[str, str] | None = None) -> str:
        """The message as plain text, people shown as @name (shell, tests, email)."""
        names = name or {}
        out = []
        for p in self.parts:
            if p.kind == "text":
                out.append(p.value)
            elif p.kind == "button":
                out.append(f"[{Action.from_json(p.value).label}]")
            elif p.kind == "heading":
                out.append(p.value)
            elif p.kind == "task":
                out.append(f"#{TaskLink.of(p.value).number}")
            elif p.kind != "fallback":
                out.append("@" + names.get(p.value, p.value))
        return "".join(out)

    @property
    def fallback(self) -> str:
        """The plain notification text (no personal data), or "" if none was given."""
        return next((p.value for p in self.parts if p.kind == "fallback"), "")

    def with_fallback(self, fallback: str) -> Message:
        """This message with ``fallback`` as its notification text, unless it has one."""
        return self if self.fallback else Message((*self.parts, Part("fallback", fallback)))

    def actions(self) -> list[Action]:
        """The buttons in this message, in order (adapters draw them as their own buttons)."""
        return [Action.from_json(p.value) for p in self.parts if p.kind == "button"]


def text(s: str) -> Message:
    return Message((Part("text", s),)) if s else Message()


def user(user_id: str) -> Message:
    return Message((Part("user", user_id),))


def ping(user_id: str) -> Message:
    return Message((Part("ping", user_id),))


@dataclass(frozen=True)
class Action:
    """A button: pressing it runs a catalogue verb on ``args`` (or opens the verb's form), or,
    with ``url``, opens a link. Adapters draw it; bot/ decides which, in what order."""

    label: str
    verb: str = ""  # "claim", "still on it"
    args: str = ""  # the words after the verb, e.g. the task number
    primary: bool = False
    url: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"label": self.label, "verb": self.verb, "args": self.args, "primary": self.primary,
             "url": self.url}
        )  # fmt: skip

    @classmethod
    def from_json(cls, body: str) -> Action:
        data = json.loads(body)
        if "action_id" in data:  # queued before actions named their verb
            verb = str(data["action_id"]).removeprefix("duty_").replace("_", " ")
            return cls(str(data.get("label", "")), verb, str(data.get("value", "")))
        return cls(
            str(data["label"]), str(data.get("verb", "")), str(data.get("args", "")),
            bool(data.get("primary")), data.get("url"),
        )  # fmt: skip


@dataclass(frozen=True)
class TaskLink:
    """A task named in a message; delivery adds where its card is, for chats that link."""

    number: int
    channel: str = ""
    ts: str = ""

    @classmethod
    def of(cls, value: str) -> TaskLink:
        number, _, rest = value.partition(" ")
        channel, _, ts = rest.partition(" ")
        return cls(int(number), channel, ts)

    def value(self) -> str:
        return " ".join(str(x) for x in (self.number, self.channel, self.ts) if x)


def task_link(number: int) -> Message:
    return Message((Part("task", str(number)),))


def heading(title: str) -> Message:
    """A section's title, like "Resolved today: 1"; chats may draw it as a header."""
    return Message((Part("heading", title),))


def button(action: Action) -> Message:
    """A button in a message; plain text shows it as [label]."""
    return Message((Part("button", action.to_json()),))


def say(*bits: Message | str) -> Message:
    """Join strings and messages: say("Claimed by ", user("U1"), ".")."""
    out = Message()
    for b in bits:
        out = out + b
    return out


def lines(msgs: Iterable[Message]) -> Message:
    # One tuple at the end: adding message by message copies every part again each time,
    # which a handover of several hundred lines feels.
    parts: list[Part] = []
    for i, m in enumerate(msgs):
        if i:
            parts.append(Part("text", "\n"))
        parts += m.parts
    return Message(tuple(parts))
