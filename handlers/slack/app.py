"""The bolt app: /duty, the card buttons, the Resolve and Alert modals, and App Home.

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
from datetime import date, datetime, time
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_sdk import WebClient

from bot.app import DutyBot, TeamDesk
from bot.dispatch import failed
from bot.kernel.message import Message
from bot.nudges import nudges
from bot.tasks.actions import Refused
from bot.tasks.home import home
from handlers.slack.chat import SlackChat
from handlers.slack.render import (
    alert_modal,
    home_view,
    mrkdwn,
    notice_view,
    resolve_modal,
)
from handlers.slack.scopes import COMMAND, EVENTS

log = logging.getLogger(__name__)

WRONG_PLACE = "Use /duty in the duty channel, or in a direct message with me."
NOT_ON_TEAM = "You're not on a duty team I look after. Ask a duty manager to add you."
OUT_OF_DATE = "That button is out of date. Try /duty list."
FOLLOW_UP_HOUR = time(9, 0)  # a follow-up picked as a date is due at 09:00 that day

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

    # ---- routing ----------------------------------------------------------------------

    def _deliver_now(self, team: str) -> None:
        self.bot.deliver(team, self.chat)

    def team_for(self, channel: str | None, user: str) -> TeamDesk | str:
        """The team a request belongs to: its channel's, or in a DM or App Home, the user's.
        A string is the plain refusal to give instead."""
        for desk in self.bot.teams.values():
            if channel and channel == desk.cfg.channel:
                return desk
        if channel and not channel.startswith("D"):
            return WRONG_PLACE
        for desk in self.bot.teams.values():
            if desk.duty.roster.is_member(user):
                return desk
        return NOT_ON_TEAM

    def _reply(self, desk: TeamDesk, message: Message) -> str:
        return mrkdwn(message, self.chat.name_of(desk.cfg))

    def _register(self) -> None:
        app = self.app
        app.middleware(self._once_per_event)
        app.command(COMMAND)(ack=self._command, lazy=[self._after])
        for action in ("duty_claim", "duty_reopen", "duty_still_on_it", "duty_release"):
            app.action(action)(ack=self._button, lazy=[self._after])
        app.action("duty_resolve")(ack=self._open_resolve, lazy=[self._after])
        app.action("duty_alert")(ack=self._open_alert, lazy=[self._after])
        app.action("duty_outlook")(self._just_ack)  # a link button: Slack opens the link
        app.view("duty_resolve")(ack=self._resolve_submit, lazy=[self._after])
        app.view("duty_alert")(ack=self._alert_submit, lazy=[self._after])
        app.event(EVENTS[0])(ack=self._just_ack, lazy=[self._home_opened])  # app_home_opened

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

    # ---- /duty ------------------------------------------------------------------------

    def _command(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        user = body.get("user_id", "")
        desk = self.team_for(body.get("channel_id"), user)
        if isinstance(desk, str):
            ack(text=desk, response_type="ephemeral")
            return
        reply = desk.desk.handle(user, _unescape(body.get("text", "")))
        context[TEAM] = desk.cfg.name
        ack(text=self._reply(desk, reply), response_type="ephemeral")

    # ---- buttons ----------------------------------------------------------------------

    def _action_target(self, body: dict[str, Any]) -> tuple[TeamDesk, int, str] | str:
        user = (body.get("user") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        value = str(action.get("value", ""))
        team, _, number = value.rpartition(":")
        if team:
            desk: TeamDesk | str | None = self.bot.teams.get(team)
        else:  # nudge buttons in a DM carry only the number
            desk = self.team_for(_channel_of(body), user)
        if desk is None or not number.isdigit():
            return OUT_OF_DATE
        if isinstance(desk, str):
            return desk
        if not _allowed_place(body, desk):
            return WRONG_PLACE
        return desk, int(number), user

    def _button(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        target = self._action_target(body)
        if isinstance(target, str):
            context[REPLY] = target
            return
        desk, number, user = target
        context[TEAM] = desk.cfg.name
        if _in_home(body):
            context[HOME] = user
        action_id = (body.get("actions") or [{}])[0].get("action_id")
        duty = desk.duty
        try:
            if action_id == "duty_claim":
                duty.claim(user, number)
            elif action_id == "duty_reopen":
                duty.reopen(user, number, "")
            else:  # the stale-claim nudge's "Still on it" and "Release"
                said = nudges.press(duty, user, str(action_id), str(number))
                context[REPLY] = self._reply(desk, said)
        except Refused as no:
            context[REPLY] = self._reply(desk, no.reply)
        except Exception as exc:
            context[REPLY] = failed(exc, f"button {action_id}")  # not the body: privacy

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

    def _modal_target(self, body: dict[str, Any]) -> tuple[TeamDesk, int]:
        target = self._action_target(body)
        if isinstance(target, str):
            raise Refused(target)
        desk, number, user = target
        if not desk.duty.roster.is_member(user):
            raise Refused(NOT_ON_TEAM)
        return desk, number

    def _open_resolve(
        self, ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        self._open_modal(ack, body, client, context, self._resolve_view)

    def _open_alert(
        self, ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        self._open_modal(ack, body, client, context, self._alert_view)

    @staticmethod
    def _resolve_view(desk: TeamDesk, number: int, where: dict[str, Any]) -> dict[str, Any]:
        return resolve_modal(desk.cfg.name, number, desk.cfg.resolve_note_required, where)

    @staticmethod
    def _alert_view(desk: TeamDesk, number: int, where: dict[str, Any]) -> dict[str, Any]:
        return alert_modal(desk.cfg.name, number, where)

    def _open_modal(
        self,
        ack: Ack,
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
        view: Callable[[TeamDesk, int, dict[str, Any]], dict[str, Any]],
    ) -> None:
        ack()
        try:
            desk, number = self._modal_target(body)
        except Refused as no:
            context[REPLY] = no.reply.plain()
            return
        self._open(client, body, view(desk, number, _where(body)), context)

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

    # ---- modals -----------------------------------------------------------------------

    def _view_target(
        self, body: dict[str, Any], context: BoltContext
    ) -> tuple[TeamDesk, int, str, dict[str, Any]]:
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            desk = self.bot.teams.get(str(meta.get("team")))
            number = int(meta.get("number", 0))
        except (ValueError, TypeError):
            desk, meta, number = None, {}, 0
        if desk is None:
            raise Refused("That form is out of date. Close it and try /duty list.")
        user = (body.get("user") or {}).get("id", "")
        context[TEAM] = desk.cfg.name
        if meta.get("home"):
            context[HOME] = user
        values = (view.get("state") or {}).get("values") or {}
        return desk, number, user, values

    def _resolve_submit(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        try:
            desk, number, user, values = self._view_target(body, context)
            note = _field(values, "note", "value") or ""
            picked = _field(values, "checklist", "selected_options") or []
            chosen = {o.get("value") for o in picked}
            day = _field(values, "follow_up_date", "selected_date")
            checklist: dict[str, Any] = {
                "case_note": "case_note" in chosen,
                "alerted": "alerted" in chosen,
                "follow_up": "follow_up" in chosen or bool(day),
                "follow_up_date": day,
            }
            when = _follow_up_time(day, desk) if day else None
            desk.duty.resolve(user, number, note, checklist, follow_up_at=when)
        except Refused as no:
            block = "follow_up_date" if "follow-up" in no.reply.plain() else "note"
            ack(response_action="errors", errors={block: no.reply.plain()[:150]})
            return
        ack()

    def _alert_submit(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        try:
            desk, number, user, values = self._view_target(body, context)
            people = _field(values, "people", "selected_users") or []
            note = _field(values, "note", "value") or ""
            desk.duty.alert(user, number, people, note)
        except Refused as no:
            ack(response_action="errors", errors={"people": no.reply.plain()[:150]})
            return
        ack()

    # ---- App Home ---------------------------------------------------------------------

    def _home_opened(self, event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") == "home":
            self.publish_home(client, str(event.get("user", "")))

    def publish_home(self, client: WebClient, user: str) -> None:
        desk = self.team_for(None, user)
        if isinstance(desk, str):
            view = notice_view(desk)
        else:
            sections = home(desk.duty, desk.rota, user, self.bot.config.nudges.unclaimed_minutes)
            view = home_view(desk.cfg.name, sections, self.chat.name_of(desk.cfg))
        try:
            client.views_publish(user_id=user, view=view)
        except Exception:
            log.warning("could not publish App Home")


def _field(values: dict[str, Any], block: str, key: str) -> Any:
    """One value from a submitted modal's state (block id, then our action id "value")."""
    return ((values.get(block) or {}).get("value") or {}).get(key)


def _follow_up_time(day: str, desk: TeamDesk) -> datetime:
    try:
        picked = date.fromisoformat(day)
    except ValueError:
        raise Refused("That follow-up date isn't a date. Pick one from the calendar.") from None
    return datetime.combine(picked, FOLLOW_UP_HOUR, tzinfo=desk.cfg.tz)


def _channel_of(body: dict[str, Any]) -> str:
    return (body.get("channel") or {}).get("id") or ""


def _in_home(body: dict[str, Any]) -> bool:
    view = body.get("view") or {}
    return (body.get("container") or {}).get("type") == "view" and view.get("type") == "home"


def _where(body: dict[str, Any]) -> dict[str, Any]:
    """Where a modal was opened from, carried in its private_metadata."""
    return {"channel": _channel_of(body), "home": _in_home(body)}


def _allowed_place(body: dict[str, Any], desk: TeamDesk) -> bool:
    """Task actions come from the team's channel, a DM with the bot, or App Home."""
    if _in_home(body):
        return True
    channel = _channel_of(body)
    return channel == desk.cfg.channel or channel.startswith("D")


def _unescape(s: str) -> str:
    """Slack escapes &, < and > in slash command text; the parser wants the user's words."""
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
