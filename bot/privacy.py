"""Domain: keep BSNs and oversized free text out of the store (pure).

The bot carries workflow metadata, never report content. A BSN (burgerservicenummer) typed into
free text must be refused before anything is stored or logged. A BSN is 9 digits (older ones 8,
read with a leading 0) that pass the 11-test; people type them with spaces, dots or dashes.

Decisions, each with a test:
- A candidate is a maximal run of digits joined by single separators (space, dot, dash,
  non-breaking space) with 8 or 9 digits in all. Longer runs (phone numbers, IBAN parts) are not
  BSNs; neither are shorter ones.
- A run glued to a letter ("Z2026…", "BR-2026-0001") is part of a code, not a BSN. Only a letter
  immediately before (optionally with one dash, as in "BR-") counts; "bsn 123456782" is caught.
- A run shaped like a date (d-m-yyyy, dd.mm.yyyy, dd mm yyyy with a valid calendar date) is a
  date even if its digits pass the 11-test.
- A run directly followed by a decimal comma and two digits is an amount ("123.456.782,00").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

_SEPARATORS = " .\u00a0-"
_CANDIDATE = re.compile(r"\d(?:[ .\u00a0-]?\d)*")
_DATE = re.compile(r"(\d{1,2})[ .\u00a0-](\d{1,2})[ .\u00a0-](\d{4})")
REDACTED = "[BSN verwijderd]"


def is_valid_bsn(candidate: str) -> bool:
    """8 or 9 digits passing the 11-test (weights 9..2 and -1), not all zeros."""
    if not candidate.isdigit() or len(candidate) not in (8, 9):
        return False
    digits = candidate.zfill(9)
    if set(digits) == {"0"}:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    total -= int(digits[8])
    return total % 11 == 0


def _is_date(run: str) -> bool:
    match = _DATE.fullmatch(run)
    if not match:
        return False
    try:
        dt.date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return False
    return True


def _bsn_spans(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in _CANDIDATE.finditer(text):
        run = match.group().strip(_SEPARATORS)
        start, end = match.start(), match.start() + len(run)
        digits = re.sub(r"\D", "", run)
        if len(digits) not in (8, 9) or not is_valid_bsn(digits):
            continue
        before = text[max(0, start - 2) : start]
        if before[-1:].isalpha() or (before[-1:] == "-" and before[:1].isalpha()):
            continue  # part of a code such as Z2026… or BR-2026-0001
        if text[end : end + 1].isalpha():
            continue
        if re.match(r",\d{2}(?!\d)", text[end : end + 4]):
            continue  # an amount with cents
        if _is_date(run):
            continue
        found.append((start, end, digits.zfill(9)))
    return found


def find_bsn(text: str) -> str | None:
    """The first BSN-like number in free text (as 9 digits), else None."""
    spans = _bsn_spans(text)
    return spans[0][2] if spans else None


def redact_bsn(text: str) -> str:
    """Replace every BSN-like number, for anything that must never carry one (logs, reports)."""
    for start, end, _ in reversed(_bsn_spans(text)):
        text = text[:start] + REDACTED + text[end:]
    return text


class FreeTextProblem(StrEnum):
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BSN = "bsn"


@dataclass(frozen=True)
class FreeTextVerdict:
    ok: bool
    problem: FreeTextProblem | None = None
    limit: int | None = None


def check_free_text(text: str, *, max_length: int, min_length: int = 1) -> FreeTextVerdict:
    """Empty, then BSN (whatever the length), then too long, then too short."""
    stripped = text.strip()
    if not stripped:
        return FreeTextVerdict(False, FreeTextProblem.EMPTY)
    if find_bsn(stripped) is not None:
        return FreeTextVerdict(False, FreeTextProblem.BSN)
    if len(stripped) > max_length:
        return FreeTextVerdict(False, FreeTextProblem.TOO_LONG, max_length)
    if len(stripped) < min_length:
        return FreeTextVerdict(False, FreeTextProblem.TOO_SHORT, min_length)
    return FreeTextVerdict(True)
