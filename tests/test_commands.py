"""The /duty command language, as typed in Slack or the shell."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import CATALOGUE
from bot.cases.commands import (
    CaseAdd,
    CaseAllocate,
    CaseClose,
    CaseLetter,
    CaseList,
    CaseRate,
    CaseReview,
    CaseSeen,
    CaseShow,
    CaseSummary,
)
from bot.chat.catalogue import Help, Invalid
from bot.chat.words import FALLBACK as _FALLBACK
from bot.handover.commands import HandoverCall as Handover
from bot.ops.commands import ClockMove as Clock
from bot.rota.commands import RotaSet
from bot.rota.commands import ShowRota as Rota
from bot.tasks.commands import (
    Alert,
    Assign,
    Claim,
    Flag,
    FollowUp,
    List,
    Note,
    Reopen,
    Resolve,
    Show,
    Unclaim,
)

Command = object  # any verb's arguments
USAGE = {verb.name: verb.usage for verb in CATALOGUE.listed()}
help_text = CATALOGUE.help_text


def parse_command(text: str) -> object:
    """The arguments a line reads as, or Invalid."""
    found = CATALOGUE.read(text)
    return found if isinstance(found, Invalid) else found.args


VALID: list[tuple[str, Command]] = [
    # help and lists
    ("", Help(None)),
    ("   ", Help(None)),
    ("/duty", Help(None)),
    ("help", Help(None)),
    ("help claim", Help("claim")),
    ("HELP Follow-up", Help("followup")),
    ("help case add", Help("case add")),
    ("help cases", Help("cases")),
    ("list", List("open")),
    ("list mine", List("mine")),
    ("List ALL", List("all")),
    ("list open 2", List("open", 2)),
    ("list financial 3", List("financial", 3)),
    # one task
    ("show 7", Show(7)),
    ("claim 42", Claim(42)),
    ("claim #42", Claim(42)),
    ("CLAIM 042", Claim(42)),
    ("/duty claim 42", Claim(42)),
    ("/DUTY   claim   42  ", Claim(42)),
    ("unclaim 42", Unclaim(42)),
    ("claim 1000000000", Claim(10**9)),
    # people
    ("assign 42 @sam", Assign(42, "sam")),
    ("assign 42 to @sam", Assign(42, "sam")),
    ("assign 42 <@U123ABC>", Assign(42, "U123ABC")),
    ("assign 42 <@U123ABC|sam>", Assign(42, "U123ABC")),
    ("assign 42 <@U123ABC|sam smith>", Assign(42, "U123ABC")),
    ("assign 42 U123ABC", Assign(42, "U123ABC")),
    ("assign #42 @sam.jones", Assign(42, "sam.jones")),
    # notes keep the user's words, whitespace tidied
    ("resolve 42", Resolve(42, "")),
    ("resolve 42 Called back,  all   sorted", Resolve(42, "Called back, all sorted")),
    ("reopen 42", Reopen(42, "")),
    ("reopen 42 Mum rang\nagain", Reopen(42, "Mum rang again")),
    ("note 42 Left a VOICEMAIL for <@U99ZZZZ|jo>", Note(42, "Left a VOICEMAIL for <@U99ZZZZ|jo>")),
    # alerts: people first, then the note
    ("alert 3 @sam", Alert(3, ("sam",), "")),
    ("alert 42 please call", Alert(42, (), "please call")),  # the worker and team leader
    (
        "alert 3 <@U1ABCDEF|sam> @jo, U0123456 please call back",
        Alert(3, ("U1ABCDEF", "jo", "U0123456"), "please call back"),
    ),
    ("alert 3 @sam @sam URGENTLY call", Alert(3, ("sam",), "URGENTLY call")),
    # flags
    ("flag 4 urgent", Flag(4, "urgent", True)),
    ("flag 4 Safeguarding", Flag(4, "safeguarding", True)),
    ("unflag 4 urgent", Flag(4, "urgent", False)),
    ("unflag #4 sg", Flag(4, "safeguarding", False)),
    # follow-ups: the time is the longest prefix that reads as a time
    (
        "/duty followup 3 tomorrow 10:00 call the landlord back",
        FollowUp(3, "tomorrow 10:00", "call the landlord back"),
    ),
    ("followup 3 in 3 days", FollowUp(3, "in 3 days", "")),
    ("followup 3 in 3 days chase the GP", FollowUp(3, "in 3 days", "chase the GP")),
    ("followup 3 fri 14:00", FollowUp(3, "fri 14:00", "")),
    ("followup 3 Fri 14:00 Ring Mum", FollowUp(3, "Fri 14:00", "Ring Mum")),
    ("followup 3 2026-12-01 09:30 note", FollowUp(3, "2026-12-01 09:30", "note")),
    ("followup 3 1/12/2026 visit", FollowUp(3, "1/12/2026", "visit")),
    ("follow-up 3 tomorrow", FollowUp(3, "tomorrow", "")),
    ("follow up #3 3pm check in", FollowUp(3, "3pm", "check in")),
    # the day
    ("handover", Handover(False)),
    ("handover post", Handover(True)),
    ("rota", Rota()),
    (
        "rota set mon manager @sam pa1 @jo pa2 @kim backup @lee",
        RotaSet("mon", (("manager", "sam"), ("pa1", "jo"), ("pa2", "kim"), ("backup", "lee"))),
    ),
    (
        "rota set 2026-12-01 backup=<@U123ABC|lee> manager:@sam",
        RotaSet("2026-12-01", (("manager", "sam"), ("backup", "U123ABC"))),
    ),
    ("rota set weekly Mon pa1 @jo", RotaSet("weekly mon", (("pa1", "jo"),))),
    ("rota set friday dm @sam", RotaSet("fri", (("manager", "sam"),))),
    ("rota set 1/12/2026 pa2 @kim", RotaSet("2026-12-01", (("pa2", "kim"),))),
    ("clock +2h", Clock("+2h")),
    ("clock +30m", Clock("+30m")),
    ("clock +1D", Clock("+1d")),
    ("clock 2026-12-24 16:30", Clock("2026-12-24 16:30")),
    ("clock 2026-12-24T9:05", Clock("2026-12-24 09:05")),
    # cases
    ("case add C1234", CaseAdd("C1234", None, None, None)),
    (
        "case add c1234 amber <@U123ABC> since 2026-11-02",
        CaseAdd("C1234", "amber", "U123ABC", "2026-11-02"),
    ),
    ("case add C1 @sam red 2/11/2026", CaseAdd("C1", "red", "sam", "2026-11-02")),
    ("case rate C1 yellow settled at school", CaseRate("C1", "yellow", "settled at school")),
    ("case rate C1 red", CaseRate("C1", "red", "")),
    ("case review C1 Plan agreed", CaseReview("C1", "Plan agreed")),
    ("case summary #C1", CaseSummary("C1")),
    ("case allocate C1 @jo", CaseAllocate("C1", "jo")),
    ("case allocate C1 to <@U55AAAA|jo>", CaseAllocate("C1", "U55AAAA")),
    ("case close C1 Moved out of area", CaseClose("C1", "Moved out of area")),
    ("case list", CaseList(None)),
    ("case list overdue", CaseList("overdue")),
    ("CASE LIST Red", CaseList("red")),
    ("case list mine", CaseList("mine")),
    ("case show C1", CaseShow("C1")),
    ("case seen C1 visit", CaseSeen("C1", "visit", None)),
    ("case seen C1 contact 2026-12-01", CaseSeen("C1", "contact", "2026-12-01")),
    ("case letter C1", CaseLetter("C1", None)),
    ("case letter C1 1/12/2026", CaseLetter("C1", "2026-12-01")),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_commands(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_slack_sends_only_the_text_after_duty(text: str, expected: Command) -> None:
    bare = text.removeprefix("/duty").strip()
    assert parse_command(bare) == expected


INVALID: list[tuple[str, str]] = [
    # unknown verbs suggest the closest one
    ("clam 42", "I don't know 'clam'. Did you mean: /duty claim N"),
    ("reslove 4", "Did you mean: /duty resolve N [note]"),
    ("folowup 3 tomorrow", "Did you mean: /duty followup N WHEN [note]"),
    ("xyzzy", "I don't know 'xyzzy'. Try: /duty help"),
    ("case ad C1", "I don't know 'case ad'. Did you mean: /duty case add REF"),
    ("case", "'/duty case' needs what to do"),
    ("help clam", "I don't have help on 'clam'. Did you mean: /duty help claim"),
    # numbers
    ("/duty claim", "'/duty claim' needs a task number, like: /duty claim 42"),
    ("claim abc", "'abc' isn't a task number. Use: /duty claim 42"),
    ("claim 0", "'0' isn't a task number"),
    ("claim -3", "'-3' isn't a task number"),
    ("claim 4.5", "'4.5' isn't a task number"),
    ("claim 1000000001", "'1000000001' isn't a task number"),
    ("claim 99999999999999999999999", "isn't a task number"),
    ("show", "'/duty show' needs a task number"),
    ("resolve", "'/duty resolve' needs a task number"),
    ("note x hello", "'x' isn't a task number. Use: /duty note 42"),
    # extra words where none are taken
    ("claim 42 now", "'/duty claim' doesn't take 'now'. Use: /duty claim 42"),
    ("unclaim 42 please", "'/duty unclaim' doesn't take 'please'"),
    ("show 42 43", "'/duty show' doesn't take '43'"),
    ("rota today", "'/duty rota' doesn't take 'today'. Use: /duty rota"),
    ("handover now", "'/duty handover' doesn't take 'now'"),
    ("list mine all", "'/duty list' doesn't take 'all'"),
    ("list 42", "'42' isn't a list"),
    ("list open 0", "'0' isn't a page number. Use: /duty list open 2"),
    ("list open 2 3", "'3'"),  # a word could be a category: see test_tasks.py
    ("assign 42 @sam @jo", "'/duty assign' doesn't take '@jo'"),
    ("flag 4 urgent now", "'/duty flag' doesn't take 'now'"),
    ("case summary C1 done", "'/duty case summary' doesn't take 'done'"),
    # people
    ("assign 42", "'/duty assign' needs a person"),
    ("assign 42 sam", "'sam' isn't a person; mention them with @"),
    ("case allocate C1 jo", "'jo' isn't a person"),
    # flags, notes, follow-ups
    ("flag 4", "'/duty flag' needs urgent or safeguarding"),
    ("flag 4 loud", "'loud' isn't a flag"),
    ("unflag 4 loud", "Use: /duty unflag 42 urgent"),
    ("note 4", "'/duty note' needs some text"),
    ("followup 3", "'/duty followup' needs a time"),
    ("followup 3 tomorow 10:00 call back", "I couldn't read 'tomorow 10:00' as a time"),
    ("followup 3 call back later", "I couldn't read 'call' as a time"),
    ("followup 3 25:00 call", "'25:00' isn't a real time of day"),
    # the day
    ("rota set", "'/duty rota set' needs a day"),
    ("rota set mon", "needs at least one role and person"),
    ("rota set sat manager @sam", "working days, mon to fri"),
    ("rota set weekly manager @sam", "'weekly' needs a weekday"),
    ("rota set someday manager @sam", "I couldn't read 'someday' as a date"),
    ("rota set 2026-02-30 manager @sam", "isn't a real date"),
    ("rota set mon boss @sam", "'boss' isn't a rota role"),
    ("rota set mon manager", "'manager' needs a person"),
    ("rota set mon manager sam", "'sam' isn't a person"),
    ("rota set mon pa1 @a pa1 @b", "'pa1' is given twice"),
    ("clock", "'/duty clock' needs a step or a time"),
    ("clock -1d", "I couldn't read '-1d' as a clock step or time"),
    ("clock +0h", "couldn't read '+0h'"),
    ("clock +2y", "couldn't read '+2y'"),
    ("clock 2026-12-24 25:00", "isn't a real time"),
    # cases
    ("case add", "'/duty case add' needs a case reference"),
    ("case add @sam", "'@sam' isn't a case reference"),
    ("case add C1 purple", "'/duty case add' doesn't take 'purple'"),
    ("case add C1 red amber", "'/duty case add' doesn't take 'amber'"),
    ("case add C1 since", "'since' needs a date"),
    ("case add C1 since soon", "I couldn't read 'soon' as a date"),
    ("case rate C1", "needs red, amber or yellow"),
    ("case rate C1 green fine", "'green' isn't a RAY rating"),
    ("case add Smith", "A case reference has a number in it (never a name)"),
    ("case show jo-bloggs", "A case reference has a number in it"),
    ("case review C1", "'/duty case review' needs a note"),
    ("case close C1", "'/duty case close' needs a reason"),
    ("case list green", "'green' isn't a case list"),
    ("case seen C1", "needs contact or visit"),
    ("case seen C1 call", "'call' isn't contact or visit"),
    ("case seen C1 visit yesterday", "I couldn't read 'yesterday' as a date"),
    ("case seen C1 visit 2026-12-01 extra", "doesn't take 'extra'"),
    ("case letter C1 31/2/2026", "isn't a real date"),
]


@pytest.mark.parametrize(("text", "says"), INVALID)
def test_invalid_commands_say_what_to_type(text: str, says: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Invalid), result
    assert says in result.message
    assert len(result.message.splitlines()) == 1


def test_long_junk_is_quoted_briefly() -> None:
    result = parse_command("claim " + "9" * 50_000)
    assert isinstance(result, Invalid)
    assert len(result.message) < 200


def test_long_note_is_kept() -> None:
    text = " ".join(["word"] * 20_000)
    assert parse_command(f"note 5 {text}") == Note(5, text)


# --- usage and help ---------------------------------------------------------------------------


def test_every_usage_line_is_in_the_full_help() -> None:
    full = help_text()
    for line in USAGE.values():
        assert line in full
    for group in ("Tasks:", "Day:", "Cases:"):
        assert group in full


def test_help_on_one_command_and_one_group() -> None:
    assert USAGE["claim"] in help_text("claim")
    assert USAGE["case add"] not in help_text("claim")
    cases = help_text("cases")
    assert USAGE["case add"] in cases and USAGE["claim"] not in cases


def test_help_topic_from_parser_works_with_help_text() -> None:
    for text in ("help claim", "help case seen", "help tasks", "help follow-up", "help day"):
        topic = parse_command(text)
        assert isinstance(topic, Help)
        assert help_text(topic.topic) != help_text(None)


def test_unknown_help_topic_shows_everything() -> None:
    assert help_text("nonsense") == help_text(None)


def test_every_top_level_verb_has_usage() -> None:
    for key in USAGE:
        verb = key.split()[0]
        result = parse_command(verb)
        # A bare verb is either a command in itself or a complaint naming that verb.
        if isinstance(result, Invalid):
            assert f"/duty {verb}" in result.message


# --- property -----------------------------------------------------------------------------------

_WORDS = [
    "/duty", "claim", "unclaim", "show", "assign", "alert", "resolve", "reopen", "flag", "unflag",
    "note", "followup", "follow", "up", "handover", "post", "rota", "set", "weekly", "mon", "sat",
    "manager", "pa1=@x", "backup", "clock", "+2h", "case", "add", "rate", "review", "summary",
    "allocate", "close", "list", "seen", "letter", "visit", "contact", "since", "red", "amber",
    "urgent", "help", "42", "#42", "#0", "-1", "99999999999", "@sam", "<@U123ABC|sam>", "<@",
    "U123ABC", "tomorrow", "10:00", "in", "3", "days", "2026-12-01", "31/2/2026", "to", "C1",
]  # fmt: skip
_VERBS = sorted({key.split()[0] for key in USAGE} | {"follow-up", "unknown"})
_args = st.lists(st.sampled_from(_WORDS) | st.text(max_size=8), max_size=8).map(" ".join)
# Most examples start with a real verb so every command's argument parsing is exercised.
_command_text = st.one_of(
    st.text(),
    _args,
    st.tuples(st.sampled_from(["", "/duty "]), st.sampled_from(_VERBS), _args).map(" ".join),
    st.tuples(st.sampled_from(list(USAGE)), _args).map(" ".join),
)


@settings(max_examples=500)
@given(_command_text)
def test_any_text_is_a_command_or_one_line_invalid(text: str) -> None:
    result = parse_command(text)
    if isinstance(result, Invalid):
        assert result.message.strip()
        assert len(result.message.splitlines()) == 1
        assert result.message != _FALLBACK  # the catch-all would mean a parser bug
    else:
        assert dataclasses.is_dataclass(result)
