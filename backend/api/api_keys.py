from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import JSONBody

from backend.api.params import DB, IdPath, Staff
from backend.auth import staff_with
from backend.services import api_keys
from schemas.api_keys import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyList


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["api-keys"]
    guards = [staff_with(*api_keys.KEY_ADMINS)]

    @get(operation_id="ListApiKeys", summary="Machine API keys within the caller's administration")
    async def list_keys(self, db: DB, staff: Staff) -> ApiKeyList:
        return await api_keys.list_api_keys(db, staff)

    @post(operation_id="CreateApiKey", summary="Create a key; the whole key is shown only in this answer")
    async def create_key(self, db: DB, staff: Staff, data: JSONBody[ApiKeyCreate]) -> ApiKeyCreated:
        return await api_keys.create_api_key(db, staff, data)

    @delete("/{key_id:int}", status_code=200, operation_id="RevokeApiKey")
    async def revoke_key(self, db: DB, staff: Staff, key_id: IdPath) -> ApiKey:
        return await api_keys.revoke_api_key(db, staff, key_id)
