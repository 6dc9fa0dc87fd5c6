"""Who the client is: X-Forwarded-For believed only from TRUSTED_PROXIES, rightmost untrusted
hop; a pure table, then through a real uvicorn with clients on different loopback addresses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from backend.client_address import client_address, limit_key, parse_address, trusted_networks
from backend.seed.demo import DEMO_PASSWORD
from backend.settings import Settings, SettingsError
from tests.live_server import client_from, live_server

PROXIES = trusted_networks(("10.0.0.0/8", "127.0.0.2", "2001:db8::/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "networks", "expected"),
    [
        # No trusted proxies: the header is ignored, whoever sends it.
        ("203.0.113.9", ["1.2.3.4"], (), "203.0.113.9"),
        # An untrusted peer cannot name somebody else.
        ("203.0.113.9", ["1.2.3.4"], PROXIES, "203.0.113.9"),
        # Our proxy: the address it received from.
        ("10.0.0.5", ["198.51.100.7"], PROXIES, "198.51.100.7"),
        # The client wrote its own entry first: the rightmost untrusted hop wins, not the leftmost.
        ("10.0.0.5", ["6.6.6.6, 198.51.100.7"], PROXIES, "198.51.100.7"),
        # Two of our proxies in a row.
        ("127.0.0.2", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], PROXIES, "198.51.100.7"),
        # Several headers are one list, in order.
        ("10.0.0.5", ["6.6.6.6", "198.51.100.8"], PROXIES, "198.51.100.8"),
        # Only our own proxies in the chain (a proxy's health check): the leftmost of them.
        ("10.0.0.5", ["10.9.9.9"], PROXIES, "10.9.9.9"),
        ("10.0.0.5", [], PROXIES, "10.0.0.5"),
        # Garbage where the client should be: the last hop we trust, never the garbage.
        ("10.0.0.5", ["nonsense"], PROXIES, "10.0.0.5"),
        ("10.0.0.5", ["1.1.1.1, unknown, 10.2.2.2"], PROXIES, "10.2.2.2"),
        # Ports and brackets as some proxies write them; IPv4 through an IPv6 socket.
        ("10.0.0.5", ["198.51.100.7:4711"], PROXIES, "198.51.100.7"),
        ("2001:db8::1", ["[2001:db9::5]:443"], PROXIES, "2001:db9::5"),
        ("::ffff:10.0.0.5", ["198.51.100.7"], PROXIES, "198.51.100.7"),
        ("::ffff:203.0.113.9", [], (), "203.0.113.9"),
        # A peer that is no address at all (a test transport) is used as it is.
        ("testclient", ["1.2.3.4"], PROXIES, "testclient"),
        (None, ["1.2.3.4"], PROXIES, "unknown"),
    ],
)
def test_client_address_table(peer: str | None, forwarded: list[str], networks: Any, expected: str) -> None:
    assert client_address(peer, forwarded, networks) == expected


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("198.51.100.7", "198.51.100.7"),
        # Every address of one IPv6 /64 is one subscriber to the limits.
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("testclient", "testclient"),
        # Not already canonical: parsed (the fast path takes only canonical IPv4 and text
        # without a colon, which parsing would give back unchanged).
        (" 192.0.2.1", "192.0.2.1"),
        ("192.0.2.1 ", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"),
        # Leading zeros are no IPv4 address to `ipaddress`: kept as they are, as before.
        ("01.2.3.4", "01.2.3.4"),
        ("1.2.3", "1.2.3"),
    ],
)
def test_limit_key(address: str, key: str) -> None:
    assert limit_key(address) == key


def test_parse_address_refuses_what_is_not_an_address() -> None:
    assert parse_address("1.2.3") is None
    assert parse_address("") is None
    assert str(parse_address(" 192.0.2.1 ")) == "192.0.2.1"


def test_trusted_proxies_setting() -> None:
    assert Settings.from_env({"TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16,::1"}).trusted_proxies == (
        "10.0.0.1/32",
        "192.168.0.0/16",
        "::1/128",
    )
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env({"TRUSTED_PROXIES": "10.0.0.1,not-a-network"})


def install(name: str) -> dict[str, Any]:
    return {"install_id": f"address-test-{name}", "platform": "android"}


async def test_forwarded_for_is_ignored_without_trusted_proxies(settings: Settings, unused_tcp_port: int) -> None:
    """uvicorn does not rewrite the peer either (its own default would trust X-Forwarded-For
    from 127.0.0.1): a client naming itself differently in every request is one address."""
    strict = msgspec.structs.replace(settings, new_installs_per_address=2)
    async with live_server(strict, unused_tcp_port) as url:
        async with client_from(url, "127.0.0.1") as spoofer, client_from(url, "127.0.0.3") as other:
            answers = [
                await spoofer.post(
                    "/v1/auth/device-sessions", json=install(f"a{i}"), headers={"x-forwarded-for": f"9.9.9.{i}"}
                )
                for i in range(3)
            ]
            assert [a.status_code for a in answers] == [201, 201, 429]
            assert answers[2].json()["code"] == "too_many_requests"
            assert (await other.post("/v1/auth/device-sessions", json=install("b0"))).status_code == 201


async def test_only_a_trusted_proxy_names_the_client(
    settings: Settings, unused_tcp_port: int, db: asyncpg.Connection
) -> None:
    behind_proxy = msgspec.structs.replace(settings, new_installs_per_address=2, trusted_proxies=("127.0.0.2/32",))
    async with live_server(behind_proxy, unused_tcp_port) as url:
        async with client_from(url, "127.0.0.2") as proxy, client_from(url, "127.0.0.3") as direct:

            async def via_proxy(name: str, chain: str) -> int:
                answer = await proxy.post(
                    "/v1/auth/device-sessions", json=install(name), headers={"x-forwarded-for": chain}
                )
                return answer.status_code

            # The client 198.51.100.7 writes fake hops of its own to the left: they change nothing.
            assert [await via_proxy(f"p{i}", f"6.6.6.{i}, 198.51.100.7") for i in range(3)] == [201, 201, 429]
            # Another client behind the same proxy has its own budget.
            assert await via_proxy("q0", "198.51.100.8") == 201
            # A client connecting directly cannot borrow an address by sending the header itself.
            direct_answers = [
                (
                    await direct.post(
                        "/v1/auth/device-sessions", json=install(f"d{i}"), headers={"x-forwarded-for": f"5.5.5.{i}"}
                    )
                ).status_code
                for i in range(3)
            ]
            assert direct_answers == [201, 201, 429]

            # The address logins are counted and audited under is the same one.
            login = await proxy.post(
                "/v1/auth/login",
                json={"username": "chair.badinh", "password": DEMO_PASSWORD},
                headers={"x-forwarded-for": "1.1.1.1, 198.51.100.9"},
            )
            assert login.status_code == 200, login.text
    audited = await db.fetchval(
        "select data->>'address' from audit_log where action = 'login' order by id desc limit 1"
    )
    assert audited == "198.51.100.9"


async def test_addresses_of_one_ipv6_subscriber_share_a_limit(settings: Settings, unused_tcp_port: int) -> None:
    behind_proxy = msgspec.structs.replace(settings, new_installs_per_address=2, trusted_proxies=("127.0.0.2/32",))
    async with live_server(behind_proxy, unused_tcp_port) as url, client_from(url, "127.0.0.2") as proxy:

        async def from_address(name: str, address: str) -> int:
            answer = await proxy.post(
                "/v1/auth/device-sessions", json=install(name), headers={"x-forwarded-for": address}
            )
            return answer.status_code

        # A fresh address of the same /64 for every request does not make a fresh budget.
        same_64 = [await from_address(f"v6-{i}", f"2001:db8:7:7::{i + 1:x}") for i in range(3)]
        assert same_64 == [201, 201, 429]
        assert await from_address("v6-other", "2001:db8:7:8::1") == 201


async def test_campaign_scoring_sees_the_client_not_the_proxy(
    settings: Settings, unused_tcp_port: int, db: asyncpg.Connection
) -> None:
    """Ratings carry a keyed digest of the sender's address for campaign scoring: behind our
    proxy it is the phone's address, a direct sender cannot pick one, an IPv6 /64 is one."""
    behind_proxy = msgspec.structs.replace(settings, trusted_proxies=("127.0.0.2/32",), campaign_scoring=True)
    async with (
        live_server(behind_proxy, unused_tcp_port) as url,
        client_from(url, "127.0.0.2") as proxy,
        client_from(url, "127.0.0.3") as direct,
    ):
        services = (await proxy.get("/v1/communes/00004/services", params={"limit": 1})).json()["items"]
        served_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()

        async def rate_from(client: Any, forwarded: str | None) -> int:
            session = await client.post("/v1/auth/device-sessions", json=install(uuid.uuid4().hex))
            headers = {
                "authorization": f"Bearer {session.json()['access_token']}",
                "idempotency-key": uuid.uuid4().hex,
                **({"x-forwarded-for": forwarded} if forwarded else {}),
            }
            body = {"commune_service_id": services[0]["id"], "score": 4, "served_at": served_at}
            answer = await client.post("/v1/ratings", json=body, headers=headers)
            assert answer.status_code == 201, answer.text
            return int(answer.json()["id"])

        ids = {
            "phone a": await rate_from(proxy, "198.51.100.20"),
            "phone a again": await rate_from(proxy, "6.6.6.6, 198.51.100.20"),
            "phone b": await rate_from(proxy, "198.51.100.21"),
            "v6 one": await rate_from(proxy, "2001:db8:5:5::1"),
            "v6 same /64": await rate_from(proxy, "2001:db8:5:5:ffff::2"),
            "direct claiming a": await rate_from(direct, "198.51.100.20"),
            "direct": await rate_from(direct, None),
        }
    rows = await db.fetch("select id, address_digest from ratings where id = any($1::bigint[])", list(ids.values()))
    digest = {r["id"]: bytes(r["address_digest"]) for r in rows}
    of = {name: digest[rating] for name, rating in ids.items()}
    assert of["phone a"] == of["phone a again"] != of["phone b"]
    assert of["v6 one"] == of["v6 same /64"] != of["phone a"]
    assert of["direct claiming a"] == of["direct"] != of["phone a"]
