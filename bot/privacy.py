"""Domain: keep BSNs and oversized free text out of the store (pure: no I/O, no clock).

The bot carries workflow metadata, never report content. A burgerservicenummer is a national
identification number (art. 87 AVG, art. 46 UAVG): it may only be used where a law provides for
it, and none provides for it in this bot. So a BSN typed into free text must be refused before
anything is stored, and must never reach a log line or an error report either. The check is
deliberately conservative: a false alarm costs the user one retyped answer, a miss puts a BSN in
a database that is backed up and kept for years.

A BSN is 9 digits (older ones 8, read with a leading 0) passing the 11-test (elfproef): weights
9..2 on the first eight digits and -1 on the last, the sum divisible by 11 and not 0. People type
them with separators: "123 456 782", "1234.56.782", "12-34-56-782".

How free text is read, decision by decision (each has a test):

- Run. A maximal run of ASCII digits (digits of other scripts are not read) joined by SINGLE
  separators: space, non-breaking space (U+00A0, and the thin U+2009 and narrow U+202F spaces),
  dot, dash (also U+2011 non-breaking hyphen and U+2013 en dash, which word processors
  substitute). Two separators in a row, a comma, a slash, a colon or any other character ends a
  run. A run never touches other digits.
- Candidate. A run (or part of one, see dates) with 8 or 9 digits in all, whatever its grouping.
  Longer runs are phone numbers ("06-12345678", "030 123 4567"), IBAN digit groups or other long
  numbers and are not BSNs as a whole. But two numbers separated by one space merge into one run
  ("123456782 111222333", "tel 06-1234 5678 123456782"), so inside a run of 10 or more digits a
  window of whole groups laid out the way BSNs are written (9, 3-3-3, 4-2-3 or 2-2-2-3 digits, one
  kind of separator) is a candidate too. Dutch phone numbers never have that layout, and an
  8-digit window is not considered there: that is exactly "06 12345678".
- Code. A run glued to a letter is part of a reference, not a BSN: "Z2026123456782",
  "ZK123456782", and a letter plus one dash, as in our own "BR-2026-0001" or "Z-2026-…". The code
  stretches over the groups joined by dashes or dots; after a space the run is ordinary digits
  again ("BR-2026-0001 123456782" is caught). A letter after a space ("Z 123456782") is no code: a
  BSN typed right after a word is what we must catch. A word that names the number ("bsn",
  "sofinummer", "burgerservicenummer", "nr", …) is no code prefix either: "BSN-123456782" and
  "bsn123456782" are caught. A run directly followed by a letter ("123456782A") is a code too.
- Phone numbers. A run directly after "+" or "(0)" ("+31 6 12345678", "+31 (0)30 123 4567") and
  a run opening with an international access code ("0031 612345678") is a phone number: the part
  after the country code is 9 digits and would otherwise look like a BSN.
- Dates. Three groups shaped d-m-yyyy / dd.mm.yyyy / dd mm yyyy, or yyyy-mm-dd / yyyy.mm.dd, with
  one kind of separator, a real calendar day and a year 1900-2099, are a date even if their digits
  pass the 11-test (12-01-2026 does). The date is cut out of its run and the rest is read on its
  own. Unseparated dates ("12012026") are not recognised: eight bare digits may be an old BSN.
- Amounts. A run directly followed by a decimal comma and two digits, or ",-", is an amount
  ("€ 123.456.782,00", "123.456.782,-"). Without that tail a euro sign does not help: the bare
  digits could still be a BSN, and an answer in this process rarely holds a nine-digit amount.
- Unavoidable: an old 9-digit bank account number passes the same 11-test and is flagged, and an
  8-digit number (a KvK number, say) is flagged when it happens to pass. Accepted misses: a BSN
  glued to a letter, and an 8-digit or oddly grouped BSN merged into a longer run by one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

REDACTION = "[BSN verwijderd]"

_SPACES = " \u00a0\u2009\u202f"
_DASHES = "-\u2011\u2013"
_RUN = re.compile(r"[0-9]+(?:[ \u00a0\u2009\u202f.\-\u2011\u2013][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_BSN_DIGITS = re.compile(r"[0-9]{8,9}")
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
# How people write a BSN; only looked for inside runs too long to be one number.
_LAYOUTS = ((9,), (3, 3, 3), (4, 2, 3), (2, 2, 2, 3))
# Words that name the number rather than make it part of a code ("BSN-123456782").
_NUMBER_WORDS = frozenset(
    {"bsn", "bsnr", "bsnnr", "sofi", "sofinr", "sofinummer", "burgerservicenummer", "nr", "nummer"}
)
_PHONE_BEFORE = re.compile(r"(?:\+|\(0\)[ \u00a0]?)\Z")
_INTERNATIONAL_ACCESS = re.compile(r"00[1-9][0-9]{0,2}")
_AMOUNT_AFTER = re.compile(r",(?:[0-9]{2}(?![0-9])|-)")


def is_valid_bsn(candidate: str) -> bool:
    """Whether 8 or 9 ASCII digits pass the 11-test; a zero weighted sum ("000000000",
    "000000012") passes arithmetically but is no number ever issued."""
    if not _BSN_DIGITS.fullmatch(candidate):
        return False
    total = sum(int(d) * w for d, w in zip(candidate.zfill(9), _WEIGHTS, strict=True))
    return total != 0 and total % 11 == 0


def find_bsn(text: str) -> str | None:
    """The first BSN-like number in free text as 9 digits, so a caller can refuse the text
    before it is stored; see the module docstring for what counts."""
    spans = _bsn_spans(text)
    return spans[0].digits if spans else None


def redact_bsn(text: str) -> str:
    """Text safe for a log line or an error report, which must never carry a BSN.

    Repeated until nothing is found: cutting a BSN out of a long run can leave digits that now
    form a run of their own.
    """
    while spans := _bsn_spans(text):
        for span in reversed(spans):
            text = text[: span.start] + REDACTION + text[span.end :]
    return text


class FreeTextProblem(StrEnum):
    """Codes, not messages: the dialogs word them in Dutch."""

    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BSN = "bsn"


@dataclass(frozen=True)
class FreeTextVerdict:
    ok: bool
    problem: FreeTextProblem | None = None
    limit: int | None = None  # the min or max length that was violated


def check_free_text(text: str, *, max_length: int, min_length: int = 1) -> FreeTextVerdict:
    """Empty, then BSN, then too long, then too short; lengths after stripping.

    A BSN beats the length checks: told only "too long", the user would shorten the text and
    could keep the BSN in it.
    """
    stripped = text.strip()
    if not stripped:
        return FreeTextVerdict(ok=False, problem=FreeTextProblem.EMPTY)
    if find_bsn(stripped) is not None:
        return FreeTextVerdict(ok=False, problem=FreeTextProblem.BSN)
    if len(stripped) > max_length:
        return FreeTextVerdict(ok=False, problem=FreeTextProblem.TOO_LONG, limit=max_length)
    if len(stripped) < min_length:
        return FreeTextVerdict(ok=False, problem=FreeTextProblem.TOO_SHORT, limit=min_length)
    return FreeTextVerdict(ok=True)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    digits: str  # normalised to 9


@dataclass(frozen=True)
class _Group:
    start: int
    end: int
    digits: str
    separator: str  # the character before this group inside its run; "" for the first


def _bsn_spans(text: str) -> list[_Span]:
    spans: list[_Span] = []
    for run in _RUN.finditer(text):
        groups = _groups(text, run)
        if _is_phone_number(text, run.start(), groups):
            continue
        code_end = _code_end(text, run.start(), groups)
        for part in _without_dates(groups):
            spans.extend(_spans_in_part(text, part, code_end=code_end))
    return spans


def _groups(text: str, run: re.Match[str]) -> list[_Group]:
    groups = []
    for match in _GROUP.finditer(text, run.start(), run.end()):
        separator = text[match.start() - 1] if match.start() > run.start() else ""
        groups.append(_Group(match.start(), match.end(), match.group(), separator))
    return groups


def _is_phone_number(text: str, start: int, groups: list[_Group]) -> bool:
    if _PHONE_BEFORE.search(text, 0, start):
        return True
    opening = groups[0].digits
    digits = sum(len(g.digits) for g in groups)
    return len(groups) > 1 and digits > 9 and _INTERNATIONAL_ACCESS.fullmatch(opening) is not None


def _code_end(text: str, start: int, groups: list[_Group]) -> int:
    """Where the code glued to letters before the run ends (`start` when there is none)."""
    letter_end = start - 1 if start >= 2 and text[start - 1] in _DASHES else start
    word_start = letter_end
    while word_start > 0 and text[word_start - 1].isalpha():
        word_start -= 1
    word = text[word_start:letter_end]
    if not word or word.casefold() in _NUMBER_WORDS:
        return start
    length = 1
    while length < len(groups) and groups[length].separator not in _SPACES:
        length += 1
    return groups[length - 1].end


def _without_dates(groups: list[_Group]) -> list[list[_Group]]:
    """The run split into parts around the dates in it; each part is read on its own."""
    parts: list[list[_Group]] = [[]]
    index = 0
    while index < len(groups):
        if _is_date(groups[index : index + 3]):
            parts.append([])
            index += 3
        else:
            parts[-1].append(groups[index])
            index += 1
    return [part for part in parts if part]


def _is_date(groups: list[_Group]) -> bool:
    if len(groups) != 3 or groups[1].separator != groups[2].separator:
        return False
    separator = groups[1].separator
    a, b, c = (g.digits for g in groups)
    if len(a) <= 2 and len(b) <= 2 and len(c) == 4:
        return _is_calendar_day(int(c), int(b), int(a))
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2 and separator not in _SPACES:
        return _is_calendar_day(int(a), int(b), int(c))
    return False


def _is_calendar_day(year: int, month: int, day: int) -> bool:
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and day >= 1):
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return day <= days[month - 1]


def _spans_in_part(text: str, part: list[_Group], *, code_end: int) -> list[_Span]:
    """The BSNs in one part of a run, left to right and never overlapping."""
    count = sum(len(g.digits) for g in part)
    windows: list[list[_Group]] = []
    if count in (8, 9):
        windows = [part]
    elif count > 9:
        windows = [
            part[first : first + len(layout)]
            for first in range(len(part))
            for layout in _LAYOUTS
            if _has_layout(part[first : first + len(layout)], layout)
        ]
    windows = [w for w in windows if w[0].start >= code_end]
    spans: list[_Span] = []
    for window in windows:
        span = _span(window)
        overlaps = bool(spans) and span.start < spans[-1].end
        if not overlaps and is_valid_bsn(span.digits) and not _glued_after(text, span.end):
            spans.append(span)
    return spans


def _has_layout(window: list[_Group], layout: tuple[int, ...]) -> bool:
    return tuple(len(g.digits) for g in window) == layout and _one_separator(window)


def _one_separator(window: list[_Group]) -> bool:
    return len({g.separator for g in window[1:]}) <= 1


def _span(groups: list[_Group]) -> _Span:
    digits = "".join(g.digits for g in groups)
    return _Span(groups[0].start, groups[-1].end, digits.zfill(9))


def _glued_after(text: str, end: int) -> bool:
    """A letter straight after makes a code ("123456782A"); a decimal tail makes an amount."""
    return text[end : end + 1].isalpha() or _AMOUNT_AFTER.match(text, end) is not None
