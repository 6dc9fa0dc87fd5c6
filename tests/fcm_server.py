"""A local stand-in for FCM, so the real firebase-admin SDK can be tested end to end.

firebase-admin has no FCM emulator. This server speaks the two protocols the SDK uses:
Google's OAuth token endpoint (the service-account JSON's token_uri points here; the JWT
assertion is checked against the account's public key) and FCM HTTP v1
`POST /v1/projects/{project}/messages:send` (Settings.fcm_endpoint points here). It records
every request and can be told to answer with FCM's real error documents.

Fixtures (loaded by conftest): `fcm_server` (a running FakeFcm with a service-account file)
and `fcm_settings` (the test's settings with PUSH_PROVIDER=fcm aimed at it).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from backend.settings import Settings

PROJECT_ID = "commune-pulse-test"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

# FCM's answers by HTTP status: (google.rpc status, FCM errorCode, message), as FCM words them.
ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    401: ("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service"),
    403: ("PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"),
    404: ("NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "QUOTA_EXCEEDED",
        "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute'",
    ),
    500: ("INTERNAL", "INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
}

_SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")


def error_document(status: int) -> dict[str, Any]:
    """FCM v1's error body for a status, with the FcmError detail the SDK reads."""
    rpc_status, fcm_code, message = ERRORS[status]
    details: list[dict[str, Any]] = [{"@type": FCM_ERROR, "errorCode": fcm_code}]
    if status == 400:
        details.append({"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.token", "description": message}]})
    return {"error": {"code": status, "message": message, "status": rpc_status, "details": details}}


@dataclass
class Failure:
    status: int
    retry_after: int | None = None


@dataclass
class SendRequest:
    """One messages:send call as received, with the answer given."""

    project: str
    body: dict[str, Any]
    """The whole JSON body: {"message": ..., "validate_only": ...}."""
    message: dict[str, Any]
    authorization: str | None
    status: int
    received_at: float = 0.0
    """time.monotonic() when the request arrived (before its body was read)."""


@dataclass
class FakeFcm:
    signing_key: rsa.RSAPrivateKey
    project_id: str = PROJECT_ID
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Messages FCM accepted (the `message` object of each request), in arrival order."""
    requests: list[SendRequest] = field(default_factory=list)
    """Every messages:send call, failed ones too."""
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    """Claims of each OAuth assertion the SDK exchanged for an access token."""
    credentials_path: Path | None = None
    delay: float = 0.0
    """Seconds each messages:send waits before it is answered (and accepted): a slow FCM, so a
    test can kill a worker while sends are in flight."""
    _next: list[Failure] = field(default_factory=list)
    _per_target: dict[str, list[Failure]] = field(default_factory=dict)
    _unregistered: set[str] = field(default_factory=set)
    _issued: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- scripting ------------------------------------------------------------------------

    def fail_next(self, status: int, n: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `n` sends, whatever their target, with FCM's error for `status`
        (400, 401, 403, 404, 429, 500 or 503), with a Retry-After header when given."""
        if status not in ERRORS:
            raise ValueError(f"no FCM error document for {status}")
        with self._lock:
            self._next.extend(Failure(status, retry_after) for _ in range(n))

    def fail_target(self, target: str, status: int, n: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `n` sends to this fid or token with the error for `status`."""
        if status not in ERRORS:
            raise ValueError(f"no FCM error document for {status}")
        with self._lock:
            self._per_target.setdefault(target, []).extend(Failure(status, retry_after) for _ in range(n))

    def unregister(self, target: str) -> None:
        """From now on, sends to this fid or token get 404 UNREGISTERED (the app was removed)."""
        with self._lock:
            self._unregistered.add(target)

    def sent_to(self, target: str) -> list[dict[str, Any]]:
        """Accepted messages addressed to this fid or token."""
        with self._lock:
            return [m for m in self.messages if target in (m.get("fid"), m.get("token"))]

    # -- life -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if self.path == "/token":
                    status, answer, headers = fake._token(body)
                else:
                    if fake.delay:
                        time.sleep(fake.delay)
                    status, answer, headers = fake._send(self.path, body, self.headers.get("authorization"), arrived)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the sender is gone (a test killed it mid-send)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            # firebase-admin opens one connection per message of a batch at once; the
            # default backlog (5) makes the kernel reset some, which FCM never does.
            request_queue_size = 512

        server = Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-fcm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def write_service_account(self, path: Path) -> Path:
        """A service-account JSON whose key is ours and whose token_uri is this server."""
        pem = self.signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        account = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "fake-fcm-key",
            "private_key": pem,
            "client_email": f"push@{self.project_id}.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "auth_uri": f"{self.url}/auth",
            "token_uri": f"{self.url}/token",
        }
        path.write_text(json.dumps(account), encoding="utf-8")
        self.credentials_path = path
        return path

    # -- protocol -------------------------------------------------------------------------

    def _token(self, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        form = urllib.parse.parse_qs(body.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or "assertion" not in form:
            return 400, {"error": "unsupported_grant_type"}, {}
        try:
            claims = jwt.decode(
                form["assertion"][0],
                self.signing_key.public_key(),
                algorithms=["RS256"],
                # google-auth names Google's endpoint as the audience whatever token_uri says.
                audience="https://oauth2.googleapis.com/token",
            )
        except jwt.InvalidTokenError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}, {}
        with self._lock:
            self.token_requests.append(claims)
            token = f"fake-access-{len(self.token_requests)}"
            self._issued.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}, {}

    def _send(
        self, path: str, body: bytes, authorization: str | None, arrived: float = 0.0
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        match = _SEND_PATH.match(path)
        if match is None:
            return 404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}, {}
        document = json.loads(body)
        message = document.get("message", {})
        target = message.get("fid") or message.get("token")
        with self._lock:
            failure: Failure | None = None
            scheme, _, token = (authorization or "").partition(" ")
            if scheme != "Bearer" or token not in self._issued:
                status = 401
                answer: dict[str, Any] = {
                    "error": {"code": 401, "message": "Request had invalid credentials.", "status": "UNAUTHENTICATED"}
                }
            else:
                if match["project"] != self.project_id:
                    failure = Failure(403)
                elif self._next:
                    failure = self._next.pop(0)
                elif self._per_target.get(target or ""):
                    failure = self._per_target[target or ""].pop(0)
                elif target in self._unregistered:
                    failure = Failure(404)
                status = failure.status if failure else 200
                if failure:
                    answer = error_document(failure.status)
                else:
                    self.messages.append(message)
                    answer = {"name": f"projects/{self.project_id}/messages/{len(self.messages)}"}
            self.requests.append(SendRequest(match["project"], document, message, authorization, status, arrived))
        headers = {"retry-after": str(failure.retry_after)} if failure and failure.retry_after is not None else {}
        return status, answer, headers


@pytest.fixture(scope="session")
def fcm_signing_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for the fake service account (one per test run: generating costs)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fcm_server(fcm_signing_key: rsa.RSAPrivateKey, tmp_path: Path) -> Iterator[FakeFcm]:
    """A running fake FCM, with `credentials_path` a service-account JSON that trusts it."""
    server = FakeFcm(fcm_signing_key)
    server.start()
    try:
        server.write_service_account(tmp_path / "fcm-service-account.json")
        yield server
    finally:
        server.stop()


@pytest.fixture
def fcm_settings(settings: Settings, fcm_server: FakeFcm) -> Settings:
    """This test's settings with pushes going through firebase-admin to `fcm_server`."""
    return msgspec.structs.replace(
        settings,
        push_provider="fcm",
        fcm_credentials=str(fcm_server.credentials_path),
        fcm_endpoint=fcm_server.url,
    )
