"""What Bot Framework Web Chat 4.x does with a card's buttons, for tests without a browser.

Web Chat renders Adaptive Cards with Microsoft's renderer and handles only `Action.Submit` and
`Action.OpenUrl` (botframework-webchat, packages/bundle/src/adaptiveCards/Attachment/
AdaptiveCardRenderer.tsx): any other action, `Action.Execute` included, only logs "received
unknown action". For `Action.Submit`:

- the Adaptive Cards renderer first merges the values of the associated inputs into a copy of
  object `data` (`SubmitAction.internalPrepareForExecution`; `associatedInputs: "none"` merges
  none); it cannot merge into string data;
- string data -> imBack: a message with that `text` (createDefaultCardActionMiddleware ->
  sendMessage);
- `{"__isBotFrameworkCardAction": true, "cardAction": {...}}` -> that card action: a messageBack
  posts `text`, `value` and `channelData.messageBack.displayText`
  (sendMessageBackToPostActivitySaga);
- other object data -> postBack: a message with `value` = the data and `channelData.postBack`
  (sendPostBackToPostActivitySaga).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class UnknownAction(AssertionError):
    """Web Chat would do nothing for this button (it logs "unknown action")."""


def actions(node: Any) -> Iterator[dict[str, Any]]:
    """Every action anywhere in a card: card and ActionSet actions, ShowCard cards, fallbacks,
    select actions."""
    if isinstance(node, list):
        for item in node:
            yield from actions(item)
    elif isinstance(node, dict):
        if str(node.get("type", "")).startswith("Action."):
            yield node
        for value in node.values():
            yield from actions(value)


def find(card: dict[str, Any], title: str) -> dict[str, Any]:
    """The button titled `title` as the person sees it (ShowCard buttons included, fallbacks not:
    a renderer that knows an element never shows its fallback)."""
    found = [
        action
        for action in _shown_actions(card)
        if action.get("title") == title and action.get("type") != "Action.ShowCard"
    ]
    assert len(found) == 1, (title, [a.get("title") for a in _shown_actions(card)])
    return found[0]


def _shown_actions(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _shown_actions(item)
    elif isinstance(node, dict):
        if str(node.get("type", "")).startswith("Action."):
            yield node
        for key, value in node.items():
            if key != "fallback":
                yield from _shown_actions(value)


def message_for(action: dict[str, Any], inputs: dict[str, str] | None = None) -> dict[str, Any]:
    """The fields of the message activity Web Chat posts when `action` is clicked with these
    input values filled in."""
    inputs = inputs or {}
    if action.get("type") != "Action.Submit":
        raise UnknownAction(f"Web Chat: received unknown action {action.get('type')!r}")
    data = action.get("data")
    merge = action.get("associatedInputs") != "none"
    if isinstance(data, str):
        if merge and inputs:
            raise AssertionError("the renderer cannot merge input values into string data")
        return {"text": data}
    merged = {**(data if isinstance(data, dict) else {}), **(inputs if merge else {})}
    if merged.get("__isBotFrameworkCardAction"):
        card_action = merged["cardAction"]
        kind = card_action["type"]
        if kind == "imBack":
            return {"text": card_action["value"]}
        if kind == "messageBack":
            return {
                "text": card_action.get("text"),
                "value": card_action.get("value"),
                "channelData": {"messageBack": {"displayText": card_action.get("displayText")}},
            }
        if kind == "postBack":
            value = card_action.get("value")
            if isinstance(value, str):
                return {"text": value, "channelData": {"postBack": True}}
            return {"value": value, "channelData": {"postBack": True}}
        raise UnknownAction(f"card action {kind!r}")
    return {"value": merged, "channelData": {"postBack": True}}
