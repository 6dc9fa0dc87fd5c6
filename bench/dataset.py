"""The benchmark's data: communes with services, officials and dossiers (set-based SQL), and
realistic Vietnamese rating bodies naming them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from backend.seed.demo import DESKS, person_name

PICK_COMMUNES_SQL = """
with ranked as (
    select code, province_code,
           row_number() over (partition by province_code order by code) as rn,
           count(*) over (partition by province_code) as n
    from communes c
    -- communes that already offer services (the demo's) keep their own officials
    where not exists (select 1 from commune_services cs where cs.commune_code = c.code)
)
select code from ranked order by (rn - 0.5) / n, province_code limit $1
"""

# One procedure of each field in turn, so every desk has work.
PICK_PROCEDURES_SQL = """
select code, field_en, coalesce(statutory_days, 5) as statutory_days
from (select code, field_en, statutory_days, row_number() over (partition by field_en order by code) as rn
      from procedures) p
order by rn, field_en
limit $1
"""

INSERT_SERVICES_SQL = """
insert into commune_services (commune_code, procedure_code, lead_agency, lead_agency_en)
select c.code, p.code, replace(d.agency, '{vi}', c.full_name), replace(d.agency_en, '{en}', c.full_name_en)
from communes c
cross join procedures p
join unnest($3::text[], $4::text[], $5::text[]) as d(field_en, agency, agency_en) on d.field_en = p.field_en
where c.code = any($1::text[]) and p.code = any($2::text[])
on conflict (commune_code, procedure_code) do nothing
"""

# One official per desk of each commune, holding every service of the desk's fields since
# 200 days ago.
INSERT_OFFICIALS_SQL = """
with new_officials as (
    insert into officials (commune_code, full_name, position, position_en)
    select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])
    returning id, commune_code, position
)
insert into assignments (commune_service_id, official_id, valid)
select cs.id, o.id, tstzrange(now() - interval '200 days', null, '[)')
from new_officials o
join unnest($5::text[], $6::text[]) as d(position, field_en) on d.position = o.position
join procedures p on p.field_en = d.field_en
join commune_services cs on cs.commune_code = o.commune_code and cs.procedure_code = p.code
"""

# Completed dossiers received 3-27 days ago, finished 4-73 hours later, spread over the
# services; codes look like one-stop-shop receipt numbers and are unique by construction.
INSERT_DOSSIERS_SQL = """
with services as (
    select cs.id, cs.commune_code, c.province_code, row_number() over (order by cs.id) as rn, count(*) over () as n
    from commune_services cs join communes c on c.code = cs.commune_code
    where cs.commune_code = any($2::text[])
),
planned as (
    select g, s.id, s.commune_code, s.province_code,
           now() - interval '1 day' * (3 + g % 25) - interval '1 minute' * (g * 37 % 600) as received_at,
           interval '1 hour' * (4 + g % 70) as took
    from generate_series(1, $1::int) as g
    join services s on s.rn = 1 + (g::bigint * 7919) % s.n
)
insert into dossiers (code, commune_service_id, status, received_at, due_at, completed_at, event_at)
select 'H' || province_code || '.' || commune_code || '-'
       || to_char(received_at at time zone 'Asia/Ho_Chi_Minh', 'YYMMDD') || '-' || lpad(g::text, 6, '0'),
       id, 'completed', received_at, received_at + interval '3 days', received_at + took, received_at + took
from planned
returning code
"""

# A database in service is not empty: earlier ratings from other installs, over 90 days,
# so plans and index depths are those of a running system, not of an empty table.
INSERT_HISTORY_SQL = """
with installs as (
    insert into citizen_installs (install_id, secret_hash, platform)
    select 'bench-history-' || g, '\\x00', 'android' from generate_series(1, 5000) g
    returning id
),
numbered as (select id, row_number() over () as rn from installs),
services as (
    select cs.id, cs.commune_code, row_number() over (order by cs.id) as rn, count(*) over () as n
    from commune_services cs where cs.commune_code = any($2::text[])
)
insert into ratings (citizen_id, commune_service_id, commune_code, official_id, assignment_id, score, channel,
                     served_at, created_at, idempotency_key, request_hash)
select i.id, s.id, s.commune_code, a.official_id, a.id, 1 + (g * 7) % 5, 'app',
       now() - interval '1 minute' * (g % 129600) - interval '1 day',
       now() - interval '1 minute' * (g % 129600) - interval '1 day' + interval '1 hour',
       'history-' || g, sha256(convert_to('history-' || g, 'UTF8'))
from generate_series(1, $1::int) as g
join numbered i on i.rn = 1 + g % 5000
join services s on s.rn = 1 + (g::bigint * 7919) % s.n
left join assignments a on a.commune_service_id = s.id and upper_inf(a.valid)
"""

SERVICES_SQL = """
select cs.id, cs.commune_code, cs.procedure_code
from commune_services cs
where cs.commune_code = any($1::text[])
order by cs.id
"""


@dataclass(frozen=True)
class Service:
    id: int
    commune_code: str
    procedure_code: str
    weight: float


@dataclass(frozen=True)
class Dataset:
    communes: list[str]
    provinces: int
    services: list[Service]
    officials: int
    dossier_codes: list[str]
    history: int


async def create_dataset(conn: Any, communes: int, procedures: int, dossiers: int, history: int = 0) -> Dataset:
    """Services, officials, assignments and completed dossiers for `communes` communes spread
    over every province, each offering `procedures` procedures. A handful of statements."""
    commune_codes = [r["code"] for r in await conn.fetch(PICK_COMMUNES_SQL, communes)]
    chosen = await conn.fetch(PICK_PROCEDURES_SQL, procedures)
    desk_of = {field: desk for desk in DESKS for field in desk.fields}
    fields = sorted({r["field_en"] for r in chosen if r["field_en"] in desk_of})
    async with conn.transaction():
        await conn.execute(
            INSERT_SERVICES_SQL,
            commune_codes,
            [r["code"] for r in chosen],
            fields,
            [desk_of[f].agency for f in fields],
            [desk_of[f].agency_en for f in fields],
        )
        desks = [d for d in DESKS if any(f in fields for f in d.fields)]
        people = [(c, d) for c in commune_codes for d in desks]
        await conn.execute(
            INSERT_OFFICIALS_SQL,
            [c for c, _ in people],
            [person_name(i) for i in range(len(people))],
            [d.position for _, d in people],
            [d.position_en for _, d in people],
            [desk_of[f].position for f in fields],
            fields,
        )
        codes = [r["code"] for r in await conn.fetch(INSERT_DOSSIERS_SQL, dossiers, commune_codes)]
        if history:
            await conn.execute(INSERT_HISTORY_SQL, history, commune_codes)
    # Quick procedures (civil status, residence) are the busy ones at a one-stop shop.
    quick = {r["code"] for r in chosen if r["statutory_days"] <= 3}
    services = [
        Service(r["id"], r["commune_code"], r["procedure_code"], 3.0 if r["procedure_code"] in quick else 1.0)
        for r in await conn.fetch(SERVICES_SQL, commune_codes)
    ]
    provinces = await conn.fetchval(
        "select count(distinct province_code) from communes where code = any($1::text[])", commune_codes
    )
    await conn.execute("analyze")
    return Dataset(commune_codes, provinces, services, len(people), codes, history)


GOOD_COMMENTS = (
    "Cán bộ hướng dẫn tận tình, thủ tục nhanh gọn.",
    "Trả kết quả đúng hẹn, rất hài lòng.",
    "Nhân viên một cửa thân thiện, chu đáo.",
    "Thủ tục đơn giản, không phải đi lại nhiều lần.",
    "Làm giấy khai sinh cho cháu chỉ mất buổi sáng, cảm ơn phường.",
    "Cán bộ giải thích rõ ràng từng bước, tôi rất hài lòng.",
    "Nộp hồ sơ trực tuyến rồi đến nhận kết quả, rất tiện.",
    "Chị cán bộ tư pháp nhiệt tình, hướng dẫn điền tờ khai cẩn thận.",
    "Xếp hàng không lâu, có ghế ngồi chờ và nước uống.",
    "Được nhắn tin báo trước khi có kết quả, rất chuyên nghiệp.",
    "Đăng ký tạm trú nhanh chóng, không phải bổ sung giấy tờ.",
    "Thái độ phục vụ niềm nở, lịch sự.",
)
MIXED_COMMENTS = (
    "Thủ tục ổn nhưng phải chờ hơi lâu vào buổi sáng.",
    "Cán bộ nhiệt tình nhưng hướng dẫn trên cổng dịch vụ công chưa rõ.",
    "Kết quả đúng hẹn, tuy nhiên phòng chờ khá chật.",
    "Phải photo thêm giấy tờ ở ngoài, nên có máy photo tại chỗ.",
    "Bình thường, không có gì đặc biệt.",
    "Giờ làm việc buổi chiều nên kéo dài thêm cho người đi làm.",
)
BAD_COMMENTS = (
    "Phải chờ đợi quá lâu, trả kết quả trễ hẹn.",
    "Cán bộ hướng dẫn chưa rõ ràng, phải bổ sung giấy tờ nhiều lần.",
    "Thái độ tiếp dân chưa niềm nở.",
    "Hẹn trả kết quả nhưng đến nơi vẫn chưa có.",
    "Đi lại ba lần vẫn chưa xong thủ tục chuyển hộ khẩu.",
    "Không ai nghe điện thoại đường dây nóng của phường.",
    "Hồ sơ bị trả lại mà không nói rõ lý do.",
    "Quầy một cửa đông, chỉ có một cán bộ tiếp nhận.",
)

SCORES = (1, 2, 3, 4, 5)
SCORE_WEIGHTS = (5, 7, 15, 35, 38)
DIMENSIONS = ("access", "procedure", "attitude", "result", "timeliness")
CHANNELS = ("app", "web", "kiosk")
CHANNEL_WEIGHTS = (85, 10, 5)


class RatingBodies:
    """Rating bodies as citizens send them. `plain` names the service by id (85%) or by commune
    and procedure codes (15%) with a served_at; `verified` names a completed dossier instead.
    Scores lean positive as in real surveys, 60% rate the five dimensions, `comment_share`
    write a Vietnamese comment that matches the score."""

    def __init__(self, services: list[Service], seed: int, comment_share: float = 0.3) -> None:
        self.rng = random.Random(seed)
        self.services = services
        self.weights = [s.weight for s in services]
        self.comment_share = comment_share
        self.now = datetime.now(UTC)

    def plain(self) -> dict[str, Any]:
        service = self.rng.choices(self.services, self.weights)[0]
        if self.rng.random() < 0.85:
            named: dict[str, Any] = {"commune_service_id": service.id}
        else:
            named = {"commune_code": service.commune_code, "procedure_code": service.procedure_code}
        body = named | self._opinion()
        # Rated between ten minutes and twenty days after the visit.
        served = self.now - timedelta(seconds=self.rng.randint(600, 20 * 86400))
        body["served_at"] = served.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        return body

    def verified(self, dossier_code: str) -> dict[str, Any]:
        return {"dossier_code": dossier_code} | self._opinion()

    def _opinion(self) -> dict[str, Any]:
        rng = self.rng
        score = rng.choices(SCORES, SCORE_WEIGHTS)[0]
        body: dict[str, Any] = {"score": score}
        if rng.random() < 0.6:
            body["dimensions"] = {d: min(5, max(1, score + rng.choice((-1, 0, 0, 0, 1)))) for d in DIMENSIONS}
        if rng.random() < self.comment_share:
            pool = GOOD_COMMENTS if score >= 4 else MIXED_COMMENTS if score == 3 else BAD_COMMENTS
            # With a detail of the citizen's own visit: the same sentence word for word from
            # several installs against one official is what the campaign scoring holds
            # (copied_comment), and real citizens seldom write identical comments.
            visit = f"Tôi đến lúc {rng.randint(7, 16)} giờ {rng.randint(0, 59)} phút ngày {rng.randint(1, 28)}."
            body["comment"] = f"{rng.choice(pool)} {visit}"
        body["channel"] = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        return body


def form_of(body: dict[str, Any]) -> str:
    """How a body names the service: by id, by codes or by dossier."""
    if "dossier_code" in body:
        return "dossier_code"
    return "commune_service_id" if "commune_service_id" in body else "commune_code+procedure_code"


def encode(body: dict[str, Any]) -> bytes:
    return msgspec.json.encode(body)
