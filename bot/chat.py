"""`python -m bot chat`: the same bot, in-process, on the same database, in a terminal.

The bot is served on an ephemeral loopback port and its replies go to a LocalConnector, so every
line goes through the real adapter and `/api/messages` exactly as a Teams message would. Cards
are printed as text with numbered buttons; typing a number (or a button's title) presses it.
When stdin is not a terminal, each line is one user message, so a conversation can be scripted.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from bot.app import create_app
from bot.config import Settings
from bot.local_channel import BOT_ID, LOCAL_TENANT, LocalConnector, Received
from cards.text import Button, card_to_text

CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"


def local_identity(name: str) -> tuple[str, str]:
    """Stable ids per person, so a conversation (and a half-finished request) resumes later."""
    object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rapportagebot:local:{name.lower()}"))
    return f"29:{object_id}", object_id


@dataclass
class ChatSession:
    """One person's personal chat with the bot, driven over HTTP like Teams would."""

    bot_url: str
    connector: LocalConnector
    user_name: str
    http: aiohttp.ClientSession
    buttons: list[Button] = field(default_factory=list)
    # The personal chat the bot opened itself, when it wrote to this person first.
    conversation: str | None = None
    # Teams announces the app in a personal chat (conversationUpdate) before anyone can write
    # in it: the first message posted into this session's personal chat is preceded by that
    # announcement (its replies are not returned), unless a test models a missed install.
    announce_install: bool = True
    installed: bool = False

    @property
    def user_id(self) -> str:
        return local_identity(self.user_name)[0]

    @property
    def conversation_id(self) -> str:
        return self.conversation or f"a:local-chat-{local_identity(self.user_name)[1]}"

    def activity(self, **fields: Any) -> dict[str, Any]:
        user_id, object_id = local_identity(self.user_name)
        base: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "channelId": "msteams",
            "serviceUrl": self.connector.url,
            "from": {"id": user_id, "name": self.user_name, "aadObjectId": object_id},
            "recipient": {"id": BOT_ID, "name": "Rapportagebot"},
            "conversation": {
                "id": self.conversation_id,
                "conversationType": "personal",
                "tenantId": LOCAL_TENANT,
            },
            "channelData": {"tenant": {"id": LOCAL_TENANT}},
            "locale": "nl-NL",
        }
        base.update(fields)
        return base

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any, list[Received]]:
        if self._install_first(activity):
            await self.start()
        before = len(self.connector.received)
        async with self.http.post(self.bot_url, json=activity) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body, self.connector.received[before:]

    async def start(self) -> list[Received]:
        """Announce the install; the bot welcomes once per conversation (state is persisted)."""
        self.installed = True
        _, _, replies = await self.post(
            self.activity(type="conversationUpdate", membersAdded=[{"id": BOT_ID}])
        )
        return replies

    async def say(self, line: str) -> tuple[list[Received], str | None]:
        """Send a typed line or press a numbered button; returns replies and an invoke message."""
        button = self._button_for(line)
        if button is None:
            _, _, replies = await self.post(self.activity(type="message", text=line))
            return replies, None
        return await self.press(button, {})

    async def press(
        self, button: Button, inputs: dict[str, str]
    ) -> tuple[list[Received], str | None]:
        if button.kind == "imback":
            _, _, replies = await self.post(self.activity(type="message", text=button.text))
            return replies, None
        if button.kind == "execute":
            value = {
                "action": {
                    "type": "Action.Execute",
                    "verb": button.verb,
                    "data": {**button.data, **inputs},
                },
                "trigger": "manual",
            }
            _, body, replies = await self.post(
                self.activity(type="invoke", name="adaptiveCard/action", value=value)
            )
            message = body.get("value") if isinstance(body, dict) else None
            if isinstance(body, dict) and body.get("type") == CARD_RESPONSE:
                # Teams puts the returned card in place of the clicked one: show it as a reply.
                replies = [*replies, _card_reply(self.conversation_id, body.get("value") or {})]
                return replies, None
            return replies, message if isinstance(message, str) else None
        payload = {**button.data, **inputs}
        _, _, replies = await self.post(
            self.activity(type="message", text=button.text or None, value=payload)
        )
        return replies, None

    def _install_first(self, activity: dict[str, Any]) -> bool:
        conversation = activity.get("conversation")
        return (
            self.announce_install
            and not self.installed
            and activity.get("type") == "message"
            and isinstance(conversation, dict)
            and conversation.get("id") == self.conversation_id
        )

    def _button_for(self, line: str) -> Button | None:
        choice = line.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(self.buttons):
            return self.buttons[int(choice) - 1]
        for button in self.buttons:
            if button.title.strip().lower() == choice.lower():
                return button
        return None

    def render(self, replies: list[Received]) -> list[str]:
        """Text for the terminal; remembers the newest buttons for the next line."""
        lines: list[str] = []
        for reply in replies:
            if reply.text:
                lines.append(f"bot: {_plain(reply.text)}")
            for card in reply.cards:
                rendered = card_to_text(card)
                lines.extend(f"bot: {_plain(line)}" for line in rendered.lines)
                # The newest card decides what a typed number means, even without buttons.
                self.buttons = rendered.buttons
                if rendered.buttons:
                    lines.extend(
                        f"     [{number}] {button.title}"
                        for number, button in enumerate(rendered.buttons, start=1)
                    )
        return lines


def _card_reply(conversation_id: str, card: dict[str, Any]) -> Received:
    return Received(
        method="INVOKE",
        path="",
        conversation_id=conversation_id,
        activity_id=None,
        body={"attachments": [{"contentType": CARD_RESPONSE, "content": card}]},
        authorization=None,
    )


def _plain(text: str) -> str:
    return text.replace("**", "")


async def run_chat(
    settings: Settings,
    user_name: str,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    from storage.migrate import upgrade

    source = stdin or sys.stdin
    out = stdout or sys.stdout
    interactive = source.isatty()
    if settings.sqlite_path() is not None:
        # A developer's own SQLite file: bring it up to date so `chat` works on a fresh checkout.
        import asyncio

        await asyncio.to_thread(upgrade, settings.database_url)

    connector = await LocalConnector().start()
    local = settings.model_copy(update={"microsoft_app_id": ""})
    runner = web.AppRunner(create_app(local), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            session = ChatSession(
                f"http://127.0.0.1:{port}/api/messages", connector, user_name, http
            )
            if interactive:
                print(f"Chat met de rapportagebot als {user_name}. Ctrl-D stopt.", file=out)
            for line in session.render(await session.start()):
                print(line, file=out)
            while True:
                if interactive:
                    print("jij> ", end="", file=out, flush=True)
                raw = source.readline()
                if not raw:
                    break
                line = raw.rstrip("\n")
                if not line.strip():
                    continue
                if not interactive:
                    print(f"jij: {line}", file=out)
                replies, message = await session.say(line)
                for rendered in session.render(replies):
                    print(rendered, file=out)
                if message:
                    print(f"bot: {_plain(message)}", file=out)
    finally:
        await runner.cleanup()
        await connector.stop()
    return 0
