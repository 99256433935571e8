"""The `dutybot` command line."""

from __future__ import annotations

import logging
import sys
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.kernel.config import (
    Config,
    ConfigError,
    EwsMailboxConfig,
    GraphMailboxConfig,
    TeamConfig,
    load_config,
    secret,
)

if TYPE_CHECKING:
    from bot.mail.mailbox import Mailbox
    from storage.db import Database

DEFAULT_CONFIG = "config.example.toml"


def _load(path: str | None) -> Config:
    chosen = path or DEFAULT_CONFIG
    if path is None and not Path(chosen).exists():
        raise click.ClickException(
            "No config given. Run dutybot from its own folder, or pass --config FILE."
        )
    try:
        return load_config(chosen)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        raise click.ClickException(
            f"{chosen} has {len(exc.problems)} problem(s); fix them and try again."
        ) from None


def _setup_logging(cfg: Config) -> None:
    from bot.ops.logs import setup_logging

    setup_logging(cfg.log)  # plain lines, or JSON lines with log.json_lines = true


@click.group()
@click.version_option(package_name="dutybot")
def main() -> None:
    """dutybot: the duty inbox as tasks the team claims and resolves."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option("--as", "actor", default=None, help="Who you are, e.g. --as sam")
def shell(config_path: str | None, actor: str | None) -> None:
    """Run the bot in this terminal on the configured mailbox (no Slack needed)."""
    from bot.app import DutyBot, StartupError
    from bot.kernel.clock import OffsetClock
    from handlers.shell import Shell, prompt_lines

    cfg = _load(config_path)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    team = cfg.team()
    who = actor or (team.members or team.managers)[0]
    try:
        bot = DutyBot(cfg, clock=OffsetClock()).start()  # /duty clock moves only this one
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    sh = Shell(bot, who.lstrip("@"))
    interactive = sys.stdin.isatty()
    try:
        lines = prompt_lines("duty> ") if interactive else (line for line in sys.stdin)
        sh.run(lines, interactive)
    finally:
        bot.close()


def config_problems(cfg: Config) -> list[str]:
    """Problems that validation can't see: secrets missing from the environment."""
    problems: list[str] = []
    if cfg.chat == "slack":
        needed = [cfg.slack.bot_token_env]
        needed.append(cfg.slack.app_token_env if cfg.slack.mode == "socket" else "")
        needed.append(cfg.slack.signing_secret_env if cfg.slack.mode == "http" else "")
        for env in filter(None, needed):
            if not secret(env):
                problems.append(f"{env}: not set; expected it in the environment for Slack")
    if cfg.chat == "teams" and not secret(cfg.teams_app.client_secret_env):
        env = cfg.teams_app.client_secret_env
        problems.append(
            f"{env}: not set; expected the Azure Bot's client secret in the environment for Teams"
        )
    for i, team in enumerate(cfg.teams):
        mb = team.mailbox
        if isinstance(mb, EwsMailboxConfig):
            env = mb.client_secret_env if mb.auth == "oauth" else mb.password_env
            if not secret(env):
                problems.append(
                    f"teams[{i}].mailbox: the environment variable {env} is not set; "
                    "expected the Exchange secret there"
                )
        if isinstance(mb, GraphMailboxConfig) and not secret(mb.client_secret_env):
            problems.append(
                f"teams[{i}].mailbox: the environment variable {mb.client_secret_env} is "
                "not set; expected the Graph client secret there"
            )
    return problems


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option("--mailbox", "try_mailbox", is_flag=True, help="Also connect to each team's mailbox.")
def check(config_path: str | None, try_mailbox: bool) -> None:
    """Check a config file; print every problem, one line each."""
    chosen = config_path or DEFAULT_CONFIG
    try:
        cfg = load_config(chosen)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(line)
        sys.exit(1)
    problems = config_problems(cfg)
    for line in problems:
        click.echo(line)
    if problems:
        sys.exit(1)
    teams = ", ".join(f"{t.name} ({t.mailbox.kind} mailbox)" for t in cfg.teams)
    click.echo(f"{chosen} is fine: {len(cfg.teams)} team(s): {teams}.")
    if try_mailbox:
        started = _started_teams(cfg)
        if not all([_check_mailbox(team, team.name in started) for team in cfg.teams]):
            sys.exit(1)


def _started_teams(cfg: Config) -> set[str]:
    """Teams whose mailbox the bot has synced before (a sync state in the database). None if
    the database is not there yet or can't be read: then it is a first start either way."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import Database
    from storage.models import MailboxState
    from storage.status import sqlite_file_missing

    database = Database(cfg.database.url)
    try:
        if sqlite_file_missing(database):
            return set()
        with database.session() as s:
            return set(s.scalars(select(MailboxState.team)))
    except SQLAlchemyError:
        return set()
    finally:
        database.dispose()


def _check_mailbox(team: TeamConfig, started: bool = False) -> bool:
    """Connect to one team's mailbox and say, line by line, what works, and what the bot's
    first start will do with the mail already in it. True if all works."""
    from bot.app import StartupError, open_mailbox
    from bot.mail.mailbox import MailboxError

    click.echo(f"Mailbox of {team.name} ({team.mailbox.kind}):")
    try:
        mailbox = open_mailbox(team)
    except (StartupError, ValueError, MailboxError) as exc:
        click.echo(f"  Problem: {exc}")
        return False
    try:
        results = mailbox.check()
        if results and results[0][0]:  # the inbox opened
            results.append(_first_start(team, mailbox, started))
    finally:
        mailbox.close()
    shown: set[str] = set()
    for ok, line in results:
        if line not in shown:  # a refused sign-in fails every check with the same sentence
            shown.add(line)
            click.echo(f"  {'OK' if ok else 'Problem'}: {line}")
    return all(ok for ok, _ in results)


def _first_start(team: TeamConfig, mailbox: Mailbox, started: bool) -> tuple[bool, str]:
    from bot.kernel.config import first_sync_of
    from bot.mail.mailbox import MailboxError
    from bot.mail.watcher import first_start_plan

    mb = team.mailbox
    first = first_sync_of(mb.first_sync, team.tz, mb.first_sync_cards)
    try:
        total = mailbox.count()  # type: ignore[attr-defined]
        taken = mailbox.count(first.since) if first.since else total  # type: ignore[attr-defined]
    except MailboxError as exc:
        return False, f"Could not count the mail in the inbox: {exc}"
    return True, first_start_plan(first, total, taken, started=started)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), required=True)
def run(config_path: str) -> None:
    """Run the bot: the chat adapter, the mailbox watchers and the clocks."""
    import gc
    import signal
    import threading

    from bot.app import DutyBot, StartupError, chat_adapter
    from bot.chat.port import ChatSetupError

    cfg = _load(config_path)
    _setup_logging(cfg)
    bot = None
    try:
        bot = DutyBot(cfg).start()
        service = chat_adapter(cfg).start(cfg, bot)
    except (StartupError, ChatSetupError) as exc:
        if bot is not None:
            bot.close()
        raise click.ClickException(str(exc)) from None
    # What start-up built (modules, mappers, the bolt app) lives for good; frozen, the
    # collector's full passes stop walking it, which took ~60 ms out of some handovers.
    gc.collect()
    gc.freeze()
    # A thread back from the database or the network waits for the GIL while a busy one
    # (a scheduled pass over many teams, an email being parsed) holds it, up to the switch
    # interval each time: 5 ms by default, many times a request. 1 ms keeps a claim's answer
    # quick while other work runs (bench/teams_scale.py), at a cost too small to measure.
    sys.setswitchinterval(0.001)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("dutybot").info("stopping: finishing what is in hand")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.runner.start()  # the mailbox watchers and card delivery
    bot.start_scheduler(team_leases=service.runner.leases)  # each held team's clocks
    try:
        service.serve(stop)
    except ChatSetupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        busy = service.runner.shutdown()
        service.close()
        bot.close()
        if busy:
            logging.getLogger("dutybot").warning(
                "stopped; %s did not finish in time and will be redone", ", ".join(busy)
            )
        else:
            logging.getLogger("dutybot").info("stopped cleanly")


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print what /healthz answers instead.")
def status(config_path: str | None, as_json: bool) -> None:
    """Say how the bot is doing: each mailbox's last sync, cards waiting, who runs the
    clocks, and whether the database and Slack answer. Exits 1 if anything is wrong."""
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from bot.app import chat_adapter
    from bot.kernel.clock import SystemClock
    from bot.ops.status import build_status
    from storage.db import Database
    from storage.status import sqlite_file_missing

    cfg = _load(config_path)
    probe = chat_adapter(cfg).probe(cfg)
    database = Database(cfg.database.url)
    # A SQLite file is brought up to date, as the bot does at start-up; a missing one is not
    # made here (status says it is missing), nor is PostgreSQL upgraded (status says how).
    if database.is_sqlite and not sqlite_file_missing(database):
        with suppress(SQLAlchemyError):  # build_status then says what is wrong with it
            database.ensure_current(upgrade_sqlite=True)
    try:
        found = build_status(cfg, database, SystemClock().now(), probe)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
    else:
        for line in found.lines():
            click.echo(line)
    if found.problems():
        sys.exit(1)


@main.group()
def teams() -> None:
    """Microsoft Teams: the app package."""


@teams.command("package")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="dutybot-teams.zip",
              show_default=True, help="Where to write the zip.")  # fmt: skip
@click.option("--developer", default="The council", show_default=True,
              help="Who publishes the app, as Teams shows it.")  # fmt: skip
@click.option("--website", required=True, help="The council's https:// page about the app.")
@click.option("--version", "version", default="1.0.0", show_default=True)
def teams_package(
    config_path: str | None, out_path: str, developer: str, website: str, version: str
) -> None:
    """Build the Teams app package (manifest and icons, zipped) for the Azure Bot in
    [teams_app], for the Teams admin centre (Manage apps, Upload)."""
    from bot.app import CATALOGUE
    from handlers.teams.package import PackageError, build

    cfg = _load(config_path)
    try:
        made = build(cfg, CATALOGUE, Path(out_path), developer=developer, website=website,
                     version=version)  # fmt: skip
    except PackageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote {made}: upload it in the Teams admin centre, then add the app to the team.")


@main.group()
def db() -> None:
    """Database housekeeping."""


@db.command("upgrade")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def db_upgrade(config_path: str | None) -> None:
    """Apply the database migrations."""
    from storage.db import Database

    cfg = _load(config_path)
    database = Database(cfg.database.url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    click.echo("The database is up to date.")


def _open_database(cfg: Config) -> Database:
    """The configured database, up to date: a SQLite file is brought up to date (made if need
    be), as the bot does at start-up; any other database behind the code is refused, with
    the command to run."""
    from storage.db import Database, SchemaBehind

    database = Database(cfg.database.url)
    try:
        database.ensure_current(upgrade_sqlite=True)
    except SchemaBehind as exc:
        database.dispose()
        raise click.ClickException(str(exc)) from None
    return database


@main.command()
@click.option("--dry-run", is_flag=True, help="Only show what would go; change nothing.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def purge(dry_run: bool, config_path: str | None) -> None:
    """Remove email content older than retention.email_content_days (the daily job does this
    by itself). The audit trail stays."""
    from bot.kernel.clock import SystemClock
    from bot.ops.retention import purge as run_purge

    cfg = _load(config_path)
    database = _open_database(cfg)
    days = cfg.retention.email_content_days
    try:
        for team in cfg.teams:
            mailbox = _purge_mailbox(team)
            try:
                report = run_purge(
                    database, team, days, SystemClock().now(), dry_run=dry_run, mailbox=mailbox
                )
            finally:
                if mailbox is not None:
                    mailbox.close()
            for line in report.lines(team.timezone, dry_run):
                click.echo(line)
    finally:
        database.dispose()
    if dry_run:
        click.echo("Dry run: nothing was changed. Run dutybot purge to do it.")


def _purge_mailbox(team: TeamConfig) -> Mailbox | None:
    """The team's mailbox, for its own email copies; if it can't be opened, one plain line says
    so and the rest of the purge goes ahead."""
    from bot.app import StartupError, open_mailbox
    from bot.mail.mailbox import MailboxError

    try:
        return open_mailbox(team, with_samples=False)
    except (StartupError, ValueError, MailboxError) as exc:
        click.echo(
            f"{team.name}: the mailbox could not be opened, so the bot's own email copies in it "
            f"are left for the next purge. {exc}"
        )
        return None


@main.group()
def audit() -> None:
    """The audit trail: who did what, and when."""


@audit.command("export")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), required=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def audit_export(since: datetime, until: datetime, csv_path: str, config_path: str | None) -> None:
    """Write every event from --since to --until (whole days, in each team's time zone)."""
    from bot.ops.audit import write_audit

    if until < since:
        raise click.ClickException(
            f"--until ({until:%Y-%m-%d}) is before --since ({since:%Y-%m-%d}); swap them."
        )
    cfg = _load(config_path)
    database = _open_database(cfg)
    try:
        with open(csv_path, "w", newline="", encoding="utf-8") as out:
            rows = write_audit(out, database, cfg.teams, since.date(), until.date())
    except OSError as exc:
        raise click.ClickException(f"Can't write {csv_path} ({exc.strerror}).") from None
    finally:
        database.dispose()
    click.echo(f"Wrote {rows} event(s) from {since:%Y-%m-%d} to {until:%Y-%m-%d} to {csv_path}.")


@main.group()
def report() -> None:
    """Reports from the database."""


@report.command("unallocated")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the cases to this CSV file instead of printing them.",
)
@click.option("--team", "team_name", default=None, help="Only this team.")
def report_unallocated(
    config_path: str | None, csv_path: str | None, team_name: str | None
) -> None:
    """Every open unallocated case: red first, then the longest waiting; counts by RAY."""
    from bot.cases.report import unallocated_reports, write_csv
    from bot.kernel.clock import SystemClock

    cfg = _load(config_path)
    teams = [t for t in cfg.teams if team_name in (None, t.name)]
    if not teams:
        raise click.ClickException(f"There is no team called {team_name} in the config.")
    database = _open_database(cfg)
    try:
        reports = unallocated_reports(database, teams, SystemClock().now())
    finally:
        database.dispose()
    if csv_path is None:
        for team, found in zip(teams, reports, strict=True):
            if len(teams) > 1:
                click.echo(f"Team {team.name}:")
            click.echo(found.message().plain(team.names))
        return
    try:
        with open(csv_path, "w", newline="", encoding="utf-8") as out:
            rows = write_csv(out, [(r, t.names) for r, t in zip(reports, teams, strict=True)])
    except OSError as exc:
        raise click.ClickException(f"Can't write {csv_path} ({exc.strerror}).") from None
    for found in reports:
        click.echo(found.headline() if found.rows else found.message().plain())
    click.echo(f"Wrote {rows} case(s) to {csv_path}.")


if __name__ == "__main__":  # pragma: no cover
    main()
