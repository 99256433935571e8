"""One delivery round reads what waits once, then posts, updates and sends: what it does along
the way (a card just posted, a card just updated) is not lost on the rest of the round, nor on
the next round when the chat goes away part way."""

from __future__ import annotations

from typing import Any

from storage.db import Database
from tests.slack_harness import ALEX, SAM, SlackHarness, card_text


def _claim(h: SlackHarness, number: int, user: str = SAM) -> None:
    """Claim as the chat would, without the delivery a chat action starts by itself."""
    h.bot.teams[h.team.name].tasks.claim(user, number)


def test_a_claim_before_its_card_went_out_reaches_slack_with_the_card_in_one_round(
    db: Database,
) -> None:
    with SlackHarness(db) as h:
        n = h.email()
        _claim(h, n)
        got = h.runner.deliver(h.team.name)
        assert (got.posted, got.messages) == (1, 1)
        assert "Claimed by @Sam" in card_text(h.card(n))
        assert [r["text"] for r in h.thread(n)] == ["Claimed by @Sam."]


class _SlackGoesAwayAfter:
    """A stop signal that never stops, but makes Slack fail every chat.update from the
    ``n``-th card on (asked before each card)."""

    def __init__(self, h: SlackHarness, n: int) -> None:
        self.h, self.asked, self.n = h, 0, n

    def is_set(self) -> bool:
        self.asked += 1
        if self.asked == self.n:
            self.h.fake.fail_next(3, "500", method="chat.update")  # with the client's 2 retries
        return False


def _updates(h: SlackHarness, card: dict[str, Any] | None) -> int:
    assert card is not None
    calls = h.fake.calls_to("chat.update")
    return sum(1 for c in calls if c.fault is None and c.params.get("ts") == card["ts"])


def test_a_card_updated_before_slack_went_away_is_not_updated_again(db: Database) -> None:
    with SlackHarness(db) as h:
        n, other = h.email(), h.email()
        h.drain()
        _claim(h, n)
        _claim(h, other, ALEX)
        got = h.bot.deliver(h.team.name, h.slack.chat, stop=_SlackGoesAwayAfter(h, 2))
        assert got.waiting and got.updated == 0  # the round ended part way
        h.drain()
        assert (_updates(h, h.card(n)), _updates(h, h.card(other))) == (1, 1)
        assert "Claimed by @Sam" in card_text(h.card(n))
        assert "Claimed by @Alex" in card_text(h.card(other))
        assert [r["text"] for r in h.thread(n)] == ["Claimed by @Sam."]
        assert [r["text"] for r in h.thread(other)] == ["Claimed by @Alex."]


def test_a_round_says_when_a_resolved_tasks_card_changed_so_its_mail_goes_to_done(
    db: Database,
) -> None:
    # The mailbox's move to Done is woken by resolved cards only, not by every claim's card.
    with SlackHarness(db) as h:
        n = h.email()
        h.drain()
        _claim(h, n)
        assert h.runner.deliver(h.team.name).resolved == 0
        h.bot.teams[h.team.name].tasks.resolve(SAM, n, "Rang back; sorted.")
        got = h.runner.deliver(h.team.name)
        assert (got.updated, got.resolved) == (1, 1)
        assert "Resolved" in card_text(h.card(n))
