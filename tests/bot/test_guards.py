"""Who may reach the bot and where it may send (bot.guards, pure)."""

from __future__ import annotations

import pytest

from bot.guards import (
    DEFAULT_SERVICE_HOSTS,
    Inbound,
    Refusal,
    accepted_channels,
    refusal,
    service_url_allowed,
)

TENANT = "11111111-2222-3333-4444-555555555555"
TEAMS = "https://smba.trafficmanager.net/emea/"


@pytest.mark.parametrize(
    ("url", "local", "allowed"),
    [
        (TEAMS, False, True),
        ("https://smba.trafficmanager.net/teams/", False, True),
        ("https://SMBA.trafficmanager.net./amer/", False, True),
        ("https://smba.infra.gcc.teams.microsoft.com/teams", False, True),
        ("http://smba.trafficmanager.net/emea/", False, False),  # no TLS
        ("https://smba.trafficmanager.net.evil.example/", False, False),
        ("https://evil.example/?u=https://smba.trafficmanager.net/", False, False),
        ("https://user:pw@smba.trafficmanager.net/", False, False),
        ("https://smba.trafficmanager.net:notaport/", False, False),
        ("http://127.0.0.1:3978/", False, False),  # loopback is for local mode only
        ("", False, False),
        ("http://127.0.0.1:51234/", True, True),
        ("http://localhost:8080/", True, True),
        ("http://[::1]:8080/", True, True),
        ("https://127.0.0.1/", True, True),
        (TEAMS, True, False),  # local mode never sends a token to the internet
        ("http://10.0.0.5/", True, False),
        ("ftp://127.0.0.1/", True, False),
    ],
)
def test_service_urls(url: str, local: bool, allowed: bool) -> None:
    assert service_url_allowed(url, hosts=DEFAULT_SERVICE_HOSTS, local=local) is allowed


def test_host_patterns_are_configurable() -> None:
    hosts = ["*.botframework.com"]
    assert service_url_allowed(
        "https://europe.directline.botframework.com/", hosts=hosts, local=False
    )
    assert not service_url_allowed(
        "https://botframework.com.evil.example/", hosts=hosts, local=False
    )
    assert not service_url_allowed(TEAMS, hosts=hosts, local=False)


def inbound(**changes: object) -> Inbound:
    values: dict[str, object] = {
        "channel_id": "msteams",
        "tenant_ids": frozenset({TENANT}),
        "aad_object_id": "aad-1",
        "service_url": TEAMS,
    }
    values.update(changes)
    return Inbound(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"channel_id": "webchat"}, Refusal.CHANNEL),
        ({"channel_id": "emulator"}, Refusal.CHANNEL),
        ({"channel_id": ""}, Refusal.CHANNEL),
        ({"tenant_ids": frozenset({"other-tenant"})}, Refusal.TENANT),
        ({"tenant_ids": frozenset({TENANT, "other-tenant"})}, Refusal.TENANT),
        ({"tenant_ids": frozenset()}, Refusal.TENANT),
        ({"tenant_ids": frozenset({""})}, Refusal.TENANT),
        ({"aad_object_id": ""}, Refusal.NO_AAD_OBJECT_ID),
        ({"service_url": "https://evil.example/"}, Refusal.SERVICE_URL),
    ],
)
def test_deployed_pinning(changes: dict[str, object], expected: Refusal | None) -> None:
    verdict = refusal(
        inbound(**changes),
        allowed_tenants=[TENANT],
        service_hosts=DEFAULT_SERVICE_HOSTS,
        local=False,
    )
    assert verdict is expected


@pytest.mark.parametrize(
    ("changes", "allowed_tenants", "expected"),
    [
        ({"service_url": "http://127.0.0.1:9/"}, [], None),
        ({"service_url": "http://127.0.0.1:9/", "channel_id": "emulator"}, [], None),
        ({"service_url": "http://127.0.0.1:9/", "tenant_ids": frozenset()}, [], None),
        (
            {"service_url": "http://127.0.0.1:9/", "tenant_ids": frozenset({"x"})},
            [TENANT],
            Refusal.TENANT,
        ),
        ({"service_url": "http://127.0.0.1:9/", "channel_id": "slack"}, [], Refusal.CHANNEL),
        ({"service_url": TEAMS}, [], Refusal.SERVICE_URL),
        ({"service_url": "http://127.0.0.1:9/", "aad_object_id": ""}, [], Refusal.NO_AAD_OBJECT_ID),
    ],
)
def test_local_pinning(
    changes: dict[str, object], allowed_tenants: list[str], expected: Refusal | None
) -> None:
    verdict = refusal(
        inbound(**changes),
        allowed_tenants=allowed_tenants,
        service_hosts=DEFAULT_SERVICE_HOSTS,
        local=True,
    )
    assert verdict is expected


@pytest.mark.parametrize(
    ("channel", "configured", "local", "expected"),
    [
        # Deployed: Teams only unless configured; configuring replaces the default.
        ("msteams", ["msteams"], False, None),
        ("webchat", ["msteams"], False, Refusal.CHANNEL),
        ("directline", ["msteams"], False, Refusal.CHANNEL),
        ("webchat", ["msteams", "webchat"], False, None),
        ("msteams", ["webchat"], False, Refusal.CHANNEL),
        ("emulator", ["msteams", "webchat"], False, Refusal.CHANNEL),
        # Local mode: the configured channels plus the local clients.
        ("webchat", ["msteams"], True, None),
        ("directline", ["msteams"], True, None),
        ("emulator", ["msteams"], True, None),
        ("test", ["msteams"], True, None),
        ("slack", ["msteams"], True, Refusal.CHANNEL),
        ("slack", ["msteams", "slack"], True, None),
    ],
)
def test_allowed_channels_are_configurable(
    channel: str, configured: list[str], local: bool, expected: Refusal | None
) -> None:
    service_url = "http://127.0.0.1:9/" if local else TEAMS
    verdict = refusal(
        inbound(channel_id=channel, service_url=service_url),
        allowed_tenants=[TENANT],
        service_hosts=DEFAULT_SERVICE_HOSTS,
        local=local,
        allowed_channels=configured,
    )
    assert verdict is expected


def test_a_configured_channel_still_passes_every_other_check() -> None:
    """Allowing Web Chat outside local mode does not waive the tenant or the sender."""
    for changes, expected in (
        ({"tenant_ids": frozenset()}, Refusal.TENANT),
        ({"aad_object_id": ""}, Refusal.NO_AAD_OBJECT_ID),
        ({"service_url": "https://directline.botframework.com/"}, Refusal.SERVICE_URL),
    ):
        verdict = refusal(
            inbound(channel_id="webchat", **changes),
            allowed_tenants=[TENANT],
            service_hosts=DEFAULT_SERVICE_HOSTS,
            local=False,
            allowed_channels=["msteams", "webchat"],
        )
        assert verdict is expected


def test_accepted_channels_ignore_blanks_and_add_the_local_clients() -> None:
    assert accepted_channels([" msteams ", ""], local=False) == {"msteams"}
    assert accepted_channels(["msteams"], local=True) == {
        "msteams",
        "webchat",
        "directline",
        "emulator",
        "test",
    }
