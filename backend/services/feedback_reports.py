"""The Front's monthly report per commune or province: counts by category and status,
on-time answers, time to answer and citizens' satisfaction with the answers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from backend.auth import StaffPrincipal
from backend.errors import AppError, Text
from backend.indicators import rate
from backend.scope import in_province_scope, in_scope
from backend.services.indicators import period_window
from backend.windows import local_midnight
from backend.workdays import LOCAL_TZ
from schemas.feedback_reports import FEEDBACK_STATUSES, CategoryReport, MonthlyReport
from schemas.indicators import Measure

REPORT_READERS = frozenset({"front_staff", "front_supervisor", "system_admin"})
CATEGORIES = ("suggestion", "complaint", "wrongdoing_report", "question", "praise")

COMMUNE_SCOPE_SQL = f"""
select c.code, c.full_name as name,
       {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")} as allowed
from communes c where c.code = $1
"""
PROVINCE_SCOPE_SQL = f"""
select p.code, p.full_name as name, {in_province_scope(user="$2", roles="$3", province="p.code")} as allowed
from provinces p where p.code = $1
"""

_STATUS_COUNTS = ",\n       ".join(
    f"count(*) filter (where f.created_at >= $2 and f.created_at < $3 and f.status = '{s}')::int as s_{s}"
    for s in FEEDBACK_STATUSES
)
_ANSWERED = "f.answered_at >= $2 and f.answered_at < $3 and f.status <> 'merged'"

# Items of the scope submitted or answered in the month, per category and in total.
REPORT_SQL = f"""
select coalesce(f.category, 'all') as category,
       count(*) filter (where f.created_at >= $2 and f.created_at < $3)::int as received,
       {_STATUS_COUNTS},
       count(*) filter (where {_ANSWERED})::int as answered,
       count(*) filter (where {_ANSWERED} and f.answered_at <= f.response_due_at)::int as on_time,
       count(*) filter (where {_ANSWERED} and f.response_due_at is not null)::int as with_due,
       percentile_cont(0.5) within group (order by extract(epoch from f.answered_at - f.created_at) / 3600)
           filter (where {_ANSWERED}) as median_hours,
       count(*) filter (where {_ANSWERED} and f.answer_rating is not null)::int as rated,
       count(*) filter (where {_ANSWERED} and f.answer_rating >= 4)::int as satisfied,
       avg(f.answer_rating) filter (where {_ANSWERED})::float8 as mean_rating
from feedback f
where {{scope}}
  and ((f.created_at >= $2 and f.created_at < $3) or (f.answered_at >= $2 and f.answered_at < $3))
group by rollup (f.category)
"""
COMMUNE_REPORT_SQL = REPORT_SQL.format(scope="f.commune_code = $1")
PROVINCE_REPORT_SQL = REPORT_SQL.format(scope="f.commune_code in (select code from communes where province_code = $1)")


def month_bounds(month: str) -> tuple[date, date]:
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise AppError(
            "invalid_period", Text("Tháng phải có dạng YYYY-MM", "The month must look like YYYY-MM")
        ) from None
    window = period_window("month", datetime.now(UTC), first)
    return window.first_day, window.last_day


def _category(row: Any) -> CategoryReport:
    rated = row["rated"]
    return CategoryReport(
        category=row["category"],
        received=row["received"],
        by_status={s: row[f"s_{s}"] for s in FEEDBACK_STATUSES},
        answered=row["answered"],
        answered_on_time=rate(row["on_time"], row["with_due"]),
        median_hours_to_answer=Measure(value=row["median_hours"], sample_size=row["answered"]),
        answer_satisfaction=rate(row["satisfied"], rated),
        mean_answer_rating=Measure(value=row["mean_rating"], sample_size=rated),
    )


def _empty(category: str) -> CategoryReport:
    return CategoryReport(
        category=category,
        received=0,
        by_status=dict.fromkeys(FEEDBACK_STATUSES, 0),
        answered=0,
        answered_on_time=Measure(sample_size=0),
        median_hours_to_answer=Measure(sample_size=0),
        answer_satisfaction=Measure(sample_size=0),
        mean_answer_rating=Measure(sample_size=0),
    )


async def monthly_report(
    conn: Any, staff: StaffPrincipal, *, commune: str | None, province: str | None, month: str
) -> MonthlyReport:
    """The month's report for a commune or a province within the caller's Front scope."""
    if (commune is None) == (province is None):
        raise AppError(
            "invalid_parameter",
            Text("Cần đúng một trong hai: commune hoặc province", "Give exactly one of commune and province"),
        )
    first, last = month_bounds(month)
    kind = "commune" if commune else "province"
    code = commune or province
    scope = await conn.fetchrow(
        COMMUNE_SCOPE_SQL if commune else PROVINCE_SCOPE_SQL, code, staff.user_id, list(REPORT_READERS)
    )
    if scope is None:
        raise AppError("commune_not_found" if commune else "province_not_found")
    if not scope["allowed"]:
        raise AppError("out_of_scope")
    rows = await conn.fetch(
        COMMUNE_REPORT_SQL if commune else PROVINCE_REPORT_SQL,
        code,
        local_midnight(first),
        local_midnight(last + timedelta(days=1)),
    )
    by_category = {r["category"]: _category(r) for r in rows}
    return MonthlyReport(
        scope_kind=kind,  # type: ignore[arg-type]
        scope_code=code,  # type: ignore[arg-type]
        scope_name=scope["name"],
        month=first.strftime("%Y-%m"),
        first_day=first,
        last_day=last,
        time_zone=LOCAL_TZ.key,
        generated_at=datetime.now(UTC),
        categories=[by_category.get(c) or _empty(c) for c in CATEGORIES],
        total=by_category.get("all") or _empty("all"),
    )


def report_csv(report: MonthlyReport) -> str:
    """One row per category and a total row, for a spreadsheet (UTF-8 with BOM for Excel)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(
        [
            "scope",
            "month",
            "category",
            "received",
            *(f"status_{s}" for s in FEEDBACK_STATUSES),
            "answered",
            "answered_on_time_share",
            "median_hours_to_answer",
            "answers_rated",
            "answer_satisfaction_share",
            "mean_answer_rating",
        ]
    )
    for c in [*report.categories, report.total]:
        writer.writerow(
            [
                f"{report.scope_code} {report.scope_name}",
                report.month,
                c.category,
                c.received,
                *(c.by_status[s] for s in FEEDBACK_STATUSES),
                c.answered,
                _number(c.answered_on_time.value),
                _number(c.median_hours_to_answer.value),
                c.answer_satisfaction.sample_size,
                _number(c.answer_satisfaction.value),
                _number(c.mean_answer_rating.value),
            ]
        )
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
