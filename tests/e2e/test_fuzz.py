"""Fuzzing `/api/messages` with generated Teams activities, card actions and raw bodies.

The real app (local mode, the local connector standing in for Teams; SQLite, and PostgreSQL
when configured) is seeded first: two requests submitted through the dialog (their cards
delivered to the coördinatoren), a request of Anne's in every other state, a question sent to
the experts, and the sturingsoverleg channel linked with its agenda posted. The generated
activities name those requests, questions and people (and others that do not exist), and half
of the card actions press a button of a card the bot really sent (`Press`), so the fuzzer
reaches the lifecycle, priorities, the expert network and the dialogs, not only the front door.

Properties, for every generated input:

- the HTTP status is never 5xx, and the app answers within a minute (no hang);
- nothing is logged at ERROR or above, by any logger. ERROR is what an operator is paged for and
  what our code uses only for a bug (`turn failed`, `outbox round failed`, `scheduled job
  failed`, aiohttp's `Error handling request` for a 500, asyncio's unretrieved task exception).
  An input the bot must refuse is a 4xx or a polite Dutch message, logged at most as a WARNING
  (refused activity, unreachable recipient) or INFO (unknown card action). One exception, not
  our code: aiohttp's own ERROR line when its HTTP parser answers a request with a 400 before
  the app runs (a Content-Encoding it has no decoder for);
- whatever the bot sends to the connector is a Dutch text from our catalogue
  (cards/messages.yaml) or an Adaptive Card, never a Python traceback or exception text; the
  same holds for the text of an invoke response.

And afterwards: `/healthz` and `/readyz` answer 200 and a plain "help" still gets the Dutch help
card.

The server runs on its own event loop in a thread, so hypothesis drives it from a plain
(synchronous) test: one seeded server per test (state accumulates across examples, as in
production), every example one HTTP request, and the health check after the last example. The
number of examples comes from the hypothesis profile (tests/conftest.py: "dev" runs 200 per
test, HYPOTHESIS_PROFILE=ci 1,000, derandomized). Every bug the fuzzer found has a deterministic
regression test: the body-level ones in test_messages.py, the others at the end of this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import logging
import re
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import pytest
import yaml
from aiohttp.http_exceptions import HttpProcessingError
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import sweep_reminders
from bot.chat import CARD_RESPONSE, ChatSession, local_identity
from bot.digest import PRIORITIES, PRIORITY_VERB
from bot.local_channel import BOT_ID, LOCAL_TENANT, LocalConnector, Received
from bot.privacy import is_valid_bsn
from bot.teams import KNOWLEDGE_VERBS
from bot.views import OUTCOMES
from bot.workflow import Action, RequestStatus
from cards.text import Button, card_to_text
from requesting import answer_checklist, content, fixed_questions, load_content
from storage.db import Database
from storage.models import ExpertQuestion, Request
from support import BotServer, FakeClock, Transcript, local_settings

T = TypeVar("T")

ANNE, GERT, CARLA, PIETER, ERIK, BEA = (
    "Anne Aanvrager",
    "Gert Gemeente",
    "Carla Coördinator",
    "Pieter Politie",
    "Erik Expert",
    "Bea Beheer",
)
# The demo registry's people (each with a role somewhere) and one stranger without any.
PEOPLE = (ANNE, GERT, CARLA, PIETER, ERIK, BEA, "Nina Nieuw")
CHANNEL = "19:sturing@thread.tacv2"
LINK = "koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om 10:00"
# Tuesday 24 November 2026 08:00 in Amsterdam: that meeting's agenda is due (two hours ahead).
AGENDA_DUE = dt.datetime(2026, 11, 24, 7, 0, tzinfo=dt.UTC)
EXAMPLE_TIMEOUT = 60.0

# --- What Teams sends ---------------------------------------------------------------------------

ACTIVITY_TYPES = (
    "message",
    "invoke",
    "conversationUpdate",
    "installationUpdate",
    "messageReaction",
    "messageUpdate",
    "messageDelete",
    "event",
    "typing",
    "endOfConversation",
    "invokeResponse",
    "trace",
    "delay",
    "handoff",
    "command",
    "commandResult",
    "contactRelationUpdate",
    "deleteUserData",
    "suggestion",
    "Message",
    "",
)
INVOKE_NAMES = (
    "adaptiveCard/action",
    "task/fetch",
    "task/submit",
    "composeExtension/query",
    "composeExtension/submitAction",
    "composeExtension/fetchTask",
    "composeExtension/queryLink",
    "composeExtension/selectItem",
    "composeExtension/setting",
    "composeExtension/onCardButtonClicked",
    "actionableMessage/executeAction",
    "fileConsent/invoke",
    "signin/verifyState",
    "signin/tokenExchange",
    "signin/failure",
    "config/fetch",
    "config/submit",
    "tab/fetch",
    "tab/submit",
    "message/submitAction",
    "application/search",
    "adaptiveCard/search",
    "handoff/action",
    "healthCheck",
)
EVENT_NAMES = ("tokens/response", "application/vnd.microsoft.meetingStart", "ContinueConversation")
COMMANDS = (
    "help",
    "Help!",
    "hulp",
    "?",
    "nieuwe aanvraag",
    "annuleer",
    "terug",
    "status",
    "mijn aanvragen",
    "indienen",
    "wijzig 3",
    "wijzig 999999999999999999999",
    "ja",
    "nee",
    "damocles",
    "Zeist",
    "15-12-2026",
    "over 2 weken",
    "beheer",
    "beheer overzicht",
    "beheer zoek anne",
    "beheer geef Anne Aanvrager coördinator van heuvelrug",
    "beheer expertkanaal",
    "beheer expertkanaal ontkoppel",
    "koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om 10:00",
    "koppel dit kanaal aan basisteam X op 31:99",
    "ontkoppel",
    "ontkoppel basisteam Heuvelrug",
    "<at>Rapportagebot</at> help",
    "<at>Rapportagebot</at>",
    "<at></at>",
    "wat is artikel 13b opiumwet",
)
# Every verb our cards carry (cards/templates/*.j2 and the transition table), and some that none
# does.
CARD_VERBS = (
    *(action.value for action in Action),
    *sorted(KNOWLEDGE_VERBS),
    PRIORITY_VERB,
    "refresh",
    "aanvraag_starten",
    "bestaat_niet",
    "",
)
DATA_KEYS = (
    "reference",
    "version",
    "priority",
    "question_id",
    "draft_id",
    "entry",
    "question",
    "outcome",
    "feedback",
    "expert_vraag",
    "expert_antwoord",
    "kennis_opmerking",
    "bevoegdheid",
    "verb",
    "msteams",
    *(f"{action.value}_reason" for action in Action),
    "afwijzen_suggested",
    # Forged actor fields: the actor is always the activity's sender, never the card's data.
    "actor",
    "aadObjectId",
    "aad_object_id",
    "from",
    "user",
    "role",
)


def _bsn(digits: list[int]) -> str | None:
    """Complete eight digits into a number that passes the 11-test, if one exists."""
    total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
    last = total % 11
    candidate = "".join(map(str, digits)) + str(last)
    return candidate if last < 10 and is_valid_bsn(candidate) else None


bsns = (
    st.lists(st.integers(0, 9), min_size=8, max_size=8)
    .map(_bsn)
    .filter(lambda value: value is not None)
)
huge_ints = st.sampled_from([2**31, 2**63, -(2**63) - 1, 2**64, 10**30, -1, 0])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    # NaN and infinities are refused at the door (not JSON): test_messages covers them, here
    # they would only keep the examples from going deeper.
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
non_strings = json_values.filter(lambda value: not isinstance(value, str))
# Printable ASCII, as Teams' ids are, with every odd character a URL path can hold.
identifiers = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
)
texts = st.one_of(
    st.sampled_from(COMMANDS),
    st.sampled_from(COMMANDS),
    st.text(),
    # Lone surrogates (valid JSON escapes, not Unicode) and control characters, U+0000 too.
    st.text(st.characters(categories=["Cs", "Cc", "Lu", "Ll", "Nd", "Zs"])),
    st.builds(
        lambda part, times: part * times, st.text(min_size=1, max_size=8), st.integers(1, 20000)
    ),
    st.builds(
        lambda before, bsn, after: f"{before} {bsn} {after}",
        st.text(max_size=20),
        bsns,
        st.text(max_size=20),
    ),
    st.builds(lambda bsn: f"{bsn[:3]} {bsn[3:6]} {bsn[6:]}", bsns),
    st.builds(lambda line: f"<at>Rapportagebot</at> {line}", st.sampled_from(COMMANDS) | st.text()),
)
text_or_junk = texts | non_strings


def odd_service_urls(connector_url: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(connector_url),
        st.just(connector_url.rstrip("/")),
        st.just(connector_url + "v3/../../"),
        st.sampled_from(
            [
                "http://127.0.0.1:1/",
                "http://localhost:1/",
                "https://smba.trafficmanager.net/emea/",
                "https://evil.example/",
                "http://user:pw@127.0.0.1/",
                "http://127.0.0.1:99999/",
                "http://[::1/",
                "http://",
                "https://",
                "ftp://127.0.0.1/",
                "",
            ]
        ),
        st.text(max_size=30).map(lambda tail: f"http://{tail}"),
        non_strings,
    )


@dataclass
class Seeded:
    """What the seeded world holds, for strategies that name real things."""

    connector_url: str
    references: list[str]
    question_ids: list[int]
    entry_ids: list[str]


def accounts(seeded: Seeded) -> st.SearchStrategy[Any]:
    """`from`: mostly a real person, sometimes someone odd, missing fields or the wrong type."""
    people = st.sampled_from(PEOPLE).map(_account)
    odd = st.fixed_dictionaries(
        {},
        optional={
            "id": identifiers | text_or_junk,
            "name": text_or_junk,
            "aadObjectId": st.sampled_from([local_identity(p)[1] for p in PEOPLE]) | text_or_junk,
            "role": text_or_junk,
        },
    )
    return st.one_of(people, people, people, odd, json_values)


def _account(name: str) -> dict[str, Any]:
    user_id, object_id = local_identity(name)
    return {"id": user_id, "name": name, "aadObjectId": object_id}


def conversations(name: str) -> st.SearchStrategy[Any]:
    own = {
        "id": f"a:local-chat-{local_identity(name)[1]}",
        "conversationType": "personal",
        "tenantId": LOCAL_TENANT,
    }
    odd = st.fixed_dictionaries(
        {
            "id": st.one_of(
                st.just(own["id"]),
                st.just(f"{CHANNEL};messageid=1"),
                st.just(CHANNEL),
                identifiers,
                st.text(max_size=40),
                non_strings,
            )
        },
        optional={
            "conversationType": st.sampled_from(["personal", "channel", "groupChat", ""])
            | text_or_junk,
            "tenantId": st.sampled_from([LOCAL_TENANT, "other-tenant", ""]) | json_values,
            "tenantID": st.sampled_from([LOCAL_TENANT, "other-tenant"]) | json_values,
            "isGroup": json_values,
            "name": text_or_junk,
        },
    )
    return st.one_of(st.just(own), st.just(own), odd, json_values)


channel_data = st.one_of(
    st.just({"tenant": {"id": LOCAL_TENANT}}),
    st.fixed_dictionaries(
        {},
        optional={
            "tenant": st.one_of(
                st.just({"id": LOCAL_TENANT}),
                st.fixed_dictionaries({"id": st.sampled_from([LOCAL_TENANT, "x"]) | json_values}),
                json_values,
            ),
            "team": st.one_of(st.just({"id": CHANNEL}), json_values),
            "channel": st.one_of(st.just({"id": CHANNEL}), json_values),
            "eventType": st.sampled_from(
                ["teamMemberAdded", "teamMemberRemoved", "channelCreated", "teamRenamed"]
            )
            | json_values,
            "settings": json_values,
            "source": json_values,
            "legacy": json_values,
        },
    ),
    json_values,
)
members = (
    st.lists(
        st.one_of(
            st.just({"id": BOT_ID}),
            st.fixed_dictionaries(
                {"id": identifiers | text_or_junk}, optional={"name": text_or_junk}
            ),
            json_values,
        ),
        max_size=3,
    )
    | json_values
)
entities = (
    st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"type": st.just("mention")},
                optional={
                    "text": st.just("<at>Rapportagebot</at>") | text_or_junk,
                    "mentioned": st.one_of(
                        st.just({"id": BOT_ID, "name": "Rapportagebot"}), json_values
                    ),
                },
            ),
            json_values,
        ),
        max_size=3,
    )
    | json_values
)


INPUT_KEYS = (
    *(key for key in DATA_KEYS if key.endswith(("_reason", "_suggested"))),
    "outcome",
    "feedback",
    "expert_vraag",
    "expert_antwoord",
    "kennis_opmerking",
    "priority",
)
reasons = st.one_of(
    st.sampled_from(["Welk adres?", "Geen grond", "Onderzoek loopt", ""]),
    texts,
    non_strings,
)


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    """What a person types or picks in a card's form (ShowCard inputs), valid or not."""
    values: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(INPUT_KEYS), max_size=3, unique=True)):
        if key == "outcome":
            values[key] = draw(st.sampled_from(OUTCOMES) | json_values)
        elif key == "priority":
            values[key] = draw(st.sampled_from(PRIORITIES) | json_values)
        elif key.endswith("_suggested"):
            values[key] = draw(st.just("boa") | json_values)
        else:
            values[key] = draw(reasons)
    return values


@st.composite
def card_data(draw: st.DrawFn, seeded: Seeded) -> Any:
    """A card's `data` made up: a few keys, each valid, odd or of the wrong type."""
    if draw(st.integers(0, 5)) == 0:
        return draw(json_values)
    references = st.one_of(
        st.sampled_from(seeded.references),
        st.sampled_from(seeded.references).map(str.lower),
        st.sampled_from(["BR-2026-9999", "BR-0000-0000", "", "BR-2026-0001 123456782"]),
        bsns,
        texts,
        non_strings,
    )
    ids = st.one_of(
        st.sampled_from(seeded.question_ids),
        st.integers(0, 5),
        st.integers(0, 5).map(str),
        huge_ints,
        huge_ints.map(str),
        json_values,
    )
    values: dict[str, st.SearchStrategy[Any]] = {key: text_or_junk for key in DATA_KEYS}
    values.update(
        reference=references,
        version=st.integers(0, 12) | huge_ints | json_values,
        priority=st.sampled_from(PRIORITIES) | json_values,
        question_id=ids,
        draft_id=ids,
        entry=st.sampled_from(seeded.entry_ids) | text_or_junk,
        outcome=st.sampled_from(OUTCOMES) | json_values,
        afwijzen_suggested=st.just("boa") | json_values,
        verb=st.sampled_from(CARD_VERBS) | json_values,
    )
    data: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        data["reference"] = draw(references)
    for key in draw(st.lists(st.sampled_from(DATA_KEYS), max_size=4, unique=True)):
        data[key] = draw(values[key])
    return data


@dataclass(frozen=True)
class Press:
    """Click a button of a card the bot really sent (to `owner`, who may not be the clicker):
    the `index`-th Action.Execute among them, with `extra` typed into the card's form. Resolved
    into the activity's value when the example is sent, so the fuzzer reaches real requests in
    their real state and version, stale cards included."""

    owner: str
    index: int
    extra: dict[str, Any]
    as_submit: bool
    trigger: Any
    # The form's own fields, when given: "<verb>_reason" and the outcome of afronden.
    reason: Any = None
    outcome: Any = None


def presses(name: str) -> st.SearchStrategy[Press]:
    return st.builds(
        Press,
        owner=st.just(name) | st.sampled_from(PEOPLE),
        index=st.integers(0, 1000),
        extra=inputs(),
        as_submit=st.integers(0, 3).map(lambda n: n == 0),
        trigger=st.just("manual") | st.just("automatic") | st.none() | json_values,
        reason=st.none() | reasons,
        outcome=st.none() | st.sampled_from(OUTCOMES) | json_values,
    )


def card_values(seeded: Seeded) -> st.SearchStrategy[Any]:
    """An `adaptiveCard/action` invoke's value: mostly well formed, with a real verb."""
    action = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["Action.Execute", "Action.Submit"]) | text_or_junk,
            "verb": st.sampled_from(CARD_VERBS) | text_or_junk,
            "data": card_data(seeded),
            "id": text_or_junk,
        },
    )
    well_formed = st.fixed_dictionaries(
        {
            "action": st.fixed_dictionaries(
                {
                    "type": st.just("Action.Execute"),
                    "verb": st.sampled_from(CARD_VERBS),
                    "data": card_data(seeded),
                }
            ),
        },
        optional={"trigger": st.sampled_from(["manual", "automatic"]) | json_values},
    )
    loose = st.fixed_dictionaries(
        {},
        optional={
            "action": action | json_values,
            "trigger": st.sampled_from(["manual", "automatic"]) | json_values,
        },
    )
    return st.one_of(well_formed, well_formed, loose, json_values)


def submit_values(seeded: Seeded) -> st.SearchStrategy[Any]:
    """An Action.Submit's value: the card's data with the verb next to it."""
    return st.builds(
        lambda verb, data: {**data, "verb": verb} if isinstance(data, dict) else data,
        st.sampled_from(CARD_VERBS) | text_or_junk,
        card_data(seeded),
    ) | st.just({"verb": "aanvraag_starten", "bevoegdheid": "sluiting_drugspand"})


# Fields a mutation may remove; the ones the door requires are in here too, so the fuzzer sees
# the refusal and (more often) what a handler does with the rest missing.
_DROPPABLE = (
    "id",
    "from",
    "recipient",
    "conversation",
    "channelData",
    "serviceUrl",
    "channelId",
    "locale",
    "text",
    "value",
    "name",
)


def envelope(seeded: Seeded, name: str) -> dict[str, Any]:
    """A well-formed activity from `name` in their personal chat, as Teams sends it."""
    user_id, object_id = local_identity(name)
    return {
        "id": uuid.uuid4().hex,
        "channelId": "msteams",
        "serviceUrl": seeded.connector_url,
        "from": {"id": user_id, "name": name, "aadObjectId": object_id},
        "recipient": {"id": BOT_ID, "name": "Rapportagebot"},
        "conversation": {
            "id": f"a:local-chat-{object_id}",
            "conversationType": "personal",
            "tenantId": LOCAL_TENANT,
        },
        "channelData": {"tenant": {"id": LOCAL_TENANT}},
        "locale": "nl-NL",
    }


def mutations(seeded: Seeded, name: str) -> dict[str, st.SearchStrategy[Any]]:
    """Odd values per field, for the few fields an example changes."""
    return {
        "id": identifiers | text_or_junk,
        "from": accounts(seeded),
        "recipient": st.just({"id": BOT_ID}) | st.just({}) | json_values,
        "conversation": conversations(name),
        "channelData": channel_data,
        "serviceUrl": odd_service_urls(seeded.connector_url),
        "channelId": st.sampled_from(
            ["msteams", "emulator", "webchat", "directline", "test", "slack", ""]
        )
        | json_values,
        "text": text_or_junk,
        "value": json_values | submit_values(seeded) | card_values(seeded),
        "name": st.sampled_from(INVOKE_NAMES) | text_or_junk,
        "locale": st.sampled_from(["en-US", "nl", "xx-YY", ""]) | text_or_junk,
        "timestamp": st.sampled_from(
            ["2026-11-23T09:00:00.000Z", "2026-02-30T25:61:00Z", "0001-01-01T00:00:00Z"]
        )
        | json_values,
        "localTimestamp": json_values,
        "localTimezone": st.sampled_from(["Europe/Amsterdam", "Mars/Olympus"]) | json_values,
        "entities": entities,
        "attachments": json_values,
        "membersAdded": members,
        "membersRemoved": members,
        "reactionsAdded": json_values,
        "reactionsRemoved": json_values,
        "replyToId": identifiers | text_or_junk,
        "deliveryMode": st.sampled_from(
            ["normal", "notification", "expectReplies", "ephemeral", "stream"]
        )
        | json_values,
        "textFormat": st.sampled_from(["plain", "markdown", "xml"]) | text_or_junk,
        "valueType": text_or_junk,
        "label": text_or_junk,
        "code": text_or_junk,
        "semanticAction": json_values,
        "relatesTo": json_values,
        "callerId": text_or_junk,
        "expiration": json_values,
        "importance": text_or_junk,
        "action": st.sampled_from(["add", "remove", "add-upgrade"]) | text_or_junk,
        "trigger": json_values,
    }


@st.composite
def typed_fields(draw: st.DrawFn, seeded: Seeded) -> dict[str, Any]:
    """The type and the fields that go with it, mostly as Teams fills them."""
    kind = draw(
        st.one_of(
            st.just("message"),
            st.just("message"),
            st.just("invoke"),
            st.sampled_from(ACTIVITY_TYPES),
            text_or_junk,
        )
    )
    fields: dict[str, Any] = {"type": kind}
    if kind == "message":
        fields["text"] = draw(texts)
    if kind == "invoke":
        fields["name"] = draw(st.just("adaptiveCard/action") | st.sampled_from(INVOKE_NAMES))
        fields["value"] = draw(card_values(seeded) | json_values)
    if kind == "event":
        fields["name"] = draw(st.sampled_from(EVENT_NAMES) | text_or_junk)
        fields["value"] = draw(json_values)
    if kind == "installationUpdate":
        fields["action"] = draw(st.sampled_from(["add", "remove", "add-upgrade", "remove-upgrade"]))
    if kind == "conversationUpdate":
        fields["membersAdded"] = draw(members)
    if kind == "messageReaction":
        fields["reactionsAdded"] = draw(st.just([{"type": "like"}]) | json_values)
        fields["replyToId"] = draw(identifiers)
    return fields


@st.composite
def card_fields(draw: st.DrawFn, seeded: Seeded, name: str) -> dict[str, Any]:
    """A card action: an `adaptiveCard/action` invoke (Universal Action) or the Action.Submit
    fallback, a message whose value is the card's data with the verb."""
    if draw(st.booleans()):
        return {"type": "invoke", "name": "adaptiveCard/action", "value": draw(presses(name))}
    if draw(st.integers(0, 3)):
        value = draw(card_values(seeded))
        return {"type": "invoke", "name": "adaptiveCard/action", "value": value}
    fields = {"type": "message", "value": draw(submit_values(seeded))}
    if draw(st.integers(0, 3)) == 0:
        fields["text"] = draw(text_or_junk)
    return fields


@st.composite
def activities(draw: st.DrawFn, seeded: Seeded, *, kind: str) -> dict[str, Any]:
    """A Teams-like activity: a well-formed envelope from one of the people, the fields of its
    type, then a few fields replaced by odd or wrong-typed values and now and then one removed.
    Few changes per example keep most examples past the door, into the handlers.

    kind "any": every activity type; "card": card invokes and Action.Submit messages."""
    name = draw(st.sampled_from(PEOPLE))
    activity = envelope(seeded, name)
    activity.update(draw(card_fields(seeded, name) if kind == "card" else typed_fields(seeded)))
    odd = mutations(seeded, name)
    for key in draw(st.lists(st.sampled_from(sorted(odd)), max_size=3, unique=True)):
        activity[key] = draw(odd[key])
    if draw(st.integers(0, 7)) == 0:
        activity.pop(draw(st.sampled_from(_DROPPABLE)), None)
    return activity


# --- Judging what the bot did --------------------------------------------------------------------

TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\b[A-Z]\w*(Error|Exception)\b"
    r"|<class '|\bNoneType\b|object at 0x[0-9a-f]+"
)
_TAG = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)


@cache
def catalogue_anchors() -> tuple[str, ...]:
    """Literal pieces of every Dutch message (outside Jinja tags and conditional blocks): a
    text the bot sends must contain one of them, so it came from our catalogue."""
    raw = yaml.safe_load((_root() / "cards" / "messages.yaml").read_text(encoding="utf-8"))
    anchors: set[str] = set()
    for template in raw.values():
        depth = 0
        position = 0
        for tag in _TAG.finditer(str(template)):
            if depth == 0:
                anchors.update(_pieces(str(template)[position : tag.start()]))
            body = tag.group()
            if re.match(r"{%-?\s*(if|for)\b", body):
                depth += 1
            elif re.match(r"{%-?\s*end(if|for)\b", body):
                depth -= 1
            position = tag.end()
        if depth == 0:
            anchors.update(_pieces(str(template)[position:]))
    return tuple(sorted(anchors))


def _pieces(literal: str) -> list[str]:
    piece = " ".join(literal.split())
    return [piece] if len(piece) >= 6 else []


def _root() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def assert_polite_text(value: str, where: str) -> None:
    assert not TRACEBACK.search(value), f"{where}: looks like a traceback: {value[:500]!r}"
    plain = " ".join(value.split())
    assert any(anchor in plain for anchor in catalogue_anchors()), (
        f"{where}: not a text from cards/messages.yaml: {value[:500]!r}"
    )


def assert_polite_reply(reply: Received) -> None:
    """A text from our catalogue or an Adaptive Card, never an exception's text."""
    if reply.path == "/v3/conversations" or reply.method == "DELETE":
        return  # opening a personal chat; no user-visible text
    if reply.body.get("type") == "trace" and reply.body.get("channelId") == "emulator":
        # The SDK's dialog-state snapshot for the Bot Framework Emulator's inspector (local mode
        # only): the SDK drops trace activities on every other channel, no user sees it.
        return
    cards = reply.cards
    for card in cards:
        assert card.get("type") == "AdaptiveCard", card
        assert not TRACEBACK.search(json.dumps(card, ensure_ascii=False)), card
    if reply.text:
        assert_polite_text(reply.text, f"{reply.method} {reply.path}")
    assert cards or reply.text or reply.body.get("type") == "typing", reply.body


def assert_polite_response(status: int, body: str) -> None:
    if status >= 400:
        return  # our own short English problem JSON or aiohttp's status page
    if not body:
        return
    try:
        payload = json.loads(body)
    except ValueError:
        raise AssertionError(f"a {status} answer that is not JSON: {body[:300]!r}") from None
    if (
        isinstance(payload, dict)
        and payload.get("type") == "application/vnd.microsoft.activity.message"
    ):
        assert_polite_text(str(payload.get("value")), "invoke response")
    elif (
        isinstance(payload, dict)
        and payload.get("type") == "application/vnd.microsoft.card.adaptive"
    ):
        assert isinstance(payload.get("value"), dict)
        assert payload["value"].get("type") == "AdaptiveCard"
    assert not TRACEBACK.search(body), body[:500]


class Recorder(logging.Handler):
    """Every log record at WARNING or above, from every logger, while the fuzzer runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def errors_since(self, mark: int) -> list[logging.LogRecord]:
        with self._lock_records:
            records = self.records[mark:]
        return [r for r in records if r.levelno >= logging.ERROR and not _refused_by_aiohttp(r)]


def _refused_by_aiohttp(record: logging.LogRecord) -> bool:
    """The one ERROR accepted: aiohttp's HTTP parser refusing a request with a 4xx before the
    app sees it, which aiohttp itself logs at ERROR ("Content-Encoding: br" or "zstd" without
    the optional decoder installed). Not our code, and the client got its 400."""
    error = record.exc_info[1] if record.exc_info else None
    return (
        record.name == "aiohttp.server"
        and isinstance(error, HttpProcessingError)
        and 400 <= (error.code or 0) < 500
    )


def describe(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


# --- The live bot -------------------------------------------------------------------------------


@dataclass
class LiveBot:
    """The seeded bot on its own event loop thread, driven synchronously by hypothesis."""

    url: str
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    recorder: Recorder = field(default_factory=Recorder)
    server: BotServer | None = None
    connector: LocalConnector | None = None
    seeded: Seeded | None = None
    clock: FakeClock = field(default_factory=FakeClock)
    checked_replies: int = 0
    # Cards Teams put in place of a clicked one (invoke responses), per AAD object id.
    shown: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (status, activity type, answer) per example: how deep the examples went.
    outcomes: Counter[tuple[int, str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Callable[[], Awaitable[T]], timeout: float = EXAMPLE_TIMEOUT) -> T:
        async def wrapped() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    async def start(self, *, seed: bool = True) -> None:
        await load_content(self.url)
        self.connector = await LocalConnector().start()
        self.server = await BotServer(local_settings(self.url), self.connector, self.clock).start()
        if seed:
            self.seeded = await self._seed()

    async def _seed(self) -> Seeded:
        """Two requests through the dialog (one with investigation data, so the OM steps
        exist), a question for the experts, the sturingsoverleg channel with its agenda, a
        request in every other state, and the card each party sees of each request."""
        assert self.server is not None and self.connector is not None
        anne = Transcript(self.server.session(ANNE))
        drugspand = content()["sluiting_drugspand"]
        for investigation in ("nee", "ja"):
            await fixed_questions(anne, bevoegdheid="damocles", investigation=investigation)
            await answer_checklist(anne, drugspand)
            assert "is ingediend" in await anne.say("indienen")
        chat = self.server.session(ANNE)
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": "expert_vragen",
                "data": {"expert_vraag": "Mag een boa een woning binnentreden?"},
            }
        }
        status, _, _ = await chat.post(
            chat.activity(type="invoke", name="adaptiveCard/action", value=value)
        )
        assert status == 200
        # The sturingsoverleg: the channel linked, and the agenda with its priority buttons.
        carla = self.server.session(CARLA)
        conversation = {"id": f"{CHANNEL};messageid=1", "conversationType": "channel"}
        status, _, _ = await carla.post(
            carla.activity(type="message", text=LINK, conversation=conversation)
        )
        assert status == 201
        database = Database.connect(self.url)
        try:
            await self._seed_states(database)
            self.clock.now = AGENDA_DUE
            await sweep_reminders(self.server.components)
            await self.server.deliver()
            async with database.sessions() as session:
                references = list(await session.scalars(select(Request.reference)))
                questions = list(await session.scalars(select(ExpertQuestion.id)))
        finally:
            await database.dispose()
        assert len(references) > 2 and questions
        for reference in references:
            for name in (ANNE, GERT, CARLA, PIETER):
                await self._look_at(name, reference)
        assert any(self.buttons_of(name) for name in (ANNE, CARLA))
        return Seeded(
            connector_url=self.connector.url,
            references=references,
            question_ids=questions,
            entry_ids=["sluiting_drugspand", "aanvulling_gevraagd", "bestaat_niet"],
        )

    async def _seed_states(self, database: Database) -> None:
        """A request of Anne's in every state past submission, stored directly (as
        tests/requesting.seed does; with references of another year, so the dialog's counter
        never collides with them)."""
        anne = local_identity(ANNE)[1]
        now = self.clock.now
        states = [status for status in RequestStatus if status is not RequestStatus.CONCEPT]
        async with database.sessions.begin() as session:
            for number, (status, investigation) in enumerate(
                [(status, "ja") for status in states] + [(status, "nee") for status in states[:4]]
            ):
                session.add(
                    Request(
                        reference=f"BR-2025-{number + 1:04d}",
                        status=status.value,
                        version=1,
                        bevoegdheid_id="sluiting_drugspand",
                        gemeente_id="zeist",
                        basisteam_id="heuvelrug",
                        subject="Pand",
                        criminal_investigation=investigation,
                        boa_route_possible=False,
                        report_type="eenvoudig",
                        desired_date=dt.date(2026, 12, 15),
                        answers={},
                        requester_aad_id=anne,
                        requester_name=ANNE,
                        requester_conversation={},
                        created_at=now,
                        updated_at=now,
                        status_since=now,
                    )
                )

    async def _look_at(self, name: str, reference: str) -> None:
        """The card `name` sees of a request: the automatic refresh Teams sends when it shows
        one. Kept, so the fuzzer can press its buttons."""
        assert self.server is not None
        chat = self.server.session(name)
        value = {
            "action": {
                "type": "Action.Execute",
                "verb": "refresh",
                "data": {"reference": reference},
            },
            "trigger": "automatic",
        }
        status, body, _ = await chat.post(
            chat.activity(type="invoke", name="adaptiveCard/action", value=value)
        )
        assert status == 200
        self._keep_shown(local_identity(name)[1], body)

    def _keep_shown(self, aad_id: Any, body: Any) -> None:
        if isinstance(body, dict) and body.get("type") == CARD_RESPONSE:
            self.shown.setdefault(str(aad_id), []).append(body["value"])

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.connector is not None:
            await self.connector.stop()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()

    def post_raw(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        assert self.server is not None
        server = self.server
        return self.run(lambda: server.post("/api/messages", body, headers))

    def buttons_of(self, name: str) -> list[Button]:
        """The Universal Action buttons of every card the bot sent to this person's chat."""
        assert self.connector is not None
        aad_id = local_identity(name)[1]
        # Their personal chat, the team channel, and the cards Teams showed them in place.
        chats = {
            f"a:local-chat-{aad_id}",
            f"a:personal-{aad_id}",
            CHANNEL,
            f"{CHANNEL};messageid=1",
        }
        cards = [
            card
            for reply in list(self.connector.received)
            if reply.conversation_id in chats
            for card in reply.cards
        ]
        return [
            button
            for card in cards + self.shown.get(aad_id, [])
            for button in card_to_text(card).buttons
            if button.kind == "execute"
        ]

    def resolve(self, activity: Any) -> Any:
        """Turn a `Press` into the value Teams (or the Action.Submit fallback) would send."""
        press = activity.get("value") if isinstance(activity, dict) else None
        if not isinstance(press, Press):
            return activity
        buttons = self.buttons_of(press.owner)
        activity = dict(activity)
        if not buttons:
            activity["value"] = {"action": {"type": "Action.Execute", "verb": "refresh"}}
            return activity
        button = buttons[press.index % len(buttons)]
        data = {**button.data, **press.extra}
        if press.reason is not None:
            data[f"{button.verb}_reason"] = press.reason
            data["expert_antwoord"] = press.reason
        if press.outcome is not None:
            data["outcome"] = press.outcome
        if press.as_submit:
            activity.pop("name", None)
            activity.update(type="message", value={**data, "verb": button.verb})
            return activity
        value: dict[str, Any] = {
            "action": {"type": "Action.Execute", "verb": button.verb, "data": data}
        }
        if press.trigger is not None:
            value["trigger"] = press.trigger
        activity["value"] = value
        return activity

    def check(self, activity: Any) -> tuple[int, str]:
        """Send one activity and judge everything that happened since the previous one."""
        mark = len(self.recorder.records)
        activity = self.resolve(activity)
        body = json.dumps(activity).encode()
        note(f"sent: {body[:3000]!r}")
        status, answer = self.post_raw(body, {"Content-Type": "application/json"})
        assert status < 500, (status, answer[:300])
        kind = activity.get("type") if isinstance(activity, dict) else None
        self.outcomes[(status, str(kind)[:20], answer[:60] if status >= 300 else "")] += 1
        errors = self.recorder.errors_since(mark)
        assert not errors, describe(errors)
        assert_polite_response(status, answer)
        self.check_replies()
        if status == 200 and isinstance(activity.get("from"), dict):
            self._keep_shown(activity["from"].get("aadObjectId"), json.loads(answer))
        return status, answer

    def check_replies(self) -> None:
        assert self.connector is not None
        received = list(self.connector.received)
        # Judged once: a failing example must not make every later one fail while shrinking.
        fresh, self.checked_replies = received[self.checked_replies :], len(received)
        for reply in fresh:
            assert_polite_reply(reply)

    def assert_healthy(self) -> None:
        """After the storm: health, readiness and the help card for a newcomer."""
        assert self.server is not None
        server = self.server
        assert self.run(lambda: server.get("/healthz"))[0] == 200
        assert self.run(lambda: server.get("/readyz"))[0] == 200

        async def ask_help() -> list[Received]:
            chat: ChatSession = server.session("Hanna Hulpvraag")
            replies, _ = await chat.say("help")
            return replies

        # A newcomer may get the welcome card first; the help card must follow.
        titles = [
            card["body"][0].get("text") for reply in self.run(ask_help) for card in reply.cards
        ]
        assert "Wat kan de rapportagebot?" in titles, titles
        self.run(server.deliver)
        self.check_replies()
        errors = self.recorder.errors_since(0)
        assert not errors, describe(errors)


@contextlib.contextmanager
def running(url: str, *, seed: bool) -> Iterator[LiveBot]:
    bot = LiveBot(url)
    root = logging.getLogger()
    root.addHandler(bot.recorder)
    try:
        bot.run(lambda: bot.start(seed=seed), timeout=300)
        yield bot
        bot.run(bot.stop)
    finally:
        root.removeHandler(bot.recorder)
        bot.close()


@pytest.fixture
def live(database_url: str) -> Iterator[LiveBot]:
    """The seeded bot; on SQLite and, when configured, on PostgreSQL (whose text and jsonb
    refuse what SQLite stores, such as U+0000)."""
    with running(database_url, seed=True) as bot:
        yield bot


@pytest.fixture
def bare(sqlite_url: str) -> Iterator[LiveBot]:
    """The bot without seeded state, for what is refused before any handler runs."""
    with running(sqlite_url, seed=False) as bot:
        yield bot


# The server is shared by the examples of one test on purpose (state accumulates, as in
# production); each example is one HTTP round trip, so hypothesis' timing checks do not apply.
FUZZ = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
    deadline=None,
)


def assert_went_deep(live: LiveBot) -> None:
    """Most examples must get past the door into the handlers: a guard against strategies that
    only ever produce what the first check refuses (they would test nothing else)."""
    total = sum(live.outcomes.values())
    handled = sum(count for (status, _, _), count in live.outcomes.items() if status < 300)
    assert handled >= total / 4, live.outcomes.most_common(20)


def test_fuzzed_activities_never_fail(live: LiveBot) -> None:
    assert live.seeded is not None
    seeded = live.seeded

    @FUZZ
    @given(activity=activities(seeded, kind="any"))
    def one(activity: dict[str, Any]) -> None:
        live.check(activity)

    one()
    live.assert_healthy()
    assert_went_deep(live)


def test_fuzzed_card_actions_never_fail(live: LiveBot) -> None:
    assert live.seeded is not None
    seeded = live.seeded

    @FUZZ
    @given(activity=activities(seeded, kind="card"))
    def one(activity: dict[str, Any]) -> None:
        live.check(activity)

    one()
    live.assert_healthy()
    assert_went_deep(live)


CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=UTF-8",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=bogus",
    "application/json;",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@st.composite
def raw_requests(draw: st.DrawFn, connector_url: str) -> tuple[bytes, dict[str, str]]:
    """Bodies and headers of every kind: bytes, any JSON (NaN too), activities poisoned with a
    lone surrogate, U+0000 or deep nesting, compressed or claiming to be."""
    activity = envelope(Seeded(connector_url, [], [], []), ANNE)
    activity.update(type="message", text="help")
    template = json.dumps({**activity, "value": "@"}).encode()
    # Spliced in as raw JSON: a lone surrogate and U+0000 as escapes, and Python's extensions.
    poisons = [rb'"\ud800"', rb'"a\udfffb"', rb'"\u0000"', b"NaN", b"-Infinity", b"1e999"]
    body = draw(
        st.one_of(
            st.binary(max_size=2000),
            st.recursive(
                scalars | st.floats(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
            ).map(lambda value: json.dumps(value).encode()),
            st.sampled_from(poisons).map(lambda bad: template.replace(b'"@"', bad)),
            st.integers(1, 200_000).map(_nested),
            st.integers(1, 200).map(lambda depth: template.replace(b'"@"', _nested(depth))),
            st.just(json.dumps(activity).encode()),
        )
    )
    headers = {"Content-Type": draw(st.sampled_from(CONTENT_TYPES))}
    encoding = draw(
        st.sampled_from([None, "gzip", "deflate", "br", "zstd", "identity", "bogus", "gzip, br"])
    )
    if encoding is not None:
        headers["Content-Encoding"] = encoding
        if encoding == "gzip" and draw(st.booleans()):
            body = gzip.compress(body)
        elif encoding == "deflate" and draw(st.booleans()):
            body = zlib.compress(body)
        elif encoding not in ("identity", "bogus"):
            # A body that is not what its encoding says: kept small, because aiohttp 3.14's
            # parser leaves a large one (~100 KB) hanging before any app code runs.
            body = body[: 8 * 1024]
    return body, headers


def test_fuzzed_bodies_and_headers_never_fail(bare: LiveBot) -> None:
    assert bare.connector is not None

    @FUZZ
    @given(request=raw_requests(bare.connector.url))
    def one(request: tuple[bytes, dict[str, str]]) -> None:
        body, headers = request
        mark = len(bare.recorder.records)
        note(f"sent: {headers!r} {body[:300]!r}")
        status, answer = bare.post_raw(body, headers)
        assert status < 500, (status, answer[:300])
        errors = bare.recorder.errors_since(mark)
        assert not errors, describe(errors)

    one()
    bare.assert_healthy()


# --- Regressions the fuzzer found (the body-level ones are in test_messages.py) ------------------


async def test_a_malformed_mention_entity_does_not_fail_the_turn(
    bot_server: BotServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's mention removal raised KeyError on a mention without `mentioned` (and
    TypeError or AttributeError on other odd shapes); the well-formed mention still counts."""
    chat = bot_server.session()
    chat.announce_install = False
    odd = [
        {"type": "mention"},
        {"type": "mention", "mentioned": "Rapportagebot"},
        {"type": "mention", "mentioned": {"name": "Rapportagebot"}},
        {"type": "mention", "mentioned": {"id": BOT_ID}, "text": 5},
        {"type": "clientInfo", "locale": "nl-NL"},
    ]
    mention = {
        "type": "mention",
        "text": "<at>Rapportagebot</at>",
        "mentioned": {"id": BOT_ID, "name": "Rapportagebot"},
    }
    for entities in ([*odd, mention], odd):
        status, _, replies = await chat.post(
            chat.activity(type="message", text="<at>Rapportagebot</at> help", entities=entities)
        )
        assert status == 201
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        texts = [reply.text for reply in replies] + [
            card["body"][0].get("text") for reply in replies for card in reply.cards
        ]
        if entities[-1] is mention:
            assert "Wat kan de rapportagebot?" in texts, texts
        else:
            # The mention stays in the text: not a command, so a question; answered politely.
            assert replies and all(not TRACEBACK.search(str(text)) for text in texts)
