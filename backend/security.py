"""Passwords (argon2id), opaque secrets (hashed with SHA-256) and signed tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.settings import Settings

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile

# Verified against when a username does not exist, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("commune-pulse: no such user")

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "commune-pulse"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password off the event loop (argon2 takes tens of milliseconds on purpose)."""
    return await asyncio.to_thread(_verify, password_hash, password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> bytes:
    """High-entropy secrets (refresh tokens, API keys, install secrets) need no slow hash."""
    return hashlib.sha256(secret.encode()).digest()


def same_digest(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def jwt_secret(settings: Settings) -> str:
    """JWT_SECRET, or for a single-machine setup one generated once under DATA_DIR."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = Path(settings.data_dir) / "secrets" / "jwt.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def issue_token(
    secret: str, subject: str, kind: str, ttl_seconds: int, session: str | None = None
) -> tuple[str, datetime]:
    """A signed token; `session` (staff: the refresh family) becomes the `sid` claim that
    logout and refresh-token reuse revoke."""
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(seconds=ttl_seconds)
    claims: dict[str, Any] = {
        "iss": JWT_ISSUER,
        "sub": subject,
        "typ": kind,
        "iat": now,
        "exp": expires,
        "jti": secrets.token_hex(8),
    }
    if session is not None:
        claims["sid"] = session
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), expires


class InvalidToken(Exception):
    """A token that is malformed, forged, expired or not ours."""


@functools.lru_cache(maxsize=4)
def _mac(secret: str) -> Any:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def _segment(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed segment") from exc


def _number(claims: dict[str, Any], name: str) -> int:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} must be a number")
    return int(value)


def read_token(secret: str, token: str) -> dict[str, Any]:
    """The claims of one of our tokens, or InvalidToken.

    Written out rather than through PyJWT's decode, which was a tenth of a rating's CPU
    (generic header handling, option merging, a deep copy): this accepts exactly what
    `issue_token` makes — HS256 over `header.payload`, our issuer, the five claims — and
    refuses the rest with the same rules (exp in the past, iat or nbf in the future,
    non-numeric times, a sub that is not a string). tests/test_tokens.py checks it against
    PyJWT on valid, expired, altered and foreign tokens."""
    if token.count(".") != 2:
        raise InvalidToken("not three segments")
    signed, _, signature = token.rpartition(".")
    header_text, _, payload_text = signed.partition(".")
    mac = _mac(secret).copy()
    try:
        mac.update(signed.encode("ascii"))
    except UnicodeEncodeError as exc:
        raise InvalidToken("not ASCII") from exc
    if not hmac.compare_digest(mac.digest(), _segment(signature)):
        raise InvalidToken("signature verification failed")
    try:
        header = msgspec.json.decode(_segment(header_text))
        claims = msgspec.json.decode(_segment(payload_text))
    except msgspec.DecodeError as exc:
        raise InvalidToken("not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != JWT_ALGORITHM or "crit" in header:
        raise InvalidToken("unexpected header")
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not an object")
    for name in ("exp", "iat", "sub", "typ", "iss"):
        if claims.get(name) is None:
            raise InvalidToken(f"missing {name}")
    now = time.time()
    if _number(claims, "iat") > now or ("nbf" in claims and _number(claims, "nbf") > now):
        raise InvalidToken("not yet valid")
    if _number(claims, "exp") <= now:
        raise InvalidToken("expired")
    if claims["iss"] != JWT_ISSUER:
        raise InvalidToken("foreign issuer")
    if (
        not isinstance(claims["sub"], str)
        or ("jti" in claims and not isinstance(claims["jti"], str))
        or ("sid" in claims and not isinstance(claims["sid"], str))
    ):
        raise InvalidToken("malformed sub, jti or sid")
    return claims


class VerifiedTokens:
    """Tokens this process has verified, kept until they expire.

    A phone sends the same token with every request, and verifying it (base64, HMAC, JSON,
    claim checks) was the largest single cost of a rating. The key is the whole token, so
    an altered or forged one never matches; expiry is checked on every hit. Nothing else
    changes: tokens are stateless, and staff roles are still read on every request."""

    def __init__(self, secret: str, max_entries: int = 20_000) -> None:
        self._secret = secret
        self._max_entries = max_entries
        self._claims: dict[str, dict[str, Any]] = {}

    def read(self, token: str) -> dict[str, Any]:
        claims = self._claims.get(token)
        if claims is not None:
            if claims["exp"] > time.time():
                return claims
            del self._claims[token]
        claims = read_token(self._secret, token)
        if len(self._claims) >= self._max_entries:
            del self._claims[next(iter(self._claims))]  # the oldest entry
        self._claims[token] = claims
        return claims
