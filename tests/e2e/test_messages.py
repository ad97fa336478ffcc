"""Real activities through /api/messages; replies captured by the local connector."""

from __future__ import annotations

import gzip
import json
import logging

import pytest

from bot.chat import ChatSession
from cards.text import card_to_text
from support import BotServer


async def test_install_in_personal_chat_sends_one_welcome_card(bot_server: BotServer) -> None:
    chat = bot_server.session()
    replies = await chat.start()
    assert len(replies) == 1
    assert replies[0].conversation_id == chat.conversation_id
    card = replies[0].cards[0]
    assert card["body"][0]["text"] == "Welkom bij de rapportagebot"
    assert card["version"] == "1.5"
    # Teams sends conversationUpdate and installationUpdate; a re-install must not spam.
    assert await chat.start() == []


TEAM = "19:team@thread.tacv2"


def team_member_added(chat: ChatSession, member_id: str) -> dict[str, object]:
    return chat.activity(
        type="conversationUpdate",
        membersAdded=[{"id": member_id}],
        conversation={"id": TEAM, "conversationType": "channel"},
        channelData={"team": {"id": TEAM}, "eventType": "teamMemberAdded"},
    )


async def test_install_in_a_team_welcomes_the_channel(bot_server: BotServer) -> None:
    chat = bot_server.session()
    status, _, replies = await chat.post(team_member_added(chat, "28:rapportagebot"))
    assert status in (200, 201)
    texts = [block.get("text", "") for block in replies[0].cards[0]["body"]]
    assert any("@Rapportagebot help" in value for value in texts)


async def test_a_person_joining_a_team_gets_no_welcome_and_no_lookup(
    bot_server: BotServer,
) -> None:
    chat = bot_server.session()
    status, _, replies = await chat.post(team_member_added(chat, "29:someone-else"))
    assert status == 201
    assert replies == []
    assert bot_server.connector.received == []


async def test_help_answers_with_the_dutch_help_card(bot_server: BotServer) -> None:
    chat = bot_server.session()
    replies, _ = await chat.say("help")
    card = replies[0].cards[0]
    assert card["body"][0]["text"] == "Wat kan de rapportagebot?"
    [fact_set] = [item for item in card["body"] if item["type"] == "FactSet"]
    assert {"help", "annuleer"} <= {fact["title"] for fact in fact_set["facts"]}
    assert any("Typ je vraag in je eigen woorden" in item.get("text", "") for item in card["body"])


async def test_help_variants_and_channel_mentions_are_understood(bot_server: BotServer) -> None:
    chat = bot_server.session()
    for line in ("Help!", "hulp", "  HELP  "):
        replies, _ = await chat.say(line)
        assert replies[0].cards[0]["body"][0]["text"] == "Wat kan de rapportagebot?", line
    mention = chat.activity(
        type="message",
        text="<at>Rapportagebot</at> help",
        entities=[
            {
                "type": "mention",
                "text": "<at>Rapportagebot</at>",
                "mentioned": {"id": "28:rapportagebot", "name": "Rapportagebot"},
            }
        ],
        conversation={"id": f"{TEAM};messageid=1", "conversationType": "channel"},
    )
    _, _, replies = await chat.post(mention)
    assert replies[0].cards[0]["body"][0]["text"] == "Wat kan de rapportagebot?"


async def test_free_text_is_a_question_answered_honestly_in_dutch(bot_server: BotServer) -> None:
    # No knowledge loaded: the bot says it does not know and offers the experts.
    chat = bot_server.session()
    replies, _ = await chat.say("waar is de koffie")
    [card] = replies[0].cards
    assert card["body"][0]["text"] == "Dat weet ik niet zeker."
    assert [b.title for b in card_to_text(card).buttons] == ["Versturen"]


async def test_cancel_with_nothing_running_says_so(bot_server: BotServer) -> None:
    replies, _ = await bot_server.session().say("annuleer")
    assert replies[0].text == "Er loopt op dit moment niets om te annuleren."


async def test_unknown_card_verb_changes_nothing_and_says_so(bot_server: BotServer) -> None:
    chat = bot_server.session()
    value = {"action": {"type": "Action.Execute", "verb": "bestaat_niet", "data": {}}}
    status, body, replies = await chat.post(
        chat.activity(type="invoke", name="adaptiveCard/action", value=value)
    )
    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert body["value"].startswith("Deze knop ken ik niet")
    assert replies == []


async def test_submit_from_an_unknown_card_is_answered(bot_server: BotServer) -> None:
    chat = bot_server.session()
    _, _, replies = await chat.post(chat.activity(type="message", value={"verb": "oud"}))
    assert replies[0].text.startswith("Deze knop ken ik niet")


async def test_unsupported_invoke_gets_a_4xx_not_a_5xx(bot_server: BotServer) -> None:
    chat = bot_server.session()
    status, body, _ = await chat.post(chat.activity(type="invoke", name="task/fetch", value={}))
    assert status == 400
    assert "niet ondersteund" in body["value"]


async def test_malformed_requests_get_4xx(
    bot_server: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    json_header = {"Content-Type": "application/json"}
    good = bot_server.session().activity(type="message", text="help")
    template = json.dumps({**good, "text": "@"}).encode()
    cases = [
        (b"{not json", json_header, 400),
        (b"\xff\xfe", json_header, 400),
        (b"[1, 2]", json_header, 400),
        (b'"just a string"', json_header, 400),
        (json.dumps(good).encode(), {"Content-Type": "text/plain"}, 415),
        (json.dumps(good).encode(), {}, 415),
        (json.dumps({**good, "type": None}).encode(), json_header, 400),
        (json.dumps({**good, "conversation": None}).encode(), json_header, 400),
        (json.dumps({**good, "serviceUrl": "ftp://x"}).encode(), json_header, 400),
        (json.dumps({**good, "channelId": None}).encode(), json_header, 400),
        (json.dumps({**good, "timestamp": "not a date"}).encode(), json_header, 400),
        (b"{" + b'"x": "' + b"a" * (600 * 1024) + b'"}', json_header, 413),
        # Found by tests/e2e/test_fuzz.py; each of these was a 500 or a failed turn.
        (b"", json_header, 400),
        (b"42", json_header, 400),
        (b"null", json_header, 400),
        (b"[" * 100_000 + b"]" * 100_000, json_header, 400),  # RecursionError in json
        (
            json.dumps({**good, "value": None}).encode().replace(b"null", _nested(65)),
            json_header,
            400,
        ),
        (template.replace(b'"@"', rb'"\ud800 help"'), json_header, 400),  # lone surrogate
        (template.replace(b'"@"', rb'"help\u0000"'), json_header, 400),  # PostgreSQL refuses
        (template.replace(b'"@"', b"NaN"), json_header, 400),
        (template.replace(b'"@"', b"1e999"), json_header, 400),
        (json.dumps(good).encode(), {"Content-Type": "application/json; charset=bogus"}, 415),
        (json.dumps(good).encode(), {"Content-Type": "application/json; charset=utf-16"}, 415),
        (b"not gzip", {**json_header, "Content-Encoding": "gzip"}, 400),
        (
            gzip.compress(b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}'),
            {**json_header, "Content-Encoding": "gzip"},
            413,
        ),
        (_without(good, "recipient"), json_header, 400),
        (json.dumps({**good, "recipient": {}}).encode(), json_header, 400),
        (json.dumps({**good, "from": {"aadObjectId": "x"}}).encode(), json_header, 400),
        (json.dumps({**good, "id": "{x}"}).encode(), json_header, 400),
        (json.dumps({**good, "id": ".."}).encode(), json_header, 400),
        (json.dumps({**good, "id": "x" * 201}).encode(), json_header, 400),
        (json.dumps({**good, "conversation": {"id": "chat-é"}}).encode(), json_header, 400),
        (
            json.dumps({**good, "from": {**good["from"], "aadObjectId": "a" * 65}}).encode(),
            json_header,
            400,
        ),
    ]
    for body, headers, expected in cases:
        status, _ = await bot_server.post("/api/messages", body, headers)
        assert status == expected, (body[:40], headers, status)
    assert bot_server.connector.received == []
    # Refused at the door, never an error in the log (an ERROR is a bug to someone on call).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # A good activity on the same client still gets its answer.
    status, _ = await bot_server.post("/api/messages", json.dumps(good).encode(), json_header)
    assert status == 201


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _without(activity: dict[str, object], key: str) -> bytes:
    return json.dumps({k: v for k, v in activity.items() if k != key}).encode()


async def test_local_mode_refuses_a_token_it_cannot_validate(bot_server: BotServer) -> None:
    activity = bot_server.session().activity(type="message", text="help")
    status, _ = await bot_server.post(
        "/api/messages",
        json.dumps(activity).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer abc.def.ghi"},
    )
    assert status == 401
    assert bot_server.connector.received == []


async def test_health_and_readiness(bot_server: BotServer) -> None:
    assert (await bot_server.get("/healthz"))[0] == 200
    status, body = await bot_server.get("/readyz")
    assert status == 200
    assert json.loads(body)["database"] == "sqlite"
