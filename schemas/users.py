from datetime import datetime

from schemas.auth import RoleGrant
from schemas.base import Base
from schemas.types import DisplayName, Email, NewPassword, Phone, Role, ScopeCode, ScopeKind, Username


class RoleGrantIn(Base, kw_only=True):
    role: Role
    scope_kind: ScopeKind
    scope_code: ScopeCode | None = None


class UserCreate(Base, kw_only=True):
    username: Username
    display_name: DisplayName
    password: NewPassword
    roles: list[RoleGrantIn]
    phone: Phone | None = None
    email: Email | None = None


class User(Base, kw_only=True):
    id: int
    username: str
    display_name: str
    is_active: bool
    created_at: datetime
    roles: list[RoleGrant]


class UserPage(Base, kw_only=True):
    items: list[User]
    next_cursor: str | None = None
