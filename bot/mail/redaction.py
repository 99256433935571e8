"""Privacy masking and tidying of outside text before it is shown on a Slack task card.

`redact` hides personal identifiers (NHS and NI numbers, phone numbers, email addresses,
postcodes, dates of birth) behind short placeholders. `tidy` strips characters that can
disguise text (bidi overrides, zero-width characters, control characters).

Speed: intake handles over 1,000 emails a second. Regexes are compiled once; every
identifier except an email address holds a digit, so only the text near digits is searched;
and the slow phone matcher only sees words around runs of six or more digits. Callers pass
only the part of a body that will be previewed (about 2,000 chars).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Final

from phonenumbers import Leniency, PhoneNumberMatcher

from bot.kernel.clean import INVISIBLE_CLASS, tidy
from bot.kernel.config import PreviewMode

# Where a sender's email domain says nothing about an organisation, only that it is a person's.
PERSONAL_DOMAINS: Final = frozenset({
    "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com", "live.com",
    "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com",
    "mac.com", "aol.com", "aol.co.uk", "btinternet.com", "btopenworld.com", "sky.com",
    "talktalk.net", "virginmedia.com", "ntlworld.com", "blueyonder.co.uk", "protonmail.com",
    "proton.me", "gmx.com", "gmx.co.uk", "mail.com", "tiscali.co.uk", "zoho.com",
})  # fmt: skip

NHS_MASK: Final = "[NHS no.]"
NI_MASK: Final = "[NI no.]"
PHONE_MASK: Final = "[phone]"
EMAIL_MASK: Final = "[email]"
POSTCODE_MASK: Final = "[postcode]"
DOB_MASK: Final = "[date of birth]"
_MASKS: Final = (NHS_MASK, NI_MASK, PHONE_MASK, EMAIL_MASK, POSTCODE_MASK, DOB_MASK)

NO_SUBJECT: Final = "(no subject)"
ELLIPSIS: Final = "…"

# A date with a full year at least this many years back is treated as a date of birth.
DOB_MIN_AGE_YEARS: Final = 5

# ---------------------------------------------------------------------------------------------
# tidy (bot.kernel.clean): dropped from redaction input too, so they cannot split a number

_INVISIBLE: Final = re.compile(f"[{INVISIBLE_CLASS}]")


# ---------------------------------------------------------------------------------------------
# Patterns. Numbers allow horizontal space only: one split over two lines is not a number.

_SP: Final = r"[ \t\u00a0]"

# NHS number: 3-3-4 digits with one consistent separator (space, dash or none), not glued
# to other digits. The lookbehind comes after the first digit so re can skip to digits fast.
_NHS: Final = re.compile(rf"(\d(?<!\d\d)\d\d)({_SP}|-|)(\d{{3}})\2(\d{{4}})(?!\d)")
_NHS_WEIGHTS: Final = (10, 9, 8, 7, 6, 5, 4, 3, 2)

# National Insurance number. First letter never D F I Q U V; second never D F I O Q U V;
# prefixes BG GB KN NK NT TN ZZ are not allocated. Suffix A-D.
_NI: Final = re.compile(
    rf"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    rf"{_SP}?\d\d{_SP}?\d\d{_SP}?\d\d{_SP}?[A-D]\b",
    re.IGNORECASE,
)

# Start only at the beginning of an address-like run, so a long run without "@" is not
# rescanned from every position.
_EMAIL_LOCAL: Final = r"[\w.!#$%&'*+/=?^`{|}~-]"
_EMAIL: Final = re.compile(
    rf"(?<!{_EMAIL_LOCAL}){_EMAIL_LOCAL}+@(?:[\w-]+\.)+[^\W\d_]{{2,63}}(?![\w-])"
)

# Full UK postcode, with the letter rules of each position so ordinary words rarely match.
_POSTCODE: Final = re.compile(
    r"\b(?:GIR ?0AA"
    r"|[A-PR-UWYZ](?:[A-HK-Y]?\d\d?|\d[A-HJKPSTUW]|[A-HK-Y]\d[ABEHMNPRV-Y])"
    rf"{_SP}?(?P<in>\d[ABD-HJLNP-UW-Z]{{2}}))\b",
    re.IGNORECASE,
)
# "room A1 2nd floor" looks like a postcode but the inward part is an ordinal.
_ORDINAL_SUFFIXES: Final = frozenset({"st", "nd", "rd", "th"})

# A dot is allowed only after an abbreviation, so "born 3rd March." keeps its full stop.
_MONTH: Final = (
    r"(?:jan(?:uary|\.)?|feb(?:ruary|\.)?|mar(?:ch|\.)?|apr(?:il|\.)?|may|jun(?:e|\.)?"
    r"|jul(?:y|\.)?|aug(?:ust|\.)?|sep(?:tember|t\.?|\.)?|oct(?:ober|\.)?|nov(?:ember|\.)?"
    r"|dec(?:ember|\.)?)(?![a-z])"
)
# Bounded gaps keep every match within _REACH characters of one of its digits.
_GAP: Final = r"\s{1,3}"
_DAY: Final = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?![a-z\d])"

# Dates with a full year; the year decides whether it looks like a date of birth.
_FULL_DATE: Final = re.compile(
    rf"\b{_DAY}(?:{_GAP}of)?{_GAP}{_MONTH},?{_GAP}(?P<y1>\d{{4}})(?!\d)"
    rf"|\b{_MONTH}{_GAP}{_DAY},?{_GAP}(?P<y2>\d{{4}})(?!\d)"
    r"|(?<![\d/.-])(?P<a>\d\d?)(?P<sep>[/.-])(?P<b>\d\d?)(?P=sep)(?P<y3>\d{4})(?!\d)"
    r"|(?<![\d/.-])(?P<y4>\d{4})(?P<sep4>[/.-])(?:0?[1-9]|1[0-2])(?P=sep4)"
    r"(?:[12]\d|3[01]|0?[1-9])(?![\d/.-]?\d)",
    re.IGNORECASE,
)

# Any date straight after a cue such as "DOB:", "D.O.B", "date of birth", "born (on)".
_DOB_CUE: Final = re.compile(
    rf"(?P<lead>\b(?:d[./]?\s?o[./]?\s?b\b\.?|date{_GAP}of{_GAP}birth|born(?:{_GAP}on)?)"
    rf"[\s:=,\-\u2013\u2014]{{0,6}}(?:(?:is|was){_GAP})?(?:the{_GAP})?)"
    r"(?:\d{4}[/.-]\d\d?[/.-]\d\d?"
    r"|\d\d?[/.-]\d\d?[/.-]\d\d(?:\d\d)?"
    rf"|{_DAY}(?:{_GAP}of)?{_GAP}{_MONTH}(?:,?{_GAP}\d\d(?:\d\d)?)?"
    rf"|{_MONTH}{_GAP}{_DAY}(?:,?{_GAP}\d{{4}})?"
    rf"|{_MONTH}{_GAP}\d{{4}})"
    r"(?!\d)",
    re.IGNORECASE,
)

# Cheap tests that a region could hold the pattern at all; the full patterns are slower
# (re cannot skip ahead to a likely start) and only run when their gate passes.
_NI_GATE: Final = re.compile(rf"\d\d{_SP}?\d\d{_SP}?\d\d{_SP}?[A-Da-d]\b")
_CUE_GATE: Final = re.compile(r"d[./]?\s?o[./]?\s?b|birth|born")  # on lower-cased text
_YEAR_GATE: Final = re.compile(r"\d\d\d\d")
_POSTCODE_GATE: Final = re.compile(r"\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\b")
# The phone matcher is the slowest step, so it only sees the words around "zones": digits
# joined by short runs of anything but letters (so any punctuation, even unusual dashes,
# keeps a number in one zone) holding at least 6 digits. No valid number is shorter: the
# shortest are a 2-digit country code and a 4-digit number, such as some in Germany.
_PHONE_ZONE: Final = re.compile(r"\d(?:\W{0,4}\d)*")
_PHONE_MIN_DIGITS: Final = 6
_PHONE_PASSES: Final = 4
# E.164 numbers have at most 15 digits, so a longer run holds several numbers (or none).
_PHONE_MAX_DIGITS: Final = 15
# Matcher calls one `redact` may spend on such runs; past it, the rest of a run is hidden.
_PHONE_WINDOW_BUDGET: Final = 200
_WORD: Final = re.compile(r"\S+")
_ANY_DIGIT: Final = re.compile(r"\d")
# A UK number as dialled, 10 or 11 digits from the 0 (or +44 or 0044). The library skips numbers
# that are not allocated, such as Ofcom's drama ranges (07700 900xxx); to a reader they are
# still someone's number, so whatever is left in that shape is masked too. A "+" starts a
# number even straight after other digits.
_UK_DIALLED: Final = re.compile(
    r"(?:(?<!\+)\+44|(?<![\d+])00[ \t]?44|(?<![\d+])\(?(?=0))"
    r"(?:[ \t]?\(0\)[ \t]?|0|[ \t])?\d(?:\)?[ \t-]?\d){8,9}"
    r"(?!\d)"
)

# Everything masked except email addresses contains a digit and reaches less than _REACH
# characters from it, so only text near digits is searched: most of an email is prose,
# and this keeps `redact` fast. Patterns use bounded gaps (\s{1,3}) to keep that promise.
_REACH: Final = 48
_DIGIT_RUN: Final = re.compile(r"\d+")
_SPACES: Final = " \n\t"


# ---------------------------------------------------------------------------------------------
# Maskers


def _nhs_check_ok(digits: str) -> bool:
    total = sum(int(c) * w for c, w in zip(digits[:9], _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _mask_nhs(m: re.Match[str]) -> str:
    digits = m.group(1) + m.group(3) + m.group(4)
    return NHS_MASK if _nhs_check_ok(digits) else m.group(0)


def _mask_postcode(m: re.Match[str]) -> str:
    inward = m.group("in")
    if inward is not None and inward[1:] in _ORDINAL_SUFFIXES:
        return m.group(0)
    return POSTCODE_MASK


def _plausible_day_month(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True
    x, y = int(a), int(b)
    # UK order is day/month, but a US-order date of birth must not slip through either.
    return 1 <= x <= 31 and 1 <= y <= 31 and min(x, y) <= 12


class _Budget:
    """Matcher calls one `redact` may spend searching long digit runs, so even text built
    to be slow stays within a few milliseconds."""

    __slots__ = ("left",)

    def __init__(self, calls: int) -> None:
        self.left = calls

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _mask_phones(text: str, budget: _Budget) -> str:
    zones = [
        _widen(text, m.start(), m.end())
        for m in _PHONE_ZONE.finditer(text)
        if sum(c.isdigit() for c in m.group()) >= _PHONE_MIN_DIGITS
    ]
    return _replace_in(text, _merge(zones), lambda zone: _mask_phones_in_zone(zone, budget))


def _mask_phones_in_zone(text: str, budget: _Budget) -> str:
    try:
        # Masking one number can uncover its neighbour to the matcher, so repeat until the
        # text stops changing.
        for _ in range(_PHONE_PASSES):
            before = text
            text = _mask_found_phones(text)
            # The matcher judges a whole run of digit groups as one candidate, so numbers
            # separated only by spaces ("07911 123456 0121 496 0000") can all go unseen.
            # Runs too long for one number are searched again in windows of words.
            text = _replace_in(text, _long_digit_runs(text), lambda run: _split_run(run, budget))
            text = _UK_DIALLED.sub(PHONE_MASK, text)
            if text == before:
                break
        return text
    except Exception:
        # Fail closed: better an unreadable preview than a leaked phone number.
        return _ANY_DIGIT.sub("#", text)


def _matched_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in PhoneNumberMatcher(text, "GB", Leniency.VALID)]


def _mask_found_phones(text: str) -> str:
    """One pass of the matcher (the caller repeats while the text changes: two numbers split
    only by a space can hide the first from the matcher until the second is masked)."""
    if sum(c.isdigit() for c in text) < _PHONE_MIN_DIGITS:
        return text
    for start, end in reversed(_matched_spans(text)):
        text = text[:start] + PHONE_MASK + text[end:]
    return text


def _long_digit_runs(text: str) -> list[tuple[int, int]]:
    runs = [
        _widen(text, m.start(), m.end())
        for m in _PHONE_ZONE.finditer(text)
        if sum(c.isdigit() for c in m.group()) > _PHONE_MAX_DIGITS
    ]
    return _merge(runs)


def _split_run(run: str, budget: _Budget) -> str:
    """Try the matcher on windows of whole words, longest first, each holding 6 to 15
    digits (one number's worth). Past the budget the rest of the run is hidden."""
    words = [(m.start(), m.end(), sum(c.isdigit() for c in m.group())) for m in _WORD.finditer(run)]
    parts: list[str] = []
    done = i = 0
    while i < len(words):
        last, digits = i, 0
        while last < len(words) and digits + words[last][2] <= _PHONE_MAX_DIGITS:
            digits += words[last][2]
            last += 1
        spans: list[tuple[int, int]] = []
        lo = words[i][0]
        for end in range(last, i, -1):
            if sum(w[2] for w in words[i:end]) < _PHONE_MIN_DIGITS:
                break
            if not budget.spend():
                parts.append(run[done:lo] + _ANY_DIGIT.sub("#", run[lo:]))
                return "".join(parts)
            spans = _matched_spans(run[lo : words[end - 1][1]])
            if spans:
                break
        if not spans:
            i += 1
            continue
        for start, stop in spans:
            parts += (run[done : lo + start], PHONE_MASK)
            done = lo + stop
        while i < len(words) and words[i][0] < done:
            i += 1
    parts.append(run[done:])
    return "".join(parts)


def _widen(text: str, lo: int, hi: int) -> tuple[int, int]:
    """Grow [lo, hi) to whitespace on both sides, so a piece cut out there looks to every
    pattern exactly like it does in place (a space and the end of the text match alike)."""
    lo = max(text.rfind(c, 0, lo) for c in _SPACES) + 1 if lo > 0 else 0
    ends = [i for i in (text.find(c, hi) for c in _SPACES) if i >= 0]
    return lo, min(ends, default=len(text))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _digit_regions(text: str) -> list[tuple[int, int]]:
    """Sorted, disjoint spans covering every digit and _REACH characters either side."""
    near = _merge([(m.start() - _REACH, m.end() + _REACH) for m in _DIGIT_RUN.finditer(text)])
    return _merge([_widen(text, lo, hi) for lo, hi in near])


def _mask_emails(text: str) -> str:
    """Mask addresses, searching only the whitespace-free words that contain an "@"."""
    spans: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:
        lo, hi = _widen(text, at, at)
        spans.append((lo, hi))
        at = text.find("@", hi)
    return _replace_in(text, spans, lambda piece: _EMAIL.sub(EMAIL_MASK, piece))


def _replace_in(text: str, spans: list[tuple[int, int]], fix: Callable[[str], str]) -> str:
    parts: list[str] = []
    done = 0
    for lo, hi in spans:
        parts += (text[done:lo], fix(text[lo:hi]))
        done = hi
    parts.append(text[done:])
    return "".join(parts)


def _redact_near_digits(text: str, dob_cutoff_year: int, budget: _Budget) -> str:
    def mask_old_date(m: re.Match[str]) -> str:
        year = int(m.group("y1") or m.group("y2") or m.group("y3") or m.group("y4"))
        if year <= dob_cutoff_year and _plausible_day_month(m.group("a"), m.group("b")):
            return DOB_MASK
        return m.group(0)

    # NHS numbers before phones: a valid NHS number must not be labelled a phone.
    text = _NHS.sub(_mask_nhs, text)
    if _NI_GATE.search(text):
        text = _NI.sub(NI_MASK, text)
    # Dates before phones: the matcher must not take a date's digits for a number.
    if _CUE_GATE.search(text.lower()):
        text = _DOB_CUE.sub(rf"\g<lead>{DOB_MASK}", text)
    if _YEAR_GATE.search(text):
        text = _FULL_DATE.sub(mask_old_date, text)
    if _POSTCODE_GATE.search(text):
        text = _POSTCODE.sub(_mask_postcode, text)
    return _mask_phones(text, budget)


def redact(text: str, *, today: date | None = None) -> str:
    """Mask personal identifiers in `text` with placeholders such as "[phone]".

    Masks NHS numbers with a valid check digit, NI numbers, email addresses, dates of
    birth (any date after a cue like "DOB", and any full date at least five years before
    `today`'s year), UK postcodes and phone numbers. Recent dates stay visible.
    Invisible formatting characters are dropped first so they cannot split a number.
    Never raises for a str.
    """
    text = _mask_emails(_INVISIBLE.sub("", text))
    cutoff = (today or date.today()).year - DOB_MIN_AGE_YEARS
    budget = _Budget(_PHONE_WINDOW_BUDGET)
    return _replace_in(
        text, _digit_regions(text), lambda piece: _redact_near_digits(piece, cutoff, budget)
    )


# ---------------------------------------------------------------------------------------------
# Card text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def card_subject(subject: str, mode: PreviewMode) -> str:
    """The subject line for a card: tidied, on one line, redacted unless mode is "full"."""
    text = _one_line(tidy(subject))
    if mode != "full":  # any unknown mode fails closed
        text = redact(text)
    return text or NO_SUBJECT


def _cut(text: str, limit: int) -> str:
    """At most `limit` chars ending in "…", never ending in part of a placeholder."""
    if limit <= 0:
        return ""
    head = text[: limit - 1]
    opening = head.rfind("[")
    if opening > head.rfind("]") and text.startswith(_MASKS, opening):
        head = head[:opening]
    elif not text[len(head)].isspace():
        # Prefer a word break if one is near, so the last word is not chopped.
        space = head.rfind(" ", max(0, len(head) - 20))
        if space > 0:
            head = head[:space]
    return head.rstrip() + ELLIPSIS


def organisation(address: str) -> str:
    """Who an email is from, with no name in it: the sender's email domain, or "a personal
    address" for webmail and home broadband (for the "minimal" card)."""
    domain = tidy(address).rpartition("@")[2].strip().strip(">").lower()
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
        return "an unknown sender"
    return "a personal address" if domain in PERSONAL_DOMAINS else domain


def card_preview(body: str, mode: PreviewMode, limit: int = 300) -> str:
    """A one-line preview of the body, at most `limit` characters.

    "" for "subject-only" and "minimal". Otherwise tidied, whitespace collapsed, redacted
    (unless "full") and only then cut, so a number is never half shown. A cut preview ends
    with "…", which counts towards `limit`.
    """
    if mode in ("subject-only", "minimal"):
        return ""
    text = _one_line(tidy(body))
    if mode != "full":
        text = redact(text)
    if len(text) <= limit:
        return text
    return _cut(text, limit)
