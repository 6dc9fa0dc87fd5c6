from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from backend.api.params import DB, IdPath, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import commune_services as service
from backend.services.officials import OFFICIAL_READERS
from backend.services.users import ADMIN_ROLES
from schemas.services import Assignment, AssignmentCreate, AssignmentList, Rotation, RotationCreate


class AssignmentController(Controller):
    path = "/v1/commune-services/{service_id:int}"
    tags = ["services"]

    @get(
        "/assignments",
        operation_id="ListAssignments",
        summary="Who answered for the service over time, newest first",
        guards=[staff_with(*OFFICIAL_READERS)],
    )
    async def list_assignments(self, db: DB, staff: Staff, service_id: IdPath) -> AssignmentList:
        return await service.list_assignments(db, staff, service_id)

    @post(
        "/assignments",
        operation_id="CreateAssignment",
        summary="Assign an official to the service for an interval",
        guards=[staff_with(*ADMIN_ROLES)],
        responses=problem_responses(409),
    )
    async def create_assignment(
        self, db: DB, staff: Staff, service_id: IdPath, data: JSONBody[AssignmentCreate]
    ) -> Assignment:
        return await service.create_assignment(db, staff, service_id, data)

    @post(
        "/rotations",
        operation_id="RotateAssignment",
        summary="Hand the service to another official at a time (closes the current assignment)",
        guards=[staff_with(*ADMIN_ROLES)],
        responses=problem_responses(409),
    )
    async def rotate(self, db: DB, staff: Staff, service_id: IdPath, data: JSONBody[RotationCreate]) -> Rotation:
        return await service.rotate_assignment(db, staff, service_id, data)
