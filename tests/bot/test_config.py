"""Configuration refuses shapes that would be unsafe or cannot work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import AppType, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
TENANT = "11111111-2222-3333-4444-555555555555"
APP_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def settings(**values: object):  # type: ignore[no-untyped-def]
    return load_settings(_env_file=None, **values)


def test_local_mode_defaults_to_loopback_sqlite_and_amsterdam() -> None:
    loaded = settings()
    assert loaded.local_mode
    assert loaded.host == "127.0.0.1"
    assert loaded.port == 3978
    assert loaded.database_url.startswith("sqlite+aiosqlite:///data/")
    assert loaded.time_zone == "Europe/Amsterdam"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_local_mode_accepts_loopback_hosts(host: str) -> None:
    assert settings(host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "bot.example.org"])
def test_local_mode_refuses_any_other_host(host: str) -> None:
    with pytest.raises(ConfigError, match="only listens on loopback"):
        settings(host=host)


def test_deployed_mode_names_every_missing_setting() -> None:
    with pytest.raises(ConfigError) as error:
        settings(microsoft_app_id=APP_ID, host="0.0.0.0")
    assert "MICROSOFT_APP_TENANT_ID" in str(error.value)
    assert "MICROSOFT_APP_PASSWORD" in str(error.value)


def test_deployed_mode_with_everything_set_and_tenant_pinned_by_default() -> None:
    loaded = settings(
        microsoft_app_id=APP_ID,
        microsoft_app_password="geheim",
        microsoft_app_tenant_id=TENANT,
        host="0.0.0.0",
    )
    assert not loaded.local_mode
    assert loaded.microsoft_app_type is AppType.SINGLE_TENANT
    assert loaded.allowed_tenants == [TENANT]


def test_managed_identity_needs_no_password() -> None:
    loaded = settings(
        microsoft_app_id=APP_ID,
        microsoft_app_type="UserAssignedMSI",
        microsoft_app_tenant_id=TENANT,
    )
    assert loaded.microsoft_app_type is AppType.USER_ASSIGNED_MSI


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("microsoft_app_type", "MultiTenant", "MICROSOFT_APP_TYPE"),
        ("time_zone", "Europe/Nergens", "unknown time zone"),
        ("database_url", "mysql://x", "postgresql\\+asyncpg"),
        ("log_level", "chatty", "DEBUG"),
        ("port", 70000, "PORT"),
    ],
)
def test_invalid_values_are_explained(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**{field: value})


def test_allowed_tenants_parse_from_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_TENANTS", f"{TENANT}, other-tenant ,")
    assert settings().allowed_tenants == [TENANT, "other-tenant"]


def test_allowed_channels_default_to_teams_and_parse_from_a_comma_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployed = {
        "microsoft_app_id": APP_ID,
        "microsoft_app_password": "geheim",
        "microsoft_app_tenant_id": TENANT,
    }
    assert settings(**deployed).channels == {"msteams"}
    assert settings().channels == {"msteams", "webchat", "directline", "emulator", "test"}
    monkeypatch.setenv("ALLOWED_CHANNELS", "msteams, webchat ,")
    assert settings(**deployed).allowed_channels == ["msteams", "webchat"]
    assert settings(**deployed).channels == {"msteams", "webchat"}


@pytest.mark.parametrize(
    ("value", "message"), [("", "no channel left"), ("Teams!", "'Teams!' is not a Bot Framework")]
)
def test_allowed_channels_must_name_channels(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("ALLOWED_CHANNELS", value)
    with pytest.raises(ConfigError, match=f"ALLOWED_CHANNELS: {message}"):
        settings()


def test_serve_refuses_to_start_on_a_public_host_without_app_id(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSOFT_")}
    env.update(HOST="0.0.0.0", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "HOST=0.0.0.0" in result.stderr
    assert "loopback" in result.stderr


def test_deadline_overrides_parse_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.workflow import ReportType, RequestStatus

    monkeypatch.setenv(
        "DEADLINE_WORKING_DAYS", '{"in_opstelling": {"complex_spoedeisend": 12}, "ingediend": 3}'
    )
    policy = settings().deadline_policy()
    assert policy.working_days(RequestStatus.IN_OPSTELLING, ReportType.COMPLEX_SPOEDEISEND) == 12
    assert policy.working_days(RequestStatus.IN_OPSTELLING, ReportType.EENVOUDIG) == 10
    assert policy.working_days(RequestStatus.INGEDIEND, ReportType.EENVOUDIG) == 3
    assert policy.working_days(RequestStatus.OM_TOETSING, ReportType.EENVOUDIG) == 10


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"om_toetsing": 5}', "om_toetsing is fixed"),
        ('{"in_opstelling": {"complex": 5}}', "unknown report type"),
        ('{"ingediend": 0}', "must be a positive"),
        ('{"nergens": 3}', "unknown state"),
    ],
)
def test_invalid_deadline_overrides_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("DEADLINE_WORKING_DAYS", raw)
    with pytest.raises(ConfigError, match=message):
        settings()
