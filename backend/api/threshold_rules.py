from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from backend.api.params import DB, CommuneCodePath, CursorQuery, IdPath, LimitQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import threshold_rules as service
from backend.services.users import ADMIN_ROLES
from schemas.threshold_rules import (
    CommuneThresholdRules,
    RuleIndicator,
    ThresholdRule,
    ThresholdRuleCreate,
    ThresholdRuleList,
    ThresholdRuleUpdate,
)

ProvinceQuery = Annotated[
    str | None,
    QueryParameter(pattern=r"^[0-9]{2}(?!\n)$", description="Rules of this province and of its communes"),
]
CommuneQuery = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$", description="Rules of this commune")]


class ThresholdRuleController(Controller):
    path = "/v1/threshold-rules"
    tags = ["threshold-rules"]
    guards = [staff_with()]

    @get(operation_id="ListThresholdRules", summary="Threshold rules the caller may see, oldest first")
    async def list_rules(
        self,
        db: DB,
        staff: Staff,
        scope_kind: FromQuery[Literal["national", "province", "commune"] | None] = None,
        province_code: ProvinceQuery = None,
        commune_code: CommuneQuery = None,
        indicator: FromQuery[RuleIndicator | None] = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 100,
    ) -> ThresholdRuleList:
        return await service.list_threshold_rules(
            db, staff, scope_kind=scope_kind, province_code=province_code, commune_code=commune_code,
            indicator=indicator, cursor=cursor, limit=limit,
        )  # fmt: skip

    @post(
        operation_id="CreateThresholdRule",
        summary="Add a national default (system admins) or a province or commune override (its province's admins)",
        guards=[staff_with(*ADMIN_ROLES)],
        responses=problem_responses(409),
    )
    async def create_rule(self, db: DB, staff: Staff, data: JSONBody[ThresholdRuleCreate]) -> ThresholdRule:
        return await service.create_threshold_rule(db, staff, data)

    @get("/{rule_id:int}", operation_id="GetThresholdRule")
    async def get_rule(self, db: DB, staff: Staff, rule_id: IdPath) -> ThresholdRule:
        return await service.get_threshold_rule(db, staff, rule_id)

    @patch(
        "/{rule_id:int}",
        operation_id="UpdateThresholdRule",
        summary="Change a rule (not its indicator or scope)",
        guards=[staff_with(*ADMIN_ROLES)],
    )
    async def update_rule(
        self, db: DB, staff: Staff, rule_id: IdPath, data: JSONBody[ThresholdRuleUpdate]
    ) -> ThresholdRule:
        return await service.update_threshold_rule(db, staff, rule_id, data)

    @delete(
        "/{rule_id:int}",
        status_code=200,
        operation_id="DeleteThresholdRule",
        summary="Delete a rule; its scope falls back to the rule it inherits",
        guards=[staff_with(*ADMIN_ROLES)],
    )
    async def delete_rule(self, db: DB, staff: Staff, rule_id: IdPath) -> ThresholdRule:
        return await service.delete_threshold_rule(db, staff, rule_id)


class CommuneThresholdRuleController(Controller):
    path = "/v1/communes/{commune_code:str}/threshold-rules"
    tags = ["threshold-rules"]

    @get(
        guards=[staff_with()],
        operation_id="ListCommuneThresholdRules",
        summary="The rule in force for each indicator of a commune, and where it is inherited from",
    )
    async def effective_rules(self, db: DB, staff: Staff, commune_code: CommuneCodePath) -> CommuneThresholdRules:
        return await service.commune_threshold_rules(db, staff, commune_code)
