"""The catalogue: every verb's example works, as the role the verb names, in the shell on the
sample inbox; and every verb is declared once, with what help and the chats need."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import CATALOGUE, DutyBot
from bot.chat.calls import Place
from bot.chat.catalogue import Verb
from bot.kernel.clock import ManualClock
from bot.kernel.config import Config, DatabaseConfig, load_config
from storage.db import Database
from storage.models import Team
from tests.conftest import ROOT

MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Europe/London"))
FIRST = 42  # the examples' task number: the sample inbox's first email, after 41 others


def sample(path: Path) -> Config:
    """The example config, on its own SQLite file and a copy of the sample inbox."""
    cfg = load_config(ROOT / "config.example.toml")
    inbox = path / "inbox"
    shutil.copytree(ROOT / "examples" / "inbox", inbox)
    team = cfg.teams[0].model_copy(
        update={"mailbox": cfg.teams[0].mailbox.model_copy(update={"path": str(inbox)})}
    )
    url = f"sqlite:///{path / 'duty.db'}"
    return cfg.model_copy(update={"teams": [team], "database": DatabaseConfig(url=url)})


@pytest.fixture(scope="module")
def taken_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database that has taken in the sample inbox, its numbers starting at 42."""
    where = tmp_path_factory.mktemp("sample")
    cfg = sample(where)
    db = Database(cfg.database.url)
    db.upgrade()
    with db.session() as s:
        db_team = cfg.teams[0].name
        s.add(Team(name=db_team, last_task_number=FIRST - 1))
    bot = DutyBot(cfg, clock=ManualClock(MONDAY), db=db).start()
    assert bot.check_mail(db_team).new[0] == FIRST
    bot.close()
    return where


def someone(cfg: Config, verb: Verb) -> str:  # type: ignore[type-arg]
    team = cfg.teams[0]
    return team.managers[0] if verb.who.role == "manager" else team.members[0]


@pytest.mark.parametrize("verb", CATALOGUE.verbs, ids=lambda v: v.name)
def test_every_example_works_as_the_role_it_names(
    verb: Verb,  # type: ignore[type-arg]
    taken_in: Path,
    tmp_path: Path,
) -> None:
    shutil.copy(taken_in / "duty.db", tmp_path / "duty.db")
    cfg = sample(tmp_path)
    bot = DutyBot(cfg, clock=ManualClock(MONDAY)).start()  # its folder mailbox: /duty ack sends
    shell = Place("shell", cfg.teams[0].channel)
    manager = cfg.teams[0].managers[0]
    try:
        for line in verb.needs:
            before = bot.calls.command(manager, shell, line)
            assert not before.refused, f"{line}: {before.message.plain()}"
        reply = bot.calls.command(someone(cfg, verb), shell, verb.example)
    finally:
        bot.close()
    said = reply.message.plain()
    assert not reply.refused, f"{verb.example} was refused: {said}"
    assert not said.startswith("I don't know") and said.strip()


def test_examples_name_a_sample_task() -> None:
    # So the every-example test above acts on a real task, not on "There is no task #99";
    # most name the first sample email, #42; "dismiss" names #48, whose words hint urgent.
    numbered = [v for v in CATALOGUE.verbs if " N" in v.syntax]
    assert numbered and all(
        any(f" {n}" in v.example for n in range(FIRST, FIRST + 8)) for v in numbered
    )


def test_every_verb_is_declared_once_with_its_help() -> None:
    names = [n for v in CATALOGUE.verbs for n in (v.name, *v.aliases)]
    assert len(names) == len(set(names))
    for verb in CATALOGUE.verbs:
        assert verb.syntax.startswith(f"/duty {verb.name}")
        assert verb.example.startswith(f"/duty {verb.name}")
        assert verb.does and verb.group in CATALOGUE.groups
        if verb.listed:
            assert CATALOGUE.help_text(verb.name) == f"{verb.usage}\nFor example: {verb.example}"


def test_a_verb_with_a_form_reads_the_form_too() -> None:
    with_forms = [v for v in CATALOGUE.verbs if v.form is not None]
    assert {v.name for v in with_forms} == {"resolve", "alert", "new", "ack"}
    assert all(v.from_form is not None for v in with_forms)
