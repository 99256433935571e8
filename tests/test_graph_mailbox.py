"""GraphMailbox against a local fake of Entra ID sign-in and Graph mail (real msal, real HTTPS)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from bot.app import open_mailbox
from bot.kernel.config import TeamConfig
from bot.mail.adapters.graph import GraphMailbox
from bot.mail.mailbox import Batch, CheckpointExpired, MailboxError, OutgoingEmail
from bot.mail.pace import PollPace

try:  # tests/ is on sys.path under pytest's default import mode...
    from fakes.graph_server import FakeGraph
except ImportError:  # ...or the repo root is, once tests/ becomes a package
    from tests.fakes.graph_server import FakeGraph

MakeMailbox = Callable[..., GraphMailbox]


def mime(n: int, subject: str = "Placement query") -> bytes:
    return (
        f"Message-ID: <m{n}@school.example.org>\r\n"
        f"From: Teacher <t{n}@school.example.org>\r\n"
        f"To: CareExperiencedDuty@council.example.gov.uk\r\n"
        f"Subject: {subject} {n}\r\n\r\nBody of mail {n}\r\n"
    ).encode()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_mailbox(fake: FakeGraph, sleeps: list[float]) -> Iterator[MakeMailbox]:
    opened: list[GraphMailbox] = []

    def make(pace: PollPace | None = None, **overrides: object) -> GraphMailbox:
        settings = fake.settings(timeout=10.0)
        box = GraphMailbox(replace(settings, **overrides), sleep=sleeps.append, pace=pace)
        opened.append(box)
        return box

    yield make
    for box in opened:
        box.close()


def ids(batch: Batch) -> list[str]:
    return [m.item_id for m in batch.messages]


def delta_calls(fake: FakeGraph) -> int:
    return sum(r.path.endswith("/messages/delta") for r in fake.requests)


def test_delta_over_several_pages_returns_every_mail_once_then_only_new(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    first = [fake.deliver(mime(n), conversation_id=f"conv-{n}") for n in range(5)]
    box = make_mailbox(page_size=2)

    batch = box.poll(None)

    assert ids(batch) == first
    assert delta_calls(fake) == 3  # pages of 2, 2 and 1
    assert [m.mime for m in batch.messages] == [mime(n) for n in range(5)]
    assert batch.messages[0].conversation_id == "conv-0"
    assert (batch.messages[0].web_link or "").startswith("https://outlook.office365.com/owa/")
    assert batch.more is False

    later = [fake.deliver(mime(n)) for n in (5, 6)]
    again = box.poll(batch.checkpoint)
    assert ids(again) == later
    assert ids(box.poll(again.checkpoint)) == []


def test_a_large_backlog_comes_in_bounded_batches(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    delivered = [fake.deliver(mime(n)) for n in range(7)]
    box = make_mailbox(page_size=2, max_batch=3)

    first = box.poll(None)
    second = box.poll(first.checkpoint)

    assert (len(first.messages), first.more) == (4, True)
    assert (len(second.messages), second.more) == (3, False)
    assert sorted(ids(first) + ids(second)) == sorted(delivered)


def test_every_graph_call_asks_for_immutable_ids_and_one_sign_in_serves_all(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    fake.deliver(mime(1))
    box = make_mailbox()
    item = box.poll(None).messages[0].item_id
    box.set_category(item, "Dutybot")
    box.move_to_done(item)
    box.send(OutgoingEmail(subject="Handover", text="All quiet."))
    box.check()

    assert len(fake.requests) > 8
    assert all(r.prefer_immutable for r in fake.requests)
    assert all(r.authorized for r in fake.requests)
    assert fake.token_requests == 1


def test_throttling_is_honoured_then_the_mail_arrives_once(
    fake: FakeGraph, make_mailbox: MakeMailbox, sleeps: list[float]
) -> None:
    delivered = [fake.deliver(mime(n)) for n in range(3)]
    box = make_mailbox()
    fake.throttle_next(1, retry_after=1)

    batch = box.poll(None)

    assert sleeps == [1.0]
    assert [r.status for r in fake.requests][:2] == [429, 200]
    assert ids(batch) == delivered


def test_throttling_longer_than_the_wait_budget_gives_up_without_waiting(
    fake: FakeGraph, make_mailbox: MakeMailbox, sleeps: list[float]
) -> None:
    fake.deliver(mime(1))
    box = make_mailbox(max_total_wait=60.0)
    fake.throttle_next(1, retry_after=3600)

    with pytest.raises(MailboxError, match="kept asking us to slow down"):
        box.poll(None)
    assert sleeps == []


def test_an_outage_beyond_max_retries_is_one_plain_error(
    fake: FakeGraph, make_mailbox: MakeMailbox, sleeps: list[float]
) -> None:
    box = make_mailbox(max_retries=2)
    fake.fail_next(10, status=503)

    with pytest.raises(MailboxError, match=r"unavailable \(HTTP 503\).*after 3 tries"):
        box.poll(None)
    assert len(sleeps) == 2
    assert len(fake.requests) == 3


def test_expired_delta_link_asks_for_a_resync_which_returns_everything(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    old = [fake.deliver(mime(n)) for n in range(3)]
    box = make_mailbox(page_size=2)
    checkpoint = box.poll(None).checkpoint
    new = fake.deliver(mime(3))
    fake.expire_delta_tokens()

    with pytest.raises(CheckpointExpired):
        box.poll(checkpoint)
    resync = box.poll(None)

    # Everything still in the inbox comes again; intake's Message-ID dedupe drops repeats.
    assert sorted(ids(resync)) == sorted([*old, new])


def test_a_checkpoint_for_another_host_is_not_followed(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    box = make_mailbox()
    with pytest.raises(CheckpointExpired):
        box.poll("https://attacker.example/v1.0/users/x/mailFolders/inbox/messages/delta")
    assert fake.requests == []  # our token went nowhere


def test_move_to_done_creates_duty_done_and_takes_mail_out_of_the_inbox(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    first, second, stays = (fake.deliver(mime(n)) for n in range(3))
    box = make_mailbox()

    moved = [box.move_to_done(first), box.move_to_done(second)]

    done = fake.folder("Duty/Done")
    assert [m.id for m in done] == moved
    assert [m.mime for m in done] == [mime(0), mime(1)]
    assert [m.id for m in fake.inbox()] == [stays]
    creates = [r for r in fake.requests if r.method == "POST" and r.path.endswith("childFolders")]
    assert len(creates) == 2  # "Duty" then "Done", once only


def test_an_existing_done_folder_is_reused(fake: FakeGraph, make_mailbox: MakeMailbox) -> None:
    item = fake.deliver(mime(1))
    make_mailbox().check()  # creates Duty/Done
    new_id = make_mailbox().move_to_done(item)  # a fresh process finds it

    assert [m.id for m in fake.folder("Duty/Done")] == [new_id]
    assert sum(r.method == "POST" and r.path.endswith("childFolders") for r in fake.requests) == 2


def test_send_carries_text_and_html_and_goes_to_the_duty_inbox(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    box = make_mailbox()
    box.send(OutgoingEmail(subject="Handover 3 May", text="3 open tasks", html="<b>3</b> open"))
    box.send(OutgoingEmail(subject="Alert", text="See #42", to=["manager@council.example.gov.uk"]))

    handover, alert = fake.sent()
    assert handover.to == (fake.address,)
    assert handover.save_to_sent_items
    assert handover.message["Subject"] == "Handover 3 May"
    plain = handover.message.get_body(preferencelist=("plain",))
    html = handover.message.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().strip() == "3 open tasks"
    assert html is not None and html.get_content().strip() == "<b>3</b> open"
    assert alert.to == ("manager@council.example.gov.uk",)
    # Only the handover was addressed to the duty inbox, so only it lands there.
    assert len(fake.inbox()) == 1


def test_set_category_adds_without_dropping_others(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    item = fake.deliver(mime(1))
    box = make_mailbox()
    box.set_category(item, "Red")
    box.set_category(item, "Dutybot #42")
    box.set_category(item, "Dutybot #42")

    assert fake.inbox()[0].categories == ("Red", "Dutybot #42")


def test_category_edits_do_not_bring_mail_back_in_the_next_poll(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    item = fake.deliver(mime(1))
    box = make_mailbox()
    checkpoint = box.poll(None).checkpoint
    box.set_category(item, "Dutybot #1")

    assert ids(box.poll(checkpoint)) == []


def test_wrong_secret_fails_fast_with_a_plain_sentence(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    fake.deliver(mime(1))
    box = make_mailbox(client_secret="not-the-secret")

    with pytest.raises(MailboxError) as caught:
        box.poll(None)

    assert str(caught.value) == (
        f"Microsoft sign-in rejected the app credentials for {fake.address}. "
        "Check the client id, secret and tenant, then restart."
    )
    assert "not-the-secret" not in repr(box.settings)
    assert fake.token_requests == 1  # refused sign-in is not retried
    assert fake.requests == []


def test_unknown_tenant_is_named_in_the_error(make_mailbox: MakeMailbox) -> None:
    with pytest.raises(MailboxError, match="does not know tenant wrong-tenant"):
        make_mailbox(tenant_id="wrong-tenant").poll(None)


def test_a_revoked_token_is_replaced_by_signing_in_again(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    box = make_mailbox()
    box.poll(None)
    fake.revoke_tokens()
    item = fake.deliver(mime(1))

    assert [m.item_id for m in box.poll(None).messages] == [item]
    assert fake.token_requests == 2


def test_check_reports_inbox_done_folder_and_send_permission(
    fake: FakeGraph, make_mailbox: MakeMailbox
) -> None:
    fake.deliver(mime(1))
    fake.deliver(mime(2))

    results = make_mailbox().check()

    assert [ok for ok, _ in results] == [True, True, True]
    assert "(2 items)" in results[0][1]
    assert fake.folder("Duty/Done") == []


def test_check_flags_a_missing_send_permission(fake: FakeGraph, make_mailbox: MakeMailbox) -> None:
    fake.roles = ["Mail.ReadWrite"]

    inbox, done, send = make_mailbox().check()

    assert inbox[0] and done[0]
    assert send == (False, send[1])
    assert "Mail.Send" in send[1]


def test_check_when_the_mailbox_does_not_exist(make_mailbox: MakeMailbox) -> None:
    results = make_mailbox(address="nobody@council.example.gov.uk").check()

    assert [ok for ok, _ in results][:2] == [False, False]
    assert "Check the mailbox address" in results[0][1]


# -- pacing: how soon the bot looks at the inbox again (bot/mail/pace.py) --------------------


class HandClock:
    """Monotonic seconds that move only when told, for the pace and the fake's budget."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hand() -> HandClock:
    return HandClock()


def test_looks_come_every_2_s_after_mail_and_back_off_to_poll_seconds_while_idle(
    fake: FakeGraph, make_mailbox: MakeMailbox, hand: HandClock
) -> None:
    box = make_mailbox(pace=PollPace(slowest=4.0, clock=hand))
    checkpoint = None
    waits = []
    for arrives in (False, False, False, True, False):
        if arrives:
            fake.deliver(mime(len(waits)))
        checkpoint = box.poll(checkpoint).checkpoint
        waits.append(box.pace.next_wait())

    assert waits == [3.0, 4.0, 4.0, 2.0, 3.0]
    # A quiet look is one request to the mailbox; one with mail adds its download.
    assert len(fake.requests_to(fake.address)) == 5 + 1


def test_a_throttled_look_waits_as_long_as_retry_after_says_then_the_pace_comes_back(
    fake: FakeGraph, make_mailbox: MakeMailbox, sleeps: list[float], hand: HandClock
) -> None:
    box = make_mailbox(pace=PollPace(slowest=4.0, clock=hand), max_total_wait=10.0)
    fake.throttle_next(1, retry_after=30)

    with pytest.raises(MailboxError, match="kept asking us to slow down"):
        box.poll(None)

    assert sleeps == []  # too long to wait inside the call: the next look waits instead
    assert box.pace.next_wait() == 30.0
    hand.now += 12
    assert box.pace.next_wait() == 18.0
    hand.now += 18
    assert box.pace.next_wait() == 4.0  # not faster than poll_seconds straight after
    fake.deliver(mime(1))
    assert len(box.poll(None).messages) == 1
    assert box.pace.next_wait() == 2.0  # Graph answered without throttling: back to pace


def test_a_retry_after_beyond_graph_s_10_minutes_holds_the_inbox_back_10_minutes_only(
    fake: FakeGraph, make_mailbox: MakeMailbox, hand: HandClock
) -> None:
    box = make_mailbox(pace=PollPace(slowest=4.0, clock=hand))
    fake.throttle_next(1, retry_after=86400)  # a day: a fault somewhere, not Graph's budget

    with pytest.raises(MailboxError, match="slow down"):
        box.poll(None)

    assert box.pace.next_wait() == 600.0


def test_a_short_retry_after_is_waited_inside_the_call_and_the_next_look_is_not_hurried(
    fake: FakeGraph, make_mailbox: MakeMailbox, sleeps: list[float], hand: HandClock
) -> None:
    fake.deliver(mime(1))
    box = make_mailbox(pace=PollPace(slowest=4.0, clock=hand))
    fake.throttle_next(1, retry_after=1)

    assert len(box.poll(None).messages) == 1

    assert sleeps == [1.0]
    assert box.pace.next_wait() == 4.0  # mail came, but Graph had just throttled


def test_throttling_without_retry_after_backs_off_longer_each_time_then_comes_back(
    fake: FakeGraph, make_mailbox: MakeMailbox, hand: HandClock
) -> None:
    box = make_mailbox(pace=PollPace(slowest=4.0, longest_hold=60.0, clock=hand), max_retries=0)
    holds = []
    for _ in range(5):
        fake.fail_next(1, status=503)  # no Retry-After
        with pytest.raises(MailboxError, match="unavailable"):
            box.poll(None)
        holds.append(box.pace.next_wait())
        hand.now += holds[-1]

    assert holds == [8.0, 16.0, 32.0, 60.0, 60.0]
    checkpoint = box.poll(None).checkpoint
    assert box.pace.next_wait() == 4.0
    fake.deliver(mime(1))
    box.poll(checkpoint)
    assert box.pace.next_wait() == 2.0
    fake.fail_next(1, status=503)
    with pytest.raises(MailboxError):
        box.poll(None)
    assert box.pace.next_wait() == 8.0  # a fresh throttle starts the back-off afresh


def test_a_throttled_move_to_done_holds_back_the_next_look_too(
    fake: FakeGraph, make_mailbox: MakeMailbox, hand: HandClock
) -> None:
    item = fake.deliver(mime(1))
    box = make_mailbox(pace=PollPace(slowest=4.0, clock=hand), max_total_wait=5.0)
    box.move_to_done(item)  # makes the Done folder
    other = fake.deliver(mime(2))
    fake.throttle_next(1, retry_after=45)

    with pytest.raises(MailboxError, match="slow down"):
        box.move_to_done(other)

    assert box.pace.next_wait() == 45.0  # Graph's limit is per mailbox, whatever the call


def test_once_the_mailbox_budget_is_spent_graph_throttles_and_the_bot_waits_it_out(
    fake: FakeGraph, make_mailbox: MakeMailbox, sleeps: list[float], hand: HandClock
) -> None:
    fake.budget, fake.clock = (3, 600.0), hand
    box = make_mailbox(pace=PollPace(slowest=4.0, clock=hand), max_total_wait=60.0)
    checkpoint = None
    for _ in range(3):
        checkpoint = box.poll(checkpoint).checkpoint
        hand.now += box.pace.next_wait()

    with pytest.raises(MailboxError, match="slow down"):
        box.poll(checkpoint)
    assert sleeps == []
    wait = box.pace.next_wait()
    assert 580 <= wait <= 600  # until the first of the three leaves Graph's 10 minutes
    hand.now += wait
    box.poll(checkpoint)  # one request back in the budget: the look goes through
    assert [r.status for r in fake.requests_to(fake.address)] == [200, 200, 200, 429, 200]


@pytest.mark.parametrize(("poll_seconds", "quiet"), [(None, 4.0), (30.0, 30.0), (1.0, 1.0)])
def test_poll_seconds_in_the_config_is_the_longest_wait_while_the_inbox_is_quiet(
    fake: FakeGraph,
    monkeypatch: pytest.MonkeyPatch,
    poll_seconds: float | None,
    quiet: float,
) -> None:
    monkeypatch.setenv("PACE_GRAPH_SECRET", fake.client_secret)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
    mailbox = {"kind": "graph", "address": fake.address, "tenant_id": fake.tenant_id,
               "client_id": fake.client_id, "client_secret_env": "PACE_GRAPH_SECRET",
               "authority_host": fake.authority_host, "graph_url": fake.graph_url}  # fmt: skip
    if poll_seconds is not None:
        mailbox["poll_seconds"] = poll_seconds
    team = TeamConfig.model_validate(
        {"name": "pace", "channel": "C0DUTY", "managers": ["U1"], "mailbox": mailbox}
    )
    box = open_mailbox(team)
    try:
        checkpoint = None
        for _ in range(10):  # a quiet inbox
            checkpoint = box.poll(checkpoint).checkpoint
        assert isinstance(box, GraphMailbox)
        assert box.pace.next_wait() == quiet
        fake.deliver(mime(1))
        box.poll(checkpoint)
        assert box.pace.next_wait() == min(2.0, quiet)
    finally:
        box.close()
