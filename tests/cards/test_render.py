"""Every card template renders to a valid Teams card; user text cannot break a card."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cards.render import CardError, check, render, template_names, text

VALIDATOR = Path(__file__).resolve().parents[3] / "shared" / "tools" / "validate-cards"

# Example context per template, so every template is rendered in every test run.
EXAMPLES: dict[str, list[dict[str, object]]] = {
    "welcome": [{"scope": "personal"}, {"scope": "team"}, {"scope": "groupChat"}],
    "help": [{}],
    "question": [
        {
            "number": 1,
            "total": 12,
            "text": "Welke bevoegdheid?",
            "help": "",
            "optional": False,
            "options": [{"value": f"v{i}", "label": f"Keuze {i}"} for i in range(15)],
        },
        {
            "number": 9,
            "total": 12,
            "text": 'Vraag met "quotes" en {accolades}',
            "help": "Uitleg",
            "optional": True,
            "options": [],
        },
        {
            "number": 3,
            "total": 9,
            "text": "Ja of nee?",
            "help": "",
            "optional": True,
            "options": [{"value": "ja", "label": "Ja"}, {"value": "nee", "label": "Nee"}],
        },
    ],
    "summary": [
        {
            "rows": [
                {"key": f"k{i}", "question": f"Vraag {i} " + "x" * 200, "answer": "y" * 1000}
                for i in range(20)
            ]
        },
    ],
    "my_requests": [
        {
            "requests": [
                {
                    "reference": f"BR-2026-{i:04d}",
                    "status": "ingediend",
                    "bevoegdheid": "Sluiting van een drugspand",
                    "gemeente": "Zeist",
                    "basisteam": "Basisteam Heuvelrug",
                    "submitted": "23-11-2026",
                    "desired": "15-12-2026",
                }
                for i in range(1, 40)
            ]
        },
    ],
    "request": [
        {
            "reference": "BR-2026-0001",
            "status": "ingediend",
            "status_color": "Default",
            "last_step": "Ingediend door Anne Aanvrager op 23-11-2026 10:00",
            "open_question": None,
            "facts": [{"title": f"Feit {i}", "value": "waarde " * 20} for i in range(10)],
            "subject": "Onderwerp " + "x" * 300,
            # The largest checklist a bevoegdheid may have, with the longest answers allowed.
            "checklist": [{"question": "Vraag " + "q" * 200, "answer": "a" * 1000}] * 40,
            "actions": [
                {
                    "verb": verb,
                    "title": verb,
                    "confirm": verb,
                    "data": {"reference": "BR-2026-0001", "version": 3},
                    "form": form,
                    "suggestion": "De informatie is via een boa-rapport te verkrijgen."
                    if form == "suggested"
                    else None,
                    "reason_label": "Reden",
                    "outcome_label": "Uitkomst",
                    "outcomes": [{"title": "Ja", "value": "ja"}, {"title": "Nee", "value": "nee"}],
                }
                for verb, form in (
                    ("accepteren", "none"),
                    ("aanvulling_vragen", "reason"),
                    ("afwijzen", "suggested"),
                    ("intrekken", "optional"),
                    ("afronden", "complete"),
                )
            ],
            "idle_note": "Geen stap",
        },
        {
            "reference": "BR-2026-0002",
            "status": "afgerond",
            "status_color": "Good",
            "last_step": None,
            "open_question": "Welk adres?",
            "facts": [],
            "subject": "Kort",
            "checklist": [],
            "actions": [],
            "idle_note": "Er is nu geen stap voor jou.",
        },
    ],
    "answer": [
        {
            "id": "sluiting_drugspand",
            "title": "Sluiting van een drugspand (Wet Damocles)",
            "question": 'kan de burgemeester een "drugspand" sluiten?',
            "starter": True,
            "facts": [
                {"title": "Wettelijke basis", "value": "art. 13b Opiumwet"},
                {"title": "Bevoegd", "value": "burgemeester"},
                {"title": "Laatst gecontroleerd", "value": "22-11-2026"},
            ],
            "summary_heading": "Wanneer",
            "summary": "Er wordt drugs verkocht of bereid in een woning of lokaal. " * 20,
            "steps": [f"Stap {i} " + "x" * 200 for i in range(12)],
            "needed": [f"Vraag {i} " + "q" * 200 for i in range(40)],
            "sources": ["Opiumwet (https://wetten.overheid.nl/BWBR0001941)"] * 4,
            "alternatives": [{"id": "sluiting_woning_openbare_orde", "title": "Sluiting woning"}],
            "bevoegdheid": "sluiting_drugspand",
            "thanked": False,
        },
        {
            "id": "doorlooptijd_br",
            "title": "Hoe lang duurt een BR?",
            "question": "hoe lang",
            "starter": False,
            "facts": [{"title": "Laatst gecontroleerd", "value": "22-11-2026"}],
            "summary_heading": "Antwoord",
            "summary": "Dat hangt af van het type.",
            "steps": [],
            "needed": [],
            "sources": [],
            "alternatives": [],
            "bevoegdheid": None,
            "thanked": True,
        },
    ],
    "unsure": [
        {
            "question": "x" * 500,
            "alternatives": [{"id": f"e{i}", "title": f"Kennisitem {i}"} for i in range(3)],
        },
        {"question": "avondklok", "alternatives": []},
    ],
    "expert_question": [
        {
            "id": 7,
            "version": 1,
            "question": "Vraag " + "v" * 500,
            "asker": "Anne Aanvrager",
            "asked_at": "23-11-2026 10:00",
            "due": "26-11-2026 23:59",
            "answered": False,
            "answer": "",
            "expert": "",
            "answered_at": "",
            "draft_status": None,
        },
        *(
            {
                "id": 7,
                "version": 2,
                "question": "Vraag",
                "asker": "Anne Aanvrager",
                "asked_at": "23-11-2026 10:00",
                "due": "26-11-2026 23:59",
                "answered": True,
                "answer": "Antwoord " + "a" * 2000,
                "expert": "Erik Expert",
                "answered_at": "24-11-2026 11:00",
                "draft_status": status,
            }
            for status in (None, "concept", "goedgekeurd", "afgewezen")
        ),
    ],
    "knowledge_draft": [
        {
            "id": 3,
            "question": "Vraag " + "v" * 500,
            "answer": "Antwoord " + "a" * 2000,
            "expert": "Erik Expert",
            "created_at": "24-11-2026 11:05",
            "status": status,
            "decided_by": "Bea Beheer" if status != "concept" else "",
            "decided_at": "24-11-2026 12:00" if status != "concept" else "",
            "entry_id": "expert_7" if status == "goedgekeurd" else "",
        }
        for status in ("concept", "goedgekeurd", "afgewezen")
    ],
    "digest": [
        {
            "basisteam": 'Basisteam "Heuvelrug"',
            "meeting": "dinsdag 24-11-2026 om 10:00",
            "late": late,
            "sections": [
                {
                    "title": title,
                    "count": count,
                    "items": [
                        {
                            "reference": f"BR-2026-{i:04d}",
                            "line": f"**BR-2026-{i:04d}** · Sluiting drugspand · Zeist",
                            "detail": "geaccepteerd · termijn ma 30-11-2026 · bal bij coördinator",
                            "overdue": i % 2 == 0,
                        }
                        for i in range(min(count, 15))
                    ],
                    "more": max(0, count - 15),
                    "buttons": buttons,
                }
                for title, count, buttons in (
                    ("Beslissing nodig", 0, False),
                    ("Prioriteit bepalen", 40, True),
                    ("Termijn verstreken", 3, False),
                    ("Lopend", 15, False),
                )
            ],
            "priorities": [
                {"value": p, "title": p.capitalize()} for p in ("hoog", "normaal", "laag")
            ],
            "verb": "prioriteren",
            "updated": "24-11-2026 08:00",
        }
        for late in ("", "Later verstuurd dan gepland (24-11-2026 08:00).")
    ],
}


def all_cards() -> list[tuple[str, dict[str, object]]]:
    return [(name, context) for name in template_names() for context in EXAMPLES[name]]


def test_every_template_has_an_example() -> None:
    assert set(template_names()) == set(EXAMPLES)


@pytest.mark.parametrize(("name", "context"), all_cards())
def test_templates_render_to_checked_cards(name: str, context: dict[str, object]) -> None:
    card = render(name, **context)
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"


def test_values_are_json_encoded_so_user_text_cannot_inject(tmp_path: Path) -> None:
    templates = tmp_path / "t"
    templates.mkdir()
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from cards import render as module

    (templates / "x.json.j2").write_text(
        '{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", '
        '"text": {{ subject }}}]}'
    )
    environment = Environment(
        loader=FileSystemLoader(templates), undefined=StrictUndefined, finalize=module._as_json
    )
    hostile = '"}], "actions": [{"type": "Action.OpenUrl", "url": "https://evil"}], "x": {"'
    card = json.loads(environment.get_template("x.json.j2").render(subject=hostile))
    assert card["body"][0]["text"] == hostile
    assert "actions" not in card


def test_check_refuses_wrong_type_new_versions_and_oversized_cards() -> None:
    with pytest.raises(CardError):
        check({"type": "Message", "version": "1.5"})
    with pytest.raises(CardError, match="newer than Teams"):
        check({"type": "AdaptiveCard", "version": "1.6"})
    big = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "x" * 90_000}],
    }
    with pytest.raises(CardError, match="byte budget"):
        check(big)


def test_messages_are_dutch_and_filled_in() -> None:
    assert "kenmerk abc123" in text("internal_error", reference="abc123")
    with pytest.raises(KeyError):
        text("bestaat_niet")


def test_cards_pass_microsofts_own_parser(tmp_path: Path) -> None:
    if not VALIDATOR.exists():
        pytest.skip("../shared/tools/validate-cards is not present in this checkout")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for validate-cards")
    path = tmp_path / "cards.json"
    path.write_text(json.dumps([render(name, **context) for name, context in all_cards()]))
    result = subprocess.run(
        [str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode == 2 and "could not install" in result.stderr:
        pytest.skip("validate-cards could not install its npm package here")
    assert result.returncode == 0, result.stdout + result.stderr
