"""What stands behind a scorecard's numbers, read live with the same crediting rules as the
computation (backend.services.scorecard_compute):

* late dossiers by code — products due in the period that were completed late or are still
  open past their due time;
* ratings by score per procedure — counts only, never who gave them, no comments, no times;
* forwarded feedback items with their deadlines and outcome — no text, no reporter, and never
  a report of wrongdoing about the scorecard's official, about the reader, or one that reached
  the very official it concerns (such an item counts in no figure either).

Readable by whoever may read the scorecard (backend.services.scorecards.readable_card).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend import scorecard_rules as rules
from backend.auth import StaffPrincipal
from backend.pagination import decode_cursor, page_of
from backend.services.scorecards import readable_card
from backend.settings import Settings
from backend.workdays import LOCAL_TZ
from schemas.scorecards import (
    FeedbackEvidence,
    FeedbackEvidencePage,
    LateDossier,
    LateDossierPage,
    ProcessedDossier,
    ProcessedDossierPage,
    RatingEvidence,
    ScoreCount,
)

# $1 commune, $2 official or null (commune card), $3 start, $4 end, $5 now.
LATE_DOSSIERS_SQL = """
select d.id, d.code, cs.procedure_code, p.name_vi, p.name_en, d.received_at, d.due_at, d.completed_at
from commune_services cs
join procedures p on p.code = cs.procedure_code
join dossiers d on d.commune_service_id = cs.id and d.due_at >= $3 and d.due_at < $4
where cs.commune_code = $1 and d.status <> 'cancelled' and coalesce(d.completed_at, $5) > d.due_at
  and ($2::bigint is null
       or coalesce(d.handling_official_id,
                   (select a.official_id from assignments a
                    where a.commune_service_id = d.commune_service_id
                      and a.valid @> coalesce(d.completed_at, d.due_at))) = $2)
  and ($6::timestamptz is null or (d.due_at, d.id) > ($6, $7::bigint))
order by d.due_at, d.id
limit $8
"""


async def late_dossiers(
    conn: Any,
    settings: Settings,
    staff: StaffPrincipal,
    scorecard_id: int,
    cursor: str | None,
    limit: int,
    language: str,
) -> LateDossierPage:
    key = decode_cursor(cursor, datetime, int)
    card = await readable_card(conn, settings, staff, scorecard_id)
    period = rules.period_of(card["period_kind"], card["period_start"])
    rows = await conn.fetch(
        LATE_DOSSIERS_SQL,
        card["commune_code"],
        card["official_id"],
        period.start_utc,
        period.end_utc,
        datetime.now(UTC),
        key[0] if key else None,
        key[1] if key else None,
        limit + 1,
    )
    rows, next_cursor = page_of(list(rows), limit, lambda r: (r["due_at"], r["id"]))
    return LateDossierPage(
        items=[
            LateDossier(
                code=r["code"],
                procedure_code=r["procedure_code"],
                procedure_name=r["name_en"] if language == "en" else r["name_vi"],
                received_at=r["received_at"],
                due_at=r["due_at"],
                completed_at=r["completed_at"],
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


# Dossiers completed in the period, behind the processing-time figure.
PROCESSED_SQL = """
select d.id, d.code, cs.procedure_code, p.name_vi, p.name_en, p.statutory_days, p.days_kind, d.received_at,
       d.completed_at
from commune_services cs
join procedures p on p.code = cs.procedure_code
join dossiers d on d.commune_service_id = cs.id and d.completed_at >= $3 and d.completed_at < $4
where cs.commune_code = $1
  and ($2::bigint is null
       or coalesce(d.handling_official_id,
                   (select a.official_id from assignments a
                    where a.commune_service_id = d.commune_service_id and a.valid @> d.completed_at)) = $2)
  and ($5::timestamptz is null or (d.completed_at, d.id) > ($5, $6::bigint))
order by d.completed_at, d.id
limit $7
"""


def _taken(row: Any) -> int | None:
    if row["statutory_days"] is None:
        return None
    if row["days_kind"] == "calendar":
        local = LOCAL_TZ
        return (row["completed_at"].astimezone(local).date() - row["received_at"].astimezone(local).date()).days
    return rules.working_days_between(row["received_at"], row["completed_at"])


async def processed_dossiers(
    conn: Any,
    settings: Settings,
    staff: StaffPrincipal,
    scorecard_id: int,
    cursor: str | None,
    limit: int,
    language: str,
) -> ProcessedDossierPage:
    key = decode_cursor(cursor, datetime, int)
    card = await readable_card(conn, settings, staff, scorecard_id)
    period = rules.period_of(card["period_kind"], card["period_start"])
    rows = await conn.fetch(
        PROCESSED_SQL,
        card["commune_code"],
        card["official_id"],
        period.start_utc,
        period.end_utc,
        key[0] if key else None,
        key[1] if key else None,
        limit + 1,
    )
    rows, next_cursor = page_of(list(rows), limit, lambda r: (r["completed_at"], r["id"]))
    items = []
    for r in rows:
        taken = _taken(r)
        items.append(
            ProcessedDossier(
                code=r["code"],
                procedure_code=r["procedure_code"],
                procedure_name=r["name_en"] if language == "en" else r["name_vi"],
                received_at=r["received_at"],
                completed_at=r["completed_at"],
                days_taken=taken,
                statutory_days=r["statutory_days"],
                credit=rules.processing_credit(taken, r["statutory_days"]) if taken is not None else None,
            )
        )
    return ProcessedDossierPage(items=items, next_cursor=next_cursor)


RATING_COUNTS_SQL = """
select s.procedure_code, p.name_vi, p.name_en,
       array[count(*) filter (where r.score = 1), count(*) filter (where r.score = 2),
             count(*) filter (where r.score = 3), count(*) filter (where r.score = 4),
             count(*) filter (where r.score = 5)]::int[] as counts
from commune_services s
join procedures p on p.code = s.procedure_code
join ratings r on r.commune_service_id = s.id and r.served_at >= $3 and r.served_at < $4
left join dossiers d on d.id = r.dossier_id
where s.commune_code = $1 and r.verified and (r.quarantine is null or r.quarantine = 'released')
  and ($2::bigint is null or coalesce(d.handling_official_id, r.official_id) = $2)
group by 1, 2, 3
order by 1
"""


async def rating_counts(
    conn: Any, settings: Settings, staff: StaffPrincipal, scorecard_id: int, language: str
) -> RatingEvidence:
    card = await readable_card(conn, settings, staff, scorecard_id)
    period = rules.period_of(card["period_kind"], card["period_start"])
    rows = await conn.fetch(
        RATING_COUNTS_SQL, card["commune_code"], card["official_id"], period.start_utc, period.end_utc
    )
    items = [
        ScoreCount(
            procedure_code=r["procedure_code"],
            procedure_name=r["name_en"] if language == "en" else r["name_vi"],
            counts=list(r["counts"]),
        )
        for r in rows
    ]
    return RatingEvidence(total=sum(sum(i.counts) for i in items), by_procedure=items)


# $1 commune, $2 official or null, $3 start, $4 end, $5 now. Reports of wrongdoing are never
# evidence (issue 10, point 5: no figure the chair or an official reads moves with one).
FEEDBACK_SQL = """
select fw.id, fw.category, fw.created_at, dl.deadline, fw.answered_at,
       case when fw.status = 'answered' and fw.answered_at <= dl.deadline then 'on_time'
            when (fw.status = 'answered' and fw.answered_at > dl.deadline)
                 or (fw.status in ('open', 'sent_back') and $5 > dl.deadline) then 'late'
            else 'pending' end as outcome
from feedback_forwards fw
cross join lateral (select coalesce(fw.extended_due_at, fw.due_at) as deadline) dl
join feedback f on f.id = fw.feedback_id
where fw.commune_code = $1 and dl.deadline >= $3 and dl.deadline < $4 and fw.status <> 'withdrawn'
  and ($2::bigint is null or fw.official_id = $2)
  and not f.protected
  and ($6::timestamptz is null or (dl.deadline, fw.id) > ($6, $7::bigint))
order by dl.deadline, fw.id
limit $8
"""


async def feedback_items(
    conn: Any, settings: Settings, staff: StaffPrincipal, scorecard_id: int, cursor: str | None, limit: int
) -> FeedbackEvidencePage:
    key = decode_cursor(cursor, datetime, int)
    card = await readable_card(conn, settings, staff, scorecard_id)
    period = rules.period_of(card["period_kind"], card["period_start"])
    rows = await conn.fetch(
        FEEDBACK_SQL,
        card["commune_code"],
        card["official_id"],
        period.start_utc,
        period.end_utc,
        datetime.now(UTC),
        key[0] if key else None,
        key[1] if key else None,
        limit + 1,
    )
    rows, next_cursor = page_of(list(rows), limit, lambda r: (r["deadline"], r["id"]))
    return FeedbackEvidencePage(
        items=[
            FeedbackEvidence(
                forward_id=r["id"],
                category=r["category"],
                forwarded_at=r["created_at"],
                deadline=r["deadline"],
                answered_at=r["answered_at"],
                outcome=r["outcome"],
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )
