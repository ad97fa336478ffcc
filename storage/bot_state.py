"""botbuilder `Storage` on SQLAlchemy, so conversation and dialog state survive restarts and are
shared by every replica.

E-tag semantics follow the SDK's MemoryStorage and its storage test suite: an item without an
e-tag or with `"*"` is written unconditionally; an item carrying the e-tag it was read with is only
written when nobody changed it since (a conditional UPDATE, so two replicas handling two messages
of the same conversation cannot silently overwrite each other); an empty e-tag is an error.

Dialog state holds SDK objects (DialogState, PromptOptions with Activities), so documents are
stored in jsonpickle's JSON form. Restoring jsonpickle data can import and call arbitrary code,
so every type tag is checked against an allowlist *before* jsonpickle sees the document:
whoever can write this table must not be able to run code in the bot.

`SqlConversationState`/`SqlUserState` replace the SDK's change detection, which flattens the
whole state with jsonpickle three times a turn (at load, before and after saving) on top of our
encoding for storage. Ours encodes the state once per save and uses that same document both to
decide whether anything changed and to write it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jsonpickle
from botbuilder.core import BotState, ConversationState, Storage, TurnContext, UserState
from botbuilder.core.bot_state import CachedBotState
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import BotStateItem, utcnow

_ALLOWED_MODULE_PREFIXES = ("botbuilder.", "botframework.", "dialogs.", "bot.")
_ALLOWED_TYPES = frozenset(
    {
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "uuid.UUID",
    }
)
# Tags that import modules, evaluate reprs or call functions: never legitimate in our state.
_FORBIDDEN_TAGS = frozenset({"py/function", "py/repr", "py/mod", "py/iterator", "py/property"})
_TYPE_TAGS = ("py/object", "py/type")


class StateConflictError(Exception):
    """The stored document changed since it was read (e-tag mismatch)."""


class UnsafeStateError(Exception):
    """A stored document names a type outside the allowlist; it is not restored."""


def _allowed_type(name: object) -> bool:
    return isinstance(name, str) and (
        name in _ALLOWED_TYPES or name.startswith(_ALLOWED_MODULE_PREFIXES)
    )


def check_safe(node: Any) -> None:
    """Raise UnsafeStateError unless every jsonpickle tag in `node` is on the allowlist."""
    if isinstance(node, list | tuple):
        for child in node:
            check_safe(child)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _FORBIDDEN_TAGS:
            raise UnsafeStateError(f"state document uses forbidden tag {key}")
        if key in _TYPE_TAGS and not _allowed_type(value):
            raise UnsafeStateError(f"state document names a disallowed type {value!r}")
        if key in ("py/reduce", "__reduce__"):
            # Reduce calls its first element with the rest as arguments: only allow calling a
            # class that is itself allowed (enum members, datetime values).
            if not (
                isinstance(value, list | tuple)
                and value
                and isinstance(value[0], dict)
                and set(value[0]) == {"py/type"}
                and _allowed_type(value[0]["py/type"])
            ):
                raise UnsafeStateError("state document uses reduce on a disallowed callable")
        check_safe(value)


def encode(item: Any) -> Any:
    return jsonpickle.Pickler(unpicklable=True, keys=False).flatten(item)


def decode(document: Any) -> Any:
    check_safe(document)
    return jsonpickle.Unpickler(safe=True, on_missing="error").restore(document)


def _stored_document(item: Any) -> Any:
    """The document stored for `item`: its jsonpickle form without the e-tag (kept in a column)."""
    document = encode(item)
    if isinstance(document, dict):
        document.pop("e_tag", None)
    return document


def fingerprint(document: Any) -> str:
    """Compares stored documents. Keys are sorted because PostgreSQL's JSONB does not keep their
    order, so a document read back equals the one written; the C JSON encoder is cheap next to
    jsonpickle. Unlike comparing the dicts, `1`, `1.0` and `true` stay different."""
    return json.dumps(document, sort_keys=True)


def _etag_of(item: Any) -> str | None:
    if isinstance(item, Mapping):
        value = item.get("e_tag")
    else:
        value = getattr(item, "e_tag", None)
    return None if value is None else str(value)


def _set_etag(item: Any, etag: str) -> None:
    if isinstance(item, dict):
        item["e_tag"] = etag
    elif hasattr(item, "e_tag"):
        item.e_tag = etag


class SqlAlchemyStorage(Storage):
    def __init__(self, database: Database) -> None:
        super().__init__()
        self._database = database

    async def read(self, keys: Iterable[str]) -> dict[str, object]:
        if keys is None:
            raise Exception("Keys are required when reading")
        return {key: item for key, (item, _) in (await self.read_documents(keys)).items()}

    async def read_documents(self, keys: Iterable[str]) -> dict[str, tuple[object, Any]]:
        """Like `read`, with each item's stored document (without e-tag) next to it."""
        wanted = list(keys)
        if not wanted:
            return {}
        async with self._database.sessions() as session:
            rows = (
                await session.execute(select(BotStateItem).where(BotStateItem.key.in_(wanted)))
            ).scalars()
            result: dict[str, tuple[object, Any]] = {}
            for row in rows:
                item = decode(row.document)
                _set_etag(item, row.etag)
                result[row.key] = (item, row.document)
        return result

    async def write(self, changes: Mapping[str, object]) -> None:
        if changes is None:
            raise Exception("Changes are required when writing")
        await self.write_documents(
            {key: (item, _stored_document(item)) for key, item in changes.items()}
        )

    async def write_documents(self, changes: Mapping[str, tuple[object, Any]]) -> None:
        """Like `write`, for items already encoded by `_stored_document` (no second encoding)."""
        if not changes:
            return
        written: list[tuple[object, str]] = []
        async with self._database.sessions.begin() as session:
            for key, (item, document) in changes.items():
                expected = _etag_of(item)
                if expected == "":
                    raise StateConflictError(f"write of {key!r}: e-tag is empty")
                new_etag = uuid.uuid4().hex
                if expected in (None, "*"):
                    await session.execute(self._upsert(key, document, new_etag))
                else:
                    changed = await session.execute(
                        update(BotStateItem)
                        .where(BotStateItem.key == key, BotStateItem.etag == expected)
                        .values(document=document, etag=new_etag, updated_at=utcnow())
                    )
                    if changed.rowcount == 0:  # type: ignore[attr-defined]
                        exists = await session.scalar(
                            select(BotStateItem.key).where(BotStateItem.key == key)
                        )
                        if exists is not None:
                            raise StateConflictError(
                                f"write of {key!r}: stored e-tag differs from {expected!r}"
                            )
                        # Like MemoryStorage: an e-tag for a key that does not exist yet creates
                        # it; a concurrent creator wins and we report the conflict.
                        inserted = await session.execute(
                            self._insert(key, document, new_etag).on_conflict_do_nothing()
                        )
                        if inserted.rowcount == 0:  # type: ignore[attr-defined]
                            raise StateConflictError(f"write of {key!r}: created concurrently")
                written.append((item, new_etag))
        # Only after commit: the caller's copy now matches the stored e-tag, so a second save in
        # the same turn is not mistaken for a conflict.
        for item, etag in written:
            _set_etag(item, etag)

    async def delete(self, keys: Iterable[str]) -> None:
        wanted = list(keys or [])
        if not wanted:
            return
        async with self._database.sessions.begin() as session:
            await session.execute(delete(BotStateItem).where(BotStateItem.key.in_(wanted)))

    def _insert(self, key: str, document: Any, etag: str) -> Any:
        build = pg_insert if self._database.dialect == "postgresql" else sqlite_insert
        return build(BotStateItem).values(
            key=key, document=document, etag=etag, updated_at=utcnow()
        )

    def _upsert(self, key: str, document: Any, etag: str) -> Any:
        statement = self._insert(key, document, etag)
        return statement.on_conflict_do_update(
            index_elements=[BotStateItem.key],
            set_={"document": document, "etag": etag, "updated_at": utcnow()},
        )


class _StoredSnapshot(CachedBotState):
    """The SDK's per-turn cache entry, with `hash` the fingerprint of the stored document."""

    def __init__(self, state: dict[str, object] | None, stored_fingerprint: str) -> None:
        # Not calling the SDK's __init__: it would flatten the state with jsonpickle once more.
        self.state = state if state is not None else {}
        self.hash = stored_fingerprint

    def compute_hash(self, obj: object) -> str:
        return fingerprint(_stored_document(obj))


class _SnapshotState(BotState):
    """Change detection of `BotState` on our storage: loading fingerprints the document just
    read (no encoding); saving encodes the state once, compares, and writes that document only
    when it differs from what is stored. With any other storage it is the SDK's BotState.

    Skipping the write exactly when the document to write equals the stored one keeps the SDK's
    semantics (it skips when the state looks as it did at load, e-tag included: the e-tag is not
    in the document, but it only changes by a write, which refreshes the fingerprint too)."""

    async def load(self, turn_context: TurnContext, force: bool = False) -> None:
        storage = self._storage
        if not isinstance(storage, SqlAlchemyStorage):
            await super().load(turn_context, force)
            return
        cached = self.get_cached_state(turn_context)
        if force or not cached or not cached.state:
            key = self.get_storage_key(turn_context)
            found = (await storage.read_documents([key])).get(key)
            if found is None:
                # Matches no document: a state never stored is written by the first save, even
                # when empty, as the SDK does (its hash of a missing state is that of `None`).
                snapshot = _StoredSnapshot(None, "")
            else:
                item, document = found
                snapshot = _StoredSnapshot(item, fingerprint(document))  # type: ignore[arg-type]
            turn_context.turn_state[self._context_service_key] = snapshot

    async def save_changes(self, turn_context: TurnContext, force: bool = False) -> None:
        storage = self._storage
        cached = self.get_cached_state(turn_context)
        if not isinstance(storage, SqlAlchemyStorage) or not isinstance(cached, _StoredSnapshot):
            await super().save_changes(turn_context, force)
            return
        document = _stored_document(cached.state)
        current = fingerprint(document)
        if force or current != cached.hash:
            key = self.get_storage_key(turn_context)
            await storage.write_documents({key: (cached.state, document)})
            cached.hash = current


class SqlConversationState(_SnapshotState, ConversationState):
    """The SDK's ConversationState with one encoding per save (see `_SnapshotState`)."""


class SqlUserState(_SnapshotState, UserState):
    """The SDK's UserState with one encoding per save (see `_SnapshotState`)."""
