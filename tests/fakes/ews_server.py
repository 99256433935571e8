"""A local fake of Exchange Web Services (EWS) that real exchangelib can talk to.

It serves SOAP over real HTTP on 127.0.0.1 and answers the operations the EWS adapter uses,
in the shapes Exchange 2016 sends (checked against the requests exchangelib really makes):
GetFolder, FindFolder, CreateFolder, SyncFolderItems, GetItem, MoveItem, UpdateItem,
CreateItem (also with a ReplyToItem or ReplyAllToItem, as Exchange answers one: see
``_reply_item``), SendItem (a saved draft), FindItem (by date sent or received, paged),
DeleteItem, Subscribe (streaming), GetStreamingEvents, Unsubscribe and ConvertId (which
exchangelib uses to guess the server version).

Internet headers set on an item as extended properties (the InternetHeaders property set)
become headers of its MIME, as Exchange's MIME writer does. Whether X- headers that came in
MIME become such properties too is ``promote_headers`` (off by default): Exchange may or may
not, and the adapter must cope with either.

Auth: HTTP Basic is checked against ``username``/``password``. NTLM is real NTLM: the fake
runs pyspnego's NTLM acceptor per connection (pyspnego already comes with requests_ntlm).

Faults: ``busy_next()``, ``drop_stream()``, ``reject_auth``, ``invalidate_sync_states()``,
``down`` (503), ``ews_blocked`` (403), ``streaming_supported``, ``unsubscribe_ends_stream``,
``refuse_send_as`` (SendItem refused).
Helpers for tests: ``deliver()``, ``inbox_items()``, ``folder_items()``, ``sent()``,
``age()`` (time passes for every item), ``deleted()`` (what DeleteItem took, and how),
``operations`` / ``count()`` (what was asked), ``http_requests`` (every POST, refused ones
too), ``bodies`` (raw SOAP requests, for debugging).

Mail sent to the mailbox's own address lands in its inbox, as on a real server.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import os
import secrets
import select
import socket
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from tests.fakes.directory import FakeDirectory

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# Exchange 2016 CU23 reports this build, and a version string that is not a valid request value.
SERVER_VERSION = (
    f'<h:ServerVersionInfo xmlns:h="{T}" MajorVersion="15" MinorVersion="1" '
    'MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/>'
)
BUSY_TEXT = "The server cannot service this request right now. Try again later."

# Distinguished folders the fake mailbox has: id -> (display name, parent distinguished id).
WELL_KNOWN = {
    "root": ("", None),
    "msgfolderroot": ("Top of Information Store", "root"),
    "inbox": ("Inbox", "msgfolderroot"),
    "sentitems": ("Sent Items", "msgfolderroot"),
    "drafts": ("Drafts", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "msgfolderroot"),
    "outbox": ("Outbox", "msgfolderroot"),
    "junkemail": ("Junk Email", "msgfolderroot"),
}


def _new_id(kind: str) -> str:
    # Real ids are long opaque base64 strings; a kind prefix keeps logs readable.
    return base64.b64encode(kind.encode() + b":" + secrets.token_bytes(24)).decode()


def _now() -> str:
    return _stamp(datetime.now(UTC))


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass
class _Folder:
    id: str
    name: str
    parent_id: str | None
    distinguished: str | None = None
    folder_class: str = "IPF.Note"
    changekey: str = field(default_factory=lambda: _new_id("ck"))


@dataclass
class _Item:
    id: str
    folder_id: str
    mime: bytes
    conversation_id: str
    categories: list[str] = field(default_factory=list)
    changekey: str = field(default_factory=lambda: _new_id("ck"))
    received: str = field(default_factory=_now)  # also its time sent: the fake keeps one time
    props: dict[str, str] = field(default_factory=dict)  # Internet headers set as properties

    @property
    def subject(self) -> str:
        return str(_parse_mime(self.mime).get("Subject", ""))

    @property
    def message_id(self) -> str:
        return str(_parse_mime(self.mime).get("Message-ID", ""))


@dataclass(frozen=True)
class StoredItem:
    """A copy of an item as a test sees it."""

    item_id: str
    mime: bytes
    subject: str
    categories: tuple[str, ...]
    conversation_id: str


@dataclass(frozen=True)
class DeletedItem:
    """An item DeleteItem took away, and how (HardDelete, SoftDelete, MoveToDeletedItems)."""

    delete_type: str
    folder: str  # the distinguished name of the folder it was in ("sentitems"), or its name
    mime: bytes


@dataclass(frozen=True)
class SentMail:
    """A mail the fake 'sent' (CreateItem with SendAndSaveCopy or SendOnly)."""

    subject: str
    to: tuple[str, ...]
    text: str | None
    html: str | None
    mime: bytes


@dataclass
class _Subscription:
    id: str
    folder_ids: set[str]
    event_types: set[str]
    pending: list[str] = field(default_factory=list)  # event XML waiting for a stream
    active: bool = True


@dataclass(eq=False)
class _Stream:
    """One open GetStreamingEvents response."""

    dropped: bool = False  # set by drop_stream(): cut it without a proper end


def _parse_mime(mime: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(mime, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


class _Fault(Exception):
    """A whole-request SOAP fault (HTTP 500), like ErrorServerBusy or a schema error."""

    def __init__(self, code: str, text: str, detail_xml: str = "") -> None:
        super().__init__(code)
        self.code, self.text, self.detail_xml = code, text, detail_xml


class FakeEws:
    """A fake Exchange mailbox for ``address`` served at ``self.endpoint``."""

    def __init__(
        self,
        address: str = "duty@council.example",
        *,
        username: str = "svc-dutybot",
        password: str = "correct horse",
        auth: Literal["basic", "ntlm"] = "basic",
        heartbeat_seconds: float = 5.0,
    ) -> None:
        self.address = address
        self.username, self.password, self.auth = username, password, auth
        self.heartbeat_seconds = heartbeat_seconds
        # Fault switches; tests flip these directly.
        self.reject_auth = False
        self.down = False
        self.ews_blocked = False  # 403, as Exchange Online answers when EWS is switched off
        self.streaming_supported = True
        self.unsubscribe_ends_stream = True  # False: like a server that leaves the stream open
        self.refuse_send_as = False  # SendItem answers ErrorSendAsDenied
        self.promote_headers = False  # X- headers of MIME that comes in become properties
        self.operations: list[str] = []  # names of the SOAP operations served, in order
        self.http_requests = 0  # every POST, including those turned away (401, 503)
        self.bodies: list[bytes] = []  # raw request bodies, for looking at what exchangelib sends
        self._cond = threading.Condition()
        self._busy: list[int] = []  # BackOffMilliseconds for the next requests
        self._folders: dict[str, _Folder] = {}
        self._items: dict[str, _Item] = {}
        self._sent: list[SentMail] = []
        self._deleted: list[DeletedItem] = []
        self._sync_states: dict[str, tuple[str, dict[str, str]]] = {}
        self._subs: dict[str, _Subscription] = {}
        self._streams: list[_Stream] = []
        self._ntlm_file: str | None = None
        self._saved_ntlm_env: str | None = None
        self.directory = FakeDirectory()  # people: managers, automatic replies, calendars
        self._make_folders()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/EWS/Exchange.asmx"

    def __enter__(self) -> FakeEws:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.auth == "ntlm":
            self._setup_ntlm()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            for stream in self._streams:
                stream.dropped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()
        if self._ntlm_file:
            os.unlink(self._ntlm_file)
            if self._saved_ntlm_env is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._saved_ntlm_env

    def _setup_ntlm(self) -> None:
        # pyspnego's NTLM acceptor reads users from the file named by NTLM_USER_FILE.
        domain, _, user = self.username.rpartition("\\")
        fd, path = tempfile.mkstemp(prefix="fake-ews-ntlm-")
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{domain}:{user}:{self.password}\n")
        self._ntlm_file = path
        self._saved_ntlm_env = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = path

    # -- test helpers ----------------------------------------------------------------------

    def deliver(self, mime: bytes, folder: str = "inbox") -> str:
        """Drop an email into a folder (the inbox by default) as if it had just arrived."""
        with self._cond:
            folder_id = self._distinguished(folder).id
            item = _Item(
                id=_new_id("item"), folder_id=folder_id, mime=mime, conversation_id=_new_id("conv"),
                props=self._promoted(mime),
            )  # fmt: skip
            self._items[item.id] = item
            self._notify(item, ("NewMailEvent", "CreatedEvent"))
            return item.id

    def inbox_items(self) -> list[StoredItem]:
        return self.folder_items("inbox")

    def folder_items(self, path: str) -> list[StoredItem]:
        """Items in a distinguished folder ("inbox") or a path under msgfolderroot ("Duty/Done")."""
        with self._cond:
            folder = self._folder_by_path(path)
            if folder is None:
                return []
            return [
                StoredItem(i.id, i.mime, i.subject, tuple(i.categories), i.conversation_id)
                for i in self._items.values()
                if i.folder_id == folder.id
            ]

    def folder_exists(self, path: str) -> bool:
        with self._cond:
            return self._folder_by_path(path) is not None

    def sent(self) -> list[SentMail]:
        with self._cond:
            return list(self._sent)

    def age(self, delta: timedelta) -> None:
        """Every item is now ``delta`` older (sent and received that much earlier)."""
        with self._cond:
            for item in self._items.values():
                item.received = _stamp(_when(item.received) - delta)

    def deleted(self) -> list[DeletedItem]:
        with self._cond:
            return list(self._deleted)

    def busy_next(self, n: int, backoff_ms: int) -> None:
        """Answer the next ``n`` requests with ErrorServerBusy and this BackOffMilliseconds."""
        with self._cond:
            self._busy.extend([backoff_ms] * n)

    def drop_stream(self) -> None:
        """Cut every open GetStreamingEvents connection without a proper end."""
        with self._cond:
            for stream in self._streams:
                stream.dropped = True
            self._cond.notify_all()

    def invalidate_sync_states(self) -> None:
        """Forget every sync state minted so far: using one gives ErrorInvalidSyncStateData."""
        with self._cond:
            self._sync_states.clear()

    def open_streams(self) -> int:
        with self._cond:
            return len(self._streams)

    def wait_for_streams(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` streaming connections are open."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._streams) >= n, timeout)

    def wait_no_streams(self, timeout: float = 5.0) -> bool:
        """Wait until every streaming connection has ended."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._streams, timeout)

    def count(self, operation: str) -> int:
        with self._cond:
            return self.operations.count(operation)

    # -- folders ----------------------------------------------------------------------------

    def _make_folders(self) -> None:
        ids = {name: _new_id("folder") for name in WELL_KNOWN}
        for name, (display, parent) in WELL_KNOWN.items():
            folder = _Folder(ids[name], display, ids[parent] if parent else None, name)
            self._folders[folder.id] = folder

    def _distinguished(self, name: str) -> _Folder:
        for folder in self._folders.values():
            if folder.distinguished == name:
                return folder
        raise KeyError(name)

    def _folder_by_path(self, path: str) -> _Folder | None:
        if path in WELL_KNOWN:
            return self._distinguished(path)
        folder: _Folder | None = self._distinguished("msgfolderroot")
        for part in path.split("/"):
            folder = next(
                (
                    f
                    for f in self._folders.values()
                    if folder and f.parent_id == folder.id and f.name.lower() == part.lower()
                ),
                None,
            )
        return folder

    def _folder_ref(self, el: ET.Element) -> _Folder:
        """Resolve a t:FolderId or t:DistinguishedFolderId element."""
        if el.tag == _q(T, "DistinguishedFolderId"):
            owner = el.findtext(f"{{{T}}}Mailbox/{{{T}}}EmailAddress")
            if owner and owner.lower() != self.address.lower():
                raise _ItemError("ErrorNonExistentMailbox", "No mailbox with such guid.")
            try:
                return self._distinguished(el.get("Id", ""))
            except KeyError:
                raise _ItemError(
                    "ErrorFolderNotFound", "The specified folder could not be found in the store."
                ) from None
        folder = self._folders.get(el.get("Id", ""))
        if folder is None:
            raise _ItemError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return folder

    def _folder_xml(self, f: _Folder) -> str:
        parent = self._folders.get(f.parent_id or "")
        total = sum(1 for i in self._items.values() if i.folder_id == f.id)
        children = sum(1 for c in self._folders.values() if c.parent_id == f.id)
        parts = [f"<t:FolderId Id={quoteattr(f.id)} ChangeKey={quoteattr(f.changekey)}/>"]
        if parent:
            parts.append(_id_xml("ParentFolderId", parent.id, parent.changekey))
        parts.append(f"<t:FolderClass>{f.folder_class}</t:FolderClass>")
        parts.append(f"<t:DisplayName>{escape(f.name)}</t:DisplayName>")
        parts.append(f"<t:TotalCount>{total}</t:TotalCount>")
        parts.append(f"<t:ChildFolderCount>{children}</t:ChildFolderCount>")
        parts.append(
            "<t:EffectiveRights><t:CreateAssociated>true</t:CreateAssociated>"
            "<t:CreateContents>true</t:CreateContents><t:CreateHierarchy>true</t:CreateHierarchy>"
            "<t:Delete>true</t:Delete><t:Modify>true</t:Modify><t:Read>true</t:Read>"
            "<t:ViewPrivateItems>true</t:ViewPrivateItems></t:EffectiveRights>"
        )
        if f.distinguished:
            parts.append(f"<t:DistinguishedFolderId>{f.distinguished}</t:DistinguishedFolderId>")
        parts.append("<t:UnreadCount>0</t:UnreadCount>")
        return f"<t:Folder>{''.join(parts)}</t:Folder>"

    # -- items ---------------------------------------------------------------------------------

    def _item_xml(self, item: _Item, fields: set[str], props: dict[str, str] | None = None) -> str:
        """The item with the requested FieldURIs (those the fake knows; others are left out) and
        the requested Internet-header properties it has (``props``: lower-cased name -> name)."""
        props = props or {}
        parts = []
        if "item:MimeContent" in fields:
            data = base64.b64encode(item.mime).decode()
            parts.append(f'<t:MimeContent CharacterSet="UTF-8">{data}</t:MimeContent>')
        parts.append(f"<t:ItemId Id={quoteattr(item.id)} ChangeKey={quoteattr(item.changekey)}/>")
        if "item:ParentFolderId" in fields:
            folder = self._folders[item.folder_id]
            parts.append(_id_xml("ParentFolderId", folder.id, folder.changekey))
        if "item:ItemClass" in fields:
            parts.append("<t:ItemClass>IPM.Note</t:ItemClass>")
        if "item:Subject" in fields:
            parts.append(f"<t:Subject>{escape(item.subject)}</t:Subject>")
        if "item:DateTimeReceived" in fields:
            parts.append(f"<t:DateTimeReceived>{item.received}</t:DateTimeReceived>")
        if "item:DateTimeSent" in fields:
            parts.append(f"<t:DateTimeSent>{item.received}</t:DateTimeSent>")
        for name, value in item.props.items():
            if name in props:
                parts.append(
                    '<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="'
                    f'InternetHeaders" PropertyName={quoteattr(props[name])} '
                    f'PropertyType="String"/><t:Value>{escape(value)}</t:Value></t:ExtendedProperty>'
                )
        if "item:Categories" in fields and item.categories:
            strings = "".join(f"<t:String>{escape(c)}</t:String>" for c in item.categories)
            parts.append(f"<t:Categories>{strings}</t:Categories>")
        if "item:WebClientReadFormQueryString" in fields:
            link = (
                f"https://mail.council.example/owa/?ItemID={quote(item.id, safe='')}"
                "&exvsurl=1&viewmodel=ReadMessageItem"
            )
            parts.append(
                f"<t:WebClientReadFormQueryString>{escape(link)}</t:WebClientReadFormQueryString>"
            )
        if "item:ConversationId" in fields:
            parts.append(f"<t:ConversationId Id={quoteattr(item.conversation_id)}/>")
        if "message:InternetMessageId" in fields:
            parts.append(f"<t:InternetMessageId>{escape(item.message_id)}</t:InternetMessageId>")
        parts.append(self._reply_to_xml(item, fields))
        return f"<t:Message>{''.join(parts)}</t:Message>"

    def _notify(self, item: _Item, kinds: tuple[str, ...]) -> None:
        """Queue events for subscriptions on the item's folder (call with the lock held)."""
        folder = self._folders[item.folder_id]
        for sub in self._subs.values():
            if not sub.active or folder.id not in sub.folder_ids:
                continue
            for kind in kinds:
                if kind not in sub.event_types:
                    continue
                sub.pending.append(
                    f"<t:{kind}><t:Watermark>{_new_id('wm')}</t:Watermark>"
                    f"<t:TimeStamp>{_now()}</t:TimeStamp>"
                    f"<t:ItemId Id={quoteattr(item.id)} ChangeKey={quoteattr(item.changekey)}/>"
                    f"<t:ParentFolderId Id={quoteattr(folder.id)} "
                    f"ChangeKey={quoteattr(folder.changekey)}/></t:{kind}>"
                )
        self._cond.notify_all()

    # -- request dispatch -----------------------------------------------------------------------

    def _take_busy(self) -> int | None:
        with self._cond:
            return self._busy.pop(0) if self._busy else None

    def handle(self, op: str, request: ET.Element) -> str:
        """Answer one (non-streaming) operation; returns the Body content XML."""
        if op in PEOPLE_OPERATIONS:
            return self._people(op, request)
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise _Fault("ErrorInvalidRequest", f"The request is invalid: {op} is not supported.")
        with self._cond:
            messages = handler(request)
        return (
            f'<m:{op}Response xmlns:m="{M}" xmlns:t="{T}">'
            f"<m:ResponseMessages>{''.join(messages)}</m:ResponseMessages></m:{op}Response>"
        )

    # Each _op_ returns the list of ResponseMessage XML strings, one per requested thing.

    def _op_ConvertId(self, req: ET.Element) -> list[str]:
        # Only used by exchangelib to guess the version; the dummy id is malformed on purpose.
        return [
            _error("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")
            for _ in req.iter(_q(T, "AlternateId"))
        ]

    def _op_GetFolder(self, req: ET.Element) -> list[str]:
        out = []
        for ref in list(req.find(_q(M, "FolderIds")) or []):
            try:
                folder = self._folder_ref(ref)
            except _ItemError as e:
                out.append(_error("GetFolder", e.code, e.text))
                continue
            out.append(_ok("GetFolder", f"<m:Folders>{self._folder_xml(folder)}</m:Folders>"))
        return out

    def _op_FindFolder(self, req: ET.Element) -> list[str]:
        parents = list(req.find(_q(M, "ParentFolderIds")) or [])
        deep = req.get("Traversal") == "Deep"
        name = None
        equal = req.find(f"{{{M}}}Restriction/{{{T}}}IsEqualTo")
        if equal is not None:
            uri = equal.find(_q(T, "FieldURI"))
            const = equal.find(f"{{{T}}}FieldURIOrConstant/{{{T}}}Constant")
            if uri is None or uri.get("FieldURI") != "folder:DisplayName" or const is None:
                raise _Fault("ErrorInvalidRestriction", "The fake only filters on folder names.")
            name = const.get("Value", "")
        out = []
        for ref in parents:
            try:
                parent = self._folder_ref(ref)
            except _ItemError as e:
                out.append(_error("FindFolder", e.code, e.text))
                continue
            found = [
                f
                for f in self._descendants(parent, deep)
                if name is None or f.name.lower() == name.lower()
            ]
            folders = "".join(self._folder_xml(f) for f in found)
            out.append(
                _ok(
                    "FindFolder",
                    f'<m:RootFolder IndexedPagingOffset="{len(found)}" '
                    f'TotalItemsInView="{len(found)}" IncludesLastItemInRange="true">'
                    f"<t:Folders>{folders}</t:Folders></m:RootFolder>",
                )
            )
        return out

    def _descendants(self, parent: _Folder, deep: bool) -> Iterator[_Folder]:
        for f in list(self._folders.values()):
            if f.parent_id == parent.id:
                yield f
                if deep:
                    yield from self._descendants(f, deep)

    def _op_CreateFolder(self, req: ET.Element) -> list[str]:
        parent_el = req.find(_q(M, "ParentFolderId"))
        assert parent_el is not None
        out = []
        for spec in list(req.find(_q(M, "Folders")) or []):
            name = spec.findtext(_q(T, "DisplayName")) or ""
            try:
                parent = self._folder_ref(parent_el[0])
            except _ItemError as e:
                out.append(_error("CreateFolder", e.code, e.text, "<m:Folders/>"))
                continue
            if any(
                f.parent_id == parent.id and f.name.lower() == name.lower()
                for f in self._folders.values()
            ):
                out.append(
                    _error(
                        "CreateFolder",
                        "ErrorFolderExists",
                        "A folder with the specified name already exists.",
                        "<m:Folders/>",
                    )
                )
                continue
            folder = _Folder(
                _new_id("folder"),
                name,
                parent.id,
                folder_class=spec.findtext(_q(T, "FolderClass")) or "IPF.Note",
            )
            self._folders[folder.id] = folder
            out.append(
                _ok(
                    "CreateFolder",
                    f"<m:Folders><t:Folder><t:FolderId Id={quoteattr(folder.id)} "
                    f"ChangeKey={quoteattr(folder.changekey)}/></t:Folder></m:Folders>",
                )
            )
        return out

    def _op_SyncFolderItems(self, req: ET.Element) -> list[str]:
        ref = req.find(_q(M, "SyncFolderId"))
        assert ref is not None
        try:
            folder = self._folder_ref(ref[0])
        except _ItemError as e:
            return [_error("SyncFolderItems", e.code, e.text)]
        state = req.findtext(_q(M, "SyncState"))
        max_changes = int(req.findtext(_q(M, "MaxChangesReturned")) or "512")
        fields = _requested_fields(req.find(_q(M, "ItemShape")))
        known: dict[str, str] = {}
        if state:
            saved = self._sync_states.get(state)
            if saved is None or saved[0] != folder.id:
                return [
                    _error(
                        "SyncFolderItems",
                        "ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid.",
                        "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                    )
                ]
            known = dict(saved[1])
        # Like SyncFolderItems, streamable properties (MimeContent, Body) are not returned here.
        fields -= {"item:MimeContent", "item:Body"}
        current = [i for i in self._items.values() if i.folder_id == folder.id]
        # Which items changed first, and the XML of only the page sent: a first sync of a
        # full inbox reads it a page at a time, and must not cost the whole folder each page.
        changes: list[tuple[str, str]] = []  # (id, Create | Update | Delete)
        for item in current:
            if item.id not in known:
                changes.append((item.id, "Create"))
            elif known[item.id] != item.changekey:
                changes.append((item.id, "Update"))
        current_ids = {i.id for i in current}
        changes += [(gone, "Delete") for gone in known if gone not in current_ids]
        page, rest = changes[:max_changes], changes[max_changes:]
        for item_id, _ in page:
            if item_id in current_ids:
                known[item_id] = self._items[item_id].changekey
            else:
                known.pop(item_id, None)
        page = [
            (i, f"<t:{kind}>{self._item_xml(self._items[i], fields)}</t:{kind}>")
            if kind != "Delete"
            else (i, f"<t:Delete><t:ItemId Id={quoteattr(i)}/></t:Delete>")
            for i, kind in page
        ]
        new_state = _new_id("sync")
        self._sync_states[new_state] = (folder.id, known)
        return [
            _ok(
                "SyncFolderItems",
                f"<m:SyncState>{new_state}</m:SyncState>"
                f"<m:IncludesLastItemInRange>{'false' if rest else 'true'}"
                "</m:IncludesLastItemInRange>"
                f"<m:Changes>{''.join(xml for _, xml in page)}</m:Changes>",
            )
        ]

    def _op_GetItem(self, req: ET.Element) -> list[str]:
        shape = req.find(_q(M, "ItemShape"))
        fields, props = _requested_fields(shape), _requested_props(shape)
        out = []
        for ref in list(req.find(_q(M, "ItemIds")) or []):
            item = self._items.get(ref.get("Id", ""))
            if item is None:
                out.append(_not_found("GetItem"))
                continue
            xml = self._item_xml(item, fields, props)
            out.append(_ok("GetItem", f"<m:Items>{xml}</m:Items>"))
        return out

    def _op_FindItem(self, req: ET.Element) -> list[str]:
        """Items of a folder, optionally only those sent or received before a time, a page at a
        time (IndexedPageItemView). Like Exchange, no MIME or body in FindItem."""
        shape = req.find(_q(M, "ItemShape"))
        fields = _requested_fields(shape) - {"item:MimeContent", "item:Body"}
        props = _requested_props(shape)
        before = _before(req.find(_q(M, "Restriction")))
        view = req.find(_q(M, "IndexedPageItemView"))
        size = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        offset = int(view.get("Offset", "0")) if view is not None else 0
        out = []
        for ref in list(req.find(_q(M, "ParentFolderIds")) or []):
            try:
                folder = self._folder_ref(ref)
            except _ItemError as e:
                out.append(_error("FindItem", e.code, e.text))
                continue
            found = [
                i
                for i in self._items.values()
                if i.folder_id == folder.id and (before is None or _when(i.received) < before)
            ]
            page = found[offset : offset + size]
            last = "true" if offset + len(page) >= len(found) else "false"
            items = "".join(self._item_xml(i, fields, props) for i in page)
            out.append(
                _ok(
                    "FindItem",
                    f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" '
                    f'TotalItemsInView="{len(found)}" IncludesLastItemInRange="{last}">'
                    f"<t:Items>{items}</t:Items></m:RootFolder>",
                )
            )
        return out

    def _op_DeleteItem(self, req: ET.Element) -> list[str]:
        kind = req.get("DeleteType", "")
        out = []
        for ref in list(req.find(_q(M, "ItemIds")) or []):
            item = self._items.pop(ref.get("Id", ""), None)
            if item is None:
                out.append(_not_found("DeleteItem"))
                continue
            folder = self._folders[item.folder_id]
            self._deleted.append(DeletedItem(kind, folder.distinguished or folder.name, item.mime))
            out.append(_ok("DeleteItem"))
        return out

    def _op_SendItem(self, req: ET.Element) -> list[str]:
        """Send saved drafts, as Exchange does: the draft leaves Drafts, and with
        SaveItemToFolder a copy (its Message-ID and properties kept) goes to Sent Items."""
        save = req.get("SaveItemToFolder", "true").lower() == "true"
        saved_el = req.find(_q(M, "SavedItemFolderId"))
        out = []
        for ref in list(req.find(_q(M, "ItemIds")) or []):
            item = self._items.get(ref.get("Id", ""))
            if item is None:
                out.append(_not_found("SendItem"))
                continue
            if self.refuse_send_as:
                out.append(_error("SendItem", "ErrorSendAsDenied", "No Send As right."))
                continue
            if ref.get("ChangeKey") not in (None, item.changekey):
                out.append(_error("SendItem", "ErrorStaleObject", "The change key is out of date."))
                continue
            msg = _parse_mime(item.mime)
            to = tuple(str(a.addr_spec) for a in getattr(msg.get("To"), "addresses", ()))
            self._sent.append(SentMail(str(msg.get("Subject", "")), to, *_bodies(msg), item.mime))
            del self._items[item.id]
            if save:
                folder = (
                    self._folder_ref(saved_el[0])
                    if saved_el is not None
                    else self._distinguished("sentitems")
                )
                copy = _Item(_new_id("item"), folder.id, item.mime, item.conversation_id,
                             props=dict(item.props))  # fmt: skip
                self._items[copy.id] = copy
            out.append(_ok("SendItem"))
        return out

    def _op_MoveItem(self, req: ET.Element) -> list[str]:
        to_el = req.find(_q(M, "ToFolderId"))
        assert to_el is not None
        target = self._folder_ref(to_el[0])
        out = []
        for ref in list(req.find(_q(M, "ItemIds")) or []):
            item = self._items.pop(ref.get("Id", ""), None)
            if item is None:
                out.append(_not_found("MoveItem"))
                continue
            # Exchange gives a moved item a new id (and a new change key).
            moved = _Item(
                id=_new_id("item"),
                folder_id=target.id,
                mime=item.mime,
                conversation_id=item.conversation_id,
                categories=item.categories,
                received=item.received,
                props=item.props,
            )
            self._items[moved.id] = moved
            out.append(_ok("MoveItem", f"<m:Items>{self._item_xml(moved, set())}</m:Items>"))
        return out

    def _op_UpdateItem(self, req: ET.Element) -> list[str]:
        out = []
        for change in req.iter(_q(T, "ItemChange")):
            ref = change.find(_q(T, "ItemId"))
            item = self._items.get(ref.get("Id", "") if ref is not None else "")
            if item is None:
                out.append(_not_found("UpdateItem"))
                continue
            for update in list(change.find(_q(T, "Updates")) or []):
                header = update.find(_q(T, "ExtendedFieldURI"))
                if header is not None and update.tag == _q(T, "SetItemField"):
                    self._set_header(item, header, update)
                    continue
                uri = update.find(_q(T, "FieldURI"))
                if uri is None or uri.get("FieldURI") != "item:Categories":
                    raise _Fault("ErrorInvalidPropertySet", "The fake only updates categories.")
                values = [s.text or "" for s in update.iter(_q(T, "String"))]
                if update.tag == _q(T, "SetItemField"):
                    item.categories = values
                elif update.tag == _q(T, "AppendToItemField"):
                    item.categories += values
                else:  # DeleteItemField
                    item.categories = []
            item.changekey = _new_id("ck")
            out.append(
                _ok(
                    "UpdateItem",
                    f"<m:Items>{self._item_xml(item, set())}</m:Items>"
                    "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>",
                )
            )
        return out

    def _op_CreateItem(self, req: ET.Element) -> list[str]:
        disposition = req.get("MessageDisposition", "SaveOnly")
        saved_el = req.find(_q(M, "SavedItemFolderId"))
        out = []
        for spec in list(req.find(_q(M, "Items")) or []):
            if spec.tag in (_q(T, "ReplyToItem"), _q(T, "ReplyAllToItem")):
                out.append(self._reply_item(spec, disposition, saved_el))
                continue
            mime_b64 = spec.findtext(_q(T, "MimeContent"))
            mime = base64.b64decode(mime_b64) if mime_b64 else _mime_from_fields(spec)
            msg = _parse_mime(mime)
            to = tuple(
                a.text or ""
                for a in spec.iterfind(f"{{{T}}}ToRecipients/{{{T}}}Mailbox/{{{T}}}EmailAddress")
            ) or tuple(str(a.addr_spec) for a in getattr(msg.get("To"), "addresses", ()))
            if disposition == "SaveOnly":
                folder = self._folder_ref(saved_el[0]) if saved_el is not None else None
                folder = folder or self._distinguished("drafts")
                item = _Item(_new_id("item"), folder.id, mime, _new_id("conv"),
                             props=self._promoted(mime))  # fmt: skip
                self._items[item.id] = item
                out.append(_ok("CreateItem", f"<m:Items>{self._item_xml(item, set())}</m:Items>"))
                continue
            self._sent.append(SentMail(str(msg.get("Subject", "")), to, *_bodies(msg), mime))
            if disposition == "SendAndSaveCopy":
                folder = (
                    self._folder_ref(saved_el[0])
                    if saved_el is not None
                    else self._distinguished("sentitems")
                )
                saved = _Item(_new_id("item"), folder.id, mime, _new_id("conv"),
                              props=self._promoted(mime))  # fmt: skip
                self._items[saved.id] = saved
            if self.address.lower() in (a.lower() for a in to):
                # Mail to the shared mailbox itself lands in its inbox, as on a real server.
                inbox = self._distinguished("inbox")
                arrived = _Item(_new_id("item"), inbox.id, mime, _new_id("conv"),
                                props=self._promoted(mime))  # fmt: skip
                self._items[arrived.id] = arrived
                self._notify(arrived, ("NewMailEvent", "CreatedEvent"))
            out.append(_ok("CreateItem", "<m:Items/>"))  # sending returns no item id
        return out

    def _promoted(self, mime: bytes) -> dict[str, str]:
        """The X- headers of MIME coming in, as properties, if ``promote_headers``."""
        if not self.promote_headers:
            return {}
        head = email.message_from_bytes(mime, policy=email.policy.compat32)
        return {k.lower(): str(v).strip() for k, v in head.items() if k.lower().startswith("x-")}

    def _set_header(self, item: _Item, uri: ET.Element, update: ET.Element) -> None:
        """An Internet header set as a property: kept, and written into the item's MIME."""
        if uri.get("DistinguishedPropertySetId") != "InternetHeaders":
            raise _Fault("ErrorInvalidPropertySet", "The fake only sets Internet headers.")
        name = uri.get("PropertyName", "")
        value = update.findtext(f".//{{{T}}}ExtendedProperty/{{{T}}}Value") or ""
        item.props[name.lower()] = value
        msg = email.message_from_bytes(item.mime, policy=email.policy.compat32)
        del msg[name]
        msg[name] = value
        item.mime = msg.as_bytes()

    def _reply_to_xml(self, item: _Item, fields: set[str]) -> str:
        """message:ReplyTo, when asked for and the email has one."""
        if "message:ReplyTo" not in fields:
            return ""
        asked = getattr(_parse_mime(item.mime).get("Reply-To"), "addresses", ())
        boxes = "".join(
            f"<t:Mailbox><t:Name>{escape(a.display_name)}</t:Name>"
            f"<t:EmailAddress>{escape(a.addr_spec)}</t:EmailAddress>"
            "<t:RoutingType>SMTP</t:RoutingType></t:Mailbox>"
            for a in asked
        )
        return f"<t:ReplyTo>{boxes}</t:ReplyTo>" if boxes else ""

    def _reply_item(self, spec: ET.Element, disposition: str, saved_el: ET.Element | None) -> str:
        """A ReplyToItem (or ReplyAllToItem) in CreateItem, as Exchange answers it: threaded
        under the email (In-Reply-To, References, the same conversation); with only
        NewBodyContent, the text goes above a quote of the original; with a Body, the Body is
        the whole message. Without ToRecipients it goes to the email's Reply-To, else From."""
        ref = spec.find(_q(T, "ReferenceItemId"))
        original = self._items.get(ref.get("Id", "") if ref is not None else "")
        if original is None or ref is None:
            return _not_found("CreateItem")
        if ref.get("ChangeKey") != original.changekey:
            return _error(
                "CreateItem", "ErrorStaleObject", "The change key is missing or out of date."
            )
        first = _parse_mime(original.mime)
        given = spec.find(_q(T, "Body"))
        if given is not None:
            text = given.text or ""
        else:
            new = spec.findtext(_q(T, "NewBodyContent")) or ""
            old = first.get_body(preferencelist=("plain",))
            quoted = old.get_content() if old is not None else ""  # type: ignore[attr-defined]
            text = (
                f"{new}\n\n________________________________\nFrom: {first.get('From', '')}\n"
                f"Subject: {first.get('Subject', '')}\n\n{quoted}"
            )
        to = tuple(
            a.text or ""
            for a in spec.iterfind(f"{{{T}}}ToRecipients/{{{T}}}Mailbox/{{{T}}}EmailAddress")
        ) or tuple(
            str(a.addr_spec)
            for a in getattr(first.get("Reply-To") or first.get("From"), "addresses", ())
        )
        msg = email.message.EmailMessage()
        author = spec.findtext(f"{{{T}}}From/{{{T}}}Mailbox/{{{T}}}EmailAddress")
        msg["From"] = author or self.address
        msg["To"] = ", ".join(to)
        msg["Subject"] = spec.findtext(_q(T, "Subject")) or f"RE: {first.get('Subject', '')}"
        msg["Message-ID"] = f"<{secrets.token_hex(12)}@{self.address.rpartition('@')[2]}>"
        parent = str(first.get("Message-ID", "")).strip()
        if parent:
            msg["In-Reply-To"] = parent
            msg["References"] = " ".join([*str(first.get("References", "")).split(), parent])
        msg.set_content(text)
        mime = bytes(msg)
        if disposition == "SaveOnly":
            drafts = self._folder_ref(saved_el[0]) if saved_el is not None else None
            draft = _Item(_new_id("item"), (drafts or self._distinguished("drafts")).id, mime,
                          original.conversation_id)  # fmt: skip
            self._items[draft.id] = draft
            return _ok("CreateItem", f"<m:Items>{self._item_xml(draft, set())}</m:Items>")
        self._sent.append(SentMail(str(msg["Subject"]), to, *_bodies(msg), mime))
        if disposition == "SendAndSaveCopy":
            folder = (
                self._folder_ref(saved_el[0])
                if saved_el is not None
                else self._distinguished("sentitems")
            )
            copy = _Item(_new_id("item"), folder.id, mime, original.conversation_id)
            self._items[copy.id] = copy
        return _ok("CreateItem", "<m:Items/>")

    def _op_Subscribe(self, req: ET.Element) -> list[str]:
        spec = req.find(_q(M, "StreamingSubscriptionRequest"))
        if spec is None or not self.streaming_supported:
            return [_error("Subscribe", "ErrorInvalidSubscriptionRequest", "Not supported here.")]
        folder_ids = {self._folder_ref(ref).id for ref in list(spec.find(_q(T, "FolderIds")) or [])}
        kinds = {e.text or "" for e in spec.iter(_q(T, "EventType"))}
        sub = _Subscription(_new_id("sub"), folder_ids, kinds)
        self._subs[sub.id] = sub
        return [_ok("Subscribe", f"<m:SubscriptionId>{sub.id}</m:SubscriptionId>")]

    def _op_Unsubscribe(self, req: ET.Element) -> list[str]:
        sub_id = req.findtext(_q(M, "SubscriptionId")) or ""
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return [_error("Unsubscribe", "ErrorSubscriptionNotFound", "No such subscription.")]
        sub.active = False
        self._cond.notify_all()
        return [_ok("Unsubscribe")]

    # -- people: the address book, mail tips, free/busy (tests/fakes/directory.py) -------------

    def _people(self, op: str, req: ET.Element) -> str:
        """The directory operations, answered from ``self.directory``; a slow directory
        waits outside the server's lock, as one busy Exchange role wouldn't block another."""
        self.directory.served(op)
        if self.directory.down:
            raise _Fault("ErrorInternalServerError", "An internal server error occurred.")
        with self._cond:
            if op == "GetUserAvailabilityRequest":  # answered without ResponseMessages
                return self._people_availability(req)
            messages = getattr(self, f"_people_{op}")(req)
        return (
            f'<m:{op}Response xmlns:m="{M}" xmlns:t="{T}">'
            f"<m:ResponseMessages>{''.join(messages)}</m:ResponseMessages></m:{op}Response>"
        )

    def _people_ResolveNames(self, req: ET.Element) -> list[str]:  # noqa: N802 - EWS's name
        full = req.get("ReturnFullContactData") == "true"
        all_properties = req.get("ContactDataShape") == "AllProperties"
        out = []
        for entry in req.iter(_q(M, "UnresolvedEntry")):
            person = self.directory.find(entry.text or "")
            if person is None:
                out.append(_error("ResolveNames", "ErrorNameResolutionNoResults",
                                  "No results were found."))  # fmt: skip
                continue
            contact = ""
            if full:
                boss = self.directory.find(person.manager or "")
                manager = f"<t:Manager>{escape(boss.name)}</t:Manager>" if boss else ""
                if boss and all_properties:  # only the full shape carries the mailbox
                    manager += f"<t:ManagerMailbox>{_mailbox_xml(boss.name, boss.email)}"
                    manager += "</t:ManagerMailbox>"
                contact = (
                    f"<t:Contact><t:DisplayName>{escape(person.name)}</t:DisplayName>"
                    f'<t:EmailAddresses><t:Entry Key="EmailAddress1">SMTP:{escape(person.email)}'
                    f"</t:Entry></t:EmailAddresses>{manager}"
                    "<t:ContactSource>ActiveDirectory</t:ContactSource></t:Contact>"
                )
            out.append(
                _ok(
                    "ResolveNames",
                    '<m:ResolutionSet TotalItemsInView="1" IncludesLastItemInRange="true">'
                    f"<t:Resolution>{_mailbox_xml(person.name, person.email)}{contact}"
                    "</t:Resolution></m:ResolutionSet>",
                )
            )
        return out

    def _people_GetMailTips(self, req: ET.Element) -> list[str]:  # noqa: N802 - EWS's name
        wanted = req.find(_q(M, "MailTipsRequested"))
        if wanted is None:  # required by the schema; Exchange refuses the request
            raise _Fault("ErrorSchemaValidation", "The request failed schema validation.")
        out = []
        for box in req.iterfind(f"{{{M}}}Recipients/{{{T}}}Mailbox"):
            address = box.findtext(_q(T, "EmailAddress")) or ""
            person = self.directory.find(address)
            oof = ""
            if "OutOfOfficeMessage" in (wanted.text or "") and person is not None:
                duration = ""
                if person.reply and person.reply_end:
                    start = person.reply_start or datetime.now(UTC)
                    duration = (
                        f"<t:Duration><t:StartTime>{_utc(start)}</t:StartTime>"
                        f"<t:EndTime>{_utc(person.reply_end)}</t:EndTime></t:Duration>"
                    )
                message = (
                    f"<t:Message>{escape(person.reply)}</t:Message>"
                    if person.reply
                    else ("<t:Message/>")
                )
                oof = (
                    f"<t:OutOfOffice><t:ReplyBody>{message}</t:ReplyBody>{duration}</t:OutOfOffice>"
                )
            out.append(
                '<m:MailTipsResponseMessageType ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode><m:MailTips>"
                f"<t:RecipientAddress><t:EmailAddress>{escape(address)}</t:EmailAddress>"
                f"<t:RoutingType>SMTP</t:RoutingType></t:RecipientAddress>{oof}"
                "</m:MailTips></m:MailTipsResponseMessageType>"
            )
        return out

    def _people_GetServerTimeZones(self, req: ET.Element) -> list[str]:  # noqa: N802
        asked = [e.text or "" for e in req.iter(_q(T, "Id"))]
        if any(a != "GMT Standard Time" for a in asked):
            return [_error("GetServerTimeZones", "ErrorTimeZone", "The fake knows only GMT.")]
        return [_ok("GetServerTimeZones", f"<m:TimeZoneDefinitions>{_GMT}</m:TimeZoneDefinitions>")]

    def _people_availability(self, req: ET.Element) -> str:
        window = req.find(f"{{{T}}}FreeBusyViewOptions/{{{T}}}TimeWindow")
        view = req.findtext(f"{{{T}}}FreeBusyViewOptions/{{{T}}}RequestedView") or ""
        self.directory.views.append(view)
        assert window is not None
        start = datetime.fromisoformat(window.findtext(_q(T, "StartTime")) or "")
        end = datetime.fromisoformat(window.findtext(_q(T, "EndTime")) or "")
        answers = []
        for data in req.iter(_q(T, "MailboxData")):
            person = self.directory.find(data.findtext(f"{{{T}}}Email/{{{T}}}Address") or "")
            if person is None:
                answers.append(
                    '<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Error">'
                    "<m:MessageText>No mailbox with such address.</m:MessageText>"
                    "<m:ResponseCode>ErrorMailRecipientNotFound</m:ResponseCode>"
                    "</m:ResponseMessage></m:FreeBusyResponse>"
                )
                continue
            events = "".join(
                "<t:CalendarEvent>"
                f"<t:StartTime>{_local(m.start)}</t:StartTime><t:EndTime>{_local(m.end)}</t:EndTime>"
                f"<t:BusyType>{_BUSY_TYPES[m.status]}</t:BusyType>"
                + (  # Exchange gives subjects only in the detailed views
                    f"<t:CalendarEventDetails><t:Subject>{escape(m.subject)}</t:Subject>"
                    "</t:CalendarEventDetails>"
                    if view.startswith("Detailed")
                    else ""
                )
                + "</t:CalendarEvent>"
                for m in person.calendar
                if m.end > start and m.start < end
            )
            answers.append(
                '<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode></m:ResponseMessage>"
                f"<m:FreeBusyView><t:FreeBusyViewType>{escape(view)}</t:FreeBusyViewType>"
                f"<t:CalendarEventArray>{events}</t:CalendarEventArray></m:FreeBusyView>"
                "</m:FreeBusyResponse>"
            )
        return (
            f'<m:GetUserAvailabilityResponse xmlns:m="{M}" xmlns:t="{T}">'
            f"<m:FreeBusyResponseArray>{''.join(answers)}</m:FreeBusyResponseArray>"
            "</m:GetUserAvailabilityResponse>"
        )

    # -- streaming --------------------------------------------------------------------------

    def _unsubscribed(self, sub_ids: list[str]) -> bool:
        return self.unsubscribe_ends_stream and any(s not in self._subs for s in sub_ids)

    def stream(self, handler: _Handler, req: ET.Element) -> None:
        """Serve GetStreamingEvents: keep the response open and write one SOAP envelope per
        notification until the connection timeout, an unsubscribe, or drop_stream()."""
        sub_ids = [e.text or "" for e in req.iter(_q(T, "SubscriptionId"))]
        minutes = int(req.findtext(_q(M, "ConnectionTimeout")) or "1")
        with self._cond:
            missing = [s for s in sub_ids if s not in self._subs]
            if missing:
                body = (
                    f'<m:GetStreamingEventsResponse xmlns:m="{M}" xmlns:t="{T}">'
                    "<m:ResponseMessages>"
                    + _error(
                        "GetStreamingEvents",
                        "ErrorSubscriptionNotFound",
                        "The specified subscription was not found.",
                        "<m:ErrorSubscriptionIds>"
                        + "".join(f"<m:SubscriptionId>{s}</m:SubscriptionId>" for s in missing)
                        + "</m:ErrorSubscriptionIds>",
                    )
                    + "</m:ResponseMessages></m:GetStreamingEventsResponse>"
                )
                handler.reply(200, _envelope(body))
                return
            stream = _Stream()
            self._streams.append(stream)
            self._cond.notify_all()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        deadline = time.monotonic() + minutes * 60
        next_beat = time.monotonic() + self.heartbeat_seconds
        try:
            handler.chunk(_stream_message("<m:ConnectionStatus>OK</m:ConnectionStatus>"))
            while True:
                with self._cond:
                    # Short waits, so a client hanging up is noticed (as a real server would).
                    self._cond.wait_for(
                        lambda: (
                            stream.dropped
                            or any(self._subs[s].pending for s in sub_ids if s in self._subs)
                            or self._unsubscribed(sub_ids)
                        ),
                        timeout=0.1,
                    )
                    if stream.dropped:
                        break
                    notes = []
                    for s in sub_ids:
                        sub = self._subs.get(s)
                        if sub and sub.pending:
                            notes.append(
                                f"<m:Notification><t:SubscriptionId>{s}</t:SubscriptionId>"
                                f"{''.join(sub.pending)}</m:Notification>"
                            )
                            sub.pending.clear()
                    ended = self._unsubscribed(sub_ids)
                if _client_gone(handler.connection):
                    return
                now = time.monotonic()
                if notes:
                    handler.chunk(
                        _stream_message(f"<m:Notifications>{''.join(notes)}</m:Notifications>")
                    )
                if ended or now >= deadline:
                    handler.chunk(
                        _stream_message("<m:ConnectionStatus>Closed</m:ConnectionStatus>")
                    )
                    handler.end_chunks()
                    return
                if now >= next_beat:  # Exchange sends a keep-alive status now and then
                    handler.chunk(_stream_message("<m:ConnectionStatus>OK</m:ConnectionStatus>"))
                    next_beat = now + self.heartbeat_seconds
        except OSError:
            return  # the client went away
        finally:
            with self._cond:
                if stream in self._streams:
                    self._streams.remove(stream)
                self._cond.notify_all()
        # Dropped: cut the TCP connection mid-response, as a failing load balancer would.
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)


def _client_gone(sock: socket.socket) -> bool:
    """True if the client closed its end (readable, and nothing to read)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


# -- people ------------------------------------------------------------------------------------

# The operations answered from FakeEws.directory (GetUserAvailability's request element is
# named ...Request).
PEOPLE_OPERATIONS = frozenset(
    {"ResolveNames", "GetMailTips", "GetServerTimeZones", "GetUserAvailabilityRequest"}
)
# The one zone the fake serves, as Exchange describes it; availability answers in it.
_LONDON = ZoneInfo("Europe/London")
_GMT = (
    '<t:TimeZoneDefinition Id="GMT Standard Time" '
    'Name="(UTC+00:00) Dublin, Edinburgh, Lisbon, London"><t:Periods>'
    '<t:Period Bias="PT0H" Name="Standard" Id="trule:Microsoft/Registry/GMT Standard Time/Std"/>'
    '<t:Period Bias="-PT1H" Name="Daylight" Id="trule:Microsoft/Registry/GMT Standard Time/Dlt"/>'
    '</t:Periods><t:TransitionsGroups><t:TransitionsGroup Id="0">'
    '<t:RecurringDayTransition><t:To Kind="Period">trule:Microsoft/Registry/GMT Standard Time/Dlt'
    "</t:To><t:TimeOffset>PT1H</t:TimeOffset><t:Month>3</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek>"
    "<t:Occurrence>-1</t:Occurrence></t:RecurringDayTransition>"
    '<t:RecurringDayTransition><t:To Kind="Period">trule:Microsoft/Registry/GMT Standard Time/Std'
    "</t:To><t:TimeOffset>PT2H</t:TimeOffset><t:Month>10</t:Month>"
    "<t:DayOfWeek>Sunday</t:DayOfWeek><t:Occurrence>-1</t:Occurrence></t:RecurringDayTransition>"
    '</t:TransitionsGroup></t:TransitionsGroups><t:Transitions><t:Transition><t:To Kind="Group">0'
    "</t:To></t:Transition></t:Transitions></t:TimeZoneDefinition>"
)
_BUSY_TYPES = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "oof": "OOF",
               "workingElsewhere": "WorkingElsewhere"}  # fmt: skip


def _mailbox_xml(name: str, email: str) -> str:
    return (
        f"<t:Mailbox><t:Name>{escape(name)}</t:Name><t:EmailAddress>{escape(email)}"
        "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
        "<t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>"
    )


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(when: datetime) -> str:
    # As Exchange answers availability: in the request's zone, with no offset.
    return when.astimezone(_LONDON).strftime("%Y-%m-%dT%H:%M:%S")


class _ItemError(Exception):
    """An error for one element of a request (a ResponseMessage with ResponseClass=Error)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(code)
        self.code, self.text = code, text


def _id_xml(tag: str, id_: str, changekey: str) -> str:
    return f"<t:{tag} Id={quoteattr(id_)} ChangeKey={quoteattr(changekey)}/>"


def _ok(op: str, inner: str = "") -> str:
    return (
        f'<m:{op}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"{inner}</m:{op}ResponseMessage>"
    )


def _error(op: str, code: str, text: str, inner: str = "") -> str:
    return (
        f'<m:{op}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{escape(text)}</m:MessageText>"
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        f"{inner}</m:{op}ResponseMessage>"
    )


def _not_found(op: str) -> str:
    return _error(
        op, "ErrorItemNotFound", "The specified object was not found in the store.", "<m:Items/>"
    )


def _envelope(body: str, header: bool = True) -> bytes:
    head = f"<s:Header>{SERVER_VERSION}</s:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}">{head}'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _stream_message(inner: str) -> bytes:
    # One complete envelope per message; exchangelib splits the stream on Envelope tags.
    return (
        f'<s:Envelope xmlns:s="{SOAP}"><s:Header>{SERVER_VERSION}</s:Header><s:Body>'
        f'<m:GetStreamingEventsResponse xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>'
        f'<m:GetStreamingEventsResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{inner}</m:GetStreamingEventsResponseMessage>"
        "</m:ResponseMessages></m:GetStreamingEventsResponse></s:Body></s:Envelope>"
    ).encode()


def _fault(code: str, text: str, detail_xml: str = "") -> bytes:
    return _envelope(
        f'<s:Fault><faultcode xmlns:a="{T}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(text)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{E}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{E}">{escape(text)}</e:Message>{detail_xml}</detail></s:Fault>',
        header=False,
    )


def _busy_fault(backoff_ms: int) -> bytes:
    # The shape Exchange uses when throttling: BackOffMilliseconds in t:MessageXml.
    return _fault(
        "ErrorServerBusy",
        BUSY_TEXT,
        f'<t:MessageXml xmlns:t="{T}"><t:Value Name="BackOffMilliseconds">{backoff_ms}'
        "</t:Value></t:MessageXml>",
    )


def _requested_fields(shape: ET.Element | None) -> set[str]:
    if shape is None:
        return set()
    fields = {f.get("FieldURI", "") for f in shape.iter(_q(T, "FieldURI"))}
    if (shape.findtext(_q(T, "IncludeMimeContent")) or "").lower() == "true":
        fields.add("item:MimeContent")
    return fields


def _requested_props(shape: ET.Element | None) -> dict[str, str]:
    """The Internet headers asked for as extended properties: lower-cased name -> name."""
    if shape is None:
        return {}
    return {
        uri.get("PropertyName", "").lower(): uri.get("PropertyName", "")
        for uri in shape.iter(_q(T, "ExtendedFieldURI"))
        if uri.get("DistinguishedPropertySetId") == "InternetHeaders"
    }


def _before(restriction: ET.Element | None) -> datetime | None:
    """The time in a "sent (or received) before" restriction, the only kind the fake knows."""
    if restriction is None:
        return None
    less = restriction.find(_q(T, "IsLessThan"))
    uri = less.find(_q(T, "FieldURI")) if less is not None else None
    const = less.find(f"{{{T}}}FieldURIOrConstant/{{{T}}}Constant") if less is not None else None
    if (
        uri is None
        or const is None
        or uri.get("FieldURI")
        not in (
            "item:DateTimeSent",
            "item:DateTimeReceived",
        )
    ):
        raise _Fault("ErrorInvalidRestriction", "The fake only filters on a time sent or received.")
    return _when(const.get("Value", ""))


def _bodies(msg: email.message.EmailMessage) -> tuple[str | None, str | None]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return (
        text.get_content() if text is not None else None,  # type: ignore[attr-defined]
        html.get_content() if html is not None else None,  # type: ignore[attr-defined]
    )


def _mime_from_fields(spec: ET.Element) -> bytes:
    """Turn a CreateItem Message given as fields (not MIME) into MIME, as Exchange would."""
    msg = email.message.EmailMessage()
    msg["Subject"] = spec.findtext(_q(T, "Subject")) or ""
    body = spec.find(_q(T, "Body"))
    text = body.text or "" if body is not None else ""
    if body is not None and body.get("BodyType") == "HTML":
        msg.set_content(text, subtype="html")
    else:
        msg.set_content(text)
    return bytes(msg)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client killed mid-request (the crash tests SIGKILL the bot) is expected; say
        # nothing. Anything else is a bug in the fake, so it is still printed.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: NTLM and streaming need it
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output quiet

    @property
    def fake(self) -> FakeEws:
        return self.server.fake  # type: ignore[attr-defined]

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        fake = self.fake
        with fake._cond:
            fake.http_requests += 1
        if fake.down:
            self.reply(503, b"Service Unavailable", {"Connection": "close"})
            self.close_connection = True
            return
        if not self._authenticated():
            return
        if fake.ews_blocked:
            self.reply(403, b"", {"Content-Type": "text/html"})
            return
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            self.reply(400, b"Bad Request")
            return
        soap_body = root.find(_q(SOAP, "Body"))
        request = soap_body[0] if soap_body is not None and len(soap_body) else None
        if request is None:
            self.reply(400, b"Bad Request")
            return
        op = request.tag.rpartition("}")[2]
        with fake._cond:
            fake.operations.append(op)
            fake.bodies.append(body)
        backoff = fake._take_busy()
        if backoff is not None:
            self.reply(500, _busy_fault(backoff))
            return
        try:
            if op == "GetStreamingEvents":
                fake.stream(self, request)
                return
            self.reply(200, _envelope(fake.handle(op, request)))
        except _Fault as f:
            self.reply(500, _fault(f.code, f.text, f.detail_xml))
        except _ItemError as e:
            self.reply(500, _fault(e.code, e.text))

    # -- auth ---------------------------------------------------------------------------------

    def _authenticated(self) -> bool:
        fake = self.fake
        header = self.headers.get("Authorization", "")
        if fake.reject_auth:
            self._challenge()
            return False
        if fake.auth == "basic":
            expected = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
            if header == f"Basic {expected}":
                return True
            self._challenge()
            return False
        return self._ntlm(header)

    def _challenge(self, token: str | None = None) -> None:
        scheme = "Basic" if self.fake.auth == "basic" else "NTLM"
        value = f'{scheme} realm="127.0.0.1"' if scheme == "Basic" else "NTLM"
        if token:
            value = f"NTLM {token}"
        self.reply(401, b"", {"WWW-Authenticate": value})

    def _ntlm(self, header: str) -> bool:
        # NTLM authenticates the TCP connection: once done, later requests on it need no header.
        import spnego  # comes with requests_ntlm; only needed for NTLM

        if getattr(self, "ntlm_done", False) and not header:
            return True
        if not header.startswith("NTLM "):
            self._challenge()
            return False
        token = base64.b64decode(header[5:])
        ctx = getattr(self, "ntlm_ctx", None)
        if ctx is None or token[8:12] == b"\x01\x00\x00\x00":  # a NEGOTIATE starts afresh
            ctx = self.ntlm_ctx = spnego.server(protocol="ntlm")
        try:
            out = ctx.step(token)
        except Exception:  # noqa: BLE001 - any failure is a rejected login
            self.ntlm_ctx = None
            self._challenge()
            return False
        if not ctx.complete:
            self._challenge(base64.b64encode(out or b"").decode())
            return False
        self.ntlm_done = True
        self.ntlm_ctx = None
        return True
