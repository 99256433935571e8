"""Shell mode end to end, as a user runs it: a subprocess with commands piped in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def write_config(tmp: Path) -> Path:
    example = (ROOT / "config.example.toml").read_text()
    example = example.replace(
        'url = "sqlite:///.dutybot/dutybot.db"', f'url = "sqlite:///{tmp / "duty.db"}"'
    )
    example = example.replace('path = ".dutybot/inbox"', f'path = "{tmp / "inbox"}"')
    example = example.replace(
        'seed_from = "examples/inbox"', f'seed_from = "{ROOT / "examples" / "inbox"}"'
    )
    cfg = tmp / "shell.toml"
    cfg.write_text(example)
    return cfg


def shell(cfg: Path, commands: str, who: str = "sam") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "shell", "--config", str(cfg), "--as", who],
        input=commands,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_piped_commands_drive_the_duty_day(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = shell(
        cfg,
        "/duty list\n/duty claim 1\n/duty claim 1\n/duty resolve 1 recorded on Mosaic\n"
        "/duty clam 2\n/duty assign 2 @alex\n",
    )
    cards = [line for line in out.splitlines() if line.startswith("+-- #")]
    assert len(cards) == 8  # nine sample emails, one a reply threaded onto #1
    assert "+-- #7 <!channel> URGENT call me" in out  # shown as literal text
    assert "[NHS no.]" in out and "943 476 5919" not in out
    assert "You've claimed #1." in out
    assert "You already have #1." in out
    assert "  > thread #1: Resolved by @Sam: recorded on Mosaic" in out
    assert "I don't know 'clam'. Did you mean: /duty claim N" in out
    assert "Only a duty manager can assign tasks." in out
    assert (tmp_path / "inbox" / "Done" / "01-rent-arrears.eml").exists()
    assert (tmp_path / "inbox" / "Done" / "04-rent-arrears-reply.eml").exists()

    again = shell(cfg, "/duty list mine\n", who="jo")
    assert "+-- #" not in again  # a restart posts nothing twice
    assert "You have no claimed tasks." in again


def test_garbage_never_crashes_the_shell(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = shell(cfg, "\x00\x1b[2J\n/duty claim #99999999999\n/duty\n🙂\n/duty show abc\n")
    assert "Traceback" not in out
    assert "Tasks" in out  # /duty alone shows help


def test_run_on_a_shell_config_says_to_use_the_shell(tmp_path: Path) -> None:
    # `dutybot run` asks the chat the config names to serve; the shell's chat is a terminal.
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "run", "--config", str(write_config(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        'Error: The shell chat runs in a terminal: use dutybot shell, or set chat = "slack" '
        "in the config for dutybot run."
    )


def test_the_example_config_shows_each_role_once(tmp_path: Path) -> None:
    """Names in the example config are plain names; the shell adds the role itself."""
    cfg = write_config(tmp_path)
    out = shell(cfg, "/duty handover\n/duty rota\n", who="jo").splitlines()
    assert out[0] == "dutybot shell: team care-experienced, channel C0DUTY. You are @Jo (manager)."
    preview = [ln for ln in out if ln.startswith("Duty handover for ")]
    assert preview and all(ln.endswith(" (duty manager @Jo)") for ln in preview)
    assert "  Duty manager: @Jo" in out
    assert not [ln for ln in out if "(duty manager)" in ln or "(manager) (" in ln]

    member = shell(cfg, "", who="sam").splitlines()
    assert member[0].endswith("You are @Sam (member).")
