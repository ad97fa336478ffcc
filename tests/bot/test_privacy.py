"""BSN detection and the free-text check (pure): the 11-test, how free text is read, redaction.

Every "not flagged" case uses digits that DO pass the 11-test, so it is the rule under test that
keeps them out, not luck. `elfproef` below is an independent reference for that precondition.
"""

from __future__ import annotations

import ast
import datetime as dt
import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bot.privacy
from bot.privacy import (
    REDACTION,
    FreeTextProblem,
    FreeTextVerdict,
    check_free_text,
    find_bsn,
    is_valid_bsn,
    redact_bsn,
)

WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def elfproef(digits: str) -> bool:
    """Reference 11-test on 8 or 9 digits, written apart from the module under test."""
    padded = digits.zfill(9)
    total = sum(int(d) * w for d, w in zip(padded, WEIGHTS, strict=True))
    return total != 0 and total % 11 == 0


def check_digit(first_eight: str) -> str | None:
    """The ninth digit that makes a BSN of eight digits, or None when none does (remainder 10)."""
    remainder = sum(int(d) * w for d, w in zip(first_eight, WEIGHTS, strict=False)) % 11
    return None if remainder == 10 else str(remainder)


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


VALID_9 = [
    "111222333",
    "123456782",
    "225437259",
    "523832096",
    "030437866",
    "697444855",
    "232571831",
    "453244221",
    "999999990",
]
VALID_8 = ["80817221", "76546792", "89054544", "14633978"]


def test_the_reference_agrees_with_the_known_test_numbers() -> None:
    assert all(elfproef(n) for n in VALID_9 + VALID_8)
    assert check_digit("12345678") == "2"
    assert check_digit("11122233") == "3"


# --- is_valid_bsn ----------------------------------------------------------------------------


@pytest.mark.parametrize("number", VALID_9)
def test_valid_nine_digit_bsns(number: str) -> None:
    assert is_valid_bsn(number)


@pytest.mark.parametrize("number", VALID_8)
def test_valid_eight_digit_bsns_read_with_a_leading_zero(number: str) -> None:
    assert is_valid_bsn(number)
    assert is_valid_bsn("0" + number)


@pytest.mark.parametrize("number", VALID_9 + ["0" + n for n in VALID_8])
@pytest.mark.parametrize("delta", [1, -1])
def test_a_check_digit_off_by_one_fails(number: str, delta: int) -> None:
    wrong = number[:8] + str((int(number[8]) + delta) % 10)
    assert not is_valid_bsn(wrong)


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        ("000000000", "all zeros"),
        ("00000000", "all zeros, 8 digits"),
        ("000000012", "weighted sum 0: divisible by 11 but never issued"),
        ("000000024", "weighted sum 0"),
        ("12345678", "8 digits failing the test"),
        ("123456789", "9 digits failing the test"),
        ("1234567", "too short"),
        ("1234567820", "too long"),
        ("0123456782", "too long even with a leading zero"),
        ("", "empty"),
        ("12345678a", "a letter"),
        ("123 456 782", "separators: the caller normalises"),
        ("123-456-782", "separators"),
        (" 123456782", "whitespace"),
        ("-12345678", "a sign"),
        ("１２３４５６７８２", "fullwidth digits are not ASCII digits"),
        ("١٢٣٤٥٦٧٨٢", "Arabic-Indic digits"),
        ("¹²³⁴⁵⁶⁷⁸²", "superscripts pass str.isdigit but are no digits"),
    ],
)
def test_invalid_candidates(candidate: str, why: str) -> None:
    assert not is_valid_bsn(candidate), why


# --- find_bsn: what is found -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123456782", "123456782"),
        ("123 456 782", "123456782"),
        ("1234.56.782", "123456782"),
        ("12-34-56-782", "123456782"),
        ("123.456.782", "123456782"),
        ("123\u00a0456\u00a0782", "123456782"),
        ("123\u202f456\u202f782", "123456782"),
        ("123\u2009456\u2009782", "123456782"),
        ("12\u201334\u201356\u2013782", "123456782"),
        ("12\u201134\u201156\u2011782", "123456782"),
        ("1 2 3 4 5 6 7 8 2", "123456782"),
        ("123 45-6.782", "123456782"),
        ("111 222 333", "111222333"),
        ("80817221", "080817221"),
        ("8081 7221", "080817221"),
        ("080817221", "080817221"),
    ],
)
def test_bsn_formats(text: str, expected: str) -> None:
    assert find_bsn(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "123456782 is het nummer",
        "Het nummer is 123456782",
        "Het nummer is 123456782.",
        "Het nummer is 123 456 782, graag verwerken",
        "Zaak van Jan (123.456.782) bij de gemeente",
        "bsn: 123456782",
        "BSN:123456782",
        "bsn 123456782 en tel 0612345678",
        "tel 0612345678 en bsn 123456782",
        "nummer\n123456782\nzie boven",
        "nummer\t123456782",
        "123456782\u2026",
        '"123456782"',
        "x/123456782/y",
        "https://example.org/personen/123456782",
        "scan_123456782.pdf",
        "€ 123456782",
        "€ 123.456.782",
    ],
)
def test_a_bsn_anywhere_in_a_sentence(text: str) -> None:
    assert find_bsn(text) == "123456782"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eerst 123456789 en dan 111222333", "111222333"),
        ("eerst 123 456 789 en dan 123 456 782", "123456782"),
        ("12345678 of 80817221", "080817221"),
        ("111222333 en 123456782", "111222333"),
        ("123456782 en 111222333", "123456782"),
    ],
)
def test_the_first_bsn_is_returned(text: str, expected: str) -> None:
    assert find_bsn(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Two numbers one space apart merge into one run of 18 digits: still both found.
        ("123456782 111222333", "123456782"),
        ("123456789 111222333", "111222333"),
        ("111 222 333 123 456 782", "111222333"),
        ("tel 06-1234 5678 123456782", "123456782"),
        ("tel 0612345678 123456782", "123456782"),
        ("nummers 1234.56.782 12", "123456782"),
        ("123 456 782 1", "123456782"),
        ("2 12-34-56-782", "123456782"),
        ("BR-2026-0001 123456782", "123456782"),
        ("BR-2026-0001 123 456 782", "123456782"),
    ],
)
def test_a_bsn_inside_a_longer_run_when_written_the_way_bsns_are(text: str, expected: str) -> None:
    assert find_bsn(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1234567821",  # ten bare digits: a number of its own, not a BSN
        "11122233312",
        "1234 5678 21",
        "123  456 782",  # two separators in a row end a run
        "123 - 456 - 782",
        "123/456/782",
        "123,456,782",
        "123_456_782",
    ],
)
def test_runs_that_do_not_read_as_one_bsn(text: str) -> None:
    assert elfproef("123456782")
    assert find_bsn(text) is None


def test_the_only_separators_are_the_documented_ones() -> None:
    assert find_bsn("123:456:782") is None
    assert find_bsn("123'456'782") is None
    assert find_bsn("123 456 782") == "123456782"


# --- find_bsn: codes -------------------------------------------------------------------------

BR_DIGITS = "20260003"  # BR-2026-0003: its eight digits pass the 11-test


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("BR-2026-0003", BR_DIGITS),
        ("aanvraag BR-2026-0003 is ingediend", BR_DIGITS),
        ("br-2026-0003", BR_DIGITS),
        ("BR\u20112026\u20110003", BR_DIGITS),
        ("Z-2026-123456782", "123456782"),
        ("Z2026123456782", "2026123456782"),
        ("Z123456782", "123456782"),
        ("ZK123456782", "123456782"),
        ("ZK-123456782", "123456782"),
        ("Z-1234.56.782", "123456782"),
        ("123456782A", "123456782"),
        ("zaak 123456782b", "123456782"),
        ("ÉÉN123456782", "123456782"),
    ],
)
def test_digits_glued_to_letters_are_a_code(text: str, digits: str) -> None:
    assert elfproef(digits[-9:]) or elfproef(digits)
    assert find_bsn(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Z 123456782",  # a letter then a space: a word, then a number
        "Jan 123456782",
        "BSN-123456782",  # a word naming the number is no code prefix
        "bsn123456782",
        "Bsn-123 456 782",
        "sofinummer123456782",
        "burgerservicenummer-123456782",
        "nr123456782",
        "nr.123456782",
        "-123456782",
        "Z-2026 123456782",  # the code ends at the space
        "Z. 123456782",
        "123456782-A",  # only a letter directly after makes a code
        "123456782 A",
    ],
)
def test_not_a_code(text: str) -> None:
    assert find_bsn(text) == "123456782"


# --- find_bsn: phone numbers -----------------------------------------------------------------

# The part after the trunk zero of each of these is nine digits passing the 11-test.
MOBILE_TAIL = "612345671"
LANDLINE_TAIL = "301234565"


@pytest.mark.parametrize(
    "text",
    [
        "06-12345671",
        "06 12345671",
        "0612345671",
        "06 1234 5671",
        "06-1234 5671",
        "06 12 34 56 71",
        "06-123 456 71",
        "+31 6 12345671",
        "+31612345671",
        "+31 612345671",
        "+31 (0)6 12345671",
        "+31 (0) 6 12345671",
        "+31 (0)6-12345671",
        "0031 6 12345671",
        "0031 612345671",
        "0031-612345671",
        "030 123 4565",
        "030-1234565",
        "0301234565",
        "+31 30 123 4565",
        "+31 (0)30 123 4565",
        "+31 (0)30 1234565",
        "bel me op 06-12345671 of 030 123 4565",
    ],
)
def test_phone_numbers_are_not_flagged(text: str) -> None:
    assert elfproef(MOBILE_TAIL)
    assert elfproef(LANDLINE_TAIL)
    assert find_bsn(text) is None


def test_random_phone_numbers_are_never_flagged() -> None:
    rng = random.Random(20261122)
    tails_passing = 0
    for _ in range(1_000):
        subscriber = f"{rng.randrange(10**8):08d}"
        area, local = f"{rng.randrange(10, 100)}", f"{rng.randrange(10**7):07d}"
        tails_passing += elfproef("6" + subscriber) + elfproef(area + local)
        for text in (
            f"06-{subscriber}",
            f"06 {subscriber}",
            f"06{subscriber}",
            f"06 {subscriber[:4]} {subscriber[4:]}",
            f"06 {' '.join(subscriber[i : i + 2] for i in range(0, 8, 2))}",
            f"+31 6 {subscriber}",
            f"+31 (0)6 {subscriber}",
            f"+316{subscriber}",
            f"0031 6{subscriber}",
            f"0{area}-{local}",
            f"0{area} {local[:3]} {local[3:]}",
            f"+31 {area} {local}",
            f"+31 (0){area} {local[:3]} {local[3:]}",
        ):
            assert find_bsn(f"bel {text} even") is None, text
    assert tails_passing > 100  # the loop really met numbers that would pass on their own


# --- find_bsn: dates, times and amounts ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "12-01-2026",
        "12.01.2026",
        "12 01 2026",
        "12\u00a001\u00a02026",
        "12\u201301\u20132026",
        "24-01-2026",
        "16.02.2026",
        "28 02 2026",
        "2026-01-06",
        "2026.01.06",
        "2026-02-09",
        "geboren op 12-01-2026 in Utrecht",
        "04-11-2026 7:30",  # the run "04-11-2026 7" has nine digits that pass
        "04-11-2026 7.30 uur",
        "op 12-01-2026 24-01-2026",
    ],
)
def test_dates_whose_digits_pass_are_not_flagged(text: str) -> None:
    assert elfproef("12012026")
    assert elfproef("20260106")
    assert elfproef("041120267")
    assert find_bsn(text) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("12012026", "eight bare digits: could be an old BSN"),
        ("12-01.2026", "mixed separators: not a date"),
        ("2026 01 06", "year first with spaces is not a way dates are written"),
        ("12-23-2026", "no month 23"),
        ("1201-2026", "not three groups"),
    ],
)
def test_what_is_not_a_date(text: str, why: str) -> None:
    assert elfproef(digits_of(text)), why
    assert find_bsn(text) is not None, why


def test_a_date_is_cut_out_and_the_rest_still_read() -> None:
    assert find_bsn("op 12-01-2026 123456782") == "123456782"
    assert find_bsn("123456782 12-01-2026") == "123456782"
    assert find_bsn("12-01-2026 80817221") == "080817221"


@pytest.mark.parametrize(
    ("text", "is_date"),
    [
        ("29-02-1960", True),  # a leap day
        ("29-02-1911", False),  # no such day: read as digits
        ("31-04-1905", False),
        ("01-13-1904", False),
        ("00-01-1903", False),
        ("05-01-1899", False),  # outside 1900-2099: not a date anyone here writes
        ("04-01-2100", False),
    ],
)
def test_calendar_validity_decides_what_is_a_date(text: str, is_date: bool) -> None:
    assert elfproef(digits_of(text))
    assert (find_bsn(text) is None) is is_date


def test_every_day_in_every_written_form_is_a_date() -> None:
    day = dt.date(1990, 1, 1)
    passing = 0
    while day < dt.date(2036, 1, 1):
        for form in ("%d-%m-%Y", "%d.%m.%Y", "%d %m %Y", "%Y-%m-%d", "%Y.%m.%d"):
            written = day.strftime(form)
            passing += elfproef(digits_of(written))
            assert find_bsn(f"op {written} gezien") is None, written
        day += dt.timedelta(days=1)
    assert passing > 1_000


@pytest.mark.parametrize(
    "text",
    [
        "€ 123.456.782,00",
        "EUR 123456782,50",
        "123.456.782,-",
        "een boete van 123 456 782,00 euro",
        "1.234.567,82",  # seven digits before the comma: no candidate anyway
    ],
)
def test_amounts_with_a_decimal_comma_are_not_flagged(text: str) -> None:
    assert find_bsn(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "123456782,5",  # one decimal: not the amount shape
        "123456782,123",
        "123456782,111222333",
        "123456782, 00",
    ],
)
def test_a_comma_alone_does_not_make_an_amount(text: str) -> None:
    assert find_bsn(text) == "123456782"


@pytest.mark.parametrize(
    "text",
    [
        "3512 AB Utrecht",
        "om 10:00 uur",
        "10:00-12:00",
        "art. 13b Opiumwet",
        "NL91 ABNA 0417 1643 00",
        "NL91ABNA0417164300",
        "",
        "geen nummers hier",
    ],
)
def test_ordinary_text_is_not_flagged(text: str) -> None:
    assert find_bsn(text) is None


# --- property: generated BSNs in generated sentences -----------------------------------------

PREFIXES = [
    "Het BSN is",
    "bsn:",
    "Zaak van Jan, BSN",
    "Graag rapportage over persoon met nummer",
    "Betrokkene (geboren 12-01-2026) heeft",
    "Na overleg met politie op 04-11-2026 om 10:00 noemde men",
    "Bel 06-12345671 of 030 123 4565; het gaat om",
    "(",
    "",
]
SUFFIXES = [
    "",
    ".",
    " is het nummer.",
    ", graag spoedig verwerken.",
    ")",
    " (zie dossier BR-2026-0003)",
    "; tel +31 (0)6 12345671",
    " en verder niets op 24-01-2026.",
    "\nMet vriendelijke groet",
]
# Prefixes ending in digits merge with the number into one run; a BSN layout is still found.
NUMBER_PREFIXES = ["over BR-2026-0001", "over BR-2026-0003 en"]


def layouts(number: str) -> list[str]:
    return [
        number,
        f"{number[:3]} {number[3:6]} {number[6:]}",
        f"{number[:4]}.{number[4:6]}.{number[6:]}",
        f"{number[:2]}-{number[2:4]}-{number[4:6]}-{number[6:]}",
    ]


def sentence(rng: random.Random, written: str, prefixes: list[str]) -> tuple[str, str, str]:
    prefix, suffix = rng.choice(prefixes), rng.choice(SUFFIXES)
    lead = "" if prefix in ("", "(") else " "
    return f"{prefix}{lead}", written, suffix


def test_generated_bsns_are_found_and_redacted_in_generated_sentences() -> None:
    rng = random.Random(20261122)
    for _ in range(2_000):
        first_eight = f"{rng.randrange(10**8):08d}"
        check = check_digit(first_eight)
        if check is None or not elfproef(first_eight + check):
            continue
        number = first_eight + check
        written = rng.choice(layouts(number))
        prefixes = PREFIXES + NUMBER_PREFIXES
        if number.startswith("0") and rng.random() < 0.3:
            written, prefixes = number[1:], PREFIXES  # the old 8-digit form
        before, middle, after = sentence(rng, written, prefixes)
        text = before + middle + after
        assert find_bsn(text) == number, text
        assert redact_bsn(text) == before + REDACTION + after, text
        assert check_free_text(text, max_length=10_000).problem is FreeTextProblem.BSN


def test_generated_numbers_failing_the_test_are_never_found() -> None:
    rng = random.Random(20261122)
    checked = 0
    while checked < 2_000:
        number = f"{rng.randrange(10**9):09d}"
        if elfproef(number):
            continue
        checked += 1
        before, middle, after = sentence(rng, rng.choice(layouts(number)), PREFIXES)
        text = before + middle + after
        assert find_bsn(text) is None, text
        assert redact_bsn(text) == text


# --- check_free_text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "max_length", "min_length", "verdict"),
    [
        ("", 10, 1, FreeTextVerdict(ok=False, problem=FreeTextProblem.EMPTY)),
        ("   \n\t ", 10, 1, FreeTextVerdict(ok=False, problem=FreeTextProblem.EMPTY)),
        ("\u00a0", 10, 5, FreeTextVerdict(ok=False, problem=FreeTextProblem.EMPTY)),
        ("x" * 11, 10, 1, FreeTextVerdict(ok=False, problem=FreeTextProblem.TOO_LONG, limit=10)),
        ("abc", 10, 5, FreeTextVerdict(ok=False, problem=FreeTextProblem.TOO_SHORT, limit=5)),
        ("  abc  ", 10, 5, FreeTextVerdict(ok=False, problem=FreeTextProblem.TOO_SHORT, limit=5)),
        ("  " + "x" * 10 + "  ", 10, 1, FreeTextVerdict(ok=True)),
        ("x" * 10, 10, 10, FreeTextVerdict(ok=True)),
        ("x", 10, 1, FreeTextVerdict(ok=True)),
        ("bsn 123456782", 100, 1, FreeTextVerdict(ok=False, problem=FreeTextProblem.BSN)),
        ("123456782 " + "x" * 200, 100, 1, FreeTextVerdict(ok=False, problem=FreeTextProblem.BSN)),
        ("123456782", 100, 50, FreeTextVerdict(ok=False, problem=FreeTextProblem.BSN)),
        ("bel 06-12345671", 100, 1, FreeTextVerdict(ok=True)),
    ],
)
def test_check_free_text(
    text: str, max_length: int, min_length: int, verdict: FreeTextVerdict
) -> None:
    assert check_free_text(text, max_length=max_length, min_length=min_length) == verdict


def test_a_bsn_beats_too_long_so_shortening_cannot_keep_it() -> None:
    verdict = check_free_text("x" * 500 + " 123 456 782", max_length=20)
    assert verdict == FreeTextVerdict(ok=False, problem=FreeTextProblem.BSN)
    assert verdict.limit is None


def test_problems_are_codes_for_the_dialogs() -> None:
    assert [p.value for p in FreeTextProblem] == ["empty", "too_short", "too_long", "bsn"]
    assert f"text_{FreeTextProblem.TOO_LONG}" == "text_too_long"


def test_a_verdict_is_immutable() -> None:
    verdict = check_free_text("ok", max_length=10)
    with pytest.raises(AttributeError):
        verdict.ok = False  # type: ignore[misc]


# --- redact_bsn ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bsn 123456782", f"bsn {REDACTION}"),
        ("123 456 782 en 111.222.333", f"{REDACTION} en {REDACTION}"),
        ("123456782 111222333", f"{REDACTION} {REDACTION}"),
        ("a 123456782, b 123456782.", f"a {REDACTION}, b {REDACTION}."),
        (
            "bsn 123456782, tel 06-12345671 of +31 (0)30 123 4565, BR-2026-0003 op 12-01-2026",
            f"bsn {REDACTION}, tel 06-12345671 of +31 (0)30 123 4565, BR-2026-0003 op 12-01-2026",
        ),
        ("€ 123.456.782,00 voor 123456782", f"€ 123.456.782,00 voor {REDACTION}"),
        ("niets te zien", "niets te zien"),
        ("", ""),
    ],
)
def test_redact_bsn(text: str, expected: str) -> None:
    assert redact_bsn(text) == expected


def test_redaction_repeats_until_nothing_is_left() -> None:
    # Cutting 123456782 out of the run leaves "8081 7221": a run of its own and an old BSN.
    text = "1 123456782 8081 7221"
    assert find_bsn(text) == "123456782"
    redacted = redact_bsn(text)
    assert find_bsn(redacted) is None
    assert redacted == f"1 {REDACTION} {REDACTION}"


def test_redacted_text_never_holds_a_bsn() -> None:
    rng = random.Random(20261122)
    for _ in range(500):
        pieces = [
            rng.choice(["", " ", "  ", "-", ".", ", ", " en "])
            + rng.choice(VALID_9 + VALID_8 + ["06-12345671", "12-01-2026", "12345", "7"])
            for _ in range(rng.randrange(1, 8))
        ]
        redacted = redact_bsn("".join(pieces))
        assert find_bsn(redacted) is None, pieces
        assert redact_bsn(redacted) == redacted


# --- the module stays pure -------------------------------------------------------------------


def test_the_module_imports_only_the_standard_library_it_needs() -> None:
    tree = ast.parse(Path(bot.privacy.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "re", "dataclasses", "enum"}


# --- Properties (hypothesis) -------------------------------------------------------------------

_LAYOUT_CHOICES = ((9,), (3, 3, 3), (4, 2, 3), (2, 2, 2, 3))
_SEPARATORS = (" ", "\u00a0", "\u2009", "\u202f", ".", "-", "\u2011", "\u2013")


# Nine digits passing the (independent) 11-test: eight drawn, the ninth solved; one draw in
# eleven has no check digit, and a zero weighted sum ("000000012") is no number.
valid_bsns = (
    st.integers(min_value=1, max_value=99_999_999)
    .map(lambda number: f"{number:08d}")
    .filter(lambda first: check_digit(first) is not None)
    .map(lambda first: first + str(check_digit(first)))
    .filter(elfproef)
)


@st.composite
def written(draw: st.DrawFn, bsn: str) -> str:
    """A BSN the way people type it: one layout, one kind of separator."""
    layout = draw(st.sampled_from(_LAYOUT_CHOICES))
    separator = draw(st.sampled_from(_SEPARATORS))
    groups, at = [], 0
    for size in layout:
        groups.append(bsn[at : at + size])
        at += size
    return separator.join(groups)


# Text around a number: words and punctuation, never a digit, and a space at the seam so the
# number is neither glued to a code ("ZK123…") nor read as a phone number ("+31…") or an amount.
_WORDS = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéëïöü ABCDEFGHIJKLMNOPQRSTUVWXYZ:;!?'()\n"),
    max_size=40,
)


@given(data=st.data(), bsn=valid_bsns, before=_WORDS, after=_WORDS)
def test_any_valid_bsn_typed_any_common_way_is_found_and_refused(
    data: st.DataObject, bsn: str, before: str, after: str
) -> None:
    typed = data.draw(written(bsn))
    text = f"{before} {typed} {after}"
    assert find_bsn(text) == bsn
    verdict = check_free_text(text, max_length=10_000)
    assert verdict.problem is FreeTextProblem.BSN
    redacted = redact_bsn(text)
    assert find_bsn(redacted) is None
    assert bsn not in re.sub(r"\D", "", redacted)


@given(st.text(max_size=200))
def test_redacting_any_text_leaves_no_bsn(text: str) -> None:
    assert find_bsn(redact_bsn(text)) is None


@given(st.text(alphabet=st.sampled_from("0123456789 .-\u00a0abc,+()"), max_size=80))
def test_whatever_is_found_passes_the_eleven_test(text: str) -> None:
    found = find_bsn(text)
    assert found is None or is_valid_bsn(found)


@given(st.integers(min_value=10_000_000, max_value=999_999_999))
def test_a_lone_number_is_flagged_exactly_when_it_passes_the_eleven_test(number: int) -> None:
    digits = str(number)
    expected = digits.zfill(9) if is_valid_bsn(digits) else None
    assert find_bsn(f"nummer {digits} graag") == expected
