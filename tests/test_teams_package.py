"""`dutybot teams package`: the zip the Teams admin uploads, for the configured Azure Bot."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from click.testing import CliRunner

from bot.app import CATALOGUE
from handlers.cli import main
from tests.conftest import ROOT

APP = "0a1b2c3d-0000-4000-8000-00000000a0b1"
TENANT = "7e57e57e-0000-4000-8000-0000000c0c11"


def teams_config(tmp_path: Path) -> Path:
    example = (ROOT / "config.example.toml").read_text()
    example = example.replace('app_id = ""', f'app_id = "{APP}"', 1)
    example = example.replace('tenant_id = ""', f'tenant_id = "{TENANT}"', 1)
    path = tmp_path / "dutybot.toml"
    path.write_text(example)
    return path


def size_of(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_the_package_holds_the_manifest_for_the_bot_and_both_icons(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    result = CliRunner().invoke(main, ["teams", "package", "--config", str(teams_config(tmp_path)),
                                       "--out", str(out), "--developer", "Anytown Council",
                                       "--website", "https://anytown.example/dutybot"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        found = json.loads(zf.read("manifest.json"))
        assert size_of(zf.read("color.png")) == (192, 192)
        assert size_of(zf.read("outline.png")) == (32, 32)
    assert found["id"] == APP and found["bots"][0]["botId"] == APP
    assert set(found["bots"][0]["scopes"]) == {"team", "personal"}
    commands = found["bots"][0]["commandLists"][0]["commands"]
    assert {c["title"] for c in commands} >= {"claim", "resolve", "help"}
    for c in commands:
        verb = CATALOGUE.verb(c["title"])
        assert verb is not None and c["description"] == verb.does[:128]
    rsc = found["authorization"]["permissions"]["resourceSpecific"]
    assert rsc == [{"name": "ChannelMessage.Read.Group", "type": "Application"}]
    assert found["developer"]["websiteUrl"] == "https://anytown.example/dutybot"


def test_no_package_without_an_app_id_or_with_a_plain_http_site(tmp_path: Path) -> None:
    example = ROOT / "config.example.toml"
    result = CliRunner().invoke(main, ["teams", "package", "--config", str(example),
                                       "--out", str(tmp_path / "x.zip"),
                                       "--website", "https://anytown.example"])  # fmt: skip
    assert result.exit_code == 1
    assert "Set teams_app.app_id" in result.output
    result = CliRunner().invoke(main, ["teams", "package", "--config", str(teams_config(tmp_path)),
                                       "--out", str(tmp_path / "y.zip"),
                                       "--website", "http://anytown.example"])  # fmt: skip
    assert "is not an https:// address" in result.output
    assert not (tmp_path / "y.zip").exists()
