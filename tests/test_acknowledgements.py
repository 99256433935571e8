"""Acknowledgements (seeds/004 §5): `/duty ack N` and a card's Acknowledge button reply to the
sender of task N's email from the duty inbox, once, quoting nothing of the email. Here: the
shell on the sample inbox, the refusals, two people at once, a crash mid-send, the Slack
button and its form, and the whole way through real exchangelib and Graph to the fakes."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.mail.mailbox import Mailbox, MailboxError, Replied, ReplyEmail, SendUncertain
from storage.db import Database
from storage.models import Outbox, Task
from tests.conftest import TEAM
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.mail import make_email
from tests.slack_harness import ALEX, SAM, SlackHarness, buttons, card_text
from tests.test_handover import jobs_of, london
from tests.test_shell import shell, write_config

PHONE = "01632 960000"
SECRET_LINE = "I have nowhere to sleep tonight and my phone is about to die."


def outbox(folder: Path) -> list[EmailMessage]:
    found = []
    for path in sorted((folder / "Outbox").glob("*-reply.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        found.append(msg)
    return found


def body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


class Wrapped:
    """The team's real mailbox, with a test's hand in ``reply``."""

    def __init__(self, real: Mailbox) -> None:
        self.real = real
        self.calls = 0
        self.before: Any = None  # run before the real reply: sleep, raise, ...

    def reply(self, reply: ReplyEmail) -> Replied:
        self.calls += 1
        if self.before is not None:
            self.before()
        return self.real.reply(reply)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def folder_bot(db: Database, inbox: Path, clock: ManualClock, **ack: str) -> DutyBot:
    team = {**TEAM, "mailbox": {"kind": "folder", "path": str(inbox)},
            "acknowledgement": {"phone": PHONE, **ack}}  # fmt: skip
    return DutyBot(parse_config({"teams": [team]}), clock=clock, db=db).start()


def arrive(bot: DutyBot, inbox: Path, name: str, mime: bytes) -> int:
    (inbox / name).write_bytes(mime)
    (number,) = bot.check_mail(bot.team().cfg.name).new
    return number


def task(db: Database, number: int) -> Task:
    with db.session() as s:
        found = s.scalars(select(Task).where(Task.number == number)).one()
        s.expunge(found)
        return found


def threads(db: Database) -> list[str]:
    from bot.kernel.message import Message

    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind == "thread").order_by(Outbox.id))
        return [Message.from_json(o.body).plain({SAM: "Sam", "sam": "Sam"}) for o in rows]


# ---- in the shell, on the sample inbox ------------------------------------------------------


def test_the_shell_acknowledges_once_and_refuses_a_phone_call(tmp_path: Path) -> None:
    out = shell(
        write_config(tmp_path),
        "/duty ack 1\n/as alex\n/duty ack 1\n/duty new phone Mum rang\n/duty ack 9\n",
    )
    said = out.splitlines()
    assert "Sent the acknowledgement for #1 to jordan.ashby@example.com." in said
    acked = next(line for line in said if line.startswith("  > thread #1: Acknowledged by @Sam"))
    when = acked.rsplit(" at ", 1)[1].rstrip(".")
    assert (
        f"  ~ card #1 now: Open: nobody has claimed this yet · Acknowledged by @Sam at {when}"
        in said
    )
    assert f"#1 was already acknowledged by @Sam at {when}." in said  # Alex's try: who and when
    assert "#9 came as a phone call, not by email, so there is no email to acknowledge." in said
    (sent,) = outbox(tmp_path / "inbox")
    assert [a.addr_spec for a in sent["To"].addresses] == ["jordan.ashby@example.com"]
    assert sent["In-Reply-To"] == "<sample-01@example.org>"
    assert sent["References"] == "<sample-01@example.org>"
    assert sent["Subject"] == "Re: Help with rent arrears"
    text = body(sent)
    assert "Your reference number is 1." in text and "01632 960000" in text
    assert "Universal Credit" not in text and "Meadow Court" not in text  # nothing quoted


# ---- what is refused, in one plain sentence -------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "said"),
    [
        ("No Reply <noreply@bank.example.com>", "it came from noreply@bank.example.com, which "
         "doesn't take replies."),
        ("no-reply-8812@notify.example.gov.uk", "it came from no-reply-8812@notify.example.gov.uk"
         ", which doesn't take replies."),
        ("Mail Delivery System <MAILER-DAEMON@mx.example.org>", "it came from "
         "mailer-daemon@mx.example.org, which doesn't take replies."),
        ("postmaster@example.org", "it came from postmaster@example.org, which doesn't take "
         "replies."),
        ("DoNotReply <donotreply@college.example.org>", "it came from "
         "donotreply@college.example.org, which doesn't take replies."),
    ],
)  # fmt: skip
def test_no_acknowledgement_to_an_address_nobody_reads(
    db: Database, inbox: Path, clock: ManualClock, sender: str, said: str
) -> None:
    bot = folder_bot(db, inbox, clock)
    n = arrive(bot, inbox, "a.eml", make_email("Statement", "x", sender=sender))
    reply = bot.team().command("sam", f"/duty ack {n}").plain()
    assert reply == f"I won't send an acknowledgement for #{n}: {said}"
    assert "Acknowledge" not in {a.label for a in card_actions_of(db, n)}
    assert outbox(inbox) == [] and task(db, n).acked_at is None
    bot.close()


def test_no_acknowledgement_without_a_sender(db: Database, inbox: Path, clock: ManualClock) -> None:
    bot = folder_bot(db, inbox, clock)
    mime = b"Message-ID: <nosender@x>\r\nTo: duty@x\r\nSubject: Hello\r\n\r\nHi\r\n"
    n = arrive(bot, inbox, "a.eml", mime)
    assert bot.team().command("sam", f"/duty ack {n}").plain() == (
        f"I won't send an acknowledgement for #{n}: it has no sender address."
    )
    assert outbox(inbox) == []
    bot.close()


def test_a_phone_call_and_strangers_are_refused(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    bot = folder_bot(db, inbox, clock)
    team = bot.team()
    assert team.command("sam", "/duty new phone Landlord rang").plain() == "Logged #1 (phone call)."
    assert team.command("sam", "/duty ack 1").plain() == (
        "#1 came as a phone call, not by email, so there is no email to acknowledge."
    )
    assert "Acknowledge" not in {a.label for a in card_actions_of(db, 1)}
    assert team.command("sam", "/duty ack 7").plain().startswith("There is no task #7.")
    n = arrive(bot, inbox, "a.eml", make_email("Help", SECRET_LINE))
    assert team.command("mallory", f"/duty ack {n}").plain().startswith("Only members")
    assert outbox(inbox) == []
    bot.close()


def card_actions_of(db: Database, number: int) -> tuple[Any, ...]:
    from bot.tasks.cards import card_actions

    return card_actions(task(db, number))


# ---- what the sender gets, and what the team sees -------------------------------------------


def test_the_acknowledgement_goes_to_from_and_a_reply_to_is_shown(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    clock.set(london(2026, 11, 23, 10, 42))
    bot = folder_bot(db, inbox, clock)
    mime = make_email("Locked out", SECRET_LINE, sender="Casey <casey@example.org>")
    mime = mime.replace(b"To: ", b"Reply-To: harvest@elsewhere.example\nTo: ", 1)
    n = arrive(bot, inbox, "a.eml", mime)
    assert "Acknowledge" in {a.label for a in card_actions_of(db, n)}
    reply = bot.team().command("sam", f"/duty ack {n}").plain()
    assert reply == (
        f"Sent the acknowledgement for #{n} to casey@example.org.\n"
        "Note: this email asks for replies to go to harvest@elsewhere.example; the "
        "acknowledgement went to the sender in From."
    )
    (sent,) = outbox(inbox)
    assert [a.addr_spec for a in sent["To"].addresses] == ["casey@example.org"]
    assert SECRET_LINE not in sent.as_string()
    acked = task(db, n)
    assert (acked.acked_by, acked.acked_at) == ("sam", london(2026, 11, 23, 10, 42))
    assert "Acknowledge" not in {a.label for a in card_actions_of(db, n)}
    assert threads(db)[-1] == "Acknowledged by @Sam at 10:42."
    shown = bot.team().command("alex", f"/duty show {n}").plain()
    assert "Open: nobody has claimed this yet · Acknowledged by @sam at 10:42" in shown
    assert bot.team().command("alex", f"/duty ack {n}").plain() == (
        f"#{n} was already acknowledged by @sam at 10:42."
    )
    assert len(outbox(inbox)) == 1
    bot.close()


def test_the_phone_number_must_be_set_to_send_the_template(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    bot = folder_bot(db, inbox, clock, phone="")
    n = arrive(bot, inbox, "a.eml", make_email("Help", "x"))
    assert bot.team().command("sam", f"/duty ack {n}").plain() == (
        "The acknowledgement gives the duty phone number and none is set: ask whoever runs the "
        "bot to set teams.acknowledgement.phone in the config."
    )
    assert outbox(inbox) == []
    bot.close()


# ---- once, whatever happens -----------------------------------------------------------------


def test_two_people_pressing_at_once_send_one(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    bot = folder_bot(db, inbox, clock)
    n = arrive(bot, inbox, "a.eml", make_email("Help", "x"))
    box = Wrapped(bot.team().mailbox)  # type: ignore[arg-type]
    gate = threading.Event()
    box.before = lambda: gate.wait(5)  # the first sender is still sending when the second tries
    bot.team().acks.mailbox = box  # type: ignore[union-attr]
    start = threading.Barrier(2)
    said: dict[str, str] = {}

    def press(who: str) -> None:
        start.wait()
        said[who] = bot.team().command(who, f"/duty ack {n}").plain()

    people = [threading.Thread(target=press, args=(who,)) for who in ("sam", "alex")]
    for p in people:
        p.start()
    # One of them is refused at once, while the other's reply is still waiting to go.
    for _ in range(100):
        if len(said) == 1:
            break
        threading.Event().wait(0.05)
    gate.set()
    for p in people:
        p.join(10)
    assert box.calls == 1 and len(outbox(inbox)) == 1
    winner = task(db, n).acked_by
    loser = "alex" if winner == "sam" else "sam"
    assert said[winner] == f"Sent the acknowledgement for #{n} to casey@example.org."
    assert said[loser].startswith(f"#{n} was already acknowledged by @{winner} at ")
    bot.close()


class Crash(BaseException):
    """The process dying: no handler in the bot catches it."""


def test_a_crash_while_sending_never_sends_twice_and_is_said_once(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    bot = folder_bot(db, inbox, clock)
    n = arrive(bot, inbox, "a.eml", make_email("Help", "x"))
    box = Wrapped(bot.team().mailbox)  # type: ignore[arg-type]

    def crash_after_sending() -> None:
        box.real.reply(ReplyEmail("a.eml", "casey@example.org", "Re: Help", "sent"))
        raise Crash

    box.before = crash_after_sending
    bot.team().acks.mailbox = box  # type: ignore[union-attr]
    with pytest.raises(Crash):
        bot.team().command("sam", f"/duty ack {n}")
    assert len(outbox(inbox)) == 1  # it went; the bot died before writing that down
    # Back up: nobody sends a second one, and nobody is told it went.
    again = bot.team().command("alex", f"/duty ack {n}").plain()
    assert again.startswith(f"#{n} was already acknowledged by @sam at ")
    assert box.calls == 1
    clock.advance(timedelta(minutes=10))
    jobs_of(bot).run_due()
    assert not any("can't tell" in t for t in threads(db))  # it may still be sending
    clock.advance(timedelta(minutes=10))
    jobs_of(bot).run_due()
    jobs_of(bot).run_due()
    unsure = [t for t in threads(db) if "can't tell" in t]
    assert unsure == [
        "I can't tell whether this acknowledgement went: the bot stopped while it was being "
        "sent. Look in Sent Items of the duty inbox, and send one from Outlook if it isn't there."
    ]
    assert (
        bot.team()
        .command("alex", f"/duty ack {n}")
        .plain()
        .endswith("I couldn't tell whether it went: look in Sent Items of the duty inbox.")
    )
    assert box.calls == 1 and len(outbox(inbox)) == 1
    bot.close()


def test_a_mailbox_that_refuses_sends_nothing_and_it_can_be_tried_again(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    bot = folder_bot(db, inbox, clock)
    n = arrive(bot, inbox, "a.eml", make_email("Help", "x"))
    box = Wrapped(bot.team().mailbox)  # type: ignore[arg-type]

    def refuse() -> None:
        raise MailboxError("Exchange refused to send as duty@council.example.")

    box.before = refuse
    bot.team().acks.mailbox = box  # type: ignore[union-attr]
    assert bot.team().command("sam", f"/duty ack {n}").plain() == (
        "Nothing was sent: Exchange refused to send as duty@council.example. "
        f"Try /duty ack {n} again in a few minutes."
    )
    assert task(db, n).acked_at is None
    assert "Acknowledge" in {a.label for a in card_actions_of(db, n)}
    box.before = None
    said = bot.team().command("sam", f"/duty ack {n}").plain()
    assert said == f"Sent the acknowledgement for #{n} to casey@example.org."
    assert len(outbox(inbox)) == 1
    bot.close()


def test_a_send_that_may_have_gone_is_kept_and_said(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    bot = folder_bot(db, inbox, clock)
    n = arrive(bot, inbox, "a.eml", make_email("Help", "x"))
    box = Wrapped(bot.team().mailbox)  # type: ignore[arg-type]

    def cut() -> None:
        raise SendUncertain("The connection broke while the reply was being sent.")

    box.before = cut
    bot.team().acks.mailbox = box  # type: ignore[union-attr]
    said = bot.team().command("sam", f"/duty ack {n}").plain()
    assert said.startswith("I can't tell whether this acknowledgement went: The connection")
    assert task(db, n).acked_by == "sam"  # kept: trying again could send it twice
    assert (
        bot.team()
        .command("sam", f"/duty ack {n}")
        .plain()
        .startswith(f"#{n} was already acknowledged by @sam")
    )
    assert box.calls == 1 and any("can't tell" in t for t in threads(db))
    bot.close()


# ---- Slack: the button, the form with the text, the submission ------------------------------


def ack_form(h: SlackHarness, n: int, user: str = SAM) -> dict[str, Any]:
    button = buttons(h.card(n))["Acknowledge"]
    assert h.click(button["action_id"], n, user=user).status_code == 200
    modal = h.fake.wait_for(h.fake.views_opened)[-1]["view"]
    assert modal["callback_id"] == "duty_ack"
    return modal


def send_form(h: SlackHarness, n: int, text: str, user: str = SAM) -> Any:
    values = {"text": {"value": {"type": "plain_text_input", "value": text}}}
    return h.submit("duty_ack", n, values, user=user)


def slack_folder(inbox: Path) -> dict[str, Any]:
    return {"mailbox": {"kind": "folder", "path": str(inbox)},
            "acknowledgement": {"phone": PHONE}}  # fmt: skip


def test_slack_button_opens_the_text_to_edit_and_sends_the_edit(db: Database, inbox: Path) -> None:
    with SlackHarness(db, team=slack_folder(inbox), with_mailboxes=True) as h:
        (inbox / "a.eml").write_bytes(make_email("Locked out", SECRET_LINE))
        h.check_mail()
        h.drain()
        modal = ack_form(h, 1)
        (field,) = modal["blocks"]
        template = field["element"]["initial_value"]
        assert "Your reference number is 1." in template and PHONE in template
        edited = template.replace("as soon as we can", "today")
        assert send_form(h, 1, edited).status_code == 200
        h.drain()
        (sent,) = outbox(inbox)
        assert body(sent).strip() == edited.strip()
        assert SECRET_LINE not in sent.as_string()
        card = h.card(1)
        assert "Acknowledged by @Sam at 10:00" in card_text(card)
        assert "Acknowledge" not in buttons(card)
        assert [r["text"] for r in h.thread(1)][-1] == "Acknowledged by @Sam at 10:00."
        (told,) = h.fake.wait_for(lambda: h.ephemerals(SAM))
        assert told["text"] == "Sent the acknowledgement for #1 to casey@example.org."
        # Alex's form, opened before Sam sent: the second try says who sent it and when.
        answer = send_form(h, 1, edited, user=ALEX).json()
        assert answer["errors"]["text"] == f"#1 was already acknowledged by @{SAM} at 10:00."
        assert len(outbox(inbox)) == 1


def test_slack_form_refuses_an_empty_text_at_the_field(db: Database, inbox: Path) -> None:
    with SlackHarness(db, team=slack_folder(inbox), with_mailboxes=True) as h:
        (inbox / "a.eml").write_bytes(make_email("Locked out", SECRET_LINE))
        h.check_mail()
        h.drain()
        ack_form(h, 1)
        answer = send_form(h, 1, "  \u202e ")
        assert answer.json()["errors"]["text"] == "Write the acknowledgement before sending it."
        assert outbox(inbox) == [] and task(db, 1).acked_at is None


# ---- end to end through real exchangelib and real Graph -------------------------------------


def ews_mailbox(ews: FakeEws, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ACK_EWS_PASSWORD", ews.password)
    return {"kind": "ews", "address": ews.address, "endpoint": ews.endpoint, "auth": "basic",
            "username": ews.username, "password_env": "ACK_EWS_PASSWORD"}  # fmt: skip


def graph_mailbox(graph: FakeGraph, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ACK_GRAPH_SECRET", graph.client_secret)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph.ca_bundle)  # trust the fake's own CA
    return {"kind": "graph", "address": graph.address, "tenant_id": graph.tenant_id,
            "client_id": graph.client_id, "client_secret_env": "ACK_GRAPH_SECRET",
            "authority_host": graph.authority_host, "graph_url": graph.graph_url}  # fmt: skip


ORIGINAL = make_email(
    "Locked out",
    SECRET_LINE,
    message_id="<e2e-ack@example.org>",
    sender="Casey <casey@example.org>",
).replace(b"To: ", b"Reply-To: harvest@elsewhere.example\nTo: ", 1)


def acknowledge_in_slack(h: SlackHarness) -> None:
    h.check_mail()
    h.drain()
    modal = ack_form(h, 1)
    send_form(h, 1, modal["blocks"][0]["element"]["initial_value"])
    h.drain()
    assert "Acknowledged by @Sam at 10:00" in card_text(h.card(1))
    (told,) = h.fake.wait_for(lambda: h.ephemerals(SAM))
    assert told["text"] == (
        "Sent the acknowledgement for #1 to casey@example.org.\nNote: this email asks for "
        "replies to go to harvest@elsewhere.example; the acknowledgement went to the sender in "
        "From."
    )
    send_form(h, 1, "again", user=ALEX)  # a second press sends nothing


def assert_one_acknowledgement(sent: EmailMessage, to: tuple[str, ...]) -> None:
    assert to == ("casey@example.org",)
    assert sent["In-Reply-To"] == "<e2e-ack@example.org>"
    assert "<e2e-ack@example.org>" in sent["References"].split()
    text = body(sent)
    assert "Your reference number is 1." in text and PHONE in text
    assert SECRET_LINE not in sent.as_string()


def test_ews_end_to_end_from_the_button_to_sent_items(
    db: Database, ews: FakeEws, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = {"mailbox": ews_mailbox(ews, monkeypatch), "acknowledgement": {"phone": PHONE}}
    ews.deliver(ORIGINAL)
    with SlackHarness(db, team=team, with_mailboxes=True) as h:
        acknowledge_in_slack(h)
    (sent,) = ews.sent()
    msg = email.message_from_bytes(sent.mime, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert_one_acknowledgement(msg, sent.to)
    (copy,) = ews.folder_items("sentitems")
    (original,) = ews.inbox_items()
    assert copy.conversation_id == original.conversation_id  # in the email's conversation


def test_graph_end_to_end_from_the_button_to_sent_items(
    db: Database, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = {"mailbox": graph_mailbox(graph, monkeypatch), "acknowledgement": {"phone": PHONE}}
    graph.deliver(ORIGINAL)
    with SlackHarness(db, team=team, with_mailboxes=True) as h:
        acknowledge_in_slack(h)
    (sent,) = graph.sent()
    assert_one_acknowledgement(sent.message, sent.to)
    (copy,) = graph.folder("Sent Items")
    (original,) = graph.inbox()
    assert copy.conversation_id == original.conversation_id
    assert graph.drafts() == []


def test_the_folder_mailboxs_copy_goes_with_the_email_content(
    db: Database, inbox: Path, clock: ManualClock
) -> None:
    from bot.ops.retention import purge

    bot = folder_bot(db, inbox, clock)
    n = arrive(bot, inbox, "a.eml", make_email("Locked out", SECRET_LINE))
    bot.team().command("sam", f"/duty ack {n}")
    (copy,) = (inbox / "Outbox").glob("*-reply.eml")
    written = datetime.strptime(copy.name[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    team, mailbox = bot.team().cfg, bot.team().mailbox
    assert purge(db, team, 30, written + timedelta(days=29), mailbox=mailbox).own_copies == 0
    assert copy.exists()
    purge(db, team, 30, written + timedelta(days=31), mailbox=mailbox)
    assert not copy.exists()  # it names the sender and the email's subject
    bot.close()


def test_the_template_takes_only_the_number_and_the_phone() -> None:
    from bot.kernel.config import ConfigError

    team = {**TEAM, "acknowledgement": {"text": "Dear {name}, we have {number}."}}
    with pytest.raises(ConfigError) as bad:
        parse_config({"teams": [team]})
    assert bad.value.problems == [
        "teams[0].acknowledgement.text: {name} is not something the bot can fill in; expected "
        "{number} or {phone}"
    ]
    fine = {**TEAM, "acknowledgement": {"text": "Ref {number}; ring {phone}", "phone": PHONE}}
    cfg = parse_config({"teams": [fine]}).teams[0].acknowledgement
    assert cfg.filled(42) == f"Ref 42; ring {PHONE}"
