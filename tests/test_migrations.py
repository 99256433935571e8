"""The migrations build exactly the schema the models describe, and step down and up again."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text

from handlers.cli import main
from storage.db import MIGRATIONS, Database, SchemaBehind, pending_migrations
from storage.models import Base
from tests.bot_process import database_url


def differences(db: Database) -> list[object]:
    with db.engine.connect() as conn, warnings.catch_warnings():
        # Alembic can't compare expression indexes and says so; they are checked by name below.
        warnings.simplefilter("ignore")
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_the_migrated_schema_is_the_models_schema(db: Database) -> None:
    assert differences(db) == []
    assert {"ix_tasks_card", "ix_tasks_team_card", "ix_tasks_team_state"} <= task_indexes(db)


def task_indexes(db: Database) -> set[str]:
    # SQLAlchemy's reflection skips expression indexes on SQLite, so ask the catalogue.
    sql = (
        "select name from sqlite_master where type = 'index' and tbl_name = 'tasks'"
        if db.is_sqlite
        else "select indexname from pg_indexes where tablename = 'tasks' "
        "and schemaname = current_schema()"
    )
    with db.engine.connect() as conn:
        return set(conn.execute(text(sql)).scalars())


def test_every_migration_steps_down_and_up_again(db: Database) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "tasks" not in inspect(db.engine).get_table_names()
    db.upgrade()
    assert differences(db) == []


def test_a_database_behind_the_code_is_refused_with_the_command_to_run(db: Database) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")  # as after installing a newer dutybot
    with pytest.raises(SchemaBehind) as refused:
        db.ensure_current(upgrade_sqlite=False)
    assert str(refused.value) == (
        "The database needs upgrading first. Run: dutybot db upgrade --config FILE"
    )
    if db.is_sqlite:
        db.ensure_current(upgrade_sqlite=True)  # the bot brings its own SQLite file up to date
        assert differences(db) == []
    else:  # PostgreSQL is upgraded on purpose, by `dutybot db upgrade`, never at start-up
        with pytest.raises(SchemaBehind):
            db.ensure_current(upgrade_sqlite=True)


# ---- the commands: SQLite is brought up to date, PostgreSQL refused with what to run ------


def commands(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Each command that opens the database, and what it says when it worked."""
    csv = (tmp / "audit.csv").as_posix()
    return {
        "purge": (["purge", "--dry-run"], "Dry run: nothing was changed."),
        "audit": (
            ["audit", "export", "--since", "2026-07-01", "--until", "2026-07-01", "--csv", csv],
            f"Wrote 0 event(s) from 2026-07-01 to 2026-07-01 to {csv}.",
        ),
        "report": (["report", "unallocated"], "none. Every case is allocated."),
    }


def cli_config(tmp: Path, url: str) -> Path:
    path = tmp / "dutybot.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[[teams]]\nname = "care-experienced"\n'
        'channel = "C0DUTY"\nmembers = ["sam"]\nmanagers = ["jo"]\n'
        f'[teams.mailbox]\nkind = "folder"\npath = "{(tmp / "inbox").as_posix()}"\n'
    )
    return path


def step_back(db: Database) -> None:
    """One migration down, as after installing a newer dutybot."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")


def run_cli(cfg: Path, args: list[str]) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(cfg)])


@pytest.mark.parametrize("name", ["purge", "audit", "report"])
def test_a_command_on_a_fresh_sqlite_file_brings_it_up_to_date(tmp_path: Path, name: str) -> None:
    path = tmp_path / "new" / "dutybot.db"  # as on a fresh clone: not made yet
    args, said = commands(tmp_path)[name]
    result = run_cli(cli_config(tmp_path, f"sqlite:///{path.as_posix()}"), args)
    assert result.exit_code == 0, result.output
    assert said in result.output
    assert "upgrading" not in result.output
    db = Database(f"sqlite:///{path.as_posix()}")
    try:
        assert differences(db) == []
    finally:
        db.dispose()


def test_commands_bring_a_sqlite_file_behind_the_code_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'dutybot.db').as_posix()}"
    db = Database(url)
    try:
        db.upgrade()
        step_back(db)
        cfg = cli_config(tmp_path, url)
        status = run_cli(cfg, ["status"])
        assert "Database: reachable." in status.output
        assert "upgrad" not in status.output
        assert differences(db) == []
        step_back(db)
        args, said = commands(tmp_path)["purge"]
        purge = run_cli(cfg, args)
        assert purge.exit_code == 0 and said in purge.output, purge.output
        assert differences(db) == []
    finally:
        db.dispose()


def test_commands_refuse_a_postgresql_database_behind_the_code(
    pg: Database, tmp_path: Path
) -> None:
    step_back(pg)
    cfg = cli_config(tmp_path, database_url(pg))
    for args, _ in commands(tmp_path).values():
        result = run_cli(cfg, args)
        assert result.exit_code == 1
        assert result.output.strip() == (
            "Error: The database needs upgrading first. Run: dutybot db upgrade --config FILE"
        )
    status = run_cli(cfg, ["status"])
    assert "The database needs upgrading. Run: dutybot db upgrade --config FILE" in status.output
    assert pending_migrations(pg.engine)
