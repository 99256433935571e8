"""Mailbox.remove_own_copies on every adapter: the folder mailbox's Outbox/, EWS through real
exchangelib against the fake Exchange, Graph through real msal and HTTPS against the fake
Graph. Once older than the cutoff, the handover and acknowledgement copies in Sent Items and
the handover copies that came back into the inbox go (soft-deleted on Exchange); younger ones
stay, and so does every email that came in, including one whose subject is the handover's,
one with a forged mark, and an acknowledgement's own headers sent back by its recipient."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.mail.adapters.ews import EwsMailbox
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.adapters.graph import GraphMailbox
from bot.mail.mailbox import MailboxError, OutgoingEmail, SendUncertain
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.test_ews_mailbox import settings_for
from tests.test_mailbox_reply import ORIGINAL, reply_to

DAY = timedelta(days=1)
OLD = OutgoingEmail("Duty handover for Mon 23 Nov", "#1 Rent arrears: with Sam")
YOUNG = OutgoingEmail("Duty handover for Tue 24 Nov", "#2 Welfare check: with Alex")
# Incoming mail the purge must never touch. Their Message-IDs have the shape the bot's own
# have, so only the keyed mark tells them apart.
LOOKALIKE = (
    b"Message-ID: <178000000000.4242.1111111111111111111@partner.example>\r\n"
    b"From: Partner Agency <duty@partner.example>\r\n"
    b"To: duty@council.example\r\n"
    b"Subject: Duty handover for Mon 23 Nov\r\n"
    b"\r\n"
    b"Our own handover, copied to you.\r\n"
)
FORGED = (
    b"Message-ID: <178000000000.4242.2222222222222222222@elsewhere.example>\r\n"
    b"From: Someone <someone@elsewhere.example>\r\n"
    b"To: duty@council.example\r\n"
    b"Subject: Please hide me\r\n"
    b"X-Dutybot-Handover: 0123456789abcdef0123456789abcdef\r\n"
    b"\r\n"
    b"A forged mark.\r\n"
)


def person_sent(message_id: str, sender: str = "duty@council.example") -> bytes:
    """Mail a person sent from the shared mailbox, as its Sent Items keeps it."""
    return (
        f"Message-ID: {message_id}\r\n"
        f"From: {sender}\r\n"
        "To: school@example.org\r\n"
        "Subject: Minutes of the team meeting\r\n"
        "\r\n"
        "Sent by a person from the shared mailbox.\r\n"
    ).encode()


PERSON_SENT = person_sent("<178000000000.4242.3333333333333333333@council.example>")


def said(mimes: Iterable[bytes]) -> list[str]:
    """Each message as "sender: subject", sorted."""
    out = []
    for mime in mimes:
        msg = email.message_from_bytes(mime, policy=email.policy.default)
        out.append(f"{msg['From'].addresses[0].addr_spec}: {msg['Subject']}")
    return sorted(out)


def cutoff() -> datetime:
    return datetime.now(UTC) - 30 * DAY


# ---- the folder mailbox -------------------------------------------------------------------


def test_the_folder_mailbox_removes_its_aged_outbox_copies_and_never_the_inbox(
    tmp_path: Path,
) -> None:
    for name, mime in (("01.eml", ORIGINAL), ("02.eml", LOOKALIKE), ("03.eml", FORGED)):
        (tmp_path / name).write_bytes(mime)
    box = FolderMailbox(tmp_path)
    box.send(OLD)
    box.reply(reply_to("01.eml"))
    (tmp_path / "Outbox" / "notes.eml").write_bytes(PERSON_SENT)  # not a name the bot gives
    time.sleep(0.01)
    before = datetime.now(UTC)
    time.sleep(0.01)
    box.send(YOUNG)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))

    assert box.remove_own_copies(before, dry_run=True) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == files
    assert box.remove_own_copies(before) == 2
    assert sorted(p.name for p in tmp_path.glob("*.eml")) == ["01.eml", "02.eml", "03.eml"]
    assert said(p.read_bytes() for p in (tmp_path / "Outbox").iterdir()) == [
        "CareExperiencedDuty@localhost: Duty handover for Tue 24 Nov",
        "duty@council.example: Minutes of the team meeting",
    ]
    assert box.remove_own_copies(before) == 0


def test_the_folder_mailbox_without_an_outbox_has_nothing_to_remove(tmp_path: Path) -> None:
    assert FolderMailbox(tmp_path).remove_own_copies(datetime.now(UTC)) == 0


# ---- EWS --------------------------------------------------------------------------------------


@pytest.fixture
def ews_box(ews: FakeEws) -> Iterator[EwsMailbox]:
    with EwsMailbox(settings_for(ews)) as box:
        yield box


def in_ews(ews: FakeEws, folder: str) -> list[str]:
    return said(item.mime for item in ews.folder_items(folder))


# Exchange may or may not keep a mark that came as a header as a property too: either way.
PROMOTED = pytest.mark.parametrize("promoted", [False, True], ids=["headers", "properties"])


@PROMOTED
def test_ews_soft_deletes_only_its_own_aged_copies(
    ews: FakeEws, ews_box: EwsMailbox, promoted: bool
) -> None:
    ews.promote_headers = promoted
    ews_box.send(OLD)  # a copy in Sent Items, and one back in the inbox
    ews_box.reply(reply_to(ews.deliver(ORIGINAL)))  # a copy in Sent Items
    (ack,) = [m for m in ews.sent() if m.subject == "Re: Locked out"]
    for mime in (LOOKALIKE, FORGED, ack.mime):  # the acknowledgement's recipient sends it back
        ews.deliver(mime)
    ews.deliver(PERSON_SENT, folder="sentitems")
    ews.age(31 * DAY)
    ews_box.send(YOUNG)
    sent, inbox = in_ews(ews, "sentitems"), in_ews(ews, "inbox")

    assert ews_box.remove_own_copies(cutoff(), dry_run=True) == 3
    assert (in_ews(ews, "sentitems"), in_ews(ews, "inbox")) == (sent, inbox)
    assert ews.deleted() == [] and ews.count("DeleteItem") == 0

    assert ews_box.remove_own_copies(cutoff()) == 3
    assert sorted((d.delete_type, d.folder) for d in ews.deleted()) == [
        ("SoftDelete", "inbox"),
        ("SoftDelete", "sentitems"),
        ("SoftDelete", "sentitems"),
    ]
    assert said(d.mime for d in ews.deleted()) == [
        "duty@council.example: Duty handover for Mon 23 Nov",
        "duty@council.example: Duty handover for Mon 23 Nov",
        "duty@council.example: Re: Locked out",
    ]
    assert in_ews(ews, "sentitems") == [
        "duty@council.example: Duty handover for Tue 24 Nov",
        "duty@council.example: Minutes of the team meeting",
    ]
    assert in_ews(ews, "inbox") == [
        "casey@example.org: Locked out",
        "duty@council.example: Duty handover for Tue 24 Nov",
        "duty@council.example: Re: Locked out",  # sent back from outside: only moved, ever
        "duty@partner.example: Duty handover for Mon 23 Nov",
        "someone@elsewhere.example: Please hide me",
    ]
    assert ews_box.remove_own_copies(cutoff()) == 0
    # Intake skips only the handover: the acknowledgement's mark hides nothing from it.
    taken = said(m.mime for m in ews_box.poll(None).messages)
    assert taken == [s for s in in_ews(ews, "inbox") if "Tue 24 Nov" not in s]


def test_ews_acknowledgement_goes_through_a_draft_that_is_never_left_behind(
    ews: FakeEws, ews_box: EwsMailbox
) -> None:
    ews_box.reply(reply_to(ews.deliver(ORIGINAL)))
    # saved as a draft, its Message-ID read, marked, then sent
    done = [op for op in ews.operations if op != "GetFolder"]
    assert done[-4:] == ["CreateItem", "GetItem", "UpdateItem", "SendItem"]
    assert ews.folder_items("drafts") == []
    ews.refuse_send_as = True
    with pytest.raises(MailboxError) as refused:
        ews_box.reply(reply_to(ews.deliver(ORIGINAL)))
    assert not isinstance(refused.value, SendUncertain)
    assert "Send As" in str(refused.value)
    assert ews.folder_items("drafts") == []  # the unsent draft names the sender: gone
    assert len(ews.sent()) == 1


def test_ews_down_is_one_plain_sentence(ews: FakeEws, ews_box: EwsMailbox) -> None:
    ews.down = True
    with pytest.raises(MailboxError) as down:
        ews_box.remove_own_copies(cutoff())
    assert "Exchange at 127.0.0.1" in str(down.value)


# ---- Graph --------------------------------------------------------------------------------


@pytest.fixture
def graph_box(graph: FakeGraph) -> Iterator[GraphMailbox]:
    settings = graph.settings(timeout=10.0, max_retries=1)
    with GraphMailbox(settings, sleep=lambda _: None) as box:
        yield box


def in_graph(graph: FakeGraph, folder: str) -> list[str]:
    return said(m.mime for m in graph.folder(folder))


@PROMOTED
def test_graph_deletes_only_its_own_aged_copies(
    graph: FakeGraph, graph_box: GraphMailbox, promoted: bool
) -> None:
    graph.promote_headers = promoted
    duty = graph.address
    person = person_sent("<178000000000.4242.3333333333333333333@council.example>", duty)
    graph_box.send(OLD)
    graph_box.reply(reply_to(graph.deliver(ORIGINAL)))
    (ack,) = [m for m in graph.sent() if m.message["Subject"] == "Re: Locked out"]
    for mime in (LOOKALIKE, FORGED, ack.message.as_bytes()):
        graph.deliver(mime)
    graph.deliver(person, folder="sentitems")
    graph.age(31 * DAY)
    graph_box.send(YOUNG)
    sent, inbox = in_graph(graph, "Sent Items"), in_graph(graph, "Inbox")

    assert graph_box.remove_own_copies(cutoff(), dry_run=True) == 3
    assert (in_graph(graph, "Sent Items"), in_graph(graph, "Inbox")) == (sent, inbox)
    assert graph.deleted() == []

    assert graph_box.remove_own_copies(cutoff()) == 3
    assert sorted(folder for folder, _ in graph.deleted()) == ["Inbox", "Sent Items", "Sent Items"]
    assert said(mime for _, mime in graph.deleted()) == [
        f"{duty}: Duty handover for Mon 23 Nov",
        f"{duty}: Duty handover for Mon 23 Nov",
        f"{duty}: Re: Locked out",
    ]
    assert in_graph(graph, "Sent Items") == [
        f"{duty}: Duty handover for Tue 24 Nov",
        f"{duty}: Minutes of the team meeting",
    ]
    assert in_graph(graph, "Inbox") == sorted([
        "casey@example.org: Locked out",
        f"{duty}: Duty handover for Tue 24 Nov",
        f"{duty}: Re: Locked out",  # sent back from outside: only moved, ever
        "duty@partner.example: Duty handover for Mon 23 Nov",
        "someone@elsewhere.example: Please hide me",
    ])  # fmt: skip
    assert graph_box.remove_own_copies(cutoff()) == 0
    taken = said(m.mime for m in graph_box.poll(None).messages)
    assert taken == [s for s in in_graph(graph, "Inbox") if "Tue 24 Nov" not in s]


def test_graph_pages_through_a_full_sent_items(graph: FakeGraph, graph_box: GraphMailbox) -> None:
    for n in range(230):  # more than two pages of mail people sent, as Outlook numbers it
        outlook_id = f"<AM0PR01MB{n:04d}4F2A@AM0PR01MB.eurprd01.prod.outlook.com>"
        graph.deliver(person_sent(outlook_id, graph.address), folder="sentitems")
    graph_box.send(OLD)
    graph.age(31 * DAY)
    assert graph_box.remove_own_copies(cutoff()) == 2
    listed = [r for r in graph.requests if r.path.endswith("/sentitems/messages")]
    assert len(listed) == 3
    assert len(graph.folder("Sent Items")) == 230
    # Only what may be the bot's was downloaded: the mail people sent was not read.
    assert sum(r.path.endswith("/$value") for r in graph.requests) == 2


def test_graph_down_is_one_plain_sentence(graph: FakeGraph, graph_box: GraphMailbox) -> None:
    graph.fail_next(5, status=503)
    with pytest.raises(MailboxError) as down:
        graph_box.remove_own_copies(cutoff())
    assert "unavailable (HTTP 503)" in str(down.value)
