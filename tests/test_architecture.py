"""The import rules that keep adapters translating and nothing else (see DESIGN.md):
bot/ may use storage/, handlers/ may use bot/, never the other way round; chat SDKs only
under handlers/; exchangelib and msal only in adapter folders under bot/; no domain imports
an adapter; and the chats the config can name are adapters under handlers/."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import CHATS
from tests.conftest import ROOT

CHAT_SDKS = ("slack_sdk", "slack_bolt", "microsoft_agents", "botbuilder")
ADAPTER_LIBRARIES = ("exchangelib", "msal")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, wherever in the file (top level or in a function)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def under(name: str, *roots: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def breaches(package: str, forbidden: tuple[str, ...], allowed_in: tuple[str, ...] = ()) -> list:
    found = []
    for path in modules(package):
        where = path.relative_to(ROOT).as_posix()
        if any(where.startswith(a) for a in allowed_in):
            continue
        found += [f"{where} imports {name}" for name in imports(path) if under(name, *forbidden)]
    return found


def test_the_rules_see_imports_wherever_they_are() -> None:
    # bot/app.py imports the EWS adapter inside a function: the walk must find it.
    assert "bot.mail.adapters.ews" in set(imports(ROOT / "bot" / "app.py"))


def test_storage_imports_neither_bot_nor_handlers() -> None:
    assert breaches("storage", ("bot", "handlers")) == []


def test_bot_never_imports_handlers() -> None:
    assert breaches("bot", ("handlers",)) == []


def test_chat_sdks_only_under_handlers() -> None:
    assert breaches("bot", CHAT_SDKS) == []
    assert breaches("storage", CHAT_SDKS) == []


def test_exchangelib_and_msal_only_in_adapter_folders_under_bot() -> None:
    assert breaches("bot", ADAPTER_LIBRARIES, allowed_in=("bot/mail/adapters/",
                                                         "bot/people/adapters/")) == []  # fmt: skip
    assert breaches("handlers", ADAPTER_LIBRARIES) == []
    assert breaches("storage", ADAPTER_LIBRARIES) == []


def test_no_domain_imports_an_adapter() -> None:
    # Only the composition root picks adapters; adapters may share their own folder's code.
    adapters = ("bot.mail.adapters", "bot.people.adapters")
    assert breaches("bot", adapters, allowed_in=("bot/app.py", "bot/mail/adapters/",
                                                 "bot/people/adapters/")) == []  # fmt: skip


@pytest.mark.parametrize("chat", sorted(CHATS))
def test_each_chat_the_config_can_name_is_an_adapter_under_handlers(chat: str) -> None:
    assert CHATS[chat].startswith("handlers.")
    adapter = importlib.import_module(CHATS[chat]).ADAPTER
    for method in ("groups", "probe", "profiles", "start"):
        assert callable(getattr(adapter, method))


def test_the_config_names_no_chat_without_an_adapter() -> None:
    from typing import get_args

    from bot.kernel.config import Config

    assert set(get_args(Config.model_fields["chat"].annotation)) == set(CHATS)


def test_the_kernel_imports_no_domain() -> None:
    # bot/kernel is what every domain stands on: clock, calendar, config, messages, roles.
    domains = [p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and p.name != "kernel"]
    found = []
    for path in modules("bot/kernel"):
        found += [name for name in imports(path) if under(name, *(f"bot.{d}" for d in domains))]
    assert found == []
