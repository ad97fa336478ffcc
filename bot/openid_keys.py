"""The Bot Framework SDK's signing-key cache, made safe (botframework-connector 4.17).

The SDK validates a channel's token against keys from OpenID metadata, cached per metadata URL
in `_OpenIdMetadata`. That class has three defects that matter for a deployed bot, and since the
SDK is archived upstream they are corrected here, at the edge, by replacing its three methods:

- An unknown key id raises `IndexError` in `_find` before the "refresh when a key is not found"
  branch can run, so when the channel starts signing with a newly published key every request is
  refused until the daily refresh: up to a day of 401s. Here an unknown key id triggers a fresh
  fetch, at most once per `UNKNOWN_KEY_REFRESH` so made-up key ids cannot make the bot hammer
  the metadata host.
- `_refresh` calls blocking `requests.get` without a timeout on the event loop: one slow answer
  from the metadata host freezes every conversation of the process. Here the fetch runs in a
  worker thread with `FETCH_TIMEOUT`, and concurrent turns wait for one fetch instead of each
  starting their own.
- A key that lists no endorsements skips the check that the channel endorsed it. The channel's
  metadata endorses every key; here, in metadata whose keys carry endorsements, a key without any
  is not trusted. (The Entra metadata used for other token kinds has no endorsements at all and
  is unaffected.)

Everything else (which metadata URL, issuers, audiences, algorithms) stays the SDK's.
`install()` is idempotent and called when the adapter's authentication is built.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

import requests
from botframework.connector.auth import jwt_token_extractor
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

MAX_AGE = dt.timedelta(days=1)
UNKNOWN_KEY_REFRESH = dt.timedelta(minutes=5)
FETCH_TIMEOUT = 10.0  # seconds, per request (metadata, then the key set)

_Metadata = jwt_token_extractor._OpenIdMetadata
_Config = jwt_token_extractor._OpenIdConfig
_MARK = "_rapportagebot_safe_keys"


def install() -> None:
    if getattr(_Metadata, _MARK, False):
        return
    _Metadata.get = _get
    _Metadata._refresh = _refresh
    _Metadata._find = _find
    setattr(_Metadata, _MARK, True)


async def _get(self: Any, key_id: str | None) -> Any:
    if _now() - self.last_updated > MAX_AGE:
        await _refresh_once(self, unless_newer_than=_now() - MAX_AGE)
    key = self._find(key_id)
    if key is None and key_id and _now() - self.last_updated > UNKNOWN_KEY_REFRESH:
        log.info("signing key %s not in the cached set: fetching the metadata again", key_id)
        await _refresh_once(self, unless_newer_than=_now() - UNKNOWN_KEY_REFRESH)
        key = self._find(key_id)
    if key is None:
        # The SDK would go on with None and fail on an attribute; say what is wrong instead.
        raise PermissionError("unknown or untrusted signing key")
    return key


async def _refresh_once(self: Any, *, unless_newer_than: dt.datetime) -> None:
    """One fetch for all the turns that found the cache out of date at the same moment."""
    async with _lock(self):
        if self.last_updated > unless_newer_than:
            return  # another turn fetched while this one waited
        await self._refresh()


async def _refresh(self: Any) -> None:
    self.keys = await asyncio.to_thread(_fetch_keys, self.url)
    self.last_updated = _now()


def _fetch_keys(url: str) -> list[dict[str, Any]]:
    response = requests.get(url, timeout=FETCH_TIMEOUT)
    response.raise_for_status()
    keys_url = response.json()["jwks_uri"]
    keys = requests.get(keys_url, timeout=FETCH_TIMEOUT)
    keys.raise_for_status()
    found = keys.json()["keys"]
    if not isinstance(found, list):
        raise ValueError("the key set is not a list")
    return [key for key in found if isinstance(key, dict)]


def _find(self: Any, key_id: str | None) -> Any:
    keys: list[dict[str, Any]] = self.keys or []
    key = next((k for k in keys if key_id and k.get("kid") == key_id), None)
    if key is None:
        return None
    endorsements = key.get("endorsements") or []
    if not endorsements and any(k.get("endorsements") for k in keys):
        log.warning("signing key %s carries no endorsements: not trusted", key_id)
        return None
    return _Config(RSAAlgorithm.from_jwk(json.dumps(key)), endorsements)


def _lock(self: Any) -> asyncio.Lock:
    """A lock per cache and event loop: the cache is process-wide (a class attribute of the
    SDK), an asyncio lock belongs to one loop."""
    loop = asyncio.get_running_loop()
    held = self.__dict__.get("_rapportagebot_lock")
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        self.__dict__["_rapportagebot_lock"] = held
    lock: asyncio.Lock = held[1]
    return lock


def _now() -> dt.datetime:
    # The SDK stores naive local times in `last_updated` (datetime.min before the first fetch).
    return dt.datetime.now()
