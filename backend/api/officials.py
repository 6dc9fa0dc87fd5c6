from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from backend.api.params import DB, CommuneCodePath, Staff
from backend.auth import staff_with
from backend.services import commune_services, officials
from backend.services.users import ADMIN_ROLES
from schemas.officials import Official, OfficialList
from schemas.services import OfficialCreate


class OfficialController(Controller):
    path = "/v1/communes/{commune_code:str}/officials"
    tags = ["officials"]

    @get(
        guards=[staff_with(*officials.OFFICIAL_READERS)],
        operation_id="ListCommuneOfficials",
        summary="Officials of a commune and the services they answer for",
    )
    async def list_officials(self, db: DB, staff: Staff, commune_code: CommuneCodePath) -> OfficialList:
        return await officials.list_commune_officials(db, staff, commune_code)

    @post(
        operation_id="CreateOfficial",
        summary="Record an official of the commune (province and system admins)",
        guards=[staff_with(*ADMIN_ROLES)],
    )
    async def create_official(
        self, db: DB, staff: Staff, commune_code: CommuneCodePath, data: JSONBody[OfficialCreate]
    ) -> Official:
        return await commune_services.create_official(db, staff, commune_code, data)
