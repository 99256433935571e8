"""Build test emails as raw RFC 5322 bytes."""

from __future__ import annotations

from email.message import EmailMessage

from bot.mail.mailbox import RawMessage

TO = "CareExperiencedDuty@council.example.gov.uk"
DATE = "Mon, 23 Nov 2026 09:30:00 +0000"


def email_message(
    subject: str,
    body: str,
    *,
    sender: str | None,
    message_id: str | None,
    date: str | None = DATE,
    in_reply_to: str | None = None,
    references: str | None = None,
    subtype: str = "plain",
) -> EmailMessage:
    """An email to the duty inbox; a header that is None or empty is left out."""
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    msg["To"] = TO
    msg["Subject"] = subject
    if date:
        msg["Date"] = date
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg.set_content(body, subtype=subtype)
    return msg


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
    msg = email_message(
        subject,
        body if html is None else html,
        sender=sender,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subtype="plain" if html is None else "html",
    )
    return bytes(msg)


def raw(item_id: str, mime: bytes, conversation_id: str | None = None) -> RawMessage:
    return RawMessage(item_id=item_id, mime=mime, conversation_id=conversation_id)
