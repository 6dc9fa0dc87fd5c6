from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from backend.api.params import DB, CommuneCodePath, CursorQuery, IdPath, LimitQuery, SearchQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import commune_services as service
from backend.services.users import ADMIN_ROLES
from schemas.services import CommuneService, CommuneServiceCreate, CommuneServicePage


class CommuneServiceController(Controller):
    path = "/v1/communes/{commune_code:str}/services"
    tags = ["services"]

    @get(operation_id="ListCommuneServices", summary="Services of a commune and who answers for each")
    async def list_services(
        self,
        db: DB,
        commune_code: CommuneCodePath,
        q: SearchQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> CommuneServicePage:
        return await service.list_commune_services(db, commune_code, q=q, cursor=cursor, limit=limit)

    @post(
        operation_id="CreateCommuneService",
        summary="Offer a procedure in a commune (province and system admins)",
        guards=[staff_with(*ADMIN_ROLES)],
        responses=problem_responses(409),
    )
    async def create_service(
        self, db: DB, staff: Staff, commune_code: CommuneCodePath, data: JSONBody[CommuneServiceCreate]
    ) -> CommuneService:
        return await service.create_commune_service(db, staff, commune_code, data)


class CommuneServiceByIdController(Controller):
    path = "/v1/commune-services/{service_id:int}"
    tags = ["services"]

    @get(operation_id="GetCommuneService", summary="One commune service and who answers for it")
    async def get_service(self, db: DB, service_id: IdPath) -> CommuneService:
        return await service.get_commune_service(db, service_id)
