"""Administrative units and the procedure catalog (public reference data)."""

from __future__ import annotations

from typing import Any

import msgspec

from backend.errors import AppError
from backend.pagination import decode_cursor, page_of
from backend.text import like_patterns
from schemas.reference import Commune, CommunePage, Procedure, ProcedurePage, Province

PROVINCE_COLUMNS = """
p.code, p.name, p.name_en, p.full_name, p.full_name_en, p.kind,
(select count(*) from communes c where c.province_code = p.code)::int as commune_count
"""

PROVINCES_SQL = f"select {PROVINCE_COLUMNS} from provinces p order by p.code"


async def list_provinces(conn: Any) -> list[Province]:
    return [Province(**r) for r in await conn.fetch(PROVINCES_SQL)]


PROVINCE_SQL = f"select {PROVINCE_COLUMNS} from provinces p where p.code = $1"


async def get_province(conn: Any, code: str) -> Province:
    row = await conn.fetchrow(PROVINCE_SQL, code)
    if row is None:
        raise AppError("province_not_found")
    return Province(**row)


# $1 province or null, $2 kind or null, $3 folded LIKE patterns (all must match), $4 cursor, $5 limit
COMMUNES_SQL = """
select c.code, c.name, c.name_en, c.full_name, c.full_name_en, c.kind, c.province_code,
       p.full_name as province_name
from communes c
join provinces p on p.code = c.province_code
where ($1::text is null or c.province_code = $1)
  and ($2::text is null or c.kind = $2)
  and c.search_name like all ($3::text[])
  and ($4::text is null or c.code > $4)
order by c.code
limit $5
"""


async def list_communes(
    conn: Any, *, province: str | None, kind: str | None, q: str | None, cursor: str | None, limit: int
) -> CommunePage:
    """Communes by code; `q` matches the full name in Vietnamese or English, with or
    without diacritics, every word anywhere ('ba dinh' finds Phường Ba Đình)."""
    after = decode_cursor(cursor, str)
    rows = await conn.fetch(
        COMMUNES_SQL, province, kind, like_patterns(q or ""), after[0] if after else None, limit + 1
    )
    items, next_cursor = page_of(rows, limit, lambda r: (r["code"],))
    return CommunePage(items=[Commune(**r) for r in items], next_cursor=next_cursor)


COMMUNE_SQL = """
select c.code, c.name, c.name_en, c.full_name, c.full_name_en, c.kind, c.province_code,
       p.full_name as province_name
from communes c
join provinces p on p.code = c.province_code
where c.code = $1
"""


async def get_commune(conn: Any, code: str) -> Commune:
    row = await conn.fetchrow(COMMUNE_SQL, code)
    if row is None:
        raise AppError("commune_not_found")
    return Commune(**row)


PROCEDURES_SQL = """
select code, name_vi, name_en, field_vi, field_en, statutory_days, days_kind, levels, legal_basis
from procedures
where search_name like all ($1::text[])
  and ($2::text is null or field_en = $2 or field_vi = $2)
  and ($3::text is null or code > $3)
order by code
limit $4
"""


async def list_procedures(
    conn: Any, *, q: str | None, field: str | None, cursor: str | None, limit: int
) -> ProcedurePage:
    after = decode_cursor(cursor, str)
    rows = await conn.fetch(PROCEDURES_SQL, like_patterns(q or ""), field, after[0] if after else None, limit + 1)
    items, next_cursor = page_of(rows, limit, lambda r: (r["code"],))
    return ProcedurePage(items=[_procedure(r) for r in items], next_cursor=next_cursor)


PROCEDURE_SQL = """
select code, name_vi, name_en, field_vi, field_en, statutory_days, days_kind, levels, legal_basis
from procedures where code = $1
"""


async def get_procedure(conn: Any, code: str) -> Procedure:
    row = await conn.fetchrow(PROCEDURE_SQL, code)
    if row is None:
        raise AppError("procedure_not_found")
    return _procedure(row)


def _procedure(row: Any) -> Procedure:
    return msgspec.convert(dict(row), Procedure)
