"""Demo accounts and a deterministic synthetic history for a few real communes.

Two parts, each recorded in seed_runs so running them again changes nothing:
- accounts: commune services for every catalog procedure, officials with a rotation in
  their history, one account per role, a one-stop-shop API key;
- history: 90 days of dossiers, ratings and feedback before the day of seeding, drawn
  from a fixed random seed, linked to whoever held the service at the time.

Never run against a production database: the demo password and API key are public.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from backend import workdays
from backend.security import digest, hash_password
from backend.workdays import LOCAL_TZ

DEMO_PASSWORD = "pulse-demo-2026"
DEMO_API_KEY_PREFIX = "demo0badinh"
DEMO_API_KEY_SECRET = "onestopshop-ba-dinh-demo-key-not-for-production"
DEMO_API_KEY = f"cpk_{DEMO_API_KEY_PREFIX}_{DEMO_API_KEY_SECRET}"
HISTORY_DAYS = 90


@dataclass(frozen=True)
class DemoCommune:
    code: str
    slug: str
    # Share of ratings that are 4 or 5, and share of dossiers finished late: they differ so
    # the demo shows a good, an average and a struggling commune.
    satisfaction: float
    late_share: float
    daily_dossiers: int


DEMO_COMMUNES = (
    DemoCommune("00004", "badinh", satisfaction=0.88, late_share=0.04, daily_dossiers=14),
    DemoCommune("00070", "hoankiem", satisfaction=0.82, late_share=0.08, daily_dossiers=12),
    DemoCommune("00577", "battrang", satisfaction=0.9, late_share=0.05, daily_dossiers=5),
    DemoCommune("26740", "saigon", satisfaction=0.66, late_share=0.2, daily_dossiers=16),
)


@dataclass(frozen=True)
class Desk:
    """A desk of the commune: who answers for which fields of procedures."""

    key: str
    position: str
    position_en: str
    agency: str  # formatted with the commune's full name
    agency_en: str
    fields: tuple[str, ...]


DESKS = (
    Desk(
        "justice",
        "Công chức Tư pháp - Hộ tịch",
        "Justice and civil status officer",
        "UBND {vi}",
        "{en} People's Committee",
        ("Civil status", "Certification", "Adoption"),
    ),
    Desk(
        "police",
        "Trưởng Công an",
        "Head of police",
        "Công an {vi}",
        "{en} Police",
        ("Residence registration and management", "Identity card issuance and management"),
    ),
    Desk(
        "land",
        "Công chức Địa chính - Xây dựng",
        "Land and construction officer",
        "UBND {vi}",
        "{en} People's Committee",
        ("Land", "Construction activities"),
    ),
    Desk(
        "social",
        "Công chức Văn hóa - Xã hội",
        "Culture and social affairs officer",
        "UBND {vi}",
        "{en} People's Committee",
        (
            "Poverty reduction",
            "Collection of social, health, unemployment, occupational accident and disease insurance contributions",
        ),
    ),
    Desk(
        "economy",
        "Công chức Kinh tế",
        "Economic affairs officer",
        "UBND {vi}",
        "{en} People's Committee",
        ("Enterprise establishment and operation (household businesses)",),
    ),
)

# Deterministic Vietnamese names: family, middle and given names combined by index.
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương")
MIDDLE = ("Văn", "Thị", "Minh", "Thu", "Đức", "Ngọc", "Quang", "Thanh", "Hải", "Mai")
GIVEN = (
    "An",
    "Bình",
    "Châu",
    "Dũng",
    "Giang",
    "Hà",
    "Hùng",
    "Lan",
    "Long",
    "Nam",
    "Phương",
    "Quân",
    "Sơn",
    "Thảo",
    "Trang",
    "Tuấn",
    "Việt",
    "Yến",
)


def person_name(index: int) -> str:
    return f"{FAMILY[index % len(FAMILY)]} {MIDDLE[(index // 3) % len(MIDDLE)]} {GIVEN[(index * 7) % len(GIVEN)]}"


async def _claim(conn: Any, name: str, details: dict[str, Any]) -> bool:
    """Record a seed run; False when it already ran on this database."""
    return bool(
        await conn.fetchval(
            "insert into seed_runs (name, details) values ($1, $2) on conflict do nothing returning true",
            name,
            details,
        )
    )


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: str
    scope_kind: str
    scope_code: str | None


DEMO_ACCOUNTS = (
    DemoAccount("sysadmin", "Quản trị hệ thống", "system_admin", "national", None),
    DemoAccount("admin.hanoi", "Quản trị Thành phố Hà Nội", "province_admin", "province", "01"),
    DemoAccount("admin.hcm", "Quản trị Thành phố Hồ Chí Minh", "province_admin", "province", "79"),
    DemoAccount("front.hanoi", "Cán bộ Mặt trận Thành phố Hà Nội", "front_staff", "province", "01"),
    # The same person supervises the province's Front queue (breaks leases, may reveal identities).
    DemoAccount("front.hanoi", "Cán bộ Mặt trận Thành phố Hà Nội", "front_supervisor", "province", "01"),
    DemoAccount("chair.badinh", "Chủ tịch UBND phường Ba Đình", "commune_chair", "commune", "00004"),
    DemoAccount("official.badinh", "Cán bộ phường Ba Đình", "commune_official", "commune", "00004"),
    DemoAccount("front.badinh", "Cán bộ Mặt trận phường Ba Đình", "front_staff", "commune", "00004"),
    DemoAccount("chair.hoankiem", "Chủ tịch UBND phường Hoàn Kiếm", "commune_chair", "commune", "00070"),
    DemoAccount("chair.battrang", "Chủ tịch UBND xã Bát Tràng", "commune_chair", "commune", "00577"),
    DemoAccount("chair.saigon", "Chủ tịch UBND phường Sài Gòn", "commune_chair", "commune", "26740"),
)

INSERT_SERVICES_SQL = """
insert into commune_services (commune_code, procedure_code, lead_agency, lead_agency_en)
select $1, p.code, d.agency, d.agency_en
from procedures p
join unnest($2::text[], $3::text[], $4::text[]) as d(field_en, agency, agency_en) on d.field_en = p.field_en
on conflict (commune_code, procedure_code) do nothing
"""

INSERT_OFFICIAL_SQL = """
insert into officials (commune_code, full_name, position, position_en)
values ($1, $2, $3, $4)
returning id
"""


async def _add_official(conn: Any, commune_code: str, person: int, desk: Desk) -> int:
    return int(
        await conn.fetchval(INSERT_OFFICIAL_SQL, commune_code, person_name(person), desk.position, desk.position_en)
    )


# The desk's official holds every service of its fields; the justice desk changed hands
# 45 days ago, so ratings before and after link to different people.
INSERT_ASSIGNMENTS_SQL = """
insert into assignments (commune_service_id, official_id, valid)
select cs.id, $2, tstzrange($4, $5, '[)')
from commune_services cs
join procedures p on p.code = cs.procedure_code
where cs.commune_code = $1 and p.field_en = any($3::text[])
"""

CREATE_USER_SQL = """
insert into users (username, password_hash, display_name)
values ($1, $2, $3)
on conflict (username) do nothing
"""

GRANT_SQL = """
insert into user_roles (user_id, role, scope_kind, province_code, commune_code)
values ($1, $2, $3, case when $3 = 'province' then $4 end, case when $3 = 'commune' then $4 end)
on conflict do nothing
"""


async def seed_demo_accounts(conn: Any, now: datetime | None = None, password_hash: str | None = None) -> bool:
    """Demo services, officials, accounts and API key. False when already seeded."""
    now = now or datetime.now(UTC)
    async with conn.transaction():
        if not await _claim(conn, "demo-accounts", {"communes": [c.code for c in DEMO_COMMUNES]}):
            return False
        rotation = (now - timedelta(days=45)).replace(microsecond=0)
        start = (now - timedelta(days=HISTORY_DAYS + 30)).replace(microsecond=0)
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        person = 0
        for commune in DEMO_COMMUNES:
            names = await conn.fetchrow("select full_name, full_name_en from communes where code = $1", commune.code)
            await conn.execute(
                INSERT_SERVICES_SQL,
                commune.code,
                [f for d in DESKS for f in d.fields],
                [d.agency.format(vi=names["full_name"]) for d in DESKS for _ in d.fields],
                [d.agency_en.format(en=names["full_name_en"]) for d in DESKS for _ in d.fields],
            )
            for desk in DESKS:
                person += 1
                holder = await _add_official(conn, commune.code, person, desk)
                if desk.key == "justice":
                    person += 1
                    predecessor = await _add_official(conn, commune.code, person, desk)
                    await conn.execute(
                        INSERT_ASSIGNMENTS_SQL, commune.code, predecessor, list(desk.fields), start, rotation
                    )
                    await conn.execute(INSERT_ASSIGNMENTS_SQL, commune.code, holder, list(desk.fields), rotation, None)
                else:
                    await conn.execute(INSERT_ASSIGNMENTS_SQL, commune.code, holder, list(desk.fields), start, None)

        for account in DEMO_ACCOUNTS:
            await conn.execute(CREATE_USER_SQL, account.username, password_hash, account.display_name)
            user_id = await conn.fetchval("select id from users where username = $1", account.username)
            await conn.execute(GRANT_SQL, user_id, account.role, account.scope_kind, account.scope_code)
        # The commune official account is the Ba Đình justice desk's current holder.
        await conn.execute(
            """
            update officials set user_id = (select id from users where username = 'official.badinh')
            where id = (select a.official_id from assignments a
                        join commune_services cs on cs.id = a.commune_service_id
                        where cs.commune_code = '00004' and cs.procedure_code = '1.001193' and upper_inf(a.valid))
            """
        )
        await conn.execute(
            """
            insert into api_keys (name, prefix, secret_hash, scope_kind, commune_code)
            values ('Bộ phận một cửa phường Ba Đình (demo)', $1, $2, 'commune', '00004')
            on conflict (prefix) do nothing
            """,
            DEMO_API_KEY_PREFIX,
            digest(DEMO_API_KEY_SECRET),
        )
    return True


SERVICES_SQL = """
select cs.id, cs.commune_code, p.statutory_days, p.days_kind
from commune_services cs
join procedures p on p.code = cs.procedure_code
where cs.commune_code = any($1::text[])
order by cs.commune_code, cs.id
"""

INSERT_CITIZENS_SQL = """
insert into citizen_installs (id, install_id, secret_hash, platform, locale, created_at, last_seen_at)
select id, install_id, $3, platform, 'vi', $4, $4
from unnest($1::uuid[], $2::text[], $5::text[]) as t(id, install_id, platform)
on conflict (install_id) do nothing
"""

INSERT_DOSSIERS_SQL = """
insert into dossiers (code, commune_service_id, status, received_at, due_at, completed_at, event_at)
select code, cs_id, case when completed_at is null then 'processing' else 'completed' end,
       received_at, due_at, completed_at, coalesce(completed_at, received_at)
from unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
     as t(code, cs_id, received_at, due_at, completed_at)
on conflict (code) do nothing
"""

# Linking as the product does: the official who held the service when it was used.
INSERT_RATINGS_SQL = """
insert into ratings (citizen_id, commune_service_id, commune_code, official_id, assignment_id, dossier_code,
                     dossier_id, verified, score, score_attitude, score_timeliness, comment, channel,
                     served_at, created_at, idempotency_key, request_hash)
select t.citizen_id, t.cs_id, cs.commune_code, a.official_id, a.id, t.dossier_code, d.id, d.id is not null,
       t.score, t.attitude, t.timeliness, t.comment, 'app', t.served_at, t.served_at + interval '2 hours',
       t.key, sha256(convert_to(t.key, 'UTF8'))
from unnest($1::uuid[], $2::bigint[], $3::text[], $4::smallint[], $5::smallint[], $6::smallint[], $7::text[],
            $8::timestamptz[], $9::text[])
     as t(citizen_id, cs_id, dossier_code, score, attitude, timeliness, comment, served_at, key)
join commune_services cs on cs.id = t.cs_id
left join dossiers d on d.code = t.dossier_code and d.completed_at is not null
left join assignments a on a.commune_service_id = t.cs_id and a.valid @> t.served_at
on conflict do nothing
"""

INSERT_FEEDBACK_SQL = """
insert into feedback (reference, citizen_id, category, commune_code, commune_service_id, status, body,
                      is_anonymous, created_at, updated_at, answer, answered_at, response_due_at)
select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                     $8::bool[], $9::timestamptz[], $9::timestamptz[], $10::text[], $11::timestamptz[],
                     $12::timestamptz[])
on conflict (reference) do nothing
"""

GOOD_COMMENTS = (
    "Cán bộ hướng dẫn tận tình, thủ tục nhanh gọn.",
    "Trả kết quả đúng hẹn, rất hài lòng.",
    "Nhân viên một cửa thân thiện, chu đáo.",
    "Thủ tục đơn giản, không phải đi lại nhiều lần.",
)
BAD_COMMENTS = (
    "Phải chờ đợi quá lâu, trả kết quả trễ hẹn.",
    "Cán bộ hướng dẫn chưa rõ ràng, phải bổ sung giấy tờ nhiều lần.",
    "Thái độ tiếp dân chưa niềm nở.",
    "Hẹn trả kết quả nhưng đến nơi vẫn chưa có.",
)
FEEDBACK_TEXTS = {
    "suggestion": "Đề nghị bố trí thêm ghế chờ và quầy hướng dẫn tại bộ phận một cửa vào buổi sáng.",
    "complaint": "Hồ sơ đăng ký thường trú của tôi đã quá hạn hai tuần nhưng chưa nhận được kết quả.",
    "wrongdoing_report": "Có người tự xưng là cán bộ phường đề nghị nộp thêm tiền để được giải quyết hồ sơ nhanh.",
    "question": "Xin hỏi khi đăng ký khai sinh cho con cần mang theo những giấy tờ gì?",
    "praise": "Cảm ơn cán bộ tư pháp đã hỗ trợ gia đình tôi làm thủ tục khai tử ngoài giờ hành chính.",
}


async def seed_demo_history(conn: Any, now: datetime | None = None) -> bool:
    """90 days of dossiers, ratings and feedback before `now`. False when already seeded."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    async with conn.transaction():
        if not await _claim(conn, "demo-history", {"anchor": now.isoformat(), "days": HISTORY_DAYS}):
            return False
        services = await conn.fetch(SERVICES_SQL, [c.code for c in DEMO_COMMUNES])
        for commune in DEMO_COMMUNES:
            own = [s for s in services if s["commune_code"] == commune.code]
            if own:
                await _seed_commune_history(conn, commune, own, now)
    return True


async def _seed_commune_history(conn: Any, commune: DemoCommune, services: list[Any], now: datetime) -> None:
    rng = random.Random(f"commune-pulse-demo-{commune.code}")
    citizens = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(150)]
    await conn.execute(
        INSERT_CITIZENS_SQL,
        citizens,
        [f"demo-{commune.slug}-{i:04d}" for i in range(len(citizens))],
        digest(uuid.uuid4().hex),  # nobody knows it: demo installs cannot be taken over
        now - timedelta(days=HISTORY_DAYS + 1),
        [rng.choice(("android", "android", "ios")) for _ in citizens],
    )
    # Busy services are the civil-status and residence ones, as at a real one-stop shop.
    weights = [6 if s["statutory_days"] and s["statutory_days"] <= 3 else 1 for s in services]
    dossiers: list[tuple[str, int, datetime, datetime, datetime | None]] = []
    first_day: date = (now.astimezone(LOCAL_TZ) - timedelta(days=HISTORY_DAYS)).date()
    for offset in range(HISTORY_DAYS):
        day = first_day + timedelta(days=offset)
        if not workdays.is_working_day(day):
            continue
        for seq in range(rng.randint(commune.daily_dossiers // 2, commune.daily_dossiers * 3 // 2)):
            service = rng.choices(services, weights)[0]
            received = datetime.combine(day, time(rng.randint(7, 16), rng.randint(0, 59)), LOCAL_TZ).astimezone(UTC)
            days = service["statutory_days"] or 3
            due = workdays.due_at(received, days, service["days_kind"] or "working")
            if rng.random() < commune.late_share:
                completed: datetime | None = due + timedelta(hours=rng.randint(4, 24 * 6))
            else:
                completed = received + (due - received) * rng.uniform(0.2, 0.98)
            if completed is not None and completed > now:
                completed = None
            dossiers.append((f"{commune.code}-{day:%y%m%d}-{seq + 1:04d}", service["id"], received, due, completed))
    await conn.execute(INSERT_DOSSIERS_SQL, *map(list, zip(*dossiers, strict=True)))

    ratings = []
    for code, service_id, _received, due, completed in dossiers:
        if completed is None or rng.random() > 0.55:
            continue
        late = completed > due
        satisfied = rng.random() < commune.satisfaction - (0.25 if late else 0)
        score = rng.choice((4, 5, 5)) if satisfied else rng.choice((1, 2, 2, 3, 3))
        comment = rng.choice(GOOD_COMMENTS if satisfied else BAD_COMMENTS) if rng.random() < 0.3 else None
        ratings.append(
            (
                rng.choice(citizens),
                service_id,
                code,
                score,
                max(1, min(5, score + rng.choice((-1, 0, 0, 1)))),
                2 if late else max(1, min(5, score + rng.choice((-1, 0, 1)))),
                comment,
                completed + timedelta(minutes=rng.randint(5, 600)),
                f"demo-rating-{code}",
            )
        )
    if ratings:
        await conn.execute(INSERT_RATINGS_SQL, *map(list, zip(*ratings, strict=True)))

    feedback = []
    categories = list(FEEDBACK_TEXTS)
    for index in range(HISTORY_DAYS // 3):
        created = now - timedelta(days=rng.uniform(0, HISTORY_DAYS))
        category = rng.choice(categories)
        age_days = (now - created).days
        status = "received" if age_days < 3 else rng.choice(("triaged", "forwarded", "answered", "closed"))
        answered = status in ("answered", "closed")
        feedback.append(
            (
                f"GY-{commune.code}-{index + 1:05d}",
                rng.choice(citizens),
                category,
                commune.code,
                rng.choice(services)["id"],
                status,
                FEEDBACK_TEXTS[category],
                category == "wrongdoing_report",
                created,
                "Ủy ban nhân dân đã tiếp nhận và xử lý, xin cảm ơn ý kiến của công dân." if answered else None,
                min(created + timedelta(days=rng.randint(2, 12)), now) if answered else None,
                created + timedelta(days=15) if status in ("forwarded", "answered", "closed") else None,
            )
        )
    await conn.execute(INSERT_FEEDBACK_SQL, *map(list, zip(*feedback, strict=True)))
