"""Calls on the catalogue, for every chat: a `/duty` line, a button, a form. Here, not in the
adapters, is decided which team a request is for, where it may come from, who may use each
verb, and what the person is told when anything goes wrong. Nothing here raises."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

from bot.chat.catalogue import Call, Catalogue, Form, FormValues, Invalid, Verb
from bot.chat.words import Bad, tokens
from bot.kernel.clean import tidy
from bot.kernel.config import TeamConfig
from bot.kernel.errors import Refused
from bot.kernel.message import Message, text
from bot.kernel.roles import Roster
from bot.ops.outage import database_unreachable

log = logging.getLogger(__name__)

S = TypeVar("S")

WRONG_PLACE = "Use /duty in the duty channel, or in a direct message with me."
NOT_ON_TEAM = "You're not on a duty team I look after. Ask a duty manager to add you."
OUT_OF_DATE = "That button is out of date. Try /duty list."
FORM_OUT_OF_DATE = "That form is out of date. Close it and try /duty list."
SORRY = (
    "Something went wrong on my side. Check the task with /duty show N before trying again, "
    "and tell the duty manager if it keeps happening."
)
DATABASE_AWAY = (
    "I can't reach my database just now, so that may not have gone through. Try again in a "
    "few minutes, and check it with /duty show N."
)


class Team(Protocol):
    """A wired-up team, as calls need it (bot.app.Team)."""

    cfg: TeamConfig
    roster: Roster

    def service(self, kind: type[S]) -> S: ...

    def home(self, actor: str) -> Any:
        """What the person's home page shows (bot.tasks.home)."""
        ...


@dataclass(frozen=True)
class Place:
    """Where a request came from: a channel (by id), a direct message, App Home, the shell."""

    kind: Literal["channel", "dm", "home", "shell", "shortcut"]  # shortcut: on any message
    channel: str = ""


@dataclass(frozen=True)
class Reply:
    message: Message
    team: str | None = None  # the team whose cards may have changed: deliver them now
    refused: bool = False
    field: str | None = None  # a refused form: the field the refusal is about
    quiet: bool = False  # nothing to say: the redrawn card shows what happened


@dataclass(frozen=True)
class FormView:
    """A form to show: which verb it runs on submit, for which team, on which words."""

    verb: str
    team: str
    args: str
    form: Form


def refusal(reply: Message | str, team: str | None = None, field: str | None = None) -> Reply:
    message = reply if isinstance(reply, Message) else text(reply)
    return Reply(message, team, refused=True, field=field)


def _cleaned(values: FormValues) -> FormValues:
    """A form's typed text, cleaned as an email's is (control and direction characters)."""
    return {k: tidy(v) if isinstance(v, str) else v for k, v in values.items()}


def failed(exc: Exception, what: str) -> str:
    """Log a failed call (one line if the database is away, else the trace) and give the
    sentence to answer with. Never the person's words: they may quote an email."""
    if database_unreachable(exc):
        log.error("%s failed: the database can't be reached", what)
        return DATABASE_AWAY
    log.exception("%s failed", what)
    return SORRY


class Calls:
    def __init__(self, catalogue: Catalogue, teams: Mapping[str, Team]) -> None:
        self.catalogue = catalogue
        self.teams = teams

    # ---- which team, and from where ---------------------------------------------------

    def team_for(self, place: Place, actor: str, named: str | None = None) -> Team | str:
        """The team a request is for: the one ``named`` (a button carries it), the channel's,
        or in a DM, App Home or the shell, the person's own. A string is the refusal."""
        if named:
            team = self.teams.get(named)
            if team is None:
                return OUT_OF_DATE
            return team if self._allowed_place(place, team) else WRONG_PLACE
        for team in self.teams.values():
            if place.channel and place.channel == team.cfg.channel:
                return team
        if place.kind == "channel":
            return WRONG_PLACE
        for team in self.teams.values():
            if team.roster.knows(actor):
                return team
        return NOT_ON_TEAM

    @staticmethod
    def _allowed_place(place: Place, team: Team) -> bool:
        """Task actions come from the team's channel, a DM with the bot, App Home or the shell."""
        return place.kind != "channel" or place.channel == team.cfg.channel

    # ---- the calls --------------------------------------------------------------------

    def command(self, actor: str, place: Place, line: str) -> Reply:
        """A `/duty` line."""
        team = self.team_for(place, actor)
        if isinstance(team, str):
            return refusal(team)
        call = self.catalogue.read(line)
        if isinstance(call, Invalid):
            return refusal(call.message, team.cfg.name)
        return self._run(team, actor, place, call)

    def press(
        self,
        actor: str,
        place: Place,
        verb_name: str,
        value: str,
        prefill: Mapping[str, str] | None = None,
    ) -> Reply | FormView:
        """A button: ``value`` is "team:words" (or the words alone, from older buttons). A verb
        with a form opens it instead of running, its text fields started from ``prefill``
        (outside text, cleaned here)."""
        named, _, args = value.rpartition(":")
        verb = self.catalogue.verb(verb_name)
        team = self.team_for(place, actor, named or None)
        if isinstance(team, str):
            return refusal(team)
        if verb is None:
            return refusal(OUT_OF_DATE, team.cfg.name)
        if not verb.who.permits(team.roster, actor):
            return refusal(verb.who.refusal_for(team.roster, actor), team.cfg.name)
        if verb.form is not None:
            try:
                form = verb.form(team.cfg, args)
                if verb.fill is not None:
                    form = verb.fill(team.service(verb.on), args, form)
            except (Bad, ValueError):
                return refusal(OUT_OF_DATE, team.cfg.name)
            except Refused as no:
                return refusal(no.reply, team.cfg.name)
            except Exception as exc:
                return refusal(failed(exc, f"form {verb.name}"), team.cfg.name)
            initial = {name: tidy(said) for name, said in (prefill or {}).items()}
            return FormView(verb.name, team.cfg.name, args, form.filled(initial))
        try:
            call = Call(verb, verb.read(verb.words(tokens(args))))
        except Bad:
            return refusal(OUT_OF_DATE, team.cfg.name)
        return self._quiet(verb, self._run(team, actor, place, call))

    def submit(
        self, actor: str, verb_name: str, team_name: str, args: str, values: FormValues
    ) -> Reply:
        """A form sent back: run its verb on the words it was opened for and the values."""
        verb = self.catalogue.verb(verb_name)
        team = self.teams.get(team_name)
        if verb is None or verb.form is None or verb.from_form is None or team is None:
            return refusal(FORM_OUT_OF_DATE)
        try:
            first = verb.form(team.cfg, args).fields[0].name  # where a refusal is shown
            call = Call(verb, verb.from_form(args, _cleaned(values)))
        except Refused as no:
            return refusal(no.reply, team.cfg.name, no.field)
        except (Bad, ValueError):
            return refusal(FORM_OUT_OF_DATE, team.cfg.name)
        reply = self._run(team, actor, Place("dm"), call)
        if reply.refused and reply.field is None:
            return refusal(reply.message, reply.team, first)
        return self._quiet(verb, reply)

    @staticmethod
    def _quiet(verb: Verb[Any, Any], reply: Reply) -> Reply:
        """A verb whose card shows what a button or form did says nothing more."""
        return replace(reply, quiet=verb.quiet_button and not reply.refused)

    def home(self, actor: str) -> tuple[str, Any] | str:
        """(team, what their home page shows), or the plain sentence to show instead."""
        team = self.team_for(Place("home"), actor)
        if isinstance(team, str):
            return team
        return team.cfg.name, team.home(actor)

    def _run(self, team: Team, actor: str, place: Place, call: Call) -> Reply:
        verb: Verb[Any, Any] = call.verb
        name = team.cfg.name
        if not verb.who.permits(team.roster, actor):
            return refusal(verb.who.refusal_for(team.roster, actor), name)
        if verb.only_in is not None and place.kind != verb.only_in:
            return refusal(verb.elsewhere, name)
        try:
            return Reply(verb.run(team.service(verb.on), actor, call.args), name)
        except Refused as no:
            return refusal(no.reply, name, no.field)
        except Exception as exc:
            return refusal(failed(exc, f"command {verb.name}"), name)  # not the words: privacy
