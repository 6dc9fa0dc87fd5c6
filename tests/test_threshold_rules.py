"""Threshold rules: national defaults, province and commune overrides, who may see and
change which rule, and the effective rule of each commune."""

from __future__ import annotations

from typing import Any, get_args

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.services.threshold_rules import RULE_INDICATORS, check_rule
from schemas.threshold_rules import RuleIndicator
from tests.conftest import TokenFor

RULES = "/v1/threshold-rules"


def effective_url(commune: str) -> str:
    return f"/v1/communes/{commune}/threshold-rules"


async def create(
    client: AsyncTestClient[Any], headers: dict[str, str], expect: int = 201, **body: Any
) -> dict[str, Any]:
    response = await client.post(RULES, json=body, headers=headers)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def effective(client: AsyncTestClient[Any], headers: dict[str, str], commune: str) -> dict[str, dict[str, Any]]:
    response = await client.get(effective_url(commune), headers=headers)
    assert response.status_code == 200, response.text
    return {r["indicator"]: r for r in response.json()["items"]}


async def test_national_defaults_are_seeded(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    response = await client.get(RULES, params={"scope_kind": "national"}, headers=await headers_for("chair.badinh"))
    assert response.status_code == 200, response.text
    rules = {r["indicator"]: r for r in response.json()["items"]}
    assert set(rules) == {"satisfaction_rate", "on_time_rate", "feedback_overdue", "verified_share"}
    satisfaction = rules["satisfaction_rate"]
    assert {k: satisfaction[k] for k in ("comparator", "value", "window", "min_sample", "hysteresis")} == {
        "comparator": "below",
        "value": 0.8,
        "window": "30d",
        "min_sample": 20,
        "hysteresis": 0.05,
    }
    assert (satisfaction["severity"], satisfaction["repeat_seconds"], satisfaction["escalation_seconds"]) == (
        "warning",
        86400,
        72 * 3600,
    )
    assert "created_by" not in satisfaction and "province_code" not in satisfaction
    assert (rules["on_time_rate"]["comparator"], rules["on_time_rate"]["value"]) == ("below", 0.9)
    assert rules["on_time_rate"]["min_sample"] == 20
    assert (rules["feedback_overdue"]["comparator"], rules["feedback_overdue"]["value"]) == ("above", 0)
    assert "escalation_seconds" not in rules["verified_share"]  # info: never escalates
    assert all(r["severity"] != "critical" for r in rules.values())
    assert all(r["enabled"] for r in rules.values())


async def test_the_seed_adds_nothing_twice_and_does_not_revive_a_deleted_default(db: asyncpg.Connection) -> None:
    assert await db.fetchval("select seed_national_threshold_rules()") == 0
    await db.execute("update threshold_rules set deleted_at = now() where indicator = 'verified_share'")
    assert await db.fetchval("select seed_national_threshold_rules()") == 0
    assert await db.fetchval("select count(*) from threshold_rules where deleted_at is null") == 3


async def test_every_commune_has_one_effective_rule_per_indicator(db: asyncpg.Connection) -> None:
    communes = await db.fetchval("select count(*) from communes")
    rows = await db.fetchrow(
        "select count(*) as n, count(distinct (commune_code, indicator)) as pairs, "
        "bool_and(inherited_from = 'national') as all_national from effective_threshold_rules"
    )
    assert (rows["n"], rows["pairs"], rows["all_national"]) == (communes * 4, communes * 4, True)


async def test_the_indicator_list_is_the_same_in_code_schema_and_database(db: asyncpg.Connection) -> None:
    assert set(get_args(RuleIndicator)) == set(RULE_INDICATORS)
    insert = (
        "insert into threshold_rules (indicator, comparator, value, window_spec, scope_kind, commune_code) "
        "values ($1, 'below', 1, '30d', 'commune', '00004')"
    )
    for indicator in RULE_INDICATORS:
        await db.execute(insert, indicator)
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(insert, "rating_volume")


async def test_commune_override_beats_province_beats_national(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    admin, chair = await headers_for("admin.hanoi"), await headers_for("chair.badinh")
    national = (await effective(client, chair, "00004"))["satisfaction_rate"]
    assert (national["inherited_from"], national["value"]) == ("national", 0.8)

    province = await create(
        client, admin, indicator="satisfaction_rate", scope_kind="province", province_code="01", value=0.85
    )
    # Left-out fields are copied from the rule overridden.
    assert (province["comparator"], province["window"], province["min_sample"], province["hysteresis"]) == (
        "below",
        "30d",
        20,
        0.05,
    )
    assert province["created_by"] and province["scope_kind"] == "province"
    commune = await create(
        client,
        admin,
        indicator="satisfaction_rate",
        scope_kind="commune",
        commune_code="00004",
        value=0.7,
        severity="critical",
        escalation_seconds=None,
    )
    assert commune["province_code"] == "01" and commune["commune_code"] == "00004"
    assert "escalation_seconds" not in commune

    badinh = await effective(client, chair, "00004")
    assert (badinh["satisfaction_rate"]["inherited_from"], badinh["satisfaction_rate"]["rule_id"]) == (
        "commune",
        commune["id"],
    )
    assert (badinh["satisfaction_rate"]["value"], badinh["satisfaction_rate"]["severity"]) == (0.7, "critical")
    assert badinh["on_time_rate"]["inherited_from"] == "national"
    hoankiem = await effective(client, await headers_for("chair.hoankiem"), "00070")
    assert (hoankiem["satisfaction_rate"]["inherited_from"], hoankiem["satisfaction_rate"]["value"]) == (
        "province",
        0.85,
    )
    saigon = await effective(client, await headers_for("chair.saigon"), "26740")
    assert saigon["satisfaction_rate"]["inherited_from"] == "national"

    # Deleting an override lets the commune fall back: first to the province, then the nation.
    deleted = await client.delete(f"{RULES}/{commune['id']}", headers=admin)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted_at"]
    assert (await effective(client, chair, "00004"))["satisfaction_rate"]["rule_id"] == province["id"]
    assert (await client.delete(f"{RULES}/{province['id']}", headers=admin)).status_code == 200
    fallback = (await effective(client, chair, "00004"))["satisfaction_rate"]
    assert (fallback["inherited_from"], fallback["rule_id"]) == ("national", national["rule_id"])
    # A deleted rule is gone for readers and writers alike.
    assert (await client.get(f"{RULES}/{commune['id']}", headers=admin)).status_code == 404
    assert (await client.delete(f"{RULES}/{commune['id']}", headers=admin)).json()["code"] == "threshold_rule_not_found"


async def test_a_disabled_override_switches_the_indicator_off_for_its_scope(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    admin = await headers_for("admin.hanoi")
    off = await create(
        client, admin, indicator="on_time_rate", scope_kind="commune", commune_code="00070", enabled=False
    )
    assert off["enabled"] is False and (off["comparator"], off["value"]) == ("below", 0.9)
    rule = (await effective(client, admin, "00070"))["on_time_rate"]
    assert (rule["enabled"], rule["inherited_from"]) == (False, "commune")
    assert (await effective(client, admin, "00004"))["on_time_rate"]["enabled"] is True
    # A province can also switch an indicator off and one commune back on.
    await create(client, admin, indicator="feedback_overdue", scope_kind="province", province_code="01", enabled=False)
    await create(client, admin, indicator="feedback_overdue", scope_kind="commune", commune_code="00577")
    assert (await effective(client, admin, "00004"))["feedback_overdue"]["enabled"] is False
    back_on = (await effective(client, admin, "00577"))["feedback_overdue"]
    assert (back_on["enabled"], back_on["inherited_from"], back_on["value"]) == (True, "commune", 0)


async def test_an_indicator_without_a_national_rule_needs_comparator_and_value(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    admin = await headers_for("admin.hanoi")
    problem = await create(client, admin, 422, indicator="mean_score", scope_kind="province", province_code="01")
    assert problem["code"] == "invalid_threshold_rule"
    assert {e["field"] for e in problem["errors"]} == {"comparator", "value"}
    rule = await create(
        client, admin, indicator="mean_score", scope_kind="province", province_code="01", comparator="below", value=3.5
    )
    assert (rule["window"], rule["min_sample"], rule["repeat_seconds"], rule["severity"]) == (
        "30d",
        20,
        86400,
        "warning",
    )
    assert "escalation_seconds" not in rule
    # A commune of the province now inherits from the province rule.
    commune = await create(client, admin, indicator="mean_score", scope_kind="commune", commune_code="00004")
    assert (commune["comparator"], commune["value"]) == ("below", 3.5)


# (user, body, expected status, expected code)
CREATE_MATRIX = [
    ("sysadmin", {"scope_kind": "national", "indicator": "mean_score", "value": 3}, 201, None),
    ("sysadmin", {"scope_kind": "province", "province_code": "79"}, 201, None),
    ("sysadmin", {"scope_kind": "commune", "commune_code": "00004"}, 201, None),
    ("admin.hanoi", {"scope_kind": "national", "indicator": "mean_score", "value": 3}, 403, "out_of_scope"),
    ("admin.hanoi", {"scope_kind": "province", "province_code": "01"}, 201, None),
    ("admin.hanoi", {"scope_kind": "province", "province_code": "79"}, 403, "out_of_scope"),
    ("admin.hanoi", {"scope_kind": "commune", "commune_code": "00577"}, 201, None),
    ("admin.hanoi", {"scope_kind": "commune", "commune_code": "26740"}, 403, "out_of_scope"),
    ("admin.hcm", {"scope_kind": "commune", "commune_code": "26740"}, 201, None),
    ("admin.hcm", {"scope_kind": "province", "province_code": "01"}, 403, "out_of_scope"),
    ("chair.badinh", {"scope_kind": "commune", "commune_code": "00004"}, 403, "forbidden_role"),
    ("front.hanoi", {"scope_kind": "province", "province_code": "01"}, 403, "forbidden_role"),
]


@pytest.mark.parametrize(("username", "scope", "status", "code"), CREATE_MATRIX)
async def test_who_may_create_rules(
    client: AsyncTestClient[Any],
    headers_for: TokenFor,
    username: str,
    scope: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    body = {"indicator": "satisfaction_rate", "comparator": "below", "value": 0.75, **scope}
    result = await create(client, await headers_for(username), status, **body)
    if code:
        assert result["code"] == code
    else:
        assert result["scope_kind"] == scope["scope_kind"]


async def test_citizens_and_strangers_are_refused(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    body = {"indicator": "satisfaction_rate", "scope_kind": "commune", "commune_code": "00004", "value": 0.5}
    for method, path, json in [
        ("GET", RULES, None),
        ("POST", RULES, body),
        ("GET", f"{RULES}/1", None),
        ("PATCH", f"{RULES}/1", {"value": 0.5}),
        ("DELETE", f"{RULES}/1", None),
        ("GET", effective_url("00004"), None),
    ]:
        citizen = await client.request(method, path, json=json, headers=citizen_headers)
        assert (citizen.status_code, citizen.json()["code"]) == (403, "forbidden_role"), (method, path)
        anonymous = await client.request(method, path, json=json)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated"), (method, path)


@pytest.fixture
async def scoped_rules(client: AsyncTestClient[Any], headers_for: TokenFor) -> dict[str, int]:
    """One override in each of several scopes, made by the system admin."""
    admin = await headers_for("sysadmin")
    scopes = {
        "p01": {"scope_kind": "province", "province_code": "01"},
        "p79": {"scope_kind": "province", "province_code": "79"},
        "c00004": {"scope_kind": "commune", "commune_code": "00004"},
        "c00070": {"scope_kind": "commune", "commune_code": "00070"},
        "c26740": {"scope_kind": "commune", "commune_code": "26740"},
    }
    ids = {}
    for name, scope in scopes.items():
        ids[name] = (await create(client, admin, indicator="on_time_rate", value=0.8, **scope))["id"]
    national = await client.get(RULES, params={"scope_kind": "national", "indicator": "on_time_rate"}, headers=admin)
    ids["national"] = national.json()["items"][0]["id"]
    return ids


# Which of the scoped_rules each user may see (the rest are 404 to them).
VISIBILITY = {
    "sysadmin": {"national", "p01", "p79", "c00004", "c00070", "c26740"},
    "admin.hanoi": {"national", "p01", "c00004", "c00070"},
    "admin.hcm": {"national", "p79", "c26740"},
    "front.hanoi": {"national", "p01", "c00004", "c00070"},
    "chair.badinh": {"national", "p01", "c00004"},
    "official.badinh": {"national", "p01", "c00004"},
    "chair.battrang": {"national", "p01"},
    "chair.saigon": {"national", "p79", "c26740"},
}


@pytest.mark.parametrize(("username", "visible"), VISIBILITY.items())
async def test_who_may_see_which_rule(
    client: AsyncTestClient[Any],
    headers_for: TokenFor,
    scoped_rules: dict[str, int],
    username: str,
    visible: set[str],
) -> None:
    headers = await headers_for(username)
    listed = await client.get(RULES, params={"indicator": "on_time_rate"}, headers=headers)
    assert listed.status_code == 200, listed.text
    by_id = {v: k for k, v in scoped_rules.items()}
    assert {by_id[r["id"]] for r in listed.json()["items"]} == visible
    for name, rule_id in scoped_rules.items():
        response = await client.get(f"{RULES}/{rule_id}", headers=headers)
        assert response.status_code == (200 if name in visible else 404), (name, response.text)


async def test_list_filters_and_pages(
    client: AsyncTestClient[Any], headers_for: TokenFor, scoped_rules: dict[str, int]
) -> None:
    admin = await headers_for("sysadmin")

    async def ids(**params: Any) -> list[int]:
        response = await client.get(RULES, params={"indicator": "on_time_rate", **params}, headers=admin)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    s = scoped_rules
    assert await ids(province_code="01") == sorted([s["p01"], s["c00004"], s["c00070"]])
    assert await ids(province_code="01", scope_kind="commune") == sorted([s["c00004"], s["c00070"]])
    assert await ids(commune_code="26740") == [s["c26740"]]
    assert await ids(scope_kind="national") == [s["national"]]
    everything = await ids()
    assert len(everything) == 6
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"indicator": "on_time_rate", "limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(RULES, params=params, headers=admin)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == everything
    bad = await client.get(RULES, params={"scope_kind": "planet"}, headers=admin)
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_parameter")


# (user, rule, expected status of PATCH and DELETE, expected code)
WRITE_MATRIX = [
    ("sysadmin", "national", 200, None),
    ("sysadmin", "c26740", 200, None),
    ("admin.hanoi", "national", 403, "out_of_scope"),
    ("admin.hanoi", "p01", 200, None),
    ("admin.hanoi", "c00070", 200, None),
    ("admin.hanoi", "p79", 404, "threshold_rule_not_found"),
    ("admin.hanoi", "c26740", 404, "threshold_rule_not_found"),
    ("admin.hcm", "c26740", 200, None),
    ("chair.badinh", "c00004", 403, "forbidden_role"),
]


@pytest.mark.parametrize(("username", "rule", "status", "code"), WRITE_MATRIX)
async def test_who_may_change_and_delete_rules(
    client: AsyncTestClient[Any],
    headers_for: TokenFor,
    scoped_rules: dict[str, int],
    username: str,
    rule: str,
    status: int,
    code: str | None,
) -> None:
    headers, url = await headers_for(username), f"{RULES}/{scoped_rules[rule]}"
    patched = await client.patch(url, json={"value": 0.85}, headers=headers)
    assert patched.status_code == status, patched.text
    deleted = await client.delete(url, headers=headers)
    assert deleted.status_code == status, deleted.text
    if code:
        assert (patched.json()["code"], deleted.json()["code"]) == (code, code)
    else:
        assert patched.json()["value"] == 0.85


async def test_patch_changes_only_what_is_sent(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    admin = await headers_for("admin.hanoi")
    rule = await create(client, admin, indicator="satisfaction_rate", scope_kind="province", province_code="01")
    assert rule["escalation_seconds"] == 72 * 3600
    url = f"{RULES}/{rule['id']}"
    response = await client.patch(
        url, json={"value": 0.9, "severity": "critical", "escalation_seconds": None, "for_seconds": 7200}, headers=admin
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["value"], patched["severity"], patched["for_seconds"]) == (0.9, "critical", 7200)
    assert "escalation_seconds" not in patched
    unchanged = ("comparator", "window", "min_sample", "hysteresis", "repeat_seconds", "enabled", "created_at")
    assert {k: patched[k] for k in unchanged} == {k: rule[k] for k in unchanged}
    assert patched["updated_at"] > rule["updated_at"]
    assert (await client.get(url, headers=admin)).json() == patched

    # Indicator and scope never change; nor does a patch that breaks the rule get stored.
    for body in ({"indicator": "on_time_rate"}, {"scope_kind": "national"}, {"commune_code": "00004"}):
        refused = await client.patch(url, json=body, headers=admin)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_failed"), body
    refused = await client.patch(url, json={"value": 1.2}, headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_threshold_rule")
    refused = await client.patch(url, json={"hysteresis": 0.2}, headers=admin)  # would resolve at 1.1
    assert refused.json()["errors"][0]["field"] == "hysteresis"
    assert (await client.get(url, headers=admin)).json() == patched

    # An empty patch, or one that changes nothing, is not a change.
    audits = "select count(*) from audit_log where action = 'threshold_rule.update'"
    before = await db.fetchval(audits)
    for body in ({}, {"value": 0.9}):
        response = await client.patch(url, json=body, headers=admin)
        assert response.status_code == 200 and response.json() == patched
    assert await db.fetchval(audits) == before


BASE = {"indicator": "satisfaction_rate", "scope_kind": "province", "province_code": "01"}

# (body over BASE, expected code, field named in errors)
INVALID_BODIES = [
    ({"value": 1.5}, "invalid_threshold_rule", "value"),
    ({"indicator": "on_time_rate", "value": 90}, "invalid_threshold_rule", "value"),
    ({"indicator": "mean_score", "comparator": "below", "value": 0.5}, "invalid_threshold_rule", "value"),
    ({"indicator": "mean_score", "comparator": "below", "value": 6}, "invalid_threshold_rule", "value"),
    ({"indicator": "feedback_backlog", "comparator": "above", "value": 2.5}, "invalid_threshold_rule", "value"),
    ({"value": -0.1}, "validation_failed", "value"),
    ({"hysteresis": 1.5}, "invalid_threshold_rule", "hysteresis"),
    ({"value": 0.9, "hysteresis": 0.2}, "invalid_threshold_rule", "hysteresis"),
    ({"comparator": "above", "value": 0.1, "hysteresis": 0.2}, "invalid_threshold_rule", "hysteresis"),
    ({"hysteresis": -0.01}, "validation_failed", "hysteresis"),
    ({"indicator": "rating_volume", "comparator": "below", "value": 3}, "validation_failed", "indicator"),
    ({"comparator": "equals"}, "validation_failed", "comparator"),
    ({"window": "14d"}, "validation_failed", "window"),
    ({"severity": "page"}, "validation_failed", "severity"),
    ({"for_seconds": -1}, "validation_failed", "for_seconds"),
    ({"for_seconds": 31 * 86400}, "validation_failed", "for_seconds"),
    ({"repeat_seconds": -60}, "validation_failed", "repeat_seconds"),
    ({"repeat_seconds": 60}, "invalid_threshold_rule", "repeat_seconds"),
    ({"escalation_seconds": 0}, "validation_failed", "escalation_seconds"),
    ({"escalation_seconds": -3600}, "validation_failed", "escalation_seconds"),
    ({"min_sample": 0}, "validation_failed", "min_sample"),
    ({"min_sample": 2.5}, "validation_failed", "min_sample"),
    ({"value": None}, "validation_failed", "value"),
    ({"enabled": "no"}, "validation_failed", "enabled"),
    ({"colour": "red"}, "validation_failed", "body"),
    ({"scope_kind": "national"}, "invalid_threshold_rule", "scope_kind"),
    ({"scope_kind": "commune"}, "invalid_threshold_rule", "scope_kind"),
    ({"province_code": None}, "invalid_threshold_rule", "scope_kind"),
    ({"province_code": "99"}, "invalid_threshold_rule", "province_code"),
    ({"province_code": "1"}, "validation_failed", "province_code"),
    (
        {"scope_kind": "commune", "province_code": None, "commune_code": "99999"},
        "invalid_threshold_rule",
        "commune_code",
    ),
    ({"scope_kind": "country"}, "validation_failed", "scope_kind"),
]


@pytest.mark.parametrize(("change", "code", "field"), INVALID_BODIES)
async def test_bad_rules_are_refused_with_the_field_named(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection, change: Any, code: str, field: str
) -> None:
    body = {k: v for k, v in {**BASE, **change}.items() if v is not None or k == "value"}
    problem = await create(client, await headers_for("sysadmin"), 422, **body)
    assert problem["code"] == code, problem
    if field == "body":
        assert "colour" in problem["errors"][0]["message"]
    else:
        assert field in {e["field"] for e in problem["errors"]}, problem
    assert problem["messages"]["vi"] and problem["messages"]["en"]
    assert await db.fetchval("select count(*) from threshold_rules where scope_kind <> 'national'") == 0


async def test_a_second_rule_for_the_same_scope_and_indicator_conflicts(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    admin = await headers_for("admin.hanoi")
    body = {"indicator": "on_time_rate", "scope_kind": "commune", "commune_code": "00004", "value": 0.8}
    first = await create(client, admin, **body)
    problem = await create(client, admin, 409, **{**body, "value": 0.7})
    assert (problem["code"], problem["existing_id"]) == ("threshold_rule_exists", first["id"])
    national = await create(client, await headers_for("sysadmin"), 409, indicator="on_time_rate", scope_kind="national")
    assert national["code"] == "threshold_rule_exists"
    # Another scope or indicator is fine, and so is a new rule once the old one is deleted.
    await create(client, admin, **{**body, "commune_code": "00070"})
    await create(client, admin, **{**body, "indicator": "satisfaction_rate"})
    assert (await client.delete(f"{RULES}/{first['id']}", headers=admin)).status_code == 200
    again = await create(client, admin, **{**body, "value": 0.7})
    assert again["id"] != first["id"]


async def test_writes_are_audited(client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection) -> None:
    admin = await headers_for("admin.hanoi")
    actor = await db.fetchval("select id from users where username = 'admin.hanoi'")
    rule = await create(client, admin, indicator="satisfaction_rate", scope_kind="commune", commune_code="00004")
    url = f"{RULES}/{rule['id']}"
    await client.patch(url, json={"value": 0.75, "enabled": False}, headers=admin)
    await client.delete(url, headers=admin)
    rows = await db.fetch(
        "select action, actor_kind, actor_user_id, object_kind, data, request_id from audit_log "
        "where object_id = $1 and object_kind = 'threshold_rule' order by id",
        str(rule["id"]),
    )
    assert [r["action"] for r in rows] == ["threshold_rule.create", "threshold_rule.update", "threshold_rule.delete"]
    assert all(r["actor_kind"] == "staff" and r["actor_user_id"] == actor and r["request_id"] for r in rows)
    created, updated, deleted = (r["data"] for r in rows)
    assert (created["commune_code"], created["value"], created["scope_kind"]) == ("00004", 0.8, "commune")
    assert "value" in created["inherited_fields"] and "enabled" not in created["inherited_fields"]
    assert updated["changes"] == {"value": [0.8, 0.75], "enabled": [True, False]}
    assert (deleted["indicator"], deleted["commune_code"]) == ("satisfaction_rate", "00004")


async def test_a_refused_write_leaves_no_trace(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    await create(client, await headers_for("admin.hcm"), 403, indicator="satisfaction_rate", scope_kind="national")
    assert await db.fetchval("select count(*) from audit_log where action like 'threshold_rule.%'") == 0


# (user, commune, expected status of the commune's effective rules)
EFFECTIVE_MATRIX = [
    ("chair.badinh", "00004", 200),
    ("official.badinh", "00004", 200),
    ("chair.badinh", "00070", 403),
    ("chair.badinh", "26740", 403),
    ("chair.saigon", "26740", 200),
    ("front.hanoi", "00577", 200),
    ("admin.hanoi", "00070", 200),
    ("admin.hcm", "00004", 403),
    ("sysadmin", "26740", 200),
    ("sysadmin", "99999", 404),
]


@pytest.mark.parametrize(("username", "commune", "status"), EFFECTIVE_MATRIX)
async def test_who_may_read_a_communes_effective_rules(
    client: AsyncTestClient[Any], headers_for: TokenFor, username: str, commune: str, status: int
) -> None:
    response = await client.get(effective_url(commune), headers=await headers_for(username))
    assert response.status_code == status, response.text
    body = response.json()
    if status == 200:
        assert body["commune_code"] == commune and len(body["items"]) == 4
        assert body["province_code"] == {"0": "01", "2": "79"}[commune[0]]
    else:
        assert body["code"] == {403: "out_of_scope", 404: "commune_not_found"}[status]


@pytest.mark.parametrize(
    ("rule", "valid"),
    [
        ({"indicator": "satisfaction_rate", "comparator": "below", "value": 0.0, "hysteresis": 1.0}, True),
        ({"indicator": "satisfaction_rate", "comparator": "below", "value": 1.0, "hysteresis": 0.0}, True),
        ({"indicator": "satisfaction_rate", "comparator": "below", "value": 1.0, "hysteresis": 0.01}, False),
        ({"indicator": "satisfaction_rate", "comparator": "below", "value": 0.9, "hysteresis": 0.1}, True),
        ({"indicator": "on_time_rate", "comparator": "above", "value": 0.3, "hysteresis": 0.3}, True),
        ({"indicator": "verified_share", "comparator": "above", "value": 0.5, "hysteresis": 0.5}, True),
        ({"indicator": "verified_share", "comparator": "above", "value": 0.5, "hysteresis": 0.6}, False),
        ({"indicator": "mean_score", "comparator": "below", "value": 1.0, "hysteresis": 4.0}, True),
        ({"indicator": "mean_score", "comparator": "below", "value": 4.5, "hysteresis": 1.0}, False),
        ({"indicator": "mean_score", "comparator": "above", "value": 5.0, "hysteresis": 4.5}, False),
        ({"indicator": "feedback_backlog", "comparator": "above", "value": 10, "hysteresis": 10}, True),
        ({"indicator": "feedback_backlog", "comparator": "above", "value": 10, "hysteresis": 11}, False),
        ({"indicator": "feedback_overdue", "comparator": "below", "value": 1e6, "hysteresis": 1e6}, True),
        ({"indicator": "feedback_overdue", "comparator": "above", "value": 0.5, "hysteresis": 0}, False),
        ({"indicator": "on_time_rate", "comparator": "below", "value": 1.01, "hysteresis": 0}, False),
    ],
)
def test_check_rule(rule: dict[str, Any], valid: bool) -> None:
    errors = check_rule({**rule, "repeat_seconds": 0})
    assert (not errors) == valid, errors


@pytest.mark.parametrize(("repeat", "valid"), [(0, True), (1, False), (3599, False), (3600, True), (86400, True)])
def test_reminders_are_never_more_often_than_hourly(repeat: int, valid: bool) -> None:
    rule = {"indicator": "satisfaction_rate", "comparator": "below", "value": 0.8, "hysteresis": 0.05}
    assert (not check_rule({**rule, "repeat_seconds": repeat})) == valid
