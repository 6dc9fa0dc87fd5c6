"""Computing a province's scorecards for a month or quarter, storing them, freezing them and
recording amendments.

Facts are summed in SQL per (commune, official, procedure) straight from the raw rows — the
rollups count every rating, whereas a scorecard counts only verified ratings that are not held
in quarantine, and credits each dossier to the official who handled it. backend.scorecard_rules
turns the sums into points. Whoever reads a period first after SCORECARD_REFRESH recomputes
it (under an advisory lock, so concurrent readers wait for one computation); from
SCORECARD_FREEZE_DAYS after the period's end it is frozen, and the daily recheck job turns any
later difference into an amendment.

Crediting, rotation-safe:
* a dossier: the handling official the one-stop shop named, else whoever held the service's
  assignment when it was completed (for a product still open past its due time: at the due time);
* a rating: the dossier's handling official, else the official accountable when the service
  was used (ratings.official_id);
* a forwarded feedback item: the official it was forwarded to. A report of wrongdoing
  (feedback.protected) counts in no scorecard: the chair and the officials read them, and no
  figure they read may move with such a report (issue 10, point 5).
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from backend import scorecard_rules as rules
from backend.errors import AppError
from backend.indicators import DIMENSIONS
from backend.settings import Settings
from schemas.scorecards import (
    Component,
    CompositeScore,
    DimensionEstimates,
    Estimate,
    FairComparison,
    Figures,
    RankRange,
)

# How far back a dossier's receipt may lie for its working days to be counted exactly; older
# receipts count from this day (a dossier open for more than 400 days is late whatever it took).
CALENDAR_BACK = timedelta(days=400)

# Dossier facts of the period, in one pass over the dossiers completed, due or received in
# it: summed per (service, official) on integer keys, then per (commune, official) and per
# commune (grouping sets). $5 is the cumulative count of working days from $6 on ($5[1] is
# $6's), so working days taken are a difference of two array elements.
# The expected on-time count is rules.expected_rate's numerator in SQL: each (service,
# official)'s decided products times the province's on-time rate for that procedure.
DOSSIER_FACTS_SQL = """
with per_service as (
    select d.commune_service_id as sid, coalesce(d.handling_official_id, a.official_id, 0) as official_id,
           count(*) filter (where x.done)::int as completed,
           count(x.taken)::int as processed,
           coalesce(sum(x.credit), 0)::float8 as credit_sum,
           coalesce(sum(x.credit * x.credit), 0)::float8 as credit_sq,
           coalesce(sum(x.taken), 0)::float8 as taken_sum,
           coalesce(sum(s.statutory_days) filter (where x.taken is not null), 0)::float8 as statutory_sum,
           count(*) filter (where x.due and d.completed_at <= d.due_at)::int as on_time,
           count(*) filter (where x.due and coalesce(d.completed_at, $4) > d.due_at)::int as late,
           count(*) filter (where x.recv)::int as received,
           count(*) filter (where x.recv and d.channel = 'online')::int as online,
           count(*) filter (where x.recv and d.channel is not null)::int as channel_known
    from dossiers d
    join (select cs.id, p.statutory_days, p.days_kind = 'calendar' as calendar_days
          from commune_services cs
          join communes c on c.code = cs.commune_code
          join procedures p on p.code = cs.procedure_code
          where c.province_code = any($1::text[])) s on s.id = d.commune_service_id
    -- Credited at completion (an open product: at its due time). lower(valid) lets the
    -- (service, lower(valid)) index serve the lookup; @> decides.
    left join assignments a on a.commune_service_id = d.commune_service_id
                           and lower(a.valid) <= coalesce(d.completed_at, d.due_at, d.received_at)
                           and a.valid @> coalesce(d.completed_at, d.due_at, d.received_at)
    cross join lateral (
        select t.done, t.due, t.recv, t.taken,
               least(1.0, greatest(0.0, 2.0 - t.taken::float8 / s.statutory_days)) as credit
        from (
            select f.done, f.due, f.recv,
                   case when f.done and s.statutory_days is not null then
                        case when s.calendar_days
                             then (d.completed_at at time zone 'Asia/Ho_Chi_Minh')::date
                                  - (d.received_at at time zone 'Asia/Ho_Chi_Minh')::date
                             else ($5::int[])[(d.completed_at at time zone 'Asia/Ho_Chi_Minh')::date - $6::date + 1]
                                  - coalesce(($5::int[])[greatest((d.received_at at time zone 'Asia/Ho_Chi_Minh')::date
                                                                  - $6::date + 1, 1)], 0) end end as taken
            from (select coalesce(d.completed_at >= $2 and d.completed_at < $3, false) as done,
                         coalesce(d.due_at >= $2 and d.due_at < $3 and d.status <> 'cancelled', false) as due,
                         (d.received_at >= $2 and d.received_at < $3 and d.status <> 'cancelled') as recv) f
        ) t
    ) x
    where (d.completed_at >= $2 and d.completed_at < $3) or (d.due_at >= $2 and d.due_at < $3)
       or (d.received_at >= $2 and d.received_at < $3)
    group by 1, 2
),
g as (
    select c.province_code, cs.commune_code, cs.procedure_code, ps.*
    from per_service ps
    join commune_services cs on cs.id = ps.sid
    join communes c on c.code = cs.commune_code
),
reference as (
    select province_code, procedure_code, sum(on_time)::float8 / nullif(sum(on_time + late), 0) as rate
    from g group by 1, 2
)
select g.commune_code, case when grouping(g.official_id) = 0 then g.official_id end as official_id,
       sum(completed)::int as completed, sum(processed)::int as processed, sum(credit_sum) as credit_sum,
       sum(credit_sq) as credit_sq, sum(taken_sum) as taken_sum, sum(statutory_sum) as statutory_sum,
       sum(on_time)::int as on_time, sum(late)::int as late, sum(received)::int as received,
       sum(online)::int as online, sum(channel_known)::int as channel_known,
       sum((on_time + late) * r.rate) as expected_hits, sum(on_time + late) filter (where r.rate is not null)::int
           as expected_base
from g left join reference r on r.province_code = g.province_code and r.procedure_code = g.procedure_code
group by grouping sets ((g.commune_code, g.official_id), (g.commune_code))
"""

# Verified ratings that count (quarantine null or released), credited to the dossier's
# handler, else the official accountable when the service was used; summed like dossiers.
RATING_FACTS_SQL = """
with per_service as (
    select r.commune_service_id as sid, coalesce(d.handling_official_id, r.official_id, 0) as official_id,
           count(*)::int as n, count(*) filter (where r.score >= 4)::int as satisfied,
           sum(r.score)::float8 as score_sum, sum(r.score * r.score)::float8 as score_sq,
           count(r.score_access)::int as n1, count(r.score_procedure)::int as n2, count(r.score_attitude)::int as n3,
           count(r.score_result)::int as n4, count(r.score_timeliness)::int as n5,
           coalesce(sum(r.score_access), 0)::float8 as s1, coalesce(sum(r.score_procedure), 0)::float8 as s2,
           coalesce(sum(r.score_attitude), 0)::float8 as s3, coalesce(sum(r.score_result), 0)::float8 as s4,
           coalesce(sum(r.score_timeliness), 0)::float8 as s5,
           coalesce(sum(r.score_access * r.score_access), 0)::float8 as q1,
           coalesce(sum(r.score_procedure * r.score_procedure), 0)::float8 as q2,
           coalesce(sum(r.score_attitude * r.score_attitude), 0)::float8 as q3,
           coalesce(sum(r.score_result * r.score_result), 0)::float8 as q4,
           coalesce(sum(r.score_timeliness * r.score_timeliness), 0)::float8 as q5
    from ratings r
    join (select cs.id from commune_services cs join communes c on c.code = cs.commune_code
          where c.province_code = any($1::text[])) s on s.id = r.commune_service_id
    left join dossiers d on d.id = r.dossier_id and d.handling_official_id is not null
    where r.served_at >= $2 and r.served_at < $3 and r.verified
      and (r.quarantine is null or r.quarantine = 'released')
    group by 1, 2
),
g as (
    select c.province_code, cs.commune_code, cs.procedure_code, ps.*
    from per_service ps
    join commune_services cs on cs.id = ps.sid
    join communes c on c.code = cs.commune_code
),
reference as (
    select province_code, procedure_code, sum(satisfied)::float8 / nullif(sum(n), 0) as rate from g group by 1, 2
)
select g.commune_code, case when grouping(g.official_id) = 0 then g.official_id end as official_id,
       sum(n)::int as n, sum(satisfied)::int as satisfied, sum(score_sum) as score_sum, sum(score_sq) as score_sq,
       array[sum(n1), sum(n2), sum(n3), sum(n4), sum(n5)]::int[] as dim_n,
       array[sum(s1), sum(s2), sum(s3), sum(s4), sum(s5)]::float8[] as dim_sum,
       array[sum(q1), sum(q2), sum(q3), sum(q4), sum(q5)]::float8[] as dim_sq,
       sum(n * r.rate) as expected_hits, sum(n) filter (where r.rate is not null)::int as expected_base
from g left join reference r on r.province_code = g.province_code and r.procedure_code = g.procedure_code
group by grouping sets ((g.commune_code, g.official_id), (g.commune_code))
"""

# Forwarded feedback items whose deadline falls in the period, per (commune, official or 0).
FEEDBACK_FACTS_SQL = """
select fw.commune_code, coalesce(fw.official_id, 0) as official_id,
       count(*) filter (where fw.status = 'answered' and fw.answered_at <= dl.deadline)::int as on_time,
       count(*) filter (where (fw.status = 'answered' and fw.answered_at > dl.deadline)
                           or (fw.status in ('open', 'sent_back') and $4 > dl.deadline))::int as late
from feedback_forwards fw
cross join lateral (select coalesce(fw.extended_due_at, fw.due_at) as deadline) dl
join communes c on c.code = fw.commune_code
join feedback f on f.id = fw.feedback_id
where c.province_code = any($1::text[]) and dl.deadline >= $2 and dl.deadline < $3
  and fw.status <> 'withdrawn' and not f.protected
group by 1, 2
"""

# Everyone who held a service of the province during the period gets a scorecard, even an empty one.
SUBJECTS_SQL = """
select distinct o.id, o.commune_code, c.province_code
from officials o
join communes c on c.code = o.commune_code
where c.province_code = any($1::text[])
  and (o.id = any($4::bigint[])
       or exists (select 1 from assignments a where a.official_id = o.id and a.valid && tstzrange($2, $3, '[)')))
"""

COMMUNES_SQL = """
select c.code, c.province_code from communes c
where c.province_code = any($1::text[])
"""

# Communes that get a scorecard: those offering services, or with facts.
SCORED_COMMUNES_SQL = """
select c.code from communes c
where c.province_code = any($1::text[])
  and (c.code = any($2::text[]) or exists (select 1 from commune_services cs where cs.commune_code = c.code))
"""


@dataclass
class Sums:
    completed: int = 0
    processed: int = 0
    credit_sum: float = 0.0
    credit_sq: float = 0.0
    taken_sum: float = 0.0
    statutory_sum: float = 0.0
    on_time: int = 0
    late: int = 0
    received: int = 0
    online: int = 0
    channel_known: int = 0
    ratings: int = 0
    satisfied: int = 0
    score_sum: float = 0.0
    score_sq: float = 0.0
    dim_n: list[int] = field(default_factory=lambda: [0] * 5)
    dim_sum: list[float] = field(default_factory=lambda: [0.0] * 5)
    dim_sq: list[float] = field(default_factory=lambda: [0.0] * 5)
    feedback_on_time: int = 0
    feedback_late: int = 0
    on_time_expected_hits: float = 0.0
    on_time_expected_base: int = 0
    satisfied_expected_hits: float = 0.0
    satisfied_expected_base: int = 0

    def add_dossiers(self, row: Any) -> None:
        self.completed += row["completed"]
        self.processed += row["processed"]
        self.credit_sum += row["credit_sum"]
        self.credit_sq += row["credit_sq"]
        self.taken_sum += row["taken_sum"]
        self.statutory_sum += row["statutory_sum"]
        self.on_time += row["on_time"]
        self.late += row["late"]
        self.received += row["received"]
        self.online += row["online"]
        self.channel_known += row["channel_known"]
        self.on_time_expected_hits += row["expected_hits"] or 0.0
        self.on_time_expected_base += row["expected_base"] or 0

    def add_ratings(self, row: Any) -> None:
        self.ratings += row["n"]
        self.satisfied += row["satisfied"]
        self.score_sum += row["score_sum"]
        self.score_sq += row["score_sq"]
        for i in range(5):
            self.dim_n[i] += row["dim_n"][i]
            self.dim_sum[i] += row["dim_sum"][i]
            self.dim_sq[i] += row["dim_sq"][i]
        self.satisfied_expected_hits += row["expected_hits"] or 0.0
        self.satisfied_expected_base += row["expected_base"] or 0

    def add_feedback(self, row: Any) -> None:
        self.feedback_on_time += row["on_time"]
        self.feedback_late += row["late"]


@dataclass
class Computed:
    subject_kind: str
    official_id: int | None
    commune_code: str
    figures: Figures


def _estimate(n: int, total: float, total_sq: float, low: float, high: float) -> Estimate:
    if n <= 0:
        return Estimate(sample_size=0)
    interval = rules.mean_interval(n, total, total_sq, low, high)
    if interval is None:
        return Estimate(sample_size=n, value=total / n)
    return Estimate(sample_size=n, value=total / n, ci_low=interval[0], ci_high=interval[1])


def _component(c: rules.Component, weights: dict[str, float]) -> Component:
    return Component(
        status=c.status,
        sample_size=c.sample_size,
        weight=weights.get(c.name, 0.0),
        score=c.score,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
    )


def _ratio(hits: float, base: int) -> float | None:
    """rules.expected_rate from the sums SQL gives (Σ n_j · p_j, Σ n_j)."""
    return hits / base if base else None


def build_figures(sums: Sums, settings: Settings, *, commune: bool) -> Figures:
    """The figures of one subject from its sums (pure)."""
    weight_list = settings.scorecard_commune_weights if commune else settings.scorecard_weights
    weights = dict(weight_list)
    parts = [
        rules.progress_component(sums.on_time, sums.late, settings.scorecard_min_dossiers),
        rules.processing_component(sums.processed, sums.credit_sum, sums.credit_sq, settings.scorecard_min_dossiers),
        rules.rate_component("satisfaction", sums.satisfied, sums.ratings, settings.scorecard_min_ratings),
        rules.rate_component(
            "feedback",
            sums.feedback_on_time,
            sums.feedback_on_time + sums.feedback_late,
            settings.scorecard_min_feedback,
        ),
    ]
    online = None
    if commune:
        online_part = rules.rate_component("online", sums.online, sums.channel_known, settings.scorecard_min_dossiers)
        parts.append(online_part)
        online = _component(online_part, weights)
    total = rules.composite(parts, weight_list, settings.scorecard_min_weight_share / 100)
    decided = sums.on_time + sums.late
    dims = {
        name: _estimate(sums.dim_n[i], sums.dim_sum[i], sums.dim_sq[i], 1.0, 5.0) for i, name in enumerate(DIMENSIONS)
    }
    return Figures(
        dossiers_completed=sums.completed,
        dossiers_due=decided,
        dossiers_on_time=sums.on_time,
        dossiers_late=sums.late,
        progress=_component(parts[0], weights),
        processing=_component(parts[1], weights),
        processing_mean_working_days=sums.taken_sum / sums.processed if sums.processed else None,
        statutory_mean_working_days=sums.statutory_sum / sums.processed if sums.processed else None,
        satisfaction=_component(parts[2], weights),
        mean_score=_estimate(sums.ratings, sums.score_sum, sums.score_sq, 1.0, 5.0),
        dimensions=DimensionEstimates(**dims),
        feedback=_component(parts[3], weights),
        feedback_answered_on_time=sums.feedback_on_time,
        feedback_late=sums.feedback_late,
        online=online,
        dossiers_received=sums.received if commune else None,
        on_time_fair=FairComparison(
            observed=sums.on_time / decided if decided else None,
            expected=_ratio(sums.on_time_expected_hits, sums.on_time_expected_base),
        ),
        satisfaction_fair=FairComparison(
            observed=sums.satisfied / sums.ratings if sums.ratings else None,
            expected=_ratio(sums.satisfied_expected_hits, sums.satisfied_expected_base),
        ),
        composite=CompositeScore(
            status=total.status,
            weight_share=total.weight_share,
            score=total.score,
            ci_low=total.ci_low,
            ci_high=total.ci_high,
            band=total.band,
        ),
    )


def with_ranks(items: list[Computed]) -> None:
    """Rank ranges among the items whose composite has a score (in place)."""
    scored = [
        (str(i), c.figures.composite.ci_low or 0.0, c.figures.composite.ci_high or 0.0)
        for i, c in enumerate(items)
        if c.figures.composite.score is not None
    ]
    ranks = rules.rank_intervals(scored)
    for key, (best, worst) in ranks.items():
        item = items[int(key)]
        item.figures = msgspec.structs.replace(item.figures, rank=RankRange(best=best, worst=worst, of=len(scored)))


async def compute_provinces(
    conn: Any,
    settings: Settings,
    provinces: list[str],
    period: rules.Period,
    now: datetime,
    *,
    pool: Any | None = None,
) -> dict[str, list[Computed]]:
    """Every official's and commune's figures of these provinces for the period, by province.
    One pass over the raw rows for all of them (the national computation is one call). With a
    pool, the dossier, rating and feedback sums run at once on connections of their own."""
    start, end = period.start_utc, period.end_utc
    cal_from = period.start - CALENDAR_BACK
    cumulative = rules.working_day_index(cal_from, period.end)
    queries = (
        (DOSSIER_FACTS_SQL, (provinces, start, end, now, cumulative, cal_from)),
        (RATING_FACTS_SQL, (provinces, start, end)),
        (FEEDBACK_FACTS_SQL, (provinces, start, end, now)),
    )

    async def fetch_sums(one: Any, sql: str, args: tuple[Any, ...]) -> list[Any]:
        async with one.transaction():
            # Sorts and hash aggregates over a nation's month stay in memory.
            await one.execute("set local work_mem = '256MB'")
            return list(await one.fetch(sql, *args))

    async def pooled(sql: str, args: tuple[Any, ...]) -> list[Any]:
        assert pool is not None
        async with pool.acquire() as one:
            return await fetch_sums(one, sql, args)

    if pool is not None:
        dossier_rows, rating_rows, feedback_rows = await asyncio.gather(*(pooled(q, a) for q, a in queries))
    else:
        dossier_rows, rating_rows, feedback_rows = [await fetch_sums(conn, q, a) for q, a in queries]
    province_of = {r["code"]: r["province_code"] for r in await conn.fetch(COMMUNES_SQL, provinces)}

    # Rows with official_id null are a commune's totals (grouping sets); 0 is "nobody assigned".
    officials: dict[int, Sums] = defaultdict(Sums)
    communes: dict[str, Sums] = defaultdict(Sums)
    for row in dossier_rows:
        if row["official_id"] is None:
            communes[row["commune_code"]].add_dossiers(row)
        elif row["official_id"]:
            officials[row["official_id"]].add_dossiers(row)
    for row in rating_rows:
        if row["official_id"] is None:
            communes[row["commune_code"]].add_ratings(row)
        elif row["official_id"]:
            officials[row["official_id"]].add_ratings(row)
    for row in feedback_rows:
        communes[row["commune_code"]].add_feedback(row)
        if row["official_id"]:
            officials[row["official_id"]].add_feedback(row)

    subjects = await conn.fetch(SUBJECTS_SQL, provinces, start, end, list(officials))
    scored = await conn.fetch(SCORED_COMMUNES_SQL, provinces, list(communes))
    by_commune: dict[str, list[Computed]] = defaultdict(list)
    for row in subjects:
        sums = officials.get(row["id"]) or Sums()
        figures = build_figures(sums, settings, commune=False)
        by_commune[row["commune_code"]].append(Computed("official", row["id"], row["commune_code"], figures))
    result: dict[str, list[Computed]] = {province: [] for province in provinces}
    for code, group in by_commune.items():
        with_ranks(group)
        result[province_of[code]].extend(group)
    commune_cards: dict[str, list[Computed]] = defaultdict(list)
    for row in scored:
        code = row["code"]
        province = province_of[code]
        figures = build_figures(communes.get(code) or Sums(), settings, commune=True)
        commune_cards[province].append(Computed("commune", None, code, figures))
    for province, cards in commune_cards.items():
        with_ranks(cards)
        result[province].extend(cards)
    return result


# ---------------------------------------------------------------- storing, freezing, amending


PERIOD_STATE_SQL = """
select computed_at, frozen_at from scorecard_periods
where province_code = $1 and period_kind = $2 and period_start = $3
"""

STORED_SQL = """
select id, subject_kind, coalesce(official_id, 0) as official_id, commune_code,
       case when $4 then figures end as figures, frozen_at
from scorecards
where province_code = $1 and period_kind = $2 and period_start = $3
"""

UPSERT_SQL = """
insert into scorecards as s (period_kind, period_start, subject_kind, official_id, commune_code, province_code,
                             composite, band, figures, computed_at, frozen_at)
select $1, $2, t.kind, nullif(t.official_id, 0), t.commune_code, $3, t.composite, t.band, t.figures, $4, $5
from unnest($6::text[], $7::bigint[], $8::text[], $9::float8[], $10::text[], $11::jsonb[])
     as t(kind, official_id, commune_code, composite, band, figures)
on conflict (period_kind, period_start, subject_kind, commune_code, coalesce(official_id, 0)) do update
set composite = excluded.composite, band = excluded.band, figures = excluded.figures,
    computed_at = excluded.computed_at, frozen_at = coalesce(s.frozen_at, excluded.frozen_at),
    amended_at = case when s.frozen_at is not null then excluded.computed_at else s.amended_at end
-- Unchanged rows are not rewritten (a recomputation mostly confirms what is stored).
where s.figures is distinct from excluded.figures or (s.frozen_at is null and excluded.frozen_at is not null)
returning id, subject_kind, coalesce(official_id, 0) as official_id, commune_code
"""

AMEND_SQL = """
insert into scorecard_amendments (scorecard_id, amended_at, reason, changes, previous)
select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::jsonb[], $5::jsonb[])
"""

PERIOD_UPSERT_SQL = """
insert into scorecard_periods (province_code, period_kind, period_start, computed_at, frozen_at)
values ($1, $2, $3, $4, $5)
on conflict (province_code, period_kind, period_start) do update
set computed_at = excluded.computed_at, frozen_at = coalesce(scorecard_periods.frozen_at, excluded.frozen_at)
"""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values of a figures document by dotted path."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(b, float) and isinstance(a, int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Changed figures: path → [before, after]."""
    old, new = flatten(before), flatten(after)
    return {key: [old.get(key), new.get(key)] for key in sorted(old.keys() | new.keys())
            if not _same(old.get(key), new.get(key))}  # fmt: skip


_SOURCES = (
    (
        ("dossiers_", "progress", "processing", "on_time_fair", "online"),
        "hồ sơ cập nhật muộn",
        "late dossier events",
    ),
    (
        ("satisfaction", "mean_score", "dimensions"),
        "đánh giá được xác thực, gắn lại hoặc xét duyệt sau khi chốt",
        "ratings verified, re-linked or reviewed after the freeze",
    ),
    (
        ("feedback",),
        "phản ánh được trả lời hoặc gia hạn sau khi chốt",
        "feedback answered or extended after the freeze",
    ),
    (("rank",), "thứ hạng thay đổi theo số liệu của đơn vị khác", "rank moved with other units' figures"),
)


def amendment_reason(changes: Iterable[str]) -> str:
    """Why a frozen scorecard changed, from which figures changed (Vietnamese, then English)."""
    keys = list(changes)
    vi, en = [], []
    for prefixes, reason_vi, reason_en in _SOURCES:
        if any(key.startswith(prefixes) for key in keys):
            vi.append(reason_vi)
            en.append(reason_en)
    if not vi:
        vi, en = ["tính lại điểm tổng hợp"], ["composite recomputed"]
    return f"Điều chỉnh sau khi chốt kỳ: {'; '.join(vi)}. / Amended after the period was frozen: {'; '.join(en)}."


@dataclass(frozen=True)
class RefreshOutcome:
    computed: bool
    frozen: bool
    amended: int


async def _lock(conn: Any, province_code: str, period: rules.Period) -> None:
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended($1, 0))",
        f"scorecards:{province_code}:{period.kind}:{period.start.isoformat()}",
    )


async def refresh_period(
    conn: Any,
    settings: Settings,
    province_code: str,
    period: rules.Period,
    now: datetime,
    *,
    recheck: bool = False,
    computed: list[Computed] | None = None,
) -> RefreshOutcome:
    """Compute (unless `computed` is given) and store a province's scorecards for the period.
    An open period is simply replaced; from its freeze time on it is frozen; a frozen period
    is recomputed only by the recheck (recheck=True), and every difference is recorded as an
    amendment before it shows. Runs in the caller's transaction; serialised per (province,
    period) by an advisory lock."""
    if period.start_utc > now:
        raise AppError("period_not_started")
    await _lock(conn, province_code, period)
    return await _refresh_locked(conn, settings, province_code, period, now, recheck=recheck, computed=computed)


async def _refresh_locked(
    conn: Any,
    settings: Settings,
    province_code: str,
    period: rules.Period,
    now: datetime,
    *,
    recheck: bool,
    computed: list[Computed] | None = None,
) -> RefreshOutcome:
    state = await conn.fetchrow(PERIOD_STATE_SQL, province_code, period.kind, period.start)
    was_frozen = state is not None and state["frozen_at"] is not None
    if was_frozen and not recheck:
        return RefreshOutcome(False, True, 0)
    if computed is None:
        computed = (await compute_provinces(conn, settings, [province_code], period, now))[province_code]
    else:
        computed = list(computed)
    stored = {
        (row["subject_kind"], row["official_id"], row["commune_code"]): row
        for row in await conn.fetch(STORED_SQL, province_code, period.kind, period.start, was_frozen)
    }
    keys = {(c.subject_kind, c.official_id or 0, c.commune_code) for c in computed}
    # A stored subject the data no longer names (its facts re-linked away) keeps a row, emptied.
    for kind, official_id, commune_code in stored.keys() - keys:
        empty = build_figures(Sums(), settings, commune=kind == "commune")
        computed.append(Computed(kind, official_id or None, commune_code, empty))

    documents = [msgspec.to_builtins(c.figures) for c in computed]
    amendments: list[tuple[int, dict[str, Any], dict[str, Any]]] = []  # (id, changes, previous)
    pairs: list[tuple[Computed, dict[str, Any]]] = []
    fresh_in_frozen: set[tuple[str, int, str]] = set()
    for item, document in zip(computed, documents, strict=True):
        key = (item.subject_kind, item.official_id or 0, item.commune_code)
        old = stored.get(key)
        if not was_frozen:
            pairs.append((item, document))
        elif old is None:
            # A subject first named after the freeze (a dossier re-linked to them): an amendment too.
            pairs.append((item, document))
            fresh_in_frozen.add(key)
        elif changes := differences(old["figures"], document):
            pairs.append((item, document))
            amendments.append((old["id"], changes, old["figures"]))
    frozen_at = state["frozen_at"] if was_frozen else (
        now if now >= rules.freezes_at(period, settings.scorecard_freeze_days) else None
    )  # fmt: skip
    if pairs:
        rows = await conn.fetch(
            UPSERT_SQL,
            period.kind,
            period.start,
            province_code,
            now,
            frozen_at,
            [c.subject_kind for c, _ in pairs],
            [c.official_id or 0 for c, _ in pairs],
            [c.commune_code for c, _ in pairs],
            [c.figures.composite.score for c, _ in pairs],
            [c.figures.composite.band for c, _ in pairs],
            [d for _, d in pairs],
        )
        documents_by_key = {(c.subject_kind, c.official_id or 0, c.commune_code): d for c, d in pairs}
        for row in rows:
            key = (row["subject_kind"], row["official_id"], row["commune_code"])
            if key in fresh_in_frozen:
                amendments.append((row["id"], differences({}, documents_by_key[key]), {}))
    if amendments:
        await conn.execute(
            AMEND_SQL,
            [a[0] for a in amendments],
            [now] * len(amendments),
            [amendment_reason(a[1]) for a in amendments],
            [a[1] for a in amendments],
            [a[2] for a in amendments],
        )
    await conn.execute(PERIOD_UPSERT_SQL, province_code, period.kind, period.start, now, frozen_at)
    return RefreshOutcome(True, frozen_at is not None, len(amendments))


async def ensure_fresh(conn: Any, settings: Settings, province_code: str, period: rules.Period) -> None:
    """Before a read: recompute an open period whose figures are older than SCORECARD_REFRESH,
    or that has reached its freeze time. A frozen period is read as stored."""
    now = datetime.now(UTC)
    if period.start_utc > now:
        raise AppError("period_not_started")

    def stale(state: Any) -> bool:
        if state is None:
            return True
        if state["frozen_at"] is not None:
            return False
        if now >= rules.freezes_at(period, settings.scorecard_freeze_days):
            return True
        return (now - state["computed_at"]).total_seconds() >= settings.scorecard_refresh

    if not stale(await conn.fetchrow(PERIOD_STATE_SQL, province_code, period.kind, period.start)):
        return
    await _lock(conn, province_code, period)
    # Another reader may have computed it while we waited for the lock.
    state = await conn.fetchrow(PERIOD_STATE_SQL, province_code, period.kind, period.start)
    if state is not None and state["computed_at"] >= now:
        return
    if stale(state):
        await _refresh_locked(conn, settings, province_code, period, now, recheck=False)


def recheck_periods(today: date, lookback_months: int = 3) -> list[rules.Period]:
    """The periods the daily recheck revisits: the last few months and quarters."""
    periods: dict[str, rules.Period] = {}
    day = today
    for _ in range(lookback_months + 1):
        month, quarter = rules.periods_containing(day)
        periods[month.label] = month
        periods[quarter.label] = quarter
        day = month.start - timedelta(days=1)
    return list(periods.values())
