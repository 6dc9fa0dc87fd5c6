"""Reading scorecards: lists and rankings, one scorecard with its amendments and explanations,
officials' explanations, and CSV exports. Evidence is in backend.services.scorecard_evidence.

Who reads what is decided in the SQL (`READABLE`): an official their own scorecards (through
the account linked to the official), a commune chair their commune's officials and the
commune, province admins and the Front their province (or commune, for commune Front
staff), a system admin everything.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from backend import scorecard_rules as rules
from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.pagination import decode_cursor, page_of
from backend.scope import in_scope
from backend.services.scorecard_compute import ensure_fresh
from backend.settings import Settings
from schemas.scorecards import (
    Amendment,
    Explanation,
    ExplanationCreate,
    Figures,
    RankRange,
    Scorecard,
    ScorecardPage,
    ScorecardSummary,
)

READER_ROLES = ["commune_chair", "front_staff", "front_supervisor", "province_admin", "system_admin"]

# $1 user id, $2 reader roles; `s` is a scorecards row, `o` its official (null for a commune).
READABLE = (
    "(o.user_id = $1 or " + in_scope(user="$1", roles="$2", commune="s.commune_code", province="s.province_code") + ")"
)


def parse_period(text: str) -> rules.Period:
    try:
        return rules.parse_period(text)
    except ValueError:
        raise AppError("invalid_scorecard_period") from None


def period_label(kind: str, start: Any) -> str:
    return rules.period_of(kind, start).label  # type: ignore[arg-type]


PLACE_SQL = """
select c.code, c.province_code from communes c where c.code = $1
"""


async def _province_of(conn: Any, commune: str | None, province: str | None) -> tuple[str, str | None]:
    if commune is not None:
        row = await conn.fetchrow(PLACE_SQL, commune)
        if row is None:
            raise AppError("commune_not_found")
        if province is not None and province != row["province_code"]:
            raise AppError("commune_not_found")
        return row["province_code"], commune
    if province is None:
        raise AppError("invalid_parameter")
    if not await conn.fetchval("select exists (select 1 from provinces where code = $1)", province):
        raise AppError("province_not_found")
    return province, None


LIST_SQL = f"""
select s.id, s.period_kind, s.period_start, s.subject_kind, s.official_id, o.full_name, o.position,
       s.commune_code, c.full_name as commune_name, s.province_code, s.composite, s.band,
       s.figures -> 'rank' as rank, s.frozen_at is not null as frozen, s.amended_at is not null as amended,
       coalesce(s.composite, -1) as sort_score
from scorecards s
join communes c on c.code = s.commune_code
left join officials o on o.id = s.official_id
where s.province_code = $3 and s.period_kind = $4 and s.period_start = $5 and s.subject_kind = $6
  and ($7::text is null or s.commune_code = $7)
  and {READABLE}
  and ($8::float8 is null or (coalesce(s.composite, -1), -s.id) < ($8, -$9::bigint))
order by coalesce(s.composite, -1) desc, s.id
limit $10
"""


def _summary(row: Any) -> ScorecardSummary:
    rank = msgspec.convert(row["rank"], type=RankRange) if row["rank"] else None
    return ScorecardSummary(
        id=row["id"],
        period=period_label(row["period_kind"], row["period_start"]),
        subject_kind=row["subject_kind"],
        official_id=row["official_id"],
        official_name=row["full_name"],
        position=row["position"],
        commune_code=row["commune_code"],
        commune_name=row["commune_name"],
        province_code=row["province_code"],
        composite=row["composite"],
        band=row["band"],
        rank=rank,
        frozen=row["frozen"],
        amended=row["amended"],
    )


async def list_scorecards(
    conn: Any,
    settings: Settings,
    staff: StaffPrincipal,
    *,
    period_text: str,
    kind: Literal["official", "commune"],
    commune: str | None,
    province: str | None,
    cursor: str | None,
    limit: int,
) -> ScorecardPage:
    """Scorecards of a commune's officials, or a province's communes, best composite first; only
    those the caller may read."""
    period = parse_period(period_text)
    key = decode_cursor(cursor, float, int)
    province_code, commune_code = await _province_of(conn, commune, province)
    await ensure_fresh(conn, settings, province_code, period)
    rows = await conn.fetch(
        LIST_SQL,
        staff.user_id,
        READER_ROLES,
        province_code,
        period.kind,
        period.start,
        kind,
        commune_code,
        key[0] if key else None,
        key[1] if key else None,
        limit + 1,
    )
    rows, next_cursor = page_of(list(rows), limit, lambda r: (float(r["sort_score"]), r["id"]))
    return ScorecardPage(items=[_summary(r) for r in rows], next_cursor=next_cursor)


CARD_SQL = f"""
select s.id, s.period_kind, s.period_start, s.subject_kind, s.official_id, o.full_name, o.position,
       s.commune_code, c.full_name as commune_name, s.province_code, s.figures, s.frozen_at,
       (select sp.computed_at from scorecard_periods sp
        where sp.province_code = s.province_code and sp.period_kind = s.period_kind
          and sp.period_start = s.period_start) as computed_at,
       {READABLE} as allowed
from scorecards s
join communes c on c.code = s.commune_code
left join officials o on o.id = s.official_id
where s.id = $3
"""

AMENDMENTS_SQL = """
select id, amended_at, reason, changes from scorecard_amendments where scorecard_id = $1 order by id
"""

EXPLANATIONS_SQL = """
select e.id, e.body, u.display_name as author, e.created_at
from scorecard_explanations e join users u on u.id = e.author_user_id
where e.scorecard_id = $1 order by e.id
"""


async def readable_card(conn: Any, settings: Settings, staff: StaffPrincipal, scorecard_id: int) -> Any:
    """The scorecard row, fresh, if the caller may read it: 404 when it does not exist, 403 when
    it is outside the caller's scope."""
    row = await conn.fetchrow(CARD_SQL, staff.user_id, READER_ROLES, scorecard_id)
    if row is None:
        raise AppError("scorecard_not_found")
    if not row["allowed"]:
        raise AppError("out_of_scope")
    await ensure_fresh(conn, settings, row["province_code"], rules.period_of(row["period_kind"], row["period_start"]))
    return await conn.fetchrow(CARD_SQL, staff.user_id, READER_ROLES, scorecard_id)


async def get_scorecard(conn: Any, settings: Settings, staff: StaffPrincipal, scorecard_id: int) -> Scorecard:
    row = await readable_card(conn, settings, staff, scorecard_id)
    period = rules.period_of(row["period_kind"], row["period_start"])
    amendments = [
        Amendment(id=a["id"], amended_at=a["amended_at"], reason=a["reason"], changes=a["changes"])
        for a in await conn.fetch(AMENDMENTS_SQL, scorecard_id)
    ]
    explanations = [Explanation(**dict(e)) for e in await conn.fetch(EXPLANATIONS_SQL, scorecard_id)]
    return Scorecard(
        id=row["id"],
        period=period.label,
        period_kind=period.kind,
        period_start=period.start,
        period_end=period.end - timedelta(days=1),
        subject_kind=row["subject_kind"],
        official_id=row["official_id"],
        official_name=row["full_name"],
        position=row["position"],
        commune_code=row["commune_code"],
        commune_name=row["commune_name"],
        province_code=row["province_code"],
        figures=msgspec.convert(row["figures"], type=Figures),
        computed_at=row["computed_at"],
        frozen_at=row["frozen_at"],
        freezes_at=rules.freezes_at(period, settings.scorecard_freeze_days),
        amendments=amendments,
        explanations=explanations,
    )


OWN_MONTH_CARD_SQL = """
select s.id, s.period_kind, o.user_id = $2 as own
from scorecards s left join officials o on o.id = s.official_id
where s.id = $1
"""

INSERT_EXPLANATION_SQL = """
insert into scorecard_explanations (scorecard_id, author_user_id, body, created_at)
values ($1, $2, $3, $4)
returning id, body, created_at
"""


async def add_explanation(
    conn: Any, settings: Settings, staff: StaffPrincipal, scorecard_id: int, body: ExplanationCreate
) -> Explanation:
    """The official's own explanation of a month's scorecard (Decree 335's objective causes);
    visible to every reader of the scorecard, audited, never edited."""
    await readable_card(conn, settings, staff, scorecard_id)
    row = await conn.fetchrow(OWN_MONTH_CARD_SQL, scorecard_id, staff.user_id)
    if not row["own"] or row["period_kind"] != "month":
        raise AppError("explanation_not_allowed")
    text = body.body.strip()
    if not text:
        raise AppError("validation_failed")
    now = datetime.now(UTC)
    created = await conn.fetchrow(INSERT_EXPLANATION_SQL, scorecard_id, staff.user_id, text, now)
    await record_staff_action(
        conn, staff.user_id, "scorecard.explain", "scorecard", scorecard_id, data={"explanation_id": created["id"]}
    )
    return Explanation(id=created["id"], body=created["body"], author=staff.display_name, created_at=now)


# ---------------------------------------------------------------- CSV

EXPORT_SQL = f"""
select s.subject_kind, s.official_id, o.full_name, o.position, s.commune_code, c.full_name as commune_name,
       s.figures, s.frozen_at, s.amended_at
from scorecards s
join communes c on c.code = s.commune_code
left join officials o on o.id = s.official_id
where s.province_code = $3 and s.period_kind = $4 and s.period_start = $5 and s.subject_kind = $6
  and ($7::text is null or s.commune_code = $7)
  and {READABLE}
order by coalesce(s.composite, -1) desc, s.commune_code, s.official_id
"""

CSV_COLUMNS = (
    ("ky", "period"),
    ("ma_xa", "commune_code"),
    ("ten_xa", "commune_name"),
    ("can_bo", "official"),
    ("chuc_vu", "position"),
    ("diem_tong_hop", "composite"),
    ("khoang_tin_cay", "composite_ci"),
    ("xep_loai_tham_khao", "band_advisory"),
    ("hang", "rank"),
    ("ho_so_hoan_thanh", "dossiers_completed"),
    ("ho_so_den_han", "dossiers_due"),
    ("dung_han", "on_time"),
    ("tre_han", "late"),
    ("diem_tien_do", "progress"),
    ("diem_thoi_gian", "processing"),
    ("ty_le_hai_long", "satisfaction"),
    ("so_danh_gia", "ratings"),
    ("dung_han_ky_vong", "on_time_expected"),
    ("hai_long_ky_vong", "satisfaction_expected"),
    ("phan_hoi_dung_han", "feedback_on_time"),
    ("phan_hoi_tre_han", "feedback_late"),
    ("ty_le_truc_tuyen", "online_share"),
    ("trang_thai", "status"),
)


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _component_cell(c: Any) -> str:
    if c is None:
        return ""
    if c.status == "not_applicable":
        return ""
    if c.status == "insufficient":
        return "insufficient data"
    return _num(c.score)


def _rank_cell(f: Figures) -> str:
    if f.rank is None:
        return ""
    if f.rank.best == f.rank.worst:
        return f"{f.rank.best}/{f.rank.of}"
    return f"{f.rank.best}–{f.rank.worst}/{f.rank.of}"


# A cell starting with one of these is a formula to spreadsheet programs; names and positions
# are typed by people, so "=HYPERLINK(...)" as a name must stay text (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str | None) -> str:
    """Free text for a CSV cell, kept as text by spreadsheet programs (a leading apostrophe)."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_rows(period: rules.Period, rows: list[Any]) -> str:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Vietnamese right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{vi} ({en})" for vi, en in CSV_COLUMNS])
    for row in rows:
        f = msgspec.convert(row["figures"], type=Figures)
        comp = f.composite
        writer.writerow(
            [
                period.label,
                row["commune_code"],
                spreadsheet_text(row["commune_name"]),
                spreadsheet_text(row["full_name"]),
                spreadsheet_text(row["position"]),
                _num(comp.score) if comp.score is not None else "insufficient data",
                f"{_num(comp.ci_low)}–{_num(comp.ci_high)}" if comp.score is not None else "",
                comp.band or "",
                _rank_cell(f),
                f.dossiers_completed,
                f.dossiers_due,
                f.dossiers_on_time,
                f.dossiers_late,
                _component_cell(f.progress),
                _component_cell(f.processing),
                _component_cell(f.satisfaction),
                f.satisfaction.sample_size,
                _num(100 * f.on_time_fair.expected) if f.on_time_fair.expected is not None else "",
                _num(100 * f.satisfaction_fair.expected) if f.satisfaction_fair.expected is not None else "",
                f.feedback_answered_on_time,
                f.feedback_late,
                _component_cell(f.online),
                "amended" if row["amended_at"] else "frozen" if row["frozen_at"] else "provisional",
            ]
        )
    return out.getvalue()


async def export_csv(
    conn: Any,
    settings: Settings,
    staff: StaffPrincipal,
    *,
    period_text: str,
    commune: str | None,
    province: str | None,
) -> tuple[str, str]:
    """(file name, CSV text): a commune's officials, or a province's communes ranked."""
    period = parse_period(period_text)
    province_code, commune_code = await _province_of(conn, commune, province)
    await ensure_fresh(conn, settings, province_code, period)
    kind = "official" if commune_code else "commune"
    rows = await conn.fetch(
        EXPORT_SQL, staff.user_id, READER_ROLES, province_code, period.kind, period.start, kind, commune_code
    )
    name = f"scorecards-{commune_code or province_code}-{period.label}.csv"
    return name, csv_rows(period, list(rows))
