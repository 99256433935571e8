"""Block Kit and mrkdwn for the duty channel. Every outside string is escaped here.

Slack's own rule: in mrkdwn only ``&``, ``<`` and ``>`` need escaping, and with them escaped
no text can form a mention (``<!channel>``, ``<@U1>``) or a link (``<https://x|y>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bot.kernel.message import Message
from bot.tasks.cards import CardView
from bot.tasks.home import HomeSection

SECTION_LIMIT = 3000
MAX_BLOCKS = 50  # in a message
MAX_VIEW_BLOCKS = 100  # in a modal or App Home
HOME_BUTTONS = {"claim": ("Claim", "duty_claim"), "resolve": ("Resolve", "duty_resolve")}
ELLIPSIS = "…"

NameOf = Callable[[str], str]
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, ending in an ellipsis when anything was dropped."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def cut_escaped(text: str, limit: int) -> str:
    """Escape, then cut without splitting an entity like ``&amp;``."""
    out = escape(text)
    return out if len(out) <= limit else cut_mrkdwn(out, limit)


def cut_mrkdwn(out: str, limit: int) -> str:
    """Cut escaped text to ``limit`` with an ellipsis, never splitting an entity."""
    out = out[: limit - 1]
    amp = out.rfind("&")
    if amp != -1 and ";" not in out[amp:]:
        out = out[:amp]
    return out + ELLIPSIS


def mrkdwn(message: Message, name_of: NameOf) -> str:
    """A Message as mrkdwn. People show as names (no ping) unless the part is a ping."""
    out: list[str] = []
    for part in message.parts:
        if part.kind == "text":
            out.append(escape(part.value))
        elif part.kind == "ping":
            out.append(f"<@{part.value}>" if _is_user_id(part.value) else "@" + escape(part.value))
        elif part.kind == "user":
            out.append("@" + escape(name_of(part.value)))
        elif part.kind == "button":
            continue  # drawn as an actions block by message_blocks
    return "".join(out)


def _is_user_id(value: str) -> bool:
    return USER_ID.fullmatch(value) is not None


def buttons_of(message: Message) -> list[dict[str, str]]:
    found = []
    for part in message.parts:
        if part.kind == "button":
            try:
                data = json.loads(part.value)
            except ValueError:
                continue
            if isinstance(data, dict):
                found.append({k: str(v) for k, v in data.items()})
    return found


def chunks(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split mrkdwn into pieces of at most ``limit`` characters, at line ends where possible;
    a single overlong line is cut with an ellipsis (never inside an entity like ``&amp;``)."""
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        if len(line) > limit:
            line = cut_mrkdwn(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    out.append(current)
    return out


def message_blocks(message: Message, name_of: NameOf) -> list[dict[str, Any]]:
    """A message as blocks: its text (over several sections if long), then any buttons."""
    pieces = chunks(mrkdwn(message, name_of))
    if len(pieces) > MAX_BLOCKS - 1:
        pieces = [*pieces[: MAX_BLOCKS - 2], "…and more: see /duty handover or /duty list."]
    blocks: list[dict[str, Any]] = [_section(p) for p in pieces]
    buttons = buttons_of(message)
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": cut(b.get("label", "OK"), 75)},
                        "action_id": b.get("action_id", "duty_noop"),
                        "value": cut(b.get("value", ""), 2000),
                    }
                    for b in buttons[:5]
                ],
            }
        )
    return blocks


def permalink_block(url: str) -> dict[str, Any]:
    """A line linking to a card (the link is Slack's own permalink, kept out of the mrkdwn
    escaping so it stays a link)."""
    return _context(f"<{escape(url)}|Open the card>")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT) or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, 2000) or " "}]}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def card_value(team: str, number: int) -> str:
    return f"{team}:{number}"


def card_blocks(team: str, card: CardView, name_of: NameOf) -> list[dict[str, Any]]:
    """The task card. Only the subject, sender, preview and attachments come from outside."""
    flags = "".join(f":rotating_light: *{f.upper()}*  " for f in card.flags)
    head = f"*#{card.number}*  {flags}{cut_escaped(card.subject, 2500)}"
    blocks: list[dict[str, Any]] = [
        _section(head),
        _context(f"From {cut_escaped(card.sender, 500)}  ·  received {escape(card.received)}"),
        _section(f"*{mrkdwn(card.state_line, name_of)}*"),
    ]
    if card.preview:
        blocks.append(_section(cut_escaped(card.preview, SECTION_LIMIT)))
    if card.attachments:
        blocks.append(_context(":paperclip: " + cut_escaped(card.attachments, 1900)))
    value = card_value(team, card.number)
    if card.state == "resolved":
        actions = [_button("Reopen", "duty_reopen", value)]
    else:
        actions = []
        if card.state == "open":
            actions.append(_button("Claim", "duty_claim", value, "primary"))
        actions += [
            _button("Resolve", "duty_resolve", value),
            _button("Alert", "duty_alert", value),
        ]
    if card.web_link and card.web_link.startswith("https://"):
        link = _button("Open in Outlook", "duty_outlook", value)
        link["url"] = card.web_link[:3000]
        actions.append(link)
    blocks.append({"type": "actions", "block_id": f"task-{card.number}", "elements": actions})
    return blocks[:MAX_BLOCKS]


RESOLVE_CHECKLIST = (
    ("case_note", "Recorded as a case note on Mosaic/LCS"),
    ("alerted", "Allocated worker and team leader alerted"),
    ("follow_up", "Follow-up agreed"),
)


def resolve_modal(
    team: str, number: int, note_required: bool, metadata: dict[str, str]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "duty_resolve",
        "private_metadata": json.dumps({"team": team, "number": number, **metadata}),
        "title": {"type": "plain_text", "text": f"Resolve #{number}"},
        "submit": {"type": "plain_text", "text": "Resolve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "note",
                "optional": not note_required,
                "label": {"type": "plain_text", "text": "What was done?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 2000,
                },
            },
            {
                "type": "input",
                "block_id": "checklist",
                "optional": True,
                "label": {"type": "plain_text", "text": "Checklist"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {"text": {"type": "plain_text", "text": label}, "value": key}
                        for key, label in RESOLVE_CHECKLIST
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "follow_up_date",
                "optional": True,
                "label": {"type": "plain_text", "text": "Follow-up date, if one was agreed"},
                "element": {"type": "datepicker", "action_id": "value"},
            },
        ],
    }


def alert_modal(team: str, number: int, metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "duty_alert",
        "private_metadata": json.dumps({"team": team, "number": number, **metadata}),
        "title": {"type": "plain_text", "text": f"Alert about #{number}"},
        "submit": {"type": "plain_text", "text": "Send alert"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "people",
                "label": {"type": "plain_text", "text": "Who to alert"},
                "element": {
                    "type": "multi_users_select",
                    "action_id": "value",
                    "max_selected_items": 10,
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }


def home_view(team: str, sections: list[HomeSection], name_of: NameOf) -> dict[str, Any]:
    """App Home: a header per section, one row per line, a Claim/Resolve button where it fits."""
    blocks: list[dict[str, Any]] = []
    for section in sections:
        blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": cut(section.title, 150)}}
        )
        if not section.rows:
            blocks.append(_section(escape(section.empty)))
        for row in section.rows:
            block = _section(mrkdwn(row.line, name_of))
            if row.number is not None and row.action in HOME_BUTTONS:
                label, action_id = HOME_BUTTONS[row.action]
                block["accessory"] = _button(label, action_id, card_value(team, row.number))
            blocks.append(block)
        blocks.append({"type": "divider"})
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


def notice_view(message: str) -> dict[str, Any]:
    """App Home for someone the bot has nothing to show (one plain sentence)."""
    return {"type": "home", "blocks": [_section(escape(message))]}
