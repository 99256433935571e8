"""The config file: one or more teams, their mailbox and channel, and the bot's settings.

Validated with pydantic; every problem becomes one plain line (key, what's wrong, what's expected).
Secrets never live in the file: keys ending in ``_env`` name the environment variable to read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.redaction import PreviewMode

NATIONS = ("ENG", "SCT", "WLS", "NIR")
SECRET_WORDS = ("password", "secret", "token", "signing")


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
    poll_seconds: float = Field(default=30.0, gt=0)
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


class TeamConfig(_Strict):
    name: str
    channel: str = Field(min_length=1)
    members: list[str] = Field(default_factory=list)
    managers: list[str] = Field(default_factory=list)
    member_group: str | None = None  # Slack user group id, e.g. S0123ABC
    manager_group: str | None = None
    names: dict[str, str] = Field(default_factory=dict)  # user id -> display name
    timezone: str = "Europe/London"
    nation: str = "ENG"
    closures: list[date] = Field(default_factory=list)  # extra non-working days
    resolve_note_required: bool = True
    rota: WeeklyRotaConfig = Field(default_factory=WeeklyRotaConfig)
    mailbox: MailboxConfig = Field(default_factory=FolderMailboxConfig)

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


class RetentionConfig(_Strict):
    email_content_days: int = Field(default=30, ge=1)


class LogConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False


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
    chat: Literal["shell", "slack"] = "shell"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    log: LogConfig = Field(default_factory=LogConfig)
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
