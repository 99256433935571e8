"""SQLAlchemy models. Every table carries its team; all times are UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite drops the zone, so put it back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BigInteger ids on PostgreSQL, but INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Team(Base):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_task_number: Mapped[int] = mapped_column(Integer, default=0)


class Person(Base):
    """Who may act for a team, and in which role. Synced from config at start-up."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("team", "user_id", name="uq_people_team_user"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))  # member | manager


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("team", "number", name="uq_tasks_team_number"),
        Index("ix_tasks_team_state", "team", "state"),
        Index("ix_tasks_team_received", "team", "received_at"),
        Index("ix_tasks_team_resolved", "team", "resolved_at"),
        Index("ix_tasks_team_last_event", "team", "state", "last_event_at"),
        Index("ix_tasks_card", "card_state"),
        # Serves the delivery passes (storage.tasks.cards_to_post and cards_to_update).
        Index(
            "ix_tasks_team_card",
            "team",
            "card_state",
            text("(card_version > card_shown_version)"),
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | claimed | resolved
    subject: Mapped[str] = mapped_column(Text, default="")  # as shown on the card (redacted)
    sender: Mapped[str] = mapped_column(String(400), default="")
    preview: Mapped[str] = mapped_column(Text, default="")  # redacted, at most 300 chars
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[name, size], ...]
    web_link: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolve_note: Mapped[str | None] = mapped_column(Text, default=None)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    safeguarding: Mapped[bool] = mapped_column(Boolean, default=False)
    last_event_at: Mapped[datetime]
    # Card delivery: pending -> posting -> posted; version bumps on every change.
    card_state: Mapped[str] = mapped_column(String(16), default="pending")
    card_channel: Mapped[str | None] = mapped_column(String(64), default=None)
    card_ts: Mapped[str | None] = mapped_column(String(64), default=None)
    card_version: Mapped[int] = mapped_column(Integer, default=1)
    card_shown_version: Mapped[int] = mapped_column(Integer, default=0)
    content_purged_at: Mapped[datetime | None] = mapped_column(default=None)
    channel: Mapped[str] = mapped_column(String(16), default="email", server_default="email")
    logged_by: Mapped[str | None] = mapped_column(String(64), default=None)  # not by email
    worker: Mapped[str | None] = mapped_column(String(64), default=None)  # allocated worker
    acked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    hints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # Mail already in the inbox at the bot's first start: no unclaimed reminders while it
    # waits from then on, and no card of its own unless it is among the newest few.
    backlog: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Email(Base):
    __tablename__ = "emails"
    __table_args__ = (
        UniqueConstraint("team", "message_id", name="uq_emails_team_message_id"),
        Index("ix_emails_team_conversation", "team", "conversation_id"),
        Index("ix_emails_team_item", "team", "item_id"),
        Index("ix_emails_task", "task_id"),
        Index("ix_emails_move_state", "team", "move_state"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    message_id: Mapped[str] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998), default=None)
    conversation_id: Mapped[str | None] = mapped_column(String(512), default=None)
    item_id: Mapped[str | None] = mapped_column(String(512), default=None)
    web_link: Mapped[str | None] = mapped_column(Text, default=None)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_name: Mapped[str] = mapped_column(String(400), default="")
    from_addr: Mapped[str] = mapped_column(String(400), default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime]
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Moving to Done after resolve: "" (stays) | pending | moved
    move_state: Mapped[str] = mapped_column(String(16), default="")
    content_purged_at: Mapped[datetime | None] = mapped_column(default=None)


class Event(Base):
    """Append-only: who did what to a task or a case, when, with what note."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_team_at", "team", "at"),
        Index("ix_events_task_at", "task_id", "at"),
        Index("ix_events_team_kind_at", "team", "kind", "at"),
        Index("ix_events_case_at", "case_id", "at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FollowUp(Base):
    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_due", "team", "done_at", "due_at"),
        Index("ix_follow_ups_task", "task_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    owner: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    notified_at: Mapped[datetime | None] = mapped_column(default=None)


class Outbox(Base):
    """Chat messages waiting to go out (thread replies, DMs). Written with the event, sent after."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "team", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))  # thread | dm | channel | edit
    target: Mapped[str] = mapped_column(String(64), default="")  # user id for a DM
    body: Mapped[list[Any]] = mapped_column(JSON)  # Message parts
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Where it went (for kind "edit": the message to rewrite), so a purge can rewrite it.
    posted_channel: Mapped[str | None] = mapped_column(String(64), default=None)
    posted_ts: Mapped[str | None] = mapped_column(String(64), default=None)
    scrubbed_at: Mapped[datetime | None] = mapped_column(default=None)


class MailboxState(Base):
    """The mailbox checkpoint (EWS sync state, Graph delta link), saved after intake commits."""

    __tablename__ = "mailbox_state"

    team: Mapped[str] = mapped_column(ForeignKey("teams.name"), primary_key=True)
    checkpoint: Mapped[str | None] = mapped_column(Text, default=None)
    synced_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # The bot's first start on this mailbox (storage.tasks.begin_first_sync). A row from
    # before these columns, or made by a sync without them, has no started_at: that mailbox
    # started long ago and its mail is all taken in as it comes.
    started_at: Mapped[datetime | None] = mapped_column(default=None)  # by the wall clock
    take_from: Mapped[datetime | None] = mapped_column(default=None)  # older mail stays put
    caught_up_at: Mapped[datetime | None] = mapped_column(default=None)  # first sync done


# ---- the duty day's clocks: scheduled jobs, nudges, the scheduler lease, the rota ----------


class JobRun(Base):
    """One run of a scheduled job (the 16:30 handover of one day): the unique row makes it once."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("team", "job", "run_key", name="uq_job_runs_team_job_key"),
        Index("ix_job_runs_email", "team", "email_state"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    job: Mapped[str] = mapped_column(String(32))  # handover
    run_key: Mapped[str] = mapped_column(String(64))  # e.g. the day, 2026-11-23
    ran_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16), default="done")  # done | late | skipped
    actor: Mapped[str] = mapped_column(String(64), default="scheduler")
    # The handover email: "" (none) | pending | sent. Its content waits in `email` until sent.
    email_state: Mapped[str] = mapped_column(String(16), default="")
    email: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_sent_at: Mapped[datetime | None] = mapped_column(default=None)


class Nudge(Base):
    """When a reminder about one thing (a task, a follow-up, a day) was last sent."""

    __tablename__ = "nudges"
    __table_args__ = (
        UniqueConstraint("team", "kind", "subject", name="uq_nudges_team_kind_subject"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    kind: Mapped[str] = mapped_column(String(32))  # unclaimed | safeguarding | stale | ...
    subject: Mapped[str] = mapped_column(String(64))  # task id, follow-up id or a date
    last_sent_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=1)


class SchedulerLease(Base):
    """Who runs the clocks. Renewed while alive; anyone may take it once it has expired."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class RotaDay(Base):
    """Who holds a duty role on one date."""

    __tablename__ = "rota"
    __table_args__ = (UniqueConstraint("team", "day", "role", name="uq_rota_team_day_role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    day: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(16))  # manager | pa1 | pa2 | backup
    user_id: Mapped[str] = mapped_column(String(64))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


class RotaWeekly(Base):
    """The standing pattern: who holds a role every Monday (0) .. Friday (4)."""

    __tablename__ = "rota_weekly"
    __table_args__ = (
        UniqueConstraint("team", "weekday", "role", name="uq_rota_weekly_team_weekday_role"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    weekday: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


# ---- unallocated cases ---------------------------------------------------------------------


class Case(Base):
    """A child or young person waiting for a worker ("worked on duty"), by reference only.

    One row per reference; a case that becomes unallocated again starts a new spell on the
    same row (the events keep the earlier spells, and who did what). Dates the team gives
    (letters, contacts, visits) are local dates; the rest are UTC times. Due dates are not
    stored: bot.cases works them out from these facts and the team's policy.
    """

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("team", "ref", name="uq_cases_team_ref"),
        Index("ix_cases_team_state_since", "team", "state", "unallocated_since"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    ref: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | allocated | closed
    spell: Mapped[int] = mapped_column(Integer, default=1)  # bumps when it is unallocated again
    ray: Mapped[str | None] = mapped_column(String(8), default=None)  # red | amber | yellow
    ray_rated_at: Mapped[datetime | None] = mapped_column(default=None)
    team_manager: Mapped[str] = mapped_column(String(64))
    unallocated_since: Mapped[date] = mapped_column(Date)
    added_at: Mapped[datetime]
    last_review_at: Mapped[datetime | None] = mapped_column(default=None)
    summary_at: Mapped[datetime | None] = mapped_column(default=None)
    oversight_note_at: Mapped[datetime | None] = mapped_column(default=None)
    letter_on: Mapped[date | None] = mapped_column(Date, default=None)
    contact_on: Mapped[date | None] = mapped_column(Date, default=None)
    visit_on: Mapped[date | None] = mapped_column(Date, default=None)
    allocated_to: Mapped[str | None] = mapped_column(String(64), default=None)


class Cover(Base):
    """A spell when whoever had the duty phone handed it on, until they took it back."""

    __tablename__ = "cover"
    __table_args__ = (Index("ix_cover_team_open", "team", "ended_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(ForeignKey("teams.name"))
    person: Mapped[str] = mapped_column(String(64))  # who went out
    holder: Mapped[str] = mapped_column(String(64))  # who has the phone meanwhile
    started_at: Mapped[datetime]
    until: Mapped[datetime | None] = mapped_column(default=None)  # when they said they'd be back
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
