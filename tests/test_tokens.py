"""The per-process cache of verified tokens never accepts what verification would refuse."""

from __future__ import annotations

import pytest

from backend import security
from backend.security import InvalidToken, VerifiedTokens, issue_token

SECRET = "s" * 40


def test_a_verified_token_is_served_from_the_cache() -> None:
    tokens = VerifiedTokens(SECRET)
    token, _ = issue_token(SECRET, "citizen:x", "citizen", 600)
    first = tokens.read(token)
    assert tokens.read(token) is first
    assert first["sub"] == "citizen:x"


def test_altered_and_foreign_tokens_are_refused() -> None:
    tokens = VerifiedTokens(SECRET)
    token, _ = issue_token(SECRET, "citizen:x", "citizen", 600)
    tokens.read(token)
    head, body, signature = token.split(".")
    with pytest.raises(InvalidToken):
        tokens.read(f"{head}.{body}.{signature[:-2]}AA")
    foreign, _ = issue_token("o" * 40, "citizen:x", "citizen", 600)
    with pytest.raises(InvalidToken):
        tokens.read(foreign)


def test_a_cached_token_is_verified_again_once_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = VerifiedTokens(SECRET)
    token, expires = issue_token(SECRET, "citizen:x", "citizen", 60)
    tokens.read(token)
    verified: list[str] = []

    def verify(secret: str, seen: str) -> dict[str, object]:
        verified.append(seen)
        raise InvalidToken("expired")

    monkeypatch.setattr(security, "read_token", verify)
    tokens.read(token)  # still valid: from the cache, no verification
    assert verified == []
    monkeypatch.setattr(security.time, "time", lambda: expires.timestamp() + 1)
    with pytest.raises(InvalidToken):
        tokens.read(token)
    assert verified == [token]


def test_the_cache_is_bounded() -> None:
    tokens = VerifiedTokens(SECRET, max_entries=3)
    issued = [issue_token(SECRET, f"citizen:{i}", "citizen", 600)[0] for i in range(5)]
    for token in issued:
        tokens.read(token)
    assert len(tokens._claims) == 3
    assert list(tokens._claims) == issued[2:]
