"""Parsing raw duty-inbox email: decoding, thread ids, bodies, attachments, never crashing."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail.parse import ParsedEmail, generated_id, html_to_text, parse_email

INBOX = Path(__file__).resolve().parent.parent / "examples" / "inbox"
DUTY = "CareExperiencedDuty@council.example.gov.uk"


def make_email(
    body: str = "Please call me back about my rent.",
    *,
    subject: str | None = "Rent arrears",
    message_id: str | None = "<m1@example.org>",
    sender: str = "Sam Taylor <sam.taylor@example.org>",
    date: str | None = "Mon, 30 Nov 2026 09:15:00 +0000",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = DUTY
    if subject is not None:
        msg["Subject"] = subject
    if date is not None:
        msg["Date"] = date
    if message_id is not None:
        msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def raw_email(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


# --- headers ------------------------------------------------------------------------------------
def test_utf8_base64_encoded_word_subject_is_decoded_and_unfolded() -> None:
    raw = raw_email(
        """
From: a@example.org
Subject: =?UTF-8?B?wqM0MjAgcmVudA==?=
 =?UTF-8?B?IGFycmVhcnMg4oCTIGhlbHA=?=
""",
        b"hi",
    )
    assert parse_email(raw).subject == "£420 rent arrears – help"


def test_iso_8859_1_quoted_printable_subject_and_sender_name() -> None:
    raw = raw_email(
        """
From: =?iso-8859-1?Q?Ren=E9e_Castell?= <Renee.Castell@Example.COM>
Subject: =?iso-8859-1?Q?Bus_pass_for_Zo=EB?=   -   =?iso-8859-1?Q?=A345?=
""",
        b"hi",
    )
    parsed = parse_email(raw)
    assert parsed.subject == "Bus pass for Zoë - £45"
    assert parsed.from_name == "Renée Castell"
    assert parsed.from_addr == "renee.castell@example.com"


def test_encoded_word_split_inside_a_character_is_joined() -> None:
    # "é" is C3 A9 in UTF-8; some mailers split the two bytes across encoded words
    raw = raw_email("Subject: =?utf-8?Q?caf=C3?= =?utf-8?Q?=A9_hours?=", b"")
    assert parse_email(raw).subject == "café hours"


def test_unknown_charset_in_subject_still_gives_text_and_a_note() -> None:
    raw = raw_email("Subject: =?x-unknown?Q?Rent_=C2=A3300?=", b"")
    parsed = parse_email(raw)
    assert parsed.subject == "Rent £300"
    assert any("character set" in p for p in parsed.problems)


def test_raw_utf8_bytes_in_headers_are_read() -> None:
    raw = "Subject: Zoë's £45 bus pass\nFrom: Zoë <zoe@example.org>\n\nhi".encode()
    parsed = parse_email(raw)
    assert parsed.subject == "Zoë's £45 bus pass"
    assert parsed.from_name == "Zoë"


def test_no_subject_gives_empty_string() -> None:
    assert parse_email(make_email(subject=None).as_bytes()).subject == ""


def test_sender_without_address_keeps_what_was_written() -> None:
    raw = raw_email("From: Jane Smith\nSubject: x", b"hi")
    parsed = parse_email(raw)
    assert parsed.from_addr == ""
    assert parsed.from_name == "Jane Smith"
    assert parsed.problems  # noted as malformed


def test_in_reply_to_and_references_are_parsed_without_brackets() -> None:
    raw = raw_email(
        """
From: a@example.org
Message-ID: < reply-3@example.org >
In-Reply-To: <second@example.org> (message from Sam)
References: <first@example.org>
 <second@example.org>
""",
        b"hi",
    )
    parsed = parse_email(raw)
    assert parsed.message_id == "reply-3@example.org"
    assert not parsed.message_id_generated
    assert parsed.in_reply_to == "second@example.org"
    assert parsed.references == ("first@example.org", "second@example.org")


def test_no_thread_headers_gives_none_and_empty() -> None:
    parsed = parse_email(make_email().as_bytes())
    assert parsed.in_reply_to is None
    assert parsed.references == ()


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Mon, 30 Nov 2026 09:15:00 +0000", datetime(2026, 11, 30, 9, 15, tzinfo=UTC)),
        ("Mon, 30 Nov 2026 09:15:00 -0500", datetime(2026, 11, 30, 14, 15, tzinfo=UTC)),
        ("Mon, 1 Jun 2026 09:15:00 +0100 (BST)", datetime(2026, 6, 1, 8, 15, tzinfo=UTC)),
        ("30 Nov 2026 09:15 GMT", datetime(2026, 11, 30, 9, 15, tzinfo=UTC)),
    ],
)
def test_date_is_converted_to_aware_utc(date: str, expected: datetime) -> None:
    sent_at = parse_email(make_email(date=date).as_bytes()).sent_at
    assert sent_at == expected
    assert sent_at is not None and sent_at.utcoffset() is not None


@pytest.mark.parametrize("date", [None, "next Tuesday", "Mon, 30 Nov 2026 09:15:00 +9999"])
def test_missing_or_unreadable_date_gives_none_and_a_note(date: str | None) -> None:
    parsed = parse_email(make_email(date=date).as_bytes())
    assert parsed.sent_at is None
    assert any("Date" in p for p in parsed.problems)


# --- generated ids ------------------------------------------------------------------------------
def test_missing_message_id_gives_a_stable_generated_id() -> None:
    raw = make_email(message_id=None).as_bytes()
    first, second = parse_email(raw), parse_email(raw)
    assert first.message_id_generated
    assert first.message_id == second.message_id
    assert first.message_id.startswith("generated-")
    assert first.message_id.endswith("@dutybot")


def test_generated_ids_differ_for_different_emails() -> None:
    ids = {
        parse_email(make_email(message_id=None).as_bytes()).message_id,
        parse_email(make_email(message_id=None, subject="Other").as_bytes()).message_id,
        parse_email(make_email("Another body", message_id=None).as_bytes()).message_id,
        parse_email(make_email(message_id=None, sender="b@example.org").as_bytes()).message_id,
        # header-less blobs differ only by their body
        parse_email(b"\r\nfirst blob").message_id,
        parse_email(b"\r\nsecond blob").message_id,
    }
    assert len(ids) == 6


def test_generated_id_does_not_depend_on_body_limit() -> None:
    plain = raw_email("From: a@example.org\nSubject: Rent arrears help", b"body")
    assert parse_email(plain).message_id == parse_email(plain, body_limit=2).message_id


def test_generated_ids_tell_apart_emails_with_nothing_readable() -> None:
    # zero bytes, headers that say nothing, a bounce with no From, Subject, Date or text
    bounce = raw_email(
        'MIME-Version: 1.0\nContent-Type: multipart/report; boundary="R"',
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--R--\r\n",
    )
    blank = [b"", raw_email("X-Mailer: x", b""), bounce]
    parsed = [parse_email(raw) for raw in blank]
    assert all(p.nothing_readable and p.message_id_generated for p in parsed)
    assert len({p.message_id for p in parsed}) == 3


def test_empty_message_id_counts_as_missing() -> None:
    parsed = parse_email(raw_email("From: a@example.org\nMessage-ID: <>", b"hi"))
    assert parsed.message_id_generated


def test_a_generated_id_is_a_hash_of_the_whole_raw_message() -> None:
    raw = make_email("Hello", message_id=None).as_bytes()
    assert generated_id(raw) == parse_email(raw).message_id
    assert generated_id(raw + b" ") != generated_id(raw)


# --- bodies -------------------------------------------------------------------------------------
def test_iso_8859_1_body_with_pound_and_accents() -> None:
    body = "Rent is £300 and the café job starts Monday, says Renée.\n".encode("iso-8859-1")
    raw = raw_email(
        """
From: a@example.org
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit
""",
        body,
    )
    parsed = parse_email(raw)
    assert parsed.body_text == "Rent is £300 and the café job starts Monday, says Renée."
    assert not [p for p in parsed.problems if "body" in p]


@pytest.mark.parametrize("charset", ["x-unknown", "utf-99", "base64"])
def test_unknown_body_charset_falls_back_and_notes_it(charset: str) -> None:
    raw = raw_email(
        f"From: a@example.org\nContent-Type: text/plain; charset={charset}",
        "Owes £300 in rent".encode(),
    )
    parsed = parse_email(raw)
    assert parsed.body_text == "Owes £300 in rent"
    assert any("character set" in p for p in parsed.problems)
    assert not any(charset in p for p in parsed.problems)  # notes carry no message text


def test_html_only_body_becomes_readable_text() -> None:
    html = """<html><head><title>Newsletter</title><style>p { color: red }</style></head>
    <body><script>alert("hi")</script>
    <p>Dear duty team,</p>
    <p>The bursary of &pound;160 is on hold &amp; needs a letter.<br>Thanks,<br>Student Support</p>
    <ul><li>Attendance 96%</li><li>Next run: Friday</li></ul></body></html>"""
    msg = make_email()
    msg.set_content(html, subtype="html")
    text = parse_email(msg.as_bytes()).body_text
    assert text == (
        "Dear duty team,\n\n"
        "The bursary of £160 is on hold & needs a letter.\nThanks,\nStudent Support\n\n"
        "- Attendance 96%\n- Next run: Friday"
    )


def test_plain_text_is_preferred_over_html() -> None:
    msg = make_email("Plain version")
    msg.add_alternative("<p>HTML version</p>", subtype="html")
    assert parse_email(msg.as_bytes()).body_text == "Plain version"


def test_blank_plain_part_falls_back_to_html() -> None:
    msg = make_email("  \n")
    msg.add_alternative("<p>Only the HTML says anything</p>", subtype="html")
    assert parse_email(msg.as_bytes()).body_text == "Only the HTML says anything"


def test_html_to_text_follows_the_markup_not_the_source_layout() -> None:
    html = """<div>Dear
       team,</div>\n\n<div>Line   two</div><p>New paragraph</p><p>&nbsp;</p>
       <p>After Outlook's blank line</p><div><br></div><pre>keep\nthis</pre>"""
    assert html_to_text(html) == (
        "Dear team,\nLine two\n\nNew paragraph\n\nAfter Outlook's blank line\n\nkeep\nthis"
    )


def test_two_megabyte_body_is_capped() -> None:
    body = "Rent arrears letter attached. " * 70_000  # about 2 MB
    raw = make_email(body).as_bytes()
    assert len(raw) > 2_000_000
    parsed = parse_email(raw, body_limit=5_000)
    assert len(parsed.body_text) == 5_000
    assert parsed.body_text.startswith("Rent arrears letter attached.")


def test_two_megabyte_html_body_is_capped() -> None:
    msg = make_email()
    msg.set_content("<div>Call me &amp; please help</div>\n" * 60_000, subtype="html")
    parsed = parse_email(msg.as_bytes())
    assert len(parsed.body_text) == 20_000
    assert parsed.body_text.startswith("Call me & please help\nCall me")


def test_broken_base64_body_does_not_crash_and_is_noted() -> None:
    raw = raw_email(
        """
From: a@example.org
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64
""",
        b"UGxlYXNlIGNhbGwgbWU=!!*\r\nbm90LXZhbGlk===x",
    )
    parsed = parse_email(raw)
    assert parsed.body_text.startswith("Please call me")
    assert any("base64" in p for p in parsed.problems)


def test_truncated_multipart_keeps_the_body_and_says_so() -> None:
    raw = raw_email(
        'From: a@example.org\nContent-Type: multipart/mixed; boundary="b1"',
        b"--b1\r\nContent-Type: text/plain\r\n\r\nPlease ring me today\r\n--b1\r\nContent-Ty",
    )
    parsed = parse_email(raw)
    assert parsed.body_text == "Please ring me today"
    assert any("truncated" in p for p in parsed.problems)


def test_hundred_deep_nested_multipart_still_finds_the_body() -> None:
    part = b"Content-Type: text/plain\r\n\r\nDeep inside\r\n"
    for level in range(100):
        boundary = b"level%d" % level
        part = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b"--" + boundary + b"\r\n" + part + b"\r\n--" + boundary + b"--\r\n"
        )
    parsed = parse_email(b"From: a@example.org\r\nSubject: nested\r\n" + part)
    assert parsed.body_text == "Deep inside"
    assert parsed.subject == "nested"


def test_absurdly_deep_nesting_keeps_the_headers() -> None:
    part = b"Content-Type: text/plain\n\nx\n"
    for level in range(3_000):
        boundary = b"b%d" % level
        head = b"Content-Type: multipart/mixed; boundary=" + boundary + b"\n\n"
        part = head + b"--" + boundary + b"\n" + part + b"\n--" + boundary + b"--\n"
    parsed = parse_email(b"From: a@example.org\nSubject: still here\n" + part)
    assert parsed.subject == "still here"
    assert parsed.from_addr == "a@example.org"


def test_body_limit_zero_gives_empty_body() -> None:
    assert parse_email(make_email().as_bytes(), body_limit=0).body_text == ""


# --- attachments --------------------------------------------------------------------------------
def test_five_hundred_attachments_are_listed_by_name_and_size() -> None:
    msg = make_email("Scans attached")
    for i in range(500):
        msg.add_attachment(
            bytes(i + 1), maintype="application", subtype="pdf", filename=f"scan-{i:03d}.pdf"
        )
    parsed = parse_email(msg.as_bytes())
    assert parsed.body_text == "Scans attached"
    assert len(parsed.attachments) == 500
    assert [(a.name, a.size) for a in parsed.attachments[:2]] == [
        ("scan-000.pdf", 1),
        ("scan-001.pdf", 2),
    ]
    assert parsed.attachments[-1].name == "scan-499.pdf"
    assert parsed.attachments[-1].size == 500
    assert {a.content_type for a in parsed.attachments} == {"application/pdf"}


def test_attachment_names_are_decoded() -> None:
    raw = raw_email(
        'From: a@example.org\nContent-Type: multipart/mixed; boundary="b"',
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''Zo%C3%AB%20plan.pdf\r\n\r\nabc\r\n"
        b'--b\r\nContent-Type: image/png; name="=?utf-8?B?wqMgcmVjZWlwdC5wbmc=?="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment\r\n\r\nxy\r\n--b--\r\n",
    )
    parsed = parse_email(raw)
    assert [(a.name, a.size) for a in parsed.attachments] == [
        ("Zoë plan.pdf", 3),
        ("£ receipt.png", 5),
        ("(unnamed)", 2),
    ]
    assert parsed.body_text == "see attached"


def test_forwarded_email_counts_as_an_attachment() -> None:
    inner = make_email("Original message", subject="Original")
    outer = make_email("See the forwarded email")
    outer.add_attachment(inner, filename="original.eml")
    parsed = parse_email(outer.as_bytes())
    assert parsed.body_text == "See the forwarded email"
    assert [(a.name, a.content_type) for a in parsed.attachments] == [
        ("original.eml", "message/rfc822")
    ]
    assert parsed.attachments[0].size > len("Original message")


def test_broken_base64_attachment_does_not_crash() -> None:
    raw = raw_email(
        'From: a@example.org\nContent-Type: multipart/mixed; boundary="b"',
        b"--b\r\nContent-Type: text/plain\r\n\r\nscan attached\r\n"
        b"--b\r\nContent-Type: application/pdf; name=scan.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x*&^%\xff\xfe==A\r\n--b--\r\n",
    )
    parsed = parse_email(raw)
    assert parsed.body_text == "scan attached"
    assert [a.name for a in parsed.attachments] == ["scan.pdf"]
    assert any("attachment" in p for p in parsed.problems)


def test_inline_text_part_with_a_name_is_body_not_attachment() -> None:
    raw = raw_email(
        "From: a@example.org\nContent-Type: text/plain; name=note.txt",
        b"Please call",
    )
    parsed = parse_email(raw)
    assert parsed.body_text == "Please call"
    assert parsed.attachments == ()


# --- never raises -------------------------------------------------------------------------------
def assert_well_formed(parsed: ParsedEmail, body_limit: int = 20_000) -> None:
    texts = [parsed.message_id, parsed.subject, parsed.from_name, parsed.from_addr]
    texts += [parsed.body_text, *parsed.references, *parsed.problems]
    texts += [a.name for a in parsed.attachments] + [a.content_type for a in parsed.attachments]
    for text in texts:
        text.encode("utf-8")  # no lone surrogates: the database must accept every field
        assert "\x00" not in text  # PostgreSQL rejects NUL in text
    assert parsed.message_id
    assert len(parsed.body_text) <= body_limit


def test_empty_bytes() -> None:
    parsed = parse_email(b"")
    assert_well_formed(parsed)
    assert parsed.message_id_generated
    assert parsed.body_text == ""


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4_000), st.integers(min_value=0, max_value=500))
def test_any_bytes_parse_without_raising(raw: bytes, body_limit: int) -> None:
    assert_well_formed(parse_email(raw, body_limit=body_limit), body_limit)


_FRAGMENTS = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"--x\r\n",
        b"--x--\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Type: text/html; charset=utf-99\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Disposition: attachment; filename*=x-unknown''%FF\r\n",
        b"Subject: =?utf-8?B?w6k?= =?iso-8859-1?Q?=A3?=\r\n",
        b"From: =?bad?Q?x?= <\xff@x>\r\n",
        b"Message-ID: <\xe9@x>\r\n",
        b"Date: Mon, 30 Nov 2026 99:99:99 +9999\r\n",
        b"\r\n",
        b"<p>&pound;<script>x</script>",
        b"=E9=\r\n",
        b"\x00\xff\xfe",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=40)), max_size=40))
def test_mime_shaped_garbage_parses_without_raising(pieces: list[bytes]) -> None:
    assert_well_formed(parse_email(b"".join(pieces)))


# --- the sample inbox ---------------------------------------------------------------------------
def load_samples() -> dict[str, ParsedEmail]:
    return {path.name[:2]: parse_email(path.read_bytes()) for path in INBOX.glob("*.eml")}


def test_sample_inbox_parses_cleanly() -> None:
    samples = load_samples()
    assert len(samples) >= 9
    for number, parsed in samples.items():
        assert parsed.problems == (), number
        assert not parsed.message_id_generated, number
        assert parsed.subject and parsed.from_addr and parsed.body_text, number
        assert parsed.sent_at is not None
        assert (parsed.sent_at.year, parsed.sent_at.month) == (2026, 11), number
        assert parsed.sent_at.day >= 16, number
        assert parsed.sent_at.weekday() < 5, number
    ids = [parsed.message_id for parsed in samples.values()]
    assert len(set(ids)) == len(ids)


def test_sample_inbox_special_cases() -> None:
    samples = load_samples()
    assert samples["04"].in_reply_to == samples["01"].message_id
    assert samples["01"].message_id in samples["04"].references
    assert samples["04"].subject.startswith("Re: ")

    (pdf,) = samples["05"].attachments
    assert pdf.content_type == "application/pdf"
    assert pdf.name.endswith(".pdf")
    assert pdf.size > 100

    assert "£160" in samples["06"].body_text
    assert "<" not in samples["06"].body_text and "&amp;" not in samples["06"].body_text

    assert "£45" in samples["07"].body_text and "café" in samples["07"].body_text
    assert samples["08"].subject == "<!channel> URGENT call me"
    assert "943 476 5919" in samples["03"].body_text
