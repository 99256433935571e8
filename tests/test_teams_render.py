"""Teams' Adaptive Card text: nothing from outside can make Markdown, a link or a mention."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.kernel.message import Message, Part
from handlers.teams.render import Mentions, escape, markdown


def test_markdown_that_would_format_or_link_is_escaped_where_it_would_work() -> None:
    assert escape("[click](https://evil)") == "\\[click\\](https://evil)"
    assert escape("<at>Jo</at> **b** _i_ `c` ~s~") == (
        "\\<at\\>Jo\\</at\\> \\*\\*b\\*\\* \\_i\\_ \\`c\\` \\~s\\~"
    )
    assert escape("# Heading\n1. one\n - two\n+ three") == (
        "\\# Heading\n1\\. one\n \\- two\n\\+ three"
    )
    assert escape("Flat 3, 12-14 Mill Lane. Rent £40.50") == "Flat 3, 12-14 Mill Lane. Rent £40.50"


@given(st.text())
def test_no_outside_text_can_open_a_link_or_a_mention(said: str) -> None:
    out = escape(said)
    unescaped = out.replace("\\\\", "")
    for opener in ("[", "<"):
        assert opener not in unescaped.replace("\\" + opener, "")


def test_only_a_ping_the_bot_makes_is_a_mention_entity() -> None:
    mentions = Mentions()
    msg = Message((Part("text", "<at>Jo</at> "), Part("user", "u1"), Part("ping", "u2")))
    out = markdown(msg, {"u1": "Alex", "u2": "Priya"}.get, mentions)  # type: ignore[arg-type]
    assert out == "\\<at\\>Jo\\</at\\> @Alex<at>Priya</at>"
    assert [e["mentioned"]["id"] for e in mentions.entities] == ["u2"]
