"""Staff logins, refresh rotation, citizen device sessions, token checks."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import jwt
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.seed.demo import DEMO_API_KEY, DEMO_PASSWORD
from backend.settings import Settings
from tests.conftest import JWT_SECRET, TokenFor


async def log_in(client: AsyncTestClient[Any], username: str, password: str = DEMO_PASSWORD) -> Any:
    return await client.post("/v1/auth/login", json={"username": username, "password": password})


async def test_login_returns_tokens_that_work(client: AsyncTestClient[Any]) -> None:
    response = await log_in(client, "Chair.BaDinh")  # usernames are case-insensitive
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["token_type"] == "bearer"
    assert session["user"]["username"] == "chair.badinh"
    assert session["user"]["roles"] == [
        {"role": "commune_chair", "scope_kind": "commune", "scope_code": "00004", "scope_name": "Phường Ba Đình"}
    ]
    me = await client.get("/v1/me", headers={"authorization": f"Bearer {session['access_token']}"})
    assert me.status_code == 200
    assert me.json()["kind"] == "staff"
    assert me.json()["staff"]["display_name"] == "Chủ tịch UBND phường Ba Đình"


async def test_login_is_audited(client: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    await log_in(client, "chair.badinh")
    row = await db.fetchrow("select actor_kind, action, request_id from audit_log where action = 'login'")
    assert row["actor_kind"] == "staff"
    assert row["request_id"]


async def test_wrong_password_and_unknown_user_get_the_same_problem(client: AsyncTestClient[Any]) -> None:
    wrong = await log_in(client, "chair.badinh", "not-the-password")
    unknown = await log_in(client, "nobody.here", "whatever")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"
        assert response.json()["messages"]["vi"] == "Tên đăng nhập hoặc mật khẩu không đúng"


async def test_repeated_failures_lock_the_username_with_retry_after(client: AsyncTestClient[Any]) -> None:
    for _ in range(3):  # the test settings allow 3 failures
        assert (await log_in(client, "front.badinh", "guess")).status_code == 401
    locked = await log_in(client, "front.badinh")  # even the right password is refused now
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_login_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 900
    assert (await log_in(client, "chair.badinh")).status_code == 200  # other users are unaffected


async def test_refresh_rotates_and_logout_ends_the_session(client: AsyncTestClient[Any]) -> None:
    first = (await log_in(client, "admin.hanoi")).json()
    second = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "invalid_refresh_token"
    logout = await client.post("/v1/auth/logout", json={"refresh_token": second.json()["refresh_token"]})
    assert logout.status_code == 204
    after = await client.post("/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert after.status_code == 401


async def test_deactivated_user_is_refused_at_once(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    headers = await headers_for("chair.badinh")
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    await db.execute("update users set is_active = false where username = 'chair.badinh'")
    refused = await client.get("/v1/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    assert (await log_in(client, "chair.badinh")).status_code == 401


async def test_bad_tokens_are_401_problems(client: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    user_id = await db.fetchval("select id from users where username = 'chair.badinh'")
    now = datetime.now(UTC)
    expired = jwt.encode(
        {
            "iss": "commune-pulse",
            "sub": f"user:{user_id}",
            "typ": "staff",
            "iat": now - timedelta(hours=2),
            "exp": now - timedelta(hours=1),
        },
        JWT_SECRET,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"iss": "commune-pulse", "sub": f"user:{user_id}", "typ": "staff", "iat": now, "exp": now + timedelta(hours=1)},
        "another-secret-" + "y" * 40,
        algorithm="HS256",
    )
    for header in (f"Bearer {expired}", f"Bearer {forged}", "Bearer not.a.jwt", "Basic abc"):
        response = await client.get("/v1/me", headers={"authorization": header})
        assert response.status_code == 401, header
        assert response.json()["code"] == "invalid_token"
        assert response.headers["www-authenticate"] == "Bearer"
    anonymous = await client.get("/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthenticated"


async def test_device_session_needs_its_install_secret_the_second_time(client: AsyncTestClient[Any]) -> None:
    request = {"install_id": "fid-cXz81kQpT0m", "platform": "ios", "locale": "en"}
    first = await client.post("/v1/auth/device-sessions", json=request)
    assert first.status_code == 201
    body = first.json()
    assert body["install_secret"]
    me = await client.get("/v1/me", headers={"authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"kind": "citizen", "citizen_id": body["citizen_id"]}

    without_secret = await client.post("/v1/auth/device-sessions", json=request)
    assert without_secret.status_code == 401
    assert without_secret.json()["code"] == "install_secret_required"
    wrong_secret = await client.post("/v1/auth/device-sessions", json={**request, "install_secret": "x" * 43})
    assert wrong_secret.status_code == 401

    again = await client.post("/v1/auth/device-sessions", json={**request, "install_secret": body["install_secret"]})
    assert again.status_code == 200
    assert again.json()["citizen_id"] == body["citizen_id"]
    assert "install_secret" not in again.json()


async def test_blocked_install_gets_no_token(client: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    request = {"install_id": "fid-blocked-0001", "platform": "android"}
    first = (await client.post("/v1/auth/device-sessions", json=request)).json()
    await db.execute("update citizen_installs set blocked_at = now() where install_id = 'fid-blocked-0001'")
    again = await client.post("/v1/auth/device-sessions", json={**request, "install_secret": first["install_secret"]})
    assert again.status_code == 403
    assert again.json()["code"] == "install_blocked"


async def test_device_session_validation(client: AsyncTestClient[Any]) -> None:
    bad = await client.post("/v1/auth/device-sessions", json={"install_id": "short", "platform": "symbian"})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields & {"install_id", "platform"}
    unknown_field = await client.post(
        "/v1/auth/device-sessions", json={"install_id": "fid-12345678", "platform": "ios", "admin": True}
    )
    assert unknown_field.status_code == 422


async def test_citizen_token_cannot_reach_staff_endpoints(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    response = await client.get("/v1/communes/00004/officials", headers=citizen_headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"


async def test_api_key_authenticates_the_one_stop_shop(client: AsyncTestClient[Any]) -> None:
    ok = await client.get("/v1/integrations/whoami", headers={"x-api-key": DEMO_API_KEY})
    assert ok.status_code == 200
    assert ok.json()["scope_code"] == "00004"
    for bad in ("cpk_demo0badinh_wrong-secret", "garbage", "cpk_nope_x"):
        refused = await client.get("/v1/integrations/whoami", headers={"x-api-key": bad})
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_api_key"
    assert (await client.get("/v1/integrations/whoami")).status_code == 401


async def test_malformed_json_is_a_problem_not_a_500(client: AsyncTestClient[Any]) -> None:
    for body in (b'{"username": "chair', b"[1,2", b"not json", b'{"username": "a", "password": "b"} trailing'):
        response = await client.post("/v1/auth/login", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, body
        assert response.json()["code"] == "malformed_body"
        assert response.json()["errors"][0]["field"] == "body"


async def test_login_still_works_while_redis_is_down(settings: Any, unused_tcp_port: int) -> None:
    import msgspec

    from backend.app import create_app

    broken = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0")
    async with AsyncTestClient(app=create_app(broken)) as client:
        assert (await log_in(client, "chair.badinh", "wrong")).status_code == 401
        assert (await log_in(client, "chair.badinh")).status_code == 200


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, new_installs_per_address=2))) as c:
        yield c


async def test_new_installs_per_address_are_limited(strict_client: AsyncTestClient[Any]) -> None:
    def body(name: str, secret: str | None = None) -> dict[str, Any]:
        return {"install_id": name, "platform": "android", **({"install_secret": secret} if secret else {})}

    first = await strict_client.post("/v1/auth/device-sessions", json=body("limit-install-1"))
    second = await strict_client.post("/v1/auth/device-sessions", json=body("limit-install-2"))
    third = await strict_client.post("/v1/auth/device-sessions", json=body("limit-install-3"))
    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 429]
    assert third.json()["code"] == "too_many_requests"
    assert 0 < int(third.headers["retry-after"]) <= 3600
    # A phone already registered renews its token as before.
    again = await strict_client.post(
        "/v1/auth/device-sessions", json=body("limit-install-1", first.json()["install_secret"])
    )
    assert again.status_code == 200


async def test_concurrent_new_installs_never_exceed_the_address_limit(strict_client: AsyncTestClient[Any]) -> None:
    """Increment first, then decide: ten installs registering at once from one address, two fit."""
    answers = await asyncio.gather(
        *(
            strict_client.post("/v1/auth/device-sessions", json={"install_id": f"race-install-{i}", "platform": "ios"})
            for i in range(10)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 201] + [429] * 8
