from datetime import datetime
from typing import Annotated

from msgspec import Meta

from schemas.base import Base
from schemas.problem import Problem
from schemas.types import (
    AwareTime,
    BigId,
    Channel,
    Comment,
    CommuneCode,
    DossierCode,
    IdempotencyKey,
    ProcedureCode,
    RatingCode,
    Score,
)


class Dimensions(Base, kw_only=True):
    """The national satisfaction survey's dimensions, each 1-5."""

    access: Score | None = None
    procedure: Score | None = None
    attitude: Score | None = None
    result: Score | None = None
    timeliness: Score | None = None


class RatingCreate(Base, kw_only=True):
    """Name the service one way: commune_service_id, commune_code + procedure_code, or a
    dossier_code (which implies both; it also makes the rating verifiable)."""

    commune_service_id: BigId | None = None
    commune_code: CommuneCode | None = None
    procedure_code: ProcedureCode | None = None
    dossier_code: DossierCode | None = None
    rating_code: RatingCode | None = None
    """The dossier's rating code from the receipt. Only with it is the rating verified and
    holds the dossier's one rating slot; without it (or with a wrong one) it is stored
    unverified and the applicant can still rate the dossier with the code."""
    score: Score
    dimensions: Dimensions | None = None
    comment: Comment | None = None
    channel: Channel = "app"
    served_at: AwareTime | None = None
    """When the service was used; may be left out when the dossier is completed."""
    rated_at: AwareTime | None = None
    """When the citizen wrote the rating on the phone (it may be sent later)."""


class RatingBatchItem(RatingCreate, kw_only=True):
    idempotency_key: IdempotencyKey


RATING_BATCH_MAX = 100


class RatingBatch(Base, kw_only=True):
    items: Annotated[
        list[RatingBatchItem],
        Meta(
            min_length=1,
            max_length=RATING_BATCH_MAX,
            description="Ratings queued on the phone, each with its own idempotency_key. Each item is "
            "validated and stored on its own: a bad item gets its problem in its result and does not "
            "reject the others.",
        ),
    ]


class LinkedOfficial(Base, kw_only=True):
    id: int
    full_name: str
    position: str
    position_en: str | None = None


class Rating(Base, kw_only=True):
    id: int
    commune_service_id: int
    commune_code: str
    commune_name: str
    procedure_code: str
    procedure_name: str
    procedure_name_en: str
    official: LinkedOfficial | None = None
    """Who was accountable for the service at the service time (null: nobody was assigned)."""
    verified: bool
    """Sent with the dossier's rating code, and the dossier is completed for this service."""
    dossier_code: str | None = None
    score: int
    dimensions: Dimensions | None = None
    comment: str | None = None
    channel: Channel
    served_at: datetime
    created_at: datetime


class RatingPage(Base, kw_only=True):
    items: list[Rating]
    next_cursor: str | None = None


class RatingBatchResult(Base, kw_only=True):
    index: int
    idempotency_key: str | None = None
    status: int
    """The HTTP status this item would have had on its own: 201 stored, 200 replayed, else a problem."""
    rating: Rating | None = None
    problem: Problem | None = None


class RatingBatchResponse(Base, kw_only=True):
    results: list[RatingBatchResult]
