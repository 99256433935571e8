"""The folder mailbox: a directory of .eml files, or a Maildir. The embedded default for the
shell and demos. Resolved mail moves to a Done/ subfolder; the handover email and replies
(acknowledgements) land in Outbox/, as a real mailbox's Sent Items would keep them."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

from bot.mail.mailbox import (
    Batch,
    ItemGone,
    MailboxError,
    OutgoingEmail,
    RawMessage,
    Replied,
    ReplyEmail,
)

MAX_REFERENCES = 20  # the thread's root and its newest ids are enough for any mail client

MAILDIR_PARTS = ("new", "cur")
# What _write names its copies in Outbox/: the handover, and acknowledgements (they carry the
# sender's address and the email's subject).
OWN_COPY = re.compile(r"(\d{8}T\d{12})-(?:handover|reply)\.eml")
STAMP = "%Y%m%dT%H%M%S%f"
CHECK_ANYWAY = 300.0  # seconds: a watched inbox is checked at least this often
# A folder changed this recently may change again within the same tick of its filesystem's
# clock without its time moving, so it is listed at every look until its time is older.
RECENT_NS = 2_000_000_000
STOP_SECONDS = 0.25  # a stopped watch ends within this, whatever its poll interval


class FolderMailbox:
    def __init__(
        self,
        path: str | Path,
        *,
        done_folder: str = "Done",
        outbox_folder: str = "Outbox",
        address: str = "CareExperiencedDuty@localhost",
    ) -> None:
        self.path = Path(path)
        self.done = self.path / done_folder
        self.outbox = self.path / outbox_folder
        self.address = address

    @property
    def is_maildir(self) -> bool:
        return (self.path / "new").is_dir() and (self.path / "cur").is_dir()

    def _items(self) -> list[str]:
        if not self.path.is_dir():
            raise MailboxError(f"The inbox folder {self.path} doesn't exist. Check mailbox.path.")
        if self.is_maildir:
            names = [
                f"{part}/{f.name}"
                for part in MAILDIR_PARTS
                for f in (self.path / part).iterdir()
                if f.is_file() and not f.name.startswith(".")
            ]
        else:
            names = [f.name for f in self.path.iterdir() if f.is_file() and f.suffix == ".eml"]
        return sorted(names, key=lambda n: (Path(n).name, n))  # Maildir names start with the time

    def poll(self, checkpoint: str | None, since: datetime | None = None) -> Batch:
        """Every email in the folder (a folder keeps no sync state); with ``since``, those
        whose file was written from then on. A file's time is when it reached the folder."""
        messages = []
        for name in self._items():
            path = self.path / name
            try:
                arrived = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                if since is not None and arrived < since:
                    continue  # left where it is, unread
                mime = path.read_bytes()
            except FileNotFoundError:  # moved away between listing and reading
                continue
            messages.append(RawMessage(item_id=name, mime=mime, arrived_at=arrived))
        return Batch(messages=messages, checkpoint=None)

    def count(self, since: datetime | None = None) -> int:
        """How many emails the folder holds; with ``since``, those written from then on."""
        if since is None:
            return len(self._items())
        return sum(1 for n in self._items() if _written(self.path / n) >= since)

    def watch(
        self,
        stop: threading.Event,
        on_new_mail: Callable[[], bool | None],
        *,
        poll_interval: float = 5.0,
    ) -> None:
        """Call ``on_new_mail()`` when the inbox's list of emails changes, until ``stop`` is
        set. A look every ``poll_interval`` seconds costs one stat of the folder (or of a
        Maildir's new/ and cur/): only when its change time moved, or is too recent to trust,
        is the folder listed. The looks at every watched folder are made by one thread
        (_Looks), which wakes this one only then, so many quiet inboxes cost next to nothing.
        It is called every 5 minutes anyway (the sync time stays fresh, and a change a coarse
        or skewed clock hid is found), and again at every look after a call that returned
        False (the check failed, or this process doesn't hold the team yet)."""
        watch = _Watch(self, stop, poll_interval)
        seen: list[str] | None = None
        _LOOKS.add(watch)
        try:
            while not stop.is_set():
                watch.wake.wait()
                watch.wake.clear()
                if stop.is_set():
                    break
                try:
                    names: list[str] | None = self._items()
                except MailboxError:
                    names = None  # the check says what is wrong, at every look
                due = time.monotonic() - watch.called >= CHECK_ANYWAY
                if names is None or names != seen or due:
                    watch.called = time.monotonic()
                    seen = names if on_new_mail() is not False else None
                watch.every_look = seen is None
        finally:
            _LOOKS.remove(watch)

    def _stamp(self) -> tuple[int, ...] | None:
        """When the folders holding the emails last changed (an email added, renamed or
        taken away changes its folder's time); None if they can't be read."""
        parts = [self.path / p for p in MAILDIR_PARTS] if self.is_maildir else [self.path]
        try:
            return tuple(p.stat().st_mtime_ns for p in parts)
        except OSError:
            return None

    def move_to_done(self, item_id: str) -> str:
        src = self.path / item_id
        if not src.exists():
            already = self.done / Path(item_id).name
            if already.exists():  # moved before a crash, or read by a poll just before it moved
                return f"{self.done.name}/{already.name}"
            # taken out by hand: ItemGone, so the emails after it still move
            raise ItemGone(f"The email {item_id} is no longer in the inbox folder.")
        self.done.mkdir(parents=True, exist_ok=True)
        dest = _free_name(self.done, Path(item_id).name)
        shutil.move(src, dest)  # a rename on one filesystem: atomic, never a delete
        return f"{self.done.name}/{dest.name}"

    def send(self, email: OutgoingEmail) -> None:
        msg = EmailMessage()
        msg["From"] = self.address
        msg["To"] = ", ".join(email.to) if email.to else self.address
        msg["Subject"] = email.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain="dutybot.local")
        msg.set_content(email.text)
        if email.html:
            msg.add_alternative(email.html, subtype="html")
        self._write(msg, "handover")

    def reply(self, reply: ReplyEmail) -> Replied:
        """Write the reply to Outbox/, threaded under the email (In-Reply-To, References)."""
        head = self._headers(reply.item_id)
        parent = str(head.get("Message-ID") or "").strip()
        msg = EmailMessage()
        msg["From"] = self.address
        msg["To"] = reply.to
        msg["Subject"] = reply.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain="dutybot.local")
        if parent:
            ids = str(head.get("References") or "").split() + [parent]
            msg["In-Reply-To"] = parent
            msg["References"] = " ".join(ids[:1] + ids[1:][-(MAX_REFERENCES - 1) :])
        msg.set_content(reply.text)
        self._write(msg, "reply")
        asked = getaddresses([str(v) for v in head.get_all("Reply-To", [])])
        return Replied(tuple(addr for _, addr in asked if addr))

    def _headers(self, item_id: str) -> Message:
        """The email's headers: from where its id says, or from Done/ once it moved there."""
        for path in (self.path / item_id, self.done / Path(item_id).name):
            try:
                with path.open("rb") as fh:
                    return BytesHeaderParser(policy=compat32).parse(fh)
            except (FileNotFoundError, IsADirectoryError):
                continue
        raise ItemGone(f"The email {item_id} is no longer in the inbox folder or its Done folder.")

    def _write(self, msg: EmailMessage, kind: str) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime(STAMP)
        tmp = self.outbox / f".{stamp}.tmp"
        tmp.write_bytes(bytes(msg))
        os.replace(tmp, self.outbox / f"{stamp}-{kind}.eml")  # appears whole, or not at all

    def remove_own_copies(self, before: datetime, *, dry_run: bool = False) -> int:
        """The handover and acknowledgement copies in Outbox/ written before ``before``. Only the
        bot writes there, under the names _write gives, so the name is the mark; the handover
        never comes back into a folder inbox, and the inbox itself is never touched."""
        if not self.outbox.is_dir():
            return 0
        old = []
        for path in self.outbox.iterdir():
            m = OWN_COPY.fullmatch(path.name)
            if m and datetime.strptime(m.group(1), STAMP).replace(tzinfo=UTC) < before:
                old.append(path)
        if not dry_run:
            for path in old:
                path.unlink(missing_ok=True)
        return len(old)

    def check(self) -> list[tuple[bool, str]]:
        try:
            inbox = (True, f"Inbox folder {self.path} is readable ({self.count()} items).")
        except (MailboxError, OSError) as exc:
            inbox = (False, str(exc) if isinstance(exc, MailboxError) else _cannot(self.path))
        done = _can_write(self.done)
        done_line = (
            f"Done folder {self.done} is ready."
            if done
            else f"Done folder {self.done} cannot be written. Let the bot's user write there."
        )
        sending = _can_write(self.outbox)
        send_line = (
            f"Sending works: the handover email is written to {self.outbox}."
            if sending
            else f"Cannot write the handover email to {self.outbox}. Let the bot write there."
        )
        return [inbox, (done, done_line), (sending, send_line)]

    def close(self) -> None:
        pass


class _Watch:
    """One folder's watch, as the looking thread sees it."""

    def __init__(self, box: FolderMailbox, stop: threading.Event, interval: float) -> None:
        self.box, self.stop, self.interval = box, stop, interval
        self.wake = threading.Event()
        self.wake.set()  # list it at once: the first call
        self.every_look = True  # until a call worked
        self.called = float("-inf")
        self.stamp: tuple[int, ...] | None = None
        self.next_look = time.monotonic() + interval

    def look(self) -> None:
        """Wake the watch if its folder may have changed (or it is to stop)."""
        stamp = self.box._stamp()
        changed = stamp is None or stamp != self.stamp or _recent(stamp)
        due = time.monotonic() - self.called >= CHECK_ANYWAY
        self.stamp = stamp  # taken before the listing it leads to: nothing slips between
        if changed or due or self.every_look:
            self.wake.set()


class _Looks:
    """One thread looking at every watched folder in turn, each every its poll interval:
    one wake-up a second between 50 inboxes, not 50 (each a thread taking the GIL)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: list[_Watch] = []
        self._running = False

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.append(watch)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="folder-looks", daemon=True).start()
            self._cond.notify_all()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.remove(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._watches:
                    self._running = False
                    return
                watches = list(self._watches)
            now = time.monotonic()
            for watch in watches:
                if watch.stop.is_set():
                    watch.wake.set()
                elif now >= watch.next_look:
                    watch.next_look = now + watch.interval
                    try:
                        watch.look()
                    except Exception:  # noqa: BLE001 - the watch itself lists and says why
                        watch.wake.set()
            with self._cond:
                soonest = min((w.next_look for w in self._watches), default=now)
                self._cond.wait(min(STOP_SECONDS, max(0.0, soonest - time.monotonic())))


_LOOKS = _Looks()


def _recent(stamp: tuple[int, ...]) -> bool:
    now = time.time_ns()
    return any(now - t < RECENT_NS for t in stamp)  # a time ahead of ours counts as recent


def _written(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:  # moved away meanwhile: it no longer counts
        return datetime.min.replace(tzinfo=UTC)


def _free_name(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, or "name (2).eml" and so on if taken: an email saved under the
    name of one already in Done must not replace it (a rename overwrites without a word)."""
    path, n = folder / name, 1
    stem, suffix = Path(name).stem, Path(name).suffix
    while path.exists():
        n += 1
        path = folder / f"{stem} ({n}){suffix}"
    return path


def _cannot(path: Path) -> str:
    return f"Cannot read the folder {path}. Check it exists and the bot may read it."


def _can_write(folder: Path) -> bool:
    """Whether the bot can put files in ``folder``, or make it in its nearest existing parent."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
