"""Build test emails as raw RFC 5322 bytes."""

from __future__ import annotations

from email.message import EmailMessage

from bot.mailbox.base import RawMessage


def make_email(
    subject: str = "Rent arrears",
    body: str = "Hello, I need help with my rent.",
    *,
    message_id: str | None = "<m1@example.org>",
    in_reply_to: str | None = None,
    references: str | None = None,
    sender: str = "Casey Example <casey@example.org>",
    html: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "CareExperiencedDuty@council.example.gov.uk"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 09:30:00 +0000"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if html is not None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    return bytes(msg)


def raw(item_id: str, mime: bytes, conversation_id: str | None = None) -> RawMessage:
    return RawMessage(item_id=item_id, mime=mime, conversation_id=conversation_id)
