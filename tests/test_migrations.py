"""The migrations build exactly the schema the models describe, and step down and up again."""

from __future__ import annotations

import warnings

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.db import MIGRATIONS, Database, SchemaBehind
from storage.models import Base


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
