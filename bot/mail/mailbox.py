"""The Mailbox port: what the bot needs from any duty inbox (folder, EWS, Graph)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Protocol


@dataclass(frozen=True)
class RawMessage:
    """One message as the mailbox holds it, before intake parses it."""

    item_id: str  # the mailbox's own id for the item (file name, EWS item id, Graph id)
    mime: bytes  # the full RFC 5322 message
    conversation_id: str | None = None  # Exchange conversation id, used for threading
    web_link: str | None = None  # "Open in Outlook" link, when the mailbox has one
    received_at: datetime | None = None  # when the mailbox got it; else the Date header is used
    # When it reached the mailbox, by the mailbox's own clock (Exchange's time received, a
    # file's modification time): tells the mail that was there before the bot's first start.
    arrived_at: datetime | None = None


@dataclass(frozen=True)
class Batch:
    """New messages and the checkpoint that covers them.

    The caller stores every message first and only then saves ``checkpoint``,
    so a crash in between re-delivers (intake dedupes) rather than loses.
    """

    messages: Sequence[RawMessage]
    checkpoint: str | None = None
    more: bool = False  # True when another poll would return more right away


@dataclass(frozen=True)
class OutgoingEmail:
    subject: str
    text: str
    html: str | None = None
    to: Sequence[str] = field(default_factory=tuple)  # empty means the duty inbox itself


@dataclass(frozen=True)
class ReplyEmail:
    """A reply from the duty mailbox to one email in it, in that email's own conversation."""

    item_id: str  # the mailbox's id of the email answered
    to: str  # the one recipient: the sender in the email's From, never its Reply-To
    subject: str
    text: str  # the whole body: nothing of the original is quoted under it


@dataclass(frozen=True)
class Replied:
    reply_to: tuple[str, ...] = ()  # where the email asked replies to go (its Reply-To)


class MailboxError(Exception):
    """The mailbox cannot be reached or refused us; the message is one plain sentence."""


class CheckpointExpired(MailboxError):
    """The saved checkpoint (sync state, delta link) is no longer valid: resync from scratch."""


class SendUncertain(MailboxError):
    """The connection broke while the mailbox was sending: the email may or may not have
    gone. Sending again could send it twice."""


class ItemGone(MailboxError):
    """The message is no longer where its id said (a person moved or deleted it in Outlook,
    or an earlier move went through before a crash). Retrying will not help."""


# The handover the bot sends to the duty inbox comes back into that inbox: it is for people
# to read, not a new task. The bot marks its own mail with a keyed hash of the Message-ID, so
# a sender cannot hide a real email from the bot by copying the header.
OWN_MAIL_HEADER = "X-Dutybot-Handover"


def own_mail_mark(key: str, message_id: str) -> str:
    digest = hmac.new(key.encode(), b"dutybot-own-mail\n" + message_id.encode(), "sha256")
    return digest.hexdigest()[:32]


def is_own_mail(mime: bytes, key: str | None) -> bool:
    """True if ``mime`` is mail this bot sent, marked with ``own_mail_mark``."""
    if not key:
        return False
    head = BytesHeaderParser(policy=compat32).parsebytes(mime)
    mark, message_id = head.get(OWN_MAIL_HEADER), head.get("Message-ID")
    if not mark or not message_id:
        return False
    return hmac.compare_digest(str(mark).strip(), own_mail_mark(key, str(message_id).strip()))


# An acknowledgement goes to someone outside the team, who then holds a valid mark. So its mark
# is of another kind: intake never honours it, and the purge honours it only in Sent Items,
# where only the mailbox's own users put mail. The same headers sent back to the inbox hide
# nothing from intake and are never deleted.
def own_reply_mark(key: str, message_id: str) -> str:
    digest = hmac.new(key.encode(), b"dutybot-own-reply\n" + message_id.encode(), "sha256")
    return digest.hexdigest()[:32]


def is_own_copy(mark: str | None, message_id: str | None, key: str | None, *, sent: bool) -> bool:
    """True if a message with this ``OWN_MAIL_HEADER`` value and Message-ID is the bot's own copy,
    which the retention purge may delete: the handover anywhere, an acknowledgement only in
    Sent Items (``sent``). Anything without a valid mark is never the bot's."""
    if not key or not mark or not message_id:
        return False
    mark, message_id = mark.strip(), message_id.strip()
    if hmac.compare_digest(mark, own_mail_mark(key, message_id)):
        return True
    return sent and hmac.compare_digest(mark, own_reply_mark(key, message_id))


def own_copy_headers(mime: bytes) -> tuple[str | None, str | None]:
    """The mark and the Message-ID in ``mime``'s headers (the body is not parsed)."""
    head = BytesHeaderParser(policy=compat32).parsebytes(mime)
    mark, message_id = head.get(OWN_MAIL_HEADER), head.get("Message-ID")
    return (str(mark) if mark else None), (str(message_id) if message_id else None)


# Every Message-ID the bot makes comes from email.utils.make_msgid: "<digits.digits.digits@...>"
# (the Graph adapter adds ".dutybot"). Exchange and mail clients make other shapes. A first,
# cheap sift over a folder before any message is downloaded; never enough on its own.
_MADE_BY_THE_BOT = re.compile(r"<\d+\.\d+\.\d+(?:\.dutybot)?@[^<>@\s]+>")


def may_be_own(message_id: str | None) -> bool:
    return bool(message_id) and _MADE_BY_THE_BOT.fullmatch(str(message_id).strip()) is not None


class Mailbox(Protocol):
    """A duty inbox. Implementations: folder, ews, graph."""

    def poll(self, checkpoint: str | None, since: datetime | None = None) -> Batch:
        """Return messages not yet covered by ``checkpoint``, each with its ``arrived_at``.
        Mail that arrived before ``since`` is left out without being downloaded."""
        ...

    def move_to_done(self, item_id: str) -> str:
        """Move a finished message to the Done folder; never delete. Returns its new id."""
        ...

    def send(self, email: OutgoingEmail) -> None:
        """Send an email (the handover) to the duty inbox and keep a copy."""
        ...

    def reply(self, reply: ReplyEmail) -> Replied:
        """Reply to the email ``reply.item_id`` in its conversation, to ``reply.to`` only, with
        ``reply.text`` as the whole body, keeping a copy in Sent Items marked as the bot's own
        (see own_reply_mark), so the retention purge can remove it. Says where the email
        asked replies to go. Raises ItemGone if the email is no longer there, SendUncertain if
        it can't tell whether the reply went, MailboxError if it surely did not."""
        ...

    def remove_own_copies(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete the bot's own copies sent before ``before`` (with ``dry_run``, only count them):
        the handover and acknowledgement copies in Sent Items, and the handover copies that came
        back into the Inbox; nowhere else. Only mail carrying the bot's keyed mark is its own;
        anything else is never touched. Returns how many. Raises MailboxError."""
        ...

    def check(self) -> list[tuple[bool, str]]:
        """For `dutybot check --mailbox`: (works?, one plain sentence) for the inbox, the Done
        folder and sending. Reads only; never raises for mailbox trouble."""
        ...

    def close(self) -> None: ...


Checked = tuple[bool, str]  # one line of `dutybot check --mailbox`: fine or not, and why


def run_checks(
    inbox: Callable[[], Checked],
    done: Callable[[], Checked],
    send: Callable[[], Checked],
    done_folder: str,
) -> list[Checked]:
    """The inbox first: if it can't be opened the others would fail the same way, each after
    its own wait, so they are said to be unchecked instead. A MailboxError is a failed line."""
    first = _checked(inbox)
    if not first[0]:
        why = "since the inbox could not be opened"
        return [
            first,
            (False, f"Done folder {done_folder} was not checked, {why}."),
            (False, f"Sending was not checked, {why}."),
        ]
    return [first, _checked(done), _checked(send)]


def _checked(run: Callable[[], Checked]) -> Checked:
    try:
        return run()
    except MailboxError as exc:
        return False, str(exc)
