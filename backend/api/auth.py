from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import CacheControlHeader, State
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from backend.api.params import DB
from backend.api.problems import problem_responses
from backend.client_address import request_address
from backend.services import auth as service
from schemas.auth import DeviceSession, DeviceSessionRequest, LoginRequest, RefreshRequest, StaffSession


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]
    # Answers here carry tokens and secrets: no cache, shared or private, may keep them.
    cache_control = CacheControlHeader(no_store=True)

    @post(
        "/login",
        status_code=200,
        operation_id="LogIn",
        summary="Staff login with username and password",
        description=(
            "Every attempt spends from three failed-login budgets first (15-minute windows): this "
            "username from this network address (LOGIN_MAX_FAILURES), this address whatever the username "
            "(LOGIN_ADDRESS_FAILURES) and all addresses together (LOGIN_GLOBAL_FAILURES). Once one is "
            "spent the answer is 429 `too_many_login_attempts` with Retry-After and the spent `budget`, "
            "whatever the password; a successful login gives its attempt back. A stranger at another "
            "address cannot lock an account out. The answer holds tokens: Cache-Control no-store."
        ),
        responses=problem_responses(401, 429),
    )
    async def log_in(
        self, data: JSONBody[LoginRequest], db: DB, state: State, request: Request[Any, Any, Any]
    ) -> StaffSession:
        return await service.log_in(
            db,
            state.redis,
            state.settings,
            state.jwt_secret,
            data.username,
            data.password,
            request.headers.get("user-agent"),
            request_address(request),
        )

    @post(
        "/refresh",
        status_code=200,
        operation_id="RefreshSession",
        summary="New tokens for a refresh token",
        description=(
            "The refresh token is rotated: the answer holds a new one and the old one stops working. "
            "Presenting an already rotated refresh token again ends its whole session (every refresh and "
            "access token issued in it, audited) and answers 401: one of its two holders is not its owner."
        ),
        responses=problem_responses(401),
    )
    async def refresh(self, data: JSONBody[RefreshRequest], state: State) -> StaffSession:
        # Its own transaction, not the request's: ending a family on reuse must commit
        # although the answer is a 401.
        return await service.refresh_session(state.pool, state.settings, state.jwt_secret, data.refresh_token)

    @post(
        "/logout",
        status_code=204,
        operation_id="LogOut",
        summary="End the session of a refresh token",
        description="Its refresh token and every access token issued in the session stop working at once.",
    )
    async def log_out(self, data: JSONBody[RefreshRequest], db: DB) -> None:
        await service.log_out(db, data.refresh_token)

    @post(
        "/device-sessions",
        operation_id="CreateDeviceSession",
        responses={
            **problem_responses(401, 403, 429),
            200: ResponseSpec(
                DeviceSession,
                description="A known install that proved its install_secret: a new token",
                generate_examples=False,
            ),
        },
        summary="Anonymous citizen token for an app install",
        description=(
            "201 with an install_secret for a new install; 200 for a known one, which must send "
            "the install_secret it was given."
        ),
    )
    async def device_session(
        self, data: JSONBody[DeviceSessionRequest], db: DB, state: State, request: Request[Any, Any, Any]
    ) -> Response[DeviceSession]:
        session, created = await service.open_device_session(
            db, state.redis, state.settings, state.jwt_secret, data, request_address(request)
        )
        return Response(session, status_code=201 if created else 200)
