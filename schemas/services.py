from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.types import SINGLE_LINE, AwareTime, BigId, DisplayName, ProcedureCode

AgencyName = Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)]
Note = Annotated[str, Meta(min_length=1, max_length=500, pattern=SINGLE_LINE)]


class AccountableOfficial(Base, kw_only=True):
    id: int
    full_name: str
    position: str
    position_en: str | None = None
    since: datetime


class CommuneService(Base, kw_only=True):
    id: int
    commune_code: str
    procedure_code: str
    name_vi: str
    name_en: str
    field_vi: str
    field_en: str
    lead_agency: str
    lead_agency_en: str | None = None
    statutory_days: int | None = None
    days_kind: Literal["working", "calendar"] | None = None
    is_active: bool
    official: AccountableOfficial | None = None
    """Who answers for the service now (null: nobody is assigned)."""


class CommuneServicePage(Base, kw_only=True):
    items: list[CommuneService]
    next_cursor: str | None = None


class CommuneServiceCreate(Base, kw_only=True):
    procedure_code: ProcedureCode
    lead_agency: AgencyName
    lead_agency_en: AgencyName | None = None
    official_id: BigId | None = None
    """Assign this official from `since` (default: now)."""
    since: AwareTime | None = None


class AssignedOfficial(Base, kw_only=True):
    id: int
    full_name: str
    position: str


class Assignment(Base, kw_only=True):
    id: int
    commune_service_id: int
    official: AssignedOfficial
    valid_from: datetime
    valid_until: datetime | None = None
    """Exclusive end; null while the assignment is open."""
    note: str | None = None
    created_at: datetime
    created_by: int | None = None


class AssignmentList(Base, kw_only=True):
    items: list[Assignment]


class AssignmentCreate(Base, kw_only=True):
    official_id: BigId
    valid_from: AwareTime
    valid_until: AwareTime | None = None
    note: Note | None = None


class RotationCreate(Base, kw_only=True):
    """Close the current assignment at `at` and open one for `official_id` from `at`."""

    official_id: BigId
    at: AwareTime | None = None
    """Default now. An earlier time re-links the ratings given since then to the new official."""
    note: Note | None = None


class Rotation(Base, kw_only=True):
    ended: Assignment | None = None
    started: Assignment
    relinked_ratings: int


class OfficialCreate(Base, kw_only=True):
    full_name: DisplayName
    position: DisplayName
    position_en: DisplayName | None = None
