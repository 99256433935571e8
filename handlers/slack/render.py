"""Block Kit and mrkdwn for the duty channel. Every outside string is escaped here.

Slack's own rule: in mrkdwn only ``&``, ``<`` and ``>`` need escaping, and with them escaped
no text can form a mention (``<!channel>``, ``<@U1>``) or a link (``<https://x|y>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bot.chat.calls import FormView
from bot.chat.catalogue import Field, FormValues
from bot.kernel.message import Action, Message, Part, TaskLink
from bot.tasks.cards import CardView
from bot.tasks.home import HomeSection

SECTION_LIMIT = 3000
MAX_BLOCKS = 50  # in a message
MAX_VIEW_BLOCKS = 100  # in a modal or App Home
ELLIPSIS = "…"
LINK_ACTION = "duty_outlook"  # a link button: Slack opens the URL, the click only needs an ack
ACTIONS = re.compile(r"^duty_(?!outlook$)")  # every other button and form names a verb

NameOf = Callable[[str], str]
CardUrl = Callable[[str, str], str | None]  # (channel, ts) -> the card's permalink
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, ending in an ellipsis when anything was dropped."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def cut_escaped(text: str, limit: int) -> str:
    """Escape, then cut without splitting an entity like ``&amp;``."""
    return fit_mrkdwn(escape(text), limit)


def fit_mrkdwn(out: str, limit: int) -> str:
    """Escaped text as it is if it fits in ``limit``, else cut (never inside an entity)."""
    return out if len(out) <= limit else cut_mrkdwn(out, limit)


def cut_mrkdwn(out: str, limit: int) -> str:
    """Cut escaped text to ``limit`` with an ellipsis, never splitting an entity."""
    out = out[: limit - 1]
    amp = out.rfind("&")
    if amp != -1 and ";" not in out[amp:]:
        out = out[:amp]
    return out + ELLIPSIS


def mrkdwn(message: Message, name_of: NameOf, card_url: CardUrl | None = None) -> str:
    """A Message as mrkdwn. People show as names (no ping) unless the part is a ping; a task
    links to its card when ``card_url`` knows where it is."""
    out: list[str] = []
    for part in message.parts:
        if part.kind == "text":
            out.append(escape(part.value))
        elif part.kind == "ping":
            out.append(f"<@{part.value}>" if _is_user_id(part.value) else "@" + escape(part.value))
        elif part.kind == "user":
            out.append("@" + escape(name_of(part.value)))
        elif part.kind == "heading":
            out.append(f"*{escape(part.value)}*")
        elif part.kind == "task":
            out.append(_task(TaskLink.of(part.value), card_url))
    return "".join(out)


def _task(link: TaskLink, card_url: CardUrl | None) -> str:
    url = card_url(link.channel, link.ts) if card_url and link.channel and link.ts else None
    return f"<{escape(url)}|#{link.number}>" if url else f"#{link.number}"


def _is_user_id(value: str) -> bool:
    return USER_ID.fullmatch(value) is not None


def action_id(verb: str) -> str:
    """A verb as a Slack action or callback id: "still on it" is duty_still_on_it."""
    return "duty_" + verb.replace(" ", "_")


def verb_of(action: str) -> str:
    return action.removeprefix("duty_").replace("_", " ")


def button(action: Action, team: str) -> dict[str, Any]:
    """An action as a Slack button; its value carries the team and the verb's words."""
    if action.url:
        b = _button(action.label, LINK_ACTION, f"{team}:{action.args}")
        b["url"] = action.url[:3000]
        return b
    value = cut(f"{team}:{action.args}", 2000)
    style = "primary" if action.primary else None
    return _button(cut(action.label, 75), action_id(action.verb), value, style)


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


def message_blocks(
    message: Message, name_of: NameOf, team: str = "", card_url: CardUrl | None = None
) -> list[dict[str, Any]]:
    """A message as blocks: a header for each heading, its text in sections (several if long),
    then any buttons."""
    blocks: list[dict[str, Any]] = []
    for title, body in _segments(message):
        if title:
            blocks.append(_header(title.rstrip(":")))
        text = mrkdwn(body, name_of, card_url).strip("\n")
        blocks += [_section(p) for p in chunks(text)] if text else []
    if len(blocks) > MAX_BLOCKS - 1:
        blocks = [
            *blocks[: MAX_BLOCKS - 2],
            _section("…and more: see /duty handover or /duty list."),
        ]
    actions = message.actions()
    if actions:
        blocks.append({"type": "actions", "elements": [button(a, team) for a in actions[:5]]})
    return blocks


def _segments(message: Message) -> list[tuple[str, Message]]:
    """The message cut at its headings: (heading, what follows it); the first has none."""
    found: list[tuple[str, list[Part]]] = [("", [])]
    for part in message.parts:
        if part.kind == "heading":
            found.append((part.value, []))
        else:
            found[-1][1].append(part)
    return [(title, Message(tuple(parts))) for title, parts in found if title or parts]


def permalink_block(url: str) -> dict[str, Any]:
    """A line linking to a card (the link is Slack's own permalink, kept out of the mrkdwn
    escaping so it stays a link)."""
    return _context(f"<{escape(url)}|Open the card>")


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, 150) or " "}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT) or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, 2000) or " "}]}


def _button(label: str, ident: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": ident,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def card_blocks(team: str, card: CardView, name_of: NameOf) -> list[dict[str, Any]]:
    """The task card. Only the subject, origin, preview and attachments come from outside."""
    flags = "".join(f":rotating_light: *{f.upper()}*  " for f in card.flags)
    head = f"*#{card.number}*  {flags}{cut_escaped(card.subject, 2500)}"
    blocks: list[dict[str, Any]] = [
        _section(head),
        _context(
            f"{fit_mrkdwn(mrkdwn(card.origin, name_of), 505)}  ·  received {escape(card.received)}"
        ),  # fmt: skip
        _section(f"*{mrkdwn(card.state_line, name_of)}*"),
    ]
    if card.worker.parts:
        blocks.append(_context(mrkdwn(card.worker, name_of)))
    if card.hints:
        blocks.append(_section(":warning: " + escape("  ·  ".join(card.hints))))
    if card.categories:
        blocks.append(_context(escape("  ·  ".join(c.capitalize() for c in card.categories))))
    if card.preview:
        blocks.append(_section(cut_escaped(card.preview, SECTION_LIMIT)))
    if card.attachments:
        blocks.append(_context(":paperclip: " + cut_escaped(card.attachments, 1900)))
    actions = [button(a, team) for a in card.actions]
    blocks.append({"type": "actions", "block_id": f"task-{card.number}", "elements": actions})
    return blocks[:MAX_BLOCKS]


def form_modal(found: FormView, where: dict[str, Any]) -> dict[str, Any]:
    """A form as a modal; ``where`` it was opened from rides along in its metadata."""
    meta = {"team": found.team, "args": found.args, **where}
    form = found.form
    return {
        "type": "modal",
        "callback_id": action_id(found.verb),
        "private_metadata": json.dumps(meta),
        "title": {"type": "plain_text", "text": cut(form.title, 24)},
        "submit": {"type": "plain_text", "text": cut(form.submit, 24)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [_shown(f) if f.kind == "note" else _input(f) for f in form.fields],
    }


def _shown(field: Field) -> dict[str, Any]:
    """A line the form shows and takes nothing from (bot/ decides what it says)."""
    return _section(f"*{escape(field.label)}*\n{cut_escaped(field.initial, 2000)}")


def _input(field: Field) -> dict[str, Any]:
    element: dict[str, Any]
    match field.kind:
        case "text" | "long_text":
            element = {"type": "plain_text_input", "multiline": field.kind == "long_text",
                       "max_length": field.longest}  # fmt: skip
            if field.initial:
                element["initial_value"] = field.initial
        case "choice":
            element = {"type": "radio_buttons", "options": _options(field)}
        case "checks":
            element = {"type": "checkboxes", "options": _options(field)}
        case "date":
            element = {"type": "datepicker"}
        case "people":
            element = {"type": "multi_users_select", "max_selected_items": field.most}
        case "note":  # pragma: no cover - drawn by _shown, never as an input
            raise ValueError("a note is not an input")
    element["action_id"] = "value"
    return {
        "type": "input",
        "block_id": field.name,
        "optional": not field.required,
        "label": {"type": "plain_text", "text": field.label},
        "element": element,
    }


def _options(field: Field) -> list[dict[str, Any]]:
    return [
        {"text": {"type": "plain_text", "text": label}, "value": value}
        for value, label in field.options
    ]


def form_values(state: dict[str, Any]) -> FormValues:
    """A submitted modal's values by field name, each as its kind of input holds it."""
    found: dict[str, Any] = {}
    for name, block in state.items():
        value = (block or {}).get("value") or {}
        if "selected_options" in value:
            found[name] = [o.get("value") for o in value.get("selected_options") or []]
        elif "selected_users" in value:
            found[name] = list(value.get("selected_users") or [])
        elif "selected_option" in value:
            found[name] = (value.get("selected_option") or {}).get("value")
        elif "selected_date" in value:
            found[name] = value.get("selected_date")
        else:
            found[name] = value.get("value")
    return found


def home_view(team: str, sections: list[HomeSection], name_of: NameOf) -> dict[str, Any]:
    """App Home: a header per section, one row per line, a Claim/Resolve button where it fits."""
    blocks: list[dict[str, Any]] = []
    for section in sections:
        blocks.append(_header(section.title))
        if not section.rows:
            blocks.append(_section(escape(section.empty)))
        for row in section.rows:
            block = _section(mrkdwn(row.line, name_of))
            if row.action is not None:
                block["accessory"] = button(row.action, team)
            blocks.append(block)
        blocks.append({"type": "divider"})
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


def notice_view(message: str) -> dict[str, Any]:
    """App Home for someone the bot has nothing to show (one plain sentence)."""
    return {"type": "home", "blocks": [_section(escape(message))]}
