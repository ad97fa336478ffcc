"""`SqlConversationState`/`SqlUserState`: the SDK's state semantics with one encoding per save.

What matters: documents written by the SDK's own BotState on our storage load unchanged (and the
other way round), a turn that changes nothing writes nothing, a change is written exactly once,
and a stale e-tag is still refused.
"""

from __future__ import annotations

import pytest
from botbuilder.core import BotState, ConversationState, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import DialogInstance, DialogState
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from sqlalchemy import select

from bot.intake import Key
from storage.bot_state import (
    SqlAlchemyStorage,
    SqlConversationState,
    SqlUserState,
    StateConflictError,
)
from storage.db import Database
from storage.models import BotStateItem

KEY = "msteams/conversations/c1"


def _context() -> TurnContext:
    return TurnContext(
        TestAdapter(),
        Activity(
            type=ActivityTypes.message,
            channel_id="msteams",
            conversation=ConversationAccount(id="c1"),
            from_property=ChannelAccount(id="u1"),
            recipient=ChannelAccount(id="bot"),
            text="hallo",
        ),
    )


def _dialog_state(step: int) -> DialogState:
    inner = DialogState()
    inner.dialog_stack.append(
        DialogInstance(
            id="RequestDialog",
            state={"answers": {"bevoegdheid": "x"}, "history": [Key.BEVOEGDHEID], "step": step},
        )
    )
    outer = DialogState()
    outer.dialog_stack.append(DialogInstance(id="MainDialog", state={"dialogs": inner}))
    return outer


async def _turn(state: BotState, change: int | None = None) -> DialogState:
    """One turn: load, optionally move the dialog to `change`, save. Returns the loaded state."""
    context = _context()
    dialog = state.create_property("DialogState")
    loaded = await dialog.get(context, lambda: _dialog_state(0))
    if change is not None:
        await dialog.set(context, _dialog_state(change))
    await state.save_changes(context)
    return loaded


async def _stored(database: Database) -> tuple[dict[str, object], str]:
    async with database.sessions() as session:
        row = (
            await session.execute(select(BotStateItem).where(BotStateItem.key == KEY))
        ).scalar_one()
        return row.document, row.etag


def _step(state: DialogState) -> object:
    return state.dialog_stack[0].state["dialogs"].dialog_stack[0].state["step"]


@pytest.mark.parametrize("writer", [ConversationState, SqlConversationState])
@pytest.mark.parametrize("reader", [ConversationState, SqlConversationState])
async def test_documents_are_interchangeable_with_the_sdk_state(
    database: Database, writer: type[BotState], reader: type[BotState]
) -> None:
    await _turn(writer(SqlAlchemyStorage(database)), change=3)
    document, _ = await _stored(database)
    loaded = await _turn(reader(SqlAlchemyStorage(database)))
    assert _step(loaded) == 3
    assert loaded.dialog_stack[0].state["dialogs"].dialog_stack[0].state["history"] == [
        Key.BEVOEGDHEID
    ]
    assert (await _stored(database))[0] == document


async def test_unchanged_state_is_not_written_and_a_change_is(database: Database) -> None:
    state = SqlConversationState(SqlAlchemyStorage(database))
    await _turn(state)  # never stored: written, as the SDK does
    _, etag = await _stored(database)
    await _turn(state)
    assert (await _stored(database))[1] == etag
    await _turn(state, change=1)
    _, changed_etag = await _stored(database)
    assert changed_etag != etag
    assert _step(await _turn(state)) == 1
    assert (await _stored(database))[1] == changed_etag


async def test_saving_twice_in_one_turn_writes_once(database: Database) -> None:
    state = SqlConversationState(SqlAlchemyStorage(database))
    await _turn(state)
    context = _context()
    dialog = state.create_property("DialogState")
    await dialog.get(context)
    await dialog.set(context, _dialog_state(2))
    await state.save_changes(context)
    _, etag = await _stored(database)
    await state.save_changes(context)
    assert (await _stored(database))[1] == etag
    await dialog.set(context, _dialog_state(4))
    await state.save_changes(context)  # the refreshed e-tag is not mistaken for a conflict
    assert _step(await _turn(state)) == 4


async def test_a_stale_turn_is_refused(database: Database) -> None:
    state = SqlConversationState(SqlAlchemyStorage(database))
    await _turn(state)
    first, second = _context(), _context()
    dialog = state.create_property("DialogState")
    await dialog.get(first)
    await dialog.get(second)
    await dialog.set(first, _dialog_state(5))
    await state.save_changes(first)
    await dialog.set(second, _dialog_state(6))
    with pytest.raises(StateConflictError):
        await state.save_changes(second)
    assert _step(await _turn(state)) == 5


async def test_user_state_and_clear_state(database: Database) -> None:
    state = SqlUserState(SqlAlchemyStorage(database))
    context = _context()
    remembered = state.create_property("last_gemeente")
    await remembered.set(context, "Utrecht")
    await state.save_changes(context)
    context = _context()
    assert await remembered.get(context) == "Utrecht"
    await state.clear_state(context)
    await state.save_changes(context)
    assert await remembered.get(_context()) is None
