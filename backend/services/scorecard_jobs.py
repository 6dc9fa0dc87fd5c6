"""Scheduled scorecard work, shared by the worker's cron jobs and the tests:

* the daily recheck freezes periods whose freeze time has passed (also when nobody read
  them) and recomputes frozen ones of the last months, turning differences into amendments;
* on the first working day of a month, each commune chair gets a push summarising the
  commune's scorecard of the month before. The outbox's dedupe key makes it once per chair
  and month; delivery holds it through the device's quiet hours (it is not critical).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from backend import scorecard_rules as rules
from backend.services.notifications import Notification, queue_notifications
from backend.services.scorecard_compute import compute_provinces, ensure_fresh, recheck_periods, refresh_period
from backend.settings import Settings
from backend.workdays import LOCAL_TZ
from schemas.scorecards import Figures

PERIOD_STATES_SQL = """
select p.code as province_code, s.frozen_at
from provinces p
left join scorecard_periods s on s.province_code = p.code and s.period_kind = $1 and s.period_start = $2
order by p.code
"""


@dataclass
class RecheckReport:
    frozen: int = 0
    rechecked: int = 0
    amendments: int = 0
    computed: int = 0


async def refresh_provinces(
    pool: Any, settings: Settings, provinces: list[str], period: rules.Period, now: datetime
) -> RecheckReport:
    """Compute the provinces' scorecards for the period in one pass over the raw rows, then
    store each province in its own transaction: open periods replaced (frozen once due), frozen
    ones rechecked into amendments."""
    report = RecheckReport()
    if not provinces:
        return report
    async with pool.acquire() as conn:
        computed = await compute_provinces(conn, settings, provinces, period, now, pool=pool)
    for province in provinces:
        async with pool.acquire() as conn, conn.transaction():
            frozen_before = await conn.fetchval(
                "select frozen_at is not null from scorecard_periods "
                "where province_code = $1 and period_kind = $2 and period_start = $3",
                province,
                period.kind,
                period.start,
            )
            outcome = await refresh_period(
                conn, settings, province, period, now, recheck=bool(frozen_before), computed=computed[province]
            )
        report.computed += 1
        if frozen_before:
            report.rechecked += 1
            report.amendments += outcome.amended
        elif outcome.frozen:
            report.frozen += 1
    return report


async def recheck_scorecards(pool: Any, settings: Settings, now: datetime | None = None) -> RecheckReport:
    """Freeze what is due and recheck what is frozen, for the last few months and quarters."""
    now = now or datetime.now(UTC)
    report = RecheckReport()
    for period in recheck_periods(now.astimezone(LOCAL_TZ).date()):
        if period.start_utc > now:
            continue
        freeze_due = now >= rules.freezes_at(period, settings.scorecard_freeze_days)
        async with pool.acquire() as conn:
            states = await conn.fetch(PERIOD_STATES_SQL, period.kind, period.start)
        # Open periods that are not due are recomputed by their readers.
        provinces = [s["province_code"] for s in states if s["frozen_at"] is not None or freeze_due]
        one = await refresh_provinces(pool, settings, provinces, period, now)
        report.frozen += one.frozen
        report.rechecked += one.rechecked
        report.amendments += one.amendments
        report.computed += one.computed
    return report


CHAIRS_SQL = """
select ur.user_id, ur.commune_code, c.province_code, c.full_name, s.id as scorecard_id, s.figures
from user_roles ur
join users u on u.id = ur.user_id and u.is_active
join communes c on c.code = ur.commune_code
join scorecards s on s.subject_kind = 'commune' and s.commune_code = c.code
                 and s.period_kind = 'month' and s.period_start = $1
where ur.role = 'commune_chair' and c.province_code = $2
order by ur.commune_code, ur.user_id
"""

CHAIR_PROVINCES_SQL = """
select distinct c.province_code
from user_roles ur join communes c on c.code = ur.commune_code
where ur.role = 'commune_chair'
order by 1
"""


def _pct(component: Any) -> tuple[str, str]:
    if component.status == "ok" and component.score is not None:
        text = f"{component.score:.0f}"
        return text, text
    if component.status == "insufficient":
        return "chưa đủ dữ liệu", "insufficient data"
    return "—", "—"


def digest_text(commune_name: str, label: str, figures: Figures) -> tuple[str, str, str, str]:
    """(title_vi, body_vi, title_en, body_en) of a chair's monthly summary."""
    composite = figures.composite
    if composite.score is not None:
        overall_vi = f"điểm tổng hợp {composite.score:.0f}/100"
        overall_en = f"composite {composite.score:.0f}/100"
    else:
        overall_vi, overall_en = "chưa đủ dữ liệu để tính điểm tổng hợp", "insufficient data for a composite score"
    progress, satisfaction, feedback = _pct(figures.progress), _pct(figures.satisfaction), _pct(figures.feedback)
    body_vi = (
        f"{commune_name}, tháng {label}: {overall_vi}. Đúng hạn {figures.dossiers_on_time}/{figures.dossiers_due} "
        f"hồ sơ (tiến độ {progress[0]}), hài lòng {satisfaction[0]}, phản ánh trả lời đúng hạn {feedback[0]}."
    )
    body_en = (
        f"{commune_name}, {label}: {overall_en}. On time {figures.dossiers_on_time}/{figures.dossiers_due} "
        f"dossiers (progress {progress[1]}), satisfaction {satisfaction[1]}, feedback answered on time {feedback[1]}."
    )
    return f"Phiếu đánh giá tháng {label}", body_vi, f"Scorecard for {label}", body_en


async def queue_chair_digests(pool: Any, settings: Settings, today: date) -> list[int]:
    """On the first working day of a month, queue each chair's summary of last month; on any
    other day nothing. Returns the new outbox ids (none when already queued)."""
    if today != rules.first_working_day(today.year, today.month):
        return []
    period = rules.previous_month(today)
    outbox_ids: list[int] = []
    async with pool.acquire() as conn:
        provinces = [r["province_code"] for r in await conn.fetch(CHAIR_PROVINCES_SQL)]
    for province in provinces:
        async with pool.acquire() as conn, conn.transaction():
            await ensure_fresh(conn, settings, province, period)
            notifications = []
            for row in await conn.fetch(CHAIRS_SQL, period.start, province):
                figures = msgspec.convert(row["figures"], type=Figures)
                title_vi, body_vi, title_en, body_en = digest_text(row["full_name"], period.label, figures)
                notifications.append(
                    Notification(
                        dedupe_key=f"scorecard:{row['commune_code']}:{period.label}:user:{row['user_id']}",
                        kind="scorecard_digest",
                        title_vi=title_vi,
                        body_vi=body_vi,
                        title_en=title_en,
                        body_en=body_en,
                        data={
                            "kind": "scorecard_digest",
                            "scorecard_id": str(row["scorecard_id"]),
                            "link": f"communepulse://scorecards/{row['scorecard_id']}",
                        },
                        user_id=row["user_id"],
                    )
                )
            outbox_ids += await queue_notifications(conn, notifications)
    return outbox_ids
