"""`beheer …` in chat: the Teams side of `bot.beheer`.

Who may use it is decided by the activity's sender as Teams reports it (`aadObjectId`), never by
anything typed. People to add are picked from the conversation's roster through the Teams API:
in a team channel that is the whole team, in a group or personal chat its members.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from msrest.exceptions import ClientException

from bot import beheer, experts
from bot.registry import RegistryRole
from bot.textnorm import normalise
from cards.render import text
from storage.db import Database

log = logging.getLogger(__name__)

# Teams returns at most 500 members per page; the page cap only guards against a service that
# keeps handing out continuation tokens.
ROSTER_PAGE_SIZE = 500
ROSTER_MAX_PAGES = 200


class RosterUnavailable(Exception):
    """Teams did not give us the conversation's members."""


async def handle(context: TurnContext, database: Database, now: dt.datetime | None = None) -> None:
    """Answer one `beheer …` line; every change is its own transaction in `bot.beheer`."""
    sender = context.activity.from_property
    actor = (sender.aad_object_id if sender else None) or ""
    if not await beheer.is_beheerder(database, actor):
        log.info("beheer refused for %s", actor or "a sender without aadObjectId")
        await context.send_activity(text("beheer_not_allowed"))
        return
    command = beheer.parse(context.activity.text or "")
    if command.action is beheer.Action.HELP:
        await context.send_activity(text("beheer_help"))
    elif command.action is beheer.Action.OVERVIEW:
        await context.send_activity(_overview(await beheer.overview(database)))
    elif command.action is beheer.Action.SEARCH:
        await _search(context, database, command.rest)
    elif command.action is beheer.Action.GRANT and command.role is not None:
        await _grant(context, database, actor, command.role, command.rest)
    elif command.action is beheer.Action.REVOKE:
        if command.role is None:
            await context.send_activity(text("beheer_usage_role"))
            return
        change = await beheer.revoke(database, actor=actor, role=command.role, rest=command.rest)
        await context.send_activity(_change(change))
    elif command.action is beheer.Action.EXPERT_CHANNEL:
        await _expert_channel(
            context, database, actor, command.rest, now or dt.datetime.now(dt.UTC)
        )
    else:
        await context.send_activity(text("beheer_unknown_command"))


async def _expert_channel(
    context: TurnContext, database: Database, actor: str, rest: str, now: dt.datetime
) -> None:
    """`beheer expertkanaal` links the channel it is typed in: only an activity from that channel
    tells the bot the channel's conversation reference."""
    if normalise(rest) in ("ontkoppel", "ontkoppelen", "los", "verwijder"):
        outcome = await experts.unlink_channel(database, actor=actor)
        await context.send_activity(text(f"beheer_expertkanaal_{outcome.value}"))
        return
    activity = context.activity
    conversation = activity.conversation
    if conversation is None or conversation.conversation_type in (None, "personal"):
        await context.send_activity(text("beheer_expertkanaal_personal"))
        return
    outcome = await experts.link_channel(
        database,
        actor=actor,
        conversation=channel_reference(activity),
        service_url=activity.service_url or "",
        now=now,
    )
    await context.send_activity(text(f"beheer_expertkanaal_{outcome.value}"))


def channel_reference(activity: Any) -> dict[str, Any]:
    """The reference to post new messages in the channel: Teams gives a channel message's
    conversation id as `<channel>;messageid=<thread>`, which would post replies in that one
    thread; the bare channel id starts a new post. The beheerder who typed the command is no
    recipient of later posts, so the user is left out."""
    reference: dict[str, Any] = TurnContext.get_conversation_reference(activity).serialize()
    reference.pop("user", None)
    reference.pop("activityId", None)
    conversation = dict(reference.get("conversation") or {})
    conversation["id"] = str(conversation.get("id", "")).split(";messageid=", 1)[0]
    reference["conversation"] = conversation
    return reference


async def _search(context: TurnContext, database: Database, query: str) -> None:
    if not query.strip():
        await context.send_activity(text("beheer_usage_search"))
        return
    try:
        members = await roster(context)
    except RosterUnavailable:
        await context.send_activity(text("beheer_roster_unavailable"))
        return
    found = await beheer.search(database, query, members)
    if not found:
        await context.send_activity(text("beheer_search_none", typed=query))
        return
    await context.send_activity(
        text(
            "beheer_search_results",
            found=[
                {
                    "name": item.member.name,
                    "email": item.member.email,
                    "roles": [_held(held) for held in item.roles],
                }
                for item in found
            ],
        )
    )


async def _grant(
    context: TurnContext, database: Database, actor: str, role: RegistryRole, rest: str
) -> None:
    try:
        members = await roster(context)
    except RosterUnavailable:
        await context.send_activity(text("beheer_roster_unavailable"))
        return
    change = await beheer.grant(database, actor=actor, role=role, rest=rest, roster=members)
    await context.send_activity(_change(change))


async def roster(context: TurnContext) -> list[beheer.Member]:
    """Everyone in this conversation (the team, in a channel), following continuation tokens.
    Accounts without an Entra object id (bots, some guests) cannot hold a role and are left out.
    """
    members: list[beheer.Member] = []
    token: str | None = None
    try:
        for _ in range(ROSTER_MAX_PAGES):
            page = await TeamsInfo.get_paged_members(context, token, ROSTER_PAGE_SIZE)
            for account in page.members or []:
                if account.aad_object_id:
                    members.append(
                        beheer.Member(
                            aad_object_id=account.aad_object_id,
                            name=account.name or "",
                            email=account.email or account.user_principal_name or "",
                        )
                    )
            token = page.continuation_token
            if not token:
                break
    # TeamsInfo raises TypeError/ValueError outside Teams (no connector client, no channel
    # data); the connector raises msrest's ClientException for HTTP and network failures.
    except (ClientException, TypeError, ValueError) as error:
        conversation = context.activity.conversation
        log.warning(
            "beheer: roster of conversation %s unavailable: %s",
            conversation.id if conversation else "?",
            type(error).__name__,
        )
        raise RosterUnavailable from error
    return members


def _role(role: RegistryRole) -> str:
    return text(f"beheer_role_{role.value}")


def _held(held: beheer.HeldRole) -> str:
    return text("beheer_held", role=_role(held.role), place=held.place)


def _overview(overview: beheer.Overview) -> str:
    def rows(items: tuple[beheer.PlaceHolders, ...]) -> list[dict[str, Any]]:
        return [{"place": item.place.name, "people": list(item.people)} for item in items]

    return text(
        "beheer_overview",
        basisteams=rows(overview.basisteams),
        gemeenten=rows(overview.gemeenten),
        experts=list(overview.experts),
        beheerders=list(overview.beheerders),
    )


def _change(change: beheer.Change) -> str:
    kind = (
        text(f"beheer_place_kind_{change.role.value}") if change.role in beheer.SCOPED_ROLES else ""
    )
    return text(
        f"beheer_{change.outcome.value}",
        role=_role(change.role),
        kind=kind,
        person=change.person,
        place=change.place,
        typed=change.typed,
        people=change.people,
        places=change.places,
    )
