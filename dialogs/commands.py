"""Recognising typed commands. Users type Dutch in many forms ("Help!", "hulp", "@Bot help")."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Command(StrEnum):
    HELP = "help"
    CANCEL = "annuleer"


_ALIASES: dict[str, Command] = {
    "help": Command.HELP,
    "hulp": Command.HELP,
    "menu": Command.HELP,
    "?": Command.HELP,
    "wat kun je": Command.HELP,
    "annuleer": Command.CANCEL,
    "annuleren": Command.CANCEL,
    "stop": Command.CANCEL,
    "cancel": Command.CANCEL,
}


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces, no trailing punctuation (keeps a lone '?')."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"\s+", " ", plain.strip().lower())
    return plain if plain == "?" else plain.rstrip("!?.")


def recognise(text: str) -> Command | None:
    return _ALIASES.get(normalise(text))
