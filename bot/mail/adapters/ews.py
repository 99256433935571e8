"""The Mailbox port over Exchange Web Services (exchangelib): on-prem Exchange, or Exchange
Online while a tenant still allows EWS (Microsoft blocks it by default from 1 Oct 2026 and
for good from 1 Apr 2027; use the Graph adapter there).

Import this module lazily: it pulls in exchangelib, which the rest of bot/ must not need.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Body,
    Build,
    Configuration,
    Credentials,
    EWSDateTime,
    ExtendedProperty,
    FaultTolerance,
    Identity,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib import (
    UTC as EWS_UTC,
)
from exchangelib.errors import (
    CASError,
    ErrorAccessDenied,
    ErrorConnectionFailed,
    ErrorCorruptData,
    ErrorFolderExists,
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorInternalServerError,
    ErrorInternalServerTransientError,
    ErrorInvalidSubscription,
    ErrorInvalidSyncStateData,
    ErrorItemCorrupt,
    ErrorItemNotFound,
    ErrorMailboxMoveInProgress,
    ErrorMailboxStoreUnavailable,
    ErrorMimeContentConversionFailed,
    ErrorNonExistentMailbox,
    ErrorSendAsDenied,
    ErrorServerBusy,
    ErrorSubscriptionNotFound,
    ErrorTimeoutExpired,
    ErrorToFolderNotFound,
    ErrorTooManyObjectsOpened,
    EWSError,
    RateLimitError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.folders import Folder
from exchangelib.items import SOFT_DELETE, ReplyToItem
from exchangelib.properties import CreatedEvent, ItemId, NewMailEvent, ReferenceItemId
from exchangelib.properties import Mailbox as EwsAddress
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter, Protocol
from exchangelib.services import (
    CreateFolder,
    GetStreamingEvents,
    SyncFolderItems,
)
from exchangelib.transport import BASIC, NTLM, OAUTH2
from exchangelib.version import VERSIONS
from oauthlib.oauth2 import OAuth2Error

from bot.mail.adapters.sending import broke_mid_request, chain
from bot.mail.mailbox import (
    OWN_MAIL_HEADER,
    Batch,
    CheckpointExpired,
    ItemGone,
    MailboxError,
    OutgoingEmail,
    RawMessage,
    Replied,
    ReplyEmail,
    SendUncertain,
    is_own_copy,
    is_own_mail,
    may_be_own,
    own_copy_headers,
    own_mail_mark,
    own_reply_mark,
    run_checks,
)
from bot.ops.logsafe import quiet_exchangelib

log = logging.getLogger(__name__)

# What GetItem fetches for each new message. SyncFolderItems cannot return MIME content
# (like FindItem, it leaves out streamable properties), so the sync only collects ids.
_MESSAGE_FIELDS = ("mime_content", "conversation_id", "web_client_read_form_query_string")
_FETCH_CHUNK = 10  # MIME can be large: keep each GetItem response modest
_STREAM_MINUTES = 29  # Exchange allows 1-30 minutes per GetStreamingEvents connection
_RECONNECT_FIRST = 0.5  # seconds before reconnecting a dropped stream; doubles up to poll_interval
_HEALTHY_STREAM_SECONDS = 60.0  # a stream that lasted this long was fine: reset the back-off
_DONE_FOLDER_TTL = 300.0  # seconds to trust the cached Done folder before looking it up again
_CHECK_MAX_WAIT = 5  # seconds `dutybot check` lets a request retry: an admin is waiting
# Items Exchange cannot turn into MIME: skipped (and logged), or they would block every poll.
_UNREADABLE = (ErrorMimeContentConversionFailed, ErrorItemCorrupt, ErrorCorruptData)
_NO_DONE_FOLDER = (ErrorFolderNotFound, ErrorToFolderNotFound)
_NEW_MAIL_EVENTS = (NewMailEvent, CreatedEvent)
# EWS error codes that mean "Exchange is unwell", not "the request was wrong".
_OUTAGE = (
    ErrorInternalServerTransientError,
    ErrorInternalServerError,
    ErrorMailboxStoreUnavailable,
    ErrorMailboxMoveInProgress,
    ErrorConnectionFailed,
)
_LIST_PAGE = 200  # items per FindItem page when looking for the bot's own copies
_DELETE_CHUNK = 50


class _OwnMark(ExtendedProperty):
    """The own-mail header as Exchange keeps it on an item: a named property in the Internet
    headers set (PS_INTERNET_HEADERS), which Exchange writes out as that header when the item
    goes as MIME. Set on acknowledgements, which EWS can only reply to as items, not as MIME."""

    distinguished_property_set_id = "InternetHeaders"
    property_name = OWN_MAIL_HEADER
    property_type = "String"


_MARK = "dutybot_own_mark"
with suppress(ValueError):  # registered once per process; a re-import finds it there
    Message.register(_MARK, _OwnMark)


@dataclass(frozen=True)
class EwsSettings:
    address: str  # shared mailbox SMTP address
    endpoint: str  # explicit service endpoint, e.g. https://mail.council.example/EWS/Exchange.asmx
    auth: Literal["oauth", "ntlm", "basic"]
    username: str | None = None  # ntlm/basic
    password: str | None = None  # from env, never logged
    client_id: str | None = None  # oauth client credentials (Exchange Online), with impersonation
    client_secret: str | None = None
    tenant_id: str | None = None
    autodiscover: bool = False  # off by default
    server_version: str | None = None  # optional pinned build, e.g. "Exchange2016"
    max_connections: int = 2  # at least 2: a streaming subscription holds one open
    max_retry_seconds: int = 60  # bounded FaultTolerance
    done_folder: str = "Duty/Done"  # created if missing, path under msgfolderroot
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if "@" not in self.address:
            raise ValueError(f"The EWS mailbox address {self.address!r} is not an email address.")
        if not self.endpoint and not self.autodiscover:
            raise ValueError("Set the EWS endpoint, or turn autodiscover on.")
        if self.auth in ("ntlm", "basic") and not (self.username and self.password):
            raise ValueError(f"EWS {self.auth} sign-in needs a username and a password.")
        if self.auth == "oauth" and not (self.client_id and self.client_secret and self.tenant_id):
            raise ValueError(
                "EWS OAuth sign-in needs a client id, a client secret and a tenant id."
            )
        if not [p for p in self.done_folder.split("/") if p.strip()]:
            raise ValueError("The Done folder path is empty.")
        if self.server_version and _pinned_version(self.server_version) is None:
            raise ValueError(f"Unknown Exchange version {self.server_version!r}.")

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"EwsSettings(address={self.address!r}, endpoint={self.endpoint!r}, auth={self.auth!r})"
        )


class _FaultToleranceFailFastOnLogin(FaultTolerance):
    """exchangelib's FaultTolerance takes HTTP 401 for throttling and retries it until max_wait,
    so a wrong password would spin for a minute. Treat 401 as a failed login instead."""

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise UnauthorizedError("HTTP 401 from the EWS endpoint")
        if response.status_code == 403:
            raise _EwsForbidden("HTTP 403 from the EWS endpoint")
        if response.status_code in (502, 503, 504) and "Retry-After" not in response.headers:
            # Retried like any transient error, but told apart from throttling in the end.
            raise _ServerUnavailable(f"HTTP {response.status_code} from the EWS endpoint")
        super().raise_response_errors(response)


class _ServerUnavailable(ErrorInternalServerTransientError):
    """The EWS endpoint answered 502/503/504: Exchange (or IIS in front of it) is down."""


class _EwsForbidden(EWSError):
    """HTTP 403: EWS is switched off for the mailbox or organisation (as Exchange Online does
    from Oct 2026), or an app lacks full_access_as_app. exchangelib would call it malformed."""


class _WholeChunkResponse(requests.Response):
    """exchangelib parses each answer from ``response.iter_content()``, whose default is one
    byte at a time: about 12 ms for an email's MIME, a minute for a full inbox's first
    sync. An answer already in memory is handed over in large pieces instead. A stream being
    read (streaming notifications, whose parser wants single bytes) is still handed over a
    byte at a time, but from each chunk as it arrives rather than one socket read per byte:
    a keep-alive then costs about 0.5 ms of CPU, not 1.7 ms (50 mailboxes' keep-alives were
    most of an idle bot's CPU)."""

    def iter_content(self, chunk_size: int | None = 1, decode_unicode: bool = False) -> Any:
        if chunk_size != 1:
            return super().iter_content(chunk_size, decode_unicode)
        if isinstance(self._content, bytes):
            return super().iter_content(1 << 16, decode_unicode)
        return _bytes_of(super().iter_content(None, decode_unicode))


_ONE_BYTE = [bytes([b]) for b in range(256)]  # each byte value as a bytes object


def _bytes_of(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield from map(_ONE_BYTE.__getitem__, chunk)


class _WholeReads(requests.adapters.HTTPAdapter):
    def build_response(self, req: Any, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = _WholeChunkResponse
        return response


class _NoVerifyWholeReads(_WholeReads, NoVerifyHTTPAdapter):
    """The same, without checking the server's certificate (verify_tls = false)."""


def _pinned_version(name: str) -> Version | None:
    """'Exchange2016' (an EWS API version) or 'Exchange2019' (a product) -> a Version."""
    wanted = name.strip().lower()
    for build, api_version, full_name in reversed(VERSIONS):  # oldest build first
        product = "exchange" + full_name.rsplit("Server ", 1)[-1].replace(" ", "").lower()
        if wanted in (api_version.lower(), product):
            copy = Build(
                build.major_version, build.minor_version, build.major_build, build.minor_build
            )
            return Version(build=copy, api_version=api_version)
    return None


class EwsMailbox:
    """The duty inbox on Exchange, through EWS. Thread-safe enough for one ``watch()`` thread
    plus calls from the scheduler; exchangelib pools up to ``max_connections`` connections."""

    def __init__(self, settings: EwsSettings, *, page_size: int = 50) -> None:
        self.settings = settings
        self.page_size = page_size
        # While streaming is unavailable, watch() polls and tries streaming again after this.
        self.streaming_retry_seconds = 300.0
        self._host = urlsplit(settings.endpoint).hostname or settings.endpoint or "autodiscover"
        self._lock = threading.RLock()
        self._account_obj: Account | None = None
        self._done: tuple[Folder, float] | None = None  # the folder, and when it was looked up
        quiet_exchangelib()
        # exchangelib's documented switch for the HTTP adapter; it is process-wide.
        if not settings.verify_tls:
            log.warning(
                "TLS certificate checks for EWS are OFF (verify_tls=false); use a CA bundle"
            )
            BaseProtocol.HTTP_ADAPTER_CLS = _NoVerifyWholeReads
        elif BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter:
            BaseProtocol.HTTP_ADAPTER_CLS = _WholeReads

    # -- the Mailbox port ------------------------------------------------------------------

    def poll(self, checkpoint: str | None, since: datetime | None = None) -> Batch:
        """One SyncFolderItems page of the inbox. Only creates count as new mail: updates
        (read flags, categories) and deletes are skipped, and so is mail received before
        ``since`` (it is never downloaded)."""
        with self._errors("read the inbox"):
            account = self._account()
            inbox = account.inbox
            # The service, not Folder.sync_items(): that loops to the end of the folder before
            # giving back a sync state, so a first sync of a full inbox would be one huge batch.
            svc = SyncFolderItems(account=account)
            changes = list(
                svc.call(
                    folder=inbox,
                    shape="IdOnly",
                    additional_fields=set(inbox.normalize_fields(fields=["datetime_received"])),
                    sync_state=checkpoint,
                    ignore=None,
                    max_changes_returned=self.page_size,
                    sync_scope="NormalItems",
                )
            )
            arrived = {
                item.id: _utc(item.datetime_received)
                for kind, item in changes
                if kind == SyncFolderItems.CREATE
            }
            new_ids = [
                i for i, when in arrived.items() if since is None or when is None or when >= since
            ]
            messages = self._fetch(account, inbox, new_ids, arrived)
            state = svc.sync_state
            more = not svc.includes_last_item_in_range and state != checkpoint
        log.info("EWS sync: %d change(s), %d new message(s)", len(changes), len(messages))
        return Batch(messages=messages, checkpoint=state, more=more)

    def move_to_done(self, item_id: str) -> str:
        """Move a message to the Done folder (created if missing); returns its new id."""
        with self._errors("move the email to the Done folder"):
            account = self._account()
            ids = [ItemId(id=item_id)]
            try:
                new_id, _changekey = _single(account.bulk_move(ids, self._done_folder()))
            except _NO_DONE_FOLDER:
                with self._lock:
                    self._done = None  # someone deleted or renamed it: find or make it again
                new_id, _changekey = _single(account.bulk_move(ids, self._done_folder()))
            return str(new_id)

    def count(self, since: datetime | None = None) -> int:
        """How many items the Inbox holds; with ``since``, those received from then on."""
        with self._errors("count the mail in the inbox"):
            inbox = self._account().inbox
            inbox.refresh()  # a fresh count, not the one cached at start-up
            total = inbox.total_count or 0
            if since is None:
                return total
            before = EWSDateTime.from_datetime(since.astimezone(UTC))
            return max(total - inbox.filter(datetime_received__lt=before).count(), 0)

    def set_category(self, item_id: str, category: str) -> None:
        """Add an Outlook category (e.g. "Duty #42"), keeping the ones already there."""
        with self._errors("set the category on the email"):
            account = self._account()
            item = _single(
                account.fetch(
                    ids=[ItemId(id=item_id)], folder=account.inbox, only_fields=["categories"]
                )
            )
            categories = list(item.categories or [])
            if category in categories:
                return
            item.categories = [*categories, category]
            item.save(update_fields=["categories"])

    def send(self, email: OutgoingEmail) -> None:
        """Send as the duty mailbox (to itself unless ``email.to`` says otherwise) and keep a
        copy in its Sent Items. The body goes as MIME so both the plain text and the HTML
        travel, as multipart/alternative; EWS's Body field takes only one of them."""
        to = list(email.to) or [self.settings.address]
        mime = self._compose(email, to)
        with self._errors("send the email"):
            account = self._account()
            Message(
                account=account,
                folder=account.sent,
                mime_content=mime,
                to_recipients=[EwsAddress(email_address=a) for a in to],
            ).send_and_save()

    def reply(self, reply: ReplyEmail) -> Replied:
        """A ReplyToItem on the email, so Exchange keeps it in the email's conversation. Given
        the whole Body: with NewBodyContent (what exchangelib's Message.reply fills) Exchange
        puts a quote of the original under the text. Addressed to ``reply.to`` alone, since
        Exchange would otherwise use the email's Reply-To; from the shared mailbox, with the
        copy in its own Sent Items (under delegate access it would go to the signed-in
        account's). Saved in Drafts, marked as the bot's own, then sent: a draft that did not
        go is deleted again."""
        with self._errors("read the email to reply to"):
            account = self._account()
            original = _single(
                account.fetch(
                    ids=[ItemId(id=reply.item_id)], folder=account.inbox, only_fields=["reply_to"]
                )
            )
        asked = tuple(m.email_address for m in original.reply_to or [] if m.email_address)
        answer = ReplyToItem(
            account=account,
            reference_item_id=ReferenceItemId(id=original.id, changekey=original.changekey),
            subject=reply.subject,
            body=Body(reply.text),
            to_recipients=[EwsAddress(email_address=reply.to)],
            author=EwsAddress(email_address=self.settings.address),
        )
        # Made as a draft first, to carry the bot's mark (a ReplyToItem can hold no header), so
        # the retention purge can tell its copy in Sent Items from mail people sent.
        with self._errors("write the reply"):
            draft = answer.save(folder=account.drafts)
        try:
            with self._errors("write the reply"):
                draft = self._mark_reply(account, draft)
        except MailboxError:
            self._discard(account, draft)  # nothing went; the draft names the sender
            raise
        try:
            with self._errors("send the reply"):
                draft.send(save_copy=True, copy_to_folder=account.sent)
        except MailboxError as exc:
            if broke_mid_request(exc.__context__ or exc):
                raise SendUncertain(
                    f"The connection to Exchange at {self._host} broke while the reply was being "
                    "sent, so it may or may not have gone."
                ) from None
            self._discard(account, draft)
            raise
        log.info("EWS: sent a reply from %s", self.settings.address)
        return Replied(asked)

    def _mark_reply(self, account: Account, saved: Any) -> Message:
        """The reply draft, marked as the bot's own with a mark of the acknowledgement kind
        (see own_reply_mark) over the Message-ID Exchange gave it. EWS cannot set a Message-ID,
        so it is read back; Exchange keeps it when the draft is sent."""
        draft = _single(
            account.fetch(
                ids=[(saved.id, saved.changekey)], folder=account.drafts, only_fields=["message_id"]
            )
        )
        key = self._own_key
        if not key or not draft.message_id:
            log.warning("EWS: the reply goes unmarked; its copy in Sent Items will be kept")
            return draft
        setattr(draft, _MARK, own_reply_mark(key, draft.message_id))
        draft.save(update_fields=[_MARK])
        return draft

    def _discard(self, account: Account, draft: Any) -> None:
        """Best effort: a reply draft that never went is the bot's own; don't leave it."""
        with suppress(Exception):
            account.bulk_delete([(draft.id, draft.changekey)], delete_type=SOFT_DELETE)

    def remove_own_copies(self, before: datetime, *, dry_run: bool = False) -> int:
        """Soft-delete the bot's own copies sent before ``before``: the handovers and
        acknowledgements in Sent Items, and the handovers that came back into the Inbox. Only
        items carrying a valid mark (see is_own_copy); Exchange's soft delete puts them in the
        mailbox's Recoverable Items, out of every folder people see, where the mailbox's deleted
        item retention (and any hold) decides how long they can still be recovered."""
        key = self._own_key
        if not key:
            return 0  # nothing the bot sent was marked, so nothing is known to be its own
        with self._errors("remove the bot's own copies of its emails"):
            account = self._account()
            since = EWSDateTime.from_datetime(before.astimezone(UTC))
            own = self._own_in(account, account.sent, "datetime_sent", since, sent=True)
            own += self._own_in(account, account.inbox, "datetime_received", since, sent=False)
            if dry_run or not own:
                return len(own)
            results = account.bulk_delete(own, delete_type=SOFT_DELETE, chunk_size=_DELETE_CHUNK)
        removed = 0
        for result in results:
            if result is True:
                removed += 1
            elif not isinstance(result, ErrorItemNotFound):  # not found: a person deleted it
                log.warning("EWS: one of the bot's own copies was not deleted (%s); the next "
                            "purge tries again", type(result).__name__)  # fmt: skip
        log.info("EWS: removed %d of the bot's own email copies", removed)
        return removed

    def _own_in(
        self, account: Account, folder: Folder, field: str, before: EWSDateTime, *, sent: bool
    ) -> list[tuple[str, str]]:
        """(id, changekey) of the bot's own copies in ``folder`` whose ``field`` is before
        ``before``. One pass over ids and Message-IDs; only the handovers' MIME is read."""
        key = self._own_key
        listed = folder.filter(**{f"{field}__lt": before}).only("message_id", _MARK)
        listed.page_size = _LIST_PAGE
        own, unread = [], []
        for item in listed:
            if isinstance(item, Exception):
                continue  # gone or unreadable since it was listed: left as it is
            mark = getattr(item, _MARK, None)  # None on items other than messages
            message_id = getattr(item, "message_id", None)
            if mark:  # set on acknowledgements; on others if Exchange kept a header so
                if is_own_copy(mark, message_id, key, sent=sent):
                    own.append((item.id, item.changekey))
            elif may_be_own(message_id):  # a handover went as MIME: its mark is a header
                unread.append((item.id, item.changekey))
        if not unread:
            return own
        fetched = account.fetch(
            ids=unread, folder=folder, only_fields=["mime_content"], chunk_size=_FETCH_CHUNK
        )
        for got in fetched:
            if isinstance(got, (ErrorItemNotFound, *_UNREADABLE)):
                continue  # moved or deleted meanwhile, or not readable: left as it is
            if isinstance(got, Exception):
                raise got
            mime = bytes(got.mime_content or b"")
            if mime and is_own_copy(*own_copy_headers(mime), key, sent=sent):
                own.append((got.id, got.changekey))
        return own

    def check(self) -> list[tuple[bool, str]]:
        """Plain-words health lines for ``dutybot check``. Changes nothing in the mailbox.
        Runs on its own short-lived connection with a short retry budget, so a server that is
        down answers the admin in seconds rather than minutes."""
        wait = min(self.settings.max_retry_seconds, _CHECK_MAX_WAIT)
        with EwsMailbox(replace(self.settings, max_retry_seconds=wait)) as quick:
            return run_checks(
                quick._check_inbox, quick._check_done, quick._check_send, quick.settings.done_folder
            )

    def watch(
        self,
        stop: threading.Event,
        on_new_mail: Callable[[], None],
        *,
        poll_interval: float = 30.0,
    ) -> None:
        """Call ``on_new_mail()`` whenever new mail may have arrived, until ``stop`` is set.

        Uses an EWS streaming subscription on the inbox; after every (re)connect it calls
        ``on_new_mail()`` once so a sync picks up anything missed meanwhile. If streaming is
        not available it calls ``on_new_mail()`` every ``poll_interval`` seconds instead, and
        tries streaming again later. The callback runs on this thread.
        """
        _Watcher(self, stop, on_new_mail, poll_interval).run()

    def close(self) -> None:
        with self._lock:
            account, self._account_obj, self._done = self._account_obj, None, None
        if account is None:
            return
        account.protocol.close()
        with suppress(KeyError):
            del Protocol[account.protocol.config]  # exchangelib caches protocols process-wide

    def __enter__(self) -> EwsMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _account(self) -> Account:
        with self._lock:
            if self._account_obj is None:
                self._account_obj = _build_account(self.settings)
            return self._account_obj

    def _fetch(
        self,
        account: Account,
        inbox: Folder,
        ids: list[str],
        arrived: dict[str, datetime | None],
    ) -> list[RawMessage]:
        if not ids:
            return []
        messages = []
        fetched = account.fetch(
            ids=[ItemId(id=i) for i in ids],
            folder=inbox,
            only_fields=list(_MESSAGE_FIELDS),
            chunk_size=_FETCH_CHUNK,
        )
        for item_id, item in zip(ids, fetched, strict=True):
            if isinstance(item, ErrorItemNotFound):
                # Moved or deleted between the sync and the fetch: it is no longer new mail.
                log.info("EWS item vanished before it could be read; skipping it")
                continue
            if isinstance(item, _UNREADABLE):
                log.error(
                    "EWS cannot give item %s as MIME (%s); skipping it, see it in Outlook",
                    item_id,
                    type(item).__name__,
                )
                continue
            if isinstance(item, Exception):
                raise item  # the checkpoint is not advanced, so the next poll tries again
            if not item.mime_content:
                log.warning("EWS returned an item without MIME content; skipping it")
                continue
            if is_own_mail(bytes(item.mime_content), self._own_key):
                log.info("EWS: skipping the bot's own handover email in the inbox")
                continue
            messages.append(
                RawMessage(
                    item_id=item_id,
                    mime=bytes(item.mime_content),
                    conversation_id=item.conversation_id.id if item.conversation_id else None,
                    web_link=self._web_link(item.web_client_read_form_query_string),
                    arrived_at=arrived.get(item_id),
                )
            )
        return messages

    @property
    def _own_key(self) -> str | None:
        return self.settings.client_secret or self.settings.password

    def _web_link(self, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("?"):  # Exchange 2010 gives only the query string of the OWA link
            return f"https://{self._host}/owa/{value}"
        return value

    def _done_folder(self, *, create: bool = True) -> Folder:
        # Looked up again now and then: a Done folder deleted in Outlook still exists (under
        # Deleted Items) by its id, and mail moved there would be purged with it.
        with self._lock:
            if self._done is not None and time.monotonic() - self._done[1] < _DONE_FOLDER_TTL:
                return self._done[0]
        folder = self._account().msg_folder_root
        for name in _path_parts(self.settings.done_folder):
            folder = _child(folder, name, create=create)
        with self._lock:
            self._done = (folder, time.monotonic())
        return folder

    def _compose(self, email: OutgoingEmail, to: list[str]) -> bytes:
        msg = EmailMessage()
        msg["From"] = self.settings.address
        msg["To"] = ", ".join(to)
        msg["Subject"] = email.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain=self.settings.address.rpartition("@")[2])
        if self._own_key:  # so the copy that lands in the inbox is not taken in as a task
            msg[OWN_MAIL_HEADER] = own_mail_mark(self._own_key, msg["Message-ID"])
        # RFC 3834: marks the mail as automatic, so out-of-office replies are not sent to it.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(email.text)
        if email.html:
            msg.add_alternative(email.html, subtype="html")
        return bytes(msg)

    # -- checks --------------------------------------------------------------------------------

    def _check_inbox(self) -> tuple[bool, str]:
        with self._errors("open the inbox"):
            inbox = self._account().inbox
            inbox.refresh()  # a fresh count, not the one cached at start-up
            count = inbox.total_count
        return True, f"Inbox of {self.settings.address} is reachable ({count} items)."

    def _check_done(self) -> tuple[bool, str]:
        path = self.settings.done_folder
        with self._errors("look for the Done folder"):
            try:
                self._done_folder(create=False)
                return True, f"Done folder {path} exists."
            except ErrorFolderNotFound:
                root = self._account().msg_folder_root
                rights = root.effective_rights
        if rights is not None and not rights.create_hierarchy:
            return False, (
                f"Done folder {path} is missing and this account may not create folders in "
                f"{self.settings.address}. Create it in Outlook, or grant the rights."
            )
        return True, f"Done folder {path} does not exist yet; the bot will create it when needed."

    def _check_send(self) -> tuple[bool, str]:
        # EWS cannot show Send As rights without sending, so check what it can show: that a
        # copy can be saved in Sent Items. ErrorSendAsDenied on the first send means the rest.
        with self._errors("open Sent Items"):
            sent = self._account().sent
            rights = sent.effective_rights
        if rights is not None and not rights.create_contents:
            return False, (
                f"This account may not save mail in the Sent Items of {self.settings.address}, "
                "so the handover email cannot be sent and kept. Grant full access to the mailbox."
            )
        return True, (
            f"Sent Items of {self.settings.address} is writable; Send As rights cannot be "
            "checked without sending, so the first handover email will show if sending works."
        )

    # -- errors ----------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn exchangelib and network errors into one plain sentence. Messages never carry
        exchangelib's own text: it can quote SOAP bodies, and so email content."""
        try:
            yield
        except MailboxError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            err = self._translate(exc, action)
            log.warning("EWS: could not %s (%s)", action, type(exc).__name__)
            raise err from None

    def _translate(self, exc: Exception, action: str) -> MailboxError:
        s, host = self.settings, self._host
        if isinstance(exc, ErrorInvalidSyncStateData):
            return CheckpointExpired(
                "Exchange no longer accepts the saved sync state; the inbox will be read again "
                "from the start (emails already taken in are recognised and skipped)."
            )
        # requests_ntlm raises PermissionError when the server refuses NTLM outright.
        refused = any(isinstance(e, PermissionError) for e in chain(exc))
        if isinstance(exc, UnauthorizedError | OAuth2Error) or refused:
            return MailboxError(
                f"Exchange rejected the credentials for {s.address}. Check the username/password "
                "or app registration, then restart."
            )
        if isinstance(exc, _EwsForbidden):
            return MailboxError(
                f"Exchange at {host} refused EWS access to {s.address} (HTTP 403): EWS may be "
                "switched off for this mailbox or organisation, or the app lacks the "
                "full_access_as_app permission. Ask the Exchange admin, or use the Graph mailbox."
            )
        if isinstance(exc, ErrorAccessDenied | ErrorImpersonateUserDenied):
            return MailboxError(
                f"Exchange accepted the sign-in but refused access to {s.address}. Give the "
                "account full access to the mailbox (or impersonation rights for an app), then "
                "restart."
            )
        if isinstance(exc, ErrorSendAsDenied):
            return MailboxError(
                f"Exchange refused to send as {s.address}. Give the account Send As rights on the "
                "mailbox."
            )
        if isinstance(exc, ErrorNonExistentMailbox):
            return MailboxError(f"Exchange at {host} has no mailbox called {s.address}.")
        if isinstance(exc, ErrorItemNotFound):
            return ItemGone(
                "That email is no longer in the mailbox; someone may have moved or deleted it "
                "in Outlook."
            )
        if any(isinstance(e, requests.exceptions.SSLError) for e in chain(exc)):
            return MailboxError(
                f"The TLS certificate of {host} is not trusted. Point REQUESTS_CA_BUNDLE at the "
                "council's CA certificate, then restart."
            )
        # exchangelib wraps the real cause in a bare TransportError (e.g. while guessing the
        # server version) or in RateLimitError when retries ran out; look at what was wrapped.
        while isinstance(exc, RateLimitError) or type(exc) is TransportError:
            inner = exc.__cause__ or exc.__context__
            if not isinstance(inner, Exception):
                break
            exc = inner
        if isinstance(exc, ErrorServerBusy | RateLimitError | ErrorTooManyObjectsOpened):
            return MailboxError(
                f"Exchange at {host} is busy and asked the bot to slow down; it will try again "
                "later."
            )
        if isinstance(exc, ErrorTimeoutExpired | requests.ConnectionError | OSError):
            return MailboxError(
                f"Cannot connect to Exchange at {host}. Check that the server is up and the "
                "endpoint address is right; the bot will try again."
            )
        if isinstance(exc, _OUTAGE) or (
            isinstance(exc, TransportError | CASError | EWSError)
            and not isinstance(exc, ResponseMessageError)
        ):
            return MailboxError(
                f"Exchange at {host} is not working properly right now; the bot will try again "
                "later."
            )
        if isinstance(exc, ResponseMessageError):
            # A named EWS error code carries no content; it helps whoever reads the log.
            return MailboxError(f"Exchange would not {action} ({type(exc).__name__}).")
        return MailboxError(f"Could not {action} in Exchange ({type(exc).__name__}).")


class _Watcher:
    """The loop behind EwsMailbox.watch(): stream while possible, else poll."""

    def __init__(
        self,
        box: EwsMailbox,
        stop: threading.Event,
        on_new_mail: Callable[[], None],
        poll_interval: float,
    ) -> None:
        self.box, self.stop, self.on_new_mail = box, stop, on_new_mail
        self.poll_interval = poll_interval
        self.subscription: str | None = None
        # What the streams tell, and "stop": the watch sleeps on this queue, not a timer, so
        # a quiet mailbox costs no wake-ups (many teams' watchers share two CPUs).
        self.events: queue.Queue[str] = queue.Queue()

    def run(self) -> None:
        delay = _RECONNECT_FIRST
        threading.Thread(target=self._wake_on_stop, name="ews-watch-stop", daemon=True).start()
        try:
            while not self.stop.is_set():
                if self.subscription is None and not self._subscribe():
                    self._poll_for(self.box.streaming_retry_seconds)
                    continue
                self._notify()  # catch up on whatever came while not connected
                started = time.monotonic()
                outcome = self._stream_once()
                if outcome == "stopped":
                    break
                if outcome == "gone":  # Exchange forgot the subscription (e.g. after 30 min away)
                    self.subscription = None
                if outcome == "ended" or time.monotonic() - started > _HEALTHY_STREAM_SECONDS:
                    delay = _RECONNECT_FIRST  # it was working: reconnect straight away
                    if outcome == "ended":
                        continue
                self.stop.wait(delay)
                delay = min(delay * 2, max(self.poll_interval, _RECONNECT_FIRST))
        finally:
            self._unsubscribe()

    def _subscribe(self) -> bool:
        try:
            with self.box._errors("subscribe to new mail"):
                inbox = self.box._account().inbox
                self.subscription = inbox.subscribe_to_streaming(
                    event_types=["NewMailEvent", "CreatedEvent"]
                )
            return True
        except MailboxError as exc:
            log.warning("EWS streaming not available, polling instead: %s", exc)
        return False

    def _wake_on_stop(self) -> None:
        self.stop.wait()
        self.events.put("stop")

    def _stream_once(self) -> str:
        """Run one GetStreamingEvents connection on a helper thread; report how it ended:
        "ended", "dropped", "gone" or "stopped". Events come back through the queue so that
        on_new_mail runs on the watch() thread and stop is noticed at once. The service
        object rather than Folder.get_streaming_events(), to be able to cut the stream."""
        events = self.events
        subscription = self.subscription
        try:
            svc = GetStreamingEvents(account=self.box._account())
        except Exception as exc:  # noqa: BLE001 - e.g. Exchange down while checking its version
            log.info("EWS stream could not start (%s)", type(exc).__name__)
            return "dropped"

        def pump() -> None:
            try:
                for note in svc.call(
                    subscription_ids=[subscription], connection_timeout=_STREAM_MINUTES
                ):
                    if any(isinstance(e, _NEW_MAIL_EVENTS) for e in note.events):
                        events.put("mail")
                events.put("ended")
            except (ErrorSubscriptionNotFound, ErrorInvalidSubscription):
                events.put("gone")
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                if not self.stop.is_set():
                    log.info("EWS stream dropped (%s); reconnecting", type(exc).__name__)
                events.put("dropped")

        threading.Thread(target=pump, name="ews-stream", daemon=True).start()
        while True:
            what = events.get()
            if what == "stop" or self.stop.is_set():
                self._unsubscribe()
                _cut_stream(svc)
                return "stopped"
            if what != "mail":
                return what
            self._notify()

    def _poll_for(self, seconds: float) -> None:
        """Fallback: call on_new_mail every poll_interval for a while."""
        waited = 0.0
        while not self.stop.is_set() and waited < seconds:
            self._notify()
            self.stop.wait(self.poll_interval)
            waited += self.poll_interval

    def _notify(self) -> None:
        try:
            self.on_new_mail()
        except Exception as exc:  # noqa: BLE001 - the watch loop must outlive a bad sync
            log.error("EWS watch: on_new_mail failed (%s)", type(exc).__name__)

    def _unsubscribe(self) -> None:
        """Drop the subscription (which also ends its stream) without holding up the caller."""
        subscription, self.subscription = self.subscription, None
        if subscription is None:
            return
        account = self.box._account_obj
        if account is None:
            return

        def run() -> None:
            with suppress(Exception):
                account.inbox.unsubscribe(subscription)

        worker = threading.Thread(target=run, name="ews-unsubscribe", daemon=True)
        worker.start()
        worker.join(timeout=2.0)


def _build_account(s: EwsSettings) -> Account:
    """An exchangelib Account with an explicit endpoint (autodiscover only if asked)."""
    credentials: Credentials | OAuth2Credentials
    if s.auth == "oauth":
        # Client credentials for an app registration, acting on the mailbox by impersonation.
        credentials = OAuth2Credentials(
            client_id=s.client_id,
            client_secret=s.client_secret,
            tenant_id=s.tenant_id,
            identity=Identity(primary_smtp_address=s.address),
        )
        auth_type, access_type = OAUTH2, IMPERSONATION
    else:
        credentials = Credentials(username=s.username or "", password=s.password or "")
        auth_type = NTLM if s.auth == "ntlm" else BASIC
        access_type = DELEGATE
    if urlsplit(s.endpoint).scheme == "http" and urlsplit(s.endpoint).hostname not in (
        "127.0.0.1",
        "localhost",
    ):
        log.warning("EWS endpoint is plain http: credentials cross the network unencrypted")
    options: dict[str, Any] = dict(
        credentials=credentials,
        auth_type=auth_type,
        version=_pinned_version(s.server_version) if s.server_version else None,
        retry_policy=_FaultToleranceFailFastOnLogin(max_wait=s.max_retry_seconds),
        max_connections=max(2, s.max_connections),
    )
    if s.autodiscover:
        return Account(
            primary_smtp_address=s.address,
            config=Configuration(**options),
            autodiscover=True,
            access_type=access_type,
            default_timezone=EWS_UTC,
        )
    return Account(
        primary_smtp_address=s.address,
        config=Configuration(service_endpoint=s.endpoint, **options),
        autodiscover=False,
        access_type=access_type,
        default_timezone=EWS_UTC,
    )


def _path_parts(path: str) -> list[str]:
    return [p.strip() for p in path.split("/") if p.strip()]


def _child(parent: Folder, name: str, *, create: bool) -> Folder:
    """The subfolder called ``name`` (case-insensitive, as Exchange compares), made if missing."""
    try:
        return parent // name
    except ErrorFolderNotFound:
        if not create:
            raise
    # CreateFolder directly: Folder.save() would load the whole folder tree into a cache.
    try:
        return CreateFolder(account=parent.account).get(
            parent_folder=parent,
            folders=[Folder(parent=parent, name=name, folder_class="IPF.Note")],
        )
    except ErrorFolderExists:  # another bot process made it just now
        return parent // name


def _cut_stream(svc: GetStreamingEvents) -> None:
    """Shut the socket of a streaming response so the thread reading it wakes up now, even if
    Exchange keeps the stream open after Unsubscribe. Only the socket: the reading thread
    still hands its session back to exchangelib's pool itself."""
    response = getattr(svc, "_streaming_response", None)  # exchangelib keeps it here
    connection = getattr(getattr(response, "raw", None), "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _utc(when: datetime | None) -> datetime | None:
    """An EWSDateTime as a plain UTC datetime."""
    return None if when is None else datetime.fromtimestamp(when.timestamp(), UTC)


def _single(results: Any) -> Any:
    """The one result of a bulk call, raising it if EWS returned an error for it."""
    items = list(results)
    if len(items) != 1:
        raise TransportError(f"expected one result, got {len(items)}")
    if isinstance(items[0], Exception):
        raise items[0]
    return items[0]
