from __future__ import annotations

from litestar import Controller, get

from backend.api.params import DB, CommuneCodePath, Staff
from backend.auth import staff_with
from backend.services import officials
from schemas.officials import OfficialList


class OfficialController(Controller):
    path = "/v1/communes/{commune_code:str}/officials"
    tags = ["officials"]
    guards = [staff_with(*officials.OFFICIAL_READERS)]

    @get(operation_id="ListCommuneOfficials", summary="Officials of a commune and the services they answer for")
    async def list_officials(self, db: DB, staff: Staff, commune_code: CommuneCodePath) -> OfficialList:
        return await officials.list_commune_officials(db, staff, commune_code)
