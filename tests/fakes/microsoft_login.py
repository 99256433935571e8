"""Microsoft's sign-in hosts, served locally for Teams tests: the Bot Framework's signing
keys (login.botframework.com) and Entra ID's token endpoint (login.microsoftonline.com).

The Agents SDK picks the key URL from a token's issuer (fixed Microsoft hosts, no setting
to move it), and msal signs the bot in at login.microsoftonline.com. So nothing is patched:
a local HTTPS proxy (CONNECT) takes every connection for those hosts to one local TLS
server whose certificate a throwaway CA (``trustme``) issued for them. A process reaches
it through ``env()``: HTTPS_PROXY, and the CA in SSL_CERT_FILE (urllib, aiohttp) and
REQUESTS_CA_BUNDLE (requests, under msal).

    with MicrosoftLogin(app_id=APP, tenant_id=TENANT) as login:
        os.environ.update(login.env())
        token = login.bot_token(service_url="http://127.0.0.1:1234/")  # Teams' own, signed
        forged = login.bot_token(key=login.stranger_key)                # not Microsoft's key

The token endpoint answers client-credentials requests for ``app_id`` with ``secret`` only,
and remembers each access token it gave (``issued``), so a fake service can check them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import select
import socket
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
HOSTS = ("login.botframework.com", "login.microsoftonline.com")
_KEY_ID = "dutybot-test-key"

# One signing key per test process: the SDK caches the key set it fetched, per key URL.
_MICROSOFT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwks() -> dict[str, Any]:
    public = _MICROSOFT_KEY.public_key().public_numbers()
    return {
        "keys": [
            {"kty": "RSA", "use": "sig", "kid": _KEY_ID, "alg": "RS256",
             "n": _b64(public.n), "e": _b64(public.e), "endorsements": ["msteams"]}
        ]
    }  # fmt: skip


class MicrosoftLogin:
    def __init__(self, *, app_id: str, tenant_id: str, secret: str = "teams-test-secret") -> None:
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.secret = secret
        self.stranger_key = _STRANGER_KEY
        self.issued: set[str] = set()
        self.token_requests = 0
        self.key_requests = 0
        self._lock = threading.Lock()
        self._ca = trustme.CA()
        self._tmp = tempfile.TemporaryDirectory(prefix="mslogin-")
        self.ca_file = str(Path(self._tmp.name) / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._tls: ThreadingHTTPServer | None = None
        self._proxy: _ConnectProxy | None = None

    # ---- lifecycle --------------------------------------------------------------------

    def start(self) -> MicrosoftLogin:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*HOSTS).configure_cert(ctx)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._tls = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._proxy = _ConnectProxy(("127.0.0.1", server.server_address[1])).start()
        return self

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
        if self._tls is not None:
            self._tls.shutdown()
            self._tls.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> MicrosoftLogin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """What a process needs to reach these hosts here (local fakes stay direct)."""
        assert self._proxy is not None
        proxy = f"http://127.0.0.1:{self._proxy.port}"
        return {
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "SSL_CERT_FILE": self.ca_file,
            "REQUESTS_CA_BUNDLE": self.ca_file,
        }

    # ---- tokens Teams would send the bot ------------------------------------------------

    def bot_token(
        self,
        *,
        service_url: str = "",
        audience: str | None = None,
        key: Any = None,
        lifetime: float = 3600,
        issued_at: float | None = None,
    ) -> str:
        """A Bot Framework token as Teams sends with each activity (RS256, our key)."""
        now = time.time() if issued_at is None else issued_at
        claims = {
            "iss": BOT_FRAMEWORK_ISSUER,
            "aud": audience or self.app_id,
            "iat": int(now),
            "nbf": int(now) - 5,
            "exp": int(now + lifetime),
            "serviceurl": service_url,
        }
        return jwt.encode(
            claims, key or _MICROSOFT_KEY, algorithm="RS256", headers={"kid": _KEY_ID}
        )

    # ---- what the hosts answer ----------------------------------------------------------

    def answer(self, host: str, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        if host == "login.botframework.com":
            if path == "/v1/.well-known/keys":
                with self._lock:
                    self.key_requests += 1
                return 200, _jwks()
            if path == "/v1/.well-known/openidconfiguration":
                return 200, {"issuer": BOT_FRAMEWORK_ISSUER,
                             "jwks_uri": "https://login.botframework.com/v1/.well-known/keys",
                             "id_token_signing_alg_values_supported": ["RS256"]}  # fmt: skip
            return 404, {"error": "not_found"}
        return self._entra(method, path, form)

    def _entra(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        base = "https://login.microsoftonline.com"
        if parts[:3] == ["common", "discovery", "instance"]:
            return 200, {
                "tenant_discovery_endpoint": (
                    f"{base}/{self.tenant_id}/v2.0/.well-known/openid-configuration"
                ),
                "api-version": "1.1",
                "metadata": [{"preferred_network": "login.microsoftonline.com",
                              "preferred_cache": "login.windows.net",
                              "aliases": ["login.microsoftonline.com"]}],
            }  # fmt: skip
        if not parts or parts[0] != self.tenant_id:
            return 400, {"error": "invalid_tenant", "error_description": "AADSTS90002"}
        if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            t = f"{base}/{self.tenant_id}"
            return 200, {
                "issuer": f"{t}/v2.0",
                "authorization_endpoint": f"{t}/oauth2/v2.0/authorize",
                "token_endpoint": f"{t}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{t}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{t}/discovery/v2.0/keys",
            }
        if parts[1:] == ["oauth2", "v2.0", "token"] and method == "POST":
            with self._lock:
                self.token_requests += 1
            if form.get("client_id") != self.app_id or form.get("client_secret") != self.secret:
                wrong = "AADSTS7000215: Invalid client secret."
                return 401, {"error": "invalid_client", "error_description": wrong}
            token = "ey" + secrets.token_urlsafe(24)
            with self._lock:
                self.issued.add(token)
            return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": token}  # fmt: skip
        return 404, {"error": "not_found"}


def _handler_for(login: MicrosoftLogin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size).decode() if size else ""
            form = dict(parse_qsl(body)) if body else {}
            host = (self.headers.get("Host") or "").split(":")[0]
            status, data = login.answer(host, self.command, urlsplit(self.path).path, form)
            out = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = _serve
        do_POST = _serve

    return Handler


class _ConnectProxy:
    """An HTTPS proxy that takes every CONNECT to ``target`` (the local TLS server), and
    refuses plain requests: only the Microsoft hosts are meant to come this way."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.tunnels: list[str] = []  # host:port of each CONNECT, for tests to see
        self._listener = socket.socket()
        self._stopped = threading.Event()

    def start(self) -> _ConnectProxy:
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="connect-proxy").start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with contextlib.closing(client):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(line) < 2 or line[0] != "CONNECT" or line[1].split(":")[0] not in HOSTS:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(line[1])
            with contextlib.closing(socket.create_connection(self.target)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pump(client, upstream)


def _pump(a: socket.socket, b: socket.socket) -> None:
    pair = {a: b, b: a}
    while True:
        ready, _, _ = select.select([a, b], [], [], 30)
        if not ready:
            return
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                return
            if not data:
                return
            pair[s].sendall(data)


def new_id() -> str:
    return str(uuid.uuid4())
