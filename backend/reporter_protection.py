"""Rules that keep a reporter of wrongdoing safe from the official concerned: who may grant
a Front role (separation of duties). Pure functions, table-tested without I/O."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

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


# Routing a forward (Law on Denunciation, Luật Tố cáo 2018 art. 12-13, with the 2025 two-tier
# reform: no district level, so "the level above" a commune is the province).


@dataclass(frozen=True)
class RoutingFacts:
    """What the database says about an item about to be forwarded."""

    protected: bool
    holder_official_id: int | None
    """The official holding the item's service now (with an active account), if any."""
    holder_user_id: int | None
    concerned_official_ids: frozenset[int]
    """Officials the item is about: named by the citizen, linked in triage (ever), and for a
    protected item whoever held the service when it was filed."""
    concerned_user_ids: frozenset[int]
    """Accounts linked to those officials."""
    concerned_is_head: bool
    """One of them is the commune's chair or a vice-chair."""
    chair_user_ids: tuple[int, ...]
    province_user_ids: tuple[int, ...]
    """The configured provincial recipient, else the province's People's Committee accounts."""


@dataclass(frozen=True)
class Route:
    recipient: Literal["official", "commune_committee", "province"]
    official_id: int | None
    recipients: tuple[int, ...]
    refusal: str | None = None
    """An error code when the forward must not be sent."""


def route_forward(facts: RoutingFacts) -> Route:
    """Who receives a forward. An ordinary item goes to the official who holds its service,
    unless it is about them (then to the commune's People's Committee). A protected item (a
    report of wrongdoing, now or ever) is resolved by the head of the body managing the
    official concerned: the commune chair, or for a chair or vice-chair the province. It must
    never reach an account linked to an official concerned: such a forward is refused."""
    if not facts.protected:
        if facts.holder_official_id is not None and facts.holder_official_id not in facts.concerned_official_ids:
            assert facts.holder_user_id is not None
            return Route("official", facts.holder_official_id, (facts.holder_user_id,))
        route = Route("commune_committee", None, facts.chair_user_ids)
    elif facts.concerned_is_head:
        route = Route("province", None, facts.province_user_ids)
    else:
        route = Route("commune_committee", None, facts.chair_user_ids)
    if facts.protected and set(route.recipients) & facts.concerned_user_ids:
        return Route(route.recipient, None, route.recipients, refusal="forward_reaches_concerned")
    if not route.recipients:
        return Route(route.recipient, None, (), refusal="no_accountable_authority")
    return route


def meaningful_reason(text: str) -> str | None:
    """A reveal's reason, trimmed and with runs of spaces collapsed, when it says something: at
    least 10 characters, two words of two or more letters and five distinct letters (not
    "..........", "aaaaaaaaaa" or "xem xem xem"). None otherwise."""
    cleaned = " ".join(unicodedata.normalize("NFC", text).split())
    words = [w for w in cleaned.split(" ") if sum(ch.isalpha() for ch in w) >= 2]
    letters = {ch.casefold() for ch in cleaned if ch.isalpha()}
    if len(cleaned) < 10 or len(words) < 2 or len(letters) < 5:
        return None
    return cleaned
