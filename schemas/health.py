from typing import Literal

from schemas.base import Base


class Liveness(Base, kw_only=True):
    status: Literal["ok"]


class Readiness(Base, kw_only=True):
    status: Literal["ok", "unavailable"]
    postgres: str
    redis: str
