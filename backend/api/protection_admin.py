"""Administration routing depends on: an official's account link, the province's recipient
of reports about commune chairs (backend.services.protection_admin)."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.params import JSONBody

from backend.api.params import DB, IdPath, ProvinceCodePath, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import protection_admin as service
from backend.services.users import ADMIN_ROLES
from schemas.protection import FeedbackRecipient, FeedbackRecipientSet, OfficialAccount, OfficialAccountLink


class ProtectionAdminController(Controller):
    path = "/v1"
    tags = ["officials"]
    guards = [staff_with(*ADMIN_ROLES)]

    @put(
        "/officials/{official_id:int}/account",
        operation_id="LinkOfficialAccount",
        summary="Link (or unlink, with null) an official's staff account; audited with the reason",
        responses=problem_responses(404, 409),
    )
    async def link_account(
        self, db: DB, staff: Staff, official_id: IdPath, data: JSONBody[OfficialAccountLink]
    ) -> OfficialAccount:
        return await service.link_official_account(db, staff, official_id, data)

    @get(
        "/provinces/{province_code:str}/feedback-recipient",
        operation_id="GetProvinceFeedbackRecipient",
        summary="Who receives reports of wrongdoing about the province's commune chairs",
    )
    async def get_recipient(self, db: DB, staff: Staff, province_code: ProvinceCodePath) -> FeedbackRecipient:
        return await service.get_feedback_recipient(db, staff, province_code)

    @put(
        "/provinces/{province_code:str}/feedback-recipient",
        operation_id="SetProvinceFeedbackRecipient",
        summary="Name the account (e.g. the provincial inspectorate's) receiving reports about commune chairs",
        responses=problem_responses(404),
    )
    async def set_recipient(
        self, db: DB, staff: Staff, province_code: ProvinceCodePath, data: JSONBody[FeedbackRecipientSet]
    ) -> FeedbackRecipient:
        return await service.set_feedback_recipient(db, staff, province_code, data)
