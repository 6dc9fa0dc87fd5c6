"""Proof of service through the HTTP API: only the receipt's rating code verifies a rating and
takes the dossier's slot; a stranger who knows the (sequential) dossier code cannot, the real
applicant always can, wrong codes are throttled, and no answer shows another install's rating."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from backend.rating_codes import RATING_CODE_DAILY_FAILURES, RATING_CODE_INSTALL_FAILURES, format_code
from tests.test_ratings import ago, completed, new_citizen, rate, rating_code, report


async def test_a_stranger_without_the_code_cannot_take_the_applicants_slot(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    receipt = rating_code(await report(client, completed("BD-2026-000501", ago(days=1))))
    stranger = await new_citizen(client)
    forged = await rate(client, stranger, {"dossier_code": "BD-2026-000501", "score": 1})
    assert forged.status_code == 201, forged.text
    assert forged.json()["verified"] is False
    guessed = await rate(client, stranger, {"dossier_code": "BD-2026-000501", "rating_code": "00000000", "score": 1})
    assert guessed.status_code == 201 and guessed.json()["verified"] is False
    # The applicant, with the code from the receipt (as printed, with its dash), still rates verified.
    real = await rate(
        client, citizen_headers, {"dossier_code": "BD-2026-000501", "rating_code": format_code(receipt), "score": 5}
    )
    assert real.status_code == 201, real.text
    assert real.json()["verified"] is True
    holders = await db.fetch("select id from ratings where dossier_id is not null")
    assert [r["id"] for r in holders] == [real.json()["id"]]
    # Even with the code, a second rating of the dossier learns nothing of the one holding it.
    second = await rate(client, stranger, {"dossier_code": "BD-2026-000501", "rating_code": receipt, "score": 1})
    assert second.status_code == 409
    assert "existing_id" not in second.json() and str(real.json()["id"]) not in str(second.json().get("detail"))


async def test_a_code_supplied_by_the_system_is_used_and_never_echoed(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    result = await report(client, completed("BD-2026-000502", ago(days=1), rating_code="7K3M-9QZP"))
    assert "rating_code" not in result["results"][0]
    ok = await rate(client, citizen_headers, {"dossier_code": "BD-2026-000502", "rating_code": "7k3m9qzp", "score": 4})
    assert ok.json()["verified"] is True
    bad = await report(client, completed("BD-2026-000503", ago(days=1), rating_code="UUUUUUUU"))
    assert bad["results"][0]["problem"]["code"] == "invalid_dossier_event"


async def test_the_code_is_shown_once_and_stored_hashed(client: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    first = await report(client, completed("BD-2026-000504", ago(days=1)))
    receipt = rating_code(first)
    stored = await db.fetchval("select rating_code_hash from dossiers where code = 'BD-2026-000504'")
    assert stored is not None and receipt.encode() not in bytes(stored) and len(bytes(stored)) == 32
    later = await report(client, completed("BD-2026-000504", ago(hours=2)))
    assert later["results"][0]["outcome"] == "updated"
    assert "rating_code" not in later["results"][0]


async def _guess(client: AsyncTestClient[Any], install: dict[str, str], dossier: str, tries: int, tag: str) -> None:
    """One batch of wrong codes for `dossier` from `install`: each is stored unverified."""
    items = [
        {"idempotency_key": f"{tag}-{n}", "dossier_code": dossier, "rating_code": f"{n:08d}", "score": 1}
        for n in range(tries)
    ]
    response = await client.post("/v1/ratings/batch", json={"items": items}, headers=install)
    assert response.status_code == 200, response.text
    assert all(r["status"] == 201 and not r["rating"]["verified"] for r in response.json()["results"])


async def test_one_install_cannot_deny_the_applicant_a_verified_rating(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    # Before: ten wrong codes from anyone who knew the (sequential) receipt number made even the
    # right code verify nothing for the rest of the day.
    receipt = rating_code(await report(client, completed("BD-2026-000505", ago(days=1))))
    guesser = await new_citizen(client)
    await _guess(client, guesser, "BD-2026-000505", 3 * RATING_CODE_INSTALL_FAILURES, "g")
    # Only the guesses that were checked count, for the install and for the dossier.
    assert await db.fetchval("select failures from rating_code_failures") == RATING_CODE_INSTALL_FAILURES
    assert await db.fetchval("select failures from rating_code_install_failures") == RATING_CODE_INSTALL_FAILURES
    # The guesser's codes for it are no longer checked today, even the right one ...
    lucky = await rate(client, guesser, {"dossier_code": "BD-2026-000505", "rating_code": receipt, "score": 1})
    assert lucky.status_code == 201 and lucky.json()["verified"] is False
    # ... while the applicant's is.
    ok = await rate(client, citizen_headers, {"dossier_code": "BD-2026-000505", "rating_code": receipt, "score": 5})
    assert ok.status_code == 201 and ok.json()["verified"] is True


async def test_guessing_codes_is_throttled_per_dossier(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    receipt = rating_code(await report(client, completed("BD-2026-000506", ago(days=1))))
    installs = RATING_CODE_DAILY_FAILURES // RATING_CODE_INSTALL_FAILURES
    for n in range(installs):
        await _guess(client, await new_citizen(client), "BD-2026-000506", RATING_CODE_INSTALL_FAILURES, f"i{n}")
    assert await db.fetchval("select sum(failures) from rating_code_failures") == RATING_CODE_DAILY_FAILURES
    # Past the dossier's budget no code is checked today (so a lucky guess proves nothing), and
    # a further guesser's wrong codes are not counted either.
    await _guess(client, await new_citizen(client), "BD-2026-000506", 2, "late")
    assert await db.fetchval("select sum(failures) from rating_code_failures") == RATING_CODE_DAILY_FAILURES
    blocked = await rate(
        client, citizen_headers, {"dossier_code": "BD-2026-000506", "rating_code": receipt, "score": 5}
    )
    assert blocked.status_code == 201 and blocked.json()["verified"] is False
