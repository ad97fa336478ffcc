"""How typed answers are understood (pure, no fixtures)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.content import QuestionType
from bot.intake import (
    Accepted,
    Option,
    Question,
    Rejected,
    fixed_options,
    understand,
)

TODAY = dt.date(2026, 11, 23)
# The labels the message catalogue gives these options (cards/messages.yaml).
LABELS = {
    "strafrechtelijk_onderzoek.onbekend": "Weet ik niet",
    "rapportagetype.eenvoudig": "Eenvoudig / veelvoorkomend",
    "rapportagetype.complex_spoedeisend": "Complex / spoedeisend",
    "rapportagetype.zeer_complex_innovatief": "Zeer complex / innovatief",
}
INVESTIGATION_OPTIONS = fixed_options("strafrechtelijk_onderzoek", LABELS)
REPORT_TYPE_OPTIONS = fixed_options("rapportagetype", LABELS)
GEMEENTEN = (
    Option("utrecht", "Utrecht"),
    Option("utrechtse_heuvelrug", "Utrechtse Heuvelrug"),
    Option("zeist", "Zeist"),
)
BEVOEGDHEDEN = (
    Option(
        "sluiting_drugspand",
        "Sluiting van een drugspand (art. 13b Opiumwet)",
        ("damocles", "drugspand", "art. 13b Opiumwet"),
    ),
    Option(
        "gebiedsverbod",
        "Gebiedsverbod (art. 172a Gemeentewet)",
        ("gebiedsverbod", "art. 172a Gemeentewet"),
    ),
    Option(
        "sluiting_woning",
        "Sluiting woning na verstoring (art. 174a Gemeentewet)",
        ("woningsluiting", "art. 174a Gemeentewet"),
    ),
)


def choice(options: tuple[Option, ...]) -> Question:
    return Question("x", QuestionType.CHOICE, text="?", options=options)


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("2", "utrechtse_heuvelrug"),
        ("utrecht", "utrecht"),
        ("UTRECHT!", "utrecht"),
        ("zeist", "zeist"),
        ("Zeis", "zeist"),
        ("heuvelrug", "utrechtse_heuvelrug"),
    ],
)
def test_choices_by_number_exact_name_or_unique_part(typed: str, value: str) -> None:
    outcome = understand(choice(GEMEENTEN), typed, today=TODAY)
    assert isinstance(outcome, Accepted)
    assert outcome.value == value


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("damocles", "sluiting_drugspand"),
        ("Damoclès", "sluiting_drugspand"),
        ("13b", "sluiting_drugspand"),
        ("art. 172a", "gebiedsverbod"),
        ("174a", "sluiting_woning"),
        ("drugspand sluiten", "sluiting_drugspand"),
    ],
)
def test_bevoegdheid_by_synonym_or_article(typed: str, value: str) -> None:
    outcome = understand(choice(BEVOEGDHEDEN), typed, today=TODAY)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.value == value


def test_an_ambiguous_part_offers_the_candidates() -> None:
    outcome = understand(choice(BEVOEGDHEDEN), "sluiting", today=TODAY)
    assert isinstance(outcome, Rejected)
    assert outcome.code == "choice_ambiguous"
    assert {o.value for o in outcome.options} == {"sluiting_drugspand", "sluiting_woning"}


@pytest.mark.parametrize("typed", ["", "7", "0", "parkeren", "ab"])
def test_unknown_choices_are_rejected(typed: str) -> None:
    outcome = understand(choice(GEMEENTEN), typed, today=TODAY)
    assert isinstance(outcome, Rejected)
    assert outcome.code == "choice_unknown"


@pytest.mark.parametrize(
    ("typed", "value"),
    [("ja", "ja"), ("Nee", "nee"), ("weet ik niet", "onbekend"), ("onbekend", "onbekend")],
)
def test_investigation_answers(typed: str, value: str) -> None:
    outcome = understand(choice(INVESTIGATION_OPTIONS), typed, today=TODAY)
    assert isinstance(outcome, Accepted)
    assert outcome.value == value


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("eenvoudig", "eenvoudig"),
        ("spoed", "complex_spoedeisend"),
        ("Zeer complex / innovatief", "zeer_complex_innovatief"),
    ],
)
def test_report_types(typed: str, value: str) -> None:
    outcome = understand(choice(REPORT_TYPE_OPTIONS), typed, today=TODAY)
    assert isinstance(outcome, Accepted)
    assert outcome.value == value


@pytest.mark.parametrize(("typed", "value"), [("ja", True), ("J", True), ("nee", False)])
def test_yes_no(typed: str, value: bool) -> None:
    outcome = understand(Question("x", QuestionType.YES_NO, text="?"), typed, today=TODAY)
    assert isinstance(outcome, Accepted)
    assert outcome.value is value


def test_numbers_with_range() -> None:
    question = Question("n", QuestionType.NUMBER, text="?", minimum=1, maximum=50)
    assert understand(question, "3", today=TODAY) == Accepted(3, "3")
    assert isinstance(understand(question, "2,5", today=TODAY), Accepted)
    assert understand(question, "0", today=TODAY) == Rejected("number_too_small", {"minimum": "1"})
    assert understand(question, "51", today=TODAY) == Rejected(
        "number_too_large", {"maximum": "50"}
    )
    assert understand(question, "veel", today=TODAY) == Rejected("number_unreadable")


def test_optional_questions_can_be_skipped_required_ones_not() -> None:
    optional = Question("o", QuestionType.TEXT, text="?", required=False)
    assert understand(optional, "sla over", today=TODAY) == Accepted(None, "—")
    required = Question("r", QuestionType.TEXT, text="?", min_length=5)
    assert isinstance(understand(required, "sla over", today=TODAY), Accepted)
    assert understand(required, "nvt", today=TODAY) == Rejected("text_too_short", {"limit": 5})


def test_text_with_a_bsn_is_refused_whatever_its_length() -> None:
    question = Question("t", QuestionType.LONG_TEXT, text="?", max_length=20)
    outcome = understand(question, "bsn 123456782 " + "x" * 100, today=TODAY)
    assert isinstance(outcome, Rejected)
    assert outcome.code == "text_bsn"


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("gisteren ofzo", "date_unreadable"),
        ("23-11-2026", "date_not_future"),
        ("22-11-2026", "date_not_future"),
        ("29-11-2026", "date_weekend"),
        ("01-01-2027", "date_holiday"),
        ("05-05-2027", "date_holiday"),
    ],
)
def test_dates_must_be_future_working_days(typed: str, code: str) -> None:
    outcome = understand(Question("d", QuestionType.DATE, text="?"), typed, today=TODAY)
    assert isinstance(outcome, Rejected)
    assert outcome.code == code


def test_an_accepted_date_tells_the_working_days() -> None:
    outcome = understand(Question("d", QuestionType.DATE, text="?"), "15 december", today=TODAY)
    assert outcome == Accepted("2026-12-15", "15-12-2026", {"working_days": 16})


@pytest.mark.parametrize("kind", list(QuestionType))
def test_a_bsn_is_refused_for_every_kind_of_question(kind: QuestionType) -> None:
    options = GEMEENTEN if kind is QuestionType.CHOICE else ()
    question = Question("q", kind, text="?", options=options, required=False)
    outcome = understand(question, "123456782", today=TODAY)
    assert outcome == Rejected("text_bsn")
