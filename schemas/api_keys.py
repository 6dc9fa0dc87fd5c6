from datetime import datetime

from schemas.base import Base
from schemas.types import DisplayName, ScopeCode, ScopeKind


class ApiKeyCreate(Base, kw_only=True):
    name: DisplayName
    scope_kind: ScopeKind
    scope_code: ScopeCode | None = None


class ApiKey(Base, kw_only=True):
    id: int
    name: str
    prefix: str
    scope_kind: ScopeKind
    scope_code: str | None = None
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class ApiKeyCreated(Base, kw_only=True):
    key: str
    """The whole key; shown only now. Send it as the X-API-Key header."""
    api_key: ApiKey


class ApiKeyList(Base, kw_only=True):
    items: list[ApiKey]


class ApiKeyIdentity(Base, kw_only=True):
    id: int
    name: str
    scope_kind: ScopeKind
    scope_code: str | None = None
