"""Real reference data: 34 provinces, 3,321 communes, the procedure catalog; diacritics-free search."""

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.text import fold_vi, like_patterns


async def test_provinces_are_the_34_of_the_two_tier_model(client: AsyncTestClient[Any]) -> None:
    provinces = (await client.get("/v1/provinces")).json()
    assert len(provinces) == 34
    hanoi = next(p for p in provinces if p["code"] == "01")
    assert hanoi["full_name"] == "Thành phố Hà Nội"
    assert hanoi["kind"] == "municipality"
    assert sum(p["commune_count"] for p in provinces) == 3321


async def test_all_communes_page_by_page(client: AsyncTestClient[Any]) -> None:
    codes, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/communes", params=params)).json()
        codes += [c["code"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(codes) == len(set(codes)) == 3321
    assert codes == sorted(codes)


async def test_commune_kinds_match_the_official_counts(db: asyncpg.Connection) -> None:
    counts = dict(await db.fetch("select kind, count(*) from communes group by kind"))
    assert counts == {"commune": 2611, "ward": 697, "special_zone": 13}


@pytest.mark.parametrize("query", ["ba dinh", "BA ĐÌNH", "Ba Đình", "phuong ba dinh", "Ba Dinh Ward", "dinh ba"])
async def test_commune_search_ignores_diacritics_case_and_word_order(client: AsyncTestClient[Any], query: str) -> None:
    found = (await client.get("/v1/communes", params={"q": query, "province": "01"})).json()["items"]
    assert [c["full_name"] for c in found] == ["Phường Ba Đình"]


async def test_commune_filters(client: AsyncTestClient[Any]) -> None:
    zones = (await client.get("/v1/communes", params={"kind": "special_zone", "limit": 50})).json()["items"]
    assert len(zones) == 13
    assert all(z["full_name"].startswith("Đặc khu") for z in zones)
    hcm = (await client.get("/v1/provinces/79/communes", params={"q": "sai gon"})).json()["items"]
    assert [c["code"] for c in hcm] == ["26740"]
    assert (await client.get("/v1/provinces/99/communes")).status_code == 404
    bad = await client.get("/v1/communes", params={"kind": "district"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize("query", ["ket hon", "KẾT HÔN", "kết hôn", "marriage"])
async def test_procedure_search(client: AsyncTestClient[Any], query: str) -> None:
    found = (await client.get("/v1/procedures", params={"q": query})).json()["items"]
    assert "Thủ tục đăng ký kết hôn" in [p["name_vi"] for p in found]


async def test_procedure_catalog(client: AsyncTestClient[Any]) -> None:
    birth = (await client.get("/v1/procedures/1.001193")).json()
    assert birth["name_en"] == "Birth registration"
    assert birth["statutory_days"] == 1
    assert birth["days_kind"] == "working"
    certification = (await client.get("/v1/procedures/2.000815")).json()
    assert "statutory_days" not in certification  # no single limit published: left out, not invented
    assert (await client.get("/v1/procedures/9.999999")).json()["code"] == "procedure_not_found"
    assert (await client.get("/v1/procedures/not-a-code")).status_code == 400
    land = (await client.get("/v1/procedures", params={"field": "Land"})).json()["items"]
    assert {p["field_en"] for p in land} == {"Land"}
    assert len((await client.get("/v1/procedures?limit=200")).json()["items"]) == 40


def test_like_patterns_escape_wildcards() -> None:
    assert like_patterns("  Kết   HÔN ") == ["%ket%", "%hon%"]
    assert like_patterns("100%_x") == ["%100\\%\\_x%"]
    assert like_patterns("") == []


async def test_python_and_sql_folding_agree(db: asyncpg.Connection) -> None:
    # Every letter with a Vietnamese diacritic, upper and lower case, composed and decomposed.
    import unicodedata

    samples = [
        "Thủ tục đăng ký kết hôn",
        "ĐẶC KHU PHÚ QUỐC",
        "Ỷ Lại Ữ Ự Ỡ Ợ",
        unicodedata.normalize("NFD", "Phường Hoàn Kiếm"),
        "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ",
    ]
    samples.append(samples[-1].upper())
    for sample in samples:
        assert await db.fetchval("select fold_vi($1)", sample) == fold_vi(sample)
        assert fold_vi(sample).isascii()
