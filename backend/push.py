"""Push providers: `fcm` sends through firebase-admin, `log` records what would be sent.

A provider takes ready-made messages (one per device) and answers one result per message:
sent, retry later (with a Retry-After when FCM gave one), retire the device, or failed for
good. What to do with the results is backend.services.notifications' business.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
import uuid
import warnings
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import firebase_admin
import msgspec
import requests.adapters
from firebase_admin import credentials, exceptions, messaging
from urllib3.util.retry import Retry

from backend.settings import Settings

log = logging.getLogger(__name__)

# FCM's send_each takes at most 500 messages a call.
MAX_BATCH = 500
# An alert that reaches a phone a day late is news nobody needs.
PUSH_TTL = timedelta(hours=24)
FCM_TIMEOUT_SECONDS = 30

Outcome = Literal["sent", "logged", "retry", "retired", "failed"]
SUCCESS_OUTCOMES = frozenset({"sent", "logged"})
OUTCOMES: tuple[Outcome, ...] = ("sent", "logged", "retry", "retired", "failed")


class PushMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One push to one device, in the device's language."""

    device_id: int
    fid: str | None = None
    registration_token: str | None = None
    title: str
    body: str
    data: dict[str, str]
    critical: bool = False
    collapse_id: str
    """A later push with the same id replaces this one in the phone's notification list."""
    analytics_label: str | None = None


class PushResult(msgspec.Struct, frozen=True, kw_only=True):
    device_id: int
    outcome: Outcome
    message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    retry_after: float | None = None
    """Seconds the service asked us to wait (Retry-After), for outcome "retry"."""


class PushProvider(Protocol):
    name: str

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """One result per message, in order; never raises for a failed delivery."""
        ...

    async def close(self) -> None: ...


def create_push_provider(settings: Settings) -> PushProvider:
    if settings.push_provider == "fcm":
        assert settings.fcm_credentials, "settings.check() requires FCM_CREDENTIALS with PUSH_PROVIDER=fcm"
        return FcmPush(settings.fcm_credentials, settings.fcm_endpoint)
    return LogPush()


class LogPush:
    """For the demo and development without Firebase credentials: logs each push and keeps
    the latest ones in memory; every message counts as delivered ("logged")."""

    name = "log"

    def __init__(self, keep: int = 1000) -> None:
        self.sent: deque[PushMessage] = deque(maxlen=keep)

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        for message in messages:
            log.info(
                "push not sent (PUSH_PROVIDER=log)",
                extra={
                    "device_id": message.device_id,
                    "push_title": message.title,
                    "push_body": message.body,
                    "push_data": message.data,
                    "critical": message.critical,
                },
            )
            self.sent.append(message)
        return [PushResult(device_id=m.device_id, outcome="logged") for m in messages]

    async def close(self) -> None:
        return None


class FcmPush:
    """Firebase Cloud Messaging through firebase-admin, one named App per provider."""

    name = "fcm"

    def __init__(self, credentials_path: str, endpoint: str, *, timeout: float = FCM_TIMEOUT_SECONDS) -> None:
        self.app = firebase_admin.initialize_app(
            credentials.Certificate(credentials_path),
            {"httpTimeout": timeout},
            name=f"commune-pulse-{uuid.uuid4().hex[:12]}",
        )
        self._service = _messaging_service(self.app, endpoint)

    async def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), MAX_BATCH):
            results += await self._send_batch(messages[start : start + MAX_BATCH])
        return results

    async def _send_batch(self, batch: Sequence[PushMessage]) -> list[PushResult]:
        try:
            built = [fcm_message(m) for m in batch]
            # send_each blocks (a thread per message, requests underneath): off the event loop.
            response = await asyncio.to_thread(messaging.send_each, built, app=self.app)
        except ValueError as exc:
            if len(batch) > 1:  # the SDK refuses the whole batch for one bad message: find it
                results: list[PushResult] = []
                for message in batch:
                    results += await self._send_batch([message])
                return results
            return [
                PushResult(device_id=batch[0].device_id, outcome="failed", error_code="INVALID_MESSAGE", error=str(exc))
            ]
        except exceptions.FirebaseError as exc:  # the batch as a whole failed (e.g. no OAuth token)
            return [_failure(m, exc) for m in batch]
        return [
            PushResult(device_id=m.device_id, outcome="sent", message_id=r.message_id)
            if r.success
            else _failure(m, r.exception)
            for m, r in zip(batch, response.responses, strict=True)
        ]

    async def close(self) -> None:
        # The SDK closes only its httpx client, and with asyncio.run(), which cannot run inside
        # our event loop: close the requests session ourselves and delete the app in a thread.
        await asyncio.to_thread(self._service._client.close)
        await asyncio.to_thread(firebase_admin.delete_app, self.app)


def _messaging_service(app: firebase_admin.App, endpoint: str) -> Any:
    """The SDK's messaging service for `app`, sending to `endpoint`.

    The one seam into firebase-admin's internals (its own tests do the same): the FCM URL is
    held in `_fcm_url`, and its HTTP session retries 500/503 and any Retry-After inside the
    blocking call (up to 4 times, sleeping as long as the server says, up to hours). The
    outbox retries with backoff and honours Retry-After itself, without holding a thread, so
    the session makes one attempt (plus one on a refused connection)."""
    service = messaging._get_messaging_service(app)
    base = endpoint.rstrip("/")
    service._fcm_url = f"{base}/v1/projects/{app.project_id}/messages:send"
    one_attempt = Retry(
        total=1, connect=1, read=0, status=0, other=0, allowed_methods=None, respect_retry_after_header=False
    )
    service._client.session.mount(base, requests.adapters.HTTPAdapter(pool_maxsize=100, max_retries=one_attempt))
    if urlsplit(base).hostname != "fcm.googleapis.com":
        # google-auth asks iamcredentials.googleapis.com, in the background, for the service
        # account's "regional access boundary". Sending to a stand-in FCM (tests, benches),
        # nothing may leave the machine: the credential is told no lookup is needed.
        credential = app.credential.get_credential()
        credential._is_regional_access_boundary_lookup_required = lambda: False
    return service


def fcm_message(message: PushMessage) -> messaging.Message:
    """The FCM v1 message: notification text, data for the app's deep link, and the
    per-platform priority and expiry (high / apns-priority 10 for critical pushes)."""
    ttl = int(PUSH_TTL.total_seconds())
    common: dict[str, Any] = {
        "data": message.data,
        "notification": messaging.Notification(title=message.title, body=message.body),
        "android": messaging.AndroidConfig(
            priority="high" if message.critical else "normal",
            ttl=PUSH_TTL,
            # A tag, not a collapse_key: FCM keeps at most four collapse keys per device.
            notification=messaging.AndroidNotification(tag=message.collapse_id),
        ),
        "apns": messaging.APNSConfig(
            headers={
                "apns-priority": "10" if message.critical else "5",
                "apns-push-type": "alert",
                "apns-expiration": str(int(time.time()) + ttl),
                "apns-collapse-id": message.collapse_id,
            },
            payload=messaging.APNSPayload(aps=messaging.Aps(sound="default" if message.critical else None)),
        ),
        "webpush": messaging.WebpushConfig(
            headers={"Urgency": "high" if message.critical else "normal", "TTL": str(ttl)}
        ),
        "fcm_options": messaging.FCMOptions(analytics_label=message.analytics_label)
        if message.analytics_label
        else None,
    }
    if message.fid is not None:
        return messaging.Message(fid=message.fid, **common)
    # Older apps only know their registration token. firebase-admin 7.7 deprecates
    # Message.token in favour of fid (and warns on each message), yet FCM still takes
    # tokens, and these devices have nothing else to be reached by.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Message\.token is deprecated", category=DeprecationWarning)
        return messaging.Message(token=message.registration_token, **common)


# FCM error codes by what they mean for the device and the push.
RETIRE_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
TRANSIENT_CODES = frozenset(
    {
        "UNAVAILABLE",
        "INTERNAL",
        "QUOTA_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "DEADLINE_EXCEEDED",
        "UNKNOWN",
        "UNAUTHENTICATED",
    }
)
_NAMES_TARGET = re.compile(r"registration token|installation id|\bfid\b", re.IGNORECASE)


def _failure(message: PushMessage, exc: BaseException | None) -> PushResult:
    code, body = _error_details(exc)
    text = f"{code}: {exc}"[:500]
    if code in RETIRE_CODES or (code == "INVALID_ARGUMENT" and _invalid_target(exc, body)):
        return PushResult(device_id=message.device_id, outcome="retired", error_code=code, error=text)
    if code in TRANSIENT_CODES and not isinstance(exc, messaging.ThirdPartyAuthError):
        return PushResult(
            device_id=message.device_id,
            outcome="retry",
            error_code=code,
            error=text,
            retry_after=retry_after_seconds(getattr(exc, "http_response", None)),
        )
    return PushResult(device_id=message.device_id, outcome="failed", error_code=code, error=text)


def _error_details(exc: BaseException | None) -> tuple[str, dict[str, Any]]:
    """FCM's own error code (UNREGISTERED, QUOTA_EXCEEDED...) when the answer carries one,
    else the platform code (UNAVAILABLE, INTERNAL...); and the error document."""
    body: dict[str, Any] = {}
    response = getattr(exc, "http_response", None)
    if response is not None:
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            body = parsed["error"]
    for detail in body.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.firebase.fcm.v1.FcmError"):
            if detail.get("errorCode"):
                return str(detail["errorCode"]), body
    if isinstance(exc, exceptions.FirebaseError):
        return str(exc.code), body
    return "UNKNOWN", body


def _invalid_target(exc: BaseException | None, body: dict[str, Any]) -> bool:
    """Whether an INVALID_ARGUMENT is about the fid/token (retire it) rather than the message."""
    for detail in body.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.rpc.BadRequest"):
            fields = {v.get("field") for v in detail.get("fieldViolations") or [] if isinstance(v, dict)}
            if fields & {"message.token", "message.fid"}:
                return True
    return bool(_NAMES_TARGET.search(str(exc)))


def retry_after_seconds(response: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if there is one."""
    headers = getattr(response, "headers", None)
    raw = headers.get("retry-after") if headers is not None else None
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
