"""Command line: `python -m bot serve | chat | migrate | kb import`. Thin: parses, wires, calls."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings


def _configure_logging(settings: Settings, quiet: bool = False) -> None:
    # The terminal chat shares the screen with the conversation: only warnings there.
    level = max(logging.WARNING, logging.getLevelName(settings.log_level)) if quiet else None
    logging.basicConfig(
        level=level or settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The SDK's HTTP stack logs request bodies at DEBUG: keep user text out of logs.
    for noisy in ("msrest", "botframework", "urllib3", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _migrate(settings: Settings) -> None:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    print(f"database at the newest schema ({settings.database_url.split('://', 1)[0]})")


def _serve(settings: Settings) -> None:
    from bot.app import create_app
    from storage.migrate import assert_current

    assert_current(settings.database_url)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=lambda _: print(
            f"rapportagebot listening on http://{settings.host}:{settings.port}/api/messages"
            + (" (local mode)" if settings.local_mode else "")
        ),
    )


async def _kb_import(settings: Settings, root: Path) -> int:
    from bot.content import ContentError, load_directory
    from storage.db import Database
    from storage.repositories import replace_knowledge

    try:
        entries = load_directory(root)
    except ContentError as error:
        print(error, file=sys.stderr)
        return 1
    database = Database.connect(settings.database_url)
    try:
        async with database.sessions.begin() as session:
            report = await replace_knowledge(session, entries)
    finally:
        await database.dispose()
    print(
        f"kennisbank: {len(report.created)} nieuw, {len(report.updated)} gewijzigd, "
        f"{len(report.unchanged)} ongewijzigd, {len(report.removed)} verwijderd"
    )
    for label, ids in (
        ("nieuw", report.created),
        ("gewijzigd", report.updated),
        ("verwijderd", report.removed),
    ):
        for entry_id in ids:
            print(f"  {label}: {entry_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rapportagebot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve /api/messages (HOST:PORT from the settings)")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--user", default="Demo Gebruiker", help="name to chat as")
    commands.add_parser("migrate", help="bring the database to the newest schema")
    kb = commands.add_parser("kb", help="curated knowledge")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    kb_import = kb_commands.add_parser("import", help="validate and load knowledge/ YAML")
    kb_import.add_argument("root", nargs="?", type=Path, default=Path("knowledge"))
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    _configure_logging(settings, quiet=args.command == "chat")

    if args.command == "serve":
        from storage.migrate import SchemaOutdatedError

        try:
            _serve(settings)
        except SchemaOutdatedError as error:
            print(error, file=sys.stderr)
            return 2
        except OSError as error:
            print(
                f"cannot listen on {settings.host}:{settings.port}: {error.strerror} "
                "(is the bot already running? set PORT to use another port)",
                file=sys.stderr,
            )
            return 2
        return 0
    if args.command == "migrate":
        _migrate(settings)
        return 0
    if args.command == "kb":
        return asyncio.run(_kb_import(settings, args.root))
    if args.command == "chat":
        from bot.chat import run_chat

        try:
            return asyncio.run(run_chat(settings, user_name=args.user))
        except BrokenPipeError:
            # The reader went away (e.g. `| head`); that ends the chat, it is not an error.
            sys.stderr.close()
            return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
