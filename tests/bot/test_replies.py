"""A turn's replies through `ReplyTransport` (bot/replies.py), driven through the real app and
/api/messages against the local connector with scripted faults.

The reply still arrives once; a 429 or 503 is tried again after Retry-After; a 502 is not (the
message may have been posted), and then the user gets the Dutch error message while the dialog
state stays as it was, so answering again continues where the request was; a conversation id with
Teams' separators reaches the connector intact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.chat import ChatSession
from bot.local_channel import Fault, LocalConnector
from requesting import load_content
from support import BotServer, local_settings

ASKS_BEVOEGDHEID = "Welke bevoegdheid wil de gemeente inzetten?"
ASKS_GEMEENTE = "Voor welke gemeente is de rapportage?"
INTERNAL_ERROR = "Er ging iets mis aan mijn kant"


@pytest.fixture
async def server(sqlite_url: str, connector: LocalConnector) -> AsyncIterator[BotServer]:
    await load_content(sqlite_url)
    bot = await BotServer(local_settings(sqlite_url), connector).start()
    yield bot
    await bot.stop()


class Faults:
    """Answers the next replies (POSTs of activities) with the given faults, counting attempts."""

    def __init__(self, *faults: Fault) -> None:
        self.pending = list(faults)
        self.attempts: list[str] = []

    def __call__(self, method: str, path: str) -> Fault | None:
        if method != "POST" or "/activities" not in path:
            return None
        self.attempts.append(path)
        return self.pending.pop(0) if self.pending else None


def _said(replies: list[Any]) -> str:
    return "\n".join(str(reply.body) for reply in replies)


async def _chat(server: BotServer, connector: LocalConnector, http: Any) -> ChatSession:
    chat = ChatSession(server.url("/api/messages"), connector, "Anne Aanvrager", http)
    replies, _ = await chat.say("nieuwe aanvraag")
    assert ASKS_BEVOEGDHEID in _said(replies)
    return chat


async def test_a_429_is_tried_again_after_retry_after_and_the_reply_arrives_once(
    server: BotServer, connector: LocalConnector, http: aiohttp.ClientSession
) -> None:
    chat = await _chat(server, connector, http)
    faults = Faults((429, {"Retry-After": "0.3"}, {"error": {"code": "Throttled"}}))
    connector.fault = faults
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    server.components.adapter.replies.sleep = sleep
    replies, _ = await chat.say("damocles")
    assert len(faults.attempts) == 2
    assert faults.attempts[0] == faults.attempts[1]
    assert len(replies) == 1 and ASKS_GEMEENTE in _said(replies)
    assert waits == [0.3]  # Retry-After was honoured, not a fixed back-off


async def test_a_503_twice_then_success_is_one_reply(
    server: BotServer, connector: LocalConnector, http: aiohttp.ClientSession
) -> None:
    chat = await _chat(server, connector, http)
    busy: Fault = (503, {"Retry-After": "0"}, {})
    faults = Faults(busy, busy)
    connector.fault = faults
    replies, _ = await chat.say("damocles")
    assert len(faults.attempts) == 3
    assert len(replies) == 1 and ASKS_GEMEENTE in _said(replies)


async def test_a_502_is_not_repeated_and_the_answer_can_be_given_again(
    server: BotServer, connector: LocalConnector, http: aiohttp.ClientSession
) -> None:
    chat = await _chat(server, connector, http)
    faults = Faults((502, {}, {"error": {"code": "BadGateway"}}))
    connector.fault = faults
    replies, _ = await chat.say("damocles")
    # One try of the reply, then the error message (which the connector took).
    assert len(faults.attempts) == 2
    assert len(replies) == 1 and INTERNAL_ERROR in replies[0].text
    # Nothing was stored of the failed turn: the same question is still open.
    replies, _ = await chat.say("damocles")
    assert len(replies) == 1 and ASKS_GEMEENTE in _said(replies)


async def test_retries_that_run_out_end_in_the_error_message(
    server: BotServer, connector: LocalConnector, http: aiohttp.ClientSession
) -> None:
    chat = await _chat(server, connector, http)
    throttled: Fault = (429, {"Retry-After": "0"}, {})
    faults = Faults(throttled, throttled, throttled)
    connector.fault = faults
    replies, _ = await chat.say("damocles")
    assert len(faults.attempts) == 4  # three tries of the reply, one of the error message
    assert len(replies) == 1 and INTERNAL_ERROR in replies[0].text


async def test_a_teams_conversation_id_reaches_the_connector_intact(
    server: BotServer, connector: LocalConnector, http: aiohttp.ClientSession
) -> None:
    conversation = "19:abc123@thread.tacv2;messageid=1733400000000"
    chat = ChatSession(
        server.url("/api/messages"),
        connector,
        "Anne Aanvrager",
        http,
        conversation=conversation,
    )
    replies, _ = await chat.say("help")
    assert replies
    assert {reply.conversation_id for reply in replies} == {conversation}
    assert all(reply.activity_id for reply in replies)  # replies to the user's message
