from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, get
from litestar.params import Parameter

from backend.api.params import CommuneCodePath, CursorQuery, LimitQuery, SearchQuery
from backend.services import reference
from schemas.reference import Commune, CommunePage


class CommuneController(Controller):
    path = "/v1/communes"
    tags = ["reference"]

    @get(operation_id="ListCommunes", summary="Find communes, wards and special zones")
    async def list_communes(
        self,
        db: Any,
        q: SearchQuery = None,
        province: Annotated[str | None, Parameter(pattern=r"^[0-9]{2}$")] = None,
        kind: Literal["commune", "ward", "special_zone"] | None = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> CommunePage:
        return await reference.list_communes(db, province=province, kind=kind, q=q, cursor=cursor, limit=limit)

    @get("/{code:str}", operation_id="GetCommune")
    async def get_commune(self, db: Any, code: CommuneCodePath) -> Commune:
        return await reference.get_commune(db, code)
