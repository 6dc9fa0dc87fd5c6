"""Redaction of the copy forwarded to an authority, table-driven. Pure, no I/O.

Two tables: spellings that must be masked (as people really write phone, ID and account
numbers, e-mail addresses and names, and as copy-paste or a determined citizen disguises
them), and text that must come through untouched (dates, sums, codes, ordinary words that
look like an introduction) with its Vietnamese diacritics."""

from __future__ import annotations

import time
import unicodedata

import pytest

from backend.redaction import (
    EMAIL_MASK,
    ID_MASK,
    NAME_MASK,
    NUMBER_MASK,
    PHONE_MASK,
    findings,
    normalise,
    redact,
)

ZW = "\u200b"  # zero-width space
SHY = "\u00ad"  # soft hyphen
WJ = "\u2060"  # word joiner

MUST_MASK = [
    # Phone numbers, plain and grouped.
    ("Gọi tôi 0912345678 nhé", f"Gọi tôi {PHONE_MASK} nhé"),
    ("SĐT: 0912 345 678.", f"SĐT: {PHONE_MASK}."),
    ("SĐT 0912.345.678", f"SĐT {PHONE_MASK}"),
    ("số 091-234-5678", f"số {PHONE_MASK}"),
    ("+84 912 345 678 gọi", f"{PHONE_MASK} gọi"),
    ("84912345678", PHONE_MASK),
    ("(+84) 912-345-678", PHONE_MASK),
    ("máy bàn (024) 3825 1234", f"máy bàn {PHONE_MASK}"),
    ("ĐT 0912/345/678", f"ĐT {PHONE_MASK}"),
    ("sđt 0912_345_678", f"sđt {PHONE_MASK}"),
    ("gọi 09 12 34 56 78", f"gọi {PHONE_MASK}"),
    ("gọi 0912,345,678", f"gọi {PHONE_MASK}"),
    ("gọi 0 9 1 2 3 4 5 6 7 8", f"gọi {PHONE_MASK}"),
    ("gọi 0912 – 345 – 678", f"gọi {PHONE_MASK}"),
    ("SĐT0912345678", f"SĐT{PHONE_MASK}"),
    # Disguised by Unicode: full-width digits, zero-width and format characters.
    ("gọi ０９１２３４５６７８", f"gọi {PHONE_MASK}"),
    (f"gọi 0912{ZW}345{ZW}678", f"gọi {PHONE_MASK}"),
    (f"gọi 09{SHY}12{WJ}345678", f"gọi {PHONE_MASK}"),
    ("gọi 𝟎𝟗𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", f"gọi {PHONE_MASK}"),
    # ID numbers: CCCD (12 digits), CMND (9).
    ("CCCD 001090012345 cấp 2021", f"CCCD {ID_MASK} cấp 2021"),
    ("CCCD 001 090 012 345", f"CCCD {ID_MASK}"),
    ("CCCD: 001.090.012.345", f"CCCD: {ID_MASK}"),
    ("CMND 012345678", f"CMND {ID_MASK}"),
    ("CMND 012.345.678", f"CMND {ID_MASK}"),
    # Other long numbers: bank accounts.
    ("STK 0123 4567 8901 23 Vietcombank", f"STK {NUMBER_MASK} Vietcombank"),
    ("tài khoản 19031234567890", f"tài khoản {NUMBER_MASK}"),
    # E-mail addresses, plain and disguised.
    ("thư: nguyen.van.a+gop-y@example.com.vn", f"thư: {EMAIL_MASK}"),
    ("a1@b.vn và 0987654321", f"{EMAIL_MASK} và {PHONE_MASK}"),
    ("mail nguyenvanan ＠ gmail.com nhé", f"mail {EMAIL_MASK} nhé"),
    ("mail nguyenvanan @ gmail.com", f"mail {EMAIL_MASK}"),
    ("mail nguyenvanan[at]gmail.com", f"mail {EMAIL_MASK}"),
    ("mail nguyenvanan (at) gmail (dot) com", f"mail {EMAIL_MASK}"),
    ("mail nguyenvanan [at] gmail [dot] com", f"mail {EMAIL_MASK}"),
    ("mail lethihoa a còng yahoo chấm com", f"mail {EMAIL_MASK}"),
    ("mail lethihoa at yahoo dot com", f"mail {EMAIL_MASK}"),
    ("mail lethihoa [at] gmail", f"mail {EMAIL_MASK}"),
    (f"mail le{ZW}thi{ZW}hoa@gmail.com", f"mail {EMAIL_MASK}"),
    ("thư a@b.vn. Tôi ở đây", f"thư {EMAIL_MASK}. Tôi ở đây"),
    # Names introduced as such.
    ("Tôi là Nguyễn Văn An, xin phản ánh", f"Tôi là {NAME_MASK}, xin phản ánh"),
    ("Tên tôi là Lê Thị Hoa.", f"Tên tôi là {NAME_MASK}."),
    ("tôi tên Trần Minh", f"tôi tên {NAME_MASK}"),
    ("Họ và tên: Phạm Thị Thu Hằng", f"Họ và tên: {NAME_MASK}"),
    ("Người gửi: Đặng Văn Lâm", f"Người gửi: {NAME_MASK}"),
    ("em là Hùng, sinh viên", f"em là {NAME_MASK}, sinh viên"),
    ("ông Nguyễn Văn Bình thu tiền", f"ông {NAME_MASK} thu tiền"),
    ("Bà Lê Thị Hoa ở tổ 5", f"Bà {NAME_MASK} ở tổ 5"),
    ("hỏi anh Tuấn ở bộ phận một cửa", f"hỏi anh {NAME_MASK} ở bộ phận một cửa"),
    ("chị Hằng trả lời", f"chị {NAME_MASK} trả lời"),
    ("ông A và bà B", f"ông {NAME_MASK} và bà {NAME_MASK}"),
    ("ông Chủ tịch Nguyễn Văn Bình", f"ông Chủ tịch {NAME_MASK}"),
    ("bà Phó Chủ tịch Lê Thị Hoa ký", f"bà Phó Chủ tịch {NAME_MASK} ký"),
    # Everything at once, with the rest kept as written.
    (
        "Tôi là Trần Thị Mai, CCCD 001.190.012.345, sđt 0987 654 321, thư mai.tran [at] gmail.com.",
        f"Tôi là {NAME_MASK}, CCCD {ID_MASK}, sđt {PHONE_MASK}, thư {EMAIL_MASK}.",
    ),
]

MUST_KEEP = [
    "Phí 50.000 đồng, ngày 12/05/2026",
    "Cán bộ đòi 150.000.000 đồng để làm nhanh",
    "nhận 2.500.000.000đ tiền đền bù",
    "khoản 1,250,000,000 VND",
    "hồ sơ H01.20-260504-0001",
    "mã hồ sơ 000.00.12.H26-230101-0001",
    "thủ tục 1.001193, phòng 203",
    "năm 2026 có 12 tháng",
    "ngày 12/05/2026, 13/05/2026 và 14/05/2026 lúc 10:30",
    "từ 7h30 đến 11h30, 13h30 - 17h00",
    "các hộ số 12, 15, 17, 19, 21 bị ngập",
    "diện tích 120,5 m² của thửa 345",
    "bà con trong thôn đều biết",
    "anh em chúng tôi đã chờ ba tuần",
    "chị ấy nói sẽ gọi lại",
    "ông bà tôi sống ở đây",
    "gặp ông Chủ tịch UBND xã",
    "ông Trưởng Công an xã hứa giải quyết",
    "Tôi là người dân phường Ba Đình",
    "tôi là Đảng viên, là Cựu chiến binh",
    "tỉnh Bà Rịa - Vũng Tàu",
    "phố Bà Triệu, cầu Ông Lãnh",
    "đồng chí cán bộ tiếp dân rất nhiệt tình",
    "UBND phường đã xử lý xong hồ sơ.",
    "Đường ống nước bị vỡ, gọi mãi không ai đến. Xin cảm ơn!",
    "",
]


@pytest.mark.parametrize(("text", "expected"), MUST_MASK)
def test_what_identifies_someone_is_masked(text: str, expected: str) -> None:
    assert redact(text) == expected
    # Idempotent: a redacted copy redacted again is unchanged.
    assert redact(expected) == expected


@pytest.mark.parametrize("text", MUST_KEEP)
def test_ordinary_text_comes_through_untouched(text: str) -> None:
    redacted = redact(text)
    assert redacted == unicodedata.normalize("NFKC", text)
    assert findings(text) == {}


def test_the_tables_cover_enough_spellings() -> None:
    assert len(MUST_MASK) >= 40 and len(MUST_KEEP) >= 20


def test_vietnamese_is_kept_in_either_unicode_form() -> None:
    composed = "Tôi là Nguyễn Văn An, phản ánh việc chậm trả hồ sơ ở phường."
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    expected = f"Tôi là {NAME_MASK}, phản ánh việc chậm trả hồ sơ ở phường."
    assert redact(composed) == redact(decomposed) == expected


def test_normalise_folds_disguises_and_keeps_line_breaks() -> None:
    assert normalise(f"０９{ZW}１２\u00a0＠\u200dx\n\tdòng") == "0912 @x\n\tdòng"


def test_findings_count_without_values() -> None:
    text = "0912345678, 0987654321, CCCD 001090012345, a@b.vn, tôi là Lê Hoa, STK 19031234567890"
    assert findings(text) == {"email": 1, "id_number": 1, "phone": 2, "name": 1, "number": 1}
    assert findings("không có gì") == {}


@pytest.mark.parametrize(
    "text",
    [
        "x [at] " + "a . " * 1250,
        "x@" + "a." * 2500,
        "ab@" * 1666,
        "tôi là " * 700,
        "ông Nguyễn " * 450,
        "1 , " * 1250,
        "(" * 2500 + "1" * 2500,
    ],
)
def test_the_longest_body_of_adversarial_text_is_masked_quickly(text: str) -> None:
    """No pattern backtracks exponentially: a 5,000-character body (the most a feedback
    item holds) is done in well under a second, even on a busy machine."""
    started = time.perf_counter()
    redact(text[:5000])
    assert time.perf_counter() - started < 1.0
