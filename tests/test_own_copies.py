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
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.mail.adapters.folder import FolderMailbox
from bot.mail.mailbox import OutgoingEmail
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
