"""The Front's oversight of reveals and Front-role grants (backend.services.reveal_oversight):
for Front supervisors over a whole province."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from backend.api.params import DB, CursorQuery, LimitQuery, Staff
from backend.auth import staff_with
from backend.services import reveal_oversight as service
from schemas.oversight import FrontGrantPage, RevealFlagPage, RevealPage

CommuneFilter = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$", description="Only this commune")]
ActorFilter = Annotated[
    int | None, QueryParameter(ge=1, le=2**63 - 1, description="Only this staff member's (the granter for grants)")
]
SinceFilter = Annotated[datetime | None, QueryParameter(description="From this instant (inclusive)")]
UntilFilter = Annotated[datetime | None, QueryParameter(description="Before this instant")]


class OversightController(Controller):
    path = "/v1/front/oversight"
    tags = ["front"]
    guards = [staff_with("front_supervisor")]

    @get("/reveals", operation_id="ListReveals", summary="Reveals of reporters' contact, newest first")
    async def reveals(
        self,
        db: DB,
        staff: Staff,
        commune: CommuneFilter = None,
        actor: ActorFilter = None,
        since: SinceFilter = None,
        until: UntilFilter = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> RevealPage:
        return await service.list_reveals(
            db, staff, commune=commune, actor=actor, since=since, until=until, cursor=cursor, limit=limit
        )

    @get("/reveal-flags", operation_id="ListRevealFlags", summary="Reveals refused for going over the hourly limit")
    async def flags(
        self,
        db: DB,
        staff: Staff,
        commune: CommuneFilter = None,
        actor: ActorFilter = None,
        since: SinceFilter = None,
        until: UntilFilter = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> RevealFlagPage:
        return await service.list_reveal_flags(
            db, staff, commune=commune, actor=actor, since=since, until=until, cursor=cursor, limit=limit
        )

    @get("/grants", operation_id="ListFrontGrants", summary="Grants of Front roles (reveal power included)")
    async def grants(
        self,
        db: DB,
        staff: Staff,
        commune: CommuneFilter = None,
        actor: ActorFilter = None,
        since: SinceFilter = None,
        until: UntilFilter = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> FrontGrantPage:
        return await service.list_front_grants(
            db, staff, commune=commune, actor=actor, since=since, until=until, cursor=cursor, limit=limit
        )
