"""aiohttp application: `/api/messages`, `/healthz`, `/readyz`, and start/stop wiring.

`create_app(settings)` builds everything; nothing happens at import time. The messages route
checks the request itself before the SDK sees it: the SDK's own handler answers a missing
content type or malformed JSON with a 500, and lets some token errors escape as non-auth
exceptions, while a client error must be a 4xx and any authentication failure a 401 that runs no
handler.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from botbuilder.core import serializer_helper
from botbuilder.schema import Activity
from botframework.connector.auth import BotFrameworkAuthentication
from msrest.serialization import Model

from bot import experts, guards, lifecycle, reminders, retention, services, webchat
from bot.adapter import ReusingCloudAdapter, create_adapter, create_authentication
from bot.config import Settings
from bot.deadlines import DEFAULT_CALENDAR
from bot.jobs import Jobs
from bot.knowledge_service import KnowledgeService
from bot.local_channel import BOT_ID, LOCAL_TENANT
from bot.notifier import Notifier
from bot.teams import RapportageBot, Runtime
from dialogs.main import MainDialog
from dialogs.request import Clock
from storage.bot_state import SqlAlchemyStorage, SqlConversationState, SqlUserState
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class Components:
    settings: Settings
    database: Database
    authentication: BotFrameworkAuthentication
    adapter: ReusingCloudAdapter
    bot: RapportageBot
    scheduler: AsyncIOScheduler
    notifier: Notifier
    clock: Clock
    jobs: Jobs
    knowledge: KnowledgeService


COMPONENTS = web.AppKey("components", Components)


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def build_components(settings: Settings, clock: Clock = system_clock) -> Components:
    """Wire the object graph; connects to nothing until first use."""
    database = Database.connect(settings.database_url)
    storage = SqlAlchemyStorage(database)
    authentication = create_authentication(settings)
    user_state = SqlUserState(storage)
    knowledge = KnowledgeService(database)
    dialog = MainDialog(
        database,
        clock,
        settings.tz,
        last_gemeente=user_state.create_property("last_gemeente"),
        knowledge=knowledge,
        deadlines=settings.deadline_policy(),
        digest_lead=dt.timedelta(minutes=settings.digest_lead_minutes),
    )
    notifier = Notifier(
        database,
        authentication,
        bot_id=BOT_ID if settings.local_mode else f"28:{settings.microsoft_app_id}",
        tenant_id=LOCAL_TENANT if settings.local_mode else settings.microsoft_app_tenant_id,
        fallback_service_url=settings.teams_service_url,
        clock=clock,
        per_conversation_per_second=settings.outbox_conversation_rate,
        per_tenant_per_second=settings.outbox_tenant_rate,
        service_url_allowed=functools.partial(
            guards.service_url_allowed,
            hosts=settings.service_url_hosts,
            local=settings.local_mode,
        ),
    )
    runtime = Runtime(
        database=database,
        clock=clock,
        tz=settings.tz,
        wake=notifier.wake,
        knowledge=knowledge,
        expert_due_working_days=settings.expert_answer_working_days,
        calendar=DEFAULT_CALENDAR,
        deadlines=settings.deadline_policy(),
    )
    bot = RapportageBot(SqlConversationState(storage), user_state, dialog, runtime)
    return Components(
        settings=settings,
        database=database,
        authentication=authentication,
        adapter=create_adapter(authentication, settings),
        bot=bot,
        # Ticks in memory only: durable work is derived from our own tables (no pickled jobs).
        scheduler=AsyncIOScheduler(timezone=settings.tz),
        notifier=notifier,
        clock=clock,
        jobs=Jobs(),
        knowledge=knowledge,
    )


async def sweep_aanvullingen(components: Components) -> None:
    """The scheduler's tick for unanswered aanvullingen; the database says what is due, so a
    tick missed while the bot was down is simply done at the next one."""
    settings = components.settings
    catalogue = await services.load_catalogue(components.database)
    report = await lifecycle.sweep_aanvullingen(
        components.database,
        now=components.clock(),
        tz=settings.tz,
        calendar=DEFAULT_CALENDAR,
        nudge_after=settings.aanvulling_nudge_working_days,
        expire_after=settings.aanvulling_expire_working_days,
        catalogue=catalogue,
    )
    if report.nudged or report.expired:
        log.info("aanvullingen: %d nudged, %d closed", len(report.nudged), len(report.expired))
        components.notifier.wake()


async def sweep_expert_questions(components: Components) -> None:
    """The scheduler's tick for expert questions past their due date: one reminder each."""
    nudged = await experts.sweep_questions(
        components.database, now=components.clock(), tz=components.settings.tz
    )
    if nudged:
        log.info("expert questions: %d nudged", len(nudged))
        components.notifier.wake()


def reminder_policy(settings: Settings) -> reminders.ReminderPolicy:
    return reminders.ReminderPolicy(
        digest_lead=dt.timedelta(minutes=settings.digest_lead_minutes),
        nudge_working_days=settings.nudge_working_days,
        late_after=dt.timedelta(minutes=settings.reminder_late_after_minutes),
        calendar=DEFAULT_CALENDAR,
    )


async def sweep_reminders(components: Components) -> None:
    """The scheduler's tick for the sturingsoverleg: digests, nudges and escalations that are
    due. Also the first thing after a start, so what fell due while the bot was down goes out."""
    report = await reminders.sweep(
        components.database,
        now=components.clock(),
        tz=components.settings.tz,
        catalogue=await services.load_catalogue(components.database),
        policy=reminder_policy(components.settings),
    )
    if report.anything:
        log.info(
            "reminders: %d digests, %d nudged, %d escalated (%d late)",
            len(report.digests),
            len(report.nudged),
            len(report.escalated),
            report.late,
        )
        components.notifier.wake()


async def sweep_retention(components: Components) -> None:
    """The scheduler's tick for retention: closed requests past RETENTION_DAYS lose their free
    text (bot/retention.py). Several ticks a day, so a day missed while the bot was down is
    caught up within hours; a tick with nothing due only reads."""
    report = await retention.purge(
        components.database,
        now=components.clock(),
        retention=dt.timedelta(days=components.settings.retention_days),
    )
    if report.purged or report.postponed:
        log.info(
            "retention: %d requests purged, %d postponed",
            len(report.purged),
            len(report.postponed),
        )


def settings_tz(components: Components) -> dt.tzinfo:
    return components.settings.tz


def create_app(settings: Settings, components: Components | None = None) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[COMPONENTS] = components or build_components(settings)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if settings.local_mode:
        # The browser try-out page (bot/webchat.py): loopback only, never registered deployed.
        webchat.register(app, app[COMPONENTS].database)
    app.cleanup_ctx.append(_lifecycle)
    return app


def _every(
    components: Components,
    name: str,
    tick: Callable[[Components], Awaitable[None]],
    **interval: float,
) -> None:
    """A scheduler tick that runs once at start and then every `interval`: a late tick is still
    worth running, and ticks that piled up collapse into one."""
    components.scheduler.add_job(
        components.jobs.run,
        "interval",
        args=[name, functools.partial(tick, components)],
        id=name,
        name=name,
        misfire_grace_time=None,
        coalesce=True,
        next_run_time=dt.datetime.now(settings_tz(components)),
        **interval,
    )


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    components = app[COMPONENTS]
    _every(components, "sweep_aanvullingen", sweep_aanvullingen, minutes=10)
    _every(components, "sweep_expert_questions", sweep_expert_questions, minutes=10)
    _every(
        components,
        "sweep_reminders",
        sweep_reminders,
        seconds=components.settings.reminder_sweep_seconds,
    )
    _every(components, "sweep_retention", sweep_retention, hours=6)
    components.scheduler.start()
    await components.notifier.start()
    log.info(
        "rapportagebot started (%s mode, database %s)",
        "local" if components.settings.local_mode else "deployed",
        components.database.dialect,
    )
    yield
    components.scheduler.shutdown(wait=False)
    # Running ticks finish before the database goes (see bot/jobs.py).
    await components.jobs.close()
    await components.notifier.stop()
    await components.adapter.close()
    await components.database.dispose()
    log.info("rapportagebot stopped")


def _problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def messages(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    # The body is read first, whatever the headers say: aiohttp drains an unread body after the
    # answer, and a body it cannot decode then fails there (logged as an unhandled exception).
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _problem(413, "request body too large")
    except web.RequestPayloadError:
        # A body that does not match its Content-Encoding (say "gzip" over plain bytes). The
        # connection is beyond repair: say so, or the client sends its next request into it;
        # and mark the body consumed, or aiohttp reads on after the answer to drain it.
        request.content.feed_eof()
        response = _problem(400, "body cannot be decoded")
        response.force_close()
        return response
    if request.content_type != "application/json":
        return _problem(415, "Content-Type must be application/json")
    if (request.charset or "utf-8").lower().replace("_", "-") not in ("utf-8", "utf8"):
        # JSON on the wire is UTF-8 (RFC 8259); an unknown charset made aiohttp's own decoding
        # raise LookupError, a 500.
        return _problem(415, "charset must be utf-8")
    try:
        body = _parse_json(raw)
    except (ValueError, RecursionError):
        return _problem(400, "body is not valid JSON")
    if not isinstance(body, dict):
        return _problem(400, "body must be a JSON object (an activity)")
    try:
        activity = Activity().deserialize(body)
    except Exception:
        return _problem(400, "body is not a valid activity")
    problem = _activity_problem(activity)
    if problem:
        return _problem(400, problem)

    auth_header = request.headers.get("Authorization", "")
    if components.settings.local_mode and auth_header:
        # Local mode has no app id to validate a token against; refusing is the only safe answer.
        return _problem(401, "local mode accepts no Authorization header")
    try:
        authenticated = await components.authentication.authenticate_request(activity, auth_header)
    except Exception as error:
        log.warning("rejected unauthenticated request: %s", type(error).__name__)
        return _problem(401, "unauthorized")
    if not components.settings.local_mode and not _expires(authenticated):
        # The SDK lets PyJWT accept a token without `exp`: such a token would never expire.
        log.warning("rejected a token without expiry (activity %s)", activity.id)
        return _problem(401, "unauthorized")

    refused = guards.refusal(
        _inbound(body, activity),
        allowed_tenants=components.settings.allowed_tenants,
        service_hosts=components.settings.service_url_hosts,
        local=components.settings.local_mode,
        allowed_channels=components.settings.allowed_channels,
    )
    if refused is not None:
        # Ids only: what was refused and why, never the text.
        log.warning(
            "refused activity %s (%s): channel %s, conversation %s",
            activity.id,
            refused.value,
            activity.channel_id,
            activity.conversation.id if activity.conversation else None,
        )
        return _problem(403, f"activity refused: {refused.value}")

    invoke_response = await components.adapter.process_activity(
        authenticated, activity, components.bot.on_turn
    )
    if invoke_response:
        body = invoke_response.body
        # The activity handler already serialises its bodies; only msrest models need it here.
        if isinstance(body, Model):
            body = serializer_helper(body)
        return web.json_response(data=body, status=invoke_response.status)
    return web.Response(status=201)


# Teams' activities nest a few levels (a card's data inside an action inside the value); 64 is far
# beyond any real one and far below what the handlers' recursion (serialisers, the state store)
# survives.
MAX_JSON_DEPTH = 64


def _parse_json(raw: bytes) -> Any:
    """The body as strict JSON, or ValueError (RecursionError for extreme nesting).

    Python's json module is laxer than JSON, and each laxity reached a handler as a crash:
    NaN and Infinity (also from an overflowing number such as 1e999) are not JSON and cannot be
    stored in PostgreSQL's json; a lone surrogate escape ("\\ud800") decodes to a string that
    cannot be encoded as UTF-8 again, so rendering a card or storing state failed; and deep
    nesting exhausted the stack in the handlers. U+0000 is valid JSON but PostgreSQL's text and
    jsonb cannot hold it: a typed answer with it failed the turn when the dialog state was saved.
    Teams sends none of these."""
    body = json.loads(raw.decode("utf-8"), parse_constant=_not_json, parse_float=_finite)
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError("JSON nested too deeply")
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
            pending.extend((key, depth) for key in value)
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValueError("U+0000 in a string")
            value.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
    return body


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(number: str) -> float:
    value = float(number)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _expires(authenticated: Any) -> bool:
    identity = getattr(authenticated, "claims_identity", None)
    claims = getattr(identity, "claims", None)
    expiry = claims.get("exp") if isinstance(claims, dict) else None
    return isinstance(expiry, int | float) and not isinstance(expiry, bool)


def _inbound(body: dict[str, Any], activity: Activity) -> guards.Inbound:
    """Read the tenant from the raw body: the SDK's model drops Teams' `conversation.tenantId`
    (it expects "tenantID"), and a forged second tenant must not hide behind the first."""
    tenants: set[str] = set()
    channel_data = body.get("channelData")
    if isinstance(channel_data, dict) and isinstance(channel_data.get("tenant"), dict):
        tenants.add(str(channel_data["tenant"].get("id") or ""))
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        for key in ("tenantId", "tenantID"):
            if conversation.get(key):
                tenants.add(str(conversation[key]))
    sender = activity.from_property
    return guards.Inbound(
        channel_id=str(activity.channel_id or ""),
        tenant_ids=frozenset(tenants),
        aad_object_id=str((sender.aad_object_id if sender else None) or ""),
        service_url=str(activity.service_url or ""),
    )


def _activity_problem(activity: Activity) -> str | None:
    if not activity.type or not isinstance(activity.type, str):
        return "activity has no type"
    if not activity.conversation or not activity.conversation.id:
        return "activity has no conversation id"
    if not activity.recipient or not activity.recipient.id:
        # Every activity to a bot names it; handlers (ours and the SDK's, e.g. removing the
        # @mention or spotting the bot among new members) read recipient.id and crashed.
        return "activity has no recipient"
    sender = activity.from_property
    if not sender or not sender.id:
        # The SDK keys user state by from.id and raised TypeError in the turn without it.
        return "activity has no sender"
    for name, value, limit in (
        ("id", activity.id, MAX_ID_LENGTH),
        ("conversation.id", activity.conversation.id, MAX_ADDRESS_LENGTH),
        ("conversation.tenantId", activity.conversation.tenant_id, MAX_GUID_LENGTH),
        ("recipient.id", activity.recipient.id, MAX_ADDRESS_LENGTH),
        ("from.id", sender.id, MAX_ADDRESS_LENGTH),
        ("from.aadObjectId", sender.aad_object_id, MAX_GUID_LENGTH),
    ):
        if value is not None and not _identifier(value, limit):
            return f"activity has an invalid {name}"
    service_url = activity.service_url
    if not isinstance(service_url, str) or not service_url.startswith(("https://", "http://")):
        return "activity has no valid serviceUrl"
    if not activity.channel_id:
        return "activity has no channelId"
    return None


# Identifiers are stored (the audit trail's activity ids in 200 characters, AAD object and tenant
# ids in 64) and put in the path of the URL a reply is sent to. Teams' are short printable ASCII
# ("1:1AbC…", "a:1xYz…", "19:…@thread.tacv2;messageid=…", GUIDs); anything else is refused at
# the door rather than failing a database write or the reply's request later on.
MAX_ID_LENGTH = 200
MAX_ADDRESS_LENGTH = 512
MAX_GUID_LENGTH = 64


def _identifier(value: object, limit: int) -> bool:
    """Short printable ASCII, safe in a URL path: the SDK formats ids into its request URLs
    without escaping braces ("{x}" broke the reply's URL), and an id of dots is a "." or ".."
    path segment that the HTTP client folds away, so the reply went to another address."""
    return (
        isinstance(value, str)
        and len(value) <= limit
        and value.isascii()
        and value.isprintable()
        and "{" not in value
        and "}" not in value
        and value.strip(".") != ""
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    database = request.app[COMPONENTS].database
    if await database.ping():
        return web.json_response({"status": "ready", "database": database.dialect})
    return web.json_response({"status": "unavailable", "database": database.dialect}, status=503)
