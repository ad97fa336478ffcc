"""`python -m bot requests list [--json]` and `admin import` for operators."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.deadlines import DEFAULT_CALENDAR

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, database: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSOFT_")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_is_empty_then_shows_a_submitted_request(tmp_path: Path) -> None:
    database = tmp_path / "cli.sqlite3"
    assert run("migrate", database=database).returncode == 0
    assert run("kb", "import", "knowledge", database=database).returncode == 0
    imported = run("admin", "import", "knowledge/registry/demo.yaml", database=database)
    assert imported.returncode == 0, imported.stderr
    assert "8 gemeenten, 5 basisteams, 6 personen" in imported.stdout
    assert json.loads(run("requests", "list", "--json", database=database).stdout) == []
    assert "geen aanvragen" in run("requests", "list", database=database).stdout

    # The chat runs on the real clock: pick a working day two months ahead.
    desired = DEFAULT_CALENDAR.next_working_day(dt.date.today() + dt.timedelta(days=60))
    script = "\n".join(
        [
            "nieuwe aanvraag",
            "damocles",
            "Zeist",
            "Woning in de wijk, zaak Z-2026-17",
            "nee",
            "nee",
            "eenvoudig",
            desired.strftime("%d-%m-%Y"),
        ]
    )
    from bot.content import QuestionType, bevoegdheden, load_directory

    [drugspand] = [
        b for b in bevoegdheden(load_directory(ROOT / "knowledge")) if b.id == "sluiting_drugspand"
    ]
    given: dict[str, object] = {}
    answers = []
    for question in drugspand.checklist:
        if question.condition is not None and not question.condition.holds(given):
            continue
        if question.type is QuestionType.CHOICE:
            given[question.id] = question.choices[0].value
            answers.append("1")
        elif question.type is QuestionType.YES_NO:
            given[question.id] = False
            answers.append("nee")
        elif question.type is QuestionType.NUMBER:
            answers.append(str(int(question.minimum or 1)))
        elif question.type is QuestionType.DATE:
            answers.append("15-01-2030")
        else:
            answers.append("Toelichting zonder namen".ljust(question.min_length or 0, "."))
    chat = run(
        "chat",
        "--user",
        "Cli Tester",
        database=database,
        stdin=script + "\n" + "\n".join(answers) + "\nindienen\n",
    )
    assert chat.returncode == 0, chat.stderr
    assert "BR-" in chat.stdout, chat.stdout[-2000:]

    [line] = json.loads(run("requests", "list", "--json", database=database).stdout)
    assert line["status"] == "ingediend"
    assert line["gemeente"] == "Zeist"
    assert line["basisteam"] == "Basisteam Heuvelrug"
    assert line["report_type"] == "eenvoudig"
    assert line["desired_date"] == desired.isoformat()
    assert line["holds_the_ball"] == ["coordinator"]
    assert line["priority"] is None  # the sturingsoverleg has not discussed it yet
    # ingediend: the coördinator has 5 werkdagen, counted from today in Amsterdam.
    today = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).date()
    assert line["due_date"] == DEFAULT_CALENDAR.add_working_days(today, 5).isoformat()
    shown = run("requests", "show", line["reference"].lower(), database=database)
    assert shown.returncode == 0, shown.stderr
    assert "aan zet: coordinator" in shown.stdout
    assert "Woning in de wijk, zaak Z-2026-17" in shown.stdout
    assert f"termijn:{' ' * 20}{line['due_date']}" in shown.stdout
    assert f"prioriteit:{' ' * 17}-" in shown.stdout
    assert "Cli Tester  indienen  concept -> ingediend" in shown.stdout
    missing = run("requests", "show", "BR-1999-0001", database=database)
    assert missing.returncode == 1
    assert "geen aanvraag met kenmerk BR-1999-0001" in missing.stderr
    table = run("requests", "list", database=database).stdout
    assert line["reference"] in table and "ingediend" in table


def test_registry_export_can_be_imported_again_unchanged(tmp_path: Path) -> None:
    from bot.registry import load_registry

    database = tmp_path / "registry.sqlite3"
    assert run("migrate", database=database).returncode == 0
    assert run("admin", "import", "knowledge/registry/demo.yaml", database=database).returncode == 0
    exported = tmp_path / "export.yaml"
    result = run("admin", "export", str(exported), database=database)
    assert result.returncode == 0, result.stderr

    def canonical(path: Path) -> dict[str, object]:
        registry = load_registry(path)
        return {
            "teams": sorted(
                (e.name, d.name, t.id, t.name, tuple(sorted(t.gemeenten)))
                for e, d, t in registry.teams()
            ),
            "gemeenten": sorted((g.id, g.name) for g in registry.gemeenten),
            "people": sorted(
                (p.aad_object_id, p.name, p.email, tuple(sorted(p.roles())))
                for p in registry.people
            ),
        }

    assert canonical(exported) == canonical(ROOT / "knowledge/registry/demo.yaml")
    # Importing the export changes nothing either.
    assert run("admin", "import", str(exported), database=database).returncode == 0
    again = tmp_path / "again.yaml"
    run("admin", "export", str(again), database=database)
    assert again.read_text() == exported.read_text()


def test_if_empty_keeps_a_stored_registry(tmp_path: Path) -> None:
    """`make run` imports the demo registry with --if-empty on every start: a role a beheerder
    removed in chat must stay removed."""
    database = tmp_path / "keep.sqlite3"
    assert run("migrate", database=database).returncode == 0
    first = run("admin", "import", "--if-empty", "knowledge/registry/demo.yaml", database=database)
    assert "8 gemeenten" in first.stdout, first.stderr
    changed = tmp_path / "changed.yaml"
    run("admin", "export", str(changed), database=database)
    edited = changed.read_text().replace("Erik Expert", "Erik Expert-de Boer")
    assert edited != changed.read_text()
    changed.write_text(edited)
    assert run("admin", "import", str(changed), database=database).returncode == 0
    again = run("admin", "import", "--if-empty", "knowledge/registry/demo.yaml", database=database)
    assert again.returncode == 0 and "niets geïmporteerd" in again.stdout
    assert "Erik Expert-de Boer" in run("admin", "export", database=database).stdout
    # Without the flag the file replaces the store, as documented.
    run("admin", "import", "knowledge/registry/demo.yaml", database=database)
    assert "Erik Expert-de Boer" not in run("admin", "export", database=database).stdout
