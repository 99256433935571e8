"""The composition root: builds the database, the catalogue of interactions, and each team's
tasks, rota, case register, mailbox and clocks from config. The chat, mailbox and directory
adapters are picked here, by the names in config, and nowhere else."""

from __future__ import annotations

import importlib
import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from bot.cases import commands as case_verbs
from bot.cases.register import Register
from bot.chat.calls import Calls, Place
from bot.chat.catalogue import Catalogue, catalogue_of
from bot.chat.delivery import Delivered, StopSignal, deliver
from bot.chat.port import Chat, ChatAdapter
from bot.contacts import commands as contact_verbs
from bot.contacts.ack import Acks
from bot.contacts.log import Contacts
from bot.contacts.worker import Workers
from bot.handover import commands as handover_verbs
from bot.kernel.calendar import WorkingCalendar
from bot.kernel.clock import Clock, SystemClock
from bot.kernel.config import (
    Config,
    EwsMailboxConfig,
    FolderMailboxConfig,
    GraphMailboxConfig,
    TeamConfig,
    first_sync_of,
    secret,
)
from bot.kernel.message import Message
from bot.kernel.roles import GroupLookup, Roster
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.mailbox import Mailbox
from bot.mail.pace import PollPace
from bot.mail.watcher import SyncResult, move_resolved, sync_once
from bot.nudges import commands as nudge_verbs
from bot.ops import commands as clock_verbs
from bot.ops.commands import ClockHands
from bot.ops.jobs import JobReport, TeamJobs
from bot.ops.lease import TeamLeases
from bot.ops.logsafe import guard_library_logs
from bot.ops.outage import DatabaseWatch
from bot.ops.scheduler import AfterTick, DutyScheduler
from bot.people.adapters.config import Entry, TableBook
from bot.people.adapters.file import PeopleFile, PeopleFileError
from bot.people.directory import Accounts, Availability, Directory, People, Profiles
from bot.rota import commands as rota_verbs
from bot.rota.rota import Rota
from bot.tasks import commands as task_verbs
from bot.tasks.actions import Tasks
from bot.tasks.home import HomeSection, home
from bot.tasks.triage import sorter
from storage import tasks as q
from storage.db import Database, SchemaBehind

log = logging.getLogger(__name__)

S = TypeVar("S")


class StartupError(Exception):
    """The bot can't start; the message is one plain sentence saying what to do."""


# The chat adapter for each `chat = ...` in config: its module, with an ADAPTER in it. The
# adapters live under handlers/, which bot/ never imports by name: they are looked up here.
CHATS: dict[str, str] = {
    "shell": "handlers.shell",
    "slack": "handlers.slack.server",
    "teams": "handlers.teams.server",
}


def chat_adapter(config: Config) -> ChatAdapter:
    """The adapter of the chat the config names."""
    adapter: ChatAdapter = importlib.import_module(CHATS[config.chat]).ADAPTER
    return adapter


# Every interaction, in the order /duty help lists them. A new domain adds its list here.
CATALOGUE: Catalogue = catalogue_of(
    [
        task_verbs.VERBS,
        contact_verbs.VERBS,
        nudge_verbs.VERBS,
        handover_verbs.VERBS,
        rota_verbs.VERBS,
        clock_verbs.VERBS,
        case_verbs.VERBS,
    ],
    task="tasks",
    case="cases",
)


@dataclass
class Team:
    """One team, wired up: its tasks, rota, case register and clocks, where its verbs find them."""

    cfg: TeamConfig
    roster: Roster
    calendar: WorkingCalendar
    tasks: Tasks
    contacts: Contacts
    rota: Rota
    register: Register
    jobs: TeamJobs
    hands: ClockHands
    calls: Calls
    workers: Workers
    people: People
    mailbox: Mailbox | None = None
    acks: Acks | None = None
    # One mover at a time for the team: the mail watcher and the runner's move loop both move.
    moving: threading.Lock = field(default_factory=threading.Lock)

    def service(self, kind: type[S]) -> S:
        """The domain object a verb of ``kind`` runs on."""
        found = (self.tasks, self.contacts, self.rota, self.register, self.jobs.handover,
                 self.jobs.cover, self.hands, self.acks, self.workers, self.people)  # fmt: skip
        for each in (*found, self.calls.catalogue):
            if isinstance(each, kind):
                return each
        raise LookupError(f"no {kind.__name__} in team {self.cfg.name}")

    def home(self, actor: str) -> list[HomeSection]:
        minutes = self.jobs.config.nudges.unclaimed_minutes
        return home(self.tasks, self.rota, actor, minutes, self.jobs.cover)

    def command(self, actor: str, line: str) -> Message:
        """A `/duty` line typed in the team's channel (for scripts and tests)."""
        return self.calls.command(actor, Place("channel", self.cfg.channel), line).message


def open_mailbox(team: TeamConfig, *, with_samples: bool = True) -> Mailbox:
    """The team's mailbox; ``with_samples=False`` never copies the demo's sample emails in (for
    commands such as `dutybot purge` that only tidy up)."""
    mb = team.mailbox
    if isinstance(mb, FolderMailboxConfig):
        path = Path(mb.path)
        if with_samples and mb.seed_from and not path.exists():
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

        client_secret = _graph_secret(mb)
        return GraphMailbox(
            GraphSettings(
                address=mb.address,
                tenant_id=mb.tenant_id,
                client_id=mb.client_id,
                client_secret=client_secret,
                authority_host=mb.authority_host,
                graph_url=mb.graph_url,
                done_folder=mb.done_folder,
            ),
            pace=PollPace(slowest=mb.poll_seconds),
        )
    raise StartupError("Unknown mailbox kind.")  # pragma: no cover - config forbids it


def _graph_secret(mb: GraphMailboxConfig) -> str:
    client_secret = secret(mb.client_secret_env)
    if not client_secret:
        raise StartupError(
            f"The Graph client secret is missing. Set the {mb.client_secret_env} "
            "environment variable."
        )
    return client_secret


# ---- the people directory: team leaders, automatic replies, free/busy, chat status ----------


def open_people(team: TeamConfig, clock: Clock, chat: Profiles | None) -> People:
    """The team's people directory from `[teams.people]`: the chat's profiles first, then the
    config's table and any people file; team leaders and availability from the sources named."""
    cfg = team.people
    table = TableBook({u: Entry(p.email, p.name, p.team_leader) for u, p in cfg.table.items()})
    people_file = None
    if cfg.file:
        try:
            people_file = PeopleFile(cfg.file, team.tz, clock)
        except PeopleFileError as exc:
            raise StartupError(str(exc)) from None
    exchange = _exchange_people(team) if {cfg.source, cfg.availability} & {"ews", "graph"} else None
    directories: dict[str, Directory | None] = {"config": table, "file": people_file,
                                                "ews": exchange, "graph": exchange}  # fmt: skip
    sources: dict[str, Availability | None] = {"none": None, "file": people_file,
                                               "ews": exchange, "graph": exchange}  # fmt: skip
    profiles = [p for p in (chat, table, people_file) if p is not None]
    accounts = chat if isinstance(chat, Accounts) else None
    return People(
        clock=clock, tz=team.tz, profiles=profiles, accounts=accounts,
        directory=directories[cfg.source],
        availability=sources[cfg.availability], cache_seconds=cfg.cache_minutes * 60,
        wait_seconds=cfg.wait_seconds,
    )  # fmt: skip


def _exchange_people(team: TeamConfig) -> Directory | Availability:
    """Exchange asked as the duty mailbox, with the mailbox's own settings and secrets."""
    mb = team.mailbox
    if isinstance(mb, EwsMailboxConfig):
        from bot.people.adapters.ews import EwsPeople, EwsPeopleSettings

        settings = EwsPeopleSettings(
            address=mb.address, endpoint=mb.endpoint, auth=mb.auth, username=mb.username,
            password=secret(mb.password_env), client_id=mb.client_id,
            client_secret=secret(mb.client_secret_env), tenant_id=mb.tenant_id,
            server_version=mb.server_version,
        )  # fmt: skip
        return EwsPeople(settings, team.tz)
    if isinstance(mb, GraphMailboxConfig):
        from bot.people.adapters.graph import GraphPeople, GraphPeopleSettings

        client_secret = _graph_secret(mb)
        return GraphPeople(
            GraphPeopleSettings(
                address=mb.address, tenant_id=mb.tenant_id, client_id=mb.client_id,
                client_secret=client_secret, authority_host=mb.authority_host,
                graph_url=mb.graph_url,
            )
        )  # fmt: skip
    raise StartupError("The people directory on Exchange needs an EWS or Graph mailbox.")


@dataclass
class DutyBot:
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    groups: GroupLookup | None = None
    profiles: Profiles | None = None  # the chat's people (Slack profiles); None in the shell
    db: Database | None = None
    teams: dict[str, Team] = field(default_factory=dict)
    scheduler: DutyScheduler | None = None
    db_watch: DatabaseWatch = field(default_factory=DatabaseWatch)  # says once it's away
    calls: Calls = field(init=False)

    def __post_init__(self) -> None:
        self.calls = Calls(CATALOGUE, self.teams)

    def start(self, *, with_mailboxes: bool = True) -> DutyBot:
        guard_library_logs()  # before any client exists: email content never goes to logs
        if self.groups is None:  # the chat's user groups, for roles given as a group
            self.groups = chat_adapter(self.config).groups(self.config)
        if self.profiles is None:  # the chat's people: their mailboxes and statuses
            self.profiles = chat_adapter(self.config).profiles(self.config)
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

    def _wire(self, team: TeamConfig, with_mailbox: bool) -> Team:
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
        tasks = Tasks(self.db, team, roster, self.clock)
        mailbox = open_mailbox(team) if with_mailbox else None
        cal = WorkingCalendar(team.nation, team.closures)
        rota = Rota(self.db, team, roster, cal, self.clock)
        tasks.safeguarding_contacts = rota.safeguarding_contacts
        jobs = TeamJobs(tasks, cal, rota, self.config, mailbox)
        register = Register(self.db, team, roster, cal, self.clock)
        hands = ClockHands(self.clock, team.tz)
        contacts = Contacts(self.db, team, self.clock, self.config.privacy.preview)
        acks = Acks(self.db, team, self.clock, mailbox)
        people = open_people(team, self.clock, self.profiles)
        tasks.people = people
        workers = Workers(self.db, team, self.clock, people, roster)
        return Team(
            team, roster, cal, tasks, contacts, rota, register, jobs, hands, self.calls,
            workers, people, mailbox, acks=acks,
        )  # fmt: skip

    def team(self, name: str | None = None) -> Team:
        if name is None:
            return next(iter(self.teams.values()))
        return self.teams[name]

    def check_mail(self, name: str, stop: threading.Event | None = None) -> SyncResult:
        """Take in new mail; once ``stop`` is set, only the email in hand is finished."""
        team = self.teams[name]
        assert self.db is not None
        if team.mailbox is None:
            return SyncResult()
        categorise = bool(getattr(team.cfg.mailbox, "categorise", False))
        preview = self.config.privacy.preview
        mb = team.cfg.mailbox
        first = first_sync_of(mb.first_sync, team.cfg.tz, mb.first_sync_cards)
        result = sync_once(
            self.db, name, team.mailbox, self.clock, preview, categorise=categorise, stop=stop,
            sort=sorter(team.cfg), first=first,
        )  # fmt: skip
        self.move_done(name)
        return result

    def move_done(self, name: str) -> int:
        """Move the emails of resolved tasks to Done; while the mailbox is down they wait."""
        team = self.teams[name]
        assert self.db is not None
        if team.mailbox is None:
            return 0
        with team.moving:
            return move_resolved(self.db, name, team.mailbox)

    def moves_waiting(self, name: str) -> bool:
        """True if some resolved task's email still waits to go to Done."""
        assert self.db is not None
        with self.db.session() as s:
            return bool(q.emails_to_move(s, name, limit=1))

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
        team_leases: TeamLeases | None = None,
    ) -> DutyScheduler:
        """Start the clocks for `dutybot run` and the shell (APScheduler; only the lease
        holder acts; with ``team_leases``, each team's holder). ``catch_up``: run the first pass
        at once (see DutyScheduler.start)."""
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
            team_leases=team_leases,
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
        for team in self.teams.values():
            team.people.close()
            if team.mailbox is not None:
                team.mailbox.close()
        if self.db is not None:
            self.db.dispose()
