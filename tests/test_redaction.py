"""Privacy masking and tidying of email text shown on Slack task cards."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberMatcher

import bot.mail.redaction as redaction
from bot.mail.redaction import card_preview, card_subject, redact, tidy

TODAY = date(2026, 11, 22)


def nhs_check_digit(nine: str) -> int | None:
    """The NHS mod-11 check digit for nine digits, or None when no number can use them."""
    total = sum(int(c) * w for c, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return None if check == 10 else check % 11


def valid_nhs(nine: str) -> str:
    check = nhs_check_digit(nine)
    assert check is not None, nine
    return nine + str(check)


def spaced(ten: str, sep: str = " ") -> str:
    return f"{ten[:3]}{sep}{ten[3:6]}{sep}{ten[6:]}"


# ------------------------------------------------------------------------------ NHS numbers


@pytest.mark.parametrize("nine", ["943476591", "401023213", "485777345", "123456788"])
@pytest.mark.parametrize("fmt", ["plain", "spaces", "dashes"])
def test_valid_nhs_numbers_are_masked(nine: str, fmt: str) -> None:
    number = valid_nhs(nine)
    shown = {"plain": number, "spaces": spaced(number), "dashes": spaced(number, "-")}[fmt]
    assert redact(f"NHS no: {shown}.", today=TODAY) == "NHS no: [NHS no.]."


@pytest.mark.parametrize("nine", ["943476591", "401023213", "485777345"])
def test_nhs_number_with_a_wrong_check_digit_stays_visible(nine: str) -> None:
    good = nhs_check_digit(nine)
    for wrong in sorted({(good + k) % 10 for k in (1, 3, 7)}):
        reference = f"{nine}{wrong}"
        assert redact(f"Ref {reference} attached", today=TODAY) == f"Ref {reference} attached"
        text = f"Ref {spaced(reference)} attached"
        assert redact(text, today=TODAY) == text


def test_nine_digits_whose_check_would_be_ten_never_make_an_nhs_number() -> None:
    nine = next(
        f"{i:09d}" for i in range(100_000_000, 100_001_000) if nhs_check_digit(f"{i:09d}") is None
    )
    for last in "0123456789":
        assert "[NHS no.]" not in redact(f"ref {nine}{last}", today=TODAY)


def test_nhs_number_inside_a_longer_digit_run_is_not_masked_as_nhs() -> None:
    number = valid_nhs("943476591")
    assert "[NHS no.]" not in redact(f"order 55{number}55", today=TODAY)


def test_valid_nhs_number_is_labelled_nhs_not_phone() -> None:
    # 10 digits starting 0 could pass for a phone number; the NHS label wins.
    number = valid_nhs("012345678")
    assert redact(f"NHS {number}", today=TODAY) == "NHS [NHS no.]"


# ---------------------------------------------------------------------------- NI numbers


@pytest.mark.parametrize(
    "ni", ["AB 12 34 56 C", "AB123456C", "ab 12 34 56 c", "JZ123456D", "CE 654321 A", "ZA123456B"]
)
def test_ni_numbers_are_masked(ni: str) -> None:
    assert redact(f"NI: {ni}.", today=TODAY) == "NI: [NI no.]."


@pytest.mark.parametrize(
    "ni",
    [
        "DA123456C",  # D never first
        "FA123456C",
        "QQ123456C",  # Q never first or second
        "AO123456C",  # O never second
        "AD123456C",
        "BG123456A",  # unallocated prefixes
        "GB123456A",
        "NK123456A",
        "KN123456A",
        "TN123456A",
        "NT123456A",
        "ZZ123456A",
        "AB123456E",  # suffix only A-D
    ],
)
def test_impossible_ni_numbers_stay_visible(ni: str) -> None:
    assert redact(f"code {ni} here", today=TODAY) == f"code {ni} here"


# -------------------------------------------------------------------------------- phones

PHONES = [
    "07911 123456",
    "07911123456",
    "07911-123-456",
    "+44 7911 123456",
    "+447911123456",
    "+44 (0)7911 123456",
    "0044 7911 123456",
    "0121 496 0000",
    "(0121) 496 0000",
    "020 7946 0000",
    "+44 20 7946 0000",
    "0113 496 0000",
    "0300 123 4567",
    "0800 1111",
]


@pytest.mark.parametrize("phone", PHONES)
def test_uk_phone_numbers_are_masked(phone: str) -> None:
    assert redact(f"Please call {phone} today.", today=TODAY) == "Please call [phone] today."


def test_several_phones_in_one_text() -> None:
    text = "Mum: 07911 123456, school (0121) 496 0000, office +44 20 7946 0000"
    assert redact(text, today=TODAY) == "Mum: [phone], school [phone], office [phone]"


def test_numbers_separated_only_by_spaces_are_all_masked() -> None:
    # The library alone sees one over-long candidate here and finds nothing.
    text = "Numbers: 07911 123456 0121 496 0000 07922 654321 end"
    assert redact(text, today=TODAY) == "Numbers: [phone] [phone] [phone] end"
    listing = "07911 123456 " * 100
    assert redact(listing, today=TODAY) == "[phone] " * 100


def test_text_built_to_be_slow_keeps_its_words() -> None:
    # Its speed is measured in bench/intake.py; here, only that nothing is lost.
    spam = ("12 34 " * 4 + "ab ") * 100
    out = redact(spam, today=TODAY)
    assert out.count("ab") == 100


def test_zero_width_characters_cannot_hide_a_number() -> None:
    assert redact("call 0791\u200b1 123\u200d456", today=TODAY) == "call [phone]"


def test_short_references_and_times_are_not_phones() -> None:
    text = "Case 123456 at 10:30, room 12."
    assert redact(text, today=TODAY) == text


def test_phone_matcher_failure_hides_digits_rather_than_leaking(monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(redaction, "PhoneNumberMatcher", broken)
    out = redact("call 07911 123456 now", today=TODAY)
    assert "07911" not in out and "123456" not in out


words = st.sampled_from(["call", "mum", "on", "or", "tel:", "ref", "(", ")", ",", "-", "DOB", "at"])
number_bits = st.sampled_from(PHONES + ["12", "2026", "25/11/2026", "10:30", "+44", "0", "123"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(words, number_bits), max_size=14), st.sampled_from([" ", "", "  "]))
def test_no_phone_the_library_can_find_survives_redaction(pieces: list[str], sep: str) -> None:
    out = redact(sep.join(pieces), today=TODAY)
    assert [m.raw_string for m in PhoneNumberMatcher(out, "GB")] == []


# -------------------------------------------------------------------- emails and postcodes


@pytest.mark.parametrize(
    "email",
    [
        "jo.bloggs@example.org",
        "o'brien+duty@council.gov.uk",
        "A_Smith99@nhs.net",
        "x@sub.domain.co.uk",
    ],
)
def test_email_addresses_are_masked(email: str) -> None:
    assert redact(f"From <{email}>, thanks", today=TODAY) == "From <[email]>, thanks"
    assert redact(f"mailto:{email}", today=TODAY) == "mailto:[email]"


@pytest.mark.parametrize(
    "postcode",
    ["B1 1AA", "WS1 2AB", "sw1a1aa", "SW1A 1AA", "M1 1AE", "EC1A 1BB", "W1A 0AX", "ws12ab"],
)
def test_postcodes_are_masked(postcode: str) -> None:
    assert redact(f"Lives at 12 Park Road, {postcode}.", today=TODAY) == (
        "Lives at 12 Park Road, [postcode]."
    )


@pytest.mark.parametrize(
    "text", ["Meet in room A1 2nd floor", "Flat B2 3rd door", "Q1 1AA", "A1 ok"]
)
def test_postcode_lookalikes_stay_visible(text: str) -> None:
    assert redact(text, today=TODAY) == text


# ------------------------------------------------------------------------- dates of birth


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DOB: 14/02/2007", "DOB: [date of birth]"),
        ("dob 14-2-2007", "dob [date of birth]"),
        ("D.O.B. 3/3/21", "D.O.B. [date of birth]"),
        ("Date of birth: 12 May 2019", "Date of birth: [date of birth]"),
        ("born on 3rd March.", "born on [date of birth]."),
        ("Born 2024-01-05", "Born [date of birth]"),
        # Any date after a cue, however recent.
        ("DOB 01/11/2026", "DOB [date of birth]"),
        ("born on the 3rd of March 2025", "born on the [date of birth]"),
    ],
)
def test_any_date_after_a_cue_is_masked(text: str, expected: str) -> None:
    assert redact(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "old_date",
    ["03/03/2004", "3-3-2004", "3.3.2004", "3 March 2004", "March 3rd, 2004", "3rd Mar 2004"],
)
def test_old_full_dates_are_masked_without_a_cue(old_date: str) -> None:
    assert (
        redact(f"Jordan ({old_date}) is known.", today=TODAY)
        == "Jordan ([date of birth]) is known."
    )


def test_five_year_line() -> None:
    # Today is in 2026: 2021 is five years back and masked; 2022 is kept.
    assert redact("seen 10/10/2021", today=TODAY) == "seen [date of birth]"
    assert redact("seen 10/10/2022", today=TODAY) == "seen 10/10/2022"


@pytest.mark.parametrize(
    "text",
    [
        "Appointment on 25/11/2026 at 10:30.",
        "Review on 1 December 2026 please.",
        "Meeting December 3rd, 2026 in the office.",
        "Visit 2026-11-25.",
    ],
)
def test_recent_dates_stay_visible(text: str) -> None:
    assert redact(text, today=TODAY) == text


def test_the_real_today_is_used_by_default() -> None:
    this_year = date.today()
    text = f"Appointment on {this_year:%d/%m/%Y}, DOB 03/03/2004"
    assert redact(text) == f"Appointment on {this_year:%d/%m/%Y}, DOB [date of birth]"


def test_a_whole_email() -> None:
    nhs = spaced(valid_nhs("943476591"))
    body = (
        "Hi team,\n\nJordan Smith (DOB 14/02/2007) missed college. His mobile is 07911 123456 "
        f"and he lives at 12 Park Road, Walsall WS1 2AB. NHS number {nhs}, NI AB 12 34 56 C. "
        "Meeting on 3/12/2026.\n\nSam\nTel: 0121 496 0000 | sam@college.example.ac.uk"
    )
    assert redact(body, today=TODAY) == (
        "Hi team,\n\nJordan Smith (DOB [date of birth]) missed college. His mobile is [phone] "
        "and he lives at 12 Park Road, Walsall [postcode]. NHS number [NHS no.], NI [NI no.]. "
        "Meeting on 3/12/2026.\n\nSam\nTel: [phone] | [email]"
    )


# ------------------------------------------------------------------------------- tidy


def test_tidy_removes_bidi_overrides_and_zero_width_characters() -> None:
    # An RLO could make "invoice_exe.pdf" read as something else on screen.
    assert tidy("pay\u202eanuary\u202c now") == "payanuary now"
    assert tidy("a\u200bb\u200cc\u200dd\u2060e\ufefff\u200e\u200fg\u2066h\u2069") == "abcdefgh"


def test_tidy_removes_control_characters_but_keeps_lines_and_tabs() -> None:
    assert tidy("a\x00b\x07c\x1bd\x7fe") == "abcde"
    assert tidy("one\r\ntwo\rthree\u2028four\tend") == "one\ntwo\nthree\nfour\tend"


def test_tidy_normalises_to_nfc() -> None:
    assert tidy("Zoe\u0301") == "Zo\u00e9"


# ------------------------------------------------------------------------ card text

LONG_BODY = "The young person was seen today and is safe. " * 20


def test_preview_is_cut_with_an_ellipsis_within_the_limit() -> None:
    preview = card_preview(LONG_BODY, "redacted", limit=100)
    assert len(preview) <= 100
    assert preview.endswith("…")
    assert preview.startswith("The young person was seen today")
    assert not preview[:-1].endswith(" ")


def test_short_preview_is_not_cut_and_whitespace_is_collapsed() -> None:
    assert card_preview("Hello\n\n  team,\tcall  me.", "redacted") == "Hello team, call me."


def test_preview_is_redacted_before_it_is_cut() -> None:
    # The phone straddles the limit: no part of it may show.
    body = "x " * 140 + "call 07911 123456 please " + "y " * 50
    preview = card_preview(body, "redacted", limit=290)
    assert len(preview) <= 290
    for fragment in ("0791", "123", "456"):
        assert fragment not in preview


def test_preview_never_ends_in_half_a_placeholder() -> None:
    body = "a" * 95 + " DOB 03/03/2004 and more text after it"
    for limit in range(95, 115):
        preview = card_preview(body, "redacted", limit=limit)
        assert len(preview) <= limit
        assert preview.count("[") == preview.count("]")


def test_subject_only_mode_shows_no_body_but_still_redacts_the_subject() -> None:
    assert card_preview(LONG_BODY, "subject-only") == ""
    assert card_subject("Call 07911 123456 re Jordan", "subject-only") == "Call [phone] re Jordan"


def test_full_mode_shows_numbers_but_still_tidies() -> None:
    assert card_preview("call\u202e 07911 123456", "full") == "call 07911 123456"
    assert card_subject("re: DOB 03/03/2004\u200b", "full") == "re: DOB 03/03/2004"


def test_redacted_subject() -> None:
    assert card_subject("Re: Jordan  DOB 03/03/2004\r\n (urgent)", "redacted") == (
        "Re: Jordan DOB [date of birth] (urgent)"
    )


@pytest.mark.parametrize("subject", ["", "   ", "\u200b\u202e", "\r\n"])
def test_empty_subject(subject: str) -> None:
    assert card_subject(subject, "redacted") == "(no subject)"
    assert card_subject(subject, "full") == "(no subject)"


# ------------------------------------------------------------------- never raises


tricky_text = st.one_of(
    st.text(),
    st.text(alphabet="0123456789 +-()/.:@abcDOBorn\n\t\u202e\u200b[]…"),
)


@settings(max_examples=300, deadline=None)
@given(
    tricky_text,
    st.sampled_from(["redacted", "subject-only", "full"]),
    st.integers(min_value=-5, max_value=400),
)
@example("\ud800 lone surrogate 07911 123456", "redacted", 20)
@example("[phone] " * 60, "redacted", 300)
def test_card_preview_never_exceeds_the_limit_and_never_raises(
    body: str, mode: redaction.PreviewMode, limit: int
) -> None:
    preview = card_preview(body, mode, limit=limit)
    assert len(preview) <= max(limit, 0)


@settings(max_examples=200, deadline=None)
@given(tricky_text)
def test_redact_never_raises(text: str) -> None:
    assert isinstance(redact(text), str)
    assert isinstance(card_subject(text, "redacted"), str)


@pytest.mark.parametrize(
    "text",
    [
        "Ring 07700 900123 today.",  # Ofcom drama range: unallocated, still masked
        "Ring (01632) 960123 today.",
        "Ring 07911 123456)0044 7911 123456 today.",
        "Ring +44 (0) 7700 900123 today.",
        "Ring +4407911 123456 today.",
        "Ring 07911 123456-07911 123456 today.",
        "Ring 07911 123456)0800 1111 today.",
        "Ring 07911 123456+44 7911 123456 today.",
    ],
)
def test_numbers_dialled_the_uk_way_are_masked_even_if_unallocated(text: str) -> None:
    out = redact(text, today=TODAY)
    assert not any(c.isdigit() for c in out), out
