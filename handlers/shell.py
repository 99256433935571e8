"""The shell chat adapter: the duty channel in a terminal, for trying the bot and for scripts.

Cards, thread replies and DMs print as the channel would show them; /duty commands are the
same ones Slack takes. Commands can be piped in on stdin.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import count
from typing import TextIO

from bot import commands, day
from bot.app import DutyBot, TeamDesk
from bot.cards import CardView
from bot.chat import CardRef
from bot.clock import ManualClock, OffsetClock
from bot.config import TeamConfig
from bot.message import Message, text

WIDTH = 72


class ShellChat:
    """Implements the Chat port by printing."""

    def __init__(self, out: TextIO, names: dict[str, str]) -> None:
        self.out = out
        self.names = names
        self._ts = count(1)
        self._cards: dict[int, CardRef] = {}
        self._numbers: dict[str, int] = {}

    def _plain(self, msg: Message) -> str:
        return msg.plain(self.names)

    def _print(self, s: str) -> None:
        print(s, file=self.out, flush=True)

    def post_card(self, team: TeamConfig, card: CardView) -> CardRef:
        ref = CardRef(f"#{team.name}", f"{next(self._ts)}.000000")
        self._cards[card.task_id] = ref
        self._numbers[ref.ts] = card.number
        self._print(render_card(card, self.names))
        return ref

    def find_card(self, team: TeamConfig, task_id: int) -> CardRef | None:
        return self._cards.get(task_id)

    def update_card(self, team: TeamConfig, ref: CardRef, card: CardView) -> None:
        self._numbers[ref.ts] = card.number
        flags = "".join(f" [{f.upper()}]" for f in card.flags)
        self._print(f"  ~ card #{card.number} now:{flags} {self._plain(card.state_line)}")

    def reply_in_thread(self, team: TeamConfig, ref: CardRef, message: Message) -> None:
        number = self._numbers.get(ref.ts, "?")
        self._print(f"  > thread #{number}: {self._plain(message)}")

    def send_dm(
        self, team: TeamConfig, user_id: str, message: Message, card: CardRef | None
    ) -> None:
        who = self.names.get(user_id, user_id)
        self._print(f"  @ DM to @{who}: {self._plain(message)}")

    def post_to_channel(self, team: TeamConfig, channel: str, message: Message) -> None:
        self._print(self._plain(message))


def render_card(card: CardView, names: dict[str, str]) -> str:
    flags = "".join(f"[{f.upper()}] " for f in card.flags)
    rows = [
        f"+-- #{card.number} {flags}{card.subject}",
        f"| From: {card.sender}",
        f"| Received: {card.received}",
        f"| {card.state_line.plain(names)}",
    ]
    if card.preview:
        rows.append(f"| {card.preview}")
    if card.attachments:
        rows.append(f"| {card.attachments}")
    buttons = "[Claim] [Resolve] [Alert]" + (" [Open in Outlook]" if card.web_link else "")
    rows.append(f"+-- {buttons}")
    return "\n".join(rows)


class Shell:
    def __init__(self, bot: DutyBot, actor: str, out: TextIO = sys.stdout) -> None:
        self.bot = bot
        self.actor = actor
        self.out = out
        self.desk: TeamDesk = bot.team()
        self.chat = ShellChat(out, self.desk.cfg.names)
        clock = bot.clock
        if isinstance(clock, OffsetClock | ManualClock):  # only the shell's clock may move
            tz = self.desk.cfg.tz
            self.desk.desk.extras[commands.Clock] = lambda actor, cmd: day.move_clock(
                clock, tz, actor, cmd
            )

    def say(self, s: str) -> None:
        print(s, file=self.out, flush=True)

    def tick(self) -> None:
        """What the background loop does in `run`: check mail, run the clocks, deliver."""
        result = self.bot.check_mail(self.desk.cfg.name)
        if result.error:
            self.say(f"! Inbox problem: {result.error}")
        self.bot.run_due(self.desk.cfg.name)  # handover and nudges due at the shell's clock
        self.bot.deliver(self.desk.cfg.name, self.chat)

    def banner(self, interactive: bool) -> None:
        cfg = self.desk.cfg
        role = self.desk.duty.roster.role_of(self.actor) or "not on the team"
        self.say(
            f"dutybot shell: team {cfg.name}, channel {cfg.channel}. "
            f"You are @{cfg.display_name(self.actor)} ({role})."
        )
        if interactive:
            self.say("Type /duty help for commands, /as NAME to switch person, Ctrl-D to leave.")

    def handle(self, line: str) -> bool:
        """Run one line. False means the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit", "quit", "exit"):
            return False
        if line.startswith("/as"):
            who = line[3:].strip().lstrip("@")
            if who:
                self.actor = who
                self.say(f"You are now @{self.desk.cfg.display_name(who)}.")
            else:
                self.say("Say who to be, like: /as jo")
            return True
        reply = self.desk.desk.handle(self.actor, line)
        self.say(text("").plain() + reply.plain(self.desk.cfg.names))
        self.tick()
        return True

    def run(self, lines: Iterable[str], interactive: bool) -> None:
        self.banner(interactive)
        self.tick()
        for line in lines:
            if not self.handle(line):
                break


def prompt_lines(prompt: str) -> Iterable[str]:
    while True:
        try:
            yield input(prompt)
        except EOFError:
            print()
            return
