"""Path and query parameter types shared by controllers."""

from typing import Annotated

import asyncpg
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from backend.auth import ApiKeyPrincipal, CitizenPrincipal, Principal, StaffPrincipal
from schemas.types import SINGLE_LINE

CommuneCodePath = Annotated[str, PathParameter(pattern=r"^[0-9]{5}(?!\n)$", description="5-digit commune code")]
ProvinceCodePath = Annotated[str, PathParameter(pattern=r"^[0-9]{2}(?!\n)$", description="2-digit province code")]
ProcedureCodePath = Annotated[str, PathParameter(pattern=r"^[0-9]+\.[0-9]{6}(?!\n)$", description="e.g. 1.001193")]
SearchQuery = Annotated[
    str | None,
    QueryParameter(max_length=100, pattern=SINGLE_LINE, description="Search words; diacritics and case are ignored"),
]
CursorQuery = Annotated[str | None, QueryParameter(max_length=200, description="next_cursor of the previous page")]
LimitQuery = Annotated[int, QueryParameter(ge=1, le=200, description="Items per page")]

IdPath = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
FieldQuery = Annotated[
    str | None, QueryParameter(max_length=200, pattern=SINGLE_LINE, description="Field, in English or Vietnamese")
]

# Dependencies provided by the app (see backend.app), marked explicitly as Litestar 3 requires.
DB = NamedDependency[asyncpg.Connection]
Staff = NamedDependency[StaffPrincipal]
Citizen = NamedDependency[CitizenPrincipal]
ApiClient = NamedDependency[ApiKeyPrincipal]
AnyPrincipal = NamedDependency[Principal]
