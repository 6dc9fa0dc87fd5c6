"""Rules that keep a reporter of wrongdoing safe from the official concerned: who may grant
a Front role (separation of duties). Pure functions, table-tested without I/O."""

from __future__ import annotations

from dataclasses import dataclass

FRONT_GRANT_ROLES = frozenset({"front_staff", "front_supervisor"})


@dataclass(frozen=True)
class FrontGrantFacts:
    """What the database says about one requested Front grant and the actor."""

    role: str
    scope_kind: str
    actor_supervises_scope: bool
    """The actor is a Front supervisor covering the granted scope."""
    actor_is_system_admin: bool
    province_has_supervisor: bool
    """An active account already holds front_supervisor over the whole province."""


@dataclass(frozen=True)
class FrontGrantDecision:
    allowed: bool
    first_of_province: bool = False


def decide_front_grant(facts: FrontGrantFacts) -> FrontGrantDecision:
    """The Front grants its own roles, within the granting supervisor's scope. The People's
    Committee side (province admins) never does: the power to reveal a reporter must not be
    one account creation away from the authority the report may be about. A system admin
    may only bootstrap a province: its first province-wide Front supervisor."""
    if facts.role not in FRONT_GRANT_ROLES:
        raise ValueError(f"not a Front role: {facts.role}")
    if facts.actor_supervises_scope:
        return FrontGrantDecision(allowed=True)
    if (
        facts.actor_is_system_admin
        and facts.role == "front_supervisor"
        and facts.scope_kind == "province"
        and not facts.province_has_supervisor
    ):
        return FrontGrantDecision(allowed=True, first_of_province=True)
    return FrontGrantDecision(allowed=False)
