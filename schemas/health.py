from typing import Literal

from schemas.base import Base


class Liveness(Base, kw_only=True):
    status: Literal["ok"]


class Readiness(Base, kw_only=True):
    status: Literal["ok", "degraded", "unavailable"]
    """ok; degraded: the API can serve but no worker is live (no sweep, relay or push);
    unavailable (503): PostgreSQL or Redis does not answer, or, with
    READY_REQUIRES_WORKER=true, no worker is live."""
    postgres: str
    redis: str
    worker: str
    """ok; reconnecting (alive, waiting for Redis); stale (last heartbeat n s ago);
    missing (no worker has reported); or error when PostgreSQL cannot be asked."""
