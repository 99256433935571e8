"""Turn one raw RFC 5322 message into the few facts intake needs.

Everything here is defensive: the duty inbox receives whatever the world sends, and one
malformed email must never stop intake. ``parse_email`` never raises for any bytes; it
records what it had to work around in ``ParsedEmail.problems`` instead.

``problems`` only ever holds the fixed sentences defined below (never subjects, names,
file names or charset names taken from the message), so they are safe to log.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors as email_errors
from email import message_from_bytes
from email.message import Message
from email.policy import Compat32
from email.utils import parseaddr, parsedate_to_datetime

from bs4 import BeautifulSoup

# --- problem notes (fixed strings only: they may be logged) ---------------------------------
UNREADABLE = "message could not be read"
STRUCTURE_FAILED = "message structure could not be read; only the headers were used"
STRUCTURE_DAMAGED = "message structure is damaged (missing or broken MIME boundaries)"
TRUNCATED = "message appears to be truncated"
TOO_MANY_PARTS = "message has too many parts; the rest were skipped"
NO_MESSAGE_ID = "no usable Message-ID; a stable id was generated"
NO_DATE = "no Date header"
BAD_DATE = "Date header could not be read"
NO_FROM = "no From header"
BAD_FROM = "From address could not be read"
HEADER_CHARSET = "a header used an unknown or wrong character set"
HEADER_ENCODING = "a header had a damaged encoded word"
BODY_CHARSET = "body used an unknown or wrong character set"
BODY_TRANSFER = "body could not be decoded (damaged base64 or unknown transfer encoding)"
BODY_FAILED = "body could not be decoded"
HTML_FAILED = "HTML body could not be read cleanly"
ATTACHMENT_DAMAGED = "an attachment could not be fully decoded"
ATTACHMENT_FAILED = "an attachment could not be read"
PART_FAILED = "a message part could not be read"

MAX_PARTS = 5_000  # bounds work on hostile messages; 500 attachments is far inside this
MAX_REFERENCES = 50  # keep the root plus the newest ids; enough to thread any real reply
HEADER_CHARS = 2_000  # a subject or name longer than this is noise, not information
# v1 hashed a few headers and some body text, so an empty file, a headers-only email and a
# bounce with no From, Subject or Date got one id and merged. v2 hashes every byte.
_GENERATED_ID_VERSION = b"dutybot-generated-id-v2\n"  # bump only if ids may change

_ATTACHMENT_TYPES = {"message/rfc822", "message/global"}
_STRUCTURE_DEFECTS = (
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
)


@dataclass(frozen=True)
class Attachment:
    name: str  # decoded filename, "(unnamed)" if none
    size: int  # decoded payload bytes; the content itself is not kept
    content_type: str


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str  # without angle brackets or whitespace; generated when missing
    message_id_generated: bool  # True when the message had no usable Message-ID
    in_reply_to: str | None  # first id in In-Reply-To, brackets stripped
    references: tuple[str, ...]  # ids in References, oldest first, brackets stripped
    subject: str  # decoded and whitespace-collapsed; "" if none
    from_name: str  # decoded display name; "" if none
    from_addr: str  # lowercased address; "" if none or unparseable
    sent_at: datetime | None  # Date header as an aware UTC datetime
    body_text: str  # text/plain preferred, else HTML as text; at most body_limit chars
    attachments: tuple[Attachment, ...]
    problems: tuple[str, ...]  # fixed, content-free notes about anything malformed

    @property
    def nothing_readable(self) -> bool:
        """No subject, sender, text or attachment: nothing a person could read or act on
        (zero bytes, a bounce with no report text, headers only, an unreadable message)."""
        return not (
            self.subject or self.from_name or self.from_addr or self.body_text or self.attachments
        )


class _Notes:
    """An ordered set of problem notes."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, note: str) -> None:
        self._seen[note] = None

    def as_tuple(self) -> tuple[str, ...]:
        return tuple(self._seen)


class _RawHeaders(Compat32):
    """compat32, but header values come back exactly as stored.

    Stock compat32 turns headers holding raw 8-bit bytes into ``Header`` objects; we would
    rather get the string (with surrogate escapes) and decode it ourselves.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        return value


_POLICY = _RawHeaders()


# --- text decoding ----------------------------------------------------------------------------
_CONTROL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])  # keeps \t \n \r
_SURROGATE = re.compile("[\udc80-\udcff]")


def _try_decode(data: bytes, charset: str, final: bool) -> str | None:
    try:
        # incremental, so a cut-off multi-byte character at the end of a truncated body
        # is held back rather than taken as proof of a wrong charset
        text = codecs.getincrementaldecoder(charset)("strict").decode(data, final)
    except Exception:  # unknown codec, bad bytes, odd names such as "utf-99" or "\x00"
        return None
    return text if isinstance(text, str) else None  # "base64" and co. are not text codecs


def _decode_bytes(data: bytes, charset: str | None, *, final: bool = True) -> tuple[str, bool]:
    """Decode ``data`` as ``charset``; returns (text, ok). Falls back, never raises.

    Fallback order: UTF-8 (most mislabelled mail is UTF-8), then Windows-1252 (what
    "iso-8859-1" usually means in practice), then Latin-1, which accepts any bytes.
    ``ok`` is False only when a declared charset was unknown or wrong.
    """
    if charset:
        text = _try_decode(data, charset, final)
        if text is not None:
            return text, True
    for fallback in ("utf-8", "cp1252"):
        text = _try_decode(data, fallback, final)
        if text is not None:
            return text, not charset
    return data.decode("latin-1"), not charset


def _clean_charset(charset: object) -> str | None:
    if not isinstance(charset, str):
        return None
    charset = charset.strip().strip("\"'").split("*", 1)[0].lower()  # RFC 2231 "utf-8*en"
    return charset or None


def _raw_to_text(value: str) -> str:
    """Undo the parser's surrogate escapes: raw 8-bit header bytes are usually UTF-8."""
    if not _SURROGATE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    text, _ = _decode_bytes(data, "utf-8")
    return text


# RFC 2047 encoded word. Written out (rather than email.header.decode_header) because that
# raises on damaged base64, and mangles raw non-ASCII text around the encoded words.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*?)\?=")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]+")


def _b64decode(data: bytes) -> tuple[bytes, bool]:
    """Lenient base64: returns (bytes, intact).

    Strict first: the stdlib's lenient mode silently stops at the first "=", which would
    quietly drop the rest of a body padded line by line. Otherwise decode every run of
    base64 characters on its own, repairing its padding, and report the damage.
    """
    data = data.translate(None, b" \t\r\n")
    try:
        return binascii.a2b_base64(data, strict_mode=True), True
    except (binascii.Error, ValueError):
        pass
    chunks = []
    for run in _BASE64_RUN.findall(data):
        whole = len(run) - len(run) % 4
        chunks.append(binascii.a2b_base64(run[:whole]))
        tail = run[whole:]
        if len(tail) >= 2:  # 2 or 3 leftover characters still carry whole bytes
            chunks.append(binascii.a2b_base64(tail + b"=" * (4 - len(tail))))
    return b"".join(chunks), False


def _decode_encoded_words(text: str, notes: _Notes) -> str:
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    last_end = 0
    after_word = False

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            decoded, ok = _decode_bytes(bytes(pending), pending_charset)
            if not ok:
                notes.add(HEADER_CHARSET)
            out.append(decoded)
        pending.clear()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(text):
        gap = text[last_end : match.start()]
        # whitespace between two encoded words is folding, not content (RFC 2047 s6.2)
        if not (after_word and (not gap or gap.isspace())):
            flush()
            out.append(gap)
        charset = _clean_charset(match.group(1)) or "unknown"
        payload = match.group(3).encode("utf-8", "surrogateescape")
        if match.group(2) in "Bb":
            data, intact = _b64decode(payload)
            if not intact:
                notes.add(HEADER_ENCODING)
        else:
            data = binascii.a2b_qp(payload, header=True)
        # adjacent words in one charset are joined as bytes: a character may span two words
        if pending_charset is not None and pending_charset != charset:
            flush()
        pending_charset = charset
        pending += data
        last_end = match.end()
        after_word = True
    flush()
    out.append(text[last_end:])
    return "".join(out)


def _header_text(value: object, notes: _Notes) -> str:
    """Decode a header value: raw 8-bit, encoded words, folding, stray control characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _raw_to_text(text[: HEADER_CHARS * 8])
    text = _decode_encoded_words(text, notes)
    text = " ".join(text.translate(_CONTROL).split())
    return text[:HEADER_CHARS]


# --- headers ------------------------------------------------------------------------------------
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")


def _clean_id(value: str) -> str:
    return "".join(value.translate(_CONTROL).split())


def _ids(value: object) -> list[str]:
    """Message ids in a header, in order, brackets and whitespace stripped."""
    if not isinstance(value, str):
        return []
    text = _raw_to_text(value)
    found = [_clean_id(m) for m in _ANGLE_ID.findall(text)]
    if not found:  # some clients omit the brackets
        found = [_clean_id(t) for t in text.split() if "@" in t]
    return [i for i in found if i and len(i) <= 998]


def _message_id(value: object) -> str | None:
    ids = _ids(value)
    if ids:
        return ids[0]
    if isinstance(value, str) and "<" not in value:  # some senders use a bare token
        token = _clean_id(_raw_to_text(value))
        if token and len(token) <= 998:
            return token
    return None


def _references(value: object) -> tuple[str, ...]:
    ids = list(dict.fromkeys(_ids(value)))  # drop repeats, keep order
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return tuple(ids)


def _sender(value: object, notes: _Notes) -> tuple[str, str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        notes.add(NO_FROM)
        return "", ""
    raw = value if isinstance(value, str) else str(value)
    try:
        name, addr = parseaddr(raw)
    except Exception:
        name, addr = "", ""
    addr = _clean_id(_raw_to_text(addr)).lower()
    if _ADDRESS.fullmatch(addr):
        return _header_text(name, notes), addr
    notes.add(BAD_FROM)
    return _header_text(raw, notes), ""  # show whatever the sender wrote instead


def _sent_at(value: object, notes: _Notes) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        notes.add(NO_DATE)
        return None
    try:
        when = parsedate_to_datetime(_header_text(value, notes))
        if when.tzinfo is None:  # "-0000" means UTC with no local time known
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except Exception:
        notes.add(BAD_DATE)
        return None


def generated_id(raw: bytes) -> str:
    """The id of a message without a usable Message-ID: a SHA-256 of all of its bytes. The
    same message read again gets the same id; any two different messages get different ones,
    however little of them is readable."""
    digest = hashlib.sha256(_GENERATED_ID_VERSION + raw).hexdigest()[:32]
    return f"generated-{digest}@dutybot"


# --- MIME structure ----------------------------------------------------------------------------
def _structure_defects(part: Message, notes: _Notes) -> None:
    for defect in getattr(part, "defects", ()):
        if isinstance(defect, email_errors.CloseBoundaryNotFoundDefect):
            notes.add(TRUNCATED)
        elif isinstance(defect, _STRUCTURE_DEFECTS):
            notes.add(STRUCTURE_DAMAGED)


_MIME_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        ctype = ""
    # a type is an ASCII token pair; anything else is damage, treated as opaque bytes
    if len(ctype) > 255 or not _MIME_TYPE.fullmatch(ctype):
        return "application/octet-stream"
    return ctype


def _leaves(msg: Message, notes: _Notes) -> Iterator[tuple[Message, str]]:
    """(part, content type) for each non-multipart part, in document order.

    Iterative, so deep nesting cannot overflow the stack.
    """
    stack: list[Message] = [msg]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            notes.add(TOO_MANY_PARTS)
            return
        _structure_defects(part, notes)
        ctype = _content_type(part)
        if part.is_multipart() and ctype not in _ATTACHMENT_TYPES:
            if ctype.startswith("multipart/"):
                children = part.get_payload()
                stack.extend(reversed([p for p in children if isinstance(p, Message)]))
            continue  # message/delivery-status and similar: header blocks, not content
        yield part, ctype


def _filename(part: Message, notes: _Notes) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return _header_text(name, notes) if name else ""


_KNOWN_CTE = {"", "7bit", "8bit", "binary", "quoted-printable", "x-uuencode", "uuencode", "uue"}


def _transfer_decode(part: Message) -> tuple[bytes, bool]:
    """Undo Content-Transfer-Encoding. Returns (data, intact)."""
    if part.is_multipart():  # message/rfc822: measure the enclosed message
        inner = part.get_payload()
        return (inner[0].as_bytes() if inner else b""), True
    cte = str(part.get("content-transfer-encoding", "") or "").strip().lower()
    if cte == "base64":  # the stdlib hands back the still-encoded text when base64 is damaged
        try:
            text = part.get_payload()
        except Exception:  # 8-bit junk with an odd charset name trips the stdlib
            text = None
        if isinstance(text, str):
            return _b64decode(text.encode("ascii", "ignore"))
    data = part.get_payload(decode=True)
    return (data if isinstance(data, bytes) else b""), cte in _KNOWN_CTE


@dataclass
class _Parts:
    plain: list[Message]
    html: list[Message]
    other_text: list[Message]
    attachments: list[Attachment]


def _sort_parts(msg: Message, notes: _Notes) -> _Parts:
    parts = _Parts([], [], [], [])
    buckets = {"text/plain": parts.plain, "text/html": parts.html}
    for part, ctype in _leaves(msg, notes):
        try:
            maintype = ctype.split("/", 1)[0]
            disposition = part.get_content_disposition()
            # only look for a name where it can matter: inline text is always body
            filename = ""
            if disposition == "attachment" or maintype != "text":
                filename = _filename(part, notes)
            if ctype in _ATTACHMENT_TYPES or disposition == "attachment" or filename:
                parts.attachments.append(_attachment(part, ctype, filename, notes))
            elif maintype == "text":
                buckets.get(ctype, parts.other_text).append(part)
            elif maintype == "multipart":  # declared multipart but had no boundary
                notes.add(STRUCTURE_DAMAGED)
                parts.other_text.append(part)
        except Exception:
            notes.add(PART_FAILED)
    return parts


def _attachment(part: Message, ctype: str, filename: str, notes: _Notes) -> Attachment:
    try:
        data, intact = _transfer_decode(part)
        size = len(data)
        if not intact:
            notes.add(ATTACHMENT_DAMAGED)
    except Exception:
        size = 0
        notes.add(ATTACHMENT_FAILED)
    return Attachment(name=filename or "(unnamed)", size=size, content_type=ctype)


# --- body text ---------------------------------------------------------------------------------
_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _part_text(part: Message, chars: int, notes: _Notes) -> str:
    data, intact = _transfer_decode(part)
    if not intact:
        notes.add(BODY_TRANSFER)
    limit = chars * 4 + 64  # UTF-8 needs at most 4 bytes a character
    truncated = len(data) > limit
    try:
        charset = _clean_charset(part.get_content_charset())
    except Exception:
        charset = None
    text, ok = _decode_bytes(data[:limit] if truncated else data, charset, final=not truncated)
    if not ok:
        notes.add(BODY_CHARSET)
    return text


_DROP_TAGS = ["script", "style", "head", "title", "noscript", "template", "object", "iframe"]
# fmt: off
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "center", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
    "thead", "tfoot", "tr", "ul",
})
# fmt: on
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol"})
# private-use sentinels: they survive get_text() and never occur in real mail text
_BLOCK = "\ue000"  # a line break
_PARAGRAPH = "\ue001"  # a blank line
_BREAK = "\ue002"  # <br>: always its own line break
_SENTINELS = str.maketrans("", "", _BLOCK + _PARAGRAPH + _BREAK)
_HTML_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_BOUNDARY_RUN = re.compile(f"[{_BLOCK}{_PARAGRAPH}](?: ?[{_BLOCK}{_PARAGRAPH}])*")
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


def _boundary(match: re.Match[str]) -> str:
    return "\n\n" if _PARAGRAPH in match.group() else "\n"


def html_to_text(html: str) -> str:
    """Readable text from an HTML email: scripts and styles dropped, blocks on their own lines."""
    soup = BeautifulSoup(html.translate(_SENTINELS), "html.parser")
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for pre in soup.find_all("pre"):
        for piece in pre.find_all(string=True):
            piece.replace_with(piece.replace("\n", _BREAK))
    for tag in soup.find_all(True):
        if tag.name == "br":
            tag.replace_with(_BREAK)
        elif tag.name in ("td", "th"):
            tag.insert_after(" ")
        elif tag.name in _BLOCK_TAGS:
            if tag.name == "li":
                tag.insert(0, "- ")
            mark = _PARAGRAPH if tag.name in _PARAGRAPH_TAGS else _BLOCK
            tag.insert_before(mark)
            tag.insert_after(mark)
    text = _HTML_SPACE.sub(" ", soup.get_text())
    # neighbouring block boundaries make one break; &nbsp; (still \xa0 here) is content,
    # so "<div>&nbsp;</div>" keeps the blank line the sender meant
    text = _BOUNDARY_RUN.sub(_boundary, text)
    text = text.replace(_BREAK, "\n").replace("\xa0", " ")
    return _tidy("\n".join(line.strip() for line in text.split("\n")))


def _crude_html_to_text(html: str) -> str:
    """Last resort when the HTML parser gives up: strip tags, keep words."""
    return html_lib.unescape(_TAG.sub(" ", html))


def _html_text(part: Message, chars: int, notes: _Notes) -> str:
    # markup outweighs text several times over; parse only as much as could fill the budget
    html = _part_text(part, max(chars * 5, 50_000), notes)[: max(chars * 5, 50_000)]
    try:
        return html_to_text(html)
    except Exception:
        notes.add(HTML_FAILED)
        return _crude_html_to_text(html)


def _body(parts: _Parts, chars: int, notes: _Notes) -> str:
    readers = [(p, _part_text) for p in parts.plain]
    readers += [(p, _html_text) for p in parts.html]
    readers += [(p, _part_text) for p in parts.other_text]
    for part, reader in readers:
        try:
            text = _tidy(reader(part, chars, notes))
        except Exception:
            notes.add(BODY_FAILED)
            continue
        if text:  # an empty text/plain beside a full HTML part is common; skip it
            return text[:chars]
    return ""


# --- entry point ------------------------------------------------------------------------------
def _load(raw: bytes, notes: _Notes) -> tuple[Message, bool]:
    """Parse the message; if its body defeats the parser, keep at least the headers."""
    try:
        return message_from_bytes(raw, policy=_POLICY), True
    except Exception:  # e.g. RecursionError on absurdly deep nesting
        notes.add(STRUCTURE_FAILED)
        head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        return message_from_bytes(head, policy=_POLICY), False


def _parse(raw: bytes, body_limit: int, notes: _Notes) -> ParsedEmail:
    msg, whole = _load(raw, notes)
    parts = _sort_parts(msg, notes) if whole else _Parts([], [], [], [])
    body = _body(parts, body_limit, notes)

    message_id = _message_id(msg.get("message-id"))
    generated = message_id is None
    if message_id is None:
        notes.add(NO_MESSAGE_ID)
        message_id = generated_id(raw)
    in_reply_to = _ids(msg.get("in-reply-to"))
    from_name, from_addr = _sender(msg.get("from"), notes)
    return ParsedEmail(
        message_id=message_id,
        message_id_generated=generated,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_references(msg.get("references")),
        subject=_header_text(msg.get("subject"), notes),
        from_name=from_name,
        from_addr=from_addr,
        sent_at=_sent_at(msg.get("date"), notes),
        body_text=body,
        attachments=tuple(parts.attachments),
        problems=notes.as_tuple(),
    )


def _unreadable(raw: bytes, notes: _Notes) -> ParsedEmail:
    notes.add(UNREADABLE)
    return ParsedEmail(
        message_id=generated_id(raw),
        message_id_generated=True,
        in_reply_to=None,
        references=(),
        subject="",
        from_name="",
        from_addr="",
        sent_at=None,
        body_text="",
        attachments=(),
        problems=notes.as_tuple(),
    )


def parse_email(raw: bytes, *, body_limit: int = 20_000) -> ParsedEmail:
    """Parse one raw message. Never raises for any bytes; see ``ParsedEmail.problems``."""
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"parse_email needs bytes, not {type(raw).__name__}")
    body_limit = max(0, int(body_limit))
    notes = _Notes()
    try:
        return _parse(raw, body_limit, notes)
    except Exception:  # last line of defence: one bad email must not stop intake
        return _unreadable(raw, notes)
