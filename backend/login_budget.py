"""Failed-login budgets: per (username, address), per address, and for everyone together.

Each attempt takes one unit from all three budgets *before* the password is checked, in one
Redis script, so concurrent attempts cannot all read "room left" and then all guess: of N
simultaneous wrong passwords at most `budget` are ever checked. A successful login gives its
units back (and clears its own pair), so the budgets count failures (and attempts in flight);
it also marks the (username, address) pair known, and a known pair is not held back by the
global budget, so a flood spread over many addresses cannot lock staff out where they work.

The lockout is keyed on (username, address): a stranger typing a chair's name at another
address spends their own budget, not the chair's. A password sprayed over many usernames from
one address is stopped by the address budget, and guessing spread over many addresses by the
global one (argon2 keeps each guess slow meanwhile).

Without Redis logins go on unlimited (and say so in the log): people must be able to work
during a Redis outage, and argon2 keeps guessing slow meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from backend.client_address import limit_key
from backend.settings import Settings

log = logging.getLogger(__name__)

WINDOW_SECONDS = 900

# KEYS: the three budgets' counters, then the pair's "known" marker; ARGV: the budgets'
# limits, then the window in seconds. Returns 0 when a unit was taken from every budget, else
# the 1-based index of the first exhausted budget and the seconds until its window ends.
# Nothing is taken from any budget when one is exhausted, so an address hammering after its
# own budget ran out does not spend the global one. A known pair (this username logged in
# from this address before) is not held back by the global budget: its own and its address's
# budgets still bound its guesses.
_TAKE = """
local window = tonumber(ARGV[4])
local known = redis.call('EXISTS', KEYS[4]) == 1
for i = 1, 3 do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[i]) and not (i == 3 and known) then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 1 then ttl = 1 end
    return {i, ttl}
  end
end
for i = 1, 3 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], window) end
end
return {0, 0}
"""

# KEYS: as for _TAKE; each budget is given its unit back. ARGV[1] = '1' (a correct password)
# clears the pair's counter instead and marks the pair known for ARGV[2] seconds.
_GIVE_BACK = """
for i = 1, 3 do
  if i == 1 and ARGV[1] == '1' then
    redis.call('DEL', KEYS[i])
  elseif tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then
    redis.call('DECR', KEYS[i])
  end
end
if ARGV[1] == '1' then redis.call('SET', KEYS[4], '1', 'EX', ARGV[2]) end
return 0
"""

KNOWN_PAIR_SECONDS = 90 * 86400
"""How long a (username, address) that logged in stays exempt from the global budget: the
global budget is a circuit breaker against guessing spread over many addresses, and with
IPv6 counted per /64 a single /56 holds 256 addresses' budgets, enough to spend it and
otherwise lock every official out of the service for as long as the flood goes on."""

BUDGETS = ("account", "address", "global")


@dataclass(frozen=True)
class Refusal:
    budget: str
    retry_after: int


def _part(text: str) -> str:
    # Usernames and addresses are hashed into the key: no Redis key grows with what a caller sends.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class LoginBudget:
    def __init__(self, redis: Any, settings: Settings, username: str, address: str) -> None:
        prefix = f"{settings.redis_key_prefix}:login-failures"
        address = limit_key(address)
        self.redis = redis
        pair = _part(username + chr(0) + address)
        self.keys = [
            f"{prefix}:pair:{pair}",
            f"{prefix}:address:{_part(address)}",
            f"{prefix}:global",
            f"{prefix}:known:{pair}",
        ]
        self.limits = [settings.login_max_failures, settings.login_address_failures, settings.login_global_failures]

    async def take(self) -> Refusal | None:
        """Spend one attempt; a Refusal when any budget is already spent."""
        try:
            index, ttl = await self.redis.eval(_TAKE, len(self.keys), *self.keys, *self.limits, WINDOW_SECONDS)
        except RedisError as exc:
            log.warning("login budget unavailable", extra={"error": str(exc)})
            return None
        if int(index) == 0:
            return None
        return Refusal(BUDGETS[int(index) - 1], int(ttl))

    async def give_back(self, *, succeeded: bool) -> None:
        """Return the attempt's unit: after a correct password (`succeeded`) the pair also
        starts afresh; after an attempt that failed on our side (the database away) the
        unit alone comes back, so our outage is not counted as the caller's guess."""
        try:
            await self.redis.eval(_GIVE_BACK, len(self.keys), *self.keys, "1" if succeeded else "0", KNOWN_PAIR_SECONDS)
        except RedisError as exc:
            log.warning("login budget unavailable", extra={"error": str(exc)})
