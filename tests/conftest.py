"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, a team, a clock, the
fake Exchange, Microsoft Graph and Slack servers, and bot processes to clean up."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text

from bot.kernel.clock import ManualClock
from bot.kernel.config import Config, parse_config
from storage.db import Database
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.fakes.slack_api import FakeSlack

if TYPE_CHECKING:
    from tests.bot_process import BotProcess

PG_URL = os.environ.get("DUTYBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent


def _pg_reason() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver/connection failure means "not here"
        return f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__})"


_PG_REASON = _pg_reason()


def pytest_report_header() -> str:
    return "postgresql: " + ("available" if _PG_REASON is None else _PG_REASON)


def pg_schema_url() -> Iterator[tuple[str, str]]:
    """Create a throwaway schema; yield (url, schema); drop it after."""
    if _PG_REASON is not None:
        if IN_CI:
            pytest.fail(f"CI=true but {_PG_REASON}; the PostgreSQL tests must run in CI")
        pytest.skip(f"{_PG_REASON}; set DUTYBOT_TEST_PG_URL or start PostgreSQL to run these")
    schema = f"dutybot_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PG_URL, schema
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def pg_database() -> Iterator[Database]:
    """A migrated PostgreSQL schema of its own (the ``db`` fixture's PostgreSQL side)."""
    gen = pg_schema_url()
    url, schema = next(gen)
    database = Database(url, schema=schema)
    try:
        database.upgrade()
        yield database
    finally:
        database.dispose()
        next(gen, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'duty.db'}")
        database.upgrade()
        yield database
        database.dispose()
        return
    with pg_database() as database:
        yield database


@pytest.fixture
def pg() -> Iterator[Database]:
    """PostgreSQL whatever ``db`` would be (e.g. to put a proxy in front of the server)."""
    with pg_database() as database:
        yield database


TEAM = {
    "name": "care-experienced",
    "channel": "C0DUTY",
    "members": ["sam", "alex", "priya"],
    "managers": ["jo"],
    "names": {"jo": "Jo"},
}


def make_config(**team_overrides: object) -> Config:
    team = {**TEAM, **team_overrides}
    return parse_config({"teams": [team]})


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
def clock() -> ManualClock:
    # Monday 23 November 2026, 10:00 in London (GMT, so 10:00 UTC).
    return ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


@pytest.fixture
def ews() -> Iterator[FakeEws]:
    with FakeEws() as server:
        yield server


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """The fake Slack Web API, recording what the bot sends it."""
    with FakeSlack() as server:
        yield server


@pytest.fixture
def bots() -> Iterator[list[BotProcess]]:
    """Bot processes (tests/bot_process.py) started by a test; any still running are killed
    at the end. A test lists it after its database and fakes, so it is cleaned up first."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.kill()
