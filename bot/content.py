"""Curated content: the schema of `knowledge/` and its loader.

Content is data reviewed by jurists, not code, so it lives in YAML files. Every file is parsed
against a strict pydantic schema: a typo in a field name or a checklist condition that points at a
question that does not exist must stop the import with the file and the field at fault, instead of
surfacing weeks later as a dialog that silently skips a question.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", min_length=2, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class QuestionType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    YES_NO = "yes_no"
    CHOICE = "choice"
    DATE = "date"
    NUMBER = "number"


class Choice(_Strict):
    value: Code
    label: str = Field(min_length=1, max_length=80)


class Condition(_Strict):
    """Ask a question only when an earlier answer matches: `equals` one value or is `in` a list."""

    question: Code
    equals: str | bool | None = None
    in_: list[str] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("a condition needs exactly one of 'equals' or 'in'")
        return self

    def holds(self, answers: dict[str, Any]) -> bool:
        answer = answers.get(self.question)
        if self.equals is not None:
            return answer == self.equals
        return answer in (self.in_ or [])


class ChecklistQuestion(_Strict):
    id: Code
    text: str = Field(min_length=5, max_length=300)
    help: str = Field(default="", max_length=600)
    type: QuestionType
    required: bool = True
    choices: list[Choice] = Field(default_factory=list)
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1, le=2000)
    minimum: float | None = None
    maximum: float | None = None
    condition: Condition | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChecklistQuestion:
        if self.type is QuestionType.CHOICE and len(self.choices) < 2:
            raise ValueError("a 'choice' question needs at least two choices")
        if self.type is not QuestionType.CHOICE and self.choices:
            raise ValueError("only 'choice' questions have choices")
        text_types = (QuestionType.TEXT, QuestionType.LONG_TEXT)
        if (self.min_length or self.max_length) and self.type not in text_types:
            raise ValueError("min_length/max_length apply to text questions only")
        if (self.minimum is not None or self.maximum is not None) and (
            self.type is not QuestionType.NUMBER
        ):
            raise ValueError("minimum/maximum apply to number questions only")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum is larger than maximum")
        return self


class Source(_Strict):
    title: str = Field(min_length=3)
    reference: str = Field(default="", description="URL, seed file or publication")


class ReviewStatus(StrEnum):
    """Starter content is written by the project team and must be reviewed by jurists."""

    STARTER = "starter"
    REVIEWED = "reviewed"


class Bevoegdheid(_Strict):
    kind: Literal["bevoegdheid"] = "bevoegdheid"
    id: Code
    title: str = Field(min_length=5, max_length=120)
    synonyms: list[str] = Field(default_factory=list)
    # How people ask for this power in their own words ("kan ik een drugspand sluiten?"); the
    # knowledge search indexes them next to the title.
    questions: list[str] = Field(default_factory=list)
    legal_basis: str = Field(min_length=3)
    competent_body: str = Field(min_length=2)
    applies_when: str = Field(min_length=20)
    steps: list[str] = Field(min_length=2)
    pitfalls: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(min_length=1)
    last_checked: dt.date
    review_status: ReviewStatus = ReviewStatus.STARTER
    checklist: list[ChecklistQuestion] = Field(min_length=1)

    @model_validator(mode="after")
    def _conditions_point_backwards(self) -> Bevoegdheid:
        """A condition may only refer to an earlier question: the dialog asks in file order."""
        seen: dict[str, ChecklistQuestion] = {}
        for question in self.checklist:
            if question.id in seen:
                raise ValueError(f"checklist: question id '{question.id}' is used twice")
            if question.condition is not None:
                target = seen.get(question.condition.question)
                if target is None:
                    raise ValueError(
                        f"checklist.{question.id}.condition: '{question.condition.question}' "
                        "is not an earlier question"
                    )
                allowed = {c.value for c in target.choices}
                wanted = (
                    [question.condition.equals]
                    if question.condition.equals is not None
                    else list(question.condition.in_ or [])
                )
                if target.type is QuestionType.CHOICE and not set(map(str, wanted)) <= allowed:
                    raise ValueError(
                        f"checklist.{question.id}.condition: value not among the choices of "
                        f"'{target.id}'"
                    )
            seen[question.id] = question
        return self


class Topic(StrEnum):
    """What a process entry is about; the answer card and `kb export` group by it."""

    PROCES = "proces"  # the BR process itself: when, who, how long
    INFORMATIEDELING = "informatiedeling"  # grounds for sharing information
    VEILIGHEID = "veiligheid"  # kinds of safety problems, the mayor's role, the RIEC
    HANDHAVING = "handhaving"  # cooperation in enforcement per theme


class ProcessEntry(_Strict):
    """A question about the process or information sharing, answered from the domain brief and
    the seeds (not a power one can request a rapportage for)."""

    kind: Literal["proces"] = "proces"
    id: Code
    title: str = Field(min_length=5, max_length=120)
    topic: Topic
    synonyms: list[str] = Field(default_factory=list)
    questions: list[str] = Field(min_length=2)
    answer: str = Field(min_length=40, max_length=2500)
    legal_basis: str = ""
    competent_body: str = ""
    steps: list[str] = Field(default_factory=list)
    needed_information: list[str] = Field(default_factory=list)
    # A bevoegdheid this answer leads to: the card then offers to start a request with it.
    bevoegdheid: Code | None = None
    related: list[Code] = Field(default_factory=list)
    sources: list[Source] = Field(min_length=1)
    last_checked: dt.date
    review_status: ReviewStatus = ReviewStatus.STARTER


class SynonymTable(_Strict):
    """Words people use for the same thing (damocles, 13b, drugspand) and abbreviations (BR,
    OvJ): content, so jurists and beheerders can extend it without a release."""

    kind: Literal["synoniemen"] = "synoniemen"
    id: Code
    title: str = Field(min_length=5, max_length=120)
    # Each group lists words and phrases that mean the same for a search.
    groups: list[list[str]] = Field(default_factory=list)
    # An abbreviation and what it stands for (case-insensitive when matched).
    abbreviations: dict[str, str] = Field(default_factory=dict)
    last_checked: dt.date

    @model_validator(mode="after")
    def _groups_have_two_terms(self) -> SynonymTable:
        for number, group in enumerate(self.groups):
            if len({term.strip().lower() for term in group if term.strip()}) < 2:
                raise ValueError(f"groups.{number}: a group needs at least two different terms")
        return self


class ContentError(Exception):
    """A content file is wrong; the message names the file and the field at fault."""


class LoadedEntry(BaseModel):
    """One validated entry plus where it came from and a hash to detect changes on import."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    path: str
    checksum: str
    data: dict[str, Any]


_KINDS: dict[str, type[_Strict]] = {
    "bevoegdheden": Bevoegdheid,
    "proces": ProcessEntry,
    "taal": SynonymTable,
}


def _format_error(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: ongeldige inhoud"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(bestand)"
        lines.append(f"  - {where}: {item['msg']}")
    return "\n".join(lines)


def parse_file(path: Path, model: type[_Strict]) -> LoadedEntry:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: geen geldige YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ContentError(f"{path}: verwacht een mapping (sleutel: waarde) bovenaan het bestand")
    try:
        entry = model.model_validate(raw)
    except ValidationError as error:
        raise ContentError(_format_error(path, error)) from error
    data = entry.model_dump(mode="json", by_alias=True, exclude_none=True)
    checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    entry_id = str(data["id"])
    if path.stem != entry_id:
        raise ContentError(f"{path}: id '{entry_id}' moet gelijk zijn aan de bestandsnaam")
    return LoadedEntry(
        id=entry_id, kind=str(data["kind"]), path=str(path), checksum=checksum, data=data
    )


def load_directory(root: Path) -> list[LoadedEntry]:
    """Read every known content folder under `root`; raise on the first wrong file."""
    if not root.is_dir():
        raise ContentError(f"{root}: map met kennisinhoud niet gevonden")
    entries: list[LoadedEntry] = []
    seen: dict[str, str] = {}
    for folder, model in _KINDS.items():
        for path in sorted((root / folder).glob("*.yaml")):
            entry = parse_file(path, model)
            if entry.id in seen:
                raise ContentError(f"{path}: id '{entry.id}' staat ook in {seen[entry.id]}")
            seen[entry.id] = entry.path
            entries.append(entry)
    check_references(entries)
    return entries


def bevoegdheden(entries: Iterable[LoadedEntry]) -> list[Bevoegdheid]:
    return [Bevoegdheid.model_validate(e.data) for e in entries if e.kind == "bevoegdheid"]


def process_entries(entries: Iterable[LoadedEntry]) -> list[ProcessEntry]:
    return [ProcessEntry.model_validate(e.data) for e in entries if e.kind == "proces"]


def synonym_tables(entries: Iterable[LoadedEntry]) -> list[SynonymTable]:
    return [SynonymTable.model_validate(e.data) for e in entries if e.kind == "synoniemen"]


def check_references(entries: Iterable[LoadedEntry]) -> None:
    """Links between entries must point at entries that exist (a renamed file would otherwise
    leave a dead "start een aanvraag" button)."""
    loaded = list(entries)
    ids = {e.id for e in loaded}
    powers = {e.id for e in loaded if e.kind == "bevoegdheid"}
    for entry in process_entries(loaded):
        if entry.bevoegdheid is not None and entry.bevoegdheid not in powers:
            raise ContentError(f"{entry.id}: bevoegdheid '{entry.bevoegdheid}' bestaat niet")
        for other in entry.related:
            if other not in ids:
                raise ContentError(f"{entry.id}: related '{other}' bestaat niet")
