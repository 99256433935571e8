"""A corpus of fictional hostile emails, made in code as raw RFC 5322 bytes.

Nothing here is a real person or message. Every email is built fresh by ``corpus()`` (the
5 MB one included), so no large files live in the repository. To look at them as files:

    python -m tests.corpus.build OUT_DIR

writes one ``.eml`` per email (drop them into a folder mailbox to watch the shell cope).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from tests.mail import DATE, email_message

# Everything Slack would turn into a ping or a link if it reached mrkdwn unescaped, plus the
# bare words a careless `link_names` or `parse=full` would turn into pings.
MENTIONS: tuple[str, ...] = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<#C123>",
    "<!subteam^S1>",
    "<https://evil.example|click>",
    "<mailto:boss@evil.example|mail the boss>",
    "<!date^1392734382^{date}|Feb 18th>",
    "@channel",
)

RLO = "\u202e"  # right-to-left override
ZWSP = "\u200b"  # zero-width space
ZWJ = "\u200d"


@dataclass(frozen=True)
class HostileMail:
    name: str  # file name and item id, e.g. "017-mention-in-body.eml"
    mime: bytes
    about: str  # what it tries, in a few words
    # For a second email reusing an earlier one's Message-ID: that email's name, and whether
    # the content is the same (a true resend) or different (a clash).
    same_id_as: str | None = None
    same_content: bool | None = None


def plain(
    subject: str = "Help with rent",
    body: str = "Hello, I need help with my rent this week.",
    *,
    sender: str = "Casey Example <casey@example.org>",
    message_id: str | None = "<m@example.org>",
    date: str | None = DATE,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> EmailMessage:
    return email_message(
        subject,
        body,
        sender=sender,
        message_id=message_id,
        date=date,
        in_reply_to=in_reply_to,
        references=references,
    )


def _crlf(text: str) -> bytes:
    """Hand-written raw messages: "\\n" to CRLF, encoded as UTF-8 with surrogates kept as bytes."""
    return text.replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def _nested(depth: int) -> bytes:
    """multipart/mixed nested ``depth`` deep, each level with its own boundary."""
    head = [f"Message-ID: <nested-{depth}@example.org>", f"Date: {DATE}",
            "From: Deep Nest <deep@example.org>", f"Subject: nested {depth} deep <!here>",
            "MIME-Version: 1.0"]  # fmt: skip
    parts = ["\n".join(head)]
    for level in range(depth):
        parts.append(f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}')
    parts.append("Content-Type: text/plain\n\nThe bottom of the pile <!channel>.")
    for level in reversed(range(depth)):
        parts.append(f"--b{level}--")
    return _crlf("\n".join(parts) + "\n")


def _mentions() -> Iterator[HostileMail]:
    for i, token in enumerate(MENTIONS):
        yield HostileMail(
            f"mention-subject-{i:02d}",
            bytes(plain(f"{token} call me back", message_id=f"<ms{i}@example.org>")),
            f"{token} in the subject",
        )
        yield HostileMail(
            f"mention-from-{i:02d}",
            bytes(
                plain(
                    sender=f'"{token} Casey" <casey{i}@example.org>',
                    message_id=f"<mf{i}@example.org>",
                )
            ),  # fmt: skip
            f"{token} in the From name",
        )
        yield HostileMail(
            f"mention-body-{i:02d}",
            bytes(
                plain(
                    body=f"Please read {token} now &amp; <b>then</b> {token}",
                    message_id=f"<mb{i}@example.org>",
                )
            ),  # fmt: skip
            f"{token} in the body",
        )
    all_of_them = " ".join(MENTIONS)
    yield HostileMail(
        "mention-everywhere",
        bytes(
            plain(
                all_of_them,
                all_of_them,
                sender=f'"{all_of_them}" <all@example.org>',
                message_id="<mall@example.org>",
            )
        ),  # fmt: skip
        "every mention in every field",
    )
    att = plain("Forms attached", message_id="<matt@example.org>")
    for i, token in enumerate(MENTIONS[:5]):
        att.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                           filename=f"{token} form {i}.pdf")  # fmt: skip
    yield HostileMail("mention-attachment-names", bytes(att), "mentions as attachment names")
    html = plain("HTML entities", message_id="<mhtml@example.org>")
    html.set_content(
        "<p>&lt;!channel&gt; hello &lt;@U123&gt; <a href='https://evil.example'>click</a></p>"
        "<p>&#60;!here&#62; and &amp;lt;!everyone&amp;gt;</p>",
        subtype="html",
    )
    yield HostileMail("mention-html-entities", bytes(html), "HTML entities that decode to <!x>")
    yield HostileMail(
        "mention-encoded-word",
        _crlf(
            "Message-ID: <mew@example.org>\nDate: " + DATE + "\n"
            "From: =?utf-8?B?" + base64.b64encode(b"<!channel> Boss").decode() + "?= "
            "<boss@example.org>\n"
            "Subject: =?utf-8?B?" + base64.b64encode(b"<!here> <@U123> urgent").decode() + "?=\n"
            "\nBody.\n"
        ),
        "mentions hidden in encoded words",
    )
    yield HostileMail(
        "mention-already-escaped",
        bytes(plain("&lt;!channel&gt; &amp;lt; &gt;", "&lt;!here&gt; &amp;", message_id="<mae@x>")),
        "text that is already escaped, so it must not unescape into markup",
    )
    yield HostileMail(
        "mention-split-by-zero-width",
        bytes(plain(f"<!chan{ZWSP}nel> <{ZWJ}!here>", f"<{ZWSP}@U123>", message_id="<mzw@x>")),
        "mentions split by zero-width characters that tidying removes",
    )
    yield HostileMail(
        "mention-fullwidth",
        bytes(plain("\uff1c!channel\uff1e \u2039!here\u203a", message_id="<mfw@x>")),
        "look-alike angle brackets",
    )
    yield HostileMail(
        "mention-markdown",
        bytes(plain("*bold* _it_ ~strike~ `code` ```block``` > quote", message_id="<mmd@x>")),
        "mrkdwn formatting characters",
    )


def _bidi_and_invisible() -> Iterator[HostileMail]:
    yield HostileMail("rlo-subject", bytes(plain(f"Invoice {RLO}fdp.exe", message_id="<r1@x>")),
                      "right-to-left override in the subject")  # fmt: skip
    yield HostileMail(
        "rlo-from",
        bytes(plain(sender=f'"{RLO}nimda" <admin@example.org>', message_id="<r2@x>")),
        "right-to-left override in the From name",
    )
    hidden = plain(body=f"Ring {RLO}0987 654 00770", message_id="<r3@x>")
    yield HostileMail("rlo-body", bytes(hidden), "right-to-left override hiding a phone number")
    mail = plain("Photo", message_id="<r4@x>")
    mail.add_attachment(b"MZ", maintype="application", subtype="octet-stream",
                        filename=f"photo{RLO}gpj.exe")  # fmt: skip
    yield HostileMail("rlo-attachment", bytes(mail), "right-to-left override in a file name")
    yield HostileMail(
        "zero-width-everywhere",
        bytes(
            plain(
                f"R{ZWSP}e{ZWJ}n\ufeffpt",
                f"07700{ZWSP}900{ZWSP}123",
                message_id="<z1@x>",
                sender=f'"Ca{ZWSP}sey" <casey@example.org>',
            )
        ),  # fmt: skip
        "zero-width characters in every field",
    )
    yield HostileMail(
        "bidi-isolates",
        bytes(plain("\u2066\u2067\u2068 rent \u2069\u202a\u202b\u202c\u202d", message_id="<z2@x>")),
        "bidi isolates and embeddings",
    )


def _big() -> Iterator[HostileMail]:
    line = "This line is part of a very long body about rent and housing. <!channel>\n"
    body = line * (5 * 1024 * 1024 // len(line) + 1)
    yield HostileMail("big-5mb-body", bytes(plain("Huge", body, message_id="<big5@x>")),
                      "a 5 MB plain text body")  # fmt: skip
    yield HostileMail(
        "big-5mb-one-line",
        _crlf(
            f"Message-ID: <big5line@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: one line\n\n"
            + "x<!here>" * (5 * 1024 * 1024 // 8)
            + "\n"
        ),  # fmt: skip
        "a 5 MB body with no line breaks",
    )
    many = plain("500 attachments", "See attached.", message_id="<att500@x>")
    for i in range(500):
        many.add_attachment(f"file {i}".encode(), maintype="application", subtype="pdf",
                            filename=f"<!channel> doc {i}.pdf")  # fmt: skip
    yield HostileMail("attachments-500", bytes(many), "500 attachments")
    yield HostileMail(
        "long-subject",
        bytes(plain("Rent " * 20_000, message_id="<long1@x>")),
        "a 100,000-character subject",
    )
    yield HostileMail(
        "long-subject-one-word",
        _crlf(
            f"Message-ID: <long2@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: "
            + "<!channel>" * 10_000
            + "\n\nBody\n"
        ),  # fmt: skip
        "a 100,000-character subject of mentions, unfolded",
    )
    yield HostileMail(
        "long-from-name",
        _crlf(
            f'Message-ID: <long3@x>\nDate: {DATE}\nSubject: long name\nFrom: "'
            + "N" * 50_000
            + '" <n@example.org>\n\nBody\n'
        ),  # fmt: skip
        "a 50,000-character From name",
    )
    refs = " ".join(f"<ref{i}@example.org>" for i in range(5_000))
    yield HostileMail(
        "references-5000",
        bytes(plain("Many references", message_id="<refs@x>", references=refs)),
        "5,000 References",
    )
    yield HostileMail(
        "long-message-id",
        bytes(plain("Long id", message_id="<" + "i" * 5_000 + "@example.org>")),
        "a 5,000-character Message-ID",
    )


def _broken_encodings() -> Iterator[HostileMail]:
    head = f"Date: {DATE}\nFrom: Enc Oding <enc@example.org>\nMIME-Version: 1.0\n"
    yield HostileMail(
        "base64-broken-body",
        _crlf(
            f"Message-ID: <b64a@x>\n{head}Subject: broken base64\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            "SGVsbG8gPCFjaGFubmVsPiB3b3Js!!!ZCBicm9rZW4=====\n&&&&\nQUJD\n"
        ),  # fmt: skip
        "damaged base64 body",
    )
    yield HostileMail(
        "base64-broken-attachment",
        _crlf(
            f"Message-ID: <b64b@x>\n{head}Subject: broken attachment\n"
            'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\n'
            'See attached.\n--B\nContent-Type: application/pdf; name="a.pdf"\n'
            'Content-Disposition: attachment; filename="<!channel>.pdf"\n'
            "Content-Transfer-Encoding: base64\n\n%%%%not base64 at all%%%%\n--B--\n"
        ),  # fmt: skip
        "damaged base64 attachment",
    )
    yield HostileMail(
        "base64-encoded-word-broken",
        _crlf(
            f"Message-ID: <b64c@x>\n{head}Subject: =?utf-8?B?PCFjaGFubmVs!!!?= =?utf-8?B?x?=\n"
            "\nBody\n"
        ),  # fmt: skip
        "damaged base64 in an encoded word",
    )
    yield HostileMail(
        "unknown-transfer-encoding",
        _crlf(
            f"Message-ID: <cte@x>\n{head}Subject: x-uuencode-ish\n"
            "Content-Transfer-Encoding: x-rot13\n\nUryyb <!here>\n"
        ),  # fmt: skip
        "unknown Content-Transfer-Encoding",
    )
    for i, charset in enumerate(("x-unknown", "utf-99", "base64", "\x00", "utf-7", "cp65001")):
        yield HostileMail(
            f"charset-{i}",
            _crlf(
                f"Message-ID: <cs{i}@x>\n{head}Subject: =?{charset}?Q?caf=E9_<!channel>?=\n"
                f'Content-Type: text/plain; charset="{charset}"\n\n'
                "Caf\udce9 \udca3500 <!here>\n"
            ),  # fmt: skip
            f"unknown or odd charset {charset!r}",
        )
    yield HostileMail(
        "raw-8bit-headers",
        _crlf(
            f"Message-ID: <raw8@x>\nDate: {DATE}\nFrom: \udcff\udcfe Raw <raw@example.org>\n"
            "Subject: \udce9\udce8 <!channel> \udcc3\udca9t\udcc3\udca9\n\nBody \udcff\n"
        ),  # fmt: skip
        "raw 8-bit bytes in headers and body",
    )
    yield HostileMail(
        "invalid-utf8-body",
        _crlf(
            f"Message-ID: <iu8@x>\n{head}Subject: bad utf-8\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "\udcc3( \udce2\udc82 \udcf0\udc9f <!channel>\n"
        ),  # fmt: skip
        "invalid UTF-8 in a body labelled UTF-8",
    )
    yield HostileMail(
        "quoted-printable-mentions",
        _crlf(
            f"Message-ID: <qp@x>\n{head}Subject: qp\n"
            "Content-Transfer-Encoding: quoted-printable\n\n=3C!channel=3E =3C@U123=3E =\n"
            "soft break =ZZ bad escape\n"
        ),  # fmt: skip
        "mentions inside quoted-printable",
    )


def _structure() -> Iterator[HostileMail]:
    for depth in (50, 500, 3_000):
        yield HostileMail(f"nested-{depth}", _nested(depth), f"multiparts nested {depth} deep")
    yield HostileMail(
        "multipart-no-boundary",
        _crlf(
            f"Message-ID: <nb@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: no boundary\n"
            "Content-Type: multipart/mixed\n\nJust text <!channel>\n"
        ),  # fmt: skip
        "multipart without a boundary",
    )
    yield HostileMail(
        "multipart-truncated",
        _crlf(
            f"Message-ID: <tr@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: cut off\n"
            'Content-Type: multipart/mixed; boundary="Q"\n\n--Q\nContent-Type: text/plain\n\n'
            "Started but never fin"
        ),  # fmt: skip
        "truncated multipart",
    )
    inner = plain("<!channel> forwarded inner", "inner body <@U123>", message_id="<inner@x>")
    outer = plain("Fwd: forwarded", "See the forwarded message.", message_id="<outer@x>")
    outer.add_attachment(inner)
    yield HostileMail("forwarded-rfc822", bytes(outer), "a message/rfc822 attachment")
    yield HostileMail("empty-bytes", b"", "zero bytes")
    yield HostileMail("garbage-bytes", bytes(range(256)) * 40, "binary garbage")
    yield HostileMail(
        "headers-only",
        _crlf(f"Message-ID: <ho@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: headers only"),
        "no body and no blank line",
    )
    yield HostileMail(
        "header-without-colon",
        _crlf(
            f"Message-ID: <hwc@x>\nDate: {DATE}\nThis is not a header <!channel>\n"
            "Subject: after junk\n\nbody\n"
        ),  # fmt: skip
        "a header line without a colon",
    )
    html_only = plain("Script", message_id="<script@x>")
    html_only.set_content(
        "<html><head><style>p{}</style><script>alert('<!channel>')</script></head>"
        "<body><iframe src='https://evil.example'></iframe><p>Hi <b>there</b></p>"
        "<a href='mailto:x@evil.example'>mailto link</a></body></html>",
        subtype="html",
    )
    yield HostileMail("html-script", bytes(html_only), "script, iframe and mailto in HTML")


def _missing_headers() -> Iterator[HostileMail]:
    yield HostileMail("missing-date", bytes(plain("No date", message_id="<nd@x>", date=None)),
                      "no Date header")  # fmt: skip
    yield HostileMail("missing-from", bytes(plain("No from", message_id="<nf@x>", sender="")),
                      "no From header")  # fmt: skip
    yield HostileMail(
        "missing-message-id",
        bytes(plain("No id <!channel>", "first body", message_id=None)),
        "no Message-ID",
    )
    yield HostileMail(
        "missing-message-id-other-body",
        bytes(plain("No id <!channel>", "a second, different body", message_id=None)),
        "no Message-ID, same headers as the last, different body",
    )
    yield HostileMail(
        "missing-everything",
        _crlf("Subject: <!channel> nothing else\n\nJust a body.\n"),
        "no Date, From or Message-ID",
    )
    yield HostileMail(
        "bounce-nothing-readable",
        _crlf(
            "MIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
            "--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
            "Final-Recipient: rfc822; nobody@example.org\nAction: failed\nStatus: 5.1.1\n--R--\n"
        ),  # fmt: skip
        "a bounce with no Message-ID, From, Subject or Date, and no text (like zero bytes)",
    )
    yield HostileMail(
        "headers-only-nothing-readable",
        _crlf("MIME-Version: 1.0\nX-Mailer: Example Mailer 1.0"),
        "headers that say nothing, and no body (like zero bytes)",
    )
    yield HostileMail(
        "bad-date",
        bytes(plain("Bad date", message_id="<bd@x>", date="Someday soon <!channel>")),
        "a Date that is not a date",
    )
    yield HostileMail(
        "future-date",
        bytes(
            plain("From the future", message_id="<fd@x>", date="Fri, 01 Jan 2100 00:00:00 +0000")
        ),
        "a Date far in the future",
    )
    yield HostileMail(
        "bad-from",
        bytes(plain("Bad from", message_id="<bf@x>", sender="<!channel> not an address")),
        "a From with no address",
    )
    yield HostileMail(
        "mailto-from",
        bytes(
            plain("Mailto", message_id="<mt@x>", sender='"<mailto:x@evil.example|Boss>" <x@e.org>')
        ),
        "a mailto link as the From name",
    )


def _duplicates() -> Iterator[HostileMail]:
    other = "A quite different body <!channel>."
    first = plain("Original request", "The original body.", message_id="<dup1@x>")
    yield HostileMail("dup-original", bytes(first), "the first email of a Message-ID")
    yield HostileMail("dup-resend", bytes(first), "the same email again", "dup-original", True)
    yield HostileMail(
        "dup-other-body",
        bytes(plain("Original request", other, message_id="<dup1@x>")),
        "same Message-ID, different body", "dup-original", False,
    )  # fmt: skip
    yield HostileMail(
        "dup-other-subject",
        bytes(plain("<!here> Something else entirely", message_id="<dup1@x>")),
        "same Message-ID, different subject", "dup-original", False,
    )  # fmt: skip
    yield HostileMail(
        "dup-other-body-again",
        bytes(plain("Original request", other, message_id="<dup1@x>")),
        "the first clash sent again", "dup-original", False,
    )  # fmt: skip
    yield HostileMail(
        "dup-id-of-a-mention-mail",
        bytes(plain("Not the same at all", message_id="<ms0@example.org>")),
        "reuses an earlier mention email's Message-ID", "mention-subject-00", False,
    )  # fmt: skip


def _control_and_replies() -> Iterator[HostileMail]:
    for i, ch in enumerate(("\x00", "\x07", "\x1b[2J", "\x08\x08\x08", "\x7f", "\x85", "\u2028")):
        yield HostileMail(
            f"control-{i}",
            _crlf(
                f'Message-ID: <ctl{i}@x>\nDate: {DATE}\nFrom: "Ctl{ch}name" <ctl{i}@e.org>\n'
                f"Subject: Ctl{ch}subject\nContent-Type: text/plain; charset=utf-8\n\n"
                f"Body{ch}text{ch}<!channel>\n"
            ),  # fmt: skip
            f"control character {ch!r} in every field",
        )
    yield HostileMail(
        "header-injection",
        _crlf(
            f"Message-ID: <inj@x>\nDate: {DATE}\nFrom: a@example.org\n"
            "Subject: hello\r\rBcc: victim@example.org\x00<!channel>\n\nbody\n"
        ),  # fmt: skip
        "bare CRs and a NUL trying to inject a header",
    )
    yield HostileMail(
        "reply-to-mention",
        bytes(
            plain(
                "Re: <!channel> call me back",
                "<!here> replying",
                message_id="<rep1@x>",
                in_reply_to="<ms0@example.org>",
            )
        ),  # fmt: skip
        "a reply threading onto a hostile task",
    )
    yield HostileMail(
        "reply-to-itself",
        bytes(plain("Me again", message_id="<self@x>", in_reply_to="<self@x>")),
        "In-Reply-To its own Message-ID",
    )
    yield HostileMail(
        "reply-to-unknown",
        bytes(plain("Re: who", message_id="<orphan@x>", in_reply_to="<never-seen@x>")),
        "In-Reply-To an unknown message",
    )
    yield HostileMail(
        "encoded-word-abuse",
        _crlf(
            f"Message-ID: <ewa@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: "
            + " ".join(["=?utf-8?Q?=3C!channel=3E?="] * 2_000)
            + " =?utf-8?Q?=00=1B?= =?utf-8?X?what?= =?=?utf-8?Q?x?=?= =??=\n\nbody\n"
        ),  # fmt: skip
        "thousands of encoded words, NUL and ESC in them, bad encodings",
    )
    yield HostileMail(
        "encoded-word-crlf",
        _crlf(
            f"Message-ID: <ewc@x>\nDate: {DATE}\nFrom: =?utf-8?Q?Bob=0D=0A=3C!channel=3E?= "
            "<bob@example.org>\nSubject: =?utf-8?B?"
            + base64.b64encode(b"a\r\nBcc: x").decode()
            + "?=\n\nbody\n"
        ),  # fmt: skip
        "CR LF inside encoded words",
    )
    yield HostileMail(
        "rfc2231-filename",
        _crlf(
            f"Message-ID: <r2231@x>\nDate: {DATE}\nFrom: a@example.org\nSubject: 2231\n"
            'Content-Type: multipart/mixed; boundary="Z"\n\n--Z\nContent-Type: text/plain\n\n'
            "see file\n--Z\nContent-Type: application/pdf\n"
            "Content-Disposition: attachment; filename*=utf-8''%3C%21channel%3E%E2%80%AEfdp.exe\n"
            "\nAAAA\n--Z--\n"
        ),  # fmt: skip
        "an RFC 2231 file name with a mention and a right-to-left override",
    )
    yield HostileMail(
        "emoji-and-astral",
        bytes(
            plain(
                "\U0001f6a8 urgent \U0001f4a9 \U000e0041 tags",
                "\U0001f600" * 1000,
                message_id="<emoji@x>",
            )
        ),  # fmt: skip
        "emoji and astral-plane characters",
    )


def corpus() -> list[HostileMail]:
    """The whole corpus, numbered in the order intake will see it."""
    groups = (_mentions, _bidi_and_invisible, _big, _broken_encodings, _structure,
              _missing_headers, _duplicates, _control_and_replies)  # fmt: skip
    mails = [m for group in groups for m in group()]
    named = {m.name: f"{i:03d}-{m.name}.eml" for i, m in enumerate(mails, 1)}
    return [
        HostileMail(
            named[m.name],
            m.mime,
            m.about,
            named[m.same_id_as] if m.same_id_as else None,
            m.same_content,
        )  # fmt: skip
        for m in mails
    ]


def write(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    mails = corpus()
    for mail in mails:
        (folder / mail.name).write_bytes(mail.mime)
    return len(mails)


if __name__ == "__main__":  # pragma: no cover - a helper for people, not for tests
    if len(sys.argv) != 2:
        sys.exit("Usage: python -m tests.corpus.build OUT_DIR")
    print(f"Wrote {write(Path(sys.argv[1]))} emails to {sys.argv[1]}.")
