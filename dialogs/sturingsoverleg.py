"""`koppel dit kanaal aan basisteam X elke dinsdag om 10:00` and `ontkoppel` in a team channel:
the Teams side of `bot.sturingsoverleg`.

Only an activity from the channel itself tells the bot the channel's conversation reference, so
the command must be typed there; who may use it is decided by the sender as Teams reports it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from botbuilder.core import TurnContext
from sqlalchemy import select

from bot import sturingsoverleg
from bot.sturing import parse_link_command, parse_unlink_command
from bot.sturingsoverleg import LinkOutcome
from cards.render import text
from dialogs.beheer import channel_reference
from storage.db import Database
from storage.models import Basisteam

CHANNEL_SCOPES = ("channel", "groupChat")


def _lead(lead: dt.timedelta) -> str:
    minutes = int(lead.total_seconds() // 60)
    if minutes and minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} dag{'en' if days != 1 else ''}"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60} uur"
    return f"{minutes} minuten"


async def _example_team(database: Database) -> str:
    async with database.sessions() as session:
        name = await session.scalar(select(Basisteam.name).order_by(Basisteam.name).limit(1))
    return name or "Heuvelrug"


async def handle_link(
    context: TurnContext,
    database: Database,
    *,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    digest_lead: dt.timedelta,
) -> None:
    activity = context.activity
    command = parse_link_command(activity.text or "")
    conversation = activity.conversation
    if conversation is None or conversation.conversation_type not in CHANNEL_SCOPES:
        await context.send_activity(text("koppel_personal"))
        return
    if command is None or not command.basisteam:
        await context.send_activity(text("koppel_no_team"))
        return
    if command.rhythm_text and command.rhythm is None:
        await context.send_activity(text("koppel_bad_rhythm", typed=command.rhythm_text))
        return
    sender = activity.from_property
    result = await sturingsoverleg.link(
        database,
        actor=(sender.aad_object_id if sender else None) or "",
        typed_team=command.basisteam,
        rhythm=command.rhythm,
        conversation=channel_reference(activity),
        service_url=activity.service_url or "",
        now=now,
        tz=tz,
        digest_lead=digest_lead,
    )
    if result.outcome is LinkOutcome.UNKNOWN_TEAM:
        await context.send_activity(
            text(
                "koppel_unknown_team",
                typed=command.basisteam,
                example=await _example_team(database),
            )
        )
    elif result.outcome is LinkOutcome.AMBIGUOUS_TEAM:
        await context.send_activity(
            text(
                "koppel_ambiguous_team",
                typed=command.basisteam,
                candidates=", ".join(result.basisteams),
            )
        )
    elif result.outcome is LinkOutcome.NOT_ALLOWED:
        await context.send_activity(text("koppel_not_allowed", basisteam=result.basisteams[0]))
    else:
        meeting = result.next_meeting.astimezone(tz) if result.next_meeting else None
        await context.send_activity(
            text(
                f"koppel_{result.outcome.value}",
                basisteam=result.basisteams[0],
                rhythm=result.rhythm.describe() if result.rhythm else "",
                lead=_lead(digest_lead),
                next_meeting=(
                    f"{text(f'weekday_{meeting.weekday()}')} {meeting:%d-%m-%Y %H:%M}"
                    if meeting
                    else ""
                ),
            )
        )


async def handle_unlink(context: TurnContext, database: Database) -> None:
    activity = context.activity
    command = parse_unlink_command(activity.text or "")
    conversation = activity.conversation
    if conversation is None or conversation.conversation_type not in CHANNEL_SCOPES:
        await context.send_activity(text("koppel_personal"))
        return
    typed = command.basisteam if command else None
    sender = activity.from_property
    result = await sturingsoverleg.unlink(
        database,
        actor=(sender.aad_object_id if sender else None) or "",
        conversation_id=str(channel_reference(activity)["conversation"]["id"]),
        typed_team=typed,
    )
    await context.send_activity(
        text(
            f"ontkoppel_{result.outcome.value}",
            basisteams=", ".join(result.basisteams),
            count=len(result.basisteams),
            typed=typed or "",
        )
    )
