"""The knowledge search: Dutch analyzer, ranking, confidence (pure, on small hand-built indexes),
and the service that keeps the index in step with the stored entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.content import load_directory
from bot.knowledge import (
    CONFIDENT,
    Document,
    KnowledgeIndex,
    Vocabulary,
    documents_from,
    vocabulary_from,
)
from bot.knowledge_service import KnowledgeService
from storage.db import Database
from storage.models import KnowledgeEntry
from storage.repositories import replace_knowledge

ROOT = Path(__file__).resolve().parents[2]

VOCABULARY = Vocabulary(
    groups=(
        ("damocles", "13b", "art. 13b opiumwet", "drugspand", "drugswoning"),
        ("huisverbod", "tijdelijk huisverbod", "uithuisplaatsing"),
        ("wietplantage", "hennepkwekerij", "kwekerij"),
        ("officier van justitie", "officier", "ovj"),
        ("openbaar ministerie", "om", "parket"),
    ),
    abbreviations={
        "OvJ": "officier van justitie",
        "OM": "openbaar ministerie",
        "Gemw": "gemeentewet",
    },
)


def document(
    id: str,
    title: str,
    legal_basis: str = "",
    questions: tuple[str, ...] = (),
    synonyms: tuple[str, ...] = (),
    body: str = "",
) -> Document:
    return Document(id, "bevoegdheid", title, legal_basis, questions, synonyms, body)


DOCUMENTS = (
    document(
        "drugspand",
        "Sluiting van een woning waar drugs worden verkocht",
        "art. 13b Opiumwet",
        ("Kan de burgemeester een woning sluiten als er wordt gedeald?",),
        body="De burgemeester kan een pand sluiten bij drugshandel of een handelshoeveelheid.",
    ),
    document(
        "woningsluiting",
        "Sluiting van een woning na ernstige verstoring van de openbare orde",
        "art. 174a Gemeentewet",
        ("Na een beschieting van een woning, kunnen we die sluiten?",),
        body="Bij ernstige verstoring van de openbare orde rond een woning, zoals explosies.",
    ),
    document(
        "huisverbod",
        "Tijdelijk huisverbod bij huiselijk geweld",
        "Wet tijdelijk huisverbod",
        ("Kan de pleger van huiselijk geweld uit huis worden geplaatst?",),
        body="De burgemeester legt een huisverbod op voor tien dagen.",
    ),
    document(
        "zaakofficier",
        "Rol van de zaakofficier bij een lopend onderzoek",
        questions=("Wie beslist of informatie uit een strafzaak naar de gemeente mag?",),
        body="De officier van justitie van het onderzoek weegt af of verstrekking schaadt.",
    ),
    document(
        "strafvorderlijk",
        "Strafvorderlijke gegevens van het openbaar ministerie",
        "art. 39f Wjsg",
        ("Mag het parket gegevens uit een strafzaak geven?",),
        body="Het OM mag strafvorderlijke gegevens verstrekken voor een zwaarwegend belang.",
    ),
    document(
        "hennep",
        "Aanpak van de teelt van hennep",
        questions=("Wat doen we na het ruimen van een hennepkwekerij?",),
        body="Na een ontmanteling volgt vaak een bestuurlijke maatregel tegen het pand.",
    ),
    document(
        "bestuursdwang",
        "Last onder bestuursdwang",
        "art. 5:21 Awb",
        ("Hoe leg ik een last onder bestuursdwang op?",),
        body="Een herstelsanctie om een overtreding te beëindigen.",
    ),
)


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex.build(DOCUMENTS, VOCABULARY)


def best(index: KnowledgeIndex, question: str) -> str | None:
    result = index.search(question)
    return result.hits[0].id if result.hits else None


# --- analyzer -------------------------------------------------------------------------------


def test_case_and_accents_do_not_matter(index: KnowledgeIndex) -> None:
    assert index.terms("Beëindigen") == index.terms("BEEINDIGEN") == index.terms("beeindigen")


def test_the_stemmer_folds_inflections(index: KnowledgeIndex) -> None:
    assert index.terms("woningen") == index.terms("woning")
    assert index.terms("verstrekken") == index.terms("verstrek")


def test_compounds_are_split_into_known_words(index: KnowledgeIndex) -> None:
    [drugspand] = index.terms("drugspand")
    assert {"drug", "pand"} <= drugspand or {"drugs", "pand"} <= drugspand
    [hennepkwekerij] = index.terms("hennepkwekerij")
    assert {"hennep", "kwekerij"} <= hennepkwekerij
    # Words that are not compounds of known words stay whole.
    assert index.terms("burgemeester") == (frozenset({"burgemeester"}),)


def test_synonyms_become_one_concept_on_both_sides(index: KnowledgeIndex) -> None:
    [damocles] = index.terms("damocles")
    [drugswoning] = index.terms("drugswoning")
    assert damocles & drugswoning
    # "damocles" occurs nowhere in the documents, only in the synonym table.
    assert best(index, "damocles") == "drugspand"
    assert best(index, "wietplantage") == "hennep"


def test_abbreviations_expand_and_om_needs_capitals(index: KnowledgeIndex) -> None:
    [ovj] = index.terms("OvJ")
    assert {"officier", "justitie"} <= ovj
    assert best(index, "wat doet de OvJ bij een onderzoek") == "zaakofficier"
    assert index.terms("OM")
    # Lower-case "om" is the preposition ("om te sluiten"), a stopword.
    assert index.terms("om") == ()


@pytest.mark.parametrize(
    "question", ["art. 13b", "artikel 13b", "13b opiumwet", "Art 13B Opw", "13b"]
)
def test_article_spellings_are_one_token(index: KnowledgeIndex, question: str) -> None:
    assert any("§13b" in word for word in index.terms(question))
    assert best(index, question) == "drugspand"


def test_article_numbers_find_their_entry(index: KnowledgeIndex) -> None:
    assert best(index, "174a gemw") == "woningsluiting"
    assert best(index, "art 39f") == "strafvorderlijk"
    assert best(index, "artikel 5:21") == "bestuursdwang"
    # A bare number is not an article ("10 dagen"), a number before a law is ("174 Gemw").
    assert not any("§10" in word for word in index.terms("10 dagen"))
    assert any("§174" in word for word in index.terms("174 Gemw"))


def test_typos_in_unknown_words_are_corrected(index: KnowledgeIndex) -> None:
    assert index.terms("huisverbot") == index.terms("huisverbod")
    assert best(index, "huisverbot") == "huisverbod"
    result = index.search("tijdelijk huisverbot opleggen")
    assert result.confident and result.hits[0].id == "huisverbod"


# --- ranking and confidence -----------------------------------------------------------------


def test_title_and_legal_basis_weigh_more_than_body(index: KnowledgeIndex) -> None:
    # "openbare orde" is in the title of woningsluiting and only in no other field.
    assert best(index, "verstoring van de openbare orde") == "woningsluiting"
    # "pand" is only in the bodies of drugspand and hennep: both found, neither certain.
    result = index.search("pand")
    assert {hit.id for hit in result.hits} >= {"drugspand", "hennep"}


def test_a_clear_question_is_answered_confidently(index: KnowledgeIndex) -> None:
    result = index.search("Kan de burgemeester een drugspand sluiten?")
    assert result.confident
    assert result.hits[0].id == "drugspand"
    assert result.hits[0].score >= CONFIDENT
    assert all(0.0 <= hit.score <= 1.0 for hit in result.hits)
    assert [hit.score for hit in result.hits] == sorted(
        (hit.score for hit in result.hits), reverse=True
    )


def test_k_limits_the_hits(index: KnowledgeIndex) -> None:
    assert len(index.search("woning sluiten", k=1).hits) == 1
    assert len(index.search("woning sluiten", k=5).hits) <= 5
    assert len(index.search("woning sluiten", k=2).hits) == 2


def test_an_ambiguous_question_offers_alternatives(index: KnowledgeIndex) -> None:
    # Both closures are about sluiting van een woning.
    result = index.search("sluiting van een woning")
    assert {hit.id for hit in result.hits[:2]} == {"drugspand", "woningsluiting"}
    assert result.alternatives
    assert not result.confident or len(result.alternatives) >= 1


@pytest.mark.parametrize("question", ["", "   ", "?", "de het een", "hoe kan ik dat doen?"])
def test_empty_and_stopword_only_questions_match_nothing(
    index: KnowledgeIndex, question: str
) -> None:
    result = index.search(question)
    assert result.hits == ()
    assert not result.confident
    assert result.alternatives == ()


@pytest.mark.parametrize(
    "question",
    [
        "hoe vraag ik een paspoort aan",
        "wat kost een parkeervergunning",
        "wanneer gaat het zwembad dicht",
        "wat verdient een burgemeester",
    ],
)
def test_out_of_scope_questions_are_not_confident(index: KnowledgeIndex, question: str) -> None:
    assert not index.search(question).confident


def test_search_is_deterministic() -> None:
    first = KnowledgeIndex.build(DOCUMENTS, VOCABULARY)
    second = KnowledgeIndex.build(tuple(reversed(DOCUMENTS)), VOCABULARY)
    for question in ("woning sluiten", "huisverbot", "OvJ strafzaak", "pand"):
        results = {first.search(question), first.search(question), second.search(question)}
        assert len(results) == 1, question
    assert len(first) == len(DOCUMENTS)


def test_an_empty_index_answers_nothing() -> None:
    empty = KnowledgeIndex.build((), Vocabulary())
    assert len(empty) == 0
    assert empty.search("drugspand").hits == ()


# --- from stored entries ---------------------------------------------------------------------


def test_documents_and_vocabulary_come_from_entry_data() -> None:
    entries = [entry.data for entry in load_directory(ROOT / "knowledge")]
    documents = documents_from(entries)
    kinds = {entry["kind"] for entry in entries}
    assert {"bevoegdheid", "proces", "synoniemen"} <= kinds
    assert {d.kind for d in documents} == {"bevoegdheid", "proces"}
    assert len(documents) == sum(e["kind"] in {"bevoegdheid", "proces"} for e in entries)
    drugspand = next(d for d in documents if d.id == "sluiting_drugspand")
    assert drugspand.legal_basis == "art. 13b Opiumwet"
    assert drugspand.questions and drugspand.synonyms and drugspand.body
    vocabulary = vocabulary_from(entries)
    assert any("damocles" in group for group in vocabulary.groups)
    assert vocabulary.abbreviations["OvJ"] == "officier van justitie"
    index = KnowledgeIndex.build(documents, vocabulary)
    assert index.search("kan ik een drugspand sluiten?").hits[0].id == "sluiting_drugspand"


async def test_the_service_rebuilds_when_the_stored_knowledge_changes(database: Database) -> None:
    entries = load_directory(ROOT / "knowledge")
    async with database.sessions.begin() as session:
        await replace_knowledge(session, entries)
    service = KnowledgeService(database, check_interval=0)
    first = await service.index()
    assert len(first) == sum(e.kind in {"bevoegdheid", "proces"} for e in entries)
    assert await service.index() is first  # nothing changed: no rebuild
    assert (await service.ask("drugspand sluiten")).hits[0].id == "sluiting_drugspand"
    stored = await service.entry("sluiting_drugspand")
    assert stored is not None and stored["legal_basis"] == "art. 13b Opiumwet"
    assert await service.entry("bestaat_niet") is None

    # Remove an entry, as `kb import` would; after the check interval the index follows.
    kept = [e for e in entries if e.id != "sluiting_drugspand"]
    async with database.sessions.begin() as session:
        await replace_knowledge(session, kept)
    second = await service.index()
    assert second is not first
    assert len(second) == len(first) - 1
    assert all(hit.id != "sluiting_drugspand" for hit in (await service.ask("13b")).hits)

    # An edit that keeps the number of entries and their newest update time (the fingerprint
    # before the content token) is followed too.
    [entry] = [e for e in kept if e.id == "sluiting_woning_openbare_orde"]
    data = {**entry.data, "title": "Sluiting van een woning (zeldzaamwoordxyz)"}
    async with database.sessions.begin() as session:
        stored_at = await session.scalar(
            select(KnowledgeEntry.updated_at).where(KnowledgeEntry.id == entry.id)
        )
        await session.execute(
            update(KnowledgeEntry)
            .where(KnowledgeEntry.id == entry.id)
            .values(data=data, updated_at=stored_at)
        )
    third = await service.index()
    assert third is not second
    assert (await service.ask("zeldzaamwoordxyz")).hits[0].id == "sluiting_woning_openbare_orde"


@pytest.fixture(scope="module")
def shipped() -> KnowledgeIndex:
    entries = [entry.data for entry in load_directory(ROOT / "knowledge")]
    return KnowledgeIndex.build(documents_from(entries), vocabulary_from(entries))


@pytest.mark.parametrize("question", ["rapportage", "politie", "gemeente", "BR"])
def test_a_word_found_everywhere_is_no_confident_answer(
    shipped: KnowledgeIndex, question: str
) -> None:
    assert not shipped.search(question).confident


def test_an_abbreviation_with_two_entries_offers_both(shipped: KnowledgeIndex) -> None:
    result = shipped.search("RIEC")
    assert not result.confident
    assert {hit.id for hit in result.alternatives} >= {"riec_rol", "riec_informatiedeling"}
