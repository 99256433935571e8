"""Adaptive Cards (schema 1.5) for Teams: the task card, messages and forms. Every outside
string is escaped here.

Teams' rules: a TextBlock reads a subset of Markdown, so every Markdown character in outside
text is escaped with a backslash (no email can make a link, bold text or a list); and a
mention is only a mention with an entity in the card's ``msteams.entities``, which only
``ping`` parts (people the bot itself names) get. Buttons are Universal Actions
(Action.Execute): their verb is the catalogue verb, their data the team and its words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.chat.calls import FormView
from bot.chat.catalogue import Field, FormValues
from bot.kernel.message import Action, Message, TaskLink
from bot.tasks.cards import CardView
from bot.tasks.home import HomeSection

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
CARD = "application/vnd.microsoft.card.adaptive"
MARKER = "dutybot"  # the card's own key: which team and task (or queued message) it is
TEXT_LIMIT = 3000
ELLIPSIS = "…"
SUBMIT = "submit"  # a form's send button: its data names the verb it runs

NameOf = Callable[[str], str]
_MARKDOWN = re.compile(r"([\\`*_\[\]<>~|])")  # anywhere: emphasis, links, code, HTML
_LINE_START = re.compile(r"(?m)^(\s*)([#+\-]|\d+(?=[.)]))")  # headings and lists


def escape(text: str) -> str:
    """Outside text as literal TextBlock text: Markdown characters escaped, so nothing in it
    can make a link, a mention or formatting (with [ and < escaped, no link can form)."""
    out = _MARKDOWN.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: f"{m[1]}{m[2]}\\" if m[2][0].isdigit()
                           else f"{m[1]}\\{m[2]}", out)  # fmt: skip


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def cut_escaped(text: str, limit: int) -> str:
    """Cut first, then escape: an escape is never split."""
    return escape(cut(text, limit))


def adaptive(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None,
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION,
                            "body": body or [_text(" ")], **extra}  # fmt: skip
    if actions:
        card["actions"] = actions
    return card


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CARD, "content": card}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": cut(text, TEXT_LIMIT) or " ", "wrap": True, **style}


class Mentions:
    """The mentions a message makes (only ``ping`` parts): each needs an entity in the card,
    naming the person by the id Teams knows them by (``ids``: from a work email)."""

    def __init__(self, ids: Callable[[str], str] | None = None) -> None:
        self.entities: list[dict[str, Any]] = []
        self.ids = ids or (lambda who: who)

    def add(self, user_id: str, name: str) -> str:
        shown = f"<at>{escape(name)}</at>"
        mentioned = {"id": self.ids(user_id), "name": name}
        self.entities.append({"type": "mention", "text": shown, "mentioned": mentioned})
        return shown


def markdown(message: Message, name_of: NameOf, mentions: Mentions | None = None) -> str:
    """A Message as TextBlock text. People show as names (no ping) unless the part is a ping
    and ``mentions`` collects it."""
    out: list[str] = []
    for part in message.parts:
        if part.kind == "text":
            out.append(escape(part.value))
        elif part.kind == "ping":
            name = name_of(part.value)
            out.append(mentions.add(part.value, name) if mentions else "@" + escape(name))
        elif part.kind == "user":
            out.append("@" + escape(name_of(part.value)))
        elif part.kind == "heading":
            out.append(f"**{escape(part.value)}**")
        elif part.kind == "task":
            out.append(f"#{TaskLink.of(part.value).number}")
    return "".join(out)


def execute(action: Action, team: str, number: int | None = None) -> dict[str, Any]:
    """A button: a Universal Action running the verb, or a link. On a task card it carries
    the task's number, so the card can be drawn afresh for the person who pressed it."""
    if action.url:
        return {"type": "Action.OpenUrl", "title": cut(action.label, 40), "url": action.url}
    out: dict[str, Any] = {
        "type": "Action.Execute",
        "title": cut(action.label, 40),
        "verb": action.verb,
        "data": {"team": team, "args": action.args},
    }
    if number is not None:
        out["data"]["number"] = number
    if action.primary:
        out["style"] = "positive"
    return out


def _marker(team: str, **what: Any) -> dict[str, Any]:
    return {MARKER: {"team": team, **what}}


def card_of(team: str, card: CardView, name_of: NameOf, note: str = "") -> dict[str, Any]:
    """The task card. Only the subject, origin, preview and attachments come from outside.
    ``note`` is a line for the presser only (the invoke answer), like who won a claim."""
    flags = "".join(f"🚨 **{escape(f.upper())}**  " for f in card.flags)
    body: list[dict[str, Any]] = []
    if note:
        body.append(_text(escape(note), color="attention", weight="bolder"))
    body += [
        _text(f"**#{card.number}**  {flags}{cut_escaped(card.subject, 2500)}", size="medium"),
        _text(f"{markdown(card.origin, name_of)}  ·  received {escape(card.received)}",
              isSubtle=True, spacing="none"),
        _text(f"**{markdown(card.state_line, name_of)}**"),
    ]  # fmt: skip
    if card.worker.parts:
        body.append(_text(markdown(card.worker, name_of), isSubtle=True))
    if card.hints:
        body.append(_text("⚠️ " + escape("  ·  ".join(card.hints)), color="warning"))
    if card.categories:
        body.append(_text(escape("  ·  ".join(c.capitalize() for c in card.categories)),
                          isSubtle=True))  # fmt: skip
    if card.preview:
        body.append(_text(cut_escaped(card.preview, TEXT_LIMIT)))
    if card.attachments:
        body.append(_text("📎 " + cut_escaped(card.attachments, 1900), isSubtle=True))
    actions = [execute(a, team, card.number) for a in card.actions]
    return adaptive(body, actions, fallbackText=card.fallback, **_marker(team, task=card.task_id))


def message_card(
    message: Message,
    name_of: NameOf,
    team: str = "",
    key: int | None = None,
    ids: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """A message as a card: a bold line for each heading, its text, then any buttons. Pings
    become mentions, with their entities."""
    mentions = Mentions(ids)
    body: list[dict[str, Any]] = []
    current: list[str] = []
    for part in message.parts:
        if part.kind == "heading":
            if current:
                body.append(_text("".join(current)))
                current = []
            body.append(_text(escape(part.value.rstrip(":")), weight="bolder", size="medium"))
        elif part.kind not in ("button", "fallback"):
            current.append(markdown(Message((part,)), name_of, mentions))
    if current:
        body.append(_text("".join(current).strip("\n")))
    actions = [execute(a, team) for a in message.actions()[:6]]
    extra: dict[str, Any] = _marker(team, key=key) if key is not None else {}
    if mentions.entities:
        extra["msteams"] = {"entities": mentions.entities}
    if message.fallback:
        extra["fallbackText"] = message.fallback
    return adaptive(body, actions, **extra)


def home_card(team: str, sections: list[HomeSection], name_of: NameOf) -> dict[str, Any]:
    """What App Home is in Slack, as a card in the bot's 1:1 chat: a title per section, one
    line per row, and the row's button (Claim, Resolve, New contact) beside it."""
    body: list[dict[str, Any]] = []
    for section in sections:
        body.append(_text(escape(section.title), weight="bolder", size="medium"))
        if not section.rows:
            body.append(_text(escape(section.empty), isSubtle=True))
        for row in section.rows:
            line = _text(markdown(row.line, name_of))
            if row.action is None:
                body.append(line)
                continue
            body.append({"type": "ColumnSet", "columns": [
                {"type": "Column", "width": "stretch", "items": [line]},
                {"type": "Column", "width": "auto", "items": [
                    {"type": "ActionSet", "actions": [execute(row.action, team)]}]},
            ]})  # fmt: skip
    return adaptive(body)


def form_card(found: FormView, error: str = "", field: str | None = None) -> dict[str, Any]:
    """A form as a card with inputs; its button sends them back with the verb's words. A
    refusal shows as the erring field's error message (or a line on top)."""
    form = found.form
    body: list[dict[str, Any]] = [_text(escape(form.title), weight="bolder", size="medium")]
    if error and field is None:
        body.append(_text(escape(error), color="attention"))
    for f in form.fields:
        if f.kind == "note":
            body.append(_text(f"**{escape(f.label)}**\n\n{cut_escaped(f.initial, 2000)}"))
        else:
            body.append(_input(f, error if f.name == field else ""))
    send = {
        "type": "Action.Execute",
        "title": cut(form.submit, 40),
        "verb": SUBMIT,
        "style": "positive",
        "data": {"form": found.verb, "team": found.team, "args": found.args,
                 "kinds": {f.name: f.kind for f in form.fields if f.kind != "note"}},
    }  # fmt: skip
    return adaptive(body, [send])


def _input(field: Field, error: str) -> dict[str, Any]:
    element: dict[str, Any] = {"id": field.name, "label": field.label,
                               "isRequired": field.required}  # fmt: skip
    match field.kind:
        case "text" | "long_text":
            element |= {"type": "Input.Text", "isMultiline": field.kind == "long_text",
                        "maxLength": field.longest}  # fmt: skip
            if field.initial:
                element["value"] = field.initial
        case "choice" | "checks":
            element |= {"type": "Input.ChoiceSet", "style": "expanded",
                        "isMultiSelect": field.kind == "checks",
                        "choices": [{"title": label, "value": value}
                                    for value, label in field.options]}  # fmt: skip
        case "date":
            element["type"] = "Input.Date"
        case "people":  # Teams' people picker, over the organisation's directory
            element |= {"type": "Input.ChoiceSet", "isMultiSelect": True, "choices": [],
                        "choices.data": {"type": "Data.Query",
                                         "dataset": "graph.microsoft.com/users"}}  # fmt: skip
        case "note":  # pragma: no cover - drawn as text, never as an input
            raise ValueError("a note is not an input")
    if error:
        element["errorMessage"] = error
    return element


def form_values(data: dict[str, Any]) -> FormValues:
    """What a form card sent back, by field name, each as its kind of input holds it (the
    kinds ride in the button's data): a multi-select comes as "a,b" and goes on as a list;
    an empty input as None."""
    kinds = data.get("kinds") if isinstance(data.get("kinds"), dict) else {}
    values: dict[str, Any] = {}
    for name, kind in kinds.items():
        said = data.get(name)
        said = str(said) if said not in (None, "") else None
        if kind in ("checks", "people"):
            values[name] = [v for v in (said or "").split(",") if v]
        else:
            values[name] = said
    return values
