"""The Chat port on Teams' Bot Connector, through the Agents SDK's connector client.

The SDK makes no retries: a 429 or 5xx from the connector raises. So the back-off is here:
an idempotent call (update a card, open a 1:1 chat, read members) retries on 429, 5xx and
lost connections, waiting what Retry-After says (or doubling from half a second), within
``retry_seconds`` in all. A post is not idempotent, so it retries only on 429 (Teams did
nothing then); a post that fails any other way leaves the card "posting", and next round
``find_card`` looks for it among the channel's messages (Microsoft Graph) before posting
again. Thread replies and channel posts carry their queued message's key the same way, for
``find_message``. A conversation the bot was removed from (403/404) is said once in the log
and kept as a problem for /healthz and `dutybot status`; it never loops.

The SDK is asyncio; the port is called from delivery threads. One event loop in its own
thread (``Loop``) runs every call, and the port's methods wait for their answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from microsoft_agents.activity import (
    Activity,
    Attachment,
    ChannelAccount,
    ConversationParameters,
)
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import AgentAuthConfiguration, AuthTypes
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.chat.port import CardRef, ChatRefused, ChatUnavailable
from bot.kernel.config import ENTRA_ID, TeamConfig, TeamsAppConfig
from bot.kernel.message import CHANNEL_FALLBACK, DM_FALLBACK, Message
from bot.tasks.cards import CardView
from handlers.pacing import Pacer
from handlers.teams.render import MARKER, attachment, card_of, message_card

log = logging.getLogger(__name__)
T = TypeVar("T")

CONNECTOR = "https://api.botframework.com"
GRAPH = "https://graph.microsoft.com"
GONE = (403, 404)  # the bot was removed from the conversation, or it was deleted
GONE_RETRY_SECONDS = 60.0  # a conversation that refused the bot is tried again this often
CALL_SECONDS = 10.0  # one HTTP call to Teams, at most
LOOK_BACK = 50  # how many recent channel posts find_card reads
ROSTER_SECONDS = 600.0  # how long a channel's member list is trusted
# Teams also limits each app in a tenant as a whole (about 50 calls a second across every
# conversation); keep well under it, so only a real surge ever meets a 429.
TENANT_GAP_SECONDS = 1 / 30


def is_entra_id(who: str) -> bool:
    return ENTRA_ID.fullmatch(who) is not None


class Loop:
    """An asyncio loop in its own thread, for the SDK's calls from ordinary threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="teams-loop")  # fmt: skip
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise ChatUnavailable("Teams took too long to answer") from None

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def sign_in(app: TeamsAppConfig, secret: str) -> MsalAuth:
    """The bot's own sign-in (client credentials), through the SDK's MSAL provider."""
    return MsalAuth(auth_config(app, secret))


def auth_config(app: TeamsAppConfig, secret: str) -> AgentAuthConfiguration:
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=app.app_id,
        tenant_id=app.tenant_id,
        client_secret=secret,
    )


def _retry_after(exc: aiohttp.ClientResponseError) -> float | None:
    try:
        return max(0.0, float((exc.headers or {}).get("Retry-After", "")))
    except ValueError:
        return None


class TeamsChat:
    def __init__(
        self,
        app: TeamsAppConfig,
        auth: MsalAuth,
        loop: Loop,
        *,
        pace_seconds: float | None = None,
        retry_seconds: float | None = None,
    ) -> None:
        self.app = app
        self.auth = auth
        self.loop = loop
        self.service_url = app.service_url
        self.pacer = Pacer(app.pace_seconds if pace_seconds is None else pace_seconds)
        self.tenant = Pacer(TENANT_GAP_SECONDS)  # every call, whatever the conversation
        self.retry_seconds = app.retry_seconds if retry_seconds is None else retry_seconds
        self.names: dict[str, str] = {}  # Entra object id -> name, as Teams last said it
        self.gone: dict[str, str] = {}  # conversation -> why, said once in the log
        self._gone_at: dict[str, tuple[float, int]] = {}  # conversation -> when, HTTP status
        self._dm: dict[str, str] = {}
        self._rosters: dict[str, tuple[float, dict[str, str]]] = {}  # channel -> email->id
        self._not_before: dict[str, float] = {}  # conversation -> when Teams said to come back
        self._lock = threading.Lock()

    # ---- calling Teams ------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro, self.retry_seconds + 3 * CALL_SECONDS)

    async def token(self, resource: str = CONNECTOR) -> str:
        try:
            return await self.auth.get_access_token(resource, [f"{resource}/.default"])
        except Exception as exc:  # msal's own errors; never their text (it may hold ids)
            raise ChatUnavailable(
                f"Teams sign-in failed ({type(exc).__name__}); check teams_app.app_id, "
                f"tenant_id and {self.app.client_secret_env}"
            ) from None

    async def call(
        self,
        conversation: str,
        use: Callable[[TeamsConnectorClient], Awaitable[T]],
        *,
        idempotent: bool,
    ) -> T:
        """One connector call with back-off; see the module's docstring."""
        with self._lock:
            refused = self._gone_at.get(conversation.split(";")[0])
        if refused is not None and time.monotonic() - refused[0] < GONE_RETRY_SECONDS:
            # Not asked again every round: Teams said no a moment ago, and would again.
            raise ChatRefused(f"http_{refused[1]}", gone=True)
        with self._lock:
            back_at = self._not_before.get(conversation, 0.0)
        if time.monotonic() < back_at:  # a Retry-After outlasting the last try still stands
            raise ChatUnavailable("Teams asked to wait before trying again")
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            wait: float
            try:
                return await self._once(use)
            except aiohttp.ClientResponseError as exc:
                if exc.status == 429 or (idempotent and exc.status >= 500):
                    wait = _retry_after(exc) or min(0.5 * 2**attempt, 8.0)
                    if time.monotonic() + wait > deadline:
                        with self._lock:
                            self._not_before[conversation] = time.monotonic() + wait
                elif exc.status >= 500 or exc.status == 401:
                    raise ChatUnavailable(f"Teams answered {exc.status}") from None
                else:
                    self._refused(conversation, exc.status)
                    raise ChatRefused(f"http_{exc.status}", gone=exc.status in GONE) from None
                why = f"Teams answered {exc.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                why = f"Teams can't be reached ({type(exc).__name__})"
                if not idempotent:
                    raise ChatUnavailable(why) from None
                wait = min(0.5 * 2**attempt, 8.0)
            if time.monotonic() + wait > deadline:
                raise ChatUnavailable(f"{why}; tried for {self.retry_seconds:.0f} s") from None
            await asyncio.sleep(wait)
            attempt += 1

    async def _once(self, use: Callable[[TeamsConnectorClient], Awaitable[T]]) -> T:
        token = await self.token()
        await asyncio.to_thread(self.tenant.wait, self.app.tenant_id)
        session = aiohttp.ClientSession(
            base_url=self.service_url if self.service_url.endswith("/") else self.service_url + "/",
            timeout=aiohttp.ClientTimeout(total=CALL_SECONDS),
        )
        client = TeamsConnectorClient(self.service_url, token, session=session)
        try:
            return await use(client)
        finally:
            await client.close()

    def _refused(self, conversation: str, status: int) -> None:
        """A conversation gone (the bot removed, the chat deleted): said once, kept as a problem."""
        if status not in GONE:
            log.error("Teams refused a call in a conversation (HTTP %s)", status)
            return
        conversation = conversation.split(";")[0]  # a thread is its channel's
        with self._lock:
            self._gone_at[conversation] = (time.monotonic(), status)
            if conversation in self.gone:
                return
            self.gone[conversation] = f"HTTP {status}"
        log.error(
            "Teams says the bot can't post in conversation %s (HTTP %s): add the dutybot app "
            "to that team or chat again",
            conversation,
            status,
        )

    def problems(self) -> list[str]:
        with self._lock:
            return [f"Teams refused the conversation {c} ({why})" for c, why in self.gone.items()]

    def forget_gone(self, conversation: str) -> None:
        """The bot heard from the conversation again: it's back."""
        with self._lock:
            self.gone.pop(conversation, None)
            self._gone_at.pop(conversation, None)

    async def send(
        self, conversation: str, card: dict[str, Any], summary: str, *, paced: str | None = None
    ) -> str:
        """Post a card in a conversation (a channel, a thread, a 1:1 chat); its id."""
        activity = Activity(type="message", summary=summary,
                            attachments=[Attachment(**attachment(card))])  # fmt: skip
        if paced:
            await asyncio.to_thread(self.pacer.wait, paced)
        try:
            sent = await self.call(
                conversation,
                lambda c: c.conversations.send_to_conversation(conversation, activity),
                idempotent=False,
            )
        finally:
            if paced:
                self.pacer.posted(paced)
        return str(sent.id)

    # ---- people: an Entra object id, or the work email the config names them by ---------

    async def roster(self, channel: str) -> dict[str, str]:
        """The channel's members: work email (and sign-in name), lower case -> Entra id."""
        with self._lock:
            hit = self._rosters.get(channel)
        if hit and time.monotonic() - hit[0] < ROSTER_SECONDS:
            return hit[1]
        members = await self.call(
            channel, lambda c: c.conversations.get_conversation_members(channel), idempotent=True
        )
        found: dict[str, str] = {}
        for m in members:
            data = m.model_dump(by_alias=True) if hasattr(m, "model_dump") else dict(m)
            aad = str(data.get("aadObjectId") or "").lower()
            for key in ("email", "userPrincipalName"):
                if aad and data.get(key):
                    found[str(data[key]).lower()] = aad
            if aad and data.get("name"):
                self.names.setdefault(aad, str(data["name"]))
        with self._lock:
            self._rosters[channel] = (time.monotonic(), found)
        return found

    async def entra_id(self, team: TeamConfig, who: str) -> str:
        """A person as Teams knows them (their Entra id), from either way the config names them."""
        if is_entra_id(who):
            return who.lower()
        found = (await self.roster(team.channel)).get(who.lower())
        if found is None:
            raise ChatRefused("not_in_channel")  # nobody by that address in the duty channel
        return found

    async def member_entra_id(self, conversation: str, member: str) -> str | None:
        """The Entra id of someone Teams names by its own id ("29:…") in a conversation, as
        in a mention; None if Teams doesn't know them there. Not through ``call``: a 404 here
        is about the person, not the conversation."""
        try:
            found = await self._once(
                lambda c: c.conversations.get_conversation_member(conversation, member)
            )
        except aiohttp.ClientResponseError as exc:
            if 400 <= exc.status < 500 and exc.status not in (401, 429):
                return None
            raise ChatUnavailable(f"Teams answered {exc.status}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatUnavailable(f"Teams can't be reached ({type(exc).__name__})") from None
        data = found.model_dump(by_alias=True) if hasattr(found, "model_dump") else dict(found)
        return str(data.get("aadObjectId") or "").lower() or None

    async def email_of(self, team: TeamConfig, entra_id: str) -> str | None:
        """The work email a team's channel knows a person by, if any."""
        for email, aad in (await self.roster(team.channel)).items():
            if aad == entra_id:
                return email
        return None

    def _mention_ids(self, team: TeamConfig, message: Message) -> Callable[[str], str]:
        """How a ping's person becomes a mention's id (their Entra id)."""
        emails = [p.value for p in message.parts if p.kind == "ping" and not is_entra_id(p.value)]
        found = self._run(self.roster(team.channel)) if emails else {}
        return lambda who: found.get(who.lower(), who)

    # ---- names --------------------------------------------------------------------------

    def name_of(self, team: TeamConfig) -> Callable[[str], str]:
        def lookup(user_id: str) -> str:
            return team.names.get(user_id) or self.names.get(user_id) or user_id

        return lookup

    # ---- the Chat port ------------------------------------------------------------------

    def post_card(self, team: TeamConfig, card: CardView) -> CardRef:
        content = card_of(team.name, card, self.name_of(team))
        post = self._run(self.send(team.channel, content, card.fallback, paced=team.channel))
        return CardRef(team.channel, post)

    def find_card(self, team: TeamConfig, task_id: int) -> CardRef | None:
        found = self._run(self._find(team, team.channel, None, "task", task_id))
        return CardRef(team.channel, found) if found else None

    def find_message(
        self, team: TeamConfig, channel: str, thread: CardRef | None, key: int
    ) -> bool:
        return self._run(self._find(team, channel, thread, "key", key)) is not None

    async def _find(
        self, team: TeamConfig, channel: str, thread: CardRef | None, field: str, value: int
    ) -> str | None:
        """The id of the newest post (in the channel, or a card's thread) whose card is marked
        with ``team`` and ``field`` = ``value``: Graph's copy of the channel's messages."""
        if not team.msteams_team:
            log.warning(
                "can't look for a card posted before a crash: set msteams_team for team %s",
                team.name,
            )
            return None
        path = f"teams/{quote(team.msteams_team)}/channels/{quote(channel.split(';')[0])}/messages"
        if thread is not None:
            path += f"/{quote(thread.ts)}/replies"
        token = await self.token(GRAPH)
        url = f"{self.app.graph_url.rstrip('/')}/{path}"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_SECONDS)) as s,
                s.get(
                    url,
                    params={"$top": str(LOOK_BACK)},
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp,  # fmt: skip
            ):
                if resp.status == 429 or resp.status >= 500:
                    raise ChatUnavailable(f"Graph answered {resp.status}")
                if resp.status != 200:
                    raise ChatRefused(f"graph_{resp.status}")
                found = await resp.json()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatUnavailable(f"Graph can't be reached ({type(exc).__name__})") from None
        for msg in found.get("value") or []:
            for att in msg.get("attachments") or []:
                mark = _marker_of(att.get("content"))
                if mark.get("team") == team.name and mark.get(field) == value:
                    return str(msg["id"])
        return None

    def update_card(self, team: TeamConfig, ref: CardRef, card: CardView) -> None:
        content = card_of(team.name, card, self.name_of(team))
        self._run(self._update(ref, content, card.fallback_changed))

    async def _update(self, ref: CardRef, card: dict[str, Any], summary: str) -> None:
        activity = Activity(type="message", id=ref.ts, summary=summary,
                            attachments=[Attachment(**attachment(card))])  # fmt: skip
        await self.call(
            ref.channel,
            lambda c: c.conversations.update_activity(ref.channel, ref.ts, activity),
            idempotent=True,
        )

    def reply_in_thread(
        self, team: TeamConfig, ref: CardRef, message: Message, key: int | None = None
    ) -> CardRef | None:
        thread = f"{ref.channel};messageid={ref.ts}"
        card = message_card(message, self.name_of(team), team.name, key,
                            self._mention_ids(team, message))  # fmt: skip
        summary = message.fallback or CHANNEL_FALLBACK
        post = self._run(self.send(thread, card, summary, paced=thread))
        return CardRef(thread, post)

    def send_dm(
        self,
        team: TeamConfig,
        user_id: str,
        message: Message,
        card: CardRef | None,
        key: int | None = None,
    ) -> CardRef | None:
        content = message_card(message, self.name_of(team), team.name, key,
                               self._mention_ids(team, message))  # fmt: skip
        if card is not None:  # a link to the card, made from Teams' own ids only
            content.setdefault("actions", []).append(
                {"type": "Action.OpenUrl", "title": "Open the card", "url": card_link(card)}
            )
        summary = message.fallback or DM_FALLBACK
        return self._run(self._dm_send(team, user_id, content, summary))

    async def _dm_send(
        self, team: TeamConfig, user_id: str, card: dict[str, Any], summary: str
    ) -> CardRef:
        chat = await self.dm_conversation(await self.entra_id(team, user_id))
        return CardRef(chat, await self.send(chat, card, summary, paced=chat))

    async def dm_conversation(self, user_id: str) -> str:
        """The bot's 1:1 chat with a person (Teams gives the same one each time; remembered)."""
        chat = self._dm.get(user_id)
        if chat is None:
            params = ConversationParameters(
                is_group=False,
                bot=ChannelAccount(id=f"28:{self.app.app_id}"),
                members=[ChannelAccount(id=user_id)],
                tenant_id=self.app.tenant_id,
                channel_data={"tenant": {"id": self.app.tenant_id}},
            )
            made = await self.call(
                f"a:{user_id}",
                lambda c: c.conversations.create_conversation(params),
                idempotent=True,
            )
            chat = str(made.id)
            self._dm[user_id] = chat
        return chat

    def post_to_channel(
        self, team: TeamConfig, channel: str, message: Message, key: int | None = None
    ) -> CardRef | None:
        card = message_card(message, self.name_of(team), team.name, key,
                            self._mention_ids(team, message))  # fmt: skip
        summary = message.fallback or CHANNEL_FALLBACK
        return CardRef(channel, self._run(self.send(channel, card, summary, paced=channel)))

    def edit_message(self, team: TeamConfig, ref: CardRef, message: Message) -> None:
        card = message_card(message, self.name_of(team), team.name)
        self._run(self._update(ref, card, message.fallback or CHANNEL_FALLBACK))


def _marker_of(content: Any) -> dict[str, Any]:
    """The dutybot marker in a card as Graph gives it back (JSON text), or {}."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return {}
    mark = content.get(MARKER) if isinstance(content, dict) else None
    return mark if isinstance(mark, dict) else {}


def card_link(ref: CardRef) -> str:
    """A link that opens a card's post in Teams."""
    channel = ref.channel.split(";")[0]
    return f"https://teams.microsoft.com/l/message/{quote(channel)}/{quote(ref.ts)}"
