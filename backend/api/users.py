from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import JSONBody

from backend.api.params import DB, CursorQuery, IdPath, LimitQuery, SearchQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import users
from schemas.users import User, UserCreate, UserPage


class UserController(Controller):
    path = "/v1/users"
    tags = ["users"]

    @get(
        guards=[staff_with(*users.ADMIN_ROLES)],
        operation_id="ListUsers",
        summary="Staff accounts within the caller's administration",
    )
    async def list_users(
        self,
        db: DB,
        staff: Staff,
        q: SearchQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> UserPage:
        return await users.list_users(db, staff, q=q, cursor=cursor, limit=limit)

    @post(
        guards=[staff_with(*users.ADMIN_ROLES, "front_supervisor")],
        operation_id="CreateUser",
        summary="Create a staff account with scoped roles",
        description=(
            "Admins grant roles within their administration, except Front roles: those only Front "
            "supervisors grant, within their scope; a system admin may grant a province's first "
            "province-wide Front supervisor."
        ),
        responses=problem_responses(409),
    )
    async def create_user(self, db: DB, staff: Staff, data: JSONBody[UserCreate]) -> User:
        return await users.create_user(db, staff, data)

    @get("/{user_id:int}", guards=[staff_with(*users.ADMIN_ROLES)], operation_id="GetUser")
    async def get_user(self, db: DB, staff: Staff, user_id: IdPath) -> User:
        return await users.get_user(db, staff, user_id)

    @delete(
        "/{user_id:int}",
        guards=[staff_with(*users.ADMIN_ROLES)],
        status_code=200,
        operation_id="DeactivateUser",
        summary="Deactivate an account",
        description="Ends its sessions. The last active system admin cannot be deactivated (409).",
        responses=problem_responses(409),
    )
    async def deactivate_user(self, db: DB, staff: Staff, user_id: IdPath) -> User:
        return await users.deactivate_user(db, staff, user_id)

    @post(
        "/{user_id:int}/reactivate",
        guards=[staff_with(*users.ADMIN_ROLES)],
        status_code=200,
        operation_id="ReactivateUser",
        summary="Switch a deactivated account back on (its holder logs in again)",
        description="Admins who administer every role the account holds; audited. No change if it is active.",
    )
    async def reactivate_user(self, db: DB, staff: Staff, user_id: IdPath) -> User:
        return await users.reactivate_user(db, staff, user_id)
