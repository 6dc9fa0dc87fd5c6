from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.problem import Problem
from schemas.types import AwareTime, BigId, CommuneCode, DossierCode, ProcedureCode, RatingCode

DOSSIER_VERSION_MAX = 2**53

DossierStatus = Literal["received", "processing", "completed", "cancelled"]
DossierChannel = Literal["online", "in_person", "postal"]


class DossierEvent(Base, kw_only=True):
    """The full state of one dossier as the one-stop shop knows it after an event. Name the
    service by commune_service_id or by commune_code + procedure_code."""

    code: DossierCode
    commune_service_id: BigId | None = None
    commune_code: CommuneCode | None = None
    procedure_code: ProcedureCode | None = None
    status: DossierStatus
    received_at: AwareTime
    due_at: AwareTime | None = None
    """Left out: derived from the procedure's statutory time (working days skip weekends and
    Vietnam's public holidays)."""
    completed_at: AwareTime | None = None
    """Required when status is completed."""
    cancelled_at: AwareTime | None = None
    """Defaults to event_at when status is cancelled."""
    version: Annotated[int, Meta(ge=0, le=DOSSIER_VERSION_MAX)] | None = None
    """Increasing per dossier, when the source system has one; else event_at decides. At most
    2^53 (exact in every JSON client), so no event can take a version no later one can beat."""
    event_at: AwareTime
    rating_code: RatingCode | None = None
    """The code the applicant rates with, when the source system makes its own (8 characters of
    Crockford base32). Left out: one is generated for a new dossier and returned once."""
    handling_official_id: BigId | None = None
    """The official who handled the dossier, when the source system knows; an official of the
    dossier's commune. Left out: scorecards credit the official accountable for the service when
    the dossier was completed."""
    channel: DossierChannel | None = None
    """How the dossier was received, when the source system reports it (Decision 766's online share)."""


DOSSIER_BATCH_MAX = 1000


class DossierBatch(Base, kw_only=True):
    dossiers: Annotated[
        list[DossierEvent],
        Meta(
            min_length=1,
            max_length=DOSSIER_BATCH_MAX,
            description="Dossier states. Each item is validated on its own: a bad one gets its problem "
            "in its result and does not reject the others.",
        ),
    ]


DossierOutcome = Literal["created", "updated", "unchanged", "rejected"]


class DossierResult(Base, kw_only=True):
    index: int
    code: str | None = None
    outcome: DossierOutcome
    """unchanged: the same or a newer state (by version, then event time) is already stored."""
    due_at: datetime | None = None
    due_derived: bool | None = None
    rating_code: str | None = None
    """Generated for this dossier now and shown only this once (stored hashed): print it on the
    receipt as a QR code or send it by SMS; the applicant's app sends it with the dossier code."""
    problem: Problem | None = None


class DossierBatchResponse(Base, kw_only=True):
    results: list[DossierResult]
    created: int
    updated: int
    unchanged: int
    rejected: int
    verified_ratings: int
    """Ratings that became verified because their dossier was reported completed."""
