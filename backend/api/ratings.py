from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import HeaderParameter, JSONBody, SkipValidation

from backend.api.hot_routes import post
from backend.api.params import DB, Citizen, CursorQuery, LimitQuery
from backend.api.problems import problem_responses
from backend.auth import citizen_only
from backend.client_address import limit_key, request_address
from backend.crypto import fingerprints
from backend.errors import AppError, preferred_language, problem_of
from backend.instants import out_of_range
from backend.items import batch_items, convert_item
from backend.services import ratings as service
from schemas.ratings import (
    RATING_BATCH_MAX,
    Rating,
    RatingBatch,
    RatingBatchItem,
    RatingBatchResponse,
    RatingBatchResult,
    RatingCreate,
    RatingPage,
)
from schemas.types import IDEMPOTENCY_KEY

IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        required=True,
        min_length=1,
        max_length=200,
        pattern=IDEMPOTENCY_KEY,
        description="A new key per rating the citizen intends; a retry reuses it and gets the "
        "first answer again. Letters, digits, '_', '-', ':', '.'; at most 200.",
    ),
]


def sender(request: Request[Any, Any, Any]) -> str:
    """The sender's network address for campaign scoring: who the client is by the one rule
    (backend.client_address, TRUSTED_PROXIES), counted as the limits count it (an IPv6
    client by its /64, which one subscriber holds whole)."""
    return limit_key(request_address(request))


class RatingController(Controller):
    path = "/v1/ratings"
    tags = ["ratings"]
    guards = [citizen_only]

    @post(
        operation_id="SubmitRating",
        summary="Rate a commune service",
        status_code=201,
        responses=problem_responses(409, 429),
        # A retry with the same key answers 201 again, with the stored rating.
        opt={"replay_header": (201,)},
    )
    async def submit(
        self,
        data: JSONBody[RatingCreate],
        citizen: Citizen,
        state: State,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[Rating]:
        if idempotency_key is None or not re.fullmatch(IDEMPOTENCY_KEY, idempotency_key):
            raise AppError("idempotency_key_required")
        bad_time = out_of_range(data, "served_at", "rated_at")
        if bad_time is not None:
            raise bad_time
        rating = service.rating_request(
            citizen.citizen_id, idempotency_key, data, fingerprints(state.settings), sender(request)
        )
        (outcome,) = await state.rating_writer.submit([rating])
        if outcome.error is not None:
            raise outcome.error
        headers = {"idempotent-replayed": "true"} if outcome.status == 200 else {}
        return Response(outcome.rating, status_code=201, headers=headers)

    @post(
        "/batch",
        operation_id="SubmitRatingBatch",
        summary="Send up to 100 ratings queued on a phone; one result per item",
        description=(
            "Each item carries its own idempotency_key, so no Idempotency-Key header is needed: "
            "resending the whole batch replays the stored items (status 200) and stores only the "
            "others. Results come in the order of the items."
        ),
        status_code=200,
    )
    async def submit_batch(
        self,
        data: SkipValidation[JSONBody[RatingBatch]],
        citizen: Citizen,
        state: State,
        request: Request[Any, Any, Any],
    ) -> RatingBatchResponse:
        language = preferred_language(request.headers.get("accept-language"))
        items = batch_items(data, "items", RATING_BATCH_MAX)
        results: list[RatingBatchResult | None] = [None] * len(items)
        queued, positions = [], []
        address = sender(request)
        for index, raw in enumerate(items):
            item = convert_item(raw, RatingBatchItem)
            if not isinstance(item, AppError):
                item = out_of_range(item, "served_at", "rated_at") or item
            if isinstance(item, AppError):
                key = raw.get("idempotency_key") if isinstance(raw, dict) else None
                results[index] = RatingBatchResult(
                    index=index,
                    idempotency_key=key if isinstance(key, str) else None,
                    status=item.status,
                    problem=problem_of(item, language),
                )
                continue
            body = service.batch_item_body(item)
            queued.append(
                service.rating_request(
                    citizen.citizen_id, item.idempotency_key, body, fingerprints(state.settings), address
                )
            )
            positions.append(index)
        outcomes = await state.rating_writer.submit(queued) if queued else []
        for index, queued_request, outcome in zip(positions, queued, outcomes, strict=True):
            results[index] = RatingBatchResult(
                index=index,
                idempotency_key=queued_request.idempotency_key,
                status=outcome.status,
                rating=outcome.rating,
                problem=problem_of(outcome.error, language) if outcome.error else None,
            )
        return RatingBatchResponse(results=[r for r in results if r is not None])


class MyRatingController(Controller):
    path = "/v1/me/ratings"
    tags = ["ratings"]
    guards = [citizen_only]

    @get(operation_id="ListMyRatings", summary="The citizen's own ratings, newest first")
    async def list_mine(
        self, db: DB, citizen: Citizen, cursor: CursorQuery = None, limit: LimitQuery = 50
    ) -> RatingPage:
        return await service.list_my_ratings(db, citizen.citizen_id, cursor=cursor, limit=limit)
