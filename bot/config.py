"""Settings from environment variables and `.env`, validated once at start.

The bot runs in two shapes. *Local mode* (no app id) is for a developer's machine: the Bot
Framework SDK then treats every request without an Authorization header as authenticated, so
sender, `aadObjectId` and tenant could be forged by anyone who can reach the port — hence local
mode may only listen on loopback. *Deployed mode* (an app id) validates every request's JWT with
the SDK and must have everything it needs to do so; a half-configured bot refuses to start instead
of quietly accepting anonymous traffic.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.due_dates import DeadlineConfigError, DeadlinePolicy, validate_overrides
from bot.guards import DEFAULT_CHANNELS, DEFAULT_SERVICE_HOSTS, accepted_channels

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///data/rapportagebot.sqlite3"


class AppType(StrEnum):
    """Azure Bot identity types. Multi-tenant bots can no longer be created in Azure and would
    accept tokens for any tenant, so only single-tenant and managed identities are supported."""

    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


class ConfigError(Exception):
    """Configuration that cannot work; the message says which setting and what to do."""


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    microsoft_app_id: str = Field(default="", description="Azure Bot app (client) id")
    microsoft_app_password: SecretStr = Field(default=SecretStr(""), description="client secret")
    microsoft_app_type: AppType = AppType.SINGLE_TENANT
    microsoft_app_tenant_id: str = Field(default="", description="Entra tenant of the bot")
    allowed_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Hosts the bot may send to (and hand its token to), comma-separated, `*` wildcards allowed;
    # Teams' own service hosts by default. Local mode only ever talks to loopback.
    service_url_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_SERVICE_HOSTS)
    )
    # Bot Framework channels activities may come from, comma-separated (`msteams`, `webchat`,
    # `directline`, `emulator`, …); Teams only by default. Local mode also accepts the local
    # clients (see bot.guards). Tenant, sender and service-URL checks apply to every channel.
    allowed_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_CHANNELS)
    )
    database_url: str = DEFAULT_SQLITE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=3978, ge=1, le=65535)
    time_zone: str = "Europe/Amsterdam"
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    # An "aanvulling gevraagd" without answer: reminder after this many working days, closed as
    # ingetrokken after that many (the documents give no number; the organisation sets it).
    aanvulling_nudge_working_days: int = Field(default=5, ge=1)
    aanvulling_expire_working_days: int = Field(default=10, ge=1)
    # A question for the experts should be answered within this many working days; after that
    # the experts get one reminder.
    expert_answer_working_days: int = Field(default=3, ge=1)
    # Werkdagen per state for the due dates (issue 5), overriding the defaults documented in
    # bot/due_dates.py: a number for every report type or a mapping per report type, e.g.
    # '{"in_opstelling": {"complex_spoedeisend": 12}, "ingediend": 3}'. om_toetsing is the OM's
    # norm and aanvulling_gevraagd has its own setting, so naming either is an error.
    deadline_working_days: dict[str, int | dict[str, int]] = Field(default_factory=dict)
    # Sturingsoverleg: the agenda is posted this long before each meeting; whoever holds the
    # ball is reminded this many working days before a due date (08:00 that day); reminders
    # sent more than REMINDER_LATE_AFTER_MINUTES after their time say they are late; the
    # database is checked for due reminders every REMINDER_SWEEP_SECONDS.
    digest_lead_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    nudge_working_days: int = Field(default=2, ge=0, le=20)
    reminder_late_after_minutes: int = Field(default=15, ge=1)
    reminder_sweep_seconds: int = Field(default=60, ge=5, le=3600)
    # Where the bot opens a personal chat with someone who never wrote to it (Teams' global
    # service URL; the bot learns the tenant's own from incoming activities).
    teams_service_url: str = "https://smba.trafficmanager.net/teams/"
    # A closed request keeps its free text and personal data this many days after it closed,
    # then loses them (bot/retention.py). At least 30: the database refuses shorter periods.
    retention_days: int = Field(default=365, ge=30)
    # Outbox pacing, requests per second for this process (bot.notifier.SendWindow): Teams
    # allows a bot 50 per tenant and 7 per conversation. Each replica paces only itself, so with
    # N replicas set about limit / N; Teams answers any excess with 429 and Retry-After, which
    # the outbox honours. Above Teams' limits would only earn 429s.
    outbox_tenant_rate: int = Field(default=50, ge=1, le=50)
    outbox_conversation_rate: int = Field(default=7, ge=1, le=7)

    @field_validator("allowed_tenants", "service_url_hosts", "allowed_channels", mode="before")
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("allowed_channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "no channel left: the bot would refuse every activity (leave ALLOWED_CHANNELS "
                "unset for Teams only)"
            )
        for channel in value:
            if not re.fullmatch(r"[a-z0-9_.-]{1,64}", channel):
                raise ValueError(
                    f"{channel!r} is not a Bot Framework channel id (e.g. msteams, webchat)"
                )
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("deadline_working_days")
    @classmethod
    def _known_deadlines(cls, value: dict[str, int | dict[str, int]]) -> Any:
        try:
            validate_overrides(value)
        except DeadlineConfigError as error:
            raise ValueError(f"DEADLINE_WORKING_DAYS: {error}") from error
        return value

    def deadline_policy(self) -> DeadlinePolicy:
        """The due-date policy with this organisation's overrides (validated at load)."""
        return DeadlinePolicy(
            aanvulling_working_days=self.aanvulling_expire_working_days,
            overrides=validate_overrides(self.deadline_working_days),
        )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use sqlite+aiosqlite:///path/to/file.sqlite3 or "
                "postgresql+asyncpg://user@host:5432/database"
            )
        return value

    @model_validator(mode="after")
    def _safe_shape(self) -> Settings:
        if self.aanvulling_expire_working_days <= self.aanvulling_nudge_working_days:
            raise ValueError(
                "AANVULLING_EXPIRE_WORKING_DAYS must be larger than "
                "AANVULLING_NUDGE_WORKING_DAYS: the reminder comes before the request is closed."
            )
        if self.local_mode:
            if not _is_loopback(self.host):
                raise ValueError(
                    f"HOST={self.host} without MICROSOFT_APP_ID: local mode accepts "
                    "unauthenticated requests, so it only listens on loopback "
                    "(127.0.0.1, ::1 or localhost). Set MICROSOFT_APP_ID, "
                    "MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID to serve elsewhere."
                )
            return self
        missing = []
        if not self.microsoft_app_tenant_id:
            missing.append("MICROSOFT_APP_TENANT_ID")
        if (
            self.microsoft_app_type is AppType.SINGLE_TENANT
            and not self.microsoft_app_password.get_secret_value()
        ):
            missing.append("MICROSOFT_APP_PASSWORD")
        if missing:
            raise ValueError(
                f"MICROSOFT_APP_ID is set, so the bot runs deployed and also needs "
                f"{', '.join(missing)} (app type {self.microsoft_app_type.value})."
            )
        if not self.allowed_tenants:
            # The bot's own tenant is the safe default for who may talk to it.
            self.allowed_tenants = [self.microsoft_app_tenant_id]
        return self

    @property
    def local_mode(self) -> bool:
        return not self.microsoft_app_id

    @property
    def channels(self) -> frozenset[str]:
        """The channels activities are accepted from (ALLOWED_CHANNELS, plus the local clients
        in local mode)."""
        return accepted_channels(self.allowed_channels, local=self.local_mode)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url.removeprefix(prefix).split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise ConfigError with one readable line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = ["Invalid configuration:"]
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"]).upper() or "settings"
            message = str(item["msg"]).removeprefix("Value error, ")
            lines.append(f"  {field}: {message}" if item["loc"] else f"  {message}")
        raise ConfigError("\n".join(lines)) from error
