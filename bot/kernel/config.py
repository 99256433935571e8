"""The config file: one or more teams, their mailbox and channel, and the bot's settings.

Validated with pydantic; every problem becomes one plain line (key, what's wrong, what's expected).
Secrets never live in the file: keys ending in ``_env`` name the environment variable to read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.kernel.triage_words import (
    ACCOMMODATION_NOT_WORDS,
    ACCOMMODATION_WORDS,
    FINANCIAL_NOT_WORDS,
    FINANCIAL_WORDS,
    SAFEGUARDING_NOT_WORDS,
    SAFEGUARDING_WORDS,
    URGENT_NOT_WORDS,
    URGENT_WORDS,
)

NATIONS = ("ENG", "SCT", "WLS", "NIR")
# What a card shows of an email (bot.mail.redaction). minimal: no subject, no names, no
# preview: the sender's organisation (their email domain).
PreviewMode = Literal["minimal", "redacted", "subject-only", "full"]
SECRET_WORDS = ("password", "secret", "token", "signing")
# Teams: a person is their Entra object id (a GUID) or their work email address.
ENTRA_ID: Final = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_GUID_EXAMPLE: Final = "6f1c2e3a-0b4d-4e5f-9a8b-7c6d5e4f3a2b"


class ConfigError(Exception):
    """The config can't be used. ``problems`` holds one plain line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FolderMailboxConfig(_Strict):
    kind: Literal["folder"] = "folder"
    path: str = ".dutybot/inbox"
    seed_from: str | None = None  # demo only: copy these sample emails in when path is new
    done_folder: str = "Done"
    outbox_folder: str = "Outbox"
    poll_seconds: float = Field(default=5.0, gt=0)


class EwsMailboxConfig(_Strict):
    kind: Literal["ews"]
    address: str
    endpoint: str
    auth: Literal["oauth", "ntlm", "basic"] = "oauth"
    username: str | None = None
    password_env: str = "DUTYBOT_EWS_PASSWORD"
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret_env: str = "DUTYBOT_EWS_CLIENT_SECRET"
    autodiscover: bool = False
    server_version: str | None = None
    max_connections: int = Field(default=2, ge=2)
    max_retry_seconds: int = Field(default=60, ge=1, le=600)
    done_folder: str = "Duty/Done"
    streaming: bool = True
    poll_seconds: float = Field(default=30.0, gt=0)
    categorise: bool = False
    verify_tls: bool = True

    @model_validator(mode="after")
    def _auth_needs(self) -> EwsMailboxConfig:
        if self.auth == "oauth" and not (self.client_id and self.tenant_id):
            raise ValueError("OAuth needs client_id and tenant_id; expected both set")
        if self.auth in ("ntlm", "basic") and not self.username:
            raise ValueError(f"{self.auth} sign-in needs a username; expected username = '...'")
        return self


class GraphMailboxConfig(_Strict):
    kind: Literal["graph"]
    address: str
    tenant_id: str
    client_id: str
    client_secret_env: str = "DUTYBOT_GRAPH_CLIENT_SECRET"
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    done_folder: str = "Duty/Done"
    # The longest wait between looks at a quiet inbox; 2 s just after mail (bot/mail/pace.py).
    poll_seconds: float = Field(default=4.0, gt=0)
    categorise: bool = False


MailboxConfig = Annotated[
    FolderMailboxConfig | EwsMailboxConfig | GraphMailboxConfig, Field(discriminator="kind")
]


class RotaDayConfig(_Strict):
    """Who holds each duty role on one weekday, by user id; any may be left out."""

    manager: str | None = None
    pa1: str | None = None
    pa2: str | None = None
    backup: str | None = None


class WeeklyRotaConfig(_Strict):
    """The default weekly rota; `/duty rota set` overrides it for a date or a weekday."""

    mon: RotaDayConfig | None = None
    tue: RotaDayConfig | None = None
    wed: RotaDayConfig | None = None
    thu: RotaDayConfig | None = None
    fri: RotaDayConfig | None = None

    def of_weekday(self, weekday: int) -> dict[str, str]:
        """Role -> user id for Monday (0) .. Friday (4); empty for a weekend."""
        if weekday > 4:
            return {}
        day = getattr(self, ("mon", "tue", "wed", "thu", "fri")[weekday])
        return {k: v for k, v in day.model_dump().items() if v} if day else {}


# ---- unallocated cases: the register's clocks (seeds/001, 002, 003) ------------------------

CasePolicyName = Literal["practice-guide", "targeted-family-support", "walsall"]
EscalationRole = Literal["service_manager", "group_manager", "head_of_service"]
ESCALATION_ROLES: Final[tuple[EscalationRole, ...]] = (
    "service_manager",
    "group_manager",
    "head_of_service",
)
Off = Literal["off"]  # in config: drop a deadline or an escalation the preset has
MAX_DAYS: Final = 3650


def _days_from(least: int) -> Any:
    """A validator for "N days" or "off", with one plain complaint for anything else."""

    def check(value: Any) -> Any:
        if value is None or value == "off":
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f'{value!r} is not a number of days; expected a whole number or "off"')
        if not least <= value <= MAX_DAYS:
            raise ValueError(f"{value} days is not allowed; expected {least} to {MAX_DAYS}")
        return value

    return check


@dataclass(frozen=True)
class CaseRules:
    """The numbers one team's case clocks run on: a preset with the team's overrides applied.

    None means the policy sets no such deadline. Calendar-day clocks whose date falls on a
    non-working day come back to the working day before (never later than the policy says);
    working-day clocks don't count the day the case became unallocated.
    """

    policy: str
    review_days: int  # a manager review at least every N calendar days
    ray_review_days: int | None  # the RAY rating reviewed every N calendar days
    summary_working_days: int | None  # case summary within N working days
    oversight_note_days: int | None  # management oversight note once unallocated N days
    contact_days: int | None  # first contact with the child within N days
    visit_days: int | None  # first visit within N days
    letter_working_days: int | None  # letter to family and agencies (0: the day it starts)
    escalate_after_days: tuple[tuple[EscalationRole, int], ...]  # (role, days unallocated)


CASE_POLICIES: Final[dict[str, CaseRules]] = {
    # seeds/003 (practice guide, the default): reviewed "every 10 days"; a letter to the family
    # and agencies "within 5 working days"; the service manager told "as soon as a child is
    # known to be unallocated"; the head of service "on day 10".
    "practice-guide": CaseRules(
        policy="practice-guide",
        review_days=10,
        ray_review_days=None,
        summary_working_days=None,
        oversight_note_days=None,
        contact_days=None,
        visit_days=None,
        letter_working_days=5,
        escalate_after_days=(("service_manager", 0), ("head_of_service", 10)),
    ),
    # seeds/001 (Targeted Family Support): reviewed "every two weeks"; RAY ratings reviewed
    # "on a minimum weekly basis"; a case summary "within 3 working days"; management oversight
    # if unallocated "over a week"; contact "within 1 week", a visit "within 2 weeks"; the
    # service manager "after a 4-week period", the head of service "within a 6-week period".
    "targeted-family-support": CaseRules(
        policy="targeted-family-support",
        review_days=14,
        ray_review_days=7,
        summary_working_days=3,
        oversight_note_days=7,
        contact_days=7,
        visit_days=14,
        letter_working_days=None,
        escalate_after_days=(("service_manager", 28), ("head_of_service", 42)),
    ),
    # seeds/002 (Walsall): reviewed "on a weekly basis"; letters sent when the case can't be
    # allocated; the group manager "for a period of four weeks".
    "walsall": CaseRules(
        policy="walsall",
        review_days=7,
        ray_review_days=None,
        summary_working_days=None,
        oversight_note_days=None,
        contact_days=None,
        visit_days=None,
        letter_working_days=0,
        escalate_after_days=(("group_manager", 28),),
    ),
}


class EscalationDaysConfig(_Strict):
    """Days unallocated before each role is told. Leave out to keep the preset's; "off" drops it."""

    service_manager: int | Off | None = None
    group_manager: int | Off | None = None
    head_of_service: int | Off | None = None

    _days = field_validator("*", mode="before")(_days_from(0))


class EscalationPeopleConfig(_Strict):
    """Who holds each escalation role, as a Slack user id."""

    service_manager: str | None = None
    group_manager: str | None = None
    head_of_service: str | None = None


class WeeklyReportConfig(_Strict):
    enabled: bool = True
    day: Literal["mon", "tue", "wed", "thu", "fri"] = "mon"  # a bank holiday: the next working day
    time: dt.time = dt.time(9, 0)
    channel: str | None = None  # default: the team's channel


class CasesConfig(_Strict):
    """`[teams.cases]`: a preset policy, any number overridden, the people, the weekly report."""

    policy: CasePolicyName = "practice-guide"
    review_days: int | None = None
    ray_review_days: int | Off | None = None
    summary_working_days: int | Off | None = None
    oversight_note_days: int | Off | None = None
    contact_days: int | Off | None = None
    visit_days: int | Off | None = None
    letter_working_days: int | Off | None = None
    escalate_after_days: EscalationDaysConfig = Field(default_factory=EscalationDaysConfig)
    people: EscalationPeopleConfig = Field(default_factory=EscalationPeopleConfig)
    weekly_report: WeeklyReportConfig = Field(default_factory=WeeklyReportConfig)

    _every = field_validator("review_days", "ray_review_days", mode="before")(_days_from(1))
    _within = field_validator(
        "summary_working_days", "oversight_note_days", "contact_days", "visit_days",
        "letter_working_days", mode="before",
    )(_days_from(0))  # fmt: skip

    def rules(self) -> CaseRules:
        """The preset, with every number this team set in its place."""
        base = CASE_POLICIES[self.policy]

        def pick(name: str) -> int | None:
            mine = getattr(self, name)
            if mine is None:
                return getattr(base, name)  # type: ignore[no-any-return]
            return None if mine == "off" else int(mine)

        ladder = dict(base.escalate_after_days)
        for role in ESCALATION_ROLES:
            mine = getattr(self.escalate_after_days, role)
            if mine == "off":
                ladder.pop(role, None)
            elif mine is not None:
                ladder[role] = int(mine)
        return CaseRules(
            policy=self.policy,
            review_days=self.review_days or base.review_days,
            ray_review_days=pick("ray_review_days"),
            summary_working_days=pick("summary_working_days"),
            oversight_note_days=pick("oversight_note_days"),
            contact_days=pick("contact_days"),
            visit_days=pick("visit_days"),
            letter_working_days=pick("letter_working_days"),
            escalate_after_days=tuple(sorted(ladder.items(), key=lambda kv: (kv[1], kv[0]))),
        )


# ---- triage: categories and hints, from the words of an email or a logged contact -----------


class CategoryConfig(_Strict):
    """A kind of request the team keeps an eye on, and the words that suggest it."""

    name: str
    words: list[str] = Field(min_length=1)
    not_words: list[str] = Field(default_factory=list)  # phrases whose words don't count
    oversight: bool = False  # each new one tells today's duty manager; the handover lists them

    @field_validator("name")
    @classmethod
    def _short(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", v):
            raise ValueError(f"'{v}' is not a short name; expected lower case, like financial")
        return v


def _default_categories() -> list[CategoryConfig]:
    return [
        CategoryConfig(
            name="financial",
            words=list(FINANCIAL_WORDS),
            not_words=list(FINANCIAL_NOT_WORDS),
            oversight=True,
        ),
        CategoryConfig(
            name="accommodation",
            words=list(ACCOMMODATION_WORDS),
            not_words=list(ACCOMMODATION_NOT_WORDS),
            oversight=True,
        ),
    ]


class HintNotWordsConfig(_Strict):
    """Phrases whose words make no hint there: "police checks" (for a job), "not urgent"."""

    safeguarding: list[str] = Field(default_factory=lambda: list(SAFEGUARDING_NOT_WORDS))
    urgent: list[str] = Field(default_factory=lambda: list(URGENT_NOT_WORDS))


class HintsConfig(_Strict):
    """Words that make a hint, not a flag: the card asks whether the task is safeguarding (or
    urgent), and a person decides."""

    safeguarding: list[str] = Field(default_factory=lambda: list(SAFEGUARDING_WORDS))
    urgent: list[str] = Field(default_factory=lambda: list(URGENT_WORDS))
    not_words: HintNotWordsConfig = Field(default_factory=HintNotWordsConfig)


ACK_TEXT: Final = (
    "Thank you for your email. The duty team has received it and will get back to you as "
    "soon as we can. Your reference number is {number}.\n\n"
    "If it is urgent, please ring the duty team on {phone}, Monday to Friday, 9am to 5pm. "
    "If someone is in immediate danger, call 999.\n\n"
    "The duty team"
)
ACK_PLACES: Final = ("number", "phone")  # what an acknowledgement's text may have filled in
NO_PHONE: Final = "[duty phone number]"  # where the phone goes while none is set


class AcknowledgementConfig(_Strict):
    """The reply `/duty ack` sends to an email's sender: {number} is the task number, {phone}
    the team's duty phone number."""

    text: str = ACK_TEXT
    phone: str = ""

    @field_validator("text")
    @classmethod
    def _places(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the acknowledgement is empty; expected a few sentences")
        for place in re.findall(r"\{([^{}]*)\}", v):
            if place not in ACK_PLACES:
                raise ValueError(
                    f"{{{place}}} is not something the bot can fill in; expected {{number}} "
                    "or {phone}"
                )
        return v

    def filled(self, number: int) -> str:
        # replace, not str.format: braces in the text stay as they are
        phone = self.phone.strip() or NO_PHONE
        return self.text.replace("{number}", str(number)).replace("{phone}", phone)


# ---- the people directory: team leaders and who is in today ---------------------------------


class PersonConfig(_Strict):
    """One person in `[teams.people.table]`: their mailbox, name and team leader."""

    email: str | None = None
    name: str | None = None
    team_leader: str | None = None  # a user id in this table, or an email address

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", v):
            raise ValueError(f"'{v}' is not an email address; expected name@council.example")
        return v


class PeopleConfig(_Strict):
    """`[teams.people]`: where team leaders come from, and automatic replies and free/busy."""

    source: Literal["config", "file", "ews", "graph"] = "config"  # team leaders
    availability: Literal["none", "file", "ews", "graph"] = "none"  # replies, free/busy
    file: str | None = None  # the people file, for "file"
    table: dict[str, PersonConfig] = Field(default_factory=dict)  # user id -> person
    cache_minutes: float = Field(default=5.0, gt=0, le=60)
    wait_seconds: float = Field(default=1.5, gt=0, le=2.0)  # Slack wants an answer in 3

    @model_validator(mode="after")
    def _file_named(self) -> PeopleConfig:
        if "file" in (self.source, self.availability) and not self.file:
            raise ValueError('the "file" source needs file = "path/to/people.toml"')
        return self


class TeamConfig(_Strict):
    name: str
    channel: str = Field(min_length=1)
    members: list[str] = Field(default_factory=list)
    managers: list[str] = Field(default_factory=list)
    # In Teams: the Microsoft 365 group id of the Team that holds ``channel`` (the channel's
    # conversation id, 19:...@thread.tacv2); it lets a card be found again after a crash.
    msteams_team: str | None = None
    member_group: str | None = None  # Slack user group id, e.g. S0123ABC
    manager_group: str | None = None
    alert_group: str | None = None  # if set, alerts and workers only from this user group
    names: dict[str, str] = Field(default_factory=dict)  # user id -> display name
    timezone: str = "Europe/London"
    nation: str = "ENG"
    closures: list[date] = Field(default_factory=list)  # extra non-working days
    resolve_note_required: bool = True
    rota: WeeklyRotaConfig = Field(default_factory=WeeklyRotaConfig)
    mailbox: MailboxConfig = Field(default_factory=FolderMailboxConfig)
    cases: CasesConfig = Field(default_factory=CasesConfig)
    categories: list[CategoryConfig] = Field(default_factory=_default_categories)
    hints: HintsConfig = Field(default_factory=HintsConfig)

    acknowledgement: AcknowledgementConfig = Field(default_factory=AcknowledgementConfig)

    people: PeopleConfig = Field(default_factory=PeopleConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", v):
            raise ValueError(
                f"'{v}' is not a short name; expected lower case letters, digits and dashes, "
                "like care-experienced"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"'{v}' is not a time zone; expected an IANA name like Europe/London"
            ) from None
        return v

    @field_validator("nation")
    @classmethod
    def _nation(cls, v: str) -> str:
        if v.upper() not in NATIONS:
            raise ValueError(f"'{v}' is not a UK nation; expected one of {', '.join(NATIONS)}")
        return v.upper()

    @model_validator(mode="after")
    def _someone(self) -> TeamConfig:
        if not (self.managers or self.manager_group):
            raise ValueError("a team needs at least one manager; expected managers = ['U...']")
        return self

    @model_validator(mode="after")
    def _people_mailbox(self) -> TeamConfig:
        # Exchange answers through the duty mailbox: its own address and sign-in.
        for key in ("source", "availability"):
            wanted = getattr(self.people, key)
            if wanted in ("ews", "graph") and self.mailbox.kind != wanted:
                raise ValueError(
                    f'people.{key} = "{wanted}" asks Exchange through the duty mailbox; '
                    f'expected [teams.mailbox] kind = "{wanted}"'
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def display_name(self, user_id: str) -> str:
        return self.names.get(user_id, user_id)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///.dutybot/dutybot.db"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql")):
            raise ValueError(
                "expected a sqlite:///path or postgresql+psycopg://user@host/db address"
            )
        return v


class PrivacyConfig(_Strict):
    preview: PreviewMode = "redacted"


class SlackConfig(_Strict):
    mode: Literal["socket", "http"] = "socket"
    api_url: str = "https://slack.com/api/"
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    # Seconds between posts to one channel: Slack allows about one a second per channel.
    pace_seconds: float = Field(default=1.0, ge=0, le=60)


class TeamsAppConfig(_Strict):
    """`[teams_app]`: the Azure Bot (single tenant) that speaks for dutybot in Microsoft Teams.
    The client secret is read only from the environment variable ``client_secret_env``."""

    app_id: str = ""  # the Azure Bot's Microsoft App ID (its Entra app's client id)
    tenant_id: str = ""  # the council's Entra tenant id
    client_secret_env: str = "DUTYBOT_TEAMS_CLIENT_SECRET"
    # Where Teams' Bot Connector is for proactive posts (cards, DMs); Teams tells the bot its
    # own in each request, and the bot then uses that one. A local fake for testing.
    service_url: str = "https://smba.trafficmanager.net/teams/"
    # Microsoft Graph, to find a card posted just before a crash (channel messages).
    graph_url: str = "https://graph.microsoft.com/v1.0"
    # Where to serve /api/messages (behind the council's HTTPS reverse proxy), /healthz and
    # /metrics.
    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    # Seconds between posts to one conversation (Teams allows about one a second per thread).
    pace_seconds: float = Field(default=1.0, ge=0, le=60)
    # How long to back off in all, across retries on 429 and 5xx, before leaving it for later.
    retry_seconds: float = Field(default=30.0, ge=0, le=600)

    @field_validator("app_id", "tenant_id")
    @classmethod
    def _guid(cls, v: str) -> str:
        if v and not ENTRA_ID.fullmatch(v):
            raise ValueError(f"'{v}' is not an Entra id; expected a GUID like {_GUID_EXAMPLE}")
        return v.lower()


class RetentionConfig(_Strict):
    email_content_days: int = Field(default=30, ge=1)


class LogConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False


class StatusConfig(_Strict):
    """Socket Mode only: a small HTTP server for /healthz and /metrics (HTTP mode serves
    them beside /slack/events). On by default, on loopback, so nothing is exposed."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=3001, ge=1, le=65535)


class HandoverConfig(_Strict):
    time: dt.time = dt.time(16, 30)
    late: Literal["post", "skip"] = "post"  # a handover missed beyond the grace (bot was down)
    email: bool = True  # also email it to the duty inbox


class OfficeHoursConfig(_Strict):
    """When nudges may go out, on working days, in the team's time zone."""

    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)

    @model_validator(mode="after")
    def _order(self) -> OfficeHoursConfig:
        if self.end <= self.start:
            raise ValueError(
                f"office hours end ({self.end:%H:%M}) must come after they start "
                f"({self.start:%H:%M})"
            )
        return self


class NudgesConfig(_Strict):
    unclaimed_minutes: int = Field(default=30, ge=1)  # office minutes before the first reminder
    unclaimed_repeat_minutes: int = Field(default=60, ge=1)
    safeguarding_minutes: int = Field(default=10, ge=1)
    safeguarding_repeat_minutes: int = Field(default=60, ge=1)
    stale_claim_hours: float = Field(default=4.0, gt=0)  # working hours with no event
    rota_missing_by: dt.time = dt.time(15, 0)  # tell managers if tomorrow's rota is empty


class SchedulerConfig(_Strict):
    tick_seconds: int = Field(default=60, ge=5, le=600)  # how often nudges are looked for
    misfire_grace_minutes: int = Field(default=30, ge=0)  # a late handover still counts
    lease_seconds: int = Field(default=180, ge=15)  # another process takes over after this

    @model_validator(mode="after")
    def _renewed_in_time(self) -> SchedulerConfig:
        if self.lease_seconds < 2 * self.tick_seconds:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds}) must be at least twice tick_seconds "
                f"({self.tick_seconds}), so the lease is renewed before it runs out"
            )
        return self


class Config(_Strict):
    chat: Literal["shell", "slack", "teams"] = "shell"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    teams_app: TeamsAppConfig = Field(default_factory=TeamsAppConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    handover: HandoverConfig = Field(default_factory=HandoverConfig)
    office_hours: OfficeHoursConfig = Field(default_factory=OfficeHoursConfig)
    nudges: NudgesConfig = Field(default_factory=NudgesConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    teams: list[TeamConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_teams(self) -> Config:
        names = [t.name for t in self.teams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"team names must be unique; '{dupes[0]}' appears more than once")
        return self

    def team(self, name: str | None = None) -> TeamConfig:
        if name is None:
            return self.teams[0]
        for t in self.teams:
            if t.name == name:
                return t
        raise KeyError(name)


def _secret_keys(data: Any, path: str = "") -> list[str]:
    """Keys that look like a secret written into the file instead of the environment."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, dict | list):
                found += _secret_keys(value, where)
            elif any(w in str(key).lower() for w in SECRET_WORDS) and not str(key).endswith("_env"):
                found.append(
                    f"{where}: secrets may not be written in the config file; "
                    f"expected {key}_env naming an environment variable"
                )
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found += _secret_keys(item, f"{path}[{i}]")
    return found


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("folder", "ews", "graph"):  # the discriminator's branch name adds nothing
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _plain(err: dict[str, Any]) -> str:
    where = _where(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key; expected one of the keys in config.example.toml"
    if kind == "missing":
        return f"{where}: missing; expected a value (see config.example.toml)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error" or kind.startswith(("greater", "less")):
        return f"{where}: {err.get('input')!r} is not allowed; {msg[:1].lower() + msg[1:]}"
    base = kind.removesuffix("_type").removesuffix("_parsing")
    if base != kind:
        wanted = _WANTED.get(base, msg.removeprefix("Input should be ").split(",")[0])
        return f"{where}: {err.get('input')!r} is the wrong kind of value; expected {wanted}"
    return f"{where}: {msg}"


# What to write instead, for pydantic's "wrong type" errors (keyed by type without suffix).
_WANTED: dict[str, str] = {
    "string": "text in quotes",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": 'a list, like ["U012AB3CD"]',
    "dict": "a table of keys",
    "time": "a time, like 16:30:00",
    "date": "a date, like 2026-12-25",
    "datetime": "a date and time, like 2026-12-25T09:00:00",
}


# Slack's ids: people U012AB3CD (W... on Enterprise Grid), user groups S0123ABCD.
SLACK_USER_ID: Final = re.compile(r"[UW][A-Z0-9]+")
SLACK_GROUP_ID: Final = re.compile(r"S[A-Z0-9]+")
_USER_ID_WANTED: Final = (
    "expected an id like U012AB3CD (in Slack: the person's profile, ⋮, Copy member ID)"
)
_GROUP_ID_WANTED: Final = "expected a user group id like S0123ABCD"


def named_people(team: TeamConfig) -> set[str]:
    """Everyone a team's config names, by the id or address it names them by."""
    return {who for _, who in _user_ids(team)}


def _user_ids(team: TeamConfig) -> list[tuple[str, str]]:
    """(key, user id) for every place a team's config names a person."""
    found = [("members", u) for u in team.members] + [("managers", u) for u in team.managers]
    found += [("names", u) for u in team.names]
    for day in ("mon", "tue", "wed", "thu", "fri"):
        roles = getattr(team.rota, day)
        if roles is not None:
            found += [(f"rota.{day}.{r}", u) for r, u in roles.model_dump().items() if u]
    found += [(f"cases.people.{r}", u) for r, u in team.cases.people.model_dump().items() if u]
    for who, person in team.people.table.items():
        found.append(("people.table", who))
        if person.team_leader and "@" not in person.team_leader:
            found.append((f"people.table.{who}.team_leader", person.team_leader))
    return found


def slack_id_problems(cfg: Config) -> list[str]:
    """With chat = "slack", every user or group id that isn't a Slack one (a shell name like
    "sam", say): one line each. The shell takes any name, so it has none."""
    if cfg.chat != "slack":
        return []
    problems: list[str] = []
    for i, team in enumerate(cfg.teams):
        for key, who in dict.fromkeys(_user_ids(team)):
            if not SLACK_USER_ID.fullmatch(who):
                problems.append(
                    f'teams[{i}].{key}: "{who}" is not a Slack user id; {_USER_ID_WANTED}'
                )
        for key in ("member_group", "manager_group", "alert_group"):
            group = getattr(team, key)
            if group is not None and not SLACK_GROUP_ID.fullmatch(group):
                problems.append(
                    f'teams[{i}].{key}: "{group}" is not a Slack user group id; {_GROUP_ID_WANTED}'
                )
    return problems


WORK_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TEAMS_CHANNEL: Final = re.compile(r"19:[^\s]+@thread\.(tacv2|skype)")


def teams_id_problems(cfg: Config) -> list[str]:
    """With chat = "teams", every person that isn't an Entra object id or an email address,
    and a channel that isn't a Teams channel id: one line each."""
    if cfg.chat != "teams":
        return []
    problems: list[str] = []
    for key in ("app_id", "tenant_id"):
        if not getattr(cfg.teams_app, key):
            problems.append(
                f"teams_app.{key}: missing; expected the Azure Bot's {key.replace('_', ' ')}, "
                f"a GUID like {_GUID_EXAMPLE}"
            )
    for i, team in enumerate(cfg.teams):
        for key, who in dict.fromkeys(_user_ids(team)):
            if not (ENTRA_ID.fullmatch(who) or WORK_EMAIL.fullmatch(who)):
                problems.append(
                    f'teams[{i}].{key}: "{who}" is not a Teams user; expected an Entra object '
                    f"id like {_GUID_EXAMPLE} or a work email address"
                )
        if not TEAMS_CHANNEL.fullmatch(team.channel):
            problems.append(
                f'teams[{i}].channel: "{team.channel}" is not a Teams channel id; expected one '
                "like 19:abc123@thread.tacv2 (in Teams: the channel's ⋯, Get link to channel)"
            )
        if team.msteams_team is None:
            problems.append(
                f"teams[{i}].msteams_team: missing; expected the id of the Team the channel is "
                "in (its groupId), so a card posted just before a crash is found, not posted twice"
            )
        for key in ("member_group", "manager_group", "alert_group", "msteams_team"):
            group = getattr(team, key)
            if group is not None and not ENTRA_ID.fullmatch(group):
                problems.append(
                    f'teams[{i}].{key}: "{group}" is not a Microsoft 365 group id; expected a '
                    f"GUID like {_GUID_EXAMPLE}"
                )
    return problems


def parse_config(data: dict[str, Any]) -> Config:
    problems = _secret_keys(data)
    secret_keys = {p.split(":")[0] for p in problems}
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            if e["type"] == "extra_forbidden" and _where(e["loc"]) in secret_keys:
                continue  # already said: it's a secret in the file
            problems.append(_plain(e))
        raise ConfigError(problems) from None
    problems += slack_id_problems(cfg) + teams_id_problems(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config. Relative paths in it are taken from the working folder."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{p}: can't be read ({exc.strerror}); expected a TOML file"]) from None
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML ({exc}); expected TOML syntax"]) from None
    return parse_config(data)


def secret(env_name: str) -> str | None:
    """Read a secret from the environment; None when unset."""
    value = os.environ.get(env_name)
    return value or None
