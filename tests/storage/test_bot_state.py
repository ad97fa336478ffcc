"""Our botbuilder Storage against the SDK's storage contract, on SQLite and PostgreSQL.

The cases follow botbuilder-testing's StorageBaseTests (not installable here without the Azure
packages it drags in), plus what that suite cannot assert: a stale e-tag is refused.
"""

from __future__ import annotations

import asyncio

import pytest
from botbuilder.core import ConversationState, MessageFactory, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    DialogSet,
    DialogTurnStatus,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.dialogs.prompts import PromptOptions
from sqlalchemy import insert

from storage.bot_state import (
    SqlAlchemyStorage,
    StateConflictError,
    UnsafeStateError,
    check_safe,
    encode,
)
from storage.db import Database
from storage.models import BotStateItem


async def test_unknown_key_reads_empty(database: Database) -> None:
    assert await SqlAlchemyStorage(database).read(["unknown"]) == {}


async def test_null_keys_and_changes_are_rejected(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    with pytest.raises(Exception, match="Keys are required when reading"):
        await storage.read(None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Changes are required when writing"):
        await storage.write(None)  # type: ignore[arg-type]
    await storage.write({})


async def test_create_and_read_back_with_etag(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    await storage.write({"createPoco": {"id": 1}, "createPocoStoreItem": {"id": 2, "e_tag": "*"}})
    read = await storage.read(["createPoco", "createPocoStoreItem"])
    assert read["createPoco"]["id"] == 1
    assert read["createPocoStoreItem"]["id"] == 2
    assert read["createPocoStoreItem"]["e_tag"]


async def test_crazy_keys(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    key = '!@#$%^&*()_+??><":QASD~`' + "x" * 600
    await storage.write({key: {"id": 1}})
    assert (await storage.read([key]))[key]["id"] == 1


async def test_update_with_current_etag_then_stale_etag_is_refused(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    await storage.write({"item": {"count": 1, "e_tag": "*"}})
    first = (await storage.read(["item"]))["item"]
    stale = dict(first)
    first["count"] = 2
    await storage.write({"item": first})
    stale["count"] = 99
    with pytest.raises(StateConflictError):
        await storage.write({"item": stale})
    assert (await storage.read(["item"]))["item"]["count"] == 2
    # A wildcard overrides, an empty e-tag is an error.
    await storage.write({"item": {"count": 100, "e_tag": "*"}})
    with pytest.raises(StateConflictError):
        await storage.write({"item": {"count": 5, "e_tag": ""}})
    assert (await storage.read(["item"]))["item"]["count"] == 100


async def test_saving_twice_in_one_turn_is_not_a_conflict(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    await storage.write({"item": {"count": 1}})
    item = (await storage.read(["item"]))["item"]
    item["count"] = 2
    await storage.write({"item": item})
    item["count"] = 3
    await storage.write({"item": item})
    assert (await storage.read(["item"]))["item"]["count"] == 3


async def test_concurrent_writers_with_the_same_etag_one_wins(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    await storage.write({"conversation": {"turns": 0}})
    copies = [(await storage.read(["conversation"]))["conversation"] for _ in range(5)]
    for number, copy in enumerate(copies):
        copy["turns"] = number + 1
    results = await asyncio.gather(
        *(storage.write({"conversation": copy}) for copy in copies), return_exceptions=True
    )
    conflicts = [result for result in results if isinstance(result, StateConflictError)]
    assert len(conflicts) == 4, results
    assert (await storage.read(["conversation"]))["conversation"]["turns"] in range(1, 6)


async def test_delete_and_delete_unknown(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    await storage.write({"delete1": {"count": 1, "e_tag": "*"}})
    await storage.delete(["delete1", "unknown_key"])
    assert await storage.read(["delete1"]) == {}


async def test_batch_operations(database: Database) -> None:
    storage = SqlAlchemyStorage(database)
    await storage.write({"b1": {"count": 10}, "b2": {"count": 20}, "b3": {"count": 30}})
    result = await storage.read(["b1", "b2", "b3"])
    assert [result[key]["count"] for key in ("b1", "b2", "b3")] == [10, 20, 30]
    await storage.delete(["b1", "b2", "b3"])
    assert await storage.read(["b1", "b2", "b3"]) == {}


async def test_waterfall_with_prompts_resumes_on_a_new_storage_instance(
    database_url: str,
) -> None:
    """Dialog state (SDK objects) survives a restart: every turn uses a fresh engine."""

    async def step_1(step: WaterfallStepContext):  # type: ignore[no-untyped-def]
        await step.context.send_activity("stap 1")
        return await step.prompt("prompt", PromptOptions(prompt=MessageFactory.text("naam?")))

    async def step_2(step: WaterfallStepContext):  # type: ignore[no-untyped-def]
        await step.context.send_activity(f"stap 2: {step.result}")
        return await step.prompt("prompt", PromptOptions(prompt=MessageFactory.text("plaats?")))

    async def step_3(step: WaterfallStepContext):  # type: ignore[no-untyped-def]
        await step.context.send_activity(f"stap 3: {step.result}")
        return await step.end_dialog()

    async def turn(context: TurnContext) -> None:
        database = Database.connect(database_url)
        try:
            state = ConversationState(SqlAlchemyStorage(database))
            dialogs = DialogSet(state.create_property("dialogState"))
            dialogs.add(TextPrompt("prompt"))
            dialogs.add(WaterfallDialog("waterfall", [step_1, step_2, step_3]))
            dc = await dialogs.create_context(context)
            result = await dc.continue_dialog()
            if result.status == DialogTurnStatus.Empty:
                await dc.begin_dialog("waterfall")
            await state.save_changes(context)
        finally:
            await database.dispose()

    adapter = TestAdapter(turn)
    flow = await adapter.send("hallo")
    flow = await flow.assert_reply("stap 1")
    flow = await flow.assert_reply("naam?")
    flow = await flow.send("Utrecht-team")
    flow = await flow.assert_reply("stap 2: Utrecht-team")
    flow = await flow.assert_reply("plaats?")
    flow = await flow.send("Zeist")
    await flow.assert_reply("stap 3: Zeist")


async def test_documents_naming_foreign_types_are_never_restored(database: Database) -> None:
    evil = {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["echo pwned"]}]}
    async with database.sessions.begin() as session:
        await session.execute(
            insert(BotStateItem).values(key="evil", document={"x": evil}, etag="1")
        )
    with pytest.raises(UnsafeStateError):
        await SqlAlchemyStorage(database).read(["evil"])


@pytest.mark.parametrize(
    "document",
    [
        {"py/object": "subprocess.Popen"},
        {"a": [{"py/type": "os._wrap_close"}]},
        {"py/repr": "os/os.system('x')"},
        {"py/reduce": [{"py/type": "subprocess.Popen"}, {"py/tuple": [["ls"]]}]},
        {"py/object": "datetime.datetime", "__reduce__": [{"py/function": "os.system"}, []]},
        {"py/mod": "os"},
    ],
)
def test_safety_check_rejects_code_paths(document: object) -> None:
    with pytest.raises(UnsafeStateError):
        check_safe(document)


def test_safety_check_accepts_real_dialog_state() -> None:
    import datetime as dt

    from botbuilder.dialogs import DialogInstance, DialogState

    state = DialogState()
    state.dialog_stack.append(
        DialogInstance(
            id="x",
            state={
                "options": PromptOptions(prompt=MessageFactory.text("vraag")),
                "when": dt.datetime.now(dt.UTC),
            },
        )
    )
    check_safe(encode({"DialogState": state}))
