"""Domain: the questions of a request for a bestuurlijke rapportage, in order, and how an answer
is understood and validated (pure: plain values in, plain values out).

The improvement plans ask the gemeente to state up front what the intended measure needs, so the
police draft the right report and the OM does not approve one that still misses facts. The
intake therefore asks the fixed process questions first (which power, which gemeente and team,
is there a criminal investigation, could a boa report do, which type, when) and then the
checklist of the chosen bevoegdheid. Rejections are codes with parameters; the Dutch wording
lives in `cards/messages.yaml`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from bot.content import Bevoegdheid, ChecklistQuestion, QuestionType
from bot.deadlines import DEFAULT_CALENDAR, WorkingCalendar
from bot.dutch_dates import parse_dutch_date
from bot.privacy import check_free_text, find_bsn
from bot.textnorm import normalise, tokens
from bot.workflow import ReportType

SUBJECT_MAX = 120
REASON_MAX = 300
TEXT_MAX = 200
LONG_TEXT_MAX = 1000
CHECKLIST_PREFIX = "checklist."


class Key(StrEnum):
    BEVOEGDHEID = "bevoegdheid"
    GEMEENTE = "gemeente"
    BASISTEAM = "basisteam"
    SUBJECT = "onderwerp"
    INVESTIGATION = "strafrechtelijk_onderzoek"
    BOA_POSSIBLE = "boa_route_mogelijk"
    BOA_REASON = "boa_route_reden"
    REPORT_TYPE = "rapportagetype"
    DESIRED_DATE = "gewenste_datum"


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    words: tuple[str, ...] = ()  # extra words that find this option (synonyms, article numbers)


@dataclass(frozen=True)
class Question:
    key: str
    kind: QuestionType
    text: str | None = None  # checklist questions carry their text; fixed ones use text_key
    text_key: str | None = None
    help: str = ""
    options: tuple[Option, ...] = ()
    required: bool = True
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Accepted:
    value: Any  # JSON-able
    display: str
    facts: dict[str, Any] = field(default_factory=dict)  # extra facts worth telling the user


@dataclass(frozen=True)
class Rejected:
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    options: tuple[Option, ...] = ()  # when ambiguous: the candidates to choose from


Outcome = Accepted | Rejected


@dataclass(frozen=True)
class Catalogue:
    """What the questions choose from; loaded by the caller (registry, content), with the Dutch
    labels of the fixed options ("<group>.<code>" → label) from the message catalogue."""

    bevoegdheden: tuple[Bevoegdheid, ...]
    gemeenten: tuple[Option, ...]
    basisteams_by_gemeente: dict[str, tuple[Option, ...]]
    labels: Mapping[str, str] = field(default_factory=dict)

    def bevoegdheid(self, bevoegdheid_id: str | None) -> Bevoegdheid | None:
        return next((b for b in self.bevoegdheden if b.id == bevoegdheid_id), None)


# The codes of the fixed choices and the words people type for them. Their Dutch labels are
# presentation and come in through Catalogue.labels.
YES_NO_WORDS: dict[str, tuple[str, ...]] = {
    "ja": ("ja", "j", "yes", "klopt", "jazeker", "wel"),
    "nee": ("nee", "n", "no", "niet", "neen"),
}
INVESTIGATION_WORDS: dict[str, tuple[str, ...]] = {
    **YES_NO_WORDS,
    "onbekend": ("onbekend", "weet niet", "weet ik niet", "geen idee", "misschien"),
}
REPORT_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    ReportType.EENVOUDIG.value: ("eenvoudig", "veelvoorkomend"),
    ReportType.COMPLEX_SPOEDEISEND.value: (
        "complex",
        "spoed",
        "spoedeisend",
        "complex spoedeisend",
    ),
    ReportType.ZEER_COMPLEX_INNOVATIEF.value: ("zeer complex", "innovatief"),
}
FIXED_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "yes_no": YES_NO_WORDS,
    "strafrechtelijk_onderzoek": INVESTIGATION_WORDS,
    "rapportagetype": REPORT_TYPE_WORDS,
}


def fixed_options(group: str, labels: Mapping[str, str]) -> tuple[Option, ...]:
    return tuple(
        Option(code, labels.get(f"{group}.{code}", code), words)
        for code, words in FIXED_CHOICES[group].items()
    )


def bevoegdheid_options(bevoegdheden: tuple[Bevoegdheid, ...]) -> tuple[Option, ...]:
    return tuple(
        Option(b.id, f"{b.title} ({b.legal_basis})", (b.title, *b.synonyms, b.legal_basis, b.id))
        for b in bevoegdheden
    )


def questions(answers: dict[str, Any], catalogue: Catalogue) -> list[Question]:
    """Every question that applies given the answers so far, in the order they are asked."""
    yes_no = fixed_options("yes_no", catalogue.labels)
    result = [
        Question(
            Key.BEVOEGDHEID,
            QuestionType.CHOICE,
            text_key="q_bevoegdheid",
            options=bevoegdheid_options(catalogue.bevoegdheden),
        ),
        Question(
            Key.GEMEENTE, QuestionType.CHOICE, text_key="q_gemeente", options=catalogue.gemeenten
        ),
    ]
    teams = catalogue.basisteams_by_gemeente.get(str(answers.get(Key.GEMEENTE)), ())
    result.append(
        Question(Key.BASISTEAM, QuestionType.CHOICE, text_key="q_basisteam", options=teams)
    )
    result += [
        Question(
            Key.SUBJECT,
            QuestionType.TEXT,
            text_key="q_onderwerp",
            min_length=5,
            max_length=SUBJECT_MAX,
        ),
        Question(
            Key.INVESTIGATION,
            QuestionType.CHOICE,
            text_key="q_strafrechtelijk_onderzoek",
            options=fixed_options("strafrechtelijk_onderzoek", catalogue.labels),
        ),
        Question(
            Key.BOA_POSSIBLE, QuestionType.YES_NO, text_key="q_boa_route_mogelijk", options=yes_no
        ),
    ]
    if answers.get(Key.BOA_POSSIBLE) is True:
        result.append(
            Question(
                Key.BOA_REASON,
                QuestionType.TEXT,
                text_key="q_boa_route_reden",
                min_length=10,
                max_length=REASON_MAX,
            )
        )
    result += [
        Question(
            Key.REPORT_TYPE,
            QuestionType.CHOICE,
            text_key="q_rapportagetype",
            options=fixed_options("rapportagetype", catalogue.labels),
        ),
        Question(Key.DESIRED_DATE, QuestionType.DATE, text_key="q_gewenste_datum"),
    ]
    bevoegdheid = catalogue.bevoegdheid(answers.get(Key.BEVOEGDHEID))
    if bevoegdheid is not None:
        checklist_answers = checklist_values(answers)
        for item in bevoegdheid.checklist:
            if item.condition is None or item.condition.holds(checklist_answers):
                result.append(_from_checklist(item, yes_no))
    return result


def checklist_values(answers: dict[str, Any]) -> dict[str, Any]:
    return {
        key.removeprefix(CHECKLIST_PREFIX): value
        for key, value in answers.items()
        if key.startswith(CHECKLIST_PREFIX)
    }


def _from_checklist(item: ChecklistQuestion, yes_no: tuple[Option, ...]) -> Question:
    options = tuple(Option(c.value, c.label) for c in item.choices)
    return Question(
        key=CHECKLIST_PREFIX + item.id,
        kind=item.type,
        text=item.text,
        help=item.help,
        options=yes_no if item.type is QuestionType.YES_NO else options,
        required=item.required,
        min_length=item.min_length,
        max_length=item.max_length,
        minimum=item.minimum,
        maximum=item.maximum,
    )


def next_question(answers: dict[str, Any], catalogue: Catalogue) -> Question | None:
    return next((q for q in questions(answers, catalogue) if q.key not in answers), None)


def prune(answers: dict[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """Drop answers that no longer fit after an earlier answer changed: questions that no longer
    apply, and choices no longer offered (another gemeente has other basisteams)."""
    applicable = {q.key: q for q in questions(answers, catalogue)}
    kept = {
        k: v
        for k, v in answers.items()
        if k in applicable
        and (
            applicable[k].kind is not QuestionType.CHOICE
            or any(o.value == v for o in applicable[k].options)
        )
    }
    # Conditions may chain: repeat until stable.
    return kept if kept == answers else prune(kept, catalogue)


SKIP_WORDS = frozenset({"sla over", "overslaan", "geen", "nvt", "n.v.t", "-"})


def understand(
    question: Question,
    raw: str,
    *,
    today: dt.date,
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> Outcome:
    """Turn what the user typed (or the button they pressed) into a stored value."""
    text = raw.strip()
    if find_bsn(text) is not None:
        # Whatever the question: a number question without a maximum would otherwise keep it.
        return Rejected("text_bsn")
    if not question.required and normalise(text) in SKIP_WORDS:
        return Accepted(None, "—")
    if question.kind is QuestionType.CHOICE:
        return _choice(question.options, text)
    if question.kind is QuestionType.YES_NO:
        outcome = _choice(question.options or fixed_options("yes_no", {}), text)
        if isinstance(outcome, Accepted):
            return Accepted(outcome.value == "ja", outcome.display)
        return Rejected("yes_no")
    if question.kind is QuestionType.DATE:
        return _date(question, text, today, calendar)
    if question.kind is QuestionType.NUMBER:
        return _number(question, text)
    limit = question.max_length or (
        LONG_TEXT_MAX if question.kind is QuestionType.LONG_TEXT else TEXT_MAX
    )
    verdict = check_free_text(text, max_length=limit, min_length=question.min_length or 1)
    if not verdict.ok:
        assert verdict.problem is not None
        return Rejected(f"text_{verdict.problem.value}", {"limit": verdict.limit})
    return Accepted(text, text)


def _choice(options: tuple[Option, ...], text: str) -> Outcome:
    wanted = normalise(text)
    if not wanted:
        return Rejected("choice_unknown", options=options)
    if wanted.isdigit() and 1 <= int(wanted) <= len(options):
        option = options[int(wanted) - 1]
        return Accepted(option.value, option.label)
    exact = [o for o in options if wanted in _forms(o).names]
    if len(exact) == 1:
        return Accepted(exact[0].value, exact[0].label)
    wanted_tokens = set(tokens(text))
    partial = [o for o in options if _matches(o, wanted, wanted_tokens)]
    if len(partial) == 1:
        return Accepted(partial[0].value, partial[0].label)
    if len(partial) > 1:
        return Rejected("choice_ambiguous", {"count": len(partial)}, options=tuple(partial))
    return Rejected("choice_unknown", options=options)


@dataclass(frozen=True)
class _Forms:
    names: frozenset[str]  # value, label and words, normalised
    haystack: str
    tokens: frozenset[str]


@lru_cache(maxsize=2048)
def _forms(option: Option) -> _Forms:
    """An option's normalised forms. Options come from the catalogue, which is kept between
    turns, and a bevoegdheid has dozens of words: normalised once, not on every answer (it was
    a few milliseconds per choice answered). Only catalogue text is cached, never what was typed."""
    normalised = [normalise(part) for part in (option.label, option.value, *option.words)]
    haystack = " ".join(normalised)
    return _Forms(frozenset(normalised), haystack, frozenset(tokens(haystack)))


def _matches(option: Option, wanted: str, wanted_tokens: set[str]) -> bool:
    forms = _forms(option)
    haystack = forms.haystack
    if len(wanted) >= 3 and wanted in haystack:
        return True
    option_tokens = forms.tokens
    # Legal articles and synonyms are typed as one token ("13b", "damocles", "172a").
    return any(
        token in option_tokens for token in wanted_tokens if len(token) >= 4 or _article(token)
    )


def _article(token: str) -> bool:
    return re.fullmatch(r"\d+[a-z]?", token) is not None and len(token) >= 2


def _date(question: Question, text: str, today: dt.date, calendar: WorkingCalendar) -> Outcome:
    parsed = parse_dutch_date(text, today, calendar=calendar)
    if parsed is None:
        return Rejected("date_unreadable")
    day = parsed.day
    if day <= today:
        return Rejected("date_not_future", {"date": day.strftime("%d-%m-%Y")})
    if not calendar.is_working_day(day):
        holiday = calendar.holiday_name(day)
        return Rejected(
            "date_holiday" if holiday else "date_weekend",
            {"date": day.strftime("%d-%m-%Y"), "holiday": holiday},
        )
    working_days = calendar.working_days_between(today, day)
    return Accepted(day.isoformat(), day.strftime("%d-%m-%Y"), {"working_days": working_days})


def _number(question: Question, text: str) -> Outcome:
    cleaned = text.replace(" ", "").replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return Rejected("number_unreadable")
    if question.minimum is not None and value < question.minimum:
        return Rejected("number_too_small", {"minimum": _plain_number(question.minimum)})
    if question.maximum is not None and value > question.maximum:
        return Rejected("number_too_large", {"maximum": _plain_number(question.maximum)})
    stored: float | int = int(value) if value.is_integer() else value
    return Accepted(stored, _plain_number(stored))


def _plain_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", ",")


def display(question: Question, value: Any) -> str:
    """How a stored answer is shown back (summary card, status)."""
    if value is None:
        return "—"
    if question.kind is QuestionType.YES_NO:
        code = "ja" if value else "nee"
        return next((o.label for o in question.options if o.value == code), code)
    if question.options:
        return next((o.label for o in question.options if o.value == value), str(value))
    if question.kind is QuestionType.DATE:
        return dt.date.fromisoformat(str(value)).strftime("%d-%m-%Y")
    if question.kind is QuestionType.NUMBER:
        return _plain_number(float(value))
    return str(value)


def checklist_rows(
    bevoegdheid: Bevoegdheid, values: dict[str, Any], labels: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(question, answer) for the stored checklist answers, in the bevoegdheid's order."""
    yes_no = fixed_options("yes_no", labels)
    return [
        (item.text, display(_from_checklist(item, yes_no), values[item.id]))
        for item in bevoegdheid.checklist
        if item.id in values
    ]
