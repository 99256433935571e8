"""`dutybot teams package`: the Teams app package (manifest.json and its two icons, zipped)
that the council's Teams administrator uploads, for the Azure Bot named in [teams_app].

The manifest asks for the bot in team and personal scope, lists the commonest commands from
the catalogue (Teams shows up to ten as suggestions), and asks for one resource-specific
permission: ChannelMessage.Read.Group, so the bot can read its own channel's messages to find
a card it posted just before a crash. The icons are drawn here (plain PNGs, no image
library): a 192-pixel colour square and a 32-pixel white outline on transparency.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from bot.chat.catalogue import Catalogue
from bot.kernel.config import Config

MANIFEST_VERSION = "1.17"
SCHEMA = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
ACCENT = (0x2E, 0x6B, 0x5E)  # a calm green
COMMANDS = ("list", "show", "claim", "resolve", "alert", "new", "handover", "rota", "help")


class PackageError(Exception):
    """The package can't be made; the message says what to set."""


def manifest(
    config: Config, catalogue: Catalogue, *, developer: str, website: str, version: str
) -> dict[str, Any]:
    app = config.teams_app
    if not app.app_id:
        raise PackageError("Set teams_app.app_id (the Azure Bot's Microsoft App ID) first.")
    if not website.startswith("https://"):
        raise PackageError(f"'{website}' is not an https:// address; Teams needs one.")
    commands = []
    for name in COMMANDS:
        verb = catalogue.verb(name)
        if verb is not None:
            commands.append({"title": name, "description": verb.does[:128]})
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app.app_id,
        "developer": {
            "name": developer[:32],
            "websiteUrl": website,
            "privacyUrl": website,
            "termsOfUseUrl": website,
        },
        "name": {"short": "dutybot", "full": "dutybot: the duty team's tasks"},
        "description": {
            "short": "Every duty email becomes a task card the team claims and resolves.",
            "full": (
                "Every email in the duty inbox, and every call, text or visit logged, becomes "
                "a numbered task card in the duty channel. Claim, resolve and alert from the "
                "card; reminders, the rota and the end-of-day handover come in Teams too. "
                "Type help to the bot for its commands."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": app.app_id,
                "scopes": ["team", "personal"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": ["team", "personal"], "commands": commands[:10]}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [],
        "webApplicationInfo": {"id": app.app_id, "resource": "https://RscBasedStoreApp"},
        "authorization": {
            "permissions": {
                "resourceSpecific": [{"name": "ChannelMessage.Read.Group", "type": "Application"}]
            }
        },
    }


def png(size: int, pixel: Any) -> bytes:
    """A size x size RGBA PNG; ``pixel(x, y)`` gives each (r, g, b, a)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))  # fmt: skip


def _color(x: int, y: int) -> tuple[int, int, int, int]:
    # The accent square with a white tick: the mark of a task done.
    on_tick = abs(y - (x + 40)) < 10 and 50 < x < 90 or abs(y - (210 - x)) < 10 and 80 <= x < 145
    return (255, 255, 255, 255) if on_tick else (*ACCENT, 255)


def _outline(x: int, y: int) -> tuple[int, int, int, int]:
    edge = x in (1, 2, 29, 30) or y in (1, 2, 29, 30)
    return (255, 255, 255, 255) if edge and 0 < x < 31 and 0 < y < 31 else (0, 0, 0, 0)


def build(
    config: Config,
    catalogue: Catalogue,
    out: Path,
    *,
    developer: str,
    website: str,
    version: str = "1.0.0",
) -> Path:
    """Write the app package zip to ``out``."""
    found = manifest(config, catalogue, developer=developer, website=website, version=version)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(found, indent=2))
        zf.writestr("color.png", png(192, _color))
        zf.writestr("outline.png", png(32, _outline))
    return out
