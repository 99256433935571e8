"""Many teams: 50 duty teams in one database, served by one `dutybot run` and then by two.

Each team has its own mailbox and channel: a folder inbox (polled every second), or an
Exchange inbox on its own fake EWS server (tests/fakes/ews_server.py, real exchangelib over
HTTP) watched by a streaming subscription. The database is PostgreSQL (the processes share it
through the per-team leases), filled first with --history resolved tasks per team
(bench/history.py). Slack is the local fake (tests/fakes/slack_api.py), paced as in
production (one card a second per channel).

For each mailbox kind and each number of processes it:
1. starts the processes (real `dutybot run` children) and waits until every team's lease is
   held, spread across them;
2. drops --emails emails across the teams at a steady --rate, and times each from landing in
   its inbox to its card reaching the fake Slack (email -> card p50/p95);
3. sends --claims signed `/duty claim N` requests over HTTP from a process of their own,
   --claim-rate a second (as fast as the mail comes, so each task is claimed once; 0 sends
   them back to back, a stress far past any council's), spread over the processes, while
   mail keeps arriving (claim p50/p95/p99); then --quiet-claims more with no mail arriving,
   and the processes' CPU per claim (its card update included, their idle CPU taken off), to
   tell the bot's own cost from the mail's, the cards' and the fakes' share of the same CPUs;
4. once everything is delivered, measures the CPU the processes use over --idle-seconds
   while nothing happens, their resident memory (VmRSS now, VmHWM peak), and their database
   connections (pg_stat_activity, by application_name);
5. checks every email became exactly one task with exactly one card.

Slack and Exchange run elsewhere in a real deployment, not on the bot's CPUs. Here their fakes
and the mail feed share this machine's CPUs with the bots, so their threads run at
--fakes-nice (10 by default; 0 to share the CPUs equally): they get the CPUs the bots,
PostgreSQL and the claim client leave.

Goals: email -> card p95 <= 2 s, claim p99 <= 100 ms, memory <= 300 MB for one process,
idle CPU <= 2% of one core.

    .venv/bin/python bench/teams_scale.py [--teams 50] [--history 10000] [--emails 250]
        [--rate 5] [--claims 200] [--quiet-claims 100] [--mode both|folder|ews]
        [--processes 1,2] [--claim-rate 5] [--fakes-nice 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from bench.common import (  # noqa: E402
    ROOT,
    exit_code,
    header,
    print_latencies,
    proc_mb,
    slack_http_config,
    verdict,
)
from bench.history import DutyDay, fill, open_db  # noqa: E402
from bot.ops.lease import fair_share  # noqa: E402
from storage import leases as leases_db  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Email, Task  # noqa: E402
from tests.bot_process import database_url, free_port, until  # noqa: E402
from tests.fakes.ews_server import FakeEws  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.slack_signing import signed_headers, slash_command_body  # noqa: E402
from tests.mail import make_email  # noqa: E402

GOAL_CARD_P95_MS = 2000.0
GOAL_CLAIM_P99_MS = 100.0
GOAL_MB = 300.0
GOAL_IDLE_CPU = 2.0  # % of one core
SAM, JO = "USAM00001", "UJO000001"
SECRET = "bench-signing-secret"
EWS_PASSWORD = "correct horse"  # the fakes' default
TICKS = os.sysconf("SC_CLK_TCK")
_FILE_NUMBERS = itertools.count(1)
T = TypeVar("T")


def team_name(i: int) -> str:
    return f"team-{i:02d}"


def channel(i: int) -> str:
    return f"C0TEAM{i:03d}"


# ---- the mailboxes -----------------------------------------------------------------------


class Mailboxes:
    """Each team's inbox: a folder, or a fake EWS server of its own."""

    def __init__(self, kind: str, teams: int, home: Path, stack: ExitStack) -> None:
        self.kind = kind
        self.folders = [home / f"inbox-{i:02d}" for i in range(teams)]
        self.ews: list[FakeEws] = []
        if kind == "folder":
            for path in self.folders:
                path.mkdir(parents=True)
        else:
            for i in range(teams):
                self.ews.append(stack.enter_context(FakeEws(f"duty{i:02d}@council.example")))

    def table(self, i: int) -> str:
        if self.kind == "folder":
            return f'kind = "folder"\npath = "{self.folders[i].as_posix()}"\npoll_seconds = 1\n'
        ews = self.ews[i]
        return (
            f'kind = "ews"\naddress = "{ews.address}"\nendpoint = "{ews.endpoint}"\n'
            f'auth = "basic"\nusername = "{ews.username}"\npassword_env = "BENCH_EWS_PASSWORD"\n'
            "streaming = true\npoll_seconds = 30\n"
        )

    def deliver(self, i: int, mime: bytes) -> float:
        """Put an email in team ``i``'s inbox; the time it landed."""
        if self.kind == "ews":
            self.ews[i].deliver(mime)
            return time.time()
        n = next(_FILE_NUMBERS)  # a name never used before, as in a real inbox
        part = self.folders[i] / f".{n}.part"
        part.write_bytes(mime)
        part.rename(self.folders[i] / f"{n:06d}.eml")  # atomic: never read half-written
        return time.time()

    def streams(self) -> int:
        return sum(e.open_streams() for e in self.ews)


# ---- the processes -------------------------------------------------------------------------


def config_text(db_url: str, api_url: str, port: int, boxes: Mailboxes, teams: int) -> str:
    head = slack_http_config(db_url, api_url, port)
    tables = [
        f"""
[[teams]]
name = "{team_name(i)}"
channel = "{channel(i)}"
members = ["{SAM}", "UALEX0001"]
managers = ["{JO}"]

[teams.mailbox]
{boxes.table(i)}"""
        for i in range(teams)
    ]
    return head + "".join(tables)


@dataclass
class Bot:
    label: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU the process has used (/proc/PID/stat, fields 14 and 15)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def memory(self) -> tuple[float, float]:
        rss, peak = proc_mb(self.proc.pid, "VmRSS"), proc_mb(self.proc.pid, "VmHWM")
        return rss or float("nan"), peak or float("nan")


@contextmanager
def processes(
    n: int, db: Database, fake: FakeSlack, boxes: Mailboxes, teams: int, home: Path
) -> Iterator[list[Bot]]:
    env = {
        **os.environ,
        "BENCH_SLACK_BOT_TOKEN": "xoxb-bench",
        "BENCH_SLACK_SIGNING_SECRET": SECRET,
        "BENCH_EWS_PASSWORD": EWS_PASSWORD,
    }
    bots: list[Bot] = []
    try:
        for k in range(n):
            label = f"bench-{boxes.kind}-{n}-{k}"
            port = free_port()
            url = database_url(db)
            url += f"{'&' if '?' in url else '?'}application_name={label}"
            cfg = home / f"{label}.toml"
            cfg.write_text(config_text(url, fake.url, port, boxes, teams), encoding="utf-8")
            log = home / f"{label}.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [str(ROOT / ".venv/bin/dutybot"), "run", "--config", str(cfg)],
                    env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            bots.append(Bot(label, port, proc, log))
        yield bots
    finally:
        for bot in bots:
            if bot.proc.poll() is None:
                bot.proc.send_signal(signal.SIGTERM)
        for bot in bots:
            try:
                bot.proc.wait(60)
            except subprocess.TimeoutExpired:
                bot.proc.kill()
                bot.proc.wait(10)


def wait_for(what: str, check: Callable[[], bool], timeout: float, bots: list[Bot]) -> float:
    """Seconds until ``check`` holds; gives up at once if a bot exits."""
    t0 = time.monotonic()

    def probe() -> bool:
        for bot in bots:
            if bot.proc.poll() is not None:
                tail = bot.log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{bot.label} exited ({bot.proc.returncode}):\n{tail}")
        return check()

    try:
        until(probe, timeout, what)
    except AssertionError as exc:
        for bot in bots:
            print(f"--- {bot.label} log:\n{bot.log.read_text(errors='replace')[-3000:]}")
        raise SystemExit(f"timed out: {exc}") from None
    return time.monotonic() - t0


def healthy(bot: Bot) -> bool:
    try:
        return requests.get(f"{bot.base}/healthz", timeout=2).status_code in (200, 503)
    except (requests.ConnectionError, requests.Timeout):
        return False


def lease_spread(db: Database, bots: list[Bot], teams: int) -> bool:
    """Every team held, by the bots, none holding more than its fair share."""
    now = datetime.now(UTC)
    with db.session() as s:
        rows = leases_db.leases_named(s, "team:")
    held = Counter(int(h.split(":")[1]) for _, h, exp in rows if exp > now)
    pids = {b.proc.pid for b in bots}
    share = fair_share(teams, len(bots))
    return sum(held.values()) == teams and set(held) <= pids and max(held.values()) <= share


# ---- one round: a mailbox kind and a number of processes ----------------------------------


@dataclass
class Round:
    kind: str
    processes: int
    card_ms: dict[str, float] = field(default_factory=dict)
    claim_ms: dict[str, float] = field(default_factory=dict)
    quiet_claim_ms: dict[str, float] = field(default_factory=dict)
    claim_cpu_ms: float = 0.0
    rss: list[tuple[float, float]] = field(default_factory=list)
    idle_cpu: list[float] = field(default_factory=list)
    connections: dict[str, int] = field(default_factory=dict)
    startup_s: float = 0.0
    problems: list[str] = field(default_factory=list)


class Feed:
    """Emails across the teams at a steady rate, from a thread; when each landed."""

    def __init__(self, boxes: Mailboxes, teams: int, tag: str) -> None:
        self.boxes, self.teams, self.tag = boxes, teams, tag
        self.landed: dict[str, float] = {}  # Message-ID -> when it landed
        self.team_of: dict[str, str] = {}
        self._n = 0

    def run(self, count: int, rate: float, stop: threading.Event | None = None) -> None:
        for _ in paced(range(count), rate):
            if stop is not None and stop.is_set():
                return
            self._n += 1
            i = (self._n * 7) % self.teams  # round the teams, not in order
            mid = f"{self.tag}-{self._n}@bench.example"
            mime = make_email(
                f"Referral {self._n}", "Please call back about the flat.", message_id=f"<{mid}>"
            )
            self.landed[mid] = self.boxes.deliver(i, mime)
            self.team_of[mid] = team_name(i)

    def thread(
        self, count: int, rate: float, stop: threading.Event, nice: int = 0
    ) -> threading.Thread:
        def run() -> None:
            lower(threading.get_native_id(), nice)  # it stands in for the mail's senders
            self.run(count, rate, stop)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


def paced(items: Iterable[T], rate: float) -> Iterator[T]:
    """Each item in its turn, ``rate`` a second from the first (0: each at once)."""
    start = time.monotonic()
    for k, item in enumerate(items):
        if rate and (wait := start + k / rate - time.monotonic()) > 0:
            time.sleep(wait)
        yield item


def lower(tid: int, nice: int) -> None:
    """Lower one thread's priority (Linux keeps a nice value per thread)."""
    if nice:
        with suppress(ProcessLookupError):  # it has just ended
            os.setpriority(os.PRIO_PROCESS, tid, nice)


def lower_the_fakes(nice: int) -> None:
    """Slack and Exchange run elsewhere, not on the bot's CPUs: their fakes' threads (every
    thread of this process but this one, and the threads they start) get the CPUs only when
    the bots, PostgreSQL and the claim client don't want them. 0 leaves them as they are."""
    me = threading.get_native_id()
    for task in Path("/proc/self/task").iterdir():
        if int(task.name) != me:
            lower(int(task.name), nice)


def card_times(fake: FakeSlack) -> dict[int, list[float]]:
    """task id -> when each card of it reached the fake Slack."""
    out: dict[int, list[float]] = {}
    for call in fake.calls_to("chat.postMessage"):
        if call.fault is not None:
            continue
        payload = (call.json("metadata") or {}).get("event_payload") or {}
        if "task_id" in payload and not call.params.get("thread_ts"):
            out.setdefault(int(payload["task_id"]), []).append(call.at)
    return out


def tasks_of(db: Database, mids: list[str]) -> dict[str, tuple[int, str, int, str]]:
    """Message-ID -> (task id, team, number, card state), for the emails taken in."""
    with db.session() as s:
        rows = s.execute(
            select(Email.message_id, Task.id, Task.team, Task.number, Task.card_state)
            .join(Task, Task.id == Email.task_id)
            .where(Email.message_id.in_(mids))
        ).all()
    return {m: (tid, team, number, state) for m, tid, team, number, state in rows}


def all_carded(db: Database, feed: Feed) -> bool:
    found = tasks_of(db, list(feed.landed))
    return len(found) == len(feed.landed) and all(v[3] == "posted" for v in found.values())


def exactly_once(db: Database, fake: FakeSlack, feed: Feed) -> list[str]:
    problems: list[str] = []
    with db.session() as s:
        stored = Counter(
            s.scalars(select(Email.message_id).where(Email.message_id.in_(list(feed.landed))))
        )
    doubled = [m for m, n in stored.items() if n > 1]
    missing = set(feed.landed) - set(stored)
    if doubled or missing:
        problems.append(f"{len(missing)} email(s) not taken in, {len(doubled)} taken in twice")
    cards = card_times(fake)
    for mid, (tid, team, _, _) in tasks_of(db, list(feed.landed)).items():
        if team != feed.team_of[mid]:
            problems.append(f"{mid} went to {team}, not {feed.team_of[mid]}")
        if len(cards.get(tid, [])) != 1:
            problems.append(f"task {tid} has {len(cards.get(tid, []))} cards")
    return problems


CLAIM_CLIENT = "--claim-client"


def claims(jobs: list[tuple[Bot, int, int]], fake: FakeSlack, rate: float) -> list[float]:
    """Time ``/duty claim`` requests (bot, team index, task number) from a process of their
    own, as Slack would send them: not behind the fakes' threads in this one. They start
    ``rate`` a second (0: each as soon as the one before is answered)."""
    todo = [
        {
            "url": f"{bot.base}/slack/events",
            "number": number,
            "body": slash_command_body(
                "/duty",
                f"claim {number}",
                user_id=SAM,
                channel_id=channel(team_index),
                team_id=fake.team_id,
                response_url=fake.response_url(),
            ),
        }
        for bot, team_index, number in jobs
    ]
    done = subprocess.run(
        [sys.executable, __file__, CLAIM_CLIENT, str(rate)], input=json.dumps(todo),
        capture_output=True, text=True, timeout=60 + 30 * len(todo),
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the claim client failed: {done.stderr.strip()[-800:]}")
    return [float(t) for t in json.loads(done.stdout)]


def claim_client(rate: float) -> int:
    """The claim client's own process: the claims from stdin, their times to stdout."""
    took: list[float] = []
    for job in paced(json.loads(sys.stdin.read()), rate):
        body = job["body"].encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **signed_headers(SECRET, body),
        }
        t0 = time.perf_counter()
        r = requests.post(job["url"], data=body, headers=headers, timeout=30)
        took.append(time.perf_counter() - t0)
        said = r.json().get("text", "") if r.ok else r.text
        if f"claimed #{job['number']}" not in said:
            raise SystemExit(f"/duty claim {job['number']} answered {r.status_code}: {said}")
    print(json.dumps(took))
    return 0


def spread(tasks: list[tuple[int, str, int, str]], bots: list[Bot]) -> list[tuple[Bot, int, int]]:
    """Each task's claim, sent to the processes in turn."""
    return [
        (bots[k % len(bots)], int(team.split("-")[1]), number)
        for k, (_, team, number, _) in enumerate(tasks)
    ]


def connections(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "select application_name, count(*) from pg_stat_activity "
                "where application_name like 'bench-%' group by application_name"
            )
        ).all()
    return {str(name): int(n) for name, n in rows}


def run_round(kind: str, n: int, args: argparse.Namespace, db: Database, home: Path) -> Round:
    out = Round(kind, n)
    tag = f"{kind}{n}"
    with ExitStack() as stack:
        fake = stack.enter_context(FakeSlack())
        boxes = Mailboxes(kind, args.teams, home / tag, stack)
        lower_the_fakes(args.fakes_nice)
        bots = stack.enter_context(processes(n, db, fake, boxes, args.teams, home))
        t0 = time.monotonic()
        wait_for("/healthz", lambda: all(healthy(b) for b in bots), 120, bots)
        wait_for("the teams' leases", lambda: lease_spread(db, bots, args.teams), 120, bots)
        if kind == "ews":  # the holders' streams (a standby's watchers stream too)
            wait_for("the streams", lambda: boxes.streams() >= args.teams, 120, bots)
        out.startup_s = time.monotonic() - t0
        time.sleep(3)  # the first syncs settle

        # 2. email -> card
        feed = Feed(boxes, args.teams, tag)
        feed.run(args.emails, args.rate)
        try:
            wait_for("every card", lambda: all_carded(db, feed), 300, bots)
        except SystemExit:
            found = tasks_of(db, list(feed.landed))
            print("not taken in:", [m for m in feed.landed if m not in found][:20])
            print("not posted:", [v for v in found.values() if v[3] != "posted"][:20])
            raise
        cards = card_times(fake)
        lat = [
            cards[tid][0] - feed.landed[mid]
            for mid, (tid, *_rest) in tasks_of(db, list(feed.landed)).items()
            if tid in cards
        ]
        out.card_ms = print_latencies(f"{kind}, {n} process(es): email -> card", lat)

        # 3. claims over HTTP while mail keeps coming
        taken = sorted(tasks_of(db, list(feed.landed)).values(), key=lambda v: v[0])
        stop = threading.Event()
        more = feed.thread(args.claims * 10, args.rate, stop, args.fakes_nice)
        timings = claims(spread(taken[: args.claims], bots), fake, args.claim_rate)
        stop.set()
        more.join()
        out.claim_ms = print_latencies(f"{kind}, {n} process(es): /duty claim", timings[5:])

        # 3b. claims again with no mail arriving: the bots' own cost, without the mail, the
        # cards and the fakes' share of the CPUs (each claim's card update is in its CPU)
        done = {v[0] for v in taken[: args.claims]}
        rest = [v for v in sorted(tasks_of(db, list(feed.landed)).values()) if v[0] not in done]
        if len(rest) < args.quiet_claims:
            feed.run(args.quiet_claims - len(rest), args.rate)
        wait_for("every card", lambda: all_carded(db, feed), 300, bots)
        rest = [v for v in sorted(tasks_of(db, list(feed.landed)).values()) if v[0] not in done]
        time.sleep(args.settle)
        cpu, t_cpu = sum(b.cpu_seconds() for b in bots), time.monotonic()
        quiet = claims(spread(rest[: args.quiet_claims], bots), fake, args.claim_rate)
        time.sleep(3)  # the last claims' card updates
        cpu, t_cpu = sum(b.cpu_seconds() for b in bots) - cpu, time.monotonic() - t_cpu
        label = f"{kind}, {n} process(es): /duty claim, no mail arriving"
        out.quiet_claim_ms = print_latencies(label, quiet[5:])

        # 4. idle: everything delivered, then nothing happens
        wait_for("every card", lambda: all_carded(db, feed), 300, bots)
        time.sleep(args.settle)
        before = [b.cpu_seconds() for b in bots]
        time.sleep(args.idle_seconds)
        after = [b.cpu_seconds() for b in bots]
        used = zip(after, before, strict=True)
        out.idle_cpu = [100 * (a - b) / args.idle_seconds for a, b in used]
        # the claims' own CPU: what the bots would have used idle over that time taken off
        cpu -= sum(out.idle_cpu) / 100 * t_cpu
        out.claim_cpu_ms = 1000 * cpu / len(quiet)
        print(f"  the bots' CPU per claim, no mail arriving: {out.claim_cpu_ms:.1f} ms")
        out.rss = [b.memory() for b in bots]
        out.connections = connections(db)
        out.problems = exactly_once(db, fake, feed)
        for bot, cpu, (rss, peak) in zip(bots, out.idle_cpu, out.rss, strict=True):
            conns = out.connections.get(bot.label, 0)
            print(
                f"  {bot.label}: idle CPU {cpu:.1f}% of a core, RSS {rss:.0f} MB "
                f"(peak {peak:.0f} MB), {conns} database connection(s)"
            )
        print(
            f"  started and took every team's lease in {out.startup_s:.1f} s; "
            f"{len(feed.landed)} emails, every one exactly one task and one card: "
            f"{'yes' if not out.problems else 'NO: ' + '; '.join(out.problems[:5])}"
        )
    return out


def claim_pace(rate: float) -> str:
    return f"{rate:g}/s" if rate else "back to back"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teams", type=int, default=50)
    ap.add_argument("--history", type=int, default=10_000, help="tasks of history per team")
    ap.add_argument("--emails", type=int, default=250, help="emails timed per round")
    ap.add_argument("--rate", type=float, default=5.0, help="emails a second, all teams")
    ap.add_argument("--claims", type=int, default=200)
    ap.add_argument("--quiet-claims", type=int, default=100, help="claims with no mail arriving")
    ap.add_argument("--mode", choices=("both", "folder", "ews"), default="both")
    ap.add_argument("--processes", default="1,2", help="process counts to run, e.g. 1,2")
    ap.add_argument("--idle-seconds", type=float, default=120.0, help="two scheduler ticks")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds before idle is taken")
    ap.add_argument(
        "--claim-rate", type=float, default=5.0,
        help="claims a second, all teams (as fast as the mail comes: each task claimed once); "
        "0 sends each as soon as the one before is answered",
    )  # fmt: skip
    ap.add_argument(
        "--fakes-nice", type=int, default=10,
        help="the fake Slack, fake EWS servers and mail feed run at this nice value, as if "
        "elsewhere (0: they share the CPUs equally with the bots)",
    )  # fmt: skip
    args = ap.parse_args()
    args.claims = min(args.claims, args.emails)

    header(
        f"{args.teams} teams, {args.history:,} tasks of history each (PostgreSQL), "
        f"{args.rate:g} emails/s across them, claims {claim_pace(args.claim_rate)}; the fakes "
        f"at nice {args.fakes_nice}"
    )
    kinds = ["folder", "ews"] if args.mode == "both" else [args.mode]
    counts = [int(c) for c in args.processes.split(",")]
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp:
        db, drop = open_db(True, Path(tmp) / "unused.db")
        try:
            t0 = time.perf_counter()
            now = datetime.now(UTC)
            quiet = DutyDay(0, 0, 0, 0, 0, 0)  # history only: nothing open to nudge about
            for i in range(args.teams):
                fill(db, team_name(i), args.history, now, day=quiet, quiet=True, seed=i)
            total = args.teams * args.history
            print(f"filled {total:,} tasks of history in {time.perf_counter() - t0:.0f} s")
            for kind in kinds:
                for n in counts:
                    rounds.append(run_round(kind, n, args, db, Path(tmp)))
        finally:
            drop()

    met = True
    for r in rounds:
        what = f"{r.kind}, {r.processes} process(es)"
        met &= verdict(
            f"{what}: email -> card p95 <= 2 s",
            r.card_ms["p95"] <= GOAL_CARD_P95_MS,
            f"p50 {r.card_ms['p50']:.0f} ms, p95 {r.card_ms['p95']:.0f} ms",
        )
        met &= verdict(
            f"{what}: claim p99 <= 100 ms",
            r.claim_ms["p99"] <= GOAL_CLAIM_P99_MS,
            f"p99 {r.claim_ms['p99']:.0f} ms",
        )
        q = r.quiet_claim_ms
        print(
            f"{what}: claim with no mail arriving (no goal of its own) p50 {q['p50']:.0f} ms, "
            f"p99 {q['p99']:.0f} ms; the bots' CPU per claim {r.claim_cpu_ms:.1f} ms"
        )
        peaks = ", ".join(f"{peak:.0f}" for _, peak in r.rss)
        if r.processes == 1:
            met &= verdict(f"{what}: memory <= 300 MB", r.rss[0][1] <= GOAL_MB, f"{peaks} MB peak")
        idle = ", ".join(f"{c:.1f}%" for c in r.idle_cpu)
        met &= verdict(
            f"{what}: idle CPU <= 2% of a core (each)",
            max(r.idle_cpu) <= GOAL_IDLE_CPU,
            idle,
        )
        print(f"{what}: database connections {sum(r.connections.values())}")
        met &= verdict(f"{what}: every email one task, one card", not r.problems, "checked")
    return exit_code(met)


if __name__ == "__main__":
    if sys.argv[1:2] == [CLAIM_CLIENT]:
        sys.exit(claim_client(float(sys.argv[2])))
    sys.exit(main())
