"""Citizens' feedback to the Front, and the two Front reads that guard the reporter:
photos and the audited reveal of contact details."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar._multipart import parse_multipart_form
from litestar.connection import ASGIConnection
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import Body, HeaderParameter, JSONBody
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from backend.api.params import DB, Citizen, CursorQuery, IdPath, LimitQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import citizen_only, staff_with
from backend.crypto import feedback_keyring, fingerprints
from backend.errors import AppError, problem_response
from backend.items import convert_item
from backend.services import feedback_citizen as service
from backend.services.reveal_oversight import RevealRateExceeded
from backend.storage import attachment_store
from schemas.feedback import (
    FEEDBACK_ATTACHMENT_MAX_BYTES,
    FEEDBACK_ATTACHMENTS_MAX,
    AnswerRatingCreate,
    DisputeCreate,
    FeedbackCreate,
    MyFeedback,
    MyFeedbackPage,
    RevealCreate,
    RevealedContact,
)
from schemas.problem import FieldError
from schemas.types import IDEMPOTENCY_KEY

# Five full-size photos and the JSON part, with room for the multipart framing; larger
# requests are refused with 413 before they are read to the end.
SUBMISSION_MAX_BYTES = FEEDBACK_ATTACHMENTS_MAX * FEEDBACK_ATTACHMENT_MAX_BYTES + 256 * 1024

IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        required=True,
        min_length=1,
        max_length=200,
        pattern=IDEMPOTENCY_KEY,
        description="A new key per intended write; a retry reuses it and gets the first answer "
        "again (Idempotent-Replayed: true). Letters, digits, '_', '-', ':', '.'; at most 200.",
    ),
]


def _key(idempotency_key: str | None) -> str:
    if idempotency_key is None or not re.fullmatch(IDEMPOTENCY_KEY, idempotency_key):
        raise AppError("idempotency_key_required")
    return idempotency_key


_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`")


def _feedback_part(raw: Any) -> FeedbackCreate:
    """The `feedback` part as FeedbackCreate; problems name fields inside it ("contact.phone")."""
    body = convert_item(raw, FeedbackCreate)
    if not isinstance(body, AppError):
        return body
    for error in body.errors or []:
        if error.field == "item":
            unknown = _UNKNOWN_FIELD.match(error.message)
            error.field = unknown["name"] if unknown else "feedback"
    raise body


def _answer(item: MyFeedback, replayed: bool, status: int) -> Response[MyFeedback]:
    if replayed:
        return Response(item, status_code=200, headers={"idempotent-replayed": "true"})
    return Response(item, status_code=status)


async def multipart_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """415 for any other body before it is read (guards run before the body is parsed)."""
    if connection.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise AppError("unsupported_media_type")


FORM_PART_LIMIT = 20


async def read_form_as_text(request: Request[Any, Any, Any]) -> None:
    """before_request hook: parse the form as Litestar's body extractor would (same part
    limit, kept in the scope where the extractor looks for it first), so that a text part that
    is not text in its declared charset, or declares a charset Python does not know, is a 400
    malformed_body: Litestar decodes text parts strictly and let both errors through as 500s."""
    state = ScopeState.from_scope(request.scope)
    if state.form is not Empty:
        return
    try:
        state.form = await parse_multipart_form(
            stream=request.stream(),
            boundary=request.content_type[-1].get("boundary", "").encode(),
            multipart_form_part_limit=FORM_PART_LIMIT,
        )
    except (UnicodeDecodeError, LookupError):
        message = "A form part is not text in its declared charset (UTF-8 when none is declared)"
        raise AppError("malformed_body", errors=[FieldError(field="feedback", message=message)]) from None


@dataclass
class FeedbackForm:
    """multipart/form-data: the feedback as JSON in the `feedback` part, each photo as a
    `photos` file part. The photos' declared types and names are ignored: their bytes decide."""

    feedback: str
    """FeedbackCreate as JSON."""
    photos: list[UploadFile] = field(default_factory=list)
    """Up to 5 photos (JPEG, PNG or HEIC), each at most 5 MB."""


FORM_PARTS = frozenset(f.name for f in fields(FeedbackForm))


class FeedbackController(Controller):
    path = "/v1/feedback"
    tags = ["feedback"]
    guards = [citizen_only]

    @post(
        operation_id="SubmitFeedback",
        summary="Send the Front a suggestion, complaint, report of wrongdoing, question or praise",
        description=(
            "multipart/form-data, so photos travel as raw bytes (base64 in JSON would add a third on a "
            "phone's weak signal): a `feedback` part holding the FeedbackCreate JSON and up to 5 `photos` "
            "file parts. The item and its photos are stored together under the Idempotency-Key: a retry "
            "after a lost answer replays the stored item (200, Idempotent-Replayed: true) and never stores "
            "twice. Contact details are encrypted at rest and never sent back. Each install may send "
            "FEEDBACK_DAILY_LIMIT items and FEEDBACK_DAILY_PHOTO_BYTES of photos (as uploaded) per day "
            "(Asia/Ho_Chi_Minh); beyond that 429 `feedback_limit_reached` with Retry-After until local "
            "midnight. A retry of an item already stored is always replayed."
        ),
        status_code=201,
        guards=[multipart_only],
        before_request=read_form_as_text,
        request_max_body_size=SUBMISSION_MAX_BYTES,
        responses={
            **problem_responses(413, 415, 429),
            200: ResponseSpec(
                MyFeedback,
                description="A retry with the same Idempotency-Key: the stored item again",
                generate_examples=False,
            ),
        },
        # The `feedback` part is FeedbackCreate as JSON; unknown parts are refused.
        opt={
            "replay_header": (200,),
            "form_json_parts": {"feedback": FeedbackCreate},
            "form_closed": True,
            "form_max_items": {"photos": FEEDBACK_ATTACHMENTS_MAX},
        },
    )
    async def submit(
        self,
        data: Annotated[
            FeedbackForm, Body(media_type=RequestEncodingType.MULTI_PART, multipart_form_part_limit=FORM_PART_LIMIT)
        ],
        db: DB,
        citizen: Citizen,
        state: State,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[MyFeedback]:
        key = _key(idempotency_key)
        # A misspelt part ("photo") would otherwise drop the citizen's photos without a word.
        unknown = sorted(set((await request.form()).keys()) - FORM_PARTS)
        if unknown:
            raise AppError("validation_failed", errors=[FieldError(field=unknown[0], message="Unknown form part")])
        try:
            raw = msgspec.json.decode(data.feedback)
        except msgspec.DecodeError as exc:
            raise AppError("malformed_body", errors=[FieldError(field="feedback", message=str(exc))]) from None
        body = _feedback_part(raw)
        files = [await photo.read() for photo in data.photos]
        for photo in data.photos:
            await photo.close()
        settings = state.settings
        allowance = (settings.feedback_daily_limit, settings.feedback_daily_photo_bytes)
        await service.refuse_over_allowance(db, citizen.citizen_id, key, sum(map(len, files)), allowance)
        uploads = await asyncio.to_thread(service.check_uploads, files)
        item, replayed = await service.submit_feedback(
            db,
            attachment_store(settings),
            feedback_keyring(settings),
            fingerprints(settings),
            citizen.citizen_id,
            key,
            body,
            uploads,
            allowance=allowance,
        )
        return _answer(item, replayed, 201)


class MyFeedbackController(Controller):
    path = "/v1/me/feedback"
    tags = ["feedback"]
    guards = [citizen_only]

    @get(operation_id="ListMyFeedback", summary="The citizen's own feedback, newest first")
    async def list_mine(
        self, db: DB, citizen: Citizen, cursor: CursorQuery = None, limit: LimitQuery = 50
    ) -> MyFeedbackPage:
        return await service.list_my_feedback(db, citizen.citizen_id, cursor=cursor, limit=limit)

    @get(
        "/{feedback_id:int}",
        operation_id="GetMyFeedback",
        summary="One of the citizen's items: status timeline, answer, rejection reason",
        responses=problem_responses(404),
    )
    async def get_mine(self, db: DB, citizen: Citizen, feedback_id: IdPath) -> MyFeedback:
        return await service.get_my_feedback(db, citizen.citizen_id, feedback_id)

    @post(
        "/{feedback_id:int}/rating",
        operation_id="RateFeedbackAnswer",
        summary="Rate the answer 1-5, once it is answered (once per answer)",
        status_code=200,
        responses=problem_responses(404, 409),
        opt={"replay_header": (200,)},
    )
    async def rate(
        self,
        db: DB,
        citizen: Citizen,
        feedback_id: IdPath,
        data: JSONBody[AnswerRatingCreate],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[MyFeedback]:
        key = _key(idempotency_key)
        item, replayed = await service.rate_answer(db, citizen.citizen_id, feedback_id, key, data.score)
        return _answer(item, replayed, 200)

    @post(
        "/{feedback_id:int}/dispute",
        operation_id="DisputeFeedback",
        summary="Dispute the answer (or the rejection): the Front reviews the item again",
        status_code=200,
        responses=problem_responses(404, 409),
        opt={"replay_header": (200,)},
    )
    async def dispute(
        self,
        db: DB,
        citizen: Citizen,
        feedback_id: IdPath,
        data: JSONBody[DisputeCreate],
        state: State,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[MyFeedback]:
        key = _key(idempotency_key)
        item, replayed = await service.dispute_feedback(
            db, fingerprints(state.settings), citizen.citizen_id, feedback_id, key, data.reason
        )
        return _answer(item, replayed, 200)


class FrontFeedbackConfidentialController(Controller):
    path = "/v1/front/feedback"
    tags = ["front"]
    guards = [staff_with(*service.FRONT_ROLES)]

    @get(
        "/{feedback_id:int}/attachments/{attachment_id:int}",
        operation_id="GetFeedbackAttachment",
        summary="A photo of an item, for Front staff covering its commune",
        media_type="application/octet-stream",
        responses=problem_responses(404),
    )
    async def attachment(
        self, db: DB, staff: Staff, state: State, feedback_id: IdPath, attachment_id: IdPath
    ) -> Response[bytes]:
        photo = await service.read_attachment(db, attachment_store(state.settings), staff, feedback_id, attachment_id)
        return Response(
            photo.data,
            media_type=photo.content_type,
            headers={
                "content-disposition": f'inline; filename="{photo.filename}"',
                "cache-control": "private, no-store",
                "x-content-type-options": "nosniff",
                "etag": f'"{photo.sha256.hex()}"',
            },
        )

    @post(
        "/{feedback_id:int}/reveal",
        operation_id="RevealFeedbackContact",
        summary="The reporter's contact details, with a reason; recorded in the audit log",
        description=(
            "A report of wrongdoing: only a front_supervisor whose scope covers the commune (the Law on "
            "Denunciation keeps the reporter's identity secret). Other categories: any Front staff covering "
            "the commune, so they can reply. 404 to those who cannot see the item, 403 to those who see it "
            "but may not reveal."
        ),
        status_code=200,
        responses=problem_responses(404, 429),
    )
    async def reveal(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        staff: Staff,
        state: State,
        feedback_id: IdPath,
        data: JSONBody[RevealCreate],
    ) -> Response[RevealedContact]:
        try:
            revealed = await service.reveal_contact(
                db, state.settings, feedback_keyring(state.settings), staff, feedback_id, data.reason
            )
        except RevealRateExceeded:
            # Answered, not raised: the flag written for the oversight must be committed.
            return cast("Response[RevealedContact]", problem_response(request, "reveal_rate_exceeded"))
        return Response(revealed, headers={"cache-control": "private, no-store"})
