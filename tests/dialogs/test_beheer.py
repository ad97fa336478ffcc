"""Beheer in chat: a beheerder manages who holds which role, picking people from the Teams roster.

Conversations go through /api/messages with the demo registry loaded (Bea Beheer is the only
beheerder). The roster is what the local connector serves for the conversation, shaped as Teams
returns it from /v3/conversations/{id}/pagedmembers.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botbuilder.schema.teams import TeamsChannelAccount, TeamsPagedMembersResult
from sqlalchemy import select

from bot.beheer import Action, Member, find_place, match_people, parse, split_name_and_place
from bot.chat import ChatSession, local_identity
from bot.registry import RegistryRole, load_registry
from dialogs import beheer as chat_beheer
from storage.models import Person, PersonRole
from storage.repositories import replace_registry
from support import BotServer, Transcript

ROOT = Path(__file__).resolve().parents[2]

JAN_DE_VRIES = "0b7a3f0e-1111-4c1e-9a55-000000000001"
JAN_JANSEN = "0b7a3f0e-2222-4c1e-9a55-000000000002"
SANNE_SMIT = "0b7a3f0e-3333-4c1e-9a55-000000000003"

Roles = set[tuple[str, str, str]]


def member(name: str, aad_object_id: str, email: str = "", upn: str = "") -> dict[str, Any]:
    return {
        "id": f"29:{aad_object_id}",
        "name": name,
        "aadObjectId": aad_object_id,
        "email": email or None,
        "userPrincipalName": upn or email or None,
        "tenantId": "00000000-0000-0000-0000-00000000c0de",
        "userRole": "user",
    }


def known(name: str, email: str) -> dict[str, Any]:
    return member(name, local_identity(name)[1], email)


ROSTER = [
    known("Bea Beheer", "bea.beheer@riec.example"),
    known("Carla Coördinator", "carla.coordinator@politie.example"),
    known("Pieter Politie", "pieter.politie@politie.example"),
    known("Erik Expert", "erik.expert@riec.example"),
    member("Jan de Vries", JAN_DE_VRIES, "jan.devries@politie.example"),
    member("Jan Jansen", JAN_JANSEN, "jan.jansen@zeist.example"),
    # Teams leaves `email` empty for some accounts; the UPN is then the address to show.
    member("Sanne Smit", SANNE_SMIT, upn="sanne.smit@de-bilt.example"),
    # A bot or an account without an Entra object id cannot hold a role.
    {"id": "28:other-bot", "name": "Jan Bot"},
]


@pytest.fixture
async def server(bot_server: BotServer) -> BotServer:
    async with bot_server.components.database.sessions.begin() as session:
        await replace_registry(session, load_registry(ROOT / "knowledge/registry/demo.yaml"))
    return bot_server


def chat(server: BotServer, user: str = "Bea Beheer") -> Transcript:
    session = server.session(user)
    server.connector.members[session.conversation_id] = ROSTER
    return Transcript(session)


async def roles(server: BotServer) -> Roles:
    async with server.components.database.sessions() as session:
        rows = await session.execute(
            select(Person.name, PersonRole.role, PersonRole.scope).join(
                PersonRole, PersonRole.aad_object_id == Person.aad_object_id
            )
        )
        return {(name, role, scope) for name, role, scope in rows}


async def people(server: BotServer) -> dict[str, tuple[str, str]]:
    async with server.components.database.sessions() as session:
        rows = (await session.execute(select(Person))).scalars()
        return {p.aad_object_id: (p.name, p.email) for p in rows}


# --- Who may --------------------------------------------------------------------------------


async def test_a_non_beheerder_is_refused_and_nothing_changes(server: BotServer) -> None:
    before = (await roles(server), await people(server))
    t = chat(server, "Carla Coördinator")
    for line in (
        "beheer overzicht",
        "beheer zoek jan",
        "beheer coördinator Jan de Vries Heuvelrug",
        "beheer beheerder Carla",
        "beheer verwijder beheerder Bea Beheer",
    ):
        out = await t.say(line)
        assert "alleen voor beheerders" in out, (line, out)
        assert "Jan de Vries" not in out
    assert (await roles(server), await people(server)) == before


async def test_the_beheerder_is_who_teams_says_sent_it_not_the_display_name(
    server: BotServer,
) -> None:
    # Anne's own Entra id with Bea's display name: the display name grants nothing.
    session = server.session("Anne Aanvrager")
    server.connector.members[session.conversation_id] = ROSTER
    activity = session.activity(type="message", text="beheer expert Jan de Vries")
    activity["from"] = {**activity["from"], "name": "Bea Beheer"}
    _, _, replies = await session.post(activity)
    assert "alleen voor beheerders" in replies[0].text
    assert ("Jan de Vries", "expert", "") not in await roles(server)


async def test_help_lists_the_commands(server: BotServer) -> None:
    t = chat(server)
    for line in ("beheer", "Beheer help"):
        out = await t.say(line)
        for command in (
            "beheer overzicht",
            "beheer zoek",
            "beheer coördinator",
            "beheer verwijder",
        ):
            assert command in out
    assert "ken ik niet" in await t.say("beheer opruimen")


# --- Looking people up -------------------------------------------------------------------------


async def test_zoek_lists_roster_matches_with_their_roles(server: BotServer) -> None:
    t = chat(server)
    out = await t.say("beheer zoek jan")
    assert "Jan de Vries (jan.devries@politie.example): nog geen rol" in out
    assert "Jan Jansen (jan.jansen@zeist.example): nog geen rol" in out
    assert "Jan Bot" not in out
    # Case- and accent-insensitive, on any part of the name; the registry's roles are shown.
    out = await t.say("beheer zoek COORDINATOR")
    assert "Carla Coördinator (carla.coordinator@politie.example): coördinator van " in out
    assert "Basisteam Heuvelrug" in out
    out = await t.say("beheer zoek pieter")
    assert "coördinator van Basisteam Amersfoort, coördinator van Basisteam Heuvelrug" in out
    assert "Sanne Smit (sanne.smit@de-bilt.example)" in await t.say("beheer zoek smit")
    assert "Niemand in de ledenlijst" in await t.say("beheer zoek Zwaantje")
    assert "Wie zoek je?" in await t.say("beheer zoek")


async def test_in_a_team_channel_the_roster_is_the_teams(server: BotServer) -> None:
    session: ChatSession = server.session("Bea Beheer")
    server.connector.members["19:team-politie@thread.tacv2"] = ROSTER
    activity = session.activity(
        type="message",
        text="beheer zoek sanne",
        conversation={
            "id": "19:sturingsoverleg@thread.tacv2;messageid=1",
            "conversationType": "channel",
            "tenantId": "00000000-0000-0000-0000-00000000c0de",
        },
        channelData={
            "tenant": {"id": "00000000-0000-0000-0000-00000000c0de"},
            "team": {"id": "19:team-politie@thread.tacv2"},
            "channel": {"id": "19:sturingsoverleg@thread.tacv2"},
        },
    )
    _, _, replies = await session.post(activity)
    assert "Sanne Smit" in replies[0].text


# --- Adding roles ------------------------------------------------------------------------------


async def test_a_coordinator_is_added_for_a_basisteam_by_name(server: BotServer) -> None:
    t = chat(server)
    out = await t.say("beheer coördinator jan de vries Basisteam Amersfoort")
    assert "Jan de Vries is nu coördinator van Basisteam Amersfoort." in out
    assert (await people(server))[JAN_DE_VRIES] == ("Jan de Vries", "jan.devries@politie.example")
    assert ("Jan de Vries", "coordinator", "amersfoort") in await roles(server)
    # Idempotent: the same command again changes nothing and says so.
    before = await roles(server)
    out = await t.say("beheer coordinator Jan de Vries amersfoort")
    assert "Jan de Vries was al coördinator van Basisteam Amersfoort" in out
    assert await roles(server) == before
    # By id, and with a comma between name and place.
    out = await t.say("beheer coördinator Jan de Vries, utrecht_west")
    assert "Jan de Vries is nu coördinator van Basisteam Utrecht-West." in out
    assert {r for r in await roles(server) if r[0] == "Jan de Vries"} == {
        ("Jan de Vries", "coordinator", "amersfoort"),
        ("Jan de Vries", "coordinator", "utrecht_west"),
    }


async def test_aanspreekpunt_expert_and_beheerder_are_added(server: BotServer) -> None:
    t = chat(server)
    out = await t.say("beheer aanspreekpunt sanne utrechtse heuvelrug")
    assert "Sanne Smit is nu gemeentelijk aanspreekpunt van Utrechtse Heuvelrug." in out
    # No e-mail in the roster: the UPN is stored for display.
    assert (await people(server))[SANNE_SMIT] == ("Sanne Smit", "sanne.smit@de-bilt.example")
    assert "Jan Jansen is nu expert." in await t.say("beheer expert jan jansen")
    assert "Sanne Smit is nu beheerder." in await t.say("beheer beheerder Smit")
    assert {
        ("Sanne Smit", "gemeentelijk_aanspreekpunt", "utrechtse_heuvelrug"),
        ("Jan Jansen", "expert", ""),
        ("Sanne Smit", "beheerder", ""),
    } <= await roles(server)


async def test_an_ambiguous_name_asks_for_a_more_precise_one(server: BotServer) -> None:
    t = chat(server)
    before = await roles(server)
    out = await t.say("beheer coördinator Jan heuvelrug")
    assert 'Meerdere mensen passen bij "Jan"' in out
    assert "Jan de Vries (jan.devries@politie.example)" in out
    assert "Jan Jansen (jan.jansen@zeist.example)" in out
    assert "Typ de naam preciezer" in out
    assert await roles(server) == before
    # The e-mail address settles it.
    out = await t.say("beheer expert jan.jansen@zeist.example")
    assert "Jan Jansen is nu expert." in out


async def test_an_unknown_basisteam_or_gemeente_lists_the_valid_ones(server: BotServer) -> None:
    t = chat(server)
    before = await roles(server)
    out = await t.say("beheer coördinator Jan de Vries Nergenshuizen")
    assert 'Ik ken geen basisteam "Nergenshuizen"' in out
    for valid in ("Basisteam Heuvelrug (heuvelrug)", "Basisteam Utrecht-West (utrecht_west)"):
        assert valid in out
    out = await t.say("beheer aanspreekpunt Jan Jansen, Atlantis")
    assert 'Ik ken geen gemeente "Atlantis"' in out
    assert "Zeist (zeist)" in out
    out = await t.say("beheer coördinator Jan")
    assert "Bij de rol coördinator hoort een basisteam" in out
    assert await roles(server) == before


async def test_someone_not_in_the_roster_is_not_added(server: BotServer) -> None:
    t = chat(server)
    before = await roles(server)
    out = await t.say("beheer expert Gert Gemeente")
    assert 'Ik vind niemand die past bij "Gert Gemeente" in de ledenlijst' in out
    assert await roles(server) == before


# --- Removing roles ----------------------------------------------------------------------------


async def test_a_role_is_removed(server: BotServer) -> None:
    t = chat(server)
    out = await t.say("beheer verwijder coördinator Pieter")
    assert "Pieter Politie is coördinator van Basisteam Amersfoort, Basisteam Heuvelrug" in out
    assert "met een basisteam erachter" in out
    out = await t.say("beheer verwijder coördinator Pieter Politie heuvelrug")
    assert "Pieter Politie is geen coördinator van Basisteam Heuvelrug meer." in out
    held = {r for r in await roles(server) if r[0] == "Pieter Politie"}
    assert held == {("Pieter Politie", "coordinator", "amersfoort")}
    out = await t.say("beheer verwijder coördinator Pieter heuvelrug")
    assert "Pieter Politie is geen coördinator van Basisteam Heuvelrug, wel van " in out
    out = await t.say("beheer verwijder aanspreekpunt gert zeist")
    assert "Gert Gemeente is geen gemeentelijk aanspreekpunt van Zeist meer." in out
    assert "Erik Expert is geen expert meer." in await t.say("beheer verwijder expert erik")
    # Only people who hold the role are candidates.
    out = await t.say("beheer verwijder expert Carla")
    assert 'Ik vind geen expert die past bij "Carla"' in out
    assert "Welke rol" in await t.say("beheer verwijder Carla")
    remaining = await roles(server)
    assert ("Gert Gemeente", "gemeentelijk_aanspreekpunt", "de_bilt") in remaining
    assert not {r for r in remaining if r[1] == "expert"}


async def test_the_last_beheerder_cannot_be_removed(server: BotServer) -> None:
    t = chat(server)
    out = await t.say("beheer verwijder beheerder Bea Beheer")
    assert "Bea Beheer is de laatste beheerder" in out
    assert ("Bea Beheer", "beheerder", "") in await roles(server)
    # With a second beheerder, Bea can step down; after that beheer is closed to her.
    assert "Jan de Vries is nu beheerder." in await t.say("beheer beheerder Jan de Vries")
    out = await t.say("beheer verwijder beheerder bea")
    assert "Bea Beheer is geen beheerder meer." in out
    assert {r for r in await roles(server) if r[1] == "beheerder"} == {
        ("Jan de Vries", "beheerder", "")
    }
    assert "alleen voor beheerders" in await t.say("beheer overzicht")


# --- Overview ----------------------------------------------------------------------------------


async def test_overzicht_shows_who_holds_which_role(server: BotServer) -> None:
    t = chat(server)
    out = await t.say("beheer overzicht")
    assert "Basisteam Heuvelrug: Carla Coördinator, Pieter Politie" in out
    assert "Basisteam Amersfoort: Pieter Politie" in out
    assert "Basisteam Gooi en Vechtstreek: nog niemand" in out
    assert "Zeist: Gert Gemeente" in out
    assert "De Bilt: Gert Gemeente" in out
    assert "Experts: Erik Expert" in out
    assert "Beheerders: Bea Beheer" in out
    await t.say("beheer coördinator Sanne Smit gooi en vechtstreek")
    out = await t.say("beheer overzicht")
    assert "Basisteam Gooi en Vechtstreek: Sanne Smit" in out


# --- The roster and the pure parts -------------------------------------------------------------


async def test_the_roster_follows_continuation_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = {
        None: TeamsPagedMembersResult(
            continuation_token="page-2",
            members=[TeamsChannelAccount(id="29:a", name="Anna", aad_object_id="a")],
        ),
        "page-2": TeamsPagedMembersResult(
            continuation_token=None,
            members=[
                TeamsChannelAccount(
                    id="29:b", name="Bram", aad_object_id="b", user_principal_name="b@x.example"
                ),
                TeamsChannelAccount(id="28:bot", name="Bot"),
            ],
        ),
    }
    asked: list[str | None] = []

    async def paged(_context: object, token: str | None = None, _size: int | None = None) -> Any:
        asked.append(token)
        return pages[token]

    monkeypatch.setattr(chat_beheer.TeamsInfo, "get_paged_members", paged)
    context = SimpleNamespace(activity=SimpleNamespace(conversation=None))
    members = await chat_beheer.roster(context)
    assert asked == [None, "page-2"]
    assert members == [Member("a", "Anna", ""), Member("b", "Bram", "b@x.example")]


def test_commands_parse() -> None:
    assert parse("beheer").action is Action.HELP
    assert parse("Beheer Overzicht").action is Action.OVERVIEW
    assert parse("beheer zoek Jan de Vries").rest == "Jan de Vries"
    grant = parse("beheer Coördinator Jan de Vries Heuvelrug")
    assert (grant.action, grant.role, grant.rest) == (
        Action.GRANT,
        RegistryRole.COORDINATOR,
        "Jan de Vries Heuvelrug",
    )
    assert parse("beheer gemeentelijk aanspreekpunt X Zeist").role is (
        RegistryRole.GEMEENTELIJK_AANSPREEKPUNT
    )
    revoke = parse("beheer verwijder beheerder Bea")
    assert (revoke.action, revoke.role, revoke.rest) == (
        Action.REVOKE,
        RegistryRole.BEHEERDER,
        "Bea",
    )
    assert parse("beheer weg met alles").action is Action.UNKNOWN


def test_names_and_places_are_matched_without_case_or_accents() -> None:
    from bot.beheer import Place

    teams = [
        Place("heuvelrug", "Basisteam Heuvelrug"),
        Place("utrecht_west", "Basisteam Utrecht-West"),
    ]
    assert find_place("UTRECHT WEST", teams) == teams[1]
    assert find_place("basisteam heuvelrug", teams) == teams[0]
    assert find_place("Heuvel", teams) is None
    split = split_name_and_place("Carla Coördinator Basisteam Heuvelrug", teams, required=True)
    assert (split.name, split.place) == ("Carla Coördinator", teams[0])
    split = split_name_and_place("Carla Nergens", teams, required=True)
    assert (split.name, split.place, split.unknown_place) == ("Carla", None, "Nergens")
    people = [Member("1", "Jan de Vries"), Member("2", "Jan Jansen"), Member("3", "Jan")]
    assert [p.aad_object_id for p in match_people("jan", people)] == ["3"]
    assert [p.aad_object_id for p in match_people("ja", people)] == ["1", "2", "3"]
    assert [p.aad_object_id for p in match_people("J. de Vries", people)] == ["1"]
