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


def _pyjwt(secret: str, token: str) -> dict[str, object] | None:
    """PyJWT's verdict with the options the service used before it verified tokens itself."""
    import jwt

    try:
        return jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=security.JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "typ", "iss"]},
        )
    except jwt.PyJWTError:
        return None


def _ours(secret: str, token: str) -> dict[str, object] | None:
    try:
        return security.read_token(secret, token)
    except InvalidToken:
        return None


def _forge(claims: dict[str, object], header: dict[str, object] | None = None, secret: str = SECRET) -> str:
    import jwt

    return jwt.encode(claims, secret, algorithm="HS256", headers=header)


def _claims(**changes: object) -> dict[str, object]:
    import time

    now = int(time.time())
    claims: dict[str, object] = {
        "iss": security.JWT_ISSUER,
        "sub": "citizen:x",
        "typ": "citizen",
        "iat": now - 5,
        "exp": now + 600,
        "jti": "ab",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _cases() -> list[tuple[str, str]]:
    import base64
    import time

    good, _ = issue_token(SECRET, "citizen:x", "citizen", 600)
    head, body, sig = good.split(".")
    now = int(time.time())
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return [
        ("issued", good),
        ("staff", issue_token(SECRET, "staff:7", "access", 900)[0]),
        ("foreign key", issue_token("o" * 40, "citizen:x", "citizen", 600)[0]),
        ("altered signature", f"{head}.{body}.{sig[:-2]}AA"),
        ("altered payload", f"{head}.{body[:-2]}AA.{sig}"),
        ("alg none", f"{none_head}.{body}."),
        ("alg none signed", f"{none_head}.{body}.{sig}"),
        ("two segments", f"{head}.{body}"),
        ("four segments", f"{good}.{sig}"),
        ("empty", ""),
        ("not base64", f"{head}.{body}.!!!"),
        ("non-ASCII", f"{head}.{body}.{sig}é"),
        ("expired", _forge(_claims(exp=now - 1))),
        ("expires now", _forge(_claims(exp=now))),
        ("issued in the future", _forge(_claims(iat=now + 120))),
        ("not before the future", _forge(_claims(nbf=now + 120))),
        ("not before the past", _forge(_claims(nbf=now - 120))),
        ("exp as text", _forge(_claims(exp="9999999999"))),
        ("iat as text", _forge(_claims(iat="1"))),
        ("float times", _forge(_claims(exp=now + 600.5, iat=now - 0.5))),
        ("no exp", _forge(_claims(exp=None))),
        ("no iat", _forge(_claims(iat=None))),
        ("no sub", _forge(_claims(sub=None))),
        ("no typ", _forge(_claims(typ=None))),
        ("no iss", _forge(_claims(iss=None))),
        ("foreign issuer", _forge(_claims(iss="someone-else"))),
        ("sub not a string", _forge(_claims(sub=7))),
        ("jti not a string", _forge(_claims(jti=7))),
        (
            "staff session",
            issue_token(SECRET, "user:7", "staff", 900, session="6f1c2d3e-0000-4000-8000-000000000001")[0],
        ),
        ("sid not a string", _forge(_claims(sid=7))),
        ("extra header", _forge(_claims(), {"kid": "k1"})),
        ("HS512", _hs512(_claims())),
    ]


def _hs512(claims: dict[str, object]) -> str:
    import warnings

    import jwt

    with warnings.catch_warnings():  # the short test key is the point: same key, other algorithm
        warnings.simplefilter("ignore")
        return jwt.encode(claims, SECRET, algorithm="HS512")


# PyJWT takes a numeric string for a time claim ("9999999999"); we never issue one, so the
# verifier refuses it: stricter, never looser. PyJWT does not look at `sid`, the session a
# staff token belongs to; a non-string one is refused here.
STRICTER = {"exp as text", "iat as text", "sid not a string"}


# Parametrized by name; each test forges its token when it runs. Tokens forged at collection
# had expired (a 600 s lifetime) by the time a suite slower than ten minutes reached them,
# and the "in the future" cases were no longer in the future.
@pytest.mark.parametrize("name", [name for name, _ in _cases()])
def test_read_token_agrees_with_pyjwt(name: str) -> None:
    """The hand-written verifier accepts what PyJWT accepted, with the same claims, and
    refuses what it refused."""
    token = dict(_cases())[name]
    if name in STRICTER:
        assert _pyjwt(SECRET, token) is not None and _ours(SECRET, token) is None
    else:
        assert _ours(SECRET, token) == _pyjwt(SECRET, token), name


def test_the_oracle_cases_cover_both_verdicts() -> None:
    verdicts = {_pyjwt(SECRET, token) is None for _, token in _cases()}
    assert verdicts == {True, False}
