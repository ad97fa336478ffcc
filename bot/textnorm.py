"""Normalising what people type, shared by command recognition and answer matching (pure)."""

from __future__ import annotations

import re
import unicodedata


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces, no trailing punctuation (keeps a lone '?')."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"\s+", " ", plain.strip().lower())
    return plain if plain == "?" else plain.rstrip("!?.")


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", normalise(text))
