"""Queries the use cases need, nothing more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import LoadedEntry
from storage.models import KnowledgeEntry


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


async def replace_knowledge(session: AsyncSession, entries: Sequence[LoadedEntry]) -> ImportReport:
    """Make the stored entries equal to `entries` (the YAML files are the source of truth)."""
    report = ImportReport()
    stored = {row.id: row for row in (await session.execute(select(KnowledgeEntry))).scalars()}
    for entry in entries:
        row = stored.pop(entry.id, None)
        title = str(entry.data.get("title", entry.id))
        if row is None:
            session.add(
                KnowledgeEntry(
                    id=entry.id,
                    kind=entry.kind,
                    title=title,
                    data=entry.data,
                    checksum=entry.checksum,
                    source_path=entry.path,
                )
            )
            report.created.append(entry.id)
        elif row.checksum != entry.checksum or row.kind != entry.kind:
            row.kind, row.title, row.data = entry.kind, title, entry.data
            row.checksum, row.source_path = entry.checksum, entry.path
            report.updated.append(entry.id)
        else:
            report.unchanged.append(entry.id)
    if stored:
        await session.execute(delete(KnowledgeEntry).where(KnowledgeEntry.id.in_(list(stored))))
        report.removed.extend(sorted(stored))
    return report


async def knowledge_count(session: AsyncSession) -> int:
    return len((await session.execute(select(KnowledgeEntry.id))).all())
