"""Command line: `python -m bot serve | chat | ask | migrate | kb import | kb export`. Thin:
parses, wires, calls."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


def _configure_logging(settings: Settings, quiet: bool = False) -> None:
    # The terminal chat shares the screen with the conversation: only warnings there.
    level = max(logging.WARNING, logging.getLevelName(settings.log_level)) if quiet else None
    logging.basicConfig(
        level=level or settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The SDK's HTTP stack logs request bodies at DEBUG: keep user text out of logs.
    for noisy in (
        "msrest",
        "botframework",
        "urllib3",
        "aiohttp.access",
        "alembic",
        "bm25s",
        "aiosqlite",
    ):
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
            + (
                f" (local mode; try it in the browser: http://{settings.host}:{settings.port}/)"
                if settings.local_mode
                else ""
            )
        ),
    )


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One unit of work for a CLI command: its own engine, one transaction, disposed after."""
    from storage.db import Database

    database = Database.connect(settings.database_url)
    try:
        async with database.sessions.begin() as session:
            return await work(session)
    finally:
        await database.dispose()


async def _kb_import(settings: Settings, root: Path) -> int:
    from bot.content import ContentError, load_directory
    from storage.repositories import replace_knowledge

    try:
        entries = load_directory(root)
    except ContentError as error:
        print(error, file=sys.stderr)
        return 1
    report = await _in_transaction(settings, lambda session: replace_knowledge(session, entries))
    print(
        f"kennisbank: {len(report.created)} nieuw, {len(report.updated)} gewijzigd, "
        f"{len(report.unchanged)} ongewijzigd, {len(report.removed)} verwijderd"
    )
    for label, ids in (
        ("nieuw", report.created),
        ("gewijzigd", report.updated),
        ("verwijderd", report.removed),
        ("behouden (in chat goedgekeurd, nog niet in een bestand: kb export)", report.kept),
    ):
        for entry_id in ids:
            print(f"  {label}: {entry_id}")
    return 0


# The folder of each kind of entry under knowledge/ (the layout `kb import` reads).
_KIND_FOLDERS = {"bevoegdheid": "bevoegdheden", "proces": "proces", "synoniemen": "taal"}


async def _kb_export(settings: Settings, root: Path) -> int:
    import yaml
    from sqlalchemy import select

    from storage.models import KnowledgeEntry

    async def load(session: AsyncSession) -> list[tuple[str, str, dict[str, Any]]]:
        rows = await session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.kind, KnowledgeEntry.data).order_by(
                KnowledgeEntry.id
            )
        )
        return [(row.id, row.kind, dict(row.data)) for row in rows]

    entries = await _in_transaction(settings, load)

    def write() -> int:
        written = 0
        for entry_id, kind, data in entries:
            folder = _KIND_FOLDERS.get(kind)
            if folder is None:
                print(f"  overgeslagen: {entry_id} (onbekende soort {kind!r})", file=sys.stderr)
                continue
            path = root / folder / f"{entry_id}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
            path.write_text(text, encoding="utf-8")
            written += 1
        return written

    written = await asyncio.to_thread(write)
    print(f"kennisbank: {written} items geschreven naar {root}")
    return 0


def _answer_text(data: dict[str, Any] | None) -> str:
    """The short answer of an entry: a process entry's answer, a bevoegdheid's applies_when."""
    if data is None:
        return ""
    return str(data.get("answer") or data.get("applies_when") or "")


async def _ask(settings: Settings, question: str, k: int, as_json: bool) -> int:
    import json

    from bot.knowledge_service import KnowledgeService
    from storage.db import Database

    database = Database.connect(settings.database_url)
    try:
        service = KnowledgeService(database)
        result = await service.ask(question, k=k)
        answers = {hit.id: _answer_text(await service.entry(hit.id)) for hit in result.hits}
    finally:
        await database.dispose()
    if as_json:
        print(
            json.dumps(
                {
                    "question": result.question,
                    "confident": result.confident,
                    "results": [
                        {
                            "id": hit.id,
                            "title": hit.title,
                            "legal_basis": hit.legal_basis,
                            "score": hit.score,
                            "answer": answers[hit.id],
                        }
                        for hit in result.hits
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if result.confident:
        best = result.hits[0]
        basis = f" ({best.legal_basis})" if best.legal_basis else ""
        print(f"{best.title}{basis}  [zekerheid {best.score:.2f}]")
        print(answers[best.id])
        if result.alternatives:
            print("Bedoelde je misschien: " + "; ".join(h.title for h in result.alternatives))
        return 0
    print("Dat weet ik niet zeker.")
    if result.alternatives:
        print("Bedoelde je:")
        for hit in result.alternatives:
            print(f"  - {hit.title}  [{hit.score:.2f}]")
    return 0


async def _admin_import(settings: Settings, path: Path, if_empty: bool = False) -> int:
    from sqlalchemy import select

    from bot.content import ContentError
    from bot.registry import load_registry
    from storage.models import Gemeente
    from storage.repositories import replace_registry

    try:
        registry = load_registry(path)
    except ContentError as error:
        print(error, file=sys.stderr)
        return 1

    async def load(session: AsyncSession) -> dict[str, int] | None:
        # `make run` loads the demo registry on every start; once a registry is stored, roles
        # that beheerders changed in chat must survive that.
        if if_empty and (await session.scalar(select(Gemeente.id).limit(1))) is not None:
            return None
        return await replace_registry(session, registry)

    counts = await _in_transaction(settings, load)
    if counts is None:
        print("register staat er al: niets geïmporteerd (zonder --if-empty wordt het vervangen)")
        return 0
    print(
        f"register: {counts['gemeenten']} gemeenten, {counts['basisteams']} basisteams, "
        f"{counts['personen']} personen"
    )
    return 0


async def _admin_export(settings: Settings, path: Path | None) -> int:
    import yaml

    from storage.repositories import export_registry

    registry = await _in_transaction(settings, export_registry)
    text = yaml.safe_dump(registry, sort_keys=False, allow_unicode=True)
    if path is None:
        print(text, end="")
        return 0
    await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    print(f"register geschreven naar {path}")
    return 0


async def _requests_list(settings: Settings, as_json: bool) -> int:
    import json

    from bot.services import list_requests
    from storage.db import Database

    database = Database.connect(settings.database_url)
    try:
        lines = await list_requests(database)
    finally:
        await database.dispose()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "reference": line.reference,
                        "status": line.status,
                        "holds_the_ball": list(line.ball),
                        "bevoegdheid": line.bevoegdheid,
                        "gemeente": line.gemeente,
                        "basisteam": line.basisteam,
                        "report_type": line.report_type,
                        "created": line.created.isoformat(),
                        "desired_date": line.desired_date.isoformat(),
                        # The local due day: a deadline is "by the end of that day".
                        "priority": line.priority,
                        "due_date": (
                            line.due.astimezone(settings.tz).date().isoformat()
                            if line.due
                            else None
                        ),
                    }
                    for line in lines
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if not lines:
        print("geen aanvragen")
        return 0
    for line in lines:
        print(
            f"{line.reference}  {line.status:<24} {line.bevoegdheid[:40]:<40} "
            f"{line.gemeente:<20} {line.basisteam:<30} {line.report_type:<24} "
            f"{line.created.astimezone(settings.tz):%Y-%m-%d}  {line.desired_date:%Y-%m-%d}  "
            f"{f'{line.due.astimezone(settings.tz):%Y-%m-%d}' if line.due else '-':<10}"
        )
    return 0


async def _requests_show(settings: Settings, reference: str) -> int:
    from bot.services import show_request
    from storage.db import Database

    database = Database.connect(settings.database_url)
    try:
        detail = await show_request(database, reference)
    finally:
        await database.dispose()
    if detail is None:
        print(f"geen aanvraag met kenmerk {reference}", file=sys.stderr)
        return 1
    line = detail.line
    local = settings.tz
    print(f"{line.reference}  status: {line.status}  aan zet: {', '.join(line.ball) or '-'}")
    for label, value in (
        ("bevoegdheid", line.bevoegdheid),
        ("gemeente", line.gemeente),
        ("basisteam", line.basisteam),
        ("type", line.report_type),
        ("onderwerp", detail.subject),
        ("strafrechtelijk onderzoek", detail.criminal_investigation),
        ("boa-route mogelijk", "ja" if detail.boa_route_possible else "nee"),
        ("reden toch BR", detail.boa_route_reason or "-"),
        ("aanvrager", detail.requester),
        ("aangemaakt", f"{line.created.astimezone(local):%Y-%m-%d %H:%M}"),
        ("gewenste datum", f"{line.desired_date:%Y-%m-%d}"),
        ("termijn", f"{line.due.astimezone(local):%Y-%m-%d}" if line.due else "-"),
        ("prioriteit", line.priority or "-"),
    ):
        print(f"  {label + ':':<27} {value}")
    print("  checklist:")
    for key, value in detail.answers.items():
        print(f"    {key}: {value}")
    print("  audit:")
    for event in detail.audit:
        print(
            f"    {event.at.astimezone(local):%Y-%m-%d %H:%M}  {event.actor}  {event.action}  "
            f"{event.from_status or '-'} -> {event.to_status}"
            + (f"  ({event.reason})" if event.reason else "")
        )
    return 0


async def _outbox_list(settings: Settings, as_json: bool, status: str | None) -> int:
    import json

    from bot.notifier import OutboxStatus, delivery_status
    from storage.db import Database

    if status is not None and status not in {s.value for s in OutboxStatus}:
        print(
            f"onbekende status {status!r}: kies uit {', '.join(s.value for s in OutboxStatus)}",
            file=sys.stderr,
        )
        return 2
    database = Database.connect(settings.database_url)
    try:
        lines = await delivery_status(database, status=status)
    finally:
        await database.dispose()
    # Bookkeeping only: the message text and cards stay out of terminals and logs.
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": line.id,
                        "key": line.key,
                        "recipient": line.recipient,
                        "kind": line.kind,
                        "request_id": line.request_id,
                        "status": line.status,
                        "attempts": line.attempts,
                        "last_status": line.last_status,
                        "last_error": line.last_error,
                        "next_attempt_at": line.next_attempt_at.isoformat(),
                        "sent_at": line.sent_at.isoformat() if line.sent_at else None,
                    }
                    for line in lines
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if not lines:
        print("geen berichten in de outbox" + (f" met status {status}" if status else ""))
        return 0
    for line in lines:
        sent = f"{line.sent_at.astimezone(settings.tz):%Y-%m-%d %H:%M}" if line.sent_at else "-"
        print(
            f"{line.id:>6}  {line.status:<11} {line.attempts:>2}x  "
            f"{line.last_status if line.last_status is not None else '-':>4}  {sent:<16}  "
            f"{line.kind:<6}  {line.recipient}  {line.key}"
        )
    return 0


async def _outbox_retry(settings: Settings, row_id: int) -> int:
    import datetime as dt

    from bot.notifier import RetryOutcome, retry_delivery
    from storage.db import Database

    database = Database.connect(settings.database_url)
    try:
        outcome = await retry_delivery(database, row_id, now=dt.datetime.now(dt.UTC))
    finally:
        await database.dispose()
    if outcome is RetryOutcome.RETRIED:
        print(f"bericht {row_id} staat weer klaar; de draaiende bot verstuurt het")
        return 0
    message = {
        RetryOutcome.NOT_FOUND: f"geen bericht met id {row_id} in de outbox",
        RetryOutcome.NOT_RETRYABLE: (
            f"bericht {row_id} is niet mislukt of onbevestigd (failed/unconfirmed); "
            "alleen die gaan opnieuw"
        ),
        RetryOutcome.SUPERSEDED: (
            f"bericht {row_id} is een oude kaart: een nieuwere kaart voor dezelfde aanvraag en "
            "ontvanger is al verzonden en zou overschreven worden"
        ),
    }[outcome]
    print(message, file=sys.stderr)
    return 1


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
    kb_export = kb_commands.add_parser(
        "export", help="write the stored entries as YAML (one file per entry, knowledge/ layout)"
    )
    kb_export.add_argument("root", nargs="?", type=Path, default=Path("knowledge-export"))
    ask = commands.add_parser("ask", help="search the knowledge for an answer")
    ask.add_argument("question", help='e.g. "kan ik een drugspand sluiten?"')
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    ask.add_argument("--k", type=int, default=3, help="at most this many results (default 3)")
    admin = commands.add_parser("admin", help="registry of gemeenten and basisteams")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    admin_import = admin_commands.add_parser("import", help="validate and load a registry YAML")
    admin_import.add_argument("path", type=Path)
    admin_import.add_argument(
        "--if-empty",
        action="store_true",
        help="only when no registry is stored yet (keeps roles changed with `beheer` in chat)",
    )
    admin_export = admin_commands.add_parser("export", help="write the stored registry as YAML")
    admin_export.add_argument("path", type=Path, nargs="?", help="file (default: stdout)")
    requests = commands.add_parser("requests", help="stored requests")
    requests_commands = requests.add_subparsers(dest="requests_command", required=True)
    requests_list = requests_commands.add_parser("list", help="list every request")
    requests_list.add_argument("--json", action="store_true", help="machine-readable output")
    requests_show = requests_commands.add_parser("show", help="one request with its audit trail")
    requests_show.add_argument("reference", help="e.g. BR-2026-0001")
    outbox = commands.add_parser("outbox", help="delivery of messages and cards to Teams")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_list = outbox_commands.add_parser("list", help="every outbox row and its delivery")
    outbox_list.add_argument("--json", action="store_true", help="machine-readable output")
    outbox_list.add_argument(
        "--status", help="only rows in this status (pending, sending, sent, failed, unconfirmed)"
    )
    outbox_retry = outbox_commands.add_parser(
        "retry", help="send a failed or unconfirmed row again (check the chat first)"
    )
    outbox_retry.add_argument("id", type=int, help="the row id from `outbox list`")
    privacy = commands.add_parser("privacy", help="retention, personal data, database grants")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    privacy_purge = privacy_commands.add_parser(
        "purge", help="remove free text of requests closed longer than RETENTION_DAYS"
    )
    privacy_purge.add_argument("--dry-run", action="store_true", help="show, change nothing")
    privacy_overview = privacy_commands.add_parser(
        "report", help="per table: columns with personal data or free text, rows with a value"
    )
    privacy_overview.add_argument("--json", action="store_true", help="machine-readable output")
    privacy_grants = privacy_commands.add_parser(
        "grants", help="print the PostgreSQL grants for the application's own role"
    )
    privacy_grants.add_argument("--role", required=True, help="the role the bot connects as")
    privacy_grants.add_argument("--schema", default="public", help="schema of the tables")
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
    if args.command == "kb" and args.kb_command == "export":
        return asyncio.run(_kb_export(settings, args.root))
    if args.command == "kb":
        return asyncio.run(_kb_import(settings, args.root))
    if args.command == "ask":
        if args.k < 1:
            parser.error("--k must be at least 1")
        return asyncio.run(_ask(settings, args.question, args.k, args.json))
    if args.command == "admin" and args.admin_command == "export":
        return asyncio.run(_admin_export(settings, args.path))
    if args.command == "admin":
        return asyncio.run(_admin_import(settings, args.path, args.if_empty))
    if args.command == "requests" and args.requests_command == "show":
        return asyncio.run(_requests_show(settings, args.reference))
    if args.command == "requests":
        return asyncio.run(_requests_list(settings, args.json))
    if args.command == "outbox" and args.outbox_command == "retry":
        return asyncio.run(_outbox_retry(settings, args.id))
    if args.command == "outbox":
        return asyncio.run(_outbox_list(settings, args.json, args.status))
    if args.command == "privacy":
        import datetime as dt

        from bot import privacy_report

        if args.privacy_command == "grants":
            return privacy_report.grants_command(args.role, args.schema)
        if args.privacy_command == "report":
            return asyncio.run(privacy_report.report_command(settings, as_json=args.json))
        return asyncio.run(
            privacy_report.purge_command(
                settings, dry_run=args.dry_run, now=dt.datetime.now(dt.UTC)
            )
        )
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
