"""The unallocated-case register: its policies, commands, events, report and CLI, and
`/duty case` in the shell and in Slack."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.app import DutyBot
from bot.cases.policy import next_rating, next_review
from bot.chat.calls import Place
from bot.kernel.clock import ManualClock
from bot.kernel.config import CASE_POLICIES, ConfigError, parse_config
from bot.kernel.message import Message
from handlers.cli import main
from storage.db import Database
from storage.models import Case, Event, Outbox
from tests.conftest import TEAM
from tests.slack_harness import JO, SAM, SlackHarness, card_text
from tests.test_case_clocks import at, case_bot, d
from tests.test_shell import shell, write_config

LONDON = ZoneInfo("Europe/London")

# ---- the policies --------------------------------------------------------------------------


def test_the_presets_carry_the_numbers_of_each_document() -> None:
    guide, tfs, walsall = (
        CASE_POLICIES[name] for name in ("practice-guide", "targeted-family-support", "walsall")
    )
    # seeds/003: review every 10 days, letters within 5 working days, the service manager at
    # once, the head of service on day 10.
    assert (guide.review_days, guide.letter_working_days) == (10, 5)
    assert guide.escalate_after_days == (("service_manager", 0), ("head_of_service", 10))
    assert guide.ray_review_days is guide.summary_working_days is guide.contact_days is None
    # seeds/001: review every 14 days, RAY every 7, summary in 3 working days, oversight note
    # over 7 days, contact in 7, visit in 14, the service manager at 4 weeks, head at 6.
    assert (tfs.review_days, tfs.ray_review_days, tfs.summary_working_days) == (14, 7, 3)
    assert (tfs.oversight_note_days, tfs.contact_days, tfs.visit_days) == (7, 7, 14)
    assert tfs.escalate_after_days == (("service_manager", 28), ("head_of_service", 42))
    assert tfs.letter_working_days is None
    # seeds/002: review every 7 days, the group manager at 4 weeks, letters at once.
    assert (walsall.review_days, walsall.letter_working_days) == (7, 0)
    assert walsall.escalate_after_days == (("group_manager", 28),)
    # The team's default is the practice guide.
    assert parse_config({"teams": [TEAM]}).teams[0].cases.rules() == guide


def test_every_number_can_be_changed_or_turned_off_per_team() -> None:
    cases = {
        "policy": "targeted-family-support",
        "review_days": 10,
        "visit_days": "off",
        "letter_working_days": 5,
        "escalate_after_days": {"service_manager": "off", "group_manager": 21},
        "people": {"group_manager": "U0GROUP"},
    }
    team = parse_config({"teams": [{**TEAM, "cases": cases}]}).teams[0]
    rules = team.cases.rules()
    assert (rules.review_days, rules.visit_days, rules.letter_working_days) == (10, None, 5)
    assert (rules.ray_review_days, rules.contact_days) == (7, 7)  # kept from the preset
    assert rules.escalate_after_days == (("group_manager", 21), ("head_of_service", 42))
    assert team.cases.people.group_manager == "U0GROUP"


def test_bad_case_settings_get_one_plain_line_each() -> None:
    cases = {
        "policy": "kent",
        "review_days": 0,
        "contact_days": "soon",
        "escalate_after_days": {"head_of_service": -3},
        "weekly_report": {"day": "sun"},
    }
    with pytest.raises(ConfigError) as err:
        parse_config({"teams": [{**TEAM, "cases": cases}]})
    assert err.value.problems == [
        "teams[0].cases.policy: 'kent' is not allowed; input should be 'practice-guide', "
        "'targeted-family-support' or 'walsall'",
        "teams[0].cases.review_days: 0 days is not allowed; expected 1 to 3650",
        "teams[0].cases.contact_days: 'soon' is not a number of days; expected a whole number "
        'or "off"',
        "teams[0].cases.escalate_after_days.head_of_service: -3 days is not allowed; "
        "expected 0 to 3650",
        "teams[0].cases.weekly_report.day: 'sun' is not allowed; input should be 'mon', 'tue', "
        "'wed', 'thu' or 'fri'",
    ]


# ---- the commands --------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(at(d(3, 23), 10))  # Monday 23 March 2026


def say(bot: DutyBot, who: str, line: str) -> str:
    return bot.team().command(who, line).plain()


def case_events(db: Database) -> list[tuple[str, str, str, str]]:
    """(case, who, kind, note) for every case event, in order."""
    with db.session() as s:
        rows = s.execute(
            select(Case.ref, Event.actor, Event.kind, Event.note)
            .join(Case, Case.id == Event.case_id)
            .order_by(Event.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


MANAGER_ONLY = [
    ("/duty case add C9 red", "Only a manager can add cases."),
    ("/duty case rate C1 red", "Only a manager can rate cases."),
    ("/duty case review C1 all fine", "Only a manager can record case reviews."),
    ("/duty case summary C1", "Only a manager can record case summaries."),
    ("/duty case allocate C1 @sam", "Only a manager can allocate cases."),
    ("/duty case close C1 gone", "Only a manager can close cases."),
]


@pytest.mark.parametrize(("line", "refusal"), MANAGER_ONLY)
def test_members_are_refused_the_manager_commands(
    db: Database, clock: ManualClock, line: str, refusal: str
) -> None:
    bot = case_bot(db, clock)
    say(bot, "jo", "/duty case add C1 amber")
    before = case_events(db)
    assert say(bot, "sam", line) == refusal
    assert say(bot, "stranger", line) == refusal
    assert case_events(db) == before  # nothing changed, nothing recorded
    with db.session() as s:
        case = s.scalar(select(Case).where(Case.ref == "C1"))
        assert case is not None and (case.state, case.ray) == ("open", "amber")


@pytest.mark.parametrize(
    "line",
    ["/duty case list", "/duty case show C1", "/duty case seen C1 visit", "/duty case letter C1"],
)
def test_people_outside_the_team_are_refused_even_the_member_commands(
    db: Database, clock: ManualClock, line: str
) -> None:
    bot = case_bot(db, clock)
    say(bot, "jo", "/duty case add C1 amber")
    assert say(bot, "stranger", line) == "Only members of the duty team can see or record cases."


def test_every_change_writes_an_event_and_members_can_record_contact(
    db: Database, clock: ManualClock
) -> None:
    bot = case_bot(db, clock, policy="targeted-family-support")
    steps = [
        ("jo", "/duty case add C1 amber @kim since 2026-03-20"),
        ("jo", "/duty case summary C1"),
        ("sam", "/duty case seen C1 contact 2026-03-21"),
        ("alex", "/duty case seen C1 visit"),
        ("priya", "/duty case letter C1"),
        ("kim", "/duty case rate C1 red school worried"),
        ("kim", "/duty case review C1 safety plan agreed"),
        ("jo", "/duty case allocate C1 @alex"),
    ]
    for who, line in steps:
        say(bot, who, line)
    assert case_events(db) == [
        ("C1", "jo", "case_added", ""),
        ("C1", "jo", "case_summary", ""),
        ("C1", "sam", "case_seen", ""),
        ("C1", "alex", "case_seen", ""),
        ("C1", "priya", "case_letter", ""),
        ("C1", "kim", "case_rated", "school worried"),
        ("C1", "kim", "case_reviewed", "safety plan agreed"),
        ("C1", "jo", "case_allocated", ""),
    ]
    with db.session() as s:
        case = s.scalar(select(Case).where(Case.ref == "C1"))
        assert case is not None
        assert (case.state, case.allocated_to, case.team_manager) == ("allocated", "alex", "kim")
        assert (case.contact_on, case.visit_on, case.letter_on) == (d(3, 23), d(3, 23), d(3, 23))
    shown = say(bot, "sam", "/duty case show C1")
    assert "Allocated to @alex." in shown
    assert "First contact with the child: done Mon 23 Mar." in shown  # the visit, the latest
    assert "school worried" not in shown and "safety plan" not in shown  # notes stay out


def test_reviewing_and_rerating_move_the_due_dates(db: Database, clock: ManualClock) -> None:
    bot = case_bot(db, clock, policy="targeted-family-support")
    say(bot, "jo", "/duty case add C1 amber")

    def due() -> tuple[date, date | None]:
        with db.session() as s:
            case = s.scalar(select(Case).where(Case.ref == "C1"))
            assert case is not None
            team = bot.team()
            rules = team.cfg.cases.rules()
            return (
                next_review(case, rules, team.calendar, team.cfg),
                next_rating(case, rules, team.calendar, team.cfg),
            )

    # 14 days on is Easter Monday (6 Apr): back to Thursday 2 Apr. Rating: Monday 30 Mar.
    assert due() == (d(4, 2), d(3, 30))
    clock.set(at(d(3, 26), 11))
    assert say(bot, "jo", "/duty case review C1 seen at school") == (
        "Review of C1 recorded. Next review due Thu 09 Apr."
    )
    assert due() == (d(4, 9), d(3, 30))
    assert say(bot, "jo", "/duty case rate C1 yellow settled") == (
        "C1 is now YELLOW (was AMBER). Next RAY review due Thu 02 Apr."
    )
    assert due() == (d(4, 9), d(4, 2))
    clock.set(at(d(4, 7), 9, 30))
    say(bot, "jo", "/duty case rate C1 yellow")
    say(bot, "jo", "/duty case review C1 still settled")
    assert due() == (d(4, 21), d(4, 14))


def test_the_escalation_roles_can_read_the_register_but_not_change_it(
    db: Database, clock: ManualClock
) -> None:
    # seeds/003: the tray is "accessible by the team manager, practice supervisor, service
    # manager, Head of Service". "sm" is the team's service manager, not on the duty team.
    bot = case_bot(db, clock)
    say(bot, "jo", "/duty case add C1 amber since 2026-03-16")
    assert say(bot, "sm", "/duty case list").startswith("Unallocated cases (1)")
    assert say(bot, "hos", "/duty case show C1").startswith("C1 AMBER, open.")
    read_only = "You can read the case register, but only the duty team can change it."
    for line in ("/duty case add C2", "/duty case review C1 fine", "/duty case seen C1 visit"):
        assert say(bot, "sm", line) == read_only
    assert say(bot, "sm", "/duty list").startswith("Only members of the duty team can do that")
    assert say(bot, "stranger", "/duty case list") == (
        "Only members of the duty team can see or record cases."
    )
    # In a direct message with the bot, the register is theirs to read too.
    dm = bot.calls.command("sm", Place("dm", "DSM"), "/duty case list")
    assert not dm.refused and dm.message.plain().startswith("Unallocated cases (1)")


def test_refusals_are_one_plain_sentence(db: Database, clock: ManualClock) -> None:
    bot = case_bot(db, clock)
    say(bot, "jo", "/duty case add C1 amber since 2026-03-16")
    say(bot, "jo", "/duty case add C2 red")
    say(bot, "jo", "/duty case close C2 moved out of area")
    cases = [
        ("jo", "/duty case add C1", "C1 is already on the register, unallocated since Mon 16 Mar."),
        ("jo", "/duty case add C3 since 2026-03-30",
         "A case can't become unallocated in the future; give an earlier date."),
        ("jo", "/duty case add C3 @sam",
         "@sam isn't a manager on this team, so can't be its team manager."),
        ("jo", "/duty case show C7",
         "There is no case C7 on the register. /duty case list shows them."),
        ("jo", "/duty case rate C2 red",
         "C2 is closed, so it is no longer on the unallocated register."),
        ("sam", "/duty case seen C1 visit 2026-03-24",
         "Tue 24 Mar is in the future; record the visit once it is done."),
        ("sam", "/duty case letter C1 2026-03-02",
         "C1 became unallocated on Mon 16 Mar; give a date from then on."),
        ("sam", "/duty case add Smith", "A case reference has a number in it (never a name). "
         "Use: /duty case add C1234 amber @jo since 2026-11-02"),
    ]  # fmt: skip
    for who, line, refusal in cases:
        assert say(bot, who, line) == refusal
    assert "Smith" not in say(bot, "sam", "/duty case show Smith")


def test_only_references_reach_the_chat_never_notes(db: Database, clock: ManualClock) -> None:
    bot = case_bot(db, clock, policy="targeted-family-support")
    say(bot, "jo", "/duty case add C1 red since 2026-01-05")
    say(bot, "jo", "/duty case rate C1 red Jayden missed school")
    say(bot, "jo", "/duty case review C1 Jayden's mum called")
    say(bot, "jo", "/duty case close C1 Jayden moved to Leeds")
    say(bot, "jo", "/duty case add C2 red since 2026-01-05")
    clock.set(at(d(3, 24), 9))
    jobs = bot.team().jobs
    assert jobs is not None
    jobs.run_due()
    with db.session() as s:
        bodies = [str(b) for b in s.scalars(select(Outbox.body))]
    assert bodies and not any("Jayden" in b for b in bodies)
    for line in ("/duty case show C1", "/duty case list", "/duty case show C2"):
        assert "Jayden" not in say(bot, "sam", line)


def test_allocating_twice_has_one_winner(db: Database, clock: ManualClock) -> None:
    bot = case_bot(db, clock)
    say(bot, "jo", "/duty case add C1 red")
    assert say(bot, "jo", "/duty case allocate C1 @alex").startswith("C1 is allocated to @alex")
    assert say(bot, "kim", "/duty case allocate C1 @sam") == (
        "C1 is allocated, so it is no longer on the unallocated register."
    )
    assert [k for _, _, k, _ in case_events(db)] == ["case_added", "case_allocated"]


# ---- the report and the lists ------------------------------------------------------------


def register(bot: DutyBot) -> None:
    """Five cases: two red, two amber (one Kim's), one not rated."""
    for line in (
        "/duty case add A1 amber since 2026-02-23",  # 28 days
        "/duty case add R1 red since 2026-03-16",  # 7 days
        "/duty case add N1 since 2026-03-02",  # 21 days, not rated
        "/duty case add R2 red since 2026-03-09",  # 14 days
        "/duty case add A2 amber @kim",  # today
    ):
        say(bot, "jo", line)
    say(bot, "jo", "/duty case review A1 plan agreed")
    say(bot, "jo", "/duty case letter A1 2026-02-27")


def test_the_report_lists_red_first_then_the_longest_waiting(
    db: Database, clock: ManualClock
) -> None:
    bot = case_bot(db, clock)
    register(bot)
    clock.set(at(d(3, 30), 9))
    jobs = bot.team().jobs
    assert jobs is not None
    jobs.run_due()
    with db.session() as s:
        post = s.scalar(select(Outbox).where(Outbox.kind == "channel"))
        assert post is not None
        text = Message.from_json(post.body).plain({"jo": "Jo", "kim": "Kim"})
    assert text.splitlines() == [
        "Unallocated cases, Mon 30 Mar 2026: 5 open (red 2, amber 2, yellow 0, not rated 1). "
        "Longest wait: A1, 35 days.",
        "R2 RED, 21 days unallocated (since Mon 09 Mar), team manager @Jo. Last review: none. "
        "Next review due Thu 19 Mar. Overdue: review, letter.",
        "R1 RED, 14 days unallocated (since Mon 16 Mar), team manager @Jo. Last review: none. "
        "Next review due Thu 26 Mar. Overdue: review, letter.",
        "A1 AMBER, 35 days unallocated (since Mon 23 Feb), team manager @Jo. Last review: "
        "Mon 23 Mar. Next review due Thu 02 Apr. Overdue: nothing.",
        "N1 NOT RATED, 28 days unallocated (since Mon 02 Mar), team manager @Jo. "
        "Last review: none. Next review due Thu 12 Mar. Overdue: review, letter.",
        "A2 AMBER, 7 days unallocated (since Mon 23 Mar), team manager @Kim. Last review: none. "
        "Next review due Thu 02 Apr. Overdue: nothing.",
    ]


@pytest.mark.parametrize(
    ("line", "who", "expected"),
    [
        ("/duty case list", "sam", ["R2", "R1", "A1", "N1", "A2"]),
        ("/duty case list red", "sam", ["R2", "R1"]),
        ("/duty case list amber", "sam", ["A1", "A2"]),
        ("/duty case list overdue", "sam", ["R2", "R1", "N1"]),
        ("/duty case list mine", "kim", ["A2"]),
        ("/duty case list yellow", "sam", []),
    ],
)
def test_case_lists_filter_the_same_order(
    db: Database, clock: ManualClock, line: str, who: str, expected: list[str]
) -> None:
    bot = case_bot(db, clock)
    register(bot)
    clock.set(at(d(3, 30), 11))
    shown = say(bot, who, line).splitlines()
    assert [row.split()[0] for row in shown[1:]] == expected
    if not expected:
        assert shown == ["No unallocated cases rated yellow."]


# ---- the command line ------------------------------------------------------------------------


def cli_config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[database]\nurl = "{db_url}"\n\n[[teams]]\nname = "care-experienced"\n'
        'channel = "C0DUTY"\nmembers = ["sam"]\nmanagers = ["jo", "kim"]\n'
        '[teams.names]\njo = "Jo Bloggs"\n'
    )
    return cfg


def test_the_cli_prints_the_report_or_writes_it_as_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'duty.db'}"
    today = datetime.now(UTC).astimezone(LONDON).date()
    clock = ManualClock(datetime.now(UTC))
    cfg = parse_config({"database": {"url": url}, "teams": [{**TEAM, "managers": ["jo", "kim"]}]})
    bot = DutyBot(cfg, clock=clock).start(with_mailboxes=False)
    team = bot.team()
    for ref, ray, ago in (("Y1", "yellow", 30), ("R1", "red", 3), ("A1", "amber", 12)):
        since = (today - timedelta(days=ago)).isoformat()
        assert (
            "is on the register"
            in team.command("jo", f"/duty case add {ref} {ray} since {since}").plain()
        )
    team.command("jo", "/duty case add X1 red")
    team.command("jo", "/duty case close X1 moved away")
    bot.close()
    cfg_file = cli_config(tmp_path, url)

    printed = CliRunner().invoke(main, ["report", "unallocated", "--config", str(cfg_file)])
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert lines[0].startswith(
        f"Unallocated cases, {today:%a %d %b %Y}: 3 open (red 1, amber 1, yellow 1)."
    )
    assert lines[0].endswith("Longest wait: Y1, 30 days.")
    assert [row.split()[0] for row in lines[1:]] == ["R1", "Y1", "A1"]
    assert "team manager @Jo Bloggs" in lines[1]

    out = tmp_path / "cases.csv"
    written = CliRunner().invoke(
        main, ["report", "unallocated", "--config", str(cfg_file), "--csv", str(out)]
    )
    assert written.exit_code == 0, written.output
    assert written.output.splitlines()[-1] == f"Wrote 3 case(s) to {out}."
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert [(r["ref"], r["ray"], r["days_unallocated"]) for r in rows] == [
        ("R1", "red", "3"),
        ("Y1", "yellow", "30"),
        ("A1", "amber", "12"),
    ]
    assert rows[0]["team_manager"] == "Jo Bloggs"
    assert rows[1]["overdue"] == "review; letter"

    unknown = CliRunner().invoke(
        main, ["report", "unallocated", "--config", str(cfg_file), "--team", "nobody"]
    )
    assert unknown.exit_code != 0
    assert "There is no team called nobody in the config." in unknown.output


# ---- in the shell and in Slack -------------------------------------------------------------


def test_case_commands_work_in_the_shell(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    out = shell(
        cfg,
        "/duty case add C1234 red since 2026-01-05\n/duty case add C77 amber\n"
        "/as sam\n/duty case add C88\n/duty case list\n/duty case show C1234\n",
        who="jo",
    )
    assert "C1234 is on the register: RED, unallocated since Mon 05 Jan" in out
    assert "C77 is on the register: AMBER" in out
    assert "Only a manager can add cases." in out
    listed = out.split("Unallocated cases (2), red first, then longest waiting:\n")[1]
    assert listed.splitlines()[0].startswith("C1234 RED, ")
    assert listed.splitlines()[1].startswith("C77 AMBER, 0 days, @")
    assert "Policy: practice-guide." in out


def test_case_commands_work_in_slack(db: Database) -> None:
    clock = ManualClock(at(d(3, 30), 8, 30))
    team = {"cases": {"people": {"service_manager": "U0SERVICE"}}}
    with SlackHarness(db, clock=clock, team=team) as h:
        reply = h.command("case add C1 red since 2026-03-16", user=JO).json()
        assert reply["response_type"] == "ephemeral"
        assert reply["text"].startswith("C1 is on the register: RED, unallocated since Mon 16 Mar")
        refused = h.command("case close C1 done", user=SAM).json()
        assert refused["text"] == "Only a manager can close cases."
        listed = h.command("case list", user=SAM).json()["text"]
        assert listed.splitlines()[1].startswith("C1 RED, 14 days, ")
        clock.set(at(d(3, 30), 9))
        h.bot.run_due(h.team.name)
        h.drain()
        posts = [card_text(m) for m in h.fake.messages(h.team.channel)]
        report = [p for p in posts if "Unallocated" in p]
        assert len(report) == 1
        assert report[0].startswith("Unallocated cases, Mon 30 Mar 2026: 1 open (red 1,")
        # In the channel a person is a name, not a mention: the report pings nobody.
        assert "C1 RED, 14 days unallocated (since Mon 16 Mar), team manager @Jo." in report[0]
        said = [card_text(m) for m in h.dms("U0SERVICE")]
        assert len(said) == 1 and said[0].startswith(
            "Escalation to you as service manager: C1 (RED)"
        )


def test_every_case_setting_is_documented_in_the_example_config() -> None:
    from bot.kernel.config import CasesConfig, EscalationDaysConfig, WeeklyReportConfig
    from tests.conftest import ROOT

    example = (ROOT / "config.example.toml").read_text()
    assert "[teams.cases]" in example
    for model in (CasesConfig, EscalationDaysConfig, WeeklyReportConfig):
        for key in model.model_fields:
            assert f"{key} = " in example or f"[teams.cases.{key}]" in example, key
    assert parse_config({"teams": [TEAM]}).teams[0].cases.rules() == CASE_POLICIES["practice-guide"]


def test_show_gives_the_newest_history_of_a_long_running_case(
    db: Database, clock: ManualClock
) -> None:
    bot = case_bot(db, clock)
    say(bot, "jo", "/duty case add C1 amber")
    for week in range(110):  # two years of weekly reviews
        say(bot, "jo", f"/duty case review C1 week {week}")
    say(bot, "jo", "/duty case allocate C1 @alex")
    history = say(bot, "sam", "/duty case show C1").split("History")[1].splitlines()[1:]
    assert len(history) == 15
    assert history[-1].endswith("allocated by @jo")


def test_the_csv_report_never_hands_a_spreadsheet_a_formula() -> None:
    import io

    from bot.cases.report import CaseReport, ReportRow, write_csv

    row = ReportRow("C1", "red", "U0KIM", d(3, 2), 21, None, d(3, 12), ("review",))
    out = io.StringIO()
    write_csv(out, [(CaseReport("care", d(3, 23), (row,)), {"U0KIM": '=HYPERLINK("x")'})])
    assert "'=HYPERLINK" in out.getvalue()  # shown as text, never run


def test_a_policy_changed_in_the_config_moves_the_dates_of_cases_on_the_register(
    db: Database, clock: ManualClock
) -> None:
    say(case_bot(db, clock), "jo", "/duty case add C1")  # practice-guide: a review every 10 days
    assert "next due Thu 02 Apr." in say(case_bot(db, clock), "sam", "/duty case show C1")
    shown = say(case_bot(db, clock, review_days=5), "sam", "/duty case show C1")
    assert "next due Fri 27 Mar." in shown  # 5 days on is a Saturday: the Friday before
