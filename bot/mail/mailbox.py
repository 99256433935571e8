"""The Mailbox port: what the bot needs from any duty inbox (folder, EWS, Graph)."""

from __future__ import annotations

import hmac
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


class Mailbox(Protocol):
    """A duty inbox. Implementations: folder, ews, graph."""

    def poll(self, checkpoint: str | None) -> Batch:
        """Return messages not yet covered by ``checkpoint``."""
        ...

    def move_to_done(self, item_id: str) -> str:
        """Move a finished message to the Done folder; never delete. Returns its new id."""
        ...

    def send(self, email: OutgoingEmail) -> None:
        """Send an email (the handover) to the duty inbox and keep a copy."""
        ...

    def reply(self, reply: ReplyEmail) -> Replied:
        """Reply to the email ``reply.item_id`` in its conversation, to ``reply.to`` only, with
        ``reply.text`` as the whole body, keeping a copy in Sent Items. Says where the email
        asked replies to go. Raises ItemGone if the email is no longer there, SendUncertain if
        it can't tell whether the reply went, MailboxError if it surely did not."""
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
