"""`commune-pulse photos scrub`: photos stored before uploads were re-encoded (migration
0026 left their `reencoded_at` null) go through the same re-encoding as a new upload
(backend.images), so old data carries pixels only too.

Each photo is written under a new random key, its row switched to it, and only then the old
file removed: a crash midway leaves at worst an unreferenced clean copy, never a row
pointing at nothing. A photo is re-encoded once (the stamp), never again on a later run.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from backend.images import PhotoRefused, scrub_photo
from backend.storage import BlobStore, new_key
from schemas.feedback import FEEDBACK_ATTACHMENT_MAX_BYTES

PENDING_SQL = """
select id, storage_key, content_type from feedback_attachments
where reencoded_at is null and id > $1
order by id
limit $2
"""

# The storage key in the condition: a row changed meanwhile is left to the next run.
SWITCH_SQL = """
update feedback_attachments
set storage_key = $3, content_type = $4, size_bytes = $5, sha256 = $6, reencoded_at = now()
where id = $1 and storage_key = $2
returning id
"""

DROP_SQL = """
delete from feedback_attachments where id = $1 and storage_key = $2 returning id
"""


@dataclass
class ScrubReport:
    reencoded: int = 0
    unreadable: list[int] = field(default_factory=list)
    """Attachment ids whose bytes do not decode as a photo (kept unless dropped)."""
    missing: list[int] = field(default_factory=list)
    """Attachment ids whose file is gone from the store."""
    dropped: int = 0

    def lines(self) -> list[str]:
        return [
            f"photos re-encoded: {self.reencoded}",
            f"unreadable photos: {len(self.unreadable)}" + _ids(self.unreadable),
            f"photos missing from the store: {len(self.missing)}" + _ids(self.missing),
            f"unreadable photos dropped: {self.dropped}",
        ]


def _ids(ids: list[int]) -> str:
    return f" (attachment ids {', '.join(map(str, ids[:50]))}{' …' if len(ids) > 50 else ''})" if ids else ""


async def scrub_stored_photos(
    conn: Any, store: BlobStore, *, drop_unreadable: bool = False, batch: int = 100
) -> ScrubReport:
    """Re-encode every stored photo not yet re-encoded; with drop_unreadable, remove the
    rows and files of those that do not decode (they could still hold metadata)."""
    report = ScrubReport()
    after = 0
    while rows := await conn.fetch(PENDING_SQL, after, batch):
        for row in rows:
            after = row["id"]
            try:
                data = await store.get(row["storage_key"])
            except KeyError:
                report.missing.append(row["id"])
                continue
            try:
                photo = await asyncio.to_thread(scrub_photo, data, FEEDBACK_ATTACHMENT_MAX_BYTES)
            except PhotoRefused:
                report.unreadable.append(row["id"])
                if drop_unreadable and await conn.fetchval(DROP_SQL, row["id"], row["storage_key"]) is not None:
                    await store.delete(row["storage_key"])
                    report.dropped += 1
                continue
            key = new_key()
            await store.put(key, photo.data, photo.content_type)
            switched = await conn.fetchval(
                SWITCH_SQL,
                row["id"],
                row["storage_key"],
                key,
                photo.content_type,
                len(photo.data),
                hashlib.sha256(photo.data).digest(),
            )
            if switched is None:
                await store.delete(key)
                continue
            await store.delete(row["storage_key"])
            report.reencoded += 1
    return report
