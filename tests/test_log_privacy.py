"""No email content in any log record, at DEBUG, for the whole pipeline.

The shell's wiring (DutyBot on the example config: folder mailbox, SQLite, the shell chat
adapter) runs a duty day: intake of odd emails (a reply, a damaged attachment, an unknown
charset, a reused Message-ID, a mention), claim, note, alert, resolve, the handover preview
and post, the move to Done, the clock jumping past the retention period and the purge.
Every record from every logger is captured with the root logger and the libraries that log
the most (SQLAlchemy, exchangelib, urllib3, slack) turned up to DEBUG.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import load_config
from handlers.shell import Shell
from storage.db import Database
from tests.fakes.ews_server import FakeEws
from tests.mail import email_message
from tests.slack_harness import ALEX, PRIYA, SAM, SlackHarness, card_text
from tests.test_shell import write_config

# Only the emails contain these: subject, body (start and far end), sender name and address,
# attachment names, and a phrase only a charset-damaged body holds.
SECRETS = (
    "Zebracorn",
    "Quillfeather",
    "Snickerdoodle",
    "Marigold",
    "Tumbleweed",
    "marigold.tumbleweed@example.org",
    "Brambleton",
    "Larkspurious",
    "Oakhollow",
    "Figwhistle",
)
LOUD_LIBRARIES = ("sqlalchemy", "exchangelib", "urllib3", "slack_sdk", "slack_bolt", "alembic",
                  "microsoft_agents", "msal", "aiohttp")  # fmt: skip


def email(subject: str, body: str, mid: str, in_reply_to: str | None = None) -> EmailMessage:
    sender = "Marigold Tumbleweed <marigold.tumbleweed@example.org>"
    return email_message(subject, body, sender=sender, message_id=mid, in_reply_to=in_reply_to)


def inbox(folder: Path) -> None:
    folder.mkdir(parents=True)
    first = email("Zebracorn rent arrears", "Quillfeather rang. " + "x " * 5000 + "Snickerdoodle",
                  "<a@example.org>")  # fmt: skip
    first.add_attachment(b"%PDF", maintype="application", subtype="pdf",
                         filename="tenancy-Brambleton.pdf")  # fmt: skip
    (folder / "01.eml").write_bytes(bytes(first))
    reply = email("Re: Zebracorn rent arrears", "Larkspurious update", "<b@example.org>",
                  in_reply_to="<a@example.org>")  # fmt: skip
    (folder / "02.eml").write_bytes(bytes(reply))
    clash = email("Oakhollow is not the same email", "Figwhistle", "<a@example.org>")
    (folder / "03.eml").write_bytes(bytes(clash))
    damaged = (
        b"Message-ID: <c@example.org>\r\nFrom: Marigold Tumbleweed <marigold.tumbleweed@"
        b"example.org>\r\nSubject: <!channel> Oakhollow\r\nContent-Type: multipart/mixed; "
        b'boundary="Q"\r\n\r\n--Q\r\nContent-Type: text/plain; charset="x-Figwhistle"\r\n\r\n'
        b"Figwhistle \xe9\xe8\r\n--Q\r\nContent-Type: application/pdf\r\nContent-Disposition: "
        b'attachment; filename="Brambleton-2.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"%%%not base64 Brambleton%%%\r\n--Q--\r\n"
    )
    (folder / "04.eml").write_bytes(damaged)


def base64_cores(secret: str) -> list[str]:
    """The text ``secret`` shows as inside base64 (as MIME in a SOAP body), at each alignment."""
    cores = []
    for pad in range(3):
        enc = base64.b64encode(b"x" * pad + secret.encode()).decode()
        cores.append(enc[-(-pad * 8 // 6) : (pad + len(secret)) * 8 // 6])
    return cores


NEEDLES = {needle: secret for secret in SECRETS for needle in (secret, *base64_cores(secret))}


def leaks_in(lines: list[str]) -> list[tuple[str, str]]:
    return [(NEEDLES[n], line[:300]) for line in lines for n in NEEDLES if n in line]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.lines.append(self.format(record))  # the message, any traceback and stack


@pytest.fixture
def captured() -> Iterator[Capture]:
    root = logging.getLogger()
    handler = Capture()
    saved = root.level, {n: logging.getLogger(n).level for n in LOUD_LIBRARIES}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in LOUD_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def test_no_email_content_reaches_any_log_record(tmp_path: Path, captured: Capture) -> None:
    cfg_path = write_config(tmp_path)
    cfg_path.write_text(
        cfg_path.read_text()
        .replace('level = "INFO"', 'level = "DEBUG"')
        .replace(f'seed_from = "{Path(__file__).parent.parent / "examples" / "inbox"}"', "")
    )
    inbox(tmp_path / "inbox")
    cfg = load_config(cfg_path)
    bot = DutyBot(cfg, clock=ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))).start()
    out = io.StringIO()
    shell = Shell(bot, "sam", out)
    day = [
        "/duty list",
        "/duty claim 1",
        "/duty show 1",
        "/duty note 1 rang the landlord",
        "/duty alert 1 @alex please call back",
        "/duty alert 2 @alex and this one",
        "/duty flag 2 safeguarding",
        "/duty resolve 1 recorded on Mosaic",
        "/as jo",
        "/duty handover",
        "/duty handover post",
        "/duty clock +31d",
        "/duty list all",
    ]
    try:
        shell.run(iter(day), interactive=False)
        logging.getLogger("exchangelib.probe").debug("probe from a library logger")
    finally:
        bot.close()

    shown = out.getvalue()
    assert "Zebracorn" in shown  # the content did flow: cards showed it
    assert "(email content removed after 30 days)" in shown  # the purge ran
    assert (tmp_path / "inbox" / "Done" / "01.eml").exists() is False  # purged after the move
    assert any(n.startswith("sqlalchemy.engine") for n in captured.names)
    assert "exchangelib.probe DEBUG probe from a library logger" in captured.lines
    assert any("intake: new task #1" in line for line in captured.lines)

    assert leaks_in(captured.lines) == []


def test_database_errors_do_not_echo_the_values(tmp_path: Path, captured: Capture) -> None:
    """A failed statement's message (which code may log) names no bound values."""
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with (
        pytest.raises(OperationalError, match="no such table") as failed,
        db.engine.connect() as conn,
    ):
        conn.execute(text("select * from no_such_table where x = :x"), {"x": "Zebracorn"})
    db.dispose()
    assert "Zebracorn" not in str(failed.value)
    assert not [line for line in captured.lines if "Zebracorn" in line]


def test_slack_and_exchange_log_no_content(
    db: Database, captured: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same day in HTTP mode: mail from Exchange (real exchangelib against the fake EWS
    server), cards and commands through real slack-bolt against the fake Slack."""
    with FakeEws() as ews:
        monkeypatch.setenv("DUTYBOT_TEST_EWS_PASSWORD", ews.password)
        mailbox = {
            "kind": "ews", "address": ews.address, "endpoint": ews.endpoint, "auth": ews.auth,
            "username": ews.username, "password_env": "DUTYBOT_TEST_EWS_PASSWORD",
            "streaming": False, "verify_tls": False, "max_retry_seconds": 2,
        }  # fmt: skip
        first = email("Zebracorn rent arrears", "Quillfeather rang. Snickerdoodle", "<a@x.org>")
        first.add_attachment(b"%PDF", maintype="application", subtype="pdf",
                             filename="tenancy-Brambleton.pdf")  # fmt: skip
        ews.deliver(bytes(first))
        with SlackHarness(db, team={"mailbox": mailbox}, with_mailboxes=True) as h:
            h.check_mail()
            h.drain()
            for line in ("list", "show 1", "claim 1", "note 1 rang the landlord", "handover"):
                assert h.command(line, user=SAM).status_code == 200
            h.click("duty_claim", 1, user=ALEX)
            assert h.alert(1, [PRIYA], "please call back", user=SAM).status_code == 200
            assert h.resolve(1, "recorded on Mosaic", user=SAM).status_code == 200
            h.drain()
            h.check_mail()  # moves the resolved email to Done in Exchange
            assert "Zebracorn" in card_text(h.card(1))  # the content did flow
    assert any(n.startswith("exchangelib") for n in captured.names)
    assert any(n.startswith("slack_bolt") for n in captured.names)
    assert leaks_in(captured.lines) == []


def test_teams_logs_no_content_and_no_token(db: Database, captured: Capture) -> None:
    """A day's work through the real Agents SDK (Teams) at DEBUG: cards, buttons, a form, an
    alert, a command, a failed turn and an activity that fails the SDK's validation."""
    from tests.teams_harness import ALEX as T_ALEX
    from tests.teams_harness import SAM as T_SAM
    from tests.teams_harness import TeamsHarness, invoke_card
    from tests.teams_harness import card_text as teams_text

    with TeamsHarness(db) as h:
        n = h.email("Zebracorn rent arrears", "Quillfeather rang. Snickerdoodle",
                    "Marigold Tumbleweed <marigold.tumbleweed@example.org>")  # fmt: skip
        h.drain()
        invoke_card(h.press("claim", n, user=T_SAM))
        form = invoke_card(h.press("alert", n, user=T_SAM))
        invoke_card(h.submit(form, {"people": T_ALEX, "note": "Zebracorn called"}))
        h.say(f"show {n}", user=T_SAM)
        h.send(h.activity("message", T_SAM, text="Zebracorn", timestamp="not a time"))
        h.fake.gone(f"a:{T_SAM}")
        h.say(f"show {n}", user=T_SAM, where="dm")  # the turn fails: Teams refuses the reply
        h.drain()
        assert "Zebracorn" in teams_text(h.card(n).card)  # the content did flow
        tokens = set(h.login.issued)
    assert any(n.startswith("microsoft_agents") for n in captured.names)
    assert leaks_in(captured.lines) == []
    assert not [line for line in captured.lines for t in tokens if t in line]
