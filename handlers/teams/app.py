"""The Teams side of the catalogue: a message to the bot (`@dutybot claim 42` in the channel,
`claim 42` in its 1:1 chat) and a card's Universal Action (Action.Execute) each become one
call on the catalogue (bot/chat/calls.py), whose answer is drawn back as Teams wants it.

A button's answer is the refreshed card, in the invoke response, so the presser sees the new
state at once (and a second presser sees who won); delivery then updates the card in place
for everyone and adds the reply in its thread. A verb with a form answers with the form as
a card with inputs; sending it runs the verb. The catalogue's work is ordinary blocking
code, so it runs in a worker thread while the SDK's event loop carries on.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import aiohttp
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    Attachment,
    ChannelAccount,
    InvokeResponse,
)
from microsoft_agents.hosting.core import ActivityHandler, TurnContext

from bot.app import DutyBot
from bot.chat.calls import SORRY, FormView, Place, Reply
from bot.chat.delivery import card_now
from bot.chat.port import ChatRefused, ChatUnavailable
from bot.kernel.config import named_people
from bot.kernel.message import text
from bot.ops.logsafe import trace_without_text
from handlers.teams.chat import TeamsChat
from handlers.teams.render import (
    CARD,
    SUBMIT,
    attachment,
    card_of,
    form_card,
    form_values,
    home_card,
    message_card,
)

log = logging.getLogger(__name__)

_TAGS = re.compile(r"<[^>]*>")


def actor_of(activity: Activity) -> str:
    """Who sent it: their Entra object id (what the config names people by)."""
    sender = activity.from_property
    return str(getattr(sender, "aad_object_id", None) or "").lower()


def place_of(activity: Activity) -> Place:
    """A Teams conversation as a place: a channel (by its id) or the bot's 1:1 chat."""
    conversation = activity.conversation
    kind = getattr(conversation, "conversation_type", None) or ""
    if kind == "personal":
        return Place("dm", str(conversation.id))
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = (data.get("channel") or {}).get("id") or str(conversation.id).split(";")[0]
    return Place("channel", str(channel))


def _mentions(activity: Activity) -> list[tuple[str, str]]:
    """Each mention in the message: how it reads in the text ("<at>Alex Lee</at>"), and
    Teams' id for whom it names ("29:…", or the bot's own "28:…")."""
    found = []
    for entity in activity.entities or []:
        data = entity.model_dump(by_alias=True) if hasattr(entity, "model_dump") else {}
        mentioned = str((data.get("mentioned") or {}).get("id") or "")
        if data.get("type") == "mention" and data.get("text") and mentioned:
            found.append((str(data["text"]), mentioned))
    return found


def _bot_mentions(activity: Activity) -> list[str]:
    """How each mention of the bot itself reads in the message's text ("<at>dutybot</at>")."""
    bot = getattr(activity.recipient, "id", None)
    return [said for said, who in _mentions(activity) if who == bot]


def people_mentioned(activity: Activity) -> dict[str, str]:
    """Each person mentioned in the message (not the bot): how the mention reads -> Teams'
    id for them."""
    bot = getattr(activity.recipient, "id", None)
    return {said: who for said, who in _mentions(activity) if who != bot}


def not_found(names: list[str]) -> str:
    """The answer when Teams can't say who a mentioned person is."""
    return (
        f"I can't find {' or '.join(names)} among this conversation's members: mention "
        "someone in the duty channel, or type their work email after @."
    )


def command_line(activity: Activity, people: dict[str, str] | None = None) -> str:
    """The words typed to the bot, without the @dutybot mention, Teams' HTML or a leading
    /duty; each mention in ``people`` (how it reads -> how the config names the person)
    becomes "@person", as the commands take people. In a channel only a message that
    mentions the bot is for it (with the channel messages permission Teams shows the bot
    every message there): anything else is ""."""
    said = str(activity.text or "")
    mentions = _bot_mentions(activity)
    if place_of(activity).kind == "channel" and not mentions:
        return ""
    for mention in mentions:
        said = said.replace(mention, " ")
    for mention, who in (people or {}).items():
        said = said.replace(mention, f" @{who} ")
    said = html.unescape(_TAGS.sub(" ", said))
    words = said.split()
    if words and words[0].lower() in ("/duty", "duty"):
        words = words[1:]
    return " ".join(words)


class TeamsBot(ActivityHandler):
    def __init__(
        self,
        bot: DutyBot,
        chat: TeamsChat,
        deliver: Callable[[str], object] | None = None,
    ) -> None:
        self.bot = bot
        self.calls = bot.calls
        self.chat = chat
        self.deliver = deliver or (lambda team: bot.deliver(team, chat))
        self._afters: set[threading.Thread] = set()
        self._lock = threading.Lock()
        # Whom the config names by work email rather than Entra id (the same for everyone).
        self._by_email = {who.lower(): who for t in bot.teams.values()
                          for who in named_people(t.cfg) if "@" in who}  # fmt: skip

    # ---- translating --------------------------------------------------------------------

    def _name_of(self, team: str | None) -> Callable[[str], str]:
        wired = self.bot.teams.get(team or "")
        return self.chat.name_of(wired.cfg) if wired else (lambda who: who)

    def _learn(self, activity: Activity) -> None:
        """Remember a person's name as Teams gives it, and that a conversation answers."""
        sender = activity.from_property
        who, name = actor_of(activity), getattr(sender, "name", None)
        if who and name:
            self.chat.names[who] = str(name)
        self.chat.forget_gone(place_of(activity).channel)

    def _after(self, reply: Reply) -> None:
        """Deliver what the call changed (the card update, the thread reply), not waited for."""
        if reply.team in self.bot.teams:
            after = threading.Thread(target=self._deliver, args=(str(reply.team),),
                                     daemon=True, name="teams-after")  # fmt: skip
            with self._lock:
                self._afters = {t for t in self._afters if t.is_alive()} | {after}
            after.start()

    def close(self, timeout: float = 10.0) -> None:
        """Let the deliveries started after actions finish."""
        with self._lock:
            afters = list(self._afters)
        for after in afters:
            after.join(timeout)

    def _deliver(self, team: str) -> None:
        try:
            self.deliver(team)
        except Exception:  # the delivery loop tries again; nothing is lost
            log.exception("delivery after a Teams action failed")

    async def who(self, activity: Activity) -> str:
        """The sender as the config names them: their Entra id, or their work email when
        that is how the config has them (looked up in the duty channels' member lists)."""
        return await self._as_named(actor_of(activity))

    async def _mentioned(self, activity: Activity) -> tuple[dict[str, str], list[str]]:
        """The people mentioned in a message, as the config names them, and the names of
        any Teams couldn't say who they are. Teams gives a mention its own id ("29:…"); the
        conversation's member list has their Entra id."""
        found: dict[str, str] = {}
        unknown: list[str] = []
        conversation = str(activity.conversation.id).split(";")[0]
        for mention, member in people_mentioned(activity).items():
            try:
                entra = await self.chat.member_entra_id(conversation, member)
            except ChatUnavailable:
                entra = None
            if entra:
                found[mention] = await self._as_named(entra)
            else:
                unknown.append(html.unescape(_TAGS.sub("", mention)))
        return found, unknown

    async def _as_named(self, entra: str) -> str:
        """An Entra id as the config names the person (their work email, if so named)."""
        if not self._by_email or not entra:
            return entra
        for wired in self.bot.teams.values():
            try:
                email = await self.chat.email_of(wired.cfg, entra)
            except (ChatUnavailable, ChatRefused):
                continue  # Teams can't say now: they act by their id, as if not named by email
            if email in self._by_email:
                return self._by_email[email]
        return entra

    # ---- messages -----------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        self._learn(activity)
        line = command_line(activity)
        if not line:
            return
        actor, place = await self.who(activity), place_of(activity)
        people, unknown = await self._mentioned(activity)
        if unknown:
            card = message_card(text(not_found(unknown)), lambda who: who)
        else:
            line = command_line(activity, people) if people else line
            card = await asyncio.to_thread(self._answer_line, actor, place, line)
        if place.kind == "dm":
            await turn_context.send_activity(_message(card))
            return
        # In a channel the answer is for the sender only: a targeted message, which only they
        # see, where the tenant has them; otherwise their 1:1 chat with the bot.
        try:
            sender = activity.from_property
            await turn_context.send_activity(_message(card).with_targeted_recipient(
                ChannelAccount(id=sender.id, name=sender.name, role="user")))  # fmt: skip
            return
        except aiohttp.ClientResponseError as exc:
            if exc.status not in (400, 403, 404, 501):
                raise
        chat = await self.chat.dm_conversation(actor_of(activity))
        await self.chat.send(chat, card, card.get("fallbackText") or "dutybot")

    def _answer_line(self, actor: str, place: Place, line: str) -> dict[str, Any]:
        """A typed line's answer as a card: `home` is the person's home page; a verb with a
        form, typed alone (`new`), opens the form; anything else runs as typed."""
        if line.lower() == "home":
            return self._home(actor)
        verb = self.calls.catalogue.verb(line)
        if verb is not None and verb.form is not None:
            found = self.calls.press(actor, place, verb.name, "")
            if isinstance(found, FormView):
                return form_card(found)
            reply = found
        else:
            reply = self.calls.command(actor, place, line)
        self._after(reply)
        return message_card(reply.message, self._name_of(reply.team), reply.team or "")

    def _home(self, actor: str) -> dict[str, Any]:
        found = self.calls.home(actor)
        if isinstance(found, str):
            return message_card(text(found), lambda who: who)
        name, sections = found
        return home_card(name, sections, self._name_of(name))

    async def on_members_added_activity(
        self, members_added: Any, turn_context: TurnContext
    ) -> None:
        """Installed in someone's personal scope: greet them with their home page."""
        activity = turn_context.activity
        if place_of(activity).kind != "dm":
            return
        bot_id = getattr(activity.recipient, "id", None)
        for member in members_added or []:
            who = str(getattr(member, "aad_object_id", None) or "").lower()
            if getattr(member, "id", None) != bot_id and who:
                if who == actor_of(activity):  # the one who added it: as the config names them
                    who = await self.who(activity)
                card = await asyncio.to_thread(self._home, who)
                await turn_context.send_activity(_message(card))

    # ---- buttons and forms --------------------------------------------------------------

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        activity = turn_context.activity
        self._learn(activity)
        action = invoke_value.action
        data = dict(action.data or {}) if isinstance(action.data, dict) else {}
        actor, place = await self.who(activity), place_of(activity)
        team, args = str(data.get("team") or ""), str(data.get("args") or "")
        if action.verb == SUBMIT:
            verb = str(data.get("form") or "")
            reply = await asyncio.to_thread(
                self.calls.submit, actor, verb, team, args, form_values(data)
            )
            if reply.refused and reply.field:
                again = await asyncio.to_thread(
                    self.calls.press, actor, place, verb, f"{team}:{args}"
                )
                if isinstance(again, FormView):
                    return _card(form_card(again, reply.message.plain(), reply.field))
        else:
            found = await asyncio.to_thread(
                self.calls.press, actor, place, str(action.verb or ""), f"{team}:{args}"
            )
            if isinstance(found, FormView):
                return _card(form_card(found))
            reply = found
        self._after(reply)
        return _card(await asyncio.to_thread(self._answer_card, reply, team, data))

    def _answer_card(self, reply: Reply, team: str, data: dict[str, Any]) -> dict[str, Any]:
        """The task's card as it now stands, with the reply on top for the presser (unless the
        card says it all); or, for a button not on a task card, the reply alone."""
        wired = self.bot.teams.get(team)
        names = dict(wired.cfg.names) if wired is not None else {}
        note = "" if reply.quiet else reply.message.plain({**self.chat.names, **names})
        number = data.get("number") or data.get("args")
        if wired is not None and str(number).isdigit():
            assert self.bot.db is not None
            view = card_now(self.bot.db, wired.cfg, int(str(number)))
            if view is not None:
                return card_of(team, view, self.chat.name_of(wired.cfg), note=note)
        return message_card(reply.message if note else text("Done."), self._name_of(team), team)


def _message(card: dict[str, Any]) -> Activity:
    return Activity(type="message", attachments=[Attachment(**attachment(card))],
                    summary=card.get("fallbackText") or "dutybot")  # fmt: skip


def _card(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=CARD, value=card)


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    """Replaces the SDK's own, which posts "Exception caught : ..." into the conversation:
    the trace goes to the log (never email content: the calls never raise with it), and
    the person gets the one plain sentence."""
    log.error("a Teams request failed: %s", trace_without_text(error))
    sorry = message_card(text(SORRY), lambda who: who)
    try:
        if context.activity.type == ActivityTypes.invoke:
            body = _card(sorry).model_dump(by_alias=True, exclude_none=True, mode="json")
            await context.send_activity(
                Activity(
                    type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body)
                )  # fmt: skip
            )
        elif context.activity.type == ActivityTypes.message:
            answer = _message(sorry)
            if place_of(context.activity).kind == "channel":  # for the sender, not everyone
                sender = context.activity.from_property
                answer = answer.with_targeted_recipient(
                    ChannelAccount(id=sender.id, name=sender.name, role="user")
                )
            await context.send_activity(answer)
    except Exception:  # Teams itself is failing: the log line above is all we can do
        log.warning("could not tell the person that their request failed")
