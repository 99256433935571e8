"""Phone cover: who answers the duty phone right now.

PA 1 has it by default. Going out on a duty task, whoever has it hands it on with
`/duty out [until TIME] [note]`, to the next on today's rota (PA 1, PA 2, back-up) who isn't
out themselves; `/duty back` takes it back. A duty manager may say either for someone
(`/duty out @sam`, `/duty back @sam`), for when they ring in. Each is a spell in `cover`.

While someone is out, the reminders meant for them (unclaimed, stale claims, follow-ups) go
to whoever has the phone (`CoverNow.forward`).

A spell ends only when they say `/duty back`, not when the time they gave passes: they may
be held up, and the phone must not go back to someone who isn't there. An hour after that
time, whoever has the phone and the person out each hear once. A spell lasts the working
day it began at most: the next day has its own rota, and nobody is out until they say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.chat.words import show
from bot.kernel.calendar import day_began
from bot.kernel.clean import tidy
from bot.kernel.errors import Refused
from bot.kernel.message import Action, Message, button, say, text, user
from bot.kernel.when import WhenError, parse_when
from bot.rota.rota import ROLE_NAMES, ROLES, DayRota, Rota
from bot.tasks.cards import clock_time
from storage import cover as cover_db
from storage import nudges as nudges_db
from storage import tasks as q
from storage.due import TeamDue

CHAIN: Final = ("pa1", "pa2", "backup")  # who has the phone: the first of these who is in
OVERDUE_AFTER: Final = timedelta(hours=1)  # past the time they gave, before anyone hears
OVERDUE: Final = "cover_overdue"  # its kind in the nudges table (once per spell)
NOTE_LIMIT: Final = 200


@dataclass(frozen=True)
class Spell:
    id: int
    person: str  # who is out
    holder: str  # who was handed the phone
    started_at: datetime
    until: datetime | None
    note: str


@dataclass(frozen=True)
class CoverNow:
    """Today's rota and who is out: who has the phone follows from them."""

    day: DayRota
    tz: ZoneInfo
    spells: dict[str, Spell] = field(default_factory=dict)  # person out -> their spell

    @property
    def chain(self) -> list[str]:
        return list(dict.fromkeys(self.day.people[r] for r in CHAIN if r in self.day.people))

    @property
    def holder(self) -> str | None:
        return next((p for p in self.chain if p not in self.spells), None)

    def is_out(self, who: str) -> bool:
        return who in self.spells

    def next_after(self, who: str) -> str | None:
        """Who would have the phone once ``who`` is out too."""
        return next((p for p in self.chain if p != who and p not in self.spells), None)

    def without(self, who: str) -> CoverNow:
        return replace(self, spells={p: s for p, s in self.spells.items() if p != who})

    def forward(self, who: str) -> str:
        """Who hears what is meant for ``who``: whoever has the phone while they are out."""
        if who in self.spells and self.holder:
            return self.holder
        return who

    def role(self, who: str) -> str:
        """Their role today, as shown ("PA 1"), or "" if they have none."""
        for role in (*CHAIN, *ROLES):
            if self.day.people.get(role) == who:
                return ROLE_NAMES[role]
        return ""

    def titled(self, who: str) -> Message:
        """ "PA 1 @sam", or "@sam" with no role today."""
        role = self.role(who)
        return say(f"{role} " if role else "", user(who))

    def with_role(self, who: str) -> Message:
        """ "@alex (PA 2)", or "@alex"."""
        role = self.role(who)
        return say(user(who), f" ({role})" if role else "")

    def out_until(self, who: str) -> str:
        """ " is out", " is out until 14:00"."""
        spell = self.spells.get(who)
        if spell is None or spell.until is None:
            return " is out"
        return f" is out until {clock_time(spell.until, self.tz)}"

    def line(self) -> Message:
        """ "Phone cover now: @alex (PA 1 @sam is out until 14:00)"."""
        holder = self.holder
        if holder is None:
            if not self.chain:
                return text("Phone cover now: nobody (no PA 1, PA 2 or back-up on today's rota).")
            return text("Phone cover now: nobody (everyone on today's rota is out).")
        outs = [say(self.titled(p), self.out_until(p)) for p in self.spells]
        if not outs:
            return say("Phone cover now: ", self.with_role(holder))
        return say("Phone cover now: ", user(holder), " (", _joined(outs, "; "), ")")


def _joined(parts: Iterable[Message], sep: str) -> Message:
    out = Message()
    for i, part in enumerate(parts):
        out = out + (sep if i else "") + part
    return out


@dataclass
class PhoneCover:
    """One team's phone cover: `/duty out`, `/duty back`, who has the phone, and the nudge
    when someone is long past the time they said they'd be back."""

    rota: Rota

    @property
    def name(self) -> str:
        return self.rota.name

    @property
    def tz(self) -> ZoneInfo:
        return self.rota.team.tz

    # ---- reading ------------------------------------------------------------------------

    def of(self, s: Session, day: date) -> CoverNow:
        since = datetime.combine(day, time(0), tzinfo=self.tz)
        spells = {
            c.person: Spell(c.id, c.person, c.holder, c.started_at, c.until, c.note)
            for c in cover_db.open_spells(s, self.name, since)
        }
        return CoverNow(self.rota.of_day(s, day), self.tz, spells)

    def of_day(self, day: date) -> CoverNow:
        with self.rota.db.session() as s:
            return self.of(s, day)

    def today(self) -> CoverNow:
        return self.of_day(self.rota.today())

    def show_rota(self, actor: str) -> Message:
        """`/duty rota`, with who has the phone now under today's rota."""
        today = self.rota.today()
        working = self.rota.cal.is_working_day(today)
        return self.rota.show(actor, cover=say("  ", self.today().line()) if working else None)

    # ---- /duty out and /duty back -------------------------------------------------------

    def _until(self, said: str, now: datetime) -> datetime:
        try:
            until = parse_when(said, now, self.tz)
        except WhenError as err:
            raise Refused(str(err)) from None
        today = now.astimezone(self.tz).date()
        if until <= now or until.astimezone(self.tz).date() != today:
            raise Refused(
                f"'{show(said)}' isn't later today. Say a time later today, or leave it out "
                "and say /duty back when you're back."
            )
        return until

    def _named(self, actor: str, person: str | None, refusal: str) -> str:
        """Who the line is about: the actor, or (for a duty manager) the person named."""
        if person is None or person == actor:
            return actor
        if not self.rota.roster.is_manager(actor):
            raise Refused(refusal)
        return person

    def out(self, actor: str, person: str | None, until: str, note: str) -> Message:
        who = self._named(
            actor, person, "Only a duty manager can send someone else out. To go out: /duty out"
        )
        me = who == actor
        now = self.rota.clock.now()
        today = self.rota.today()
        if not self.rota.cal.is_working_day(today):
            raise Refused("Today isn't a working day, so there is no duty phone to hand on.")
        back_by = self._until(until, now) if until else None
        note = " ".join(tidy(note).split())[:NOTE_LIMIT]
        with self.rota.db.session() as s:
            cover_db.lock_cover(s, self.name)  # one change of cover at a time: one wins
            c = self.of(s, today)
            self._can_go_out(c, who, me)
            nxt = c.next_after(who)
            if nxt is None:
                raise Refused(
                    "Nobody else on today's rota is in to take the duty phone, so it stays "
                    + ("with you." if me else "where it is.")
                    + " Ask the duty manager."
                )
            cover_db.start_spell(
                s, team=self.name, person=who, holder=nxt, at=now, until=back_by, note=note
            )
            shown = f" until {clock_time(back_by, self.tz)}" if back_by else ""
            why = f": {note}" if note else ""
            post = say(user(who), f" is out{shown}{why}. The duty phone is with ")
            post = post + c.with_role(nxt) + "."
            dm = say(
                user(who), f" is out{shown}{why}. You have the duty phone now (check it is "
                "diverted to you), and reminders meant for ", user(who),
                " come to you until they are back.",
            )  # fmt: skip
            told = {nxt: dm}
            if not me:
                told[who] = say(
                    user(actor), f" has put you down as out{shown}. The duty phone is with ",
                    c.with_role(nxt), ". Say /duty back when you're back.",
                )  # fmt: skip
            self._queue(s, now, post, told)
        if me:
            return say(f"You're out{shown}. The duty phone is with ", c.with_role(nxt)) + (
                ". Say /duty back when you're back."
            )
        return say(user(who), f" is out{shown}. The duty phone is with ", c.with_role(nxt), ".")

    def _can_go_out(self, c: CoverNow, who: str, me: bool) -> None:
        """Refuse, in one sentence naming who has the phone, unless ``who`` has it."""
        if c.is_out(who):
            since = clock_time(c.spells[who].started_at, self.tz)
            if me:
                raise Refused(f"You're already out (since {since}). Say /duty back when you are.")
            raise Refused(say(user(who), f" is already out (since {since})."))
        holder = c.holder
        if holder == who:
            return
        if holder is None:
            raise Refused(
                "Nobody has the duty phone: everyone on today's rota is out."
                if c.chain
                else "Nobody has the duty phone: today's rota has no PA 1, PA 2 or back-up."
            )
        if me and not c.day.on_duty(who) and not self.rota.roster.is_manager(who):
            raise Refused(
                say("You're not on today's rota, so the duty phone isn't yours to hand on. ")
                + say(c.with_role(holder), " has it.")
            )
        if me:
            raise Refused(say("The duty phone is with ", c.with_role(holder), ", not you."))
        raise Refused(say(user(who), " doesn't have the duty phone: ", c.with_role(holder), "."))

    def back(self, actor: str, person: str | None) -> Message:
        who = self._named(actor, person, "Only a duty manager can say someone else is back.")
        me = who == actor
        now = self.rota.clock.now()
        with self.rota.db.session() as s:
            cover_db.lock_cover(s, self.name)
            c = self.of(s, self.rota.today())
            spell = c.spells.get(who)
            if spell is None or not cover_db.end_spell(s, spell.id, now):
                if me:
                    raise Refused("You're not out, so there is nothing to take back.")
                raise Refused(say(user(who), " isn't out."))
            after = c.without(who)
            holder, before = after.holder, c.holder
            if holder == who:
                post = say(user(who), " is back and has the duty phone again.")
            elif holder:
                post = say(user(who), " is back. The duty phone stays with ", user(holder), ".")
            else:
                post = say(user(who), " is back.")
            told: dict[str, Message] = {}
            if not me:
                again = " You have the duty phone again." if holder == who else ""
                told[who] = say(user(actor), " has said you're back.", again)
            if before and before != holder and holder:
                told[before] = say(
                    user(who), " is back, so the duty phone goes back to ", user(holder),
                    ". Thank you for covering.",
                )  # fmt: skip
            self._queue(s, now, post, told)
        if holder == who:
            if me:
                return text("Welcome back. You have the duty phone again.")
            return say(user(who), " is back and has the duty phone again.")
        stays = say(" The duty phone stays with ", after.with_role(holder), ".") if holder else ""
        return say("Welcome back." if me else say(user(who), " is back."), stays)

    def _queue(
        self, s: Session, now: datetime, post: Message | None, dms: dict[str, Message]
    ) -> None:
        """The channel post and the DMs, in the same transaction as the change."""
        if post is not None:
            q.queue_message(
                s, team=self.name, kind="channel", target=self.rota.team.channel,
                body=post.to_json(), at=now,
            )  # fmt: skip
        for who, body in dms.items():
            q.queue_message(s, team=self.name, kind="dm", target=who, body=body.to_json(), at=now)

    # ---- the clock: long past the time they said ----------------------------------------

    def overdue(self, now: datetime, due: TeamDue | None = None) -> int:
        """Once per spell, an hour after the time someone said they'd be back and still out:
        a DM to whoever has the phone, and one to them with a Back button. Returns how many
        spells were told about. ``due`` (storage.due) says when nobody can be overdue yet."""
        if due is not None and (due.back_by is None or now < due.back_by + OVERDUE_AFTER):
            return 0
        with self.rota.db.session() as s:
            # First the one cheap question (nearly always "no"): is anyone overdue back?
            spells = cover_db.open_spells(s, self.name, day_began(now, self.tz))
            if not any(sp.until is not None and now >= sp.until + OVERDUE_AFTER for sp in spells):
                return 0
            c = self.of(s, now.astimezone(self.tz).date())
            told = nudges_db.last_nudges(s, self.name, OVERDUE)
        late = [
            sp for sp in c.spells.values()
            if sp.until is not None and now >= sp.until + OVERDUE_AFTER and str(sp.id) not in told
        ]  # fmt: skip
        sent = 0
        for spell in late:
            assert spell.until is not None
            by = clock_time(spell.until, self.tz)
            to = c.holder or c.day.manager
            try:
                with self.rota.db.session() as s:
                    nudges_db.record_nudge(
                        s, team=self.name, kind=OVERDUE, subject=str(spell.id), at=now,
                        previous=None,
                    )  # fmt: skip
                    dms: dict[str, Message] = {
                        spell.person: say(
                            f"You said you'd be back by {by}. When you are, say /duty back so "
                            "the duty phone comes back to you. ",
                            button(Action("I'm back", "back")),
                        )
                    }
                    if to and to != spell.person:
                        dms[to] = say(
                            user(spell.person), f" said they'd be back by {by} and hasn't said "
                            "they're back yet. You still have the duty phone. If you can't "
                            "reach them, tell the duty manager.",
                        )  # fmt: skip
                    self._queue(s, now, None, dms)
            except IntegrityError:
                continue  # another process told them first
            sent += 1
        return sent
