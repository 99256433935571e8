"""Keep email content out of the libraries' DEBUG logs.

With `log.level = "DEBUG"` every library logs at DEBUG too, and the Slack ones log whole
request and response bodies: each card's blocks (subject, sender, preview), each command's
answer, each Socket Mode payload. A filter on those loggers keeps the record (what was
called, the status) and cuts it where the body starts. (SQLAlchemy's bound values and rows
are kept out in storage/db.py, exchangelib's SOAP bodies by
``quiet_exchangelib`` below, which the EWS adapters call.)
"""

from __future__ import annotations

import logging
import re
import traceback

# Where the Slack libraries log bodies: slack_sdk's Web API client, and bolt (our app passes
# the "slack_bolt" logger, which its Socket Mode client and listener runner use as well).
GUARDED = (
    "slack_sdk.web.base_client",
    "slack_sdk.socket_mode.builtin.client",
    "slack_bolt",
    "slack_bolt.App",
    # The Agents SDK (Teams): a connector client logs its headers (the bot's token) at
    # DEBUG, and an activity that fails validation is logged with what it held.
    "microsoft_agents.hosting.core.connector.client.connector_client",
    "microsoft_agents.activity.activity",
)
# The first of these marks the start of a body in a record's text.
BODY_START = re.compile(
    r"\b(query_params|body_params|json_body|body|message|payload|headers|event|request)\s*[:=]"
    r"|Skipped self event|for the request \(|(?<=Validation error for Activity):"
)
WITHHELD = " (details withheld: they may hold email content)"


class WithholdBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a record that can't be formatted shows nothing rather than crash
            text = ""
        found = BODY_START.search(text)
        if found is not None:
            record.msg, record.args = text[: found.start()].rstrip(" ,(:") + WITHHELD, ()
            record.exc_info, record.exc_text = None, None  # its text may quote the body too
        return True


def guard_library_logs() -> None:
    """Install the filters once per process (safe to call again)."""
    for name in GUARDED:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithholdBodies) for f in logger.filters):
            logger.addFilter(WithholdBodies())


def trace_without_text(exc: BaseException) -> str:
    """Where ``exc`` was raised and its type (and its causes' types), without any exception's
    text: a database error's text can quote a whole row (PostgreSQL's "DETAIL: Failing row
    contains (...)", which hide_parameters does not cover), and rows hold email content."""
    kinds: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(kinds) < 5:
        kinds.append(f"{type(seen).__module__}.{type(seen).__qualname__}")
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{' from '.join(kinds)}{WITHHELD}"


# Where exchangelib logs whole SOAP requests and answers (email bodies, automatic replies).
EXCHANGELIB = (
    "exchangelib.util",
    "exchangelib.util.xml",
    "exchangelib.services.get_streaming_events.xml",
)


class _NoSoapInLogs(logging.Filter):
    """exchangelib logs whole SOAP requests and answers at DEBUG (email bodies, someone's
    automatic reply) and request headers (the Basic password). Drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.endswith(".xml"):
            return False
        try:
            said = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not worth a crash
            return False
        return not ("XML" in said or "<?xml" in said or "headers" in said)


def quiet_exchangelib() -> None:
    """Keep SOAP bodies out of the logs; safe to call more than once."""
    for name in EXCHANGELIB:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoSoapInLogs) for f in logger.filters):
            logger.addFilter(_NoSoapInLogs())
