"""The bolt app: /duty, the card buttons, the Resolve and Alert modals, and App Home.

Each listener answers inside Slack's 3 seconds: the domain action is one short transaction,
and delivering the card update and thread reply goes to a lazy listener.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_sdk import WebClient

from bot.app import DutyBot, TeamDesk
from bot.message import Message, text
from bot.tasks import Refused
from handlers.slack.chat import SlackChat
from handlers.slack.render import alert_modal, escape, home_view, mrkdwn, resolve_modal

log = logging.getLogger(__name__)

WRONG_PLACE = "Use /duty in the duty channel, or in a direct message with me."
NOT_ON_TEAM = "You're not on a duty team I look after. Ask a duty manager to add you."


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
        deliver: Callable[[str], None] | None = None,
    ) -> None:
        self.bot = bot
        self.chat = chat
        self.deliver = deliver or self._deliver_now
        self.app = App(
            signing_secret=signing_secret,
            client=client,
            token=client.token,
            token_verification_enabled=token_verification,
            process_before_response=False,
            logger=logging.getLogger("slack_bolt"),
        )
        self._register()

    # ---- routing ----------------------------------------------------------------------

    def _deliver_now(self, team: str) -> None:
        self.bot.deliver(team, self.chat)

    def team_for(self, channel: str | None, user: str) -> TeamDesk | None:
        """The team a request belongs to: its channel's, or in a DM or App Home, the user's."""
        for desk in self.bot.teams.values():
            if channel and channel == desk.cfg.channel:
                return desk
        if channel and not channel.startswith("D"):
            return None
        for desk in self.bot.teams.values():
            if desk.duty.roster.is_member(user):
                return desk
        return None

    def _team_by_name(self, name: str) -> TeamDesk | None:
        return self.bot.teams.get(name)

    def _reply(self, desk: TeamDesk, message: Message) -> str:
        return mrkdwn(message, self.chat.name_of(desk.cfg))

    def _register(self) -> None:
        app = self.app
        app.middleware(self._skip_retries)
        app.command("/duty")(ack=self._command_ack, lazy=[self._lazy_deliver])
        for action in ("duty_claim", "duty_reopen", "duty_still_on_it", "duty_release"):
            app.action(action)(ack=self._button_ack, lazy=[self._lazy_deliver])
        app.action("duty_resolve")(self._open_resolve)
        app.action("duty_alert")(self._open_alert)
        app.action("duty_outlook")(lambda ack: ack())
        app.view("duty_resolve")(ack=self._resolve_submit, lazy=[self._lazy_deliver_view])
        app.view("duty_alert")(ack=self._alert_submit, lazy=[self._lazy_deliver_view])
        app.event("app_home_opened")(self._home)

    @staticmethod
    def _skip_retries(req: Any, resp: BoltResponse, next: Callable[[], BoltResponse]) -> Any:
        # Slack re-sends events it thinks we missed; the first delivery already did the work.
        if req.headers.get("x-slack-retry-num"):
            return BoltResponse(status=200, body="")
        return next()

    # ---- /duty ------------------------------------------------------------------------

    def _command_ack(self, ack: Ack, body: dict[str, Any]) -> None:
        user = body.get("user_id", "")
        desk = self.team_for(body.get("channel_id"), user)
        if desk is None:
            ack(WRONG_PLACE)
            return
        reply = desk.desk.handle(user, _unescape(body.get("text", "")))
        ack(self._reply(desk, reply))

    def _lazy_deliver(self, body: dict[str, Any]) -> None:
        user = body.get("user_id") or (body.get("user") or {}).get("id", "")
        channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
        desk = self.team_for(channel, user)
        if desk is not None:
            self.deliver(desk.cfg.name)

    # ---- buttons ----------------------------------------------------------------------

    def _action_target(self, body: dict[str, Any]) -> tuple[TeamDesk, int, str] | str:
        user = (body.get("user") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        team, _, number = str(action.get("value", "")).partition(":")
        desk = self._team_by_name(team)
        if desk is None or not number.isdigit():
            return "That button is out of date. Try /duty list."
        if not _allowed_place(body, desk):
            return WRONG_PLACE
        return desk, int(number), user

    def _button_ack(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        target = self._action_target(body)
        if isinstance(target, str):
            self._ephemeral(client, body, target)
            return
        desk, number, user = target
        action_id = (body.get("actions") or [{}])[0].get("action_id")
        duty = desk.duty
        try:
            if action_id == "duty_claim":
                duty.claim(user, number)
            elif action_id == "duty_reopen":
                duty.reopen(user, number, "")
            elif action_id == "duty_release":
                duty.unclaim(user, number)
            elif action_id == "duty_still_on_it":
                duty.note(user, number, "Still on it")
        except Refused as no:
            self._ephemeral(client, body, self._reply(desk, no.reply))

    def _ephemeral(self, client: WebClient, body: dict[str, Any], message: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if not channel or not user:
            return
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=message)
        except Exception:  # the reply is a courtesy; the action itself already happened
            log.warning("could not send an ephemeral reply")

    def _open_resolve(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        target = self._action_target(body)
        if isinstance(target, str):
            self._ephemeral(client, body, target)
            return
        desk, number, user = target
        if not desk.duty.roster.is_member(user):
            self._ephemeral(client, body, NOT_ON_TEAM)
            return
        view = resolve_modal(desk.cfg.name, number, desk.cfg.resolve_note_required, _where(body))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def _open_alert(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        target = self._action_target(body)
        if isinstance(target, str):
            self._ephemeral(client, body, target)
            return
        desk, number, user = target
        if not desk.duty.roster.is_member(user):
            self._ephemeral(client, body, NOT_ON_TEAM)
            return
        client.views_open(
            trigger_id=body["trigger_id"], view=alert_modal(desk.cfg.name, number, _where(body))
        )

    # ---- modals -----------------------------------------------------------------------

    def _view_target(self, body: dict[str, Any]) -> tuple[TeamDesk, int, str, dict[str, Any]]:
        view = body.get("view") or {}
        meta = json.loads(view.get("private_metadata") or "{}")
        desk = self._team_by_name(str(meta.get("team")))
        if desk is None:
            raise Refused("That form is out of date. Try /duty list.")
        user = (body.get("user") or {}).get("id", "")
        values = (view.get("state") or {}).get("values") or {}
        return desk, int(meta.get("number", 0)), user, values

    def _resolve_submit(self, ack: Ack, body: dict[str, Any]) -> None:
        try:
            desk, number, user, values = self._view_target(body)
            note = ((values.get("note") or {}).get("value") or {}).get("value") or ""
            picked = ((values.get("checklist") or {}).get("value") or {}).get(
                "selected_options"
            ) or []
            chosen = {o.get("value") for o in picked}
            follow_date = ((values.get("follow_up_date") or {}).get("value") or {}).get(
                "selected_date"
            )
            checklist: dict[str, Any] = {
                "case_note": "case_note" in chosen,
                "alerted": "alerted" in chosen,
                "follow_up": "follow_up" in chosen,
                "follow_up_date": follow_date,
            }
            if follow_date:
                self._follow_up_on(desk, user, number, follow_date)
            desk.duty.resolve(user, number, note, checklist)
        except Refused as no:
            ack(response_action="errors", errors={"note": no.reply.plain()[:150]})
            return
        ack()

    def _follow_up_on(self, desk: TeamDesk, user: str, number: int, day: str) -> None:
        when = datetime.combine(date.fromisoformat(day), time(9, 0), tzinfo=desk.cfg.tz)
        if when <= desk.duty.clock.now():
            raise Refused("The follow-up date has already passed. Pick a later day.")
        desk.duty.follow_up(user, number, when.strftime("%Y-%m-%d %H:%M"), "agreed on resolve")

    def _alert_submit(self, ack: Ack, body: dict[str, Any]) -> None:
        try:
            desk, number, user, values = self._view_target(body)
            people = ((values.get("people") or {}).get("value") or {}).get("selected_users") or []
            note = ((values.get("note") or {}).get("value") or {}).get("value") or ""
            desk.duty.alert(user, number, people, note)
        except Refused as no:
            ack(response_action="errors", errors={"people": no.reply.plain()[:150]})
            return
        ack()

    def _lazy_deliver_view(self, body: dict[str, Any]) -> None:
        meta = json.loads((body.get("view") or {}).get("private_metadata") or "{}")
        if str(meta.get("team")) in self.bot.teams:
            self.deliver(str(meta["team"]))

    # ---- App Home ---------------------------------------------------------------------

    def _home(self, event: dict[str, Any], client: WebClient) -> None:
        user = event.get("user", "")
        desk = self.team_for(None, user)
        if desk is None:
            view = home_view([("dutybot", [escape(NOT_ON_TEAM)])])
        else:
            view = home_view(self.home_sections(desk, user))
        client.views_publish(user_id=user, view=view)

    def home_sections(self, desk: TeamDesk, user: str) -> list[tuple[str, list[str]]]:
        duty = desk.duty
        name_of = self.chat.name_of(desk.cfg)
        mine = duty.list_tasks(user, "mine")
        open_ = duty.list_tasks(user, "open")
        overdue = duty.overdue(user) if hasattr(duty, "overdue") else text("Nothing overdue.")
        rota = desk.desk.handle(user, "rota")
        return [
            ("My claimed tasks", mrkdwn(mine, name_of).splitlines()),
            ("Open tasks", mrkdwn(open_, name_of).splitlines()),
            ("Overdue", mrkdwn(overdue, name_of).splitlines()),
            ("Today's rota", mrkdwn(rota, name_of).splitlines()),
        ]


def _where(body: dict[str, Any]) -> dict[str, str]:
    channel = (body.get("channel") or {}).get("id") or ""
    return {"channel": channel}


def _allowed_place(body: dict[str, Any], desk: TeamDesk) -> bool:
    """Task actions come from the team's channel, a DM with the bot, or App Home."""
    container = body.get("container") or {}
    if container.get("type") == "view":
        return True
    channel = (body.get("channel") or {}).get("id") or ""
    return channel == desk.cfg.channel or channel.startswith("D")


def _unescape(s: str) -> str:
    """Slack escapes &, < and > in slash command text; the parser wants the user's words."""
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
