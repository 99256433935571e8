"""The Slack fake, driven by the real slack_sdk WebClient (with retry handlers) and slack-bolt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import (
    block_actions_body,
    signed_headers,
    slash_command_body,
    view_submission_body,
)

TOKEN = "xoxb-test-token"
SECRET = "shhh-signing-secret"
TASK_META = {"event_type": "duty_task", "event_payload": {"task_id": 42, "state": "open"}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(seed=7) as server:
        yield server


def make_client(fake: FakeSlack, *, retries: int = 3, token: str | None = TOKEN) -> WebClient:
    quick = FixedValueRetryIntervalCalculator(0.01)
    handlers = [
        RateLimitErrorRetryHandler(max_retry_count=retries),
        ServerErrorRetryHandler(max_retry_count=retries, interval_calculator=quick),
        ConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=quick),
    ]
    return WebClient(token=token, base_url=fake.url, timeout=1, retry_handlers=handlers)


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


# ---------------------------------------------------------------- messages


def test_posted_message_comes_back_in_history_with_metadata_only_when_asked(
    fake: FakeSlack,
) -> None:
    client = make_client(fake)
    posted = client.chat_postMessage(channel="C1", text="Task #42", metadata=TASK_META)

    assert posted["channel"] == "C1"
    assert posted["message"]["metadata"] == TASK_META

    with_meta = client.conversations_history(channel="C1", include_all_metadata=True)
    assert with_meta["messages"][0]["ts"] == posted["ts"]
    assert with_meta["messages"][0]["metadata"] == TASK_META

    plain = client.conversations_history(channel="C1")
    assert plain["messages"][0]["text"] == "Task #42"
    assert "metadata" not in plain["messages"][0]

    # Form bodies carry metadata as a JSON string; Call.json decodes either form.
    assert fake.calls_to("chat.postMessage")[0].json("metadata") == TASK_META
    assert fake.calls_to("chat.postMessage")[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_history_is_newest_first_and_pages_with_limit_and_cursor(fake: FakeSlack) -> None:
    client = make_client(fake)
    stamps = [client.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(3)]

    assert stamps == sorted(stamps, key=lambda ts: tuple(map(int, ts.split("."))))
    assert len(set(stamps)) == 3

    first = client.conversations_history(channel="C1", limit=2)
    assert texts(first["messages"]) == ["m2", "m1"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel="C1", limit=2, cursor=cursor)
    assert texts(rest["messages"]) == ["m0"]
    assert rest["has_more"] is False

    newer = client.conversations_history(channel="C1", oldest=stamps[0])
    assert texts(newer["messages"]) == ["m2", "m1"]
    older = client.conversations_history(channel="C1", latest=stamps[2], inclusive=True)
    assert texts(older["messages"]) == ["m2", "m1", "m0"]


def test_thread_replies_stay_out_of_channel_history(fake: FakeSlack) -> None:
    client = make_client(fake)
    parent = client.chat_postMessage(channel="C1", text="card")["ts"]
    client.chat_postMessage(channel="C1", text="claimed by Ann", thread_ts=parent)

    assert texts(fake.messages("C1")) == ["card"]
    assert texts(fake.replies("C1", parent)) == ["claimed by Ann"]
    thread = client.conversations_replies(channel="C1", ts=parent)
    assert texts(thread["messages"]) == ["card", "claimed by Ann"]

    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="lost", thread_ts="1.000001")
    assert err.value.response["error"] == "thread_not_found"


def test_chat_update_rewrites_the_stored_message(fake: FakeSlack) -> None:
    client = make_client(fake)
    ts = client.chat_postMessage(channel="C1", text="open", metadata=TASK_META)["ts"]
    claimed = {"event_type": "duty_task", "event_payload": {"task_id": 42, "state": "claimed"}}

    client.chat_update(channel="C1", ts=ts, text="claimed", metadata=claimed)

    stored = fake.message("C1", ts)
    assert stored is not None
    assert stored["text"] == "claimed"
    assert stored["metadata"] == claimed
    assert len(fake.messages("C1")) == 1

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1700000000.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_permalink_and_dm_channel(fake: FakeSlack) -> None:
    client = make_client(fake)
    ts = client.chat_postMessage(channel="C1", text="card")["ts"]
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link.endswith(f"/archives/C1/p{ts.replace('.', '')}")

    dm = client.conversations_open(users="U7")["channel"]["id"]
    assert dm == client.conversations_open(users="U7")["channel"]["id"] == "DU7"
    client.chat_postMessage(channel="U7", text="You have a follow-up due")
    assert texts(fake.messages(dm)) == ["You have a follow-up due"]


def test_concurrent_posts_are_all_kept_and_wait_for_sees_them(fake: FakeSlack) -> None:
    def post(i: int) -> str:
        return make_client(fake).chat_postMessage(channel="C1", text=f"m{i}")["ts"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        stamps = list(pool.map(post, range(24)))

    assert len(set(stamps)) == 24
    found = fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 24, timeout=1.0)
    assert found is True
    assert sorted(texts(fake.messages("C1"))) == sorted(f"m{i}" for i in range(24))

    fake.reset()
    assert fake.calls == [] and fake.messages("C1") == []
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda: fake.messages("C1"), timeout=0.1)


# ---------------------------------------------------------------- faults


def test_429_makes_the_client_wait_retry_after_and_post_once(fake: FakeSlack) -> None:
    fake.retry_after = 1
    fake.fail_next(1, "429", method="chat.postMessage")
    client = make_client(fake)

    started = time.monotonic()
    client.chat_postMessage(channel="C1", text="Task #1")

    assert time.monotonic() - started >= 1.0
    assert texts(fake.messages("C1")) == ["Task #1"]
    assert [c.fault for c in fake.calls_to("chat.postMessage")] == ["429", None]


def test_server_errors_are_retried_without_posting_twice(fake: FakeSlack) -> None:
    fake.fail_next(1, "500")
    fake.fail_next(1, "503")
    make_client(fake).chat_postMessage(channel="C1", text="Task #1")

    assert texts(fake.messages("C1")) == ["Task #1"]
    assert [c.fault for c in fake.calls_to("chat.postMessage")] == ["500", "503", None]


def test_500_after_post_leaves_a_duplicate_when_the_client_retries(fake: FakeSlack) -> None:
    fake.fail_next(1, "500-after-post")
    make_client(fake).chat_postMessage(channel="C1", text="Task #1")

    assert texts(fake.messages("C1")) == ["Task #1", "Task #1"]


def test_connection_reset_is_retried(fake: FakeSlack) -> None:
    fake.fail_next(1, "reset")
    make_client(fake).chat_postMessage(channel="C1", text="Task #1")

    assert texts(fake.messages("C1")) == ["Task #1"]


def test_hang_times_the_client_out_posts_nothing_and_stop_is_prompt() -> None:
    fake = FakeSlack(hang_seconds=5.0).start()
    try:
        fake.fail_next(1, "hang")
        with pytest.raises(TimeoutError):
            make_client(fake).chat_postMessage(channel="C1", text="Task #1")
        assert fake.messages("C1") == []
    finally:
        started = time.monotonic()
        fake.stop()
    assert time.monotonic() - started < 1.0


def test_without_retries_a_fault_reaches_the_caller(fake: FakeSlack) -> None:
    fake.fail_next(1, "503")
    with pytest.raises(SlackApiError) as err:
        make_client(fake, retries=0).chat_postMessage(channel="C1", text="Task #1")
    assert err.value.response.status_code == 503
    assert fake.messages("C1") == []


def test_per_channel_rate_limit(fake: FakeSlack) -> None:
    fake.rate_limit_per_channel = 1.0
    impatient = make_client(fake, retries=0)
    impatient.chat_postMessage(channel="C1", text="first")

    with pytest.raises(SlackApiError) as err:
        impatient.chat_postMessage(channel="C1", text="too soon")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"
    impatient.chat_postMessage(channel="C2", text="other channel is fine")

    make_client(fake).chat_postMessage(channel="C1", text="after waiting")
    assert texts(fake.messages("C1")) == ["first", "after waiting"]


def test_random_failures_are_survived_by_a_retrying_client(fake: FakeSlack) -> None:
    fake.failure_rate = 0.3
    fake.failure_kinds = ["500", "503", "reset"]
    client = make_client(fake, retries=6)

    for i in range(12):
        client.chat_postMessage(channel="C1", text=f"Task #{i}")

    assert texts(fake.messages("C1")) == [f"Task #{i}" for i in range(12)]
    assert any(c.fault for c in fake.calls)


def test_bad_token_and_unknown_method(fake: FakeSlack) -> None:
    for token in ("xoxp-user-token", None):
        with pytest.raises(SlackApiError) as err:
            make_client(fake, token=token).chat_postMessage(channel="C1", text="x")
        assert err.value.response["error"] == "invalid_auth"
    assert fake.messages("C1") == []

    with pytest.raises(SlackApiError) as err:
        make_client(fake).api_call("chat.doesNotExist")
    assert err.value.response["error"] == "unknown_method"


# ---------------------------------------------------------------- views, users, hooks


def test_views_publish_and_update(fake: FakeSlack) -> None:
    client = make_client(fake)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "1"}}
    home = {"type": "home", "blocks": [section]}
    first = client.views_publish(user_id="U1", view=home)["view"]
    second = client.views_publish(user_id="U1", view={**home, "blocks": []})["view"]

    published = fake.views_published("U1")
    assert [len(v["blocks"]) for v in published] == [1, 0]
    assert first["id"] == second["id"]

    modal = {"type": "modal", "callback_id": "note", "title": {"type": "plain_text", "text": "N"}}
    opened = client.views_open(trigger_id="1.2.3", view=modal)["view"]
    assert fake.views_opened()[0]["view"]["callback_id"] == "note"
    with pytest.raises(SlackApiError) as err:
        client.views_update(view_id=opened["id"], hash="stale", view=modal)
    assert err.value.response["error"] == "hash_conflict"
    client.views_update(view_id=opened["id"], hash=opened["hash"], view={**modal, "blocks": []})


def test_usergroups_and_users_are_configurable(fake: FakeSlack) -> None:
    fake.usergroups = {"S123": ["U1", "U2"]}
    fake.users = {"U1": "Ann Smith", "U2": {"real_name": "Bo Jones", "display_name": "Bo"}}
    client = make_client(fake)

    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]
    assert client.users_info(user="U1")["user"]["real_name"] == "Ann Smith"
    assert client.users_info(user="U2")["user"]["profile"]["display_name"] == "Bo"
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S999")
    assert err.value.response["error"] == "no_such_subteam"


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    reply = WebhookClient(fake.response_url()).send(text="Only you can see this")

    assert reply.status_code == 200
    assert fake.calls_to("response_url")[0].params["text"] == "Only you can see this"


# ---------------------------------------------------------------- signing and Bolt


def test_signed_headers_verify_and_tampering_fails() -> None:
    body = slash_command_body(text="claim 42")
    verifier = SignatureVerifier(SECRET)

    assert verifier.is_valid_request(body, signed_headers(SECRET, body))
    assert verifier.is_valid_request(body.encode(), signed_headers(SECRET, body.encode()))
    assert not verifier.is_valid_request(body + "9", signed_headers(SECRET, body))
    assert not verifier.is_valid_request(body, signed_headers("other-secret", body))
    stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)
    assert parse_qs(body)["text"] == ["claim 42"]


def test_bolt_app_handles_signed_bodies_and_talks_to_the_fake(fake: FakeSlack) -> None:
    app = App(client=make_client(fake), signing_secret=SECRET, process_before_response=True)
    seen: dict[str, Any] = {}

    @app.command("/duty")
    def tasks(ack: Any, command: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_postMessage(channel=command["channel_id"], text=f"got {command['text']}")

    @app.action("claim")
    def claim(ack: Any, body: dict[str, Any]) -> None:
        ack()
        seen["action"] = (body["actions"][0]["value"], body["container"]["message_ts"])

    @app.view("note")
    def note(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen["view"] = (view["private_metadata"], view["state"]["values"])

    def dispatch(body: str) -> int:
        return app.dispatch(BoltRequest(body=body, headers=signed_headers(SECRET, body))).status

    assert dispatch(slash_command_body(text="claim 42", channel_id="C9")) == 200
    assert texts(fake.messages("C9")) == ["got claim 42"]

    assert dispatch(block_actions_body("claim", "42", message_ts="1700000000.000100")) == 200
    assert seen["action"] == ("42", "1700000000.000100")

    values = {"b": {"a": {"type": "plain_text_input", "value": "rang mum"}}}
    assert dispatch(view_submission_body("note", "task:42", values)) == 200
    assert seen["view"] == ("task:42", values)

    forged = slash_command_body(text="x")
    headers = signed_headers("wrong", forged)
    assert app.dispatch(BoltRequest(body=forged, headers=headers)).status == 401
