"""Shared bits for the benchmarks: which machine the figures came from, and how to print them.

Each bench script puts the repo root on ``sys.path`` first (``bench/`` is not installed),
then imports from here.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first(path: str, key: str) -> str | None:
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
    return _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"


def ram_gb() -> float | None:
    total = _first("/proc/meminfo", "MemTotal")  # "16318712 kB"
    return int(total.split()[0]) / 1024 / 1024 if total else None


def machine_line() -> str:
    """One line naming the machine, for the README's benchmarks section."""
    ram = ram_gb()
    ram_text = f"{ram:.1f} GB RAM" if ram is not None else "RAM unknown"
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {ram_text}, "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), else its peak (ru_maxrss), in MB."""
    now = _first("/proc/self/status", "VmRSS")  # "123456 kB"
    if now:
        return int(now.split()[0]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


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
