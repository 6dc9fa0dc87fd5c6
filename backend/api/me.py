from __future__ import annotations

from litestar import Controller, get

from backend.api.params import DB, AnyPrincipal
from backend.auth import CitizenPrincipal, StaffPrincipal, any_caller
from backend.errors import AppError
from backend.services.auth import staff_user
from schemas.auth import Me


class MeController(Controller):
    path = "/v1/me"
    tags = ["me"]
    guards = [any_caller]

    @get(operation_id="GetMe", summary="Who the token belongs to")
    async def me(self, principal: AnyPrincipal, db: DB) -> Me:
        if isinstance(principal, StaffPrincipal):
            return Me(kind="staff", staff=await staff_user(db, principal.user_id))
        if isinstance(principal, CitizenPrincipal):
            return Me(kind="citizen", citizen_id=principal.citizen_id)
        raise AppError("forbidden_role")
