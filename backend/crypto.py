"""Sealing what identifies a citizen (feedback contact details) with AES-256-GCM, and
keyed fingerprints (HMAC-SHA256) of what a citizen sent.

Each sealed value is nonce (12 random bytes) || ciphertext || tag, stored with the id of the
key that sealed it, so keys can rotate: new values use the current key, older values open
with whichever listed key sealed them. The associated data binds a value to its row (the
feedback reference): a ciphertext copied onto another row does not open there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.settings import Settings, SettingsError

NONCE_BYTES = 12
GENERATED_KEY_ID = "local1"


class SealError(Exception):
    """A sealed value cannot be opened: its key is not configured, or it was altered."""


class Keyring:
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise SettingsError(f"FEEDBACK_KEY_ID: {current!r} is not one of the FEEDBACK_KEYS ids")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = current

    def seal(self, plaintext: bytes, associated: bytes) -> tuple[bytes, str]:
        """(nonce || ciphertext, key id) under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._ciphers[self.current].encrypt(nonce, plaintext, associated), self.current

    def open(self, sealed: bytes, key_id: str, associated: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealError(f"key {key_id!r} is not configured")
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
        except InvalidTag:
            raise SealError("the sealed value does not open (altered, or bound to another row)") from None


def _generated_keys(data_dir: str, name: str = "feedback.keys") -> tuple[tuple[str, str], ...]:
    """One key generated under data_dir for a single-machine setup (no DATABASE_URL)."""
    path = Path(data_dir) / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f"{GENERATED_KEY_ID}:{base64.b64encode(secrets.token_bytes(32)).decode()}\n")
    key_id, _, encoded = path.read_text().strip().partition(":")
    return ((key_id, encoded),)


_keyrings: dict[tuple[tuple[tuple[str, str], ...], str | None, str], Keyring] = {}
_lock = threading.Lock()


def feedback_keyring(settings: Settings) -> Keyring:
    """The keyring for these settings (built once per process and settings)."""
    cache_key = (settings.feedback_keys, settings.feedback_key_id, settings.data_dir)
    with _lock:
        ring = _keyrings.get(cache_key)
        if ring is None:
            # Settings.check() insists on FEEDBACK_KEYS when DATABASE_URL comes from the
            # environment; an embedded setup resolves its own servers and keeps a generated key.
            pairs = settings.feedback_keys or _generated_keys(settings.data_dir)
            keys = {key_id: base64.b64decode(encoded) for key_id, encoded in pairs}
            ring = _keyrings[cache_key] = Keyring(keys, settings.feedback_key_id or pairs[0][0])
        return ring


def feedback_keys_env(settings: Settings) -> str:
    """FEEDBACK_KEYS for processes started with these settings (generated keys included)."""
    pairs = settings.feedback_keys or _generated_keys(settings.data_dir)
    return ",".join(f"{key_id}:{encoded}" for key_id, encoded in pairs)


class Fingerprints:
    """Keyed digests of what a citizen sent (idempotency fingerprints and the like).

    A plain hash over a request that holds a name or a phone number lets anyone with a
    database dump confirm a guess, or enumerate the ten-digit phone space in a minute. An HMAC
    under a key that lives outside the database confirms nothing without that key. The first
    key signs; every listed key is accepted, so a rotation does not break a retry in flight.
    Each use names its purpose, so a digest of one kind never stands for another."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise SettingsError("FINGERPRINT_KEYS: at least one key is needed")
        self._keys = [key for _, key in keys]
        self.current = keys[0][0]
        # Per purpose, an HMAC per key that has already absorbed the key and the purpose:
        # each digest then copies one instead of setting up a new HMAC (hmac.new was ~4 %
        # of a rating's API CPU). Copies are independent; the originals are never updated.
        self._primed: dict[str, list[Any]] = {}

    def _macs(self, purpose: str) -> list[Any]:
        primed = self._primed.get(purpose)
        if primed is None:
            primed = [hmac.new(key, purpose.encode() + b"\x00", hashlib.sha256) for key in self._keys]
            self._primed[purpose] = primed
        return primed

    @staticmethod
    def _digest(primed: Any, payload: bytes) -> bytes:
        mac = primed.copy()
        mac.update(payload)
        return bytes(mac.digest())

    def sign(self, purpose: str, payload: bytes) -> bytes:
        """The fingerprint to store, under the current key."""
        return self._digest(self._macs(purpose)[0], payload)

    def accepted(self, purpose: str, payload: bytes) -> tuple[bytes, ...]:
        """The fingerprints of the payload under every listed key (current first)."""
        return tuple([self._digest(primed, payload) for primed in self._macs(purpose)])

    def matches(self, purpose: str, payload: bytes, stored: bytes) -> bool:
        """True when `stored` is the payload's fingerprint under any listed key."""
        return any(hmac.compare_digest(stored, mac) for mac in self.accepted(purpose, payload))


_fingerprints: dict[tuple[tuple[tuple[str, str], ...], str], Fingerprints] = {}


def fingerprint_keys_pairs(settings: Settings) -> tuple[tuple[str, str], ...]:
    return settings.fingerprint_keys or _generated_keys(settings.data_dir, "fingerprint.keys")


def fingerprints(settings: Settings) -> Fingerprints:
    """The fingerprint keys for these settings (built once per process and settings)."""
    cache_key = (settings.fingerprint_keys, settings.data_dir)
    with _lock:
        found = _fingerprints.get(cache_key)
        if found is None:
            pairs = fingerprint_keys_pairs(settings)
            found = _fingerprints[cache_key] = Fingerprints([(k, base64.b64decode(v)) for k, v in pairs])
        return found


def fingerprint_keys_env(settings: Settings) -> str:
    """FINGERPRINT_KEYS for processes started with these settings (generated keys included)."""
    return ",".join(f"{key_id}:{encoded}" for key_id, encoded in fingerprint_keys_pairs(settings))
