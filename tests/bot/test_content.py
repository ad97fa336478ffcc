"""Curated content is validated on import; a wrong file names the file and the field."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import _kb_import
from bot.content import Bevoegdheid, ContentError, bevoegdheden, load_directory
from storage.db import Database
from storage.models import KnowledgeEntry
from support import local_settings

ROOT = Path(__file__).resolve().parents[2]

VALID = textwrap.dedent(
    """\
    kind: bevoegdheid
    id: proef_bevoegdheid
    title: Proefbevoegdheid voor tests
    legal_basis: art. 1 Proefwet
    competent_body: burgemeester
    applies_when: Als zich een proefgeval voordoet waarin de burgemeester moet optreden.
    steps: [Signaal ontvangen, Besluit nemen]
    sources: [{title: Proefwet}]
    last_checked: 2026-11-22
    checklist:
      - id: pand_type
        text: Om wat voor pand gaat het?
        type: choice
        choices: [{value: woning, label: Woning}, {value: lokaal, label: Lokaal}]
      - id: kinderen
        text: Wonen er minderjarige kinderen?
        type: yes_no
        condition: {question: pand_type, equals: woning}
    """
)


def write(root: Path, name: str, content: str) -> Path:
    folder = root / "bevoegdheden"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(content, encoding="utf-8")
    return path


def test_a_valid_entry_loads_with_its_conditional_question(tmp_path: Path) -> None:
    write(tmp_path, "proef_bevoegdheid", VALID)
    [entry] = bevoegdheden(load_directory(tmp_path))
    assert isinstance(entry, Bevoegdheid)
    condition = entry.checklist[1].condition
    assert condition is not None
    assert condition.holds({"pand_type": "woning"})
    assert not condition.holds({"pand_type": "lokaal"})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("legal_basis: art. 1 Proefwet\n", ""), "legal_basis"),
        (("type: yes_no", "type: ja_nee"), "checklist.1.type"),
        (("equals: woning", "equals: kantoor"), "not among the choices"),
        (("question: pand_type, equals", "question: later, equals"), "not an earlier question"),
        (("last_checked: 2026-11-22", "last_checked: gisteren"), "last_checked"),
        (("title: Proefbevoegdheid voor tests", "titel: x"), "titel"),
    ],
)
def test_a_wrong_file_names_the_file_and_the_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    path = write(tmp_path, "proef_bevoegdheid", VALID.replace(*change))
    with pytest.raises(ContentError) as error:
        load_directory(tmp_path)
    assert str(path) in str(error.value)
    assert field in str(error.value)


def test_file_name_must_match_the_id(tmp_path: Path) -> None:
    write(tmp_path, "andere_naam", VALID)
    with pytest.raises(ContentError, match="bestandsnaam"):
        load_directory(tmp_path)


# The starter set of the domain brief: one entry per power in its table.
STARTER_BEVOEGDHEDEN = {
    "sluiting_drugspand",
    "sluiting_woning_openbare_orde",
    "toezicht_openbare_inrichting",
    "bibob_weigering_intrekking",
    "horeca_exploitatievergunning",
    "gebiedsverbod_groepsverbod",
    "lichte_bevelsbevoegdheid",
    "gedragsaanwijzing_woonoverlast",
    "tijdelijk_huisverbod",
    "cameratoezicht",
    "veiligheidsrisicogebied",
    "noodbevel_noodverordening",
    "last_onder_bestuursdwang_dwangsom",
    "verstrekking_strafvorderlijke_gegevens",
    "verstrekking_politiegegevens",
}


def test_shipped_knowledge_holds_the_starter_set_marked_for_review() -> None:
    shipped = {b.id: b for b in bevoegdheden(load_directory(ROOT / "knowledge"))}
    assert STARTER_BEVOEGDHEDEN <= set(shipped)
    for entry in shipped.values():
        assert entry.checklist, entry.id
        assert entry.review_status in ("starter", "reviewed"), entry.id


async def test_kb_import_reports_changes_and_is_idempotent(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = local_settings(sqlite_url)
    root = tmp_path / "knowledge"
    write(root, "proef_bevoegdheid", VALID)
    assert await _kb_import(settings, root) == 0
    assert "1 nieuw" in capsys.readouterr().out
    assert await _kb_import(settings, root) == 0
    assert "0 nieuw, 0 gewijzigd, 1 ongewijzigd" in capsys.readouterr().out
    write(root, "proef_bevoegdheid", VALID.replace("Besluit nemen", "Besluit nemen en bekendmaken"))
    await _kb_import(settings, root)
    assert "gewijzigd: proef_bevoegdheid" in capsys.readouterr().out
    shutil.rmtree(root / "bevoegdheden")
    (root / "bevoegdheden").mkdir()
    await _kb_import(settings, root)
    assert "verwijderd: proef_bevoegdheid" in capsys.readouterr().out
    database = Database.connect(sqlite_url)
    try:
        async with database.sessions() as session:
            assert (await session.execute(select(KnowledgeEntry))).first() is None
    finally:
        await database.dispose()


async def test_kb_import_of_a_broken_file_changes_nothing(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = local_settings(sqlite_url)
    write(tmp_path, "proef_bevoegdheid", VALID)
    await _kb_import(settings, tmp_path)
    write(tmp_path, "kapot", "id: [niet goed")
    assert await _kb_import(settings, tmp_path) == 1
    assert "kapot.yaml" in capsys.readouterr().err
    database = Database.connect(sqlite_url)
    try:
        async with database.sessions() as session:
            ids = (await session.execute(select(KnowledgeEntry.id))).scalars().all()
        assert ids == ["proef_bevoegdheid"]
    finally:
        await database.dispose()


async def test_kb_import_keeps_entries_approved_in_chat_until_a_file_holds_them(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`make run` imports on every start: an approved expert answer must survive it."""
    from storage.repositories import APPROVED_IN_CHAT, replace_knowledge

    root = tmp_path / "knowledge"
    write(root, "proef_bevoegdheid", VALID)
    database = Database.connect(sqlite_url)
    try:
        async with database.sessions.begin() as session:
            await replace_knowledge(session, load_directory(root))
            session.add(
                KnowledgeEntry(
                    id="expert_7",
                    kind="proces",
                    title="Goedgekeurd expertantwoord",
                    data={"id": "expert_7", "kind": "proces", "title": "Goedgekeurd"},
                    checksum="x",
                    source_path=f"{APPROVED_IN_CHAT}7",
                )
            )
        async with database.sessions.begin() as session:
            report = await replace_knowledge(session, load_directory(root))
        assert report.kept == ["expert_7"] and report.removed == []
        async with database.sessions() as session:
            ids = set((await session.execute(select(KnowledgeEntry.id))).scalars())
        assert ids == {"proef_bevoegdheid", "expert_7"}
        # Once the entry is in a file, the file governs it: removing the file removes it.
        async with database.sessions.begin() as session:
            row = await session.get(KnowledgeEntry, "expert_7")
            assert row is not None
            row.source_path = str(root / "proces" / "expert_7.yaml")
        async with database.sessions.begin() as session:
            report = await replace_knowledge(session, load_directory(root))
        assert report.removed == ["expert_7"] and report.kept == []
    finally:
        await database.dispose()
