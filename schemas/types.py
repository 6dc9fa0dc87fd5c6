"""Constrained types shared by the payloads."""

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

# PostgreSQL cannot store NUL, and control characters have no place in names or codes:
# single-line text refuses all of them, free text keeps tab and line breaks.
# C1 controls and the bidirectional embeddings, overrides and isolates (U+202A-202E,
# U+2066-2069) are refused too: they make a comment display as something else than it says.
# Vietnamese combining marks (U+0300-0323) are ordinary characters here.
# Every anchored pattern ends in `(?!\n)$`: msgspec searches with Python's `re`, whose `$` also
# matches before a final newline, so `^[0-9]{5}$` let "00004\n" through and `Username` a
# look-alike "chair.badinh\n". To the ECMAScript readers of the OpenAPI document it is a plain `$`.
SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*(?!\n)$"
FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"
URLSAFE = r"^[A-Za-z0-9_-]*(?!\n)$"

ProvinceCode = Annotated[str, Meta(pattern=r"^[0-9]{2}(?!\n)$", description="2-digit official province code")]
CommuneCode = Annotated[str, Meta(pattern=r"^[0-9]{5}(?!\n)$", description="5-digit official commune code")]
ProcedureCode = Annotated[
    str, Meta(pattern=r"^[0-9]+\.[0-9]{6}(?!\n)$", description="National procedure code, e.g. 1.001193")
]
Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}(?!\n)$")]
LoginPassword = Annotated[str, Meta(min_length=1, max_length=256)]
NewPassword = Annotated[str, Meta(min_length=10, max_length=256, description="At least 10 characters")]
DisplayName = Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)]
InstallId = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=200,
        pattern=r"^[A-Za-z0-9_:.-]+(?!\n)$",
        description="The app's Firebase installation ID (or another stable per-install id)",
    ),
]
OpaqueToken = Annotated[str, Meta(min_length=16, max_length=512, pattern=URLSAFE)]
ScopeCode = Annotated[
    str, Meta(pattern=r"^([0-9]{2}|[0-9]{5})(?!\n)$", description="Province (2 digits) or commune (5 digits) code")
]
Phone = Annotated[str, Meta(pattern=r"^\+?[0-9][0-9 .-]{5,19}(?!\n)$")]
Email = Annotated[str, Meta(max_length=254, pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+(?!\n)$")]
AppVersion = Annotated[str, Meta(max_length=50, pattern=SINGLE_LINE)]

Platform = Literal["android", "ios", "web"]
Locale = Literal["vi", "en"]
Role = Literal["commune_chair", "commune_official", "front_staff", "front_supervisor", "province_admin", "system_admin"]
ScopeKind = Literal["commune", "province", "national"]

BigId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Score = Annotated[int, Meta(ge=1, le=5)]
# Receipt codes of one-stop-shop systems: letters, digits and the separators they print.
DossierCode = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=100,
        pattern=r"^ *[A-Za-z0-9][A-Za-z0-9./_-]*[A-Za-z0-9] *(?!\n)$",
        description="Receipt code printed by the one-stop shop; case and surrounding spaces are ignored",
    ),
]
# A dossier's rating code as typed or scanned (8 Crockford base32 characters; spaces and
# dashes allowed between them); normalised by backend.rating_codes.
RatingCode = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=12,
        pattern=r"^[0-9A-Za-z -]+(?!\n)$",
        description="The dossier's rating code from the receipt (QR code or SMS); case, spaces and dashes ignored",
    ),
]
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_:.-]{1,200}(?!\n)$"
IdempotencyKey = Annotated[str, Meta(pattern=IDEMPOTENCY_KEY, description="Unique per intended write")]
# Aware times only: a phone's local time without an offset cannot be placed.
AwareTime = Annotated[datetime, Meta(tz=True)]
Comment = Annotated[str, Meta(max_length=2000, pattern=FREE_TEXT, description="Trimmed; tab and line breaks allowed")]
Channel = Literal["app", "web", "kiosk"]
