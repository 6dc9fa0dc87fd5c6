"""Sealing what identifies a citizen (feedback contact details) with AES-256-GCM.

Each sealed value is nonce (12 random bytes) || ciphertext || tag, stored with the id of the
key that sealed it, so keys can rotate: new values use the current key, older values open
with whichever listed key sealed them. The associated data binds a value to its row (the
feedback reference): a ciphertext copied onto another row does not open there.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from pathlib import Path

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


def _generated_keys(data_dir: str) -> tuple[tuple[str, str], ...]:
    """One key generated under data_dir for a single-machine setup (no DATABASE_URL)."""
    path = Path(data_dir) / "secrets" / "feedback.keys"
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
