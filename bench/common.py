"""Shared bits for the benchmarks: which machine the figures came from, and how to print them.

Each bench script puts the repo root on ``sys.path`` first (``bench/`` is not installed),
then imports from here.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.kernel.config import Config

ROOT = Path(__file__).resolve().parent.parent
# The prefix of the environment variables the in-process benchmarks' configs name for their
# secrets (the Slack bot token and signing secret, an EWS password): one of its own per run.
BENCH_ENV = f"DUTYBOT_BENCH_{uuid.uuid4().hex[:8].upper()}"


def proc_field(path: str, key: str) -> str | None:
    """The value of the first ``key: value`` line in a /proc file, if there is one."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def cpu_model() -> str:
    return proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"


def ram_gb() -> float | None:
    total = proc_field("/proc/meminfo", "MemTotal")  # "16318712 kB"
    return int(total.split()[0]) / 1024 / 1024 if total else None


def machine_line() -> str:
    """One line naming the machine, for the README's benchmarks section."""
    ram = ram_gb()
    ram_text = f"{ram:.1f} GB RAM" if ram is not None else "RAM unknown"
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {ram_text}, "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def proc_mb(pid: int | str, key: str) -> float | None:
    """A ``kB`` figure from /proc/PID/status (e.g. VmRSS, VmHWM) in MB; None if not there."""
    value = proc_field(f"/proc/{pid}/status", key)  # "123456 kB"
    return int(value.split()[0]) / 1024 if value else None


def bench_config(api_url: str, db: str | Path, mailbox: dict[str, Any]) -> Config:
    """The config of an in-process benchmark bot: Slack in HTTP mode at ``api_url`` (a fake),
    one team ("care-experienced" in C0DUTY) reading ``mailbox`` (a [teams.mailbox] table),
    and the database ``db`` (a URL, or a Path to a SQLite file). Its Slack secrets are read
    from ``BENCH_ENV``-prefixed variables, set here unless already set."""
    from bot.kernel.config import parse_config

    os.environ.setdefault(f"{BENCH_ENV}_BOT", "xoxb-bench")
    os.environ.setdefault(f"{BENCH_ENV}_SIGNING", "bench-signing-secret")
    return parse_config(
        {
            "chat": "slack",
            "database": {"url": f"sqlite:///{db}" if isinstance(db, Path) else db},
            "slack": {
                "mode": "http",
                "api_url": api_url,
                "bot_token_env": f"{BENCH_ENV}_BOT",
                "signing_secret_env": f"{BENCH_ENV}_SIGNING",
            },
            "teams": [
                {
                    "name": "care-experienced",
                    "channel": "C0DUTY",
                    "members": ["USAM00001"],
                    "managers": ["UJO000001"],
                    "mailbox": mailbox,
                }
            ],
        }
    )


def slack_http_config(db_url: str, api_url: str, port: int) -> str:
    """The top of a `dutybot run` config for a benchmark: Slack in HTTP mode against the fake
    Slack, quiet logs; the caller adds its [[teams]]."""
    return f"""chat = "slack"

[database]
url = "{db_url}"

[slack]
mode = "http"
api_url = "{api_url}"
host = "127.0.0.1"
port = {port}
bot_token_env = "BENCH_SLACK_BOT_TOKEN"
signing_secret_env = "BENCH_SLACK_SIGNING_SECRET"

[log]
level = "WARNING"
"""


def drop_emails(inbox: Path, raws: Iterable[bytes]) -> int:
    """Put emails into a folder mailbox a running bot may be polling: each is written aside
    (``.N.part``, which the folder mailbox skips) and then renamed to ``NNNNN.eml``, so the bot
    never reads half an email. Returns how many were dropped."""
    count = 0
    for i, raw in enumerate(raws):
        part = inbox / f".{i}.part"
        part.write_bytes(raw)
        part.rename(inbox / f"{i:05d}.eml")  # atomic on one filesystem
        count += 1
    return count


def timed(work: Callable[[], object], runs: int, *, warm: bool = True) -> list[float]:
    """Seconds each of ``runs`` calls of ``work`` took; with ``warm``, after one untimed call
    (imports, statement cache, the database's page cache)."""
    if warm:
        work()
    out: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        out.append(time.perf_counter() - t0)
    return out


def header(title: str) -> None:
    print(f"== {title}")
    print(f"machine: {machine_line()}")


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of ``samples`` (statistics.quantiles, inclusive method)."""
    if len(samples) < 2:
        only = samples[0] if samples else float("nan")
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def print_latencies(label: str, seconds: Sequence[float]) -> dict[str, float]:
    """Print p50/p95/p99 and max of ``seconds`` in milliseconds; returns the percentiles (ms)."""
    ms = [s * 1000 for s in seconds]
    p = percentiles(ms)
    print(
        f"{label}: n={len(ms)} p50={p['p50']:.1f} ms p95={p['p95']:.1f} ms "
        f"p99={p['p99']:.1f} ms max={max(ms):.1f} ms"
    )
    return p


def verdict(goal: str, met: bool, figure: str) -> bool:
    """Print the goal and whether the figure meets it; returns ``met``."""
    print(f"goal: {goal}; figure: {figure}; {'MET' if met else 'NOT MET'}")
    return met


def exit_code(met: bool) -> int:
    """0 when the goal is met, 1 when not, so a script can gate on it."""
    sys.stdout.flush()
    return 0 if met else 1
