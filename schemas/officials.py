from datetime import datetime

from schemas.base import Base


class HeldService(Base, kw_only=True):
    commune_service_id: int
    procedure_code: str
    procedure_name: str
    since: datetime


class Official(Base, kw_only=True):
    id: int
    full_name: str
    position: str
    position_en: str | None = None
    commune_code: str
    is_active: bool
    services: list[HeldService]


class OfficialList(Base, kw_only=True):
    items: list[Official]
