"""The README's two commands are what a new user meets first: keep them true."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    top = text.split("## Using the shell")[0]
    return re.findall(r"```sh\n(.+?)\n```", top)


def test_readme_opens_with_the_try_and_test_commands() -> None:
    try_it, test_it = readme_commands()
    assert try_it.endswith("dutybot shell") and "pip install" in try_it
    assert test_it.endswith("pytest") and "'.[test]'" in test_it


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_it = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == test_it


def test_the_readme_lists_every_duty_command_as_duty_help_does() -> None:
    from bot.commands import help_text

    text = (ROOT / "README.md").read_text()
    listed = text.split("## Commands")[1].split("```\n")[1]
    assert listed.splitlines() == help_text().splitlines()[2:]
