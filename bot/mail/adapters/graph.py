"""Microsoft Graph adapter for the duty inbox (Exchange Online).

Signs in as an app (client credentials) with msal and talks plain HTTP with requests.
Every Graph call asks for immutable ids, so an item keeps its id when it is moved to the
Done folder and a repeated move after a crash is harmless. How soon the inbox is looked at
again is the mailbox's ``pace`` (bot/mail/pace.py): each look tells it whether mail came, and
every call Graph throttles tells it how long Graph asked us to wait.

Nothing here logs subjects or bodies: only counts, ids and HTTP statuses.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import msal
import requests

from bot.mail.adapters.sending import broke_mid_request
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
from bot.mail.pace import PollPace

log = logging.getLogger(__name__)

IMMUTABLE_IDS = 'IdType="ImmutableId"'
# Fields the bot needs from a delta page; the MIME itself is fetched per message.
DELTA_FIELDS = ("id", "internetMessageId", "conversationId", "webLink", "receivedDateTime")
# Statuses where Graph did not do the work and asks us to come back later.
RETRYABLE = frozenset({429, 502, 503, 504})
# Graph error codes meaning "this delta/sync state is no longer usable".
EXPIRED_SYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
# Application permissions the bot relies on, as they appear in an app-only token's roles.
READ_ROLES = frozenset({"Mail.ReadWrite"})
SEND_ROLES = frozenset({"Mail.Send"})
# The own-mail header as a named property in the Internet headers set (PS_INTERNET_HEADERS):
# set on a reply draft, Exchange writes it out as that header when the reply is sent.
MARK_PROPERTY = f"String {{00020386-0000-0000-C000-000000000046}} Name {OWN_MAIL_HEADER}"
LIST_PAGE = 100  # messages per page when looking for the bot's own copies (ids only)


@dataclass(frozen=True)
class GraphSettings:
    address: str  # the shared mailbox (user id or UPN)
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)  # from env, never logged
    authority_host: str = "https://login.microsoftonline.com"  # overridable for tests/clouds
    graph_url: str = "https://graph.microsoft.com/v1.0"
    done_folder: str = "Duty/Done"  # created if missing, under the mailbox's top folder
    timeout: float = 30.0
    max_retries: int = 5
    verify_tls: bool = True
    ca_bundle: str | None = None  # PEM file to trust instead of the system CAs
    page_size: int = 50  # delta page size asked of Graph (odata.maxpagesize)
    max_batch: int = 200  # stop a poll after this many messages (whole pages) and say more=True
    max_total_wait: float = 120.0  # most seconds one call may spend waiting on Retry-After

    @property
    def scope(self) -> str:
        """The app-only scope for this Graph host (sovereign clouds have their own)."""
        parts = urlsplit(self.graph_url)
        return f"{parts.scheme}://{parts.netloc}/.default"


class GraphMailbox:
    """The duty inbox in Exchange Online, through Microsoft Graph."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        pace: PollPace | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep  # a seam so tests can see waits without spending them
        # When to look again: told of each look's mail and of every throttle, from any call.
        self.pace = pace or PollPace()
        self._base = settings.graph_url.rstrip("/")
        self._user = f"{self._base}/users/{quote(settings.address, safe='@')}"
        self._http = _PinnedSession(settings.ca_bundle or settings.verify_tls, settings.timeout)
        self._app: msal.ConfidentialClientApplication | None = None
        self._token_roles: frozenset[str] | None = None
        self._done_id: str | None = None
        self._sign_in_lock = threading.Lock()
        self._folder_lock = threading.Lock()  # separate: folder lookups sign in on the way

    # -- the Mailbox port -------------------------------------------------------------

    def poll(self, checkpoint: str | None) -> Batch:
        """New inbox messages since ``checkpoint`` (a Graph delta or next link)."""
        try:
            batch = self._poll(checkpoint)
        except CheckpointExpired:
            raise  # the caller resyncs at once
        except MailboxError:
            self.pace.found_nothing()
            raise
        if batch.messages:
            self.pace.found_mail()
        else:
            self.pace.found_nothing()
        return batch

    def _poll(self, checkpoint: str | None) -> Batch:
        url, params = self._delta_start(checkpoint)
        found: dict[str, Mapping[str, Any]] = {}
        while True:
            page = self._delta_page(url, params)
            params = None  # the links Graph hands back already carry the query
            for entry in page.get("value", []):
                if "@removed" not in entry and entry.get("id"):
                    found[entry["id"]] = entry
            next_link = page.get("@odata.nextLink")
            if next_link:
                if len(found) >= self.settings.max_batch:
                    return self._batch(found.values(), next_link, more=True)
                url = next_link
                continue
            delta_link = page.get("@odata.deltaLink")
            if not delta_link:
                raise MailboxError(
                    f"Microsoft Graph ended a sync page for {self.settings.address} "
                    "without a link to carry on from."
                )
            return self._batch(found.values(), delta_link, more=False)

    def move_to_done(self, item_id: str) -> str:
        """Move a message to the Done folder (never delete) and return its id there."""
        resp = self._move(item_id)
        if resp.status_code == 404:
            self._done_id = None  # the folder may have been deleted: look it up (or make it)
            resp = self._move(item_id)
        if resp.status_code == 404:
            raise ItemGone(
                f"The email is no longer in {self.settings.address}; someone may have deleted "
                "it in Outlook."
            )
        self._raise_for(resp, f"moving a message to {self.settings.done_folder}")
        new_id = _json(resp, "moving a message").get("id")
        if not new_id:
            raise MailboxError(
                f"Microsoft Graph moved a message in {self.settings.address} but did not "
                "say where it went."
            )
        log.info("Graph: moved item %s to %s", item_id, self.settings.done_folder)
        return str(new_id)

    def _move(self, item_id: str) -> requests.Response:
        return self._call(
            "POST",
            f"{self._user}/messages/{_seg(item_id)}/move",
            json_body={"destinationId": self._done_folder_id()},
            idempotent=True,  # with immutable ids a repeated move lands in the same place
        )

    def send(self, email: OutgoingEmail) -> None:
        """Send as the shared mailbox, text and HTML both, keeping a copy in Sent Items."""
        mime = self._compose(email)
        resp = self._call(
            "POST",
            f"{self._user}/sendMail",
            data=base64.b64encode(mime),
            content_type="text/plain",  # Graph's way of saying "the body is base64 MIME"
        )
        self._raise_for(resp, "sending an email")
        log.info(
            "Graph: sent an email from %s to %d recipient(s)",
            self.settings.address,
            len(email.to) or 1,
        )

    def reply(self, reply: ReplyEmail) -> Replied:
        """createReply, then PATCH, then send: the draft Graph makes has the original quoted
        under its body and is addressed to the email's Reply-To, so its whole body and its
        recipients are replaced before it goes. The draft is made from the email, so the
        reply stays in its conversation; sending keeps a copy in Sent Items."""
        url = f"{self._user}/messages/{_seg(reply.item_id)}"
        resp = self._call("GET", url, params={"$select": "replyTo"}, idempotent=True)
        if resp.status_code == 404:
            raise ItemGone(
                f"The email is no longer in {self.settings.address}; someone may have deleted "
                "it in Outlook."
            )
        self._raise_for(resp, "reading the email to reply to")
        asked = tuple(
            str((r.get("emailAddress") or {}).get("address") or "")
            for r in _json(resp, "reading the email to reply to").get("replyTo") or []
        )
        to = [{"emailAddress": {"address": reply.to}}]
        resp = self._call("POST", f"{url}/createReply", json_body={"message": {"toRecipients": to}})
        self._raise_for(resp, "making a reply")
        made = _json(resp, "making a reply")
        draft = str(made.get("id") or "")
        if not draft:
            raise MailboxError(
                f"Microsoft Graph made a reply in {self.settings.address} but did not say "
                "where it is."
            )
        draft_url = f"{self._user}/messages/{_seg(draft)}"
        whole = {"subject": reply.subject, "body": {"contentType": "text", "content": reply.text},
                 "toRecipients": to, "ccRecipients": [], "bccRecipients": []}  # fmt: skip
        # Marked as the bot's own, with a mark of the acknowledgement kind over the Message-ID
        # Exchange gave the draft (kept when it is sent), so the retention purge can tell its
        # copy in Sent Items from mail people sent.
        message_id = str(made.get("internetMessageId") or "")
        if message_id:
            mark = own_reply_mark(self.settings.client_secret, message_id)
            whole["singleValueExtendedProperties"] = [{"id": MARK_PROPERTY, "value": mark}]
        else:
            log.warning("Graph: the reply goes unmarked; its copy in Sent Items will be kept")
        try:
            resp = self._call("PATCH", draft_url, json_body=whole, idempotent=True)
            self._raise_for(resp, "writing a reply")
        except MailboxError:
            self._discard(draft_url)  # it quotes the email: don't leave it in Drafts
            raise
        try:
            resp = self._call("POST", f"{draft_url}/send")
        except MailboxError as exc:
            if broke_mid_request(exc):
                raise SendUncertain(
                    f"The connection to Microsoft Graph broke while the reply from "
                    f"{self.settings.address} was being sent, so it may or may not have gone."
                ) from None
            self._discard(draft_url)
            raise
        if resp.status_code >= 400:
            self._discard(draft_url)
        self._raise_for(resp, "sending a reply")
        log.info("Graph: sent a reply from %s", self.settings.address)
        return Replied(tuple(a for a in asked if a))

    def remove_own_copies(self, before: datetime, *, dry_run: bool = False) -> int:
        """Delete the bot's own copies sent before ``before``: the handovers and
        acknowledgements in Sent Items, and the handovers that came back into the Inbox. Only
        messages carrying a valid mark (see is_own_copy). Graph's DELETE is a soft delete: the
        message goes to the mailbox's Recoverable Items, out of every folder people see, where
        the mailbox's deleted item retention (and any hold) decides how long it can be
        recovered."""
        when = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        own = self._own_in("sentitems", f"sentDateTime lt {when}", sent=True)
        own += self._own_in("inbox", f"receivedDateTime lt {when}", sent=False)
        if dry_run:
            return len(own)
        removed = 0
        for item_id in own:
            resp = self._call("DELETE", f"{self._user}/messages/{_seg(item_id)}", idempotent=True)
            if resp.status_code == 404:
                continue  # gone already: someone deleted it
            self._raise_for(resp, "removing one of the bot's own copies")
            removed += 1
        log.info("Graph: removed %d of the bot's own email copies", removed)
        return removed

    def _own_in(self, folder: str, when: str, *, sent: bool) -> list[str]:
        """Ids of the bot's own copies in the well-known ``folder`` matching the ``when``
        filter. One pass over ids, Message-IDs and the mark property; only the handovers'
        MIME is downloaded (they went as MIME, so their mark is a header)."""
        key = self.settings.client_secret
        url = f"{self._user}/mailFolders/{folder}/messages"
        params: dict[str, str] | None = {
            "$filter": when,
            "$select": "id,internetMessageId",
            "$expand": f"singleValueExtendedProperties($filter=id eq '{MARK_PROPERTY}')",
            "$top": str(LIST_PAGE),
        }
        own, unread = [], []
        while True:
            resp = self._call("GET", url, params=params, idempotent=True)
            self._raise_for(resp, "looking for the bot's own copies")
            page = _json(resp, "looking for the bot's own copies")
            for entry in page.get("value", []):
                item_id, message_id = str(entry.get("id") or ""), entry.get("internetMessageId")
                mark = _mark_of(entry)
                if mark:
                    if is_own_copy(mark, message_id, key, sent=sent):
                        own.append(item_id)
                elif may_be_own(message_id):
                    unread.append(item_id)
            next_link = page.get("@odata.nextLink")
            if not next_link:
                break
            if not self._is_graph_link(next_link):  # it would get our token
                raise MailboxError(
                    f"Microsoft Graph sent a link away from {self._base} while the bot was "
                    f"looking for its own copies in {self.settings.address}."
                )
            url, params = next_link, None
        for item_id in unread:
            resp = self._call("GET", f"{self._user}/messages/{_seg(item_id)}/$value",
                              idempotent=True)  # fmt: skip
            if resp.status_code == 404:
                continue  # moved or deleted meanwhile: left as it is
            self._raise_for(resp, "reading one of the bot's own copies")
            if is_own_copy(*own_copy_headers(resp.content), key, sent=sent):
                own.append(item_id)
        return own

    def _discard(self, draft_url: str) -> None:
        """Best effort: a draft left behind is the mailbox's own copy, harmless but untidy."""
        with suppress(MailboxError):
            self._call("DELETE", draft_url, idempotent=True)

    def set_category(self, item_id: str, category: str) -> None:
        """Add an Outlook category to a message, keeping the ones people set."""
        url = f"{self._user}/messages/{_seg(item_id)}"
        resp = self._call("GET", url, params={"$select": "categories"}, idempotent=True)
        self._raise_for(resp, "reading a message's categories")
        current = list(_json(resp, "reading a message's categories").get("categories") or [])
        if category in current:
            return
        resp = self._call(
            "PATCH", url, json_body={"categories": [*current, category]}, idempotent=True
        )
        self._raise_for(resp, "setting a message's category")

    def check(self) -> list[tuple[bool, str]]:
        """Plain-language health checks for ``dutybot check``: the inbox, the Done folder
        (made if missing) and the send permission. With a short retry budget, since an admin
        is waiting, and nothing more once the inbox cannot be opened."""
        quick = replace(
            self.settings,
            max_retries=min(self.settings.max_retries, 2),
            max_total_wait=min(self.settings.max_total_wait, 5.0),
        )
        with GraphMailbox(quick, sleep=self._sleep, pace=self.pace) as box:
            box._app = self._app  # one sign-in serves both
            return run_checks(box._check_inbox, box._check_done, box._check_send, quick.done_folder)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GraphMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- delta sync --------------------------------------------------------------------

    def _delta_start(self, checkpoint: str | None) -> tuple[str, dict[str, str] | None]:
        if checkpoint is None:
            params = {
                "$select": ",".join(DELTA_FIELDS),
                # Only arrivals: our own category edits must not bring mail back.
                "changeType": "created",
            }
            return f"{self._user}/mailFolders/inbox/messages/delta", params
        if not self._is_graph_link(checkpoint):
            # A link for another host (say, graph_url changed) would get our token; resync.
            raise CheckpointExpired(
                f"The saved sync state for {self.settings.address} is not a link to "
                f"{self._base}; starting the inbox sync again."
            )
        return checkpoint, None

    def _delta_page(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        resp = self._call(
            "GET",
            url,
            params=params,
            prefer=(f"odata.maxpagesize={self.settings.page_size}",),
            idempotent=True,
        )
        if resp.status_code == 410 or _error_code(resp).lower() in EXPIRED_SYNC_CODES:
            raise CheckpointExpired(
                f"Microsoft Graph no longer knows the saved sync state for "
                f"{self.settings.address}; starting the inbox sync again."
            )
        self._raise_for(resp, "reading new mail")
        return _json(resp, "reading new mail")

    def _batch(self, entries: Iterable[Mapping[str, Any]], checkpoint: str, *, more: bool) -> Batch:
        # Oldest first, so cards are posted in the order the mail arrived.
        ordered = sorted(entries, key=lambda e: str(e.get("receivedDateTime") or ""))
        messages = [m for m in (self._fetch(e) for e in ordered) if m is not None]
        log.info(
            "Graph: %d new message(s) in %s%s",
            len(messages),
            self.settings.address,
            " (more waiting)" if more else "",
        )
        return Batch(messages=messages, checkpoint=checkpoint, more=more)

    def _fetch(self, entry: Mapping[str, Any]) -> RawMessage | None:
        item_id = str(entry["id"])
        resp = self._call("GET", f"{self._user}/messages/{_seg(item_id)}/$value", idempotent=True)
        if resp.status_code == 404:
            # Moved or deleted by a person since the delta page: no longer inbox work.
            log.warning("Graph: item %s left the inbox before it could be read", item_id)
            return None
        self._raise_for(resp, "downloading a message")
        if is_own_mail(resp.content, self.settings.client_secret):
            log.info("Graph: skipping the bot's own handover email in the inbox")
            return None
        return RawMessage(
            item_id=item_id,
            mime=resp.content,
            conversation_id=entry.get("conversationId"),
            web_link=entry.get("webLink"),
        )

    def _is_graph_link(self, link: str) -> bool:
        want, got = urlsplit(self._base), urlsplit(link)
        return (
            got.scheme == want.scheme
            and got.netloc.lower() == want.netloc.lower()
            and got.path.startswith(want.path)
        )

    # -- the Done folder ---------------------------------------------------------------

    def _done_folder_id(self) -> str:
        with self._folder_lock:
            if self._done_id is None:
                parent = "msgfolderroot"
                for name in _folder_path(self.settings.done_folder):
                    parent = self._child_folder(parent, name)
                self._done_id = parent
            return self._done_id

    def _child_folder(self, parent: str, name: str) -> str:
        """The id of folder ``name`` under ``parent``, creating it when missing."""
        found = self._find_child(parent, name)
        if found:
            return found
        resp = self._call(
            "POST",
            f"{self._user}/mailFolders/{_seg(parent)}/childFolders",
            json_body={"displayName": name},
        )
        if resp.status_code == 409:  # someone (another bot process) made it meanwhile
            found = self._find_child(parent, name)
            if found:
                return found
        self._raise_for(resp, f"creating the folder {name!r}")
        return str(_json(resp, f"creating the folder {name!r}")["id"])

    def _find_child(self, parent: str, name: str) -> str | None:
        odata_name = name.replace("'", "''")
        resp = self._call(
            "GET",
            f"{self._user}/mailFolders/{_seg(parent)}/childFolders",
            params={"$filter": f"displayName eq '{odata_name}'", "$select": "id,displayName"},
            idempotent=True,
        )
        self._raise_for(resp, f"looking for the folder {name!r}")
        for folder in _json(resp, "listing folders").get("value", []):
            if str(folder.get("displayName", "")).casefold() == name.casefold():
                return str(folder["id"])
        return None

    # -- sending -----------------------------------------------------------------------

    def _compose(self, email: OutgoingEmail) -> bytes:
        # MIME rather than Graph's JSON message: JSON allows one body, MIME keeps both
        # the plain text and the HTML as alternatives.
        msg = EmailMessage(policy=email_policy.SMTP)
        msg["From"] = self.settings.address
        msg["To"] = ", ".join(email.to) if email.to else self.settings.address
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=False)
        # Our own Message-ID, so intake can recognise the copy that lands in the inbox.
        address = self.settings.address
        domain = address.rpartition("@")[2] if "@" in address else None
        msg["Message-ID"] = make_msgid("dutybot", domain=domain)
        msg[OWN_MAIL_HEADER] = own_mail_mark(self.settings.client_secret, msg["Message-ID"])
        msg.set_content(email.text)
        if email.html:
            msg.add_alternative(email.html, subtype="html")
        return msg.as_bytes()

    # -- checks ------------------------------------------------------------------------

    def _check_inbox(self) -> tuple[bool, str]:
        resp = self._call(
            "GET",
            f"{self._user}/mailFolders/inbox",
            params={"$select": "totalItemCount"},
            idempotent=True,
        )
        self._raise_for(resp, "opening the inbox")
        count = _json(resp, "opening the inbox").get("totalItemCount", "?")
        return True, f"Inbox of {self.settings.address} is reachable ({count} items)."

    def _check_done(self) -> tuple[bool, str]:
        self._done_folder_id()
        return True, f"Done folder {self.settings.done_folder} is ready."

    def _check_send(self) -> tuple[bool, str]:
        # Sending cannot be tried without sending, so read the app's granted roles instead.
        self._token()
        roles = self._token_roles
        address = self.settings.address
        if roles is None:
            return True, (
                f"Could not see the app's permissions in its token; sending as {address} "
                "was not verified (it may be granted through Exchange RBAC)."
            )
        missing = sorted((SEND_ROLES | READ_ROLES) - roles)
        if missing:
            return False, (
                f"The app's sign-in lacks the {', '.join(missing)} permission(s) needed to "
                f"read and send as {address}. Unless Exchange grants them through RBAC for "
                "Applications, grant them and restart."
            )
        return True, (
            f"The app holds Mail.Send and Mail.ReadWrite; sending as {address} should work "
            "(an Exchange access policy could still limit it)."
        )

    # -- sign-in -----------------------------------------------------------------------

    def _build_app(self) -> msal.ConfidentialClientApplication:
        s = self.settings
        try:
            return msal.ConfidentialClientApplication(
                s.client_id,
                client_credential=s.client_secret,
                authority=f"{s.authority_host.rstrip('/')}/{s.tenant_id}",
                # Microsoft's own hosts skip this anyway; other hosts (tests) need it off.
                instance_discovery=False,
                http_client=self._http,
            )
        except ValueError as exc:
            raise MailboxError(
                f"Microsoft sign-in at {s.authority_host} does not know tenant {s.tenant_id}. "
                "Check the tenant id, then restart."
            ) from exc
        except requests.RequestException as exc:
            raise MailboxError(
                f"Could not reach Microsoft sign-in at {s.authority_host} "
                f"({type(exc).__name__}). Check the network, then try again."
            ) from exc

    def _token(self) -> str:
        """A bearer token; msal's cache hands back the same one until it nears expiry."""
        s = self.settings
        with self._sign_in_lock:
            if self._app is None:
                self._app = self._build_app()
            try:
                result = self._app.acquire_token_for_client(scopes=[s.scope])
            except requests.RequestException as exc:
                raise MailboxError(
                    f"Could not reach Microsoft sign-in at {s.authority_host} "
                    f"({type(exc).__name__}). Check the network, then try again."
                ) from exc
        token = result.get("access_token")
        if token:
            self._token_roles = _roles(token)
            return str(token)
        error = str(result.get("error", "unknown_error"))
        if error in {"invalid_client", "unauthorized_client"}:
            raise MailboxError(
                f"Microsoft sign-in rejected the app credentials for {s.address}. "
                "Check the client id, secret and tenant, then restart."
            )
        raise MailboxError(f"Microsoft sign-in failed for {s.address} ({error}).")

    def _forget_token(self) -> None:
        # msal will not refresh an app-only token on demand; a fresh app has an empty cache.
        with self._sign_in_lock:
            self._app = None

    # -- HTTP --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        prefer: tuple[str, ...] = (),
        idempotent: bool = False,
    ) -> requests.Response:
        """One Graph request, retried on throttling within max_retries and max_total_wait."""
        if params:
            # Keep "$" and "," readable, as Graph's own examples do.
            url = f"{url}?{urlencode(params, safe='$,', quote_via=quote)}"
        body = data if json_body is None else json.dumps(json_body).encode()
        headers = {"Prefer": ", ".join((IMMUTABLE_IDS, *prefer)), "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        waited, attempt, signed_in_again = 0.0, 0, False
        while True:
            headers["Authorization"] = f"Bearer {self._token()}"
            resp = self._send_once(method, url, headers, body, idempotent, attempt)
            if resp is None:  # a network error on a call that is safe to repeat
                wait = _backoff(attempt)
            elif resp.status_code == 401 and not signed_in_again:
                signed_in_again = True
                self._forget_token()
                continue
            elif resp.status_code in RETRYABLE:
                asked = _asked_wait(resp)
                self.pace.throttled(asked)  # the next look waits too, however this call ends
                wait = _backoff(attempt) if asked is None else asked
            else:
                return resp
            attempt += 1
            if attempt > self.settings.max_retries or waited + wait > self.settings.max_total_wait:
                raise self._gave_up(resp, attempt)
            log.info("Graph: HTTP %s, waiting %.1fs before trying again", _status(resp), wait)
            self._sleep(wait)
            waited += wait

    def _send_once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        idempotent: bool,
        attempt: int,
    ) -> requests.Response | None:
        try:
            return self._http.request(method, url, headers=headers, data=body)
        except requests.RequestException as exc:
            # A POST that timed out may have gone through; only safe calls are repeated.
            if idempotent and attempt < self.settings.max_retries:
                return None
            raise MailboxError(
                f"Could not reach Microsoft Graph for {self.settings.address} "
                f"({type(exc).__name__}). Check the network, then try again."
            ) from exc

    def _gave_up(self, resp: requests.Response | None, attempts: int) -> MailboxError:
        if resp is None:
            return MailboxError(
                f"Could not reach Microsoft Graph for {self.settings.address} after "
                f"{attempts} tries. Check the network, then try again."
            )
        if resp.status_code == 429:
            return MailboxError(
                f"Microsoft Graph kept asking us to slow down for {self.settings.address}; "
                f"gave up after {attempts} tries and will try again on the next poll."
            )
        return MailboxError(
            f"Microsoft Graph was unavailable (HTTP {resp.status_code}) for "
            f"{self.settings.address} after {attempts} tries; will try again on the next poll."
        )

    def _raise_for(self, resp: requests.Response, action: str) -> None:
        """Turn a Graph error into one plain sentence; Graph's own text is left out."""
        status = resp.status_code
        if status < 400:
            return
        address = self.settings.address
        code = _error_code(resp) or "no error code"
        if status == 401:
            raise MailboxError(
                f"Microsoft Graph did not accept the app's sign-in while {action} for "
                f"{address}. Check the app registration, then restart."
            )
        if status == 403:
            raise MailboxError(
                f"Microsoft Graph refused {action} in {address} ({code}). Check the app has "
                "Mail.ReadWrite and Mail.Send for this mailbox."
            )
        if status == 404:
            raise MailboxError(
                f"Microsoft Graph could not find what it needed while {action} in "
                f"{address} ({code}). Check the mailbox address."
            )
        raise MailboxError(
            f"Microsoft Graph failed while {action} in {address} (HTTP {status}, {code})."
        )


# -- small helpers -------------------------------------------------------------------------


class _PinnedSession(requests.Session):
    """A session whose TLS trust and timeout apply to every call, msal's included.

    requests lets REQUESTS_CA_BUNDLE override ``Session.verify``; passing ``verify`` on
    each request keeps a configured ca_bundle (or verify_tls=False) in force.
    """

    def __init__(self, verify: bool | str, timeout: float) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", self._verify)
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def _seg(value: str) -> str:
    """One URL path segment (Graph ids may hold '/', '+' and '=')."""
    return quote(value, safe="")


def _folder_path(path: str) -> list[str]:
    parts = [p.strip() for p in path.replace("\\", "/").split("/") if p.strip()]
    if not parts:
        raise MailboxError("The Done folder setting is empty; name a folder such as Duty/Done.")
    return parts


def _json(resp: requests.Response, action: str) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError as exc:
        raise MailboxError(f"Microsoft Graph sent an unreadable reply while {action}.") from exc
    if not isinstance(body, dict):
        raise MailboxError(f"Microsoft Graph sent an unexpected reply while {action}.")
    return body


def _mark_of(entry: Mapping[str, Any]) -> str | None:
    """The own-mail mark a listed message carries as a property, if any."""
    for prop in entry.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).casefold() == MARK_PROPERTY.casefold() and prop.get("value"):
            return str(prop["value"])
    return None


def _error_code(resp: requests.Response) -> str:
    if resp.status_code < 400:
        return ""
    try:
        error = resp.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _status(resp: requests.Response | None) -> str:
    return "error" if resp is None else str(resp.status_code)


def _backoff(attempt: int) -> float:
    return float(min(2**attempt, 30))


def _asked_wait(resp: requests.Response) -> float | None:
    """Seconds Graph asked us to wait (delta-seconds or an HTTP date); None if it did not say."""
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _roles(token: str) -> frozenset[str] | None:
    """The app roles in an app-only JWT (read, not verified: only for the health check)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return frozenset(map(str, roles)) if isinstance(roles, list) else None
