"""The baseline of the rating benchmark: the least a rating can cost on this stack.

A bare Litestar app (no auth, no middleware, no OpenAPI) with an asyncpg pool of the same
size as the API's. `POST /baseline/ratings` decodes the rating body into a msgspec Struct
and inserts ONE row into `bench_baseline_ratings` with a single autocommit statement, then
answers 201 `{"id": ...}`. `bench.ratings` creates the table and runs this under uvicorn:

    DATABASE_URL=postgresql://... uvicorn bench.baseline:create_app --factory --workers 2

`GET /baseline/ready` (one `select 1`) only tells the benchmark that the app is up.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
import msgspec
from litestar import Litestar, get, post
from litestar.datastructures import State

TABLE_SQL = """
create table if not exists bench_baseline_ratings (
    id                 bigserial primary key,
    citizen            uuid,
    commune_service_id bigint,
    commune_code       text,
    procedure_code     text,
    dossier_code       text,
    score              smallint not null,
    score_access       smallint,
    score_procedure    smallint,
    score_attitude     smallint,
    score_timeliness   smallint,
    score_result       smallint,
    comment            text,
    channel            text not null,
    served_at          timestamptz,
    created_at         timestamptz not null default now()
)
"""

INSERT_SQL = """
insert into bench_baseline_ratings (citizen, commune_service_id, commune_code, procedure_code, dossier_code, score,
                                    score_access, score_procedure, score_attitude, score_timeliness, score_result,
                                    comment, channel, served_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
returning id
"""


class Dimensions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    access: int | None = None
    procedure: int | None = None
    attitude: int | None = None
    result: int | None = None
    timeliness: int | None = None


class RatingBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields of the `POST /v1/ratings` body, without its validation rules."""

    score: int
    channel: str = "app"
    commune_service_id: int | None = None
    commune_code: str | None = None
    procedure_code: str | None = None
    dossier_code: str | None = None
    rating_code: str | None = None
    dimensions: Dimensions | None = None
    comment: str | None = None
    served_at: datetime | None = None


class Created(msgspec.Struct):
    id: int


@post("/baseline/ratings", status_code=201)
async def create_rating(data: RatingBody, state: State) -> Created:
    dims = data.dimensions or Dimensions()
    row_id = await state.pool.fetchval(
        INSERT_SQL,
        uuid.uuid4(),  # stands in for the citizen a token would name
        data.commune_service_id,
        data.commune_code,
        data.procedure_code,
        data.dossier_code,
        data.score,
        dims.access,
        dims.procedure,
        dims.attitude,
        dims.timeliness,
        dims.result,
        data.comment,
        data.channel,
        data.served_at,
    )
    return Created(row_id)


@get("/baseline/ready")
async def ready(state: State) -> dict[str, str]:
    await state.pool.fetchval("select 1")
    return {"status": "ok"}


def create_app() -> Litestar:
    """Factory for `uvicorn --factory`: DATABASE_URL and DB_POOL_SIZE from the environment."""
    database_url = os.environ["DATABASE_URL"]
    pool_size = int(os.environ.get("DB_POOL_SIZE") or 10)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        # The same pool shape as backend.db.create_pool, without its JSON codecs.
        app.state.pool = await asyncpg.create_pool(
            database_url,
            min_size=1,
            max_size=pool_size,
            command_timeout=30,
            server_settings={"application_name": "commune-pulse-bench-baseline", "timezone": "UTC"},
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar(
        route_handlers=[create_rating, ready],
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
