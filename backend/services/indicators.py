"""Indicator reads: one statement over the rollups per request, never over raw ratings.

Commune, province and national scopes read the daily per-commune rollups; a service or an
official reads the hourly rollups of that service or official. Feedback backlog and
overdue are current states, counted from the open feedback items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from backend.auth import StaffPrincipal
from backend.errors import AppError, Text
from backend.indicators import Sums, indicator_values
from backend.scope import in_province_scope, in_scope
from backend.windows import DayOutOfRange, Window, check_day, local_day, window_for
from backend.workdays import LOCAL_TZ
from schemas.indicators import (
    BreakdownRow,
    IndicatorBreakdown,
    IndicatorReport,
    IndicatorScope,
    IndicatorSeries,
    IndicatorValues,
    IndicatorWindow,
    Measure,
    SeriesPoint,
)

# Everyone who watches a commune as a whole. A commune official sees the services they
# answer for and their own figures, not their colleagues'.
WIDE_READERS = frozenset({"commune_chair", "front_staff", "front_supervisor", "province_admin", "system_admin"})
# Who counts every open item, reports of wrongdoing and items not yet forwarded included:
# the Front and the province. A commune's chair and officials may be the official concerned
# (or answer to them): their figures hold only what has been forwarded and is not protected,
# so a report about them moves no number they can read (issue 10, point 5).
FULL_FEEDBACK_READERS = frozenset({"front_staff", "front_supervisor", "province_admin", "system_admin"})
SERIES_MAX_DAYS = 366
OPEN_FEEDBACK = "status in ('received', 'triaged', 'forwarded')"
AUTHORITY_FEEDBACK = "status = 'forwarded' and not protected"
OVERDUE_FEEDBACK = "status = 'forwarded' and response_due_at < now()"


@dataclass(frozen=True)
class Scope:
    kind: str
    key: Any = None
    commune_code: str | None = None
    province_code: str | None = None
    name: str | None = None
    full_view: bool = False
    """The caller counts protected and not yet forwarded feedback (FULL_FEEDBACK_READERS)."""

    def describe(self) -> IndicatorScope:
        return IndicatorScope(
            kind=self.kind,  # type: ignore[arg-type]
            province_code=self.province_code,
            commune_code=self.commune_code,
            commune_service_id=self.key if self.kind == "service" else None,
            official_id=self.key if self.kind == "official" else None,
            name=self.name,
        )


NATION_ACCESS_SQL = """
select exists (select 1 from user_roles where user_id = $1 and role = any($2::text[]) and scope_kind = 'national')
           as allowed,
       exists (select 1 from user_roles where user_id = $1 and role = any($3::text[]) and scope_kind = 'national')
           as full_view
"""
PROVINCE_ACCESS_SQL = f"""
select p.code, p.full_name as name,
       {in_province_scope(user="$2", roles="$3", province="p.code")} as allowed,
       {in_province_scope(user="$2", roles="$4", province="p.code")} as full_view
from provinces p where p.code = $1
"""
COMMUNE_ACCESS_SQL = f"""
select c.code, c.province_code, c.full_name as name,
       {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")} as allowed,
       {in_scope(user="$2", roles="$4", commune="c.code", province="c.province_code")} as full_view
from communes c where c.code = $1
"""
SERVICE_ACCESS_SQL = f"""
select cs.id, cs.commune_code, c.province_code, p.name_vi || ' — ' || c.full_name as name,
       {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")}
       or exists (select 1 from assignments a join officials o on o.id = a.official_id
                  where a.commune_service_id = cs.id and o.user_id = $2 and a.valid @> now()) as allowed,
       {in_scope(user="$2", roles="$4", commune="c.code", province="c.province_code")} as full_view
from commune_services cs
join communes c on c.code = cs.commune_code
join procedures p on p.code = cs.procedure_code
where cs.id = $1
"""
OFFICIAL_ACCESS_SQL = f"""
select o.id, o.commune_code, c.province_code, o.full_name as name,
       {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")}
       or o.user_id = $2 as allowed,
       {in_scope(user="$2", roles="$4", commune="c.code", province="c.province_code")} as full_view
from officials o join communes c on c.code = o.commune_code
where o.id = $1
"""


async def resolve_scope(
    conn: Any,
    staff: StaffPrincipal,
    *,
    province: str | None = None,
    commune: str | None = None,
    service: int | None = None,
    official: int | None = None,
) -> Scope:
    """The narrowest scope named, checked against the caller's roles in the query itself:
    404 when it does not exist, 403 when it is outside the caller's scope."""
    roles, full = list(WIDE_READERS), list(FULL_FEEDBACK_READERS)
    if official is not None:
        row = await conn.fetchrow(OFFICIAL_ACCESS_SQL, official, staff.user_id, roles, full)
        scope = None if row is None else Scope("official", row["id"], row["commune_code"], row["province_code"])
        missing = "official_not_found"
    elif service is not None:
        row = await conn.fetchrow(SERVICE_ACCESS_SQL, service, staff.user_id, roles, full)
        scope = None if row is None else Scope("service", row["id"], row["commune_code"], row["province_code"])
        missing = "commune_service_not_found"
    elif commune is not None:
        row = await conn.fetchrow(COMMUNE_ACCESS_SQL, commune, staff.user_id, roles, full)
        scope = None if row is None else Scope("commune", row["code"], row["code"], row["province_code"])
        missing = "commune_not_found"
    elif province is not None:
        row = await conn.fetchrow(PROVINCE_ACCESS_SQL, province, staff.user_id, roles, full)
        scope = None if row is None else Scope("province", row["code"], province_code=row["code"])
        missing = "province_not_found"
    else:
        row = await conn.fetchrow(NATION_ACCESS_SQL, staff.user_id, roles, full)
        if not row["allowed"]:
            raise AppError("out_of_scope")
        return Scope("nation", name="Việt Nam", full_view=row["full_view"])
    if row is None or scope is None:
        raise AppError(missing)
    if not row["allowed"]:
        raise AppError("out_of_scope")
    return Scope(scope.kind, scope.key, scope.commune_code, scope.province_code, row["name"], row["full_view"])


def _rating_sums(t: str = "") -> str:
    """Sums of a rating rollup table (alias prefix `t`), one value per column."""
    p = f"{t}." if t else ""
    score = ", ".join(f"coalesce(sum({p}score_counts[{i}]), 0)" for i in range(1, 6))
    dim_sums = ", ".join(f"coalesce(sum({p}dim_sums[{i}]), 0)" for i in range(1, 6))
    dim_counts = ", ".join(f"coalesce(sum({p}dim_counts[{i}]), 0)" for i in range(1, 6))
    return f"""coalesce(sum({p}ratings), 0)::int as ratings, coalesce(sum({p}satisfied), 0)::int as satisfied,
       coalesce(sum({p}verified), 0)::int as verified, coalesce(sum({p}score_sum), 0)::int as score_sum,
       array[{score}]::int[] as score_counts, array[{dim_sums}]::int[] as dim_sums,
       array[{dim_counts}]::int[] as dim_counts"""


DOSSIER_SUMS = """coalesce(sum(completed_on_time), 0)::int as on_time, coalesce(sum(completed_late), 0)::int as late"""
FEEDBACK_COUNTS = f"""count(*)::int as backlog, count(*) filter (where {OVERDUE_FEEDBACK})::int as overdue"""

# Per scope kind: (rating rollups, dossier rollups, processing histogram, feedback) with
# their filters. Daily tables take days ($1, $2), hourly ones instants.
_DAILY = "day between $1 and $2"
_HOURLY = "hour >= $1 and hour < $2"
SOURCES: dict[str, tuple[str, str, str, str]] = {
    "nation": (
        f"commune_rollups_daily where {_DAILY}",
        f"commune_rollups_daily where {_DAILY}",
        f"commune_processing_daily where {_DAILY}",
        f"feedback where {OPEN_FEEDBACK}",
    ),
    "province": (
        f"commune_rollups_daily where {_DAILY} and province_code = $3",
        f"commune_rollups_daily where {_DAILY} and province_code = $3",
        f"commune_processing_daily where {_DAILY} and province_code = $3",
        f"feedback where {OPEN_FEEDBACK} and commune_code in (select code from communes where province_code = $3)",
    ),
    "commune": (
        f"commune_rollups_daily where {_DAILY} and commune_code = $3",
        f"commune_rollups_daily where {_DAILY} and commune_code = $3",
        f"commune_processing_daily where {_DAILY} and commune_code = $3",
        f"feedback where {OPEN_FEEDBACK} and commune_code = $3",
    ),
    "service": (
        f"rating_rollups_hourly where {_HOURLY} and commune_service_id = $3",
        f"dossier_rollups_hourly where {_HOURLY} and commune_service_id = $3",
        f"dossier_processing_hourly where {_HOURLY} and commune_service_id = $3",
        f"feedback where {OPEN_FEEDBACK} and commune_service_id = $3",
    ),
    # Dossiers are not tied to officials: an official's scope has ratings and feedback only.
    "official": (
        f"rating_rollups_hourly where {_HOURLY} and official_id = $3",
        "dossier_rollups_hourly where false and $1::timestamptz is not null and $2::timestamptz is not null",
        "dossier_processing_hourly where false",
        f"feedback where {OPEN_FEEDBACK} and official_id = $3",
    ),
}


# The Front's answers, per commune and local day: none for a service or an official.
ANSWER_SOURCES: dict[str, tuple[str, str]] = {
    "nation": (f"feedback_rollups_daily where {_DAILY}", f"feedback_answer_time_daily where {_DAILY}"),
    "province": (
        f"feedback_rollups_daily where {_DAILY} and province_code = $3",
        f"feedback_answer_time_daily where {_DAILY} and province_code = $3",
    ),
    "commune": (
        f"feedback_rollups_daily where {_DAILY} and commune_code = $3",
        f"feedback_answer_time_daily where {_DAILY} and commune_code = $3",
    ),
    "service": ("feedback_rollups_daily where false", "feedback_answer_time_daily where false"),
    "official": ("feedback_rollups_daily where false", "feedback_answer_time_daily where false"),
}
ANSWER_SUMS = """coalesce(sum(answered_on_time), 0)::int as answered_on_time,
       coalesce(sum(answered_late), 0)::int as answered_late, coalesce(sum(rated), 0)::int as answers_rated,
       coalesce(sum(rating_satisfied), 0)::int as answers_satisfied"""


# Ratings held for review (campaign detection), by service time in the window: they count in
# none of the values, and the report says how many there are. The partial index on held
# ratings keeps this small.
_HELD = "ratings where quarantine = 'held' and "
_HELD_DAYS = "(served_at at time zone 'Asia/Ho_Chi_Minh')::date between $1 and $2"
_HELD_HOURS = "served_at >= $1 and served_at < $2"
HELD_SOURCES: dict[str, str] = {
    "nation": _HELD + _HELD_DAYS,
    "province": _HELD + _HELD_DAYS + " and commune_code in (select code from communes where province_code = $3)",
    "commune": _HELD + _HELD_DAYS + " and commune_code = $3",
    "service": _HELD + _HELD_HOURS + " and commune_service_id = $3",
    "official": _HELD + _HELD_HOURS + " and official_id = $3",
}


def _visible(source: str, full_view: bool) -> str:
    """A feedback source as the reader may count it: open items for the Front and the
    province; for everyone else only forwarded, unprotected ones."""
    return source if full_view else source.replace(OPEN_FEEDBACK, AUTHORITY_FEEDBACK)


def _answers_visible(source: str, full_view: bool) -> str:
    """An answer rollup as the reader may count it (protected answers for the Front and the province)."""
    return source if full_view else f"{source} and not protected"


def _sums_sql(kind: str, full_view: bool) -> str:
    ratings, dossiers, processing, feedback = SOURCES[kind]
    feedback = _visible(feedback, full_view)
    answers, answer_times = (_answers_visible(source, full_view) for source in ANSWER_SOURCES[kind])
    return f"""
with r as (select {_rating_sums()} from {ratings}),
     d as (select {DOSSIER_SUMS} from {dossiers}),
     p as (select array_agg(bucket) as buckets, array_agg(n) as counts
           from (select bucket, sum(dossiers)::int as n from {processing} group by bucket) x),
     f as (select {FEEDBACK_COUNTS} from {feedback}),
     a as (select {ANSWER_SUMS} from {answers}),
     t as (select array_agg(bucket) as answer_buckets, array_agg(n) as answer_counts
           from (select bucket, sum(items)::int as n from {answer_times} group by bucket) x),
     q as (select count(*)::int as quarantined from {HELD_SOURCES[kind]})
select * from r, d, p, f, a, t, q
"""


SUMS_SQL = {(kind, full): _sums_sql(kind, full) for kind in SOURCES for full in (False, True)}


def _sums(row: Any) -> Sums:
    return Sums(
        ratings=row["ratings"],
        satisfied=row["satisfied"],
        verified=row["verified"],
        score_sum=row["score_sum"],
        score_counts=list(row["score_counts"]),
        dim_sums=list(row["dim_sums"]),
        dim_counts=list(row["dim_counts"]),
        completed_on_time=row["on_time"] or 0,
        completed_late=row["late"] or 0,
        processing=dict(zip(row["buckets"] or (), row["counts"] or (), strict=True)),
        feedback_backlog=row["backlog"] or 0,
        feedback_overdue=row["overdue"] or 0,
        answered_on_time=row.get("answered_on_time") or 0,
        answered_late=row.get("answered_late") or 0,
        answers_rated=row.get("answers_rated") or 0,
        answers_satisfied=row.get("answers_satisfied") or 0,
        answer_times=dict(zip(row.get("answer_buckets") or (), row.get("answer_counts") or (), strict=True)),
    )


def _bounds(scope: Scope, window: Window) -> tuple[Any, Any]:
    if scope.kind in ("service", "official"):
        return window.starts_at, window.ends_at
    return window.first_day, window.last_day


def _args(scope: Scope, window: Window) -> list[Any]:
    first, last = _bounds(scope, window)
    return [first, last] if scope.kind == "nation" else [first, last, scope.key]


def period_window(spec: str, now: datetime, on: date | None = None) -> Window:
    """window_for, with a day outside the supported years as a 400 problem."""
    try:
        return window_for(spec, now, on)
    except DayOutOfRange:
        raise AppError("invalid_period", OUT_OF_RANGE) from None


OUT_OF_RANGE = Text(
    "Ngày phải trong khoảng 2000-01-01 đến 2099-12-31", "Days must lie between 2000-01-01 and 2099-12-31"
)


def describe_window(window: Window) -> IndicatorWindow:
    return IndicatorWindow(
        spec=window.spec,
        time_zone=LOCAL_TZ.key,
        first_day=window.first_day,
        last_day=window.last_day,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
    )


async def scope_values(conn: Any, scope: Scope, window: Window) -> tuple[IndicatorValues, int]:
    """The values of a scope, and how many of its ratings are held for review."""
    row = await conn.fetchrow(SUMS_SQL[scope.kind, scope.full_view], *_args(scope, window))
    return indicator_values(_sums(row)), row["quarantined"]


async def read_indicators(conn: Any, scope: Scope, spec: str, on: date | None = None) -> IndicatorReport:
    """Every indicator of a scope over a window."""
    now = datetime.now(UTC)
    window = period_window(spec, now, on)
    values, quarantined = await scope_values(conn, scope, window)
    return IndicatorReport(
        scope=scope.describe(),
        window=describe_window(window),
        values=values,
        quarantined=quarantined,
        computed_at=now,
    )


def _series_sql(kind: str) -> str:
    ratings, dossiers, _, _ = SOURCES[kind]
    if kind in ("service", "official"):
        day = "(hour at time zone 'Asia/Ho_Chi_Minh')::date"
        return f"""
select coalesce(r.day, d.day) as day, r.ratings, r.satisfied, r.verified, r.score_counts,
       d.received, d.completed, d.on_time, d.late
from (select {day} as day, {_rating_sums()} from {ratings} group by 1) r
full join (select {day} as day, coalesce(sum(received), 0)::int as received,
                  coalesce(sum(completed), 0)::int as completed, {DOSSIER_SUMS}
           from {dossiers} group by 1) d on d.day = r.day
"""
    return f"""
select day, {_rating_sums()}, coalesce(sum(received), 0)::int as received,
       coalesce(sum(completed), 0)::int as completed, {DOSSIER_SUMS}
from {ratings}
group by day
"""


SERIES_SQL = {kind: _series_sql(kind) for kind in SOURCES}


async def read_series(conn: Any, scope: Scope, first: date | None, last: date | None) -> IndicatorSeries:
    """Daily values from `first` to `last` (local days, by default the last 30), one point a day."""
    today = local_day(datetime.now(UTC))
    try:
        last = check_day(last or today)
        first = check_day(first or last - timedelta(days=29))
    except DayOutOfRange:
        raise AppError("invalid_period", OUT_OF_RANGE) from None
    if first > last or (last - first).days >= SERIES_MAX_DAYS:
        raise AppError(
            "invalid_period",
            Text(
                f"Khoảng thời gian phải từ 1 đến {SERIES_MAX_DAYS} ngày, ngày đầu không sau ngày cuối",
                f"The period must span 1 to {SERIES_MAX_DAYS} days, the first day not after the last",
            ),
        )
    window = Window("series", first, last)
    rows = {row["day"]: row for row in await conn.fetch(SERIES_SQL[scope.kind], *_args(scope, window))}
    points = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        sums = Sums() if row is None else _series_sums(row)
        values = indicator_values(sums)
        points.append(
            SeriesPoint(
                day=day,
                satisfaction_rate=values.satisfaction_rate,
                mean_score=values.mean_score,
                volume=values.volume,
                verified_share=values.verified_share,
                on_time_rate=values.on_time_rate,
                dossiers_received=(row["received"] or 0) if row is not None else 0,
                dossiers_completed=(row["completed"] or 0) if row is not None else 0,
            )
        )
    return IndicatorSeries(
        scope=scope.describe(), time_zone=LOCAL_TZ.key, first_day=first, last_day=last, points=points
    )


def _series_sums(row: Any) -> Sums:
    return Sums(
        ratings=row["ratings"] or 0,
        satisfied=row["satisfied"] or 0,
        verified=row["verified"] or 0,
        score_counts=list(row["score_counts"] or [0] * 5),
        completed_on_time=row["on_time"] or 0,
        completed_late=row["late"] or 0,
    )


BREAKDOWN_BY_SERVICE_SQL = f"""
select cs.id::text as key, p.name_vi as name, cs.id as commune_service_id, p.code as procedure_code,
       cs.commune_code, r.*, d.*, ph.*, f.*
from commune_services cs
join procedures p on p.code = cs.procedure_code
cross join lateral (select {_rating_sums()} from rating_rollups_hourly
                    where commune_service_id = cs.id and {_HOURLY}) r
cross join lateral (select {DOSSIER_SUMS} from dossier_rollups_hourly
                    where commune_service_id = cs.id and {_HOURLY}) d
cross join lateral (select array_agg(bucket) as buckets, array_agg(n) as counts
                    from (select bucket, sum(dossiers)::int as n from dossier_processing_hourly
                          where commune_service_id = cs.id and {_HOURLY} group by bucket) x) ph
cross join lateral (select {FEEDBACK_COUNTS} from feedback
                    where commune_service_id = cs.id and {OPEN_FEEDBACK}) f
where cs.commune_code = $3 and cs.is_active
"""

BREAKDOWN_BY_OFFICIAL_SQL = f"""
select o.id::text as key, o.full_name as name, o.id as official_id, o.commune_code, r.*,
       0 as on_time, 0 as late, null::int[] as buckets, null::int[] as counts, f.*
from officials o
cross join lateral (select {_rating_sums()} from rating_rollups_hourly
                    where official_id = o.id and {_HOURLY}) r
cross join lateral (select {FEEDBACK_COUNTS} from feedback where official_id = o.id and {OPEN_FEEDBACK}) f
where o.commune_code = $3 and (o.is_active or r.ratings > 0)
union all
select '0', 'Chưa phân công', null::bigint, $3::text, r.*, 0, 0, null::int[], null::int[], 0, 0
from (select {_rating_sums()} from rating_rollups_hourly
      where commune_code = $3 and official_id = 0 and {_HOURLY}) r
where r.ratings > 0
"""

BREAKDOWN_BY_COMMUNE_SQL = f"""
select c.code as key, c.full_name as name, c.code as commune_code,
       coalesce(r.ratings, 0) as ratings, coalesce(r.satisfied, 0) as satisfied,
       coalesce(r.verified, 0) as verified, coalesce(r.score_sum, 0) as score_sum,
       coalesce(r.score_counts, '{{0,0,0,0,0}}') as score_counts, coalesce(r.dim_sums, '{{0,0,0,0,0}}') as dim_sums,
       coalesce(r.dim_counts, '{{0,0,0,0,0}}') as dim_counts,
       coalesce(r.on_time, 0) as on_time, coalesce(r.late, 0) as late, ph.buckets, ph.counts,
       coalesce(f.backlog, 0) as backlog, coalesce(f.overdue, 0) as overdue, a.*, t.*
from communes c
left join (select commune_code, {_rating_sums()}, {DOSSIER_SUMS}
           from commune_rollups_daily where province_code = $3 and {_DAILY}
           group by commune_code) r on r.commune_code = c.code
left join (select commune_code, array_agg(bucket) as buckets, array_agg(n) as counts
           from (select commune_code, bucket, sum(dossiers)::int as n from commune_processing_daily
                 where province_code = $3 and {_DAILY} group by 1, 2) x
           group by commune_code) ph on ph.commune_code = c.code
left join (select fb.commune_code, {FEEDBACK_COUNTS} from feedback fb
           join communes fc on fc.code = fb.commune_code
           where fc.province_code = $3 and fb.{OPEN_FEEDBACK}
           group by fb.commune_code) f on f.commune_code = c.code
left join lateral (select {ANSWER_SUMS} from feedback_rollups_daily
                   where commune_code = c.code and {_DAILY} and {{answers}}) a on true
left join lateral (select array_agg(bucket) as answer_buckets, array_agg(n) as answer_counts
                   from (select bucket, sum(items)::int as n from feedback_answer_time_daily
                         where commune_code = c.code and {_DAILY} and {{answers}} group by bucket) x) t on true
where c.province_code = $3
"""

BREAKDOWN_SQL = {
    (by, full): _visible(sql, full).replace("{answers}", "true" if full else "not protected")
    for by, sql in (
        ("service", BREAKDOWN_BY_SERVICE_SQL),
        ("official", BREAKDOWN_BY_OFFICIAL_SQL),
        ("commune", BREAKDOWN_BY_COMMUNE_SQL),
    )
    for full in (False, True)
}

# The ways a breakdown may be sorted, and which way is worse.
HIGHER_IS_WORSE = {
    "processing_median_hours",
    "processing_p90_hours",
    "feedback_backlog",
    "feedback_overdue",
    "feedback_answer_median_hours",
}
SortKey = Literal[
    "feedback_answered_on_time",
    "feedback_answer_median_hours",
    "feedback_answer_satisfaction",
    "satisfaction_rate",
    "mean_score",
    "on_time_rate",
    "verified_share",
    "volume",
    "processing_median_hours",
    "processing_p90_hours",
    "feedback_backlog",
    "feedback_overdue",
]


def sort_key(values: IndicatorValues, sort: str, worst_first: bool) -> tuple[int, float]:
    """Worst first ranks by the most favourable end of the interval: a service is listed
    above another only when even its best case is worse, so one bad rating does not top
    the list. Rows with nothing to measure go last either way."""
    value = getattr(values, sort)
    if isinstance(value, int):
        point: float | None = float(value)
        bound = point
    else:
        assert isinstance(value, Measure)
        point = value.value
        if sort in HIGHER_IS_WORSE:
            bound = value.ci_low if value.ci_low is not None else point
        else:
            bound = value.ci_high if value.ci_high is not None else point
    if point is None or bound is None:
        return (1, 0.0)
    higher_worse = sort in HIGHER_IS_WORSE
    ranked = bound if worst_first else point
    descending = higher_worse == worst_first
    return (0, -ranked if descending else ranked)


async def read_breakdown(
    conn: Any, scope: Scope, by: str, spec: str, on: date | None, sort: str, worst_first: bool
) -> IndicatorBreakdown:
    """Indicators per service or official inside a commune, or per commune inside a province."""
    expected = {"service": "commune", "official": "commune", "commune": "province"}[by]
    if scope.kind != expected:
        raise AppError(
            "invalid_breakdown",
            Text(
                "Phân tích theo dịch vụ hoặc cán bộ cần một xã/phường; theo xã/phường cần một tỉnh/thành phố",
                "A breakdown by service or official needs a commune; by commune, a province",
            ),
        )
    now = datetime.now(UTC)
    window = period_window(spec, now, on)
    sql = BREAKDOWN_SQL[by, scope.full_view]
    if by == "commune":
        args: list[Any] = [window.first_day, window.last_day, scope.key]
    else:
        args = [window.starts_at, window.ends_at, scope.key]
    rows = []
    for row in await conn.fetch(sql, *args):
        rows.append(
            BreakdownRow(
                key=row["key"],
                name=row["name"],
                commune_service_id=row.get("commune_service_id"),
                official_id=row.get("official_id"),
                commune_code=row["commune_code"],
                procedure_code=row.get("procedure_code"),
                values=indicator_values(_sums(row)),
            )
        )
    rows.sort(key=lambda r: (*sort_key(r.values, sort, worst_first), r.key))
    return IndicatorBreakdown(scope=scope.describe(), window=describe_window(window), by=by, sort=sort, rows=rows)  # type: ignore[arg-type]
