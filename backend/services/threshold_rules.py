"""Threshold rules, inherited national -> province -> commune.

A national rule is the default for every commune, a province rule overrides it for the
communes of its province, a commune rule overrides both; per commune and indicator exactly
one rule is effective (the view effective_threshold_rules, migration 0010). An override
with enabled = false switches the indicator off for its scope. Rules are soft-deleted:
alerts keep pointing at the rule that fired them, and the scope falls back to the rule it
inherits.

Who may see a rule: national rules any staff; a province's rules its staff, staff of its
communes and national staff; a commune's rules its staff, its province's and national.
Who may write: national rules a system admin; province and commune rules the province's
admin or a system admin. Both are checked inside the SQL that reads or writes the rule.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from backend.audit import record_staff_action
from backend.auth import STAFF_ROLES, StaffPrincipal
from backend.errors import AppError, Text
from backend.pagination import decode_cursor, page_of
from backend.scope import administers, require_commune_access
from backend.services.users import ADMIN_ROLES
from schemas.problem import FieldError
from schemas.threshold_rules import (
    CommuneThresholdRules,
    EffectiveThresholdRule,
    ThresholdRule,
    ThresholdRuleCreate,
    ThresholdRuleList,
    ThresholdRuleUpdate,
)

# Indicator name -> kind; the kind says which values make sense. Migration 0010 holds the
# same list as a check constraint, schemas.threshold_rules.RuleIndicator as a Literal.
RULE_INDICATORS: dict[str, str] = {
    "satisfaction_rate": "rate",
    "verified_share": "rate",
    "on_time_rate": "rate",
    "mean_score": "score",
    "feedback_backlog": "count",
    "feedback_overdue": "count",
    "feedback_answered_on_time": "rate",
    "feedback_answer_satisfaction": "rate",
}

# Inclusive range of each kind's values (None: unbounded).
KIND_RANGES: dict[str, tuple[float, float | None]] = {"rate": (0.0, 1.0), "score": (1.0, 5.0), "count": (0.0, None)}

# A reminder more often than hourly is a pager, not a message to a person.
MIN_REPEAT_SECONDS = 3600

# Used for a new rule when the request leaves a field out and there is no rule to inherit from.
RULE_DEFAULTS: dict[str, Any] = {
    "window": "30d",
    "min_sample": 20,
    "for_seconds": 0,
    "hysteresis": 0.0,
    "severity": "warning",
    "repeat_seconds": 86400,
    "escalation_seconds": None,
}

# Fields a rule's owner may change, in the order of UPDATE_RULE_SQL's parameters.
MUTABLE_FIELDS = (
    "comparator",
    "value",
    "window",
    "min_sample",
    "for_seconds",
    "hysteresis",
    "severity",
    "repeat_seconds",
    "escalation_seconds",
    "enabled",
)


def _number(value: float) -> str:
    return f"{value:g}"


def check_rule(rule: dict[str, Any]) -> list[FieldError]:
    """What is wrong with a complete rule (indicator, comparator, value, hysteresis,
    repeat_seconds), judged by the indicator's kind; empty when nothing is."""
    kind = RULE_INDICATORS[rule["indicator"]]
    low, high = KIND_RANGES[kind]
    value, hysteresis = float(rule["value"]), float(rule["hysteresis"])
    errors = []
    if not low <= value <= (high if high is not None else math.inf):
        limits = f"between {_number(low)} and {_number(high)}" if high is not None else f"at least {_number(low)}"
        errors.append(FieldError(field="value", message=f"a {kind} threshold must be {limits}"))
    elif kind == "count" and not value.is_integer():
        errors.append(FieldError(field="value", message="a count threshold must be a whole number"))
    if high is not None and hysteresis > high - low:
        errors.append(
            FieldError(field="hysteresis", message=f"a {kind} hysteresis must be at most {_number(high - low)}")
        )
    elif not errors:
        # The alert resolves once the indicator is back past value +/- hysteresis: that
        # level must be reachable, or the alert could never resolve.
        resolve_at = value + hysteresis if rule["comparator"] == "below" else value - hysteresis
        if resolve_at < low or (high is not None and resolve_at > high):
            errors.append(
                FieldError(
                    field="hysteresis",
                    message=f"the alert would resolve only at {_number(resolve_at)}, which a {kind} never reaches",
                )
            )
    if 0 < rule["repeat_seconds"] < MIN_REPEAT_SECONDS:
        errors.append(FieldError(field="repeat_seconds", message=f"0 (never repeat) or at least {MIN_REPEAT_SECONDS}"))
    return errors


def _require_valid(rule: dict[str, Any]) -> None:
    errors = check_rule(rule)
    if errors:
        raise AppError("invalid_threshold_rule", errors=errors)


RULE_COLUMNS = """
r.id, r.indicator, r.comparator, r.value, r.window_spec as "window", r.min_sample, r.for_seconds, r.hysteresis,
r.severity, r.repeat_seconds, r.escalation_seconds, r.enabled, r.scope_kind,
coalesce(r.province_code, rc.province_code) as province_code, r.commune_code, r.created_by, r.created_at,
r.updated_at, r.deleted_at
"""

RULE_FROM = "threshold_rules r left join communes rc on rc.code = r.commune_code"


def _visible(user: str) -> str:
    """Predicate: any staff role of `user` lets them see the rule r (commune rc)."""
    return f"""(r.scope_kind = 'national' or exists (
        select 1 from user_roles ur
        left join communes uc on uc.code = ur.commune_code
        where ur.user_id = {user}
          and (ur.scope_kind = 'national'
               or ur.province_code = coalesce(r.province_code, rc.province_code)
               or ur.commune_code = r.commune_code
               or (r.scope_kind = 'province' and uc.province_code = r.province_code))))"""


def _writable(user: str, roles: str) -> str:
    return administers(
        user=user, roles=roles, kind="r.scope_kind", commune="r.commune_code",
        province="coalesce(r.province_code, rc.province_code)",
    )  # fmt: skip


def _rule(row: Any) -> ThresholdRule:
    return msgspec.convert({k: row[k] for k in ThresholdRule.__struct_fields__}, ThresholdRule)


# $1 scope_kind, $2 province, $3 commune, $4 indicator, $5 after id, $6 limit, $7 user
LIST_RULES_SQL = f"""
select {RULE_COLUMNS}
from {RULE_FROM}
where r.deleted_at is null
  and ($1::text is null or r.scope_kind = $1)
  and ($2::text is null or coalesce(r.province_code, rc.province_code) = $2)
  and ($3::text is null or r.commune_code = $3)
  and ($4::text is null or r.indicator = $4)
  and ($5::bigint is null or r.id > $5)
  and {_visible("$7")}
order by r.id
limit $6
"""


async def list_threshold_rules(
    conn: Any,
    staff: StaffPrincipal,
    *,
    scope_kind: str | None,
    province_code: str | None,
    commune_code: str | None,
    indicator: str | None,
    cursor: str | None,
    limit: int,
) -> ThresholdRuleList:
    """The rules the caller may see, oldest first. `province_code` matches the province's
    own rules and those of its communes."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        LIST_RULES_SQL, scope_kind, province_code, commune_code, indicator,
        after[0] if after else None, limit + 1, staff.user_id,
    )  # fmt: skip
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return ThresholdRuleList(items=[_rule(r) for r in items], next_cursor=next_cursor)


# $1 id, $2 user, $3 roles that may write
RULE_ACCESS_SQL = f"""
select {RULE_COLUMNS}, {_visible("$2")} as visible, {_writable("$2", "$3")} as writable
from {RULE_FROM}
where r.id = $1 and r.deleted_at is null
"""

LOCK_RULE_SQL = RULE_ACCESS_SQL + " for update of r"


async def _rule_access(conn: Any, staff: StaffPrincipal, rule_id: int, *, write: bool) -> Any:
    """The rule row; 404 when it does not exist or the caller may not see it, 403 when
    they may see but not change it."""
    row = await conn.fetchrow(LOCK_RULE_SQL if write else RULE_ACCESS_SQL, rule_id, staff.user_id, list(ADMIN_ROLES))
    if row is None or not row["visible"]:
        raise AppError("threshold_rule_not_found")
    if write and not row["writable"]:
        raise AppError("out_of_scope")
    return row


async def get_threshold_rule(conn: Any, staff: StaffPrincipal, rule_id: int) -> ThresholdRule:
    return _rule(await _rule_access(conn, staff, rule_id, write=False))


_SCOPE_PROVINCE = "coalesce(c.province_code, p.code)"

# $1 scope_kind, $2 province, $3 commune, $4 user, $5 roles that may write
SCOPE_SQL = f"""
select (s.kind = 'national' or c.code is not null or p.code is not null) as scope_exists,
       coalesce(c.province_code, p.code) as province_code,
       {administers(user="$4", roles="$5", kind="s.kind", commune="c.code", province=_SCOPE_PROVINCE)} as allowed
from (select $1::text as kind) s
left join communes c on s.kind = 'commune' and c.code = $3
left join provinces p on s.kind = 'province' and p.code = $2
"""

# The rule a new one would override: $1 indicator, $2 scope_kind, $3 province.
INHERITED_RULE_SQL = """
select r.comparator, r.value, r.window_spec as "window", r.min_sample, r.for_seconds, r.hysteresis, r.severity,
       r.repeat_seconds, r.escalation_seconds
from threshold_rules r
where r.indicator = $1 and r.deleted_at is null
  and (r.scope_kind = 'national' or ($2 = 'commune' and r.scope_kind = 'province' and r.province_code = $3))
  and $2 <> 'national'
order by r.scope_kind = 'province' desc
limit 1
"""

INSERT_RULE_SQL = """
insert into threshold_rules (indicator, comparator, value, window_spec, min_sample, for_seconds, hysteresis, severity,
                             repeat_seconds, escalation_seconds, enabled, scope_kind, province_code, commune_code,
                             created_by)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
on conflict (indicator, scope_kind, coalesce(province_code, ''), coalesce(commune_code, ''))
    where deleted_at is null do nothing
returning id
"""

EXISTING_RULE_SQL = """
select id from threshold_rules
where indicator = $1 and scope_kind = $2 and province_code is not distinct from $3
  and commune_code is not distinct from $4 and deleted_at is null
"""

GET_RULE_SQL = f"select {RULE_COLUMNS} from {RULE_FROM} where r.id = $1"


async def _refuse_duplicate(conn: Any, data: ThresholdRuleCreate) -> None:
    existing = await conn.fetchval(
        EXISTING_RULE_SQL, data.indicator, data.scope_kind, data.province_code, data.commune_code
    )
    if existing is not None:
        raise AppError("threshold_rule_exists", extensions={"existing_id": existing})


def _check_scope_shape(data: ThresholdRuleCreate) -> None:
    expected = {"national": (False, False), "province": (True, False), "commune": (False, True)}[data.scope_kind]
    if (data.province_code is not None, data.commune_code is not None) != expected:
        needs = {
            "national": Text("không kèm mã tỉnh hay mã xã", "takes neither province_code nor commune_code"),
            "province": Text("cần mã tỉnh (province_code) và không kèm mã xã", "takes province_code only"),
            "commune": Text("cần mã xã (commune_code) và không kèm mã tỉnh", "takes commune_code only"),
        }[data.scope_kind]
        raise AppError(
            "invalid_threshold_rule",
            Text(f"Quy tắc phạm vi {data.scope_kind} {needs.vi}", f"A {data.scope_kind} rule {needs.en}"),
            errors=[FieldError(field="scope_kind", message=f"a {data.scope_kind} rule {needs.en}")],
        )


async def create_threshold_rule(conn: Any, staff: StaffPrincipal, data: ThresholdRuleCreate) -> ThresholdRule:
    """Add a rule for a scope the caller administers; 409 threshold_rule_exists (with the
    existing id) when the scope already has one for the indicator."""
    _check_scope_shape(data)
    scope = await conn.fetchrow(
        SCOPE_SQL, data.scope_kind, data.province_code, data.commune_code, staff.user_id, list(ADMIN_ROLES)
    )
    if not scope["scope_exists"]:
        field = "commune_code" if data.scope_kind == "commune" else "province_code"
        raise AppError("invalid_threshold_rule", errors=[FieldError(field=field, message=f"unknown {field}")])
    if not scope["allowed"]:
        raise AppError("out_of_scope")

    await _refuse_duplicate(conn, data)

    inherited = await conn.fetchrow(INHERITED_RULE_SQL, data.indicator, data.scope_kind, scope["province_code"])
    base = dict(inherited) if inherited is not None else RULE_DEFAULTS
    given = {f: getattr(data, f) for f in MUTABLE_FIELDS if getattr(data, f) is not msgspec.UNSET}
    missing = [f for f in ("comparator", "value") if f not in given and f not in base]
    if missing:
        raise AppError(
            "invalid_threshold_rule",
            Text(
                "Không có quy tắc cấp trên để kế thừa: cần nêu comparator và value",
                "There is no rule to inherit from: comparator and value are required",
            ),
            errors=[FieldError(field=f, message="required: there is no rule to inherit from") for f in missing],
        )
    rule = {**base, **given, "indicator": data.indicator}
    _require_valid(rule)

    rule_id = await conn.fetchval(
        INSERT_RULE_SQL, data.indicator, *(rule[f] for f in MUTABLE_FIELDS), data.scope_kind,
        data.province_code, data.commune_code, staff.user_id,
    )  # fmt: skip
    if rule_id is None:  # created meanwhile by a concurrent request
        await _refuse_duplicate(conn, data)
    copied = [f for f in MUTABLE_FIELDS if f not in given] if inherited is not None else []
    await record_staff_action(
        conn, staff.user_id, "threshold_rule.create", "threshold_rule", rule_id,
        data={
            "indicator": data.indicator, "scope_kind": data.scope_kind, "province_code": data.province_code,
            "commune_code": data.commune_code, "inherited_fields": copied, **{f: rule[f] for f in MUTABLE_FIELDS},
        },
    )  # fmt: skip
    return _rule(await conn.fetchrow(GET_RULE_SQL, rule_id))


UPDATE_RULE_SQL = """
update threshold_rules
set comparator = $2, value = $3, window_spec = $4, min_sample = $5, for_seconds = $6, hysteresis = $7,
    severity = $8, repeat_seconds = $9, escalation_seconds = $10, enabled = $11, updated_at = now()
where id = $1 and deleted_at is null
"""


async def update_threshold_rule(
    conn: Any, staff: StaffPrincipal, rule_id: int, data: ThresholdRuleUpdate
) -> ThresholdRule:
    """Change a rule's thresholds, timing, severity or switch; its indicator and scope stay."""
    row = await _rule_access(conn, staff, rule_id, write=True)
    current = {f: row[f] for f in MUTABLE_FIELDS}
    given = {f: getattr(data, f) for f in MUTABLE_FIELDS if getattr(data, f) is not msgspec.UNSET}
    changes = {f: [current[f], v] for f, v in given.items() if v != current[f]}
    if not changes:
        return _rule(row)
    rule = {**current, **given, "indicator": row["indicator"]}
    _require_valid(rule)
    await conn.execute(UPDATE_RULE_SQL, rule_id, *(rule[f] for f in MUTABLE_FIELDS))
    await record_staff_action(
        conn, staff.user_id, "threshold_rule.update", "threshold_rule", rule_id, data={"changes": changes}
    )
    return _rule(await conn.fetchrow(GET_RULE_SQL, rule_id))


DELETE_RULE_SQL = "update threshold_rules set deleted_at = now(), updated_at = now() where id = $1"


async def delete_threshold_rule(conn: Any, staff: StaffPrincipal, rule_id: int) -> ThresholdRule:
    """Soft-delete a rule: its scope falls back to the rule it inherits (alerts keep their rule)."""
    row = await _rule_access(conn, staff, rule_id, write=True)
    await conn.execute(DELETE_RULE_SQL, rule_id)
    await record_staff_action(
        conn, staff.user_id, "threshold_rule.delete", "threshold_rule", rule_id,
        data={"indicator": row["indicator"], "scope_kind": row["scope_kind"],
              "province_code": row["province_code"], "commune_code": row["commune_code"]},
    )  # fmt: skip
    return _rule(await conn.fetchrow(GET_RULE_SQL, rule_id))


EFFECTIVE_RULES_SQL = """
select rule_id, indicator, comparator, value, window_spec as "window", min_sample, for_seconds, hysteresis,
       severity, repeat_seconds, escalation_seconds, enabled, inherited_from
from effective_threshold_rules
where commune_code = $1
order by indicator
"""


async def effective_rules(conn: Any, commune_code: str) -> list[EffectiveThresholdRule]:
    """The rule in force for each indicator of a commune (disabled ones included), no scope check."""
    rows = await conn.fetch(EFFECTIVE_RULES_SQL, commune_code)
    return [msgspec.convert(dict(r), EffectiveThresholdRule) for r in rows]


async def commune_threshold_rules(conn: Any, staff: StaffPrincipal, commune_code: str) -> CommuneThresholdRules:
    """The effective rules of a commune for its staff and those above them."""
    await require_commune_access(conn, staff, STAFF_ROLES, commune_code)
    province_code = await conn.fetchval("select province_code from communes where code = $1", commune_code)
    return CommuneThresholdRules(
        commune_code=commune_code, province_code=province_code, items=await effective_rules(conn, commune_code)
    )


async def seed_national_defaults(conn: Any) -> int:
    """Insert the national default rules that were never there (migration 0010 defines
    them); returns how many were added."""
    return int(await conn.fetchval("select seed_national_threshold_rules()"))
