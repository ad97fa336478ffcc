"""A stand-in for the Bot Framework's token issuer and a TLS Teams connector, both on loopback.

`ChannelIssuer` serves OpenID metadata and a JWKS (RSA keys with per-key `endorsements`, the way
login.botframework.com publishes them) and signs channel tokens with its private keys. It runs in
its own thread on purpose: the SDK (botframework-connector 4.17, `_OpenIdMetadata._refresh`)
fetched the metadata with blocking `requests.get` on the event loop (bot/openid_keys.py now moves
it to a thread), and the tests must also show what happens while a fetch is slow.

`TlsConnector` is the LocalConnector served over https with a throwaway CA, for deployed mode,
where the bot only sends to (and hands its token to) https service URLs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import RSAAlgorithm

from bot.local_channel import LocalConnector

# What the SDK requires of a channel→bot token (AuthenticationConstants).
CHANNEL_ISSUER = "https://api.botframework.com"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class ChannelIssuer:
    """OpenID metadata + JWKS on a loopback thread, and the keys to sign tokens with."""

    def __init__(self) -> None:
        self.private_keys: dict[str, rsa.RSAPrivateKey] = {}
        self.jwks: list[dict[str, Any]] = []
        # Paths requested, in order: shows when (and how often) the SDK fetched.
        self.requests: list[str] = []
        # Seconds each answer waits: a slow metadata host.
        self.delay = 0.0
        self.asked = threading.Event()  # set at the first request
        # When set, answers wait (up to 10 s) until `release` is set; `answered` is set after
        # the first answer was written.
        self.hold = False
        self.release = threading.Event()
        self.answered = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def publish(
        self, kid: str, endorsements: Sequence[str] | None, key: rsa.RSAPrivateKey | None = None
    ) -> rsa.RSAPrivateKey:
        """Add a key to the JWKS; `endorsements=None` leaves the member out entirely."""
        private = key or rsa_key()
        jwk: dict[str, Any] = {
            **RSAAlgorithm.to_jwk(private.public_key(), as_dict=True),
            "kid": kid,
            "use": "sig",
        }
        if endorsements is not None:
            jwk["endorsements"] = list(endorsements)
        self.private_keys[kid] = private
        self.jwks.append(jwk)
        return private

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def metadata_fetches(self) -> int:
        return self.requests.count("/v1/.well-known/openidconfiguration")

    def start(self) -> ChannelIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                issuer.asked.set()
                time.sleep(issuer.delay)
                if issuer.hold:
                    issuer.release.wait(10)
                if self.path == "/v1/.well-known/openidconfiguration":
                    payload: dict[str, Any] = {
                        "issuer": CHANNEL_ISSUER,
                        # The handler's own server: a slow answer may outlive issuer.stop().
                        "jwks_uri": "http://{}:{}/v1/.well-known/keys".format(
                            *self.server.server_address[:2]
                        ),
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/v1/.well-known/keys":
                    payload = {"keys": issuer.jwks}
                else:
                    self.send_error(404)
                    return
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                issuer.answered.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def claims(self, audience: str, service_url: str, **overrides: Any) -> dict[str, Any]:
        """A channel token's claims as Teams sends them; an override of None drops the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": CHANNEL_ISSUER,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 60,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any],
        kid: str | None,
        *,
        key: rsa.RSAPrivateKey | str | None = None,
        algorithm: str = "RS256",
    ) -> str:
        """Sign with `key` (an HMAC secret for HS*), or else the published key named `kid`;
        kid=None omits the header."""
        signing_key: Any = key or self.private_keys[str(kid)]
        headers = {"kid": kid} if kid is not None else None
        return jwt.encode(claims, signing_key, algorithm=algorithm, headers=headers)


def write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it:
    (ca.pem, server.pem, server-key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rapportagebot test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa_key()
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class TlsConnector(LocalConnector):
    """The LocalConnector (same routes, same recording) behind https on loopback."""

    def __init__(self, cert_path: Path, key_path: Path) -> None:
        super().__init__()
        self._cert_path = cert_path
        self._key_path = key_path

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self._port}/"

    async def start(self) -> TlsConnector:
        import ssl

        await super().start()  # the plain-http site; replaced below by a TLS one
        assert self._runner is not None
        plain = list(self._runner.sites)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert_path, self._key_path)
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=context)
        await site.start()
        for other in plain:
            await other.stop()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self
