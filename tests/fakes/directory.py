"""What the fake Exchange and fake Graph servers know about the organisation's people: who
manages whom, whose automatic reply is on, and their calendars (with subjects, so tests can
check the bot never asks for or shows them). Shared by tests/fakes/ews_server.py and
tests/fakes/graph_server.py as their ``directory``."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Meeting:
    start: datetime  # aware
    end: datetime
    status: str = "busy"  # free | tentative | busy | oof | workingElsewhere (Graph's words)
    subject: str = "Core group meeting about J."  # never to be shown


@dataclass
class FakePerson:
    email: str
    name: str
    manager: str | None = None  # the manager's email
    reply: str = ""  # the automatic reply's text; "" means off
    reply_start: datetime | None = None
    reply_end: datetime | None = None
    calendar: list[Meeting] = field(default_factory=list)


@dataclass
class FakeDirectory:
    people: dict[str, FakePerson] = field(default_factory=dict)  # lower-case email -> person
    delay: float = 0.0  # seconds each people request waits before answering (a slow server)
    down: bool = False  # people requests fail (500 / SOAP fault)
    asked: list[str] = field(default_factory=list)  # operations served, in order
    views: list[str] = field(default_factory=list)  # free/busy views asked for (EWS)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def add(self, email: str, name: str, **facts: object) -> FakePerson:
        person = FakePerson(email, name, **facts)  # type: ignore[arg-type]
        self.people[email.lower()] = person
        return person

    def find(self, email: str) -> FakePerson | None:
        return self.people.get(email.strip().lower())

    def served(self, operation: str) -> None:
        """Count a request, then wait as a slow server would (outside any server lock)."""
        with self.lock:
            self.asked.append(operation)
        if self.delay:
            time.sleep(self.delay)
