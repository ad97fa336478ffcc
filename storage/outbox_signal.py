"""A process-wide count of outbox changes, so a turn wakes the dispatcher only when it has work.

Waking the outbox dispatcher after every turn cost two database transactions per turn (recover,
claim) even when nothing was queued. A turn instead compares `changes()` before and after: every
`Notification` row inserted through the ORM (the only way rows are queued) counts, by a mapper
event, and so does anything else that makes rows deliverable again (`mark()`, e.g. a recipient
reachable again). The count is per process and shared by concurrent turns: another turn's rows
may wake the dispatcher early, which costs what every turn cost before; a turn's own rows always
wake it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.models import Notification

_changes = 0


def changes() -> int:
    """How many times rows were queued (or made deliverable) in this process so far."""
    return _changes


def mark() -> None:
    """Rows became deliverable other than by an insert (count it like one)."""
    global _changes
    _changes += 1


@event.listens_for(Notification, "after_insert")
def _queued(_mapper: Any, _connection: Any, _target: Notification) -> None:
    mark()
