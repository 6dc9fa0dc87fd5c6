"""Rating codes: alphabet, normalisation of what people type, binding to the dossier."""

from __future__ import annotations

import pytest

from backend.rating_codes import ALPHABET, LENGTH, code_payload, format_code, generate_code, normalize_code


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("7K3M9QZP", "7K3M9QZP"),
        ("7k3m-9qzp", "7K3M9QZP"),
        (" 7K3M 9QZP ", "7K3M9QZP"),
        ("OOOOIIII", "00001111"),  # O read as zero, I as one
        ("LLLL0000", "11110000"),
        ("7K3M9QZ", None),  # too short
        ("7K3M9QZPX", None),  # too long
        ("7K3M9QZU", None),  # U is not in Crockford's alphabet
        ("7K3M9QZ!", None),
        ("", None),
    ],
)
def test_normalize_code(typed: str, stored: str | None) -> None:
    assert normalize_code(typed) == stored


def test_generated_codes_are_typable_and_differ() -> None:
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == LENGTH and set(code) <= set(ALPHABET)
        assert normalize_code(format_code(code)) == code


def test_the_payload_binds_the_code_to_its_dossier() -> None:
    assert code_payload("BD-1", "7K3M9QZP") != code_payload("BD-2", "7K3M9QZP")
    assert code_payload("BD-1", "7K3M9QZP") != code_payload("BD-17K3M9QZP", "")
