from __future__ import annotations

from litestar import Controller, get

from backend.api.params import DB, CursorQuery, FieldQuery, LimitQuery, ProcedureCodePath, SearchQuery
from backend.services import reference
from schemas.reference import Procedure, ProcedurePage


class ProcedureController(Controller):
    path = "/v1/procedures"
    tags = ["reference"]

    @get(operation_id="ListProcedures", summary="The national catalog of commune-level procedures")
    async def list_procedures(
        self,
        db: DB,
        q: SearchQuery = None,
        field: FieldQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> ProcedurePage:
        return await reference.list_procedures(db, q=q, field=field, cursor=cursor, limit=limit)

    @get("/{code:str}", operation_id="GetProcedure")
    async def get_procedure(self, db: DB, code: ProcedureCodePath) -> Procedure:
        return await reference.get_procedure(db, code)
