"""Who is on the other end: the network address every per-address limit counts against.

`X-Forwarded-For` is written by whoever sent the request, so it is believed only when the
direct peer is one of our own proxies (TRUSTED_PROXIES), and then only as far as our proxies
vouch for it: each proxy appends the address it received the request from, so reading from
the right, the first address that is not one of our proxies is the client. Anything to its
left was written by the client itself. uvicorn is told not to rewrite the peer
(backend.cli), so this is the only rule.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from litestar.connection import ASGIConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


@functools.lru_cache(maxsize=8)
def trusted_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def parse_address(text: str) -> Address | None:
    """An IP from a peer or a forwarded-for entry; tolerates a port and IPv6 brackets."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.7:5678
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket counts as the IPv4 address it is.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=4096)
def _hop(text: str, networks: tuple[Network, ...]) -> tuple[str | None, bool]:
    """A peer or forwarded-for entry as (canonical address or None, one of our proxies?).
    Kept for the few texts that recur: the proxies on every request, a phone's address
    for its next few. Parsing with `ipaddress` was about 5 % of a rating's API CPU."""
    address = parse_address(text)
    if address is None:
        return None, False
    return str(address), _trusted(address, networks)


def forwarded_entries(values: Iterable[str]) -> list[str]:
    """The hops of every X-Forwarded-For header, in order (several headers read as one list)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def client_address(peer: str | None, forwarded_for: Sequence[str], networks: Sequence[Network]) -> str:
    """The client's address as text: the socket peer, unless the peer is a trusted proxy;
    then the rightmost forwarded-for hop that is not a trusted proxy. A hop that is not an
    address (garbage a trusted proxy passed along) ends the walk at the last hop we trust,
    so nobody chooses the address they are counted under."""
    networks = tuple(networks)
    peer_address, trusted = _hop(peer, networks) if peer else (None, False)
    if peer_address is None:
        return peer or UNKNOWN
    if not trusted:
        return peer_address
    current = peer_address
    for entry in reversed(forwarded_entries(forwarded_for)):
        address, trusted = _hop(entry, networks)
        if address is None:
            return current
        if not trusted:
            return address
        current = address
    # Every hop is one of ours (a health check from the proxy itself, say).
    return current


# One IPv6 subscriber (a phone, a home, a rented server) is handed a whole /64 and may use a
# fresh address from it for every request: limits count the /64 as one address.
IPV6_SUBSCRIBER_PREFIX = 64


def limit_key(address: str) -> str:
    """What a per-address limit counts under: an IPv4 address as it is, an IPv6 address's
    /64, anything else (a test transport's name) as it is."""
    if ":" not in address and address == address.strip():
        # An IPv4 address as client_address gives it (canonical: parsing would give it back
        # unchanged) or text that is no address (kept as it is): no parse needed.
        return address
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_SUBSCRIBER_PREFIX}", strict=False))
    return str(parsed) if parsed is not None else address


def request_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """client_address for this request, worked out once and kept on the request."""
    cache = connection.scope.setdefault("state", {})
    if "client_address" not in cache:
        settings = connection.app.state.settings
        peer = connection.client.host if connection.client else None
        cache["client_address"] = client_address(
            peer, connection.headers.getall("x-forwarded-for", []), trusted_networks(settings.trusted_proxies)
        )
    address: str = cache["client_address"]
    return address
