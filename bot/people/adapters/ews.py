"""The people directory on Exchange through EWS, asked as the duty mailbox, so it needs no
rights on anyone else's mailbox:

- team leader: the address book (ResolveNames, ActiveDirectory scope). Exchange gives the
  manager only as a display name unless all contact properties are asked for, so they are
  (ContactDataShape AllProperties, Exchange 2010 SP2 and later), which carries the manager's
  mailbox;
- automatic reply: mail tips (GetMailTips, OutOfOfficeMessage), what Outlook shows before
  you send: on or off and the scheduled end, never read out;
- free/busy: GetUserAvailability in the FreeBusy view: busy spells without subjects.

Every request has a short timeout and no retries: a slow Exchange means "not known" now,
not a stuck command. Import this module lazily: it pulls in exchangelib.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from exchangelib import (
    Build,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
    Identity,
    OAuth2Credentials,
    Version,
)
from exchangelib.errors import ErrorNameResolutionNoResults
from exchangelib.properties import (
    FreeBusyViewOptions,
    Mailbox,
    MailboxData,
    MailTips,
    SendingAs,
    TimeWindow,
    TimeZone,
    TimeZoneDefinition,
)
from exchangelib.protocol import Protocol
from exchangelib.services import GetMailTips, GetServerTimeZones, GetUserAvailability, ResolveNames
from exchangelib.transport import BASIC, NTLM, OAUTH2
from exchangelib.util import create_element
from exchangelib.version import VERSIONS

from bot.ops.logsafe import quiet_exchangelib
from bot.people.directory import AutoReply, Busy, Colleague

BUSY_TYPES = frozenset({"Busy", "Tentative", "OOF"})  # Free, WorkingElsewhere, NoData: free


@dataclass(frozen=True)
class EwsPeopleSettings:
    address: str  # the duty mailbox: mail tips and free/busy are asked as it
    endpoint: str
    auth: Literal["oauth", "ntlm", "basic"]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    tenant_id: str | None = None
    server_version: str | None = None
    timeout: float = 5.0  # seconds per request; the command stops waiting long before


class EwsPeople:
    """Directory and Availability through EWS."""

    def __init__(self, settings: EwsPeopleSettings, tz: ZoneInfo) -> None:
        quiet_exchangelib()
        self.settings = settings
        self.tz = EWSTimeZone(tz.key)  # exchangelib's own: free/busy needs its Windows id
        self._protocol: Protocol | None = None
        self._zones: dict[int, TimeZone] = {}
        self._lock = threading.Lock()

    # ---- Directory ----------------------------------------------------------------------

    def team_leader(self, email: str) -> Colleague | None:
        found = ResolveNames(protocol=self._proto(), timeout=self.settings.timeout).call(
            unresolved_entries=[email],
            return_full_contact_data=True,
            search_scope="ActiveDirectory",
            contact_data_shape="AllProperties",  # else the manager is only a display name
        )
        for answer in found:
            if isinstance(answer, ErrorNameResolutionNoResults):
                return None  # not in the address book
            if isinstance(answer, Exception):
                raise answer
            _mailbox, contact = answer
            if contact is None:
                return None
            boss = contact.manager_mailbox
            if boss is not None and boss.email_address:
                return Colleague(boss.email_address, boss.name or contact.manager)
            return Colleague(None, contact.manager) if contact.manager else None
        return None

    # ---- Availability -------------------------------------------------------------------

    def automatic_reply(self, email: str) -> AutoReply:
        # Passed as a list: a bare element has no children, so exchangelib would drop it,
        # and a string would go in as loose text instead of the MailTipsRequested element.
        wanted = create_element("m:MailTipsRequested")
        wanted.text = "OutOfOfficeMessage"
        tips = list(
            GetMailTips(protocol=self._proto(), timeout=self.settings.timeout).call(
                sending_as=SendingAs(email_address=self.settings.address),
                recipients=[Mailbox(email_address=email)],
                mail_tips_requested=[wanted],
            )
        )
        tip = tips[0] if tips else None
        if isinstance(tip, Exception):
            raise tip
        if not isinstance(tip, MailTips):
            raise LookupError("Exchange gave no mail tips")
        oof = tip.out_of_office
        if oof is None or not (oof.reply_body or "").strip():
            return AutoReply(False)
        return AutoReply(True, oof.end)

    def busy_times(self, email: str, start: datetime, end: datetime) -> list[Busy]:
        begins, ends = self._ews_time(start), self._ews_time(end)
        views = GetUserAvailability(protocol=self._proto(), timeout=self.settings.timeout).call(
            tzinfo=self.tz,
            mailbox_data=[MailboxData(email=email, attendee_type="Required",
                                      exclude_conflicts=False)],
            timezone=self._zone(begins.year),
            free_busy_view_options=FreeBusyViewOptions(
                time_window=TimeWindow(start=begins, end=ends),
                merged_free_busy_interval=30,
                requested_view="FreeBusy",  # start, end and busy type: no subjects
            ),
        )  # fmt: skip
        spells: list[Busy] = []
        for view in views:
            if isinstance(view, Exception):
                raise view
            for event in view.calendar_events or []:
                if event.busy_type in BUSY_TYPES and event.start and event.end:
                    spells.append(Busy(event.start, event.end))
        return spells

    # ---- the connection -----------------------------------------------------------------

    def _ews_time(self, when: datetime) -> EWSDateTime:
        local = when.astimezone(self.tz)
        return EWSDateTime(*local.timetuple()[:6], tzinfo=self.tz)

    def _zone(self, year: int) -> TimeZone:
        """The team's time zone as Exchange describes it (asked once a year's worth)."""
        with self._lock:
            known = self._zones.get(year)
        if known is not None:
            return known
        found = GetServerTimeZones(protocol=self._proto(), timeout=self.settings.timeout).call(
            timezones=[self.tz], return_full_timezone_data=True
        )
        for definition in found:
            if isinstance(definition, TimeZoneDefinition):
                zone = TimeZone.from_server_timezone(tz_definition=definition, for_year=year)
                with self._lock:
                    self._zones[year] = zone
                return zone
        raise LookupError(f"Exchange doesn't know the time zone {self.tz.ms_id}")

    def _proto(self) -> Protocol:
        with self._lock:
            if self._protocol is None:
                # A connection pool of its own: exchangelib shares one Protocol per endpoint
                # and sign-in, and whichever comes first sets its retry policy; the mailbox
                # must keep waiting out a busy server, and the directory must not.
                config = _configuration(self.settings)
                self._protocol = type.__call__(Protocol, config=config)
            return self._protocol

    def close(self) -> None:
        with self._lock:
            protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()


def _configuration(s: EwsPeopleSettings) -> Configuration:
    credentials: Credentials | OAuth2Credentials
    if s.auth == "oauth":
        # App-only: every call goes as the duty mailbox (impersonation), like the mailbox's.
        credentials = OAuth2Credentials(
            client_id=s.client_id, client_secret=s.client_secret, tenant_id=s.tenant_id,
            identity=Identity(primary_smtp_address=s.address),
        )  # fmt: skip
        auth_type = OAUTH2
    else:
        credentials = Credentials(username=s.username or "", password=s.password or "")
        auth_type = NTLM if s.auth == "ntlm" else BASIC
    return Configuration(
        service_endpoint=s.endpoint,
        credentials=credentials,
        auth_type=auth_type,
        version=_version(s.server_version) if s.server_version else None,
        retry_policy=FailFast(),  # no waiting out a busy server: the answer is "not known"
        max_connections=3,  # a team leader, a mail tip and free/busy asked at once
    )


def _version(name: str) -> Version | None:
    """'Exchange2016' (an EWS API version) or 'Exchange2019' (a product) -> a Version."""
    wanted = name.strip().lower()
    for build, api_version, full_name in reversed(VERSIONS):
        product = "exchange" + full_name.rsplit("Server ", 1)[-1].replace(" ", "").lower()
        if wanted in (api_version.lower(), product):
            pinned = Build(
                build.major_version, build.minor_version, build.major_build, build.minor_build
            )
            return Version(build=pinned, api_version=api_version)
    return None
