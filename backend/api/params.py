"""Path and query parameter types shared by controllers."""

from typing import Annotated

from litestar.params import Parameter

CommuneCodePath = Annotated[str, Parameter(pattern=r"^[0-9]{5}$", description="5-digit commune code")]
ProvinceCodePath = Annotated[str, Parameter(pattern=r"^[0-9]{2}$", description="2-digit province code")]
ProcedureCodePath = Annotated[str, Parameter(pattern=r"^[0-9]+\.[0-9]{6}$", description="e.g. 1.001193")]
SearchQuery = Annotated[
    str | None,
    Parameter(max_length=100, description="Search words; diacritics and case are ignored"),
]
CursorQuery = Annotated[str | None, Parameter(max_length=200, description="next_cursor of the previous page")]
LimitQuery = Annotated[int, Parameter(ge=1, le=200, description="Items per page")]
