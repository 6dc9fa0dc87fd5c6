from datetime import datetime
from typing import Literal
from uuid import UUID

from schemas.base import Base
from schemas.types import AppVersion, InstallId, Locale, LoginPassword, OpaqueToken, Platform, Role, ScopeKind, Username


class LoginRequest(Base, kw_only=True):
    username: Username
    password: LoginPassword


class RoleGrant(Base, kw_only=True):
    role: Role
    scope_kind: ScopeKind
    scope_code: str | None = None
    scope_name: str | None = None


class StaffUser(Base, kw_only=True):
    id: int
    username: str
    display_name: str
    roles: list[RoleGrant]


class StaffSession(Base, kw_only=True):
    token_type: Literal["bearer"]
    access_token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    user: StaffUser


class RefreshRequest(Base, kw_only=True):
    refresh_token: OpaqueToken


class DeviceSessionRequest(Base, kw_only=True):
    install_id: InstallId
    platform: Platform
    locale: Locale = "vi"
    app_version: AppVersion | None = None
    install_secret: OpaqueToken | None = None
    """Required from the second session of an install on: returned once, by the first."""


class DeviceSession(Base, kw_only=True):
    token_type: Literal["bearer"]
    citizen_id: UUID
    access_token: str
    expires_at: datetime
    install_secret: str | None = None
    """Only in the first session of an install: keep it in the phone's secure storage."""


class Me(Base, kw_only=True):
    kind: Literal["staff", "citizen"]
    staff: StaffUser | None = None
    citizen_id: UUID | None = None
