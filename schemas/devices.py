from datetime import datetime
from typing import Annotated

from msgspec import Meta

from schemas.base import Base
from schemas.types import Locale, Platform

FID_PATTERN = r"^[A-Za-z0-9_-]+(?!\n)$"
TOKEN_PATTERN = r"^[A-Za-z0-9_:.-]+(?!\n)$"

Fid = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=200,
        pattern=FID_PATTERN,
        description="The app's Firebase installation ID (FID)",
    ),
]
RegistrationToken = Annotated[
    str,
    Meta(
        min_length=32,
        max_length=4096,
        pattern=TOKEN_PATTERN,
        description="A legacy FCM registration token, from app versions that do not send their FID",
    ),
]
LocalTime = Annotated[
    str,
    Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](?!\n)$", description="Local time (Asia/Ho_Chi_Minh), HH:MM"),
]


class DeviceRegistration(Base, kw_only=True):
    """Where this caller's pushes go. Exactly one of fid and registration_token. Registering
    the same target again updates it (and moves it here from another account or install)."""

    fid: Fid | None = None
    registration_token: RegistrationToken | None = None
    platform: Platform
    locale: Locale = "vi"
    """Language of the pushes."""
    quiet_start: LocalTime | None = None
    """Start of quiet hours; non-critical pushes wait for their end. Default 22:00 for a new
    device; kept when left out on re-registration. Equal start and end: no quiet hours."""
    quiet_end: LocalTime | None = None
    """End of quiet hours; default 06:00 for a new device."""


class Device(Base, kw_only=True):
    id: int
    fid: str | None = None
    registration_token: str | None = None
    platform: Platform
    locale: Locale
    quiet_start: str
    quiet_end: str
    created_at: datetime
    last_seen_at: datetime


class DeviceList(Base, kw_only=True):
    items: list[Device]
