from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, QueryParameter

from backend.api.params import DB, IdPath, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import feedback_templates as service
from schemas.feedback_reports import (
    FeedbackCategory,
    FeedbackTemplate,
    FeedbackTemplateCreate,
    FeedbackTemplateList,
    FeedbackTemplateUpdate,
)


class FeedbackTemplateController(Controller):
    path = "/v1/front/templates"
    tags = ["front"]
    guards = [staff_with(*service.TEMPLATE_READERS)]

    @get(operation_id="ListFeedbackTemplates", summary="Answer templates the caller may use, by category")
    async def list_templates(
        self, db: DB, staff: Staff, category: Annotated[FeedbackCategory | None, QueryParameter()] = None
    ) -> FeedbackTemplateList:
        return await service.list_templates(db, staff, category)

    @post(
        operation_id="CreateFeedbackTemplate",
        summary="Add a national or a province's answer template (Front supervisors)",
        guards=[staff_with(*service.TEMPLATE_EDITORS)],
        responses=problem_responses(403, 404),
    )
    async def create_template(self, db: DB, staff: Staff, data: JSONBody[FeedbackTemplateCreate]) -> FeedbackTemplate:
        return await service.create_template(db, staff, data)

    @patch(
        "/{template_id:int}",
        operation_id="UpdateFeedbackTemplate",
        summary="Change a template's title or text",
        guards=[staff_with(*service.TEMPLATE_EDITORS)],
        responses=problem_responses(403, 404),
    )
    async def update_template(
        self, db: DB, staff: Staff, template_id: IdPath, data: JSONBody[FeedbackTemplateUpdate]
    ) -> FeedbackTemplate:
        return await service.update_template(db, staff, template_id, data)

    @delete(
        "/{template_id:int}",
        operation_id="DeleteFeedbackTemplate",
        summary="Retire a template",
        guards=[staff_with(*service.TEMPLATE_EDITORS)],
        responses=problem_responses(403, 404),
    )
    async def delete_template(self, db: DB, staff: Staff, template_id: IdPath) -> None:
        await service.delete_template(db, staff, template_id)
