"""Domain: the weekly sturingsoverleg, its digest slots and nudges (pure: callers pass the time).

A team coordinator links a Teams channel by typing, in Dutch, something like "koppel dit kanaal
aan basisteam Heuvelrug elke dinsdag om 10:00". The bot then posts the agenda (the digest) a
fixed lead time before every meeting, and nudges people a few working days before a due date.

Meetings are wall-clock appointments in the team's time zone: "dinsdag 10:00" stays 10:00 in
Amsterdam when summer time starts or ends, so its UTC instant moves by an hour twice a year. All
arithmetic on the rhythm therefore happens on local dates and only the final instant is converted.
The lead before a meeting is elapsed time (a `timedelta` subtracted from the UTC instant), which is
what the scheduler compares against; the two only differ for leads that span a DST switch.

Parsing follows `bot.dutch_dates`: a short grammar of the forms people actually type, and None
for anything else, so the dialog asks again instead of scheduling a wrong meeting. Only weekly
meetings exist here; "om de week" or "elke maand" is None rather than silently weekly.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.deadlines import WorkingCalendar
from bot.textnorm import normalise

WEEKDAY_NAMES: tuple[str, ...] = (
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
)
"""Dutch weekday names, indexed like `date.weekday()` (0 = Monday)."""

# Abbreviations people use in chat. Two letters are the calendar standard; the longer ones are
# the common clipped forms. Nothing shorter or in between ("maa", "vri") is accepted, and none
# of these is also a word that shows up next to a time in a Dutch sentence.
_SHORT_WEEKDAYS: dict[str, int] = {
    "ma": 0,
    "di": 1,
    "wo": 2,
    "do": 3,
    "vr": 4,
    "za": 5,
    "zo": 6,
    "din": 1,
    "woe": 2,
    "don": 3,
    "vrij": 4,
    "zat": 5,
    "zon": 6,
}

_MORNING, _AFTERNOON, _EVENING = "ochtend", "middag", "avond"

# "dinsdagochtend", "op dinsdagmiddagen": the part of the day glued to the weekday.
_DAYPART_SUFFIXES: dict[str, str] = {
    "ochtend": _MORNING,
    "ochtenden": _MORNING,
    "morgen": _MORNING,
    "middag": _AFTERNOON,
    "middagen": _AFTERNOON,
    "avond": _EVENING,
    "avonden": _EVENING,
}

# "om 2 uur 's middags": the part of the day after the time.
_DAYPART_ADVERBS: dict[str, str] = {
    "ochtends": _MORNING,
    "morgens": _MORNING,
    "middags": _AFTERNOON,
    "avonds": _EVENING,
}


def _alternation(words: Iterable[str]) -> str:
    """Longest first, so a regex alternation never settles for a prefix ("do" of "don")."""
    return "|".join(sorted((re.escape(word) for word in words), key=len, reverse=True))


_APOSTROPHE = "['’`]"  # Phones type a curly apostrophe in "'s middags".

# A weekday word: a full name with an optional plural, adverbial "s" or part of the day, or an
# abbreviation with an optional full stop ("di.").
_DAY = (
    rf"(?:(?P<full>{_alternation(WEEKDAY_NAMES)})"
    rf"(?P<form>{_alternation(_DAYPART_SUFFIXES)}|en|s)?"
    rf"|(?P<short>{_alternation(_SHORT_WEEKDAYS)})\.?)"
)
_LEAD = (
    r"(?:(?:elke|iedere|elk|ieder) (?:week (?:op )?)?|wekelijks,? (?:op )?|op "
    rf"|{_APOSTROPHE}s )?"
)
_TIME = (
    r"(?P<om>om )?(?P<hour>\d{1,2})"
    r"(?:[:.](?P<minute>\d{2})|[uh](?P<uminute>\d{2}))?"
    r"(?P<uur> ?(?:uur|u))?"
    rf"(?: (?:{_APOSTROPHE}s )?(?P<adverb>{_alternation(_DAYPART_ADVERBS)}))?"
)
_RHYTHM_PATTERNS = (
    re.compile(rf"{_LEAD}{_DAY},? {_TIME}"),  # "elke dinsdag om 10:00"
    re.compile(rf"{_TIME},? {_LEAD}{_DAY}"),  # "om 10:00 op dinsdag"
)
_DAY_WORD = re.compile(_DAY)


@dataclass(frozen=True)
class MeetingRhythm:
    """A weekly meeting at a local wall-clock time; frozen so it can be compared and shared."""

    weekday: int
    """0 = Monday … 6 = Sunday, as `date.weekday()`."""
    time: dt.time
    """Local wall-clock time in the team's time zone, whole minutes, no tzinfo."""

    def __post_init__(self) -> None:
        # Checked here so a rhythm that `to_text` cannot store faithfully never exists.
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if self.time.tzinfo is not None:
            raise ValueError("time is a local wall-clock time and must not carry a tzinfo")
        if self.time.second or self.time.microsecond:
            raise ValueError(f"time must be whole minutes, got {self.time.isoformat()}")

    def describe(self) -> str:
        """How the bot says the rhythm back, so the user can check it read them right."""
        return f"elke {WEEKDAY_NAMES[self.weekday]} om {self.time:%H:%M}"

    def to_text(self) -> str:
        """Storage form "1 10:00" (weekday number, then HH:MM): short, sortable, not Dutch.

        Independent of `describe` so rewording what the bot says never invalidates stored rows.
        """
        return f"{self.weekday} {self.time:%H:%M}"

    @classmethod
    def from_text(cls, text: str) -> MeetingRhythm:
        """Read `to_text` output back; strict, because anything else is a corrupted row."""
        match = re.fullmatch(r"([0-6]) ([01]\d|2[0-3]):([0-5]\d)", text, re.ASCII)
        if match is None:
            raise ValueError(f"not a stored meeting rhythm: {text!r}")
        return cls(int(match[1]), dt.time(int(match[2]), int(match[3])))


def parse_rhythm(text: str) -> MeetingRhythm | None:
    """The weekly meeting in `text` as a Dutch user types it, or None when it is not one.

    A bare number needs "om" or "uur" to be a time: "dinsdag 10" may as well mean Tuesday the
    10th. A part of the day turns a 12-hour time into a 24-hour one ("dinsdagavond om 7" is
    19:00) and must agree with the time ("dinsdagochtend om 15:00" is None): when the two
    contradict each other we cannot know which half the user meant.
    """
    plain = normalise(text)
    for pattern in _RHYTHM_PATTERNS:
        match = pattern.fullmatch(plain)
        if match is not None:
            return _rhythm_from(match)
    return None


def _rhythm_from(match: re.Match[str]) -> MeetingRhythm | None:
    if not (match["minute"] or match["uminute"] or match["om"] or match["uur"]):
        return None
    weekday = _weekday_of(match)
    suffix = _DAYPART_SUFFIXES.get(match["form"] or "")
    adverb = _DAYPART_ADVERBS.get(match["adverb"] or "")
    if suffix and adverb and suffix != adverb:
        return None
    hour = _hour_in(int(match["hour"]), suffix or adverb)
    minute = int(match["minute"] or match["uminute"] or 0)
    if hour is None or not 0 <= hour <= 23 or not 0 <= minute <= 59:
        return None
    return MeetingRhythm(weekday, dt.time(hour, minute))


def _weekday_of(match: re.Match[str]) -> int:
    if match["full"]:
        return WEEKDAY_NAMES.index(match["full"])
    return _SHORT_WEEKDAYS[match["short"]]


def _hour_in(hour: int, daypart: str | None) -> int | None:
    """The 24-hour hour for `hour` said in `daypart`, or None when they cannot go together.

    The afternoon runs to 18:00 and the evening from 17:00 because that is where Dutch usage
    overlaps ("om 6 uur 's middags", "om 5 uur 's avonds"); the morning ends at noon.
    """
    if daypart is None:
        return hour
    if daypart == _MORNING:
        return hour if hour < 12 else None
    if daypart == _AFTERNOON:
        if 12 <= hour <= 18:
            return hour
        return hour + 12 if 1 <= hour <= 6 else None
    if 17 <= hour <= 23:
        return hour
    return hour + 12 if 5 <= hour <= 11 else None


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time would be read as the server's local time: an environment dependency.
        raise ValueError(f"{name} must be timezone-aware")


def meeting_at(rhythm: MeetingRhythm, day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of the meeting on local date `day`, which must be the rhythm's weekday.

    The wall-clock time is combined with the date in `tz` and only then converted, so the
    meeting stays at 10:00 local on both sides of a DST switch. A time that does not exist
    locally (02:30 on the last Sunday of March) is read with fold=0, i.e. with the offset from
    before the switch, which lands the same amount of time after the gap (03:30 summer time). A
    time that exists twice (02:30 on the last Sunday of October) is its first occurrence, still
    summer time. Neither arises for an office meeting; both are defined so that the scheduler
    never sees an error or a meeting that silently moves a day.
    """
    if day.weekday() != rhythm.weekday:
        raise ValueError(
            f"{day.isoformat()} is a {WEEKDAY_NAMES[day.weekday()]}, "
            f"the meeting is on {WEEKDAY_NAMES[rhythm.weekday]}"
        )
    return dt.datetime.combine(day, rhythm.time, tzinfo=tz).astimezone(dt.UTC)


def latest_digest_slot(
    rhythm: MeetingRhythm, now: dt.datetime, lead: dt.timedelta, tz: ZoneInfo
) -> dt.datetime:
    """The meeting (UTC) of the latest digest that is due at `now`: the last M with M - lead <= now.

    The scheduler wakes up at arbitrary moments and asks which agenda should exist by now; the
    answer names the meeting rather than the digest time because the meeting identifies the
    digest (one per team per meeting), and a sweep that was down for a while still finds it.
    """
    _require_aware(now, "now")
    # Start from the local date on which a meeting would have its digest exactly now, step back
    # to the rhythm's weekday, then correct by whole weeks: the meeting on that date may be
    # later in the day than now + lead.
    target = (now + lead).astimezone(tz).date()
    day = target - dt.timedelta(days=(target.weekday() - rhythm.weekday) % 7)
    week = dt.timedelta(days=7)
    while meeting_at(rhythm, day, tz) - lead > now:
        day -= week
    while meeting_at(rhythm, day + week, tz) - lead <= now:
        day += week
    return meeting_at(rhythm, day, tz)


def next_digest_slot(
    rhythm: MeetingRhythm, now: dt.datetime, lead: dt.timedelta, tz: ZoneInfo
) -> dt.datetime:
    """The meeting (UTC) of the first digest still to come: the earliest M with M - lead > now.

    Always the meeting a week (on the local calendar) after `latest_digest_slot`, so the two
    split time without a gap or overlap: at any moment exactly one of them owns a meeting.
    """
    latest = latest_digest_slot(rhythm, now, lead, tz)
    return meeting_at(rhythm, latest.astimezone(tz).date() + dt.timedelta(days=7), tz)


def nudge_at(
    due_at: dt.datetime,
    working_days_before: int,
    tz: ZoneInfo,
    calendar: WorkingCalendar,
    *,
    at: dt.time = dt.time(8, 0),
) -> dt.datetime:
    """When to remind someone of `due_at` (UTC): morning of a working day before the due day.

    The due day is the local date of `due_at` (deadlines are the end of a local day, see
    `WorkingCalendar.due_at`). Nudges always go out at the same local time `at` rather than a
    fixed number of hours before the deadline, so that everything one person has due on nearby
    days falls at one moment and merges into one message, and nobody is pinged at midnight. With
    0 working days the nudge is the morning of the due day, or of the working day before it.
    """
    _require_aware(due_at, "due_at")
    due_day = due_at.astimezone(tz).date()
    day = calendar.subtract_working_days(due_day, working_days_before)
    return dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)


# Commands typed in a channel. Teams puts the bot's mention in front ("<at>Rapportagebot</at>");
# `TurnContext.remove_recipient_mention` normally strips it, but not every path calls it.
_MENTION = re.compile(r"\s*(?:<at>.*?</at>|@\S+)\s*", re.IGNORECASE)
_TOKEN = re.compile(r"\S+")
_PUNCTUATION = ",;:"
_QUOTES = "'\"‘’“”"


@dataclass(frozen=True)
class _Token:
    start: int
    plain: str


def _tokens(text: str) -> tuple[str, list[_Token]]:
    """`text` without leading mentions, and its words normalised with their offsets in it.

    Offsets, because the team name is returned as typed (case and all) while recognising the
    words around it is accent- and case-insensitive.
    """
    text = html.unescape(text)
    while match := _MENTION.match(text):
        text = text[match.end() :]
    text = text.strip().rstrip("!?.").strip()
    return text, [
        _Token(match.start(), normalise(match.group()).strip(_PUNCTUATION))
        for match in _TOKEN.finditer(text)
    ]


def _skip(tokens: list[_Token], index: int, *phrases: tuple[str, ...]) -> int:
    """Past the first of `phrases` that the words at `index` spell, or `index` when none does."""
    for phrase in phrases:
        words = tuple(token.plain for token in tokens[index : index + len(phrase)])
        if words == phrase:
            return index + len(phrase)
    return index


_THIS_CHANNEL = (("dit", "kanaal"), ("het", "kanaal"), ("deze", "kanaal"), ("kanaal",))
_THE_TEAM = (("het", "basisteam"), ("basisteam",), ("het", "team"), ("team",))
_CHANNEL_AT_END = re.compile(
    r"\s+(?:aan|met|van)\s+(?:(?:dit|het|deze)\s+)?kanaal\s*$", re.IGNORECASE
)


def _name(text: str, tokens: list[_Token], start: int, end: int) -> str:
    """The team name between two word positions as typed, without punctuation around it.

    Also drops a trailing "aan dit kanaal", for "koppel basisteam X aan dit kanaal".
    """
    if start >= end:
        return ""
    stop = tokens[end].start if end < len(tokens) else len(text)
    name = text[tokens[start].start : stop].strip()
    name = _CHANNEL_AT_END.sub("", name)
    return name.strip().rstrip(_PUNCTUATION).strip().strip(_QUOTES).strip()


@dataclass(frozen=True)
class LinkCommand:
    """What "koppel dit kanaal aan basisteam X <rhythm>" asked for, before anything is looked up."""

    basisteam: str
    """The team name as typed (stripped, original case); '' when none was given."""
    rhythm: MeetingRhythm | None
    rhythm_text: str
    """The rhythm as typed, '' when none: lets the bot say which part it did not understand."""


_RHYTHM_LEADS = frozenset({"elke", "elk", "iedere", "ieder", "wekelijks", "om", "'s", "’s", "`s"})
_FREQUENCY = re.compile(r"(?:twee|drie|vier)?(?:wekelijks|maandelijks|dagelijks)e?")
_TIME_WORD = re.compile(r"\d{1,2}(?:[:.]\d{2}|[uh]\d{0,2}|uur)")


def _starts_rhythm(tokens: list[_Token], index: int) -> bool:
    """Whether the rhythm part (which ends the command) begins at word `index`.

    Deliberately generous, so that a rhythm the bot cannot read ("om de week op dinsdag") is
    reported back instead of being glued to the team name. "op" only counts before a weekday or
    another rhythm word: "Bergen op Zoom" is a place.
    """
    word = tokens[index].plain
    if word == "op":
        following = tokens[index + 1].plain if index + 1 < len(tokens) else ""
        return bool(_DAY_WORD.fullmatch(following)) or following in _RHYTHM_LEADS
    return bool(
        word in _RHYTHM_LEADS
        or _DAY_WORD.fullmatch(word)
        or _FREQUENCY.fullmatch(word)
        or _TIME_WORD.fullmatch(word)
    )


def parse_link_command(text: str) -> LinkCommand | None:
    """Split "koppel dit kanaal aan basisteam X elke dinsdag om 10:00" into team and rhythm.

    None when the text is not a koppel command. The team name is not validated here (the
    caller matches it against the basisteams it knows), and the words before it ("dit kanaal",
    "aan", "basisteam") are all optional, because people leave them out.
    """
    text, tokens = _tokens(text)
    if not tokens or tokens[0].plain not in ("koppel", "koppelen"):
        return None
    index = _skip(tokens, 1, *_THIS_CHANNEL)
    index = _skip(tokens, index, ("aan",), ("met",))
    name_start = _skip(tokens, index, *_THE_TEAM)
    rhythm_start = next(
        (i for i in range(name_start, len(tokens)) if _starts_rhythm(tokens, i)), len(tokens)
    )
    rhythm_text = text[tokens[rhythm_start].start :].strip() if rhythm_start < len(tokens) else ""
    return LinkCommand(
        basisteam=_name(text, tokens, name_start, rhythm_start),
        rhythm=parse_rhythm(rhythm_text) if rhythm_text else None,
        rhythm_text=rhythm_text,
    )


@dataclass(frozen=True)
class UnlinkCommand:
    """What "ontkoppel [dit kanaal] [van basisteam X]" asked for."""

    basisteam: str | None
    """The team name as typed, or None: every basisteam linked to this channel."""


_EVERY_TEAM = frozenset({"alles", "allemaal", "alle basisteams", "alle teams", "iedereen"})


def parse_unlink_command(text: str) -> UnlinkCommand | None:
    """The team to unlink from this channel (None: all), or None for another command."""
    text, tokens = _tokens(text)
    if not tokens or tokens[0].plain not in ("ontkoppel", "ontkoppelen"):
        return None
    index = _skip(tokens, 1, *_THIS_CHANNEL)
    index = _skip(tokens, index, ("los", "van"), ("van",), ("los",))
    index = _skip(tokens, index, *_THE_TEAM)
    name = _name(text, tokens, index, len(tokens))
    if not name or normalise(name) in _EVERY_TEAM:
        return UnlinkCommand(basisteam=None)
    return UnlinkCommand(basisteam=name)
