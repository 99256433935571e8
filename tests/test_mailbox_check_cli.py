"""`dutybot check --mailbox`: connect to the configured mailbox and say, in plain words, whether
the inbox is reachable (and how full it is), whether the Done folder is there or can be made,
and whether sending is allowed. Real click, real exchangelib / msal, fake servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from handlers.cli import main
from storage import tasks as q
from storage.db import Database
from tests.conftest import ROOT
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.mail import make_email

TEAM = """
chat = "shell"

[database]
url = "sqlite:///{db}"

[[teams]]
name = "care-experienced"
channel = "C0DUTY"
members = ["sam"]
managers = ["jo"]
"""

EWS = """
[teams.mailbox]
kind = "ews"
address = "{address}"
endpoint = "{endpoint}"
auth = "basic"
username = "{username}"
password_env = "TEST_EWS_PASSWORD"
"""

GRAPH = """
[teams.mailbox]
kind = "graph"
address = "{address}"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret_env = "TEST_GRAPH_SECRET"
authority_host = "{authority}"
graph_url = "{graph}"
"""


def ews_config(tmp_path: Path, fake: FakeEws) -> Path:
    body = TEAM.format(db=tmp_path / "duty.db") + EWS.format(
        address=fake.address, endpoint=fake.endpoint, username=fake.username
    )
    path = tmp_path / "ews.toml"
    path.write_text(body)
    return path


def graph_config(tmp_path: Path, fake: FakeGraph) -> Path:
    body = TEAM.format(db=tmp_path / "duty.db") + GRAPH.format(
        address=fake.address,
        tenant=fake.tenant_id,
        client=fake.client_id,
        authority=fake.authority_host,
        graph=fake.graph_url,
    )
    path = tmp_path / "graph.toml"
    path.write_text(body)
    return path


def run_check(config: Path, **env: str) -> tuple[Result, list[str]]:
    result = CliRunner().invoke(main, ["check", "--mailbox", "--config", str(config)], env=env)
    return result, result.output.strip().splitlines()


def test_ews_check_reports_inbox_done_folder_and_sending(tmp_path: Path, ews: FakeEws) -> None:
    ews.deliver(make_email("One", "x", message_id="<c1@example.org>"))
    ews.deliver(make_email("Two", "y", message_id="<c2@example.org>"))

    result, lines = run_check(ews_config(tmp_path, ews), TEST_EWS_PASSWORD=ews.password)

    assert result.exit_code == 0, result.output
    assert lines[1] == "Mailbox of care-experienced (ews):"
    assert lines[2] == "  OK: Inbox of duty@council.example is reachable (2 items)."
    assert lines[3] == (
        "  OK: Done folder Duty/Done does not exist yet; the bot will create it when needed."
    )
    assert lines[4].startswith("  OK: Sent Items of duty@council.example is writable")
    assert not ews.folder_exists("Duty")  # a check changes nothing in the mailbox


def test_ews_check_with_a_wrong_password_says_so_once_and_does_not_retry(
    tmp_path: Path, ews: FakeEws
) -> None:
    result, lines = run_check(ews_config(tmp_path, ews), TEST_EWS_PASSWORD="wrong")

    assert result.exit_code == 1
    assert lines[2:] == [
        "  Problem: Exchange rejected the credentials for duty@council.example. Check the "
        "username/password or app registration, then restart.",
        "  Problem: Done folder Duty/Done was not checked, since the inbox could not be opened.",
        "  Problem: Sending was not checked, since the inbox could not be opened.",
    ]
    assert ews.operations == []  # turned away at sign-in...
    assert ews.http_requests == 1  # ...and not retried


def test_ews_check_when_exchange_is_down(tmp_path: Path, ews: FakeEws) -> None:
    ews.down = True

    result, lines = run_check(ews_config(tmp_path, ews), TEST_EWS_PASSWORD=ews.password)

    assert result.exit_code == 1
    assert lines[2] == (
        "  Problem: Exchange at 127.0.0.1 is not working properly right now; the bot will try "
        "again later."
    )


def test_ews_check_finds_an_existing_done_folder(tmp_path: Path, ews: FakeEws) -> None:
    from bot.mail.adapters.ews import EwsMailbox, EwsSettings

    item = ews.deliver(make_email("One", "x", message_id="<c1@example.org>"))
    settings = EwsSettings(
        address=ews.address,
        endpoint=ews.endpoint,
        auth="basic",
        username=ews.username,
        password=ews.password,
    )
    with EwsMailbox(settings) as box:
        box.move_to_done(item)

    result, lines = run_check(ews_config(tmp_path, ews), TEST_EWS_PASSWORD=ews.password)

    assert result.exit_code == 0, result.output
    assert "  OK: Inbox of duty@council.example is reachable (0 items)." in lines
    assert "  OK: Done folder Duty/Done exists." in lines


def test_graph_check_reports_inbox_done_folder_and_sending(
    tmp_path: Path, graph: FakeGraph
) -> None:
    graph.deliver(make_email("One", "x", message_id="<g1@example.org>"))

    result, lines = run_check(
        graph_config(tmp_path, graph),
        TEST_GRAPH_SECRET=graph.client_secret,
        REQUESTS_CA_BUNDLE=graph.ca_bundle,  # how a council trusts its own CA
    )

    assert result.exit_code == 0, result.output
    assert lines[1:] == [
        "Mailbox of care-experienced (graph):",
        f"  OK: Inbox of {graph.address} is reachable (1 items).",
        "  OK: Done folder Duty/Done is ready.",
        f"  OK: The app holds Mail.Send and Mail.ReadWrite; sending as {graph.address} should "
        "work (an Exchange access policy could still limit it).",
        "  OK: The Inbox holds 1 email. The first start leaves them there and takes in only "
        "mail that arrives from then on.",
    ]


def test_graph_check_without_mail_send_says_what_to_grant(tmp_path: Path, graph: FakeGraph) -> None:
    graph.roles = ["Mail.ReadWrite"]

    result, lines = run_check(
        graph_config(tmp_path, graph),
        TEST_GRAPH_SECRET=graph.client_secret,
        REQUESTS_CA_BUNDLE=graph.ca_bundle,
    )

    assert result.exit_code == 1
    assert (
        "  Problem: The app's sign-in lacks the Mail.Send permission(s) needed to read and "
        f"send as {graph.address}. Unless Exchange grants them through RBAC for Applications, "
        "grant them and restart."
    ) in lines


def test_graph_check_with_a_wrong_secret(tmp_path: Path, graph: FakeGraph) -> None:
    result, lines = run_check(
        graph_config(tmp_path, graph),
        TEST_GRAPH_SECRET="not-the-secret",
        REQUESTS_CA_BUNDLE=graph.ca_bundle,
    )

    assert result.exit_code == 1
    assert f"rejected the app credentials for {graph.address}" in lines[2]
    assert graph.requests == []  # nothing reached the mailbox with a bad sign-in
    assert graph.token_requests == 1  # the refusal is not retried


def test_folder_check_on_the_example_config() -> None:
    result = CliRunner().invoke(
        main, ["check", "--mailbox", "--config", str(ROOT / "config.example.toml")]
    )

    assert result.exit_code == 0, result.output
    assert "Mailbox of care-experienced (folder):" in result.output
    assert "is readable (" in result.output
    assert "Sending works: the handover email is written to" in result.output


def test_a_missing_secret_stops_before_connecting(tmp_path: Path, ews: FakeEws) -> None:
    result, lines = run_check(ews_config(tmp_path, ews))

    assert result.exit_code == 1
    assert lines == [
        "teams[0].mailbox: the environment variable TEST_EWS_PASSWORD is not set; expected "
        "the Exchange secret there"
    ]
    assert ews.operations == []


# ---- what the first start will do with the mail already there ----------------------------


def test_ews_check_says_what_a_first_start_since_a_date_takes_in(
    tmp_path: Path, ews: FakeEws
) -> None:
    for n in range(1, 15):
        ews.deliver(make_email(f"Old {n}", "x", message_id=f"<old{n}@example.org>"))
    ews.age(timedelta(days=30))
    for n in range(1, 13):
        ews.deliver(make_email(f"Recent {n}", "x", message_id=f"<new{n}@example.org>"))
    ews.age(timedelta(days=2))
    day = datetime.now(UTC).date() - timedelta(days=7)
    config = ews_config(tmp_path, ews)
    config.write_text(config.read_text() + f'first_sync = "since {day.isoformat()}"\n')

    result, lines = run_check(config, TEST_EWS_PASSWORD=ews.password)

    assert result.exit_code == 0, result.output
    assert lines[-1] == (
        f"  OK: The Inbox holds 26 emails. The first start takes in the 12 from "
        f"{day.day} {day:%b %Y} on without unclaimed reminders: cards for the newest 10 and one "
        "summary message; the rest are in /duty list."
    )


def test_graph_check_says_a_mailbox_synced_before_has_started_already(
    tmp_path: Path, graph: FakeGraph
) -> None:
    graph.deliver(make_email("One", "x", message_id="<g1@example.org>"))
    config = graph_config(tmp_path, graph)
    config.write_text(config.read_text() + 'first_sync = "all"\n')
    db = Database(f"sqlite:///{tmp_path / 'duty.db'}")
    db.upgrade()
    with db.session() as s:
        q.ensure_team(s, "care-experienced")
        q.save_mailbox_checkpoint(s, "care-experienced", None, datetime.now(UTC))
    db.dispose()

    result, lines = run_check(
        config, TEST_GRAPH_SECRET=graph.client_secret, REQUESTS_CA_BUNDLE=graph.ca_bundle
    )

    assert result.exit_code == 0, result.output
    assert lines[-1] == (
        "  OK: The Inbox holds 1 email. The bot has started on this mailbox before, so "
        "first_sync no longer applies: it takes in mail as it arrives."
    )


def test_folder_check_says_the_sample_inbox_is_all_taken_in(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(3):
        (inbox / f"{n}.eml").write_bytes(make_email(f"F{n}", "x", message_id=f"<f{n}@x>"))
    config = tmp_path / "folder.toml"
    config.write_text(
        TEAM.format(db=tmp_path / "duty.db")
        + f'[teams.mailbox]\nkind = "folder"\npath = "{inbox}"\n'
    )

    result, lines = run_check(config)

    assert result.exit_code == 0, result.output
    assert lines[-1] == (
        "  OK: The Inbox holds 3 emails. The first start takes in them all, each with its card."
    )
