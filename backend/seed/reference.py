"""Load the 34 provinces, 3,321 commune-level units and the procedure catalog from
backend/data/ (copied from the shared reference data). Re-running updates changed rows
and leaves the rest alone."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


UPSERT_PROVINCES_SQL = """
insert into provinces (code, name, name_en, full_name, full_name_en, kind)
select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
on conflict (code) do update
set name = excluded.name, name_en = excluded.name_en, full_name = excluded.full_name,
    full_name_en = excluded.full_name_en, kind = excluded.kind
where (provinces.name, provinces.name_en, provinces.full_name, provinces.full_name_en, provinces.kind)
      is distinct from (excluded.name, excluded.name_en, excluded.full_name, excluded.full_name_en, excluded.kind)
"""

UPSERT_COMMUNES_SQL = """
insert into communes (code, name, name_en, full_name, full_name_en, kind, province_code)
select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
on conflict (code) do update
set name = excluded.name, name_en = excluded.name_en, full_name = excluded.full_name,
    full_name_en = excluded.full_name_en, kind = excluded.kind, province_code = excluded.province_code
where (communes.name, communes.name_en, communes.full_name, communes.full_name_en, communes.kind,
       communes.province_code)
      is distinct from (excluded.name, excluded.name_en, excluded.full_name, excluded.full_name_en,
                        excluded.kind, excluded.province_code)
"""

UPSERT_PROCEDURES_SQL = """
insert into procedures (code, name_vi, name_en, field_vi, field_en, statutory_days, days_kind, levels,
                        legal_basis)
select code, name_vi, name_en, field_vi, field_en, statutory_days, days_kind,
       string_to_array(levels, ';'), legal_basis
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
            $9::text[])
     as t(code, name_vi, name_en, field_vi, field_en, statutory_days, days_kind, levels, legal_basis)
on conflict (code) do update
set name_vi = excluded.name_vi, name_en = excluded.name_en, field_vi = excluded.field_vi,
    field_en = excluded.field_en, statutory_days = excluded.statutory_days, days_kind = excluded.days_kind,
    levels = excluded.levels, legal_basis = excluded.legal_basis
where (procedures.name_vi, procedures.name_en, procedures.field_vi, procedures.field_en,
       procedures.statutory_days, procedures.days_kind, procedures.levels, procedures.legal_basis)
      is distinct from (excluded.name_vi, excluded.name_en, excluded.field_vi, excluded.field_en,
                        excluded.statutory_days, excluded.days_kind, excluded.levels, excluded.legal_basis)
"""


def _columns(rows: list[dict[str, str]], *names: str) -> list[list[Any]]:
    return [[row[name] or None for row in rows] for name in names]


async def load_reference(conn: Any) -> dict[str, int]:
    """Upsert the reference data; return how many rows each table gained or changed."""
    provinces = read_csv("provinces.csv")
    communes = read_csv("communes.csv")
    procedures = read_csv("procedures.csv")
    for row in procedures:
        row["statutory_days"] = int(row["statutory_days"]) if row["statutory_days"] else None  # type: ignore[assignment]
    async with conn.transaction():
        changed = {
            "provinces": await conn.execute(
                UPSERT_PROVINCES_SQL,
                *_columns(provinces, "code", "name", "name_en", "full_name", "full_name_en", "kind"),
            ),
            "communes": await conn.execute(
                UPSERT_COMMUNES_SQL,
                *_columns(communes, "code", "name", "name_en", "full_name", "full_name_en", "kind", "province_code"),
            ),
            "procedures": await conn.execute(
                UPSERT_PROCEDURES_SQL,
                *_columns(
                    procedures,
                    "code",
                    "name_vi",
                    "name_en",
                    "field_vi",
                    "field_en",
                    "statutory_days",
                    "days_kind",
                    "levels",
                    "legal_basis",
                ),
            ),
        }
    return {table: int(status.split()[-1]) for table, status in changed.items()}
