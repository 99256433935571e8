"""The composition root: builds the database, each team's desk, mailbox and clocks from config.
Chat adapters (Slack, shell) plug in here and nowhere else."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from bot import commands, day
from bot.cases.register import CaseDesk
from bot.chat.delivery import Delivered, StopSignal, deliver
from bot.chat.port import Chat
from bot.dispatch import Desk
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import Clock, SystemClock
from bot.kernel.config import (
    Config,
    EwsMailboxConfig,
    FolderMailboxConfig,
    GraphMailboxConfig,
    TeamConfig,
    secret,
)
from bot.kernel.roles import GroupLookup, Roster
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.mailbox import Mailbox
from bot.mail.watcher import SyncResult, move_resolved, sync_once
from bot.ops.jobs import JobReport, TeamJobs
from bot.ops.logsafe import guard_library_logs
from bot.ops.outage import DatabaseWatch
from bot.ops.scheduler import AfterTick, DutyScheduler
from bot.rota.rota import Rota
from bot.tasks.actions import Duty
from storage import tasks as q
from storage.db import Database, SchemaBehind

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot can't start; the message is one plain sentence saying what to do."""


@dataclass
class TeamDesk:
    """One team, wired up."""

    cfg: TeamConfig
    desk: Desk
    calendar: WorkingCalendar
    mailbox: Mailbox | None = None
    rota: Rota | None = None
    jobs: TeamJobs | None = None
    # One mover at a time for the team: the mail watcher and the runner's move loop both move.
    moving: threading.Lock = field(default_factory=threading.Lock)

    @property
    def duty(self) -> Duty:
        return self.desk.duty


def open_mailbox(team: TeamConfig) -> Mailbox:
    mb = team.mailbox
    if isinstance(mb, FolderMailboxConfig):
        path = Path(mb.path)
        if mb.seed_from and not path.exists():
            seed = Path(mb.seed_from)
            if not seed.is_dir():
                raise StartupError(
                    f"The sample inbox {seed} is missing. Run dutybot from its own folder."
                )
            path.mkdir(parents=True)
            for f in sorted(seed.glob("*.eml")):
                shutil.copy2(f, path / f.name)
        return FolderMailbox(path, done_folder=mb.done_folder, outbox_folder=mb.outbox_folder)
    if isinstance(mb, EwsMailboxConfig):
        from bot.mail.adapters.ews import EwsMailbox, EwsSettings

        return EwsMailbox(
            EwsSettings(
                address=mb.address,
                endpoint=mb.endpoint,
                auth=mb.auth,
                username=mb.username,
                password=secret(mb.password_env),
                client_id=mb.client_id,
                client_secret=secret(mb.client_secret_env),
                tenant_id=mb.tenant_id,
                autodiscover=mb.autodiscover,
                server_version=mb.server_version,
                max_connections=mb.max_connections,
                max_retry_seconds=mb.max_retry_seconds,
                done_folder=mb.done_folder,
                verify_tls=mb.verify_tls,
            )
        )
    if isinstance(mb, GraphMailboxConfig):
        from bot.mail.adapters.graph import GraphMailbox, GraphSettings

        client_secret = secret(mb.client_secret_env)
        if not client_secret:
            raise StartupError(
                f"The Graph client secret is missing. Set the {mb.client_secret_env} "
                "environment variable."
            )
        return GraphMailbox(
            GraphSettings(
                address=mb.address,
                tenant_id=mb.tenant_id,
                client_id=mb.client_id,
                client_secret=client_secret,
                authority_host=mb.authority_host,
                graph_url=mb.graph_url,
                done_folder=mb.done_folder,
            )
        )
    raise StartupError("Unknown mailbox kind.")  # pragma: no cover - config forbids it


@dataclass
class DutyBot:
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    groups: GroupLookup | None = None
    db: Database | None = None
    teams: dict[str, TeamDesk] = field(default_factory=dict)
    scheduler: DutyScheduler | None = None
    db_watch: DatabaseWatch = field(default_factory=DatabaseWatch)  # says once it's away

    def start(self, *, with_mailboxes: bool = True) -> DutyBot:
        guard_library_logs()  # before any client exists: email content never goes to logs
        if self.db is None:
            self.db = Database(self.config.database.url)
        self._migrate()
        for team in self.config.teams:
            self.teams[team.name] = self._wire(team, with_mailboxes)
        return self

    def _migrate(self) -> None:
        assert self.db is not None
        try:
            self.db.ensure_current(upgrade_sqlite=True)
        except SchemaBehind as exc:
            raise StartupError(str(exc)) from None

    def _wire(self, team: TeamConfig, with_mailbox: bool) -> TeamDesk:
        assert self.db is not None
        people = [(u, team.display_name(u), "member") for u in team.members]
        people += [(u, team.display_name(u), "manager") for u in team.managers]
        for attempt in (1, 2):
            try:
                with self.db.session() as s:
                    q.ensure_team(s, team.name)
                    q.sync_people(s, team.name, people)
                break
            except IntegrityError:
                # Two bot processes starting together on a new database: the other wrote
                # the same rows first, so the second attempt finds them.
                if attempt == 2:
                    raise
        roster = Roster(team, self.groups)
        duty = Duty(self.db, team, roster, self.clock)
        mailbox = open_mailbox(team) if with_mailbox else None
        cal = WorkingCalendar(team.nation, team.closures)
        rota = Rota(self.db, team, roster, cal, self.clock)
        duty.safeguarding_contacts = rota.safeguarding_contacts
        jobs = TeamJobs(duty, cal, rota, self.config, mailbox)
        desk = Desk(duty)
        desk.extras[commands.Handover] = lambda actor, cmd: day.handover(jobs, actor, cmd)
        desk.extras[commands.Rota] = lambda actor, cmd: day.rota(rota, actor, cmd)
        desk.extras[commands.RotaSet] = lambda actor, cmd: day.rota(rota, actor, cmd)
        desk.extras[commands.Clock] = day.clock_fixed  # the shell swaps in one that moves
        desk.extras.update(CaseDesk(self.db, team, roster, cal, self.clock).actions())
        return TeamDesk(team, desk, cal, mailbox, rota, jobs)

    def team(self, name: str | None = None) -> TeamDesk:
        if name is None:
            return next(iter(self.teams.values()))
        return self.teams[name]

    def check_mail(self, name: str, stop: threading.Event | None = None) -> SyncResult:
        """Take in new mail; once ``stop`` is set, only the email in hand is finished."""
        desk = self.teams[name]
        assert self.db is not None
        if desk.mailbox is None:
            return SyncResult()
        categorise = bool(getattr(desk.cfg.mailbox, "categorise", False))
        preview = self.config.privacy.preview
        result = sync_once(
            self.db, name, desk.mailbox, self.clock, preview, categorise=categorise, stop=stop
        )
        self.move_done(name)
        return result

    def move_done(self, name: str) -> int:
        """Move the emails of resolved tasks to Done; while the mailbox is down they wait."""
        desk = self.teams[name]
        assert self.db is not None
        if desk.mailbox is None:
            return 0
        with desk.moving:
            return move_resolved(self.db, name, desk.mailbox)

    def run_due(self, name: str) -> JobReport:
        """The handover, nudges and handover emails due now for one team (idempotent)."""
        jobs = self.teams[name].jobs
        assert jobs is not None
        return jobs.run_due(self.clock.now())

    def start_scheduler(
        self,
        holder: str | None = None,
        *,
        after_tick: AfterTick | None = None,
        catch_up: bool = True,
    ) -> DutyScheduler:
        """Start the clocks for `dutybot run` and the shell (APScheduler; only the lease
        holder acts). ``catch_up``: run the first pass at once (see DutyScheduler.start)."""
        assert self.db is not None
        jobs = {name: t.jobs for name, t in self.teams.items() if t.jobs is not None}
        self.scheduler = DutyScheduler(
            self.db,
            self.clock,
            self.config.scheduler,
            jobs,
            holder,
            after_tick=after_tick,
            db_watch=self.db_watch,
        )
        self.scheduler.start(catch_up=catch_up)
        return self.scheduler

    def deliver(self, name: str, chat: Chat, stop: StopSignal | None = None) -> Delivered:
        assert self.db is not None
        return deliver(self.db, self.teams[name].cfg, chat, self.clock, stop=stop)

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
            self.scheduler = None
        for desk in self.teams.values():
            if desk.mailbox is not None:
                desk.mailbox.close()
        if self.db is not None:
            self.db.dispose()
