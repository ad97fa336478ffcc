"""Recognising typed commands. Users type Dutch in many forms ("Help!", "hulp", "@Bot help")."""

from __future__ import annotations

from enum import StrEnum

from bot.textnorm import normalise


class Command(StrEnum):
    HELP = "help"
    CANCEL = "annuleer"
    NEW_REQUEST = "nieuwe aanvraag"
    MY_REQUESTS = "mijn aanvragen"
    BACK = "terug"
    STATUS = "status"
    BEHEER = "beheer"
    LINK = "koppel"
    UNLINK = "ontkoppel"


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
    "nieuwe aanvraag": Command.NEW_REQUEST,
    "aanvraag": Command.NEW_REQUEST,
    "nieuwe rapportage": Command.NEW_REQUEST,
    "rapportage aanvragen": Command.NEW_REQUEST,
    "br aanvragen": Command.NEW_REQUEST,
    "mijn aanvragen": Command.MY_REQUESTS,
    "aanvragen": Command.MY_REQUESTS,
    "overzicht": Command.MY_REQUESTS,
    "terug": Command.BACK,
    "vorige": Command.BACK,
    "status": Command.STATUS,
}


def recognise(text: str) -> Command | None:
    plain = normalise(text)
    # "beheer …" carries arguments (names, places); dialogs.beheer parses the rest.
    first = plain.split(" ", 1)[0]
    if first == "beheer":
        return Command.BEHEER
    # "koppel dit kanaal aan basisteam X elke dinsdag om 10:00": dialogs.sturingsoverleg.
    if first in ("koppel", "koppelen"):
        return Command.LINK
    if first in ("ontkoppel", "ontkoppelen"):
        return Command.UNLINK
    return _ALIASES.get(plain)
