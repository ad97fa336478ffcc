"""Adaptive Cards and Dutch message texts from Jinja2 templates.

Every `{{ expression }}` in a card template is emitted as a JSON value (strings quoted and
escaped), so user text can never break a card's JSON or inject elements; templates therefore
write `"text": {{ title }}` without quotes. The result is parsed and checked before it leaves
this module, so a broken template fails in tests, not in a user's chat.

One template per card; what differs per client is applied afterwards by `for_channel(card,
channel)`, at the edge that knows where the card goes (the turn's channel, or the recipient's
stored conversation in the outbox). Teams (`msteams`) gets the card exactly as rendered:
Universal Actions (`Action.Execute` with an `Action.Submit` fallback) and Teams' own
`Action.Submit` data (`{"msteams": {"type": "imBack" | "messageBack", ...}}`). Every other client
(Bot Framework Web Chat, Direct Line, the Emulator) gets a card it can use. Web Chat 4.x renders
cards with Microsoft's renderer but handles only `Action.Submit` and `Action.OpenUrl`: an
`Action.Execute` does nothing there, and its fallback is never used because the renderer knows
the element. Its `Action.Submit` handling (botframework-webchat, packages/bundle/src/adaptiveCards/
Attachment/AdaptiveCardRenderer.tsx, and the card-action middleware and sagas in packages/api and
packages/core) is:

- string `data` -> an imBack: a message activity whose `text` is the string, shown as typed;
- `{"__isBotFrameworkCardAction": true, "cardAction": {...}}` -> that card action as is, so a
  messageBack becomes a message with `text`, `value` and `channelData.messageBack.displayText`;
- any other object -> a postBack: a message activity with no text, `value` = the data merged with
  the card's input values (the Adaptive Cards renderer merges them), `channelData.postBack`.

A `{"msteams": ...}` object is not understood there; it would arrive as a postBack value. So for
any channel other than Teams:

- `Action.Execute` -> `{"type": "Action.Submit", "data": {**data, "verb": verb}}` (its fallback
  and the card's `refresh` go: they only matter to Teams). **The card-action message**: such a
  button arrives as a `message` activity without text whose `value` is an object with a string
  `verb` plus the card's data and input values, e.g. `{"verb": "accepteren", "reference":
  "BR-2026-0001", "version": 1}`. The bot handles it exactly like the `adaptiveCard/action` invoke
  of the same verb; who acts is the activity's sender, never anything in `value`.
- msteams imBack -> string `data` (with `associatedInputs: "none"`, so the renderer does not try
  to merge input values into a string): the text arrives as a typed message.
- msteams messageBack -> Web Chat's card-action envelope: a message with the text and the value.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

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
        # The templates ship with the package: compiled once, never stat'ed again per render.
        auto_reload=False,
    )


@cache
def _messages() -> dict[str, str]:
    raw = yaml.safe_load(files("cards").joinpath("messages.yaml").read_text(encoding="utf-8"))
    return {str(key): str(value) for key, value in raw.items()}


@cache
def _text_environment() -> Environment:
    return Environment(undefined=StrictUndefined, autoescape=False)  # noqa: S701 - plain text


@lru_cache(maxsize=1024)
def _text_template(source: str) -> Template:
    """Compiling a Jinja template costs far more than rendering it, and a turn renders several
    messages: each distinct source is compiled once per process."""
    return _text_environment().from_string(source)


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


TEAMS_CHANNEL = "msteams"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Web Chat's marker for "perform this Bot Framework card action" in Action.Submit data.
WEB_CHAT_CARD_ACTION = "__isBotFrameworkCardAction"


def for_channel(card: dict[str, Any], channel: str | None) -> dict[str, Any]:
    """The card as a client on `channel` can use it (see the module docstring). Teams gets the
    card itself; any other channel a copy without Universal Actions or Teams-only submit data."""
    if channel == TEAMS_CHANNEL:
        return card
    adapted = _without_teams_actions(card)
    assert isinstance(adapted, dict)
    return adapted


def _without_teams_actions(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_teams_actions(item) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind == "Action.Execute":
        return _execute_as_submit(node)
    if kind == "Action.Submit":
        return _plain_submit(node)
    adapted = {
        key: _without_teams_actions(value)
        for key, value in node.items()
        # Universal Actions' refresh is Teams-only (and always an Action.Execute).
        if not (kind == "AdaptiveCard" and key == "refresh")
    }
    return adapted


def _execute_as_submit(action: dict[str, Any]) -> dict[str, Any]:
    data = action.get("data")
    submit = {
        key: _without_teams_actions(value)
        for key, value in action.items()
        if key not in ("type", "verb", "data", "fallback")
    }
    submit["type"] = "Action.Submit"
    submit["data"] = {**(data if isinstance(data, dict) else {}), "verb": action.get("verb")}
    return submit


def _plain_submit(action: dict[str, Any]) -> dict[str, Any]:
    data = action.get("data")
    teams = data.get("msteams") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(teams, dict):
        return {key: _without_teams_actions(value) for key, value in action.items()}
    submit = {key: value for key, value in action.items() if key != "data"}
    kind = teams.get("type")
    if kind == "imBack":
        submit["data"] = str(teams.get("value", ""))
        submit["associatedInputs"] = "none"
    elif kind == "messageBack":
        card_action: dict[str, Any] = {"type": "messageBack", "title": action.get("title", "")}
        for key in ("text", "displayText", "value"):
            if key in teams:
                card_action[key] = teams[key]
        submit["data"] = {WEB_CHAT_CARD_ACTION: True, "cardAction": card_action}
    else:
        # Other Teams-only submits (signin, invoke, task/fetch): the rest of the data, if any.
        submit["data"] = {key: value for key, value in data.items() if key != "msteams"}
    return submit


def text(key: str, **context: Any) -> str:
    """A Dutch plain-text message from `messages.yaml`, with Jinja placeholders filled in."""
    try:
        template = _messages()[key]
    except KeyError as error:
        raise KeyError(f"no message {key!r} in cards/messages.yaml") from error
    return _text_template(template).render(**context).strip()


def template_names() -> list[str]:
    root = files("cards").joinpath("templates")
    return sorted(
        entry.name.removesuffix(".json.j2")
        for entry in root.iterdir()
        if entry.name.endswith(".json.j2")
    )
