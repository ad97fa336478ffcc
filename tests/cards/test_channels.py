"""One template per card, adapted to the client: Teams gets Universal Actions, every other Bot
Framework client (Web Chat, Direct Line, the Emulator) plain Action.Submit it can perform."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from webchat_emulation import UnknownAction, actions, find, message_for

from cards.render import check, for_channel, render

OTHER_CHANNELS = ("webchat", "directline", "emulator")


def _examples() -> Any:
    """The example contexts of every template (tests/cards/test_render.py), so a new template
    is covered here as soon as it has an example there."""
    path = Path(__file__).with_name("test_render.py")
    spec = importlib.util.spec_from_file_location("render_examples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES = _examples()
ALL_CARDS = EXAMPLES.all_cards()


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


@pytest.mark.parametrize(("name", "context"), ALL_CARDS)
def test_teams_gets_every_card_exactly_as_rendered(name: str, context: dict[str, Any]) -> None:
    card = render(name, **context)
    before = copy.deepcopy(card)
    assert for_channel(card, "msteams") == before
    assert for_channel(card, "msteams") is card


@pytest.mark.parametrize("channel", OTHER_CHANNELS)
@pytest.mark.parametrize(("name", "context"), ALL_CARDS)
def test_other_clients_get_no_universal_actions_and_no_teams_data(
    name: str, context: dict[str, Any], channel: str
) -> None:
    card = render(name, **context)
    teams = copy.deepcopy(card)
    adapted = for_channel(card, channel)
    assert card == teams, "adapting must not change the Teams card"
    check(adapted, name)
    for node in _walk(adapted):
        assert node.get("type") != "Action.Execute", (name, node)
        assert "msteams" not in node, (name, node)
        assert "refresh" not in node or node.get("type") != "AdaptiveCard"
    # Every button a Web Chat user sees does something there.
    for action in actions(adapted):
        if action["type"] == "Action.Submit":
            message_for(action)
        else:
            assert action["type"] in ("Action.ShowCard", "Action.OpenUrl"), action


@pytest.mark.parametrize(("name", "context"), ALL_CARDS)
def test_each_universal_action_becomes_a_submit_with_the_same_verb_and_data(
    name: str, context: dict[str, Any]
) -> None:
    card = render(name, **context)
    teams = [a for a in actions(card) if a["type"] == "Action.Execute"]
    web = [
        a
        for a in actions(for_channel(card, "webchat"))
        if a["type"] == "Action.Submit" and isinstance(a.get("data"), dict) and "verb" in a["data"]
    ]
    assert len(web) == len(teams)
    for execute, submit in zip(teams, web, strict=True):
        assert submit["title"] == execute["title"]
        assert submit.get("style") == execute.get("style")
        assert submit["data"] == {**execute["data"], "verb": execute["verb"]}
        assert "fallback" not in submit
        # Web Chat posts it as a message whose value carries the verb, data and input values.
        posted = message_for(submit, {"afwijzen_reason": "Geen grond"})
        assert posted["value"]["verb"] == execute["verb"]
        assert "text" not in posted


def test_teams_imback_becomes_text_and_messageback_text_plus_value() -> None:
    welcome = for_channel(render("welcome", scope="personal"), "webchat")
    assert message_for(find(welcome, "Nieuwe aanvraag")) == {"text": "nieuwe aanvraag"}
    assert message_for(find(welcome, "Wat kun je?")) == {"text": "help"}
    [answer_context, *_] = EXAMPLES.EXAMPLES["answer"]
    answer = for_channel(render("answer", **answer_context), "webchat")
    start = find(answer, "Start een aanvraag met deze bevoegdheid")
    # Typed feedback on the same card does not leak into the messageBack.
    posted = message_for(start, {"kennis_opmerking": "nuttig"})
    assert posted["text"] == "nieuwe aanvraag"
    assert posted["value"] == {"verb": "aanvraag_starten", "bevoegdheid": "sluiting_drugspand"}
    assert posted["channelData"]["messageBack"]["displayText"] == (
        "Start een aanvraag met deze bevoegdheid"
    )
    # The imBack of a question card carries no input values (there is nothing to merge into).
    question = for_channel(render("question", **EXAMPLES.EXAMPLES["question"][2]), "webchat")
    assert message_for(find(question, "Ja"), {"x": "y"}) == {"text": "Ja"}


def test_the_teams_card_would_do_nothing_in_web_chat() -> None:
    """Why adapting is needed: Web Chat ignores Action.Execute and never shows its fallback."""
    [context, *_] = EXAMPLES.EXAMPLES["request"]
    card = render("request", **context)
    with pytest.raises(UnknownAction):
        message_for(find(card, "accepteren"))
    posted = message_for(find(for_channel(card, "webchat"), "accepteren"))
    assert posted["value"] == {"reference": "BR-2026-0001", "version": 3, "verb": "accepteren"}


def test_a_card_with_a_refresh_loses_it_outside_teams() -> None:
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "refresh": {"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": []},
        "body": [
            {
                "type": "ActionSet",
                "actions": [
                    {
                        "type": "Action.Execute",
                        "title": "Ga",
                        "verb": "ga",
                        "data": {"x": 1},
                        "fallback": {"type": "Action.Submit", "title": "Ga", "data": {"x": 1}},
                    }
                ],
            }
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Site", "url": "https://example.org"},
            {"type": "Action.Submit", "title": "Plain", "data": {"verb": "ga"}},
        ],
    }
    adapted = for_channel(card, "emulator")
    assert "refresh" not in adapted
    assert adapted["body"][0]["actions"] == [
        {"type": "Action.Submit", "title": "Ga", "data": {"x": 1, "verb": "ga"}}
    ]
    assert adapted["actions"] == card["actions"]
    assert "refresh" in card  # the original is untouched


VALIDATOR = EXAMPLES.VALIDATOR


def test_adapted_cards_pass_microsofts_own_parser(tmp_path: Path) -> None:
    if not VALIDATOR.exists():
        pytest.skip("../shared/tools/validate-cards is not present in this checkout")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for validate-cards")
    path = tmp_path / "cards.json"
    cards = [for_channel(render(name, **context), "webchat") for name, context in ALL_CARDS]
    path.write_text(json.dumps(cards))
    result = subprocess.run(
        [str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode == 2 and "could not install" in result.stderr:
        pytest.skip("validate-cards could not install its npm package here")
    assert result.returncode == 0, result.stdout + result.stderr
