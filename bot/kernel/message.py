"""Chat-neutral messages: text parts and people, so each chat adapter escapes and names safely.

Outside text (subjects, notes) only ever sits in "text" parts, which adapters escape; a
person is a separate part, so no email can smuggle in a mention.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PartKind = Literal["text", "user", "ping", "button"]  # ping: a mention that notifies (alerts only)


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
                out.append(f"[{json.loads(p.value)['label']}]")
            else:
                out.append("@" + names.get(p.value, p.value))
        return "".join(out)

    def buttons(self) -> list[Button]:
        """The buttons in this message, in order (adapters draw them as an actions block)."""
        return [Button(**json.loads(p.value)) for p in self.parts if p.kind == "button"]


def text(s: str) -> Message:
    return Message((Part("text", s),)) if s else Message()


def user(user_id: str) -> Message:
    return Message((Part("user", user_id),))


def ping(user_id: str) -> Message:
    return Message((Part("ping", user_id),))


@dataclass(frozen=True)
class Button:
    label: str  # shown on the button
    action_id: str  # what pressing it does, e.g. "duty_still_on_it"
    value: str  # what it acts on, e.g. the task number


def button(label: str, action_id: str, value: str) -> Message:
    """A button; plain text shows it as [label]."""
    body = json.dumps({"label": label, "action_id": action_id, "value": value})
    return Message((Part("button", body),))


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
