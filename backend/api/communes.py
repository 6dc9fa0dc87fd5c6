from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from backend.api.params import DB, CommuneCodePath, CursorQuery, LimitQuery, SearchQuery
from backend.services import reference
from schemas.reference import Commune, CommunePage


class CommuneController(Controller):
    path = "/v1/communes"
    tags = ["reference"]

    @get(operation_id="ListCommunes", summary="Find communes, wards and special zones")
    async def list_communes(
        self,
        db: DB,
        q: SearchQuery = None,
        province: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{2}(?!\n)$")] = None,
        kind: FromQuery[Literal["commune", "ward", "special_zone"] | None] = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> CommunePage:
        return await reference.list_communes(db, province=province, kind=kind, q=q, cursor=cursor, limit=limit)

    @get("/{code:str}", operation_id="GetCommune")
    async def get_commune(self, db: DB, code: CommuneCodePath) -> Commune:
        return await reference.get_commune(db, code)
