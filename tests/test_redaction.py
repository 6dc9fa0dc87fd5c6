"""Redaction of the copy forwarded to an authority, table-driven. Pure, no I/O."""

from __future__ import annotations

import pytest

from backend.redaction import EMAIL_MASK, ID_MASK, PHONE_MASK, findings, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gọi tôi 0912345678 nhé", f"Gọi tôi {PHONE_MASK} nhé"),
        ("SĐT: 0912 345 678.", f"SĐT: {PHONE_MASK}."),
        ("SĐT 0912.345.678", f"SĐT {PHONE_MASK}"),
        ("số 091-234-5678", f"số {PHONE_MASK}"),
        ("+84 912 345 678 gọi", f"{PHONE_MASK} gọi"),
        ("84912345678", PHONE_MASK),
        ("máy bàn (024) 3825 1234", f"máy bàn {PHONE_MASK}"),
        ("CCCD 001090012345 cấp 2021", f"CCCD {ID_MASK} cấp 2021"),
        ("CCCD 001 090 012 345", f"CCCD {ID_MASK}"),
        ("CMND 012345678", f"CMND {ID_MASK}"),
        ("CMND 012.345.678", f"CMND {ID_MASK}"),
        ("thư: nguyen.van.a+gop-y@example.com.vn", f"thư: {EMAIL_MASK}"),
        ("a1@b.vn và 0987654321", f"{EMAIL_MASK} và {PHONE_MASK}"),
        # Left alone: amounts, dates, short numbers, dossier codes, procedure codes.
        ("Phí 50.000 đồng, ngày 12/05/2026", "Phí 50.000 đồng, ngày 12/05/2026"),
        ("hồ sơ H01.20-260504-0001", "hồ sơ H01.20-260504-0001"),
        ("thủ tục 1.001193, phòng 203", "thủ tục 1.001193, phòng 203"),
        ("năm 2026 có 12 tháng", "năm 2026 có 12 tháng"),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    # Idempotent: a redacted copy redacted again is unchanged.
    assert redact(expected) == expected


def test_findings_count_without_values() -> None:
    text = "0912345678, 0987654321, CCCD 001090012345, a@b.vn"
    assert findings(text) == {"email": 1, "id_number": 1, "phone": 2}
    assert findings("không có gì") == {}
