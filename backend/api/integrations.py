from __future__ import annotations

from litestar import Controller, get

from backend.api.params import ApiClient
from backend.auth import api_key_only
from backend.services.api_keys import identity
from schemas.api_keys import ApiKeyIdentity


class IntegrationController(Controller):
    path = "/v1/integrations"
    tags = ["integrations"]
    guards = [api_key_only]

    @get("/whoami", operation_id="GetApiKeyIdentity", summary="Check an API key and see its scope")
    async def whoami(self, api_client: ApiClient) -> ApiKeyIdentity:
        return identity(api_client)
