"""A BSN never reaches the database nor a log line, whatever path it is typed into (issue 8).

The real app is driven through `/api/messages` as Teams drives it. BSNs, generated from a few
seeded random valid numbers and written the ways people write them (plain, grouped with spaces,
dots or dashes, non-breaking spaces, en dashes, the old 8-digit form, inside a sentence), are
typed into every free-text path: each answer of the request dialog, typed lines outside a dialog
(knowledge questions), the question to the experts, the expert's answer, feedback comments on
knowledge answers, every reason and comment on the request cards, channel commands, beheer
commands, and card data a client could forge (extra keys in Action.Execute data and in
Action.Submit values). Each refusal must be a Dutch message, never a crash.

Afterwards every table of the database (all rows, all columns; JSON documents leaf by leaf) and
every log record captured during the whole test are scanned with `bot.privacy.find_bsn` for any
valid BSN, and for the digits of the BSNs typed (whatever their separators). Logging is at DEBUG
with the caps `bot.__main__` puts on chatty libraries, so the scan sees what a deployed bot with
LOG_LEVEL=DEBUG would write. The dialog state, rewritten every turn, is also scanned right after
each refusal.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Connection, MetaData, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.__main__ import _configure_logging as configure_logging
from bot.chat import CARD_RESPONSE, ChatSession, local_identity
from bot.content import QuestionType
from bot.local_channel import LOCAL_TENANT, LocalConnector
from bot.privacy import find_bsn, is_valid_bsn, redact_bsn
from cards.text import card_to_text
from requesting import content, load_content, valid_answer
from storage.db import Database
from storage.models import Base, BotStateItem, Request
from support import BotServer, FakeClock, Transcript, local_settings

ANNE, GERT, CARLA, PIETER, ERIK, BEA = (
    "Anne Aanvrager",
    "Gert Gemeente",
    "Carla Coördinator",
    "Pieter Politie",
    "Erik Expert",
    "Bea Beheer",
)
EXPERTS_CHANNEL = "19:experts@thread.tacv2"
TEAM_CHANNEL = "19:sturingsoverleg-heuvelrug@thread.tacv2"
BEVOEGDHEID = "sluiting_woning_openbare_orde"  # number, long-text and text checklist questions
REFUSED = "burgerservicenummer"  # every BSN refusal says this (cards/messages.yaml)
CRASHED = ("Er ging iets mis aan mijn kant", "tijdelijk niet beschikbaar")
SEED = 20261123
APP_PACKAGES = ("bot", "dialogs", "storage", "cards")


# --- BSNs as people type them ------------------------------------------------------------------

WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def elfproef(digits: str) -> bool:
    """The 11-test written apart from `bot.privacy`, so the generator does not trust it."""
    total = sum(int(d) * w for d, w in zip(digits.zfill(9), WEIGHTS, strict=True))
    return total != 0 and total % 11 == 0


def valid_bsns(rng: random.Random, count: int) -> list[str]:
    """`count` valid 9-digit BSNs; the first starts with 0, so it also has an 8-digit form."""
    found: list[str] = []
    while len(found) < count:
        first = "0" if not found else str(rng.randrange(1, 10))
        head = first + "".join(str(rng.randrange(10)) for _ in range(7))
        remainder = sum(int(d) * w for d, w in zip(head, WEIGHTS, strict=False)) % 11
        if remainder == 10:
            continue
        number = head + str(remainder)
        if elfproef(number) and number not in found:
            found.append(number)
    return found


def layouts(number: str) -> list[str]:
    n = number
    forms = [
        n,
        f"{n[:3]} {n[3:6]} {n[6:]}",
        f"{n[:4]}.{n[4:6]}.{n[6:]}",
        f"{n[:2]}-{n[2:4]}-{n[4:6]}-{n[6:]}",
        f"{n[:3]}.{n[3:6]}.{n[6:]}",
        f"{n[:3]}\u00a0{n[3:6]}\u00a0{n[6:]}",
        f"{n[:2]}\u2013{n[2:4]}\u2013{n[4:6]}\u2013{n[6:]}",
    ]
    if n.startswith("0"):
        forms += [n[1:], f"{n[1:5]} {n[5:]}"]  # the old 8-digit form
    return forms


SENTENCES = (
    "{}",
    "BSN {}",
    "bsn: {}",
    "Het gaat om de bewoner met BSN {} op de eerste verdieping.",
    "Bewoner (burgerservicenummer {}) is al eerder gewaarschuwd",
    "Zie dossier, betrokkene {}, en de melding van vorige week.",
    "Sofinummer {} volgens de wijkagent",
    "Pand op nummer 12, eigenaar {}",
)


@dataclass
class Bsns:
    """Deterministic BSN texts; remembers which numbers were typed for the scan."""

    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    numbers: list[str] = field(default_factory=list)
    typed: int = 0

    def __post_init__(self) -> None:
        self.numbers = valid_bsns(self.rng, 4)
        self._texts = self._cycle()

    def _cycle(self) -> Iterator[str]:
        while True:
            for number in self.numbers:
                for written in layouts(number):
                    yield self.rng.choice(SENTENCES).format(written)

    def text(self) -> str:
        """The next BSN text; the detector must see it (else the bot would rightly keep it)."""
        value = next(self._texts)
        found = find_bsn(value)
        assert found is not None and found in self.numbers, value
        self.typed += 1
        return value

    def bare(self, index: int = 1) -> str:
        return self.numbers[index]


# --- the world: the real app on loopback, people talking to it --------------------------------


def aad(name: str) -> str:
    return local_identity(name)[1]


def channel(conversation_id: str, thread: str = "1") -> dict[str, Any]:
    return {
        "id": f"{conversation_id};messageid={thread}",
        "conversationType": "channel",
        "tenantId": LOCAL_TENANT,
    }


def text_of(card: dict[str, Any]) -> str:
    return "\n".join(card_to_text(card).lines)


@dataclass
class Said:
    """What the bot answered to one activity: its text lines, cards and the HTTP status."""

    status: int
    texts: list[str]
    cards: list[dict[str, Any]]

    @property
    def all(self) -> str:
        return "\n".join(self.texts + [text_of(c) for c in self.cards])


class World:
    def __init__(self, server: BotServer, connector: LocalConnector, clock: FakeClock) -> None:
        self.server, self.connector, self.clock = server, connector, clock
        self.anne = Transcript(server.session(ANNE))
        self.bsn = Bsns()
        self.refusals = 0
        self.lingering: list[str] = []

    def chat(self, name: str, conversation: dict[str, Any] | None = None) -> ChatSession:
        chat = self.server.session(name)
        if conversation is None:
            mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
            used = [r.conversation_id for r in self.connector.received if r.conversation_id in mine]
            if used:
                chat.conversation = used[-1]
        return chat

    async def post(
        self, person: str, conversation: dict[str, Any] | None = None, **fields: Any
    ) -> Said:
        chat = self.chat(person, conversation)
        if conversation is not None:
            fields["conversation"] = conversation
        status, body, replies = await chat.post(chat.activity(**fields))
        assert status in (200, 201), (status, body)
        texts = [r.text for r in replies if r.text]
        cards = [c for r in replies for c in r.cards]
        if isinstance(body, dict):
            if body.get("type") == CARD_RESPONSE:
                cards.append(body["value"])
            elif isinstance(body.get("value"), str):
                texts.append(body["value"])
        await self.server.deliver()
        said = Said(status, texts, cards)
        assert not any(crash in said.all for crash in CRASHED), said.all
        return said

    async def say(self, name: str, line: str, conversation: dict[str, Any] | None = None) -> Said:
        return await self.post(name, conversation, type="message", text=line)

    async def invoke(
        self,
        name: str,
        verb: Any,
        data: dict[str, Any],
        conversation: dict[str, Any] | None = None,
    ) -> Said:
        """An Action.Execute as Teams sends it; `data` is whatever the client put in."""
        value = {
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        }
        return await self.post(
            name, conversation, type="invoke", name="adaptiveCard/action", value=value
        )

    async def submit(
        self, name: str, value: dict[str, Any], conversation: dict[str, Any] | None = None
    ) -> Said:
        """An Action.Submit (a client without Universal Actions): a message with a value."""
        return await self.post(name, conversation, type="message", value=value)

    async def press(
        self,
        name: str,
        card: dict[str, Any],
        title: str,
        inputs: dict[str, Any] | None = None,
        conversation: dict[str, Any] | None = None,
    ) -> Said:
        [button] = [b for b in card_to_text(card).buttons if b.title == title]
        assert button.kind == "execute", button
        return await self.invoke(name, button.verb, {**button.data, **(inputs or {})}, conversation)

    async def refused(self, said: Said) -> None:
        """The Dutch BSN refusal, and nothing else went wrong. The dialog and conversation
        state is rewritten every turn, so it is scanned right after each refusal: a refused
        answer must not linger there even until the next turn."""
        assert REFUSED in said.all, said.all
        self.refusals += 1
        async with self.server.components.database.sessions() as session:
            items = (await session.execute(select(BotStateItem))).scalars().all()
        for item in items:
            for path, text in _leaves(item.document):
                why = problems_in(
                    text, self.bsn.numbers, (self.server.components.notifier.worker_id,)
                )
                if why:
                    self.lingering.append(
                        f"bot_state.document{path} key {item.key!r} after refusal "
                        f"{self.refusals}: {', '.join(why)} in {masked(text)!r}"
                    )

    def personal(self, name: str) -> str:
        mine = {f"a:local-chat-{aad(name)}", f"a:personal-{aad(name)}"}
        used = [r.conversation_id for r in self.connector.received if r.conversation_id in mine]
        assert used, f"the bot never wrote to {name}"
        return used[-1]

    def cards_in(self, conversation_id: str) -> list[dict[str, Any]]:
        return [
            c
            for r in self.connector.sent_to(conversation_id)
            if r.method in ("POST", "PUT")
            for c in r.cards
        ]

    def card_of(self, name: str) -> dict[str, Any]:
        """The request card as it now stands in this person's chat."""
        cards = [c for c in self.cards_in(self.personal(name)) if "Status:" in text_of(c)]
        assert cards, f"{name} has no request card"
        return cards[-1]

    async def rows(self, model: Any) -> list[Any]:
        async with self.server.components.database.sessions() as session:
            return list((await session.execute(select(model))).scalars())

    async def request(self) -> Request:
        [request] = await self.rows(Request)
        return request


# --- the paths -------------------------------------------------------------------------------


def stored_value(question: Any, answer: str) -> Any:
    """What the dialog keeps for a valid answer, for the conditions of later questions."""
    if question.type is QuestionType.YES_NO:
        return answer == "ja"
    if question.type is QuestionType.CHOICE:
        return next(c.value for c in question.choices if answer in (c.label, c.value))
    if question.type is QuestionType.NUMBER:
        return int(answer)
    return answer


async def the_request_dialog(world: World) -> str:
    """Every question of the intake, fixed and checklist, first with a BSN, then validly."""
    t, bsn = world.anne, world.bsn

    async def refused_then(answer: str) -> str:
        await world.refused(Said(200, [await t.say(bsn.text())], []))
        return await t.say(answer)

    out = await t.say("nieuwe aanvraag")
    assert "Welke bevoegdheid" in out
    out = await refused_then(BEVOEGDHEID)
    assert "Voor welke gemeente" in out
    out = await refused_then("Zeist")
    assert "kort onderwerp" in out
    # Too long AND a BSN: the BSN is what the user hears about.
    await world.refused(Said(200, [await t.say(bsn.text() + " " + "x" * 200)], []))
    out = await refused_then("Woning aan de Dorpsstraat, zaak Z-2026-17")
    assert "strafrechtelijk onderzoek" in out
    # The next day the draft is offered to resume: the line that woke it is not read, and a
    # BSN where "doorgaan" is expected is not understood; neither is kept.
    world.clock.advance(days=1)
    out = await t.say(bsn.text())
    assert "doorgaan" in out and REFUSED not in out
    out = await t.say(bsn.text())
    assert "doorgaan" in out
    out = await t.say("doorgaan")
    assert "strafrechtelijk onderzoek" in out
    out = await refused_then("ja")
    assert "boa" in out
    out = await refused_then("ja")
    # A bare 9-digit BSN where a reason is asked, and in a sentence.
    await world.refused(Said(200, [await t.say(bsn.bare(2))], []))
    out = await refused_then("Een boa kan niet binnen in de woning")
    assert "Welk type rapportage" in out
    out = await refused_then("eenvoudig")
    assert "Wanneer heeft de gemeente" in out
    out = await refused_then("15-12-2026")
    bevoegdheid = content()[BEVOEGDHEID]
    given: dict[str, Any] = {}
    for question in bevoegdheid.checklist:
        if question.condition is not None and not question.condition.holds(given):
            continue
        assert question.text in out, (question.id, out)
        if question.type is QuestionType.NUMBER:
            # A number question without a maximum would otherwise keep it as a number.
            await world.refused(Said(200, [await t.say(bsn.bare(3))], []))
        answer = valid_answer(question)
        given[question.id] = stored_value(question, answer)
        out = await refused_then(answer)
    assert "indienen" in out.lower()
    # At the summary: a BSN where a command is expected, then a change of the subject.
    out = await t.say(f"wijzig {world.bsn.bare(0)}")
    assert "wijzig met een nummer" in out
    out = await t.say("wijzig 4")
    assert "kort onderwerp" in out
    out = await refused_then("Woning aan de Dorpsstraat, achterzijde")
    out = await t.say("indienen")
    assert "is ingediend" in out
    await world.server.deliver()
    return (await world.request()).reference


async def typed_lines_and_knowledge_cards(world: World) -> None:
    """Typed lines outside a dialog are knowledge questions; the answer card's 👍/👎 comment."""
    bsn = world.bsn
    for _ in range(3):
        await world.refused(await world.say(ANNE, bsn.text()))
    await world.refused(await world.say(ANNE, "Wat mag de burgemeester bij " + bsn.text()))
    # In a channel too, after the mention.
    await world.refused(
        await world.say(
            CARLA, f"<at>Rapportagebot</at> {bsn.text()}", channel(TEAM_CHANNEL, "kennis")
        )
    )
    said = await world.say(ANNE, "Wanneer mag de burgemeester een woning sluiten?")
    [card] = said.cards
    assert "👎" in [b.title for b in card_to_text(card).buttons], text_of(card)
    await world.refused(await world.press(ANNE, card, "👎", {"kennis_opmerking": bsn.text()}))
    await world.refused(await world.press(ANNE, card, "👍", {"kennis_opmerking": bsn.text()}))
    # A fallback Action.Submit takes the same check.
    [down] = [b for b in card_to_text(card).buttons if b.title == "👎"]
    await world.refused(
        await world.submit(ANNE, {"verb": down.verb, **down.data, "kennis_opmerking": bsn.text()})
    )
    # Forged: the question the card carries, and extra keys. Nothing of it is stored.
    said = await world.press(
        ANNE,
        card,
        "👎",
        {
            "kennis_opmerking": "Te algemeen",
            "question": bsn.text(),
            "opmerking": bsn.text(),
            bsn.bare(0): bsn.text(),
        },
    )
    assert "Bedankt" in said.all
    said = await world.invoke(ANNE, "kennis_duim_omlaag", {"entry": bsn.bare(1)})
    assert "bestaat niet meer" in said.all
    said = await world.invoke(ANNE, "kennis_toon", {"entry": bsn.text(), "question": bsn.text()})
    assert "bestaat niet meer" in said.all
    # "Start een aanvraag met deze bevoegdheid" with a forged bevoegdheid: the dialog starts
    # without it, and is cancelled again.
    said = await world.submit(
        ANNE, {"verb": "aanvraag_starten", "bevoegdheid": bsn.text(), "extra": bsn.text()}
    )
    assert "Welke bevoegdheid" in said.all
    await world.refused(await world.say(ANNE, bsn.text()))
    said = await world.say(ANNE, "annuleer")
    assert "Gestopt" in said.all, said.all


async def the_expert_network(world: World) -> None:
    """The question to the experts, the expert's answer, the draft and its approval."""
    bsn = world.bsn
    experts = channel(EXPERTS_CHANNEL)
    # `beheer expertkanaal <anything>` links the channel; what follows is not kept.
    said = await world.say(BEA, f"beheer expertkanaal {bsn.text()}", experts)
    assert "expertkanaal" in said.all
    said = await world.say(ANNE, "avondklok")
    [card] = said.cards
    await world.refused(await world.press(ANNE, card, "Versturen", {"expert_vraag": bsn.text()}))
    await world.refused(
        await world.press(ANNE, card, "Versturen", {"expert_vraag": bsn.text() + " x" * 400})
    )
    [send] = [b for b in card_to_text(card).buttons if b.title == "Versturen"]
    await world.refused(
        await world.submit(ANNE, {"verb": send.verb, **send.data, "expert_vraag": bsn.text()})
    )
    question = "Mag een boa een woning betreden zonder toestemming van de bewoner?"
    said = await world.press(
        ANNE,
        card,
        "Versturen",
        {"expert_vraag": question, "question": bsn.text(), bsn.bare(2): bsn.text()},
    )
    assert "doorgestuurd naar de experts" in said.all, said.all
    [expert_card] = world.cards_in(EXPERTS_CHANNEL)
    await world.refused(
        await world.press(
            ERIK, expert_card, "Beantwoorden", {"expert_antwoord": bsn.text()}, experts
        )
    )
    [answer] = [b for b in card_to_text(expert_card).buttons if b.title == "Beantwoorden"]
    await world.refused(
        await world.submit(
            ERIK, {"verb": answer.verb, **answer.data, "expert_antwoord": bsn.text()}, experts
        )
    )
    # Forged question ids: a number that happens to be a BSN, as an expert and as someone else.
    for name in (ERIK, CARLA):
        said = await world.invoke(
            name,
            "expert_beantwoorden",
            {"question_id": bsn.bare(0), "expert_antwoord": "Nee, dat mag niet."},
            experts,
        )
        assert "niets veranderd" in said.all or "Alleen experts" in said.all, said.all
    said = await world.press(
        ERIK,
        expert_card,
        "Beantwoorden",
        {
            "expert_antwoord": "Nee, daarvoor is een machtiging tot binnentreden nodig "
            "(Algemene wet op het binnentreden).",
            "toelichting": bsn.text(),
        },
        experts,
    )
    [answered] = said.cards
    assert "Beantwoord door Erik Expert" in text_of(answered)
    said = await world.press(
        ERIK, answered, "Maak er een concept-kennisitem van", {"titel": bsn.text()}, experts
    )
    assert "concept-kennisitem" in said.all
    [draft_card] = world.cards_in(world.personal(BEA))
    said = await world.invoke(BEA, "concept_goedkeuren", {"draft_id": bsn.bare(3)})
    assert "niets" in said.all or "bestaat niet" in said.all, said.all
    said = await world.press(BEA, draft_card, "Goedkeuren", {"opmerking": bsn.text()})
    assert "Goedgekeurd door Bea Beheer" in said.all


def fallback_data(node: Any, verb: str) -> dict[str, Any]:
    """The Action.Submit fallback's data of the card's Universal Action `verb`."""
    if isinstance(node, dict):
        if node.get("type") == "Action.Execute" and node.get("verb") == verb:
            data: dict[str, Any] = node["fallback"]["data"]
            return data
        children: list[Any] = list(node.values())
    elif isinstance(node, list):
        children = node
    else:
        children = []
    for child in children:
        try:
            return fallback_data(child, verb)
        except LookupError:
            continue
    raise LookupError(verb)


async def the_request_cards(world: World, reference: str) -> None:
    """Every reason and comment on the request card, each first with a BSN; the request goes
    from ingediend to afgerond through every step that takes text."""
    bsn = world.bsn

    async def attempt(name: str, title: str, inputs: dict[str, Any], status: str) -> None:
        await world.refused(await world.press(name, world.card_of(name), title, inputs))
        assert (await world.request()).status == status

    async def step(name: str, title: str, inputs: dict[str, Any], status: str) -> None:
        world.clock.advance(hours=1)
        said = await world.press(name, world.card_of(name), title, inputs)
        assert (await world.request()).status == status, (title, said.all)

    await attempt(CARLA, "Aanvulling vragen", {"aanvulling_vragen_reason": bsn.text()}, "ingediend")
    await attempt(CARLA, "Afwijzen", {"afwijzen_reason": bsn.text()}, "ingediend")
    await attempt(
        CARLA,
        "Afwijzen",
        {"afwijzen_suggested": "boa", "afwijzen_reason": bsn.text()},
        "ingediend",
    )
    # Forged: a reason on a step that takes none is checked all the same.
    await attempt(CARLA, "Accepteren", {"accepteren_reason": bsn.text()}, "ingediend")
    await attempt(ANNE, "Aanvraag intrekken", {"intrekken_reason": bsn.text()}, "ingediend")
    # The fallback Action.Submit takes the same path.
    fallback = fallback_data(world.card_of(CARLA), "aanvulling_vragen")
    await world.refused(
        await world.submit(CARLA, {**fallback, "aanvulling_vragen_reason": bsn.text()})
    )
    await step(
        CARLA,
        "Aanvulling vragen",
        {"aanvulling_vragen_reason": "Welk adres?"},
        "aanvulling_gevraagd",
    )
    await attempt(ANNE, "Aanvulling geven", {"aanvullen_reason": bsn.text()}, "aanvulling_gevraagd")
    await attempt(GERT, "Aanvulling geven", {"aanvullen_reason": bsn.text()}, "aanvulling_gevraagd")
    await step(ANNE, "Aanvulling geven", {"aanvullen_reason": "Dorpsstraat 1"}, "ingediend")
    # Forged extra keys (names and values) on a step without text: ignored, never stored.
    extra = {"opmerking": bsn.text(), bsn.bare(1): bsn.text(), "note": {"x": bsn.text()}}
    await step(CARLA, "Accepteren", extra, "geaccepteerd")
    await step(CARLA, "Zaakofficier raadplegen", {}, "afstemming_zaakofficier")
    await attempt(
        CARLA,
        "Zaakofficier maakt bezwaar",
        {"zaakofficier_bezwaar_reason": bsn.text()},
        "afstemming_zaakofficier",
    )
    await step(CARLA, "Zaakofficier akkoord", {}, "in_opstelling")
    await step(CARLA, "Naar kwaliteitscontrole", {}, "kwaliteitscontrole")
    await attempt(
        PIETER,
        "Controle afgekeurd",
        {"controle_afgekeurd_reason": bsn.text()},
        "kwaliteitscontrole",
    )
    await step(
        PIETER, "Controle afgekeurd", {"controle_afgekeurd_reason": "Bronnen"}, "in_opstelling"
    )
    await step(CARLA, "Naar kwaliteitscontrole", {}, "kwaliteitscontrole")
    await step(CARLA, "Naar OM-toetsing", {}, "om_toetsing")
    await attempt(CARLA, "OM stuurt terug", {"om_terug_reason": bsn.text()}, "om_toetsing")
    await attempt(CARLA, "OM weigert", {"om_weigert_reason": bsn.text()}, "om_toetsing")
    await step(CARLA, "OM akkoord, verstrekt", {}, "verstrekt")
    await attempt(
        ANNE, "Afronden", {"outcome": "maatregel_genomen", "feedback": bsn.text()}, "verstrekt"
    )
    # Forged: an outcome that is a BSN is no outcome.
    said = await world.press(ANNE, world.card_of(ANNE), "Afronden", {"outcome": bsn.text()})
    assert (await world.request()).status == "verstrekt", said.all
    await step(ANNE, "Afronden", {"outcome": "maatregel_genomen", "feedback": "Helder"}, "afgerond")


async def forged_card_data(world: World, reference: str) -> None:
    """Card data a client could make up: unknown references, verbs, versions, priorities."""
    bsn = world.bsn
    request = await world.request()
    forged: list[tuple[str, Any, dict[str, Any]]] = [
        (CARLA, "accepteren", {"reference": bsn.text(), "version": request.version}),
        (CARLA, "accepteren", {"reference": bsn.bare(0), "version": request.version}),
        (CARLA, bsn.text(), {"reference": reference, "version": request.version}),
        (CARLA, "accepteren", {"reference": reference, "version": int(bsn.bare(1))}),
        (CARLA, "refresh", {"reference": bsn.bare(2)}),
        (CARLA, "prioriteren", {"reference": reference, "priority": bsn.text()}),
        (CARLA, "prioriteren", {"reference": bsn.bare(3), "priority": "hoog"}),
        (ANNE, "expert_vragen", {"expert_vraag": bsn.text()}),
        (ANNE, "kennis_duim_omhoog", {"entry": "x", "kennis_opmerking": bsn.text()}),
        (BEA, "concept_afwijzen", {"draft_id": bsn.text()}),
    ]
    for name, verb, data in forged:
        said = await world.invoke(name, verb, {**data, "extra": bsn.text()})
        assert said.all.strip(), (verb, data)
    # Action.Submit values without a verb, or with a verb that is a BSN.
    for value in ({"x": bsn.text()}, {"verb": bsn.text()}, {bsn.bare(0): bsn.text()}):
        said = await world.submit(CARLA, value)
        assert said.all.strip()
    # Invokes this bot does not offer, and an edited message: answered or ignored, not kept.
    chat = world.chat(ANNE)
    for invoke in ("composeExtension/query", "task/fetch", "message/submitAction"):
        status, body, _ = await chat.post(
            chat.activity(type="invoke", name=invoke, value={"text": bsn.text()})
        )
        assert status < 500 and "niet ondersteund" in str(body), (invoke, status, body)
    said = await world.post(ANNE, type="messageUpdate", text=bsn.text())
    assert not said.all
    said = await world.post(
        ANNE, type="messageReaction", reactionsAdded=[{"type": "like"}], text=bsn.text()
    )
    assert not said.all
    assert (await world.request()).status == "afgerond"


async def channel_commands(world: World) -> None:
    """`koppel …` and `ontkoppel …` with a BSN where the team or the meeting is typed."""
    bsn = world.bsn
    team = channel(TEAM_CHANNEL)
    lines = [
        f"koppel dit kanaal aan basisteam {bsn.text()} elke dinsdag om 10:00",
        f"koppel dit kanaal aan basisteam {bsn.bare(1)}",
        f"koppel dit kanaal aan basisteam Heuvelrug elke {bsn.text()}",
        f"koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om {bsn.bare(2)}",
        f"ontkoppel basisteam {bsn.text()}",
    ]

    async def refused_lines() -> None:
        for line in lines:
            said = await world.say(CARLA, f"<at>Rapportagebot</at> {line}", team)
            assert "niet" in said.all.lower(), (line, said.all)

    await refused_lines()
    # Linked for real, then the same lines again (now a relink and an unlink could happen).
    said = await world.say(
        CARLA, "koppel dit kanaal aan basisteam Heuvelrug elke dinsdag om 10:00", team
    )
    assert "sturingsoverleg van **Basisteam Heuvelrug**" in said.all
    await refused_lines()
    said = await world.say(ANNE, f"koppel dit kanaal aan basisteam {bsn.text()}")
    assert said.all.strip()


async def beheer_commands(world: World) -> None:
    """`beheer …` with a BSN where a name, a place or a command is typed."""
    bsn = world.bsn
    team = channel(TEAM_CHANNEL, "beheer")
    world.connector.members[TEAM_CHANNEL] = [
        {
            "id": "29:nina",
            "name": "Nina Nieuw",
            "aadObjectId": "6b1a4f6e-0c39-4c3f-9a0e-000000000001",
            "email": "nina@example.nl",
            "userPrincipalName": "nina@example.nl",
        }
    ]
    lines = [
        f"beheer zoek {bsn.text()}",
        f"beheer expert {bsn.text()}",
        f"beheer expert Nina Nieuw {bsn.text()}",
        f"beheer coordinator {bsn.text()} Heuvelrug",
        f"beheer coordinator Nina Nieuw, {bsn.text()}",
        f"beheer aanspreekpunt Nina Nieuw {bsn.bare(2)}",
        f"beheer verwijder expert {bsn.text()}",
        f"beheer verwijder coordinator Carla, {bsn.text()}",
        f"beheer {bsn.text()}",
        f"beheer expertkanaal ontkoppel {bsn.text()}",
    ]
    for conversation in (None, team):
        for line in lines:
            said = await world.say(BEA, line, conversation)
            assert said.all.strip(), line
    said = await world.say(ERIK, f"beheer expert {bsn.text()}")
    assert "alleen voor beheerders" in said.all
    # A real grant from the roster still works (and stores the roster's name, not the line).
    said = await world.say(BEA, "beheer expert Nina Nieuw", team)
    assert "Nina Nieuw" in said.all


async def an_unfinished_request(world: World) -> None:
    """A draft left after a refused subject: its dialog state stays in the database."""
    t = world.anne
    out = await t.say("nieuwe aanvraag")
    assert "Welke bevoegdheid" in out
    out = await t.say(BEVOEGDHEID)
    out = await t.say("Zeist")
    assert "kort onderwerp" in out
    await world.refused(Said(200, [await t.say(world.bsn.text())], []))


# --- the scan --------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s.\-\u2011\u2013]")


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every text in a value, with where it sits: JSON documents leaf by leaf (and their keys),
    because serialised JSON escapes a newline as backslash-n, which glues the digits after it
    to the letter n and hides them from the detector. Timestamps, dates and booleans cannot
    carry typed text and are left out (a timestamp's microseconds may pass the 11-test)."""
    if value is None or isinstance(value, bool | dt.date | dt.time | dt.timedelta):
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, bytes):
        yield path, value.decode("utf-8", "replace")
    elif isinstance(value, int | float | decimal.Decimal):
        yield path, str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.<key>", str(key)
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, str(value)


# Numbers of the real clock: seconds with a fraction ("09:00:29.412328" in a timestamp) and
# durations ("in 59.987654 seconds", the scheduler). Their 8 or 9 digits are joined by one dot
# and pass the 11-test 1 time in 11, so they are masked before the detector reads a text. No
# BSN is typed in that shape, and the typed digits are looked for without this masking.
_CLOCK_NUMBERS = re.compile(
    r"[0-9]{1,2}:[0-9]{2}:[0-9]{2}[.,][0-9]+|(?<![0-9.])[0-9]{1,3}\.[0-9]{5,}(?![0-9.])"
)
_PIECES = re.compile(r"\n|, ")


def problems_in(text: str, typed: list[str], made_up: tuple[str, ...] = ()) -> list[str]:
    """Why `text` holds a BSN: the detector finds one, or the digits of one typed are in it.
    `made_up` are random ids of the bot's own (the outbox worker id ends in 8 random hex digits,
    all digits 1 time in 43): the detector does not read them, the typed digits are looked for."""
    found = []
    cleaned = _CLOCK_NUMBERS.sub("<tijd>", text)
    for value in made_up:
        cleaned = cleaned.replace(value, "<id>")
    # In pieces: the detector looks back from every run of digits, which is slow on the long
    # lines a database driver logs. Nothing it reads spans ", " or a line break.
    pieces = _PIECES.split(cleaned)
    if any(find_bsn(piece) is not None for piece in pieces):
        found.append("find_bsn")
    digits = _SEPARATORS.sub("", text)
    forms = {n for n in typed} | {n[1:] for n in typed if n.startswith("0")}
    if any(form in digits for form in forms):
        found.append("typed digits")
    return found


def masked(text: str) -> str:
    """Where in `text` the BSN sits, digits masked: enough to find the writer, no number."""
    cleaned = _CLOCK_NUMBERS.sub("<tijd>", text)
    redacted = redact_bsn(cleaned)
    at = next((i for i, (a, b) in enumerate(zip(cleaned, redacted, strict=False)) if a != b), 0)
    start = max(0, at - 100)
    excerpt = cleaned[start : at + 30]
    return ("…" if start else "") + re.sub(r"[0-9]", "#", excerpt)


async def _tables(connection: AsyncConnection) -> list[Table]:
    """Every table in the database: the model's, and any a migration made that it lacks."""
    reflected = MetaData()

    def table_names(sync: Connection) -> list[str]:
        return inspect(sync).get_table_names()

    def reflect(sync: Connection, name: str) -> Table:
        return Table(name, reflected, autoload_with=sync)

    names = await connection.run_sync(table_names)
    tables = list(Base.metadata.sorted_tables)
    known = {t.name for t in tables}
    for name in sorted(set(names) - known):
        tables.append(await connection.run_sync(reflect, name))
    missing = known - set(names)
    assert not missing, f"tables of the model not in the database: {missing}"
    return tables


async def scan_database(
    url: str, typed: list[str], made_up: tuple[str, ...]
) -> tuple[list[str], dict[str, int]]:
    findings: list[str] = []
    counts: dict[str, int] = {}
    database = Database.connect(url)
    try:
        async with database.engine.connect() as connection:
            for table in await _tables(connection):
                rows = (await connection.execute(select(table))).mappings().all()
                counts[table.name] = len(rows)
                keys = [c.name for c in table.primary_key.columns]
                for row in rows:
                    row_id = {k: row[k] for k in keys} if keys else dict(row)
                    for column in table.columns:
                        for path, text in _leaves(row[column.name]):
                            why = problems_in(text, typed, made_up)
                            if why:
                                findings.append(
                                    f"{table.name}.{column.name}{path} row {row_id}: "
                                    f"{', '.join(why)} in {masked(text)!r}"
                                )
    finally:
        await database.dispose()
    return findings, counts


def logger_levels() -> dict[str, int]:
    return {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }


def restore(levels: dict[str, int]) -> None:
    """Undo the bot's logging set-up for the tests that follow."""
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))


def scan_logs(
    records: list[logging.LogRecord], typed: list[str], made_up: tuple[str, ...]
) -> list[str]:
    formatter = logging.Formatter()
    findings = []
    verdicts: dict[str, list[str]] = {}  # the driver logs each statement twice
    for record in records:
        parts = [record.getMessage()]
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        for part in dict.fromkeys(parts):  # exc_text repeats exc_info once formatted
            if part not in verdicts:
                verdicts[part] = problems_in(part, typed, made_up)
            why = verdicts[part]
            if why:
                findings.append(
                    f"{record.levelname} {record.name} ({record.pathname}:{record.lineno}): "
                    f"{', '.join(why)} in {masked(part)!r}"
                )
    return findings


# --- the test --------------------------------------------------------------------------------


async def test_a_bsn_typed_anywhere_is_refused_and_never_stored_or_logged(
    database_url: str, connector: LocalConnector, caplog: pytest.LogCaptureFixture
) -> None:
    settings = local_settings(database_url, log_level="DEBUG")
    # Everything at DEBUG, with the caps the deployed bot puts on chatty libraries.
    caplog.set_level(logging.DEBUG)
    levels = logger_levels()
    configure_logging(settings)
    await load_content(database_url)
    clock = FakeClock()
    server = await BotServer(settings, connector, clock).start()
    world = World(server, connector, clock)
    try:
        await server.session(ANNE).start()
        reference = await the_request_dialog(world)
        await typed_lines_and_knowledge_cards(world)
        await the_expert_network(world)
        await the_request_cards(world, reference)
        await forged_card_data(world, reference)
        await channel_commands(world)
        await beheer_commands(world)
        await an_unfinished_request(world)
        await server.deliver()
    finally:
        await server.stop()
        restore(levels)

    numbers, lingering = world.bsn.numbers, world.lingering
    assert all(is_valid_bsn(n) for n in numbers)
    assert world.refusals >= 40, world.refusals
    made_up = (server.components.notifier.worker_id,)
    stored, counts = await scan_database(database_url, numbers, made_up)
    # The paths really wrote: the request, its audit trail, the outbox, the dialog state.
    for table in ("requests", "request_events", "outbox", "bot_state", "expert_questions"):
        assert counts[table] > 0, counts
    assert caplog.records
    logged = scan_logs(caplog.records, numbers, made_up)
    ours = [line for line in logged if line.split(" ", 2)[1].split(".")[0] in APP_PACKAGES]
    libraries = [line for line in logged if line not in ours]
    report = [
        (f"BSN in the database ({len(stored)}):", stored),
        (f"BSN in the dialog state right after a refusal ({len(lingering)}):", lingering),
        (f"BSN in the bot's log lines ({len(ours)}):", ours),
        (f"BSN in log lines of libraries ({len(libraries)}):", libraries),
    ]
    if stored or logged or lingering:
        pytest.fail("\n".join("\n  ".join([title, *lines]) for title, lines in report if lines))
