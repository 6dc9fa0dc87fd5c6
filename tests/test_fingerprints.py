"""Keyed fingerprints (point 6 of issue 10): what a citizen sent is stored only as an HMAC
under FINGERPRINT_KEYS, which never enter the database. A dump with a correct guess confirms
nothing without the key; a rotation keeps idempotent retries working; rows fingerprinted
before migration 0016 lost their plain digest and replay by their key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.crypto import Fingerprints
from backend.services.feedback_citizen import SUBMISSION_FINGERPRINT, normalise_feedback
from backend.services.ratings import RATING_FINGERPRINT
from backend.settings import Settings
from schemas.feedback import FeedbackCreate
from schemas.ratings import RatingCreate
from tests.conftest import FINGERPRINT_KEYS
from tests.test_feedback_citizen import answer, feedback, submit

MIGRATION_0016 = Path(__file__).parent.parent / "migrations" / "0016_keyed_fingerprints.sql"
PHONE = "0912345678"
GUESS = {"name": "Nguyễn Văn An", "phone": PHONE}
NEW_KEY = ("fp2", base64.b64encode(b"a fresh fingerprint key, 32 byte").decode())
WRONG_KEY = base64.b64encode(b"someone else's key guessing hard").decode()


def ring(*pairs: tuple[str, str]) -> Fingerprints:
    return Fingerprints([(key_id, base64.b64decode(key)) for key_id, key in pairs])


def test_fingerprints_are_keyed_rotatable_and_purpose_bound() -> None:
    old = ring(*FINGERPRINT_KEYS)
    rotated = ring(NEW_KEY, *FINGERPRINT_KEYS)
    stored = old.sign("feedback-submission", b"payload")
    assert len(stored) == 32
    assert stored != hashlib.sha256(b"payload").digest()
    assert rotated.sign("feedback-submission", b"payload") != stored  # the new key signs
    assert rotated.matches("feedback-submission", b"payload", stored)  # the old one still accepted
    assert not rotated.matches("feedback-submission", b"other", stored)
    assert not rotated.matches("rating-request", b"payload", stored)  # one purpose never stands for another
    assert not ring(NEW_KEY).matches("feedback-submission", b"payload", stored)  # retired key: no match
    assert not ring(("x", WRONG_KEY)).matches("feedback-submission", b"payload", stored)


def test_fingerprints_are_hmac_sha256_of_purpose_nul_payload_on_every_use() -> None:
    """The digests are the same formula that stored fingerprints were made with (an HMAC per
    key primed once with the purpose, then copied per use): repeated and interleaved uses
    of purposes and keys never leak into each other."""
    rotated = ring(NEW_KEY, *FINGERPRINT_KEYS)
    keys = [base64.b64decode(NEW_KEY[1])] + [base64.b64decode(k) for _, k in FINGERPRINT_KEYS]

    def fresh(key: bytes, purpose: str, payload: bytes) -> bytes:
        return hmac.new(key, purpose.encode() + b"\x00" + payload, "sha256").digest()

    for payload in (b"", b"payload", "Thủ tục nhanh".encode(), b"payload", b"x" * 5000):
        for purpose in ("rating-request", "feedback-submission", "rating-request"):
            expected = tuple(fresh(key, purpose, payload) for key in keys)
            assert rotated.accepted(purpose, payload) == expected
            assert rotated.sign(purpose, payload) == expected[0]
            assert rotated.matches(purpose, payload, expected[-1])


def _guess_payload() -> bytes:
    """What an attacker reconstructs: the submission exactly as the client sent it."""
    body = msgspec.convert(feedback(contact=GUESS), FeedbackCreate)
    return msgspec.json.encode(normalise_feedback(body))


def _dump_values(rows: list[asyncpg.Record]) -> list[bytes]:
    """Every value of the dumped rows, as bytes (bytea as is, the rest as text)."""
    values = []
    for row in rows:
        for value in row.values():
            if isinstance(value, bytes):
                values.append(value)
            elif value is not None:
                values.append(str(value).encode())
    return values


async def test_a_dump_and_a_correct_guess_confirm_nothing_without_the_key(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    created = await submit(client, citizen_headers, feedback(contact=GUESS))
    assert created.status_code == 201, created.text
    item = created.json()
    await answer(db, item["id"])
    reason = {"reason": f"Tôi là Nguyễn Văn An, gọi {PHONE} để trao đổi."}
    disputed = await client.post(
        f"/v1/me/feedback/{item['id']}/dispute", json=reason, headers={**citizen_headers, "idempotency-key": "d1"}
    )
    assert disputed.status_code == 200, disputed.text

    dump = _dump_values(await db.fetch("select * from feedback"))
    dump += _dump_values(await db.fetch("select * from feedback_events"))
    stored = bytes(await db.fetchval("select request_hash from feedback where id = $1", item["id"]))

    # The old scheme's digest of the exact submission, and of the dispute reason, are nowhere.
    guess = _guess_payload()
    plain = [hashlib.sha256(guess).digest(), hashlib.sha256(reason["reason"].encode()).hexdigest().encode()]
    assert not any(digest in value for digest in plain for value in dump)
    # Trying every phone number near the right one, with the right name, finds nothing either.
    template = guess.replace(PHONE.encode(), b"%010d")
    brute = {hashlib.sha256(template % number).digest() for number in range(912_340_000, 912_350_000)}
    assert not brute & set(dump)
    # Nor does the guess under any key but ours.
    wrong = hmac.new(base64.b64decode(WRONG_KEY), SUBMISSION_FINGERPRINT.encode() + b"\x00" + guess, "sha256")
    assert wrong.digest() != stored
    # With the key (which lives outside the database) the same guess does confirm: what is
    # stored is this submission's fingerprint, not something unrelated.
    assert ring(*FINGERPRINT_KEYS).matches(SUBMISSION_FINGERPRINT, guess, stored)


async def test_a_rating_comment_is_fingerprinted_with_the_key(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    services = (await client.get("/v1/communes/00004/services", params={"limit": 1})).json()["items"]
    served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = {"commune_service_id": services[0]["id"], "score": 2, "served_at": served, "comment": f"Gọi tôi {PHONE}"}
    response = await client.post("/v1/ratings", json=body, headers={**citizen_headers, "idempotency-key": "r-1"})
    assert response.status_code == 201, response.text
    stored = bytes(await db.fetchval("select request_hash from ratings where idempotency_key = 'r-1'"))
    payload = msgspec.json.encode(msgspec.convert(body, RatingCreate, strict=False))
    assert stored != hashlib.sha256(payload).digest()
    assert ring(*FINGERPRINT_KEYS).matches(RATING_FINGERPRINT, payload, stored)


@pytest.fixture
async def rotated(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app after a rotation: a new key signs, the old one is still accepted."""
    app = create_app(msgspec.structs.replace(settings, fingerprint_keys=(NEW_KEY, *FINGERPRINT_KEYS)))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def retired(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app once the old key is no longer listed."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, fingerprint_keys=(NEW_KEY,)))) as c:
        yield c


async def test_key_rotation_keeps_idempotent_replays_working(
    client: AsyncTestClient[Any],
    rotated: AsyncTestClient[Any],
    retired: AsyncTestClient[Any],
    citizen_headers: dict[str, str],
    db: asyncpg.Connection,
) -> None:
    first = await submit(client, citizen_headers, feedback(), key="rot-1")
    assert first.status_code == 201, first.text

    replay = await submit(rotated, citizen_headers, feedback(), key="rot-1")
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (200, "true")
    assert replay.json()["id"] == first.json()["id"]
    changed = await submit(rotated, citizen_headers, feedback(body="Một nội dung khác hẳn."), key="rot-1")
    assert changed.json()["code"] == "idempotency_key_reused"

    newer = await submit(rotated, citizen_headers, feedback(), key="rot-2")
    assert newer.status_code == 201
    hashes = await db.fetch("select idempotency_key, request_hash from feedback order by id")
    guess = _guess_payload()
    assert ring(*FINGERPRINT_KEYS).sign(SUBMISSION_FINGERPRINT, guess) == bytes(hashes[0]["request_hash"])
    assert ring(NEW_KEY).sign(SUBMISSION_FINGERPRINT, guess) == bytes(hashes[1]["request_hash"])

    # Ratings and disputes replay across the rotation too.
    services = (await client.get("/v1/communes/00004/services", params={"limit": 1})).json()["items"]
    served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    rating = {"commune_service_id": services[0]["id"], "score": 4, "served_at": served, "comment": "Nhanh"}
    headers = {**citizen_headers, "idempotency-key": "rate-rot"}
    assert (await client.post("/v1/ratings", json=rating, headers=headers)).status_code == 201
    again = await rotated.post("/v1/ratings", json=rating, headers=headers)
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    other = await rotated.post("/v1/ratings", json={**rating, "score": 1}, headers=headers)
    assert other.json()["code"] == "idempotency_key_reused"

    await answer(db, first.json()["id"])
    url = f"/v1/me/feedback/{first.json()['id']}/dispute"
    reason = {"reason": "Câu trả lời chưa đúng với hồ sơ của tôi."}
    dispute_headers = {**citizen_headers, "idempotency-key": "dis-rot"}
    assert (await client.post(url, json=reason, headers=dispute_headers)).status_code == 200
    replayed = await rotated.post(url, json=reason, headers=dispute_headers)
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (200, "true")
    different = await rotated.post(url, json={"reason": "Một lý do khác."}, headers=dispute_headers)
    assert different.json()["code"] == "idempotency_key_reused"

    # Once the old key is retired, a request it fingerprinted is no longer recognised.
    late = await submit(retired, citizen_headers, feedback(), key="rot-1")
    assert late.json()["code"] == "idempotency_key_reused"
    assert (await submit(retired, citizen_headers, feedback(), key="rot-2")).status_code == 200


async def test_migration_0016_drops_the_plain_digests_and_older_requests_replay_by_key(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    item = (await submit(client, citizen_headers, feedback(), key="old-1")).json()
    services = (await client.get("/v1/communes/00004/services", params={"limit": 1})).json()["items"]
    served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    rating = {"commune_service_id": services[0]["id"], "score": 3, "served_at": served}
    headers = {**citizen_headers, "idempotency-key": "old-r"}
    assert (await client.post("/v1/ratings", json=rating, headers=headers)).status_code == 201
    # What the code before 0016 stored: plain SHA-256 digests.
    plain = hashlib.sha256(_guess_payload()).digest()
    await db.execute("update feedback set request_hash = $1 where id = $2", plain, item["id"])
    await db.execute("update ratings set request_hash = $1 where idempotency_key = 'old-r'", plain)
    await db.execute(
        "insert into feedback_events (feedback_id, kind, actor_kind, data) values ($1, 'disputed', 'citizen', $2)",
        item["id"],
        {"idempotency_key": "old-d", "reason_sha256": hashlib.sha256(b"x").hexdigest()},
    )

    await db.execute(MIGRATION_0016.read_text(encoding="utf-8"))

    assert await db.fetchval("select count(*) from feedback where request_hash is not null") == 0
    assert await db.fetchval("select count(*) from ratings where request_hash is not null") == 0
    assert await db.fetchval("select count(*) from feedback_events where data ? 'reason_sha256'") == 0
    replay = await submit(client, citizen_headers, feedback(), key="old-1")
    assert (replay.status_code, replay.json()["id"]) == (200, item["id"])
    again = await client.post("/v1/ratings", json=rating, headers=headers)
    assert again.headers.get("idempotent-replayed") == "true"
