"""The Teams app package: manifest against Microsoft's schema, icons, zip layout, build CLI."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_DIR = PROJECT_ROOT / "manifest"
BUILD_SCRIPT = MANIFEST_DIR / "build.py"
SCHEMA_PATH = (
    PROJECT_ROOT.parent
    / "shared"
    / "schemas"
    / "teams-manifest"
    / "v1.24"
    / "MicrosoftTeams.schema.json"
)

BOT_ID = "6f1c2b8e-3d4a-4c5b-9e7f-0a1b2c3d4e5f"
VERSION = "1.2.3"


@pytest.fixture(scope="module")
def build() -> ModuleType:
    """manifest/build.py is a script, not a package module: load it from its file."""
    spec = importlib.util.spec_from_file_location("rapportagebot_manifest_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"Teams manifest schema not found at {SCHEMA_PATH} (../shared is absent)")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # Check the schema's structure against the draft-04 meta-schema, but without the "regex"
    # format check that check_schema() adds: one pattern, for Office add-in custom function names
    # ("#/definitions/extensionFunction"), uses \p{L}, which ECMAScript knows and Python's `re`
    # does not. This manifest never reaches that part of the schema.
    jsonschema.Draft4Validator(jsonschema.Draft4Validator.META_SCHEMA).validate(schema)
    # Every $ref in the v1.24 schema is local ("#/definitions/...", "#/properties/..."), so the
    # validator resolves them against the schema itself without any network access.
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


@pytest.fixture()
def manifest(build: ModuleType) -> dict[str, Any]:
    rendered: dict[str, Any] = build.render_manifest(BOT_ID, VERSION)
    return rendered


def _errors(validator: jsonschema.Draft4Validator, instance: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


# --- manifest content ---------------------------------------------------------------------------


def test_rendered_manifest_is_valid_against_microsofts_schema(
    validator: jsonschema.Draft4Validator, manifest: dict[str, Any]
) -> None:
    assert _errors(validator, manifest) == []


def test_placeholder_build_is_valid_too(
    build: ModuleType, validator: jsonschema.Draft4Validator
) -> None:
    assert _errors(validator, build.render_manifest(build.PLACEHOLDER_APP_ID, "0.1.0")) == []


def _too_long_short_name(m: dict[str, Any]) -> None:
    m["name"]["short"] = "Rapportagebot voor bestuurlijke rapportages"


def _bot_without_scopes(m: dict[str, Any]) -> None:
    del m["bots"][0]["scopes"]


def _bot_id_not_a_guid(m: dict[str, Any]) -> None:
    m["bots"][0]["botId"] = "rapportagebot"


def _thirteen_commands(m: dict[str, Any]) -> None:
    m["bots"][0]["commandLists"][0]["commands"] = [
        {"title": f"opdracht {n}", "description": "te veel"} for n in range(13)
    ]


def _unknown_permission(m: dict[str, Any]) -> None:
    m["permissions"].append("readEverything")


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (_too_long_short_name, "name/short"),
        (_bot_without_scopes, "bots/0"),
        (_bot_id_not_a_guid, "bots/0/botId"),
        (_thirteen_commands, "bots/0/commandLists/0/commands"),
        (_unknown_permission, "permissions"),
    ],
)
def test_schema_validation_is_not_vacuous(
    validator: jsonschema.Draft4Validator,
    manifest: dict[str, Any],
    breakage: Any,
    where: str,
) -> None:
    broken = copy.deepcopy(manifest)
    breakage(broken)
    errors = _errors(validator, broken)
    assert any(error.startswith(where) for error in errors), errors


def test_ids_and_version_are_filled_in(build: ModuleType, manifest: dict[str, Any]) -> None:
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["version"] == VERSION
    assert manifest["id"] == build.teams_app_id(BOT_ID)
    assert "{{" not in json.dumps(manifest)


def test_bot_id_is_normalised_so_the_teams_app_id_does_not_depend_on_case(
    build: ModuleType,
) -> None:
    upper = build.render_manifest(BOT_ID.upper(), VERSION)
    assert upper["bots"][0]["botId"] == BOT_ID
    assert upper["id"] == build.teams_app_id(BOT_ID)


@pytest.mark.parametrize("bad_id", ["", "not-a-guid", BOT_ID + "0", "{" + BOT_ID + "}"])
def test_render_refuses_an_app_id_that_is_not_a_guid(build: ModuleType, bad_id: str) -> None:
    with pytest.raises(build.BuildError, match="MICROSOFT_APP_ID"):
        build.render_manifest(bad_id, VERSION)


@pytest.mark.parametrize("bad_version", ["1.2", "1.2.3-beta", "0.1.0.dev0", "01.2.3", "v1.2.3"])
def test_render_refuses_a_version_teams_would_reject(build: ModuleType, bad_version: str) -> None:
    with pytest.raises(build.BuildError, match=r"MAJOR\.MINOR\.PATCH"):
        build.render_manifest(BOT_ID, bad_version)


def test_commands_fit_the_teams_limits_per_scope(manifest: dict[str, Any]) -> None:
    """Teams shows at most 32 characters of a title and 128 of a description (the schema allows
    more); every scope the bot lives in gets its own command list."""
    bot = manifest["bots"][0]
    lists = bot["commandLists"]
    assert sorted(scope for command_list in lists for scope in command_list["scopes"]) == sorted(
        bot["scopes"]
    )
    titles_by_scope = {}
    for command_list in lists:
        for command in command_list["commands"]:
            assert len(command["title"]) <= 32, command
            assert len(command["description"]) <= 128, command
        titles = [command["title"] for command in command_list["commands"]]
        titles_by_scope[command_list["scopes"][0]] = titles
    common = ["help", "nieuwe aanvraag", "mijn aanvragen", "status", "annuleer"]
    assert titles_by_scope["personal"] == common
    assert titles_by_scope["groupChat"] == common
    assert titles_by_scope["team"] == [*common, "koppel dit kanaal aan basisteam", "ontkoppel"]


def test_manifest_is_dutch_and_promises_no_report_content(manifest: dict[str, Any]) -> None:
    assert manifest["localizationInfo"]["defaultLanguageTag"] == "nl-nl"
    assert manifest["name"]["short"] == "Rapportagebot"
    assert "nooit de inhoud van een rapportage" in manifest["description"]["full"]


# --- icons --------------------------------------------------------------------------------------


def _decode_rgba_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode a non-interlaced 8-bit RGBA PNG into rows of RGBA bytes (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", b""
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    bit_depth, colour_type, interlace = header[8], header[9], header[12]
    assert (bit_depth, colour_type, interlace) == (8, 6, 0), "expected 8-bit RGBA, no interlace"
    raw, bpp, stride = zlib.decompress(idat), 4, width * 4
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        filter_type, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = row[x - bpp] if x >= bpp else 0
            up = previous[x]
            up_left = previous[x - bpp] if x >= bpp else 0
            if filter_type == 1:
                row[x] = (row[x] + left) & 0xFF
            elif filter_type == 2:
                row[x] = (row[x] + up) & 0xFF
            elif filter_type == 3:
                row[x] = (row[x] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                estimate = left + up - up_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
                predictor = (left, up, up_left)[distances.index(min(distances))]
                row[x] = (row[x] + predictor) & 0xFF
            else:
                assert filter_type == 0, f"unknown PNG filter {filter_type}"
        rows.append(bytes(row))
        previous = row
    return width, height, rows


def test_icons_have_the_sizes_teams_requires(build: ModuleType) -> None:
    assert build.png_size(MANIFEST_DIR / "color.png") == (192, 192)
    assert build.png_size(MANIFEST_DIR / "outline.png") == (32, 32)


def test_png_size_rejects_a_file_that_is_not_a_png(build: ModuleType, tmp_path: Path) -> None:
    not_png = tmp_path / "icon.png"
    not_png.write_bytes(b"GIF89a" + bytes(32))
    with pytest.raises(build.BuildError, match="not a PNG"):
        build.png_size(not_png)


def test_outline_icon_is_white_on_a_transparent_background() -> None:
    width, height, rows = _decode_rgba_png((MANIFEST_DIR / "outline.png").read_bytes())
    assert (width, height) == (32, 32)
    pixels = [row[x : x + 4] for row in rows for x in range(0, len(row), 4)]
    for corner in (rows[0][0:4], rows[0][-4:], rows[-1][0:4], rows[-1][-4:]):
        assert corner[3] == 0, "the background must be fully transparent"
    visible = [pixel for pixel in pixels if pixel[3] > 0]
    assert sum(1 for pixel in visible if pixel[3] == 255) >= 40, "the glyph should be visible"
    assert all(pixel[:3] == b"\xff\xff\xff" for pixel in visible), "the glyph must be white"


def test_color_icon_decodes_and_is_accent_coloured_where_opaque() -> None:
    width, height, rows = _decode_rgba_png((MANIFEST_DIR / "color.png").read_bytes())
    assert (width, height) == (192, 192)
    # Just inside the rounded corner the tile shows the manifest's accent colour #154273.
    assert rows[40][4 * 4 : 5 * 4] == bytes((0x15, 0x42, 0x73, 0xFF))


# --- package ------------------------------------------------------------------------------------


def test_package_holds_exactly_manifest_and_icons(build: ModuleType, tmp_path: Path) -> None:
    out = build.build_package(BOT_ID, VERSION, tmp_path / "out" / "app.zip")
    assert out == tmp_path / "out" / "app.zip"
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert package.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
        assert package.read("outline.png") == (MANIFEST_DIR / "outline.png").read_bytes()
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["version"] == VERSION
    assert list(tmp_path.joinpath("out").iterdir()) == [out], "no partial files left behind"


def test_teams_app_id_is_stable_across_builds_and_differs_from_the_bot_id(
    build: ModuleType, tmp_path: Path
) -> None:
    first = build.build_package(BOT_ID, VERSION, tmp_path / "first.zip")
    second = build.build_package(BOT_ID, VERSION, tmp_path / "second.zip")
    ids = []
    for package_path in (first, second):
        with zipfile.ZipFile(package_path) as package:
            ids.append(json.loads(package.read("manifest.json"))["id"])
    assert ids[0] == ids[1]
    assert ids[0] != BOT_ID
    assert first.read_bytes() == second.read_bytes(), "same inputs, same package bytes"
    other = build.render_manifest("11111111-2222-4333-8444-555555555555", VERSION)
    assert other["id"] != ids[0]


# --- command line -------------------------------------------------------------------------------


def _run_build(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run build.py like `make package`, isolated from the developer's own settings and .env."""
    clean_env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MICROSOFT_APP_ID", "APP_VERSION")
    }
    clean_env.update(env)
    has_env_file = "--env-file" in args
    return subprocess.run(
        [
            sys.executable,
            str(BUILD_SCRIPT),
            "--output",
            str(tmp_path / "app.zip"),
            *([] if has_env_file else ["--env-file", str(tmp_path / "missing.env")]),
            *args,
        ],
        cwd=PROJECT_ROOT,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _packaged_manifest(tmp_path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(tmp_path / "app.zip") as package:
        manifest: dict[str, Any] = json.loads(package.read("manifest.json"))
        return manifest


def test_cli_without_app_id_fails_with_exit_code_2(tmp_path: Path) -> None:
    result = _run_build(tmp_path)
    assert result.returncode == 2, result.stderr
    assert "MICROSOFT_APP_ID" in result.stderr
    assert not (tmp_path / "app.zip").exists()


def test_cli_with_invalid_app_id_fails_with_exit_code_2(tmp_path: Path) -> None:
    result = _run_build(tmp_path, MICROSOFT_APP_ID="my-bot")
    assert result.returncode == 2
    assert "not a GUID" in result.stderr


def test_cli_builds_from_the_environment(tmp_path: Path) -> None:
    result = _run_build(tmp_path, MICROSOFT_APP_ID=BOT_ID, APP_VERSION="2.0.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "app.zip")
    manifest = _packaged_manifest(tmp_path)
    assert (manifest["bots"][0]["botId"], manifest["version"]) == (BOT_ID, "2.0.1")


def test_cli_reads_the_app_id_from_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(f"# Azure Bot\nOTHER=1\nexport MICROSOFT_APP_ID='{BOT_ID}'\n")
    result = _run_build(tmp_path, "--env-file", str(env_file))
    assert result.returncode == 0, result.stderr
    assert _packaged_manifest(tmp_path)["bots"][0]["botId"] == BOT_ID


def test_cli_placeholder_id_only_when_asked_and_with_a_warning(tmp_path: Path) -> None:
    result = _run_build(tmp_path, "--allow-placeholder-id")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr
    bot_id = _packaged_manifest(tmp_path)["bots"][0]["botId"]
    assert bot_id == "00000000-0000-0000-0000-000000000000"
