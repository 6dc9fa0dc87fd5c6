from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, SkipValidation

from backend.api.params import DB, ApiClient
from backend.auth import api_key_only
from backend.crypto import fingerprints
from backend.errors import preferred_language
from backend.items import batch_items
from backend.services.api_keys import identity
from backend.services.dossiers import ingest_dossiers
from schemas.api_keys import ApiKeyIdentity
from schemas.dossiers import DOSSIER_BATCH_MAX, DossierBatch, DossierBatchResponse


class IntegrationController(Controller):
    path = "/v1/integrations"
    tags = ["integrations"]
    guards = [api_key_only]

    @get("/whoami", operation_id="GetApiKeyIdentity", summary="Check an API key and see its scope")
    async def whoami(self, api_client: ApiClient) -> ApiKeyIdentity:
        return identity(api_client)

    @post(
        "/dossiers",
        status_code=200,
        operation_id="IngestDossiers",
        summary="Report up to 1,000 dossier states from the one-stop shop; one result per item",
        description=(
            "Rating codes (proof of service): a new dossier gets a short rating code, returned once in its "
            "result as `rating_code` (8 characters of Crockford base32) and stored only as a keyed hash. "
            "Print it on the receipt as a QR code or send it to the applicant by SMS; or send your own in "
            "the event's `rating_code`. The citizen app sends it with the dossier code: only then is the "
            "rating verified and holds the dossier's one rating slot. A rating without it, or with a wrong "
            "one, is stored unverified and never blocks the applicant. An event for a dossier already "
            "stored applies only when the key covers the dossier's current service as well as the one "
            "named (else `out_of_scope`); `version` is at most 2^53."
        ),
    )
    async def ingest(
        self,
        db: DB,
        api_client: ApiClient,
        data: SkipValidation[JSONBody[DossierBatch]],
        request: Request[Any, Any, Any],
    ) -> DossierBatchResponse:
        language = preferred_language(request.headers.get("accept-language"))
        items = batch_items(data, "dossiers", DOSSIER_BATCH_MAX)
        touched: set[str] = set()
        response = await ingest_dossiers(
            db, api_client, items, fingerprints(request.app.state.settings), language, touched
        )
        # Marked now, evaluated half a second later: after this transaction has committed.
        request.app.state.evaluations.mark(touched)
        return response
