"""Constrained types shared by the payloads."""

from typing import Annotated, Literal

from msgspec import Meta

ProvinceCode = Annotated[str, Meta(pattern=r"^[0-9]{2}$", description="2-digit official province code")]
CommuneCode = Annotated[str, Meta(pattern=r"^[0-9]{5}$", description="5-digit official commune code")]
ProcedureCode = Annotated[
    str, Meta(pattern=r"^[0-9]+\.[0-9]{6}$", description="National procedure code, e.g. 1.001193")
]
Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")]
LoginPassword = Annotated[str, Meta(min_length=1, max_length=256)]
NewPassword = Annotated[str, Meta(min_length=10, max_length=256, description="At least 10 characters")]
DisplayName = Annotated[str, Meta(min_length=1, max_length=200)]
InstallId = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=200,
        pattern=r"^[A-Za-z0-9_:.-]+$",
        description="The app's Firebase installation ID (or another stable per-install id)",
    ),
]
OpaqueToken = Annotated[str, Meta(min_length=16, max_length=512)]
SearchText = Annotated[str, Meta(max_length=100)]
Cursor = Annotated[str, Meta(max_length=200)]
PageLimit = Annotated[int, Meta(ge=1, le=200)]

Platform = Literal["android", "ios", "web"]
Locale = Literal["vi", "en"]
Role = Literal["commune_chair", "commune_official", "front_staff", "front_supervisor", "province_admin", "system_admin"]
ScopeKind = Literal["commune", "province", "national"]
