"""Where attachment bytes live: an interface keyed by random names, and the local-directory
store under DATA_DIR. An S3-compatible store can implement the same three methods; the
database keeps only the key, type, size and sha256."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from backend.settings import Settings

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (a key is written once; a repeat overwrites the same bytes)."""

    async def get(self, key: str) -> bytes:
        """The bytes under `key`; KeyError when there are none."""

    async def delete(self, key: str) -> None:
        """Remove `key`; no error when it is already gone."""


def new_key() -> str:
    """A random name: it says nothing about the item, the citizen or the file's name."""
    return secrets.token_urlsafe(24)


class LocalDirectoryStore:
    """Files under `root/<first two characters>/<key>`, written to a temporary name and then
    renamed, so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise KeyError(key)
        return self.root / key[:2] / key

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{key}.{secrets.token_hex(4)}.tmp")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def _delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except KeyError:
            return

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)


def attachment_store(settings: Settings) -> BlobStore:
    """The store for feedback attachments under these settings."""
    return LocalDirectoryStore(Path(settings.data_dir) / "attachments")
