"""Adaptive Cards and Dutch message texts from Jinja2 templates.

Every `{{ expression }}` in a card template is emitted as a JSON value (strings quoted and
escaped), so user text can never break a card's JSON or inject elements; templates therefore
write `"text": {{ title }}` without quotes. The result is parsed and checked before it leaves
this module, so a broken template fails in tests, not in a user's chat.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

# Teams renders Adaptive Cards up to schema 1.5; the issue sets a hard budget for the body.
MAX_CARD_VERSION = (1, 5)
MAX_CARD_BYTES = 80 * 1024


class CardError(Exception):
    """A template rendered to something that is not a valid card."""


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@cache
def _card_environment() -> Environment:
    return Environment(
        loader=PackageLoader("cards", "templates"),
        undefined=StrictUndefined,
        finalize=_as_json,
        autoescape=False,  # noqa: S701 - output is JSON; finalize encodes every value
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@cache
def _messages() -> dict[str, str]:
    raw = yaml.safe_load(files("cards").joinpath("messages.yaml").read_text(encoding="utf-8"))
    return {str(key): str(value) for key, value in raw.items()}


@cache
def _text_environment() -> Environment:
    return Environment(undefined=StrictUndefined, autoescape=False)  # noqa: S701 - plain text


def render(name: str, **context: Any) -> dict[str, Any]:
    """Render `templates/<name>.json.j2` into a checked Adaptive Card dict."""
    source = _card_environment().get_template(f"{name}.json.j2").render(**context)
    try:
        card = json.loads(source)
    except json.JSONDecodeError as error:
        raise CardError(f"card {name!r} is not valid JSON: {error}") from error
    check(card, name)
    return card


def check(card: Any, name: str = "card") -> None:
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        raise CardError(f"{name}: top-level type must be AdaptiveCard")
    try:
        major, minor = (int(part) for part in str(card.get("version", "")).split("."))
    except ValueError as error:
        raise CardError(f"{name}: version must look like 1.5") from error
    if (major, minor) > MAX_CARD_VERSION:
        raise CardError(f"{name}: version {major}.{minor} is newer than Teams renders")
    size = len(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    if size > MAX_CARD_BYTES:
        raise CardError(f"{name}: {size} bytes is over the {MAX_CARD_BYTES} byte budget")


def text(key: str, **context: Any) -> str:
    """A Dutch plain-text message from `messages.yaml`, with Jinja placeholders filled in."""
    try:
        template = _messages()[key]
    except KeyError as error:
        raise KeyError(f"no message {key!r} in cards/messages.yaml") from error
    return _text_environment().from_string(template).render(**context).strip()


def template_names() -> list[str]:
    root = files("cards").joinpath("templates")
    return sorted(
        entry.name.removesuffix(".json.j2")
        for entry in root.iterdir()
        if entry.name.endswith(".json.j2")
    )
