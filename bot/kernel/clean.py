"""Cleaning outside text, from emails and from workers alike, before it is stored or shown:
no control characters, no bidirectional overrides that make "photo\u202egpj.exe" look like a
.jpg, no zero-width characters hiding inside a number."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# Bidi embeddings/overrides/isolates and marks (including the Arabic letter mark), then
# zero-width characters.
INVISIBLE_CLASS: Final = r"\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff"
# The same plus C0/C1 controls other than newline and tab.
_TIDY_DROP: Final = re.compile(rf"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f{INVISIBLE_CLASS}]")
# Line breaks of every kind become "\n" rather than vanishing, so lines never run together.
_LINE_BREAKS: Final = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")


def tidy(text: str) -> str:
    """Remove bidi controls, zero-width and control characters (keeping newline and tab), NFC.

    Carriage returns, form feeds and Unicode line separators become newlines.
    """
    text = _LINE_BREAKS.sub("\n", text)
    return unicodedata.normalize("NFC", _TIDY_DROP.sub("", text))
