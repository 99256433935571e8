"""Property tests for the Slack renderer: no outside text can form a mention or a link.

Outside text is anything from an email (subject, sender name, preview, attachment names) or
typed by a person (notes), and the display names Slack hands back. Slack reads markup only
between ``<`` and ``>``; the renderer escapes ``&``, ``<`` and ``>``, so the only ``<...>`` left
in anything it draws is a ping our own code asked for. And the escaping loses nothing:
unescaping gives the text back (modulo the tidying, redaction and cutting done on purpose).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.kernel.message import Message, ping, say, text, user
from bot.mail.redaction import card_preview, card_subject
from bot.tasks.cards import card_view
from handlers.slack.render import (
    SECTION_LIMIT,
    USER_ID,
    card_blocks,
    cut_escaped,
    escape,
    message_blocks,
    mrkdwn,
)
from storage.models import Task
from tests.corpus.build import MENTIONS
from tests.test_hostile_corpus import markup_in, strings

TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ENTITY = re.compile(r"&(amp|lt|gt);")
BARE_AMP = re.compile(r"&(?!(amp|lt|gt);)")

# Text that leans towards trouble: Slack markup, entities, brackets, invisible characters,
# and anything else Unicode has.
pieces = st.sampled_from(
    [*MENTIONS, "<", ">", "&", "&amp;", "&lt;", "&gt;", "&lt;!here&gt;", "|", "!", "@", "#",
     "^", "\u202e", "\u200b", "\n", " ", "*", "_", "~", "`", "mailto:", "https://"]
)  # fmt: skip
outside = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=60).map("".join),
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unescape(s: str) -> str:
    """Slack's reading of escaped mrkdwn: one pass, only the three entities."""
    return ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], s)


def well_formed(s: str) -> bool:
    """No raw < or >, and every & starts one of the three entities."""
    return "<" not in s and ">" not in s and BARE_AMP.search(s) is None


def task(**fields: Any) -> Task:
    base: dict[str, Any] = dict(
        id=1, number=42, subject="Rent", sender="Casey", preview="", attachments=[],
        web_link=None, state="open", received_at=NOW, urgent=False, safeguarding=False,
        claimed_by=None, claimed_at=None, resolved_by=None, resolve_note=None,
    )  # fmt: skip
    base.update(fields)
    return Task(**base)


@SETTINGS
@given(s=outside)
def test_escaping_is_markup_free_and_reversible(s: str) -> None:
    out = escape(s)
    assert well_formed(out)
    assert unescape(out) == s


@SETTINGS
@given(s=outside, limit=st.integers(min_value=2, max_value=500))
def test_cutting_never_breaks_an_entity(s: str, limit: int) -> None:
    out = cut_escaped(s, limit)
    assert len(out) <= limit
    body = out.removesuffix("…") if len(escape(s)) > limit else out
    assert well_formed(body)
    assert s.startswith(unescape(body))


@SETTINGS
@given(
    subject=outside,
    sender=outside,
    preview=outside,
    names=st.lists(outside, max_size=8),
    note=outside,
    display=outside,
    state=st.sampled_from(["open", "claimed", "resolved"]),
    flags=st.tuples(st.booleans(), st.booleans()),
)
def test_a_card_of_any_outside_text_holds_no_mention_or_link(
    subject: str,
    sender: str,
    preview: str,
    names: list[str],
    note: str,
    display: str,
    state: str,
    flags: tuple[bool, bool],
) -> None:
    t = task(
        subject=subject, sender=sender, preview=preview,
        attachments=[[n, i * 1000] for i, n in enumerate(names)], state=state,
        claimed_by="U0SAM", claimed_at=NOW, resolved_by="U0SAM", resolve_note=note,
        urgent=flags[0], safeguarding=flags[1], web_link="https://outlook.example/x",
    )  # fmt: skip
    view = card_view(t, TZ)
    blocks = card_blocks("care-experienced", view, lambda _uid: display)
    texts = [s for s in strings(blocks) if s != "https://outlook.example/x"]  # a button's url
    assert markup_in([*texts, view.fallback]) == []
    assert all(well_formed(s) for s in texts)
    shown = unescape("\n".join(texts))
    if subject and len(escape(subject)) <= 2500:
        assert subject in shown  # the subject survives whole
    if sender and len(escape(sender)) <= 500:
        assert sender in shown
    if preview and len(escape(preview)) <= SECTION_LIMIT:
        assert preview in shown


@SETTINGS
@given(subject=outside, body=outside, mode=st.sampled_from(["redacted", "subject-only", "full"]))
def test_intake_text_then_card_holds_no_mention_or_link(subject: str, body: str, mode: str) -> None:
    t = task(subject=card_subject(subject, mode), preview=card_preview(body, mode))  # type: ignore[arg-type]
    blocks = card_blocks("care-experienced", card_view(t, TZ), lambda uid: uid)
    assert markup_in(strings(blocks)) == []


@SETTINGS
@given(
    parts=st.lists(
        st.one_of(
            outside.map(text),
            outside.map(user),
            outside.map(ping),
            st.from_regex(USER_ID, fullmatch=True).map(ping),
        ),
        max_size=12,
    ),
    display=outside,
)
def test_messages_ping_only_where_our_code_asked(parts: list[Message], display: str) -> None:
    message = say(*parts)
    asked = {
        f"<@{p.value}>" for p in message.parts if p.kind == "ping" and USER_ID.fullmatch(p.value)
    }
    out = mrkdwn(message, lambda _uid: display)
    blocks = message_blocks(message, lambda _uid: display)
    assert markup_in([out, *strings(blocks)], asked) == []
    for mention in asked:
        assert mention in out  # a real alert still pings
    for p in message.parts:
        if p.kind == "text" and len(escape(p.value)) <= SECTION_LIMIT:
            assert p.value in unescape(out)


@SETTINGS
@given(note=outside, hours=st.integers(min_value=0, max_value=48))
def test_a_long_message_split_over_sections_stays_well_formed(note: str, hours: int) -> None:
    rows = [text(f"#{i} {note} at {NOW + timedelta(hours=hours)}\n") for i in range(40)]
    blocks = message_blocks(say(*rows), lambda uid: uid)
    for s in strings(blocks):
        assert len(s) <= SECTION_LIMIT
        assert well_formed(s.removesuffix("…"))
