"""The EWS mailbox adapter, through real exchangelib, against a local fake Exchange server."""

from __future__ import annotations

import email
import email.policy
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from bot.mail.adapters.ews import EwsMailbox, EwsSettings
from bot.mail.mailbox import CheckpointExpired, MailboxError, OutgoingEmail
from tests.fakes.ews_server import FakeEws
from tests.mail import make_email

CREDENTIALS_SENTENCE = (
    "Exchange rejected the credentials for duty@council.example. Check the username/password "
    "or app registration, then restart."
)


def settings_for(fake: FakeEws, **changes: object) -> EwsSettings:
    values: dict[str, object] = dict(
        address=fake.address,
        endpoint=fake.endpoint,
        auth=fake.auth,
        username=fake.username,
        password=fake.password,
        max_retry_seconds=2,
    )
    values.update(changes)
    return EwsSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeEws]:
    with FakeEws() as server:
        yield server


@pytest.fixture
def box(fake: FakeEws) -> Iterator[EwsMailbox]:
    with EwsMailbox(settings_for(fake)) as mailbox:
        yield mailbox


def mail(n: int) -> bytes:
    return make_email(f"Referral {n}", f"Body {n}", message_id=f"<m{n}@example.org>")


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"password": None}, "needs a username and a password"),
        ({"auth": "oauth", "client_id": "app"}, "needs a client id, a client secret"),
        ({"server_version": "Exchange2099"}, "Unknown Exchange version"),
        ({"address": "duty"}, "is not an email address"),
    ],
)
def test_bad_settings_are_refused_in_plain_words(
    fake: FakeEws, changes: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        settings_for(fake, **changes)


def test_settings_never_show_the_password(fake: FakeEws) -> None:
    assert fake.password not in repr(settings_for(fake))


def test_a_pinned_server_version_skips_version_guessing(fake: FakeEws) -> None:
    fake.deliver(mail(1))
    with EwsMailbox(settings_for(fake, server_version="Exchange2016")) as box:
        assert len(box.poll(None).messages) == 1

    assert "ConvertId" not in fake.operations


# -- reading ----------------------------------------------------------------------------------


def test_poll_returns_new_mail_with_mime_conversation_and_outlook_link(
    fake: FakeEws, box: EwsMailbox
) -> None:
    item_id = fake.deliver(mail(1))

    batch = box.poll(None)

    assert [m.item_id for m in batch.messages] == [item_id]
    got = batch.messages[0]
    assert got.mime == mail(1)
    assert got.conversation_id == fake.inbox_items()[0].conversation_id
    assert got.web_link is not None and got.web_link.startswith("https://mail.council.example/owa/")
    assert batch.checkpoint and not batch.more


def test_saved_checkpoint_returns_only_mail_that_came_after_it(
    fake: FakeEws, box: EwsMailbox
) -> None:
    fake.deliver(mail(1))
    first = box.poll(None)

    second_id = fake.deliver(mail(2))
    box.set_category(first.messages[0].item_id, "Duty #1")  # an update, not new mail
    second = box.poll(first.checkpoint)

    assert [m.item_id for m in second.messages] == [second_id]
    assert box.poll(second.checkpoint).messages == []


def test_a_big_inbox_comes_in_pages(fake: FakeEws) -> None:
    for n in range(5):
        fake.deliver(mail(n))
    with EwsMailbox(settings_for(fake), page_size=2) as box:
        seen, checkpoint, more = [], None, True
        while more:
            batch = box.poll(checkpoint)
            assert len(batch.messages) <= 2
            seen += [m.mime for m in batch.messages]
            checkpoint, more = batch.checkpoint, batch.more

    assert sorted(seen) == sorted(mail(n) for n in range(5))


def test_expired_sync_state_asks_for_a_resync(fake: FakeEws, box: EwsMailbox) -> None:
    fake.deliver(mail(1))
    old = box.poll(None).checkpoint
    fake.invalidate_sync_states()

    with pytest.raises(CheckpointExpired):
        box.poll(old)
    assert len(box.poll(None).messages) == 1  # starting again from scratch works


# -- failures ----------------------------------------------------------------------------------


def test_server_busy_is_retried_after_the_back_off_exchange_asks_for(
    fake: FakeEws, box: EwsMailbox, caplog: pytest.LogCaptureFixture
) -> None:
    fake.deliver(mail(1))
    box.poll(None)  # warm up: version and inbox are known
    fake.busy_next(2, backoff_ms=500)
    before = fake.http_requests

    with caplog.at_level(logging.WARNING, logger="exchangelib.util"):
        batch = box.poll(None)

    assert len(batch.messages) == 1
    assert fake.http_requests - before == 4  # two refused, then SyncFolderItems and GetItem
    waits = [r for r in caplog.records if r.getMessage().startswith("Server requested back off")]
    assert len(waits) == 2  # exchangelib waited out each back-off before asking again


def test_server_busy_for_longer_than_the_retry_limit_gives_up_at_once(
    fake: FakeEws, box: EwsMailbox
) -> None:
    box.poll(None)
    fake.busy_next(1, backoff_ms=300_000)  # five minutes; the limit is two seconds
    before = fake.http_requests

    with pytest.raises(MailboxError, match="busy"):
        box.poll(None)
    assert fake.http_requests - before == 1  # no retry it could not wait for
    assert fake.deliver(mail(1)) and len(box.poll(None).messages) == 1  # fine next time


@pytest.mark.parametrize("how", ["wrong password", "server rejects"])
def test_rejected_credentials_fail_fast_with_a_plain_sentence(fake: FakeEws, how: str) -> None:
    if how == "server rejects":
        fake.reject_auth = True
        settings = settings_for(fake, max_retry_seconds=60)
    else:
        settings = settings_for(fake, password="wrong", max_retry_seconds=60)

    with EwsMailbox(settings) as box, pytest.raises(MailboxError) as err:
        box.poll(None)

    assert str(err.value) == CREDENTIALS_SENTENCE
    # One try: exchangelib on its own takes a 401 for throttling and retries for a minute.
    assert fake.http_requests == 1
    assert fake.operations == []


def test_server_down_is_a_plain_mailbox_error(fake: FakeEws, box: EwsMailbox) -> None:
    box.poll(None)
    fake.down = True

    with pytest.raises(MailboxError, match=r"^Exchange at 127\.0\.0\.1 is not working"):
        box.poll(None)
    with pytest.raises(MailboxError):
        box.move_to_done("whatever")


def test_ews_switched_off_says_so(fake: FakeEws, box: EwsMailbox) -> None:
    fake.ews_blocked = True

    with pytest.raises(MailboxError, match=r"refused EWS access .* \(HTTP 403\)"):
        box.poll(None)


def test_no_server_at_all_is_a_plain_mailbox_error() -> None:
    fake = FakeEws()
    settings = settings_for(fake)
    fake.stop()  # nothing listens on that port any more

    with EwsMailbox(settings) as box, pytest.raises(MailboxError, match="Cannot connect"):
        box.poll(None)


# -- writing ----------------------------------------------------------------------------------


def test_move_to_done_makes_the_folder_and_moves_the_mail(fake: FakeEws, box: EwsMailbox) -> None:
    first, second = fake.deliver(mail(1)), fake.deliver(mail(2))
    assert not fake.folder_exists("Duty/Done")

    new_id = box.move_to_done(first)
    box.move_to_done(second)

    assert fake.inbox_items() == []
    done = fake.folder_items("Duty/Done")
    assert new_id != first
    assert new_id in [i.item_id for i in done]
    assert sorted(i.mime for i in done) == sorted([mail(1), mail(2)])
    assert fake.count("CreateFolder") == 2  # Duty, then Done; found the second time


def test_move_to_done_uses_existing_folders(fake: FakeEws) -> None:
    item = fake.deliver(mail(1))
    with EwsMailbox(settings_for(fake)) as box:
        box.move_to_done(item)
    again = fake.deliver(mail(2))
    with EwsMailbox(settings_for(fake)) as box:  # a restarted bot
        box.move_to_done(again)

    assert fake.count("CreateFolder") == 2
    assert len(fake.folder_items("Duty/Done")) == 2


def test_moving_a_mail_that_is_gone_says_so(fake: FakeEws, box: EwsMailbox) -> None:
    item = fake.deliver(mail(1))
    box.move_to_done(item)

    with pytest.raises(MailboxError, match="no longer in the mailbox"):
        box.move_to_done(item)  # the old id is gone after a move


def test_set_category_adds_the_task_number_once(fake: FakeEws, box: EwsMailbox) -> None:
    item = fake.deliver(mail(1))

    box.set_category(item, "Urgent")
    box.set_category(item, "Duty #42")
    box.set_category(item, "Duty #42")

    assert fake.inbox_items()[0].categories == ("Urgent", "Duty #42")


def test_send_keeps_text_and_html_and_a_copy_in_sent_items(fake: FakeEws, box: EwsMailbox) -> None:
    box.send(OutgoingEmail(subject="Handover Mon", text="3 open tasks", html="<p>3 open tasks</p>"))

    [sent] = fake.sent()
    assert sent.subject == "Handover Mon"
    assert sent.to == ("duty@council.example",)
    assert sent.text is not None and sent.text.strip() == "3 open tasks"
    assert sent.html is not None and "<p>3 open tasks</p>" in sent.html
    assert [i.subject for i in fake.folder_items("sentitems")] == ["Handover Mon"]
    parsed = email.message_from_bytes(sent.mime, policy=email.policy.default)
    assert parsed["Auto-Submitted"] == "auto-generated"  # no out-of-office replies to it


def test_send_to_other_people(fake: FakeEws, box: EwsMailbox) -> None:
    box.send(OutgoingEmail(subject="Hi", text="x", to=("manager@council.example",)))

    assert fake.sent()[0].to == ("manager@council.example",)
    assert fake.inbox_items() == []


# -- watching ------------------------------------------------------------------------------------


class Calls:
    def __init__(self) -> None:
        self.n = 0
        self._cond = threading.Condition()

    def __call__(self) -> None:
        with self._cond:
            self.n += 1
            self._cond.notify_all()

    def wait_for_more_than(self, n: int, timeout: float = 2.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.n > n, timeout)


@pytest.fixture
def watching(fake: FakeEws, box: EwsMailbox) -> Iterator[tuple[Calls, threading.Event]]:
    calls, stop = Calls(), threading.Event()
    thread = threading.Thread(target=box.watch, args=(stop, calls), kwargs={"poll_interval": 0.2})
    thread.start()
    yield calls, stop
    stop.set()
    thread.join(timeout=3)
    assert not thread.is_alive(), "watch() did not stop promptly"


def test_watch_reports_new_mail_as_it_arrives(
    fake: FakeEws, watching: tuple[Calls, threading.Event]
) -> None:
    calls, _ = watching
    assert fake.wait_for_streams(1)
    before = calls.n  # one catch-up call when the stream opened

    fake.deliver(mail(1))

    assert calls.wait_for_more_than(before, timeout=2)
    assert fake.count("GetStreamingEvents") == 1  # told on the open stream, not a reconnect


def test_watch_reads_keep_alives_on_one_stream_and_still_hears_of_mail(
    fake: FakeEws, box: EwsMailbox
) -> None:
    # The stream is read as it arrives (not a byte per socket read): many keep-alives
    # neither end the stream nor wake the bot, and mail after them is still heard of.
    fake.heartbeat_seconds = 0.05
    calls, stop = Calls(), threading.Event()
    thread = threading.Thread(target=box.watch, args=(stop, calls), kwargs={"poll_interval": 0.2})
    thread.start()
    try:
        assert fake.wait_for_streams(1)
        before = calls.n
        time.sleep(1.0)  # about ten keep-alives
        assert calls.n == before
        fake.deliver(mail(1))
        assert calls.wait_for_more_than(before, timeout=2)
        assert fake.count("GetStreamingEvents") == 1
    finally:
        stop.set()
        thread.join(timeout=3)


def test_watch_reconnects_after_the_stream_drops(
    fake: FakeEws, watching: tuple[Calls, threading.Event]
) -> None:
    calls, _ = watching
    assert fake.wait_for_streams(1)
    before = calls.n

    fake.drop_stream()

    assert calls.wait_for_more_than(before, timeout=3)  # catch-up after reconnecting
    assert fake.wait_for_streams(1)
    assert fake.count("GetStreamingEvents") == 2
    seen = calls.n
    fake.deliver(mail(1))
    assert calls.wait_for_more_than(seen, timeout=2)


def test_watch_stops_promptly_and_unsubscribes(fake: FakeEws, box: EwsMailbox) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=box.watch, args=(stop, Calls()))
    thread.start()
    assert fake.wait_for_streams(1)

    stop.set()
    thread.join(timeout=3)

    assert not thread.is_alive()
    assert fake.count("Unsubscribe") == 1


def test_watch_stops_even_if_exchange_keeps_the_stream_open(fake: FakeEws, box: EwsMailbox) -> None:
    fake.unsubscribe_ends_stream = False
    stop = threading.Event()
    thread = threading.Thread(target=box.watch, args=(stop, Calls()))
    thread.start()
    assert fake.wait_for_streams(1)

    stop.set()
    thread.join(timeout=3)

    assert not thread.is_alive()
    assert fake.wait_no_streams(timeout=1)  # the connection is not left hanging


def test_watch_polls_when_streaming_is_not_available(fake: FakeEws, box: EwsMailbox) -> None:
    fake.streaming_supported = False
    calls, stop = Calls(), threading.Event()
    thread = threading.Thread(target=box.watch, args=(stop, calls), kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        assert calls.wait_for_more_than(3, timeout=2)
    finally:
        stop.set()
        thread.join(timeout=3)
    assert not thread.is_alive()


# -- health check ------------------------------------------------------------------------------


def test_check_reports_inbox_done_folder_and_sending(fake: FakeEws, box: EwsMailbox) -> None:
    fake.deliver(mail(1))
    fake.deliver(mail(2))

    lines = box.check()

    assert [ok for ok, _ in lines] == [True, True, True]
    assert lines[0][1] == "Inbox of duty@council.example is reachable (2 items)."
    assert "Duty/Done does not exist yet" in lines[1][1]
    assert "Sent Items" in lines[2][1]
    assert not fake.folder_exists("Duty")  # checking changes nothing

    box.move_to_done(fake.inbox_items()[0].item_id)
    assert box.check()[1] == (True, "Done folder Duty/Done exists.")


def test_check_with_bad_credentials_says_what_to_fix(fake: FakeEws) -> None:
    with EwsMailbox(settings_for(fake, password="wrong")) as box:
        lines = box.check()

    assert lines[0] == (False, CREDENTIALS_SENTENCE)
    assert not any(ok for ok, _ in lines)


# -- NTLM and privacy ------------------------------------------------------------------------


def test_ntlm_sign_in() -> None:
    with FakeEws(auth="ntlm", username="COUNCIL\\svc-dutybot") as fake:
        fake.deliver(mail(1))
        with EwsMailbox(settings_for(fake)) as box:
            assert len(box.poll(None).messages) == 1
        fake.http_requests = 0
        wrong = settings_for(fake, password="wrong", max_retry_seconds=60)
        with EwsMailbox(wrong) as box, pytest.raises(MailboxError) as err:
            box.poll(None)
        assert str(err.value) == CREDENTIALS_SENTENCE
        assert fake.http_requests == 3  # one NTLM handshake (3 legs), never retried

        fake.reject_auth = True  # a server with NTLM switched off gives no challenge
        with EwsMailbox(settings_for(fake)) as box, pytest.raises(MailboxError) as err:
            box.poll(None)
        assert str(err.value) == CREDENTIALS_SENTENCE


def test_no_email_content_or_password_in_debug_logs(
    fake: FakeEws, box: EwsMailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.deliver(make_email("Secret subject", "Secret body text", message_id="<s@example.org>"))

    box.poll(None)
    box.send(OutgoingEmail(subject="Secret handover", text="Secret handover body"))

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "EWS sync" in logged  # the adapter does log, just not content
    for secret in ("Secret", "U2VjcmV0", fake.password, "Basic "):
        assert secret not in logged
