"""Mailbox.reply on every adapter: the folder mailbox writing Outbox/, EWS through real
exchangelib against the fake Exchange, Graph through real msal and HTTPS against the fake
Graph. Each reply is in the email's conversation, goes to the sender in From alone, quotes
nothing of the email, and leaves a copy in Sent Items; the email's Reply-To is reported."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from bot.mail.adapters.ews import EwsMailbox, EwsSettings
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.adapters.graph import GraphMailbox
from bot.mail.adapters.sending import broke_mid_request
from bot.mail.mailbox import ItemGone, MailboxError, ReplyEmail, SendUncertain
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.fakes.graph_server import _error as graph_error

SECRET_LINE = "My landlord changed the locks and I am sleeping at a friend's."
ORIGINAL = (
    "Message-ID: <orig-1@example.org>\r\n"
    "References: <root-1@example.org>\r\n"
    "From: Casey Example <casey@example.org>\r\n"
    "Reply-To: Collector <collect@elsewhere.example>\r\n"
    "To: duty@council.example\r\n"
    "Subject: Locked out\r\n"
    "\r\n"
    f"{SECRET_LINE}\r\n"
).encode()
ACK = "Thank you for your email. Your reference number is 42."


def reply_to(item_id: str) -> ReplyEmail:
    return ReplyEmail(item_id, "casey@example.org", "Re: Locked out", ACK)


def parsed(mime: bytes) -> EmailMessage:
    msg = email.message_from_bytes(mime, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def assert_is_the_acknowledgement(msg: EmailMessage) -> None:
    assert [a.addr_spec for a in msg["To"].addresses] == ["casey@example.org"]  # never Reply-To
    assert msg["In-Reply-To"] == "<orig-1@example.org>"
    assert msg["References"].split() == ["<root-1@example.org>", "<orig-1@example.org>"]
    assert msg["Subject"] == "Re: Locked out"
    assert body_of(msg).strip() == ACK
    assert SECRET_LINE not in msg.as_string()  # nothing of the email is quoted


# ---- the folder mailbox -------------------------------------------------------------------


def test_the_folder_mailbox_writes_the_reply_to_outbox_threaded(tmp_path: Path) -> None:
    (tmp_path / "01.eml").write_bytes(ORIGINAL)
    box = FolderMailbox(tmp_path)
    replied = box.reply(reply_to("01.eml"))
    (written,) = (tmp_path / "Outbox").glob("*-reply.eml")
    assert_is_the_acknowledgement(parsed(written.read_bytes()))
    assert replied.reply_to == ("collect@elsewhere.example",)


def test_the_folder_mailbox_replies_to_an_email_already_in_done(tmp_path: Path) -> None:
    (tmp_path / "01.eml").write_bytes(ORIGINAL)
    box = FolderMailbox(tmp_path)
    box.move_to_done("01.eml")
    box.reply(reply_to("01.eml"))  # the id from before the move still finds it
    assert len(list((tmp_path / "Outbox").glob("*-reply.eml"))) == 1
    with pytest.raises(ItemGone):
        box.reply(reply_to("gone.eml"))


# ---- EWS -------------------------------------------------------------------------------------


@pytest.fixture
def ews_box(ews: FakeEws) -> Iterator[EwsMailbox]:
    settings = EwsSettings(
        address=ews.address, endpoint=ews.endpoint, auth="basic", username=ews.username,
        password=ews.password, max_retry_seconds=2,
    )  # fmt: skip
    with EwsMailbox(settings) as box:
        yield box


def test_ews_replies_in_the_conversation_with_the_whole_body(
    ews: FakeEws, ews_box: EwsMailbox
) -> None:
    item = ews.deliver(ORIGINAL)
    replied = ews_box.reply(reply_to(item))
    (sent,) = ews.sent()
    assert_is_the_acknowledgement(parsed(sent.mime))
    assert sent.to == ("casey@example.org",)
    (copy,) = ews.folder_items("sentitems")  # the shared mailbox's own Sent Items
    (original,) = ews.inbox_items()
    assert copy.conversation_id == original.conversation_id
    assert parsed(copy.mime)["From"].addresses[0].addr_spec == ews.address
    assert replied.reply_to == ("collect@elsewhere.example",)
    # A ReplyToItem, so Exchange threads it; not a new message made to look like a reply.
    request = ews.bodies[ews.operations.index("CreateItem")].decode()
    assert "<t:ReplyToItem>" in request and "NewBodyContent" not in request


def test_ews_message_reply_would_have_quoted_the_email(ews: FakeEws, ews_box: EwsMailbox) -> None:
    # Why the adapter gives a whole Body: exchangelib's own Message.reply sends
    # NewBodyContent, and Exchange (and the fake, like it) quotes the email under it.
    item = ews.deliver(ORIGINAL)
    account = ews_box._account()
    (message,) = account.fetch(ids=[(item, None)], folder=account.inbox)
    message.reply(subject="Re: Locked out", body=ACK, to_recipients=["casey@example.org"])
    (sent,) = ews.sent()
    assert ACK in (sent.text or "") and SECRET_LINE in (sent.text or "")


def test_ews_says_when_the_email_has_gone(ews: FakeEws, ews_box: EwsMailbox) -> None:
    item = ews.deliver(ORIGINAL)
    ews_box.move_to_done(item)  # a moved item gets a new id; the old one is gone
    with pytest.raises(ItemGone):
        ews_box.reply(reply_to(item))
    assert ews.sent() == []


def test_ews_down_while_replying_is_a_plain_failure(ews: FakeEws, ews_box: EwsMailbox) -> None:
    item = ews.deliver(ORIGINAL)
    ews.down = True
    with pytest.raises(MailboxError) as failed:
        ews_box.reply(reply_to(item))
    assert not isinstance(failed.value, SendUncertain)  # 503: Exchange did nothing
    assert ews.sent() == []


# ---- Graph -----------------------------------------------------------------------------------


@pytest.fixture
def graph_box(graph: FakeGraph) -> Iterator[GraphMailbox]:
    settings = graph.settings(timeout=10.0, max_retries=1)
    with GraphMailbox(settings, sleep=lambda _: None) as box:
        yield box


def test_graph_replies_in_the_conversation_with_its_whole_body_replaced(
    graph: FakeGraph, graph_box: GraphMailbox
) -> None:
    item = graph.deliver(ORIGINAL)
    replied = graph_box.reply(reply_to(item))
    (sent,) = graph.sent()
    assert_is_the_acknowledgement(sent.message)
    assert sent.to == ("casey@example.org",)
    (copy,) = graph.folder("Sent Items")
    (original,) = graph.inbox()
    assert copy.conversation_id == original.conversation_id
    assert graph.drafts() == []  # the draft became the sent reply
    assert replied.reply_to == ("collect@elsewhere.example",)
    calls = [(r.method, r.path.rsplit("/", 1)[-1]) for r in graph.requests]
    assert ("POST", "createReply") in calls and ("POST", "send") in calls


def test_graph_says_when_the_email_has_gone(graph: FakeGraph, graph_box: GraphMailbox) -> None:
    with pytest.raises(ItemGone):
        graph_box.reply(reply_to("AAMkNoSuchMessage"))
    assert graph.sent() == []


def test_graph_refusing_to_send_leaves_no_draft_quoting_the_email(
    graph: FakeGraph, graph_box: GraphMailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = graph.deliver(ORIGINAL)
    refused = graph_error(403, "ErrorSendAsDenied", "Not allowed to send as this mailbox.")
    monkeypatch.setattr(graph, "_send_draft", lambda draft_id: refused)
    with pytest.raises(MailboxError) as failed:
        graph_box.reply(reply_to(item))
    assert not isinstance(failed.value, SendUncertain)
    assert graph.sent() == [] and graph.drafts() == []


def test_a_connection_broken_mid_request_is_uncertain() -> None:
    def wrapped(inner: BaseException) -> MailboxError:
        try:
            try:
                raise inner
            except Exception as exc:
                raise MailboxError("Could not reach the mailbox.") from exc
        except MailboxError as outer:
            return outer

    assert broke_mid_request(wrapped(requests.exceptions.ReadTimeout("read timed out")))
    assert broke_mid_request(
        wrapped(requests.exceptions.ConnectionError(ConnectionResetError("reset by peer")))
    )
    assert not broke_mid_request(wrapped(requests.exceptions.ConnectTimeout("no answer")))
    assert not broke_mid_request(wrapped(ConnectionRefusedError("refused")))
    assert not broke_mid_request(MailboxError("HTTP 503"))
