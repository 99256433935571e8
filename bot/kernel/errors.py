"""The one way an action says no."""

from __future__ import annotations

from bot.kernel.message import Message, text


class Refused(Exception):
    """An action that can't be done; ``reply`` says why in one plain sentence. ``field`` names
    the form field the refusal is about, when the action came from a form."""

    def __init__(self, reply: Message | str, *, field: str | None = None) -> None:
        self.reply = reply if isinstance(reply, Message) else text(reply)
        self.field = field
        super().__init__(self.reply.plain())
