"""The shell chat adapter: the duty channel in a terminal, for trying the bot and for scripts.

Cards, thread replies and DMs print as the channel would show them; /duty commands are the
same ones Slack takes. Commands can be piped in on stdin.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from datetime import datetime
from itertools import count
from typing import TextIO

from bot.app import DutyBot, Team
from bot.chat.calls import Place
from bot.chat.port import CardRef, ChatService, ChatSetupError
from bot.kernel.config import Config, TeamConfig
from bot.kernel.message import Message
from bot.ops.scheduler import Reports
from bot.tasks.cards import CardView

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
        worker = f" · {self._plain(card.worker)}" if card.worker.parts else ""
        self._print(f"  ~ card #{card.number} now:{flags} {self._plain(card.state_line)}{worker}")

    def reply_in_thread(
        self, team: TeamConfig, ref: CardRef, message: Message, key: int | None = None
    ) -> CardRef:
        number = self._numbers.get(ref.ts, "?")
        self._print(f"  > thread #{number}: {self._plain(message)}")
        return self._next(team)

    def send_dm(
        self,
        team: TeamConfig,
        user_id: str,
        message: Message,
        card: CardRef | None,
        key: int | None = None,
    ) -> CardRef:
        who = self.names.get(user_id, user_id)
        self._print(f"  @ DM to @{who}: {self._plain(message)}")
        return self._next(team)

    def post_to_channel(
        self, team: TeamConfig, channel: str, message: Message, key: int | None = None
    ) -> CardRef:
        self._print(self._plain(message))
        return self._next(team)

    def edit_message(self, team: TeamConfig, ref: CardRef, message: Message) -> None:
        self._print(f"  ~ message {ref.ts} now: {self._plain(message)}")

    def _next(self, team: TeamConfig) -> CardRef:
        return CardRef(f"#{team.name}", f"{next(self._ts)}.000000")

    def find_message(
        self, team: TeamConfig, channel: str, thread: CardRef | None, key: int
    ) -> bool:
        return False  # printing can't fail half-way: a message tried before was not shown


def render_card(card: CardView, names: dict[str, str]) -> str:
    flags = "".join(f"[{f.upper()}] " for f in card.flags)
    rows = [
        f"+-- #{card.number} {flags}{card.subject}",
        f"| {card.origin.plain(names)}",
        f"| Received: {card.received}",
        f"| {card.state_line.plain(names)}",
    ]
    if card.worker.parts:
        rows.append(f"| {card.worker.plain(names)}")
    rows += [f"| {hint}" for hint in card.hints]
    if card.categories:
        rows.append("| " + ", ".join(card.categories).capitalize())
    if card.preview:
        rows.append(f"| {card.preview}")
    if card.attachments:
        rows.append(f"| {card.attachments}")
    rows.append("+-- " + " ".join(f"[{a.label}]" for a in card.actions))
    return "\n".join(rows)


class Shell:
    def __init__(self, bot: DutyBot, actor: str, out: TextIO = sys.stdout) -> None:
        self.bot = bot
        self.actor = actor
        self.out = out
        self.team: Team = bot.team()
        self.place = Place("shell", self.team.cfg.channel)  # the team's channel, in a terminal
        self.chat = ShellChat(out, self.team.cfg.names)
        self._lock = threading.Lock()  # the foreground and the background print in turn
        self._jump: tuple[datetime, datetime] | None = None  # the clock before and after a line
        self._told_lease = False

    def say(self, s: str) -> None:
        print(s, file=self.out, flush=True)

    def start_clocks(self) -> None:
        """APScheduler in the background, as in `run`: nudges and the handover turn up even
        while nobody types. The foreground has just done a pass, so the first waits a tick."""
        if self.bot.scheduler is None:
            self.bot.start_scheduler(after_tick=self._after_scheduled, catch_up=False)

    def _after_scheduled(self, team: str | None, reports: Reports) -> None:
        with self._lock:
            self._check_mail()
            self.bot.deliver(self.team.cfg.name, self.chat)

    def tick(self) -> None:
        """What the background does in `run`: check mail, run the clocks, deliver."""
        with self._lock:
            self._check_mail()
            self._run_clocks()
            self.bot.deliver(self.team.cfg.name, self.chat)

    def _check_mail(self) -> None:
        result = self.bot.check_mail(self.team.cfg.name)
        if result.error:
            self.say(f"! Inbox problem: {result.error}")

    def _run_clocks(self) -> None:
        """The handover and nudges due at the shell's clock. After `/duty clock` jumped over
        the handover time, the jobs run at that time first, then at the new time."""
        jobs, name = self.team.jobs, self.team.cfg.name
        assert jobs is not None
        jump, self._jump = self._jump, None
        passed = jobs.handover.passed(*jump) if jump else None
        for at in (passed, None) if passed else (None,):
            if self.bot.scheduler is None:
                jobs.run_due(at or self.bot.clock.now())
            elif self.bot.scheduler.tick(name, at) is None and not self._told_lease:
                self._told_lease = True
                self.say(
                    "! Another dutybot is running the clocks on this database, so this "
                    "shell shows no handovers or nudges. Stop it, or use another database."
                )

    def banner(self, interactive: bool) -> None:
        cfg = self.team.cfg
        role = self.team.roster.role_of(self.actor) or "not on the team"
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
                self.say(f"You are now @{self.team.cfg.display_name(who)}.")
            else:
                self.say("Say who to be, like: /as jo")
            return True
        before = self.bot.clock.now()
        reply = self.bot.calls.command(self.actor, self.place, line)
        self._jump = (before, self.bot.clock.now())  # `/duty clock` may have moved it
        with self._lock:
            self.say(reply.message.plain(self.team.cfg.names))
        self.tick()
        return True

    def run(self, lines: Iterable[str], interactive: bool) -> None:
        self.banner(interactive)
        self.tick()
        self.start_clocks()
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


class ShellAdapter:
    """`chat = "shell"`: the chat is this terminal, so there is nothing for `run` to serve."""

    def groups(self, config: Config) -> None:
        return None

    def probe(self, config: Config) -> None:
        return None

    def profiles(self, config: Config) -> None:
        return None  # the config's people table or file says who is who

    def start(self, config: Config, bot: DutyBot) -> ChatService:
        raise ChatSetupError(
            'The shell chat runs in a terminal: use dutybot shell, or set chat = "slack" in '
            "the config for dutybot run."
        )


ADAPTER = ShellAdapter()
