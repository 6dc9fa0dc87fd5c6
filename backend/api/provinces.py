from __future__ import annotations

from litestar import Controller, get

from backend.api.params import DB, CursorQuery, LimitQuery, ProvinceCodePath, SearchQuery
from backend.services import reference
from schemas.reference import CommunePage, Province


class ProvinceController(Controller):
    path = "/v1/provinces"
    tags = ["reference"]

    @get(operation_id="ListProvinces", summary="The 34 provinces and municipalities")
    async def list_provinces(self, db: DB) -> list[Province]:
        return await reference.list_provinces(db)

    @get("/{code:str}", operation_id="GetProvince")
    async def get_province(self, db: DB, code: ProvinceCodePath) -> Province:
        return await reference.get_province(db, code)

    @get("/{code:str}/communes", operation_id="ListProvinceCommunes", summary="Communes of a province")
    async def list_communes(
        self,
        db: DB,
        code: ProvinceCodePath,
        q: SearchQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 100,
    ) -> CommunePage:
        await reference.get_province(db, code)
        return await reference.list_communes(db, province=code, kind=None, q=q, cursor=cursor, limit=limit)
