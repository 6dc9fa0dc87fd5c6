from typing import Literal

from schemas.base import Base


class Province(Base, kw_only=True):
    code: str
    name: str
    name_en: str
    full_name: str
    full_name_en: str
    kind: Literal["province", "municipality"]
    commune_count: int


class Commune(Base, kw_only=True):
    code: str
    name: str
    name_en: str
    full_name: str
    full_name_en: str
    kind: Literal["commune", "ward", "special_zone"]
    province_code: str
    province_name: str


class CommunePage(Base, kw_only=True):
    items: list[Commune]
    next_cursor: str | None = None


class Procedure(Base, kw_only=True):
    code: str
    name_vi: str
    name_en: str
    field_vi: str
    field_en: str
    statutory_days: int | None = None
    days_kind: Literal["working", "calendar"] | None = None
    levels: list[str]
    legal_basis: str | None = None


class ProcedurePage(Base, kw_only=True):
    items: list[Procedure]
    next_cursor: str | None = None
