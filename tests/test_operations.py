"""Running it for real: /healthz and /metrics over HTTP, `dutybot status`, JSON log lines, and
the deployment files.

The in-process tests serve the bot in HTTP mode through tests/slack_harness.py (waitress, real
slack-bolt, the fake Slack Web API), whose server carries the same Monitor `dutybot run`
wires in. The last test runs `dutybot run` itself as a child process.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from bot.kernel.clock import ManualClock, SystemClock
from bot.ops.lease import Lease
from bot.ops.monitor import Monitor
from bot.ops.status import CachedProbe, Check, how_long, local
from handlers.cli import main
from handlers.status_http import serve_in_background, status_server
from storage import tasks as q
from storage.db import Database
from tests.bot_process import BotProcess, database_url, free_port, until
from tests.conftest import ROOT
from tests.fakes.slack_api import FakeSlack
from tests.mail import make_email
from tests.slack_harness import JO, SAM, SlackHarness

TEAM = "care-experienced"
# Only the emails hold these words; no log line may.
CONTENT = ("Periwinkle", "Gooseberry", "Thistledown")


def healthz(base: str) -> tuple[int, dict[str, Any]]:
    got = requests.get(f"{base}/healthz", timeout=10)
    assert got.headers["Content-Type"] == "application/json"
    return got.status_code, got.json()


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample /metrics serves, keyed by (name, sorted labels)."""
    got = requests.get(f"{base}/metrics", timeout=10)
    assert got.status_code == 200
    assert got.headers["Content-Type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(got.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def folder_team(inbox: Path) -> dict[str, Any]:
    return {"mailbox": {"kind": "folder", "path": str(inbox)}}


def drop_mail(inbox: Path, n: int, subject: str) -> None:
    (inbox / f"{n:03d}.eml").write_bytes(make_email(subject, message_id=f"<ops-{n}@example.org>"))


# ---- /healthz ----------------------------------------------------------------------------


def test_healthz_tells_the_mailbox_sync_cards_waiting_the_leader_and_slack(
    db: Database, inbox: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 9, 35, tzinfo=UTC))  # the emails: 09:30
    with SlackHarness(db, team=folder_team(inbox), with_mailboxes=True, clock=clock) as h:
        until(lambda: healthz(h.base)[1]["slack"]["ok"], what="the first Slack check")
        code, before = healthz(h.base)
        assert code == 200
        assert before["status"] == "degraded"  # nothing holds the lease: nobody runs the clocks
        assert before["database"] == {"ok": True, "detail": "reachable"}
        assert before["slack"] == {"ok": True, "detail": "auth.test answered ok"}
        assert before["scheduler"]["leader"] is None
        assert any("Nobody is running the clocks" in p for p in before["problems"])
        (team,) = before["teams"]
        assert team["mailbox"] == {
            "kind": "folder", "last_sync": None, "age_seconds": None, "last_error": None
        }  # fmt: skip

        drop_mail(inbox, 1, "Rent arrears")
        drop_mail(inbox, 2, "Housing form")
        h.check_mail()  # the watcher takes both in and records the sync
        lease = Lease(db, SystemClock(), timedelta(minutes=3), holder="host-a:4242:ab12")
        assert lease.hold()
        clock.advance(timedelta(seconds=90))

        code, now = healthz(h.base)
        assert code == 200 and now["status"] == "ok" and now["problems"] == []
        assert now["scheduler"]["leader"] == "host-a:4242:ab12"
        (team,) = now["teams"]
        assert team["mailbox"]["last_sync"] == "2026-11-23T09:35:00Z"
        assert team["mailbox"]["age_seconds"] == 90.0
        assert team["pending_cards"] == 2  # taken in, not posted yet
        assert team["oldest_pending_seconds"] == 5 * 60 + 90.0
        assert team["tasks"] == {"open": 2, "claimed": 0, "resolved": 0}

        h.drain()
        shutil.rmtree(inbox)  # the mailbox breaks
        h.check_mail()
        clock.advance(timedelta(minutes=20))
        code, later = healthz(h.base)
        assert code == 200 and later["status"] == "degraded"
        (team,) = later["teams"]
        assert team["pending_cards"] == 0
        assert "doesn't exist" in team["mailbox"]["last_error"]
        assert team["mailbox"]["age_seconds"] == 20 * 60.0
        assert later["problems"] == [
            f"{TEAM}: the last mailbox check failed ({team['mailbox']['last_error']}). "
            "Run: dutybot check --mailbox --config FILE"
        ]
        lease.release()


def test_healthz_is_503_while_the_sqlite_file_is_gone_and_200_when_it_is_back(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'dutybot.db'}")
    db.upgrade()
    try:
        with SlackHarness(db) as h:
            h.email("Rent arrears")
            assert healthz(h.base)[0] == 200
            moved = tmp_path / "elsewhere"
            data.rename(moved)  # e.g. a volume unmounted under the running bot
            code, down = healthz(h.base)
            assert code == 503
            assert down["status"] == "down"
            assert down["database"]["ok"] is False
            assert "dutybot.db is missing" in down["database"]["detail"]
            assert down["problems"][0].startswith("The database can't be reached")
            metrics = scrape(h.base)  # the scrape still answers, and says so
            assert sample(metrics, "dutybot_database_up") == 0.0
            assert ("dutybot_tasks", (("state", "open"), ("team", TEAM))) not in metrics
            moved.rename(data)
            code, back = healthz(h.base)
            assert code == 200 and back["database"]["ok"] is True
            assert back["teams"][0]["tasks"]["open"] == 1
    finally:
        db.dispose()


@pytest.fixture
def closed_port_db() -> Iterator[Database]:
    """A PostgreSQL address where nothing listens."""
    database = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    yield database
    database.dispose()


def test_the_socket_mode_status_server_answers_503_when_postgresql_is_unreachable(
    closed_port_db: Database,
) -> None:
    from tests.conftest import make_config

    config = make_config()
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    monitor = Monitor(config, closed_port_db, clock)
    server = status_server(monitor.healthz, monitor.metrics, "127.0.0.1", 0)
    stop = threading.Event()
    serve_in_background(server, stop)
    base = f"http://127.0.0.1:{server.effective_port}"
    try:
        code, down = healthz(base)
        assert code == 503 and down["status"] == "down"
        assert "refused" in down["database"]["detail"].lower()
        assert down["slack"] is None  # the shell config has no Slack to check
        assert sample(scrape(base), "dutybot_database_up") == 0.0
        assert requests.get(f"{base}/slack/events", timeout=5).status_code == 404
    finally:
        stop.set()


def test_a_busy_status_port_stops_socket_mode_with_one_plain_sentence(tmp_path: Path) -> None:
    with FakeSlack() as fake, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, fake, status=f"[status]\nport = {port}\n")
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-ops", "SLACK_APP_TOKEN": "xapp-ops"}
        done = subprocess.run(
            [sys.executable, "-m", "handlers.cli", "run", "--config", str(config)],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
        )  # fmt: skip
    assert done.returncode == 1
    assert (
        f"Error: The status endpoint can't listen on 127.0.0.1:{port} (Address already in "
        "use). Set a free port in [status] port, or enabled = false."
    ) in done.stderr


# ---- /metrics ----------------------------------------------------------------------------


def test_metrics_count_tasks_by_state_posting_time_sync_age_and_nudges(
    db: Database, inbox: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    with SlackHarness(db, team=folder_team(inbox), with_mailboxes=True, clock=clock) as h:
        before = scrape(h.base)
        for n, subject in enumerate(("Rent arrears", "Housing form", "Call back"), start=1):
            drop_mail(inbox, n, subject)
        h.check_mail()
        taken = scrape(h.base)
        assert sample(taken, "dutybot_cards_pending", team=TEAM) == 3
        h.drain()  # three cards posted at 10:00 for emails that came at 09:30
        assert h.command("claim 1", user=SAM).status_code == 200
        assert h.command("claim 2", user=SAM).status_code == 200
        assert h.resolve(2, "recorded on Mosaic", user=SAM).status_code == 200
        clock.advance(timedelta(minutes=40))  # task 3 unclaimed for 40 office minutes
        assert h.bot.run_due(TEAM).nudges == 1
        h.drain()

        after = scrape(h.base)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("dutybot_tasks_received_total", team=TEAM) == 3
    for state, count in (("open", 1), ("claimed", 1), ("resolved", 1)):
        assert sample(after, "dutybot_tasks", team=TEAM, state=state) == count
    assert sample(after, "dutybot_cards_pending", team=TEAM) == 0
    assert grew("dutybot_card_post_latency_seconds_count", team=TEAM) == 3
    assert grew("dutybot_card_post_latency_seconds_sum", team=TEAM) == 3 * 30 * 60.0
    # 30 minutes is past the 600 s bucket and within the 1800 s one
    assert grew("dutybot_card_post_latency_seconds_bucket", team=TEAM, le="600.0") == 0
    assert grew("dutybot_card_post_latency_seconds_bucket", team=TEAM, le="1800.0") == 3
    assert sample(after, "dutybot_mailbox_sync_age_seconds", team=TEAM) == 40 * 60.0
    assert sample(after, "dutybot_mailbox_sync_error", team=TEAM) == 0
    assert sample(after, "dutybot_nudges_sent_total", team=TEAM, kind="unclaimed") == 1
    assert sample(after, "dutybot_database_up") == 1
    assert sample(after, "dutybot_slack_up") == 1
    assert sample(after, "dutybot_scheduler_leader") == 0  # the harness runs no scheduler
    assert sample(after, "process_resident_memory_bytes") > 0


# ---- dutybot status ----------------------------------------------------------------------


def email_dated(when: datetime, subject: str = "Rent arrears") -> bytes:
    from email.utils import format_datetime

    return make_email(subject).replace(
        b"Mon, 23 Nov 2026 09:30:00 +0000", format_datetime(when).encode()
    )


def write_config(
    tmp: Path, fake: FakeSlack, *, db_url: str | None = None, status: str = ""
) -> Path:
    url = db_url or f"sqlite:///{tmp / 'duty.db'}"
    path = tmp / "dutybot.toml"
    path.write_text(
        f"""
chat = "slack"
{status}
[database]
url = "{url}"
[slack]
mode = "socket"
api_url = "{fake.url}"
[[teams]]
name = "{TEAM}"
channel = "C0DUTY"
members = ["{SAM}"]
managers = ["{JO}"]
[teams.mailbox]
kind = "folder"
path = "{(tmp / "inbox").as_posix()}"
""",
        encoding="utf-8",
    )
    return path


def test_status_says_in_plain_words_that_all_is_well(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    synced = now - timedelta(minutes=5, seconds=10)
    with db.session() as s:
        q.ensure_team(s, TEAM)
        q.save_mailbox_checkpoint(s, TEAM, "cp-1", synced)
    lease = Lease(db, SystemClock(), timedelta(minutes=3), holder="host-a:4242:ab12")
    assert lease.hold()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-ops")
    with FakeSlack() as fake:
        config = write_config(tmp_path, fake, db_url=database_url(db))
        result = CliRunner().invoke(main, ["status", "--config", str(config)])
    lease.release()
    london = ZoneInfo("Europe/London")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Database: reachable."
    assert lines[1] == "Slack: reachable (auth.test answered ok)."
    assert lines[2].startswith("Scheduler: run by host-a:4242:ab12 since ")
    assert f"Team {TEAM}:" in lines
    assert (
        f"  Mailbox (folder): last checked {local(synced, london)}, 5 minutes ago; it worked."
        in lines
    )
    assert "  Cards: no cards waiting to be posted." in lines
    assert "  Tasks: 0 open, 0 claimed, 0 resolved." in lines
    assert lines[-1] == "All is well."


def test_status_lists_each_problem_and_exits_1(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.mail.intake import take_in
    from tests.mail import raw

    now = datetime.now(UTC)
    with db.session() as s:
        q.ensure_team(s, TEAM)
        q.save_mailbox_checkpoint(s, TEAM, None, now, error="Exchange refused the sign-in")
    # an email that came in 20 minutes ago, whose card was never posted
    came = now - timedelta(minutes=20)
    take_in(db, TEAM, raw("item-1", email_dated(came)), came)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-bot-token")  # Slack refuses it
    with FakeSlack() as fake:
        config = write_config(tmp_path, fake, db_url=database_url(db))
        result = CliRunner().invoke(main, ["status", "--config", str(config)])
        as_json = CliRunner().invoke(main, ["status", "--config", str(config), "--json"])
    assert result.exit_code == 1
    out = result.output
    assert "Slack: not working (Slack refused the bot token (invalid_auth))." in out
    assert "Scheduler: nobody has held the lease yet." in out
    assert "it failed: Exchange refused the sign-in." in out
    assert "  Cards: 1 card waiting to be posted, the oldest for 20 minutes." in out
    assert "  Tasks: 1 open, 0 claimed, 0 resolved." in out
    assert "4 problem(s):" in out
    for problem in (
        "  - Slack: Slack refused the bot token (invalid_auth)",
        "  - Nobody is running the clocks (handover, nudges)",
        f"  - {TEAM}: the last mailbox check failed (Exchange refused the sign-in).",
        f"  - {TEAM}: 1 card waiting to be posted, the oldest for 20 minutes;",
    ):
        assert problem in out
    assert as_json.exit_code == 1
    found = json.loads(as_json.output)
    assert found["status"] == "degraded" and len(found["problems"]) == 4


def test_status_with_the_database_unreachable_says_so_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-ops")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    with FakeSlack() as fake:
        config = write_config(tmp_path, fake, db_url=url)
        result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("Database: can't be reached (")
    assert "refused" in lines[0].lower()
    assert lines[-1].startswith("  - The database can't be reached (")
    assert lines[-1].endswith("Check [database] url and that the database server is running.")
    assert not any(line.startswith("Team ") for line in lines)  # nothing else can be known


def test_durations_read_as_people_say_them() -> None:
    assert how_long(timedelta(seconds=59)) == "under a minute"
    assert how_long(timedelta(minutes=1, seconds=30)) == "1 minute"
    assert how_long(timedelta(minutes=59)) == "59 minutes"
    assert how_long(timedelta(hours=2)) == "2 hours"
    assert how_long(timedelta(hours=3, minutes=5)) == "3 hours 5 minutes"
    assert how_long(timedelta(days=2, hours=4)) == "2 days"
    assert how_long(timedelta(seconds=-5)) == "under a minute"  # a clock a little ahead


def test_the_slack_check_is_asked_once_per_period_and_never_holds_up_healthz() -> None:
    asked: list[float] = []
    now = [100.0]
    gate = threading.Event()

    def probe() -> Check:
        asked.append(now[0])
        if len(asked) > 1:
            gate.wait(5)  # the second check hangs until released
        return Check(len(asked) == 1, f"answer {len(asked)}")

    cached = CachedProbe(probe, seconds=30, first_wait=5, timer=lambda: now[0])
    assert cached() == Check(True, "answer 1")  # the first call waits for its answer
    now[0] += 10
    assert cached() == Check(True, "answer 1") and len(asked) == 1
    now[0] += 25  # stale: a fresh check starts, and the old answer is given meanwhile
    assert cached() == Check(True, "answer 1")
    gate.set()
    for _ in range(100):
        if cached() == Check(False, "answer 2"):
            break
        threading.Event().wait(0.05)
    assert cached() == Check(False, "answer 2") and len(asked) == 2

    hung = threading.Event()
    waiting = CachedProbe(lambda: Check(hung.wait(5), "late"), seconds=30)
    assert waiting() == Check(False, "no answer from Slack yet")  # /healthz does not wait
    hung.set()


# ---- `dutybot run`: JSON log lines, /healthz and /metrics of the real process --------------


JSON_LOG = """
[log]
level = "DEBUG"
json_lines = true
"""


def test_run_writes_json_log_lines_without_email_content_and_serves_its_figures(
    db: Database, tmp_path: Path
) -> None:
    with FakeSlack() as fake:
        bot = BotProcess(db, fake, tmp_path, extra=JSON_LOG).start()
        try:
            for word in CONTENT:
                bot.mail(
                    f"{word} rent arrears",
                    body=f"{word} rang about the flat.",
                    sender=f"{word} Example <{word.lower()}@example.org>",
                )

            def cards() -> list[dict[str, Any]]:
                return [m for m in fake.messages("C0DUTY") if m.get("metadata")]

            until(lambda: len(cards()) == 3, what="the three cards")
            assert bot.duty("claim 1").json()["text"] == "You've claimed #1."
            assert "#2" in bot.duty("resolve 2 recorded on Mosaic").json()["text"]

            def settled() -> dict[str, Any] | None:
                found = healthz(bot.base)[1]
                return found if found["status"] == "ok" else None  # the lease taken

            health = until(settled, what="the scheduler to take the lease")
            assert f":{bot.proc.pid}:" in health["scheduler"]["leader"]
            assert health["database"]["ok"] is True
            assert health["teams"][0]["tasks"] == {"open": 1, "claimed": 1, "resolved": 1}
            assert health["teams"][0]["mailbox"]["last_error"] is None
            metrics = scrape(bot.base)
            assert sample(metrics, "dutybot_tasks_received_total", team=TEAM) == 3
            assert sample(metrics, "dutybot_card_post_latency_seconds_count", team=TEAM) == 3
            assert sample(metrics, "dutybot_tasks", team=TEAM, state="resolved") == 1
            assert sample(metrics, "dutybot_scheduler_leader") == 1
            assert sample(metrics, "dutybot_mailbox_sync_age_seconds", team=TEAM) < 60
        finally:
            assert bot.stop() == 0

    lines = [line for line in bot.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records) > 20
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys() <= {
            "time", "level", "logger", "message", "team", "exc_info", "stack_info"
        }  # fmt: skip
        datetime.fromisoformat(record["time"])
    assert {"DEBUG", "INFO"} <= {r["level"] for r in records}
    intake = [r for r in records if r["message"].startswith("intake: new task #")]
    assert len(intake) == 3 and all(r.get("team") == TEAM for r in intake)
    posts = [r["message"] for r in records if "/api/chat.postMessage" in r["message"]]
    assert posts and all(
        m.endswith("(details withheld: they may hold email content)") for m in posts
    )
    assert [line for line in lines if any(word in line for word in CONTENT)] == []


# ---- deployment files --------------------------------------------------------------------


def test_the_dockerfile_runs_the_bot_as_a_user_with_a_health_check() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in docker
    assert "\nUSER dutybot" in docker
    assert 'CMD ["dutybot", "run", "--config", "/etc/dutybot/config.toml"]' in docker
    assert "HEALTHCHECK" in docker and "/healthz" in docker
    assert 'VOLUME ["/var/lib/dutybot"]' in docker
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".dutybot"} <= set(ignored)


def test_the_systemd_unit_runs_the_bot_hardened_with_secrets_from_a_file() -> None:
    unit = (ROOT / "deploy" / "dutybot.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["ExecStart"].endswith("dutybot run --config /etc/dutybot/config.toml")
    assert settings["EnvironmentFile"] == "/etc/dutybot/secrets.env"
    assert settings["Restart"] == "on-failure"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"] == "/var/lib/dutybot"
    assert settings["NoNewPrivileges"] == "true"
    assert settings["User"] == "dutybot"
