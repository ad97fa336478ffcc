"""`python -m bot chat` runs the same bot in-process and can be scripted line by line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.chat import run_chat
from support import local_settings


async def test_scripted_chat_answers_in_dutch_and_buttons_work_by_number(sqlite_url: str) -> None:
    out = io.StringIO()
    await run_chat(
        local_settings(sqlite_url),
        user_name="Sanne Script",
        stdin=io.StringIO("hallo\n2\n"),
        stdout=out,
    )
    transcript = out.getvalue().splitlines()
    assert transcript[0] == "bot: WELKOM BIJ DE RAPPORTAGEBOT"
    assert "     [2] Wat kun je?" in transcript
    assert "jij: hallo" in transcript
    # A greeting is answered as one, not searched as a question.
    assert any(line.startswith("bot: Hallo! Stel me een vraag") for line in transcript)
    # "2" pressed the welcome card's second button, which sends "help" like Teams' imBack.
    after = transcript[transcript.index("jij: 2") + 1 :]
    assert after[0] == "bot: WAT KAN DE RAPPORTAGEBOT?"


async def test_chat_resumes_the_same_conversation_next_time(sqlite_url: str) -> None:
    settings = local_settings(sqlite_url)
    first, second = io.StringIO(), io.StringIO()
    await run_chat(settings, "Piet Twee", stdin=io.StringIO(""), stdout=first)
    await run_chat(settings, "Piet Twee", stdin=io.StringIO("help\n"), stdout=second)
    assert "WELKOM" in first.getvalue()
    assert "WELKOM" not in second.getvalue()
    assert "WAT KAN DE RAPPORTAGEBOT?" in second.getvalue()


def test_printf_help_into_python_m_bot_chat(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSOFT_")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/chat.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="help\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "bot: WAT KAN DE RAPPORTAGEBOT?" in result.stdout
    assert "annuleer: Stop waar je mee bezig bent" in result.stdout
