"""`dutybot check`: every problem on its own plain line, and a non-zero exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.kernel.config import ConfigError, parse_config
from handlers.cli import main
from tests.conftest import ROOT

BAD = """
chat = "shell"
colour = "blue"

[privacy]
preview = "everything"

[[teams]]
name = "Care Experienced"
channel = "C1"
managers = ["jo"]
timezone = "Europe/Londn"
nation = "FRA"

[teams.mailbox]
kind = "ews"
address = "duty@council.example"
endpoint = "https://mail.example/EWS/Exchange.asmx"
auth = "basic"
password = "hunter2"
max_connections = 1
"""


def check(tmp_path: Path, body: str) -> tuple[int, list[str]]:
    f = tmp_path / "c.toml"
    f.write_text(body)
    result = CliRunner().invoke(main, ["check", "--config", str(f)])
    return result.exit_code, result.output.strip().splitlines()


def test_the_example_config_is_valid() -> None:
    result = CliRunner().invoke(main, ["check", "--config", str(ROOT / "config.example.toml")])
    assert result.exit_code == 0, result.output
    assert "is fine: 1 team(s): care-experienced (folder mailbox)" in result.output


def test_every_problem_is_one_plain_line(tmp_path: Path) -> None:
    code, lines = check(tmp_path, BAD)
    assert code == 1
    assert lines == [
        "teams[0].mailbox.password: secrets may not be written in the config file; "
        "expected password_env naming an environment variable",
        "privacy.preview: 'everything' is not allowed; "
        "input should be 'minimal', 'redacted', 'subject-only' or 'full'",
        "teams[0].name: 'Care Experienced' is not a short name; expected lower case letters, "
        "digits and dashes, like care-experienced",
        "teams[0].timezone: 'Europe/Londn' is not a time zone; "
        "expected an IANA name like Europe/London",
        "teams[0].nation: 'FRA' is not a UK nation; expected one of ENG, SCT, WLS, NIR",
        "teams[0].mailbox.max_connections: 1 is not allowed; "
        "input should be greater than or equal to 2",
        "colour: unknown key; expected one of the keys in config.example.toml",
    ]


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    code, lines = check(tmp_path, "teams = [")
    assert code == 1 and len(lines) == 1 and "not valid TOML" in lines[0]
    result = CliRunner().invoke(main, ["check", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "can't be read" in result.output


def test_a_team_needs_a_manager_and_secrets_must_be_in_the_environment(
    tmp_path: Path, monkeypatch: object
) -> None:
    code, lines = check(tmp_path, '[[teams]]\nname = "a"\nchannel = "C1"\n')
    assert code == 1
    assert lines == ["teams[0]: a team needs at least one manager; expected managers = ['U...']"]
    graph = (
        '[[teams]]\nname = "a"\nchannel = "C1"\nmanagers = ["U1"]\n[teams.mailbox]\n'
        'kind = "graph"\naddress = "d@x"\ntenant_id = "t"\nclient_id = "c"\n'
    )
    code, lines = check(tmp_path, graph)
    assert code == 1
    assert lines == [
        "teams[0].mailbox: the environment variable DUTYBOT_GRAPH_CLIENT_SECRET is not set; "
        "expected the Graph client secret there"
    ]


def test_a_value_of_the_wrong_kind_says_what_to_write(tmp_path: Path) -> None:
    body = """
[database]
url = 42
[handover]
time = "half four"
[nudges]
unclaimed_minutes = "x"
[[teams]]
name = "a"
channel = "C1"
managers = ["jo"]
members = "sam"
"""
    code, lines = check(tmp_path, body)
    assert code == 1
    assert sorted(lines) == [
        "database.url: 42 is the wrong kind of value; expected text in quotes",
        "handover.time: 'half four' is the wrong kind of value; expected a time, like 16:30:00",
        "nudges.unclaimed_minutes: 'x' is the wrong kind of value; expected a whole number",
        "teams[0].members: 'sam' is the wrong kind of value; expected a list, like [\"U012AB3CD\"]",
    ]


# ---- Slack ids ---------------------------------------------------------------------------

NOT_A_USER = (
    "is not a Slack user id; "
    "expected an id like U012AB3CD (in Slack: the person's profile, ⋮, Copy member ID)"
)


def shell_names_team() -> dict[str, Any]:
    """A team written with shell names, in every place a config names a person."""
    return {
        "name": "care-experienced",
        "channel": "C0DUTY",
        "members": ["sam", "U012AB3CD"],
        "managers": ["jo", "W012AB3CD"],
        "member_group": "duty-team",
        "manager_group": "S0123MANAGERS",
        "names": {"jo": "Jo", "U012AB3CD": "Alex"},
        "rota": {"mon": {"manager": "jo", "pa1": "U012AB3CD"}, "fri": {"backup": "@priya"}},
        "cases": {"people": {"service_manager": "morgan", "head_of_service": "U0HEAD001"}},
    }


def test_under_slack_each_shell_name_is_one_plain_line() -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config({"chat": "slack", "teams": [shell_names_team()]})
    assert bad.value.problems == [
        f'teams[0].members: "sam" {NOT_A_USER}',
        f'teams[0].managers: "jo" {NOT_A_USER}',
        f'teams[0].names: "jo" {NOT_A_USER}',
        f'teams[0].rota.mon.manager: "jo" {NOT_A_USER}',
        f'teams[0].rota.fri.backup: "@priya" {NOT_A_USER}',
        f'teams[0].cases.people.service_manager: "morgan" {NOT_A_USER}',
        'teams[0].member_group: "duty-team" is not a Slack user group id; '
        "expected a user group id like S0123ABCD",
    ]


def test_the_shell_takes_any_name() -> None:
    cfg = parse_config({"chat": "shell", "teams": [shell_names_team()]})
    assert cfg.team().members == ["sam", "U012AB3CD"]


def test_check_refuses_shell_names_in_a_slack_config(tmp_path: Path) -> None:
    example = (ROOT / "config.example.toml").read_text()
    assert 'chat = "shell"\n' in example
    code, lines = check(tmp_path, example.replace('chat = "shell"\n', 'chat = "slack"\n', 1))
    assert code == 1
    assert f'teams[0].members: "sam" {NOT_A_USER}' in lines
    assert f'teams[0].rota.mon.manager: "jo" {NOT_A_USER}' in lines
    assert f'teams[0].cases.people.head_of_service: "lee" {NOT_A_USER}' in lines
    assert all(" is not a Slack user id; " in line for line in lines)


SOMEONE = "6f1c2e3a-0b4d-4e5f-9a8b-7c6d5e4f3a2b"
BOT_APP = {"app_id": "0a1b2c3d-0000-4000-8000-00000000a0b1", "tenant_id": SOMEONE}


def test_teams_takes_entra_ids_and_work_emails() -> None:
    team = {
        "name": "care-experienced",
        "channel": "19:duty0123@thread.tacv2",
        "members": [SOMEONE, "sam.jones@council.example"],
        "managers": ["Jo.Bloggs@council.example"],
        "msteams_team": SOMEONE,
    }
    cfg = parse_config({"chat": "teams", "teams_app": BOT_APP, "teams": [team]})
    assert cfg.chat == "teams"
    assert cfg.teams_app.client_secret_env == "DUTYBOT_TEAMS_CLIENT_SECRET"
    assert cfg.team().members == [SOMEONE, "sam.jones@council.example"]


def test_under_teams_each_slack_or_shell_id_is_one_plain_line() -> None:
    team = {"name": "duty", "channel": "C0DUTY", "members": ["U012AB3CD"], "managers": ["jo"]}
    with pytest.raises(ConfigError) as bad:
        parse_config({"chat": "teams", "teams": [team]})
    problems = bad.value.problems
    assert problems[0].startswith("teams_app.app_id: missing; expected the Azure Bot's app id")
    assert problems[2:] == [
        'teams[0].members: "U012AB3CD" is not a Teams user; expected an Entra object id like '
        f"{SOMEONE} or a work email address",
        'teams[0].managers: "jo" is not a Teams user; expected an Entra object id like '
        f"{SOMEONE} or a work email address",
        'teams[0].channel: "C0DUTY" is not a Teams channel id; expected one like '
        "19:abc123@thread.tacv2 (in Teams: the channel's ⋯, Get link to channel)",
        "teams[0].msteams_team: missing; expected the id of the Team the channel is in (its "
        "groupId), so a card posted just before a crash is found, not posted twice",
    ]


def test_the_teams_secret_can_only_come_from_the_environment() -> None:
    team = {"name": "duty", "channel": "19:a@thread.tacv2", "managers": [SOMEONE]}
    with pytest.raises(ConfigError) as bad:
        parse_config(
            {"chat": "teams", "teams_app": {**BOT_APP, "client_secret": "x"}, "teams": [team]}
        )
    assert bad.value.problems == [
        "teams_app.client_secret: secrets may not be written in the config file; "
        "expected client_secret_env naming an environment variable"
    ]


def test_check_says_which_ids_are_wrong_for_teams_and_that_the_secret_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = (ROOT / "config.example.toml").read_text().replace('chat = "shell"\n',
                                                                 'chat = "teams"\n', 1)  # fmt: skip
    code, lines = check(tmp_path, example)
    assert code == 1
    assert lines[0].startswith("teams_app.app_id: missing; expected the Azure Bot's app id")
    assert 'teams[0].members: "sam" is not a Teams user; expected an Entra object id' in lines[2]
    assert 'teams[0].channel: "C0DUTY" is not a Teams channel id' in lines[-2]
    assert lines[-1].startswith("teams[0].msteams_team: missing")

    fixed = f"""
chat = "teams"
[teams_app]
app_id = "{BOT_APP["app_id"]}"
tenant_id = "{SOMEONE}"
[[teams]]
name = "care-experienced"
channel = "19:duty@thread.tacv2"
msteams_team = "{SOMEONE}"
members = ["{SOMEONE}", "sam@council.example"]
managers = ["jo@council.example"]
"""
    monkeypatch.delenv("DUTYBOT_TEAMS_CLIENT_SECRET", raising=False)
    code, lines = check(tmp_path, fixed)
    assert lines == [
        "DUTYBOT_TEAMS_CLIENT_SECRET: not set; expected the Azure Bot's client secret in the "
        "environment for Teams"
    ], lines
    monkeypatch.setenv("DUTYBOT_TEAMS_CLIENT_SECRET", "s3cret")
    code, lines = check(tmp_path, fixed)
    assert code == 0 and lines[-1].endswith(
        "is fine: 1 team(s): care-experienced (folder mailbox)."
    )
