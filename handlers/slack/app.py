"""The bolt app: /duty, buttons, forms (modals) and App Home, each turned into one call on the
catalogue (bot/chat/calls.py), whose reply is drawn back in Slack's own terms.

Bolt runs with ``process_before_response``: each ack function does its one short transaction
(a claim, a resolve) and answers inside Slack's 3 seconds. Only after that answer do the lazy
listeners start; they deliver the card update and thread reply, and any private reply. So
delivery always sees the change it was started for.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_sdk import WebClient

from bot.app import DutyBot
from bot.chat.calls import FormView, Place, Reply
from handlers.slack.chat import SlackChat
from handlers.slack.render import (
    ACTIONS,
    LINK_ACTION,
    form_modal,
    form_values,
    home_view,
    mrkdwn,
    notice_view,
    verb_of,
)
from handlers.slack.scopes import COMMAND, EVENTS, SHORTCUTS

log = logging.getLogger(__name__)

# Keys the ack functions leave in bolt's context for the lazy listener (copied across).
REPLY = "duty_reply"  # a private reply for the person who acted
TEAM = "duty_team"  # the team whose cards may have changed
HOME = "duty_home"  # the person whose App Home should be redrawn


class RecentIds:
    """The last ``size`` ids seen; ``first`` is True only the first time an id comes."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


class SlackBot:
    """Binds bolt listeners to the duty bot and the Slack chat adapter."""

    def __init__(
        self,
        bot: DutyBot,
        chat: SlackChat,
        *,
        signing_secret: str,
        client: WebClient,
        token_verification: bool = True,
        deliver: Callable[[str], object] | None = None,
    ) -> None:
        self.bot = bot
        self.calls = bot.calls
        self.chat = chat
        self.deliver = deliver or self._deliver_now
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="slack-lazy")
        self._events = RecentIds()
        self.app = App(
            signing_secret=signing_secret,
            client=client,
            token_verification_enabled=token_verification,
            process_before_response=True,
            listener_executor=self.executor,
            logger=logging.getLogger("slack_bolt"),
        )
        self._register()

    def close(self) -> None:
        """Let running lazy listeners finish."""
        self.executor.shutdown(wait=True)

    # ---- translating ------------------------------------------------------------------

    def _deliver_now(self, team: str) -> None:
        self.bot.deliver(team, self.chat)

    def _mrkdwn(self, reply: Reply) -> str:
        team = self.bot.teams.get(reply.team or "")
        if team is None:
            return mrkdwn(reply.message, str)
        return mrkdwn(reply.message, self.chat.name_of(team.cfg))

    def _register(self) -> None:
        app = self.app
        app.middleware(self._once_per_event)
        app.command(COMMAND)(ack=self._command, lazy=[self._after])
        app.action(LINK_ACTION)(self._just_ack)  # a link button: Slack opens the link
        app.action(ACTIONS)(ack=self._press, lazy=[self._after])
        app.view(ACTIONS)(ack=self._submit, lazy=[self._after])
        app.event(EVENTS[0])(ack=self._just_ack, lazy=[self._home_opened])  # app_home_opened
        for shortcut in SHORTCUTS:
            app.shortcut(shortcut)(ack=self._shortcut, lazy=[self._after])

    def _once_per_event(self, body: dict[str, Any], next: Callable[[], BoltResponse]) -> Any:
        # Slack re-sends an event (X-Slack-Retry-Num) when our answer was slow or lost; the
        # event_id stays the same, so a re-send of one already in hand is only acknowledged.
        if body.get("type") == "event_callback":
            event_id = str(body.get("event_id") or "")
            if event_id and not self._events.first(event_id):
                return BoltResponse(status=200, body="")
        return next()

    @staticmethod
    def _just_ack(ack: Ack) -> None:
        ack()

    def _after(self, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """Lazy: the private reply, then delivery of what the action changed, then App Home."""
        reply = context.get(REPLY)
        if reply:
            self._ephemeral(client, body, str(reply))
        team = context.get(TEAM)
        if team in self.bot.teams:
            try:
                self.deliver(str(team))
            except Exception:  # the delivery loop will try again; nothing is lost
                log.exception("delivery after an action failed")
        if context.get(HOME):
            self.publish_home(client, str(context[HOME]))

    def _note(self, context: BoltContext, reply: Reply, private: bool = True) -> None:
        """Leave what the lazy listener needs: the team to deliver, and any private reply."""
        if reply.team:
            context[TEAM] = reply.team
        if private and not reply.quiet:
            context[REPLY] = self._mrkdwn(reply)

    # ---- /duty ------------------------------------------------------------------------

    def _command(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        place = _place(body.get("channel_id") or "")
        reply = self.calls.command(body.get("user_id", ""), place, _unescape(body.get("text", "")))
        self._note(context, reply, private=False)
        ack(text=self._mrkdwn(reply), response_type="ephemeral")

    # ---- buttons ----------------------------------------------------------------------

    def _press(
        self, ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        home = _in_home(body)
        place = Place("home") if home else _place(_channel_of(body))
        verb, value = verb_of(str(action.get("action_id"))), str(action.get("value", ""))
        found = self.calls.press(user, place, verb, value)
        if isinstance(found, FormView):
            where = {"channel": place.channel, "home": home}
            self._open(client, body, form_modal(found, where), context)
            return
        self._note(context, found)
        if home and not found.refused:
            context[HOME] = user

    def _shortcut(
        self, ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        """A message shortcut ("Log as duty task"): its verb's form, started from the message."""
        ack()
        user = (body.get("user") or {}).get("id", "")
        said = _unescape(str((body.get("message") or {}).get("text") or ""))
        verb = verb_of(str(body.get("callback_id")))
        found = self.calls.press(user, Place("shortcut"), verb, "", prefill={"summary": said})
        if isinstance(found, FormView):
            self._open(client, body, form_modal(found, {"channel": _channel_of(body)}), context)
            return
        self._note(context, found)

    def _ephemeral(self, client: WebClient, body: dict[str, Any], message: str) -> None:
        """A reply only the person who acted sees, where they acted (or in our DM)."""
        user = (body.get("user") or {}).get("id")
        if not user:
            return
        channel = _channel_of(body) or self.chat.dm_channel(user)
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=message)
        except Exception:  # the reply is a courtesy; the action itself already happened
            log.warning("could not send a private reply")

    @staticmethod
    def _open(
        client: WebClient, body: dict[str, Any], view: dict[str, Any], context: BoltContext
    ) -> None:
        # The trigger_id dies 3 seconds after the click, so the modal opens here, not lazily.
        try:
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except Exception:
            log.warning("could not open a form")
            context[REPLY] = "Slack didn't open the form in time. Please press the button again."

    # ---- forms ------------------------------------------------------------------------

    def _submit(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        view = body.get("view") or {}
        user = (body.get("user") or {}).get("id", "")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        values = form_values((view.get("state") or {}).get("values") or {})
        verb = verb_of(str(view.get("callback_id")))
        team, args = str(meta.get("team", "")), str(meta.get("args", ""))
        reply = self.calls.submit(user, verb, team, args, values)
        if reply.refused and reply.field:
            ack(response_action="errors", errors={reply.field: reply.message.plain()[:150]})
            return
        ack()
        self._note(context, reply)
        if meta.get("home"):
            context[HOME] = user

    # ---- App Home ---------------------------------------------------------------------

    def _home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") == "home":
            self.publish_home(client, str(event.get("user", "")))

    def publish_home(self, client: WebClient, user: str) -> None:
        found = self.calls.home(user)
        if isinstance(found, str):
            view = notice_view(found)
        else:
            name, sections = found
            view = home_view(name, sections, self.chat.name_of(self.bot.teams[name].cfg))
        try:
            client.views_publish(user_id=user, view=view)
        except Exception:
            log.warning("could not publish App Home")


def _place(channel: str) -> Place:
    """A Slack channel as a place: D... is a direct message with the bot."""
    return Place("dm" if channel.startswith("D") else "channel", channel)


def _channel_of(body: dict[str, Any]) -> str:
    return (body.get("channel") or {}).get("id") or ""


def _in_home(body: dict[str, Any]) -> bool:
    view = body.get("view") or {}
    return (body.get("container") or {}).get("type") == "view" and view.get("type") == "home"


def _unescape(s: str) -> str:
    """Slack escapes &, < and > in slash command text; the parser wants the user's words."""
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
