from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from backend.api.params import DB, CursorQuery, IdPath, LimitQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import alerts as service
from schemas.alerts import AlertAcknowledge, AlertDetail, AlertPage, AlertSilence

StateQuery = Annotated[
    Literal["open", "pending", "firing", "acknowledged", "resolved"],
    QueryParameter(name="state", description="`open` (default): pending, firing or acknowledged"),
]


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]
    guards = [staff_with(*service.ALERT_READERS)]

    @get(operation_id="ListAlerts", summary="Alerts in the caller's scope, newest first")
    async def list_alerts(
        self,
        db: DB,
        staff: Staff,
        state_filter: StateQuery = "open",
        commune: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$")] = None,
        province: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{2}(?!\n)$")] = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> AlertPage:
        return await service.list_alerts(
            db, staff, state=state_filter, commune=commune, province=province, cursor=cursor, limit=limit
        )

    @get(
        "/{alert_id:int}",
        operation_id="GetAlert",
        summary="An alert, the values that fired it and its timeline",
        responses=problem_responses(404),
    )
    async def get_alert(self, db: DB, staff: Staff, alert_id: IdPath) -> AlertDetail:
        return await service.get_alert(db, staff, alert_id)

    @post(
        "/{alert_id:int}/ack",
        status_code=200,
        operation_id="AcknowledgeAlert",
        summary="Acknowledge a firing alert: reminders and escalation stop (chairs, province admins)",
        responses=problem_responses(403, 404, 409),
    )
    async def acknowledge(
        self, db: DB, staff: Staff, alert_id: IdPath, data: JSONBody[AlertAcknowledge | None] = None
    ) -> AlertDetail:
        return await service.acknowledge_alert(db, staff, alert_id, data or AlertAcknowledge())

    @post(
        "/{alert_id:int}/silence",
        status_code=200,
        operation_id="SilenceAlert",
        summary="Mute an open alert's pushes until a time, with a reason (chairs, province admins)",
        responses=problem_responses(403, 404, 409, 422),
    )
    async def silence(self, db: DB, staff: Staff, alert_id: IdPath, data: JSONBody[AlertSilence]) -> AlertDetail:
        return await service.silence_alert(db, staff, alert_id, data)
