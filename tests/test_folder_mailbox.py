"""The folder mailbox end to end through the bot: pick-up, restart, Done, Maildir, Outbox."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from bot.app import DutyBot
from bot.kernel.clock import ManualClock
from bot.kernel.config import parse_config
from bot.mail.adapters.folder import FolderMailbox
from bot.mail.mailbox import OutgoingEmail
from storage.models import Task
from tests.conftest import TEAM
from tests.mail import make_email


def bot_for(inbox: Path, db_path: Path, clock: ManualClock) -> DutyBot:
    cfg = parse_config(
        {
            "database": {"url": f"sqlite:///{db_path}"},
            "teams": [{**TEAM, "mailbox": {"kind": "folder", "path": str(inbox)}}],
        }
    )
    return DutyBot(cfg, clock=clock).start()


def tasks(bot: DutyBot) -> int:
    assert bot.db is not None
    with bot.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Task)) or 0)


def drop(inbox: Path, name: str, **kw: object) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(make_email(**kw))  # type: ignore[arg-type]


def test_new_files_become_tasks_and_a_restart_adds_no_duplicates(
    tmp_path: Path, clock: ManualClock
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "a.eml", message_id="<a@x>")
    drop(inbox, "b.eml", message_id="<b@x>")
    bot = bot_for(inbox, tmp_path / "d.db", clock)
    assert bot.check_mail(TEAM["name"]).new == [1, 2]
    bot.close()

    drop(inbox, "c.eml", message_id="<c@x>")
    drop(inbox, "copy-of-a.eml", message_id="<a@x>")  # the same email saved twice
    bot = bot_for(inbox, tmp_path / "d.db", clock)
    result = bot.check_mail(TEAM["name"])
    assert result.new == [3] and result.duplicates >= 1
    assert tasks(bot) == 3
    bot.close()


def test_resolving_moves_the_email_to_done_and_never_deletes(
    tmp_path: Path, clock: ManualClock
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "a.eml", message_id="<a@x>")
    bot = bot_for(inbox, tmp_path / "d.db", clock)
    bot.check_mail(TEAM["name"])
    bot.team().tasks.resolve("sam", 1, "recorded on Mosaic")
    bot.check_mail(TEAM["name"])
    assert not (inbox / "a.eml").exists()
    assert (inbox / "Done" / "a.eml").read_bytes() == make_email(message_id="<a@x>")
    assert tasks(bot) == 1  # the moved file is not taken in again
    bot.close()


def test_an_email_saved_under_the_name_of_one_in_done_does_not_replace_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "referral.eml", message_id="<a@x>")
    bot = bot_for(inbox, tmp_path / "d.db", clock)
    bot.check_mail(TEAM["name"])
    bot.team().tasks.resolve("sam", 1, "done")
    bot.check_mail(TEAM["name"])
    drop(inbox, "referral.eml", subject="Another one", message_id="<b@x>")  # a new email
    assert bot.check_mail(TEAM["name"]).new == [2]
    bot.team().tasks.resolve("sam", 2, "done")
    bot.check_mail(TEAM["name"])
    done = inbox / "Done"
    assert (done / "referral.eml").read_bytes() == make_email(message_id="<a@x>")
    assert (done / "referral (2).eml").read_bytes() == make_email(
        subject="Another one", message_id="<b@x>"
    )
    bot.close()


def test_an_email_taken_out_of_the_inbox_by_hand_does_not_hold_up_the_others(
    tmp_path: Path, clock: ManualClock
) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "a.eml", message_id="<a@x>")
    drop(inbox, "b.eml", message_id="<b@x>")
    bot = bot_for(inbox, tmp_path / "d.db", clock)
    bot.check_mail(TEAM["name"])
    bot.team().tasks.resolve("sam", 1, "done")
    bot.team().tasks.resolve("sam", 2, "done")
    (inbox / "a.eml").unlink()  # someone filed it elsewhere
    bot.check_mail(TEAM["name"])
    assert sorted(p.name for p in (inbox / "Done").iterdir()) == ["b.eml"]
    bot.close()


def test_a_missing_inbox_is_reported_plainly_and_nothing_breaks(
    tmp_path: Path, clock: ManualClock
) -> None:
    bot = bot_for(tmp_path / "nowhere", tmp_path / "d.db", clock)
    result = bot.check_mail(TEAM["name"])
    assert result.error is not None and "doesn't exist" in result.error
    bot.close()


def test_maildir_layout(tmp_path: Path, clock: ManualClock) -> None:
    md = tmp_path / "Maildir"
    for part in ("new", "cur", "tmp"):
        (md / part).mkdir(parents=True)
    (md / "new" / "1700000000.M1.host").write_bytes(make_email(message_id="<m1@x>"))
    (md / "cur" / "1700000001.M2.host:2,S").write_bytes(make_email(message_id="<m2@x>"))
    bot = bot_for(md, tmp_path / "d.db", clock)
    assert bot.check_mail(TEAM["name"]).new == [1, 2]
    bot.team().tasks.resolve("sam", 2, "done")
    bot.check_mail(TEAM["name"])
    assert (md / "Done" / "1700000001.M2.host:2,S").exists()
    bot.close()


def test_send_writes_an_eml_to_outbox(tmp_path: Path) -> None:
    mb = FolderMailbox(tmp_path)
    mb.send(OutgoingEmail(subject="Duty handover", text="Nothing outstanding.", html="<p>x</p>"))
    [sent] = list((tmp_path / "Outbox").glob("*.eml"))
    body = sent.read_text()
    assert "Subject: Duty handover" in body and "Nothing outstanding." in body
    assert "text/html" in body


# ---- watching: a look is a stat of the folder; a change of its list of emails is told -------


class Watching:
    """FolderMailbox.watch on a thread, looking every 20 ms; ``told`` counts the calls."""

    def __init__(self, box: FolderMailbox, answer: bool = True) -> None:
        self.told = 0
        self.answer = answer
        self.stop = threading.Event()
        self._cond = threading.Condition()
        self.thread = threading.Thread(
            target=box.watch, args=(self.stop, self._on_new_mail), kwargs={"poll_interval": 0.02}
        )

    def _on_new_mail(self) -> bool:
        with self._cond:
            self.told += 1
            self._cond.notify_all()
        return self.answer

    def wait_for(self, told: int) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.told >= told, 5)

    def __enter__(self) -> Watching:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def test_watch_tells_of_each_email_added_or_taken_away_and_not_otherwise(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "001.eml")
    with Watching(FolderMailbox(inbox)) as w:
        assert w.wait_for(1)  # the first look
        drop(inbox, "002.eml", message_id="<two@example.org>")
        assert w.wait_for(2)
        (inbox / "001.eml").unlink()
        assert w.wait_for(3)
        (inbox / "Done").mkdir()  # not an email: the list is the same
        time.sleep(0.3)
        assert w.told == 3


def test_watch_sees_an_email_that_leaves_the_folders_time_as_it_was(tmp_path: Path) -> None:
    """A coarse filesystem clock can give a second email the folder time of the first, if it
    comes within the same tick: the watch lists a folder changed that recently at every look."""
    inbox = tmp_path / "inbox"
    drop(inbox, "001.eml")
    with Watching(FolderMailbox(inbox)) as w:
        assert w.wait_for(1)
        was = (inbox).stat()
        drop(inbox, "002.eml", message_id="<two@example.org>")
        os.utime(inbox, ns=(was.st_atime_ns, was.st_mtime_ns))  # the same tick
        assert w.wait_for(2)


def test_watch_asks_again_at_every_look_after_a_check_that_failed(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "001.eml")
    with Watching(FolderMailbox(inbox), answer=False) as w:
        assert w.wait_for(3)  # nothing changed, yet it is told again until a check works
        w.answer = True
        told = w.told
        time.sleep(0.3)
        assert w.told <= told + 1


def test_watch_of_a_missing_folder_tells_at_every_look_so_the_check_can_say_why(
    tmp_path: Path,
) -> None:
    with Watching(FolderMailbox(tmp_path / "not-there")) as w:
        assert w.wait_for(3)


def test_watches_of_many_folders_each_tell_of_their_own_and_stop_at_once(tmp_path: Path) -> None:
    inboxes = [tmp_path / f"inbox-{i}" for i in range(5)]
    for inbox in inboxes:
        drop(inbox, "001.eml")
    watching = [Watching(FolderMailbox(inbox)) for inbox in inboxes]
    for w in watching:
        w.thread.start()
    try:
        assert all(w.wait_for(1) for w in watching)
        drop(inboxes[2], "002.eml", message_id="<two@example.org>")
        assert watching[2].wait_for(2)
        time.sleep(0.3)
        assert [w.told for w in watching] == [1, 1, 2, 1, 1]
    finally:
        for w in watching:
            w.stop.set()
        for w in watching:
            w.thread.join(1)
    assert not any(w.thread.is_alive() for w in watching)
