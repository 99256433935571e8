"""Intake throughput: parse, redact and store emails, no network.

Builds N varied, realistic duty emails with the stdlib email package (plain text, HTML only,
text+HTML, attachments, encoded-word subjects and names, Latin-1 quoted-printable bodies,
replies that thread onto earlier tasks, personal details to redact), then times
``bot.intake.take_in`` on each into a fresh, migrated SQLite file (or, with --pg, a throwaway
PostgreSQL schema); with ``--page N``, ``take_in_all`` on pages of N as old mail, as a first
start stores them. Counts the SQL statements an email (SQLAlchemy's ``before_cursor_execute``).
Goal: at least 1,000 emails/s.

    .venv/bin/python bench/intake.py [--emails 5000] [--pg] [--profile] [--page 50]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench.common import exit_code, header, verdict  # noqa: E402
from bench.history import open_db  # noqa: E402
from bot.mail.intake import PREVIEW_SOURCE_CHARS, Intake, take_in, take_in_all  # noqa: E402
from bot.mail.mailbox import RawMessage  # noqa: E402
from bot.mail.parse import parse_email  # noqa: E402
from bot.mail.redaction import card_preview, card_subject  # noqa: E402
from storage import tasks as q  # noqa: E402
from storage.db import Database  # noqa: E402

GOAL = 1_000.0  # emails per second
TEAM = "care-experienced"
NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)

FIRST = ["Casey", "Jordan", "Zoë", "Łukasz", "Siobhán", "Amira", "José", "Priya", "Kwame", "Ffion"]
LAST = ["Example", "Okafor", "Nowak", "Ó Briain", "Haddad", "García", "Patel", "Mensah", "Jones"]
ORGS = ["housing.example.gov.uk", "nhs.example.net", "college.example.ac.uk", "gmail.example"]
TOPICS = [
    "Rent arrears - urgent",
    "Accommodation request for young person",
    "Setting up home allowance",
    "Missed appointment today",
    "Safeguarding concern raised by school",
    "Request for PA contact",
    "Bus pass renewal",
    "Leaving care grant query",
    "Café voucher for Zoë – résumé help",
    "Change of address",
    "Re: Pathway plan review",
    "Hospital discharge – needs support",
]
SENTENCES = [
    "I am writing about the young person we discussed last week.",
    "They have been asked to leave their supported accommodation by Friday.",
    "Please could someone call me back on 07700 900123 as soon as possible.",
    "Their NHS number is 943 476 5919 and date of birth 14/03/2005.",
    "The new address is 12 Station Road, Walsall WS1 1AA.",
    "Her NI number is QQ 12 34 56 C, for the benefits claim.",
    "Can you confirm whether the setting up home allowance has been paid?",
    "He missed his appointment at the job centre this morning.",
    "The school raised a concern about bruising noticed in PE today.",
    "You can reach me at casey.worker@housing.example.gov.uk or on 0121 496 0000.",
    "I have attached the tenancy agreement and the latest rent statement.",
    "Kind regards, and thank you for your help with this.",
    "The landlord says the arrears now stand at £1,240 and rising.",
    "We tried calling the allocated worker but their voicemail says they are on leave.",
]


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    addr = f"{first.lower()}.{last.lower().replace(' ', '')}@{rng.choice(ORGS)}"
    return f"{first} {last}", addr.encode("ascii", "ignore").decode()


def _body(rng: random.Random) -> str:
    paras = []
    for _ in range(rng.randint(1, 5)):
        paras.append(" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(2, 6))))
    return "Hello duty team,\n\n" + "\n\n".join(paras) + "\n"


def _html(text: str) -> str:
    paras = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    return (
        "<html><head><style>p{font-family:Calibri}</style></head><body>"
        f'<div class="WordSection1">{paras}<table><tr><td>Signature</td></tr></table>'
        "</div></body></html>"
    )


def make_emails(n: int, seed: int = 7, replies: float = 0.1) -> list[tuple[str, RawMessage]]:
    """``n`` varied emails, each with its kind; a ``replies`` share answer an earlier one."""
    rng = random.Random(seed)
    out: list[tuple[str, RawMessage]] = []
    ids: list[str] = []
    run = uuid.uuid4().hex[:8]  # fresh ids each run, so --pg never meets an old one
    for i in range(n):
        name, addr = _person(rng)
        msg = EmailMessage()
        msg["From"] = f"{name} <{addr}>"  # non-ASCII names become encoded words
        msg["To"] = "CareExperiencedDuty@council.example.gov.uk"
        sent = NOW - timedelta(minutes=n - i)
        msg["Date"] = format_datetime(sent)
        mid = f"<bench-{run}-{i}@{rng.choice(ORGS)}>"
        msg["Message-ID"] = mid
        subject = rng.choice(TOPICS)
        if ids and rng.random() < replies:
            parent = rng.choice(ids)
            msg["In-Reply-To"] = parent
            msg["References"] = parent
            subject = "RE: " + subject
        msg["Subject"] = subject
        body = _body(rng)
        roll = rng.random()
        if roll < 0.40:
            kind = "plain text"
            msg.set_content(body)
        elif roll < 0.55:
            kind = "HTML only"
            msg.set_content(_html(body), subtype="html")
        elif roll < 0.65:
            kind = "Latin-1 quoted-printable"
            msg.set_content(body, charset="iso-8859-1", cte="quoted-printable")
        else:
            kind = "text + HTML"
            msg.set_content(body)
            msg.add_alternative(_html(body), subtype="html")
        if rng.random() < 0.2:
            kind = "with attachments"
            for k in range(rng.randint(1, 3)):
                size = rng.choice([8_000, 40_000, 120_000])
                msg.add_attachment(
                    rng.randbytes(size),
                    maintype="application",
                    subtype="pdf",
                    filename=f"Tenancy agreement – page {k + 1}.pdf",
                )
        ids.append(mid)
        raw = RawMessage(item_id=f"item-{i}", mime=bytes(msg), received_at=sent)
        out.append((kind, raw))
    return out


def stages(emails: list[RawMessage]) -> None:
    """Where the time goes, without the database: parse alone, then redact alone."""
    t0 = time.perf_counter()
    parsed = [parse_email(m.mime) for m in emails]
    t1 = time.perf_counter()
    for p in parsed:
        card_subject(p.subject, "redacted")
        card_preview(p.body_text[:PREVIEW_SOURCE_CHARS], "redacted")
    t2 = time.perf_counter()
    n = len(emails)
    print(
        f"stages alone: parse {(t1 - t0) / n * 1000:.2f} ms/email, "
        f"redact {(t2 - t1) / n * 1000:.2f} ms/email (the rest of intake is storing)"
    )


def by_kind(kinds: list[str], seconds: list[float]) -> None:
    """Mean time per email of each kind, so a slow kind stands out."""
    groups: dict[str, list[float]] = {}
    for kind, took in zip(kinds, seconds, strict=True):
        groups.setdefault(kind, []).append(took)
    for kind, times in sorted(groups.items()):
        mean = sum(times) / len(times)
        print(f"  {kind:<26} n={len(times):>5,}  {mean * 1000:6.2f} ms/email  {1 / mean:7,.0f}/s")


def _take(db: Database, page: list[RawMessage], together: int) -> list[Intake]:
    """One email through take_in, or a page of old mail through take_in_all."""
    if not together:
        return [take_in(db, TEAM, page[0], NOW)]
    return [got for _, got in take_in_all(db, TEAM, [(m, True) for m in page], NOW)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emails", type=int, default=5_000)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL (DUTYBOT_TEST_PG_URL)")
    ap.add_argument("--profile", action="store_true", help="cProfile the timed loop")
    ap.add_argument("--page", type=int, default=0, help="take_in_all N at a time, as old mail")
    args = ap.parse_args()

    header(f"intake: parse, redact and store ({'PostgreSQL' if args.pg else 'SQLite file'})")
    made = make_emails(args.emails)
    kinds = [k for k, _ in made]
    emails = [m for _, m in made]
    mb = sum(len(m.mime) for m in emails) / 1e6
    print(f"{len(emails):,} emails, {mb:.1f} MB of MIME")
    stages(emails)

    with tempfile.TemporaryDirectory() as tmp:
        db, drop = open_db(args.pg, Path(tmp) / "bench.db")
        try:
            with db.session() as s:
                q.ensure_team(s, TEAM)
            outcomes: dict[str, int] = {}
            seconds: list[float] = []  # each email's, or each page's with --page
            statements = [0]

            def count(*_: object) -> None:
                statements[0] += 1

            event.listen(db.engine, "before_cursor_execute", count)
            prof = cProfile.Profile() if args.profile else None
            if prof:
                prof.enable()
            cpu0 = time.process_time()
            for start in range(0, len(emails), args.page or 1):
                t0 = time.perf_counter()
                got = _take(db, emails[start : start + (args.page or 1)], args.page)
                seconds.append(time.perf_counter() - t0)
                for g in got:
                    outcomes[g.outcome] = outcomes.get(g.outcome, 0) + 1
            cpu = time.process_time() - cpu0
            event.remove(db.engine, "before_cursor_execute", count)
            if prof:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
            with db.session() as s:
                stored = q.count_tasks(s, TEAM, ["open", "claimed", "resolved"])
        finally:
            drop()

    took = sum(seconds)
    rate = len(emails) / took
    print(f"outcomes: {outcomes}; tasks stored: {stored:,}")
    if not args.page:
        print("by kind (whole intake):")
        by_kind(kinds, seconds)
    how = f"{args.page} a transaction, as old mail" if args.page else "one at a time"
    print(f"SQL statements ({how}): {statements[0] / len(emails):.2f} an email")
    print(f"intake: {len(emails):,} emails in {took:.2f} s = {rate:,.0f} emails/s")
    # CPU time is less swayed by other work on a busy machine than the wall clock is.
    print(
        f"CPU: {cpu / len(emails) * 1000:.2f} ms/email = {len(emails) / cpu:,.0f} emails/s of CPU"
    )
    met = verdict("≥ 1,000 emails/s", rate >= GOAL, f"{rate:,.0f} emails/s")
    return exit_code(met)


if __name__ == "__main__":
    sys.exit(main())
