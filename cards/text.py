"""Adaptive Card → readable text with numbered buttons, for the terminal chat.

The chat must let a person (or a script) do everything a Teams user does with a card, so each
button becomes a numbered choice that maps back to what Teams would send for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    title: str
    kind: str  # "imback" (text message), "submit" (message with value), "execute" (invoke), "url"
    data: dict[str, Any] = field(default_factory=dict)
    verb: str = ""
    text: str = ""
    url: str = ""


@dataclass(frozen=True)
class Input:
    id: str
    label: str
    kind: str
    choices: tuple[tuple[str, str], ...] = ()  # (title, value)
    required: bool = False


@dataclass
class RenderedCard:
    lines: list[str]
    buttons: list[Button]
    inputs: list[Input]


def card_to_text(card: dict[str, Any]) -> RenderedCard:
    rendered = RenderedCard(lines=[], buttons=[], inputs=[])
    _elements(card.get("body", []), rendered, indent="")
    _actions(card.get("actions", []), rendered)
    return rendered


def _elements(elements: list[Any], out: RenderedCard, indent: str) -> None:
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "TextBlock":
            value = str(element.get("text", ""))
            out.lines.append(indent + (value.upper() if element.get("size") == "Large" else value))
        elif kind == "RichTextBlock":
            parts = [
                str(run.get("text", ""))
                for run in element.get("inlines", [])
                if isinstance(run, dict)
            ]
            out.lines.append(indent + "".join(parts))
        elif kind == "FactSet":
            for fact in element.get("facts", []):
                out.lines.append(f"{indent}  {fact.get('title', '')}: {fact.get('value', '')}")
        elif kind in ("Container", "Column"):
            _elements(element.get("items", []), out, indent)
        elif kind == "ColumnSet":
            for column in element.get("columns", []):
                _elements(column.get("items", []), out, indent)
        elif kind == "Image":
            out.lines.append(f"{indent}[afbeelding: {element.get('altText', '')}]")
        elif kind == "ActionSet":
            _actions(element.get("actions", []), out)
        elif isinstance(kind, str) and kind.startswith("Input."):
            _input(element, out, indent)


def _input(element: dict[str, Any], out: RenderedCard, indent: str) -> None:
    label = str(element.get("label") or element.get("placeholder") or element.get("id"))
    choices = tuple(
        (str(choice.get("title", "")), str(choice.get("value", "")))
        for choice in element.get("choices", [])
        if isinstance(choice, dict)
    )
    out.inputs.append(
        Input(
            id=str(element.get("id")),
            label=label,
            kind=str(element.get("type")),
            choices=choices,
            required=bool(element.get("isRequired")),
        )
    )
    out.lines.append(f"{indent}[invoerveld: {label}]")


def _actions(actions: list[Any], out: RenderedCard) -> None:
    for action in actions:
        if not isinstance(action, dict):
            continue
        kind = action.get("type")
        title = str(action.get("title", ""))
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        assert isinstance(data, dict)
        if kind == "Action.Execute":
            out.buttons.append(
                Button(title, "execute", data=data, verb=str(action.get("verb", "")))
            )
        elif kind == "Action.Submit":
            teams = data.get("msteams") if isinstance(data.get("msteams"), dict) else None
            if teams and teams.get("type") == "imBack":
                out.buttons.append(Button(title, "imback", text=str(teams.get("value", ""))))
            elif teams and teams.get("type") == "messageBack":
                value = teams.get("value") if isinstance(teams.get("value"), dict) else {}
                out.buttons.append(
                    Button(title, "submit", data=value or {}, text=str(teams.get("text", "")))
                )
            else:
                out.buttons.append(Button(title, "submit", data=data))
        elif kind == "Action.OpenUrl":
            out.buttons.append(Button(title, "url", url=str(action.get("url", ""))))
        elif kind == "Action.ShowCard" and isinstance(action.get("card"), dict):
            _elements(action["card"].get("body", []), out, indent="  ")
            _actions(action["card"].get("actions", []), out)
