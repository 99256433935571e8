"""Email addresses the bot must not reply to: nobody reads them, or a reply would bounce
between robots (RFC 3834)."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Final

# The part before the @ (and before any +tag) of an address nobody reads: noreply@,
# no-reply@, donotreply@, do_not_reply@, mailer-daemon@, postmaster@, bounce(s)@, with or
# without a suffix (noreply-12345@, bounces-abc@).
_NOBODY: Final = re.compile(
    r"(?:no|do[-_.]?not)[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?|devnull|"
    r"no[-_.]?response|auto[-_.]?reply"
)
_ADDRESS: Final = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+")


def address_of(sender: str) -> str:
    """The address in "Name <a@b>" (or the address alone); "" if there is none."""
    return parseaddr(sender)[1].strip()


def no_reply_reason(address: str) -> str | None:
    """Why nobody should be sent a reply at ``address`` (a short phrase), or None if fine."""
    if not address:
        return "has no sender address"
    if not _ADDRESS.fullmatch(address):
        return "has a sender address I can't read"
    local = address.rpartition("@")[0].lower().split("+", 1)[0]
    if re.fullmatch(rf"(?:{_NOBODY.pattern})(?:[-_.].*)?", local):
        return f"came from {address}, which doesn't take replies"
    return None
