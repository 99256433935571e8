"""End to end, for EWS and for Graph: an email dropped into the fake mailbox becomes a card in
the fake Slack, a signed Resolve (the Resolve modal's view_submission) goes over real HTTP,
and the email ends up in Duty/Done in the fake mailbox.

The bot runs as `dutybot run` does (tests/slack_harness.py: bolt in HTTP mode behind
waitress, the Runner's mail watcher, delivery and move loops in the background), with the
team's mailbox opened from config: real exchangelib against tests/fakes/ews_server.py, or
real msal + HTTPS against tests/fakes/graph_server.py. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from storage.db import Database
from tests.bot_process import until
from tests.fakes.ews_server import FakeEws
from tests.fakes.graph_server import FakeGraph
from tests.mail import make_email
from tests.slack_harness import SAM, SlackHarness

REFERRAL = make_email(
    "Placement query for J",
    "Please call the school back about J's placement.",
    message_id="<e2e-1@school.example.org>",
)


def button_urls(card: dict[str, Any]) -> list[str]:
    return [
        el["url"]
        for block in card.get("blocks", [])
        for el in block.get("elements", [])
        if isinstance(el, dict) and "url" in el
    ]


def resolve_over_http(h: SlackHarness) -> None:
    """The card is there; a duty worker resolves task 1 through the Resolve modal."""
    answer = h.resolve(1, "Recorded on Mosaic; school called back.", ("case_note",), user=SAM)
    assert answer.status_code == 200
    assert answer.text in ("", "{}")  # accepted: no field errors in the modal
    until(lambda: "Resolved" in str(h.card(1)), 15, "the card to say Resolved")


def test_ews_email_to_card_to_resolve_to_done(
    db: Database, ews: FakeEws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_EWS_PASSWORD", ews.password)
    mailbox = {
        "kind": "ews",
        "address": ews.address,
        "endpoint": ews.endpoint,
        "auth": "basic",
        "username": ews.username,
        "password_env": "E2E_EWS_PASSWORD",
        "streaming": True,
    }
    with SlackHarness(db, team={"mailbox": mailbox}, with_mailboxes=True) as h:
        h.runner.start()
        assert ews.wait_for_streams(1)

        ews.deliver(REFERRAL)
        until(h.cards, 15, "the card")  # the card is posted
        card = h.card(1)
        assert card is not None and "Placement query for J" in str(card)
        [outlook] = button_urls(card)  # "Open in Outlook", from the item's web link
        assert outlook.startswith("https://mail.council.example/owa/")

        resolve_over_http(h)
        done = until(lambda: ews.folder_items("Duty/Done"), 15, "Duty/Done")

    assert [i.mime for i in done] == [REFERRAL]
    assert ews.inbox_items() == []
    assert len(h.cards_of(1)) == 1  # one card, never posted twice


def test_graph_email_to_card_to_resolve_to_done(
    db: Database, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_GRAPH_SECRET", graph.client_secret)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", graph.ca_bundle)  # trust the fake's own CA
    mailbox = {
        "kind": "graph",
        "address": graph.address,
        "tenant_id": graph.tenant_id,
        "client_id": graph.client_id,
        "client_secret_env": "E2E_GRAPH_SECRET",
        "authority_host": graph.authority_host,
        "graph_url": graph.graph_url,
        "poll_seconds": 0.2,
    }
    with SlackHarness(db, team={"mailbox": mailbox}, with_mailboxes=True) as h:
        h.runner.start()

        graph.deliver(REFERRAL)
        until(h.cards, 15, "the card")  # the card is posted
        card = h.card(1)
        assert card is not None and "Placement query for J" in str(card)

        resolve_over_http(h)
        done = until(lambda: done_folder(graph), 15, "Duty/Done")

    assert [m.mime for m in done] == [REFERRAL]
    assert graph.inbox() == []
    assert len(h.cards_of(1)) == 1


def done_folder(graph: FakeGraph) -> list[Any]:
    try:
        return graph.folder("Duty/Done")
    except KeyError:  # not made yet
        return []
