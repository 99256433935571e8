"""The README's two commands are what a new user meets first: keep them true. So are its
command list, its duty-day walk-through, and every link in it and in docs/."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from bot.kernel.calendar import WorkingCalendar
from tests.conftest import ROOT
from tests.test_shell import shell, write_config

TRY_IT = "## Try it, and test it"
DUTY_DAY = "## A duty day"
SH_BLOCK = re.compile(r"```sh\n(.+?)\n```")


def readme() -> str:
    return (ROOT / "README.md").read_text()


def section(text: str, heading: str) -> str:
    """From `heading` to the next second-level heading."""
    assert heading in text, f"README.md has no '{heading}'"
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


def readme_commands() -> list[str]:
    text = readme()
    assert not SH_BLOCK.findall(text.split(TRY_IT)[0]), "no sh block may come before Try it"
    return SH_BLOCK.findall(section(text, TRY_IT))


def test_readme_opens_with_the_try_and_test_commands() -> None:
    try_it, test_it = readme_commands()
    assert try_it.endswith("dutybot shell") and "pip install" in try_it
    assert test_it.endswith("pytest") and "'.[test]'" in test_it


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_it = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == test_it


def test_the_readme_lists_every_duty_command_as_duty_help_does() -> None:
    from bot.app import CATALOGUE

    listed = readme().split("## Commands")[1].split("```\n")[1]
    assert listed.splitlines() == CATALOGUE.help_text().splitlines()[2:]


# --- the duty day -----------------------------------------------------------------------------

FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"`(/duty [^`]+)`")


def duty_day_commands() -> list[str]:
    """Every line typed in the walk-through, in order: `/as` and `/duty` lines in its code
    blocks, and `/duty ...` in running text."""
    text = section(readme(), DUTY_DAY)
    found: list[tuple[int, str]] = []
    for block in FENCE.finditer(text):
        at = block.start(1)
        for line in block.group(1).splitlines(keepends=True):
            if line.startswith(("/duty ", "/as ")):
                found.append((at, line.rstrip("\n")))
            at += len(line)
    prose = FENCE.sub(lambda m: " " * len(m.group(0)), text)
    found += [(m.start(1), m.group(1)) for m in INLINE.finditer(prose)]
    return [line for _, line in sorted(found)]


LONDON = ZoneInfo("Europe/London")
DATED = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [0-9]{2} [A-Z][a-z]{2}\b")
NOT_UNDERSTOOD = ("I don't know", "Sorry, I couldn't read that", "I couldn't read", "Use: /duty")


def next_working_monday() -> date:
    """The first Monday after today (London) that is not a bank holiday: the shell's clock
    only moves forwards."""
    day = datetime.now(LONDON).date() + timedelta(days=1)
    day += timedelta(days=-day.weekday() % 7)
    while not WorkingCalendar("ENG").is_working_day(day):
        day += timedelta(days=7)
    return day


def test_every_command_in_the_duty_day_works_in_the_shell(tmp_path: Path) -> None:
    commands = duty_day_commands()
    typed = [c for c in commands if c.startswith("/duty ")]
    assert {"rota", "list", "claim", "note", "alert", "resolve", "handover"} <= {
        c.split()[1] for c in typed
    }
    # The README's day is a Monday at 9 (its rota, its follow-up times): so is the shell's.
    monday = f"/duty clock {next_working_monday().isoformat()} 09:00\n"
    out = shell(write_config(tmp_path), monday + "".join(f"{c}\n" for c in commands))
    assert "Traceback" not in out
    replies = [line for line in out.splitlines() if not line.startswith("|")]  # not card text
    for bad in (*NOT_UNDERSTOOD, "Only a duty manager", "Only a manager"):
        for line in replies:
            assert bad not in line, f"a duty-day command got '{line}':\n{out}"
    # Each reply the README shows is one the shell really gives (dates, times and the
    # shortened card preview aside).
    shown = [
        line
        for block in FENCE.findall(section(readme(), DUTY_DAY))
        for line in block.splitlines()
        if line.strip()
        and not line.startswith(("/duty ", "/as "))
        and not DATED.search(line)
        and "[...]" not in line
    ]
    assert len(shown) > 10
    lines = {line.rstrip() for line in out.splitlines()}
    for line in shown:
        assert line in lines, f"the README shows '{line}'; the shell does not say it"


# --- links ------------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def anchors(page: Path) -> set[str]:
    """The #anchors GitHub makes for a page's headings."""
    text = FENCE.sub("", page.read_text())
    slugs = set()
    for title in HEADING.findall(text):
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        slugs.add(slug)
    return slugs


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_every_relative_link_in_the_readme_and_docs_points_at_a_file() -> None:
    pages = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted(ROOT.glob("docs/*.md"))]
    assert len(pages) > 2, "docs/ has no pages"
    checked = 0
    for page in pages:
        for target in relative_links(page):
            path, _, anchor = target.partition("#")
            where = (page.parent / unquote(path)) if path else page
            name = f"{page.relative_to(ROOT)} links to {target}"
            assert where.exists(), f"{name}: no such file"
            if anchor and where.suffix == ".md":
                assert anchor in anchors(where), f"{name}: no such heading"
            checked += 1
    assert checked
