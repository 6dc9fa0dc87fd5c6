"""Threshold evaluation: every effective rule over every commune in one set-based
statement over the daily rollups, then the alert state machine (backend.alert_states) on
the few rows that matter, then the alert changes, their events and their pushes written in
one transaction.

Runs in the worker: debounced after ingest for the communes it touched (evaluate_dirty),
and as a sweep of the nation every minute, which also catches up whatever the event path
missed (Redis down, a lost job). Evaluations take one advisory lock, so a sweep and an
event-driven run never judge the same alert at once; a person's acknowledgement racing an
evaluation is caught by the alert's updated_at.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from backend.alert_states import Alert, Judgement, Rule, Step, alert_of, step
from backend.services.notifications import Notification, queue_notifications
from backend.windows import WINDOW_SPECS, window_for

log = logging.getLogger(__name__)

EVALUATION_LOCK = 7_318_001

# Alerts are the commune chair's: feedback counts as the chair may read it (what has been
# forwarded, reports of wrongdoing left out; services/indicators.FULL_FEEDBACK_READERS), so a
# report about the chair or an official never fires, moves or resolves an alert.
# Each rule judged on its own window; a rate by its Wilson interval, a mean score by its
# normal interval, a count as it is. "below" fires when even the upper bound is under the
# threshold, "above" when even the lower bound is over it; either recovers when the value
# is back past the threshold by the hysteresis, or when the window holds no data at all.
SWEEP_SQL = """
with rules as (
    select e.commune_code, e.province_code, e.rule_id, e.indicator, e.comparator, e.value as threshold,
           e.window_spec, e.min_sample, e.for_seconds, e.hysteresis, e.severity, e.repeat_seconds,
           e.escalation_seconds, c.full_name as commune_name, c.full_name_en as commune_name_en
    from effective_threshold_rules e
    join communes c on c.code = e.commune_code
    where e.enabled and ($1::text[] is null or e.commune_code = any($1::text[]))
),
windows as (
    select * from unnest($2::text[], $3::date[], $4::date[]) as w(spec, first_day, last_day)
    where w.spec in (select distinct window_spec from rules)
),
sums as (
    select w.spec, d.commune_code,
           sum(d.ratings)::float8 as ratings, sum(d.satisfied)::float8 as satisfied,
           sum(d.verified)::float8 as verified, sum(d.score_sum)::float8 as score_sum,
           sum(d.score_counts[1] + 4 * d.score_counts[2] + 9 * d.score_counts[3]
               + 16 * d.score_counts[4] + 25 * d.score_counts[5])::float8 as score_squares,
           sum(d.completed_on_time)::float8 as on_time, sum(d.completed_late)::float8 as late
    from windows w
    join commune_rollups_daily d on d.day between w.first_day and w.last_day
    where $1::text[] is null or d.commune_code = any($1::text[])
    group by w.spec, d.commune_code
),
answers as (
    select w.spec, a.commune_code, sum(a.answered_on_time)::float8 as answered_on_time,
           sum(a.answered_late)::float8 as answered_late, sum(a.rated)::float8 as rated,
           sum(a.rating_satisfied)::float8 as rating_satisfied
    from windows w
    join feedback_rollups_daily a on a.day between w.first_day and w.last_day and not a.protected
    where $1::text[] is null or a.commune_code = any($1::text[])
    group by w.spec, a.commune_code
),
open_feedback as (
    select commune_code, count(*)::float8 as backlog,
           (count(*) filter (where response_due_at < $5))::float8 as overdue
    from feedback
    where status = 'forwarded' and not protected and ($1::text[] is null or commune_code = any($1::text[]))
    group by commune_code
),
measured as (
    select r.*, m.n, m.value,
           case when m.kind = 'rate' then wilson_low(m.successes, m.n)
                when m.kind = 'score' and m.n >= 2
                    then m.value - 1.959963984540054 * sqrt(greatest(m.spread, 0) / m.n)
                when m.kind = 'count' then m.value end as ci_low,
           case when m.kind = 'rate' then wilson_high(m.successes, m.n)
                when m.kind = 'score' and m.n >= 2
                    then m.value + 1.959963984540054 * sqrt(greatest(m.spread, 0) / m.n)
                when m.kind = 'count' then m.value end as ci_high
    from rules r
    left join sums s on s.spec = r.window_spec and s.commune_code = r.commune_code
    left join open_feedback f on f.commune_code = r.commune_code
    left join answers an on an.spec = r.window_spec and an.commune_code = r.commune_code
    cross join lateral (
        select k.kind, k.successes, k.n,
               case when k.n > 0 and k.kind in ('rate', 'score') then k.total / k.n
                    when k.kind = 'count' then k.n end as value,
               case when k.n >= 2 then (coalesce(s.score_squares, 0) - k.total * k.total / k.n) / (k.n - 1) end
                   as spread
        from (select case when r.indicator in ('satisfaction_rate', 'verified_share', 'on_time_rate',
                                               'feedback_answered_on_time', 'feedback_answer_satisfaction')
                               then 'rate'
                          when r.indicator = 'mean_score' then 'score' else 'count' end as kind,
                     case r.indicator when 'satisfaction_rate' then coalesce(s.satisfied, 0)
                                      when 'verified_share' then coalesce(s.verified, 0)
                                      when 'on_time_rate' then coalesce(s.on_time, 0)
                                      when 'feedback_answered_on_time' then coalesce(an.answered_on_time, 0)
                                      when 'feedback_answer_satisfaction' then coalesce(an.rating_satisfied, 0)
                                      end as successes,
                     case r.indicator when 'satisfaction_rate' then coalesce(s.satisfied, 0)
                                      when 'verified_share' then coalesce(s.verified, 0)
                                      when 'on_time_rate' then coalesce(s.on_time, 0)
                                      when 'feedback_answered_on_time' then coalesce(an.answered_on_time, 0)
                                      when 'feedback_answer_satisfaction' then coalesce(an.rating_satisfied, 0)
                                      when 'mean_score' then coalesce(s.score_sum, 0) end as total,
                     case r.indicator when 'on_time_rate' then coalesce(s.on_time, 0) + coalesce(s.late, 0)
                                      when 'feedback_backlog' then coalesce(f.backlog, 0)
                                      when 'feedback_overdue' then coalesce(f.overdue, 0)
                                      when 'feedback_answered_on_time'
                                          then coalesce(an.answered_on_time, 0) + coalesce(an.answered_late, 0)
                                      when 'feedback_answer_satisfaction' then coalesce(an.rated, 0)
                                      else coalesce(s.ratings, 0) end as n) k
    ) m
),
judged as (
    select m.*,
           m.n >= m.min_sample
           and case m.comparator when 'below' then m.ci_high < m.threshold else m.ci_low > m.threshold end
               as breaching,
           m.n = 0
           or case m.comparator when 'below' then m.value >= m.threshold + m.hysteresis
                                else m.value <= m.threshold - m.hysteresis end as recovered
    from measured m
)
select j.commune_code, j.province_code, j.commune_name, j.commune_name_en, j.rule_id, j.indicator,
       j.comparator, j.threshold, j.window_spec, j.min_sample, j.for_seconds, j.hysteresis, j.severity,
       j.repeat_seconds, j.escalation_seconds, j.n, j.value, j.ci_low, j.ci_high,
       coalesce(j.breaching, false) as breaching, coalesce(j.recovered, true) as recovered,
       a.id as alert_id, a.state, a.pending_since, a.fired_at, a.acknowledged_at, a.resolved_at,
       a.last_notified_at, a.escalated_at, a.silenced_until, a.updated_at as alert_updated_at
from judged j
left join alerts a on a.scope_kind = 'commune' and a.scope_code = j.commune_code and a.indicator = j.indicator
                  and a.state <> 'resolved'
where j.breaching or a.id is not null
"""

# Open alerts whose indicator no longer has an enabled rule for the commune (an override
# switched it off, a rule was deleted): closed without a push, nothing recovered.
WITHDRAWN_SQL = """
select a.id, a.state, a.updated_at
from alerts a
where a.state <> 'resolved' and a.scope_kind = 'commune'
  and ($1::text[] is null or a.scope_code = any($1::text[]))
  and not exists (select 1 from effective_threshold_rules e
                  where e.commune_code = a.scope_code and e.indicator = a.indicator and e.enabled)
"""

INSERT_ALERTS_SQL = """
insert into alerts (rule_id, indicator, scope_kind, scope_code, commune_code, province_code, state, severity,
                    value, sample_size, ci_low, ci_high, pending_since, fired_at, last_notified_at, created_at,
                    updated_at)
select u.rule_id, u.indicator, 'commune', u.commune_code, u.commune_code, u.province_code, u.state, u.severity,
       u.value, u.n, u.ci_low, u.ci_high, u.pending_since, u.fired_at, u.last_notified_at, $15, $15
from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::int[],
            $9::float8[], $10::float8[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::int[])
     as u(rule_id, indicator, commune_code, province_code, state, severity, value, n, ci_low, ci_high,
          pending_since, fired_at, last_notified_at, position)
order by u.position
returning id, scope_code, indicator
"""

# Applied only where the alert is still as this evaluation read it: an acknowledgement or
# silence committed meanwhile wins, and this evaluation's events for it are dropped.
UPDATE_ALERTS_SQL = """
update alerts a
set rule_id = u.rule_id, severity = u.severity, state = u.state, value = u.value, sample_size = u.n,
    ci_low = u.ci_low, ci_high = u.ci_high, fired_at = u.fired_at, resolved_at = u.resolved_at,
    last_notified_at = u.last_notified_at, escalated_at = u.escalated_at, updated_at = $14
from unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::text[], $5::text[], $6::float8[], $7::int[],
            $8::float8[], $9::float8[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[],
            $13::timestamptz[])
     as u(id, seen_updated_at, rule_id, severity, state, value, n, ci_low, ci_high, fired_at, resolved_at,
          last_notified_at, escalated_at)
where a.id = u.id and a.updated_at = u.seen_updated_at
returning a.id
"""

WITHDRAW_ALERTS_SQL = """
update alerts a
set state = 'resolved', resolved_at = $3, updated_at = $3
from unnest($1::bigint[], $2::timestamptz[]) as u(id, seen_updated_at)
where a.id = u.id and a.updated_at = u.seen_updated_at
returning a.id, a.state
"""

INSERT_EVENTS_SQL = """
insert into alert_events (alert_id, kind, from_state, to_state, value, sample_size, data, created_at)
select u.alert_id, u.kind, u.from_state, u.to_state, u.value, u.n, u.data::jsonb, $8
from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::int[], $7::text[])
     with ordinality as u(alert_id, kind, from_state, to_state, value, n, data, position)
order by u.position
returning id, alert_id, kind
"""

RECIPIENTS_SQL = """
select ur.user_id, ur.role, ur.commune_code, ur.province_code
from user_roles ur
join users u on u.id = ur.user_id and u.is_active
where (ur.role = 'commune_chair' and ur.commune_code = any($1::text[]))
   or (ur.role = 'province_admin' and ur.province_code = any($2::text[]))
"""

# What to look at: the commune's service that is worst on the alert's indicator, by the
# upper end of its interval (evidence first), over the alert's window.
WORST_SERVICE_SQL = """
select distinct on (x.commune_code) x.commune_code, p.name_vi, p.name_en, x.good, x.n
from (
    select r.commune_code, r.commune_service_id, sum(r.satisfied)::float8 as good, sum(r.ratings)::float8 as n
    from rating_rollups_hourly r
    where $2 = 'ratings' and r.commune_code = any($1::text[]) and r.hour >= $3
    group by 1, 2
    union all
    select d.commune_code, d.commune_service_id, sum(d.completed_on_time)::float8,
           sum(d.completed_on_time + d.completed_late)::float8
    from dossier_rollups_hourly d
    where $2 = 'dossiers' and d.commune_code = any($1::text[]) and d.hour >= $3
    group by 1, 2
) x
join commune_services cs on cs.id = x.commune_service_id
join procedures p on p.code = cs.procedure_code
where x.n > 0
order by x.commune_code, wilson_high(x.good, x.n), x.n desc
"""

INDICATOR_NAMES = {
    "satisfaction_rate": ("Tỷ lệ hài lòng", "Satisfaction rate"),
    "verified_share": ("Tỷ lệ đánh giá đã xác thực", "Verified share of ratings"),
    "on_time_rate": ("Tỷ lệ hồ sơ đúng hạn", "On-time completion rate"),
    "mean_score": ("Điểm đánh giá trung bình", "Mean rating score"),
    "feedback_backlog": ("Phản ánh chưa xử lý xong", "Open feedback"),
    "feedback_overdue": ("Phản ánh quá hạn trả lời", "Overdue feedback"),
    "feedback_answered_on_time": ("Tỷ lệ phản ánh trả lời đúng hạn", "Feedback answered on time"),
    "feedback_answer_satisfaction": ("Tỷ lệ hài lòng với trả lời", "Satisfaction with answers"),
}
WINDOW_NAMES = {
    "7d": ("7 ngày", "7 days"),
    "30d": ("30 ngày", "30 days"),
    "90d": ("90 ngày", "90 days"),
    "day": ("hôm nay", "today"),
    "week": ("tuần này", "this week"),
    "month": ("tháng này", "this month"),
}
RATE_INDICATORS = frozenset(
    {"satisfaction_rate", "verified_share", "on_time_rate", "feedback_answered_on_time", "feedback_answer_satisfaction"}
)


@dataclass
class EvaluationResult:
    evaluated: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    outbox_ids: list[int] = field(default_factory=list)


@dataclass
class _Change:
    row: Any
    result: Step
    alert_id: int | None = None


def format_value(indicator: str, value: float | None) -> str:
    if value is None:
        return "–"
    if indicator in RATE_INDICATORS:
        return f"{value * 100:.0f}%"
    if indicator == "mean_score":
        return f"{value:.2f}"
    return f"{value:.0f}"


def alert_text(kind: str, row: Any, worst: Any | None) -> tuple[str, str, str, str]:
    """Title and body, Vietnamese and English, for one push about an alert."""
    indicator = row["indicator"]
    name_vi, name_en = INDICATOR_NAMES[indicator]
    window_vi, window_en = WINDOW_NAMES[row["window_spec"]]
    commune_vi, commune_en = row["commune_name"], row["commune_name_en"]
    value = format_value(indicator, row["value"])
    threshold = format_value(indicator, row["threshold"])
    interval = ""
    if indicator in RATE_INDICATORS and row["ci_low"] is not None:
        interval = f" (95%: {format_value(indicator, row['ci_low'])}–{format_value(indicator, row['ci_high'])})"
    sample_vi = f", {int(row['n'])} mẫu" if indicator not in ("feedback_backlog", "feedback_overdue") else ""
    sample_en = f", {int(row['n'])} samples" if sample_vi else ""
    look_vi = look_en = ""
    if worst is not None:
        share = format_value("satisfaction_rate", worst["good"] / worst["n"])
        look_vi = f" Cần xem: {worst['name_vi']} ({share}, {int(worst['n'])} mẫu)."
        look_en = f" Look at: {worst['name_en']} ({share}, {int(worst['n'])} samples)."
    if kind == "resolved":
        return (
            f"Đã trở lại bình thường: {name_vi} — {commune_vi}",
            f"{name_vi} {window_vi}: {value}{sample_vi}, ngưỡng {threshold}.",
            f"Back to normal: {name_en} — {commune_en}",
            f"{name_en} over {window_en}: {value}{sample_en}, threshold {threshold}.",
        )
    prefix_vi, prefix_en = {
        "firing": ("Cảnh báo", "Alert"),
        "reminder": ("Nhắc lại cảnh báo", "Reminder"),
        "escalated": ("Cảnh báo chưa được xử lý", "Unacknowledged alert"),
    }[kind]
    return (
        f"{prefix_vi}: {name_vi} — {commune_vi}",
        f"{name_vi} {window_vi}: {value}{interval}{sample_vi}, ngưỡng {threshold}.{look_vi}",
        f"{prefix_en}: {name_en} — {commune_en}",
        f"{name_en} over {window_en}: {value}{interval}{sample_en}, threshold {threshold}.{look_en}",
    )


async def _worst_services(conn: Any, changes: list[_Change], now: datetime) -> dict[tuple[str, str], Any]:
    wanted: dict[tuple[str, datetime], set[str]] = defaultdict(set)
    for change in changes:
        row = change.row
        if row["indicator"] in ("satisfaction_rate", "mean_score", "on_time_rate") and set(change.result.notify) - {
            "resolved"
        }:
            source = "dossiers" if row["indicator"] == "on_time_rate" else "ratings"
            wanted[(source, window_for(row["window_spec"], now).starts_at)].add(row["commune_code"])
    found: dict[tuple[str, str], Any] = {}
    for (source, since), communes in wanted.items():
        for worst in await conn.fetch(WORST_SERVICE_SQL, sorted(communes), source, since):
            found[(source, worst["commune_code"])] = worst
    return found


async def evaluate(conn: Any, now: datetime | None = None, communes: list[str] | None = None) -> EvaluationResult:
    """Judge every enabled rule over `communes` (None: all), move the alerts and write the
    pushes to the outbox, in one transaction, after any evaluation in progress. The caller
    delivers `outbox_ids` after it returns."""
    result = await _evaluate(conn, now, communes, wait=True)
    assert result is not None
    return result


async def evaluate_unless_busy(
    conn: Any, now: datetime | None = None, communes: list[str] | None = None
) -> EvaluationResult | None:
    """As evaluate, or None at once when another evaluation holds the lock."""
    return await _evaluate(conn, now, communes, wait=False)


async def _evaluate(
    conn: Any, now: datetime | None, communes: list[str] | None, *, wait: bool
) -> EvaluationResult | None:
    now = now or datetime.now(UTC)
    windows = [window_for(spec, now) for spec in WINDOW_SPECS]
    result = EvaluationResult()
    async with conn.transaction():
        if wait:
            await conn.execute("select pg_advisory_xact_lock($1)", EVALUATION_LOCK)
        elif not await conn.fetchval("select pg_try_advisory_xact_lock($1)", EVALUATION_LOCK):
            return None
        # A generic plan cannot use the list of communes to narrow its scans (its filter
        # also admits null, for the full sweep), and the pool would switch to one after
        # five runs: a judgement of three communes then read the whole nation.
        await conn.execute("set local plan_cache_mode = force_custom_plan")
        rows = await conn.fetch(
            SWEEP_SQL,
            communes,
            [w.spec for w in windows],
            [w.first_day for w in windows],
            [w.last_day for w in windows],
            now,
        )
        result.evaluated = len(rows)
        changes: list[_Change] = []
        for row in rows:
            rule = Rule(
                for_seconds=row["for_seconds"],
                repeat_seconds=row["repeat_seconds"],
                escalation_seconds=row["escalation_seconds"],
            )
            judged = step(
                alert_of(row) if row["alert_id"] is not None else None,
                Judgement(row["breaching"], row["recovered"]),
                rule,
                now,
            )
            if judged.alert is not None or judged.events:
                changes.append(_Change(row, judged, row["alert_id"]))
        withdrawn = await conn.fetch(WITHDRAWN_SQL, communes)
        await _write(conn, changes, withdrawn, now, result)
    return result


async def _write(
    conn: Any, changes: list[_Change], withdrawn: list[Any], now: datetime, result: EvaluationResult
) -> None:
    new = [c for c in changes if c.alert_id is None and c.result.alert is not None]
    if new:
        opened = [c.result.alert for c in new]
        inserted = await conn.fetch(
            INSERT_ALERTS_SQL,
            [c.row["rule_id"] for c in new],
            [c.row["indicator"] for c in new],
            [c.row["commune_code"] for c in new],
            [c.row["province_code"] for c in new],
            [a.state for a in opened],  # type: ignore[union-attr]
            [c.row["severity"] for c in new],
            [c.row["value"] for c in new],
            [int(c.row["n"] or 0) for c in new],
            [c.row["ci_low"] for c in new],
            [c.row["ci_high"] for c in new],
            [a.pending_since for a in opened],  # type: ignore[union-attr]
            [a.fired_at for a in opened],  # type: ignore[union-attr]
            [a.last_notified_at for a in opened],  # type: ignore[union-attr]
            list(range(len(new))),
            now,
        )
        ids = {(r["scope_code"], r["indicator"]): r["id"] for r in inserted}
        for c in new:
            c.alert_id = ids[(c.row["commune_code"], c.row["indicator"])]

    existing = [c for c in changes if c.row["alert_id"] is not None and c.result.alert is not None]
    if existing:
        alerts: list[Alert] = [c.result.alert for c in existing]  # type: ignore[misc]
        kept = await conn.fetch(
            UPDATE_ALERTS_SQL,
            [c.row["alert_id"] for c in existing],
            [c.row["alert_updated_at"] for c in existing],
            [c.row["rule_id"] for c in existing],
            [c.row["severity"] for c in existing],
            [a.state for a in alerts],
            [c.row["value"] for c in existing],
            [int(c.row["n"] or 0) for c in existing],
            [c.row["ci_low"] for c in existing],
            [c.row["ci_high"] for c in existing],
            [a.fired_at for a in alerts],
            [a.resolved_at for a in alerts],
            [a.last_notified_at for a in alerts],
            [a.escalated_at for a in alerts],
            now,
        )
        applied = {r["id"] for r in kept}
        for c in existing:
            if c.alert_id not in applied:
                c.result = Step(c.result.alert)  # lost to a person's action: no events, no pushes

    events: list[tuple[_Change, Any]] = [(c, e) for c in changes for e in c.result.events if c.alert_id is not None]
    rows: list[tuple[int, str, str | None, str, float | None, int | None, str]] = []
    for change, event in events:
        data = {
            "rule_id": change.row["rule_id"],
            "threshold": change.row["threshold"],
            "comparator": change.row["comparator"],
            "window": change.row["window_spec"],
            "ci_low": change.row["ci_low"],
            "ci_high": change.row["ci_high"],
            "notified": list(change.result.notify),
        }
        rows.append(
            (
                change.alert_id,  # type: ignore[arg-type]
                event.kind,
                event.from_state,
                event.to_state,
                change.row["value"],
                int(change.row["n"] or 0),
                msgspec.json.encode(data).decode(),
            )
        )
    if withdrawn:
        gone = await conn.fetch(
            WITHDRAW_ALERTS_SQL, [w["id"] for w in withdrawn], [w["updated_at"] for w in withdrawn], now
        )
        states = {w["id"]: w["state"] for w in withdrawn}
        rows.extend((g["id"], "withdrawn", states[g["id"]], "resolved", None, None, "{}") for g in gone)
    if not rows:
        return
    inserted_events = await conn.fetch(INSERT_EVENTS_SQL, *map(list, zip(*rows, strict=True)), now)
    event_ids = {(r["alert_id"], r["kind"]): r["id"] for r in inserted_events}
    for _, kind, *_rest in rows:
        result.transitions[kind] = result.transitions.get(kind, 0) + 1

    notifying = [c for c in changes if c.result.notify and c.alert_id is not None]
    if not notifying:
        return
    recipients = await conn.fetch(
        RECIPIENTS_SQL,
        sorted({c.row["commune_code"] for c in notifying}),
        sorted({c.row["province_code"] for c in notifying}),
    )
    chairs: dict[str, list[int]] = defaultdict(list)
    admins: dict[str, list[int]] = defaultdict(list)
    for r in recipients:
        if r["role"] == "commune_chair":
            chairs[r["commune_code"]].append(r["user_id"])
        else:
            admins[r["province_code"]].append(r["user_id"])
    worst = await _worst_services(conn, notifying, now)
    notifications = []
    for change in notifying:
        row, alert = change.row, change.result.alert
        assert alert is not None
        for kind in change.result.notify:
            event_kind = {"firing": "fired", "reminder": "reminded", "escalated": "escalated", "resolved": "resolved"}[
                kind
            ]
            event_id = event_ids[(change.alert_id, event_kind)]
            users = admins[row["province_code"]] if kind == "escalated" else list(chairs[row["commune_code"]])
            if kind == "resolved" and alert.escalated_at is not None:
                users = users + admins[row["province_code"]]
            source = "dossiers" if row["indicator"] == "on_time_rate" else "ratings"
            title_vi, body_vi, title_en, body_en = alert_text(kind, row, worst.get((source, row["commune_code"])))
            for user_id in dict.fromkeys(users):
                notifications.append(
                    Notification(
                        dedupe_key=f"alert:{change.alert_id}:event:{event_id}:user:{user_id}",
                        kind=f"alert_{kind}",
                        title_vi=title_vi,
                        body_vi=body_vi,
                        title_en=title_en,
                        body_en=body_en,
                        data={
                            "alert_id": str(change.alert_id),
                            "kind": f"alert_{kind}",
                            "indicator": row["indicator"],
                            "commune_code": row["commune_code"],
                            "link": f"communepulse://alerts/{change.alert_id}",
                        },
                        user_id=user_id,
                        alert_id=change.alert_id,
                        critical=row["severity"] == "critical" and kind != "resolved",
                    )
                )
    result.outbox_ids = await queue_notifications(conn, notifications)
