"""The try-out page in a real browser: headless Chromium (Debian's `chromium` package) driven by
playwright-core from web/node_modules through tests/e2e/browser_driver.mjs; no browser is
downloaded. Anne requests a rapportage on the page, the person switch makes her Carla (the
coördinator of basisteam Heuvelrug), Carla accepts on the card, and back as Anne the status
change is there.

Skipped, with the reason, when node, Chromium, playwright-core or Web Chat is missing
(`make webchat` installs the npm pieces); REQUIRE_BROWSER=1 (set by .ci/run) makes that a
failure instead. On failure a screenshot and the transcript are written to the folder the
failure message names (BROWSER_ARTIFACTS, or the test's tmp folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.content import Bevoegdheid, ChecklistQuestion, QuestionType
from bot.local_channel import LocalConnector
from requesting import ROOT, SUBJECT, content, load_content, valid_answer
from support import BotServer, FakeClock, local_settings

WEB = ROOT / "web"
DRIVER = Path(__file__).with_name("browser_driver.mjs")
BUNDLE = WEB / "node_modules/botframework-webchat/dist/webchat.js"
# A command's answer normally comes within seconds; this only keeps a hung browser from
# hanging the suite.
COMMAND_LIMIT = 90.0


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (needed to drive the browser)"
    if _chromium() is None:
        return "no Chromium (apt-get install chromium, or set CHROMIUM to its path)"
    if not (WEB / "node_modules/playwright-core/package.json").is_file():
        return "playwright-core is not installed: run `make webchat`"
    if not BUNDLE.is_file():
        return "Web Chat is not installed: run `make webchat`"
    return None


def _chromium() -> str | None:
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless Chromium page, one JSON command at a time (browser_driver.mjs)."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(cls, artifacts: Path) -> Browser:
        log = artifacts / "driver.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                "node",
                str(DRIVER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
                env={**os.environ, "WEB_ROOT": str(WEB), "CHROMIUM": str(_chromium())},
            )
        return cls(process, log)

    async def do(self, op: str, **args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), COMMAND_LIMIT)
        if not line:
            raise BrowserError(f"the browser driver stopped; see {self.log}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise BrowserError(f"{op} {args}: {answer['error']}")
        return answer["result"]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.write(b'{"op": "close"}\n')
            await self.process.stdin.drain()
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    root = os.environ.get("BROWSER_ARTIFACTS")
    folder = Path(root) / request.node.name if root else tmp_path / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def browser(artifacts: Path) -> AsyncIterator[Browser]:
    missing = _missing()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    started = await Browser.start(artifacts)
    yield started
    await started.close()


@pytest.fixture
async def page(sqlite_url: str, connector: LocalConnector) -> AsyncIterator[BotServer]:
    """The app in local mode on a free loopback port, a fresh database with the demo registry
    and the knowledge loaded; the clock is a Monday in November 2026."""
    await load_content(sqlite_url)
    server = await BotServer(local_settings(sqlite_url), connector, clock=FakeClock()).start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def evidence(browser: Browser, artifacts: Path) -> AsyncIterator[None]:
    """On failure: a screenshot and the transcript, and where they are in the message."""
    try:
        yield
    except BaseException as error:
        with contextlib.suppress(Exception):
            await browser.do("screenshot", path=str(artifacts / "failure.png"))
        with contextlib.suppress(Exception):
            transcript = await browser.do("transcript")
            (artifacts / "transcript.txt").write_text(
                "\n\n---\n\n".join(transcript), encoding="utf-8"
            )
        raise AssertionError(f"{error}\n(screenshot and transcript in {artifacts})") from error


def _prefix(question: str) -> str:
    """A stretch of the question as Web Chat shows it (its Markdown turns ' into ’)."""
    cut = min((question.find(mark) for mark in "'\"‘’“”" if mark in question), default=40)
    return question[: min(cut, 40)].strip()


def _asked(bevoegdheid: Bevoegdheid) -> list[tuple[ChecklistQuestion, str]]:
    """The checklist questions the bot asks, with the answers given, when every answer is the
    content's first valid one (conditional questions follow the earlier answers)."""
    given: dict[str, Any] = {}
    asked = []
    for question in bevoegdheid.checklist:
        if question.condition is not None and not question.condition.holds(given):
            continue
        answer = valid_answer(question)
        if question.type is QuestionType.CHOICE:
            given[question.id] = next(c.value for c in question.choices if c.label == answer)
        elif question.type is QuestionType.YES_NO:
            given[question.id] = answer == "ja"
        else:
            given[question.id] = answer
        asked.append((question, answer))
    return asked


async def test_request_accept_and_status_in_the_browser(
    browser: Browser, page: BotServer, artifacts: Path
) -> None:
    camera = content()["cameratoezicht"]
    async with evidence(browser, artifacts):
        await browser.do("open", url=page.url("/"))
        await browser.do("person", name="Anne Aanvrager")
        await browser.do("wait", text="Welkom bij de rapportagebot")

        # The request dialog: buttons where the card offers them, typing elsewhere.
        await browser.do("click", button="Nieuwe aanvraag", expect="Welke bevoegdheid")
        await browser.do("say", text="cameratoezicht", expect="Voor welke gemeente")
        await browser.do("say", text="Zeist", expect="kort onderwerp")
        await browser.do("say", text=SUBJECT, expect="strafrechtelijk onderzoek")
        await browser.do("click", button="Nee", expect="boa")
        await browser.do("say", text="nee", expect="Welk type rapportage")
        await browser.do("say", text="eenvoudig", expect="Wanneer heeft de gemeente")
        asked = _asked(camera)
        await browser.do("say", text="15-12-2026", expect=_prefix(asked[0][0].text))
        for number, (question, answer) in enumerate(asked):
            following = asked[number + 1][0] if number + 1 < len(asked) else None
            expect = _prefix(following.text) if following else "Controleer je aanvraag"
            if question.type is QuestionType.CHOICE:
                await browser.do("click", button=answer, expect=expect)
            else:
                await browser.do("say", text=answer, expect=expect)
        await browser.do("click", button="Indienen", expect="is ingediend met kenmerk")

        # Carla, the coördinator of basisteam Heuvelrug, finds the request in her own chat.
        await browser.do("person", name="Carla Coördinator")
        await browser.do("wait", text="Aanvraag BR-2026-0001")
        await browser.do("click", button="Accepteren", expect="de status is nu geaccepteerd")

        # Back as Anne: the status change reached her conversation.
        await browser.do("person", name="Anne Aanvrager")
        await browser.do("wait", text="is nu geaccepteerd")
        await browser.do("wait", text="Geaccepteerd door Carla Coördinator")

        # Everything came from the bot's own server: no CDN, no errors on the page.
        assert await browser.do("problems") == []


async def test_without_web_chat_the_page_says_how_to_get_it(
    browser: Browser, page: BotServer, artifacts: Path
) -> None:
    async with evidence(browser, artifacts):
        await browser.do("route_404", path="/webchat/webchat.js")
        await browser.do("open", url=page.url("/"))
        notice = await browser.do("visible", selector="#geen-webchat")
        assert "make webchat" in notice
        # The person switch still lists the demo people.
        await browser.do("visible", selector="#persoon:not([disabled])")
