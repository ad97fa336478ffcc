"""Build the Teams app package ``manifest/build/rapportagebot.zip``.

Run from the project root as ``python manifest/build.py`` (``make package`` does exactly that).
The package holds ``manifest.json`` (rendered from ``manifest.template.json``), ``color.png`` and
``outline.png`` at the zip root, which is the layout Teams expects when an app is uploaded.

Inputs:

- ``MICROSOFT_APP_ID``: the Azure Bot's app id (a GUID), from the environment or else from the
  ``.env`` file in the project root (``--env-file`` points elsewhere). Without it the build stops
  with exit code 2, because a package with a wrong bot id installs fine but the bot never answers,
  which is far harder to diagnose than a refused build. ``--allow-placeholder-id`` builds with the
  all-zero GUID for a dry run.
- ``APP_VERSION``: the app version (MAJOR.MINOR.PATCH); defaults to the version in pyproject.toml.

Stdlib only, so the script also runs before the project's dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path
from typing import Any

MANIFEST_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = MANIFEST_DIR.parent
TEMPLATE_PATH = MANIFEST_DIR / "manifest.template.json"
DEFAULT_OUTPUT = MANIFEST_DIR / "build" / "rapportagebot.zip"
DEFAULT_ENV_FILE = PROJECT_ROOT / ".env"

APP_ID_VARIABLE = "MICROSOFT_APP_ID"
VERSION_VARIABLE = "APP_VERSION"
PLACEHOLDER_APP_ID = "00000000-0000-0000-0000-000000000000"

# Teams refuses icons of any other size (color 192×192, outline 32×32); checking here turns an
# upload error in the admin center into a build error with the file name in it.
ICON_SIZES: dict[str, tuple[int, int]] = {
    "color.png": (192, 192),
    "outline.png": (32, 32),
}

# The same pattern as "#/definitions/guid" in Microsoft's manifest schema.
GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# Teams wants plain MAJOR.MINOR.PATCH: no pre-release or build suffix, no leading zeros.
VERSION_PATTERN = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
PLACEHOLDER_PATTERN = re.compile(r"\{\{([A-Z_]+)\}\}")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A fixed timestamp for every zip entry, so building twice from the same inputs gives the same
# bytes (the package's checksum then only changes when its content does).
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """A problem the person running the build must fix; the message says how."""


def teams_app_id(app_id: str) -> str:
    """Derive the Teams app id (the manifest's top-level "id") from the bot's app id.

    Teams identifies an installed app by this id: uploading a package with the same id updates
    the app, a new id installs a second copy next to the old one. Deriving it deterministically
    from the bot id keeps it stable across rebuilds and machines without storing another secret,
    while still differing from the bot id (Teams treats the two as different objects).
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "rapportagebot:" + app_id))


def _normalise_app_id(app_id: str) -> str:
    """Check that app_id is a GUID and return it in canonical lower-case form.

    Canonical form matters because the Teams app id is derived from the text: the same bot id
    pasted in upper case must not produce a different Teams app.
    """
    candidate = app_id.strip()
    if not GUID_PATTERN.match(candidate):
        raise BuildError(
            f"{APP_ID_VARIABLE}={candidate!r} is not a GUID. Use the Azure Bot's "
            "'Microsoft App ID', e.g. 1b2c3d4e-0000-4000-8000-123456789abc."
        )
    return str(uuid.UUID(candidate))


def _check_version(version: str) -> str:
    candidate = version.strip()
    if not VERSION_PATTERN.match(candidate):
        raise BuildError(
            f"version {candidate!r} is not MAJOR.MINOR.PATCH (e.g. 1.2.3), which Teams requires. "
            f"Set {VERSION_VARIABLE} or the version in pyproject.toml."
        )
    return candidate


def _fill(value: Any, replacements: dict[str, str]) -> Any:
    """Replace {{NAME}} placeholders inside the string values of parsed JSON.

    Working on parsed values (rather than on the template's text) means a replacement can never
    break the JSON syntax, whatever characters it holds.
    """
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in replacements:
                raise BuildError(f"manifest template uses unknown placeholder {{{{{name}}}}}")
            return replacements[name]

        return PLACEHOLDER_PATTERN.sub(substitute, value)
    if isinstance(value, list):
        return [_fill(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, replacements) for key, item in value.items()}
    return value


def render_manifest(app_id: str, version: str) -> dict[str, Any]:
    """Return the manifest for this bot id and app version, filled in from the template."""
    bot_id = _normalise_app_id(app_id)
    replacements = {
        "APP_ID": bot_id,
        "TEAMS_APP_ID": teams_app_id(bot_id),
        "VERSION": _check_version(version),
    }
    template = json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))
    manifest: dict[str, Any] = _fill(template, replacements)
    return manifest


def png_size(path: Path | str) -> tuple[int, int]:
    """Return (width, height) of a PNG, read from its IHDR header.

    The IHDR chunk always comes first: 8 signature bytes, 4 length bytes, 4 type bytes, then
    width and height as big-endian 32-bit integers at bytes 16-24. Enough to check icon sizes
    without an image library.
    """
    with open(path, "rb") as file:
        header = file.read(24)
    if len(header) < 24 or header[:8] != PNG_SIGNATURE or header[12:16] != b"IHDR":
        raise BuildError(f"{path} is not a PNG file")
    width = int.from_bytes(header[16:20], "big")
    height = int.from_bytes(header[20:24], "big")
    return width, height


def _check_icons(manifest: dict[str, Any]) -> list[Path]:
    icons = manifest["icons"]
    referenced = {icons["color"], icons["outline"]}
    if referenced != set(ICON_SIZES):
        raise BuildError(
            f"manifest icons {sorted(referenced)} differ from the icons this script packages "
            f"{sorted(ICON_SIZES)}"
        )
    paths = []
    for name, expected in ICON_SIZES.items():
        path = MANIFEST_DIR / name
        if not path.is_file():
            raise BuildError(f"icon {path} is missing")
        actual = png_size(path)
        if actual != expected:
            raise BuildError(
                f"icon {path} is {actual[0]}×{actual[1]}, Teams requires "
                f"{expected[0]}×{expected[1]}"
            )
        paths.append(path)
    return paths


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def build_package(app_id: str, version: str, out_path: Path | str) -> Path:
    """Write the Teams app package to out_path and return its path.

    The zip is written next to its destination and then renamed over it, so an interrupted build
    never leaves a half-written package that would be uploaded by mistake.
    """
    manifest = render_manifest(app_id, version)
    icons = _check_icons(manifest)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    manifest_text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    try:
        with zipfile.ZipFile(partial, "w") as package:
            package.writestr(_zip_entry("manifest.json"), manifest_text.encode("utf-8"))
            for icon in icons:
                package.writestr(_zip_entry(icon.name), icon.read_bytes())
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def read_env_file(path: Path, name: str) -> str | None:
    """Return the value of `name` from a dotenv-style file, or None if absent.

    Handles the forms the project's .env uses: NAME=value, optional `export `, surrounding
    quotes, comments and blank lines. Not a full dotenv parser, on purpose: stdlib only.
    """
    if not path.is_file():
        return None
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, separator, value = line.partition("=")
        if not separator or key.strip() != name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        return value or None
    return None


def _default_version() -> str:
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build the Teams app package (manifest.json + icons) for Rapportagebot.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the zip (default: manifest/build/rapportagebot.zip)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=DEFAULT_ENV_FILE,
        help=f"dotenv file read for {APP_ID_VARIABLE} when it is not in the environment "
        "(default: .env in the project root)",
    )
    parser.add_argument(
        "--allow-placeholder-id",
        action="store_true",
        help=f"build with bot id {PLACEHOLDER_APP_ID} when {APP_ID_VARIABLE} is not set "
        "(the package then installs but cannot reach the bot)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    app_id = os.environ.get(APP_ID_VARIABLE, "").strip() or read_env_file(
        args.env_file, APP_ID_VARIABLE
    )
    if not app_id:
        if not args.allow_placeholder_id:
            print(
                f"error: {APP_ID_VARIABLE} is not set. Set it to the Azure Bot's app id "
                "(a GUID, 'Microsoft App ID' on the bot's Configuration page), in the "
                f"environment or in {args.env_file}, e.g.\n"
                f"  {APP_ID_VARIABLE}=1b2c3d4e-0000-4000-8000-123456789abc make package\n"
                "or pass --allow-placeholder-id to build a package for inspection only.",
                file=sys.stderr,
            )
            return 2
        print(
            f"warning: {APP_ID_VARIABLE} is not set; using placeholder bot id "
            f"{PLACEHOLDER_APP_ID}. This package cannot reach the bot: do not upload it.",
            file=sys.stderr,
        )
        app_id = PLACEHOLDER_APP_ID
    version = os.environ.get(VERSION_VARIABLE, "").strip() or _default_version()
    try:
        out = build_package(app_id, version, args.output)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
