"""Who may reach the bot and where the bot may send (pure: plain values in, a verdict out).

Facts this guards against (Bot Framework SDK for Python 4.17):

- A valid token says a Bot Framework channel sent the activity; it does not pin the tenant. Any
  Teams tenant that installs the app can talk to the bot, so the tenant is checked here against
  ALLOWED_TENANTS (the bot's own tenant by default).
- The SDK attaches the bot's outbound token to whatever `serviceUrl` an activity or a stored
  conversation reference names: its trusted-service-URL check is obsolete and always true. A
  tampered reference would hand the bot's token to a stranger's server, so every inbound
  activity and every outbound call is checked against an allowlist of service hosts: Teams' own
  by default, loopback only in local mode.
- Without `from.aadObjectId` nobody can be matched to a role, so such activities are refused
  instead of treated as an anonymous user.
- Only the channels the bot is meant for are accepted: Teams (`msteams`) by default, more when
  configured (ALLOWED_CHANNELS); local mode also accepts the clients a developer uses (Web Chat,
  Direct Line, the Emulator, the SDK's test channel). Every other check applies to every channel.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

# Teams' service hosts per cloud (https://smba.trafficmanager.net/<region>/ in the public
# cloud; the US government clouds have their own). An organisation can narrow or extend this.
DEFAULT_SERVICE_HOSTS = (
    "smba.trafficmanager.net",
    "smba.infra.gcc.teams.microsoft.com",
    "smba.infra.gov.teams.microsoft.us",
    "smba.infra.dod.teams.microsoft.us",
)
TEAMS_CHANNEL = "msteams"
DEFAULT_CHANNELS = (TEAMS_CHANNEL,)
# Local mode also talks to the terminal chat, the Bot Framework Emulator and the local web page.
LOCAL_CHANNELS = frozenset({TEAMS_CHANNEL, "emulator", "webchat", "directline", "test"})


def accepted_channels(configured: Collection[str], *, local: bool) -> frozenset[str]:
    """The channels activities may come from: the configured ones, plus the local clients in
    local mode."""
    channels = frozenset(channel.strip() for channel in configured if channel.strip())
    return channels | LOCAL_CHANNELS if local else channels


LOOPBACK_NAMES = frozenset({"localhost"})


class Refusal(StrEnum):
    CHANNEL = "channel"
    TENANT = "tenant"
    NO_AAD_OBJECT_ID = "no_aad_object_id"
    SERVICE_URL = "service_url"


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def service_url_allowed(url: str, *, hosts: Sequence[str], local: bool) -> bool:
    """Whether the bot may call (and hand its token to) `url`: https to an allowed host when
    deployed (patterns like `*.example.org` allowed), any loopback address in local mode."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if local:
        return parts.scheme in ("http", "https") and _is_loopback(host)
    if parts.scheme != "https":
        return False
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in hosts)


@dataclass(frozen=True)
class Inbound:
    """What the pinning check needs from an activity."""

    channel_id: str
    tenant_ids: frozenset[str]  # every tenant id the activity names (channelData, conversation)
    aad_object_id: str
    service_url: str


def refusal(
    inbound: Inbound,
    *,
    allowed_tenants: Collection[str],
    service_hosts: Sequence[str],
    local: bool,
    allowed_channels: Collection[str] = DEFAULT_CHANNELS,
) -> Refusal | None:
    """Why this activity must not reach any handler, or None when it may."""
    if inbound.channel_id not in accepted_channels(allowed_channels, local=local):
        return Refusal.CHANNEL
    if not service_url_allowed(inbound.service_url, hosts=service_hosts, local=local):
        return Refusal.SERVICE_URL
    # In local mode without a configured list every (made-up) tenant is fine; deployed, the list
    # always holds at least the bot's own tenant (bot.config).
    if allowed_tenants or not local:
        tenants = {tenant for tenant in inbound.tenant_ids if tenant}
        if not tenants or not tenants <= set(allowed_tenants):
            return Refusal.TENANT
    if not inbound.aad_object_id:
        return Refusal.NO_AAD_OBJECT_ID
    return None
